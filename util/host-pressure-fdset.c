/*
 * Host memory pressure monitor: a source handed over in an fdset
 *
 * Finds the fds of "/dev/fdset/<id>" by the role their opaque string
 * names and hands duplicates to host_pressure_monitor_new_fds(), which
 * checks what they are.  The duplicates are the fdset's
 * (monitor_fdset_dup_fd_add_fd()): it counts as in use until the monitor
 * closes them with qemu_close().  Separate from host-pressure.c because
 * it needs the monitor's fdsets, which only system emulators have.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-misc.h"
#include "qemu/cutils.h"
#include "monitor/monitor.h"
#include "host-pressure-int.h"
#include "trace.h"

/*
 * An opaque string that names no role is quoted in the error only up to
 * this length, and told by its length beyond: add-fd takes any string,
 * and a message must not grow with it.  Twice the longest role.
 */
#define FDSET_ROLE_QUOTE_MAX 32

/* The fd slot the opaque string @role names, NULL if none */
static int *fdset_role_slot(HostPressureFds *fds, const char *role)
{
    int l;

    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        if (g_str_equal(role, host_pressure_level_str(l))) {
            return &fds->level[l];
        }
    }
    if (g_str_equal(role, HOST_PRESSURE_FDSET_PRESSURE_LEVEL)) {
        return &fds->pressure_level;
    }
    return NULL;
}

static bool fdset_collect(const char *path, FdsetInfo *set,
                          HostPressureFds *fds, Error **errp)
{
    FdsetFdInfoList *e;

    for (e = set->fds; e; e = e->next) {
        const char *role = e->value->opaque;
        int *slot = role ? fdset_role_slot(fds, role) : NULL;

        if (!slot) {
            g_autofree char *what =
                !role ? g_strdup("no opaque") :
                strlen(role) <= FDSET_ROLE_QUOTE_MAX ?
                g_strdup_printf("opaque '%s'", role) :
                g_strdup_printf("an opaque of %zu bytes", strlen(role));

            error_setg(errp, "fd %" PRId64 " of '%s' has %s: each fd's"
                       " opaque must name its level (low, medium,"
                       " critical) or be " HOST_PRESSURE_FDSET_PRESSURE_LEVEL,
                       e->value->fd, path, what);
            return false;
        }
        if (*slot >= 0) {
            error_setg(errp, "fd %" PRId64 " of '%s' is a second fd for"
                       " '%s'", e->value->fd, path, role);
            return false;
        }
        *slot = monitor_fdset_dup_fd_add_fd(set->fdset_id, e->value->fd,
                                            errp);
        if (*slot < 0) {
            return false;
        }
        trace_host_pressure_fdset_fd(path, e->value->fd, role, *slot);
    }
    return true;
}

HostPressureMonitor *
host_pressure_monitor_new_fdset(const char *path, HostPressureFunc *cb,
                                HostPressureGoneFunc *gone_cb, void *opaque,
                                Error **errp)
{
    g_autoptr(FdsetInfoList) sets = NULL;
    FdsetInfoList *e;
    HostPressureFds fds;
    int64_t id;

    if (!host_pressure_check_path("host pressure source", path, errp)) {
        return NULL;
    }
    /* Digits only: strtoll() would take a sign and leading blanks too */
    if (!g_str_has_prefix(path, HOST_PRESSURE_FDSET_PREFIX) ||
        !g_ascii_isdigit(path[strlen(HOST_PRESSURE_FDSET_PREFIX)]) ||
        qemu_strtoi64(path + strlen(HOST_PRESSURE_FDSET_PREFIX), NULL, 10,
                      &id) < 0 || id < 0) {
        error_setg(errp, "'%s' is not an fdset: expected "
                   HOST_PRESSURE_FDSET_PREFIX "<id>", path);
        return NULL;
    }
    sets = qmp_query_fdsets(&error_abort);
    for (e = sets; e && e->value->fdset_id != id; e = e->next) {
        continue;
    }
    if (!e) {
        error_setg(errp, "fdset '%s' does not exist: add its fds with"
                   " -add-fd or the add-fd QMP command first", path);
        return NULL;
    }
    host_pressure_fds_init(&fds);
    if (!fdset_collect(path, e->value, &fds, errp)) {
        host_pressure_fds_close(&fds);
        return NULL;
    }
    return host_pressure_monitor_new_fds(path, &fds, cb, gone_cb, opaque,
                                         errp);
}
