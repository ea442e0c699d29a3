/*
 * virtio-balloon automatic mode: device glue
 *
 * Wires the host pressure monitor and the guest's messages into the policy
 * core and applies its decisions to the device's num_pages.  Mechanism
 * (util/host-pressure*.c) and policy (virtio-balloon-auto-policy.c) know
 * nothing about the device; everything device-specific is here.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/iov.h"
#include "qemu/error-report.h"
#include "qemu/timer.h"
#include "qemu/host-pressure.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-balloon.h"
#include "hw/virtio/virtio-balloon-auto.h"
#include "hw/virtio/virtio-balloon-auto-policy.h"
#include "hw/virtio/virtio-balloon-auto-ram.h"
#include "hw/boards.h"
#include "exec/memory.h"
#include "system/hostmem.h"
#include "system/balloon.h"
#include "system/qtest.h"
#include "system/runstate.h"
#include "migration/colo.h"
#include "qemu/units.h"
#include "qemu/cutils.h"
#include "qemu/host-utils.h"
#include "qemu/bswap.h"
#include "qapi/qapi-events-auto-balloon.h"
#include "trace.h"

/* auto-source value that opens no source: qtests inject events instead */
#define AUTO_QTEST_SOURCE "qtest"
/*
 * auto-source value for "no source yet": management attaches one at run
 * time (set-auto-balloon's 'source'), e.g. a source it can only hand over
 * once QEMU runs
 */
#define AUTO_NO_SOURCE "none"

/*
 * How far the guest's 'actual' may run ahead of the pages it gave before
 * it is not believed, in pages.  The Linux driver writes 'actual' only
 * after the device has used the buffer of pages (update_balloon_size()
 * after tell_host() in fill_balloon() and leak_balloon()), so an honest
 * Linux guest never needs it; it spares a driver that reports its size
 * just before its last buffer is used: one buffer of the Linux driver
 * (VIRTIO_BALLOON_ARRAY_PFNS_MAX), 1 MiB.
 */
#define AUTO_UNBACKED_SLACK_PAGES 256

struct VirtIOBalloonAuto {
    VirtIOBalloon *dev;
    /* the source as written; monitor is NULL for "none" and "qtest" */
    char *source;
    HostPressureMonitor *monitor;
    /* PSI thresholds, for a source attached at run time too */
    HostPressureOptions psi_opts;
    BalloonAutoPolicy policy;
    QEMUTimer *timer;
    /* syncs guest RAM after a DIMM plug or unplug (auto_ram_sync()) */
    VirtIOBalloonAutoRamWatch *ram_watch;
    /* auto_timer_cb() is running: see auto_rearm() */
    bool in_timer_cb;
    VirtQueue *msg_vq;
    /* off: management switched it off, the balloon is under manual control */
    bool enabled;
    /* this device holds ram_block_discard_require(): auto_discard_hold() */
    bool discard_required;
    uint64_t malformed;
    /* host events that arrived while switched off (the policy never saw) */
    uint64_t off_events[BALLOON_AUTO_LEVEL__MAX];
    /* guest pressure inferred from the stats virtqueue */
    BalloonAutoStatsConfig stats_cfg;
    BalloonAutoStatsState stats;
    /*
     * The stats polling interval automatic mode set, 0 if it set none:
     * faster while the balloon holds memory.  Once the interval differs
     * from it, management has taken it over and it is left alone.
     * poll_base_s is the interval with an empty balloon.
     */
    int64_t poll_interval_s;
    int64_t poll_base_s;
    /* when the last statistics sample arrived (auto_now()), INT64_MIN never */
    int64_t last_stats_ns;
    /* when auto_refresh_stats() last asked for one, INT64_MIN never */
    int64_t last_stats_request_ns;
    /* residency measurements for samples: VIRTIO_BALLOON_AUTO_SAMPLE_... */
    BalloonAutoBudget sample_measure;
    /* no sample is measured before (QEMU_CLOCK_VIRTUAL ns) */
    int64_t sample_measure_next_ns;
    /*
     * no measurement starts in a worker thread before (QEMU_CLOCK_VIRTUAL
     * ns), INT64_MIN for the first after guest RAM changed, a reset or a
     * load: VIRTIO_BALLOON_AUTO_ASIDE_MEASURE_BYTES_PER_S
     */
    int64_t aside_measure_next_ns;
    /* guest RAM resident in host memory at the last measurement, bytes */
    bool resident_known;
    uint64_t resident;
    /*
     * A measurement running in a worker thread (a large or file-backed
     * guest's: VIRTIO_BALLOON_AUTO_RESIDENT_INLINE_MAX), NULL if none,
     * and what waits for it:
     * host events by level, the timer's work, a statistics sample (and
     * whether one of the samples meanwhile showed guest pressure)
     */
    VirtIOBalloonAutoResident *measuring;
    /*
     * Changes to what a measurement measures (guest RAM, seen by
     * auto_ram_sync(); a reset or a load: auto_measure_forget()), and
     * their count at the running measurement's start
     */
    uint64_t measure_gen;
    uint64_t measuring_gen;
    uint64_t waiting_events[BALLOON_AUTO_LEVEL__MAX];
    bool waiting_timer;
    bool waiting_sample;
    bool waiting_sample_pressure;
    /* the source's memory state at the last reading */
    bool mem_known;
    HostMemoryState mem;
    /* qtest: the memory state x-inject-host-memory set, if any */
    bool test_mem_set;
    HostMemoryState test_mem;
    /*
     * Staging area for migration: the subsection loads into these, and
     * they are applied only once the whole device state checked out
     * (virtio_balloon_auto_post_load), so that a refused stream changes
     * nothing.
     */
    BalloonAutoTiming timing;
    VirtIOBalloonAutoProps mig_props;
    bool mig_enabled;
    BalloonAutoConfig mig_cfg;
    /* the subsection was loaded and checked: the staging area is valid */
    bool timing_loaded;
    /*
     * virtio_balloon_auto_post_load() accepted a state (a COLO secondary
     * loads one at every checkpoint): see auto_awaiting_stream().  Never
     * cleared; a loadvm into a destination still waiting for its stream
     * (-incoming defer) sets it too, and the stream then comes on top of
     * what was switched meanwhile.
     */
    bool state_loaded;
    /*
     * Pages in the balloon as the device saw them: valid pages received on
     * the inflate queue less those returned on the deflate queue.
     */
    uint64_t inflated;
    /* writes of 'actual' that ran ahead of the pages received */
    uint64_t unbacked;
};

/* The QAPI enums list the same values as the policy's, in another order */
QEMU_BUILD_BUG_ON((int)AUTO_BALLOON_REASON__MAX !=
                  (int)BALLOON_AUTO_REASON__MAX);
static const AutoBalloonActionKind qapi_action[] = {
    [BALLOON_AUTO_INFLATE] = AUTO_BALLOON_ACTION_KIND_INFLATE,
    [BALLOON_AUTO_DEFLATE] = AUTO_BALLOON_ACTION_KIND_DEFLATE,
    [BALLOON_AUTO_CANCEL] = AUTO_BALLOON_ACTION_KIND_CANCEL,
    [BALLOON_AUTO_STALL] = AUTO_BALLOON_ACTION_KIND_STALL,
};

static const AutoBalloonReason qapi_reason[BALLOON_AUTO_REASON__MAX] = {
    [BALLOON_AUTO_REASON_HOST_LOW] = AUTO_BALLOON_REASON_HOST_LOW,
    [BALLOON_AUTO_REASON_HOST_MEDIUM] = AUTO_BALLOON_REASON_HOST_MEDIUM,
    [BALLOON_AUTO_REASON_HOST_CRITICAL] = AUTO_BALLOON_REASON_HOST_CRITICAL,
    [BALLOON_AUTO_REASON_GUEST_MESSAGE] = AUTO_BALLOON_REASON_GUEST_MESSAGE,
    [BALLOON_AUTO_REASON_GUEST_STATS] = AUTO_BALLOON_REASON_GUEST_STATS,
    [BALLOON_AUTO_REASON_GUEST_DEFLATE] = AUTO_BALLOON_REASON_GUEST_DEFLATE,
    [BALLOON_AUTO_REASON_GUEST_STALLED] = AUTO_BALLOON_REASON_GUEST_STALLED,
    [BALLOON_AUTO_REASON_HOST_RELIEF] = AUTO_BALLOON_REASON_HOST_RELIEF,
    [BALLOON_AUTO_REASON_HOST_WATERMARK] =
        AUTO_BALLOON_REASON_HOST_WATERMARK,
    [BALLOON_AUTO_REASON_RAM_UNPLUGGED] = AUTO_BALLOON_REASON_RAM_UNPLUGGED,
};

/* Logical guest size for a balloon of @pages, as query-balloon reports */
static uint64_t auto_logical_size(VirtIOBalloonAuto *a, uint64_t pages)
{
    uint64_t ram_pages = balloon_auto_ram_pages(&a->policy);

    return (ram_pages - MIN(pages, ram_pages)) << VIRTIO_BALLOON_PFN_SHIFT;
}

static int64_t auto_now(void)
{
    return qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
}

/*
 * Poll the guest's statistics every VIRTIO_BALLOON_AUTO_FAST_STATS_S while
 * the balloon holds memory, so that a guest running short gets it back
 * within about a second; at the normal interval otherwise.
 */
static void auto_update_polling(VirtIOBalloonAuto *a)
{
    VirtIOBalloon *s = a->dev;
    int64_t want = a->poll_base_s;
    int64_t at_ms, expires_ns;

    if (!a->poll_interval_s || s->stats_poll_interval != a->poll_interval_s) {
        return;
    }
    if (a->enabled && (s->num_pages || s->actual)) {
        want = MIN(want, VIRTIO_BALLOON_AUTO_FAST_STATS_S);
    }
    if (want == a->poll_interval_s) {
        return;
    }
    trace_virtio_balloon_auto_stats_polling(a->poll_interval_s, want);
    a->poll_interval_s = want;
    s->stats_poll_interval = want;
    /* A poll scheduled further out than the new interval comes earlier */
    at_ms = qemu_clock_get_ms(QEMU_CLOCK_VIRTUAL) + want * 1000;
    expires_ns = s->stats_timer ? timer_expire_time_ns(s->stats_timer) : -1;
    if (expires_ns > at_ms * SCALE_MS) {
        timer_mod(s->stats_timer, at_ms);
    }
}

/*
 * The policy's deadlines are ones it acts on (balloon_auto_deadline());
 * should one ever be passed over, the timer callback would re-arm the
 * timer in the past, and it would run again at once, in the same
 * main-loop iteration, forever.  So from its own callback the timer is
 * never armed earlier than AUTO_TIMER_MIN_NS from now: the worst a stuck
 * deadline can cost is a hundred wake-ups a second, not the main loop.
 */
#define AUTO_TIMER_MIN_NS   (10 * SCALE_MS)
/* How often paused timer work looks again: see auto_timer_paused() */
#define AUTO_INHIBITED_RECHECK_NS   NANOSECONDS_PER_SECOND

static void auto_rearm(VirtIOBalloonAuto *a)
{
    int64_t deadline = balloon_auto_deadline(&a->policy);

    auto_update_polling(a);
    if (deadline == INT64_MAX) {
        timer_del(a->timer);
        return;
    }
    if (a->in_timer_cb) {
        deadline = MAX(deadline, auto_now() + AUTO_TIMER_MIN_NS);
    }
    timer_mod(a->timer, deadline);
}

/* Make the device follow the policy's decision. */
static void auto_apply(VirtIOBalloonAuto *a, BalloonAutoAction act)
{
    VirtIOBalloon *s = a->dev;

    if (act.kind == BALLOON_AUTO_NONE) {
        trace_virtio_balloon_auto_no_action(act.why, act.target, s->actual);
    } else {
        trace_virtio_balloon_auto_action(balloon_auto_action_str(act.kind),
                                         balloon_auto_reason_str(act.reason),
                                         act.why, act.target, s->actual);
        qapi_event_send_auto_balloon_action(qapi_action[act.kind],
                                            qapi_reason[act.reason],
                                            auto_logical_size(a, act.target),
                                            auto_logical_size(a, s->actual));
    }
    /* num_pages is le32 in config space; the policy never exceeds RAM. */
    if (act.target != s->num_pages && act.target <= UINT32_MAX) {
        s->num_pages = act.target;
        virtio_notify_config(VIRTIO_DEVICE(s));
    }
    auto_rearm(a);
}

static void auto_record_resident(VirtIOBalloonAuto *a, uint64_t bytes)
{
    a->resident_known = true;
    a->resident = bytes;
    balloon_auto_host_resident(&a->policy, bytes >> VIRTIO_BALLOON_PFN_SHIFT);
}

typedef enum AutoMeasure {
    AUTO_MEASURED,
    AUTO_NOT_MEASURED,
    /* not measured: the last one stands (auto_aside_pause()) */
    AUTO_STANDS,
    AUTO_MEASURING,
} AutoMeasure;

static void auto_measured_cb(void *opaque, bool ok, uint64_t bytes,
                             int64_t elapsed_ns);

/* The ns it takes to measure guest RAM at @bytes_per_s (a multiple of 4K) */
static int64_t auto_ram_ns(VirtIOBalloonAuto *a, uint64_t bytes_per_s)
{
    /* in pages, as muldiv64() divides by 32 bits */
    return muldiv64(balloon_auto_ram_pages(&a->policy),
                    NANOSECONDS_PER_SECOND,
                    bytes_per_s >> VIRTIO_BALLOON_PFN_SHIFT);
}

/*
 * The guest's clock (ns) that must pass after a measurement in a worker
 * thread that took @elapsed_ns of real time before the next starts:
 * VIRTIO_BALLOON_AUTO_ASIDE_MEASURE_BYTES_PER_S and
 * VIRTIO_BALLOON_AUTO_ASIDE_MEASURE_PAUSE_FACTOR.  Counted from its end,
 * so that a measurement longer than the pause does not follow the last
 * at once.
 */
static int64_t auto_aside_pause(VirtIOBalloonAuto *a, int64_t elapsed_ns)
{
    int64_t cost_ns = MIN(MAX(elapsed_ns, 0), INT64_MAX /
                          VIRTIO_BALLOON_AUTO_ASIDE_MEASURE_PAUSE_FACTOR) *
                      VIRTIO_BALLOON_AUTO_ASIDE_MEASURE_PAUSE_FACTOR;

    return MAX(auto_ram_ns(a, VIRTIO_BALLOON_AUTO_ASIDE_MEASURE_BYTES_PER_S),
               cost_ns);
}

/*
 * What was measured no longer describes the guest (its RAM changed, a
 * reset, a load): the next measurement in a worker thread is due at once,
 * and one running now is made again when it ends (auto_measured_cb())
 */
static void auto_measure_forget(VirtIOBalloonAuto *a)
{
    a->measure_gen++;
    a->aside_measure_next_ns = INT64_MIN;
}

/*
 * Measure guest RAM's residency and record it: AUTO_MEASURED, or
 * AUTO_NOT_MEASURED if it cannot be.  A guest larger than
 * VIRTIO_BALLOON_AUTO_RESIDENT_INLINE_MAX, or with file-backed RAM, is
 * measured in a worker thread instead (AUTO_MEASURING): the caller notes
 * in a->waiting_* what it would have done next, and auto_measured_cb()
 * does it with the measurement.  Not while one is running (a->measuring).
 * Such a measurement comes only once the pause after the last is over
 * (auto_aside_pause()); before, the last one stands (AUTO_STANDS).
 */
static AutoMeasure auto_measure_resident(VirtIOBalloonAuto *a)
{
    uint64_t ram_pages = balloon_auto_ram_pages(&a->policy);
    uint64_t bytes;

    assert(!a->measuring);
    if (!virtio_balloon_auto_ram_resident_inline(
            VIRTIO_BALLOON_AUTO_RESIDENT_INLINE_MAX)) {
        if (auto_now() < a->aside_measure_next_ns) {
            trace_virtio_balloon_auto_resident_stands(
                a->aside_measure_next_ns - auto_now());
            return AUTO_STANDS;
        }
        trace_virtio_balloon_auto_resident_start(ram_pages);
        a->measuring_gen = a->measure_gen;
        a->measuring = virtio_balloon_auto_ram_resident_start(auto_measured_cb,
                                                              a);
        return AUTO_MEASURING;
    }
    if (!virtio_balloon_auto_ram_resident(&bytes)) {
        return AUTO_NOT_MEASURED;
    }
    auto_record_resident(a, bytes);
    return AUTO_MEASURED;
}

/* Whether the work that needs a measurement must wait for the running one */
static bool auto_measure_wait(VirtIOBalloonAuto *a, const char *what)
{
    if (a->measuring) {
        trace_virtio_balloon_auto_resident_wait(what);
    }
    return a->measuring;
}

static void auto_read_memory(VirtIOBalloonAuto *a);

/*
 * Usage crossed the threshold: look now, the watermark may start.  The
 * monitor has dropped the threshold; the reading sets the next one.
 */
static void auto_threshold_cb(void *opaque, uint64_t bytes)
{
    VirtIOBalloonAuto *a = opaque;

    trace_virtio_balloon_auto_threshold_crossed(bytes);
    if (!a->enabled) {
        trace_virtio_balloon_auto_switched_off("usage threshold");
        return;
    }
    auto_read_memory(a);
    auto_rearm(a);
}

/* auto-memory-source, NULL when not set (realize refuses "") */
static const char *auto_memory_source(VirtIOBalloonAuto *a)
{
    return a->dev->auto_props.memory_source;
}

/*
 * Between readings, a crossing of the high watermark would only be seen
 * at the next statistics sample (up to auto-stats-interval later).  On a
 * cgroup v1 memcg the kernel tells at once: watch usage where "used"
 * (limit - available) reaches the high watermark.  Usage also counts the
 * memcg's inactive page cache, which "used" does not, so the threshold
 * is the watermark plus that cache at the last reading; it is re-armed
 * when that moves by VIRTIO_BALLOON_AUTO_THRESHOLD_SLACK or more, and
 * exactly after each crossing (the monitor drops a threshold that fired).
 * The threshold is the monitor's: it goes with its source, and a new
 * source starts without one.  Without the cache the threshold fired at
 * usage = watermark, and no second crossing came while usage climbed on
 * to the limit: in three traced runs of the over-commit benchmark's
 * cache case (2026-12-02) the reading at the crossing found "used" 0.7
 * and 1.1 MiB below the watermark in two, which inflated only at the
 * limit and swapped 117291 and 103802 pages, and 0.09 MiB above it in
 * the third, which inflated at once and swapped nothing.
 * Other sources have no such notification: their crossings are seen at
 * the next reading.
 */
static void auto_update_threshold(VirtIOBalloonAuto *a)
{
    g_autoptr(Error) err = NULL;
    uint64_t want;

    if (!a->monitor || !a->mem_known ||
        !host_pressure_monitor_threshold_supported(a->monitor)) {
        return;
    }
    /*
     * The state read from auto-memory-source is another cgroup's: a
     * threshold on this source's usage would not describe it, so none
     */
    want = auto_memory_source(a) ? 0 :
           balloon_auto_usage_threshold(a->mem.limit, a->mem.usage,
                                        a->mem.available,
                                        a->dev->auto_props.high_watermark_pct);
    if (!balloon_auto_usage_threshold_rearm(
            host_pressure_monitor_threshold(a->monitor), want,
            VIRTIO_BALLOON_AUTO_THRESHOLD_SLACK)) {
        return;
    }
    if (!host_pressure_monitor_set_threshold(a->monitor, want,
                                             auto_threshold_cb, &err)) {
        trace_virtio_balloon_auto_threshold_failed(error_get_pretty(err));
        return;
    }
    trace_virtio_balloon_auto_threshold_set(want);
}

/*
 * Read the source's memory state and hand it to the policy, which needs a
 * fresh one for the watermarks.  Called at realize, on host events that
 * may inflate, on every timer expiry, with every statistics sample and
 * when usage crosses the threshold: the files are only read then.  A
 * source handed over as fds has no known state
 * (host_pressure_monitor_memory_state()); the qtest source has the one
 * x-inject-host-memory set, if any.
 *
 * With auto-memory-source set, the state is read there instead, whatever
 * the source: a PSI source on a cgroup v2 directory without the memory
 * controller (a hybrid host, where the limit is a v1 memcg's) or on
 * /proc/pressure/memory knows no limit of its own, and without one the
 * watermark rule and its hold on relief are off.  Crossings of the high
 * watermark are then seen at the next reading (no usage threshold: that
 * is the vmpressure source's).
 */
static bool auto_source_attached(VirtIOBalloonAuto *a);

static void auto_read_memory(VirtIOBalloonAuto *a)
{
    g_autoptr(Error) err = NULL;
    const char *mem_source = auto_memory_source(a);
    HostMemoryState st;
    bool ok;

    if (mem_source && auto_source_attached(a)) {
        ok = host_memory_state_read(mem_source, &st, &err);
    } else if (a->monitor) {
        ok = host_pressure_monitor_memory_state(a->monitor, &st, &err);
    } else {
        ok = a->test_mem_set;
        st = a->test_mem;
    }
    if (!ok) {
        if (a->mem_known || err) {
            trace_virtio_balloon_auto_host_memory_unknown(
                err ? error_get_pretty(err) : "not injected");
        }
        a->mem_known = false;
        balloon_auto_host_memory_unknown(&a->policy);
        return;
    }
    trace_virtio_balloon_auto_host_memory(st.usage, st.limit, st.available);
    a->mem_known = true;
    a->mem = st;
    balloon_auto_host_memory(&a->policy, st.limit >> VIRTIO_BALLOON_PFN_SHIFT,
                             st.available >> VIRTIO_BALLOON_PFN_SHIFT);
    auto_update_threshold(a);
}

/*
 * The guest's used memory comes from its last statistics sample; a guest
 * that just freed memory still counts it as used there, so it would look
 * as if it had nothing unused until the next poll, up to the polling
 * interval later.  On host pressure, ask for statistics now when the
 * last sample is older than VIRTIO_BALLOON_AUTO_FAST_STATS_S; the next
 * host event (they come in bursts while the host reclaims) is sized from
 * the fresh sample.  At most one request per that interval, answered or
 * not (balloon_auto_stats_request_due()).
 */
static void auto_refresh_stats(VirtIOBalloonAuto *a)
{
    VirtIOBalloon *s = a->dev;
    int64_t now = auto_now();
    int64_t now_ms = qemu_clock_get_ms(QEMU_CLOCK_VIRTUAL);

    if (!s->stats_timer || s->stats_poll_interval <= 0 ||
        !balloon_auto_stats_request_due(
            a->last_stats_ns, a->last_stats_request_ns,
            VIRTIO_BALLOON_AUTO_FAST_STATS_S * NANOSECONDS_PER_SECOND, now) ||
        timer_expire_time_ns(s->stats_timer) <= now_ms * SCALE_MS) {
        return;
    }
    a->last_stats_request_ns = now;
    trace_virtio_balloon_auto_stats_refresh();
    timer_mod(s->stats_timer, now_ms);
}

/*
 * Whether the guest's state is on its way here or has left: a destination
 * watches its source from realize, but until the incoming stream is in
 * (INMIGRATE) the balloon's size is not known, and an inflate would be
 * sized from an empty balloon, announced to management, then overwritten
 * by the stream.  Once the source has sent the device's state
 * (FINISH_MIGRATE, then POSTMIGRATE), what it would change no longer
 * reaches the guest.  savevm and loadvm (SAVE_VM, RESTORE_VM) write and
 * read the device's state: a target changed meanwhile would be half in
 * the snapshot, or overwrite the one loadvm restores.  (Host events reach
 * the device only from the main loop itself, through the iohandler
 * context, not from the block layer's polls within savevm and loadvm;
 * this is a second line.)  Host events are then ignored, as when
 * switched off; a failed migration brings the source back to running,
 * and with it the policy.  In all five states the guest does not run, so
 * it neither sends statistics nor messages, and the policy's timer, on
 * the stopped QEMU_CLOCK_VIRTUAL, does not expire.
 */
static bool auto_in_transit(void)
{
    return runstate_check(RUN_STATE_INMIGRATE) ||
           runstate_check(RUN_STATE_FINISH_MIGRATE) ||
           runstate_check(RUN_STATE_POSTMIGRATE) ||
           runstate_check(RUN_STATE_SAVE_VM) ||
           runstate_check(RUN_STATE_RESTORE_VM);
}

/*
 * An incoming destination whose balloon state is still to come: its
 * post_load then decides the size, whether automatic mode is on, and RAM
 * discard.  INMIGRATE alone is not that: the runstate stays INMIGRATE a
 * while after post_load ran (a COLO secondary's until its COLO thread
 * starts the VM), and what is asked then is not overwritten by a stream.
 */
static bool auto_awaiting_stream(VirtIOBalloonAuto *a)
{
    return runstate_check(RUN_STATE_INMIGRATE) && !a->state_loaded;
}

/*
 * Whether an inflate would return the host nothing: the device discards
 * no page (virtio_balloon_inhibited()) while the destination of a
 * postcopy migration pulls guest RAM from its source, or while a
 * background snapshot write-protects guest RAM.  The guest runs
 * meanwhile and would lose the pages all the same.  So host events are
 * ignored as in transit, and the policy's timer work (coalesced events,
 * watermark inflates, relief) waits, looking again every
 * AUTO_INHIBITED_RECHECK_NS, since neither end is announced to devices.
 * What the guest's need asks for (statistics, deflate-on-oom, messages)
 * still acts: a deflate needs no discard.  Returns whether the timer's
 * work waits; re-arms the timer if so.
 */
static bool auto_timer_paused(VirtIOBalloonAuto *a)
{
    if (!virtio_balloon_inhibited()) {
        return false;
    }
    trace_virtio_balloon_auto_in_transit("timer");
    timer_mod(a->timer, auto_now() + AUTO_INHIBITED_RECHECK_NS);
    return true;
}

/*
 * Guest RAM as the guest has it now: boot RAM and the DIMMs plugged (hot,
 * or on the command line after this device), counted as upstream's
 * balloon counts it for each target it sets.
 */
static uint64_t auto_current_ram_pages(void)
{
    MachineState *ms = MACHINE(qdev_get_machine());
    uint64_t bytes = ms->ram_size;

    if (ms->device_memory) {
        bytes += ms->device_memory->dimm_size;
    }
    return bytes >> VIRTIO_BALLOON_PFN_SHIFT;
}

/* Bring the policy's guest RAM up to date (after auto_props_to_config()) */
static void auto_ram_sync(VirtIOBalloonAuto *a);

static void auto_host_event(VirtIOBalloonAuto *a, HostPressureLevel level)
{
    BalloonAutoLevel l = (BalloonAutoLevel)level;

    trace_virtio_balloon_auto_host_event(host_pressure_level_str(level));
    if (!a->enabled) {
        a->off_events[l]++;
        trace_virtio_balloon_auto_switched_off("host event");
        return;
    }
    if (auto_in_transit() || virtio_balloon_inhibited()) {
        a->off_events[l]++;
        trace_virtio_balloon_auto_in_transit("host event");
        return;
    }
    /* After the event whose measurement runs, in its light */
    if (auto_measure_wait(a, "host event")) {
        a->waiting_events[l]++;
        return;
    }
    auto_refresh_stats(a);
    /* Throttled events only coalesce: no need to measure for them */
    if (balloon_auto_inflate_due(&a->policy, auto_now())) {
        auto_read_memory(a);
        if (auto_measure_resident(a) == AUTO_MEASURING) {
            a->waiting_events[l]++;
            return;
        }
    }
    auto_apply(a, balloon_auto_host_event(&a->policy, l, auto_now()));
}

static void auto_host_pressure_cb(void *opaque, HostPressureLevel level)
{
    auto_host_event(opaque, level);
}

static void auto_ram_watch_cb(void *opaque)
{
    auto_ram_sync(opaque);
}

static void auto_source_gone_cb(void *opaque)
{
    VirtIOBalloonAuto *a = opaque;

    trace_virtio_balloon_auto_source_gone(a->source);
    qapi_event_send_auto_balloon_source_gone(a->source);
}

/* The policy's timer work, after any measurement it needed */
static void auto_timer_work(VirtIOBalloonAuto *a)
{
    if (auto_timer_paused(a)) {
        return;
    }
    a->in_timer_cb = true;
    auto_apply(a, balloon_auto_timer(&a->policy, auto_now()));
    a->in_timer_cb = false;
}

static void auto_timer_cb(void *opaque)
{
    VirtIOBalloonAuto *a = opaque;
    BalloonAutoAction act;

    /* Every re-arm from here on, the floor's too */
    a->in_timer_cb = true;
    /*
     * The one place a shrink of RAM under the balloon is acted on: the
     * RAM watch's auto_ram_sync() arms this timer at once
     */
    act = balloon_auto_ram_floor(&a->policy);
    if (act.kind != BALLOON_AUTO_NONE) {
        auto_apply(a, act);
    }
    a->in_timer_cb = false;
    if (auto_timer_paused(a)) {
        return;
    }
    if (auto_measure_wait(a, "timer")) {
        a->waiting_timer = true;
        return;
    }
    auto_read_memory(a);
    /* A coalesced host event or the watermark may inflate: measure */
    if ((balloon_auto_pending(&a->policy, NULL) ||
         balloon_auto_host_deficit(&a->policy)) &&
        balloon_auto_inflate_due(&a->policy, auto_now()) &&
        auto_measure_resident(a) == AUTO_MEASURING) {
        a->waiting_timer = true;
        return;
    }
    auto_timer_work(a);
}

/*
 * Message virtqueue.  The guest is not trusted: every buffer must hold
 * exactly one well-formed message; anything else is counted and dropped.
 */
static const char *auto_parse_msg(VirtQueueElement *elem,
                                  struct virtio_balloon_msg *msg)
{
    size_t size = iov_size(elem->out_sg, elem->out_num);

    if (elem->in_num) {
        return "device-writable buffer";
    }
    if (size != sizeof(*msg)) {
        return size < sizeof(*msg) ? "short buffer" : "oversized buffer";
    }
    iov_to_buf(elem->out_sg, elem->out_num, 0, msg, sizeof(*msg));
    msg->type = le16_to_cpu(msg->type);
    msg->flags = le16_to_cpu(msg->flags);
    msg->level = le32_to_cpu(msg->level);
    if (msg->flags) {
        return "reserved flags set";
    }
    if (msg->type != VIRTIO_BALLOON_MSG_PRESSURE) {
        return "unknown type";
    }
    if (msg->level > VIRTIO_BALLOON_MSG_LEVEL_CRITICAL) {
        return "unknown level";
    }
    return NULL;
}

/* A message's level is the policy's level of the same name */
QEMU_BUILD_BUG_ON(VIRTIO_BALLOON_MSG_LEVEL_LOW != BALLOON_AUTO_LEVEL_LOW);
QEMU_BUILD_BUG_ON(VIRTIO_BALLOON_MSG_LEVEL_MEDIUM !=
                  BALLOON_AUTO_LEVEL_MEDIUM);
QEMU_BUILD_BUG_ON(VIRTIO_BALLOON_MSG_LEVEL_CRITICAL !=
                  BALLOON_AUTO_LEVEL_CRITICAL);

static void auto_handle_msg(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOBalloon *s = VIRTIO_BALLOON(vdev);
    VirtIOBalloonAuto *a = s->auto_state;
    VirtQueueElement *elem;
    bool used = false;

    while ((elem = virtqueue_pop(vq, sizeof(VirtQueueElement)))) {
        struct virtio_balloon_msg msg = { 0 };
        const char *bad = auto_parse_msg(elem, &msg);

        if (bad) {
            a->malformed++;
            trace_virtio_balloon_auto_msg_dropped(bad, msg.type,
                iov_size(elem->out_sg, elem->out_num));
        } else {
            trace_virtio_balloon_auto_msg_pressure(msg.level);
            if (a->enabled) {
                /* auto_parse_msg() checked level <= critical */
                auto_apply(a, balloon_auto_guest_message(
                                  &a->policy, (BalloonAutoLevel)msg.level,
                                  auto_now()));
            } else {
                trace_virtio_balloon_auto_switched_off("guest message");
            }
        }
        virtqueue_push(vq, elem, 0);
        g_free(elem);
        used = true;
    }
    if (used) {
        virtio_notify(vdev, vq);
    }
}

/* The tunables as -device properties and as set-auto-balloon arguments */
static const char *const auto_prop_names[BALLOON_AUTO_TUNABLE__MAX] = {
    [BALLOON_AUTO_TUNABLE_INFLATE_LOW] = VIRTIO_BALLOON_AUTO_INFLATE_LOW_PROP,
    [BALLOON_AUTO_TUNABLE_INFLATE_MEDIUM] =
        VIRTIO_BALLOON_AUTO_INFLATE_MEDIUM_PROP,
    [BALLOON_AUTO_TUNABLE_INFLATE_CRITICAL] =
        VIRTIO_BALLOON_AUTO_INFLATE_CRITICAL_PROP,
    [BALLOON_AUTO_TUNABLE_DEFLATE] = VIRTIO_BALLOON_AUTO_DEFLATE_PROP,
    [BALLOON_AUTO_TUNABLE_THROTTLE] = VIRTIO_BALLOON_AUTO_THROTTLE_MS_PROP,
    [BALLOON_AUTO_TUNABLE_HYSTERESIS] =
        VIRTIO_BALLOON_AUTO_HYSTERESIS_MS_PROP,
    [BALLOON_AUTO_TUNABLE_STALL] = VIRTIO_BALLOON_AUTO_STALL_MS_PROP,
    [BALLOON_AUTO_TUNABLE_FLOOR] = VIRTIO_BALLOON_AUTO_FLOOR_PROP,
    [BALLOON_AUTO_TUNABLE_HIGH_WATERMARK] =
        VIRTIO_BALLOON_AUTO_HIGH_WATERMARK_PROP,
    [BALLOON_AUTO_TUNABLE_LOW_WATERMARK] =
        VIRTIO_BALLOON_AUTO_LOW_WATERMARK_PROP,
    [BALLOON_AUTO_TUNABLE_RESERVE] = VIRTIO_BALLOON_AUTO_RESERVE_PROP,
    [BALLOON_AUTO_TUNABLE_RESERVE_PCT] =
        VIRTIO_BALLOON_AUTO_RESERVE_PCT_PROP,
    [BALLOON_AUTO_TUNABLE_RELIEF] = VIRTIO_BALLOON_AUTO_RELIEF_MS_PROP,
    [BALLOON_AUTO_TUNABLE_RELIEF_STEP] =
        VIRTIO_BALLOON_AUTO_RELIEF_STEP_PROP,
    [BALLOON_AUTO_TUNABLE_SHARES] = VIRTIO_BALLOON_AUTO_SHARES_PROP,
};

static const char *const auto_arg_names[BALLOON_AUTO_TUNABLE__MAX] = {
    [BALLOON_AUTO_TUNABLE_INFLATE_LOW] = VIRTIO_BALLOON_AUTO_INFLATE_LOW,
    [BALLOON_AUTO_TUNABLE_INFLATE_MEDIUM] =
        VIRTIO_BALLOON_AUTO_INFLATE_MEDIUM,
    [BALLOON_AUTO_TUNABLE_INFLATE_CRITICAL] =
        VIRTIO_BALLOON_AUTO_INFLATE_CRITICAL,
    [BALLOON_AUTO_TUNABLE_DEFLATE] = VIRTIO_BALLOON_AUTO_DEFLATE,
    [BALLOON_AUTO_TUNABLE_THROTTLE] = VIRTIO_BALLOON_AUTO_THROTTLE_MS,
    [BALLOON_AUTO_TUNABLE_HYSTERESIS] = VIRTIO_BALLOON_AUTO_HYSTERESIS_MS,
    [BALLOON_AUTO_TUNABLE_STALL] = VIRTIO_BALLOON_AUTO_STALL_MS,
    [BALLOON_AUTO_TUNABLE_FLOOR] = VIRTIO_BALLOON_AUTO_FLOOR,
    [BALLOON_AUTO_TUNABLE_HIGH_WATERMARK] =
        VIRTIO_BALLOON_AUTO_HIGH_WATERMARK,
    [BALLOON_AUTO_TUNABLE_LOW_WATERMARK] = VIRTIO_BALLOON_AUTO_LOW_WATERMARK,
    [BALLOON_AUTO_TUNABLE_RESERVE] = VIRTIO_BALLOON_AUTO_RESERVE,
    [BALLOON_AUTO_TUNABLE_RESERVE_PCT] = VIRTIO_BALLOON_AUTO_RESERVE_PCT,
    [BALLOON_AUTO_TUNABLE_RELIEF] = VIRTIO_BALLOON_AUTO_RELIEF_MS,
    [BALLOON_AUTO_TUNABLE_RELIEF_STEP] = VIRTIO_BALLOON_AUTO_RELIEF_STEP,
    [BALLOON_AUTO_TUNABLE_SHARES] = VIRTIO_BALLOON_AUTO_SHARES,
};

/* Refuse a size the balloon cannot hold exactly instead of truncating it */
static bool auto_check_page_multiple(const char *name, uint64_t bytes,
                                     Error **errp)
{
    g_autofree char *val = NULL;

    if (QEMU_IS_ALIGNED(bytes, BALLOON_AUTO_PAGE_SIZE)) {
        return true;
    }
    val = balloon_auto_size_str(bytes);
    error_setg(errp, "'%s' is %s bytes; it must be a multiple of the balloon"
               " page size (%llu bytes)", name, val, BALLOON_AUTO_PAGE_SIZE);
    return false;
}

/*
 * @names: auto_prop_names for what -device (or the migration stream)
 * gave, auto_arg_names for set-auto-balloon's arguments.
 */
static bool auto_props_to_config(const VirtIOBalloonAutoProps *p,
                                 uint64_t ram_pages,
                                 const char *const *names,
                                 BalloonAutoConfig *cfg, Error **errp)
{
    const struct {
        BalloonAutoTunable t;
        uint64_t bytes;
    } sizes[] = {
        { BALLOON_AUTO_TUNABLE_INFLATE_LOW, p->inflate_low },
        { BALLOON_AUTO_TUNABLE_INFLATE_MEDIUM, p->inflate_medium },
        { BALLOON_AUTO_TUNABLE_INFLATE_CRITICAL, p->inflate_critical },
        { BALLOON_AUTO_TUNABLE_DEFLATE, p->deflate },
        { BALLOON_AUTO_TUNABLE_FLOOR, p->floor },
        { BALLOON_AUTO_TUNABLE_RESERVE, p->reserve },
        { BALLOON_AUTO_TUNABLE_RELIEF_STEP, p->relief_step },
    };
    int i;

    for (i = 0; i < ARRAY_SIZE(sizes); i++) {
        if (!auto_check_page_multiple(names[sizes[i].t], sizes[i].bytes,
                                      errp)) {
            return false;
        }
    }
    balloon_auto_config_default(cfg);
    cfg->inflate_pages[BALLOON_AUTO_LEVEL_LOW] =
        p->inflate_low >> VIRTIO_BALLOON_PFN_SHIFT;
    cfg->inflate_pages[BALLOON_AUTO_LEVEL_MEDIUM] =
        p->inflate_medium >> VIRTIO_BALLOON_PFN_SHIFT;
    cfg->inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL] =
        p->inflate_critical >> VIRTIO_BALLOON_PFN_SHIFT;
    cfg->deflate_pages = p->deflate >> VIRTIO_BALLOON_PFN_SHIFT;
    cfg->throttle_ns = (int64_t)p->throttle_ms * SCALE_MS;
    cfg->hysteresis_ns = (int64_t)p->hysteresis_ms * SCALE_MS;
    cfg->stall_ns = (int64_t)p->stall_ms * SCALE_MS;
    cfg->floor_pages = p->floor >> VIRTIO_BALLOON_PFN_SHIFT;
    cfg->reserve_pages = p->reserve >> VIRTIO_BALLOON_PFN_SHIFT;
    cfg->reserve_pct = p->reserve_pct;
    cfg->relief_ns = (int64_t)p->relief_ms * SCALE_MS;
    cfg->relief_pages = p->relief_step >> VIRTIO_BALLOON_PFN_SHIFT;
    cfg->high_pct = p->high_watermark_pct;
    cfg->low_pct = p->low_watermark_pct;
    cfg->shares = p->shares;
    return balloon_auto_config_check_named(cfg, ram_pages, names, errp);
}

static void auto_trace_config(const VirtIOBalloonAutoProps *p)
{
    trace_virtio_balloon_auto_configure(p->inflate_low, p->inflate_medium,
                                        p->inflate_critical, p->deflate,
                                        p->throttle_ms, p->hysteresis_ms,
                                        p->stall_ms, p->floor);
}

/*
 * Sizes bounded by the guest's RAM (balloon_auto_config_check_named())
 * that a DIMM unplug left above it act as the whole RAM, which is what
 * the policy makes of them anyway (a floor or reserve of all RAM never
 * inflates, a step of all RAM is no bound).  They become that, so that
 * the tunables stay valid: set-auto-balloon checks every tunable, the
 * ones it is not given too, and without this one set above the new RAM
 * made every later call fail, even {'enabled': false}.  Returns whether
 * any changed.
 */
static bool auto_props_clamp_to_ram(VirtIOBalloonAutoProps *p,
                                    uint64_t ram_pages)
{
    uint64_t *sizes[] = {
        &p->inflate_low, &p->inflate_medium, &p->inflate_critical,
        &p->deflate, &p->floor, &p->reserve, &p->relief_step,
    };
    uint64_t ram = ram_pages << VIRTIO_BALLOON_PFN_SHIFT;
    bool changed = false;
    int i;

    for (i = 0; i < ARRAY_SIZE(sizes); i++) {
        if (*sizes[i] > ram) {
            *sizes[i] = ram;
            changed = true;
        }
    }
    return changed;
}

/*
 * Bring the policy's guest RAM up to date.  The RAM watch calls it after
 * any RAM section was added to or removed from address_space_memory
 * (virtio-balloon-auto-ram.h), so that a DIMM plug or unplug is seen with
 * no other event; the guest's and the host's paths rely on it.  What
 * answers management (query, set-auto-balloon, the manual-balloon check)
 * and the migration stream (pre_save, post_load) call it too, so that
 * none of them works on a size older than the watch's bottom half, which
 * runs in a later main-loop iteration than the unplug.
 */
static void auto_ram_sync(VirtIOBalloonAuto *a)
{
    VirtIOBalloonAutoProps *p = &a->dev->auto_props;
    uint64_t pages = auto_current_ram_pages();
    BalloonAutoConfig cfg;

    if (pages == balloon_auto_ram_pages(&a->policy)) {
        return;
    }
    trace_virtio_balloon_auto_ram(balloon_auto_ram_pages(&a->policy), pages);
    balloon_auto_set_ram_pages(&a->policy, pages);
    /*
     * The last measurement was of other RAM: the query shows none until
     * the next (the policy keeps its copy clipped to the RAM, a bound
     * until it measures again before an inflate)
     */
    a->resident_known = false;
    auto_measure_forget(a);
    /*
     * A shrink under the balloon is due at once (balloon_auto_ram_floor).
     * Armed in FINISH_MIGRATE and POSTMIGRATE too: the timer is on the
     * stopped QEMU_CLOCK_VIRTUAL there, and acts if a failed migration
     * brings the source back to running.  Not while the incoming
     * stream is still to come: its post_load replaces the policy and
     * re-arms.
     */
    if (a->enabled && !auto_awaiting_stream(a)) {
        auto_rearm(a);
    }
    if (auto_props_clamp_to_ram(p, pages)) {
        /* Every size is now within RAM, and nothing else changed */
        auto_props_to_config(p, pages, auto_prop_names, &cfg, &error_abort);
        balloon_auto_set_config(&a->policy, &cfg);
        auto_trace_config(p);
    }
}

/* An empty path is a mistake, as for auto-source, not "unset" */
static bool auto_props_check_memory_source(const VirtIOBalloonAutoProps *p,
                                           Error **errp)
{
    if (p->memory_source && !*p->memory_source) {
        error_setg(errp, "'%s' is empty: give a cgroup directory or"
                   " /proc/pressure/memory, or leave it out to read the"
                   " memory state from the source itself",
                   VIRTIO_BALLOON_AUTO_MEMORY_SOURCE_PROP);
        return false;
    }
    return true;
}

/*
 * The size properties whose default scales with the guest, with their
 * default for a guest of BALLOON_AUTO_DEFAULT_FULL_RAM or more.
 */
static const struct {
    const char *name;
    size_t offset;
    uint64_t full_default;
} auto_scaled[] = {
    { VIRTIO_BALLOON_AUTO_INFLATE_LOW_PROP,
      offsetof(VirtIOBalloonAutoProps, inflate_low),
      BALLOON_AUTO_DEFAULT_INFLATE_LOW },
    { VIRTIO_BALLOON_AUTO_INFLATE_MEDIUM_PROP,
      offsetof(VirtIOBalloonAutoProps, inflate_medium),
      BALLOON_AUTO_DEFAULT_INFLATE_MEDIUM },
    { VIRTIO_BALLOON_AUTO_INFLATE_CRITICAL_PROP,
      offsetof(VirtIOBalloonAutoProps, inflate_critical),
      BALLOON_AUTO_DEFAULT_INFLATE_CRITICAL },
    { VIRTIO_BALLOON_AUTO_DEFLATE_PROP,
      offsetof(VirtIOBalloonAutoProps, deflate),
      BALLOON_AUTO_DEFAULT_DEFLATE },
    { VIRTIO_BALLOON_AUTO_FLOOR_PROP,
      offsetof(VirtIOBalloonAutoProps, floor), BALLOON_AUTO_DEFAULT_FLOOR },
    { VIRTIO_BALLOON_AUTO_STATS_AVAIL_MIN_PROP,
      offsetof(VirtIOBalloonAutoProps, stats_avail_min),
      BALLOON_AUTO_STATS_DEFAULT_AVAIL_MIN },
    { VIRTIO_BALLOON_AUTO_STATS_DIRECT_RECLAIM_PROP,
      offsetof(VirtIOBalloonAutoProps, stats_direct_reclaim),
      BALLOON_AUTO_STATS_DEFAULT_DIRECT_RECLAIM },
    { VIRTIO_BALLOON_AUTO_RESERVE_PROP,
      offsetof(VirtIOBalloonAutoProps, reserve),
      BALLOON_AUTO_DEFAULT_RESERVE },
    { VIRTIO_BALLOON_AUTO_RELIEF_STEP_PROP,
      offsetof(VirtIOBalloonAutoProps, relief_step),
      BALLOON_AUTO_DEFAULT_RELIEF_STEP },
};

static bool auto_user_set(const VirtIOBalloonAutoProps *p, const char *name);

/* Give every scaled size the user did not set its default for this guest */
static void auto_props_scale_defaults(VirtIOBalloonAutoProps *p,
                                      uint64_t ram_pages)
{
    int i;

    for (i = 0; i < ARRAY_SIZE(auto_scaled); i++) {
        if (!auto_user_set(p, auto_scaled[i].name)) {
            *(uint64_t *)((char *)p + auto_scaled[i].offset) =
                balloon_auto_scale_default(auto_scaled[i].full_default,
                                           ram_pages);
        }
    }
}

/*
 * A manual 'balloon' command would fight the policy: refuse it, unless it
 * changes nothing.  Two requests change nothing and are accepted, because
 * libvirt sends them whenever it starts a domain with a balloon
 * (qemuProcessSetupBalloon(), with the domain's current memory): one for
 * the target the balloon already has (a new domain: all of its memory),
 * and any request before an incoming migration, whose stream then sets
 * the balloon's size.
 */
static bool auto_manual_check(void *opaque, ram_addr_t target, Error **errp)
{
    VirtIOBalloon *s = opaque;
    VirtIOBalloonAuto *a = s->auto_state;
    uint64_t ram;

    if (!a || !a->enabled || auto_awaiting_stream(a)) {
        return true;
    }
    auto_ram_sync(a);
    ram = balloon_auto_ram_pages(&a->policy) << VIRTIO_BALLOON_PFN_SHIFT;
    if ((ram - MIN(target, ram)) >> VIRTIO_BALLOON_PFN_SHIFT == s->num_pages) {
        return true;
    }
    error_setg(errp, "automatic ballooning is active on this balloon"
               " device; switch it off first with the QMP command"
               " set-auto-balloon (\"enabled\": false) or the HMP"
               " command 'auto_balloon off'");
    return false;
}

static bool auto_props_to_stats(const VirtIOBalloonAutoProps *p,
                                BalloonAutoStatsConfig *cfg, Error **errp)
{
    static const BalloonAutoStatsNames names = {
        .avail_min = VIRTIO_BALLOON_AUTO_STATS_AVAIL_MIN_PROP,
        .avail_min_pct = VIRTIO_BALLOON_AUTO_STATS_AVAIL_MIN_PCT_PROP,
        .min_delta = {
            [BALLOON_AUTO_STATS_OOM_KILL] =
                VIRTIO_BALLOON_AUTO_STATS_OOM_KILL_PROP,
            [BALLOON_AUTO_STATS_ALLOC_STALL] =
                VIRTIO_BALLOON_AUTO_STATS_ALLOC_STALL_PROP,
            [BALLOON_AUTO_STATS_DIRECT_RECLAIM] =
                VIRTIO_BALLOON_AUTO_STATS_DIRECT_RECLAIM_PROP,
            [BALLOON_AUTO_STATS_SWAP_IN] =
                VIRTIO_BALLOON_AUTO_STATS_SWAP_IN_PROP,
            [BALLOON_AUTO_STATS_MAJFLT] =
                VIRTIO_BALLOON_AUTO_STATS_MAJOR_FAULTS_PROP,
        },
    };

    /* The sizes among them are in bytes: whole pages, as the others */
    if (!auto_check_page_multiple(names.avail_min, p->stats_avail_min,
                                  errp) ||
        !auto_check_page_multiple(
            names.min_delta[BALLOON_AUTO_STATS_DIRECT_RECLAIM],
            p->stats_direct_reclaim, errp) ||
        !auto_check_page_multiple(names.min_delta[BALLOON_AUTO_STATS_SWAP_IN],
                                  p->stats_swap_in, errp)) {
        return false;
    }
    balloon_auto_stats_config_default(cfg);
    cfg->avail_min = p->stats_avail_min;
    cfg->avail_min_pct = p->stats_avail_min_pct;
    cfg->min_delta[BALLOON_AUTO_STATS_OOM_KILL] = p->stats_oom_kill;
    cfg->min_delta[BALLOON_AUTO_STATS_ALLOC_STALL] = p->stats_alloc_stall;
    cfg->min_delta[BALLOON_AUTO_STATS_DIRECT_RECLAIM] =
        p->stats_direct_reclaim;
    cfg->min_delta[BALLOON_AUTO_STATS_SWAP_IN] = p->stats_swap_in;
    cfg->min_delta[BALLOON_AUTO_STATS_MAJFLT] = p->stats_major_faults;
    return balloon_auto_stats_config_check_named(cfg, &names, errp);
}

/*
 * PSI thresholds: low and medium count "some" stall, critical "full".
 * Checked here, in the properties' milliseconds, so that an error names
 * the property; host_pressure_monitor_new() checks them again.
 */
static bool auto_props_to_psi(const VirtIOBalloonAutoProps *p,
                              HostPressureOptions *o, Error **errp)
{
    static const struct {
        const char *name;
        HostPressureLevel level;
    } stalls[] = {
        { VIRTIO_BALLOON_AUTO_PSI_LOW_MS_PROP, HOST_PRESSURE_LOW },
        { VIRTIO_BALLOON_AUTO_PSI_MEDIUM_MS_PROP, HOST_PRESSURE_MEDIUM },
        { VIRTIO_BALLOON_AUTO_PSI_CRITICAL_MS_PROP, HOST_PRESSURE_CRITICAL },
    };
    const uint32_t ms[] = { p->psi_low_ms, p->psi_medium_ms,
                            p->psi_critical_ms };
    int i;

    if (p->psi_window_ms < HOST_PRESSURE_PSI_WINDOW_MIN_US / 1000 ||
        p->psi_window_ms > HOST_PRESSURE_PSI_WINDOW_MAX_US / 1000) {
        error_setg(errp, "'%s' is %" PRIu32 " ms; it must be between %d"
                   " and %d ms", VIRTIO_BALLOON_AUTO_PSI_WINDOW_MS_PROP,
                   p->psi_window_ms, HOST_PRESSURE_PSI_WINDOW_MIN_US / 1000,
                   HOST_PRESSURE_PSI_WINDOW_MAX_US / 1000);
        return false;
    }
    host_pressure_options_default(o);
    o->psi_window_us = p->psi_window_ms * 1000u;
    for (i = 0; i < ARRAY_SIZE(stalls); i++) {
        if (!ms[i] || ms[i] > p->psi_window_ms) {
            error_setg(errp, "'%s' is %" PRIu32 " ms; it must be more than"
                       " 0 and at most '%s' (%" PRIu32 " ms)", stalls[i].name,
                       ms[i], VIRTIO_BALLOON_AUTO_PSI_WINDOW_MS_PROP,
                       p->psi_window_ms);
            return false;
        }
        o->psi[stalls[i].level].stall_us = ms[i] * 1000u;
    }
    return true;
}

/*
 * A DIMM, NVDIMM, virtio-mem or virtio-pmem device plugged while automatic
 * mode is on is guest RAM the balloon may take pages from: refuse the
 * backends that virtio_balloon_auto_ram_discardable() refuses at
 * creation.  @mr is what the device maps, which may be an alias or a
 * container of its backend's memory (nvdimm, virtio-mem with
 * dynamic-memslots): look at the backend, its memdev (a device without
 * one is not judged).
 * An incoming migration checks once the stream has said whether automatic
 * mode is on (virtio_balloon_auto_post_load()).
 */
static bool auto_plug_check(void *opaque, Object *dev, MemoryRegion *mr,
                            Error **errp)
{
    ERRP_GUARD();
    VirtIOBalloon *s = opaque;
    VirtIOBalloonAuto *a = s->auto_state;
    Object *memdev;

    if (!a || !a->enabled || auto_awaiting_stream(a)) {
        return true;
    }
    /* Every memory device QEMU has maps memory of its memdev */
    memdev = object_property_get_link(dev, "memdev", NULL);
    if (!memdev || !object_dynamic_cast(memdev, TYPE_MEMORY_BACKEND) ||
        virtio_balloon_auto_backend_check(MEMORY_BACKEND(memdev),
                                          virtio_balloon_auto_ram_counted(dev),
                                          errp)) {
        return true;
    }
    error_prepend(errp, "automatic ballooning is on: ");
    return false;
}

/*
 * The properties of automatic mode, with what `-device
 * virtio-balloon-pci,help` says about each.  All but the first need
 * automatic=on: they record whether the user set them (auto_prop_set()),
 * so that realize can refuse them without it.
 */
static const struct {
    const char *name;
    const char *desc;
} auto_props_help[] = {
    { "automatic", "size the balloon automatically from host and guest"
      " memory pressure" },
    { VIRTIO_BALLOON_AUTO_SOURCE_PROP, "host pressure source: cgroup v1"
      " memory cgroup or cgroup v2 directory, memory PSI file,"
      " /dev/fdset/N, or none (attached later with set-auto-balloon;"
      " default: the host-wide source)" },
    { VIRTIO_BALLOON_AUTO_MEMORY_SOURCE_PROP, "where the host memory"
      " state (usage, limit) is read instead of the source: a cgroup v1"
      " memory cgroup, a cgroup v2 directory or /proc/pressure/memory;"
      " for a PSI source whose cgroup has no memory controller" },
    { VIRTIO_BALLOON_AUTO_MESSAGE_QUEUE_PROP, "offer the message virtqueue"
      " for guests with the companion driver (experimental: its feature"
      " bit is not in the virtio specification yet)" },
    { VIRTIO_BALLOON_AUTO_STATS_INTERVAL_PROP, "seconds between two guest"
      " stats polls unless guest-stats-polling-interval is set (0: do not"
      " poll)" },
    { VIRTIO_BALLOON_AUTO_STATS_AVAIL_MIN_PROP, "guest pressure: available"
      " memory below this (default: 64 MiB, RAM/8 under 512 MiB)" },
    { VIRTIO_BALLOON_AUTO_STATS_AVAIL_MIN_PCT_PROP, "guest pressure:"
      " available memory below this percentage of guest memory" },
    { VIRTIO_BALLOON_AUTO_STATS_OOM_KILL_PROP, "guest pressure: OOM kills"
      " per stats sample (0: ignore)" },
    { VIRTIO_BALLOON_AUTO_STATS_ALLOC_STALL_PROP, "guest pressure:"
      " allocation stalls per stats sample (0: ignore)" },
    { VIRTIO_BALLOON_AUTO_STATS_DIRECT_RECLAIM_PROP, "guest pressure:"
      " bytes reclaimed directly per stats sample (0: ignore; default:"
      " 32 MiB, RAM/16 under 512 MiB)" },
    { VIRTIO_BALLOON_AUTO_STATS_SWAP_IN_PROP, "guest pressure: bytes"
      " swapped in per second (0: ignore)" },
    { VIRTIO_BALLOON_AUTO_STATS_MAJOR_FAULTS_PROP, "guest pressure: major"
      " faults per second (0: ignore)" },
    { VIRTIO_BALLOON_AUTO_PSI_WINDOW_MS_PROP, "PSI trigger window"
      " (multiple of 2 s without CAP_SYS_RESOURCE)" },
    { VIRTIO_BALLOON_AUTO_PSI_LOW_MS_PROP, "PSI: 'some' memory stall per"
      " window that means low host pressure" },
    { VIRTIO_BALLOON_AUTO_PSI_MEDIUM_MS_PROP, "PSI: 'some' memory stall"
      " per window that means medium host pressure" },
    { VIRTIO_BALLOON_AUTO_PSI_CRITICAL_MS_PROP, "PSI: 'full' memory stall"
      " per window that means critical host pressure" },
    { VIRTIO_BALLOON_AUTO_INFLATE_LOW_PROP, "inflate step on host pressure"
      " level low (default: 8 MiB, RAM/64 under 512 MiB)" },
    { VIRTIO_BALLOON_AUTO_INFLATE_MEDIUM_PROP, "inflate step on host"
      " pressure level medium (default: 32 MiB, RAM/16 under 512 MiB)" },
    { VIRTIO_BALLOON_AUTO_INFLATE_CRITICAL_PROP, "inflate step on host"
      " pressure level critical (default: 128 MiB, RAM/4 under 512 MiB)" },
    { VIRTIO_BALLOON_AUTO_DEFLATE_PROP, "deflate step on guest memory"
      " pressure (default: 32 MiB, RAM/16 under 512 MiB)" },
    { VIRTIO_BALLOON_AUTO_THROTTLE_MS_PROP, "minimum interval between two"
      " inflates" },
    { VIRTIO_BALLOON_AUTO_HYSTERESIS_MS_PROP, "no inflate for this long"
      " after guest memory pressure" },
    { VIRTIO_BALLOON_AUTO_STALL_MS_PROP, "a guest with no inflate progress"
      " for this long is left alone" },
    { VIRTIO_BALLOON_AUTO_FLOOR_PROP, "host pressure never shrinks the"
      " guest below this size (default: 256 MiB, RAM/2 under 512 MiB)" },
    { VIRTIO_BALLOON_AUTO_RESERVE_PROP, "host pressure takes no memory the"
      " guest needs to keep this much available (default: 128 MiB, RAM/4"
      " under 512 MiB)" },
    { VIRTIO_BALLOON_AUTO_RESERVE_PCT_PROP, "the reserve is at least this"
      " percentage of guest RAM (default: 5)" },
    { VIRTIO_BALLOON_AUTO_RELIEF_MS_PROP, "no host pressure for this long:"
      " give memory back (0: never; default: 30000)" },
    { VIRTIO_BALLOON_AUTO_RELIEF_STEP_PROP, "memory given back per second"
      " once the host has recovered (default: 16 MiB, RAM/32 under"
      " 512 MiB)" },
    { VIRTIO_BALLOON_AUTO_HIGH_WATERMARK_PROP, "inflate without"
      " waiting for host events while the source uses more than this"
      " percentage of its limit (0: never; default: 90)" },
    { VIRTIO_BALLOON_AUTO_LOW_WATERMARK_PROP, "relief only while the"
      " source uses less than this percentage of its limit (0: at any"
      " usage; default: 80)" },
    { VIRTIO_BALLOON_AUTO_SHARES_PROP, "weight against other guests:"
      " host pressure takes 1000/shares times what it takes by default,"
      " within the same bounds (0: never; default: 1000, at most"
      " 50000)" },
};

/*
 * Without automatic=on the device is the upstream one and nothing reads
 * the auto-* properties: refuse one the user set rather than ignore it.
 */
static bool auto_props_unused(const VirtIOBalloonAutoProps *p, Error **errp)
{
    int i;

    for (i = 1; i < ARRAY_SIZE(auto_props_help); i++) {
        if (auto_user_set(p, auto_props_help[i].name)) {
            error_setg(errp, "'%s' is set, but automatic ballooning is off;"
                       " add automatic=on, or drop '%s'",
                       auto_props_help[i].name, auto_props_help[i].name);
            return false;
        }
    }
    return true;
}

/*
 * Upstream features that automatic mode offers unless the user set them
 * (see auto_prop_set()).
 *
 * - deflate-on-oom: no OOM kill because of the balloon.  A guest that
 *   runs out of memory takes it back from the balloon at once (and the
 *   policy follows, see balloon_auto_actual_changed()).
 * - free-page-reporting: the guest hands back the memory it frees (in
 *   blocks of 2 MiB or more, after 2 s) without waiting for host
 *   pressure, which automatic mode cannot see coming.  Decided by the
 *   over-commit benchmark (bench/results/2026-11-30-2): host swap-out
 *   against no balloon, automatic mode alone / with reporting: RFC case
 *   0.22x / 0.04x, idle guest 0.46x / 0, staggered peaks 0.74x / 0.32x.
 *   The device gets the reporting queue, so the message queue moves to
 *   the index after it (docs/interop/virtio-balloon-message-queue.rst).
 */
static const struct {
    const char *name;
    unsigned bit;
    const char *desc;
} auto_features[] = {
    { "deflate-on-oom", VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
      "on/off; with automatic=on, on unless set" },
    { "free-page-reporting", VIRTIO_BALLOON_F_REPORTING,
      "on/off; with automatic=on, on unless set" },
};

/* Offer each feature of auto_features[] the user did not set */
static void auto_features_default(VirtIOBalloon *s)
{
    int i;

    for (i = 0; i < ARRAY_SIZE(auto_features); i++) {
        if (!auto_user_set(&s->auto_props, auto_features[i].name)) {
            s->host_features |= 1u << auto_features[i].bit;
        }
    }
}

/*
 * Which properties the user set (-device, -global, or through the -pci
 * proxy's alias): those of auto_features[] and of auto_props_help[] but
 * "automatic" are defined with the PropertyInfos below
 * (DEFINE_PROP_AUTO_* in virtio-balloon-auto.h), each the qdev one of its
 * type with a setter that also records the property in
 * VirtIOBalloonAutoProps.user_set, as the x86 CPU's feature properties
 * record user_features.  Property defaults go through the same setters
 * before instance_init, which clears the record.
 */
QEMU_BUILD_BUG_ON(ARRAY_SIZE(auto_features) + ARRAY_SIZE(auto_props_help)
                  > 64);

/* The bit of recorded property @name in VirtIOBalloonAutoProps.user_set */
static uint64_t auto_recorded_bit(const char *name)
{
    int i;

    for (i = 0; i < ARRAY_SIZE(auto_features); i++) {
        if (g_str_equal(name, auto_features[i].name)) {
            return 1ull << i;
        }
    }
    /* auto_props_help[0], "automatic", is the switch: not recorded */
    for (i = 1; i < ARRAY_SIZE(auto_props_help); i++) {
        if (g_str_equal(name, auto_props_help[i].name)) {
            return 1ull << (ARRAY_SIZE(auto_features) + i - 1);
        }
    }
    g_assert_not_reached();
}

/* Whether the user set @name, one of the recorded properties */
static bool auto_user_set(const VirtIOBalloonAutoProps *p, const char *name)
{
    return p->user_set & auto_recorded_bit(name);
}

/* The qdev PropertyInfo a recorded property's @prop wraps (not a bit) */
static const PropertyInfo *auto_prop_base(const Property *prop)
{
    return container_of(prop->info, VirtIOBalloonAutoPropertyInfo,
                        info)->base;
}

static void auto_prop_get(Object *obj, Visitor *v, const char *name,
                          void *opaque, Error **errp)
{
    auto_prop_base(opaque)->get(obj, v, name, opaque, errp);
}

static void auto_prop_set(Object *obj, Visitor *v, const char *name,
                          void *opaque, Error **errp)
{
    ERRP_GUARD();

    auto_prop_base(opaque)->set(obj, v, name, opaque, errp);
    if (!*errp) {
        VIRTIO_BALLOON(obj)->auto_props.user_set |= auto_recorded_bit(name);
    }
}

/*
 * A feature bit: qdev_prop_bit's accessors insist on being its own, so
 * these are their equivalent
 */
static void auto_prop_get_bit(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    const Property *prop = opaque;
    uint32_t *p = object_field_prop_ptr(obj, prop);
    bool value = *p & BIT(prop->bitnr);

    visit_type_bool(v, name, &value, errp);
}

static void auto_prop_set_bit(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    const Property *prop = opaque;
    uint32_t *p = object_field_prop_ptr(obj, prop);
    bool value;

    if (!visit_type_bool(v, name, &value, errp)) {
        return;
    }
    if (value) {
        *p |= BIT(prop->bitnr);
    } else {
        *p &= ~BIT(prop->bitnr);
    }
    VIRTIO_BALLOON(obj)->auto_props.user_set |= auto_recorded_bit(name);
}

static void auto_prop_set_default_value_bit(ObjectProperty *op,
                                            const Property *prop)
{
    object_property_set_default_bool(op, prop->defval.u);
}

static void auto_prop_set_default_value(ObjectProperty *op,
                                        const Property *prop)
{
    auto_prop_base(prop)->set_default_value(op, prop);
}

static void auto_prop_release(Object *obj, const char *name, void *opaque)
{
    auto_prop_base(opaque)->release(obj, name, opaque);
}

const VirtIOBalloonAutoPropertyInfo virtio_balloon_auto_prop_bit = {
    .info = {
        .type = "bool",
        .description = "on/off",
        .get = auto_prop_get_bit,
        .set = auto_prop_set_bit,
        .set_default_value = auto_prop_set_default_value_bit,
    },
};

/* A recorded property of a type whose qdev PropertyInfo is @_base */
#define AUTO_PROP_INFO(_type, _base) {                              \
        .info = {                                                   \
            .type = (_type),                                        \
            .get = auto_prop_get,                                   \
            .set = auto_prop_set,                                   \
            .set_default_value = auto_prop_set_default_value,       \
        },                                                          \
        .base = &(_base),                                           \
    }

const VirtIOBalloonAutoPropertyInfo virtio_balloon_auto_prop_bool =
    AUTO_PROP_INFO("bool", qdev_prop_bool);

const VirtIOBalloonAutoPropertyInfo virtio_balloon_auto_prop_string = {
    .info = {
        .type = "str",
        .get = auto_prop_get,
        .set = auto_prop_set,
        .release = auto_prop_release,
    },
    .base = &qdev_prop_string,
};

const VirtIOBalloonAutoPropertyInfo virtio_balloon_auto_prop_size =
    AUTO_PROP_INFO("size", qdev_prop_size);

const VirtIOBalloonAutoPropertyInfo virtio_balloon_auto_prop_uint32 =
    AUTO_PROP_INFO("uint32", qdev_prop_uint32);

const VirtIOBalloonAutoPropertyInfo virtio_balloon_auto_prop_uint64 =
    AUTO_PROP_INFO("uint64", qdev_prop_uint64);

/* @name of @klass is a recorded property (defined with DEFINE_PROP_AUTO_*) */
static void auto_assert_recorded(ObjectClass *klass, const char *name)
{
    ObjectProperty *op = object_class_property_find(klass, name);
    const Property *prop = op ? op->opaque : NULL;

    assert(prop && (prop->info->set == auto_prop_set ||
                    prop->info->set == auto_prop_set_bit));
}

/*
 * Open @source, the value of @name (the property or argument the user
 * wrote), into *@monitor: NULL for AUTO_NO_SOURCE and AUTO_QTEST_SOURCE.
 * Nothing in @a changes.
 */
static bool auto_source_open(VirtIOBalloonAuto *a, const char *name,
                             const char *source, HostPressureMonitor **monitor,
                             Error **errp)
{
    *monitor = NULL;
    if (!strcmp(source, AUTO_NO_SOURCE)) {
        return true;
    }
    /* Test hook: no host source, qtests inject the events */
    if (!strcmp(source, AUTO_QTEST_SOURCE)) {
        if (!qtest_enabled()) {
            error_setg(errp, "'%s' is %s, a test hook, only available with"
                       " the qtest accelerator", name, AUTO_QTEST_SOURCE);
            return false;
        }
        return true;
    }
    /* An fdset is armed by its manager: the psi props do not apply */
    *monitor = g_str_has_prefix(source, HOST_PRESSURE_FDSET_PREFIX) ?
        host_pressure_monitor_new_fdset(source, auto_host_pressure_cb,
                                        auto_source_gone_cb, a, errp) :
        host_pressure_monitor_new(source, &a->psi_opts, auto_host_pressure_cb,
                                  auto_source_gone_cb, a, errp);
    return *monitor != NULL;
}

/* Host pressure can reach the policy: a source or the qtest hook */
static bool auto_source_attached(VirtIOBalloonAuto *a)
{
    return a->monitor || !strcmp(a->source, AUTO_QTEST_SOURCE);
}

static const char *auto_backend_str(VirtIOBalloonAuto *a)
{
    if (a->monitor) {
        return host_pressure_backend_str(
            host_pressure_monitor_backend(a->monitor));
    }
    return auto_source_attached(a) ? AUTO_QTEST_SOURCE : AUTO_NO_SOURCE;
}

/* Replace the source by @monitor, opened from @source */
static void auto_source_replace(VirtIOBalloonAuto *a, const char *source,
                                HostPressureMonitor *monitor)
{
    VirtIOBalloon *s = a->dev;

    trace_virtio_balloon_auto_source(a->source, source);
    host_pressure_monitor_free(a->monitor);
    a->monitor = monitor;
    g_free(a->source);
    a->source = g_strdup(source);
    /* qom-get auto-source tells the source in use */
    g_free(s->auto_props.source);
    s->auto_props.source = g_strdup(source);
    balloon_auto_host_source(&a->policy, auto_source_attached(a),
                             auto_now());
    /* The new source's memory state, and its usage threshold */
    a->mem_known = false;
    auto_read_memory(a);
}

/*
 * A size refused at creation against the guest RAM of that moment that
 * memory devices still to come could make fit: say that those listed
 * after the balloon on the command line do not count yet.
 */
static void auto_hint_later_ram(const VirtIOBalloonAutoProps *p,
                                Error **errp)
{
    ERRP_GUARD();
    MachineState *ms = MACHINE(qdev_get_machine());
    BalloonAutoConfig cfg;

    if (!phase_check(PHASE_MACHINE_READY) && ms->maxram_size > ms->ram_size &&
        auto_props_to_config(p, ms->maxram_size >> VIRTIO_BALLOON_PFN_SHIFT,
                             auto_prop_names, &cfg, NULL)) {
        error_append_hint(errp, "Memory devices listed after the balloon"
                          " on the command line are not counted; list"
                          " DIMMs before it to count them.\n");
    }
}

/* Take RAM discard required; fails if someone disabled RAM discard */
static bool auto_discard_require(Error **errp)
{
    if (ram_block_discard_require(true)) {
        error_setg(errp, "guest RAM must be discardable, but RAM discard is"
                   " disabled (by VFIO, vhost-vdpa, a COLO secondary or"
                   " another user that pins guest memory)");
        return false;
    }
    return true;
}

/*
 * Hold RAM discard required (@hold) or let go of it, once per device.
 * Automatic mode holds it while it is on: inflating only helps the host if
 * the guest's pages can really be discarded, and VFIO, vhost-vdpa, libblkio
 * drivers that pin memory, a COLO secondary and confidential guests disable
 * discard (ram_block_discard_disable()).  Holding it also makes them refuse
 * to start later.  Switched off, the balloon is the manual one, which works
 * beside them (it inflates without discarding, virtio_balloon_inhibited()),
 * so it lets go; switching on again then fails while one of them is there.
 * An incoming migration takes it only once the stream said automatic mode
 * is on (virtio_balloon_auto_post_load()), as it checks guest RAM then.
 * Fails, setting @errp, only if @hold and discard is disabled.
 */
static bool auto_discard_hold(VirtIOBalloonAuto *a, bool hold, Error **errp)
{
    if (hold == a->discard_required) {
        return true;
    }
    if (hold && !auto_discard_require(errp)) {
        return false;
    }
    if (!hold) {
        ram_block_discard_require(false);
    }
    a->discard_required = hold;
    return true;
}

bool virtio_balloon_auto_realize(VirtIOBalloon *s, uint64_t ram_size,
                                 Error **errp)
{
    ERRP_GUARD();
    VirtIOBalloonAutoProps *p = &s->auto_props;
    uint64_t ram_pages = ram_size >> VIRTIO_BALLOON_PFN_SHIFT;
    g_autofree char *source = NULL;
    BalloonAutoConfig cfg;
    BalloonAutoStatsConfig stats_cfg;
    HostPressureOptions psi_opts;
    VirtIOBalloonAuto *a;
    bool incoming = runstate_check(RUN_STATE_INMIGRATE);

    if (!p->enabled) {
        return auto_props_unused(p, errp);
    }
    auto_props_scale_defaults(p, ram_pages);
    if (!auto_props_to_config(p, ram_pages, auto_prop_names, &cfg, errp)) {
        auto_hint_later_ram(p, errp);
        error_prepend(errp, "automatic ballooning: ");
        return false;
    }
    if (!auto_props_to_stats(p, &stats_cfg, errp) ||
        !auto_props_to_psi(p, &psi_opts, errp) ||
        !auto_props_check_memory_source(p, errp) ||
        /*
         * An incoming migration's stream says whether automatic mode is
         * on: a source with it off may have plugged RAM that this check
         * refuses (virtio_balloon_auto_post_load() checks then).
         */
        (!incoming && !virtio_balloon_auto_ram_discardable(errp))) {
        error_prepend(errp, "automatic ballooning: ");
        return false;
    }
    auto_features_default(s);
    /*
     * Held while automatic mode is on (auto_discard_hold()); a destination
     * takes it when the stream says it is on
     */
    if (!incoming && !auto_discard_require(errp)) {
        error_prepend(errp, "automatic ballooning: ");
        return false;
    }
    source = p->source ? g_strdup(p->source)
                       : host_pressure_default_source(errp);
    if (!source) {
        error_append_hint(errp, "Name a source with auto-source (a memory"
                          " cgroup, a cgroup v2 directory or a PSI file),"
                          " or start with auto-source=none and attach one"
                          " later with set-auto-balloon.\n");
        goto fail;
    }

    a = g_new0(VirtIOBalloonAuto, 1);
    a->dev = s;
    a->last_stats_ns = INT64_MIN;
    a->last_stats_request_ns = INT64_MIN;
    a->psi_opts = psi_opts;
    if (!auto_source_open(a, VIRTIO_BALLOON_AUTO_SOURCE_PROP, source,
                          &a->monitor, errp)) {
        g_free(a);
        goto fail;
    }
    if (p->memory_source) {
        HostMemoryState st;

        if (!host_memory_state_read(p->memory_source, &st, errp)) {
            error_prepend(errp, "'%s': ",
                          VIRTIO_BALLOON_AUTO_MEMORY_SOURCE_PROP);
            host_pressure_monitor_free(a->monitor);
            g_free(a);
            goto fail;
        }
    }
    balloon_auto_budget_init(&a->sample_measure,
                             VIRTIO_BALLOON_AUTO_SAMPLE_MEASURE_RATE);
    a->source = g_steal_pointer(&source);
    a->enabled = true;
    a->discard_required = !incoming;
    a->stats_cfg = stats_cfg;
    /*
     * No size in the guest's statistics can exceed the most RAM the
     * machine can ever give it: boot RAM and every memory device (DIMMs,
     * virtio-mem) up to maxmem, whatever is plugged when a sample comes
     */
    a->stats_cfg.ram_size = MACHINE(qdev_get_machine())->maxram_size;
    balloon_auto_stats_reset(&a->stats);
    balloon_auto_init(&a->policy, &cfg, ram_pages, auto_now());
    balloon_auto_host_source(&a->policy, auto_source_attached(a), auto_now());
    a->timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, auto_timer_cb, a);
    a->ram_watch = virtio_balloon_auto_ram_watch_new(auto_ram_watch_cb, a);
    s->auto_state = a;
    qemu_balloon_set_manual_check(s, auto_manual_check);
    qemu_balloon_set_plug_check(s, auto_plug_check);
    /*
     * Unmodified guests tell their memory pressure only through the stats
     * they send when asked: ask regularly, unless the user set an interval,
     * 0 included (management may change it later with qom-set).
     */
    if (p->stats_interval_s && !s->stats_poll_interval_set) {
        object_property_set_int(OBJECT(s), "guest-stats-polling-interval",
                                p->stats_interval_s, &error_abort);
        a->poll_interval_s = p->stats_interval_s;
        a->poll_base_s = p->stats_interval_s;
    }
    /* A first reading, which also arms the usage threshold where any */
    auto_read_memory(a);
    auto_rearm(a);
    trace_virtio_balloon_auto_realize(a->source, auto_backend_str(a));
    return true;

fail:
    error_prepend(errp, "automatic ballooning: ");
    if (!incoming) {
        ram_block_discard_require(false);
    }
    return false;
}

/*
 * The balloon size the policy believes: 'actual' as far as the pages the
 * guest gave back it up, plus the slack.  A guest that writes 'actual'
 * without giving its pages makes no progress as far as the policy is
 * concerned, so stall detection deals with it.  An 'actual' beyond guest
 * RAM is passed on as it is: the policy drops it as hostile.
 */
static uint64_t auto_believed_actual(VirtIOBalloonAuto *a)
{
    uint64_t actual = a->dev->actual;

    if (actual > balloon_auto_ram_pages(&a->policy)) {
        return actual;
    }
    return MIN(actual, a->inflated + AUTO_UNBACKED_SLACK_PAGES);
}

static void auto_switch(VirtIOBalloonAuto *a, bool enable)
{
    VirtIOBalloon *s = a->dev;

    if (enable == a->enabled) {
        return;
    }
    a->enabled = enable;
    trace_virtio_balloon_auto_switch(enable, s->num_pages, s->actual);
    if (enable) {
        /*
         * Continue from wherever manual control left the balloon, as far
         * as the pages the guest gave back its 'actual' (counted while
         * off too: virtio_balloon_auto_pages())
         */
        balloon_auto_sync(&a->policy, s->num_pages, auto_believed_actual(a),
                          auto_now());
        /*
         * A fresh memory state, and the usage threshold again if one was
         * crossed while switched off (the monitor dropped it)
         */
        auto_read_memory(a);
        auto_rearm(a);
    } else {
        timer_del(a->timer);
        /* Fast polling is automatic mode's: back to the normal interval */
        auto_update_polling(a);
    }
}

bool virtio_balloon_auto_configure(VirtIOBalloon *s,
                                   const VirtIOBalloonAutoProps *props,
                                   bool enable, const char *source,
                                   Error **errp)
{
    ERRP_GUARD();
    VirtIOBalloonAuto *a = s->auto_state;
    HostPressureMonitor *monitor = NULL;
    BalloonAutoConfig cfg;
    bool incoming;
    bool switch_on;

    assert(a);
    incoming = auto_awaiting_stream(a);
    switch_on = enable && !a->enabled;
    auto_ram_sync(a);
    if (!auto_props_to_config(props, balloon_auto_ram_pages(&a->policy),
                              auto_arg_names, &cfg, errp)) {
        return false;
    }
    /*
     * A COLO primary sends its device state at every checkpoint, and its
     * secondary has discard disabled: the first one after switching on
     * would fail and leave the primary paused
     */
    if (switch_on && migration_in_colo_state()) {
        error_setg(errp, "automatic ballooning cannot be switched on while"
                   " COLO replicates this VM: the secondary cannot discard"
                   " guest RAM");
        return false;
    }
    /*
     * RAM plugged, or a device that disables discard added, while
     * switched off.  An incoming migration's post_load checks guest RAM
     * and takes RAM discard instead, if the stream leaves automatic mode
     * on; once it has run (a COLO secondary's VM starts a while after),
     * switching on checks here.
     */
    if (switch_on && !incoming &&
        (!virtio_balloon_auto_ram_discardable(errp) ||
         !auto_discard_hold(a, true, errp))) {
        error_prepend(errp, "automatic ballooning: ");
        return false;
    }
    /* Last, since opening it is the only other step that acquires */
    if (source) {
        if (!auto_source_open(a, VIRTIO_BALLOON_AUTO_SOURCE, source,
                              &monitor, errp)) {
            error_prepend(errp, "automatic ballooning: ");
            /* Give back what this call took, nothing else */
            if (switch_on && !incoming) {
                auto_discard_hold(a, false, &error_abort);
            }
            return false;
        }
        auto_source_replace(a, source, monitor);
    }
    /* The tunables; 'enabled' and 'source' are the arguments' */
    s->auto_props.inflate_low = props->inflate_low;
    s->auto_props.inflate_medium = props->inflate_medium;
    s->auto_props.inflate_critical = props->inflate_critical;
    s->auto_props.deflate = props->deflate;
    s->auto_props.throttle_ms = props->throttle_ms;
    s->auto_props.hysteresis_ms = props->hysteresis_ms;
    s->auto_props.stall_ms = props->stall_ms;
    s->auto_props.floor = props->floor;
    s->auto_props.reserve = props->reserve;
    s->auto_props.reserve_pct = props->reserve_pct;
    s->auto_props.relief_ms = props->relief_ms;
    s->auto_props.relief_step = props->relief_step;
    s->auto_props.high_watermark_pct = props->high_watermark_pct;
    s->auto_props.low_watermark_pct = props->low_watermark_pct;
    s->auto_props.shares = props->shares;
    balloon_auto_set_config(&a->policy, &cfg);
    auto_update_threshold(a);
    auto_trace_config(props);
    auto_switch(a, enable);
    /* Switched on, it is held since the check above (or post_load's) */
    if (a->enabled) {
        auto_rearm(a);
    } else {
        auto_discard_hold(a, false, &error_abort);
    }
    return true;
}

bool virtio_balloon_auto_enabled(VirtIOBalloon *s)
{
    return s->auto_state && s->auto_state->enabled;
}

void virtio_balloon_auto_query(VirtIOBalloon *s, AutoBalloonInfo *info)
{
    VirtIOBalloonAuto *a = s->auto_state;
    const VirtIOBalloonAutoProps *p = &s->auto_props;
    const BalloonAutoCounters *c = balloon_auto_counters(&a->policy);
    AutoBalloonTunables *t = g_new0(AutoBalloonTunables, 1);
    AutoBalloonCounters *k = g_new0(AutoBalloonCounters, 1);
    int64_t now = auto_now();
    uint64_t host = 0, off = 0;
    int l;

    auto_ram_sync(a);
    info->enabled = a->enabled;
    info->source = g_strdup(a->source);
    if (a->monitor) {
        info->backend = host_pressure_monitor_backend(a->monitor) ==
            HOST_PRESSURE_BACKEND_PSI ? AUTO_BALLOON_BACKEND_PSI :
            AUTO_BALLOON_BACKEND_VMPRESSURE;
    } else {
        info->backend = auto_source_attached(a) ? AUTO_BALLOON_BACKEND_TEST :
                        AUTO_BALLOON_BACKEND_NONE;
    }
    info->source_gone = a->monitor && host_pressure_monitor_gone(a->monitor);
    info->target = auto_logical_size(a, s->num_pages);
    info->actual = auto_logical_size(a, s->actual);
    info->guest_window_open = balloon_auto_guest_window_open(&a->policy, now);
    if (info->guest_window_open) {
        info->has_guest_window_remaining_ms = true;
        info->guest_window_remaining_ms =
            DIV_ROUND_UP(balloon_auto_guest_window_end(&a->policy) - now,
                         SCALE_MS);
    }
    info->stalled = balloon_auto_stalled(&a->policy);
    info->inflated = MIN(a->inflated, balloon_auto_ram_pages(&a->policy)) <<
                     VIRTIO_BALLOON_PFN_SHIFT;
    info->message_vq_offered = s->auto_props.message_queue;
    info->message_vq = virtio_vdev_has_feature(VIRTIO_DEVICE(s),
                                               VIRTIO_BALLOON_F_MESSAGE_VQ);

    t->inflate_low = p->inflate_low;
    t->inflate_medium = p->inflate_medium;
    t->inflate_critical = p->inflate_critical;
    t->deflate = p->deflate;
    t->throttle_ms = p->throttle_ms;
    t->hysteresis_ms = p->hysteresis_ms;
    t->stall_ms = p->stall_ms;
    t->floor = p->floor;
    t->reserve = p->reserve;
    t->reserve_pct = p->reserve_pct;
    t->relief_ms = p->relief_ms;
    t->relief_step = p->relief_step;
    t->high_watermark_pct = p->high_watermark_pct;
    t->low_watermark_pct = p->low_watermark_pct;
    t->shares = p->shares;
    info->tunables = t;
    if (balloon_auto_stats_available(&a->stats) != UINT64_MAX) {
        info->has_guest_available = true;
        info->guest_available = balloon_auto_stats_available(&a->stats);
    }
    if (a->resident_known) {
        info->has_host_resident = true;
        info->host_resident = a->resident;
    }
    if (a->mem_known) {
        AutoBalloonHostMemory *m = g_new0(AutoBalloonHostMemory, 1);

        m->usage = a->mem.usage;
        m->limit = a->mem.limit;
        m->available = a->mem.available;
        m->own_limit = a->mem.limited;
        m->above_high_watermark = balloon_auto_host_deficit(&a->policy) > 0;
        m->below_low_watermark = balloon_auto_host_below_low(&a->policy);
        info->host_memory = m;
    }

    for (l = 0; l < BALLOON_AUTO_LEVEL__MAX; l++) {
        host += c->host_events[l];
        off += a->off_events[l];
    }
    k->host_events_low = c->host_events[BALLOON_AUTO_LEVEL_LOW] +
                         a->off_events[BALLOON_AUTO_LEVEL_LOW];
    k->host_events_medium = c->host_events[BALLOON_AUTO_LEVEL_MEDIUM] +
                            a->off_events[BALLOON_AUTO_LEVEL_MEDIUM];
    k->host_events_critical = c->host_events[BALLOON_AUTO_LEVEL_CRITICAL] +
                              a->off_events[BALLOON_AUTO_LEVEL_CRITICAL];
    /* The policy's invariant: host events = immediate + throttled + ignored */
    k->inflates_immediate = host - c->throttled - c->ignored;
    k->throttled = c->throttled;
    /* switched off or in transit (auto_in_transit), host events are ignored */
    k->ignored = c->ignored + off;
    k->guest_messages = c->guest_pressure[BALLOON_AUTO_GUEST_MESSAGE];
    k->guest_stats = c->guest_pressure[BALLOON_AUTO_GUEST_STATS];
    k->stats_samples = a->stats.samples;
    k->stats_hostile = a->stats.hostile;
    k->malformed_messages = a->malformed;
    k->guest_deflates = c->guest_deflates;
    k->inflates = c->inflates;
    k->deflates = c->deflates;
    k->cancels = c->cancels;
    k->stalls = c->stalls;
    k->unbacked_actual = a->unbacked;
    k->shortfalls = c->shortfalls;
    k->reliefs = c->reliefs;
    k->not_resident = c->not_resident;
    k->watermark_inflates = c->watermark_inflates;
    k->relief_held = c->relief_held;
    k->ram_deflates = c->ram_deflates;
    info->counters = k;
}

/*
 * The message queue, where the user asked for it, comes after every
 * optional queue the device offers.
 */
void virtio_balloon_auto_add_queues(VirtIOBalloon *s)
{
    VirtIOBalloonAuto *a = s->auto_state;

    if (a && s->auto_props.message_queue) {
        a->msg_vq = virtio_add_queue(VIRTIO_DEVICE(s),
                                     VIRTIO_BALLOON_MSG_VQ_SIZE,
                                     auto_handle_msg);
    }
}

void virtio_balloon_auto_unrealize(VirtIOBalloon *s)
{
    VirtIOBalloonAuto *a = s->auto_state;

    if (!a) {
        return;
    }
    host_pressure_monitor_free(a->monitor);
    virtio_balloon_auto_ram_watch_free(a->ram_watch);
    virtio_balloon_auto_ram_resident_orphan(a->measuring);
    timer_free(a->timer);
    if (a->msg_vq) {
        virtio_delete_queue(a->msg_vq);
    }
    auto_discard_hold(a, false, &error_abort);
    g_free(a->source);
    g_free(a);
    s->auto_state = NULL;
}

/*
 * Device reset (guest reboot, driver load or unload): the guest has all of
 * its memory back, so start from a clean slate rather than re-inflating to
 * a target chosen for the previous driver instance.  Switched off, the
 * balloon is under manual control and keeps the size management asked for,
 * as upstream does.
 */
void virtio_balloon_auto_reset(VirtIOBalloon *s)
{
    VirtIOBalloonAuto *a = s->auto_state;
    int l;

    if (!a) {
        return;
    }
    balloon_auto_reset(&a->policy, auto_now());
    balloon_auto_stats_reset(&a->stats);
    /* The guest has all of its memory back, whatever the mode */
    a->inflated = 0;
    a->resident_known = false;
    /*
     * What waits for a running measurement was for the old driver: the
     * host events count as ignored, as when switched off
     */
    for (l = 0; l < BALLOON_AUTO_LEVEL__MAX; l++) {
        a->off_events[l] += a->waiting_events[l];
    }
    memset(a->waiting_events, 0, sizeof(a->waiting_events));
    a->waiting_timer = a->waiting_sample = false;
    a->waiting_sample_pressure = false;
    a->last_stats_ns = INT64_MIN;
    a->last_stats_request_ns = INT64_MIN;
    /* A new driver: its first sample and event measure at once */
    a->sample_measure_next_ns = INT64_MIN;
    auto_measure_forget(a);
    if (a->enabled) {
        s->num_pages = 0;
        s->actual = 0;
    }
    timer_del(a->timer);
    auto_update_polling(a);
    trace_virtio_balloon_auto_reset(a->enabled);
}

void virtio_balloon_auto_get_features(VirtIOBalloon *s, uint64_t *features)
{
    if (s->auto_props.enabled && s->auto_props.message_queue) {
        virtio_add_feature(features, VIRTIO_BALLOON_F_MESSAGE_VQ);
    }
}

void virtio_balloon_auto_actual_changed(VirtIOBalloon *s)
{
    VirtIOBalloonAuto *a = s->auto_state;
    uint64_t believed;

    if (!a) {
        return;
    }
    believed = auto_believed_actual(a);
    if (believed < s->actual) {
        a->unbacked++;
        trace_virtio_balloon_auto_unbacked(s->actual, a->inflated);
    }
    if (a->enabled) {
        auto_apply(a, balloon_auto_actual_changed(&a->policy, believed,
                                                  auto_now()));
    }
}

/*
 * Counted whether automatic mode is on or off, so that switching it on
 * compares 'actual' with every page the guest gave.  Pages that arrive
 * after an 'actual' that ran ahead of them are progress.  Returned pages
 * are not: the guest's next write of 'actual' says what it took back.
 */
void virtio_balloon_auto_pages(VirtIOBalloon *s, bool inflate,
                               uint64_t pages)
{
    VirtIOBalloonAuto *a = s->auto_state;
    uint64_t believed;

    if (!a || !pages) {
        return;
    }
    if (inflate) {
        a->inflated = pages > UINT64_MAX - a->inflated ? UINT64_MAX :
                      a->inflated + pages;
    } else {
        a->inflated -= MIN(pages, a->inflated);
    }
    trace_virtio_balloon_auto_pages(inflate, pages, a->inflated);
    believed = auto_believed_actual(a);
    if (inflate && a->enabled &&
        believed > balloon_auto_actual(&a->policy)) {
        auto_apply(a, balloon_auto_actual_changed(&a->policy, believed,
                                                  auto_now()));
    }
}

/*
 * What the last statistics sample asks of the policy, after any
 * measurement it needed; @pressure: the sample showed guest pressure
 */
static void auto_sample_work(VirtIOBalloonAuto *a, bool pressure)
{
    VirtIOBalloon *s = a->dev;
    uint64_t avail = balloon_auto_stats_available(&a->stats);
    uint64_t memfree;
    BalloonAutoAction act;

    /* Guest memory first: a low guest with a full balloon gets it back */
    if (avail != UINT64_MAX) {
        memfree = balloon_auto_stats_memfree(&a->stats);
        balloon_auto_free_page_reporting(&a->policy,
            virtio_vdev_has_feature(VIRTIO_DEVICE(s),
                                    VIRTIO_BALLOON_F_REPORTING));
        act = balloon_auto_guest_sample(&a->policy,
                                        avail >> VIRTIO_BALLOON_PFN_SHIFT,
                                        memfree == UINT64_MAX ? UINT64_MAX :
                                        memfree >> VIRTIO_BALLOON_PFN_SHIFT,
                                        balloon_auto_stats_low(&a->stats),
                                        auto_now());
        if (act.kind != BALLOON_AUTO_NONE || !pressure) {
            auto_apply(a, act);
            return;
        }
    }
    if (pressure) {
        auto_apply(a, balloon_auto_guest_pressure(&a->policy,
                                                  BALLOON_AUTO_GUEST_STATS,
                                                  auto_now()));
    }
}

/*
 * A stats buffer came back.  The rule keeps its baseline while switched
 * off, so that switching on does not compare against stale counters.
 */
void virtio_balloon_auto_stats_received(VirtIOBalloon *s)
{
    VirtIOBalloonAuto *a = s->auto_state;
    const char *why = NULL;
    uint64_t avail;
    bool pressure, within;

    if (!a) {
        return;
    }
    pressure = balloon_auto_stats_update(&a->stats, &a->stats_cfg, s->stats,
                                         auto_now(), &why);
    a->last_stats_ns = auto_now();
    avail = balloon_auto_stats_available(&a->stats);
    trace_virtio_balloon_auto_stats(pressure, why, avail);
    if (!a->enabled) {
        trace_virtio_balloon_auto_switched_off("guest stats");
        return;
    }
    /* The latest sample is acted on, with any pressure one showed */
    if (auto_measure_wait(a, "guest stats")) {
        a->waiting_sample = true;
        a->waiting_sample_pressure |= pressure;
        return;
    }
    /*
     * The work a sample causes is within the guest's budget of samples a
     * second; beyond it the last reading and measurement stand.  A reading
     * comes cheaply (some files, tens of microseconds) and may start the
     * watermark check.
     */
    within = balloon_auto_budget_take(&a->sample_measure, auto_now());
    if (within) {
        auto_read_memory(a);
    }
    /* used and resident of one moment (balloon_auto_gain()) */
    if (avail != UINT64_MAX && within &&
        auto_now() >= a->sample_measure_next_ns) {
        AutoMeasure m = auto_measure_resident(a);

        /* One that stands costs nothing: the next sample may measure */
        if (m != AUTO_STANDS) {
            a->sample_measure_next_ns = auto_now() +
                auto_ram_ns(a, VIRTIO_BALLOON_AUTO_SAMPLE_MEASURE_BYTES_PER_S);
        }
        if (m == AUTO_MEASURING) {
            a->waiting_sample = true;
            a->waiting_sample_pressure = pressure;
            return;
        }
    }
    auto_sample_work(a, pressure);
}

/*
 * A measurement in a worker thread is done: record it, then do what waited
 * for it, in the order it would have been done (host events, the
 * timer's work, the last sample).  Of the host events, the highest
 * level's first: the first event is the one the measurement was made
 * for, and the policy coalesces the others as it would have.  What
 * arrived while switched on but finds automatic mode switched off or
 * the guest migrating counts as ignored, as if it came now.  A
 * measurement that began before guest RAM changed (a DIMM plugged or
 * unplugged), a reset or a load (auto_measure_forget()) is not recorded:
 * it is made again, and what waited waits on.
 */
static void auto_measured_cb(void *opaque, bool ok, uint64_t bytes,
                             int64_t elapsed_ns)
{
    VirtIOBalloonAuto *a = opaque;
    uint64_t events[BALLOON_AUTO_LEVEL__MAX], n = 0;
    bool timer = a->waiting_timer;
    bool sample = a->waiting_sample;
    bool pressure = a->waiting_sample_pressure;
    int l;

    a->measuring = NULL;
    if (a->measuring_gen == a->measure_gen) {
        int64_t pause = auto_aside_pause(a, elapsed_ns);

        trace_virtio_balloon_auto_resident_pause(elapsed_ns, pause);
        a->aside_measure_next_ns = pause > INT64_MAX - auto_now() ?
                                   INT64_MAX : auto_now() + pause;
    } else {
        /* Of the RAM there was: measure the RAM there is */
        trace_virtio_balloon_auto_resident_wait("guest RAM changed, was"
                                                " reset or loaded: what"
                                                " waited for the last"
                                                " measurement");
        if (auto_measure_resident(a) == AUTO_MEASURING) {
            return;
        }
        /* Measured on the main thread now (or not at all) */
        ok = false;
    }
    memcpy(events, a->waiting_events, sizeof(events));
    memset(a->waiting_events, 0, sizeof(a->waiting_events));
    a->waiting_timer = a->waiting_sample = false;
    a->waiting_sample_pressure = false;
    for (l = 0; l < BALLOON_AUTO_LEVEL__MAX; l++) {
        n += events[l];
    }
    trace_virtio_balloon_auto_resident_done(ok, bytes, n, timer, sample);
    if (ok) {
        auto_record_resident(a, bytes);
    }
    if (!a->enabled || auto_in_transit() || virtio_balloon_inhibited()) {
        for (l = 0; l < BALLOON_AUTO_LEVEL__MAX; l++) {
            a->off_events[l] += events[l];
        }
        /* The deadline the timer's work would have re-armed */
        if (a->enabled) {
            auto_rearm(a);
        }
        return;
    }
    for (l = BALLOON_AUTO_LEVEL__MAX - 1; l >= 0; l--) {
        for (; events[l]; events[l]--) {
            auto_apply(a, balloon_auto_host_event(&a->policy, l,
                                                  auto_now()));
        }
    }
    if (timer) {
        auto_timer_work(a);
    }
    if (sample) {
        auto_sample_work(a, pressure);
    }
}

/*
 * A test hook's refused value as its error gives it: quoted up to
 * AUTO_HOOK_QUOTE_MAX bytes (more than any value a hook takes), told by
 * its length beyond, so that no message grows with what qom-set was sent.
 */
#define AUTO_HOOK_QUOTE_MAX 64

static char *auto_hook_value_str(const char *value)
{
    size_t len = strlen(value);

    return len <= AUTO_HOOK_QUOTE_MAX ? g_strdup_printf("'%s'", value) :
           g_strdup_printf("a value of %zu bytes", len);
}

/*
 * Test hook: inject a host pressure event as if the monitor had reported
 * it, so that qtests can drive the policy deterministically.  Only
 * available with the qtest accelerator.
 */
static void auto_inject_set(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    VirtIOBalloon *s = VIRTIO_BALLOON(obj);
    g_autofree char *value = NULL;
    g_autofree char *what = NULL;
    int level;

    if (!visit_type_str(v, name, &value, errp)) {
        return;
    }
    if (!qtest_enabled()) {
        error_setg(errp, "'%s' is a test hook, only available with the"
                   " qtest accelerator", name);
        return;
    }
    if (!s->auto_state) {
        error_setg(errp, "automatic ballooning is not enabled");
        return;
    }
    for (level = 0; level < HOST_PRESSURE__MAX; level++) {
        if (!strcmp(value, host_pressure_level_str(level))) {
            auto_host_event(s->auto_state, level);
            return;
        }
    }
    what = auto_hook_value_str(value);
    error_setg(errp, "'%s' expects low, medium or critical, not %s", name,
               what);
}

/* Whether @str is one or more decimal digits and nothing else */
static bool auto_digits(const char *str)
{
    return *str && strspn(str, "0123456789") == strlen(str);
}

/*
 * Test hook: the memory state the qtest source reports, "USAGE LIMIT
 * AVAILABLE" in bytes (the limit counted as the source's own), or "" for
 * none.  It is read at once, as if a reading had just happened, and again
 * whenever the device reads the state.  Only with the qtest source.
 */
static void auto_inject_memory_set(Object *obj, Visitor *v, const char *name,
                                   void *opaque, Error **errp)
{
    VirtIOBalloon *s = VIRTIO_BALLOON(obj);
    VirtIOBalloonAuto *a = s->auto_state;
    g_autofree char *value = NULL;
    HostMemoryState st = { .limited = true };
    bool set = false;

    if (!visit_type_str(v, name, &value, errp)) {
        return;
    }
    if (!qtest_enabled() || !a || strcmp(a->source, AUTO_QTEST_SOURCE)) {
        error_setg(errp, "'%s' is a test hook, only available with the"
                   " qtest accelerator and auto-source=" AUTO_QTEST_SOURCE,
                   name);
        return;
    }
    if (*value) {
        g_auto(GStrv) f = g_strsplit(value, " ", 0);

        /*
         * Three decimal numbers of digits only (sscanf() took "-1" and
         * "1x", parse_uint() alone takes "+1" and leading blanks), a
         * limit (if any) that holds the usage, and as much available
         * memory at most: what a kernel could report.
         */
        if (g_strv_length(f) != 3 || !auto_digits(f[0]) ||
            !auto_digits(f[1]) || !auto_digits(f[2]) ||
            parse_uint_full(f[0], 10, &st.usage) ||
            parse_uint_full(f[1], 10, &st.limit) ||
            parse_uint_full(f[2], 10, &st.available) ||
            (st.limit && (st.usage > st.limit ||
                          st.available > st.limit))) {
            g_autofree char *what = auto_hook_value_str(value);

            error_setg(errp, "'%s' expects 'USAGE LIMIT AVAILABLE' in bytes"
                       " or '', not %s", name, what);
            return;
        }
        set = true;
    }
    a->test_mem_set = set;
    a->test_mem = st;
    auto_read_memory(a);
    if (a->enabled) {
        auto_rearm(a);
    }
}

void virtio_balloon_auto_instance_init(Object *obj)
{
    VirtIOBalloon *s = VIRTIO_BALLOON(obj);

    /* The defaults were applied through the setters already: not the user */
    s->auto_props.user_set = 0;
    object_property_add(obj, "x-inject-host-pressure", "str", NULL,
                        auto_inject_set, NULL, NULL);
    object_property_add(obj, "x-inject-host-memory", "str", NULL,
                        auto_inject_memory_set, NULL, NULL);
}

/*
 * Describe the properties; check that each one realize asks about records
 * whether the user set it
 */
void virtio_balloon_auto_class_init(ObjectClass *klass)
{
    int i;

    for (i = 0; i < ARRAY_SIZE(auto_features); i++) {
        object_class_property_set_description(klass, auto_features[i].name,
                                              auto_features[i].desc);
        auto_assert_recorded(klass, auto_features[i].name);
    }
    /* "automatic" itself is the switch */
    assert(!strcmp(auto_props_help[0].name, "automatic"));
    for (i = 0; i < ARRAY_SIZE(auto_props_help); i++) {
        object_class_property_set_description(klass, auto_props_help[i].name,
                                              auto_props_help[i].desc);
        if (i > 0) {
            auto_assert_recorded(klass, auto_props_help[i].name);
        }
    }
}

static bool auto_vmstate_needed(void *opaque)
{
    VirtIOBalloon *s = opaque;

    return s->auto_state != NULL;
}

/*
 * The subsection is known to every build of this device, so a destination
 * with automatic=off would accept it and load it into state it does not
 * have: refuse it here, by name.
 */
static int auto_vmstate_pre_load(void *opaque)
{
    VirtIOBalloon *s = opaque;

    if (!s->auto_state) {
        error_report("virtio-balloon: the migration stream has automatic"
                     " ballooning state, but this device has"
                     " automatic=off: start the destination with"
                     " automatic=on");
        return -EINVAL;
    }
    return 0;
}

/*
 * Every tunable set-auto-balloon can change travels (vmstate_auto_state);
 * the destination's other properties (PSI thresholds, stats rule, the
 * pressure sources) must survive auto_post_load copying mig_props back.
 */
static int auto_pre_load(void *opaque)
{
    VirtIOBalloonAuto *a = opaque;

    a->mig_props = a->dev->auto_props;
    a->timing_loaded = false;
    return 0;
}

static int auto_pre_save(void *opaque)
{
    VirtIOBalloonAuto *a = opaque;

    /* A DIMM unplug whose RAM watch bottom half has not run yet counts */
    auto_ram_sync(a);
    balloon_auto_get_timing(&a->policy, &a->timing);
    a->mig_props = a->dev->auto_props;
    a->mig_enabled = a->enabled;
    return 0;
}

/*
 * Times are on QEMU_CLOCK_VIRTUAL, which has migrated before the devices:
 * none of them may lie in the future, which would hold off inflating (or
 * keep a window open) for as long as the stream says.
 */
static bool auto_timing_check(const BalloonAutoTiming *t,
                              int64_t hysteresis_ns, int64_t now,
                              Error **errp)
{
    if (t->window_end < 0 || (t->window_end &&
                              t->window_end - hysteresis_ns > now)) {
        error_setg(errp, "guest-pressure window ending at %" PRId64
                   " ns does not fit a hysteresis of %" PRId64 " ns at %"
                   PRId64 " ns", t->window_end, hysteresis_ns, now);
        return false;
    }
    if (t->last_inflate != INT64_MIN &&
        (t->last_inflate < 0 || t->last_inflate > now)) {
        error_setg(errp, "last inflate at %" PRId64 " ns is not between 0"
                   " and now (%" PRId64 " ns)", t->last_inflate, now);
        return false;
    }
    if (t->last_progress < 0 || t->last_progress > now) {
        error_setg(errp, "last guest progress at %" PRId64 " ns is not"
                   " between 0 and now (%" PRId64 " ns)", t->last_progress,
                   now);
        return false;
    }
    return true;
}

/*
 * The timing state is on QEMU_CLOCK_VIRTUAL, which migrates, so the
 * destination continues the same guest-pressure window, throttle and stall
 * detection.  Checked here; applied with the balloon size and the
 * tunables once the device's main section is in too
 * (virtio_balloon_auto_post_load).
 */
static int auto_post_load(void *opaque, int version_id)
{
    VirtIOBalloonAuto *a = opaque;
    VirtIOBalloon *s = a->dev;
    Error *err = NULL;

    /*
     * The message queue is a property, not a tunable: both ends must have
     * it or neither.  The virtio core loads the source's queues into
     * whatever the destination has, so without this a queue the
     * destination never created would come out of the stream.
     */
    if (a->mig_props.message_queue != s->auto_props.message_queue) {
        error_report("virtio-balloon: the source %s the message queue and"
                     " this destination %s: start the destination with "
                     VIRTIO_BALLOON_AUTO_MESSAGE_QUEUE_PROP "=%s",
                     a->mig_props.message_queue ? "offers" : "does not offer",
                     s->auto_props.message_queue ? "does" : "does not",
                     a->mig_props.message_queue ? "on" : "off");
        return -EINVAL;
    }
    /*
     * Every tunable set-auto-balloon can change travels; the stream is not
     * trusted.  The host memory state is the destination's own.
     */
    auto_ram_sync(a);
    if (!auto_props_to_config(&a->mig_props,
                              balloon_auto_ram_pages(&a->policy),
                              auto_prop_names, &a->mig_cfg, &err) ||
        !auto_timing_check(&a->timing, a->mig_cfg.hysteresis_ns, auto_now(),
                           &err)) {
        error_prepend(&err, "virtio-balloon: migrated automatic ballooning"
                      " state: ");
        error_report_err(err);
        return -EINVAL;
    }
    a->mig_props.enabled = s->auto_props.enabled;
    a->mig_props.source = s->auto_props.source;
    a->mig_props.memory_source = s->auto_props.memory_source;
    a->timing_loaded = true;
    return 0;
}

/*
 * The device's state is in: num_pages and actual from its main section,
 * and our subsection if the source ran automatic mode.  Whatever mode the
 * source was in, the policy continues from the balloon the guest has, as
 * when automatic mode is switched on at run time; it must not start from
 * an empty balloon and undo what the source did.
 */
int virtio_balloon_auto_post_load(VirtIOBalloon *s)
{
    VirtIOBalloonAuto *a = s->auto_state;
    Error *err = NULL;
    uint64_t ram_pages;

    if (!a) {
        return 0;
    }
    /* DIMMs on the command line after this device are in by now */
    auto_ram_sync(a);
    ram_pages = balloon_auto_ram_pages(&a->policy);
    if (s->num_pages > ram_pages) {
        error_report("virtio-balloon: migrated balloon target of %u pages"
                     " is larger than guest RAM (%" PRIu64 " pages)",
                     s->num_pages, ram_pages);
        a->timing_loaded = false;
        return -EINVAL;
    }
    /*
     * Skipped at creation and plug (auto_plug_check()) while the stream
     * could still switch automatic mode off: the RAM it is to balloon
     */
    if ((a->timing_loaded ? a->mig_enabled : a->enabled) &&
        !virtio_balloon_auto_ram_discardable(&err)) {
        error_reportf_err(err, "virtio-balloon: the migrated balloon is in"
                          " automatic mode, which this destination's RAM"
                          " cannot serve: ");
        a->timing_loaded = false;
        return -EINVAL;
    }
    /*
     * The last check, since it acquires: a destination takes RAM discard
     * only now (VFIO may be on its command line for a source switched
     * off), and a COLO secondary (the stream's ENABLE_COLO) disabled it
     */
    if ((a->timing_loaded ? a->mig_enabled : a->enabled) &&
        !auto_discard_hold(a, true, &err)) {
        error_reportf_err(err, "virtio-balloon: the migrated balloon is in"
                          " automatic mode: ");
        a->timing_loaded = false;
        return -EINVAL;
    }
    /* Everything checked: from here on the stream's state is applied */
    if (a->timing_loaded) {
        s->auto_props = a->mig_props;
        a->enabled = a->mig_enabled;
        /* The stream switched it off: the manual balloon needs no discard */
        auto_discard_hold(a, a->enabled, &error_abort);
        balloon_auto_set_config(&a->policy, &a->mig_cfg);
        /* The high watermark may have moved: the threshold with it */
        auto_update_threshold(a);
    }
    /*
     * The stream does not carry the pages the source received (a source
     * with automatic=off never counted them): believe the migrated
     * 'actual' once, and count from there.  The guest wrote 'actual';
     * one beyond guest RAM is hostile, as at run time
     * (auto_believed_actual()): no page of it is believed received.
     */
    if (s->actual > ram_pages) {
        a->inflated = 0;
        a->unbacked++;
        trace_virtio_balloon_auto_unbacked(s->actual, a->inflated);
    } else {
        a->inflated = s->actual;
    }
    /*
     * Measure at once: this host's RAM is another, and loadvm moves the
     * guest's clock back, which would stretch a pause counted on it
     */
    a->sample_measure_next_ns = INT64_MIN;
    auto_measure_forget(a);
    balloon_auto_sync(&a->policy, s->num_pages, s->actual, auto_now());
    if (a->timing_loaded) {
        balloon_auto_set_timing(&a->policy, &a->timing);
        a->timing_loaded = false;
    }
    a->state_loaded = true;
    trace_virtio_balloon_auto_post_load(a->enabled, s->num_pages, s->actual);
    if (a->enabled) {
        auto_rearm(a);
    } else {
        timer_del(a->timer);
    }
    return 0;
}

static const VMStateDescription vmstate_auto_state = {
    .name = "virtio-balloon-auto-state",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = auto_pre_save,
    .pre_load = auto_pre_load,
    .post_load = auto_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_INT64(timing.window_end, VirtIOBalloonAuto),
        VMSTATE_INT64(timing.last_inflate, VirtIOBalloonAuto),
        VMSTATE_INT64(timing.last_progress, VirtIOBalloonAuto),
        VMSTATE_BOOL(timing.stalled, VirtIOBalloonAuto),
        VMSTATE_BOOL(timing.ram_shrunk, VirtIOBalloonAuto),
        VMSTATE_BOOL(mig_enabled, VirtIOBalloonAuto),
        VMSTATE_UINT64(mig_props.inflate_low, VirtIOBalloonAuto),
        VMSTATE_UINT64(mig_props.inflate_medium, VirtIOBalloonAuto),
        VMSTATE_UINT64(mig_props.inflate_critical, VirtIOBalloonAuto),
        VMSTATE_UINT64(mig_props.deflate, VirtIOBalloonAuto),
        VMSTATE_UINT32(mig_props.throttle_ms, VirtIOBalloonAuto),
        VMSTATE_UINT32(mig_props.hysteresis_ms, VirtIOBalloonAuto),
        VMSTATE_UINT32(mig_props.stall_ms, VirtIOBalloonAuto),
        VMSTATE_UINT64(mig_props.floor, VirtIOBalloonAuto),
        VMSTATE_UINT64(mig_props.reserve, VirtIOBalloonAuto),
        VMSTATE_UINT32(mig_props.reserve_pct, VirtIOBalloonAuto),
        VMSTATE_UINT32(mig_props.relief_ms, VirtIOBalloonAuto),
        VMSTATE_UINT64(mig_props.relief_step, VirtIOBalloonAuto),
        VMSTATE_UINT32(mig_props.high_watermark_pct, VirtIOBalloonAuto),
        VMSTATE_UINT32(mig_props.low_watermark_pct, VirtIOBalloonAuto),
        VMSTATE_UINT32(mig_props.shares, VirtIOBalloonAuto),
        VMSTATE_BOOL(mig_props.message_queue, VirtIOBalloonAuto),
        VMSTATE_END_OF_LIST()
    }
};

/*
 * Only sent with automatic=on; a destination without it does not know the
 * subsection and fails the migration instead of silently dropping the mode.
 */
const VMStateDescription vmstate_virtio_balloon_auto = {
    .name = "virtio-balloon-device/auto",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = auto_vmstate_needed,
    .pre_load = auto_vmstate_pre_load,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT_POINTER(auto_state, VirtIOBalloon, vmstate_auto_state,
                               VirtIOBalloonAuto),
        VMSTATE_END_OF_LIST()
    }
};
