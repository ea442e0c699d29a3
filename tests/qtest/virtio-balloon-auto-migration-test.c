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
#include "qemu/bswap.h"
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

/*
 * Lift the source's migration bandwidth limit (QEMU's default is
 * 128 MiB/s): each test migrates 1 GiB of touched RAM, 8 s at that rate;
 * what the tests look at does not depend on the speed.
 */
static void mig_unthrottle(QTestState *src)
{
    qtest_qmp_assert_success(src, "{ 'execute': 'migrate-set-parameters',"
                             " 'arguments': { 'max-bandwidth': %" PRIu64
                             " } }", (uint64_t)64 * GiB);
}

/*
 * Start a destination for @g's source with the balloon properties @props,
 * ready to receive.  A destination in automatic mode also gets the
 * source's message queue (x-auto-message-queue=on when @g set one up),
 * unless @props says otherwise: the device's queues must be the same on
 * both ends.
 */
static Mig *mig_prepare(AutoGuest *g, const char *props, bool exit_on_error)
{
    Mig *m = g_new0(Mig, 1);
    bool msg_vq = g->mvq && strstr(props, "automatic=on") &&
        !strstr(props, "x-auto-message-queue");

    m->dir = g_dir_make_tmp("auto-balloon-mig-XXXXXX", NULL);
    g_assert_nonnull(m->dir);
    m->uri = g_strdup_printf("unix:%s/sock", m->dir);
    mig_unthrottle(g->qts);
    m->log = g_strdup_printf("%s/stderr", m->dir);
    m->dst = qtest_pc_boot(DEST_ARGS "%s%s%s -incoming defer 2>%s",
                           msg_vq ? "," AG_MESSAGE_QUEUE_ON : "",
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

/* The driver talks to the destination from now on, the source is gone */
static void mig_switch(AutoGuest *g, Mig *m)
{
    QOSState *src = g->qs;

    g->pci->pdev->bus = m->dst->pcibus;
    g->qs = m->dst;
    g->qts = m->dst->qts;
    qtest_shutdown(src);
    mig_free(m);
}

/* Migrate, then mig_switch() */
static void mig_run(AutoGuest *g, Mig *m)
{
    migrate(g->qs, m->dst, m->uri);
    mig_switch(g, m);
}

static char *migrate_status(QTestState *qts)
{
    g_autoptr(QDict) ret = qtest_qmp_assert_success_ref(qts,
                               "{ 'execute': 'query-migrate' }");

    return g_strdup(qdict_get_try_str(ret, "status"));
}

/* Wait until @qts's migration failed or completed; return which */
static char *migrate_wait(QTestState *qts)
{
    char *st = NULL;

    do {
        g_free(st);
        g_usleep(10 * 1000);
        st = migrate_status(qts);
    } while (strcmp(st, "failed") && strcmp(st, "completed"));
    return st;
}

static bool vm_running(QTestState *qts)
{
    g_autoptr(QDict) ret = qtest_qmp_assert_success_ref(qts,
                               "{ 'execute': 'query-status' }");

    return qdict_get_bool(ret, "running");
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

static void inject_no_action(QTestState *qts, const char *level)
{
    ag_inject_qts(qts, level);
    g_assert_null(qtest_qmp_event_ref(qts, "AUTO_BALLOON_ACTION"));
    g_assert_cmpuint(ag_counter(qts, "not-resident"), ==, 0);
}

/*
 * Until the stream is in, a destination does not know its balloon's
 * size: host pressure before it is counted as ignored, announces nothing
 * and leaves no throttle behind; the destination then continues from the
 * migrated balloon.
 */
static void test_incoming_ignores_pressure(void)
{
    AutoGuest *g = ag_start("", true, -1);
    uint32_t half = MIB_PAGES(512);
    Mig *m;

    balloon_to(g->qts, RAM - 512 * MiB);
    ag_catch_up(g);
    m = mig_prepare(g, AUTO_ON, true);
    /* As resident as a guest's: not ignored because it would gain nothing */
    ag_touch_ram(m->dst->qts, RAM);
    inject_no_action(m->dst->qts, "critical");
    g_assert_cmpuint(ag_query_target_pages(m->dst->qts, RAM), ==, 0);
    g_assert_cmpuint(ag_counter(m->dst->qts, "ignored"), ==, 1);
    g_assert_cmpuint(ag_counter(m->dst->qts, "inflates"), ==, 0);
    mig_run(g, m);

    g_assert_cmpuint(ag_target(g), ==, half);
    g_assert_cmpuint(ag_counter(g->qts, "host-events-critical"), ==, 1);
    g_assert_cmpuint(ag_counter(g->qts, "ignored"), ==, 1);
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, half + STEP_LOW);
    g_assert_cmpuint(ag_counter(g->qts, "inflates"), ==, 1);
    ag_stop(g);
}

/*
 * A source that has sent the device's state ignores host pressure:
 * nothing it changed would reach the guest, which runs on the
 * destination with the balloon the stream carried.
 */
static void test_source_done_ignores_pressure(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    Mig *m;

    ag_inject(g, "medium");
    ag_catch_up(g);
    ag_step(g, 2 * SEC);
    m = mig_prepare(g, AUTO_ON, true);
    migrate(g->qs, m->dst, m->uri);
    inject_no_action(g->qts, "critical");
    g_assert_cmpuint(ag_query_target_pages(g->qts, RAM), ==, STEP_MEDIUM);
    g_assert_cmpuint(ag_counter(g->qts, "ignored"), ==, 1);
    g_assert_cmpuint(ag_counter(g->qts, "inflates"), ==, 1);
    mig_switch(g, m);

    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM + STEP_LOW);
    ag_stop(g);
}

/*
 * Automatic -> automatic: tunables, the guest-pressure window and the
 * throttle continue on the destination, and its source reports events.
 */
/* A property of the balloon that does not migrate, as the device has it */
static int64_t prop_get(QTestState *qts, const char *name)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'qom-get', 'arguments':"
                           " { 'path': '/machine/peripheral/balloon0',"
                           " 'property': %s } }", name);
    int64_t val;

    g_assert(qdict_haskey(rsp, "return"));
    val = qdict_get_int(rsp, "return");
    qobject_unref(rsp);
    return val;
}

static void test_auto_to_auto(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    g_autoptr(QDict) info = NULL;
    QDict *t;
    int64_t avail_min, psi_low;

    qtest_qmp_assert_success(g->qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'inflate-low': %u,"
                             " 'hysteresis-ms': 30000 } }",
                             (unsigned)(16 * MiB));
    ag_inject(g, "critical");
    ag_catch_up(g);
    /*
     * Set at run time, these travel over the destination's own (its
     * auto-shares=500; 1000 keeps the steps below exact)
     */
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'shares': 1000,"
                             " 'reserve': %u, 'reserve-pct': 7,"
                             " 'relief-ms': 45000, 'relief-step': %u,"
                             " 'high-watermark-pct': 80,"
                             " 'low-watermark-pct': 60 } }",
                             (unsigned)(96 * MiB), (unsigned)(8 * MiB));
    /* The guest asks back 32 MiB and opens a 30 s window */
    ag_send_pressure(g);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL - STEP_DEFLATE);
    ag_catch_up(g);
    ag_step(g, 10 * SEC);
    avail_min = prop_get(g->qts, "auto-stats-avail-min");
    psi_low = prop_get(g->qts, "auto-psi-low-ms");
    g_assert_cmpint(avail_min, >, 0);
    g_assert_cmpint(psi_low, >, 0);
    mig_run(g, mig_prepare(g, AUTO_ON ",auto-shares=500", true));

    /* What does not travel stays the destination's own, not 0 */
    g_assert_cmpint(prop_get(g->qts, "auto-stats-avail-min"), ==, avail_min);
    g_assert_cmpint(prop_get(g->qts, "auto-psi-low-ms"), ==, psi_low);
    /* The tunables are the source's, not the destination's -device */
    g_assert_cmpint(prop_get(g->qts, "auto-shares"), ==, 1000);
    info = ag_query(g->qts);
    g_assert_true(qdict_get_bool(info, "enabled"));
    g_assert_true(qdict_get_bool(info, "guest-window-open"));
    g_assert_cmpint(qdict_get_int(info, "guest-window-remaining-ms"), ==,
                    20000);
    t = qdict_get_qdict(info, "tunables");
    g_assert_cmpint(qdict_get_int(t, "inflate-low"), ==, 16 * MiB);
    g_assert_cmpint(qdict_get_int(t, "hysteresis-ms"), ==, 30000);
    g_assert_cmpint(qdict_get_int(t, "shares"), ==, 1000);
    g_assert_cmpint(qdict_get_int(t, "reserve"), ==, 96 * MiB);
    g_assert_cmpint(qdict_get_int(t, "reserve-pct"), ==, 7);
    g_assert_cmpint(qdict_get_int(t, "relief-ms"), ==, 45000);
    g_assert_cmpint(qdict_get_int(t, "relief-step"), ==, 8 * MiB);
    g_assert_cmpint(qdict_get_int(t, "high-watermark-pct"), ==, 80);
    g_assert_cmpint(qdict_get_int(t, "low-watermark-pct"), ==, 60);
    /* The window holds off host pressure on the destination too */
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL - STEP_DEFLATE);
    ag_step(g, 20 * SEC);
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==,
                     STEP_CRITICAL - STEP_DEFLATE + MIB_PAGES(16));
    /* and the throttle: a second event within 1 s does not inflate */
    ag_catch_up(g);
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==,
                     STEP_CRITICAL - STEP_DEFLATE + MIB_PAGES(16));
    ag_stop(g);
}

/* Switched off on the source, it stays off on the destination */
static void test_auto_off_to_auto(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    g_autoptr(QDict) info = NULL;

    ag_inject(g, "medium");
    ag_catch_up(g);
    ag_set_enabled(g->qts, false);
    mig_run(g, mig_prepare(g, AUTO_ON, true));

    info = ag_query(g->qts);
    g_assert_false(qdict_get_bool(info, "enabled"));
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);
    ag_set_enabled(g->qts, true);
    ag_step(g, 2 * SEC);
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM + STEP_LOW);
    ag_stop(g);
}

/*
 * An inflate the guest has not finished migrates as it is: the target is
 * kept, nothing piles up on it, and the guest's progress counts.
 */
static void test_inflate_outstanding(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);

    ag_inject(g, "critical");
    ag_set_actual(g, STEP_CRITICAL / 4);
    ag_step(g, 2 * SEC);
    mig_run(g, mig_prepare(g, AUTO_ON, true));

    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL);
    ag_inject(g, "medium");
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL);
    ag_catch_up(g);
    ag_step(g, 2 * SEC);
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL + STEP_LOW);
    ag_stop(g);
}

static bool file_contains(const char *path, const char *what)
{
    g_autofree char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_test_message("destination said: %s", text);
    return strstr(text, what) != NULL;
}

/*
 * Migrate @g's source to @m's destination, which refuses the stream: the
 * migration fails on the source too (return path), and the source
 * resumes the guest.
 */
static void migrate_refused(AutoGuest *g, Mig *m)
{
    g_autofree char *st = NULL;
    int i;

    qtest_qmp_assert_success(g->qts, "{ 'execute':"
                             " 'migrate-set-capabilities', 'arguments':"
                             " { 'capabilities': [ { 'capability':"
                             " 'return-path', 'state': true } ] } }");
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'migrate',"
                             " 'arguments': { 'uri': %s } }", m->uri);
    st = migrate_wait(g->qts);
    g_assert_cmpstr(st, ==, "failed");
    /* The source resumes the guest right after it marks the failure */
    for (i = 0; i < 500 && !vm_running(g->qts); i++) {
        g_usleep(10 * 1000);
    }
    g_assert_true(vm_running(g->qts));
}

/*
 * Automatic -> plain: the destination refuses the stream, naming the
 * mismatch, and the source keeps running the guest, balloon unchanged.
 */
static void test_auto_to_plain(gconstpointer opaque)
{
    bool exit_on_error = GPOINTER_TO_INT(opaque);
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    Mig *m = mig_prepare(g, "", exit_on_error);

    ag_inject(g, "medium");
    ag_catch_up(g);
    migrate_refused(g, m);

    if (exit_on_error) {
        qtest_set_expected_status(m->dst->qts, 1);
        qtest_wait_qemu(m->dst->qts);
    } else {
        g_autofree char *dst_st = migrate_wait(m->dst->qts);

        g_assert_cmpstr(dst_st, ==, "failed");
    }
    g_assert_true(file_contains(m->log, "automatic=off"));
    qtest_shutdown(m->dst);
    m->dst = NULL;
    mig_free(m);

    /* Nothing lost on the source: same balloon, automatic mode works */
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);
    ag_step(g, 2 * SEC);
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM + STEP_LOW);
    ag_stop(g);
}

/*
 * RAM that automatic mode refuses (hugetlb), plugged into a source while
 * its automatic mode is off or absent, and on the destination's command
 * line: the destination (automatic=on, -incoming) does not refuse it at
 * creation, since the stream says whether automatic mode is on.
 */
#define HUGE_MEM    " -m 1024,slots=2,maxmem=2G"
#define HUGE_DIMM   HUGE_MEM " -object memory-backend-memfd,id=m1," \
                    "size=32M,hugetlb=on -device pc-dimm,id=d1,memdev=m1"

static void plug_huge_dimm(AutoGuest *g)
{
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'object-add',"
                             " 'arguments': { 'qom-type':"
                             " 'memory-backend-memfd', 'id': 'm1',"
                             " 'hugetlb': true, 'size': %" PRIu64 " } }",
                             32 * MiB);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'device_add',"
                             " 'arguments': { 'driver': 'pc-dimm',"
                             " 'id': 'd1', 'memdev': 'm1' } }");
}

/* A stream with automatic mode off: taken, and it stays off */
static void test_hugetlb_auto_off(void)
{
    long pool;
    bool grown;
    AutoGuest *g;
    Mig *m;
    g_autoptr(QDict) info = NULL;
    g_autoptr(QDict) rsp = NULL;

    if (!ag_hugepages_reserve(32, &pool, &grown)) {
        return;
    }
    g = ag_start(AUTO_ON HUGE_MEM, true, MSG_VQ_OFFERED);
    ag_set_enabled(g->qts, false);
    plug_huge_dimm(g);
    m = mig_prepare(g, AUTO_ON HUGE_DIMM, true);
    if (grown) {
        g_assert_true(ag_hugepages_set(pool));
    }
    mig_run(g, m);
    info = ag_query(g->qts);
    g_assert_false(qdict_get_bool(info, "enabled"));
    g_assert_cmpint(qdict_get_int(info, "actual"), ==, RAM + 32 * MiB);
    rsp = qtest_qmp(g->qts, "{ 'execute': 'set-auto-balloon',"
                    " 'arguments': { 'enabled': true } }");
    g_assert_nonnull(qdict_get_qdict(rsp, "error"));
    ag_stop(g);
}

/*
 * A plain source leaves the destination's automatic mode on, which its
 * RAM cannot serve: the load fails with an error that says why, and the
 * source keeps running.
 */
static void test_hugetlb_plain_to_auto(void)
{
    long pool;
    bool grown;
    AutoGuest *g;
    Mig *m;
    g_autofree char *dst_st = NULL;

    if (!ag_hugepages_reserve(32, &pool, &grown)) {
        return;
    }
    g = ag_start("automatic=off" HUGE_MEM, true, -1);
    plug_huge_dimm(g);
    m = mig_prepare(g, AUTO_ON HUGE_DIMM, false);
    if (grown) {
        g_assert_true(ag_hugepages_set(pool));
    }
    migrate_refused(g, m);
    dst_st = migrate_wait(m->dst->qts);
    g_assert_cmpstr(dst_st, ==, "failed");
    g_assert_true(file_contains(m->log, "the migrated balloon is in automatic"
                                " mode, which this destination's RAM cannot"
                                " serve: memory backend 'm1' is backed by"
                                " host pages of"));
    qtest_shutdown(m->dst);
    m->dst = NULL;
    mig_free(m);
    ag_stop(g);
}

/*
 * Hostile streams.  A source's state is saved to a file, fields of it are
 * changed as an attacker would, and a destination that stays up after a
 * failed load (exit-on-error off) loads it.  The offsets follow the
 * stream's layout: the device's main section ends with num_pages and
 * actual (be32 each), then comes our subsection, marked by
 * QEMU_VM_SUBSECTION, its name's length and name, and its version (be32),
 * then the fields of vmstate_auto_state in order.
 */
#define SUB_NAME        "virtio-balloon-device/auto"
#define SUB_WINDOW_END  0       /* be64 */
/* u8, after the three times (be64), stalled and ram_shrunk (u8) */
#define SUB_ENABLED     26
#define SUB_INFLATE_LOW 27      /* be64 */
/*
 * After inflate-low, -medium, -critical, deflate (be64), throttle,
 * hysteresis, stall (be32), floor, reserve (be64), reserve-pct,
 * relief-ms (be32), relief-step (be64), high- and low-watermark-pct
 * (be32): shares (be32), then whether the source has the message queue
 * (u8), the last field
 */
#define SUB_HIGH_WM     103     /* be32 */
#define SUB_SHARES      111     /* be32 */
#define SUB_MSG_QUEUE   115     /* u8 */
#define SUB_LEN         116
/* Section types of the stream (migration/savevm.h, not a public header) */
#define STREAM_VM_EOF               0x00
#define STREAM_VM_VMDESCRIPTION     0x06

typedef struct Stream {
    char *dir;
    char *path;
    char *log;
    uint8_t *buf;
    size_t len;
    size_t sub;             /* offset of the subsection's first field */
    size_t actual;          /* offset of the main section's actual */
    int64_t clock;          /* the source's virtual clock at the save */
} Stream;

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    int i;

    for (i = bytes - 1; i >= 0; i--, v >>= 8) {
        p[i] = v;
    }
}

/*
 * The shares of the source whose stream the tests change: not the
 * default, and below it, which leaves a critical step whole
 */
#define STREAM_SHARES   600

/*
 * Save @g's state, with a balloon of a critical step and shares of
 * STREAM_SHARES, and find the fields
 */
static Stream *stream_save(AutoGuest *g)
{
    static const char marker[] = "\x05\x1a" SUB_NAME;
    Stream *st = g_new0(Stream, 1);
    g_autofree char *uri = NULL;
    g_autofree char *status = NULL;
    uint8_t *at;

    st->dir = g_dir_make_tmp("auto-balloon-stream-XXXXXX", NULL);
    g_assert_nonnull(st->dir);
    st->path = g_strdup_printf("%s/stream", st->dir);
    st->log = g_strdup_printf("%s/stderr", st->dir);
    uri = g_strdup_printf("file:%s", st->path);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'shares': %u } }",
                             STREAM_SHARES);
    ag_inject(g, "critical");
    ag_catch_up(g);
    st->clock = qtest_clock_step(g->qts, 1);
    mig_unthrottle(g->qts);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'migrate',"
                             " 'arguments': { 'uri': %s } }", uri);
    status = migrate_wait(g->qts);
    g_assert_cmpstr(status, ==, "completed");
    g_assert_true(g_file_get_contents(st->path, (char **)&st->buf, &st->len,
                                      NULL));
    at = memmem(st->buf, st->len, marker, sizeof(marker) - 1);
    g_assert_nonnull(at);
    st->sub = at - st->buf + sizeof(marker) - 1 + 4;
    st->actual = at - st->buf - 4;
    g_assert_cmpuint(st->sub + SUB_LEN, <, st->len);
    /* The last field is the source's shares: the layout is as above */
    g_assert_cmpuint(ldl_be_p(st->buf + st->sub + SUB_SHARES), ==,
                     STREAM_SHARES);
    return st;
}

static void stream_free(Stream *st)
{
    unlink(st->path);
    unlink(st->log);
    rmdir(st->dir);
    g_free(st->buf);
    g_free(st->path);
    g_free(st->log);
    g_free(st->dir);
    g_free(st);
}

/*
 * Load the (changed) stream into a new automatic destination; return it
 * with the migration's final status in @status.  @before: its
 * query-auto-balloon before the load.
 */
static QOSState *stream_load(Stream *st, char **status, QDict **before)
{
    g_autofree char *uri = g_strdup_printf("file:%s", st->path);
    QOSState *dst;

    g_assert_true(g_file_set_contents(st->path, (char *)st->buf, st->len,
                                      NULL));
    dst = qtest_pc_boot(DEST_ARGS "," AUTO_ON " -incoming defer 2>%s",
                        st->log);
    qtest_clock_set(dst->qts, st->clock);
    *before = ag_query(dst->qts);
    qtest_qmp_assert_success(dst->qts,
                             "{ 'execute': 'migrate-incoming', 'arguments':"
                             " { 'uri': %s, 'exit-on-error': false } }",
                             uri);
    *status = migrate_wait(dst->qts);
    return dst;
}

/*
 * A refused stream leaves the destination's automatic mode as it was.
 * (The balloon target is upstream's num_pages, loaded with the main
 * section before anything is checked, as any field of a stream that
 * fails later; a destination whose load failed does not run.)
 */
static void assert_unchanged(QTestState *qts, QDict *before)
{
    g_autoptr(QDict) after = ag_query(qts);

    g_assert_cmpint(qdict_get_bool(after, "enabled"), ==,
                    qdict_get_bool(before, "enabled"));
    g_assert_true(qobject_is_equal(
                      QOBJECT(qdict_get_qdict(after, "tunables")),
                      QOBJECT(qdict_get_qdict(before, "tunables"))));
}

/* A stream of a source with a balloon of a critical step, to change */
static Stream *stream_new(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, -1);
    Stream *st = stream_save(g);

    ag_stop(g);
    return st;
}

/* The destination refuses @st, saying @words, and changes nothing */
static void stream_expect_refused(Stream *st, const char *words)
{
    g_autoptr(QDict) before = NULL;
    g_autofree char *status = NULL;
    QOSState *dst = stream_load(st, &status, &before);

    g_assert_cmpstr(status, ==, "failed");
    g_assert_true(file_contains(st->log, words));
    assert_unchanged(dst->qts, before);
    qtest_shutdown(dst);
    stream_free(st);
}

/*
 * Refused in the subsection (a window ending before the clock's start):
 * the 'enabled' of the same subsection, loaded before the check, does not
 * switch the destination's automatic mode off.
 */
static void test_stream_bad_timing(void)
{
    Stream *st = stream_new();

    st->buf[st->sub + SUB_ENABLED] = 0;
    put_be(st->buf + st->sub + SUB_WINDOW_END, UINT64_MAX, 8);
    stream_expect_refused(st, "guest-pressure window");
}

/*
 * Refused after the subsection, by the device's main section (a balloon
 * target beyond guest RAM): the subsection's valid tunables and
 * 'enabled' are not applied either.
 */
static void test_stream_bad_target(void)
{
    Stream *st = stream_new();

    st->buf[st->sub + SUB_ENABLED] = 0;
    put_be(st->buf + st->sub + SUB_INFLATE_LOW, 4 * MiB, 8);
    /* num_pages: the be32 before actual */
    put_be(st->buf + st->actual - 4, RAM / 4096 + 1, 4);
    stream_expect_refused(st, "larger than guest RAM");
}

/*
 * A tunable the stream carries out of range (a high watermark of 101 %):
 * refused, with the valid shares of the same subsection not applied.
 */
static void test_stream_bad_tunable(void)
{
    Stream *st = stream_new();

    put_be(st->buf + st->sub + SUB_HIGH_WM, 101, 4);
    stream_expect_refused(st, "101 %");
}

/*
 * A stream that says the source had the message queue, loaded by a
 * destination without it: refused, naming the property
 */
static void test_stream_message_queue(void)
{
    Stream *st = stream_new();

    g_assert_cmpuint(st->buf[st->sub + SUB_MSG_QUEUE], ==, 0);
    st->buf[st->sub + SUB_MSG_QUEUE] = 1;
    stream_expect_refused(st, "x-auto-message-queue=on");
}

/*
 * Source and destination disagree on x-auto-message-queue, either way:
 * the destination refuses, naming the property (the virtio core alone
 * would load the source's message queue into a queue the destination
 * never created, or drop it), and the source keeps its guest.
 */
static void test_message_queue_mismatch(gconstpointer opaque)
{
    bool source_has = GPOINTER_TO_INT(opaque);
    AutoGuest *g = ag_start(AUTO_ON, true, source_has ? MSG_VQ_OFFERED : -1);
    /* mig_prepare() gives the destination the source's queue: undo it */
    Mig *m = mig_prepare(g, source_has ? AUTO_ON ",x-auto-message-queue=off" :
                         AUTO_ON "," AG_MESSAGE_QUEUE_ON, false);
    g_autofree char *dst_st = NULL;

    ag_inject(g, "medium");
    ag_catch_up(g);
    migrate_refused(g, m);
    dst_st = migrate_wait(m->dst->qts);
    g_assert_cmpstr(dst_st, ==, "failed");
    g_assert_true(file_contains(m->log, source_has ?
                                "x-auto-message-queue=on" :
                                "x-auto-message-queue=off"));
    qtest_shutdown(m->dst);
    m->dst = NULL;
    mig_free(m);
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);
    ag_stop(g);
}

/*
 * An 'actual' beyond guest RAM (the guest wrote it; the stream carries
 * it): the migration goes through, as at run time, but not one page of
 * it is believed received.
 */
static void test_stream_hostile_actual(void)
{
    Stream *st = stream_new();
    g_autoptr(QDict) before = NULL;
    g_autoptr(QDict) after = NULL;
    g_autofree char *status = NULL;
    QOSState *dst;

    put_be(st->buf + st->actual, UINT32_MAX, 4);
    dst = stream_load(st, &status, &before);
    g_assert_cmpstr(status, ==, "completed");
    after = ag_query(dst->qts);
    g_assert_cmpint(qdict_get_int(after, "inflated"), ==, 0);
    g_assert_cmpuint(ag_counter(dst->qts, "unbacked-actual"), ==, 1);
    /* The tunables are the source's */
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(after, "tunables"),
                                  "shares"), ==, STREAM_SHARES);
    /* The migrated target still stands */
    g_assert_cmpint(qdict_get_int(after, "target"), ==,
                    RAM - STEP_CRITICAL * 4096ull);
    qtest_shutdown(dst);
    stream_free(st);
}

/*
 * A host pressure source belongs to its host and does not migrate: the
 * destination (here auto-source=none, as libvirt's domain XML gives it)
 * keeps the balloon the source left, gets no relief without a source,
 * and takes the one its manager attaches.  libvirt's 'balloon' to the
 * domain's current size before the incoming migration is accepted: the
 * stream sets the balloon.
 */
static void test_source_stays_local(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, -1);
    g_autoptr(QDict) info = NULL;
    uint32_t target;
    Mig *m;

    ag_inject(g, "medium");
    ag_catch_up(g);
    target = ag_target(g);
    g_assert_cmpuint(target, ==, STEP_MEDIUM);
    m = mig_prepare(g, "automatic=on,auto-source=none", true);
    balloon_to(m->dst->qts, RAM - 64 * MiB);
    mig_run(g, m);

    info = ag_query(g->qts);
    g_assert_cmpstr(qdict_get_str(info, "source"), ==, "none");
    g_assert_cmpstr(qdict_get_str(info, "backend"), ==, "none");
    g_assert_cmpuint(ag_target(g), ==, target);
    g_assert_cmpuint(ag_query_target_pages(g->qts, RAM), ==, target);
    ag_step(g, 60 * SEC);
    g_assert_cmpuint(ag_target(g), ==, target);
    g_assert_cmpuint(ag_counter(g->qts, "reliefs"), ==, 0);

    qtest_qmp_assert_success(g->qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'source': 'qtest' } }");
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, target + STEP_LOW);
    ag_stop(g);
}

/*
 * An element the source has not finished when it stops is given back to
 * the ring before the queues are saved; the destination processes it
 * from its start when it runs, and counts its pages once.
 */
static void test_kept_element(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    uint64_t addr;
    uint32_t head = ag_send_huge(g, 64, 1000, &addr), idx;
    g_autoptr(QDict) info = NULL;

    qtest_qmp_assert_success(g->qts, "{ 'execute': 'stop' }");
    /* Not finished: about 1000 runs, the kick did one */
    g_assert_false(qvirtqueue_get_buf(g->qts, g->ivq, &idx, NULL));
    mig_run(g, mig_prepare(g, AUTO_ON, true));
    g_assert_false(vm_running(g->qts));
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'cont' }");
    qvirtio_wait_used_elem(g->qts, g->vdev, g->ivq, head, NULL, TIMEOUT_US);
    info = ag_query(g->qts);
    g_assert_cmpint(qdict_get_int(info, "inflated"), ==,
                    64 * 1000 * (int64_t)PAGE);
    guest_free(&g->qs->alloc, addr);
    ag_stop(g);
}

/*
 * A DIMM unplugged under the balloon just before a migration: the
 * source, in transit, gives nothing back; the destination, started
 * without the DIMM, does as soon as it runs (the rule travels in the
 * stream; without it the destination adopted a balloon of all its RAM).
 */
static void test_ram_unplugged(void)
{
    uint32_t inflated;
    AutoGuest *g = ag_start_dimm_inflated(&inflated);

    /*
     * Stopped, the source's timer does not run: the unplug is seen (the
     * RAM watch; no query in between) but not acted on before the
     * migration
     */
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'stop' }");
    ag_unplug_dimm(g->qts);
    g_assert_cmpuint(ag_target(g), ==, inflated);

    mig_run(g, mig_prepare(g, AUTO_ON " -m 1024,slots=2,maxmem=2G", true));
    g_assert_cmpuint(ag_target(g), ==, inflated);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'cont' }");
    ag_step(g, 2 * SEC);
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(1024 - 256));
    g_assert_cmpuint(ag_counter(g->qts, "ram-deflates"), ==, 1);
    ag_stop(g);
}

/*
 * The source, after it sent its state (POSTMIGRATE), sees a DIMM unplug:
 * it does not act while its guest is stopped, but if management resumes
 * it (a migration given up on after it completed), it gives back at once
 * with no other event.  Before, the shrink was recorded with no timer
 * armed, and nothing armed one on resuming.
 */
static void test_source_resumes_after_unplug(void)
{
    uint32_t inflated;
    AutoGuest *g = ag_start_dimm_inflated(&inflated);
    g_autofree char *dir = g_dir_make_tmp("auto-balloon-mig-XXXXXX", NULL);
    g_autofree char *file = g_strdup_printf("%s/state", dir);
    g_autofree char *uri = g_strdup_printf("file:%s", file);
    g_autofree char *st = NULL;

    /* To a file: the source is done with no destination to look after */
    mig_unthrottle(g->qts);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'migrate', 'arguments':"
                             " { 'uri': %s } }", uri);
    st = migrate_wait(g->qts);
    g_assert_cmpstr(st, ==, "completed");
    unlink(file);
    rmdir(dir);

    ag_unplug_dimm_then_resume(g, inflated);
    ag_stop(g);
}

/* Wait until @qts's migration is @want; fail at once if it failed */
static void migrate_wait_for(QTestState *qts, const char *want)
{
    g_autofree char *st = NULL;

    for (;;) {
        g_free(st);
        st = migrate_status(qts);
        if (!strcmp(st, want)) {
            return;
        }
        g_assert_cmpstr(st, !=, "failed");
        g_usleep(10 * 1000);
    }
}

/*
 * A background snapshot write-protects guest RAM, and upstream's balloon
 * discards nothing while it runs, so an inflate would cost the guest its
 * pages and return the host nothing: host pressure is ignored and the
 * high watermark's inflate waits, until the snapshot is over.
 */
static void test_bg_snapshot_pauses(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-relief-ms=10000", false, -1);
    g_autoptr(QDict) rsp = NULL;

    rsp = qtest_qmp(g->qts, "{ 'execute': 'migrate-set-capabilities',"
                    " 'arguments': { 'capabilities': [ { 'capability':"
                    " 'background-snapshot', 'state': true } ] } }");
    if (!qdict_haskey(rsp, "return")) {
        g_autofree char *why = g_strdup_printf(
            "no background snapshot here: %s",
            qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"));

        g_test_skip(why);
        ag_stop(g);
        return;
    }
    /* 1 GiB of zero pages at 1 KiB/s: it runs until cancelled */
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'migrate-set-parameters',"
                             " 'arguments': { 'max-bandwidth': 1024 } }");
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'migrate', 'arguments':"
                             " { 'uri': 'exec:cat > /dev/null' } }");
    migrate_wait_for(g->qts, "active");

    inject_no_action(g->qts, "critical");
    g_assert_cmpuint(ag_counter(g->qts, "ignored"), ==, 1);
    /* 100 MiB above the high watermark (3600 of 4000 MiB) */
    ag_inject_memory(g, 3700 * MiB, 4000 * MiB, 300 * MiB);
    ag_step(g, 5 * SEC);
    g_assert_cmpuint(ag_target(g), ==, 0);
    g_assert_cmpuint(ag_counter(g->qts, "watermark-inflates"), ==, 0);
    g_assert_cmpuint(ag_counter(g->qts, "inflates"), ==, 0);

    qtest_qmp_assert_success(g->qts, "{ 'execute': 'migrate_cancel' }");
    migrate_wait_for(g->qts, "cancelled");
    /* The paused timer looks again within a second */
    ag_step(g, SEC);
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(100));
    g_assert_cmpuint(ag_counter(g->qts, "watermark-inflates"), ==, 1);
    ag_catch_up(g);
    /* Below the high watermark again; host pressure acts again */
    ag_inject_memory(g, 3500 * MiB, 4000 * MiB, 500 * MiB);
    ag_step(g, 2 * SEC);
    g_assert_cmpuint(ag_counter(g->qts, "watermark-inflates"), ==, 1);
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), >, MIB_PAGES(100));
    g_assert_cmpuint(ag_counter(g->qts, "inflates"), ==, 2);
    g_assert_cmpuint(ag_counter(g->qts, "ignored"), ==, 1);
    ag_stop(g);
}

/*
 * The usage threshold follows the migrated high watermark: a destination
 * registers its own at realize (its -device: 90 % of the memcg's 1 GiB
 * limit), and the source's 80 % once the stream has replaced its
 * tunables, with no reading of the memory state in between (nothing
 * happens on the destination after the migration).  Real memcg v1, whose
 * thresholds are registered through cgroup.event_control; each
 * registration is a line of the destination's trace.
 */
static void test_real_threshold_rearmed(void)
{
    g_autofree char *cg = NULL, *limit = NULL, *log = NULL, *src = NULL;
    g_autofree char *dst = NULL;
    AutoGuest *g;

    if (geteuid() != 0) {
        g_test_skip("needs root to create a memory cgroup");
        return;
    }
    if (!g_file_test(MEMCG_ROOT "/cgroup.event_control",
                     G_FILE_TEST_EXISTS)) {
        g_test_skip("no cgroup v1 memory controller at " MEMCG_ROOT);
        return;
    }
    cg = ag_cgroup_make(MEMCG_ROOT, "mig-thr");
    limit = g_build_filename(cg, "memory.limit_in_bytes", NULL);
    g_assert_true(ag_cg_write(limit, "1073741824"));
    log = ag_trace_log("mig-thr");

    src = g_strdup_printf("automatic=on,auto-source=%s,"
                          "auto-high-watermark-pct=80,"
                          "auto-low-watermark-pct=70", cg);
    g = ag_start(src, true, -1);
    dst = g_strdup_printf("automatic=on,auto-source=%s"
                          " -trace enable=virtio_balloon_auto_threshold_set"
                          ",file=%s", cg, log);
    mig_run(g, mig_prepare(g, dst, true));
    g_assert_cmpint(prop_get(g->qts, "auto-high-watermark-pct"), ==, 80);
    ag_stop(g);

    /* 90 % and 80 % of 1 GiB, rounded down; nothing else */
    g_assert_cmpint(ag_trace_lines(log, "usage threshold at 966367641 "), ==,
                    1);
    g_assert_cmpint(ag_trace_lines(log, "usage threshold at 858993459 "), ==,
                    1);
    g_assert_cmpint(ag_trace_lines(log, "virtio_balloon_auto_threshold_set"),
                    ==, 2);
    unlink(log);
    g_assert_cmpint(rmdir(cg), ==, 0);
}

/*
 * RAM discard is required exactly while automatic mode is on, and a
 * destination takes it only once the stream says so: a stream that
 * switches automatic mode off leaves it free (VFIO may be on the
 * destination's command line), one that leaves it on takes it.
 * ag_expect_pinning_refused() is the real path that sees it.
 */
static void test_discard_stream_off(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    Mig *m;

    ag_set_enabled(g->qts, false);
    m = mig_prepare(g, AUTO_ON, true);
    ag_expect_pinning_refused(m->dst->qts, false);
    mig_run(g, m);

    g_assert_false(ag_enabled(g->qts));
    ag_expect_pinning_refused(g->qts, false);
    ag_set_enabled(g->qts, true);
    ag_expect_pinning_refused(g->qts, true);
    ag_stop(g);
}

/*
 * Before the stream, switching the destination off and on again, or a
 * source that fails to open, takes nothing either
 */
static void test_discard_stream_on(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    Mig *m = mig_prepare(g, AUTO_ON, true);
    QDict *rsp;

    ag_expect_pinning_refused(m->dst->qts, false);
    ag_set_enabled(m->dst->qts, false);
    ag_set_enabled(m->dst->qts, true);
    ag_expect_pinning_refused(m->dst->qts, false);
    ag_set_enabled(m->dst->qts, false);
    rsp = qtest_qmp(m->dst->qts, "{ 'execute': 'set-auto-balloon',"
                    " 'arguments': { 'enabled': true,"
                    " 'source': '/nonexistent/memcg' } }");
    g_assert_true(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    rsp = qtest_qmp(m->dst->qts, "{ 'execute': 'set-auto-balloon',"
                    " 'arguments': { 'source': '/nonexistent/memcg' } }");
    g_assert_true(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    ag_expect_pinning_refused(m->dst->qts, false);
    ag_set_enabled(m->dst->qts, true);
    mig_run(g, m);

    g_assert_true(ag_enabled(g->qts));
    ag_expect_pinning_refused(g->qts, true);
    ag_stop(g);
}

/*
 * COLO: a secondary disables RAM discard when the stream's ENABLE_COLO
 * arrives (migration_incoming_enable_colo()), before any device state; a
 * real user of ram_block_discard_disable() that needs no hardware.
 */
/* COLO, and a MIGRATION event at each change of state */
static void colo_cap(QTestState *qts)
{
    qtest_qmp_assert_success(qts, "{ 'execute':"
                             " 'migrate-set-capabilities', 'arguments':"
                             " { 'capabilities': [ { 'capability':"
                             " 'x-colo', 'state': true }, { 'capability':"
                             " 'events', 'state': true } ] } }");
}

/*
 * Wait for @qts's MIGRATION event saying it is in COLO state or failed;
 * return which.  The event is sent as the state changes, so what follows
 * it runs as soon after as QMP can.
 */
static char *migrate_wait_colo(QTestState *qts)
{
    for (;;) {
        g_autoptr(QDict) ev = qtest_qmp_eventwait_ref(qts, "MIGRATION");
        const char *st = qdict_get_str(qdict_get_qdict(ev, "data"),
                                       "status");

        if (!strcmp(st, "colo") || !strcmp(st, "failed")) {
            return g_strdup(st);
        }
    }
}

/*
 * A destination in automatic mode becomes a COLO secondary (it has not
 * taken RAM discard yet), but a stream that leaves automatic mode on fails
 * at the balloon, saying why; also where it was switched off before.
 */
static void test_discard_colo_refused(gconstpointer opaque)
{
    bool dst_off = GPOINTER_TO_INT(opaque);
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    Mig *m = mig_prepare(g, AUTO_ON, true);

    colo_cap(g->qts);
    colo_cap(m->dst->qts);
    if (dst_off) {
        ag_set_enabled(m->dst->qts, false);
    }
    migrate_refused(g, m);
    qtest_set_expected_status(m->dst->qts, 1);
    qtest_wait_qemu(m->dst->qts);
    g_assert_true(file_contains(m->log, "the migrated balloon is in"
                                " automatic mode: guest RAM must be"
                                " discardable, but RAM discard is"
                                " disabled"));
    g_assert_false(file_contains(m->log, "COLO: cannot disable RAM"));
    qtest_shutdown(m->dst);
    m->dst = NULL;
    mig_free(m);
    ag_stop(g);
}

/* set-auto-balloon refuses to switch on, saying @why, and stays off */
static void expect_switch_on_refused(QTestState *qts, const char *why)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'set-auto-balloon',"
                           " 'arguments': { 'enabled': true } }");

    g_assert_true(qdict_haskey(rsp, "error"));
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"), why));
    qobject_unref(rsp);
    g_assert_false(ag_enabled(qts));
}

/*
 * Automatic mode off at the source: the destination, automatic=on on its
 * command line, becomes a COLO secondary.  Switching automatic mode on is
 * refused there (discard is disabled) and at the primary (every
 * checkpoint would fail at the secondary), changing nothing.
 *
 * The secondary is asked as soon as it says "colo" (its MIGRATION
 * event): its runstate is then
 * still INMIGRATE until its COLO thread starts the VM, after the stream's
 * state was loaded.  A switch-on that left RAM discard to a post_load
 * that had already run was accepted there (a test run on a loaded host
 * caught it); the window is short, so a run without that fix fails only
 * now and then.
 */
static void test_discard_colo_switch_on(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    Mig *m = mig_prepare(g, AUTO_ON, false);
    g_autofree char *st = NULL, *src_st = NULL;

    colo_cap(g->qts);
    colo_cap(m->dst->qts);
    ag_set_enabled(g->qts, false);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'migrate',"
                             " 'arguments': { 'uri': %s } }", m->uri);
    /* At the event: the window is right after "colo" */
    st = migrate_wait_colo(m->dst->qts);
    g_assert_cmpstr(st, ==, "colo");
    expect_switch_on_refused(m->dst->qts, "but RAM discard is disabled");

    /* Before the primary goes: the secondary would then fail over */
    src_st = migrate_wait_colo(g->qts);
    g_assert_cmpstr(src_st, ==, "colo");
    expect_switch_on_refused(m->dst->qts, "but RAM discard is disabled");
    expect_switch_on_refused(g->qts, "while COLO replicates this VM");

    /*
     * End COLO at the primary first: a primary told to quit in COLO state
     * first runs one more checkpoint with its secondary (colo_shutdown()
     * wakes its COLO thread), and on a loaded host one run did not exit
     * within the 30 s libqtest waits before SIGKILL
     */
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'x-colo-lost-heartbeat' }");
    qtest_qmp_eventwait(g->qts, "COLO_EXIT");
    migrate_allocator(&g->qs->alloc, &m->dst->alloc);
    mig_switch(g, m);
    ag_stop(g);
}

/*
 * A destination whose balloon state the stream brought, still INMIGRATE:
 * the stream is cut before its end marker, so the load fails after every
 * device's post_load, and the destination stays up (exit-on-error off).
 * The state said automatic mode off; switching on now is not left to a
 * post_load that already ran: it takes RAM discard at once, and a device
 * that pins guest RAM is refused.  (The same rule as at a COLO
 * secondary between "colo" and its VM start, without the race.)
 */
static void test_discard_switch_on_after_load(void)
{
    Stream *st = stream_new();
    g_autoptr(QDict) before = NULL;
    g_autofree char *status = NULL;
    size_t end;
    QOSState *dst;

    st->buf[st->sub + SUB_ENABLED] = 0;
    /*
     * The stream ends with QEMU_VM_EOF, or with it, then
     * QEMU_VM_VMDESCRIPTION, a be32 length and the JSON description: cut
     * before QEMU_VM_EOF
     */
    for (end = st->len - 6; end > st->sub + SUB_LEN; end--) {
        if (st->buf[end] == STREAM_VM_EOF &&
            st->buf[end + 1] == STREAM_VM_VMDESCRIPTION &&
            ldl_be_p(st->buf + end + 2) == st->len - end - 6) {
            break;
        }
    }
    if (end == st->sub + SUB_LEN) {
        end = st->len - 1;
    }
    g_assert_cmpint(st->buf[end], ==, STREAM_VM_EOF);
    st->len = end;

    dst = stream_load(st, &status, &before);
    g_assert_cmpstr(status, ==, "failed");
    g_assert_true(qdict_get_bool(before, "enabled"));
    /* The balloon's state was applied: automatic mode off, as sent */
    g_assert_false(ag_enabled(dst->qts));
    ag_expect_pinning_refused(dst->qts, false);

    ag_set_enabled(dst->qts, true);
    g_assert_true(ag_enabled(dst->qts));
    ag_expect_pinning_refused(dst->qts, true);
    ag_set_enabled(dst->qts, false);
    ag_expect_pinning_refused(dst->qts, false);

    qtest_shutdown(dst);
    stream_free(st);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("virtio-balloon-auto/migration/stream/bad-timing",
                   test_stream_bad_timing);
    qtest_add_func("virtio-balloon-auto/migration/stream/bad-target",
                   test_stream_bad_target);
    qtest_add_func("virtio-balloon-auto/migration/stream/bad-tunable",
                   test_stream_bad_tunable);
    qtest_add_func("virtio-balloon-auto/migration/stream/message-queue",
                   test_stream_message_queue);
    qtest_add_data_func("virtio-balloon-auto/migration/message-queue/"
                        "source-only", GINT_TO_POINTER(true),
                        test_message_queue_mismatch);
    qtest_add_data_func("virtio-balloon-auto/migration/message-queue/"
                        "destination-only", GINT_TO_POINTER(false),
                        test_message_queue_mismatch);
    qtest_add_func("virtio-balloon-auto/migration/stream/hostile-actual",
                   test_stream_hostile_actual);
    qtest_add_func("virtio-balloon-auto/migration/kept-element",
                   test_kept_element);
    qtest_add_func("virtio-balloon-auto/migration/ram-unplugged",
                   test_ram_unplugged);
    qtest_add_func("virtio-balloon-auto/migration/source-resumes-after-unplug",
                   test_source_resumes_after_unplug);
    qtest_add_func("virtio-balloon-auto/migration/hugetlb/auto-off",
                   test_hugetlb_auto_off);
    qtest_add_func("virtio-balloon-auto/migration/hugetlb/plain-to-auto",
                   test_hugetlb_plain_to_auto);
    qtest_add_func("virtio-balloon-auto/migration/plain-to-auto",
                   test_plain_to_auto);
    qtest_add_func("virtio-balloon-auto/migration/incoming-ignores-pressure",
                   test_incoming_ignores_pressure);
    qtest_add_func("virtio-balloon-auto/migration/source-done-ignores-pressure",
                   test_source_done_ignores_pressure);
    qtest_add_func("virtio-balloon-auto/migration/auto-to-auto",
                   test_auto_to_auto);
    qtest_add_func("virtio-balloon-auto/migration/auto-off-to-auto",
                   test_auto_off_to_auto);
    qtest_add_func("virtio-balloon-auto/migration/source-stays-local",
                   test_source_stays_local);
    qtest_add_func("virtio-balloon-auto/migration/inflate-outstanding",
                   test_inflate_outstanding);
    qtest_add_func("virtio-balloon-auto/migration/bg-snapshot-pauses",
                   test_bg_snapshot_pauses);
    qtest_add_func("virtio-balloon-auto/migration/real/threshold-rearmed",
                   test_real_threshold_rearmed);
    qtest_add_func("virtio-balloon-auto/migration/discard/switch-on-after-load",
                   test_discard_switch_on_after_load);
    qtest_add_func("virtio-balloon-auto/migration/discard/stream-off",
                   test_discard_stream_off);
    qtest_add_func("virtio-balloon-auto/migration/discard/stream-on",
                   test_discard_stream_on);
    qtest_add_data_func("virtio-balloon-auto/migration/discard/colo/"
                        "stream-on", GINT_TO_POINTER(false),
                        test_discard_colo_refused);
    qtest_add_data_func("virtio-balloon-auto/migration/discard/colo/"
                        "stream-on-dest-off", GINT_TO_POINTER(true),
                        test_discard_colo_refused);
    qtest_add_func("virtio-balloon-auto/migration/discard/colo/switch-on",
                   test_discard_colo_switch_on);
    qtest_add_data_func("virtio-balloon-auto/migration/auto-to-plain/exit",
                        GINT_TO_POINTER(true), test_auto_to_plain);
    qtest_add_data_func("virtio-balloon-auto/migration/auto-to-plain/stay",
                        GINT_TO_POINTER(false), test_auto_to_plain);

    return g_test_run();
}
