/*
 * Host memory pressure monitor
 *
 * Mechanism only: opens a source of host memory pressure notifications
 * and calls back with a level, from the main loop; on demand, reads the
 * source's memory state (usage, limit, available).  It knows nothing about
 * what the caller does with them.  Idle cost is zero wake-ups: the kernel
 * signals file descriptors that the main loop watches, there is no thread
 * and no timer, and the state is read only when asked for.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QEMU_HOST_PRESSURE_H
#define QEMU_HOST_PRESSURE_H

typedef enum HostPressureLevel {
    HOST_PRESSURE_LOW,          /* the kernel is reclaiming */
    HOST_PRESSURE_MEDIUM,       /* reclaim is hard, swapping */
    HOST_PRESSURE_CRITICAL,     /* thrashing, the OOM killer is close */
    HOST_PRESSURE__MAX,
} HostPressureLevel;

typedef enum HostPressureBackend {
    HOST_PRESSURE_BACKEND_VMPRESSURE,   /* cgroup v1 memcg vmpressure */
    HOST_PRESSURE_BACKEND_PSI,          /* cgroup v2 or system-wide PSI */
} HostPressureBackend;

/*
 * PSI thresholds.  A PSI trigger fires when tasks stalled on memory for
 * more than stall_us within a window of window_us: "some" counts time in
 * which at least one task stalled, "full" time in which all non-idle
 * tasks did (Documentation/accounting/psi.rst).
 *
 * What PSI sees differs from vmpressure: vmpressure reports every 512
 * pages scanned, hundreds of times in the second in which a cgroup hits
 * its limit, each with the reclaim efficiency of that batch; PSI reports
 * each trigger at most once per window.  Measured with
 * bench/psi_vs_vmpressure.py (a guest with 600 MiB to spare and a host
 * hog growing to 700 MiB in one 1280 MiB memcg with swap; the QEMU and
 * the hog also in a cgroup v2 group whose memory.pressure the PSI source
 * watches; results in bench/results/2026-11-30-psi): the hog's growth
 * is one burst of reclaim in the first 2 s, with 183 to 887 ms of "some"
 * and 132 to 481 ms of "full" stall in that window (24 runs) and little
 * or none after it; vmpressure signalled 73 to 176 low, 23 to 80 medium
 * and 49 to 103 critical events in it.  So PSI gets one chance per
 * burst, and its level decides the step (8, 32 or 128 MiB): thresholds
 * the burst does not reach leave the balloon with one low step.  Defaults:
 *
 * - window 2 s: the kernel accepts 0.5 to 10 s, but without
 *   CAP_SYS_RESOURCE (QEMU normally runs without it) only multiples of
 *   2 s, and a trigger fires at most once per window; 2 s is the fastest
 *   valid everywhere.
 * - low: some 100 ms (5 %): reclaim has started to delay tasks now and
 *   then, the analogue of vmpressure's low.  The first trigger to fire,
 *   and with it the first reading of the host memory state (below).
 * - medium: some 200 ms (10 %): Android's lmkd maps vmpressure's medium
 *   to "some" 100 ms per 1 s window (lmkd.cpp, psi_thresholds), as does
 *   GNOME's low-memory-monitor.  The former 400 ms (20 %) was missed
 *   by half of the measured bursts (183 to 887 ms), 200 ms by one.
 * - critical: full 100 ms (5 %): everything runnable waited on memory;
 *   lmkd uses "full" 70 ms per 1 s (7 %), low-memory-monitor 100 ms.
 *   The former 400 ms (20 %) was missed by most measured bursts (132
 *   to 481 ms "full"), in each of which vmpressure signalled critical 49
 *   times or more, and no run with it took a critical step; 100 ms is
 *   below every measured burst.  The step stays bounded by what the
 *   guest can spare above its reserve.
 *
 * Triggers alone cannot make PSI as strong as vmpressure: after the
 * burst both sources fall silent while the cgroup stays at its limit,
 * and what vmpressure returns beyond its first steps comes from the high
 * watermark rule, which needs the source's limit
 * (host_pressure_monitor_memory_state()).  A cgroup v2 directory has it
 * in memory.max; one without the memory controller (a hybrid host) does
 * not, and the device then reads it from auto-memory-source.
 */
#define HOST_PRESSURE_PSI_DEFAULT_WINDOW_US     (2 * 1000 * 1000)
#define HOST_PRESSURE_PSI_DEFAULT_LOW_US        (100 * 1000)
#define HOST_PRESSURE_PSI_DEFAULT_MEDIUM_US     (200 * 1000)
#define HOST_PRESSURE_PSI_DEFAULT_CRITICAL_US   (100 * 1000)

/* The kernel's limits on a PSI trigger's window (kernel/sched/psi.c) */
#define HOST_PRESSURE_PSI_WINDOW_MIN_US         (500 * 1000)
#define HOST_PRESSURE_PSI_WINDOW_MAX_US         (10 * 1000 * 1000)

typedef struct HostPressurePsiTrigger {
    bool full;              /* "full" rather than "some" */
    uint32_t stall_us;      /* 0 < stall_us <= window */
} HostPressurePsiTrigger;

typedef struct HostPressureOptions {
    HostPressurePsiTrigger psi[HOST_PRESSURE__MAX];
    uint32_t psi_window_us;
} HostPressureOptions;

/* The defaults above */
void host_pressure_options_default(HostPressureOptions *o);

/*
 * The window within the kernel's 0.5 to 10 s, every stall threshold above
 * 0 and at most the window.  Whether the kernel accepts a window that is
 * not a multiple of 2 s depends on QEMU's capabilities; the monitor
 * reports its refusal.
 */
bool host_pressure_options_check(const HostPressureOptions *o, Error **errp);

typedef struct HostPressureMonitor HostPressureMonitor;

/*
 * Called from the main loop with the highest level of one kernel burst.
 * The callback may free the monitor.
 */
typedef void HostPressureFunc(void *opaque, HostPressureLevel level);

/*
 * Called once, from the main loop, when the source went away (the cgroup
 * was removed).  The monitor has stopped watching by then and stays
 * silent; the caller still owns it and frees it, possibly from here.
 */
typedef void HostPressureGoneFunc(void *opaque);

/**
 * host_pressure_monitor_new:
 * @path: the pressure source: a cgroup v1 memory cgroup directory
 *     (vmpressure), a cgroup v2 directory (PSI on its memory.pressure), or
 *     a memory PSI file (/proc/pressure/memory, a memory.pressure file)
 * @opts: PSI thresholds, NULL for the defaults
 * @cb: called with each pressure level reported
 * @gone_cb: called once if the source goes away, may be NULL
 * @opaque: passed to @cb and @gone_cb
 * @errp: error object
 *
 * Start watching @path from the main loop.
 *
 * Returns: the monitor, or NULL with @errp set when @opts are invalid,
 * @path is longer than any path (PATH_MAX bytes or more: the message
 * gives its length, not the path), is missing, is none of the above,
 * cannot be opened, when the kernel refuses pressure notifications or a
 * PSI trigger there, or on hosts other than Linux.
 */
HostPressureMonitor *host_pressure_monitor_new(const char *path,
                                               const HostPressureOptions *opts,
                                               HostPressureFunc *cb,
                                               HostPressureGoneFunc *gone_cb,
                                               void *opaque, Error **errp);

/*
 * A source opened and armed by someone else (a manager that confines
 * QEMU), handed over as file descriptors, one per level:
 *
 * - PSI: each fd is a memory pressure file (a cgroup v2 directory's
 *   memory.pressure or /proc/pressure/memory) on which the manager has
 *   written that level's trigger.  The thresholds are the manager's;
 *   HostPressureOptions do not apply.
 * - vmpressure: each fd is an eventfd that the manager registered for
 *   that level through the memcg's cgroup.event_control.  Optionally,
 *   @pressure_level is the memcg's memory.pressure_level, open for
 *   reading: with it the monitor can tell the memcg's removal from
 *   pressure (see host-pressure-vmpressure.c); without it (-1), the
 *   kernel's last signal on removal is reported as one critical event
 *   and gone_cb is never called.
 *
 * All levels are required and must be of the same kind.
 */
typedef struct HostPressureFds {
    int level[HOST_PRESSURE__MAX];
    int pressure_level;
} HostPressureFds;

/* Every fd -1 */
void host_pressure_fds_init(HostPressureFds *fds);
/* Close every fd that is not -1, then set it to -1 */
void host_pressure_fds_close(HostPressureFds *fds);

/**
 * host_pressure_monitor_new_fds:
 * @name: the source's name in errors, traces and
 *     host_pressure_monitor_path(), e.g. "/dev/fdset/3"
 * @fds: the file descriptors, see HostPressureFds; the monitor takes
 *     them over, on success and on failure alike
 * @cb, @gone_cb, @opaque, @errp: as for host_pressure_monitor_new()
 *
 * Start watching a source handed over as file descriptors.  The backend
 * follows from what the fds are.
 *
 * Returns: the monitor, or NULL with @errp set, naming @name, the level
 * and what was expected, when @name is PATH_MAX bytes or longer (as for
 * host_pressure_monitor_new()), a level is missing, an fd is of the wrong
 * kind, a PSI file has no trigger, the levels mix kinds, or on hosts
 * other than Linux.
 */
HostPressureMonitor *
host_pressure_monitor_new_fds(const char *name, HostPressureFds *fds,
                              HostPressureFunc *cb,
                              HostPressureGoneFunc *gone_cb, void *opaque,
                              Error **errp);

/* Path of a source handed over in an fdset: "/dev/fdset/<id>" */
#define HOST_PRESSURE_FDSET_PREFIX "/dev/fdset/"

/* The fd opaque naming a vmpressure memcg's memory.pressure_level */
#define HOST_PRESSURE_FDSET_PRESSURE_LEVEL "pressure_level"

/**
 * host_pressure_monitor_new_fdset:
 * @path: "/dev/fdset/<id>", a set added with -add-fd or the add-fd QMP
 *     command
 * @cb, @gone_cb, @opaque, @errp: as for host_pressure_monitor_new()
 *
 * Start watching a source handed over in an fdset.  The opaque string of
 * each fd in the set names its role: a level ("low", "medium",
 * "critical") or HOST_PRESSURE_FDSET_PRESSURE_LEVEL; see HostPressureFds
 * for what each fd must be.  The monitor works on duplicates: the fds
 * stay in the set, and the manager may remove them once the device
 * exists.  Only in QEMU system emulators.
 *
 * Returns: the monitor, or NULL with @errp set when @path is PATH_MAX
 * bytes or longer (as for host_pressure_monitor_new()), the set does not
 * exist, an fd's opaque names no role (quoted up to 32 bytes, told by its
 * length beyond) or one already taken, or as for
 * host_pressure_monitor_new_fds().
 */
HostPressureMonitor *
host_pressure_monitor_new_fdset(const char *path, HostPressureFunc *cb,
                                HostPressureGoneFunc *gone_cb, void *opaque,
                                Error **errp);

/* Stop watching and release everything.  NULL-safe. */
void host_pressure_monitor_free(HostPressureMonitor *m);

const char *host_pressure_monitor_path(const HostPressureMonitor *m);
HostPressureBackend host_pressure_monitor_backend(const HostPressureMonitor *m);
bool host_pressure_monitor_gone(const HostPressureMonitor *m);

/*
 * Memory state of a pressure source, in bytes, read on demand with
 * host_memory_state_read() or host_pressure_monitor_memory_state():
 *
 * - usage: what the source uses now, page cache included: a cgroup's
 *   memory.usage_in_bytes (v1; the kernel's batched counter, off by at
 *   most a few hundred KiB per CPU) or memory.current (v2); the host's
 *   MemTotal - MemAvailable (/proc/meminfo).
 * - limit: what it may use: the cgroup's limit (v1: the smaller of
 *   memory.limit_in_bytes and memory.stat's hierarchical_memory_limit;
 *   v2: the smaller of memory.max and memory.high, the point where the
 *   kernel starts throttling and reclaiming), but never more than the
 *   host's MemTotal, which is also the limit of a cgroup without one and
 *   of the host.
 * - available: what it can still get without reclaiming memory in use:
 *   limit - (usage - inactive page cache), the inactive page cache being
 *   memory.stat's total_inactive_file (v1) or inactive_file (v2); at most
 *   the host's MemAvailable, since a cgroup below its limit still takes
 *   its memory from the host.  The host's own is MemAvailable.
 * - limited: the limit is the cgroup's own, not the host's MemTotal.
 */
typedef struct HostMemoryState {
    uint64_t usage;
    uint64_t limit;
    uint64_t available;
    bool limited;
} HostMemoryState;

/**
 * host_memory_state_read:
 * @path: a pressure source as for host_pressure_monitor_new(): a cgroup
 *     v1 memory cgroup or cgroup v2 directory (its state files), a
 *     memory.pressure file (its directory's), or /proc/pressure/memory
 *     (the host's /proc/meminfo)
 * @st: filled in on success
 * @errp: error object
 *
 * Read the memory state of @path now.  The files are opened, read and
 * closed on each call: a few tens of microseconds, nothing in between.
 *
 * Returns: true on success; false with @errp set, naming the file, when
 * @path is PATH_MAX bytes or longer (the message gives its length, not
 * the path), is none of the above, a cgroup v2 directory has no memory
 * controller (no memory.current), or a file cannot be read or parsed.
 */
bool host_memory_state_read(const char *path, HostMemoryState *st,
                            Error **errp);

/* The same, with the host's meminfo read from @meminfo (tests) */
bool host_memory_state_read_from(const char *path, const char *meminfo,
                                 HostMemoryState *st, Error **errp);

/**
 * host_pressure_monitor_memory_state:
 * @m: the monitor
 * @st: filled in on success
 * @errp: error object
 *
 * The memory state of @m's source, as host_memory_state_read().  A source
 * handed over as file descriptors has no known state: its fds carry no
 * path, and a confined QEMU may not open the cgroup's files anyway; the
 * call then fails, and callers work without the state.
 */
bool host_pressure_monitor_memory_state(const HostPressureMonitor *m,
                                        HostMemoryState *st, Error **errp);

/*
 * Called from the main loop when the source's usage crossed the threshold
 * of host_pressure_monitor_set_threshold() (@bytes), upward or downward.
 * The monitor has stopped watching it by then.  The callback may free the
 * monitor.
 */
typedef void HostPressureThresholdFunc(void *opaque, uint64_t bytes);

/**
 * host_pressure_monitor_set_threshold:
 * @m: the monitor
 * @bytes: the usage threshold in bytes; 0 to stop watching
 * @cb: called, with the monitor's opaque, when usage crosses @bytes
 * @errp: error object
 *
 * Have the kernel tell when the source's usage (HostMemoryState.usage)
 * crosses @bytes, replacing any threshold set before: cgroup v1 memory
 * thresholds (an eventfd registered on memory.usage_in_bytes through
 * cgroup.event_control, Documentation/admin-guide/cgroup-v1/memory.rst,
 * "Memory thresholds").  The kernel checks them as memory is charged, so
 * watching costs no wake-up until usage crosses.
 *
 * One crossing each: the monitor stops watching before it calls @cb, and
 * the caller sets the next threshold from what it then reads.  The kernel
 * signals every crossing, both ways; a caller that wants the next one at
 * the same place sets it again.  The memcg's removal signals the eventfd
 * too, and may come as a crossing before the monitor reports the source
 * gone.
 *
 * Returns: true when the kernel watches @bytes (or with @bytes 0); false
 * with @errp set when the source has no such notification (cgroup v2, the
 * whole host, a source handed over as fds) or the kernel refuses it.
 * After a refusal host_pressure_monitor_threshold_supported() is false.
 */
bool host_pressure_monitor_set_threshold(HostPressureMonitor *m,
                                         uint64_t bytes,
                                         HostPressureThresholdFunc *cb,
                                         Error **errp);

/**
 * host_pressure_monitor_threshold:
 * @m: the monitor
 *
 * Returns: the usage threshold the kernel watches for @m, in bytes; 0
 * when none (never set, crossed, stopped, or the source gone).
 */
uint64_t host_pressure_monitor_threshold(const HostPressureMonitor *m);

/**
 * host_pressure_monitor_threshold_supported:
 * @m: the monitor
 *
 * Returns: whether host_pressure_monitor_set_threshold() can succeed on
 * @m: a cgroup v1 memcg QEMU opened itself, not gone, whose kernel has not
 * refused a threshold.  A caller asks this instead of keeping its own
 * record of a failure, which would outlive the monitor.
 */
bool host_pressure_monitor_threshold_supported(const HostPressureMonitor *m);

/**
 * host_pressure_default_source:
 * @errp: error object
 *
 * The host-wide pressure source that exists on this host.  Tried in this
 * order (the first one present wins):
 *   1. the cgroup v1 root memory cgroup, /sys/fs/cgroup/memory (vmpressure)
 *   2. system-wide PSI, /proc/pressure/memory
 * On a host with both (cgroup v1 or hybrid hierarchy), the v1 memcg root
 * stays first, so that existing setups keep their behaviour; on a pure
 * cgroup v2 host there is no v1 memory controller and PSI is used.  There
 * is none on hosts other than Linux.
 *
 * Returns: a path for host_pressure_monitor_new() (free with g_free()), or
 * NULL with @errp set when there is none.
 */
char *host_pressure_default_source(Error **errp);

/* "low", "medium", "critical" */
const char *host_pressure_level_str(HostPressureLevel level);
/* "vmpressure", "psi" */
const char *host_pressure_backend_str(HostPressureBackend backend);

#endif
