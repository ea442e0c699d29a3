/*
 * virtio-balloon automatic mode: device glue between the host pressure
 * monitor, the policy core and the virtio-balloon device
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_BALLOON_AUTO_H
#define HW_VIRTIO_BALLOON_AUTO_H

#include "migration/vmstate.h"
#include "hw/qdev-properties.h"
#include "qapi/qapi-types-auto-balloon.h"
#include "qemu/host-pressure.h"
#include "hw/virtio/virtio-balloon-auto-policy.h"
#include "hw/virtio/virtio-balloon-auto-stats.h"

/*
 * Feature bit of the message virtqueue.  Bits 0-5 are the virtio spec's;
 * 6, 7, 8, 16 and 20 have been used by other implementations, so take 10.
 * See docs/interop/virtio-balloon-message-queue.rst.
 */
#define VIRTIO_BALLOON_F_MESSAGE_VQ 10

/* Message types (le16 'type' field) */
#define VIRTIO_BALLOON_MSG_PRESSURE 1

/* Levels carried by a PRESSURE message (le32 'level' field) */
#define VIRTIO_BALLOON_MSG_LEVEL_LOW        0
#define VIRTIO_BALLOON_MSG_LEVEL_MEDIUM     1
#define VIRTIO_BALLOON_MSG_LEVEL_CRITICAL   2

/* One message per buffer, device-readable, little-endian */
struct virtio_balloon_msg {
    uint16_t type;
    uint16_t flags;     /* must be 0 */
    uint32_t level;
};

/* Size of the message virtqueue */
#define VIRTIO_BALLOON_MSG_VQ_SIZE 32

/*
 * -device only, and only with automatic=on: offer the message virtqueue.
 * Experimental, off by default: its feature bit is not allocated by the
 * virtio specification yet (docs/interop/virtio-balloon-message-queue.rst),
 * and a device must not offer a bit a future specification may give
 * another meaning unless the user asked for it.
 */
#define VIRTIO_BALLOON_AUTO_MESSAGE_QUEUE_PROP "x-auto-message-queue"

/*
 * Names of the tunables.  set-auto-balloon's argument (and the field of
 * AutoBalloonTunables) is the -device property without its "auto-"; error
 * messages name whichever of the two the user wrote.
 */
#define VIRTIO_BALLOON_AUTO_PROP(arg)      "auto-" arg
#define VIRTIO_BALLOON_AUTO_INFLATE_LOW      "inflate-low"
#define VIRTIO_BALLOON_AUTO_INFLATE_MEDIUM   "inflate-medium"
#define VIRTIO_BALLOON_AUTO_INFLATE_CRITICAL "inflate-critical"
#define VIRTIO_BALLOON_AUTO_DEFLATE          "deflate"
#define VIRTIO_BALLOON_AUTO_THROTTLE_MS      "throttle-ms"
#define VIRTIO_BALLOON_AUTO_HYSTERESIS_MS    "hysteresis-ms"
#define VIRTIO_BALLOON_AUTO_STALL_MS         "stall-ms"
#define VIRTIO_BALLOON_AUTO_FLOOR            "floor"
#define VIRTIO_BALLOON_AUTO_HIGH_WATERMARK   "high-watermark-pct"
#define VIRTIO_BALLOON_AUTO_LOW_WATERMARK    "low-watermark-pct"
#define VIRTIO_BALLOON_AUTO_RESERVE          "reserve"
#define VIRTIO_BALLOON_AUTO_RESERVE_PCT      "reserve-pct"
#define VIRTIO_BALLOON_AUTO_RELIEF_MS        "relief-ms"
#define VIRTIO_BALLOON_AUTO_RELIEF_STEP      "relief-step"
#define VIRTIO_BALLOON_AUTO_SHARES           "shares"
#define VIRTIO_BALLOON_AUTO_INFLATE_LOW_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_INFLATE_LOW)
#define VIRTIO_BALLOON_AUTO_INFLATE_MEDIUM_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_INFLATE_MEDIUM)
#define VIRTIO_BALLOON_AUTO_INFLATE_CRITICAL_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_INFLATE_CRITICAL)
#define VIRTIO_BALLOON_AUTO_DEFLATE_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_DEFLATE)
#define VIRTIO_BALLOON_AUTO_THROTTLE_MS_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_THROTTLE_MS)
#define VIRTIO_BALLOON_AUTO_HYSTERESIS_MS_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_HYSTERESIS_MS)
#define VIRTIO_BALLOON_AUTO_STALL_MS_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_STALL_MS)
#define VIRTIO_BALLOON_AUTO_FLOOR_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_FLOOR)
#define VIRTIO_BALLOON_AUTO_HIGH_WATERMARK_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_HIGH_WATERMARK)
#define VIRTIO_BALLOON_AUTO_LOW_WATERMARK_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_LOW_WATERMARK)
#define VIRTIO_BALLOON_AUTO_RESERVE_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_RESERVE)
#define VIRTIO_BALLOON_AUTO_RESERVE_PCT_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_RESERVE_PCT)
#define VIRTIO_BALLOON_AUTO_RELIEF_MS_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_RELIEF_MS)
#define VIRTIO_BALLOON_AUTO_RELIEF_STEP_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_RELIEF_STEP)
#define VIRTIO_BALLOON_AUTO_SHARES_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_SHARES)
/* The source: set-auto-balloon's "source" attaches one at run time */
#define VIRTIO_BALLOON_AUTO_SOURCE           "source"
#define VIRTIO_BALLOON_AUTO_SOURCE_PROP \
    VIRTIO_BALLOON_AUTO_PROP(VIRTIO_BALLOON_AUTO_SOURCE)
/*
 * -device only: where the host memory state is read when the source has
 * none (see virtio-balloon-auto.c, auto_read_memory())
 */
#define VIRTIO_BALLOON_AUTO_MEMORY_SOURCE_PROP "auto-memory-source"
/* -device only: the statistics rule and the PSI thresholds */
#define VIRTIO_BALLOON_AUTO_STATS_INTERVAL_PROP "auto-stats-interval"
#define VIRTIO_BALLOON_AUTO_STATS_AVAIL_MIN_PROP "auto-stats-avail-min"
#define VIRTIO_BALLOON_AUTO_STATS_AVAIL_MIN_PCT_PROP \
    "auto-stats-avail-min-pct"
#define VIRTIO_BALLOON_AUTO_STATS_OOM_KILL_PROP "auto-stats-oom-kill"
#define VIRTIO_BALLOON_AUTO_STATS_ALLOC_STALL_PROP "auto-stats-alloc-stall"
#define VIRTIO_BALLOON_AUTO_STATS_DIRECT_RECLAIM_PROP \
    "auto-stats-direct-reclaim"
#define VIRTIO_BALLOON_AUTO_STATS_SWAP_IN_PROP "auto-stats-swap-in"
#define VIRTIO_BALLOON_AUTO_STATS_MAJOR_FAULTS_PROP "auto-stats-major-faults"
#define VIRTIO_BALLOON_AUTO_PSI_WINDOW_MS_PROP "auto-psi-window-ms"
#define VIRTIO_BALLOON_AUTO_PSI_LOW_MS_PROP "auto-psi-low-ms"
#define VIRTIO_BALLOON_AUTO_PSI_MEDIUM_MS_PROP "auto-psi-medium-ms"
#define VIRTIO_BALLOON_AUTO_PSI_CRITICAL_MS_PROP "auto-psi-critical-ms"

/*
 * The properties of automatic mode and the upstream features it offers
 * unless the user set them (deflate-on-oom, free-page-reporting) record
 * whether the user set them, in VirtIOBalloonAutoProps.user_set: realize
 * refuses an auto-* property set without automatic=on, and gives the
 * scaled sizes and the features their automatic-mode defaults only where
 * the user did not.  Each PropertyInfo is the qdev one @base with a setter
 * that records (virtio-balloon-auto.c, auto_prop_set()); the feature bits'
 * (no @base) are qdev_prop_bit's equivalent.
 */
typedef struct VirtIOBalloonAutoPropertyInfo {
    PropertyInfo info;
    const PropertyInfo *base;
} VirtIOBalloonAutoPropertyInfo;

extern const VirtIOBalloonAutoPropertyInfo virtio_balloon_auto_prop_bit;
extern const VirtIOBalloonAutoPropertyInfo virtio_balloon_auto_prop_bool;
extern const VirtIOBalloonAutoPropertyInfo virtio_balloon_auto_prop_string;
extern const VirtIOBalloonAutoPropertyInfo virtio_balloon_auto_prop_size;
extern const VirtIOBalloonAutoPropertyInfo virtio_balloon_auto_prop_uint32;
extern const VirtIOBalloonAutoPropertyInfo virtio_balloon_auto_prop_uint64;

/* A feature bit of VirtIOBalloon.host_features, off by default */
#define DEFINE_PROP_AUTO_FEATURE(_name, _bit) \
    DEFINE_PROP(_name, VirtIOBalloon, host_features, \
                virtio_balloon_auto_prop_bit.info, uint32_t, \
                .bitnr = (_bit), .set_default = true, .defval.u = false)
#define DEFINE_PROP_AUTO_BOOL(_name, _field, _defval) \
    DEFINE_PROP(_name, VirtIOBalloon, _field, \
                virtio_balloon_auto_prop_bool.info, bool, \
                .set_default = true, .defval.u = (bool)_defval)
#define DEFINE_PROP_AUTO_STRING(_name, _field) \
    DEFINE_PROP(_name, VirtIOBalloon, _field, \
                virtio_balloon_auto_prop_string.info, char *)
#define DEFINE_PROP_AUTO_SIZE(_name, _field, _defval) \
    DEFINE_PROP_UNSIGNED(_name, VirtIOBalloon, _field, _defval, \
                         virtio_balloon_auto_prop_size.info, uint64_t)
#define DEFINE_PROP_AUTO_UINT32(_name, _field, _defval) \
    DEFINE_PROP_UNSIGNED(_name, VirtIOBalloon, _field, _defval, \
                         virtio_balloon_auto_prop_uint32.info, uint32_t)
#define DEFINE_PROP_AUTO_UINT64(_name, _field, _defval) \
    DEFINE_PROP_UNSIGNED(_name, VirtIOBalloon, _field, _defval, \
                         virtio_balloon_auto_prop_uint64.info, uint64_t)
/*
 * The size properties whose default scales with the guest (see
 * virtio-balloon-auto-policy.h): no static default, realize computes one
 * unless the user set the property, and refuses a value the user gave
 * that does not fit.
 */
#define DEFINE_PROP_AUTO_SCALED_SIZE(_name, _field) \
    DEFINE_PROP(_name, VirtIOBalloon, _field, \
                virtio_balloon_auto_prop_size.info, uint64_t)

/* User-visible properties, embedded in VirtIOBalloon */
typedef struct VirtIOBalloonAutoProps {
    bool enabled;
    char *source;
    char *memory_source;
    bool message_queue;
    uint64_t inflate_low;
    uint64_t inflate_medium;
    uint64_t inflate_critical;
    uint64_t deflate;
    uint32_t throttle_ms;
    uint32_t hysteresis_ms;
    uint32_t stall_ms;
    uint64_t floor;
    uint64_t reserve;
    uint32_t reserve_pct;
    uint32_t relief_ms;
    uint64_t relief_step;
    /* in percent of the host's limit, see virtio-balloon-auto-policy.h */
    uint32_t high_watermark_pct;
    uint32_t low_watermark_pct;
    /* weight against other guests, see virtio-balloon-auto-policy.h */
    uint32_t shares;
    /* PSI thresholds, see include/qemu/host-pressure.h */
    uint32_t psi_window_ms;
    uint32_t psi_low_ms;
    uint32_t psi_medium_ms;
    uint32_t psi_critical_ms;
    /* Guest pressure from the stats virtqueue, see ...-auto-stats.h */
    uint32_t stats_interval_s;
    uint64_t stats_avail_min;
    uint32_t stats_avail_min_pct;
    uint64_t stats_oom_kill;
    uint64_t stats_alloc_stall;
    uint64_t stats_direct_reclaim;
    uint64_t stats_swap_in;
    uint64_t stats_major_faults;
    /*
     * Not a property: one bit for each property the user set among those
     * defined with DEFINE_PROP_AUTO_* (every auto-* property,
     * deflate-on-oom, free-page-reporting)
     */
    uint64_t user_set;
} VirtIOBalloonAutoProps;

/* Stats polling interval with automatic=on, unless set otherwise */
#define VIRTIO_BALLOON_AUTO_DEFAULT_STATS_INTERVAL_S 5
/*
 * ... and while the balloon holds memory: a guest whose workload grows by
 * tens of MiB per second must get memory back within a second or two.
 * One stats request per second costs the guest one walk of its vm
 * counters, well under a millisecond.
 */
#define VIRTIO_BALLOON_AUTO_FAST_STATS_S 1

/*
 * Residency measurements a second made for statistics samples (guest
 * input): a sample is answered by one mincore() pass over all of guest
 * RAM (on the main thread up to 16 GiB of anonymous RAM), 0.3 to 0.4 ms
 * per GiB (measured on a 1 GiB guest with 0 and 512 MiB resident; 300
 * samples a guest of 16 GiB sent back to back took 1.96 s, 6.5 ms each,
 * before this bound).  A Linux
 * guest sends a sample only when asked, at most about twice a second
 * (VIRTIO_BALLOON_AUTO_FAST_STATS_S polling plus a request on host
 * pressure); samples beyond 8 at once, then one every 125 ms (QEMU's
 * leaky bucket), get the last measurement.  Counted on the guest's clock
 * (QEMU_CLOCK_VIRTUAL, which stands still while the guest does not run)
 * by balloon_auto_budget_take().
 */
#define VIRTIO_BALLOON_AUTO_SAMPLE_MEASURE_RATE 8

/*
 * ... and at most this much guest RAM measured a second for them, so that
 * the cost does not grow with the guest: after a sample's measurement the
 * next waits (guest RAM / 64 GiB) s of the guest's clock, which binds
 * above 8 GiB (16 GiB: every 250 ms; 256 GiB: every 4 s).  At 0.4 ms per
 * GiB that is at most about 26 ms of a thread a second (2.6 %) whatever
 * the guest size: the main thread's up to 2 GiB of anonymous RAM (at
 * most about 8 ms a second there), a worker thread's above
 * (VIRTIO_BALLOON_AUTO_RESIDENT_INLINE_MAX).
 * Measurements for host events and the watermark come at most once per
 * throttle interval (auto-throttle-ms) and are not counted here; those
 * in a worker thread are bounded below.
 */
#define VIRTIO_BALLOON_AUTO_SAMPLE_MEASURE_BYTES_PER_S (64 * GiB)

/*
 * Every measurement in a worker thread (a guest above
 * VIRTIO_BALLOON_AUTO_RESIDENT_INLINE_MAX or with file-backed RAM),
 * whatever it is for (host events, the timer's work, samples), is
 * followed by a pause of the guest's clock during which the next one does
 * not start and its result stands: (guest RAM / 64 GiB) s, and at least
 * VIRTIO_BALLOON_AUTO_ASIDE_MEASURE_PAUSE_FACTOR times what the
 * measurement took.  At 0.4 ms per GiB of anonymous RAM the first is at
 * most about 26 ms of a thread a second (2.6 %) whatever the guest size;
 * the second bounds what the first does not foresee, file-backed RAM
 * (8 to 10 ms per GiB, bench/results/README.md) or a slow host.  The
 * pause binds whenever measurements would come more often: with the
 * default throttle interval (1 s) above 64 GiB of anonymous RAM (256 GiB
 * is measured at most every 4 s, 2 TiB every 32 s) or about 6 GiB of
 * file-backed RAM, and for any such guest when two events, samples or
 * timer expiries come closer together.  Without it a 2 TiB guest of
 * private memfd RAM under sustained host pressure kept a worker thread
 * busy 17 s of every 20 (measured).  What the guest wrote since the last
 * measurement is not seen until the next; the first after guest RAM
 * changed (a DIMM plugged or unplugged), after a reset and after an
 * incoming migration or loadvm does not wait (one running through them is
 * made again).  What a measurement took is its own time in its thread,
 * not its wait for the thread pool or the main loop.  The pause is on the
 * guest's clock, as the samples' budget: it does not run out while the
 * guest is stopped (the last measurement stands until it runs again), and
 * with -icount,sleep=off it is not real time, so the 5 % is not either.
 * Inline measurements, at most about 1 ms, are not bounded beyond the
 * throttle interval and the samples' budget.
 */
#define VIRTIO_BALLOON_AUTO_ASIDE_MEASURE_BYTES_PER_S (64 * GiB)
/* ... so that such measurements take at most 1/20 (5 %) of a thread */
#define VIRTIO_BALLOON_AUTO_ASIDE_MEASURE_PAUSE_FACTOR 19

/*
 * Guest RAM up to this size, all of it anonymous, is measured on the main
 * thread, with the BQL held: at most about 1 ms at 0.5 ms per GiB of
 * written anonymous RAM (make bench's bench/resident,
 * bench/results/README.md), as long as an event's QMP round trip; the
 * decision then follows the event at once, as for any guest before.
 * Above it, or with file-backed RAM (virtio_balloon_auto_ram_resident_
 * inline()), a measurement runs in a worker thread
 * (virtio_balloon_auto_ram_resident_start()) and what it is made for
 * waits for it: host events, the timer's
 * coalesced event or watermark inflate, a statistics sample (including
 * the guest's deflate it may bring).  The main thread is then held only
 * to list the RAM blocks; the time from event to target grows by the
 * measurement (about 70 ms for 256 GiB, 1 GiB of it written) and the
 * hand-over to the worker and back.  (Up to 16 GiB were measured on the
 * main thread before: 4 to 8 ms with the BQL held, up to five times a
 * second with the statistics samples a 16 GiB guest may send.)
 */
#define VIRTIO_BALLOON_AUTO_RESIDENT_INLINE_MAX (2 * GiB)

/*
 * The usage threshold at the high watermark (cgroup v1) includes the
 * memcg's inactive page cache at the last reading; it is registered again
 * when that moves by this many bytes or more, and after each crossing.
 * A registration is an eventfd and two file opens; readings come every
 * second while the balloon holds memory, and the cache moves by some
 * pages between most of them.  With 1 MiB (a 128th of the over-commit
 * benchmark's 128 MiB between the watermark and the limit) the threshold
 * fires within that much of where "used" reaches the watermark (before
 * it when the cache grew since the last reading, after it when the cache
 * shrank), and the reading it causes re-arms it exactly.
 */
#define VIRTIO_BALLOON_AUTO_THRESHOLD_SLACK (1 * MiB)

/* Run-time state, allocated at realize when automatic=on */
typedef struct VirtIOBalloonAuto VirtIOBalloonAuto;
typedef struct VirtIOBalloon VirtIOBalloon;

/*
 * Hooks called by virtio-balloon.c.  All are no-ops when automatic mode
 * is off, so that the device stays exactly what it was.
 */
/*
 * Set up automatic mode for a guest of @ram_size bytes of boot RAM when
 * the device was created with automatic=on.  Returns true when it is set
 * up, or when automatic=on was not given and no automatic-mode property
 * was set either; false with @errp set and nothing acquired otherwise
 * (a bad property, a property without automatic=on, RAM that cannot be
 * discarded, a source that cannot be opened).
 */
bool virtio_balloon_auto_realize(VirtIOBalloon *s, uint64_t ram_size,
                                 Error **errp);
void virtio_balloon_auto_add_queues(VirtIOBalloon *s);
void virtio_balloon_auto_unrealize(VirtIOBalloon *s);
void virtio_balloon_auto_reset(VirtIOBalloon *s);
void virtio_balloon_auto_get_features(VirtIOBalloon *s, uint64_t *features);
void virtio_balloon_auto_actual_changed(VirtIOBalloon *s);
/*
 * The guest gave @pages valid pages on the inflate queue (@inflate) or
 * took them back on the deflate queue; called for each element before it
 * is returned to the guest.
 */
void virtio_balloon_auto_pages(VirtIOBalloon *s, bool inflate,
                               uint64_t pages);
/*
 * Incoming migration loaded the device's state (num_pages, actual...).
 * Returns 0, or -EINVAL after error_report() when the stream's state is
 * refused (the migration then fails).
 */
int virtio_balloon_auto_post_load(VirtIOBalloon *s);
/* The guest returned a stats buffer; s->stats holds its values */
void virtio_balloon_auto_stats_received(VirtIOBalloon *s);
void virtio_balloon_auto_instance_init(Object *obj);
void virtio_balloon_auto_class_init(ObjectClass *klass);

/*
 * Management (virtio-balloon-auto-qmp.c).  The device must have been
 * created with automatic=on (s->auto_state set).
 */
bool virtio_balloon_auto_enabled(VirtIOBalloon *s);
void virtio_balloon_auto_query(VirtIOBalloon *s, AutoBalloonInfo *info);
/*
 * Take the tunables of @props (not its 'enabled' and 'source'), attach
 * @source unless it is NULL (an auto-source value, "none" included) and
 * switch automatic ballooning to @enable.  On invalid tunables or a
 * source that cannot be opened set @errp and change nothing.
 */
bool virtio_balloon_auto_configure(VirtIOBalloon *s,
                                   const VirtIOBalloonAutoProps *props,
                                   bool enable, const char *source,
                                   Error **errp);

extern const VMStateDescription vmstate_virtio_balloon_auto;

#endif
