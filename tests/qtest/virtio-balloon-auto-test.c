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

/* Device interface under test (include/hw/virtio/virtio-balloon-auto.h) */
#define VIRTIO_BALLOON_F_MESSAGE_VQ     10
#define MSG_PRESSURE                    1

#define PAGE                4096
#define MIB_PAGES(n)        ((uint32_t)((n) * MiB / PAGE))
#define STEP_LOW            MIB_PAGES(8)
#define STEP_MEDIUM         MIB_PAGES(32)
#define STEP_CRITICAL       MIB_PAGES(128)
#define STEP_DEFLATE        MIB_PAGES(32)
#define SEC                 (1000 * 1000 * 1000LL)
#define BACKEND             "/machine/peripheral/balloon0/virtio-backend"
#define TIMEOUT_US          (30 * 1000 * 1000)

#define CFG_NUM_PAGES       0
#define CFG_ACTUAL          4

typedef struct AutoGuest {
    QOSState *qs;
    QTestState *qts;
    QVirtioPCIDevice *pci;
    QVirtioDevice *vdev;
    QVirtQueue *ivq, *dvq, *svq, *mvq;
    uint64_t features;
} AutoGuest;

/*
 * Boot a PC with the balloon at 04.0 and act as its driver.  msg_vq_index
 * is where the message queue must be; negotiate says whether the driver
 * accepts the message-queue feature.
 */
static AutoGuest *guest_start(const char *props, bool negotiate,
                              int msg_vq_index)
{
    AutoGuest *g = g_new0(AutoGuest, 1);
    QPCIAddress addr = { .devfn = QPCI_DEVFN(4, 0) };
    uint64_t want;

    g->qs = qtest_pc_boot("-m 1024 -device virtio-balloon-pci,id=balloon0,"
                          "addr=04.0%s%s", *props ? "," : "", props);
    g->qts = g->qs->qts;
    g->pci = virtio_pci_new(g->qs->pcibus, &addr);
    g->vdev = &g->pci->vdev;
    qvirtio_pci_device_enable(g->pci);
    qvirtio_start_device(g->vdev);

    g->features = qvirtio_get_features(g->vdev);
    want = g->features & ((1ull << VIRTIO_F_VERSION_1) |
                          (1ull << VIRTIO_BALLOON_F_STATS_VQ) |
                          (1ull << VIRTIO_BALLOON_F_REPORTING));
    if (negotiate) {
        want |= g->features & (1ull << VIRTIO_BALLOON_F_MESSAGE_VQ);
    }
    qvirtio_set_features(g->vdev, want);

    g->ivq = qvirtqueue_setup(g->vdev, &g->qs->alloc, 0);
    g->dvq = qvirtqueue_setup(g->vdev, &g->qs->alloc, 1);
    if (msg_vq_index >= 0) {
        g->mvq = qvirtqueue_setup(g->vdev, &g->qs->alloc, msg_vq_index);
    }
    qvirtio_set_driver_ok(g->vdev);
    return g;
}

static void guest_stop(AutoGuest *g)
{
    qvirtqueue_cleanup(g->vdev->bus, g->ivq, &g->qs->alloc);
    qvirtqueue_cleanup(g->vdev->bus, g->dvq, &g->qs->alloc);
    if (g->mvq) {
        qvirtqueue_cleanup(g->vdev->bus, g->mvq, &g->qs->alloc);
    }
    qvirtio_pci_device_disable(g->pci);
    g_free(g->pci);
    qtest_shutdown(g->qs);
    g_free(g);
}

static uint32_t target(AutoGuest *g)
{
    return qvirtio_config_readl(g->vdev, CFG_NUM_PAGES);
}

static void set_actual(AutoGuest *g, uint32_t pages)
{
    qvirtio_config_writel(g->vdev, CFG_ACTUAL, pages);
}

/* The guest catches up with the host's request. */
static void catch_up(AutoGuest *g)
{
    set_actual(g, target(g));
}

static void inject(AutoGuest *g, const char *level)
{
    qtest_qmp_assert_success(g->qts,
        "{ 'execute': 'qom-set', 'arguments': { 'path': %s,"
        " 'property': 'x-inject-host-pressure', 'value': %s } }",
        BACKEND, level);
}

static void step(AutoGuest *g, int64_t ns)
{
    qtest_clock_step(g->qts, ns);
}

/* Send one buffer on the message queue and wait until the device used it */
static void send_raw(AutoGuest *g, const void *buf, size_t len, bool write)
{
    uint64_t addr = guest_alloc(&g->qs->alloc, MAX(len, 1));
    uint32_t head;

    qtest_memwrite(g->qts, addr, buf, len);
    head = qvirtqueue_add(g->qts, g->mvq, addr, len, write, false);
    qvirtqueue_kick(g->qts, g->vdev, g->mvq, head);
    qvirtio_wait_used_elem(g->qts, g->vdev, g->mvq, head, NULL, TIMEOUT_US);
    guest_free(&g->qs->alloc, addr);
}

static void send_msg(AutoGuest *g, uint16_t type, uint16_t flags,
                     uint32_t level)
{
    struct {
        uint16_t type;
        uint16_t flags;
        uint32_t level;
    } QEMU_PACKED msg = {
        .type = cpu_to_le16(type),
        .flags = cpu_to_le16(flags),
        .level = cpu_to_le32(level),
    };

    send_raw(g, &msg, sizeof(msg), false);
}

static void send_pressure(AutoGuest *g)
{
    send_msg(g, MSG_PRESSURE, 0, 1);
}

#define AUTO_ON "automatic=on,auto-source=qtest"

/* The feature is offered only with automatic=on; the queue index rule. */
static void test_feature_offered(void)
{
    AutoGuest *g = guest_start(AUTO_ON, true, 3);

    g_assert_true(g->features & (1ull << VIRTIO_BALLOON_F_MESSAGE_VQ));
    /* Message queue works at index 3 (after stats) */
    inject(g, "medium");
    catch_up(g);
    send_pressure(g);
    g_assert_cmpuint(target(g), ==, 0);
    guest_stop(g);
}

static void test_queue_after_optional_queues(void)
{
    /* With free page reporting offered, the message queue is index 4 */
    AutoGuest *g = guest_start(AUTO_ON ",free-page-reporting=on", true, 4);

    inject(g, "low");
    catch_up(g);
    send_pressure(g);
    g_assert_cmpuint(target(g), ==, 0);
    guest_stop(g);
}

static void test_off_unchanged(void)
{
    AutoGuest *g = guest_start("", false, -1);
    QDict *rsp;

    g_assert_false(g->features & (1ull << VIRTIO_BALLOON_F_MESSAGE_VQ));
    /* The test hook refuses: there is no automatic mode to drive */
    rsp = qtest_qmp(g->qts,
                    "{ 'execute': 'qom-set', 'arguments': { 'path': %s,"
                    " 'property': 'x-inject-host-pressure',"
                    " 'value': 'critical' } }", BACKEND);
    g_assert_true(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    g_assert_cmpuint(target(g), ==, 0);
    /* Manual ballooning works as upstream */
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'balloon',"
                             " 'arguments': { 'value': %" PRId64 " } }",
                             (int64_t)(1024 - 64) * MiB);
    g_assert_cmpuint(target(g), ==, MIB_PAGES(64));
    guest_stop(g);
}

/* With automatic=on but the driver not accepting the bit, nothing breaks */
static void test_feature_not_negotiated(void)
{
    AutoGuest *g = guest_start(AUTO_ON, false, -1);

    inject(g, "low");
    g_assert_cmpuint(target(g), ==, STEP_LOW);
    guest_stop(g);
}

/* Each level inflates by its own step, with real PFNs on the inflateq. */
static void test_level_steps(void)
{
    AutoGuest *g = guest_start(AUTO_ON, true, 3);
    uint64_t pfns = guest_alloc(&g->qs->alloc, STEP_LOW * 4);
    uint64_t pages = guest_alloc(&g->qs->alloc, (uint64_t)STEP_LOW * PAGE);
    uint32_t i, head;

    inject(g, "low");
    g_assert_cmpuint(target(g), ==, STEP_LOW);

    /* The guest gives the pages: PFNs on the inflate queue, then actual */
    for (i = 0; i < STEP_LOW; i++) {
        uint32_t pfn = cpu_to_le32((pages >> 12) + i);
        qtest_memwrite(g->qts, pfns + i * 4, &pfn, 4);
    }
    head = qvirtqueue_add(g->qts, g->ivq, pfns, STEP_LOW * 4, false, false);
    qvirtqueue_kick(g->qts, g->vdev, g->ivq, head);
    qvirtio_wait_used_elem(g->qts, g->vdev, g->ivq, head, NULL, TIMEOUT_US);
    set_actual(g, STEP_LOW);

    step(g, SEC);
    inject(g, "medium");
    g_assert_cmpuint(target(g), ==, STEP_LOW + STEP_MEDIUM);
    catch_up(g);
    step(g, SEC);
    inject(g, "critical");
    g_assert_cmpuint(target(g), ==, STEP_LOW + STEP_MEDIUM + STEP_CRITICAL);
    guest_stop(g);
}

/* Tunable steps are honoured */
static void test_tunable_steps(void)
{
    AutoGuest *g = guest_start(AUTO_ON ",auto-inflate-low=1M", true, 3);

    inject(g, "low");
    g_assert_cmpuint(target(g), ==, MIB_PAGES(1));
    guest_stop(g);
}

/* At most one inflate per throttle interval; the timer does the rest. */
static void test_throttle(void)
{
    AutoGuest *g = guest_start(AUTO_ON, true, 3);

    inject(g, "low");
    catch_up(g);
    step(g, SEC / 2);
    inject(g, "low");
    g_assert_cmpuint(target(g), ==, STEP_LOW);
    /* The coalesced event is served when the interval ends */
    step(g, SEC / 2);
    g_assert_cmpuint(target(g), ==, 2 * STEP_LOW);
    guest_stop(g);
}

/* A storm inside one interval becomes one inflate at the highest level. */
static void test_coalesce_storm(void)
{
    AutoGuest *g = guest_start(AUTO_ON, true, 3);
    int i;

    inject(g, "low");
    catch_up(g);
    for (i = 0; i < 50; i++) {
        inject(g, i == 17 ? "critical" : (i % 2 ? "medium" : "low"));
    }
    g_assert_cmpuint(target(g), ==, STEP_LOW);
    step(g, SEC);
    g_assert_cmpuint(target(g), ==, STEP_LOW + STEP_CRITICAL);
    catch_up(g);
    /* Nothing more was pending */
    step(g, 5 * SEC);
    g_assert_cmpuint(target(g), ==, STEP_LOW + STEP_CRITICAL);
    guest_stop(g);
}

/* No pile-up: a guest that has not caught up is not pushed further. */
static void test_no_pile_up(void)
{
    AutoGuest *g = guest_start(AUTO_ON, true, 3);

    inject(g, "medium");
    set_actual(g, STEP_MEDIUM / 2);
    step(g, SEC);
    inject(g, "medium");
    g_assert_cmpuint(target(g), ==, STEP_MEDIUM / 2 + STEP_MEDIUM);
    step(g, SEC);
    inject(g, "medium");
    g_assert_cmpuint(target(g), ==, STEP_MEDIUM / 2 + STEP_MEDIUM);
    guest_stop(g);
}

/* A guest message deflates by the deflate step */
static void test_message_deflates(void)
{
    AutoGuest *g = guest_start(AUTO_ON, true, 3);

    inject(g, "critical");
    catch_up(g);
    send_pressure(g);
    g_assert_cmpuint(target(g), ==, STEP_CRITICAL - STEP_DEFLATE);
    guest_stop(g);
}

/* A guest message during an inflate cancels it: target back to actual */
static void test_message_cancels(void)
{
    AutoGuest *g = guest_start(AUTO_ON, true, 3);

    inject(g, "critical");
    set_actual(g, 1000);
    send_pressure(g);
    g_assert_cmpuint(target(g), ==, 1000);
    guest_stop(g);
}

/* Guest pressure opens a window in which host pressure does not inflate */
static void test_hysteresis(void)
{
    AutoGuest *g = guest_start(AUTO_ON ",auto-hysteresis-ms=10000", true, 3);

    send_pressure(g);
    inject(g, "critical");
    g_assert_cmpuint(target(g), ==, 0);
    step(g, 9 * SEC);
    inject(g, "critical");
    g_assert_cmpuint(target(g), ==, 0);
    step(g, SEC);
    inject(g, "critical");
    g_assert_cmpuint(target(g), ==, STEP_CRITICAL);
    guest_stop(g);
}

/* Host pressure never takes the guest below the floor */
static void test_floor(void)
{
    AutoGuest *g = guest_start(AUTO_ON ",auto-inflate-critical=400M,"
                               "auto-floor=700M", true, 3);

    inject(g, "critical");
    g_assert_cmpuint(target(g), ==, MIB_PAGES(324));
    catch_up(g);
    step(g, SEC);
    inject(g, "critical");
    g_assert_cmpuint(target(g), ==, MIB_PAGES(324));
    guest_stop(g);
}

/* The guest giving memory back on its own counts as guest pressure */
static void test_guest_initiated_deflate(void)
{
    AutoGuest *g = guest_start(AUTO_ON, true, 3);

    inject(g, "critical");
    catch_up(g);
    set_actual(g, STEP_CRITICAL - 100);
    g_assert_cmpuint(target(g), ==, STEP_CRITICAL - 100);
    step(g, 2 * SEC);
    inject(g, "critical");
    g_assert_cmpuint(target(g), ==, STEP_CRITICAL - 100);
    guest_stop(g);
}

/* A guest that does not inflate is detected and not pushed further */
static void test_stalled_guest(void)
{
    AutoGuest *g = guest_start(AUTO_ON ",auto-stall-ms=5000", true, 3);

    inject(g, "low");
    step(g, 6 * SEC);
    inject(g, "critical");
    g_assert_cmpuint(target(g), ==, STEP_LOW);
    /* Progress clears the stall */
    catch_up(g);
    inject(g, "critical");
    g_assert_cmpuint(target(g), ==, STEP_LOW + STEP_CRITICAL);
    guest_stop(g);
}

/* A device reset (reboot, driver reload) starts from a clean state */
static void test_reset(void)
{
    AutoGuest *g = guest_start(AUTO_ON, true, 3);

    inject(g, "critical");
    send_pressure(g);
    qvirtio_reset(g->vdev);
    qvirtio_set_acknowledge(g->vdev);
    qvirtio_set_driver(g->vdev);
    qvirtio_set_features(g->vdev, g->vdev->features);
    qvirtio_set_driver_ok(g->vdev);
    g_assert_cmpuint(target(g), ==, 0);
    /* The hysteresis window of the previous driver is gone too */
    inject(g, "low");
    g_assert_cmpuint(target(g), ==, STEP_LOW);
    guest_stop(g);
}

/* Hostile messages are counted and dropped; the queue keeps working. */
static void test_malformed_messages(void)
{
    AutoGuest *g = guest_start(AUTO_ON, true, 3);
    uint8_t big[16] = { MSG_PRESSURE };
    uint8_t small[4] = { MSG_PRESSURE };

    inject(g, "critical");
    catch_up(g);
    send_raw(g, small, sizeof(small), false);
    send_raw(g, big, sizeof(big), false);
    send_msg(g, 0x7777, 0, 0);            /* unknown type */
    send_msg(g, MSG_PRESSURE, 1, 0);      /* reserved flags */
    send_msg(g, MSG_PRESSURE, 0, 99);     /* unknown level */
    send_raw(g, big, 8, true);            /* device-writable buffer */
    g_assert_cmpuint(target(g), ==, STEP_CRITICAL);
    send_pressure(g);
    g_assert_cmpuint(target(g), ==, STEP_CRITICAL - STEP_DEFLATE);
    guest_stop(g);
}

/* A hostile 'actual' beyond guest RAM does not move the target */
static void test_hostile_actual(void)
{
    AutoGuest *g = guest_start(AUTO_ON, true, 3);

    inject(g, "low");
    set_actual(g, 0xffffffff);
    g_assert_cmpuint(target(g), ==, STEP_LOW);
    guest_stop(g);
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
 * Real kernel: a memcg v1 with a limit, the device pointed at it and a real
 * memory hog inside it.  Real vmpressure events must raise the target.
 */
#define MEMCG_ROOT "/sys/fs/cgroup/memory"

/* cgroupfs files take one plain write(), not a write and a rename */
static bool cg_write(const char *path, const char *val)
{
    int fd = open(path, O_WRONLY);
    bool ok;

    if (fd < 0) {
        return false;
    }
    ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
    close(fd);
    return ok;
}

static pid_t start_hog(const char *memcg)
{
    pid_t pid = fork();

    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        g_autofree char *procs = g_build_filename(memcg, "cgroup.procs", NULL);
        g_autofree char *me = g_strdup_printf("%d", getpid());
        size_t len = 256 * MiB;
        int fd;

        if (!cg_write(procs, me)) {
            _exit(1);
        }
        /*
         * Page cache churn over the limit: the memcg reclaims all the
         * time (vmpressure) without anything being OOM-killed.
         */
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

static void test_real_memcg_pressure(void)
{
    g_autofree char *memcg = NULL;
    g_autofree char *limit = NULL;
    QTestState *qts;
    pid_t hog;
    int64_t deadline;
    int64_t value = 0;

    if (geteuid() != 0) {
        g_test_skip("needs root to create a memcg");
        return;
    }
    if (!g_file_test(MEMCG_ROOT "/cgroup.event_control", G_FILE_TEST_EXISTS)) {
        g_test_skip("no cgroup v1 memory controller at " MEMCG_ROOT);
        return;
    }
    memcg = g_strdup_printf(MEMCG_ROOT "/qtest-auto-balloon-%d", getpid());
    g_assert_cmpint(mkdir(memcg, 0755), ==, 0);
    limit = g_build_filename(memcg, "memory.limit_in_bytes", NULL);
    g_assert_true(cg_write(limit, "67108864"));

    qts = qtest_initf("-m 1024 -nodefaults -device virtio-balloon-pci,"
                      "id=balloon0,automatic=on,auto-source=%s", memcg);
    hog = start_hog(memcg);
    deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    while (g_get_monotonic_time() < deadline) {
        /* qom-get returns a number, not a dict: keep the response */
        QDict *rsp = qtest_qmp(qts,
            "{ 'execute': 'qom-get', 'arguments': { 'path': %s,"
            " 'property': 'auto-target' } }", BACKEND);
        value = qdict_get_int(rsp, "return");
        qobject_unref(rsp);
        if (value > 0) {
            break;
        }
        g_usleep(100 * 1000);
    }
    kill(hog, SIGKILL);
    waitpid(hog, NULL, 0);
    qtest_quit(qts);
    rmdir(memcg);
    g_assert_cmpint(value, >, 0);
}

static int count_fds(QTestState *qts)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/fd", qtest_pid(qts));
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    int n = 0;

    g_assert_nonnull(d);
    while (g_dir_read_name(d)) {
        n++;
    }
    return n;
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
    before = count_fds(qts);
    for (i = 0; i < 2; i++) {
        qtest_qmp_device_add(qts, "virtio-balloon-pci", "b", "%p",
                             qobject_from_json(props, &error_abort));
        with = count_fds(qts);
        if (memcg) {
            /* pressure_level plus one eventfd per level */
            g_assert_cmpint(with, ==, before + 4);
        }
        qpci_unplug_acpi_device_test(qts, "b", 0x06);
        g_assert_cmpint(count_fds(qts), ==, before);
    }
    qtest_quit(qts);
    if (memcg) {
        g_assert_cmpint(rmdir(memcg), ==, 0);
    }
}

/*
 * Benchmark (run with -m perf, see `make bench`): time from a host
 * pressure event entering the device to the guest-visible config change,
 * over 1000 events.  The event enters through the test hook, so each
 * sample also contains one QMP round trip; the same round trip without
 * an event (qom-get) is measured as the baseline to subtract.
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

static void bench_event_latency(void)
{
    AutoGuest *g = guest_start(AUTO_ON ",auto-throttle-ms=0"
                               ",auto-inflate-low=4k,auto-floor=4k",
                               true, 3);
    g_autofree int64_t *lat = g_new(int64_t, BENCH_EVENTS);
    g_autofree int64_t *base = g_new(int64_t, BENCH_EVENTS);
    int i;

    for (i = 0; i < BENCH_EVENTS; i++) {
        uint32_t before = target(g);
        int64_t t0 = g_get_monotonic_time() * 1000;
        QDict *rsp;

        inject(g, "low");
        g_assert_cmpuint(target(g), ==, before + 1);
        lat[i] = g_get_monotonic_time() * 1000 - t0;
        catch_up(g);

        t0 = g_get_monotonic_time() * 1000;
        rsp = qtest_qmp(g->qts,
            "{ 'execute': 'qom-get', 'arguments': { 'path': %s,"
            " 'property': 'auto-target' } }", BACKEND);
        g_assert_true(qdict_haskey(rsp, "return"));
        target(g);
        base[i] = g_get_monotonic_time() * 1000 - t0;
        qobject_unref(rsp);
    }
    g_assert_cmpuint(target(g), ==, BENCH_EVENTS);
    bench_report("host event -> config change (incl. QMP)", lat,
                 BENCH_EVENTS);
    bench_report("QMP round trip + config read baseline", base,
                 BENCH_EVENTS);
    guest_stop(g);
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
    qtest_add_func("virtio-balloon-auto/real/unplug-releases",
                   test_unplug_releases);
    if (g_test_perf()) {
        qtest_add_func("virtio-balloon-auto/bench/event-latency",
                       bench_event_latency);
    }

    return g_test_run();
}
