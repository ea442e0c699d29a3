/*
 * QTest: replay the fuzzing corpus of automatic ballooning
 *
 * Runs every input of the committed corpus, tests/qtest/fuzz/virtio-
 * balloon-auto.corpus (one input per line in base64, '#' comments; see
 * scripts/fuzz-corpus.py), then random inputs from a fixed seed, through
 * the fuzzer's own decoder (virtio-balloon-auto-fuzz.c) against a normal
 * QEMU build: QEMU must survive each and still answer query-auto-balloon
 * with consistent values.  The fuzzer itself needs a clang build (make
 * fuzz); this keeps what it found covered by make check.  VBAF_CORPUS and
 * VBAF_RANDOM_INPUTS in the environment override which corpus file is
 * read and how many random inputs run.
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
/*
 * SHA-1 of the input that hung the main loop (README.rst), pinned in the
 * committed corpus by its comment
 */
#define PINNED_HANG         "79bf22d2777dbffd92eea2eb26d876e1ae5d7fcc"

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

static const char *corpus_path(void)
{
    return g_getenv("VBAF_CORPUS") ?: VBAF_CORPUS;
}

/* RFC 4648 base64 with its padding, nothing else */
static bool is_base64(const char *s)
{
    size_t len = strlen(s), pad = 0, i;

    while (pad < 2 && len > pad && s[len - 1 - pad] == '=') {
        pad++;
    }
    if (len == 0 || len % 4) {
        return false;
    }
    for (i = 0; i < len - pad; i++) {
        if (!g_ascii_isalnum(s[i]) && s[i] != '+' && s[i] != '/') {
            return false;
        }
    }
    return true;
}

/*
 * The inputs of the corpus file @path, in file order, as a GPtrArray of
 * GBytes (each at least one byte: is_base64() refuses ""); NULL with
 * @err set, naming the line, if the file cannot be read, holds a byte
 * that is not ASCII (NUL included), or a line that is neither a comment
 * nor blank is not base64.
 */
static GPtrArray *corpus_read(const char *path, GError **err)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GPtrArray) inputs = NULL;
    gsize size, at;
    int i, line_no = 1;

    if (!g_file_get_contents(path, &text, &size, err)) {
        return NULL;
    }
    /* ASCII only, as scripts/fuzz-corpus.py writes it: no NUL either */
    for (at = 0; at < size; at++) {
        if (text[at] == '\0' || (guchar)text[at] > 0x7f) {
            g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "%s:%d: not ASCII", path, line_no);
            return NULL;
        }
        line_no += text[at] == '\n';
    }
    inputs = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i]; i++) {
        char *line = g_strstrip(lines[i]);
        guchar *data;
        gsize len;

        if (line[0] == '\0' || line[0] == '#') {
            continue;
        }
        if (!is_base64(line)) {
            g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "%s:%d: not base64", path, i + 1);
            return NULL;
        }
        data = g_base64_decode(line, &len);
        g_ptr_array_add(inputs, g_bytes_new_take(data, len));
    }
    return g_steal_pointer(&inputs);
}

static void test_corpus(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) inputs = corpus_read(corpus_path(), &err);
    QTestState *qts;
    Vbaf *f;
    size_t bytes = 0;
    bool pinned_seen = false;
    guint i;

    g_assert_no_error(err);
    g_assert_cmpuint(inputs->len, >, 0);

    qts = replay_start(&f);
    for (i = 0; i < inputs->len; i++) {
        gsize len;
        const uint8_t *data = g_bytes_get_data(inputs->pdata[i], &len);
        g_autofree char *sha1 = g_compute_checksum_for_data(G_CHECKSUM_SHA1,
                                                            data, len);

        pinned_seen |= !strcmp(sha1, PINNED_HANG);
        vbaf_run(f, data, len);
        bytes += len;
    }
    /* A pack or merge that lost inputs loses this one too */
    if (!g_getenv("VBAF_CORPUS")) {
        g_assert_true(pinned_seen);
    }
    g_test_message("replayed %u inputs (%zu bytes, %" PRIu64 " operations)"
                   " from %s", inputs->len, bytes, vbaf_ops(f),
                   corpus_path());
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

/* The corpus file's format: what corpus_read() takes and what it refuses */
static void test_corpus_format(void)
{
    static const struct {
        const char *text;
        int inputs;     /* -1: refused */
    } cases[] = {
        { "# a comment\n\nQUJD\n  # another\n  AQ==\t\n\n", 2 },
        { "# nothing but comments\n", 0 },
        { "QUJD\nQUJ*\n", -1 },      /* not in the alphabet */
        { "QUJDRA\n", -1 },           /* not a multiple of 4 */
        { "QU=D\n", -1 },             /* padding inside */
        { "Q===\n", -1 },             /* three padding characters */
        { "====\n", -1 },             /* nothing but padding */
        { "# caf\xc3\xa9\nQUJD\n", -1 }, /* not ASCII, even in a comment */
        { "QUJD\rAQ==\n", -1 },        /* a lone CR ends no line */
    };
    g_autofree char *dir = g_dir_make_tmp("qtest-auto-corpus-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "corpus", NULL);
    g_autofree char *missing = g_build_filename(dir, "missing", NULL);
    g_autoptr(GError) err = NULL;
    size_t i;

    g_assert_nonnull(dir);
    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autoptr(GPtrArray) inputs = NULL;

        g_assert_true(g_file_set_contents(path, cases[i].text, -1, NULL));
        inputs = corpus_read(path, &err);
        if (cases[i].inputs < 0) {
            g_assert_null(inputs);
            g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL);
            g_assert_nonnull(strstr(err->message, path));
            g_clear_error(&err);
            continue;
        }
        g_assert_no_error(err);
        g_assert_cmpint(inputs->len, ==, cases[i].inputs);
    }

    /* The first case's inputs, decoded, in file order */
    g_assert_true(g_file_set_contents(path, cases[0].text, -1, NULL));
    {
        g_autoptr(GPtrArray) inputs = corpus_read(path, &err);
        gsize len;
        const char *data;

        g_assert_no_error(err);
        data = g_bytes_get_data(inputs->pdata[0], &len);
        g_assert_cmpmem(data, len, "ABC", 3);
        data = g_bytes_get_data(inputs->pdata[1], &len);
        g_assert_cmpmem(data, len, "\x01", 1);
    }

    /* A NUL would end the text early: refused, not cut */
    g_assert_true(g_file_set_contents(path, "QUJD\nAQ==\0QUJD\n", 15, NULL));
    g_assert_null(corpus_read(path, &err));
    g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL);
    g_assert_nonnull(strstr(err->message, ":2: not ASCII"));
    g_clear_error(&err);

    g_assert_null(corpus_read(missing, &err));
    g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT);

    unlink(path);
    g_assert_cmpint(rmdir(dir), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("virtio-balloon-auto/fuzz-replay/corpus-format",
                   test_corpus_format);
    qtest_add_func("virtio-balloon-auto/fuzz-replay/corpus", test_corpus);
    qtest_add_func("virtio-balloon-auto/fuzz-replay/random", test_random);
    return g_test_run();
}
