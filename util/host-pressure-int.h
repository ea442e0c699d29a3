/*
 * Host memory pressure monitor: interface between front end and backends
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef UTIL_HOST_PRESSURE_INT_H
#define UTIL_HOST_PRESSURE_INT_H

#include "qemu/host-pressure.h"

#define PSI_SYSTEM_MEMORY "/proc/pressure/memory"

typedef struct HostPressureBackendOps {
    HostPressureBackend type;
    /*
     * Start watching m->path (PSI: m->file), or the fds handed over
     * (m->handed_over), which the front end has checked are a source
     * this backend claims; set m->priv.  On failure
     * set @errp, release everything taken and leave m->priv NULL.
     */
    bool (*open)(HostPressureMonitor *m, Error **errp);
    /* Stop watching and release m->priv; also called after gone */
    void (*close)(HostPressureMonitor *m);
} HostPressureBackendOps;

struct HostPressureMonitor {
    char *path;
    char *file;         /* PSI: the memory.pressure file; else NULL */
    HostPressureOptions opts;
    const HostPressureBackendOps *ops;
    HostPressureFunc *cb;
    HostPressureGoneFunc *gone_cb;
    void *opaque;
    bool gone;
    void *priv;         /* the backend's state */
    /*
     * A source handed over as fds: the backend's open() takes them over
     * instead of opening m->path, and sets each one it took to -1.
     */
    bool handed_over;
    HostPressureFds fds;
    /* The usage threshold, see host_pressure_monitor_set_threshold() */
    struct HostPressureThreshold *threshold;
    /* The kernel refused a usage threshold: not asked again */
    bool threshold_refused;
};

/* Stop watching the usage threshold, if any (host-pressure-memory.c) */
void host_pressure_threshold_stop(HostPressureMonitor *m);

/*
 * Backends call these from their main-loop handlers, as their last action:
 * the caller's callback may free the monitor.  Before reporting gone the
 * backend must have stopped watching, so that nothing fires any more.
 */
void host_pressure_report(HostPressureMonitor *m, HostPressureLevel level);
void host_pressure_report_gone(HostPressureMonitor *m);

/*
 * Whether @path, which names @what in messages ("host pressure source"),
 * is short enough to name a file: at most PATH_MAX - 1 bytes (PATH_MAX
 * counts the terminating NUL; 4096 on Linux).  A longer one is refused
 * with its length only: every later message quotes the path, and a
 * mistaken or hostile value of any size must not become a message, a
 * QMP reply or a trace line of that size.  Called first by each entry
 * point that takes a path from the user.
 */
bool host_pressure_check_path(const char *what, const char *path,
                              Error **errp);

#ifdef CONFIG_LINUX
extern const HostPressureBackendOps host_pressure_vmpressure_ops;
extern const HostPressureBackendOps host_pressure_psi_ops;

/*
 * What an open fd is, asked of the kernel (host-pressure.c).  A source
 * named by a path is checked with these after opening and before QEMU
 * writes anything to it: a path can name any file, and a regular file,
 * FIFO or symlink called memory.pressure or cgroup.event_control would
 * otherwise be written to.  Handed-over fds are checked the same way.
 */
/* The kernel's name for @fd (/proc/self/fd), or "?"; g_free() it */
char *host_pressure_fd_name(int fd);
/* memory.pressure of a cgroup v2 directory, or /proc/pressure/memory */
bool host_pressure_fd_is_psi(int fd);
/* The file called @file of a cgroup v1 hierarchy */
bool host_pressure_fd_is_v1_file(int fd, const char *file);
/*
 * @level_fd, an open memory.pressure_level, belongs to a memcg that was
 * removed (host-pressure-vmpressure.c)
 */
bool host_pressure_memcg_removed(int level_fd);
#endif

#endif
