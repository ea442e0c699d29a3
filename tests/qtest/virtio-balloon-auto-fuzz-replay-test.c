/*
 * QTest: replay the fuzzing corpus of automatic ballooning
 *
 * Runs every input committed under tests/qtest/fuzz/corpus/virtio-balloon-
 * auto/, then random inputs from a fixed seed, through the fuzzer's own
 * decoder (virtio-balloon-auto-fuzz.c) against a normal QEMU build: QEMU
 * must survive each and still answer query-auto-balloon with consistent
 * values.  The fuzzer itself needs a clang build (make fuzz); this keeps
 * what it found covered by make check.  VBAF_CORPUS_DIR and
 * VBAF_RANDOM_INPUTS in the environment override where the corpus is and
 * how many random inputs run.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qobject/qjson.h"
#include "libqtest.h"
#include "virtio-balloon-auto-fuzz.h"

/* Random inputs: as many, as long (bytes), from this seed */
#define RANDOM_INPUTS       1000
#define RANDOM_INPUTS_SLOW  10000
#define RANDOM_MAX_LEN      256
#define RANDOM_SEED         0x6ba11007

/* Events are not looked at, except the RESET that ends a system_reset */
static bool drop_event(QTestState *qts, const char *name, QDict *event,
                       void *opaque)
{
    return strcmp(name, "RESET") != 0;
}

static QDict *replay_qmp(void *opaque, QDict *cmd)
{
    QTestState *qts = opaque;
    g_autoptr(GString) json = qobject_to_json(QOBJECT(cmd));

    qtest_qmp_send_raw(qts, "%s", json->str);
    return qtest_qmp_receive(qts);
}

static void replay_system_reset(void *opaque)
{
    QTestState *qts = opaque;

    qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
    qtest_qmp_eventwait(qts, "RESET");
}

static QTestState *replay_start(Vbaf **f)
{
    QTestState *qts = qtest_init(VBAF_QEMU_ARGS);
    VbafHost host = {
        .qmp = replay_qmp,
        .system_reset = replay_system_reset,
        .opaque = qts,
    };

    qtest_qmp_set_event_callback(qts, drop_event, NULL);
    *f = vbaf_new(qts, &host);
    return qts;
}

static const char *corpus_dir(void)
{
    return g_getenv("VBAF_CORPUS_DIR") ?: VBAF_CORPUS_DIR;
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_corpus(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GDir) dir = g_dir_open(corpus_dir(), 0, &err);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    QTestState *qts;
    const char *name;
    Vbaf *f;
    size_t bytes = 0;
    guint i;

    g_assert_no_error(err);
    while ((name = g_dir_read_name(dir))) {
        g_ptr_array_add(names, g_strdup(name));
    }
    g_assert_cmpuint(names->len, >, 0);
    g_ptr_array_sort(names, compare_names);

    qts = replay_start(&f);
    for (i = 0; i < names->len; i++) {
        g_autofree char *path = g_build_filename(corpus_dir(),
                                                 names->pdata[i], NULL);
        g_autofree char *data = NULL;
        gsize len;

        g_assert_true(g_file_get_contents(path, &data, &len, &err));
        vbaf_run(f, (const uint8_t *)data, len);
        bytes += len;
    }
    g_test_message("replayed %u inputs (%zu bytes, %" PRIu64 " operations)"
                   " from %s", names->len, bytes, vbaf_ops(f), corpus_dir());
    vbaf_free(f);
    qtest_quit(qts);
}

static void test_random(void)
{
    const char *env = g_getenv("VBAF_RANDOM_INPUTS");
    int n = env ? atoi(env) : g_test_slow() ? RANDOM_INPUTS_SLOW :
            RANDOM_INPUTS;
    g_autoptr(GRand) rand = g_rand_new_with_seed(RANDOM_SEED);
    uint8_t buf[RANDOM_MAX_LEN];
    QTestState *qts;
    Vbaf *f;
    int i, j;

    qts = replay_start(&f);
    for (i = 0; i < n; i++) {
        int len = g_rand_int_range(rand, 1, sizeof(buf) + 1);

        for (j = 0; j < len; j++) {
            buf[j] = g_rand_int(rand);
        }
        vbaf_run(f, buf, len);
    }
    g_test_message("%d random inputs, %" PRIu64 " operations", n,
                   vbaf_ops(f));
    vbaf_free(f);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("virtio-balloon-auto/fuzz-replay/corpus", test_corpus);
    qtest_add_func("virtio-balloon-auto/fuzz-replay/random", test_random);
    return g_test_run();
}
