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
    HOST_PRESSURE_BACKEND_PSI,          /* reserved, not implemented yet */
} HostPressureBackend;

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
 * @path: the pressure source, a cgroup v1 memory cgroup directory
 * @cb: called with each pressure level reported
 * @gone_cb: called once if the source goes away, may be NULL
 * @opaque: passed to @cb and @gone_cb
 * @errp: error object
 *
 * Start watching @path from the main loop.
 *
 * Returns: the monitor, or NULL with @errp set when @path is missing, is
 * not a directory, is not a cgroup v1 memory cgroup (cgroup v2 directories
 * and PSI files are recognised and rejected until a PSI backend exists),
 * cannot be opened, when the kernel refuses pressure notifications there,
 * or on hosts other than Linux.
 */
HostPressureMonitor *host_pressure_monitor_new(const char *path,
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
 * A PSI backend will add /proc/pressure/memory after it: on a host with
 * both, the v1 memcg root stays the default, so existing setups keep
 * their behaviour.  There is none on hosts other than Linux.
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
