/*
 * virtio-balloon automatic mode: guest pressure inferred from the stats
 *
 * Unmodified guests (the stock Linux driver, no message virtqueue) report
 * memory statistics over the stats virtqueue.  This module decides from
 * successive samples whether such a guest is short of memory.  Pure logic:
 * no device state, no timers, no globals; the clock is passed in.
 *
 * A sample is the device's stats array: VIRTIO_BALLOON_S_NR values indexed
 * by tag, (uint64_t)-1 for a tag the guest did not report.  Sizes are in
 * bytes, as the guest reports them (swap-in and direct reclaim included);
 * major faults, OOM kills and allocation stalls are counts.  Counters are
 * cumulative since the guest booted.  Times are nanoseconds of one
 * monotonic clock (QEMU_CLOCK_VIRTUAL in the device).
 *
 * The rule
 * ========
 *
 * 1. Available memory.  avail = AVAIL; if the guest does not report AVAIL
 *    (kernels before 4.16), MEMFREE + CACHES, capped at MEMTOT when MEMTOT
 *    is reported, else at the guest's RAM when that is known; if neither
 *    form is reported it is not known (MEMFREE alone would count the page
 *    cache as used and cry wolf).  The guest is "low" when
 *        avail < max(avail_min, MEMTOT * avail_min_pct / 100)
 *    (the percentage term counts only when MEMTOT is reported).  Low is
 *    not pressure: a guest whose workload fills its memory, with no
 *    stalls, no direct reclaim, no swap-in or fault storm and no OOM kill,
 *    is full but healthy.  Low and avail are kept in the state
 *    (balloon_auto_stats_low(), balloon_auto_stats_available()) for the
 *    policy, which gives memory back to a low guest only while its
 *    balloon holds some (balloon_auto_guest_sample()), sized by its
 *    shortfall.  This check needs no history, so it also applies to the
 *    first sample and to the sample that shows a counter reset.
 *
 * 2. Counters.  For each watched counter the guest reports in this sample
 *    and in the previous one, with a minimum delta that is not 0, the
 *    increase since the previous sample is compared with that minimum:
 *    - OOM_KILL, ALLOC_STALL, DIRECT_RECLAIM are events a healthy guest
 *      does not produce at a sustained rate: their minimum is per sample,
 *      whatever the time between the two samples;
 *    - SWAP_IN and MAJFLT move on a healthy guest (file reads, a little
 *      swap of cold pages): their minimum is per second, the increase must
 *      reach min_delta * elapsed / 1 s, with the elapsed time counted as at
 *      least 1 s (so that two samples in quick succession cannot turn a
 *      handful of faults into a high rate).
 *    The first counter that reaches its minimum, in the order oom-kill,
 *    alloc-stall, direct-reclaim, swap-in, major-faults, gives the reason.
 *    Counters the guest does not report are never considered.  A counter
 *    that was absent has no baseline: its first value only sets one.
 *
 * 3. Reasons, in order of precedence (the first that applies is returned):
 *    "hostile"       the sample cannot be true (below): no pressure, every
 *                    baseline is dropped, so the next sample is a new
 *                    baseline for the counters;
 *    "no-data"       nothing usable: available memory not computable and
 *                    no watched counter reported;
 *    "counter-reset" a watched counter went down: the guest rebooted or
 *                    its driver was reloaded; every counter is re-baselined
 *                    on this sample, no counter pressure;
 *    "oom-kill", "alloc-stall", "direct-reclaim", "swap-in",
 *    "major-faults"  rule 2 (pressure);
 *    "low-available" rule 1 (no pressure, the guest is low);
 *    "first-sample"  watched counters reported, none had a baseline yet;
 *    "quiet"         none of the above.
 *    Except for "hostile", every sample becomes the new baseline: each
 *    watched counter it reports, and only those.
 *
 * Hostile samples.  Any value can be garbage; a sample is hostile when
 *    - MEMTOT is reported as 0, or larger than the guest's RAM
 *      (BalloonAutoStatsConfig.ram_size, when known),
 *    - AVAIL, MEMFREE or CACHES is larger than a reported MEMTOT, or,
 *      whether MEMTOT is reported or not, than the guest's RAM: a guest
 *      that leaves MEMTOT out cannot claim 2^62 bytes available,
 *    - a watched counter increased by more than its plausibility limit,
 *      BALLOON_AUTO_STATS_MAX_*_PER_S per second of elapsed time (counted
 *      as at least 1 s): a UINT64_MAX delta, or 2^40 OOM kills, cannot be
 *      true.  Not checked on a sample where a counter went down: deltas
 *      across a reboot mean nothing, the sample is a counter reset.
 *    A hostile sample gives no pressure, even if another part of it would:
 *    one impossible value taints the rest.  All arithmetic saturates or is
 *    128-bit, so no value overflows.  A guest that lies plausibly (claims
 *    an OOM kill) gets memory back, but it could get it as easily by
 *    allocating memory, so the stats give it no new power.
 *
 * Integration.  The device calls balloon_auto_stats_update() with its
 * stats[] array each time the guest returns a stats buffer (the stats
 * timer, guest-stats-polling-interval, decides how often), and passes
 * pressure on to balloon_auto_guest_pressure(..., BALLOON_AUTO_GUEST_STATS)
 * of the policy core.  The rule does not debounce: a guest that stays short
 * of memory reports pressure on every sample and the policy's window and
 * deflate step decide what that does.  balloon_auto_stats_reset() on device
 * reset.  The counters in the state (samples, pressure, hostile, resets)
 * are meant for the QMP query.
 *
 * Defaults (BALLOON_AUTO_STATS_DEFAULT_*), with the device polling stats
 * every few seconds in mind:
 *  - avail_min 64 MiB (the "low" threshold): Linux's MemAvailable already
 *    leaves out the watermarks and the half of the page cache it cannot
 *    easily reclaim, so below 64 MiB (two 32 MiB deflate steps of the policy)
 *    a guest allocating tens of MB per second swaps or OOMs within one or two
 *    poll intervals, faster than a deflate under TCG completes.
 *  - avail_min_pct 2: the absolute floor alone is too small for big guests,
 *    whose workloads allocate proportionally faster (and whose kernel
 *    watermarks grow with memory too): 2 % is 1.3 GiB of a 64 GiB guest
 *    and is below 64 MiB for guests under 3.2 GiB, so small guests keep
 *    the absolute floor.  It is relative to the MEMTOT the guest reports,
 *    which (without deflate-on-OOM) shrinks as the balloon grows: the
 *    headroom follows the guest's current size.  A larger percentage would
 *    keep idle memory away from the balloon on large guests.
 *  - OOM_KILL 1 per sample: a single OOM kill is the guest failing to find
 *    memory at all.
 *  - ALLOC_STALL 32 per sample: an allocation entered direct reclaim.  A
 *    guest streaming file I/O with its memory full of page cache stalls a
 *    few times when it briefly outruns kswapd; dozens per poll interval
 *    means reclaim is not keeping up.
 *  - DIRECT_RECLAIM 32 MiB per sample: the guest had to reclaim, in its
 *    allocation paths, as much as one deflate step would give it; small
 *    amounts of direct reclaim happen on healthy guests full of page cache.
 *  - SWAP_IN 1 MiB per second (256 pages/s): a guest that swapped out cold
 *    pages once reads back a few pages now and then, tens of KiB/s at most;
 *    a guest whose working set does not fit reads back MiB every second.
 *  - MAJFLT 1000 per second: starting a program with a cold page cache
 *    faults a few hundred to a few thousand pages, in bursts of a second
 *    or two; averaged over a poll interval of several seconds that stays
 *    below 1000/s, while a guest thrashing on its page cache and swap
 *    faults thousands of pages every second.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_BALLOON_AUTO_STATS_H
#define HW_VIRTIO_BALLOON_AUTO_STATS_H

#include "qemu/units.h"
#include "standard-headers/linux/virtio_balloon.h"

/* The counters the rule watches, in their order of precedence */
typedef enum BalloonAutoStatsCounter {
    BALLOON_AUTO_STATS_OOM_KILL,        /* tag OOM_KILL, per sample */
    BALLOON_AUTO_STATS_ALLOC_STALL,     /* tag ALLOC_STALL, per sample */
    BALLOON_AUTO_STATS_DIRECT_RECLAIM,  /* tag DIRECT_RECLAIM, per sample */
    BALLOON_AUTO_STATS_SWAP_IN,         /* tag SWAP_IN, per second */
    BALLOON_AUTO_STATS_MAJFLT,          /* tag MAJFLT, per second */
    BALLOON_AUTO_STATS_COUNTER__MAX,
} BalloonAutoStatsCounter;

#define BALLOON_AUTO_STATS_DEFAULT_AVAIL_MIN        (64 * MiB)
#define BALLOON_AUTO_STATS_DEFAULT_AVAIL_MIN_PCT    2
#define BALLOON_AUTO_STATS_DEFAULT_OOM_KILL         1
#define BALLOON_AUTO_STATS_DEFAULT_ALLOC_STALL      32
#define BALLOON_AUTO_STATS_DEFAULT_DIRECT_RECLAIM   (32 * MiB)
#define BALLOON_AUTO_STATS_DEFAULT_SWAP_IN          (1 * MiB)
#define BALLOON_AUTO_STATS_DEFAULT_MAJFLT           1000

/*
 * Plausibility limits, per second of elapsed time (at least 1 s): an
 * increase beyond them is hostile.  Far above anything real: an OOM kill
 * takes a reclaim pass and a kill, an allocation stall a reclaim attempt,
 * a major fault an I/O; 1 TiB/s is more than any guest swaps or reclaims.
 * A minimum delta above its limit is refused by the config check, since
 * it could never fire.
 */
#define BALLOON_AUTO_STATS_MAX_OOM_KILL_PER_S       (1000)
#define BALLOON_AUTO_STATS_MAX_ALLOC_STALL_PER_S    (10 * 1000 * 1000)
#define BALLOON_AUTO_STATS_MAX_DIRECT_RECLAIM_PER_S (1 * TiB)
#define BALLOON_AUTO_STATS_MAX_SWAP_IN_PER_S        (1 * TiB)
#define BALLOON_AUTO_STATS_MAX_MAJFLT_PER_S         (100 * 1000 * 1000)

/*
 * Largest avail_min accepted: 4 PiB (2^52), the largest physical address
 * space of any QEMU target; a threshold above it would keep every guest
 * under pressure for ever.
 */
#define BALLOON_AUTO_STATS_MAX_AVAIL_MIN            (1ULL << 52)
/* Largest avail_min_pct accepted: more would never let a guest be idle */
#define BALLOON_AUTO_STATS_MAX_AVAIL_MIN_PCT        50

typedef struct BalloonAutoStatsConfig {
    /*
     * The most RAM the guest can have, in bytes: the machine's
     * maxram_size (-m maxmem, boot RAM alone without it), so that memory
     * devices plugged or unplugged at any time (DIMMs, virtio-mem, whose
     * memory the machine's ram_size does not count) never make an honest
     * sample hostile.  No size the guest reports can exceed it.  Not a
     * tunable; 0: not known, sizes are then checked against MEMTOT only.
     */
    uint64_t ram_size;
    uint64_t avail_min;         /* bytes; 0: no absolute threshold */
    uint32_t avail_min_pct;     /* percent of MEMTOT; 0: none */
    /*
     * Minimum increase of each counter, in its unit (bytes or count), per
     * sample or per second as documented above; 0: counter ignored.
     */
    uint64_t min_delta[BALLOON_AUTO_STATS_COUNTER__MAX];
} BalloonAutoStatsConfig;

/* Public so that the device can embed it; use the functions below. */
typedef struct BalloonAutoStatsState {
    uint32_t reported;          /* bit n: tag n present in the last sample */
    uint32_t baseline;          /* bit c: last[c] holds a baseline */
    uint64_t last[BALLOON_AUTO_STATS_COUNTER__MAX];
    int64_t last_ns;            /* time of the baseline sample */
    /* Samples seen, samples with pressure, hostile samples, resets */
    uint64_t samples;
    uint64_t pressure;
    uint64_t hostile;
    uint64_t resets;
    /* Rule 1 on the last sample: avail in bytes (-1: not known), low */
    uint64_t avail;
    bool low;
    /* The last sample's MEMFREE in bytes (-1: not known) */
    uint64_t memfree;
} BalloonAutoStatsState;

/* Fill @cfg with the defaults above */
void balloon_auto_stats_config_default(BalloonAutoStatsConfig *cfg);

/*
 * On nonsense return false and set @errp to a message that names the
 * tunable and the bad value: avail_min above 4 PiB, avail_min_pct above
 * 50, a minimum delta above its plausibility limit.  Everything 0 is
 * accepted: the stats then never report pressure.
 */
bool balloon_auto_stats_config_check(const BalloonAutoStatsConfig *cfg,
                                     Error **errp);

/* What the user calls each field of BalloonAutoStatsConfig */
typedef struct BalloonAutoStatsNames {
    const char *avail_min;
    const char *avail_min_pct;
    const char *min_delta[BALLOON_AUTO_STATS_COUNTER__MAX];
} BalloonAutoStatsNames;

/*
 * The same check, with messages that name each field by @names (the
 * property the user wrote); NULL names the concepts instead.
 */
bool balloon_auto_stats_config_check_named(const BalloonAutoStatsConfig *cfg,
                                           const BalloonAutoStatsNames *names,
                                           Error **errp);

/* No baseline, nothing reported, counters 0 */
void balloon_auto_stats_reset(BalloonAutoStatsState *s);

/*
 * Feed one sample received at @now_ns.  Return true when the guest is
 * under pressure (rule 2: a counter reached its minimum); @why (if not
 * NULL) is set to a static string, never NULL: the reason for pressure
 * or why there is none (see the rule).
 * @cfg must have passed balloon_auto_stats_config_check().
 */
bool balloon_auto_stats_update(BalloonAutoStatsState *s,
                               const BalloonAutoStatsConfig *cfg,
                               const uint64_t stats[VIRTIO_BALLOON_S_NR],
                               int64_t now_ns, const char **why);

/*
 * Available memory of the last sample in bytes, UINT64_MAX when not known
 * (never a sample, a hostile sample, or one without the needed tags)
 */
uint64_t balloon_auto_stats_available(const BalloonAutoStatsState *s);
/*
 * Free memory (MEMFREE) of the last sample in bytes, UINT64_MAX when not
 * known (never a sample, a hostile sample, or MEMFREE not reported)
 */
uint64_t balloon_auto_stats_memfree(const BalloonAutoStatsState *s);
/* The last sample's available memory is below the threshold (rule 1) */
bool balloon_auto_stats_low(const BalloonAutoStatsState *s);

/* Bit n set: the last sample reported tag n */
uint32_t balloon_auto_stats_reported(const BalloonAutoStatsState *s);

/* The tag a watched counter is read from, -1 when out of range */
int balloon_auto_stats_counter_tag(BalloonAutoStatsCounter c);
/* "oom-kill", ..., "major-faults"; "invalid" when out of range */
const char *balloon_auto_stats_counter_str(BalloonAutoStatsCounter c);

#endif
