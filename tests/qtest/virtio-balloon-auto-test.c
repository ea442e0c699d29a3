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
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "libqos/libqos-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "libqos/pci.h"
#include "standard-headers/linux/virtio_balloon.h"
#include "standard-headers/linux/virtio_config.h"
#include "virtio-balloon-auto-guest.h"
#include <sys/syscall.h>
#include <sys/prctl.h>

/* The feature is offered only with automatic=on; the queue index rule. */
static void test_feature_offered(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, 3);

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
    /* With free page reporting offered, the message queue is index 4 */
    AutoGuest *g = ag_start(AUTO_ON ",free-page-reporting=on", true, 4);

    ag_inject(g, "low");
    ag_catch_up(g);
    ag_send_pressure(g);
    g_assert_cmpuint(ag_target(g), ==, 0);
    ag_stop(g);
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
    AutoGuest *g = ag_start(AUTO_ON, true, 3);
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
    AutoGuest *g = ag_start(AUTO_ON ",auto-inflate-low=1M", true, 3);

    ag_inject(g, "low");
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(1));
    ag_stop(g);
}

/* At most one inflate per throttle interval; the timer does the rest. */
static void test_throttle(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, 3);

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
    AutoGuest *g = ag_start(AUTO_ON, true, 3);
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
    AutoGuest *g = ag_start(AUTO_ON, true, 3);

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
    AutoGuest *g = ag_start(AUTO_ON, true, 3);

    ag_inject(g, "critical");
    ag_catch_up(g);
    ag_send_pressure(g);
    g_assert_cmpuint(ag_target(g), ==, STEP_CRITICAL - STEP_DEFLATE);
    ag_stop(g);
}

/* A guest message during an inflate cancels it: target back to actual */
static void test_message_cancels(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, 3);

    ag_inject(g, "critical");
    ag_set_actual(g, 1000);
    ag_send_pressure(g);
    g_assert_cmpuint(ag_target(g), ==, 1000);
    ag_stop(g);
}

/* Guest pressure opens a window in which host pressure does not inflate */
static void test_hysteresis(void)
{
    AutoGuest *g = ag_start(AUTO_ON ",auto-hysteresis-ms=10000", true, 3);

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
                               "auto-floor=700M", true, 3);

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
    AutoGuest *g = ag_start(AUTO_ON, true, 3);

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
    AutoGuest *g = ag_start(AUTO_ON ",auto-stall-ms=5000", true, 3);

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

/* A device reset (reboot, driver reload) starts from a clean state */
static void test_reset(void)
{
    AutoGuest *g = ag_start(AUTO_ON, true, 3);

    ag_inject(g, "critical");
    ag_send_pressure(g);
    qvirtio_reset(g->vdev);
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
    AutoGuest *g = ag_start(AUTO_ON, true, 3);
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
    AutoGuest *g = ag_start(AUTO_ON, true, 3);

    ag_inject(g, "low");
    ag_set_actual(g, 0xffffffff);
    g_assert_cmpuint(ag_target(g), ==, STEP_LOW);
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
    QTestState *qts = qtest_init("-m 512 -nodefaults");

    check_add_fails(qts, "'automatic': true, 'auto-source': '/nonexistent'",
                    "/nonexistent");
    check_add_fails(qts, "'automatic': true, 'auto-source': '/tmp'",
                    "/tmp");
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-inflate-low': 0", "inflate");
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-deflate': 0", "deflate");
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-floor': 1073741824", "floor");
    check_add_fails(qts, "'automatic': true, 'auto-source': 'qtest',"
                    " 'auto-stall-ms': 0", "stall");
    /* Nothing was left behind: a good device can still be added */
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments':"
                             " { 'driver': 'virtio-balloon-pci', 'id': 'b',"
                             " 'automatic': true, 'auto-source': 'qtest' } }");
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

/*
 * Start QEMU watching @source, run a hog in @memcg (and @cgroup2) and
 * wait until real host pressure raised the target.  Returns the target.
 */
/*
 * Automatic ballooning requires RAM discard (ram_block_discard_require),
 * so a device that would pin guest RAM is refused while it exists.  No
 * VFIO hardware is needed to see it: QEMU's userspace NVMe driver disables
 * RAM discard before it even opens VFIO, and then fails to open the
 * (absent) device for another reason.  @refused: which of the two errors.
 */
static void expect_pinning_refused(QTestState *qts, bool refused)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'blockdev-add', 'arguments':"
                           " { 'driver': 'nvme', 'node-name': 'pin',"
                           " 'device': '0000:00:1f.7', 'namespace': 1 } }");
    const char *desc;

    g_assert_true(qdict_haskey(rsp, "error"));
    desc = qdict_get_str(qdict_get_qdict(rsp, "error"), "desc");
    g_test_message("blockdev-add nvme: %s", desc);
    g_assert_cmpint(!!strstr(desc, "discarding of RAM broken"), ==, refused);
    qobject_unref(rsp);
}

static void test_discard_pinning_refused(void)
{
    QTestState *on = qtest_init("-m 512 -nodefaults -device"
                                " virtio-balloon-pci," AUTO_ON);
    QTestState *off = qtest_init("-m 512 -nodefaults -device"
                                 " virtio-balloon-pci");

    expect_pinning_refused(on, true);
    expect_pinning_refused(off, false);
    qtest_quit(on);
    qtest_quit(off);
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

/* Real vmpressure events of a real memcg v1 raise the target */
static void test_real_memcg_pressure(void)
{
    g_autofree char *memcg = NULL;
    int64_t value;

    if (!real_cgroups_usable(false)) {
        return;
    }
    memcg = g_strdup_printf(MEMCG_ROOT "/qtest-auto-balloon-%d", getpid());
    g_assert_cmpint(mkdir(memcg, 0755), ==, 0);
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
    memcg = g_strdup_printf(MEMCG_ROOT "/qtest-auto-psi-%d", getpid());
    cg2 = g_strdup_printf(CGROUP2_ROOT "/qtest-auto-psi-%d", getpid());
    g_assert_cmpint(mkdir(memcg, 0755), ==, 0);
    g_assert_cmpint(mkdir(cg2, 0755), ==, 0);
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
        memcg = g_strdup_printf(MEMCG_ROOT "/qtest-auto-unplug-%d", getpid());
        g_assert_cmpint(mkdir(memcg, 0755), ==, 0);
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
            /* pressure_level plus one eventfd per level */
            g_assert_cmpint(with, ==, before + 4);
        }
        expect_pinning_refused(qts, true);
        qpci_unplug_acpi_device_test(qts, "b", 0x06);
        g_assert_cmpint(ag_count_fds(qts), ==, before);
        expect_pinning_refused(qts, false);
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
    memcg = g_strdup_printf(MEMCG_ROOT "/qtest-auto-bench-%d", getpid());
    g_assert_cmpint(mkdir(memcg, 0755), ==, 0);
    props = g_strdup_printf("automatic=on,auto-source=%s,auto-throttle-ms=0,"
                            "auto-inflate-low=4k,auto-inflate-medium=4k,"
                            "auto-inflate-critical=4k,auto-floor=4k", memcg);
    g = ag_start(props, true, 3);
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
    x.v[VIRTIO_BALLOON_S_MEMFREE] = 300 * MiB;
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
    QTestState *all[] = { qts, off, plain };
    int64_t want[] = { STATS_INTERVAL_S, 0, 0 };
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
 */
static void test_stats_refresh_on_pressure(void)
{
    AutoGuest *g = ag_start(AUTO_ON, false, -1);
    Sample x = healthy();

    ag_send_stats(g, x.v);
    ag_send_stats(g, x.v);
    /* 2 s after that sample, 3 s before the next poll */
    qtest_clock_step(g->qts, 2 * SEC);
    ag_inject(g, "low");
    qvirtio_wait_used_elem(g->qts, g->vdev, g->svq, g->stats_head, NULL,
                           TIMEOUT_US);
    ag_stop(g);
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

/* automatic=on offers deflate-on-oom unless the user set it */
static void test_deflate_on_oom_default(void)
{
    static const struct {
        const char *props;
        bool offered;
    } cases[] = {
        { AUTO_ON, true },
        { AUTO_ON ",deflate-on-oom=off", false },
        { AUTO_ON ",deflate-on-oom=on", true },
        { "", false },
    };
    int i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        AutoGuest *g = ag_start(cases[i].props, false, -1);

        g_assert_cmpint(!!(g->features &
                           (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM)), ==,
                        cases[i].offered);
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

    ag_send_stats(g, x.v);
    x.v[VIRTIO_BALLOON_S_AVAIL] = 2 * x.v[VIRTIO_BALLOON_S_MEMTOT];
    x.v[VIRTIO_BALLOON_S_OOM_KILL] = UINT64_MAX;
    ag_send_stats(g, x.v);
    g_assert_cmpuint(ag_target(g), ==, STEP_MEDIUM);
    g_assert_cmpuint(ag_counter(g->qts, "stats-hostile"), ==, 1);
    g_assert_cmpuint(ag_counter(g->qts, "guest-stats"), ==, 0);
    ag_stop(g);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("virtio-balloon-auto/off/query-balloon",
                   test_off_query_balloon);
    qtest_add_func("virtio-balloon-auto/off/unchanged", test_off_unchanged);
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
    qtest_add_func("virtio-balloon-auto/inflate/coalesce-storm",
                   test_coalesce_storm);
    qtest_add_func("virtio-balloon-auto/inflate/no-pile-up",
                   test_no_pile_up);
    qtest_add_func("virtio-balloon-auto/inflate/floor", test_floor);
    qtest_add_func("virtio-balloon-auto/inflate/stalled-guest",
                   test_stalled_guest);
    qtest_add_func("virtio-balloon-auto/guest/message-deflates",
                   test_message_deflates);
    qtest_add_func("virtio-balloon-auto/guest/message-cancels",
                   test_message_cancels);
    qtest_add_func("virtio-balloon-auto/guest/hysteresis", test_hysteresis);
    qtest_add_func("virtio-balloon-auto/guest/initiated-deflate",
                   test_guest_initiated_deflate);
    qtest_add_func("virtio-balloon-auto/guest/malformed-messages",
                   test_malformed_messages);
    qtest_add_func("virtio-balloon-auto/guest/hostile-actual",
                   test_hostile_actual);
    qtest_add_func("virtio-balloon-auto/guest/reset", test_reset);
    qtest_add_func("virtio-balloon-auto/config/errors", test_bad_config);
    qtest_add_func("virtio-balloon-auto/real/memcg-vmpressure",
                   test_real_memcg_pressure);
    qtest_add_func("virtio-balloon-auto/stats/polling-default",
                   test_stats_polling_default);
    qtest_add_func("virtio-balloon-auto/stats/quiet", test_stats_quiet);
    qtest_add_func("virtio-balloon-auto/stats/low-available",
                   test_stats_low_available);
    qtest_add_func("virtio-balloon-auto/stats/counters", test_stats_counters);
    qtest_add_func("virtio-balloon-auto/stats/full-healthy",
                   test_stats_full_healthy);
    qtest_add_func("virtio-balloon-auto/stats/fast-polling",
                   test_stats_fast_polling);
    qtest_add_func("virtio-balloon-auto/relief/to-empty", test_relief);
    qtest_add_func("virtio-balloon-auto/config/deflate-on-oom-default",
                   test_deflate_on_oom_default);
    qtest_add_func("virtio-balloon-auto/stats/old-tags", test_stats_old_tags);
    qtest_add_func("virtio-balloon-auto/stats/hostile", test_stats_hostile);
    qtest_add_func("virtio-balloon-auto/config/discard-pinning-refused",
                   test_discard_pinning_refused);
    qtest_add_func("virtio-balloon-auto/stats/refresh-on-pressure",
                   test_stats_refresh_on_pressure);
    qtest_add_func("virtio-balloon-auto/real/psi",
                   test_real_psi_pressure);
    qtest_add_func("virtio-balloon-auto/real/unplug-releases",
                   test_unplug_releases);
    if (g_test_perf()) {
        qtest_add_func("virtio-balloon-auto/bench/event-latency",
                       bench_event_latency);
    }

    return g_test_run();
}
