/*
 * Host memory pressure monitor: memory state of a source
 *
 * Reads, on demand, how much memory a pressure source uses and may use:
 * a cgroup v1 memory cgroup (memory.usage_in_bytes, memory.limit_in_bytes,
 * memory.stat), a cgroup v2 directory (memory.current, memory.max,
 * memory.high, memory.stat) or the whole host (/proc/meminfo).  Nothing
 * is kept open and nothing runs between two reads: the caller decides
 * when to look (see host_memory_state_read() for the definitions).  On a
 * cgroup v1 memcg the kernel can also say when usage crosses a threshold
 * (host_pressure_monitor_set_threshold()).
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/units.h"
#include "qemu/event_notifier.h"
#include "qemu/main-loop.h"
#include "host-pressure-int.h"
#include "trace.h"

#define PROC_MEMINFO "/proc/meminfo"

/*
 * cgroup v1 writes "no limit" as PAGE_COUNTER_MAX pages in bytes, which
 * is LONG_MAX rounded down to the page size (9223372036854771712 with
 * 4 KiB pages); cgroup v2 writes "max".  Anything at or above 2^62 bytes
 * is read as no limit, whatever the page size.
 */
#define NO_LIMIT_MIN (1ULL << 62)

typedef enum HostMemoryKind {
    HOST_MEMORY_HOST,       /* system-wide: /proc/meminfo only */
    HOST_MEMORY_CGROUP1,
    HOST_MEMORY_CGROUP2,
} HostMemoryKind;

static bool state_file_exists(const char *dir, const char *file)
{
    g_autofree char *p = g_build_filename(dir, file, NULL);

    return access(p, F_OK) == 0;
}

/*
 * Read a file holding one number of bytes, or "max" (no limit, as
 * UINT64_MAX).
 */
static bool read_bytes(const char *dir, const char *file, uint64_t *val,
                       Error **errp)
{
    g_autofree char *p = g_build_filename(dir, file, NULL);
    g_autofree char *buf = NULL;
    g_autoptr(GError) gerr = NULL;

    if (!g_file_get_contents(p, &buf, NULL, &gerr)) {
        error_setg(errp, "cannot read host memory state from '%s': %s", p,
                   gerr->message);
        return false;
    }
    g_strstrip(buf);
    if (g_str_equal(buf, "max")) {
        *val = UINT64_MAX;
        return true;
    }
    if (qemu_strtou64(buf, NULL, 10, val) < 0) {
        error_setg(errp, "'%s' holds '%s', not a number of bytes", p, buf);
        return false;
    }
    if (*val >= NO_LIMIT_MIN) {
        *val = UINT64_MAX;
    }
    return true;
}

/*
 * The value of @key in a file of "key value" lines (memory.stat), or in
 * "Key:   value kB" lines (/proc/meminfo, @kib true: the value is in KiB).
 */
static bool read_key(const char *file, const char *key, bool kib,
                     uint64_t *val, Error **errp)
{
    g_autofree char *buf = NULL;
    g_autoptr(GError) gerr = NULL;
    g_auto(GStrv) lines = NULL;
    size_t klen = strlen(key);
    int i;

    if (!g_file_get_contents(file, &buf, NULL, &gerr)) {
        error_setg(errp, "cannot read host memory state from '%s': %s", file,
                   gerr->message);
        return false;
    }
    lines = g_strsplit(buf, "\n", -1);
    for (i = 0; lines[i]; i++) {
        const char *rest = lines[i] + klen;

        if (strncmp(lines[i], key, klen) || (*rest != ' ' && *rest != ':')) {
            continue;
        }
        rest += *rest == ':';
        if (qemu_strtou64(rest, &rest, 10, val) < 0 ||
            (kib && *val > UINT64_MAX / KiB)) {
            break;
        }
        *val = kib ? *val * KiB : *val;
        return true;
    }
    error_setg(errp, "'%s' has no usable '%s'", file, key);
    return false;
}

/* What kind of source @path is, and the directory its state files are in */
static bool state_kind(const char *path, HostMemoryKind *kind, char **dir,
                       Error **errp)
{
    g_autofree char *base = g_path_get_basename(path);
    struct stat st;

    if (g_str_equal(path, PSI_SYSTEM_MEMORY)) {
        *kind = HOST_MEMORY_HOST;
        *dir = NULL;
        return true;
    }
    if (stat(path, &st) < 0) {
        error_setg_errno(errp, errno, "host memory state of '%s'", path);
        return false;
    }
    *dir = S_ISDIR(st.st_mode) ? g_strdup(path) :
           g_str_equal(base, "memory.pressure") ? g_path_get_dirname(path) :
           NULL;
    if (!*dir) {
        error_setg(errp, "host memory state of '%s': neither a cgroup"
                   " directory, a memory.pressure file nor "
                   PSI_SYSTEM_MEMORY, path);
        return false;
    }
    if (state_file_exists(*dir, "cgroup.controllers")) {
        if (!state_file_exists(*dir, "memory.current")) {
            error_setg(errp, "host memory state of '%s': the cgroup v2"
                       " directory has no memory.current (the memory"
                       " controller is not enabled there)", *dir);
            goto fail;
        }
        *kind = HOST_MEMORY_CGROUP2;
        return true;
    }
    if (state_file_exists(*dir, "memory.usage_in_bytes")) {
        *kind = HOST_MEMORY_CGROUP1;
        return true;
    }
    error_setg(errp, "host memory state of '%s': neither a cgroup v1 memory"
               " cgroup (no memory.usage_in_bytes) nor a cgroup v2"
               " directory (no cgroup.controllers)", *dir);
fail:
    g_free(*dir);
    *dir = NULL;
    return false;
}

static bool read_host(const char *meminfo, HostMemoryState *st, Error **errp)
{
    uint64_t total, avail;

    if (!read_key(meminfo, "MemTotal", true, &total, errp) ||
        !read_key(meminfo, "MemAvailable", true, &avail, errp)) {
        return false;
    }
    st->limit = total;
    st->available = MIN(avail, total);
    st->usage = total - st->available;
    st->limited = false;
    return true;
}

static bool read_cgroup(const char *dir, HostMemoryKind kind,
                        HostMemoryState *st, Error **errp)
{
    bool v2 = kind == HOST_MEMORY_CGROUP2;
    g_autofree char *stat = g_build_filename(dir, "memory.stat", NULL);
    uint64_t limit, high = UINT64_MAX, inactive_file, hier;

    if (!read_bytes(dir, v2 ? "memory.current" : "memory.usage_in_bytes",
                    &st->usage, errp) ||
        !read_bytes(dir, v2 ? "memory.max" : "memory.limit_in_bytes",
                    &limit, errp) ||
        (v2 && state_file_exists(dir, "memory.high") &&
         !read_bytes(dir, "memory.high", &high, errp)) ||
        !read_key(stat, v2 ? "inactive_file" : "total_inactive_file", false,
                  &inactive_file, errp)) {
        return false;
    }
    /*
     * v1: an ancestor's smaller limit applies too; memory.stat says which
     * one is in force.  v2 has no such file (ancestors' memory.max are
     * not looked at).
     */
    if (!v2 && read_key(stat, "hierarchical_memory_limit", false, &hier,
                        NULL) && hier < NO_LIMIT_MIN) {
        limit = MIN(limit, hier);
    }
    st->limit = MIN(limit, high);
    st->limited = st->limit != UINT64_MAX;
    /*
     * Inactive page cache is what reclaim takes first and cheaply: the
     * working set is the rest (as the kubelet and cAdvisor count it).
     */
    inactive_file = MIN(inactive_file, st->usage);
    st->available = st->limit > st->usage - inactive_file ?
                    st->limit - (st->usage - inactive_file) : 0;
    return true;
}

bool host_memory_state_read_from(const char *path, const char *meminfo,
                                 HostMemoryState *st, Error **errp)
{
    g_autofree char *dir = NULL;
    HostMemoryKind kind;
    HostMemoryState host;

    if (!host_pressure_check_path("host memory state source", path, errp) ||
        !state_kind(path, &kind, &dir, errp) ||
        !read_host(meminfo, &host, errp)) {
        return false;
    }
    if (kind == HOST_MEMORY_HOST) {
        *st = host;
    } else {
        if (!read_cgroup(dir, kind, st, errp)) {
            return false;
        }
        /* A cgroup gets no more than the host has, whatever its limit */
        if (st->limit >= host.limit) {
            st->limit = host.limit;
            st->limited = false;
        }
        st->available = MIN(MIN(st->available, host.available), st->limit);
    }
    trace_host_memory_state(path, st->usage, st->limit, st->available,
                            st->limited);
    return true;
}

bool host_memory_state_read(const char *path, HostMemoryState *st,
                            Error **errp)
{
    return host_memory_state_read_from(path, PROC_MEMINFO, st, errp);
}

bool host_pressure_monitor_memory_state(const HostPressureMonitor *m,
                                        HostMemoryState *st, Error **errp)
{
    if (m->handed_over) {
        error_setg(errp, "the memory state of host pressure source '%s' is"
                   " not known: it was handed over as file descriptors",
                   m->path);
        return false;
    }
    return host_memory_state_read(m->path, st, errp);
}

#ifdef CONFIG_LINUX

struct HostPressureThreshold {
    EventNotifier notifier;
    HostPressureMonitor *m;
    HostPressureThresholdFunc *cb;
    uint64_t bytes;
};

void host_pressure_threshold_stop(HostPressureMonitor *m)
{
    struct HostPressureThreshold *t = m->threshold;

    if (!t) {
        return;
    }
    event_notifier_set_handler(&t->notifier, NULL);
    /* Closing the eventfd is what unregisters it in the kernel */
    event_notifier_cleanup(&t->notifier);
    g_free(t);
    m->threshold = NULL;
}

static void threshold_handler(EventNotifier *n)
{
    struct HostPressureThreshold *t =
        container_of(n, struct HostPressureThreshold, notifier);
    HostPressureMonitor *m = t->m;
    HostPressureThresholdFunc *cb = t->cb;
    uint64_t bytes = t->bytes;

    if (!event_notifier_test_and_clear(n)) {
        return;
    }
    trace_host_memory_threshold_crossed(m->path, bytes);
    /* One crossing each: this frees t */
    host_pressure_threshold_stop(m);
    /* Last: the callback may free the monitor */
    cb(m->opaque, bytes);
}

static bool threshold_supported(const HostPressureMonitor *m)
{
    return !m->handed_over && !m->gone && !m->threshold_refused &&
           m->ops->type == HOST_PRESSURE_BACKEND_VMPRESSURE;
}

bool host_pressure_monitor_set_threshold(HostPressureMonitor *m,
                                         uint64_t bytes,
                                         HostPressureThresholdFunc *cb,
                                         Error **errp)
{
    g_autofree char *usage_path = NULL;
    g_autofree char *control_path = NULL;
    g_autofree char *line = NULL;
    struct HostPressureThreshold *t;
    int usage_fd = -1, control_fd = -1, ret;

    host_pressure_threshold_stop(m);
    if (!bytes) {
        return true;
    }
    if (m->threshold_refused) {
        error_setg(errp, "the kernel refused a usage threshold for '%s'"
                   " before: not asked again", m->path);
        return false;
    }
    if (!threshold_supported(m)) {
        error_setg(errp, "host pressure source '%s' has no usage threshold"
                   " notifications (only a cgroup v1 memory cgroup opened"
                   " by QEMU has them)", m->path);
        return false;
    }
    usage_path = g_build_filename(m->path, "memory.usage_in_bytes", NULL);
    control_path = g_build_filename(m->path, "cgroup.event_control", NULL);
    t = g_new0(struct HostPressureThreshold, 1);
    t->m = m;
    t->cb = cb;
    t->bytes = bytes;
    ret = event_notifier_init(&t->notifier, false);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "cannot create an eventfd for '%s'",
                         m->path);
        g_free(t);
        return false;
    }
    usage_fd = open(usage_path, O_RDONLY | O_CLOEXEC);
    control_fd = usage_fd < 0 ? -1 :
                 open(control_path, O_WRONLY | O_CLOEXEC);
    line = g_strdup_printf("%d %d %" PRIu64,
                           event_notifier_get_fd(&t->notifier), usage_fd,
                           bytes);
    if (usage_fd >= 0 && control_fd >= 0 &&
        (!host_pressure_fd_is_v1_file(usage_fd, "memory.usage_in_bytes") ||
         !host_pressure_fd_is_v1_file(control_fd, "cgroup.event_control"))) {
        /* Register only through the kernel's files: host-pressure-int.h */
        error_setg(errp, "'%s' is no longer a cgroup v1 memory cgroup: no"
                   " usage threshold registered", m->path);
        ret = -1;
    } else if (usage_fd < 0 || control_fd < 0 ||
               write(control_fd, line, strlen(line)) < 0) {
        error_setg_errno(errp, errno, "the kernel refused a usage threshold"
                         " of %" PRIu64 " bytes for '%s'", bytes, m->path);
        ret = -1;
    }
    /* The registration lives on in the kernel without either file */
    if (usage_fd >= 0) {
        close(usage_fd);
    }
    if (control_fd >= 0) {
        close(control_fd);
    }
    if (ret < 0) {
        event_notifier_cleanup(&t->notifier);
        g_free(t);
        m->threshold_refused = true;
        return false;
    }
    event_notifier_set_handler(&t->notifier, threshold_handler);
    m->threshold = t;
    trace_host_memory_threshold(m->path, bytes);
    return true;
}

uint64_t host_pressure_monitor_threshold(const HostPressureMonitor *m)
{
    return m->threshold ? m->threshold->bytes : 0;
}

bool host_pressure_monitor_threshold_supported(const HostPressureMonitor *m)
{
    return threshold_supported(m);
}

#else

void host_pressure_threshold_stop(HostPressureMonitor *m)
{
}

bool host_pressure_monitor_set_threshold(HostPressureMonitor *m,
                                         uint64_t bytes,
                                         HostPressureThresholdFunc *cb,
                                         Error **errp)
{
    if (!bytes) {
        return true;
    }
    error_setg(errp, "host pressure source '%s' has no usage threshold"
               " notifications: only on Linux", m->path);
    return false;
}

uint64_t host_pressure_monitor_threshold(const HostPressureMonitor *m)
{
    return 0;
}

bool host_pressure_monitor_threshold_supported(const HostPressureMonitor *m)
{
    return false;
}

#endif
