/*
 * Host memory pressure monitor
 *
 * Mechanism only: opens a source of host memory pressure notifications
 * and calls back with a level, from the main loop.  It knows nothing about
 * what the caller does with them.  Idle cost is zero wake-ups: the kernel
 * signals file descriptors that the main loop watches, there is no thread
 * and no timer.
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
 * tasks did (Documentation/accounting/psi.rst).  Defaults:
 *
 * - window 2 s: the kernel accepts 0.5 to 10 s, but without
 *   CAP_SYS_RESOURCE (QEMU normally runs without it) only multiples of
 *   2 s, and a trigger fires at most once per window; 2 s is the fastest
 *   valid everywhere.
 * - low: some 100 ms (5 %): reclaim has started to delay tasks now and
 *   then, the analogue of vmpressure's low.
 * - medium: some 400 ms (20 %): tasks wait on reclaim and refaults a
 *   fifth of the time, i.e. the host swaps or thrashes its cache.
 *   Android's lmkd treats 20 % "some" stall as medium pressure too.
 * - critical: full 400 ms (20 %): everything runnable waited on memory a
 *   fifth of the time, the host is thrashing and the OOM killer is close.
 *   lmkd kills at 70 % "full"; a balloon can still help well before that.
 */
#define HOST_PRESSURE_PSI_DEFAULT_WINDOW_US     (2 * 1000 * 1000)
#define HOST_PRESSURE_PSI_DEFAULT_LOW_US        (100 * 1000)
#define HOST_PRESSURE_PSI_DEFAULT_MEDIUM_US     (400 * 1000)
#define HOST_PRESSURE_PSI_DEFAULT_CRITICAL_US   (400 * 1000)

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
 * @path is missing, is none of the above, cannot be opened, when the
 * kernel refuses pressure notifications or a PSI trigger there, or on
 * hosts other than Linux.
 */
HostPressureMonitor *host_pressure_monitor_new(const char *path,
                                               const HostPressureOptions *opts,
                                               HostPressureFunc *cb,
                                               HostPressureGoneFunc *gone_cb,
                                               void *opaque, Error **errp);

/* Stop watching and release everything.  NULL-safe. */
void host_pressure_monitor_free(HostPressureMonitor *m);

const char *host_pressure_monitor_path(const HostPressureMonitor *m);
HostPressureBackend host_pressure_monitor_backend(const HostPressureMonitor *m);
bool host_pressure_monitor_gone(const HostPressureMonitor *m);

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
