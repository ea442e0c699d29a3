/*
 * QTest cases for automatic ballooning in virtio-balloon
 *
 * The test plays the guest driver through libqos: it negotiates the
 * message-queue feature, sets up the queues, pushes PFNs, writes 'actual'
 * and sends messages.  Host pressure is injected with the device's
 * x-inject-host-pressure test hook (auto-source=qtest: no real source), and
 * time moves with clock_step.  One test uses a real memcg and a real memory
 * hog instead; it skips, saying why, where that is impossible.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/cutils.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "libqos/libqos-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "libqos/pci.h"
#include "standard-headers/linux/virtio_balloon.h"
#include "standard-headers/linux/virtio_config.h"
#include "virtio-balloon-auto-guest.h"
#include "virtio-balloon-auto-ram.h"
#include <sys/syscall.h>
#include <sys/prctl.h>

/*
 * The message queue is experimental: with automatic=on and its defaults
 * the device offers neither its feature bit nor the queue
 * (include/hw/virtio/virtio-balloon-auto.h, x-auto-message-queue).
 */
static void test_feature_default_off(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, -1);
    g_autofree char *hmp = NULL;
    QDict *info;

    g_assert_false(g->features & (1ull << VIRTIO_BALLOON_F_MESSAGE_VQ));
    /* Nothing at the index the queue would have (after reporting) */
    g->vdev->bus->queue_select(g->vdev, 4);
    g_assert_cmpint(g->vdev->bus->get_queue_size(g->vdev), ==, 0);
    g->vdev->bus->queue_select(g->vdev, 3);
    g_assert_cmpint(g->vdev->bus->get_queue_size(g->vdev), >, 0);
    info = ag_query(g->qts);
    g_assert_false(qdict_get_bool(info, "message-vq-offered"));
    g_assert_false(qdict_get_bool(info, "message-vq"));
    qobject_unref(info);
    hmp = qtest_hmp(g->qts, "info auto-balloon");
    g_assert_nonnull(strstr(hmp, "message virtqueue: not offered"));
    ag_stop(g);
}

/*
 * With x-auto-message-queue=on (ag_start() adds it) the feature is
 * offered; the queue index rule.
 */
static void test_feature_offered(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);

    g_assert_true(g->features & (1ull << VIRTIO_BALLOON_F_MESSAGE_VQ));
    /* Message queue works at index 3 (after stats) */
    ag_inject(g, "medium");
    ag_catch_up(g);
    ag_send_pressure(g);
    g_assert_cmpuint(ag_target(g), ==, 0);
    ag_stop(g);
}

static void test_queue_after_optional_queues(void)
{
    /*
     * The message queue comes after the optional queues offered: free
     * page reporting is offered by default with automatic=on
     */
    static const struct {
        const char *props;
        int index;
    } cases[] = {
        { AUTO_ON, 4 },
        { AUTO_ON ",free-page-reporting=on", 4 },
        { AUTO_ON ",free-page-reporting=off", 3 },
        { AUTO_ON ",free-page-hint=on,iothread=io0 -object iothread,id=io0",
          5 },
        { AUTO_ON ",free-page-hint=on,iothread=io0,free-page-reporting=off"
          " -object iothread,id=io0", 4 },
    };
    int i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        AutoGuest *g = ag_start(cases[i].props, true, cases[i].index);

        ag_inject(g, "low");
        ag_catch_up(g);
        ag_send_pressure(g);
        g_assert_cmpuint(ag_target(g), ==, 0);
        ag_stop(g);
    }
}

static void test_off_unchanged(void)
{
    AutoGuest *g = ag_start("", false, -1);
    QDict *rsp;

    g_assert_false(g->features & (1ull << VIRTIO_BALLOON_F_MESSAGE_VQ));
    /* The test hook refuses: there is no automatic mode to drive */
    rsp = qtest_qmp(g->qts,
                    "{ 'execute': 'qom-set', 'arguments': { 'path': %s,"
                    " 'property': 'x-inject-host-pressure',"
                    " 'value': 'critical' } }", BACKEND);
    g_assert_true(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    g_assert_cmpuint(ag_target(g), ==, 0);
    /* Manual ballooning works as upstream */
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'balloon',"
                             " 'arguments': { 'value': %" PRId64 " } }",
                             (int64_t)(1024 - 64) * MiB);
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(64));
    ag_stop(g);
}

/* With automatic=on but the driver not accepting the bit, nothing breaks */
static void test_feature_not_negotiated(void)
{
    AutoGuest *g = ag_start(AUTO_ON, false, -1);

    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, STEP_LOW);
    ag_stop(g);
}

/* Each level inflates by its own step, with real PFNs on the inflateq. */
static void test_level_steps(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    uint64_t pfns = guest_alloc(&g->qs->alloc, STEP_LOW * 4);
    uint64_t pages = guest_alloc(&g->qs->alloc, (uint64_t)STEP_LOW * PAGE);
    uint32_t i, head;

    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, STEP_LOW);

    /* The guest gives the pages: PFNs on the inflate queue, then actual */
    for (i = 0; i < STEP_LOW; i++) {
        uint32_t pfn = cpu_to_le32((pages >> 12) + i);
        qtest_memwrite(g->qts, pfns + i * 4, &pfn, 4);
    }
    head = qvirtqueue_add(g->qts, g->ivq, pfns, STEP_LOW * 4, false, false);
    qvirtqueue_kick(g->qts, g->vdev, g->ivq, head);
    qvirtio_wait_used_elem(g->qts, g->vdev, g->ivq, head, NULL, TIMEOUT_US);
    ag_set_actual(g, STEP_LOW);

    ag_step(g, SEC);
    ag_inject(g, "medium");
    g_assert_cmpuint(ag_target(g), ==, STEP_LOW + STEP_MEDIUM);
    ag_catch_up(g);
    ag_step(g, SEC);
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, STEP_LOW + STEP_MEDIUM + STEP_CRITICAL);
    ag_stop(g);
}

/* Tunable steps are honoured */
static void test_tunable_steps(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-inflate-low=1M",
                            true, MSG_VQ_OFFERED);

    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(1));
    ag_stop(g);
}

/* At most one inflate per throttle interval; the timer does the rest. */
static void test_throttle(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);

    ag_inject(g, "low");
    ag_catch_up(g);
    ag_step(g, SEC / 2);
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, STEP_LOW);
    /* The coalesced event is served when the interval ends */
    ag_step(g, SEC / 2);
    g_assert_cmpuint(ag_target(g), ==, 2 * STEP_LOW);
    ag_stop(g);
}

/* A storm inside one interval becomes one inflate at the highest level. */
static void test_coalesce_storm(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    int i;

    ag_inject(g, "low");
    ag_catch_up(g);
    for (i = 0; i < 50; i++) {
        ag_inject(g, i == 17 ? "critical" : (i % 2 ? "medium" : "low"));
    }
    g_assert_cmpuint(ag_target(g), ==, STEP_LOW);
    ag_step(g, SEC);
    g_assert_cmpuint(ag_target(g), ==, STEP_LOW + STEP_CRITICAL);
    ag_catch_up(g);
    /* Nothing more was pending */
    ag_step(g, 5 * SEC);
    g_assert_cmpuint(ag_target(g), ==, STEP_LOW + STEP_CRITICAL);
    ag_stop(g);
}

/* No pile-up: a guest that has not caught up is not pushed further. */
static void test_no_pile_up(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);

    ag_inject(g, "medium");
    ag_set_actual(g, STEP_MEDIUM / 2);
    ag_step(g, SEC);
    ag_inject(g, "medium");
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM / 2 + STEP_MEDIUM);
    ag_step(g, SEC);
    ag_inject(g, "medium");
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM / 2 + STEP_MEDIUM);
    ag_stop(g);
}

/* A guest message deflates by the deflate step */
static void test_message_deflates(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);

    ag_inject(g, "critical");
    ag_catch_up(g);
    ag_send_pressure(g);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL - STEP_DEFLATE);
    ag_stop(g);
}

/* A message's level scales the deflate step: low 1x, medium 2x, critical 4x */
static void test_message_level(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);

    ag_inject(g, "critical");
    ag_catch_up(g);
    ag_step(g, SEC);
    ag_inject(g, "critical");
    ag_catch_up(g);
    g_assert_cmpuint(ag_target(g), ==, 2 * STEP_CRITICAL);
    ag_send_msg(g, MSG_PRESSURE, 0, 1);
    g_assert_cmpuint(ag_target(g), ==, 2 * STEP_CRITICAL - 2 * STEP_DEFLATE);
    ag_catch_up(g);
    ag_send_msg(g, MSG_PRESSURE, 0, 2);
    g_assert_cmpuint(ag_target(g), ==, 2 * STEP_CRITICAL - 6 * STEP_DEFLATE);
    ag_catch_up(g);
    ag_send_msg(g, MSG_PRESSURE, 0, 0);
    g_assert_cmpuint(ag_target(g), ==, 2 * STEP_CRITICAL - 7 * STEP_DEFLATE);
    ag_stop(g);
}

/* A guest message during an inflate cancels it: target back to actual */
static void test_message_cancels(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);

    ag_inject(g, "critical");
    ag_set_actual(g, 1000);
    ag_send_pressure(g);
    g_assert_cmpuint(ag_target(g), ==, 1000);
    ag_stop(g);
}

/* Guest pressure opens a window in which host pressure does not inflate */
static void test_hysteresis(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-hysteresis-ms=10000",
                            true, MSG_VQ_OFFERED);

    ag_send_pressure(g);
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, 0);
    ag_step(g, 9 * SEC);
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, 0);
    ag_step(g, SEC);
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL);
    ag_stop(g);
}

/* Host pressure never takes the guest below the floor */
static void test_floor(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-inflate-critical=400M,"
                               "auto-floor=700M", true, MSG_VQ_OFFERED);

    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(324));
    ag_catch_up(g);
    ag_step(g, SEC);
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(324));
    ag_stop(g);
}

/* The guest giving memory back on its own counts as guest pressure */
static void test_guest_initiated_deflate(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);

    ag_inject(g, "critical");
    ag_catch_up(g);
    ag_set_actual(g, STEP_CRITICAL - 100);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL - 100);
    ag_step(g, 2 * SEC);
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL - 100);
    ag_stop(g);
}

/* A guest that does not inflate is detected and not pushed further */
static void test_stalled_guest(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-stall-ms=5000",
                            true, MSG_VQ_OFFERED);

    ag_inject(g, "low");
    ag_step(g, 6 * SEC);
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, STEP_LOW);
    /* Progress clears the stall */
    ag_catch_up(g);
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, STEP_LOW + STEP_CRITICAL);
    ag_stop(g);
}

/* A guest that gives its pages before it reports them is believed */
static void test_honest_guest(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-stall-ms=5000",
                            true, MSG_VQ_OFFERED);
    QDict *info;

    ag_inject(g, "critical");
    ag_catch_up(g);
    ag_step(g, 6 * SEC);
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL + STEP_LOW);
    /* It takes some back by itself (deflate-on-OOM), pages first */
    ag_set_actual(g, STEP_CRITICAL - 100);
    info = ag_query(g->qts);
    g_assert_false(qdict_get_bool(info, "stalled"));
    g_assert_cmpint(qdict_get_int(info, "inflated"), ==,
                    (STEP_CRITICAL - 100) * (uint64_t)PAGE);
    g_assert_cmpint(qdict_get_int(info, "actual"), ==,
                    GiB - (STEP_CRITICAL - 100) * (uint64_t)PAGE);
    qobject_unref(info);
    g_assert_cmpuint(ag_counter(g->qts, "unbacked-actual"), ==, 0);
    g_assert_cmpuint(ag_counter(g->qts, "guest-deflates"), ==, 1);
    g_assert_cmpuint(ag_counter(g->qts, "stalls"), ==, 0);
    ag_stop(g);
}

/*
 * A guest that reports a balloon size without giving the pages makes no
 * progress: it is counted, shown, and stall detection leaves it alone.
 */
static void test_lying_guest(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-stall-ms=5000",
                            true, MSG_VQ_OFFERED);
    QDict *info;

    ag_inject(g, "critical");
    ag_set_actual_unbacked(g, STEP_CRITICAL);
    ag_step(g, 6 * SEC);
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL);
    info = ag_query(g->qts);
    g_assert_true(qdict_get_bool(info, "stalled"));
    g_assert_cmpint(qdict_get_int(info, "inflated"), ==, 0);
    qobject_unref(info);
    g_assert_cmpuint(ag_counter(g->qts, "unbacked-actual"), ==, 1);
    g_assert_cmpuint(ag_counter(g->qts, "stalls"), ==, 1);

    /* Pages that come late are progress, as far as they go */
    ag_send_pages(g, g->ivq, STEP_CRITICAL / 2);
    g_assert_false(qdict_get_bool(info = ag_query(g->qts), "stalled"));
    qobject_unref(info);
    ag_step(g, 6 * SEC);
    g_assert_true(qdict_get_bool(info = ag_query(g->qts), "stalled"));
    qobject_unref(info);
    g_assert_cmpuint(ag_counter(g->qts, "stalls"), ==, 2);
    ag_stop(g);
}

/*
 * A guest that wrote an 'actual' without its pages while automatic mode
 * was off: switching on starts from the pages it gave, so the balloon is
 * still to be filled (and stalls), and the guest writing the same
 * 'actual' again is no guest-initiated deflate.
 */
static void test_lying_guest_while_off(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-stall-ms=5000",
                            true, MSG_VQ_OFFERED);
    g_autoptr(QDict) info = NULL;

    ag_set_enabled(g->qts, false);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'balloon', 'arguments':"
                             " { 'value': %" PRIu64 " } }",
                             GiB - STEP_CRITICAL * (uint64_t)PAGE);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL);
    ag_set_actual_unbacked(g, STEP_CRITICAL);
    g_assert_cmpuint(ag_counter(g->qts, "unbacked-actual"), ==, 1);
    ag_set_enabled(g->qts, true);
    ag_set_actual_unbacked(g, STEP_CRITICAL);
    g_assert_cmpuint(ag_counter(g->qts, "guest-deflates"), ==, 0);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL);
    ag_step(g, 6 * SEC);
    info = ag_query(g->qts);
    g_assert_true(qdict_get_bool(info, "stalled"));
    g_assert_cmpint(qdict_get_int(info, "inflated"), ==, 0);
    g_assert_cmpuint(ag_counter(g->qts, "stalls"), ==, 1);
    ag_stop(g);
}

/* Within the slack of one buffer, 'actual' may run ahead of the pages */
static void test_unbacked_slack(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-stall-ms=5000",
                            true, MSG_VQ_OFFERED);

    ag_inject(g, "low");
    ag_send_pages(g, g->ivq, STEP_LOW - 256);
    ag_set_actual_unbacked(g, STEP_LOW);
    g_assert_cmpuint(ag_counter(g->qts, "unbacked-actual"), ==, 0);
    ag_step(g, 6 * SEC);
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, 2 * STEP_LOW);
    ag_set_actual_unbacked(g, 2 * STEP_LOW);
    g_assert_cmpuint(ag_counter(g->qts, "unbacked-actual"), ==, 1);
    ag_stop(g);
}

/* A device reset (reboot, driver reload) starts from a clean state */
static void test_reset(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);

    ag_inject(g, "critical");
    ag_send_pressure(g);
    qvirtio_reset(g->vdev);
    g->given = 0;
    qvirtio_set_acknowledge(g->vdev);
    qvirtio_set_driver(g->vdev);
    qvirtio_set_features(g->vdev, g->vdev->features);
    qvirtio_set_driver_ok(g->vdev);
    g_assert_cmpuint(ag_target(g), ==, 0);
    /* The hysteresis window of the previous driver is gone too */
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, STEP_LOW);
    ag_stop(g);
}

/* Hostile messages are counted and dropped; the queue keeps working. */
static void test_malformed_messages(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    uint8_t big[16] = { MSG_PRESSURE };
    uint8_t small[4] = { MSG_PRESSURE };

    ag_inject(g, "critical");
    ag_catch_up(g);
    ag_send_raw(g, small, sizeof(small), false);
    ag_send_raw(g, big, sizeof(big), false);
    ag_send_msg(g, 0x7777, 0, 0);            /* unknown type */
    ag_send_msg(g, MSG_PRESSURE, 1, 0);      /* reserved flags */
    ag_send_msg(g, MSG_PRESSURE, 0, 99);     /* unknown level */
    ag_send_raw(g, big, 8, true);            /* device-writable buffer */
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL);
    ag_send_pressure(g);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL - STEP_DEFLATE);
    ag_stop(g);
}

/* A hostile 'actual' beyond guest RAM does not move the target */
static void test_hostile_actual(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);

    ag_inject(g, "low");
    ag_set_actual_unbacked(g, 0xffffffff);
    g_assert_cmpuint(ag_target(g), ==, STEP_LOW);
    ag_stop(g);
}

/*
 * DIMMs plugged after the balloon was created are guest RAM too: the
 * query counts them, tunables may use them, and a manual 'balloon' that
 * changes the balloon stays refused.
 */
static void test_dimm_plugged(void)
{
    AutoGuest *g = ag_start(AUTO_ON " -m 1024,slots=2,maxmem=2G", true,
                            MSG_VQ_OFFERED);
    g_autoptr(QDict) info = NULL;
    g_autoptr(QDict) rsp = NULL;

    ag_plug_dimm_512m(g->qts);
    info = ag_query(g->qts);
    g_assert_cmpint(qdict_get_int(info, "target"), ==, 1536 * MiB);
    g_assert_cmpint(qdict_get_int(info, "actual"), ==, 1536 * MiB);
    /* A step above the boot RAM fits the guest now */
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'inflate-critical': %" PRIu64
                             " } }", 1280 * MiB);
    /* The boot RAM's size is a real change of the balloon: refused */
    rsp = qtest_qmp(g->qts, "{ 'execute': 'balloon', 'arguments':"
                    " { 'value': %" PRIu64 " } }", 1024 * MiB);
    g_assert_true(qdict_haskey(rsp, "error"));
    g_assert_cmpuint(ag_target(g), ==, 0);
    ag_stop(g);
}

/*
 * A DIMM plugged is guest RAM for the next host event, with nothing in
 * between that asks about the balloon: the RAM watch alone brings the
 * policy's RAM up to date (no query, set-auto-balloon or manual balloon
 * command, which sync it themselves).  Before the plug the floor leaves
 * 768 of the 1024 MiB to inflate; after it, the step of 1 GiB is bounded
 * by the boot RAM the host holds (1023 MiB written), not by the floor.
 */
static void test_dimm_plugged_no_query(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-inflate-critical=1G"
                            " -m 1024,slots=2,maxmem=2G", true,
                            MSG_VQ_OFFERED);

    ag_plug_dimm_512m(g->qts);
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), >, MIB_PAGES(1024 - 256));
    g_assert_cmpuint(ag_target(g), <=, MIB_PAGES(1536 - 256));
    ag_stop(g);
}

/*
 * A DIMM unplugged under sizes that only it made fit: they become the
 * guest's RAM, the query shows that, and set-auto-balloon keeps working
 * (before, every later call failed on them, even { 'enabled': false },
 * and the balloon could be neither switched off nor steered).
 */
static void test_dimm_unplugged(void)
{
    AutoGuest *g = ag_start(AUTO_ON " -m 1024,slots=2,maxmem=2G", true,
                            MSG_VQ_OFFERED);
    g_autoptr(QDict) info = NULL;
    QDict *t;

    ag_plug_dimm_512m(g->qts);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'floor': %" PRIu64 ","
                             " 'reserve': %" PRIu64 ","
                             " 'inflate-critical': %" PRIu64 " } }",
                             1280 * MiB, 1536 * MiB, 1280 * MiB);

    ag_unplug_dimm(g->qts);
    info = ag_query(g->qts);
    g_assert_cmpint(qdict_get_int(info, "actual"), ==, 1024 * MiB);
    t = qdict_get_qdict(info, "tunables");
    g_assert_cmpuint(qdict_get_int(t, "floor"), ==, 1024 * MiB);
    g_assert_cmpuint(qdict_get_int(t, "reserve"), ==, 1024 * MiB);
    g_assert_cmpuint(qdict_get_int(t, "inflate-critical"), ==, 1024 * MiB);
    /* Untouched ones stay */
    g_assert_cmpuint(qdict_get_int(t, "inflate-low"), ==, 8 * MiB);

    qtest_qmp_assert_success(g->qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'throttle-ms': 2000 } }");
    ag_set_enabled(g->qts, false);
    qobject_unref(info);
    info = ag_query(g->qts);
    g_assert_false(qdict_get_bool(info, "enabled"));
    ag_stop(g);
}

/*
 * A DIMM unplugged under a balloon that only it made fit: the balloon
 * would ask for all the RAM left.  The RAM watch sees the new size with
 * no query, host event or guest activity, and the timer gives back what
 * the floor needs, says why in AUTO_BALLOON_ACTION and counts it.
 */
static void test_dimm_unplugged_deflates(void)
{
    uint32_t inflated;
    AutoGuest *g = ag_start_dimm_inflated(&inflated);
    g_autoptr(QDict) info = NULL;
    QDict *ev;
    bool seen = false;

    /* Only query-memory-devices, which automatic mode does not see */
    ag_unplug_dimm(g->qts);
    /* The watch armed the timer, due at once: 1 ns on */
    ag_step(g, 1);
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(1024 - 256));
    /* Past the event rate limit, for the event below */
    ag_step(g, 2 * SEC);
    info = ag_query(g->qts);
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(info, "tunables"),
                                  "inflate-critical"), ==, 1024 * MiB);
    /* The inflate's measurement was of the RAM there was: none shown */
    g_assert_false(qdict_haskey(info, "host-resident"));
    qobject_unref(info);
    /* A host event then finds the floor, and measures the RAM there is */
    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(1024 - 256));
    info = ag_query(g->qts);
    g_assert_cmpint(qdict_get_int(info, "target"), ==, 256 * MiB);
    g_assert_cmpint(qdict_get_int(info, "host-resident"), <=, 1024 * MiB);
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(info, "counters"),
                                  "ram-deflates"), ==, 1);
    /* The earlier inflate's event comes first */
    while (!seen) {
        QDict *d;

        ev = qtest_qmp_eventwait_ref(g->qts, "AUTO_BALLOON_ACTION");
        d = qdict_get_qdict(ev, "data");
        if (!strcmp(qdict_get_str(d, "reason"), "ram-unplugged")) {
            g_assert_cmpstr(qdict_get_str(d, "action"), ==, "deflate");
            g_assert_cmpint(qdict_get_int(d, "target"), ==, 256 * MiB);
            seen = true;
        }
        qobject_unref(ev);
    }
    ag_stop(g);
}

/*
 * The same with the guest stopped: the timer, due at once but on the
 * stopped virtual clock, waits for the guest to run again (the unplug's
 * polling turns the main loop many times), and then acts at once, still
 * with no other event.
 */
static void test_dimm_unplugged_stopped(void)
{
    uint32_t inflated;
    AutoGuest *g = ag_start_dimm_inflated(&inflated);

    qtest_qmp_assert_success(g->qts, "{ 'execute': 'stop' }");
    ag_unplug_dimm_then_resume(g, inflated);
    ag_stop(g);
}

/* Bad configuration is refused with a clear error */
static void check_add_fails(QTestState *qts, const char *props,
                            const char *expect)
{
    g_autofree char *json = g_strdup_printf("{ 'driver': 'virtio-balloon-pci',"
                                            " 'id': 'b', %s }", props);
    QObject *args = qobject_from_json(json, &error_abort);
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'device_add',"
                           " 'arguments': %p }", args);
    QDict *err = qdict_get_qdict(rsp, "error");
    const char *desc;

    g_assert_nonnull(err);
    desc = qdict_get_str(err, "desc");
    if (!strstr(desc, expect)) {
        g_test_message("error '%s' lacks '%s'", desc, expect);
        g_assert_not_reached();
    }
    qobject_unref(rsp);
}

static void test_bad_config(void)
{
    static const struct {
        const char *props;
        const char *expect;
    } bad[] = {
        { "'auto-reserve': 5000", "'auto-reserve' is 5000 bytes; it must"
          " be a multiple of the balloon page size (4096 bytes)" },
        { "'auto-reserve': 1073741824", "'auto-reserve' is 1073741824"
          " bytes; it must be at most the guest RAM size (536870912"
          " bytes)" },
        { "'auto-reserve': -1", "'auto-reserve' is 18446744073709551615"
          " (-1) bytes" },
        { "'auto-memory-source': ''", "'auto-memory-source' is empty" },
        { "'auto-reserve-pct': 91", "'auto-reserve-pct' is 91 % of the"
          " guest RAM; it must be at most 90 %" },
        { "'auto-relief-ms': 86400001", "'auto-relief-ms' is 86400001 ms;"
          " it must be between 0 (no relief) and 1 day" },
        { "'auto-relief-step': 4097", "'auto-relief-step' is 4097 bytes;"
          " it must be a multiple of the balloon page size" },
        { "'auto-relief-step': 0", "'auto-relief-step' is 0 bytes; it must"
          " be at least 4 KiB" },
        { "'auto-relief-step': 1073741824", "'auto-relief-step' is"
          " 1073741824 bytes; it must be at least 4 KiB and at most the"
          " guest RAM size (536870912 bytes)" },
        { "'auto-stats-avail-min': 5000", "'auto-stats-avail-min' is 5000"
          " bytes; it must be a multiple of the balloon page size" },
        { "'auto-stats-avail-min': 9007199254740992",
          "'auto-stats-avail-min' is 9007199254740992 bytes; it must be at"
          " most 4503599627370496 bytes (4 PiB)" },
        { "'auto-stats-avail-min': -4096",
          "'auto-stats-avail-min' is 18446744073709547520 (-4096) bytes;"
          " it must be at most 4503599627370496 bytes (4 PiB)" },
        { "'auto-floor': -4096", "'auto-floor' is 18446744073709547520"
          " (-4096) bytes; it must be at most the guest RAM size" },
        { "'auto-stats-avail-min-pct': 51", "'auto-stats-avail-min-pct' is"
          " 51 % of the guest memory; it must be at most 50 %" },
        { "'auto-stats-oom-kill': 1001", "'auto-stats-oom-kill' is 1001"
          " kills per sample; it must be at most 1000" },
        { "'auto-stats-alloc-stall': 10000001", "'auto-stats-alloc-stall'"
          " is 10000001 stalls per sample" },
        { "'auto-stats-direct-reclaim': 4097", "'auto-stats-direct-reclaim'"
          " is 4097 bytes; it must be a multiple of the balloon page" },
        { "'auto-stats-direct-reclaim': 1099511631872",
          "'auto-stats-direct-reclaim' is 1099511631872 bytes per sample;"
          " it must be at most 1099511627776" },
        { "'auto-stats-swap-in': 1000", "'auto-stats-swap-in' is 1000"
          " bytes; it must be a multiple of the balloon page size" },
        { "'auto-stats-swap-in': 1099511631872", "'auto-stats-swap-in' is"
          " 1099511631872 bytes per second" },
        { "'auto-stats-major-faults': 100000001",
          "'auto-stats-major-faults' is 100000001 faults per second" },
        { "'auto-psi-window-ms': 400", "'auto-psi-window-ms' is 400 ms; it"
          " must be between 500 and 10000 ms" },
        { "'auto-psi-window-ms': 10001", "'auto-psi-window-ms' is 10001 ms" },
        { "'auto-psi-low-ms': 0", "'auto-psi-low-ms' is 0 ms; it must be"
          " more than 0 and at most 'auto-psi-window-ms' (2000 ms)" },
        { "'auto-psi-medium-ms': 2001", "'auto-psi-medium-ms' is 2001 ms" },
        { "'auto-psi-window-ms': 4000, 'auto-psi-critical-ms': 4001",
          "'auto-psi-critical-ms' is 4001 ms; it must be more than 0 and"
          " at most 'auto-psi-window-ms' (4000 ms)" },
        { "'auto-shares': 50001", "'auto-shares' is 50001; it must be"
          " between 0 (never inflated for host pressure) and 50000"
          " (default 1000)" },
        { "'auto-shares': -1", "auto-shares" },
    };
    QTestState *qts = qtest_init("-m 512 -nodefaults");
    int i;

    check_add_fails(qts, "'automatic': true, 'auto-source': '/nonexistent'",
                    "/nonexistent");
    check_add_fails(qts, "'automatic': true, 'auto-source': '/tmp'",
                    "/tmp");
    /* The property as written, and the value as written */
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-inflate-low': 0",
                    "'auto-inflate-low' is 0 bytes; it must be at least");
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-deflate': 0", "'auto-deflate' is 0 bytes");
    /* A floor the user gave that does not fit is refused */
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-floor': 1073741824",
                    "'auto-floor' is 1073741824 bytes; it must be at most"
                    " the guest RAM size (536870912 bytes)");
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-stall-ms': 0", "'auto-stall-ms' is 0 ms");
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-throttle-ms': 3600001",
                    "'auto-throttle-ms' is 3600001 ms");
    /* Not a multiple of the balloon page: refused, not truncated */
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-inflate-low': 1",
                    "'auto-inflate-low' is 1 bytes; it must be a multiple of"
                    " the balloon page size (4096 bytes)");
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-floor': 5000",
                    "'auto-floor' is 5000 bytes; it must be a multiple of");
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-inflate-critical': 1048577",
                    "'auto-inflate-critical' is 1048577 bytes");
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-deflate': 4097", "'auto-deflate' is 4097 bytes");
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-floor': -1",
                    "'auto-floor' is 18446744073709551615 (-1) bytes");
    /* Every other property of automatic mode, as written */
    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        g_autofree char *props =
            g_strdup_printf("'automatic': true, 'auto-source': 'qtest', %s",
                            bad[i].props);

        check_add_fails(qts, props, bad[i].expect);
    }
    /* Paths longer than any file's are told by their length */
    for (i = 0; i < 2; i++) {
        g_autofree char *path = g_strnfill(100 * KiB, 'a');
        g_autofree char *props = NULL;
        g_autofree char *expect = NULL;

        path[0] = '/';
        props = g_strdup_printf(i ? "'automatic': true, 'auto-source':"
                                " 'qtest', 'auto-memory-source': '%s'" :
                                "'automatic': true, 'auto-source': '%s'",
                                path);
        expect = g_strdup_printf("%s is a path of 102400 bytes; a path has"
                                 " at most %d bytes", i ?
                                 "'auto-memory-source': host memory state"
                                 " source" : "host pressure source",
                                 PATH_MAX - 1);
        check_add_fails(qts, props, expect);
    }
    /* Nothing was left behind: a good device can still be added */
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments':"
                             " { 'driver': 'virtio-balloon-pci', 'id': 'b',"
                             " 'automatic': true, 'auto-source': 'qtest' } }");
    qtest_quit(qts);
}

/*
 * Without automatic=on nothing reads the auto-* properties: each one,
 * listed by QEMU itself, is refused by name rather than ignored, with
 * automatic=off given or left out, and the failed device leaves nothing
 * behind.
 */
static void test_props_need_automatic(void)
{
    QTestState *qts = qtest_init("-m 512 -nodefaults");
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'device-list-properties',"
                           " 'arguments':"
                           " { 'typename': 'virtio-balloon-pci' } }");
    QListEntry *e;
    int checked = 0;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(rsp, "return"), e) {
        QDict *prop = qobject_to(QDict, qlist_entry_obj(e));
        const char *name = qdict_get_str(prop, "name");
        const char *type = qdict_get_str(prop, "type");
        const char *value = !strcmp(type, "str") ? "'none'" :
            !strcmp(type, "bool") ? "true" : "4096";
        g_autofree char *expect = NULL;
        g_autofree char *props = NULL;

        if (!g_str_has_prefix(name, "auto-") &&
            !g_str_has_prefix(name, "x-auto-")) {
            continue;
        }
        expect = g_strdup_printf("'%s' is set, but automatic ballooning is"
                                 " off; add automatic=on, or drop '%s'",
                                 name, name);
        props = g_strdup_printf("'%s': %s", name, value);
        check_add_fails(qts, props, expect);
        g_free(props);
        props = g_strdup_printf("'automatic': false, '%s': %s", name,
                                value);
        check_add_fails(qts, props, expect);
        checked++;
    }
    qobject_unref(rsp);
    /* Every property of automatic mode was seen */
    g_assert_cmpint(checked, ==, 30);
    /* Nothing was left behind: the same properties work with automatic=on */
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments':"
                             " { 'driver': 'virtio-balloon-pci', 'id': 'b',"
                             " 'automatic': true, 'auto-source': 'qtest',"
                             " 'auto-floor': 268435456 } }");
    qtest_quit(qts);
}

static void assert_tunables(QTestState *qts, uint64_t low, uint64_t medium,
                            uint64_t critical, uint64_t deflate,
                            uint64_t floor)
{
    g_autoptr(QDict) info = ag_query(qts);
    QDict *t = qdict_get_qdict(info, "tunables");

    g_assert_cmpuint(qdict_get_int(t, "inflate-low"), ==, low);
    g_assert_cmpuint(qdict_get_int(t, "inflate-medium"), ==, medium);
    g_assert_cmpuint(qdict_get_int(t, "inflate-critical"), ==, critical);
    g_assert_cmpuint(qdict_get_int(t, "deflate"), ==, deflate);
    g_assert_cmpuint(qdict_get_int(t, "floor"), ==, floor);
}

/*
 * QEMU's default RAM (128 MiB) with every default: the device starts, its
 * sizes are scaled to the guest (1/4 of those of a 512 MiB guest) and
 * host pressure inflates by the scaled step.
 */
static void test_default_ram(void)
{
    QTestState *qts = qtest_init("-nodefaults -device virtio-balloon-pci,"
                                 "automatic=on,auto-source=qtest,id=balloon0");
    g_autoptr(QDict) info = NULL;

    assert_tunables(qts, 2 * MiB, 8 * MiB, 32 * MiB, 8 * MiB, 64 * MiB);
    /* Guest RAM the host holds: only that is worth inflating */
    ag_touch_ram(qts, 128 * MiB);
    qtest_qmp_assert_success(qts, "{ 'execute': 'qom-set', 'arguments':"
                             " { 'path': %s,"
                             " 'property': 'x-inject-host-pressure',"
                             " 'value': 'critical' } }", BACKEND);
    info = ag_query(qts);
    g_assert_cmpuint(qdict_get_int(info, "target"), ==, 96 * MiB);
    g_assert_cmpuint(qdict_get_int(info, "actual"), ==, 128 * MiB);
    /* Set by the user: used as given, even where it exceeds the default */
    qtest_quit(qts);
    qts = qtest_init("-nodefaults -device virtio-balloon-pci,automatic=on,"
                     "auto-source=qtest,auto-floor=100M,auto-inflate-low=3M");
    assert_tunables(qts, 3 * MiB, 8 * MiB, 32 * MiB, 8 * MiB, 100 * MiB);
    qtest_quit(qts);
    /* A guest of 512 MiB or more gets the unscaled defaults */
    qts = qtest_init("-m 2G -nodefaults -device virtio-balloon-pci,"
                     "automatic=on,auto-source=qtest");
    assert_tunables(qts, 8 * MiB, 32 * MiB, 128 * MiB, 32 * MiB, 256 * MiB);
    qtest_quit(qts);
}

/* Every size default of automatic mode, for one guest size */
typedef struct DefaultSizes {
    const char *name;
    const char *args;
    uint64_t ram;
    uint64_t low, medium, critical, deflate, floor, reserve, relief_step;
    uint64_t avail_min, direct_reclaim;
} DefaultSizes;

static uint64_t qom_get_size(QTestState *qts, const char *prop)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'qom-get', 'arguments':"
                           " { 'path': %s, 'property': %s } }", BACKEND,
                           prop);
    uint64_t val = qdict_get_int(rsp, "return");

    qobject_unref(rsp);
    return val;
}

/*
 * Both ends of the guest sizes a default must fit: every scaled size is
 * what the rule in virtio-balloon-auto-policy.h gives (RAM / 512 MiB of
 * the full default below 512 MiB, the full default above), the device
 * starts, and host pressure inflates by the default critical step.  The
 * huge guest's RAM is a memory backend that is never touched beyond what
 * the test writes (reserve=off: no swap space is set aside for it).
 */
static void test_default_sizes(const void *opaque)
{
    const DefaultSizes *d = opaque;
    int64_t deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    g_autoptr(QDict) info = NULL;
    QDict *t;
    QTestState *qts;

    qts = qtest_initf("%s -nodefaults -device virtio-balloon-pci,"
                      "automatic=on,auto-source=qtest,id=balloon0", d->args);
    info = ag_query(qts);
    g_assert_cmpuint(qdict_get_int(info, "target"), ==, d->ram);
    t = qdict_get_qdict(info, "tunables");
    g_assert_cmpuint(qdict_get_int(t, "inflate-low"), ==, d->low);
    g_assert_cmpuint(qdict_get_int(t, "inflate-medium"), ==, d->medium);
    g_assert_cmpuint(qdict_get_int(t, "inflate-critical"), ==, d->critical);
    g_assert_cmpuint(qdict_get_int(t, "deflate"), ==, d->deflate);
    g_assert_cmpuint(qdict_get_int(t, "floor"), ==, d->floor);
    g_assert_cmpuint(qdict_get_int(t, "reserve"), ==, d->reserve);
    g_assert_cmpuint(qdict_get_int(t, "reserve-pct"), ==, 5);
    g_assert_cmpuint(qdict_get_int(t, "relief-ms"), ==, 30000);
    g_assert_cmpuint(qdict_get_int(t, "relief-step"), ==, d->relief_step);
    g_assert_cmpuint(qom_get_size(qts, "auto-stats-avail-min"), ==,
                     d->avail_min);
    g_assert_cmpuint(qom_get_size(qts, "auto-stats-direct-reclaim"), ==,
                     d->direct_reclaim);
    /* Host pressure takes one critical step of the RAM the host holds */
    ag_touch_ram(qts, MIN(d->ram, 512 * MiB));
    qtest_qmp_assert_success(qts, "{ 'execute': 'qom-set', 'arguments':"
                             " { 'path': %s,"
                             " 'property': 'x-inject-host-pressure',"
                             " 'value': 'critical' } }", BACKEND);
    /* The huge guest is measured in a worker thread: the event waits */
    for (;;) {
        qobject_unref(info);
        info = ag_query(qts);
        if (qdict_get_int(info, "target") != d->ram) {
            break;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(10 * 1000);
    }
    g_assert_cmpuint(qdict_get_int(info, "target"), ==,
                     d->ram - d->critical);
    qtest_quit(qts);
}

static const DefaultSizes default_sizes[] = {
    {
        .name = "64M", .args = "-m 64", .ram = 64 * MiB,
        .low = 1 * MiB, .medium = 4 * MiB, .critical = 16 * MiB,
        .deflate = 4 * MiB, .floor = 32 * MiB, .reserve = 16 * MiB,
        .relief_step = 2 * MiB, .avail_min = 8 * MiB,
        .direct_reclaim = 4 * MiB,
    }, {
        .name = "128M", .args = "-m 128", .ram = 128 * MiB,
        .low = 2 * MiB, .medium = 8 * MiB, .critical = 32 * MiB,
        .deflate = 8 * MiB, .floor = 64 * MiB, .reserve = 32 * MiB,
        .relief_step = 4 * MiB, .avail_min = 16 * MiB,
        .direct_reclaim = 8 * MiB,
    }, {
        .name = "512M", .args = "-m 512", .ram = 512 * MiB,
        .low = 8 * MiB, .medium = 32 * MiB, .critical = 128 * MiB,
        .deflate = 32 * MiB, .floor = 256 * MiB, .reserve = 128 * MiB,
        .relief_step = 16 * MiB, .avail_min = 64 * MiB,
        .direct_reclaim = 32 * MiB,
    }, {
        .name = "1T",
        .args = "-m 1T -cpu qemu64,phys-bits=48"
                " -object memory-backend-ram,id=mem0,size=1T,reserve=off"
                " -machine memory-backend=mem0",
        .ram = 1 * TiB,
        .low = 8 * MiB, .medium = 32 * MiB, .critical = 128 * MiB,
        .deflate = 32 * MiB, .floor = 256 * MiB, .reserve = 128 * MiB,
        .relief_step = 16 * MiB, .avail_min = 64 * MiB,
        .direct_reclaim = 32 * MiB,
    },
};

/*
 * The mission's own command line, host-wide source included, with
 * QEMU's default RAM.  Registering for vmpressure or a PSI trigger
 * host-wide needs root.
 */
static void test_default_command_line(void)
{
    QTestState *qts;
    g_autoptr(QDict) info = NULL;

    if (geteuid() != 0) {
        g_test_skip("the host-wide pressure source needs root");
        return;
    }
    qts = qtest_init("-device virtio-balloon,automatic=true");
    info = ag_query(qts);
    g_assert_true(qdict_get_bool(info, "enabled"));
    g_assert_cmpuint(qdict_get_int(info, "target"), ==, 128 * MiB);
    g_assert_cmpuint(qdict_get_int(qdict_get_qdict(info, "tunables"),
                                    "floor"), ==, 64 * MiB);
    qtest_quit(qts);
}

/* With automatic mode off the device answers query-balloon as upstream. */
static void test_off_query_balloon(void)
{
    QTestState *qts = qtest_init("-m 256 -nodefaults"
                                 " -device virtio-balloon-pci,id=balloon0");
    QDict *ret = qtest_qmp_assert_success_ref(qts,
                                              "{ 'execute': 'query-balloon' }");

    g_assert_cmpint(qdict_get_int(ret, "actual"), ==, 256 * MiB);
    qobject_unref(ret);
    qtest_quit(qts);
}

/*
 * Real kernel: a memory hog in a memcg v1 with a limit (and, if given, in
 * a cgroup v2 directory), page cache churn over the limit: the memcg
 * reclaims all the time without anything being OOM-killed.
 */
static pid_t start_hog(const char *memcg, const char *cgroup2)
{
    pid_t pid = fork();

    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        g_autofree char *procs = g_build_filename(memcg, "cgroup.procs", NULL);
        g_autofree char *procs2 = cgroup2 ?
            g_build_filename(cgroup2, "cgroup.procs", NULL) : NULL;
        g_autofree char *me = g_strdup_printf("%d", getpid());
        size_t len = 256 * MiB;
        int fd;

        /* An aborted test must not leave the hog running */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1 ||
            !ag_cg_write(procs, me) || (procs2 && !ag_cg_write(procs2, me))) {
            _exit(1);
        }
        fd = open("/var/tmp", O_TMPFILE | O_RDWR, 0600);
        if (fd < 0) {
            _exit(1);
        }
        for (;;) {
            static char buf[1 * MiB];
            size_t off;

            memset(buf, 0x5a, sizeof(buf));
            for (off = 0; off < len; off += sizeof(buf)) {
                if (pwrite(fd, buf, sizeof(buf), off) < 0) {
                    _exit(1);
                }
            }
        }
    }
    return pid;
}

/* With automatic=on, a device that would pin guest RAM is refused */
static void test_discard_pinning_refused(void)
{
    QTestState *on = qtest_init("-m 512 -nodefaults -device"
                                " virtio-balloon-pci," AUTO_ON);
    QTestState *off = qtest_init("-m 512 -nodefaults -device"
                                 " virtio-balloon-pci");

    ag_expect_pinning_refused(on, true);
    ag_expect_pinning_refused(off, false);
    qtest_quit(on);
    qtest_quit(off);
}

/*
 * Switched off, the balloon is the manual one, which needs no RAM discard:
 * a device that pins guest RAM is refused only while automatic mode is on,
 * also after switching on failed for another reason.
 */
static void test_discard_released_while_off(void)
{
    QTestState *qts = qtest_init("-m 512 -nodefaults -device"
                                 " virtio-balloon-pci," AUTO_ON);
    QDict *rsp;

    ag_set_enabled(qts, false);
    ag_expect_pinning_refused(qts, false);
    ag_set_enabled(qts, true);
    ag_expect_pinning_refused(qts, true);
    ag_set_enabled(qts, false);

    /* The source is opened after discard is held: it is let go again */
    rsp = qtest_qmp(qts, "{ 'execute': 'set-auto-balloon', 'arguments':"
                    " { 'enabled': true, 'source': '/nonexistent/memcg' } }");
    g_assert_true(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    ag_expect_pinning_refused(qts, false);
    g_assert_false(ag_enabled(qts));

    /* A new source while on keeps it held */
    ag_set_enabled(qts, true);
    qtest_qmp_assert_success(qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'enabled': true,"
                             " 'source': 'qtest' } }");
    ag_expect_pinning_refused(qts, true);
    qtest_quit(qts);
}

/*
 * Memory that a 4 KiB balloon page cannot give back is refused, on the
 * command line and by device_add: locked guest RAM, and RAM backed by
 * larger host pages.
 */
static void expect_realize_refused(QTestState *qts, const char *expect)
{
    /* a floor that fits 128 MiB, so that only the RAM is wrong */
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-floor': 67108864", expect);
    /* upstream's balloon keeps working there */
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments':"
                             " { 'driver': 'virtio-balloon-pci',"
                             " 'id': 'plain' } }");
}

/* 128 MiB of guest RAM from file @mem_path with @opts: refused, @expect */
static void expect_file_ram_refused(const char *mem_path, const char *opts,
                                    const char *expect)
{
    QTestState *qts = qtest_initf("-m 128 -nodefaults -object"
                                  " memory-backend-file,id=ram,size=128M,"
                                  "mem-path=%s,%s -machine memory-backend=ram",
                                  mem_path, opts);

    expect_realize_refused(qts, expect);
    qtest_quit(qts);
}

static void test_mem_lock_refused(void)
{
    QTestState *qts;

    if (geteuid() != 0) {
        g_test_skip("-overcommit mem-lock=on needs root (RLIMIT_MEMLOCK)");
        return;
    }
    qts = qtest_init("-m 128 -nodefaults -overcommit mem-lock=on");
    expect_realize_refused(qts, "mem-lock=on");
    qtest_quit(qts);
}

static void test_hugetlb_refused(void)
{
    /* 128 MiB of 2 MiB pages (more if the default size is smaller) */
    long pool;
    bool grown;
    QTestState *qts;

    if (!ag_hugepages_reserve(64, &pool, &grown)) {
        return;
    }
    qts = qtest_init("-m 128 -nodefaults -object memory-backend-memfd,"
                     "id=ram,size=128M,hugetlb=on -machine memory-backend=ram");
    /* Put the pool back at once, before anything can fail */
    if (grown) {
        g_assert_true(ag_hugepages_set(pool));
    }
    expect_realize_refused(qts, "'ram' is backed by host pages of");
    qtest_quit(qts);
}

/* @rsp is an error whose description holds @what */
static void assert_error_has(QDict *rsp, const char *what)
{
    QDict *err = qdict_get_qdict(rsp, "error");

    g_assert_nonnull(err);
    if (!strstr(qdict_get_str(err, "desc"), what)) {
        g_test_message("error '%s' lacks '%s'", qdict_get_str(err, "desc"),
                       what);
        g_assert_not_reached();
    }
}

/*
 * Read-only guest RAM (readonly=on, whose rom follows it) gives no balloon
 * page back: refused as boot RAM, and as a DIMM plugged while automatic
 * mode is on (the guest's RAM stays as it was).  readonly=on with rom=off
 * (a private copy of a template file, which the guest writes) is
 * writable guest RAM and is accepted, as is a read-only NVDIMM, which is
 * no guest RAM the balloon counts.
 */
static void test_readonly_refused(void)
{
    g_autofree char *path = g_strdup_printf("/tmp/qtest-auto-ro-%d",
                                            getpid());
    g_autoptr(QDict) rsp = NULL;
    g_autoptr(QDict) mem = NULL;
    AutoGuest *g;
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, 128 * MiB), ==, 0);
    close(fd);

    /* Read-only memory, and file RAM whose pages cannot be discarded */
    expect_file_ram_refused(path, "readonly=on",
                            "'ram' is read-only memory (rom=on)");
    expect_file_ram_refused(path, "readonly=on,rom=off",
                            "'ram' maps a file opened read-only");
    /* Discarding a private file mapping would punch holes in the file */
    expect_file_ram_refused(path, "share=off",
                            "'ram' is a private mapping of a file");
    /* Nor can pages of /dev/zero be discarded */
    expect_file_ram_refused("/dev/zero", "share=on",
                            "'ram' maps a file that is not a regular");

    g = ag_start(AUTO_ON " -m 512,slots=2,maxmem=2G", true, MSG_VQ_OFFERED);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'object-add',"
                             " 'arguments': { 'qom-type':"
                             " 'memory-backend-file', 'id': 'm1',"
                             " 'size': %" PRIu64 ", 'mem-path': %s,"
                             " 'readonly': true, 'share': true } }",
                             128 * MiB, path);
    rsp = qtest_qmp(g->qts, "{ 'execute': 'device_add', 'arguments':"
                    " { 'driver': 'pc-dimm', 'id': 'd1', 'memdev': 'm1' } }");
    assert_error_has(rsp, "automatic ballooning is on: memory backend 'm1'"
                     " is read-only memory");
    mem = qtest_qmp(g->qts, "{ 'execute': 'query-memory-devices' }");
    g_assert_true(qlist_empty(qdict_get_qlist(mem, "return")));
    ag_stop(g);

    /* A read-only NVDIMM (an image shared read-only) is no such RAM */
    if (qtest_has_device("nvdimm")) {
        g_autofree char *nv = g_strdup_printf(
            "-m 512,slots=2,maxmem=2G -machine nvdimm=on -nodefaults"
            " -object memory-backend-file,id=m1,size=128M,mem-path=%s,"
            "readonly=on,share=on -device nvdimm,memdev=m1,unarmed=on"
            " -device virtio-balloon-pci,id=balloon0," AUTO_ON, path);
        QTestState *qts = qtest_init(nv);

        qobject_unref(ag_query(qts));
        qtest_quit(qts);
    } else {
        g_test_message("no nvdimm in this QEMU: not checked");
    }
    unlink(path);
}

/*
 * A hugetlb memory device plugged while automatic mode is on is refused,
 * as the same boot RAM is, whatever the device maps (the backend itself,
 * an alias of it for an NVDIMM, a container for virtio-mem with dynamic
 * memslots), and leaves the guest's RAM as it was.  A backend that no
 * device uses is not guest RAM and does not stop automatic mode, nor does
 * one another device (ivshmem) maps.
 * Switched off, the DIMM plugs, and automatic mode then refuses to be
 * switched on again.
 */
static void test_hugetlb_dimm_refused(void)
{
    static const char *const devs[] = {
        "'driver': 'pc-dimm'",
        "'driver': 'nvdimm'",
        "'driver': 'virtio-mem-pci', 'dynamic-memslots': true,"
        " 'requested-size': 2097152",
        "'driver': 'virtio-mem-pci', 'requested-size': 2097152",
    };
    long pool;
    bool grown;
    AutoGuest *g;
    g_autoptr(QDict) info = NULL;
    g_autoptr(QDict) mem = NULL;
    size_t i;

    if (!ag_hugepages_reserve(17, &pool, &grown)) {
        return;
    }
    g = ag_start(AUTO_ON " -m 512,slots=4,maxmem=2G -machine nvdimm=on", true,
                 MSG_VQ_OFFERED);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'object-add',"
                             " 'arguments': { 'qom-type':"
                             " 'memory-backend-memfd', 'id': 'm1',"
                             " 'hugetlb': true, 'size': %" PRIu64 " } }",
                             32 * MiB);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'object-add',"
                             " 'arguments': { 'qom-type':"
                             " 'memory-backend-memfd', 'id': 'm2',"
                             " 'hugetlb': true, 'size': %" PRIu64 " } }",
                             2 * MiB);
    if (grown) {
        g_assert_true(ag_hugepages_set(pool));
    }
    for (i = 0; i < ARRAY_SIZE(devs); i++) {
        g_autofree char *json = g_strdup_printf("{ %s, 'id': 'd1',"
                                                " 'memdev': 'm1' }", devs[i]);
        QObject *args = qobject_from_json(json, &error_abort);
        g_autoptr(QDict) rsp = qtest_qmp(g->qts, "{ 'execute': 'device_add',"
                                         " 'arguments': %p }", args);

        g_test_message("%s", devs[i]);
        assert_error_has(rsp, "automatic ballooning is on: memory backend"
                         " 'm1' is backed by host pages of");
    }
    info = ag_query(g->qts);
    g_assert_cmpint(qdict_get_int(info, "actual"), ==, 512 * MiB);
    mem = qtest_qmp(g->qts, "{ 'execute': 'query-memory-devices' }");
    g_assert_true(qlist_empty(qdict_get_qlist(mem, "return")));

    /* m1 is no guest RAM: automatic mode switches off and on */
    ag_set_enabled(g->qts, false);
    ag_set_enabled(g->qts, true);
    /*
     * Nor is memory another device maps, although QEMU marks its backend
     * mapped: a hugetlb ivshmem region plugs, and automatic mode still
     * switches off and on
     */
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'device_add',"
                             " 'arguments': { 'driver': 'ivshmem-plain',"
                             " 'id': 'shm', 'memdev': 'm2' } }");
    ag_set_enabled(g->qts, false);
    ag_set_enabled(g->qts, true);

    /* Switched off, the balloon leaves the choice to the user */
    ag_set_enabled(g->qts, false);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'device_add',"
                             " 'arguments': { 'driver': 'pc-dimm',"
                             " 'id': 'd1', 'memdev': 'm1' } }");
    {
        g_autoptr(QDict) rsp = qtest_qmp(g->qts,
            "{ 'execute': 'set-auto-balloon', 'arguments':"
            " { 'enabled': true } }");

        assert_error_has(rsp, "memory backend 'm1' is backed by host pages"
                         " of");
    }
    ag_stop(g);
}

/*
 * A balloon whose realize fails after it registered the balloon handler
 * (free-page-hint without an iothread) unregisters it: 'balloon' says
 * there is no balloon instead of calling the freed device, and another
 * balloon can be added.
 */
static void test_failed_realize_unregisters(void)
{
    QTestState *qts = qtest_init("-m 512 -nodefaults");
    g_autoptr(QDict) rsp = NULL;
    g_autoptr(QDict) rsp2 = NULL;

    check_add_fails(qts, "'free-page-hint': true", "requires 'iothread'");
    rsp = qtest_qmp(qts, "{ 'execute': 'balloon', 'arguments':"
                    " { 'value': 268435456 } }");
    assert_error_has(rsp, "No balloon device has been activated");
    rsp2 = qtest_qmp(qts, "{ 'execute': 'query-balloon' }");
    assert_error_has(rsp2, "No balloon device has been activated");
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments':"
                             " { 'driver': 'virtio-balloon-pci',"
                             " 'id': 'b2' } }");
    qtest_quit(qts);
}

static int64_t run_real_pressure(const char *source, const char *backend,
                                 const char *memcg, const char *cgroup2)
{
    g_autofree char *limit = g_build_filename(memcg, "memory.limit_in_bytes",
                                              NULL);
    g_autoptr(QDict) info = NULL;
    QTestState *qts;
    pid_t hog;
    int64_t deadline;
    int64_t value = 0;

    g_assert_true(ag_cg_write(limit, "67108864"));
    qts = qtest_initf("-m 1024 -nodefaults -device virtio-balloon-pci,"
                      "id=balloon0,automatic=on,auto-source=%s", source);
    /* Untouched guest RAM is not resident: ballooning it gains nothing */
    ag_touch_ram(qts, 256 * MiB);
    info = ag_query(qts);
    g_assert_cmpstr(qdict_get_str(info, "backend"), ==, backend);
    hog = start_hog(memcg, cgroup2);
    deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    while (g_get_monotonic_time() < deadline) {
        value = ag_query_target_pages(qts, 1024 * MiB);
        if (value > 0) {
            break;
        }
        g_usleep(100 * 1000);
    }
    kill(hog, SIGKILL);
    waitpid(hog, NULL, 0);
    qtest_quit(qts);
    return value;
}

static bool real_cgroups_usable(bool need_cgroup2)
{
    if (geteuid() != 0) {
        g_test_skip("needs root to create cgroups");
        return false;
    }
    if (!g_file_test(MEMCG_ROOT "/cgroup.event_control", G_FILE_TEST_EXISTS)) {
        g_test_skip("no cgroup v1 memory controller at " MEMCG_ROOT);
        return false;
    }
    if (need_cgroup2 &&
        !g_file_test(CGROUP2_ROOT "/memory.pressure", G_FILE_TEST_EXISTS)) {
        g_test_skip("no cgroup v2 hierarchy with PSI at " CGROUP2_ROOT);
        return false;
    }
    return true;
}

/*
 * The usage threshold at the high watermark is the source's: registered
 * on a memcg source at realize (usage 0, no cache: 90 % of its 1 GiB
 * limit), again on the new one when set-auto-balloon changes the source,
 * even at the same value (the old registration went with the old
 * source), and not at all with auto-memory-source, whose state is
 * another cgroup's.  Seen in the trace, where each registration is a
 * line.
 */
static void test_real_threshold_follows_source(void)
{
    g_autofree char *a = NULL, *b = NULL, *log = NULL, *props = NULL;
    g_autofree char *props2 = NULL;
    g_autofree char *la = NULL, *lb = NULL;
    QTestState *qts;

    if (!real_cgroups_usable(false)) {
        return;
    }
    a = ag_cgroup_make(MEMCG_ROOT, "thr-a");
    b = ag_cgroup_make(MEMCG_ROOT, "thr-b");
    log = ag_trace_log("thr");
    la = g_build_filename(a, "memory.limit_in_bytes", NULL);
    lb = g_build_filename(b, "memory.limit_in_bytes", NULL);
    g_assert_true(ag_cg_write(la, "1073741824"));
    g_assert_true(ag_cg_write(lb, "1073741824"));

    props = g_strdup_printf("-m 1024 -nodefaults -device virtio-balloon-pci,"
                            "id=balloon0,automatic=on,auto-source=%s"
                            " -trace enable=virtio_balloon_auto_threshold_set"
                            ",file=%s", a, log);
    qts = qtest_init(props);
    qtest_qmp_assert_success(qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'source': %s } }", b);
    qtest_quit(qts);
    /* Once on each: the same limit, so the same value */
    g_assert_cmpint(ag_trace_lines(log, "usage threshold at 966367641 "), ==,
                    2);
    unlink(log);

    props2 = g_strdup_printf("-m 1024 -nodefaults -device virtio-balloon-pci,"
                             "id=balloon0,automatic=on,auto-source=%s,"
                             "auto-memory-source=%s"
                             " -trace enable=virtio_balloon_auto_threshold_set"
                             ",file=%s", a, b, log);
    qts = qtest_init(props2);
    qtest_quit(qts);
    g_assert_cmpint(ag_trace_lines(log, "virtio_balloon_auto_threshold_set"),
                    ==, 0);
    unlink(log);
    rmdir(a);
    rmdir(b);
}

/*
 * A child in @memcg that holds @size of memory (a memfd it wrote, so
 * swap-backed like anonymous memory, and written by the kernel: no
 * sanitizer shadow grows with it); returns once the memory is charged.
 * Killed with SIGKILL by the caller (or when the test dies).
 */
static pid_t start_resident(const char *memcg, size_t size)
{
    int ready[2];
    pid_t pid;
    char c;

    g_assert_cmpint(pipe(ready), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        g_autofree char *procs = g_build_filename(memcg, "cgroup.procs", NULL);
        g_autofree char *me = g_strdup_printf("%d", getpid());
        static char buf[1 * MiB];
        size_t off;
        int fd;

        close(ready[0]);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1 ||
            !ag_cg_write(procs, me)) {
            _exit(1);
        }
        fd = memfd_create("qtest-resident", 0);
        if (fd < 0) {
            _exit(1);
        }
        memset(buf, 0x5a, sizeof(buf));
        for (off = 0; off < size; off += sizeof(buf)) {
            if (pwrite(fd, buf, sizeof(buf), off) != sizeof(buf)) {
                _exit(1);
            }
        }
        if (write(ready[1], "r", 1) != 1) {
            _exit(1);
        }
        for (;;) {
            pause();
        }
    }
    close(ready[1]);
    g_assert_cmpint(read(ready[0], &c, 1), ==, 1);
    close(ready[0]);
    return pid;
}

/* host-memory.usage of query-auto-balloon, in bytes */
static uint64_t query_host_usage(QTestState *qts)
{
    g_autoptr(QDict) info = ag_query(qts);

    g_assert_true(qdict_haskey(info, "host-memory"));
    return qdict_get_int(qdict_get_qdict(info, "host-memory"), "usage");
}

/*
 * Usage that crosses the threshold while automatic mode is switched off
 * is not acted on, and the crossing drops the threshold (it is one
 * crossing).  Switching on reads the memory state again and so arms a
 * new one: the reading shows the usage of the switch-off, and when the
 * usage falls back the new threshold reports that crossing too.
 * Real memcg v1, limit 128 MiB (threshold at 90 %), a child holding
 * 124 MiB.
 */
static void test_real_threshold_while_off(void)
{
    g_autofree char *memcg = NULL, *limit = NULL, *log = NULL;
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    QTestState *qts;
    int64_t deadline;
    int crossed = 0, set_after_crossing = 0, i;
    pid_t child;

    if (!real_cgroups_usable(false)) {
        return;
    }
    memcg = ag_cgroup_make(MEMCG_ROOT, "thr-off");
    log = ag_trace_log("thr-off");
    limit = g_build_filename(memcg, "memory.limit_in_bytes", NULL);
    g_assert_true(ag_cg_write(limit, "134217728"));

    qts = qtest_initf("-m 1024 -nodefaults -device virtio-balloon-pci,"
                      "id=balloon0,automatic=on,auto-source=%s"
                      " -trace enable=virtio_balloon_auto_threshold_*"
                      ",file=%s", memcg, log);
    g_assert_cmpuint(query_host_usage(qts), <, 16 * MiB);
    ag_set_enabled(qts, false);

    child = start_resident(memcg, 124 * MiB);
    /* Switched off: the crossing is not read, the state stays the old */
    g_usleep(500 * 1000);
    g_assert_cmpuint(query_host_usage(qts), <, 16 * MiB);

    ag_set_enabled(qts, true);
    g_assert_cmpuint(query_host_usage(qts), >=, 124 * MiB);

    /*
     * Falling back below the new threshold is seen at once: the reading
     * at the crossing (the kernel signals it while it uncharges, so not
     * necessarily the final usage) is below the threshold
     */
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (query_host_usage(qts) >= 124 * MiB &&
           g_get_monotonic_time() < deadline) {
        g_usleep(50 * 1000);
    }
    g_assert_cmpuint(query_host_usage(qts), <, 128 * MiB / 10 * 9);
    qtest_quit(qts);

    /* set (realize), crossed (up, off), set (switch on), crossed (down) */
    g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i]; i++) {
        if (strstr(lines[i], "usage crossed the threshold")) {
            crossed++;
        } else if (crossed && strstr(lines[i], "usage threshold at")) {
            set_after_crossing++;
        }
    }
    g_assert_cmpint(crossed, ==, 2);
    g_assert_cmpint(set_after_crossing, >=, 1);
    unlink(log);
    g_assert_cmpint(rmdir(memcg), ==, 0);
}

/* Real vmpressure events of a real memcg v1 raise the target */
static void test_real_memcg_pressure(void)
{
    g_autofree char *memcg = NULL;
    int64_t value;

    if (!real_cgroups_usable(false)) {
        return;
    }
    memcg = ag_cgroup_make(MEMCG_ROOT, "balloon");
    value = run_real_pressure(memcg, "vmpressure", memcg, NULL);
    rmdir(memcg);
    g_assert_cmpint(value, >, 0);
}

/*
 * Real PSI events of a real cgroup v2 directory raise the target: the hog
 * runs in the v2 directory (PSI accounting) and in a memcg v1 with a limit
 * (the pressure; this host's memory controller is a v1 one).
 */
static void test_real_psi_pressure(void)
{
    g_autofree char *memcg = NULL;
    g_autofree char *cg2 = NULL;
    int64_t value;

    if (!real_cgroups_usable(true)) {
        return;
    }
    memcg = ag_cgroup_make(MEMCG_ROOT, "psi");
    cg2 = ag_cgroup_make(CGROUP2_ROOT, "psi");
    value = run_real_pressure(cg2, "psi", memcg, cg2);
    rmdir(memcg);
    rmdir(cg2);
    g_assert_cmpint(value, >, 0);
}

/*
 * Hot-unplug releases everything automatic mode took: the pressure
 * source's file descriptors (a real memcg when possible), the balloon
 * handler and the RAM-discard requirement, so the device can be added
 * again.
 */
static void test_unplug_releases(void)
{
    g_autofree char *memcg = NULL;
    g_autofree char *props = NULL;
    QTestState *qts = qtest_init("-m 512");
    int before, with, i;

    if (geteuid() == 0 &&
        g_file_test(MEMCG_ROOT "/memory.pressure_level", G_FILE_TEST_EXISTS)) {
        memcg = ag_cgroup_make(MEMCG_ROOT, "unplug");
    } else {
        g_test_message("no memcg (needs root and cgroup v1): using the"
                       " qtest source, fds are not checked");
    }
    props = g_strdup_printf("{ 'addr': '0x6', 'automatic': true,"
                            " 'auto-source': '%s' }",
                            memcg ? memcg : "qtest");
    before = ag_count_fds(qts);
    for (i = 0; i < 2; i++) {
        qtest_qmp_device_add(qts, "virtio-balloon-pci", "b", "%p",
                             qobject_from_json(props, &error_abort));
        with = ag_count_fds(qts);
        if (memcg) {
            /*
             * pressure_level, one eventfd per level and the eventfd of
             * the usage threshold at the high watermark
             */
            g_assert_cmpint(with, ==, before + 5);
        }
        ag_expect_pinning_refused(qts, true);
        qpci_unplug_acpi_device_test(qts, "b", 0x06);
        g_assert_cmpint(ag_count_fds(qts), ==, before);
        ag_expect_pinning_refused(qts, false);
    }
    qtest_quit(qts);
    if (memcg) {
        g_assert_cmpint(rmdir(memcg), ==, 0);
    }
}

/*
 * Benchmark (run with -m perf, see `make bench`): time from a host
 * pressure event to the guest-visible config change, over 1000 events.
 *
 * The event takes the real path: the device watches a real memcg, and the
 * benchmark signals the very eventfd QEMU registered there for level low
 * (a duplicate taken with pidfd_getfd()), as the kernel's vmpressure does.
 * The change is seen by polling num_pages through the qtest socket, so
 * each sample is rounded up to one config read; one read is measured as
 * the baseline.
 */
#define BENCH_EVENTS 1000

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static void bench_report(const char *what, int64_t *ns, int n)
{
    qsort(ns, n, sizeof(*ns), cmp_i64);
    g_test_minimized_result((double)ns[n / 2] / 1000,
                            "%s: median %.1f us, p99 %.1f us, worst %.1f us",
                            what, ns[n / 2] / 1000.0,
                            ns[n * 99 / 100] / 1000.0, ns[n - 1] / 1000.0);
    printf("bench: %s: median %.1f us, p99 %.1f us, worst %.1f us"
           " over %d\n", what, ns[n / 2] / 1000.0,
           ns[n * 99 / 100] / 1000.0, ns[n - 1] / 1000.0, n);
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* QEMU's eventfds, duplicated into this process, newest first */
static GArray *qemu_eventfds(QTestState *qts)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/fd", qtest_pid(qts));
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    GArray *fds = g_array_new(false, false, sizeof(int));
    int pidfd = syscall(SYS_pidfd_open, qtest_pid(qts), 0);
    const char *name;

    g_assert_cmpint(pidfd, >=, 0);
    g_assert_nonnull(d);
    while ((name = g_dir_read_name(d))) {
        g_autofree char *link = g_build_filename(dir, name, NULL);
        g_autofree char *to = g_file_read_link(link, NULL);
        int fd;

        if (!to || strcmp(to, "anon_inode:[eventfd]")) {
            continue;
        }
        fd = syscall(SYS_pidfd_getfd, pidfd, atoi(name), 0);
        g_assert_cmpint(fd, >=, 0);
        g_array_prepend_val(fds, fd);
    }
    close(pidfd);
    return fds;
}

/*
 * Find the eventfd that reports level low: signal each candidate and see
 * which one the device counts as a low host event.  A stray signal on one
 * of QEMU's other eventfds (main-loop notifiers, virtqueue kicks of a
 * driver that has no buffers queued) is a harmless spurious wake-up.
 */
static int find_low_eventfd(AutoGuest *g)
{
    g_autoptr(GArray) fds = qemu_eventfds(g->qts);
    uint64_t one = 1;
    int found = -1;
    guint i;

    for (i = 0; i < fds->len; i++) {
        int fd = g_array_index(fds, int, i);
        uint64_t before = ag_counter(g->qts, "host-events-low");

        if (found < 0) {
            g_assert_cmpint(write(fd, &one, sizeof(one)), ==, sizeof(one));
            /* medium or critical may have inflated too */
            ag_catch_up(g);
            if (ag_counter(g->qts, "host-events-low") > before) {
                found = fd;
                continue;
            }
        }
        close(fd);
    }
    g_assert_cmpint(found, >=, 0);
    return found;
}

static void bench_event_latency(void)
{
    g_autofree char *memcg = NULL;
    g_autofree char *props = NULL;
    g_autofree int64_t *lat = g_new(int64_t, BENCH_EVENTS);
    g_autofree int64_t *base = g_new(int64_t, BENCH_EVENTS);
    uint64_t one = 1;
    AutoGuest *g;
    int efd, i;

    if (geteuid() != 0 ||
        !g_file_test(MEMCG_ROOT "/memory.pressure_level", G_FILE_TEST_EXISTS)) {
        g_test_skip("needs root and a cgroup v1 memory controller to watch"
                    " a real memcg");
        return;
    }
    memcg = ag_cgroup_make(MEMCG_ROOT, "bench");
    props = g_strdup_printf("automatic=on,auto-source=%s,auto-throttle-ms=0,"
                            "auto-inflate-low=4k,auto-inflate-medium=4k,"
                            "auto-inflate-critical=4k,auto-floor=4k", memcg);
    g = ag_start(props, true, MSG_VQ_OFFERED);
    efd = find_low_eventfd(g);

    for (i = 0; i < BENCH_EVENTS; i++) {
        uint32_t before = ag_target(g);
        int64_t t0 = now_ns();

        g_assert_cmpint(write(efd, &one, sizeof(one)), ==, sizeof(one));
        while (ag_target(g) == before) {
            /* poll: the config read is the resolution */
        }
        lat[i] = now_ns() - t0;
        ag_catch_up(g);

        t0 = now_ns();
        ag_target(g);
        base[i] = now_ns() - t0;
    }
    close(efd);
    bench_report("host eventfd -> config change", lat, BENCH_EVENTS);
    bench_report("one config read (poll resolution)", base, BENCH_EVENTS);
    ag_stop(g);
    g_assert_cmpint(rmdir(memcg), ==, 0);
}

/*
 * Benchmark (-m perf): 1000 hot-plug / hot-unplug cycles of an automatic
 * balloon watching a real memcg leak nothing.  Each cycle plugs the
 * device, has it inflate (so that its stall timer is armed) and unplugs
 * it.  After a warm-up of BENCH_PLUG_WARMUP cycles (allocator pools, QOM
 * type caches), QEMU's fds, resident memory (VmRSS), data segment
 * (VmData) and idle wake-ups (voluntary context switches in 2 s: a timer
 * left armed would wake QEMU) are compared with the end.
 */
#define BENCH_PLUG_CYCLES   1000
#define BENCH_PLUG_WARMUP   50

/* A "Name:  value kB" line of /proc/PID/status */
static uint64_t proc_status(QTestState *qts, const char *name)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status",
                                            qtest_pid(qts));
    g_autofree char *status = NULL;
    g_autofree char *key = g_strdup_printf("\n%s:", name);
    const char *p;

    g_assert_true(g_file_get_contents(path, &status, NULL, NULL));
    p = strstr(status, key);
    g_assert_nonnull(p);
    return g_ascii_strtoull(p + strlen(key), NULL, 10);
}

static uint64_t idle_wakeups(QTestState *qts)
{
    uint64_t before = proc_status(qts, "voluntary_ctxt_switches");

    g_usleep(2 * G_USEC_PER_SEC);
    return proc_status(qts, "voluntary_ctxt_switches") - before;
}

static void plug_cycle(QTestState *qts, const char *props)
{
    qtest_qmp_device_add(qts, "virtio-balloon-pci", "b", "%p",
                         qobject_from_json(props, &error_abort));
    qtest_qmp_assert_success(qts,
        "{ 'execute': 'qom-set', 'arguments': { 'path':"
        " '/machine/peripheral/b/virtio-backend',"
        " 'property': 'x-inject-host-pressure', 'value': 'critical' } }");
    qpci_unplug_acpi_device_test(qts, "b", 0x06);
}

static void bench_plug_cycles(void)
{
    g_autofree char *memcg = NULL;
    g_autofree char *props = NULL;
    uint64_t rss, data, wake;
    QTestState *qts;
    int fds, i;
    int64_t t0;

    if (geteuid() != 0 ||
        !g_file_test(MEMCG_ROOT "/memory.pressure_level", G_FILE_TEST_EXISTS)) {
        g_test_skip("needs root and a cgroup v1 memory controller to watch"
                    " a real memcg");
        return;
    }
    memcg = ag_cgroup_make(MEMCG_ROOT, "plug");
    props = g_strdup_printf("{ 'addr': '0x6', 'automatic': true,"
                            " 'auto-source': '%s' }", memcg);
    qts = qtest_init("-m 512");

    for (i = 0; i < BENCH_PLUG_WARMUP; i++) {
        plug_cycle(qts, props);
    }
    fds = ag_count_fds(qts);
    rss = proc_status(qts, "VmRSS");
    data = proc_status(qts, "VmData");
    wake = idle_wakeups(qts);
    t0 = now_ns();
    for (i = 0; i < BENCH_PLUG_CYCLES; i++) {
        plug_cycle(qts, props);
    }
    t0 = now_ns() - t0;
    printf("bench: %d plug/unplug cycles after %d of warm-up, %.1f ms"
           " each: fds %d -> %d, VmRSS %" PRIu64 " -> %" PRIu64 " KiB, VmData"
           " %" PRIu64 " -> %" PRIu64 " KiB, idle wake-ups in 2 s %" PRIu64
           " -> %" PRIu64 "\n", BENCH_PLUG_CYCLES, BENCH_PLUG_WARMUP,
           t0 / 1e6 / BENCH_PLUG_CYCLES, fds, ag_count_fds(qts), rss,
           proc_status(qts, "VmRSS"), data, proc_status(qts, "VmData"),
           wake, idle_wakeups(qts));
    g_assert_cmpint(ag_count_fds(qts), ==, fds);
    qtest_quit(qts);
    g_assert_cmpint(rmdir(memcg), ==, 0);
}

/*
 * Benchmark (-m perf): what a residency measurement costs the main
 * thread, for guests whose RAM is not reserved (reserve=off, or memfd)
 * and partly written (each needs at most 1 GiB of host memory, but one
 * of 8 GiB of memfd RAM all written).
 * BENCH_HOLD_ROUNDS host events, each 2 s of guest time after the last
 * (past the throttle interval), or once the pause after a measurement in
 * a worker thread is over if later, so that each measures: the event's QMP
 * round trip (the measurement runs in it where it is on the main thread)
 * against a query's, and the measurement's own time as traced
 * (virtio_balloon_auto_resident).  A guest above 2 GiB or with
 * file-backed RAM is measured in a worker thread: each round waits for
 * its end (virtio_balloon_auto_resident_done) before the next.
 */
#define BENCH_HOLD_ROUNDS   10

static int64_t query_status_ns(QTestState *qts)
{
    int64_t t0 = now_ns();

    qtest_qmp_assert_success(qts, "{ 'execute': 'query-status' }");
    return now_ns() - t0;
}

/* The measurement times traced to @log, in us, printed as a median */
static void bench_report_traced(const char *log)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GArray) ns = g_array_new(false, false, sizeof(int64_t));
    int i;

    g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i]; i++) {
        const char *m = strstr(lines[i], " measured in ");
        int64_t v;

        if (m) {
            v = g_ascii_strtoll(m + strlen(" measured in "), NULL, 10) * 1000;
            g_array_append_val(ns, v);
        }
    }
    g_assert_cmpint(ns->len, >=, BENCH_HOLD_ROUNDS);
    bench_report("  measurement (traced)", (int64_t *)ns->data, ns->len);
}

/*
 * One guest (@ram_args), @written bytes of it written from 1 MiB, or with
 * @sparse only every other 4 KiB page of them (as a balloon that took
 * every other page leaves it)
 */
static void bench_hold_case(const char *what, const char *ram_args,
                            uint64_t written, bool sparse)
{
    g_autofree int64_t *event = g_new(int64_t, BENCH_HOLD_ROUNDS);
    g_autofree int64_t *query = g_new(int64_t, BENCH_HOLD_ROUNDS);
    g_autofree char *log = ag_trace_log("hold");
    QTestState *qts = qtest_initf("%s -nodefaults -device virtio-balloon-pci,"
                                  "id=balloon0,automatic=on,"
                                  "auto-source=qtest -trace enable="
                                  "virtio_balloon_auto_resident*,file=%s",
                                  ram_args, log);
    int64_t step = 2 * SEC;
    uint64_t a;
    int i, aside = 0;

    if (sparse) {
        for (a = MiB; a < MiB + written; a += 8 * KiB) {
            qtest_memset(qts, a, 0x5a, 4 * KiB);
        }
    } else {
        vba_fill_ram(qts, MiB, written, 0x5a);
    }
    for (i = 0; i < BENCH_HOLD_ROUNDS; i++) {
        int64_t t0;

        query[i] = query_status_ns(qts);
        qtest_clock_step(qts, step);
        t0 = now_ns();
        ag_inject_qts(qts, "low");
        event[i] = now_ns() - t0;
        /* One measured in a worker thread ends before the next round */
        if (ag_trace_lines(log, AG_RESIDENT_START) > aside) {
            ag_wait_trace_lines(log, AG_RESIDENT_DONE, ++aside);
            step = MAX(2 * SEC, ag_trace_last_pause(log, NULL));
        }
    }
    qtest_quit(qts);
    printf("bench: residency measurement, %s:\n", what);
    bench_report("  host event's round trip", event, BENCH_HOLD_ROUNDS);
    bench_report("  a query's round trip", query, BENCH_HOLD_ROUNDS);
    bench_report_traced(log);
    unlink(log);
}

static void bench_resident_hold(void)
{
    bench_hold_case("2 GiB of anonymous RAM, all written (the most the"
                    " main thread measures)",
                    "-m 2G -object memory-backend-ram,id=ram,size=2G,"
                    "reserve=off -machine memory-backend=ram", 2 * GiB - MiB,
                    false);
    bench_hold_case("16 GiB of anonymous RAM, 1 GiB written",
                    "-m 16G -object memory-backend-ram,id=ram,size=16G,"
                    "reserve=off -machine memory-backend=ram", GiB, false);
    bench_hold_case("256 GiB of anonymous RAM, 1 GiB written",
                    "-m 256G -object memory-backend-ram,id=ram,size=256G,"
                    "reserve=off -machine memory-backend=ram", GiB, false);
    bench_hold_case("16 GiB of shared memfd RAM, 1 GiB written",
                    "-m 16G -object memory-backend-memfd,id=ram,size=16G,"
                    "share=on -machine memory-backend=ram", GiB, false);
    bench_hold_case("16 GiB of shared memfd RAM, every other page of"
                    " 256 MiB written",
                    "-m 16G -object memory-backend-memfd,id=ram,size=16G,"
                    "share=on -machine memory-backend=ram", 256 * MiB, true);
    bench_hold_case("8 GiB of shared memfd RAM, all written",
                    "-m 8G -object memory-backend-memfd,id=ram,size=8G,"
                    "share=on -machine memory-backend=ram", 8 * GiB - MiB,
                    false);
    bench_hold_case("16 GiB of private memfd RAM (share=off), 1 GiB"
                    " written",
                    "-m 16G -object memory-backend-memfd,id=ram,size=16G,"
                    "share=off -machine memory-backend=ram", GiB, false);
}

/*
 * Benchmark (-m perf): what measurements in a worker thread cost under
 * sustained host pressure.  A guest of 256 GiB of private memfd RAM
 * (share=off, counted from /proc/self/pagemap: 8 to 10 ms per GiB), 1 GiB
 * of it written, gets a critical host event every second for
 * BENCH_DUTY_S s of real time, its clock stepped along: QEMU's CPU time
 * over them (nearly all of it the measurements' worker thread) against
 * the wall time, and how many measurements started.  The pause after each
 * (VIRTIO_BALLOON_AUTO_ASIDE_MEASURE_PAUSE_FACTOR) bounds them to 5 % of
 * a thread in the long run; the first falls in the window whatever the
 * bound.  AUTOBALLOON_BENCH_DUTY_RAM (a size, default 256G) and
 * AUTOBALLOON_BENCH_DUTY_S (default BENCH_DUTY_S) in the environment
 * change the guest RAM and the duration.
 */
#define BENCH_DUTY_S 30

/* QEMU's user and system CPU time so far, in seconds (proc(5)) */
static double proc_cpu_s(QTestState *qts)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat",
                                            qtest_pid(qts));
    g_autofree char *stat = NULL;
    g_auto(GStrv) f = NULL;
    const char *p;

    g_assert_true(g_file_get_contents(path, &stat, NULL, NULL));
    /* After the command name, which may hold spaces: field 3 on */
    p = strrchr(stat, ')');
    g_assert_nonnull(p);
    f = g_strsplit(p + 2, " ", -1);
    /* utime and stime are fields 14 and 15, in clock ticks */
    g_assert_cmpint(g_strv_length(f), >, 12);
    return (g_ascii_strtoull(f[11], NULL, 10) +
            g_ascii_strtoull(f[12], NULL, 10)) /
           (double)sysconf(_SC_CLK_TCK);
}

static void bench_aside_duty(void)
{
    g_autofree char *log = ag_trace_log("duty");
    const char *ram = g_getenv("AUTOBALLOON_BENCH_DUTY_RAM") ?: "256G";
    const char *dur = g_getenv("AUTOBALLOON_BENCH_DUTY_S");
    uint64_t secs = BENCH_DUTY_S;
    QTestState *qts;
    double cpu;
    int64_t wall;
    uint64_t i;

    if (dur && (qemu_strtou64(dur, NULL, 10, &secs) < 0 || !secs)) {
        g_test_message("AUTOBALLOON_BENCH_DUTY_S=%s: not a number of"
                       " seconds", dur);
        g_test_fail();
        return;
    }
    qts = qtest_initf("-m %s -cpu qemu64,phys-bits=48 -nodefaults"
                      " -object memory-backend-memfd,id=ram,size=%s,"
                      "share=off,reserve=off -machine memory-backend=ram"
                      " -device virtio-balloon-pci,id=balloon0,"
                      "automatic=on,auto-source=qtest -trace"
                      " enable=virtio_balloon_auto_resident*,file=%s",
                      ram, ram, log);
    vba_fill_ram(qts, MiB, GiB, 0x5a);
    cpu = proc_cpu_s(qts);
    wall = now_ns();
    for (i = 0; i < secs; i++) {
        ag_inject_qts(qts, "critical");
        g_usleep(G_USEC_PER_SEC);
        qtest_clock_step(qts, SEC);
    }
    cpu = proc_cpu_s(qts) - cpu;
    wall = now_ns() - wall;
    printf("bench: sustained host pressure on %s of private memfd RAM,"
           " 1 GiB written: %d measurements started, %d events on the last"
           " one; QEMU CPU %.1f s in %.1f s (%.0f %% of a thread)\n",
           ram, ag_trace_lines(log, AG_RESIDENT_START),
           ag_trace_lines(log, AG_RESIDENT_STANDS),
           cpu, wall / 1e9, cpu * 1e9 * 100 / wall);
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), >=, 1);
    qtest_quit(qts);
    unlink(log);
}

/*
 * Benchmark (-m perf): what an event storm costs.  The kernel signals the
 * vmpressure eventfd of level low BENCH_STORM_RATE times a second for
 * BENCH_STORM_S seconds (the benchmark writes the very eventfd QEMU
 * registered, as above); QEMU's CPU time (utime + stime from
 * /proc/PID/stat) over the storm is compared with the same time idle.
 * The tunables are the defaults: past the first inflate the throttle
 * coalesces every event (the qtest clock does not run), which is what a
 * storm meets in real life too.  The budget is 5 % of one CPU.
 */
#define BENCH_STORM_RATE    10000
#define BENCH_STORM_S       10

/* utime + stime of @pid, in clock ticks */
static uint64_t proc_cpu_ticks(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid);
    g_autofree char *stat = NULL;
    unsigned long long utime, stime;
    const char *p;

    g_assert_true(g_file_get_contents(path, &stat, NULL, NULL));
    /* the command name may hold spaces: fields count from its ')' */
    p = strrchr(stat, ')');
    g_assert_nonnull(p);
    g_assert_cmpint(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u"
                           " %*u %llu %llu", &utime, &stime), ==, 2);
    return utime + stime;
}

static void bench_event_storm(void)
{
    g_autofree char *memcg = NULL;
    g_autofree char *props = NULL;
    const int64_t period = 1000000000LL / BENCH_STORM_RATE;
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t one = 1, idle, storm, events;
    struct timespec next;
    double idle_pct, storm_pct;
    int64_t t0, sent = 0;
    AutoGuest *g;
    pid_t pid;
    int efd;

    if (geteuid() != 0 ||
        !g_file_test(MEMCG_ROOT "/memory.pressure_level", G_FILE_TEST_EXISTS)) {
        g_test_skip("needs root and a cgroup v1 memory controller to watch"
                    " a real memcg");
        return;
    }
    memcg = ag_cgroup_make(MEMCG_ROOT, "storm");
    props = g_strdup_printf("automatic=on,auto-source=%s", memcg);
    g = ag_start(props, true, MSG_VQ_OFFERED);
    pid = qtest_pid(g->qts);
    efd = find_low_eventfd(g);
    /* sleep to the microsecond, not to the default 50 us slack */
    prctl(PR_SET_TIMERSLACK, 1);

    idle = proc_cpu_ticks(pid);
    g_usleep(BENCH_STORM_S * G_USEC_PER_SEC);
    idle = proc_cpu_ticks(pid) - idle;

    events = ag_counter(g->qts, "host-events-low");
    storm = proc_cpu_ticks(pid);
    clock_gettime(CLOCK_MONOTONIC, &next);
    t0 = now_ns();
    while (now_ns() - t0 < BENCH_STORM_S * 1000000000LL) {
        g_assert_cmpint(write(efd, &one, sizeof(one)), ==, sizeof(one));
        sent++;
        next.tv_nsec += period;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    storm = proc_cpu_ticks(pid) - storm;
    events = ag_counter(g->qts, "host-events-low") - events;
    close(efd);

    idle_pct = 100.0 * idle / hz / BENCH_STORM_S;
    storm_pct = 100.0 * storm / hz / BENCH_STORM_S;
    g_test_minimized_result(storm_pct - idle_pct, "event storm: %.2f %% CPU",
                            storm_pct - idle_pct);
    printf("bench: event storm: %" PRId64 " signals in %d s (%.0f/s), %"
           PRIu64 " host events seen; QEMU CPU %.2f %% during the storm,"
           " %.2f %% idle: the storm costs %.2f %% of a CPU (budget 5 %%)\n",
           sent, BENCH_STORM_S, (double)sent / BENCH_STORM_S, events,
           storm_pct, idle_pct, storm_pct - idle_pct);
    ag_stop(g);
    g_assert_cmpint(rmdir(memcg), ==, 0);
}

/*
 * Guest pressure from the stats of an unmodified guest (no message
 * queue).  The test answers the device's stats requests with chosen values;
 * the device must deflate when, and only when, the rule says so.
 */
typedef struct Sample {
    uint64_t v[VIRTIO_BALLOON_S_NR];
} Sample;

/* A healthy 1 GiB guest: plenty available, counters quiet */
static Sample healthy(void)
{
    Sample x;
    int i;

    for (i = 0; i < VIRTIO_BALLOON_S_NR; i++) {
        x.v[i] = STAT_ABSENT;
    }
    x.v[VIRTIO_BALLOON_S_SWAP_IN] = 0;
    x.v[VIRTIO_BALLOON_S_SWAP_OUT] = 0;
    x.v[VIRTIO_BALLOON_S_MAJFLT] = 1000;
    x.v[VIRTIO_BALLOON_S_MINFLT] = 100000;
    /*
     * Little free memory, the rest of what is available is page cache:
     * the free-first rule then leaves the steps alone (it has its own
     * test, test_stats_free_first)
     */
    x.v[VIRTIO_BALLOON_S_MEMFREE] = 2 * MiB;
    x.v[VIRTIO_BALLOON_S_MEMTOT] = 1000 * MiB;
    x.v[VIRTIO_BALLOON_S_AVAIL] = 600 * MiB;
    x.v[VIRTIO_BALLOON_S_CACHES] = 300 * MiB;
    x.v[VIRTIO_BALLOON_S_OOM_KILL] = 0;
    x.v[VIRTIO_BALLOON_S_ALLOC_STALL] = 0;
    x.v[VIRTIO_BALLOON_S_DIRECT_RECLAIM] = 0;
    return x;
}

/* An unmodified guest that followed one medium inflate (32 MiB) */
static AutoGuest *stats_guest_start(const char *props)
{
    g_autofree char *all = g_strdup_printf(AUTO_ON "%s", props);
    AutoGuest *g = ag_start(all, false, -1);

    ag_inject(g, "medium");
    ag_catch_up(g);
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);
    return g;
}

/* With automatic=on the stats are polled unless told otherwise */
static void test_stats_polling_default(void)
{
    QTestState *qts = qtest_init("-m 1024 -nodefaults -device"
                                 " virtio-balloon-pci,id=balloon0," AUTO_ON);
    QTestState *off = qtest_init("-m 1024 -nodefaults -device"
                                 " virtio-balloon-pci,id=balloon0," AUTO_ON
                                 ",auto-stats-interval=0");
    QTestState *plain = qtest_init("-m 1024 -nodefaults -device"
                                   " virtio-balloon-pci,id=balloon0");
    /* A value the user gave wins over the default, 0 included */
    QTestState *zero = qtest_init("-m 1024 -nodefaults -device"
                                  " virtio-balloon-pci,id=balloon0," AUTO_ON
                                  ",guest-stats-polling-interval=0");
    QTestState *seven = qtest_init("-m 1024 -nodefaults -device"
                                   " virtio-balloon-pci,id=balloon0," AUTO_ON
                                   ",guest-stats-polling-interval=7");
    QTestState *global = qtest_init("-m 1024 -nodefaults -global"
                                    " virtio-balloon-device."
                                    "guest-stats-polling-interval=0"
                                    " -device virtio-balloon-pci,"
                                    "id=balloon0," AUTO_ON);
    QTestState *all[] = { qts, off, plain, zero, seven, global };
    int64_t want[] = { STATS_INTERVAL_S, 0, 0, 0, 7, 0 };
    int i;

    for (i = 0; i < ARRAY_SIZE(all); i++) {
        QDict *rsp = qtest_qmp(all[i], "{ 'execute': 'qom-get',"
                               " 'arguments': { 'path': %s, 'property':"
                               " 'guest-stats-polling-interval' } }",
                               BACKEND);

        g_assert_cmpint(qdict_get_int(rsp, "return"), ==, want[i]);
        qobject_unref(rsp);
        qtest_quit(all[i]);
    }
}

/* Quiet stats, and background activity below the thresholds: nothing */
static void test_stats_quiet(void)
{
    AutoGuest *g = stats_guest_start("");
    Sample x = healthy();
    int i;

    for (i = 0; i < 4; i++) {
        ag_send_stats(g, x.v);
        /* 500 major faults and 1 MiB swapped in per 5 s: a healthy guest */
        x.v[VIRTIO_BALLOON_S_MAJFLT] += 500;
        x.v[VIRTIO_BALLOON_S_SWAP_IN] += MiB;
        x.v[VIRTIO_BALLOON_S_AVAIL] -= 10 * MiB;
    }
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);
    g_assert_cmpuint(ag_counter(g->qts, "stats-samples"), ==, 4);
    g_assert_cmpuint(ag_counter(g->qts, "guest-stats"), ==, 0);
    ag_stop(g);
}

/* Available memory below the threshold: deflate */
static void test_stats_low_available(void)
{
    AutoGuest *g = stats_guest_start("");
    Sample x = healthy();

    ag_send_stats(g, x.v);
    x.v[VIRTIO_BALLOON_S_AVAIL] = 65 * MiB;     /* just above 64 MiB */
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);
    x.v[VIRTIO_BALLOON_S_AVAIL] = 10 * MiB;
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_target(g), ==, 0);
    g_assert_cmpuint(ag_counter(g->qts, "guest-stats"), ==, 1);
    g_assert_cmpuint(ag_counter(g->qts, "deflates"), ==, 1);
    g_assert_cmpuint(ag_counter(g->qts, "shortfalls"), ==, 1);
    /* The balloon is empty now: a low guest is merely full */
    ag_catch_up(g);
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_counter(g->qts, "guest-stats"), ==, 1);
    ag_stop(g);
}

/* Full but healthy with an empty balloon: no window, nothing to take */
static void test_stats_full_healthy(void)
{
    AutoGuest *g = ag_start(AUTO_ON, false, -1);
    Sample x = healthy();
    QDict *info;

    x.v[VIRTIO_BALLOON_S_AVAIL] = 8 * MiB;
    ag_send_stats(g, x.v);
    ag_send_stats(g, x.v);
    info = ag_query(g->qts);
    g_assert_false(qdict_get_bool(info, "guest-window-open"));
    g_assert_cmpuint(qdict_get_int(info, "guest-available"), ==, 8 * MiB);
    qobject_unref(info);
    g_assert_cmpuint(ag_counter(g->qts, "guest-stats"), ==, 0);
    /* Host pressure finds nothing to spare: no inflate */
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, 0);
    g_assert_cmpuint(ag_counter(g->qts, "ignored"), ==, 1);
    /* Freed memory: the inflate takes what is above the 128 MiB reserve */
    x.v[VIRTIO_BALLOON_S_AVAIL] = 140 * MiB;
    ag_send_stats(g, x.v);
    ag_step(g, SEC);
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, (12 * MiB) >> 12);
    ag_stop(g);
}

/*
 * Free pages first, through the device: with free page reporting
 * negotiated a guest's free memory is the host's already, so host
 * pressure does not balloon it; a guest of mostly page cache still gives
 * a step; without free page reporting the free memory (resident, as the
 * test guest touched all of its RAM) is taken.
 */
static void test_stats_free_first(void)
{
    AutoGuest *g = ag_start(AUTO_ON, false, -1);
    Sample x = healthy();

    g_assert_true(g->features & (1ull << VIRTIO_BALLOON_F_REPORTING));
    x.v[VIRTIO_BALLOON_S_MEMFREE] = 500 * MiB;
    x.v[VIRTIO_BALLOON_S_AVAIL] = 600 * MiB;
    ag_send_stats(g, x.v);
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, 0);
    g_assert_cmpuint(ag_counter(g->qts, "not-resident"), ==, 1);
    /* Mostly cache: 40 MiB free, less than half a critical step */
    x.v[VIRTIO_BALLOON_S_MEMFREE] = 40 * MiB;
    ag_send_stats(g, x.v);
    ag_step(g, SEC);
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL);
    ag_stop(g);

    g = ag_start(AUTO_ON ",free-page-reporting=off", false, -1);
    g_assert_false(g->features & (1ull << VIRTIO_BALLOON_F_REPORTING));
    x.v[VIRTIO_BALLOON_S_MEMFREE] = 500 * MiB;
    ag_send_stats(g, x.v);
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL);
    ag_stop(g);
}

static int64_t ag_poll_interval(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'qom-get', 'arguments':"
                           " { 'path': %s, 'property':"
                           " 'guest-stats-polling-interval' } }", BACKEND);
    int64_t v = qdict_get_int(rsp, "return");

    qobject_unref(rsp);
    return v;
}

/*
 * On host pressure, a sample older than a second is refreshed at once:
 * the device hands the stats buffer back without waiting for the poll.
 * The guest (@props) sends one sample, and host pressure comes @age_s
 * later, before the next poll.
 */
static void stats_refresh_case(const char *props, int age_s)
{
    AutoGuest *g = ag_start(props, false, -1);
    Sample x = healthy();

    ag_send_stats(g, x.v);
    qtest_clock_step(g->qts, age_s * SEC);
    ag_inject(g, "low");
    qvirtio_wait_used_elem(g->qts, g->vdev, g->svq, g->stats_head, NULL,
                           TIMEOUT_US);
    ag_stop(g);
}

/*
 * A guest that sends statistics back to back (a Linux guest sends one
 * when asked) gets at most VIRTIO_BALLOON_AUTO_SAMPLE_MEASURE_RATE (8)
 * residency measurements a second of its clock, each a pass over all of
 * its RAM on the main thread: 100 samples without the clock moving are
 * all received, but measured at most 8 times (counted in the trace).  A
 * second later the next sample is measured again.
 */
static void test_stats_flood_budget(void)
{
    g_autofree char *log = ag_trace_log("flood");
    g_autofree char *props = g_strdup_printf(
        AUTO_ON " -trace enable=virtio_balloon_auto_resident,file=%s", log);
    AutoGuest *g = ag_start(props, false, -1);
    Sample x = healthy();
    int i, n;

    for (i = 0; i < 100; i++) {
        /* a new buffer each time, without waiting to be asked */
        g->stats_addr = 0;
        ag_send_stats(g, x.v);
    }
    g_assert_cmpuint(ag_counter(g->qts, "stats-samples"), ==, 100);
    n = ag_trace_lines(log, "virtio_balloon_auto_resident");
    g_assert_cmpint(n, >=, 1);
    g_assert_cmpint(n, <=, 8);
    qtest_clock_step(g->qts, SEC);
    g->stats_addr = 0;
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_counter(g->qts, "stats-samples"), ==, 101);
    g_assert_cmpint(ag_trace_lines(log, "virtio_balloon_auto_resident"), ==,
                    n + 1);
    ag_stop(g);
    unlink(log);
}

/*
 * A large guest's samples are measured less often: at most 64 GiB of RAM
 * measured a second (VIRTIO_BALLOON_AUTO_SAMPLE_MEASURE_BYTES_PER_S), so
 * a 32 GiB guest gets one measurement per 500 ms of its clock, however
 * many samples the count budget (8 a second) would allow.  (Each in a
 * worker thread, as for every guest above 2 GiB: counted when they
 * start, and the next sample sent once the last is done.)
 */
/*
 * A guest of @size of RAM the host does not reserve (32G, or 1T, whose
 * measurement takes some 300 ms), with @props, its residency
 * measurements traced to *@log
 */
static AutoGuest *large_guest_start(const char *props, const char *size,
                                    char **log)
{
    g_autofree char *all = NULL;

    *log = ag_trace_log("large");
    all = g_strdup_printf(AUTO_ON "%s -m %s -cpu qemu64,phys-bits=48"
                          " -object memory-backend-ram,id=big,size=%s,"
                          "reserve=off -machine memory-backend=big -trace"
                          " enable=virtio_balloon_auto_resident*,file=%s",
                          props, size, size, *log);
    return ag_start(all, false, -1);
}

static void test_stats_measure_large_guest(void)
{
    g_autofree char *log = NULL;
    AutoGuest *g = large_guest_start("", "32G", &log);
    Sample x = healthy();
    int64_t pause;

    /* each query waits for the sample sent before it to be received */
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_counter(g->qts, "stats-samples"), ==, 1);
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), ==, 1);
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 1);
    pause = ag_trace_last_pause(log, NULL);
    qtest_clock_step(g->qts, SEC / 5 * 2);
    g->stats_addr = 0;
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_counter(g->qts, "stats-samples"), ==, 2);
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), ==, 1);
    /* The samples' 0.5 s, or the longer pause after a slow measurement */
    qtest_clock_step(g->qts, MAX(SEC / 10, pause - SEC / 5 * 2));
    g->stats_addr = 0;
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_counter(g->qts, "stats-samples"), ==, 3);
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), ==, 2);
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 2);
    /* every measurement was one started aside */
    g_assert_cmpint(ag_trace_lines(log, "virtio_balloon_auto_resident "),
                    ==, 2);
    ag_stop(g);
    unlink(log);
}

/*
 * Where a measurement runs: a guest of up to 2 GiB of anonymous RAM
 * (VIRTIO_BALLOON_AUTO_RESIDENT_INLINE_MAX) on the main thread, within
 * the sample's own handling; one just above it in a worker thread.
 */
static void test_resident_inline_max(void)
{
    static const struct {
        const char *size;
        bool aside;
    } cases[] = { { "2G", false }, { "2050M", true } };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *log = NULL;
        AutoGuest *g = large_guest_start("", cases[i].size, &log);

        ag_send_stats(g, healthy().v);
        g_assert_cmpuint(ag_counter(g->qts, "stats-samples"), ==, 1);
        g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), ==,
                        cases[i].aside);
        if (cases[i].aside) {
            ag_wait_trace_lines(log, AG_RESIDENT_DONE, 1);
        }
        g_assert_cmpint(ag_trace_lines(log, "virtio_balloon_auto_resident "),
                        ==, 1);
        ag_stop(g);
        unlink(log);
    }
}

/*
 * A guest above VIRTIO_BALLOON_AUTO_RESIDENT_INLINE_MAX (2 GiB) has its
 * residency measured in a worker thread, and what needs the measurement
 * waits for it; the trace's virtio_balloon_auto_resident_done says what
 * then went on:
 * - host events: the first starts the measurement, and then the step
 *   (4 GiB) is bounded by what the host holds (the 1 GiB the guest wrote
 *   at start), which only the measurement tells; one inflate for three
 *   events, the others throttled as they would have been;
 * - the timer serving those coalesced events at the end of the interval
 *   (5 s, past the pause after the first measurement on any host: 0.5 s,
 *   or 19 times what it took), bounded the same way;
 * - a statistics sample: the guest short of memory gets memory back once
 *   its sample's measurement is done.
 * test_large_guest_measure_budget() has what comes before a measurement
 * is due.
 */
static void test_large_guest_measured_aside(void)
{
    g_autofree char *log = NULL;
    AutoGuest *g = large_guest_start(",auto-inflate-critical=4G,"
                                     "auto-throttle-ms=5000", "32G", &log);
    Sample x = healthy();
    uint32_t inflated;

    ag_inject(g, "critical");
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), ==, 1);
    ag_inject(g, "critical");
    ag_inject(g, "critical");
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 1);
    inflated = ag_target(g);
    g_assert_cmpuint(inflated, >=, MIB_PAGES(1000));
    g_assert_cmpuint(inflated, <=, MIB_PAGES(1024));
    g_assert_cmpuint(ag_counter(g->qts, "host-events-critical"), ==, 3);
    g_assert_cmpuint(ag_counter(g->qts, "inflates"), ==, 1);
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), ==, 1);

    /*
     * The coalesced events at the end of the interval: the timer waits
     * for its measurement, and the step is bounded again (the test's
     * driver gives one page over and over, so the host still holds the
     * 1 GiB)
     */
    ag_catch_up(g);
    g_assert_cmpint(ag_trace_last_pause(log, NULL), <, 5 * SEC);
    ag_step(g, 5 * SEC);
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 2);
    g_assert_cmpint(ag_trace_lines(log, "timer 1,"), ==, 1);
    g_assert_cmpuint(ag_target(g), >, inflated);
    g_assert_cmpuint(ag_target(g), <=, inflated + MIB_PAGES(1024));
    g_assert_cmpuint(ag_counter(g->qts, "inflates"), ==, 2);
    inflated = ag_target(g);
    ag_catch_up(g);

    /*
     * Short of memory: the sample waits for its measurement, then deflate.
     * Once the pause after the timer's measurement is over (32 GiB: 0.5 s,
     * or 19 times what it took if longer), that one no longer stands.
     */
    ag_step(g, ag_trace_last_pause(log, NULL));
    x.v[VIRTIO_BALLOON_S_AVAIL] = 10 * MiB;
    ag_send_stats(g, x.v);
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 3);
    g_assert_cmpint(ag_trace_lines(log, "sample 1"), ==, 1);
    g_assert_cmpuint(ag_target(g), <, inflated);
    g_assert_cmpuint(ag_counter(g->qts, "shortfalls"), ==, 1);
    /* every measurement was one started aside */
    g_assert_cmpint(ag_trace_lines(log, "virtio_balloon_auto_resident "),
                    ==, 3);
    ag_stop(g);
    unlink(log);
}

/*
 * A guest measured aside is measured at most every (guest RAM / 64 GiB) s
 * of its clock (VIRTIO_BALLOON_AUTO_ASIDE_MEASURE_BYTES_PER_S: 256 GiB,
 * every 4 s), or 19 times what a measurement took if that is longer
 * (VIRTIO_BALLOON_AUTO_ASIDE_MEASURE_PAUSE_FACTOR), counted from its end.
 * A host event past the throttle (1 s) but within the pause is acted on
 * at once with the last measurement, blind to what the guest wrote since;
 * the first after it measures again.  A reset ends the pause: the new
 * driver's first event measures at once.
 */
static void test_large_guest_measure_budget(void)
{
    g_autofree char *log = NULL;
    AutoGuest *g = large_guest_start(",auto-inflate-critical=4G", "256G",
                                     &log);
    int64_t pause, elapsed;
    uint32_t inflated;

    /* The 1 GiB ag_start() wrote, all of it */
    ag_inject(g, "critical");
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 1);
    pause = ag_trace_last_pause(log, &elapsed);
    g_assert_cmpint(pause, >=, 4 * SEC);
    g_assert_cmpint(pause, >=, elapsed * 19);
    g_test_message("first measurement: %" PRId64 " us, pause %" PRId64
                   " ms", elapsed / 1000, pause / 1000000);
    inflated = ag_target(g);
    g_assert_cmpuint(inflated, >=, MIB_PAGES(1000));
    g_assert_cmpuint(inflated, <=, MIB_PAGES(1024));
    ag_catch_up(g);

    /*
     * The guest writes another GiB; an event within the pause sees only
     * the first, all of it asked for already: nothing to gain
     */
    vba_fill_ram(g->qts, 1536 * MiB, GiB, 0x5a);
    ag_step(g, 2 * SEC);
    ag_inject(g, "critical");
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_STANDS), ==, 1);
    /* counted from the measurement's end, which came at the event's time */
    g_assert_cmpint(ag_trace_last_value(log, "measurement stands for"
                                        " another "), ==, pause - 2 * SEC);
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), ==, 1);
    g_assert_cmpuint(ag_target(g), ==, inflated);
    g_assert_cmpuint(ag_counter(g->qts, "not-resident"), ==, 1);
    g_assert_cmpuint(ag_counter(g->qts, "inflates"), ==, 1);

    /* Once the pause is over, the next event measures and sees it */
    ag_step(g, pause - 2 * SEC);
    ag_inject(g, "critical");
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), ==, 2);
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 2);
    g_assert_cmpuint(ag_target(g), >=, inflated + MIB_PAGES(1000));
    g_assert_cmpuint(ag_counter(g->qts, "inflates"), ==, 2);
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_STANDS), ==, 1);

    /* Within the new pause, a reset: the next event measures at once */
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'system_reset' }");
    ag_step(g, 2 * SEC);
    ag_inject(g, "critical");
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), ==, 3);
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 3);
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_STANDS), ==, 1);
    ag_stop(g);
    unlink(log);
}

/*
 * Wait for the job @id to end (its JOB_STATUS_CHANGE to "concluded"): it
 * must have no error; then dismiss it
 */
static void job_finish(QTestState *qts, const char *id)
{
    g_autoptr(QDict) rsp = NULL;
    QListEntry *e;

    for (;;) {
        g_autoptr(QDict) ev = qtest_qmp_eventwait_ref(qts,
                                                      "JOB_STATUS_CHANGE");
        QDict *data = qdict_get_qdict(ev, "data");

        if (!strcmp(qdict_get_str(data, "id"), id) &&
            !strcmp(qdict_get_str(data, "status"), "concluded")) {
            break;
        }
    }
    rsp = qtest_qmp(qts, "{ 'execute': 'query-jobs' }");
    QLIST_FOREACH_ENTRY(qdict_get_qlist(rsp, "return"), e) {
        QDict *j = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(j, "id"), id)) {
            g_assert_false(qdict_haskey(j, "error"));
        }
    }
    qtest_qmp_assert_success(qts, "{ 'execute': 'job-dismiss',"
                             " 'arguments': { 'id': %s } }", id);
}

/*
 * loadvm ends the pause after a measurement aside: the guest's state, RAM
 * and clock are the snapshot's (a real guest's clock goes back, which
 * would stretch a pause counted on it).  load_snapshot() resets the
 * machine before it loads, which ends the pause; post_load ends it again
 * (for an incoming migration, which does not reset): this fails only
 * without both.  A 256 GiB guest of RAM in a shared sparse file
 * (measured aside, pause 4 s), snapshotted to a qcow2 image made here,
 * without its RAM (x-ignore-shared: the file stays as it is; a memfd is
 * no named file, whose 256 GiB savevm would read).  The driver does
 * nothing between the snapshot and its load, so its queues stay the
 * device's.
 */
static void test_large_guest_loadvm_ends_pause(void)
{
    g_autofree char *dir = g_dir_make_tmp("auto-balloon-vm-XXXXXX", NULL);
    g_autofree char *img = g_build_filename(dir, "vm.qcow2", NULL);
    g_autofree char *ram = g_build_filename(dir, "ram", NULL);
    g_autofree char *log = ag_trace_log("loadvm");
    g_autofree char *args = NULL;
    AutoGuest *g;
    int64_t pause;

    args = g_strdup_printf(AUTO_ON " -m 256G -cpu qemu64,phys-bits=48"
                           " -object memory-backend-file,id=big,size=256G,"
                           "mem-path=%s,share=on -machine memory-backend=big"
                           " -trace enable=virtio_balloon_auto_resident*,"
                           "file=%s", ram, log);
    g = ag_start(args, false, -1);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'migrate-set-capabilities',"
                             " 'arguments': { 'capabilities': [ {"
                             " 'capability': 'x-ignore-shared',"
                             " 'state': true } ] } }");
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'blockdev-create',"
                             " 'arguments': { 'job-id': 'mkfile',"
                             " 'options': { 'driver': 'file',"
                             " 'filename': %s, 'size': 0 } } }", img);
    job_finish(g->qts, "mkfile");
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'blockdev-add',"
                             " 'arguments': { 'driver': 'file',"
                             " 'node-name': 'file0', 'filename': %s } }",
                             img);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'blockdev-create',"
                             " 'arguments': { 'job-id': 'mkqcow2',"
                             " 'options': { 'driver': 'qcow2',"
                             " 'file': 'file0', 'size': %" PRIu64 " } } }",
                             64 * MiB);
    job_finish(g->qts, "mkqcow2");
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'blockdev-add',"
                             " 'arguments': { 'driver': 'qcow2',"
                             " 'node-name': 'disk0', 'file': 'file0' } }");
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'snapshot-save',"
                             " 'arguments': { 'job-id': 'save',"
                             " 'tag': 'before', 'vmstate': 'disk0',"
                             " 'devices': [ 'disk0' ] } }");
    job_finish(g->qts, "save");

    /* A measurement aside, then its pause */
    ag_inject(g, "critical");
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 1);
    pause = ag_trace_last_pause(log, NULL);
    g_assert_cmpint(pause, >=, 4 * SEC);
    /* Within it, past the throttle: the measurement stands */
    ag_step(g, 2 * SEC);
    ag_inject(g, "critical");
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_STANDS), ==, 1);
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), ==, 1);

    qtest_qmp_assert_success(g->qts, "{ 'execute': 'snapshot-load',"
                             " 'arguments': { 'job-id': 'load',"
                             " 'tag': 'before', 'vmstate': 'disk0',"
                             " 'devices': [ 'disk0' ] } }");
    job_finish(g->qts, "load");
    /* Still within the pause by the clock, past the throttle: measures */
    ag_step(g, SEC + SEC / 10);
    g_assert_cmpint(2 * SEC + SEC + SEC / 10, <, pause);
    ag_inject(g, "critical");
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), ==, 2);
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 2);
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_STANDS), ==, 1);
    ag_stop(g);
    unlink(log);
    unlink(img);
    unlink(ram);
    rmdir(dir);
}

/*
 * A sample whose measurement stands (within the pause after a host
 * event's) uses none of the samples' budget
 * (VIRTIO_BALLOON_AUTO_SAMPLE_MEASURE_BYTES_PER_S, 4 s for 256 GiB): the
 * first sample once the pause is over is measured, 3 s after the one
 * that stood
 */
static void test_large_guest_sample_stands(void)
{
    g_autofree char *log = NULL;
    AutoGuest *g = large_guest_start("", "256G", &log);
    Sample x = healthy();
    int64_t pause;

    ag_inject(g, "critical");
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 1);
    pause = ag_trace_last_pause(log, NULL);
    g_assert_cmpint(pause, >=, 4 * SEC);

    ag_step(g, SEC);
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_counter(g->qts, "stats-samples"), ==, 1);
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_STANDS), ==, 1);
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), ==, 1);

    ag_step(g, pause - SEC);
    g->stats_addr = 0;
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_counter(g->qts, "stats-samples"), ==, 2);
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), ==, 2);
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 2);
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_STANDS), ==, 1);
    ag_stop(g);
    unlink(log);
}

/*
 * A reset while host events wait for a large guest's measurement (1 TiB,
 * some 300 ms: longer than the three commands): they were for the old
 * driver, so nothing is inflated, and they count as ignored (as when
 * switched off), not lost from the counters; the measurement is made
 * again, and its end starts no pause
 */
static void test_large_guest_reset_waiting(void)
{
    g_autofree char *log = NULL;
    AutoGuest *g = large_guest_start("", "1T", &log);

    ag_inject(g, "critical");
    ag_inject(g, "low");
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'system_reset' }");
    ag_wait_trace_lines(log, AG_RESIDENT_DONE, 1);
    /* What it measured was the old driver's guest: measured again */
    g_assert_cmpint(ag_trace_lines(log, AG_RESIDENT_START), ==, 2);
    g_assert_cmpint(ag_trace_lines(log, "was reset or loaded"), ==, 1);
    g_assert_cmpuint(ag_target(g), ==, 0);
    g_assert_cmpuint(ag_counter(g->qts, "host-events-critical") +
                     ag_counter(g->qts, "host-events-low"), ==, 2);
    g_assert_cmpuint(ag_counter(g->qts, "inflates"), ==, 0);
    ag_stop(g);
    unlink(log);
}

/* 2 s after a sample, 3 s before the next poll */
static void test_stats_refresh_on_pressure(void)
{
    stats_refresh_case(AUTO_ON, 2);
}

/*
 * The same with a polling interval the user chose, far longer than the
 * time a sample's residency bounds inflates (15 s): at 30 s, half-way to
 * the next poll, host pressure still gets a fresh sample.  This is why
 * that time is not scaled with the interval.
 */
static void test_stats_refresh_user_interval(void)
{
    stats_refresh_case(AUTO_ON ",guest-stats-polling-interval=60", 30);
}

/* Stats are polled every second while the balloon holds memory */
static void test_stats_fast_polling(void)
{
    AutoGuest *g = stats_guest_start("");
    Sample x = healthy();

    g_assert_cmpint(ag_poll_interval(g->qts), ==, 1);
    x.v[VIRTIO_BALLOON_S_AVAIL] = 10 * MiB;
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_target(g), ==, 0);
    ag_catch_up(g);
    g_assert_cmpint(ag_poll_interval(g->qts), ==, STATS_INTERVAL_S);
    ag_stop(g);

    /* An interval the user chose is left alone */
    g = stats_guest_start(",guest-stats-polling-interval=7");
    g_assert_cmpint(ag_poll_interval(g->qts), ==, 7);
    ag_stop(g);

    /*
     * Fast polling is automatic mode's: switched off with memory in the
     * balloon, the normal interval is back; switched on, fast again
     */
    g = stats_guest_start("");
    g_assert_cmpint(ag_poll_interval(g->qts), ==, 1);
    ag_set_enabled(g->qts, false);
    g_assert_cmpint(ag_poll_interval(g->qts), ==, STATS_INTERVAL_S);
    ag_set_enabled(g->qts, true);
    g_assert_cmpint(ag_poll_interval(g->qts), ==, 1);
    ag_stop(g);
}

/* After the relief interval without host pressure, the balloon empties */
static void test_relief(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-relief-ms=10000", false, -1);
    int i;

    ag_inject(g, "critical");
    ag_catch_up(g);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL);
    ag_step(g, 9 * SEC);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL);
    ag_step(g, SEC);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL - (16 * MiB >> 12));
    for (i = 0; i < 7; i++) {
        ag_step(g, SEC);
    }
    g_assert_cmpuint(ag_target(g), ==, 0);
    g_assert_cmpuint(ag_counter(g->qts, "reliefs"), ==, 8);
    ag_stop(g);
}

/*
 * Host memory watermarks: the qtest source reports what the test
 * injects.  Limit 4000 MiB: high watermark 3600 MiB, low 3200 MiB.
 */
#define WM_LIMIT    (4000 * MiB)

static void wm_used(AutoGuest *g, uint64_t used_mib)
{
    ag_inject_memory(g, used_mib * MiB, WM_LIMIT, WM_LIMIT - used_mib * MiB);
}

static QDict *wm_host_memory(AutoGuest *g)
{
    QDict *info = ag_query(g->qts);
    QDict *m = qdict_get_qdict(info, "host-memory");

    if (m) {
        qobject_ref(m);
    }
    qobject_unref(info);
    return m;
}

/* A malformed memory state is refused and leaves the last one in place */
static void test_inject_memory_bad(void)
{
    static const char *const bad[] = {
        "-1 4194304000 0", "1 2", "1 2 3 4", "1 2 3x", "1  2 3", "0x10 2 3",
        "18446744073709551616 2 3", " 1 2 3", "+1 +2 +3", "\t1 2 3",
        /* more used or available than the limit: no kernel says so */
        "5000 100 0", "10 100 1000",
    };
    AutoGuest *g = ag_start(AUTO_ON, false, -1);
    QDict *m;
    size_t i;

    wm_used(g, 100);
    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        g_autoptr(QDict) rsp = qtest_qmp(g->qts,
            "{ 'execute': 'qom-set', 'arguments': { 'path': %s,"
            " 'property': 'x-inject-host-memory', 'value': %s } }",
            BACKEND, bad[i]);
        QDict *err = qdict_get_qdict(rsp, "error");

        g_assert_nonnull(err);
        g_assert_nonnull(strstr(qdict_get_str(err, "desc"),
                                "expects 'USAGE LIMIT AVAILABLE'"));
    }
    m = wm_host_memory(g);
    g_assert_cmpint(qdict_get_int(m, "usage"), ==, 100 * MiB);
    g_assert_cmpint(qdict_get_int(m, "limit"), ==, WM_LIMIT);
    qobject_unref(m);
    ag_stop(g);

    /* Only the qtest source reports what the test injects */
    g = ag_start("automatic=on,auto-source=none", false, -1);
    {
        g_autoptr(QDict) rsp = qtest_qmp(g->qts,
            "{ 'execute': 'qom-set', 'arguments': { 'path': %s,"
            " 'property': 'x-inject-host-memory', 'value': '1 2 1' } }",
            BACKEND);

        assert_error_has(rsp, "auto-source=qtest");
    }
    ag_stop(g);
}

/*
 * The test hooks refuse a value they do not take with a message that
 * quotes a short one and gives a long one's length only, and change
 * nothing.
 */
static void test_inject_value_refused(void)
{
    static const char *const hooks[] = {
        "x-inject-host-pressure", "x-inject-host-memory",
    };
    AutoGuest *g = ag_start(AUTO_ON, false, -1);
    g_autofree char *huge = g_strnfill(100 * KiB, 'x');
    g_autoptr(QDict) before = NULL;
    g_autoptr(QDict) after = NULL;
    g_autoptr(GString) b = NULL;
    g_autoptr(GString) a = NULL;
    size_t i;

    wm_used(g, 100);
    before = ag_query(g->qts);
    for (i = 0; i < ARRAY_SIZE(hooks); i++) {
        g_autofree char *expects = g_strdup_printf(
            "'%s' expects %s", hooks[i],
            i ? "'USAGE LIMIT AVAILABLE' in bytes or ''" :
            "low, medium or critical");
        g_autofree char *want_short = g_strdup_printf("%s, not 'high'",
                                                      expects);
        g_autofree char *want_long = g_strdup_printf(
            "%s, not a value of 102400 bytes", expects);
        g_autoptr(QDict) rsp = NULL;
        g_autoptr(QDict) rsp2 = NULL;

        rsp = qtest_qmp(g->qts, "{ 'execute': 'qom-set', 'arguments':"
                        " { 'path': %s, 'property': %s, 'value': 'high' } }",
                        BACKEND, hooks[i]);
        g_assert_cmpstr(qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"),
                        ==, want_short);
        rsp2 = qtest_qmp(g->qts, "{ 'execute': 'qom-set', 'arguments':"
                         " { 'path': %s, 'property': %s, 'value': %s } }",
                         BACKEND, hooks[i], huge);
        g_assert_cmpstr(qdict_get_str(qdict_get_qdict(rsp2, "error"),
                                      "desc"), ==, want_long);
    }
    after = ag_query(g->qts);
    b = qobject_to_json(QOBJECT(before));
    a = qobject_to_json(QOBJECT(after));
    g_assert_cmpstr(a->str, ==, b->str);
    ag_stop(g);
}

/* Above the high watermark the balloon inflates with no host event */
static void test_watermark_inflate(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-relief-ms=10000", false, -1);
    QDict *m;

    g_assert_null(wm_host_memory(g));
    /* Below the watermark: nothing, however long */
    wm_used(g, 3500);
    m = wm_host_memory(g);
    g_assert_cmpint(qdict_get_int(m, "usage"), ==, 3500 * MiB);
    g_assert_cmpint(qdict_get_int(m, "limit"), ==, WM_LIMIT);
    g_assert_cmpint(qdict_get_int(m, "available"), ==, 500 * MiB);
    g_assert_true(qdict_get_bool(m, "own-limit"));
    g_assert_false(qdict_get_bool(m, "above-high-watermark"));
    g_assert_false(qdict_get_bool(m, "below-low-watermark"));
    qobject_unref(m);
    ag_step(g, 60 * SEC);
    g_assert_cmpuint(ag_target(g), ==, 0);

    /* 100 MiB above: that much at once, then no more while in flight */
    wm_used(g, 3700);
    m = wm_host_memory(g);
    g_assert_true(qdict_get_bool(m, "above-high-watermark"));
    qobject_unref(m);
    ag_step(g, 1);
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(100));
    g_assert_cmpuint(ag_counter(g->qts, "watermark-inflates"), ==, 1);
    g_assert_cmpuint(ag_counter(g->qts, "inflates"), ==, 1);
    g_assert_cmpuint(ag_counter(g->qts, "host-events-low") +
                     ag_counter(g->qts, "host-events-medium") +
                     ag_counter(g->qts, "host-events-critical"), ==, 0);
    ag_step(g, 5 * SEC);
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(100));
    /* The guest gave it; the host is still 50 MiB above: 50 more */
    ag_catch_up(g);
    wm_used(g, 3650);
    ag_step(g, SEC);
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(150));
    ag_catch_up(g);

    /* Between the watermarks: relief is held back */
    wm_used(g, 3400);
    ag_step(g, 11 * SEC);
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(150));
    g_assert_cmpuint(ag_counter(g->qts, "reliefs"), ==, 0);
    g_assert_cmpuint(ag_counter(g->qts, "relief-held"), >=, 1);
    /* Below the low watermark: relief steps */
    wm_used(g, 3000);
    ag_step(g, SEC);
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(150 - 16));
    g_assert_cmpuint(ag_counter(g->qts, "reliefs"), ==, 1);
    ag_stop(g);
}

/*
 * auto-source=none: nothing tells whether the host has recovered, so the
 * balloon gets no relief until a source is attached; from then on relief
 * counts from the attachment.
 */
static void test_relief_no_source(void)
{
    AutoGuest *g = ag_start("automatic=on,auto-source=none,"
                            "auto-relief-ms=10000", false, -1);
    g_autoptr(QDict) info = ag_query(g->qts);

    g_assert_cmpstr(qdict_get_str(info, "source"), ==, "none");
    g_assert_cmpstr(qdict_get_str(info, "backend"), ==, "none");
    ag_inject(g, "critical");
    ag_catch_up(g);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL);
    ag_step(g, 60 * SEC);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL);
    g_assert_cmpuint(ag_counter(g->qts, "reliefs"), ==, 0);

    qtest_qmp_assert_success(g->qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'source': 'qtest' } }");
    qobject_unref(info);
    info = ag_query(g->qts);
    g_assert_cmpstr(qdict_get_str(info, "backend"), ==, "test");
    ag_step(g, 9 * SEC);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL);
    ag_step(g, SEC);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL - (16 * MiB >> 12));
    g_assert_cmpuint(ag_counter(g->qts, "reliefs"), ==, 1);
    ag_stop(g);
}

/*
 * A guest with nothing to spare above its reserve gives nothing (after
 * the one medium step of stats_guest_start())
 */
static void test_watermark_no_spare(void)
{
    AutoGuest *g = stats_guest_start("");
    Sample x = healthy();

    /* Available exactly the reserve (128 MiB): nothing to spare */
    x.v[VIRTIO_BALLOON_S_AVAIL] = 128 * MiB;
    ag_send_stats(g, x.v);
    wm_used(g, 4000);
    ag_step(g, SEC);
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);
    g_assert_cmpuint(ag_counter(g->qts, "watermark-inflates"), ==, 0);
    /* It frees 40 MiB: those, no more */
    x.v[VIRTIO_BALLOON_S_AVAIL] = 168 * MiB;
    ag_send_stats(g, x.v);
    ag_step(g, SEC);
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM + MIB_PAGES(40));
    g_assert_cmpuint(ag_counter(g->qts, "watermark-inflates"), ==, 1);
    ag_stop(g);
}

/* The watermarks as properties and set-auto-balloon arguments */
/*
 * auto-memory-source: the memory state is read from that directory (here
 * one laid out like a cgroup v1 memcg), not from the source, which for
 * the qtest source would be what the test injects.  A directory that is
 * not readable as one is refused at creation, naming the property.
 */
static void mem_write(const char *dir, const char *file, const char *text)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void test_memory_source(void)
{
    g_autofree char *dir = g_dir_make_tmp("balloon-memsrc-XXXXXX", NULL);
    g_autofree char *props = g_strdup_printf(AUTO_ON ",auto-memory-source=%s",
                                             dir);
    const char *const files[] = {
        "memory.usage_in_bytes", "memory.limit_in_bytes", "memory.stat",
    };
    AutoGuest *g;
    QTestState *qts;
    QDict *m, *rsp;
    int i;

    mem_write(dir, files[0], "104857600\n");     /* 100 MiB */
    mem_write(dir, files[1], "268435456\n");     /* 256 MiB */
    mem_write(dir, files[2], "total_inactive_file 0\n");
    g = ag_start(props, false, -1);
    /* Read at creation; the injected state does not count */
    ag_inject_memory(g, 10 * MiB, WM_LIMIT, WM_LIMIT - 10 * MiB);
    m = wm_host_memory(g);
    g_assert_nonnull(m);
    g_assert_cmpint(qdict_get_int(m, "usage"), ==, 100 * MiB);
    g_assert_cmpint(qdict_get_int(m, "limit"), ==, 256 * MiB);
    g_assert_true(qdict_get_bool(m, "own-limit"));
    g_assert_false(qdict_get_bool(m, "above-high-watermark"));
    qobject_unref(m);
    /* Above 90 %: a host event reads it again, the watermark applies */
    mem_write(dir, files[0], "251658240\n");     /* 240 MiB */
    ag_inject(g, "low");
    m = wm_host_memory(g);
    g_assert_cmpint(qdict_get_int(m, "usage"), ==, 240 * MiB);
    g_assert_true(qdict_get_bool(m, "above-high-watermark"));
    qobject_unref(m);
    ag_stop(g);

    for (i = 0; i < ARRAY_SIZE(files); i++) {
        g_autofree char *path = g_build_filename(dir, files[i], NULL);

        unlink(path);
    }
    qts = qtest_init("-nodefaults");
    rsp = qtest_qmp(qts, "{ 'execute': 'device_add', 'arguments':"
                    " { 'driver': 'virtio-balloon-pci', 'id': 'balloon0',"
                    " 'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-memory-source': %s } }", dir);
    g_assert_true(qdict_haskey(rsp, "error"));
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"), "auto-memory-source"));
    qobject_unref(rsp);
    qtest_quit(qts);
    rmdir(dir);
}

static void test_watermark_tunables(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-high-watermark-pct=95,"
                            "auto-low-watermark-pct=70", false, -1);
    QDict *info = ag_query(g->qts);
    QDict *t = qdict_get_qdict(info, "tunables");
    g_autofree char *hmp = NULL;
    QDict *rsp;

    g_assert_cmpint(qdict_get_int(t, "high-watermark-pct"), ==, 95);
    g_assert_cmpint(qdict_get_int(t, "low-watermark-pct"), ==, 70);
    qobject_unref(info);
    /* 3700 of 4000 is below 95 % */
    wm_used(g, 3700);
    ag_step(g, SEC);
    g_assert_cmpuint(ag_target(g), ==, 0);
    hmp = qtest_hmp(g->qts, "info auto-balloon");
    g_assert_nonnull(strstr(hmp, "watermarks: high 95 %, low 70 %"));
    g_assert_nonnull(strstr(hmp, "source memory: usage 3700 MiB, limit"
                            " 4000 MiB, available 300 MiB, above low"
                            " watermark"));
    /* 90 % again: above it, at once */
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'high-watermark-pct': 90 } }");
    ag_step(g, SEC);
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(100));
    /* Off */
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'high-watermark-pct': 0 } }");
    ag_catch_up(g);
    wm_used(g, 4000);
    ag_step(g, 5 * SEC);
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(100));
    /* Refused, named as written, nothing changed */
    rsp = qtest_qmp(g->qts, "{ 'execute': 'set-auto-balloon', 'arguments':"
                    " { 'high-watermark-pct': 80,"
                    " 'low-watermark-pct': 80 } }");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"),
                            "'low-watermark-pct' is 80 %"));
    qobject_unref(rsp);
    info = ag_query(g->qts);
    t = qdict_get_qdict(info, "tunables");
    g_assert_cmpint(qdict_get_int(t, "high-watermark-pct"), ==, 0);
    qobject_unref(info);
    ag_stop(g);
}

static int64_t shares_of(AutoGuest *g)
{
    g_autoptr(QDict) info = ag_query(g->qts);

    return qdict_get_int(qdict_get_qdict(info, "tunables"), "shares");
}

/*
 * Shares scale what host pressure takes (1000 / shares times what a
 * default guest gives, within the same bounds): the property, the
 * set-auto-balloon argument, the query field, HMP and the error
 */
static void test_shares(void)
{
    AutoGuest *d = ag_start(AUTO_ON, false, -1);
    AutoGuest *g = ag_start(AUTO_ON ",auto-shares=2000", false, -1);
    Sample x = healthy();
    g_autofree char *hmp = NULL;
    QDict *rsp;

    g_assert_cmpint(shares_of(d), ==, 1000);
    g_assert_cmpint(shares_of(g), ==, 2000);
    hmp = qtest_hmp(g->qts, "info auto-balloon");
    g_assert_nonnull(strstr(hmp, "shares: 2000"));
    g_assert_null(strstr(hmp, "never inflates"));
    /* Before statistics: the step, halved */
    ag_inject(d, "critical");
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(d), ==, STEP_CRITICAL);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL / 2);
    ag_catch_up(d);
    ag_catch_up(g);
    /*
     * 40 MiB to spare above the 128 MiB reserve: 40 and 20 MiB.  The
     * second sample comes a poll interval later, past the throttle.
     */
    x.v[VIRTIO_BALLOON_S_AVAIL] = 168 * MiB;
    ag_send_stats(d, x.v);
    ag_send_stats(g, x.v);
    ag_send_stats(d, x.v);
    ag_send_stats(g, x.v);
    ag_inject(d, "critical");
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(d), ==, STEP_CRITICAL + MIB_PAGES(40));
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL / 2 + MIB_PAGES(20));
    ag_catch_up(g);
    ag_stop(d);

    /* 500: twice the 50 MiB deficit above the high watermark */
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'shares': 500 } }");
    g_assert_cmpint(shares_of(g), ==, 500);
    x.v[VIRTIO_BALLOON_S_AVAIL] = 600 * MiB;
    ag_send_stats(g, x.v);
    wm_used(g, 3650);
    ag_step(g, 1);
    g_assert_cmpuint(ag_target(g), ==,
                     STEP_CRITICAL / 2 + MIB_PAGES(20 + 100));
    ag_catch_up(g);

    /* 0: host pressure never inflates; relief still gives back */
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'shares': 0,"
                             " 'relief-ms': 5000 } }");
    ag_send_stats(g, x.v);
    ag_inject(g, "critical");
    g_assert_cmpuint(ag_target(g), ==,
                     STEP_CRITICAL / 2 + MIB_PAGES(120));
    g_assert_cmpuint(ag_counter(g->qts, "watermark-inflates"), ==, 1);
    g_free(hmp);
    hmp = qtest_hmp(g->qts, "info auto-balloon");
    g_assert_nonnull(strstr(hmp, "shares: 0 (host pressure never"
                            " inflates)"));
    wm_used(g, 3000);
    ag_step(g, 6 * SEC);
    g_assert_cmpuint(ag_target(g), <, STEP_CRITICAL / 2 + MIB_PAGES(120));
    g_assert_cmpuint(ag_counter(g->qts, "reliefs"), >=, 1);

    /* Out of range: refused, named as written, nothing changed */
    rsp = qtest_qmp(g->qts, "{ 'execute': 'set-auto-balloon', 'arguments':"
                    " { 'shares': 50001 } }");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"),
                    ==, "'shares' is 50001; it must be between 0 (never"
                    " inflated for host pressure) and 50000 (default"
                    " 1000)");
    qobject_unref(rsp);
    g_assert_cmpint(shares_of(g), ==, 0);
    ag_stop(g);
}

/*
 * automatic=on offers deflate-on-oom and free page reporting unless the
 * user set them, on the device or with -global
 */
static void test_features_default(void)
{
    static const struct {
        const char *props;
        bool doom, reporting;
    } cases[] = {
        { AUTO_ON, true, true },
        { AUTO_ON ",deflate-on-oom=off", false, true },
        { AUTO_ON ",deflate-on-oom=on", true, true },
        { AUTO_ON ",free-page-reporting=off", true, false },
        { AUTO_ON ",free-page-reporting=on", true, true },
        { AUTO_ON ",deflate-on-oom=off,free-page-reporting=off",
          false, false },
        { AUTO_ON " -global virtio-balloon-device.free-page-reporting=off",
          true, false },
        { "", false, false },
    };
    int i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        AutoGuest *g = ag_start(cases[i].props, false, -1);

        g_assert_cmpint(!!(g->features &
                           (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM)), ==,
                        cases[i].doom);
        g_assert_cmpint(!!(g->features &
                           (1ull << VIRTIO_BALLOON_F_REPORTING)), ==,
                        cases[i].reporting);
        ag_stop(g);
    }
}

/* Rising counters: an OOM kill, allocation stalls, both tunable */
static void test_stats_counters(void)
{
    AutoGuest *g = stats_guest_start(",auto-stats-alloc-stall=100");
    Sample x = healthy();

    ag_send_stats(g, x.v);
    x.v[VIRTIO_BALLOON_S_ALLOC_STALL] += 99;    /* below the tuned 100 */
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);
    x.v[VIRTIO_BALLOON_S_OOM_KILL] += 1;
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_target(g), ==, 0);
    g_assert_cmpuint(ag_counter(g->qts, "guest-stats"), ==, 1);
    ag_stop(g);
}

/* A guest with the old tags only (no AVAIL, no stall counters) */
static void test_stats_old_tags(void)
{
    AutoGuest *g = stats_guest_start("");
    Sample x = healthy();
    int tag;

    for (tag = VIRTIO_BALLOON_S_AVAIL; tag < VIRTIO_BALLOON_S_NR; tag++) {
        x.v[tag] = STAT_ABSENT;
    }
    ag_send_stats(g, x.v);
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);
    /* 100 MiB swapped in within 5 s */
    x.v[VIRTIO_BALLOON_S_SWAP_IN] += 100 * MiB;
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_target(g), ==, 0);
    ag_stop(g);
}

/* Impossible stats are counted and change nothing */
static void test_stats_hostile(void)
{
    AutoGuest *g = stats_guest_start("");
    Sample x = healthy();
    QDict *info;

    ag_send_stats(g, x.v);
    x.v[VIRTIO_BALLOON_S_AVAIL] = 2 * x.v[VIRTIO_BALLOON_S_MEMTOT];
    x.v[VIRTIO_BALLOON_S_OOM_KILL] = UINT64_MAX;
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);
    g_assert_cmpuint(ag_counter(g->qts, "stats-hostile"), ==, 1);
    g_assert_cmpuint(ag_counter(g->qts, "guest-stats"), ==, 0);

    /*
     * Without MEMTOT the sizes are bounded by the guest's RAM (-m 1024):
     * all of it is believed, 2^62 bytes available are not
     */
    x = healthy();
    x.v[VIRTIO_BALLOON_S_MEMTOT] = STAT_ABSENT;
    x.v[VIRTIO_BALLOON_S_AVAIL] = 1024 * MiB;
    ag_send_stats(g, x.v);
    info = ag_query(g->qts);
    g_assert_cmpuint(qdict_get_int(info, "guest-available"), ==, 1024 * MiB);
    qobject_unref(info);
    x.v[VIRTIO_BALLOON_S_AVAIL] = 1ULL << 62;
    ag_send_stats(g, x.v);
    info = ag_query(g->qts);
    g_assert_false(qdict_haskey(info, "guest-available"));
    qobject_unref(info);
    g_assert_cmpuint(ag_counter(g->qts, "stats-hostile"), ==, 2);
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);
    ag_stop(g);
}

/*
 * The bound is the most RAM the machine can give the guest (maxmem), not
 * its boot RAM: memory devices, virtio-mem's too, grow MEMTOT past -m
 */
static void test_stats_bound_maxmem(void)
{
    AutoGuest *g = ag_start(AUTO_ON " -m 1024,slots=2,maxmem=2G", false,
                            -1);
    Sample x = healthy();
    QDict *info;

    x.v[VIRTIO_BALLOON_S_MEMTOT] = 1536 * MiB;
    x.v[VIRTIO_BALLOON_S_AVAIL] = 1200 * MiB;
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_counter(g->qts, "stats-hostile"), ==, 0);
    info = ag_query(g->qts);
    g_assert_cmpuint(qdict_get_int(info, "guest-available"), ==, 1200 * MiB);
    qobject_unref(info);
    /* All of maxmem is believed, a page more is not */
    x.v[VIRTIO_BALLOON_S_MEMTOT] = 2 * GiB;
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_counter(g->qts, "stats-hostile"), ==, 0);
    x.v[VIRTIO_BALLOON_S_MEMTOT] = 2 * GiB + 4096;
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_counter(g->qts, "stats-hostile"), ==, 1);
    ag_stop(g);
}

/* About 1000 runs of the inflate queue, see ag_send_huge() */
#define BUDGET_DESCS        64
#define BUDGET_VALID        1000
#define BUDGET_PAGES        ((uint64_t)BUDGET_DESCS * BUDGET_VALID)

static uint32_t budget_send(AutoGuest *g, uint64_t *addr)
{
    return ag_send_huge(g, BUDGET_DESCS, BUDGET_VALID, addr);
}

static int64_t budget_inflated_pages(AutoGuest *g)
{
    g_autoptr(QDict) info = ag_query(g->qts);

    return qdict_get_int(info, "inflated") / PAGE;
}

/* The element is not returned yet: the device is still at work */
static void budget_assert_busy(AutoGuest *g)
{
    uint32_t idx;

    g_assert_false(qvirtqueue_get_buf(g->qts, g->ivq, &idx, NULL));
    /* Automatic mode learns the pages when the element is finished */
    g_assert_cmpint(budget_inflated_pages(g), ==, 0);
}

static void budget_finish(AutoGuest *g, uint32_t head, uint64_t addr)
{
    int64_t start = g_get_monotonic_time();

    qvirtio_wait_used_elem(g->qts, g->vdev, g->ivq, head, NULL, TIMEOUT_US);
    g_test_message("element finished %" PRId64 " ms after the check",
                   (g_get_monotonic_time() - start) / 1000);
    /* Every valid page counted once, as without the bound */
    g_assert_cmpint(budget_inflated_pages(g), ==, BUDGET_PAGES);
    guest_free(&g->qs->alloc, addr);
}

/*
 * The monitor answers while the device works through a huge element,
 * between the runs of its bottom half, and the pages are all counted.
 */
static void test_budget_monitor(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    int64_t start = g_get_monotonic_time();
    uint64_t addr;
    uint32_t head = budget_send(g, &addr);
    QDict *rsp;

    g_test_message("kick returned after %" PRId64 " us",
                   g_get_monotonic_time() - start);
    start = g_get_monotonic_time();
    rsp = qtest_qmp(g->qts, "{ 'execute': 'query-status' }");
    g_assert_true(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    g_test_message("query-status answered in %" PRId64 " us",
                   g_get_monotonic_time() - start);
    budget_assert_busy(g);
    budget_finish(g, head, addr);
    ag_stop(g);
}

/*
 * Stopping the VM (as migration does before it saves the queues) gives
 * the element back; it is processed again from its start when the VM
 * runs, and its pages are not counted twice.
 */
static void test_budget_stop_cont(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    uint64_t addr;
    uint32_t head = budget_send(g, &addr);

    qtest_qmp_assert_success(g->qts, "{ 'execute': 'stop' }");
    budget_assert_busy(g);
    /* Nothing goes on while stopped */
    g_usleep(200 * 1000);
    budget_assert_busy(g);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'cont' }");
    budget_finish(g, head, addr);
    ag_stop(g);
}

/*
 * A driver that publishes an avail index more than the queue size ahead
 * of the device (it gave away the page of its own avail ring, which
 * reads back as zeros, or it is hostile) is broken: the device stops and
 * asks for a reset, instead of popping up to 65,535 stale entries that
 * each named the pages of the last real buffer again.
 */
static void test_budget_avail_ahead(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    uint32_t pfns[4] = { 0x50, 0x51, 0x52, 0x53 };
    uint16_t size = g->ivq->size, i, idx;
    int64_t deadline = g_get_monotonic_time() + TIMEOUT_US;
    uint64_t addr = guest_alloc(&g->qs->alloc, sizeof(pfns));
    uint32_t head;
    uint8_t status;

    for (i = 0; i < ARRAY_SIZE(pfns); i++) {
        pfns[i] = cpu_to_le32(pfns[i]);
    }
    qtest_memwrite(g->qts, addr, pfns, sizeof(pfns));
    head = qvirtqueue_add(g->qts, g->ivq, addr, sizeof(pfns), false, false);
    qvirtqueue_kick(g->qts, g->vdev, g->ivq, head);
    qvirtio_wait_used_elem(g->qts, g->vdev, g->ivq, head, NULL, TIMEOUT_US);
    g_assert_cmpint(budget_inflated_pages(g), ==, 4);

    /* Every slot of the avail ring names that buffer; the index jumps */
    for (i = 0; i < size; i++) {
        qtest_writew(g->qts, g->ivq->avail + 4 + 2 * i, head);
    }
    idx = qtest_readw(g->qts, g->ivq->avail + 2);
    qtest_writew(g->qts, g->ivq->avail + 2, idx + size + 1);
    g->vdev->bus->virtqueue_kick(g->vdev, g->ivq);
    do {
        status = g->vdev->bus->get_status(g->vdev);
    } while (!(status & VIRTIO_CONFIG_S_NEEDS_RESET) &&
             g_get_monotonic_time() < deadline);
    g_assert_cmphex(status & VIRTIO_CONFIG_S_NEEDS_RESET, ==,
                    VIRTIO_CONFIG_S_NEEDS_RESET);
    /* Nothing popped: the 4 pages counted once */
    g_assert_cmpint(budget_inflated_pages(g), ==, 4);
    guest_free(&g->qs->alloc, addr);
    ag_stop(g);
}

/* A reset in the middle drops the work; the device is usable after it */
static void test_budget_reset(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    uint64_t addr;
    uint32_t idx;

    budget_send(g, &addr);
    budget_assert_busy(g);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'system_reset' }");
    qtest_qmp_eventwait(g->qts, "RESET");
    g_assert_false(qvirtqueue_get_buf(g->qts, g->ivq, &idx, NULL));
    g_assert_cmpint(budget_inflated_pages(g), ==, 0);
    ag_stop(g);

    /* Same for a driver that writes status 0 */
    g = ag_start(AUTO_ON, true, MSG_VQ_OFFERED);
    budget_send(g, &addr);
    budget_assert_busy(g);
    qvirtio_reset(g->vdev);
    g_assert_cmpint(budget_inflated_pages(g), ==, 0);
    ag_stop(g);
}

/* A PID that ran a moment ago and runs no more */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    int status;

    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        _exit(0);
    }
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    return pid;
}

/*
 * What a killed test process left goes at the next run (review S7): the
 * sweep removes "qtest-auto-*-PID" entries of dead PIDs, of the suffix
 * asked for, and nothing else.  In a temporary directory, no root needed.
 */
static void test_helpers_sweep_stale(void)
{
    g_autofree char *dir = g_dir_make_tmp("sweep-XXXXXX", NULL);
    pid_t dead = dead_pid();
    g_autofree char *stale_dir = NULL, *stale_log = NULL, *live = NULL;
    g_autofree char *mine = NULL, *no_pid = NULL, *other = NULL;
    g_autofree char *full = NULL, *stale_txt = NULL;
    char *odd[4];
    size_t i;

    g_assert_nonnull(dir);
    stale_dir = g_strdup_printf("%s/qtest-auto-psi-%d", dir, dead);
    stale_log = g_strdup_printf("%s/qtest-auto-thr-%d.log", dir, dead);
    stale_txt = g_strdup_printf("%s/qtest-auto-thr-%d.txt", dir, dead);
    live = g_strdup_printf("%s/qtest-auto-psi-%d", dir, getppid());
    mine = g_strdup_printf("%s/qtest-auto-gone-%d", dir, getpid());
    no_pid = g_strdup_printf("%s/qtest-auto-psi-", dir);
    other = g_strdup_printf("%s/qemu-autoballoon-%d", dir, dead);
    full = g_strdup_printf("%s/qtest-auto-full-%d", dir, dead);
    g_assert_cmpint(mkdir(stale_dir, 0755), ==, 0);
    g_assert_cmpint(mkdir(live, 0755), ==, 0);
    g_assert_cmpint(mkdir(mine, 0755), ==, 0);
    g_assert_cmpint(mkdir(no_pid, 0755), ==, 0);
    g_assert_cmpint(mkdir(other, 0755), ==, 0);
    /* Not a PID after the last dash, or another user's: they stay */
    odd[0] = g_strdup_printf("%s/qtest-auto-psi- %d", dir, dead);
    odd[1] = g_strdup_printf("%s/qtest-auto-psi-+%d", dir, dead);
    odd[2] = g_strdup_printf("%s/qtest-auto-psi-99999999999999999999", dir);
    odd[3] = g_strdup_printf("%s/qtest-auto-nobody-%d", dir, dead);
    for (i = 0; i < ARRAY_SIZE(odd); i++) {
        g_assert_cmpint(mkdir(odd[i], 0755), ==, 0);
    }
    if (geteuid() == 0) {
        g_assert_cmpint(chown(odd[3], 65534, 65534), ==, 0);
    } else {
        g_assert_cmpint(rmdir(odd[3]), ==, 0);
    }
    /* A directory that cannot go (as a cgroup with a task in it) */
    g_assert_cmpint(mkdir(full, 0755), ==, 0);
    g_assert_true(g_file_set_contents(stale_log, "x", -1, NULL));
    g_assert_true(g_file_set_contents(stale_txt, "x", -1, NULL));
    {
        g_autofree char *inside = g_build_filename(full, "tasks", NULL);

        g_assert_true(g_file_set_contents(inside, "1", -1, NULL));
        g_assert_cmpint(ag_sweep_stale(dir, ""), ==, 1);
        g_assert_false(g_file_test(stale_dir, G_FILE_TEST_EXISTS));
        g_assert_true(g_file_test(full, G_FILE_TEST_IS_DIR));
        g_assert_true(g_file_test(stale_log, G_FILE_TEST_EXISTS));

        g_assert_cmpint(ag_sweep_stale(dir, ".log"), ==, 1);
        g_assert_false(g_file_test(stale_log, G_FILE_TEST_EXISTS));
        g_assert_true(g_file_test(stale_txt, G_FILE_TEST_EXISTS));
        g_assert_true(g_file_test(live, G_FILE_TEST_IS_DIR));
        g_assert_true(g_file_test(mine, G_FILE_TEST_IS_DIR));
        g_assert_true(g_file_test(no_pid, G_FILE_TEST_IS_DIR));
        g_assert_true(g_file_test(other, G_FILE_TEST_IS_DIR));
        /* (the other user's only as root, who can chown) */
        for (i = 0; i < ARRAY_SIZE(odd) - (geteuid() != 0); i++) {
            g_assert_true(g_file_test(odd[i], G_FILE_TEST_IS_DIR));
        }
        g_assert_cmpint(ag_sweep_stale(dir, ""), ==, 0);
        unlink(inside);
    }
    g_assert_cmpint(ag_sweep_stale(dir, ""), ==, 1);
    g_assert_false(g_file_test(full, G_FILE_TEST_EXISTS));
    unlink(stale_txt);
    for (i = 0; i < ARRAY_SIZE(odd); i++) {
        rmdir(odd[i]);
    }
    rmdir(live);
    rmdir(mine);
    rmdir(no_pid);
    rmdir(other);
    for (i = 0; i < ARRAY_SIZE(odd); i++) {
        g_free(odd[i]);
    }
    g_assert_cmpint(rmdir(dir), ==, 0);
}

/*
 * The same at a real memory cgroup root: a cgroup that a killed test
 * process left is gone once the next one makes its own
 */
static void test_real_sweep_stale_cgroup(void)
{
    g_autofree char *stale = NULL, *made = NULL;

    if (!real_cgroups_usable(false)) {
        return;
    }
    stale = g_strdup_printf(MEMCG_ROOT "/qtest-auto-killed-%d", dead_pid());
    g_assert_cmpint(mkdir(stale, 0755), ==, 0);
    made = ag_cgroup_make(MEMCG_ROOT, "sweeper");
    g_assert_false(g_file_test(stale, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(made, G_FILE_TEST_IS_DIR));
    g_assert_cmpint(rmdir(made), ==, 0);
}

int main(int argc, char **argv)
{
    int i;

    g_test_init(&argc, &argv, NULL);

    qtest_add_func("virtio-balloon-auto/off/query-balloon",
                   test_off_query_balloon);
    qtest_add_func("virtio-balloon-auto/off/unchanged", test_off_unchanged);
    qtest_add_func("virtio-balloon-auto/helpers/sweep-stale",
                   test_helpers_sweep_stale);
    qtest_add_func("virtio-balloon-auto/real/sweep-stale-cgroup",
                   test_real_sweep_stale_cgroup);
    qtest_add_func("virtio-balloon-auto/feature/default-off",
                   test_feature_default_off);
    qtest_add_func("virtio-balloon-auto/feature/offered",
                   test_feature_offered);
    qtest_add_func("virtio-balloon-auto/feature/queue-index",
                   test_queue_after_optional_queues);
    qtest_add_func("virtio-balloon-auto/feature/not-negotiated",
                   test_feature_not_negotiated);
    qtest_add_func("virtio-balloon-auto/inflate/level-steps",
                   test_level_steps);
    qtest_add_func("virtio-balloon-auto/inflate/tunable-steps",
                   test_tunable_steps);
    qtest_add_func("virtio-balloon-auto/inflate/throttle", test_throttle);
    qtest_add_func("virtio-balloon-auto/budget/monitor", test_budget_monitor);
    qtest_add_func("virtio-balloon-auto/budget/stop-cont",
                   test_budget_stop_cont);
    qtest_add_func("virtio-balloon-auto/budget/reset", test_budget_reset);
    qtest_add_func("virtio-balloon-auto/budget/avail-ahead",
                   test_budget_avail_ahead);
    qtest_add_func("virtio-balloon-auto/inflate/coalesce-storm",
                   test_coalesce_storm);
    qtest_add_func("virtio-balloon-auto/inflate/no-pile-up",
                   test_no_pile_up);
    qtest_add_func("virtio-balloon-auto/inflate/floor", test_floor);
    qtest_add_func("virtio-balloon-auto/inflate/stalled-guest",
                   test_stalled_guest);
    qtest_add_func("virtio-balloon-auto/inflate/honest-guest",
                   test_honest_guest);
    qtest_add_func("virtio-balloon-auto/inflate/lying-guest",
                   test_lying_guest);
    qtest_add_func("virtio-balloon-auto/inflate/unbacked-slack",
                   test_unbacked_slack);
    qtest_add_func("virtio-balloon-auto/inflate/lying-guest-while-off",
                   test_lying_guest_while_off);
    qtest_add_func("virtio-balloon-auto/guest/message-deflates",
                   test_message_deflates);
    qtest_add_func("virtio-balloon-auto/guest/message-level",
                   test_message_level);
    qtest_add_func("virtio-balloon-auto/guest/message-cancels",
                   test_message_cancels);
    qtest_add_func("virtio-balloon-auto/guest/hysteresis", test_hysteresis);
    qtest_add_func("virtio-balloon-auto/guest/initiated-deflate",
                   test_guest_initiated_deflate);
    qtest_add_func("virtio-balloon-auto/guest/malformed-messages",
                   test_malformed_messages);
    qtest_add_func("virtio-balloon-auto/guest/hostile-actual",
                   test_hostile_actual);
    qtest_add_func("virtio-balloon-auto/guest/dimm-plugged",
                   test_dimm_plugged);
    qtest_add_func("virtio-balloon-auto/guest/dimm-plugged-no-query",
                   test_dimm_plugged_no_query);
    qtest_add_func("virtio-balloon-auto/guest/dimm-unplugged",
                   test_dimm_unplugged);
    qtest_add_func("virtio-balloon-auto/guest/dimm-unplugged-deflates",
                   test_dimm_unplugged_deflates);
    qtest_add_func("virtio-balloon-auto/guest/dimm-unplugged-stopped",
                   test_dimm_unplugged_stopped);
    qtest_add_func("virtio-balloon-auto/guest/reset", test_reset);
    qtest_add_func("virtio-balloon-auto/config/errors", test_bad_config);
    qtest_add_func("virtio-balloon-auto/config/props-need-automatic",
                   test_props_need_automatic);
    qtest_add_func("virtio-balloon-auto/config/default-ram",
                   test_default_ram);
    for (i = 0; i < ARRAY_SIZE(default_sizes); i++) {
        g_autofree char *path =
            g_strdup_printf("virtio-balloon-auto/config/default-sizes/%s",
                            default_sizes[i].name);

        qtest_add_data_func(path, &default_sizes[i], test_default_sizes);
    }
    qtest_add_func("virtio-balloon-auto/config/default-command-line",
                   test_default_command_line);
    qtest_add_func("virtio-balloon-auto/real/memcg-vmpressure",
                   test_real_memcg_pressure);
    qtest_add_func("virtio-balloon-auto/stats/polling-default",
                   test_stats_polling_default);
    qtest_add_func("virtio-balloon-auto/stats/quiet", test_stats_quiet);
    qtest_add_func("virtio-balloon-auto/stats/low-available",
                   test_stats_low_available);
    qtest_add_func("virtio-balloon-auto/stats/counters", test_stats_counters);
    qtest_add_func("virtio-balloon-auto/stats/free-first",
                   test_stats_free_first);
    qtest_add_func("virtio-balloon-auto/stats/full-healthy",
                   test_stats_full_healthy);
    qtest_add_func("virtio-balloon-auto/stats/measure-large-guest",
                   test_stats_measure_large_guest);
    qtest_add_func("virtio-balloon-auto/resident-inline-max",
                   test_resident_inline_max);
    qtest_add_func("virtio-balloon-auto/large-guest-measured-aside",
                   test_large_guest_measured_aside);
    qtest_add_func("virtio-balloon-auto/large-guest-sample-stands",
                   test_large_guest_sample_stands);
    qtest_add_func("virtio-balloon-auto/large-guest-measure-budget",
                   test_large_guest_measure_budget);
    qtest_add_func("virtio-balloon-auto/large-guest-loadvm-ends-pause",
                   test_large_guest_loadvm_ends_pause);
    qtest_add_func("virtio-balloon-auto/large-guest-reset-waiting",
                   test_large_guest_reset_waiting);
    qtest_add_func("virtio-balloon-auto/stats/fast-polling",
                   test_stats_fast_polling);
    qtest_add_func("virtio-balloon-auto/relief/to-empty", test_relief);
    qtest_add_func("virtio-balloon-auto/watermark/inject-bad",
                   test_inject_memory_bad);
    qtest_add_func("virtio-balloon-auto/inject/value-refused",
                   test_inject_value_refused);
    qtest_add_func("virtio-balloon-auto/watermark/inflate",
                   test_watermark_inflate);
    qtest_add_func("virtio-balloon-auto/watermark/no-spare",
                   test_watermark_no_spare);
    qtest_add_func("virtio-balloon-auto/watermark/tunables",
                   test_watermark_tunables);
    qtest_add_func("virtio-balloon-auto/shares/scale-target", test_shares);
    qtest_add_func("virtio-balloon-auto/watermark/memory-source",
                   test_memory_source);
    qtest_add_func("virtio-balloon-auto/config/features-default",
                   test_features_default);
    qtest_add_func("virtio-balloon-auto/relief/no-source",
                   test_relief_no_source);
    qtest_add_func("virtio-balloon-auto/stats/old-tags", test_stats_old_tags);
    qtest_add_func("virtio-balloon-auto/stats/hostile", test_stats_hostile);
    qtest_add_func("virtio-balloon-auto/stats/bound-maxmem",
                   test_stats_bound_maxmem);
    qtest_add_func("virtio-balloon-auto/config/discard-pinning-refused",
                   test_discard_pinning_refused);
    qtest_add_func("virtio-balloon-auto/config/discard-released-while-off",
                   test_discard_released_while_off);
    qtest_add_func("virtio-balloon-auto/config/mem-lock-refused",
                   test_mem_lock_refused);
    qtest_add_func("virtio-balloon-auto/config/hugetlb-refused",
                   test_hugetlb_refused);
    qtest_add_func("virtio-balloon-auto/config/readonly-refused",
                   test_readonly_refused);
    qtest_add_func("virtio-balloon-auto/config/hugetlb-dimm-refused",
                   test_hugetlb_dimm_refused);
    qtest_add_func("virtio-balloon-auto/config/failed-realize-unregisters",
                   test_failed_realize_unregisters);
    qtest_add_func("virtio-balloon-auto/stats/refresh-on-pressure",
                   test_stats_refresh_on_pressure);
    qtest_add_func("virtio-balloon-auto/stats/refresh-user-interval",
                   test_stats_refresh_user_interval);
    qtest_add_func("virtio-balloon-auto/real/psi",
                   test_real_psi_pressure);
    qtest_add_func("virtio-balloon-auto/real/threshold-follows-source",
                   test_real_threshold_follows_source);
    qtest_add_func("virtio-balloon-auto/real/threshold-while-off",
                   test_real_threshold_while_off);
    qtest_add_func("virtio-balloon-auto/stats/flood-budget",
                   test_stats_flood_budget);
    qtest_add_func("virtio-balloon-auto/real/unplug-releases",
                   test_unplug_releases);
    if (g_test_perf()) {
        qtest_add_func("virtio-balloon-auto/bench/event-latency",
                       bench_event_latency);
        qtest_add_func("virtio-balloon-auto/bench/resident",
                       bench_resident_hold);
        qtest_add_func("virtio-balloon-auto/bench/event-storm",
                       bench_event_storm);
        qtest_add_func("virtio-balloon-auto/bench/aside-duty",
                       bench_aside_duty);
        qtest_add_func("virtio-balloon-auto/bench/plug-cycles",
                       bench_plug_cycles);
    }

    return g_test_run();
}
