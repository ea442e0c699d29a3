/*
 * Host memory pressure monitor: cgroup v1 vmpressure backend
 *
 * One eventfd per level is registered through cgroup.event_control on the
 * memcg's memory.pressure_level (Documentation/admin-guide/cgroup-v1/
 * memory.rst, "Memory Pressure").  In the default mode the kernel signals
 * every registered level at or below the current one, so one burst at
 * critical wakes all three eventfds; vmpressure_handler() turns that back
 * into one report.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/event_notifier.h"
#include "qemu/main-loop.h"
#include "qemu/leaky-bucket.h"
#include "qemu/timer.h"
#include "monitor/monitor.h"
#include <glib-unix.h>
#include "host-pressure-int.h"
#include "trace.h"

typedef struct VmpressureLevel {
    EventNotifier notifier;
    bool initialized;
    HostPressureMonitor *m;
} VmpressureLevel;

/*
 * Wake-up budget: QEMU's leaky bucket (include/qemu/throttle.h, the block
 * layer's I/O throttling) leaking VMPRESSURE_RATE wake-ups a second on
 * QEMU_CLOCK_REALTIME, configured as QEMU's throttling accepts it
 * (throttle_is_valid()): a rate, no burst rate, a burst length of 1 s, which
 * allows bursts of a tenth of a second's worth (throttle_compute_wait()), 100
 * wake-ups and the one that fills the bucket.  The kernel computes vmpressure
 * once per 512 pages scanned (mm/vmpressure.c, vmpressure_win), so a host
 * reclaiming gigabytes a second can signal thousands of times a second, while
 * the policy acts at most once per throttle interval (a second by default).
 * With the bucket full, the eventfds are not watched for
 * VMPRESSURE_HOLD_OFF_MS; the signals that arrive meanwhile are counted by
 * the eventfds and reported as one, with their highest level, when watching
 * resumes.  Below the rate nothing is delayed, so event-to-config latency is
 * unchanged.  A storm of 10,000 signals a second (make bench) becomes about
 * 1020 wake-ups a second; at 2000 a second it was 2020, and its cost 4.1 %
 * [3.9-5.3] of a CPU (5 runs), 2.1 % [2.0-2.8] at 1000 (with bursts of 200,
 * before the bucket was QEMU's), and 2.2 % [2.1-4.6] with this bucket
 * (bench/results/README.md, 2026-12-02-eve), against a budget of 5 %.  The
 * policy acts at most once per throttle interval, so a thousand reports a
 * second lose it nothing.
 */
#define VMPRESSURE_RATE         1000
#define VMPRESSURE_HOLD_OFF_MS  10

typedef struct Vmpressure {
    /* The wake-up budget, last leaked at leak_ns (QEMU_CLOCK_REALTIME) */
    LeakyBucket budget;
    int64_t leak_ns;
    /* Armed while the eventfds are not watched */
    QEMUTimer *hold_off;
    /*
     * memory.pressure_level, kept open to tell removal from pressure: see
     * vmpressure_removed().
     */
    int level_fd;
    VmpressureLevel levels[HOST_PRESSURE__MAX];
} Vmpressure;

static void vmpressure_handler(EventNotifier *n);

static void vmpressure_watch(Vmpressure *v, bool on)
{
    int l;

    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        event_notifier_set_handler(&v->levels[l].notifier,
                                   on ? vmpressure_handler : NULL);
    }
}

static void vmpressure_hold_off_end(void *opaque)
{
    vmpressure_watch(opaque, true);
}

/*
 * Take one wake-up from the budget; when it is spent, stop watching the
 * eventfds until the hold-off timer ends.
 */
static void vmpressure_spend(Vmpressure *v)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    if (!leaky_bucket_add_one(&v->budget, &v->leak_ns, now)) {
        return;
    }
    vmpressure_watch(v, false);
    timer_mod(v->hold_off, now + VMPRESSURE_HOLD_OFF_MS * SCALE_MS);
}

static void vmpressure_budget_init(Vmpressure *v)
{
    v->budget = (LeakyBucket) {
        .avg = VMPRESSURE_RATE,
        .burst_length = 1,
    };
    v->leak_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    v->hold_off = timer_new_ns(QEMU_CLOCK_REALTIME, vmpressure_hold_off_end,
                               v);
}

static void vmpressure_stop(Vmpressure *v)
{
    int l;

    if (v->hold_off) {
        timer_free(v->hold_off);
        v->hold_off = NULL;
    }
    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        if (v->levels[l].initialized) {
            event_notifier_set_handler(&v->levels[l].notifier, NULL);
            /*
             * A handed-over eventfd is an fdset's duplicate: tell the
             * fdset, as qemu_close() would (a no-op for our own eventfds).
             * Closing the eventfd is what unregisters it in the kernel.
             */
            monitor_fdset_dup_fd_remove(
                event_notifier_get_fd(&v->levels[l].notifier));
            event_notifier_cleanup(&v->levels[l].notifier);
            v->levels[l].initialized = false;
        }
    }
    if (v->level_fd >= 0) {
        qemu_close(v->level_fd);
        v->level_fd = -1;
    }
}

/*
 * How a memcg goes away (as seen on Linux 6.18): rmdir removes the
 * directory at once and deactivates the kernfs nodes of its files, so any
 * read of our open memory.pressure_level fails with ENODEV from then on
 * (while the memcg lives, it fails with EINVAL: the file has nothing to
 * read).  Some milliseconds later, the css offline work signals every
 * eventfd registered on the memcg one last time (a plain count of 1,
 * POLLIN only: an eventfd never reports POLLHUP) and forgets them.  So
 * that wake-up, which looks like a critical burst, means "gone".  The
 * kernel signals the three eventfds from separate work items, possibly in
 * different main-loop iterations, but the first wake-up already finds the
 * file dead and stops watching all of them.  Asking the open file rather
 * than the path is immune to a new memcg of the same name and to a change
 * of working directory.
 *
 * Were a future kernel to answer differently, the last wake-up would be
 * reported as one critical event and then nothing would ever fire again:
 * a missed gone_cb, never a busy loop.
 */
bool host_pressure_memcg_removed(int level_fd)
{
    char c;

    return pread(level_fd, &c, 1, 0) < 0 && errno == ENODEV;
}

static bool vmpressure_removed(Vmpressure *v)
{
    /* Handed over without it: removal cannot be told from pressure */
    return v->level_fd >= 0 && host_pressure_memcg_removed(v->level_fd);
}

/*
 * The handler of all three eventfds.
 *
 * Demultiplexing: whichever eventfd's handler runs first drains all three
 * and reports the highest level signalled, once.  When the kernel has
 * signalled all of them before the main loop polls (the usual case: it
 * signals them in one short loop), the other handlers of the same dispatch
 * find nothing and return, so a burst gives exactly one report, and
 * several bursts piled up before we ran give one report of their highest
 * level.  A new burst that arrives during the dispatch is reported by the
 * next handler that runs, or in the next iteration: still one report.
 *
 * The kernel may still be signalling on another CPU while we drain, so a
 * burst can be split over two main-loop iterations.  vmpressure_open()
 * registers the levels so that the kernel signals them from low to
 * critical: a split burst is then reported as rising levels (e.g. low,
 * then critical), and the last report of a burst is always its true level,
 * never a stale lower one.  Consumers throttle and coalesce anyway.
 */
static void vmpressure_handler(EventNotifier *n)
{
    VmpressureLevel *lv = container_of(n, VmpressureLevel, notifier);
    HostPressureMonitor *m = lv->m;
    Vmpressure *v = m->priv;
    bool fired[HOST_PRESSURE__MAX];
    int highest = -1;
    int l;

    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        fired[l] = event_notifier_test_and_clear(&v->levels[l].notifier);
        if (fired[l]) {
            highest = l;
        }
    }
    if (highest < 0) {
        /* Drained by the handler of another level of the same burst */
        return;
    }
    /* Before the report: its callback may free the monitor */
    vmpressure_spend(v);
    trace_host_pressure_vmpressure_wakeup(m->path,
                                          fired[HOST_PRESSURE_LOW],
                                          fired[HOST_PRESSURE_MEDIUM],
                                          fired[HOST_PRESSURE_CRITICAL]);
    if (vmpressure_removed(v)) {
        /*
         * The kernel has dropped our registrations: stop watching, so
         * that its remaining last signals wake nobody, and say so once.
         */
        vmpressure_stop(v);
        host_pressure_report_gone(m);
        return;
    }
    host_pressure_report(m, highest);
}

/* Eventfds the manager registered, checked by the front end */
static void vmpressure_take_over(HostPressureMonitor *m)
{
    Vmpressure *v = g_new0(Vmpressure, 1);
    int l;

    vmpressure_budget_init(v);
    v->level_fd = m->fds.pressure_level;
    m->fds.pressure_level = -1;
    for (l = 0; l < HOST_PRESSURE__MAX; l++) {
        VmpressureLevel *lv = &v->levels[l];

        /*
         * The handler reads every level's eventfd, signalled or not, so
         * a read must not block.  The manager may have created them
         * blocking, and QEMU's monitor makes fds it receives over a
         * socket blocking: this changes the manager's copy too, which
         * only the kernel signals.
         */
        g_unix_set_fd_nonblocking(m->fds.level[l], true, NULL);
        event_notifier_init_fd(&lv->notifier, m->fds.level[l]);
        m->fds.level[l] = -1;
        lv->initialized = true;
        lv->m = m;
        event_notifier_set_handler(&lv->notifier, vmpressure_handler);
    }
    m->priv = v;
}

/* Register our own eventfds through cgroup.event_control */
static bool vmpressure_register(HostPressureMonitor *m, Error **errp)
{
    Vmpressure *v = g_new0(Vmpressure, 1);
    g_autofree char *level_path =
        g_build_filename(m->path, "memory.pressure_level", NULL);
    g_autofree char *control_path =
        g_build_filename(m->path, "cgroup.event_control", NULL);
    int control_fd = -1;
    int l, ret;

    vmpressure_budget_init(v);
    v->level_fd = open(level_path, O_RDONLY | O_CLOEXEC);
    if (v->level_fd < 0) {
        error_setg_errno(errp, errno, "cannot open '%s'", level_path);
        goto fail;
    }
    control_fd = open(control_path, O_WRONLY | O_CLOEXEC);
    if (control_fd < 0) {
        error_setg_errno(errp, errno, "cannot open '%s'", control_path);
        goto fail;
    }
    /* Register only through the kernel's files: see host-pressure-int.h */
    if (!host_pressure_fd_is_v1_file(v->level_fd, "memory.pressure_level") ||
        !host_pressure_fd_is_v1_file(control_fd, "cgroup.event_control")) {
        error_setg(errp, "'%s' is not a cgroup v1 memory cgroup: its"
                   " memory.pressure_level or cgroup.event_control is not"
                   " the kernel's (not on a cgroup file system); QEMU"
                   " registers vmpressure notifications only there", m->path);
        goto fail;
    }

    /*
     * The kernel adds each registration at the head of its list and
     * signals in list order: register from critical down to low so that a
     * burst is signalled from low up to critical (see vmpressure_handler).
     */
    for (l = HOST_PRESSURE__MAX - 1; l >= 0; l--) {
        VmpressureLevel *lv = &v->levels[l];
        g_autofree char *line = NULL;

        ret = event_notifier_init(&lv->notifier, false);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "cannot create an eventfd for '%s'",
                             m->path);
            goto fail;
        }
        lv->initialized = true;
        lv->m = m;
        line = g_strdup_printf("%d %d %s",
                               event_notifier_get_fd(&lv->notifier),
                               v->level_fd, host_pressure_level_str(l));
        if (write(control_fd, line, strlen(line)) < 0) {
            error_setg_errno(errp, errno, "the kernel refused vmpressure"
                             " notifications for '%s' (write to '%s')",
                             m->path, control_path);
            goto fail;
        }
    }
    /* Nothing can fire before the handlers are in: no main loop ran yet */
    vmpressure_watch(v, true);
    /* Registrations live on in the kernel without the control file */
    close(control_fd);
    m->priv = v;
    return true;

fail:
    if (control_fd >= 0) {
        close(control_fd);
    }
    vmpressure_stop(v);
    g_free(v);
    return false;
}

static bool vmpressure_open(HostPressureMonitor *m, Error **errp)
{
    if (m->handed_over) {
        vmpressure_take_over(m);
        return true;
    }
    return vmpressure_register(m, errp);
}

static void vmpressure_close(HostPressureMonitor *m)
{
    Vmpressure *v = m->priv;

    vmpressure_stop(v);
    g_free(v);
    m->priv = NULL;
}

const HostPressureBackendOps host_pressure_vmpressure_ops = {
    .type = HOST_PRESSURE_BACKEND_VMPRESSURE,
    .open = vmpressure_open,
    .close = vmpressure_close,
};
