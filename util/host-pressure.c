/*
 * Host memory pressure monitor: front end
 *
 * Decides which backend a path needs, owns the monitor's lifetime and
 * funnels the backends' reports to the caller.  Compiles everywhere; the
 * backends are Linux-only.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "host-pressure-int.h"
#include "trace.h"

#define MEMCG_V1_ROOT "/sys/fs/cgroup/memory"

#define PSI_WINDOW_MIN_US   HOST_PRESSURE_PSI_WINDOW_MIN_US
#define PSI_WINDOW_MAX_US   HOST_PRESSURE_PSI_WINDOW_MAX_US

static const char *const level_names[HOST_PRESSURE__MAX] = {
    [HOST_PRESSURE_LOW] = "low",
    [HOST_PRESSURE_MEDIUM] = "medium",
    [HOST_PRESSURE_CRITICAL] = "critical",
};

const char *host_pressure_level_str(HostPressureLevel level)
{
    return level < HOST_PRESSURE__MAX ? level_names[level] : "invalid";
}

const char *host_pressure_backend_str(HostPressureBackend backend)
{
    switch (backend) {
    case HOST_PRESSURE_BACKEND_VMPRESSURE:
        return "vmpressure";
    case HOST_PRESSURE_BACKEND_PSI:
        return "psi";
    }
    return "invalid";
}

void host_pressure_options_default(HostPressureOptions *o)
{
    *o = (HostPressureOptions) {
        .psi_window_us = HOST_PRESSURE_PSI_DEFAULT_WINDOW_US,
        .psi = {
            [HOST_PRESSURE_LOW] = {
                .full = false,
                .stall_us = HOST_PRESSURE_PSI_DEFAULT_LOW_US,
            },
            [HOST_PRESSURE_MEDIUM] = {
                .full = false,
                .stall_us = HOST_PRESSURE_PSI_DEFAULT_MEDIUM_US,
            },
            [HOST_PRESSURE_CRITICAL] = {
                .full = true,
                .stall_us = HOST_PRESSURE_PSI_DEFAULT_CRITICAL_US,
            },
        },
    };
}

bool host_pressure_options_check(const HostPressureOptions *o, Error **errp)
{
    int l;

    if (o->psi_window_us < PSI_WINDOW_MIN_US ||
        o->psi_window_us > PSI_WINDOW_MAX_US) {
        error_setg(errp, "PSI window of %" PRIu32 " us is outside the"
                   " kernel's range, %d to %d us", o->psi_window_us,
                   PSI_WINDOW_MIN_US, PSI_WINDOW_MAX_US);
        return false;
    }
    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        if (!o->psi[l].stall_us || o->psi[l].stall_us > o->psi_window_us) {
            error_setg(errp, "PSI stall threshold of %" PRIu32 " us for"
                       " level %s must be above 0 and at most the window"
                       " (%" PRIu32 " us)", o->psi[l].stall_us,
                       host_pressure_level_str(l), o->psi_window_us);
            return false;
        }
    }
    return true;
}

bool host_pressure_check_path(const char *what, const char *path,
                              Error **errp)
{
    size_t len = strlen(path);

    if (len < PATH_MAX) {
        return true;
    }
    error_setg(errp, "%s is a path of %zu bytes; a path has at most %d"
               " bytes", what, len, PATH_MAX - 1);
    return false;
}

#ifdef CONFIG_LINUX

#include <sys/vfs.h>
#include <sys/syscall.h>
#include <linux/kcmp.h>
#include <poll.h>

#define PSI_SYSTEM_DIR "/proc/pressure/"

static bool has_file(const char *dir, const char *file)
{
    g_autofree char *p = g_build_filename(dir, file, NULL);

    return access(p, F_OK) == 0;
}

/*
 * Pick the backend for @path and the file it watches (@file: NULL for
 * vmpressure, the memory.pressure file for PSI), or say precisely why
 * there is none: a wrong path is the most likely configuration mistake,
 * and "not supported" alone would not tell the user which one they made.
 */
static const HostPressureBackendOps *backend_for(const char *path,
                                                 char **file, Error **errp)
{
    g_autofree char *base = g_path_get_basename(path);
    struct stat st;

    if (stat(path, &st) < 0) {
        error_setg_errno(errp, errno, "host pressure source '%s'", path);
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (g_str_equal(base, "memory.pressure") ||
            g_str_equal(path, PSI_SYSTEM_MEMORY)) {
            *file = g_strdup(path);
            return &host_pressure_psi_ops;
        }
        if (g_str_has_prefix(path, PSI_SYSTEM_DIR)) {
            error_setg(errp, "host pressure source '%s' is PSI of another"
                       " resource: give " PSI_SYSTEM_MEMORY, path);
        } else {
            error_setg(errp, "host pressure source '%s' is neither a"
                       " directory nor a memory PSI file: give a cgroup v1"
                       " memory cgroup or cgroup v2 directory, or a"
                       " memory.pressure file", path);
        }
        return NULL;
    }
    /* Otherwise a directory we cannot search looks like "not a memcg" */
    if (access(path, X_OK) < 0) {
        error_setg_errno(errp, errno, "cannot access host pressure source"
                         " '%s'", path);
        return NULL;
    }
    if (has_file(path, "cgroup.controllers")) {
        if (!has_file(path, "memory.pressure")) {
            error_setg(errp, "cgroup v2 directory '%s' has no"
                       " memory.pressure: the kernel was built or booted"
                       " without PSI (psi=1)", path);
            return NULL;
        }
        *file = g_build_filename(path, "memory.pressure", NULL);
        return &host_pressure_psi_ops;
    }
    if (has_file(path, "memory.pressure_level")) {
        return &host_pressure_vmpressure_ops;
    }
    if (has_file(path, "memory.usage_in_bytes")) {
        error_setg(errp, "the kernel has no vmpressure notifications in"
                   " memory cgroup '%s' (no memory.pressure_level)", path);
        return NULL;
    }
    error_setg(errp, "host pressure source '%s' is neither a cgroup v1"
               " memory cgroup (no memory.pressure_level) nor a cgroup v2"
               " directory (no cgroup.controllers)", path);
    return NULL;
}

/*
 * Handed-over fds: the kernel tells what an fd is by the name it gives it
 * in /proc/self/fd and by the file system it lives on.
 */
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC      0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC     0x63677270
#endif
#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC        0x9fa0
#endif

#define FDS_EXPECTED "expected memory.pressure of a cgroup v2 directory or" \
    " " PSI_SYSTEM_MEMORY " with the level's PSI trigger written, or an" \
    " eventfd registered for the level through a cgroup v1 memcg's" \
    " cgroup.event_control"

/* What the kernel calls @fd, e.g. "anon_inode:[eventfd]", "pipe:[42]" */
char *host_pressure_fd_name(int fd)
{
    g_autofree char *link = g_strdup_printf("/proc/self/fd/%d", fd);
    char *name = g_file_read_link(link, NULL);

    return name ? name : g_strdup("?");
}

static bool fd_on_fs(int fd, long magic)
{
    struct statfs sfs;

    return fstatfs(fd, &sfs) == 0 && sfs.f_type == magic;
}

static bool fd_is_eventfd(int fd)
{
    g_autofree char *name = host_pressure_fd_name(fd);

    return g_str_equal(name, "anon_inode:[eventfd]");
}

bool host_pressure_fd_is_psi(int fd)
{
    g_autofree char *name = host_pressure_fd_name(fd);
    g_autofree char *base = g_path_get_basename(name);

    return (fd_on_fs(fd, CGROUP2_SUPER_MAGIC) &&
            g_str_equal(base, "memory.pressure")) ||
           (fd_on_fs(fd, PROC_SUPER_MAGIC) &&
            g_str_equal(name, PSI_SYSTEM_MEMORY));
}

bool host_pressure_fd_is_v1_file(int fd, const char *file)
{
    g_autofree char *name = host_pressure_fd_name(fd);
    g_autofree char *base = g_path_get_basename(name);

    return fd_on_fs(fd, CGROUP_SUPER_MAGIC) && g_str_equal(base, file);
}

/*
 * A memory pressure file polls POLLERR|POLLPRI at once when no trigger
 * was written on it (psi_trigger_poll() in kernel/sched/psi.c), and also
 * once its cgroup is gone: neither will ever signal pressure.
 */
static bool psi_fd_armed(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLPRI };

    return poll(&pfd, 1, 0) >= 0 && !(pfd.revents & (POLLERR | POLLNVAL));
}

/*
 * Whether @a and @b are known to be one open file (the same fd twice, or
 * dup()s of one, as "-add-fd fd=6" given for two levels makes them).
 * Without kcmp() (it needs CONFIG_CHECKPOINT_RESTORE) only the first.
 */
static bool fds_same_file(int a, int b)
{
    pid_t pid = getpid();

    return a == b || syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b) == 0;
}

/* Whether @a and @b are open files of the same inode */
static bool fd_same_file(int a, int b)
{
    struct stat sa, sb;

    return !fstat(a, &sa) && !fstat(b, &sb) && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Check what the manager handed over; pick the backend */
static const HostPressureBackendOps *backend_for_fds(const char *name,
                                                     const HostPressureFds *fds,
                                                     Error **errp)
{
    bool eventfd[HOST_PRESSURE__MAX];
    int l;

    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        int fd = fds->level[l];
        g_autofree char *what = NULL;

        if (fd < 0) {
            error_setg(errp, "host pressure source '%s' has no fd for level"
                       " %s: all of low, medium and critical are needed",
                       name, host_pressure_level_str(l));
            return NULL;
        }
        eventfd[l] = fd_is_eventfd(fd);
        if (!eventfd[l] && !host_pressure_fd_is_psi(fd)) {
            what = host_pressure_fd_name(fd);
            error_setg(errp, "host pressure source '%s': the fd for level %s"
                       " is '%s': " FDS_EXPECTED, name,
                       host_pressure_level_str(l), what);
            return NULL;
        }
        if (!eventfd[l] && !psi_fd_armed(fd)) {
            what = host_pressure_fd_name(fd);
            error_setg(errp, "host pressure source '%s': the fd for level %s"
                       " ('%s') has no PSI trigger, or its cgroup is gone:"
                       " write the trigger before handing the fd over",
                       name, host_pressure_level_str(l), what);
            return NULL;
        }
        if (eventfd[l] != eventfd[0]) {
            error_setg(errp, "host pressure source '%s': the fd for level %s"
                       " is %s but the fd for level %s is %s: all levels"
                       " must use the same backend", name,
                       host_pressure_level_str(0),
                       eventfd[0] ? "an eventfd" : "a PSI file",
                       host_pressure_level_str(l),
                       eventfd[l] ? "an eventfd" : "a PSI file");
            return NULL;
        }
        /*
         * One source: triggers on two PSI files (the host's and a
         * cgroup's) would mix two pressures in one set of levels
         */
        if (!eventfd[l] && !fd_same_file(fd, fds->level[0])) {
            g_autofree char *first = host_pressure_fd_name(fds->level[0]);

            what = host_pressure_fd_name(fd);
            error_setg(errp, "host pressure source '%s': the fd for level %s"
                       " is '%s' but the fd for level %s is '%s': all"
                       " levels must be triggers on the same PSI file",
                       name, host_pressure_level_str(l), what,
                       host_pressure_level_str(0), first);
            return NULL;
        }
    }
    if (fds->pressure_level >= 0) {
        g_autofree char *what = host_pressure_fd_name(fds->pressure_level);

        if (!eventfd[0]) {
            error_setg(errp, "host pressure source '%s': a"
                       " memory.pressure_level fd only goes with vmpressure"
                       " eventfds, not with PSI", name);
            return NULL;
        }
        if (!host_pressure_fd_is_v1_file(fds->pressure_level,
                                         "memory.pressure_level")) {
            error_setg(errp, "host pressure source '%s': the"
                       " memory.pressure_level fd is '%s': expected the"
                       " memory.pressure_level file of the cgroup v1 memcg"
                       " the eventfds are registered on", name, what);
            return NULL;
        }
        /*
         * The kernel signalled the eventfds one last time when the memcg
         * went, and a monitor that held them before may have drained
         * that: nothing would ever tell this one.
         */
        if (host_pressure_memcg_removed(fds->pressure_level)) {
            error_setg(errp, "host pressure source '%s': the memory cgroup"
                       " of its memory.pressure_level fd ('%s') is gone",
                       name, what);
            return NULL;
        }
    }
    /*
     * A trigger, or a registration, is per open file: with one file for
     * two levels, each signal of either would wake both, and the higher
     * would be reported for every stall of the lower.
     */
    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        int k;

        for (k = l + 1; k < HOST_PRESSURE__MAX; k++) {
            if (fds_same_file(fds->level[l], fds->level[k])) {
                error_setg(errp, "host pressure source '%s': the fds for"
                           " levels %s and %s are one open file: each level"
                           " needs its own (%s)", name,
                           host_pressure_level_str(l),
                           host_pressure_level_str(k),
                           eventfd[0] ? "an eventfd registered for it" :
                           "a file with its own trigger written");
                return NULL;
            }
        }
    }
    return eventfd[0] ? &host_pressure_vmpressure_ops : &host_pressure_psi_ops;
}

#else

static const HostPressureBackendOps *backend_for(const char *path,
                                                 char **file, Error **errp)
{
    error_setg(errp, "host pressure source '%s': host memory pressure"
               " notifications are only supported on Linux", path);
    return NULL;
}

static const HostPressureBackendOps *backend_for_fds(const char *name,
                                                     const HostPressureFds *fds,
                                                     Error **errp)
{
    error_setg(errp, "host pressure source '%s': host memory pressure"
               " notifications are only supported on Linux", name);
    return NULL;
}

#endif

void host_pressure_fds_init(HostPressureFds *fds)
{
    int l;

    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        fds->level[l] = -1;
    }
    fds->pressure_level = -1;
}

void host_pressure_fds_close(HostPressureFds *fds)
{
    int l;

    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        if (fds->level[l] >= 0) {
            qemu_close(fds->level[l]);
        }
    }
    if (fds->pressure_level >= 0) {
        qemu_close(fds->pressure_level);
    }
    host_pressure_fds_init(fds);
}

HostPressureMonitor *host_pressure_monitor_new(const char *path,
                                               const HostPressureOptions *opts,
                                               HostPressureFunc *cb,
                                               HostPressureGoneFunc *gone_cb,
                                               void *opaque, Error **errp)
{
    const HostPressureBackendOps *ops;
    HostPressureMonitor *m;
    HostPressureOptions defaults;
    char *file = NULL;

    assert(path && cb);
    if (!opts) {
        host_pressure_options_default(&defaults);
        opts = &defaults;
    }
    if (!host_pressure_check_path("host pressure source", path, errp) ||
        !host_pressure_options_check(opts, errp)) {
        return NULL;
    }
    ops = backend_for(path, &file, errp);
    if (!ops) {
        return NULL;
    }
    m = g_new0(HostPressureMonitor, 1);
    m->path = g_strdup(path);
    m->file = file;
    m->opts = *opts;
    m->ops = ops;
    m->cb = cb;
    m->gone_cb = gone_cb;
    m->opaque = opaque;
    if (!ops->open(m, errp)) {
        g_free(m->file);
        g_free(m->path);
        g_free(m);
        return NULL;
    }
    trace_host_pressure_open(path, host_pressure_backend_str(ops->type));
    return m;
}

HostPressureMonitor *
host_pressure_monitor_new_fds(const char *name, HostPressureFds *fds,
                              HostPressureFunc *cb,
                              HostPressureGoneFunc *gone_cb, void *opaque,
                              Error **errp)
{
    const HostPressureBackendOps *ops;
    HostPressureMonitor *m;

    assert(name && fds && cb);
    ops = host_pressure_check_path("host pressure source", name, errp) ?
          backend_for_fds(name, fds, errp) : NULL;
    if (!ops) {
        host_pressure_fds_close(fds);
        return NULL;
    }
    m = g_new0(HostPressureMonitor, 1);
    m->path = g_strdup(name);
    host_pressure_options_default(&m->opts);
    m->ops = ops;
    m->cb = cb;
    m->gone_cb = gone_cb;
    m->opaque = opaque;
    m->handed_over = true;
    m->fds = *fds;
    host_pressure_fds_init(fds);
    if (!ops->open(m, errp)) {
        host_pressure_fds_close(&m->fds);
        g_free(m->path);
        g_free(m);
        return NULL;
    }
    /* Whatever the backend did not take */
    host_pressure_fds_close(&m->fds);
    trace_host_pressure_open(name, host_pressure_backend_str(ops->type));
    return m;
}

void host_pressure_monitor_free(HostPressureMonitor *m)
{
    if (!m) {
        return;
    }
    host_pressure_threshold_stop(m);
    m->ops->close(m);
    g_free(m->file);
    g_free(m->path);
    g_free(m);
}

const char *host_pressure_monitor_path(const HostPressureMonitor *m)
{
    return m->path;
}

HostPressureBackend host_pressure_monitor_backend(const HostPressureMonitor *m)
{
    return m->ops->type;
}

bool host_pressure_monitor_gone(const HostPressureMonitor *m)
{
    return m->gone;
}

void host_pressure_report(HostPressureMonitor *m, HostPressureLevel level)
{
    assert(level < HOST_PRESSURE__MAX && !m->gone);
    trace_host_pressure_event(m->path, host_pressure_level_str(level));
    m->cb(m->opaque, level);
}

void host_pressure_report_gone(HostPressureMonitor *m)
{
    if (m->gone) {
        return;
    }
    m->gone = true;
    /* Its removal signals the threshold's eventfd too: stop listening */
    host_pressure_threshold_stop(m);
    trace_host_pressure_gone(m->path);
    if (m->gone_cb) {
        m->gone_cb(m->opaque);
    }
}

char *host_pressure_default_source(Error **errp)
{
#ifdef CONFIG_LINUX
    /* Keep the order documented in the header when adding sources. */
    if (has_file(MEMCG_V1_ROOT, "memory.pressure_level") &&
        !has_file(MEMCG_V1_ROOT, "cgroup.controllers")) {
        return g_strdup(MEMCG_V1_ROOT);
    }
    if (access(PSI_SYSTEM_MEMORY, R_OK | W_OK) == 0) {
        return g_strdup(PSI_SYSTEM_MEMORY);
    }
    error_setg(errp, "no host-wide memory pressure source found (tried the"
               " cgroup v1 memory controller at " MEMCG_V1_ROOT " and PSI"
               " at " PSI_SYSTEM_MEMORY ")");
#else
    error_setg(errp, "host memory pressure notifications are only"
               " supported on Linux");
#endif
    return NULL;
}
