/*
 * QTest helpers for automatic ballooning: the test as the guest driver
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "libqos/pci.h"
#include "standard-headers/linux/virtio_balloon.h"
#include "standard-headers/linux/virtio_config.h"
#include "virtio-balloon-auto-guest.h"
#include "virtio-balloon-auto-ram.h"

/*
 * Write the guest's RAM above 1 MiB up to @size, so that it is resident
 * in host memory: untouched RAM is not, and automatic mode does not
 * inflate a guest whose RAM the host does not hold.  Before any driver
 * set-up, which would be overwritten.
 */
void ag_touch_ram(QTestState *qts, uint64_t size)
{
    vba_fill_ram(qts, MiB, size - MiB, 0x5a);
}

void ag_plug_dimm_512m(QTestState *qts)
{
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-add',"
                             " 'arguments': { 'qom-type':"
                             " 'memory-backend-ram', 'id': 'm1',"
                             " 'size': %" PRIu64 " } }", 512 * MiB);
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add',"
                             " 'arguments': { 'driver': 'pc-dimm',"
                             " 'id': 'd1', 'memdev': 'm1' } }");
}

/* PIIX4's ACPI memory hotplug registers (hw/acpi/memory_hotplug.c) */
#define MHP_BASE 0x0a00
#define MHP_SLOT_SEL (MHP_BASE + 0x0)
#define MHP_STATUS (MHP_BASE + 0x14)
#define MHP_EJECT 0x8

void ag_unplug_dimm(QTestState *qts)
{
    int64_t deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    qtest_qmp_assert_success(qts, "{ 'execute': 'device_del',"
                             " 'arguments': { 'id': 'd1' } }");
    qtest_outl(qts, MHP_SLOT_SEL, 0);
    qtest_outb(qts, MHP_STATUS, MHP_EJECT);
    for (;;) {
        g_autoptr(QDict) rsp = qtest_qmp(qts, "{ 'execute':"
                                         " 'query-memory-devices' }");

        if (!qlist_size(qdict_get_qlist(rsp, "return"))) {
            return;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(20 * 1000);
    }
}

AutoGuest *ag_start_dimm_inflated(uint32_t *inflated)
{
    AutoGuest *g = ag_start(AUTO_ON " -m 1024,slots=2,maxmem=2G", true,
                            MSG_VQ_OFFERED);

    ag_plug_dimm_512m(g->qts);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'inflate-critical': %" PRIu64
                             " } }", 1280 * MiB);
    ag_inject(g, "critical");
    *inflated = ag_target(g);
    g_assert_cmpuint(*inflated, >, MIB_PAGES(1024 - 256));
    ag_catch_up(g);
    return g;
}

void ag_unplug_dimm_then_resume(AutoGuest *g, uint32_t inflated)
{
    ag_unplug_dimm(g->qts);
    g_assert_cmpuint(ag_target(g), ==, inflated);
    qtest_qmp_assert_success(g->qts, "{ 'execute': 'cont' }");
    ag_step(g, 1);
    g_assert_cmpuint(ag_target(g), ==, MIB_PAGES(1024 - 256));
    g_assert_cmpuint(ag_counter(g->qts, "ram-deflates"), ==, 1);
}

/*
 * Boot a PC with the balloon at 04.0 and act as its driver.  msg_vq_index
 * is where the message queue must be; negotiate says whether the driver
 * accepts the message-queue feature.  A test that sets up the message
 * queue (msg_vq_index not -1) drives automatic mode (@props has
 * automatic=on), and the device gets x-auto-message-queue=on, without
 * which it offers no message queue.
 */
AutoGuest *ag_start(const char *props, bool negotiate, int msg_vq_index)
{
    AutoGuest *g = g_new0(AutoGuest, 1);
    QPCIAddress addr = { .devfn = QPCI_DEVFN(4, 0) };
    bool msg_vq = msg_vq_index != -1;
    uint64_t want;

    g_assert(!msg_vq || strstr(props, "automatic=on"));
    g->qs = qtest_pc_boot("-m 1024 -device virtio-balloon-pci,id=balloon0,"
                          "addr=04.0%s%s%s",
                          msg_vq ? "," AG_MESSAGE_QUEUE_ON : "",
                          *props ? "," : "", props);
    g->qts = g->qs->qts;
    /* A booted guest has touched its RAM: make it resident on the host */
    ag_touch_ram(g->qts, 1024 * MiB);
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
    g->svq = qvirtqueue_setup(g->vdev, &g->qs->alloc, 2);
    if (msg_vq_index == MSG_VQ_OFFERED) {
        /* docs/interop/virtio-balloon-message-queue.rst, "Queue index" */
        msg_vq_index = 3 +
            !!(g->features & (1ull << VIRTIO_BALLOON_F_FREE_PAGE_HINT)) +
            !!(g->features & (1ull << VIRTIO_BALLOON_F_REPORTING));
    }
    if (msg_vq_index >= 0) {
        g->mvq = qvirtqueue_setup(g->vdev, &g->qs->alloc, msg_vq_index);
    }
    qvirtio_set_driver_ok(g->vdev);
    return g;
}

void ag_stop(AutoGuest *g)
{
    qvirtqueue_cleanup(g->vdev->bus, g->ivq, &g->qs->alloc);
    qvirtqueue_cleanup(g->vdev->bus, g->dvq, &g->qs->alloc);
    qvirtqueue_cleanup(g->vdev->bus, g->svq, &g->qs->alloc);
    if (g->mvq) {
        qvirtqueue_cleanup(g->vdev->bus, g->mvq, &g->qs->alloc);
    }
    /* Disables the device and frees it with its QPCIDevice */
    qos_object_destroy(&g->pci->obj);
    qtest_shutdown(g->qs);
    g_free(g);
}

uint32_t ag_target(AutoGuest *g)
{
    return qvirtio_config_readl(g->vdev, CFG_NUM_PAGES);
}

/*
 * The page the driver gives, over and over: in conventional memory, below
 * what the libqos allocator hands out (from 1 MiB), so that discarding it
 * breaks nothing.  The device counts pages, it does not tell them apart.
 */
#define BALLOON_PFN     0x50

void ag_send_pages(AutoGuest *g, QVirtQueue *vq, uint32_t n)
{
    size_t len = (size_t)n * sizeof(uint32_t);
    g_autofree uint32_t *pfns = g_new(uint32_t, n);
    uint64_t addr;
    uint32_t head, i;

    for (i = 0; i < n; i++) {
        pfns[i] = cpu_to_le32(BALLOON_PFN);
    }
    addr = guest_alloc(&g->qs->alloc, len);
    qtest_memwrite(g->qts, addr, pfns, len);
    head = qvirtqueue_add(g->qts, vq, addr, len, false, false);
    qvirtqueue_kick(g->qts, g->vdev, vq, head);
    qvirtio_wait_used_elem(g->qts, g->vdev, vq, head, NULL, TIMEOUT_US);
    guest_free(&g->qs->alloc, addr);
}

#define BAD_PFN         0xfffff000u

uint32_t ag_send_huge(AutoGuest *g, int descs, uint32_t valid,
                      uint64_t *addr)
{
    size_t len = AG_HUGE_PFNS * sizeof(uint32_t);
    g_autofree uint32_t *pfns = g_new(uint32_t, AG_HUGE_PFNS);
    uint32_t head = 0, i;
    int d;

    for (i = 0; i < AG_HUGE_PFNS; i++) {
        pfns[i] = cpu_to_le32(i < valid ? BALLOON_PFN : BAD_PFN);
    }
    *addr = guest_alloc(&g->qs->alloc, len);
    qtest_memwrite(g->qts, *addr, pfns, len);
    for (d = 0; d < descs; d++) {
        uint32_t idx = qvirtqueue_add(g->qts, g->ivq, *addr, len, false,
                                      d < descs - 1);

        if (!d) {
            head = idx;
        }
    }
    qvirtqueue_kick(g->qts, g->vdev, g->ivq, head);
    return head;
}

/* As the Linux driver: the pages first, then the size */
void ag_set_actual(AutoGuest *g, uint32_t pages)
{
    if (pages > g->given) {
        ag_send_pages(g, g->ivq, pages - g->given);
    } else if (pages < g->given) {
        ag_send_pages(g, g->dvq, g->given - pages);
    }
    g->given = pages;
    ag_set_actual_unbacked(g, pages);
}

void ag_set_actual_unbacked(AutoGuest *g, uint32_t pages)
{
    qvirtio_config_writel(g->vdev, CFG_ACTUAL, pages);
}

/* The guest catches up with the host's request. */
void ag_catch_up(AutoGuest *g)
{
    ag_set_actual(g, ag_target(g));
}

void ag_inject_qts(QTestState *qts, const char *level)
{
    qtest_qmp_assert_success(qts,
        "{ 'execute': 'qom-set', 'arguments': { 'path': %s,"
        " 'property': 'x-inject-host-pressure', 'value': %s } }",
        BACKEND, level);
}

void ag_inject(AutoGuest *g, const char *level)
{
    ag_inject_qts(g->qts, level);
}

void ag_inject_memory(AutoGuest *g, uint64_t usage, uint64_t limit,
                      uint64_t available)
{
    g_autofree char *val = g_strdup_printf("%" PRIu64 " %" PRIu64 " %" PRIu64,
                                           usage, limit, available);

    qtest_qmp_assert_success(g->qts,
        "{ 'execute': 'qom-set', 'arguments': { 'path': %s,"
        " 'property': 'x-inject-host-memory', 'value': %s } }",
        BACKEND, val);
}

void ag_step(AutoGuest *g, int64_t ns)
{
    qtest_clock_step(g->qts, ns);
}

/* Send one buffer on the message queue and wait until the device used it */
void ag_send_raw(AutoGuest *g, const void *buf, size_t len, bool write)
{
    uint64_t addr = guest_alloc(&g->qs->alloc, MAX(len, 1));
    uint32_t head;

    qtest_memwrite(g->qts, addr, buf, len);
    head = qvirtqueue_add(g->qts, g->mvq, addr, len, write, false);
    qvirtqueue_kick(g->qts, g->vdev, g->mvq, head);
    qvirtio_wait_used_elem(g->qts, g->vdev, g->mvq, head, NULL, TIMEOUT_US);
    guest_free(&g->qs->alloc, addr);
}

void ag_send_msg(AutoGuest *g, uint16_t type, uint16_t flags,
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

    ag_send_raw(g, &msg, sizeof(msg), false);
}

void ag_send_pressure(AutoGuest *g)
{
    /* Level low: the plain deflate step (test_message_level scales it) */
    ag_send_msg(g, MSG_PRESSURE, 0, 0);
}

/* cgroupfs files take one plain write(), not a write and a rename */
bool ag_cg_write(const char *path, const char *val)
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

/*
 * Automatic ballooning requires RAM discard (ram_block_discard_require)
 * while it is on, so a device that would pin guest RAM is refused then.
 * No VFIO hardware is needed to see it: QEMU's userspace NVMe driver
 * disables RAM discard before it even opens VFIO, and then fails to open
 * the (absent) device for another reason, enabling discard again.
 */
void ag_expect_pinning_refused(QTestState *qts, bool refused)
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

void ag_set_enabled(QTestState *qts, bool enabled)
{
    qtest_qmp_assert_success(qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'enabled': %i } }", enabled);
}

bool ag_enabled(QTestState *qts)
{
    g_autoptr(QDict) info = ag_query(qts);

    return qdict_get_bool(info, "enabled");
}

int ag_count_fds(QTestState *qts)
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

QDict *ag_query(QTestState *qts)
{
    return qtest_qmp_assert_success_ref(qts,
                                        "{ 'execute': 'query-auto-balloon' }");
}

/* Balloon size automatic mode asks for, in pages, from the query */
uint64_t ag_query_target_pages(QTestState *qts, uint64_t ram)
{
    g_autoptr(QDict) info = ag_query(qts);

    return (ram - qdict_get_int(info, "target")) / PAGE;
}

uint64_t ag_counter(QTestState *qts, const char *name)
{
    g_autoptr(QDict) info = ag_query(qts);

    return qdict_get_int(qdict_get_qdict(info, "counters"), name);
}

void ag_send_stats(AutoGuest *g, const uint64_t *vals)
{
    struct {
        uint16_t tag;
        uint64_t val;
    } QEMU_PACKED buf[VIRTIO_BALLOON_S_NR];
    size_t n = 0;
    int tag;

    if (g->stats_addr) {
        qtest_clock_step(g->qts, STATS_INTERVAL_S * SEC);
        qvirtio_wait_used_elem(g->qts, g->vdev, g->svq, g->stats_head, NULL,
                               TIMEOUT_US);
        guest_free(&g->qs->alloc, g->stats_addr);
    }
    for (tag = 0; tag < VIRTIO_BALLOON_S_NR; tag++) {
        if (vals[tag] != STAT_ABSENT) {
            buf[n].tag = cpu_to_le16(tag);
            buf[n].val = cpu_to_le64(vals[tag]);
            n++;
        }
    }
    g->stats_addr = guest_alloc(&g->qs->alloc, sizeof(buf));
    qtest_memwrite(g->qts, g->stats_addr, buf, n * sizeof(buf[0]));
    g->stats_head = qvirtqueue_add(g->qts, g->svq, g->stats_addr,
                                   n * sizeof(buf[0]), false, false);
    qvirtqueue_kick(g->qts, g->vdev, g->svq, g->stats_head);
}

/* Free huge pages of the default size, from /proc/meminfo */
static long free_huge_pages(void)
{
    g_autofree char *text = NULL;
    const char *p;
    long n = 0;

    if (!g_file_get_contents("/proc/meminfo", &text, NULL, NULL)) {
        return 0;
    }
    p = strstr(text, "HugePages_Free:");
    if (p) {
        sscanf(p, "HugePages_Free: %ld", &n);
    }
    return n;
}

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

/* The pool size in NR_HUGEPAGES, -1 if it cannot be read */
static long nr_hugepages(void)
{
    g_autofree char *text = NULL;
    long n;

    if (!g_file_get_contents(NR_HUGEPAGES, &text, NULL, NULL) ||
        qemu_strtol(g_strstrip(text), NULL, 10, &n) < 0) {
        return -1;
    }
    return n;
}

/* Written in place: g_file_set_contents() would rename a file over it */
bool ag_hugepages_set(long n)
{
    g_autofree char *text = g_strdup_printf("%ld\n", n);
    FILE *f = fopen(NR_HUGEPAGES, "w");
    bool ok;

    if (!f) {
        return false;
    }
    ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

bool ag_hugepages_reserve(long need, long *pool, bool *grown)
{
    g_autofree char *msg = NULL;

    *pool = nr_hugepages();
    *grown = false;
    if (free_huge_pages() < need && geteuid() == 0 && *pool >= 0) {
        *grown = ag_hugepages_set(*pool + need - free_huge_pages());
    }
    if (free_huge_pages() >= need) {
        return true;
    }
    if (*grown) {
        ag_hugepages_set(*pool);
    }
    msg = geteuid() ?
        g_strdup_printf("needs %ld free huge pages (as root the test"
                        " reserves them): echo %ld > " NR_HUGEPAGES, need,
                        MAX(*pool, 0) + need) :
        g_strdup_printf("the kernel could not reserve %ld huge pages", need);
    g_test_skip(msg);
    return false;
}

char *ag_trace_log(const char *what)
{
    static bool swept;

    /* Once per test process: nothing of a dead PID appears later */
    if (!swept) {
        ag_sweep_stale("/tmp", ".log");
        swept = true;
    }
    return g_strdup_printf("/tmp/qtest-auto-%s-%d.log", what, getpid());
}

char *ag_cgroup_make(const char *root, const char *what)
{
    char *path = g_strdup_printf("%s/qtest-auto-%s-%d", root, what,
                                 getpid());

    ag_sweep_stale(root, "");
    /* Before it is made, it can only be a killed run's of this PID */
    rmdir(path);
    g_assert_cmpint(mkdir(path, 0755), ==, 0);
    return path;
}

int ag_sweep_stale(const char *dir, const char *suffix)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    int removed = 0;

    if (!d) {
        return 0;
    }
    while ((name = g_dir_read_name(d))) {
        g_autofree char *path = NULL, *digits = NULL;
        size_t len = strlen(name), slen = strlen(suffix);
        const char *end, *dash;
        guint64 pid;
        struct stat st;

        if (!g_str_has_prefix(name, "qtest-auto-") || len <= slen ||
            strcmp(name + len - slen, suffix) != 0) {
            continue;
        }
        end = name + len - slen;
        dash = g_strrstr_len(name, end - name, "-");
        /* Digits only (no sign, no blank), 1 to INT_MAX, as a pid_t */
        digits = g_strndup(dash + 1, end - dash - 1);
        if (!g_ascii_string_to_unsigned(digits, 10, 1, INT_MAX, &pid, NULL) ||
            pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) {
            continue;
        }
        /* Another user's is not ours to remove; a link is not followed */
        path = g_build_filename(dir, name, NULL);
        if (lstat(path, &st) < 0 || st.st_uid != geteuid()) {
            continue;
        }
        if (remove(path) == 0) {
            removed++;
        }
    }
    return removed;
}

int ag_trace_lines(const char *path, const char *needle)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    int i, n = 0;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i]; i++) {
        n += strstr(lines[i], needle) != NULL;
    }
    return n;
}

int64_t ag_trace_last_value(const char *path, const char *before)
{
    g_autofree char *text = NULL;
    const char *p, *last = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    for (p = strstr(text, before); p; p = strstr(p + 1, before)) {
        last = p;
    }
    g_assert_nonnull(last);
    return g_ascii_strtoll(last + strlen(before), NULL, 10);
}

int64_t ag_trace_last_pause(const char *path, int64_t *elapsed_ns)
{
    if (elapsed_ns) {
        *elapsed_ns = ag_trace_last_value(path, AG_RESIDENT_PAUSE
                                          "the measurement took ");
    }
    return ag_trace_last_value(path, " ns: the next waits ");
}

void ag_wait_trace_lines(const char *path, const char *needle, int n)
{
    int64_t deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    while (ag_trace_lines(path, needle) < n) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(10 * 1000);
    }
}
