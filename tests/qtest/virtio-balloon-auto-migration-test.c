/*
 * QTest cases for migrating automatic ballooning
 *
 * Two QEMUs: the source, driven by the test as the guest driver (see
 * virtio-balloon-auto-guest.c), and a destination started with
 * "-incoming defer".  Migration goes over a unix socket; after it the test
 * drives the same driver state against the destination.  With the qtest
 * accelerator QEMU_CLOCK_VIRTUAL is the test's clock and does not
 * migrate, so the destination's clock is set to the source's first, as
 * the real clock's migration does.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "libqos/libqos-pc.h"
#include "virtio-balloon-auto-guest.h"

#define RAM             (1024 * MiB)
#define DEST_ARGS       "-m 1024 -device virtio-balloon-pci,id=balloon0," \
                        "addr=04.0"

typedef struct Mig {
    char *dir;
    char *uri;
    char *log;          /* the destination's stderr */
    QOSState *dst;
} Mig;

/* Start a destination with @props for @g's source, ready to receive */
static Mig *mig_prepare(AutoGuest *g, const char *props, bool exit_on_error)
{
    Mig *m = g_new0(Mig, 1);

    m->dir = g_dir_make_tmp("auto-balloon-mig-XXXXXX", NULL);
    g_assert_nonnull(m->dir);
    m->uri = g_strdup_printf("unix:%s/sock", m->dir);
    m->log = g_strdup_printf("%s/stderr", m->dir);
    m->dst = qtest_pc_boot(DEST_ARGS "%s%s -incoming defer 2>%s",
                           *props ? "," : "", props, m->log);
    /* clock_step is the only way to read the clock: step 1 ns */
    qtest_clock_set(m->dst->qts, qtest_clock_step(g->qts, 1));
    qtest_qmp_assert_success(m->dst->qts,
                             "{ 'execute': 'migrate-incoming', 'arguments':"
                             " { 'uri': %s, 'exit-on-error': %i } }",
                             m->uri, exit_on_error);
    return m;
}

static void mig_free(Mig *m)
{
    unlink(m->log);
    rmdir(m->dir);
    g_free(m->log);
    g_free(m->uri);
    g_free(m->dir);
    g_free(m);
}

/* Migrate; the driver then talks to the destination, the source is gone */
static void mig_run(AutoGuest *g, Mig *m)
{
    QOSState *src = g->qs;

    migrate(src, m->dst, m->uri);
    g->pci->pdev->bus = m->dst->pcibus;
    g->qs = m->dst;
    g->qts = m->dst->qts;
    qtest_shutdown(src);
    mig_free(m);
}

static void balloon_to(QTestState *qts, uint64_t size)
{
    qtest_qmp_assert_success(qts, "{ 'execute': 'balloon', 'arguments':"
                             " { 'value': %" PRIu64 " } }", size);
}

/*
 * Plain -> automatic: the destination continues from the balloon the
 * source left, it does not start from an empty one and undo it.
 */
static void test_plain_to_auto(void)
{
    AutoGuest *g = ag_start("", true, -1);
    uint32_t half = MIB_PAGES(512);

    balloon_to(g->qts, RAM - 512 * MiB);
    g_assert_cmpuint(ag_target(g), ==, half);
    ag_catch_up(g);
    mig_run(g, mig_prepare(g, AUTO_ON, true));

    g_assert_cmpuint(ag_target(g), ==, half);
    g_assert_cmpuint(ag_query_target_pages(g->qts, RAM), ==, half);
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, half + STEP_LOW);
    g_assert_cmpuint(ag_counter(g->qts, "inflates"), ==, 1);
    ag_stop(g);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("virtio-balloon-auto/migration/plain-to-auto",
                   test_plain_to_auto);

    return g_test_run();
}
