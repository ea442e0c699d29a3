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

#ifdef CONFIG_LINUX

#define PSI_SYSTEM_DIR "/proc/pressure/"

static bool has_file(const char *dir, const char *file)
{
    g_autofree char *p = g_build_filename(dir, file, NULL);

    return access(p, F_OK) == 0;
}

/*
 * Pick the backend for @path, or say precisely why there is none: a wrong
 * path is the most likely configuration mistake, and "not supported" alone
 * would not tell the user which of them they made.
 *
 * A PSI backend will claim cgroup v2 directories and PSI files here, ahead
 * of the errors that now reject them.
 */
static const HostPressureBackendOps *backend_for(const char *path,
                                                 Error **errp)
{
    g_autofree char *base = g_path_get_basename(path);
    struct stat st;

    if (stat(path, &st) < 0) {
        error_setg_errno(errp, errno, "host pressure source '%s'", path);
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (g_str_has_prefix(path, PSI_SYSTEM_DIR) ||
            g_str_equal(base, "memory.pressure")) {
            error_setg(errp, "host pressure source '%s' is a PSI file: PSI"
                       " pressure is not supported by the vmpressure backend"
                       " yet; give a cgroup v1 memory cgroup directory",
                       path);
        } else {
            error_setg(errp, "host pressure source '%s' is not a directory:"
                       " give a cgroup v1 memory cgroup directory", path);
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
        error_setg(errp, "host pressure source '%s' is a cgroup v2"
                   " directory: cgroup v2 / PSI pressure is not supported"
                   " by the vmpressure backend yet; give a cgroup v1 memory"
                   " cgroup directory", path);
        return NULL;
    }
    if (has_file(path, "memory.pressure_level")) {
        return &host_pressure_vmpressure_ops;
    }
    if (has_file(path, "memory.usage_in_bytes")) {
        error_setg(errp, "the kernel has no vmpressure notifications in"
                   " memory cgroup '%s' (no memory.pressure_level)", path);
        return NULL;
    }
    error_setg(errp, "host pressure source '%s' is not a cgroup v1 memory"
               " cgroup directory (no memory.pressure_level)", path);
    return NULL;
}

#else

static const HostPressureBackendOps *backend_for(const char *path,
                                                 Error **errp)
{
    error_setg(errp, "host pressure source '%s': host memory pressure"
               " notifications are only supported on Linux", path);
    return NULL;
}

#endif

HostPressureMonitor *host_pressure_monitor_new(const char *path,
                                               HostPressureFunc *cb,
                                               HostPressureGoneFunc *gone_cb,
                                               void *opaque, Error **errp)
{
    const HostPressureBackendOps *ops;
    HostPressureMonitor *m;

    assert(path && cb);
    ops = backend_for(path, errp);
    if (!ops) {
        return NULL;
    }
    m = g_new0(HostPressureMonitor, 1);
    m->path = g_strdup(path);
    m->ops = ops;
    m->cb = cb;
    m->gone_cb = gone_cb;
    m->opaque = opaque;
    if (!ops->open(m, errp)) {
        g_free(m->path);
        g_free(m);
        return NULL;
    }
    trace_host_pressure_open(path, host_pressure_backend_str(ops->type));
    return m;
}

void host_pressure_monitor_free(HostPressureMonitor *m)
{
    if (!m) {
        return;
    }
    m->ops->close(m);
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
    trace_host_pressure_gone(m->path);
    if (m->gone_cb) {
        m->gone_cb(m->opaque);
    }
}

char *host_pressure_default_source(Error **errp)
{
#ifdef CONFIG_LINUX
    /*
     * The root memcg sees every reclaim on the host.  Keep the order
     * documented in the header when adding sources (PSI comes next).
     */
    if (has_file(MEMCG_V1_ROOT, "memory.pressure_level") &&
        !has_file(MEMCG_V1_ROOT, "cgroup.controllers")) {
        return g_strdup(MEMCG_V1_ROOT);
    }
    error_setg(errp, "no host-wide memory pressure source found (tried the"
               " cgroup v1 memory controller at " MEMCG_V1_ROOT ")");
#else
    error_setg(errp, "host memory pressure notifications are only"
               " supported on Linux");
#endif
    return NULL;
}
