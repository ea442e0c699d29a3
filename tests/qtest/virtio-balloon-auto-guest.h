/*
 * QTest helpers for automatic ballooning: the test as the guest driver
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VIRTIO_BALLOON_AUTO_GUEST_H
#define VIRTIO_BALLOON_AUTO_GUEST_H

#include "qemu/units.h"
#include "libqtest.h"
#include "libqos/libqos-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"

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
    /* pages given on the inflate queue, less those taken back */
    uint32_t given;
    /* the stats buffer the device holds, 0 if none */
    uint64_t stats_addr;
    uint32_t stats_head;
} AutoGuest;

#define AUTO_ON "automatic=on,auto-source=qtest"
/* The experimental message queue, off by default */
#define AG_MESSAGE_QUEUE_ON "x-auto-message-queue=on"
#define MEMCG_ROOT "/sys/fs/cgroup/memory"
#define CGROUP2_ROOT "/sys/fs/cgroup/unified"

void ag_touch_ram(QTestState *qts, uint64_t size);
/* Hot-plug a 512 MiB pc-dimm 'd1' (memdev 'm1'), in slot 0 */
void ag_plug_dimm_512m(QTestState *qts);
/*
 * Unplug that DIMM as a guest does: device_del, then the guest's eject
 * through PIIX4's ACPI memory hotplug registers; returns once QEMU no
 * longer lists it (within 5 s).
 */
void ag_unplug_dimm(QTestState *qts);
/*
 * A 1 GiB guest with that DIMM (maxmem 2 GiB), inflated by one critical
 * step of 1280 MiB, which leaves the 1536 MiB guest its 256 MiB floor or
 * more, and the driver caught up: a balloon larger than RAM less the
 * floor once the DIMM is unplugged.  *@inflated: the target, in pages.
 */
AutoGuest *ag_start_dimm_inflated(uint32_t *inflated);

/*
 * With @g from ag_start_dimm_inflated() and its guest not running (stopped,
 * or its state migrated): unplug the DIMM, check that the balloon holds
 * @inflated pages, resume, and check that 1 ns later, with no other event,
 * it gave back down to the 256 MiB floor of the 1 GiB left (one
 * ram-deflates).
 */
void ag_unplug_dimm_then_resume(AutoGuest *g, uint32_t inflated);
/*
 * msg_vq_index: where to set up the message queue, -1 for nowhere, or
 * MSG_VQ_OFFERED: at the index the features the device offers give it
 */
#define MSG_VQ_OFFERED      (-2)
AutoGuest *ag_start(const char *props, bool negotiate, int msg_vq_index);
void ag_stop(AutoGuest *g);
uint32_t ag_target(AutoGuest *g);
/*
 * An honest driver: give (or take back) the pages on the inflate (deflate)
 * queue, then report the new size in 'actual'.
 */
void ag_set_actual(AutoGuest *g, uint32_t pages);
/* A lying driver: report the size in 'actual', give no pages */
void ag_set_actual_unbacked(AutoGuest *g, uint32_t pages);
/* Hand @n pages to the device on @vq, the inflate or the deflate queue */
void ag_send_pages(AutoGuest *g, QVirtQueue *vq, uint32_t n);
/*
 * An element far bigger than one run of the inflate queue (the device
 * examines 16384 PFNs per run, then continues from a bottom half):
 * @descs descriptors naming one buffer of AG_HUGE_PFNS PFNs, the first
 * @valid of them a RAM page, the others beyond RAM.  Kicks the queue
 * and returns the head, without waiting; *@addr is the buffer to free.
 */
#define AG_HUGE_PFNS        (256 * 1024)
uint32_t ag_send_huge(AutoGuest *g, int descs, uint32_t valid,
                      uint64_t *addr);
void ag_catch_up(AutoGuest *g);
void ag_inject(AutoGuest *g, const char *level);
/* The same into any QEMU with the balloon, e.g. a migration's other end */
void ag_inject_qts(QTestState *qts, const char *level);
/*
 * The host memory state the qtest source reports from now on (bytes), as
 * if it had just been read: x-inject-host-memory
 */
void ag_inject_memory(AutoGuest *g, uint64_t usage, uint64_t limit,
                      uint64_t available);
void ag_step(AutoGuest *g, int64_t ns);
void ag_send_raw(AutoGuest *g, const void *buf, size_t len, bool write);
void ag_send_msg(AutoGuest *g, uint16_t type, uint16_t flags,
                 uint32_t level);
void ag_send_pressure(AutoGuest *g);
bool ag_cg_write(const char *path, const char *val);
/* set-auto-balloon { 'enabled': @enabled }, which must succeed */
void ag_set_enabled(QTestState *qts, bool enabled);
/* query-auto-balloon's 'enabled' */
bool ag_enabled(QTestState *qts);
int ag_count_fds(QTestState *qts);
/*
 * Add a device that pins guest RAM (blockdev-add nvme); assert it fails,
 * @refused: because RAM discard is required, else for another reason
 */
void ag_expect_pinning_refused(QTestState *qts, bool refused);
/* Lines of the trace file @path (-trace ...,file=) that hold @needle */
int ag_trace_lines(const char *path, const char *needle);
/*
 * Wait up to 10 s for the @n-th line with @needle in trace @path: a
 * residency measurement in a worker thread (a guest with more than 2 GiB
 * of anonymous RAM, or file-backed RAM) ends on its own time
 */
void ag_wait_trace_lines(const char *path, const char *needle, int n);
/* Trace events of such a measurement (the space ends each name) */
#define AG_RESIDENT_START "virtio_balloon_auto_resident_start "
#define AG_RESIDENT_DONE "virtio_balloon_auto_resident_done "
#define AG_RESIDENT_PAUSE "virtio_balloon_auto_resident_pause "
#define AG_RESIDENT_STANDS "virtio_balloon_auto_resident_stands "
/*
 * A trace file for this test process, "/tmp/qtest-auto-@what-PID.log";
 * the caller unlinks it.  What a killed test process left in /tmp goes
 * at the first call (ag_sweep_stale()).
 */
char *ag_trace_log(const char *what);
/*
 * Make the cgroup directory "@root/qtest-auto-@what-PID" (@root: MEMCG_ROOT
 * or CGROUP2_ROOT) for this test process and return its path; asserts it
 * was made.  The caller removes it.  What a killed test process left under
 * @root goes first (ag_sweep_stale()).
 */
char *ag_cgroup_make(const char *root, const char *what);
/*
 * Remove the entries "qtest-auto-*-PID@suffix" of directory @dir whose PID
 * runs no more: what a test process killed before its own cleanup left
 * (empty cgroups with @suffix "", trace files with ".log"), by remove(3).
 * A cgroup that still holds a task, an entry of a live process or of
 * another user stays.  PIDs are this PID namespace's: a run in another
 * container sharing the directory would look dead.  Returns how many
 * were removed.
 */
int ag_sweep_stale(const char *dir, const char *suffix);
/*
 * The number that follows @before in the last place of trace @path that
 * holds it; asserts there is one
 */
int64_t ag_trace_last_value(const char *path, const char *before);
/*
 * The pause after the last measurement in a worker thread traced to
 * @path, ns of the guest's clock, and what it took (@elapsed_ns, real
 * time, if not NULL); asserts there was one
 */
int64_t ag_trace_last_pause(const char *path, int64_t *elapsed_ns);
/* Stats polling interval of automatic mode, in seconds */
#define STATS_INTERVAL_S    5
/* Not reported: the tag is left out of the buffer */
#define STAT_ABSENT         UINT64_MAX
/*
 * Answer the device's stats request with @vals (indexed by tag): wait
 * for the device to return the buffer it holds (one poll interval of
 * guest time), then hand it a new one.
 */
void ag_send_stats(AutoGuest *g, const uint64_t *vals);
/* query-auto-balloon's return value */
QDict *ag_query(QTestState *qts);
uint64_t ag_query_target_pages(QTestState *qts, uint64_t ram);
uint64_t ag_counter(QTestState *qts, const char *name);

/*
 * Make @need huge pages of the default size free, as root by growing the
 * pool: *@grown says so, and the caller puts it back to *@pool with
 * ag_hugepages_set() once QEMU holds its pages (they become surplus
 * pages, freed when QEMU exits).  False, with the test skipped, if the
 * pages cannot be had.
 */
bool ag_hugepages_reserve(long need, long *pool, bool *grown);
/* Write @n to /proc/sys/vm/nr_hugepages */
bool ag_hugepages_set(long n);

#endif
