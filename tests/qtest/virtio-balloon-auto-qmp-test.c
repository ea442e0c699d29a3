/*
 * QTest cases for the management interface of automatic ballooning:
 * query-auto-balloon, set-auto-balloon, the AUTO_BALLOON_* events, the
 * refusal of manual 'balloon' while automatic mode is on, and HMP.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qapi/error.h"
#include "virtio-balloon-auto-guest.h"
#include "virtio-balloon-auto-ram.h"
#include <sys/mount.h>
#include <sys/utsname.h>

#define RAM         (1024 * MiB)

static void assert_error(QDict *rsp, const char *class, const char *text)
{
    QDict *err = qdict_get_qdict(rsp, "error");
    const char *desc;

    g_assert_nonnull(err);
    g_assert_cmpstr(qdict_get_str(err, "class"), ==, class);
    desc = qdict_get_str(err, "desc");
    if (!strstr(desc, text)) {
        g_test_message("error '%s' lacks '%s'", desc, text);
        g_assert_not_reached();
    }
    qobject_unref(rsp);
}

static void assert_no_auto_balloon(QTestState *qts, const char *text)
{
    assert_error(qtest_qmp(qts, "{ 'execute': 'query-auto-balloon' }"),
                 "GenericError", text);
    assert_error(qtest_qmp(qts, "{ 'execute': 'set-auto-balloon',"
                           " 'arguments': { 'enabled': true } }"),
                 "GenericError", text);
}

/*
 * No balloon at all: GenericError with query-balloon's message (whose
 * own class stays DeviceNotActive, for compatibility)
 */
static void test_no_device(void)
{
    QTestState *qts = qtest_init("-nodefaults");
    g_autofree char *hmp = NULL;

    assert_no_auto_balloon(qts, "No balloon device");
    assert_error(qtest_qmp(qts, "{ 'execute': 'query-balloon' }"),
                 "DeviceNotActive", "No balloon device");
    hmp = qtest_hmp(qts, "info auto-balloon");
    g_assert_nonnull(strstr(hmp, "No balloon device"));
    qtest_quit(qts);
}

/* A balloon created without automatic=on: GenericError too */
static void test_automatic_off(void)
{
    QTestState *qts = qtest_init("-nodefaults -device virtio-balloon-pci");

    assert_no_auto_balloon(qts, "automatic=on");
    /* and manual ballooning is untouched */
    qtest_qmp_assert_success(qts, "{ 'execute': 'balloon',"
                             " 'arguments': { 'value': %" PRId64 " } }",
                             (int64_t)64 * MiB);
    qtest_quit(qts);
}

static QDict *tunables(QDict *info)
{
    return qdict_get_qdict(info, "tunables");
}

static QDict *counters(QDict *info)
{
    return qdict_get_qdict(info, "counters");
}

/* Every field of the query, before and after one host event */
static void test_query_fields(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    QDict *info = ag_query(g->qts);
    const char *const zero[] = {
        "host-events-low", "host-events-medium", "host-events-critical",
        "inflates-immediate", "throttled", "ignored", "guest-messages",
        "guest-stats", "stats-samples", "stats-hostile",
        "malformed-messages", "guest-deflates", "inflates", "deflates",
        "cancels", "stalls", "unbacked-actual",
    };
    int i;

    g_assert_true(qdict_get_bool(info, "enabled"));
    g_assert_cmpstr(qdict_get_str(info, "source"), ==, "qtest");
    g_assert_cmpstr(qdict_get_str(info, "backend"), ==, "test");
    g_assert_false(qdict_get_bool(info, "source-gone"));
    g_assert_cmpint(qdict_get_int(info, "target"), ==, RAM);
    g_assert_cmpint(qdict_get_int(info, "actual"), ==, RAM);
    g_assert_false(qdict_get_bool(info, "guest-window-open"));
    g_assert_false(qdict_haskey(info, "guest-window-remaining-ms"));
    g_assert_false(qdict_get_bool(info, "stalled"));
    g_assert_cmpint(qdict_get_int(info, "inflated"), ==, 0);
    g_assert_true(qdict_get_bool(info, "message-vq-offered"));
    g_assert_true(qdict_get_bool(info, "message-vq"));
    g_assert_cmpint(qdict_get_int(tunables(info), "inflate-low"), ==,
                    8 * MiB);
    g_assert_cmpint(qdict_get_int(tunables(info), "inflate-medium"), ==,
                    32 * MiB);
    g_assert_cmpint(qdict_get_int(tunables(info), "inflate-critical"), ==,
                    128 * MiB);
    g_assert_cmpint(qdict_get_int(tunables(info), "deflate"), ==, 32 * MiB);
    g_assert_cmpint(qdict_get_int(tunables(info), "throttle-ms"), ==, 1000);
    g_assert_cmpint(qdict_get_int(tunables(info), "hysteresis-ms"), ==,
                    60000);
    g_assert_cmpint(qdict_get_int(tunables(info), "stall-ms"), ==, 30000);
    g_assert_cmpint(qdict_get_int(tunables(info), "floor"), ==, 256 * MiB);
    g_assert_cmpint(qdict_get_int(tunables(info), "shares"), ==, 1000);
    for (i = 0; i < ARRAY_SIZE(zero); i++) {
        g_assert_cmpint(qdict_get_int(counters(info), zero[i]), ==, 0);
    }
    qobject_unref(info);

    ag_inject(g, "low");
    ag_inject(g, "critical");           /* inside the throttle interval */
    info = ag_query(g->qts);
    g_assert_cmpint(qdict_get_int(info, "target"), ==, RAM - 8 * MiB);
    g_assert_cmpint(qdict_get_int(info, "actual"), ==, RAM);
    g_assert_cmpint(qdict_get_int(counters(info), "host-events-low"), ==, 1);
    g_assert_cmpint(qdict_get_int(counters(info), "host-events-critical"),
                    ==, 1);
    g_assert_cmpint(qdict_get_int(counters(info), "inflates-immediate"),
                    ==, 1);
    g_assert_cmpint(qdict_get_int(counters(info), "throttled"), ==, 1);
    g_assert_cmpint(qdict_get_int(counters(info), "inflates"), ==, 1);
    qobject_unref(info);

    /* The guest follows, then reports pressure: a cancel-free deflate */
    ag_catch_up(g);
    ag_send_pressure(g);
    ag_send_msg(g, 0x7777, 0, 0);
    info = ag_query(g->qts);
    g_assert_cmpint(qdict_get_int(info, "actual"), ==, RAM - 8 * MiB);
    g_assert_cmpint(qdict_get_int(info, "target"), ==, RAM);
    g_assert_cmpint(qdict_get_int(counters(info), "guest-messages"), ==, 1);
    g_assert_cmpint(qdict_get_int(counters(info), "deflates"), ==, 1);
    g_assert_cmpint(qdict_get_int(counters(info), "malformed-messages"),
                    ==, 1);
    qobject_unref(info);
    ag_stop(g);
}

/* The guest-pressure window and how long it stays open */
static void test_query_window(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    QDict *info;

    ag_send_pressure(g);
    info = ag_query(g->qts);
    g_assert_true(qdict_get_bool(info, "guest-window-open"));
    g_assert_cmpint(qdict_get_int(info, "guest-window-remaining-ms"), ==,
                    60000);
    qobject_unref(info);

    ag_step(g, 45 * SEC);
    info = ag_query(g->qts);
    g_assert_cmpint(qdict_get_int(info, "guest-window-remaining-ms"), ==,
                    15000);
    qobject_unref(info);

    ag_step(g, 15 * SEC);
    info = ag_query(g->qts);
    g_assert_false(qdict_get_bool(info, "guest-window-open"));
    g_assert_false(qdict_haskey(info, "guest-window-remaining-ms"));
    qobject_unref(info);
    ag_stop(g);
}

/*
 * A guest that does not take the message queue the device offers:
 * message-vq false, message-vq-offered true; HMP tells the two apart
 */
static void test_query_no_message_vq(void)
{
    AutoGuest *g = ag_start(AUTO_ON, false, MSG_VQ_OFFERED);
    g_autoptr(QDict) info = ag_query(g->qts);
    g_autofree char *hmp = qtest_hmp(g->qts, "info auto-balloon");

    g_assert_true(qdict_get_bool(info, "message-vq-offered"));
    g_assert_false(qdict_get_bool(info, "message-vq"));
    g_assert_nonnull(strstr(hmp, "message virtqueue: offered, not"
                            " negotiated"));
    ag_stop(g);
}

/* New tunables take effect at once */
static void test_set_tunables(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    QDict *info;

    qtest_qmp_assert_success(g->qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'inflate-low': 16777216,"
                             " 'throttle-ms': 0, 'floor': 1006632960 } }");
    info = ag_query(g->qts);
    g_assert_cmpint(qdict_get_int(tunables(info), "inflate-low"), ==,
                    16 * MiB);
    g_assert_cmpint(qdict_get_int(tunables(info), "throttle-ms"), ==, 0);
    /* what was not given did not change */
    g_assert_cmpint(qdict_get_int(tunables(info), "inflate-medium"), ==,
                    32 * MiB);
    g_assert_true(qdict_get_bool(info, "enabled"));
    qobject_unref(info);

    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(16));
    ag_catch_up(g);
    /* throttle 0: no coalescing; the floor (960 MiB) stops it at 64 MiB */
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(64));
    ag_stop(g);
}

/* Bad values: an error naming the problem, and nothing changes */
static void test_set_errors(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    static const struct {
        const char *args;
        const char *class;
        const char *text;
    } bad[] = {
        /* the argument and the value as the user wrote them */
        { "{ 'inflate-low': 1 }", "GenericError",
          "'inflate-low' is 1 bytes; it must be a multiple of the balloon"
          " page size (4096 bytes)" },
        { "{ 'floor': 5000 }", "GenericError", "'floor' is 5000 bytes;" },
        { "{ 'floor': -1 }", "GenericError",
          "'floor' is 18446744073709551615 (-1) bytes;" },
        { "{ 'floor': 18446744073709551615 }", "GenericError",
          "'floor' is 18446744073709551615 (-1) bytes;" },
        /* page multiples the policy refuses, the same way */
        { "{ 'floor': -4096 }", "GenericError",
          "'floor' is 18446744073709547520 (-4096) bytes; it must be at"
          " most the guest RAM size" },
        { "{ 'reserve': -4096 }", "GenericError",
          "'reserve' is 18446744073709547520 (-4096) bytes;" },
        { "{ 'inflate-low': -4096 }", "GenericError",
          "'inflate-low' is 18446744073709547520 (-4096) bytes;" },
        { "{ 'deflate': -4096 }", "GenericError",
          "'deflate' is 18446744073709547520 (-4096) bytes;" },
        { "{ 'relief-step': -4096 }", "GenericError",
          "'relief-step' is 18446744073709547520 (-4096) bytes;" },
        { "{ 'deflate': 12287 }", "GenericError", "'deflate' is 12287" },
        { "{ 'inflate-medium': 0 }", "GenericError",
          "'inflate-medium' is 0 bytes; it must be at least 4 KiB" },
        { "{ 'floor': 1073745920 }", "GenericError",
          "'floor' is 1073745920 bytes; it must be at most the guest RAM"
          " size (1073741824 bytes)" },
        { "{ 'stall-ms': 3600001 }", "GenericError",
          "'stall-ms' is 3600001 ms" },
        { "{ 'floor': 'big' }", "GenericError", "floor" },
        { "{ 'enabled': 1 }", "GenericError", "enabled" },
        { "{ 'throttle-ms': -1 }", "GenericError", "throttle-ms" },
        { "{ 'throttle-ms': 4294967296 }", "GenericError", "throttle-ms" },
        { "{ 'throttle-ms': 3600001 }", "GenericError", "throttle" },
        { "{ 'hysteresis-ms': 86400001 }", "GenericError", "hysteresis" },
        { "{ 'stall-ms': 0 }", "GenericError", "stall" },
        { "{ 'deflate': 0 }", "GenericError", "deflate" },
        { "{ 'inflate-low': 0 }", "GenericError", "inflate" },
        { "{ 'inflate-critical': 2147483648 }", "GenericError", "inflate" },
        { "{ 'floor': 2147483648 }", "GenericError", "floor" },
        { "{ 'no-such-tunable': 1 }", "GenericError", "no-such-tunable" },
        { "{ 'reserve': 5000 }", "GenericError",
          "'reserve' is 5000 bytes; it must be a multiple of the balloon"
          " page size (4096 bytes)" },
        { "{ 'reserve': 1073745920 }", "GenericError",
          "'reserve' is 1073745920 bytes; it must be at most the guest RAM"
          " size (1073741824 bytes)" },
        { "{ 'reserve-pct': 91 }", "GenericError",
          "'reserve-pct' is 91 % of the guest RAM; it must be at most"
          " 90 %" },
        { "{ 'relief-ms': 86400001 }", "GenericError",
          "'relief-ms' is 86400001 ms; it must be between 0 (no relief)"
          " and 1 day" },
        { "{ 'relief-step': 1 }", "GenericError",
          "'relief-step' is 1 bytes; it must be a multiple of the balloon"
          " page size" },
        { "{ 'relief-step': 0 }", "GenericError",
          "'relief-step' is 0 bytes; it must be at least 4 KiB" },
        { "{ 'relief-step': -1 }", "GenericError", "'relief-step' is"
          " 18446744073709551615 (-1)" },
        { "{ 'shares': 50001 }", "GenericError",
          "'shares' is 50001; it must be between 0 (never inflated for host"
          " pressure) and 50000 (default 1000)" },
        { "{ 'shares': -1 }", "GenericError", "shares" },
        { "{ 'shares': 4294967296 }", "GenericError", "shares" },
        /* a source that cannot be opened leaves the current one */
        { "{ 'source': '/nonexistent' }", "GenericError",
          "automatic ballooning: host pressure source '/nonexistent'" },
        { "{ 'source': '/dev/fdset/7' }", "GenericError",
          "fdset '/dev/fdset/7' does not exist" },
        { "{ 'source': 'none', 'reserve': 5000 }", "GenericError",
          "'reserve' is 5000 bytes" },
        /* one bad value spoils the whole request */
        { "{ 'enabled': false, 'inflate-low': 4096, 'deflate': 0 }",
          "GenericError", "deflate" },
    };
    g_autoptr(QDict) before = ag_query(g->qts);
    g_autoptr(QDict) after = NULL;
    g_autoptr(GString) b = NULL;
    g_autoptr(GString) a = NULL;
    int i;

    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        QObject *args = qobject_from_json(bad[i].args, &error_abort);

        assert_error(qtest_qmp(g->qts, "{ 'execute': 'set-auto-balloon',"
                               " 'arguments': %p }", args),
                     bad[i].class, bad[i].text);
    }
    /*
     * A source longer than any path, named as a path or as an fdset, is
     * refused by its length: the reply quotes none of its 100 KiB
     */
    for (i = 0; i < 2; i++) {
        g_autoptr(GString) src = g_string_new(i ? "/dev/fdset/" : "/");
        g_autofree char *want = g_strdup_printf("automatic ballooning: host"
                                                " pressure source is a path"
                                                " of 102400 bytes; a path has"
                                                " at most %d bytes",
                                                PATH_MAX - 1);
        QDict *resp;
        const char *desc;

        while (src->len < 100 * KiB) {
            g_string_append_c(src, i ? '0' : 'a');
        }
        resp = qtest_qmp(g->qts, "{ 'execute': 'set-auto-balloon',"
                         " 'arguments': { 'source': %s } }", src->str);
        g_assert(qdict_haskey(resp, "error"));
        desc = qdict_get_str(qdict_get_qdict(resp, "error"), "desc");
        g_assert_cmpstr(desc, ==, want);
        qobject_unref(resp);
    }
    after = ag_query(g->qts);
    b = qobject_to_json(QOBJECT(before));
    a = qobject_to_json(QOBJECT(after));
    g_assert_cmpstr(a->str, ==, b->str);
    ag_stop(g);
}

static void balloon_to(AutoGuest *g, int64_t logical)
{
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'balloon',"
                             " 'arguments': { 'value': %" PRId64 " } }",
                             logical);
}

/*
 * Manual 'balloon' is refused while automatic mode is on and works again,
 * from the current size, once it is switched off; switched back on,
 * automatic mode continues from wherever manual control left it.
 */
static void test_manual_refused_and_recovery(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    QDict *info;

    ag_inject(g, "medium");
    ag_catch_up(g);
    assert_error(qtest_qmp(g->qts, "{ 'execute': 'balloon',"
                           " 'arguments': { 'value': 536870912 } }"),
                 "GenericError", "automatic ballooning is active");
    assert_error(qtest_qmp(g->qts, "{ 'execute': 'balloon',"
                           " 'arguments': { 'value': 536870912 } }"),
                 "GenericError", "set-auto-balloon");
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);

    /* Off: the guest keeps its balloon, manual control takes over */
    ag_set_enabled(g->qts, false);
    info = ag_query(g->qts);
    g_assert_false(qdict_get_bool(info, "enabled"));
    g_assert_cmpint(qdict_get_int(info, "target"), ==, RAM - 32 * MiB);
    g_assert_cmpint(qdict_get_int(info, "actual"), ==, RAM - 32 * MiB);
    qobject_unref(info);
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);

    /* Host pressure and guest messages move nothing, but are counted */
    ag_inject(g, "critical");
    ag_send_pressure(g);
    ag_step(g, 2 * SEC);
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);
    g_assert_cmpuint(ag_counter(g->qts, "host-events-critical"), ==, 1);
    g_assert_cmpuint(ag_counter(g->qts, "ignored"), ==, 1);

    balloon_to(g, RAM - 100 * MiB);
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(100));
    ag_catch_up(g);

    /* On again: continue from 100 MiB, not from the old target */
    ag_set_enabled(g->qts, true);
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(100));
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(100) + STEP_LOW);
    assert_error(qtest_qmp(g->qts, "{ 'execute': 'balloon',"
                           " 'arguments': { 'value': 536870912 } }"),
                 "GenericError", "automatic ballooning is active");
    ag_stop(g);
}

/* A guest reset while switched off keeps the manual balloon, as upstream */
static void test_off_reset_keeps_manual_size(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    QDict *info;

    ag_set_enabled(g->qts, false);
    balloon_to(g, RAM - 64 * MiB);
    qvirtio_reset(g->vdev);
    info = ag_query(g->qts);
    g_assert_cmpint(qdict_get_int(info, "target"), ==, RAM - 64 * MiB);
    g_assert_false(qdict_get_bool(info, "enabled"));
    qobject_unref(info);
    /* Switched on after the reset, the policy starts from that size */
    ag_set_enabled(g->qts, true);
    info = ag_query(g->qts);
    g_assert_cmpint(qdict_get_int(info, "target"), ==, RAM - 64 * MiB);
    qobject_unref(info);
    ag_stop(g);
}

static QDict *take_event(QTestState *qts, const char *name)
{
    return qtest_qmp_event_ref(qts, name);
}

static void assert_action(QDict *ev, const char *action, const char *reason,
                          int64_t target, int64_t actual)
{
    QDict *data = qdict_get_qdict(ev, "data");

    g_assert_cmpstr(qdict_get_str(data, "action"), ==, action);
    g_assert_cmpstr(qdict_get_str(data, "reason"), ==, reason);
    g_assert_cmpint(qdict_get_int(data, "target"), ==, target);
    g_assert_cmpint(qdict_get_int(data, "actual"), ==, actual);
    qobject_unref(ev);
}

/* One event per action, with reason, target and actual */
static void test_event_fields(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);

    ag_inject(g, "medium");
    assert_action(qtest_qmp_eventwait_ref(g->qts, "AUTO_BALLOON_ACTION"),
                  "inflate", "host-medium", RAM - 32 * MiB, RAM);

    /* past the rate limit, the guest reports pressure mid-inflate */
    ag_step(g, 2 * SEC);
    ag_set_actual(g, MIB_PAGES(8));
    ag_send_pressure(g);
    assert_action(qtest_qmp_eventwait_ref(g->qts, "AUTO_BALLOON_ACTION"),
                  "cancel", "guest-message", RAM - 8 * MiB, RAM - 8 * MiB);

    ag_step(g, 2 * SEC);
    ag_send_pressure(g);
    assert_action(qtest_qmp_eventwait_ref(g->qts, "AUTO_BALLOON_ACTION"),
                  "deflate", "guest-message", RAM, RAM - 8 * MiB);
    /* Nothing done, no event: a host event inside the guest window */
    ag_step(g, 2 * SEC);
    ag_inject(g, "critical");
    ag_step(g, 2 * SEC);
    g_assert_null(take_event(g->qts, "AUTO_BALLOON_ACTION"));
    ag_stop(g);
}

/* A burst of actions: the first at once, the last one a second later */
static void test_event_rate_limited(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-throttle-ms=0,auto-floor=4k",
                            true, MSG_VQ_OFFERED);
    QDict *ev;
    int i, n = 0;

    for (i = 0; i < 5; i++) {
        ag_inject(g, "low");
        ag_catch_up(g);
    }
    while ((ev = take_event(g->qts, "AUTO_BALLOON_ACTION"))) {
        assert_action(ev, "inflate", "host-low", RAM - 8 * MiB, RAM);
        n++;
    }
    g_assert_cmpint(n, ==, 1);

    ag_step(g, SEC);
    /* receive what the monitor flushed */
    qobject_unref(ag_query(g->qts));
    while ((ev = take_event(g->qts, "AUTO_BALLOON_ACTION"))) {
        /* the last of the burst: fifth inflate, guest at the fourth */
        assert_action(ev, "inflate", "host-low", RAM - 40 * MiB,
                      RAM - 32 * MiB);
        n++;
    }
    g_assert_cmpint(n, ==, 2);
    ag_stop(g);
}

/*
 * Host residency: the query shows the guest RAM the host holds, measured
 * at each host event; RAM the guest never touched is not resident, and
 * inflating it would return nothing, so the event is ignored.
 */
static void test_host_resident(void)
{
    QTestState *qts = qtest_init("-m 1024 -nodefaults -device"
                                 " virtio-balloon-pci,id=balloon0,"
                                 "automatic=on,auto-source=qtest");
    g_autoptr(QDict) before = ag_query(qts);
    g_autoptr(QDict) info = NULL;
    QDict *k;

    g_assert_false(qdict_haskey(before, "host-resident"));
    ag_inject_qts(qts, "critical");
    info = ag_query(qts);
    g_assert_cmpint(qdict_get_int(info, "host-resident"), <, 64 * MiB);
    g_assert_cmpint(qdict_get_int(info, "target"), ==, RAM);
    k = qdict_get_qdict(info, "counters");
    g_assert_cmpint(qdict_get_int(k, "not-resident"), ==, 1);
    g_assert_cmpint(qdict_get_int(k, "ignored"), ==, 1);
    qobject_unref(info);

    /* The guest wrote 512 MiB: the host holds it, the step applies */
    ag_touch_ram(qts, 512 * MiB);
    ag_inject_qts(qts, "critical");
    info = ag_query(qts);
    g_assert_cmpint(qdict_get_int(info, "host-resident"), >=, 511 * MiB);
    g_assert_cmpint(qdict_get_int(info, "target"), ==, RAM - 128 * MiB);
    qtest_quit(qts);
}

/* Whether this kernel has cachestat(2): Linux 6.5 or later */
static bool have_cachestat(void)
{
    struct utsname u;
    unsigned major = 0, minor = 0;

    g_assert_cmpint(uname(&u), ==, 0);
    return sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
           (major > 6 || (major == 6 && minor >= 5));
}

/*
 * File-backed RAM (-object @backend, id=ram, 1 GiB): what the guest wrote
 * is counted however it lies, one page, two pages around a one-page hole,
 * 1 MiB across a 2 MiB boundary and 256 MiB, none aligned.  A huge page
 * of shmem (shmem_enabled) may hold up to 2 MiB more for each region; on
 * a disk file system, the page cache read ahead around the writes is
 * resident too (@slack bytes at most beyond what was written).
 * With @cachestat the shared file's page cache is the RAM, counted with
 * cachestat(2) where the kernel has it; without, mincore() over the
 * mapping counts it, and cachestat() must not be used: a private mapping
 * (whose written pages are not in the file), or a descriptor whose page
 * cache is not the mapping's (cachestat() would count none of it).
 */
/* Four regions written, each may end in a huge page of shmem */
#define SHMEM_SLACK (4 * 2 * MiB)

static void host_resident_file(const char *backend, bool cachestat,
                               int64_t slack)
{
    g_autofree char *log = ag_trace_log("file");
    QTestState *qts = qtest_initf("-m 1G -object %s -machine"
                                  " memory-backend=ram -nodefaults -device"
                                  " virtio-balloon-pci,id=balloon0,"
                                  "automatic=on,auto-source=qtest -trace"
                                  " enable=virtio_balloon_auto_resident*,"
                                  "file=%s", backend, log);
    const int64_t written = 2 * 4 * KiB + MiB + 256 * MiB;
    g_autoptr(QDict) before = NULL;
    g_autoptr(QDict) after = NULL;
    g_autofree char *trace = NULL;
    int64_t grown;

    /* File-backed RAM is measured in a worker thread: wait for it */
    ag_inject_qts(qts, "critical");
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 1);
    before = ag_query(qts);
    g_assert_cmpint(qdict_get_int(before, "host-resident"), <, 64 * MiB);

    vba_fill_ram(qts, 100 * MiB + 12 * KiB, 4 * KiB, 0x5a);
    vba_fill_ram(qts, 100 * MiB + 20 * KiB, 4 * KiB, 0x5a);
    vba_fill_ram(qts, 301 * MiB + 512 * KiB, MiB, 0x5a);
    vba_fill_ram(qts, 700 * MiB + 4 * KiB, 256 * MiB, 0x5a);
    /* Past the throttle, and the pause after the first (a slow host's) */
    qtest_clock_step(qts, MAX(2 * SEC, ag_trace_last_pause(log, NULL)));
    ag_inject_qts(qts, "critical");
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 2);
    after = ag_query(qts);
    grown = qdict_get_int(after, "host-resident") -
            qdict_get_int(before, "host-resident");
    g_assert_cmpint(grown, >=, written);
    g_assert_cmpint(grown, <=, written + slack);
    qtest_quit(qts);

    g_assert_true(g_file_get_contents(log, &trace, NULL, NULL));
    unlink(log);
    if (!cachestat) {
        g_assert_null(strstr(trace, "_cachestat "));
    } else if (have_cachestat()) {
        g_assert_nonnull(strstr(trace, "_cachestat "));
    } else {
        g_test_message("no cachestat(2) in this kernel (Linux 6.5): shared"
                       " RAM was measured with mincore(), not checked");
    }
}

static void test_host_resident_memfd_shared(void)
{
    host_resident_file("memory-backend-memfd,id=ram,size=1G,share=on", true,
                       SHMEM_SLACK);
}

static void test_host_resident_memfd_private(void)
{
    host_resident_file("memory-backend-memfd,id=ram,size=1G,share=off",
                       false, SHMEM_SLACK);
}

/* A shared file on tmpfs (/dev/shm) is shmem as a memfd is */
static void test_host_resident_tmpfs_shared(void)
{
    g_autofree char *path = NULL;
    g_autofree char *backend = NULL;

    if (!g_file_test("/dev/shm", G_FILE_TEST_IS_DIR)) {
        g_test_skip("no /dev/shm on this host");
        return;
    }
    /* 1 GiB each: what a killed run of this test left goes first */
    ag_sweep_stale("/dev/shm", "");
    path = g_strdup_printf("/dev/shm/qtest-auto-ram-%d", getpid());
    backend = g_strdup_printf("memory-backend-file,id=ram,size=1G,share=on,"
                              "mem-path=%s", path);
    host_resident_file(backend, true, SHMEM_SLACK);
    unlink(path);
}

/*
 * A shared file on overlayfs: the mapping is of the file beneath, whose
 * page cache cachestat() on the overlay's descriptor does not see
 */
static void test_host_resident_overlayfs(void)
{
    g_autofree char *dir = g_dir_make_tmp("qtest-auto-ovl-XXXXXX", NULL);
    const char *const sub[] = { "lower", "upper", "work", "merged" };
    g_autofree char *opts = NULL;
    g_autofree char *merged = NULL;
    g_autofree char *backend = NULL;
    g_autofree char *ram = NULL;
    size_t i;

    g_assert_nonnull(dir);
    for (i = 0; i < ARRAY_SIZE(sub); i++) {
        g_autofree char *d = g_build_filename(dir, sub[i], NULL);

        g_assert_cmpint(mkdir(d, 0700), ==, 0);
    }
    opts = g_strdup_printf("lowerdir=%s/lower,upperdir=%s/upper,"
                           "workdir=%s/work", dir, dir, dir);
    merged = g_build_filename(dir, "merged", NULL);
    if (mount("overlay", merged, "overlay", 0, opts)) {
        g_autofree char *why = g_strdup_printf("cannot mount an overlay"
                                               " file system (%s): not"
                                               " checked", strerror(errno));
        g_test_skip(why);
    } else {
        ram = g_build_filename(merged, "ram", NULL);
        backend = g_strdup_printf("memory-backend-file,id=ram,size=1G,"
                                  "share=on,mem-path=%s", ram);
        /* 19 MiB of read-ahead seen on ext4 beneath */
        host_resident_file(backend, false, 64 * MiB);
        unlink(ram);
        g_assert_cmpint(umount(merged), ==, 0);
    }
    for (i = 0; i < ARRAY_SIZE(sub); i++) {
        g_autofree char *d = g_build_filename(dir, sub[i], NULL);
        g_autofree char *w = g_build_filename(d, "work", NULL);

        /* overlayfs leaves work/work behind */
        rmdir(w);
        g_assert_cmpint(rmdir(d), ==, 0);
    }
    g_assert_cmpint(rmdir(dir), ==, 0);
}

/*
 * Memory another device maps is no guest RAM: 256 MiB of ivshmem shared
 * memory, all of it resident, is not counted (QEMU marks its backend
 * mapped, as it marks the machine's RAM).
 */
static void test_host_resident_ivshmem(void)
{
    QTestState *qts = qtest_init("-m 1024 -nodefaults -object"
                                 " memory-backend-memfd,id=shm,size=256M,"
                                 "prealloc=on -device ivshmem-plain,"
                                 "memdev=shm -device virtio-balloon-pci,"
                                 "id=balloon0,automatic=on,"
                                 "auto-source=qtest");
    g_autoptr(QDict) info = NULL;

    ag_inject_qts(qts, "critical");
    info = ag_query(qts);
    g_assert_cmpint(qdict_get_int(info, "host-resident"), <, 64 * MiB);
    g_assert_cmpint(qdict_get_int(info, "target"), ==, RAM);
    qtest_quit(qts);
}

/*
 * Memory devices whose memory query-balloon does not count as guest RAM
 * (an NVDIMM, a virtio-pmem device) are not counted in the residency
 * either, however much of them is resident: 256 MiB each, preallocated.
 * A DIMM is, as query-balloon counts it.
 */
static void test_host_resident_devices(void)
{
    static const char *const uncounted[] = {
        "-machine nvdimm=on -device nvdimm,memdev=dev",
        "-device virtio-pmem-pci,memdev=dev",
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(uncounted); i++) {
        QTestState *qts;
        g_autoptr(QDict) info = NULL;

        if (!qtest_has_device(i ? "virtio-pmem-pci" : "nvdimm")) {
            g_test_message("no %s in this QEMU: not checked",
                           i ? "virtio-pmem-pci" : "nvdimm");
            continue;
        }
        qts = qtest_initf("-m 1024,slots=2,maxmem=2G -nodefaults -object"
                          " memory-backend-ram,id=dev,size=256M,prealloc=on"
                          " %s -device virtio-balloon-pci,id=balloon0,"
                          "automatic=on,auto-source=qtest", uncounted[i]);
        ag_inject_qts(qts, "critical");
        info = ag_query(qts);
        g_assert_cmpint(qdict_get_int(info, "host-resident"), <, 64 * MiB);
        g_assert_cmpint(qdict_get_int(info, "target"), ==, RAM);
        qtest_quit(qts);
    }
    {
        QTestState *qts = qtest_init("-m 1024,slots=2,maxmem=2G -nodefaults"
                                     " -object memory-backend-ram,id=dev,"
                                     "size=256M,prealloc=on -device pc-dimm,"
                                     "memdev=dev -device virtio-balloon-pci,"
                                     "id=balloon0,automatic=on,"
                                     "auto-source=qtest");
        g_autoptr(QDict) info = NULL;

        ag_inject_qts(qts, "critical");
        info = ag_query(qts);
        g_assert_cmpint(qdict_get_int(info, "host-resident"), >=,
                        256 * MiB);
        g_assert_cmpint(qdict_get_int(info, "host-resident"), <=,
                        RAM + 256 * MiB);
        qtest_quit(qts);
    }
}

/* HMP: info auto-balloon and auto_balloon on|off */
static void test_hmp(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    g_autofree char *info = NULL;
    g_autofree char *off = NULL;
    g_autofree char *info_off = NULL;
    g_autofree char *refused = NULL;
    g_autofree char *help = NULL;
    g_autoptr(QDict) info_on = NULL;

    ag_inject(g, "low");
    info = qtest_hmp(g->qts, "info auto-balloon");
    g_assert_nonnull(strstr(info, "automatic ballooning: on"));
    g_assert_nonnull(strstr(info, "target: 1016 MiB, actual: 1024 MiB"));
    g_assert_nonnull(strstr(info, "host events: low 1"));
    refused = qtest_hmp(g->qts, "balloon 512");
    g_assert_nonnull(strstr(refused, "auto_balloon off"));

    off = qtest_hmp(g->qts, "auto_balloon off");
    g_assert_cmpstr(off, ==, "");
    info_off = qtest_hmp(g->qts, "info auto-balloon");
    g_assert_nonnull(strstr(info_off, "off (manual control)"));
    g_free(qtest_hmp(g->qts, "balloon 512"));
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(512));
    g_free(qtest_hmp(g->qts, "auto_balloon on"));
    g_assert_true(qdict_get_bool(info_on = ag_query(g->qts), "enabled"));
    help = qtest_hmp(g->qts, "help auto_balloon");
    g_assert_nonnull(strstr(help, "switch automatic ballooning on or off"));
    ag_stop(g);
}

/*
 * The real source goes away (its cgroup is removed): reported once, as an
 * event and in the query.
 */
static void check_source_gone(const char *root, const char *backend)
{
    g_autofree char *dir = ag_cgroup_make(root, "gone");
    QTestState *qts;
    QDict *ev, *info;
    int64_t deadline;

    qts = qtest_initf("-m 1024 -nodefaults -device virtio-balloon-pci,"
                      "automatic=on,auto-source=%s", dir);
    info = ag_query(qts);
    g_assert_cmpstr(qdict_get_str(info, "backend"), ==, backend);
    g_assert_false(qdict_get_bool(info, "source-gone"));
    qobject_unref(info);

    g_assert_cmpint(rmdir(dir), ==, 0);
    ev = qtest_qmp_eventwait_ref(qts, "AUTO_BALLOON_SOURCE_GONE");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ev, "data"), "source"), ==,
                    dir);
    qobject_unref(ev);
    deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
    while (g_get_monotonic_time() < deadline) {
        qobject_unref(ag_query(qts));
        g_assert_null(qtest_qmp_event_ref(qts, "AUTO_BALLOON_SOURCE_GONE"));
        g_usleep(100 * 1000);
    }
    info = ag_query(qts);
    g_assert_true(qdict_get_bool(info, "source-gone"));
    qobject_unref(info);
    qtest_quit(qts);
}

static void test_source_gone_vmpressure(void)
{
    if (geteuid() != 0 ||
        !g_file_test(MEMCG_ROOT "/memory.pressure_level", G_FILE_TEST_EXISTS)) {
        g_test_skip("needs root and a cgroup v1 memory controller to"
                    " remove a real memcg");
        return;
    }
    check_source_gone(MEMCG_ROOT, "vmpressure");
}

static void test_source_gone_psi(void)
{
    if (geteuid() != 0 ||
        !g_file_test(CGROUP2_ROOT "/memory.pressure", G_FILE_TEST_EXISTS)) {
        g_test_skip("needs root and a cgroup v2 hierarchy with PSI to"
                    " remove a real cgroup");
        return;
    }
    check_source_gone(CGROUP2_ROOT, "psi");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (strcmp(qtest_get_arch(), "i386") &&
        strcmp(qtest_get_arch(), "x86_64")) {
        g_test_message("the test drives a virtio-balloon-pci on a PC");
        return g_test_run();
    }
    qtest_add_func("virtio-balloon-auto-qmp/errors/no-device",
                   test_no_device);
    qtest_add_func("virtio-balloon-auto-qmp/errors/automatic-off",
                   test_automatic_off);
    qtest_add_func("virtio-balloon-auto-qmp/query/fields", test_query_fields);
    qtest_add_func("virtio-balloon-auto-qmp/query/guest-window",
                   test_query_window);
    qtest_add_func("virtio-balloon-auto-qmp/query/no-message-vq",
                   test_query_no_message_vq);
    qtest_add_func("virtio-balloon-auto-qmp/set/tunables", test_set_tunables);
    qtest_add_func("virtio-balloon-auto-qmp/set/errors", test_set_errors);
    qtest_add_func("virtio-balloon-auto-qmp/set/manual-refused-recovery",
                   test_manual_refused_and_recovery);
    qtest_add_func("virtio-balloon-auto-qmp/set/off-reset-keeps-size",
                   test_off_reset_keeps_manual_size);
    qtest_add_func("virtio-balloon-auto-qmp/event/fields",
                   test_event_fields);
    qtest_add_func("virtio-balloon-auto-qmp/event/rate-limited",
                   test_event_rate_limited);
    qtest_add_func("virtio-balloon-auto-qmp/hmp", test_hmp);
    qtest_add_func("virtio-balloon-auto-qmp/host-resident",
                   test_host_resident);
    qtest_add_func("virtio-balloon-auto-qmp/host-resident-tmpfs-shared",
                   test_host_resident_tmpfs_shared);
    qtest_add_func("virtio-balloon-auto-qmp/host-resident-overlayfs",
                   test_host_resident_overlayfs);
    qtest_add_func("virtio-balloon-auto-qmp/host-resident-memfd-shared",
                   test_host_resident_memfd_shared);
    qtest_add_func("virtio-balloon-auto-qmp/host-resident-memfd-private",
                   test_host_resident_memfd_private);
    qtest_add_func("virtio-balloon-auto-qmp/host-resident-devices",
                   test_host_resident_devices);
    if (qtest_has_device("ivshmem-plain")) {
        qtest_add_func("virtio-balloon-auto-qmp/host-resident-ivshmem",
                       test_host_resident_ivshmem);
    } else {
        g_test_message("no ivshmem-plain in this QEMU: skipping"
                       " host-resident-ivshmem");
    }
    qtest_add_func("virtio-balloon-auto-qmp/real/source-gone/vmpressure",
                   test_source_gone_vmpressure);
    qtest_add_func("virtio-balloon-auto-qmp/real/source-gone/psi",
                   test_source_gone_psi);
    return g_test_run();
}
