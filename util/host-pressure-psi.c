/*
 * Host memory pressure monitor: PSI (pressure stall information) backend
 *
 * One PSI trigger per level on a memory pressure file: a cgroup v2
 * directory's memory.pressure, or the host's /proc/pressure/memory
 * (Documentation/accounting/psi.rst, "Monitoring for pressure
 * thresholds").  Each trigger is its own open file; the kernel signals
 * it with POLLPRI at most once per window when the stall time within the
 * window crosses its threshold.
 *
 * A manager that confines QEMU may instead open the files and write the
 * triggers itself, and hand the fds over (host_pressure_monitor_new_fds);
 * from then on they are watched the same way.
 *
 * QEMU's fd handlers watch POLLIN/POLLOUT only, so each file is watched by
 * a GLib unix fd source on G_IO_PRI in the default main context, which
 * QEMU's main loop polls.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include <glib-unix.h>
#include "host-pressure-int.h"
#include "trace.h"

typedef struct PsiTrigger {
    int fd;
    guint source;
    HostPressureLevel level;
    struct Psi *psi;
} PsiTrigger;

typedef struct Psi {
    HostPressureMonitor *m;
    char *file;
    PsiTrigger triggers[HOST_PRESSURE__MAX];
    QEMUBH *bh;
    unsigned pending;       /* levels fired since the bottom half last ran */
    bool removed;
} Psi;

static void psi_stop(Psi *p)
{
    int l;

    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        PsiTrigger *t = &p->triggers[l];

        if (t->source) {
            g_source_remove(t->source);
            t->source = 0;
        }
        if (t->fd >= 0) {
            /*
             * Closing the file is what destroys the trigger in the kernel
             * (qemu_close(): a handed-over fd is an fdset's duplicate)
             */
            qemu_close(t->fd);
            t->fd = -1;
        }
    }
}

/*
 * Demultiplexing: triggers of several levels fire together when pressure
 * rises fast, and GLib dispatches each of their sources separately, after
 * its poll() has already consumed every POLLPRI (PSI's POLLPRI is an edge:
 * reading it clears it).  So the sources only collect the levels, and a
 * bottom half, which runs after all sources of this main-loop iteration,
 * reports the highest one once (see psi_open() for where it runs).
 *
 * How a cgroup v2 directory goes away (as seen on Linux 6.18): rmdir
 * removes it at once and deactivates the kernfs nodes of its files;
 * poll() on our open memory.pressure files then returns POLLERR|POLLPRI,
 * and keeps returning it.  So G_IO_ERR means gone: stop watching at once,
 * or the main loop would spin, and report it once from the bottom half.
 */
static gboolean psi_ready(gint fd, GIOCondition cond, gpointer opaque)
{
    PsiTrigger *t = opaque;
    Psi *p = t->psi;

    trace_host_pressure_psi_wakeup(p->file, host_pressure_level_str(t->level),
                                   cond);
    if (cond & (G_IO_ERR | G_IO_HUP | G_IO_NVAL)) {
        p->removed = true;
        psi_stop(p);     /* destroys this source too */
    } else {
        p->pending |= 1u << t->level;
    }
    qemu_bh_schedule(p->bh);
    return G_SOURCE_CONTINUE;
}

static void psi_bh(void *opaque)
{
    Psi *p = opaque;
    int l, highest = -1;

    if (p->removed) {
        p->pending = 0;
        host_pressure_report_gone(p->m);
        return;
    }
    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        if (p->pending & (1u << l)) {
            highest = l;
        }
    }
    p->pending = 0;
    if (highest >= 0) {
        host_pressure_report(p->m, highest);
    }
}

static bool psi_open_trigger(Psi *p, HostPressureLevel level,
                             const HostPressureOptions *o, Error **errp)
{
    PsiTrigger *t = &p->triggers[level];
    g_autofree char *text = g_strdup_printf("%s %" PRIu32 " %" PRIu32,
                                            o->psi[level].full ? "full" :
                                            "some", o->psi[level].stall_us,
                                            o->psi_window_us);

    t->fd = open(p->file, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        error_setg_errno(errp, errno, "cannot open '%s'", p->file);
        return false;
    }
    /* Write a trigger only to the kernel's file: see host-pressure-int.h */
    if (!host_pressure_fd_is_psi(t->fd)) {
        g_autofree char *what = host_pressure_fd_name(t->fd);
        g_autofree char *is = g_str_equal(what, p->file) ? g_strdup("") :
                              g_strdup_printf(" (it is '%s')", what);

        error_setg(errp, "'%s'%s is not the memory.pressure file of a"
                   " cgroup v2 directory nor " PSI_SYSTEM_MEMORY ": QEMU"
                   " writes PSI triggers only to those", p->file, is);
        return false;
    }
    /* The kernel wants the terminating NUL: it cuts the last byte */
    if (write(t->fd, text, strlen(text) + 1) < 0) {
        int err = errno;

        error_setg_errno(errp, err, "the kernel refused the PSI trigger"
                         " '%s' for level %s on '%s'%s", text,
                         host_pressure_level_str(level), p->file,
                         err == EINVAL ? " (without CAP_SYS_RESOURCE the"
                         " window must be a multiple of 2 s)" : "");
        return false;
    }
    t->level = level;
    t->psi = p;
    trace_host_pressure_psi_trigger(p->file, host_pressure_level_str(level),
                                    text);
    return true;
}

static bool psi_open(HostPressureMonitor *m, Error **errp)
{
    Psi *p = g_new0(Psi, 1);
    int l;

    p->m = m;
    p->file = g_strdup(m->file ? m->file : m->path);
    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        p->triggers[l].fd = -1;
    }
    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        if (m->handed_over) {
            /* Armed by the manager, checked by the front end */
            p->triggers[l].fd = m->fds.level[l];
            p->triggers[l].level = l;
            p->triggers[l].psi = p;
            m->fds.level[l] = -1;
        } else if (!psi_open_trigger(p, l, &m->opts, errp)) {
            psi_stop(p);
            g_free(p->file);
            g_free(p);
            return false;
        }
    }
    /*
     * In the iohandler context, as QEMU's fd handlers are: the main loop
     * itself runs it, never the block layer's polls of the main
     * AioContext within other work (savevm and loadvm polling for the
     * vmstate's I/O while the devices' state is written or read).
     */
    p->bh = aio_bh_new(iohandler_get_aio_context(), psi_bh, p);
    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        PsiTrigger *t = &p->triggers[l];

        t->source = g_unix_fd_add_full(G_PRIORITY_DEFAULT, t->fd,
                                       G_IO_PRI | G_IO_ERR | G_IO_HUP,
                                       psi_ready, t, NULL);
    }
    m->priv = p;
    return true;
}

static void psi_close(HostPressureMonitor *m)
{
    Psi *p = m->priv;

    psi_stop(p);
    qemu_bh_delete(p->bh);
    g_free(p->file);
    g_free(p);
    m->priv = NULL;
}

const HostPressureBackendOps host_pressure_psi_ops = {
    .type = HOST_PRESSURE_BACKEND_PSI,
    .open = psi_open,
    .close = psi_close,
};
