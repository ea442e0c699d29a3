/*
 * virtio-balloon automatic mode: policy core
 *
 * Pure logic: no device state, no timers, the clock is passed in.  Inputs
 * are host pressure events, guest pressure, guest progress (the balloon
 * size the guest reports) and time; the output is the balloon target.
 *
 * Units: sizes are balloon pages (4 KiB), times are nanoseconds of one
 * monotonic, non-negative clock (QEMU_CLOCK_VIRTUAL in the device, so that
 * it stops with the VM and migrates with it).  "target" is the balloon
 * size the host asks for (num_pages), "actual" the size the guest reports;
 * the guest's size is ram_pages - balloon size.
 *
 * Every host event ends up in exactly one of three places: it inflates at
 * once (counters.inflates), it is coalesced by the throttle
 * (counters.throttled) or it is dropped (counters.ignored).  An inflate
 * the throttle deferred is counted in inflates when it happens and in
 * nothing when it is dropped, so host_events = inflated at once +
 * throttled + ignored holds at all times.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_BALLOON_AUTO_POLICY_H
#define HW_VIRTIO_BALLOON_AUTO_POLICY_H

#include "qemu/leaky-bucket.h"
#include "qemu/units.h"
#include "hw/virtio/virtio-balloon-auto-size.h"
#include "standard-headers/linux/virtio_balloon.h"

/* Sizes are counted in the unit of the balloon's num_pages and actual */
#define BALLOON_AUTO_PAGE_SHIFT VIRTIO_BALLOON_PFN_SHIFT

/*
 * Defaults, in bytes and milliseconds.  The seeds disagree on step sizes:
 * Capitulino's KVM Forum slides use 1/2/4 MB per level with one event per
 * second, the linux-kvm.org wiki proposes 1/16/128 MB, and the RFC uses
 * 32 MB for every step with a 60 s hysteresis.
 *
 * - low 8 MB: low only says the host started reclaiming, often just page
 *   cache (the RFC's FIXME list), so the step stays small; but 1 MB/s as
 *   in the slides needs minutes to return a GiB on hosts of today.
 * - medium 32 MB: the host swaps; 32 MB is the RFC's step, the one that
 *   cut host swap-out from 372551 to 8225 pages in its vm-up/vm-down test.
 * - critical 128 MB: the OOM killer is near; the wiki's critical step.
 * - deflate 32 MB and hysteresis 60 s: the RFC's values.
 * - throttle 1 s: the slides' "event throttling in QEMU (1 per sec)".
 * - floor 256 MB: the 2009 LKML discussion asks for a per-guest minimum
 *   guaranteed memory; 256 MB is the working set of a small Linux server,
 *   so host pressure alone never squeezes a guest below it.
 * - stall 30 s: the stock driver inflates hundreds of MB in a couple of
 *   seconds even under TCG; a guest with no progress for 30 s is not just
 *   slow, it is not cooperating (LKML: uncooperative or malicious guests).
 *
 * Guest size: a default must fit every guest it applies to, from QEMU's
 * default of 128 MiB to hundreds of GiB.  The sizes above are what a guest
 * of BALLOON_AUTO_DEFAULT_FULL_RAM (512 MiB) or more gets; a smaller guest
 * gets them scaled by ram / 512 MiB, rounded down to whole pages and at
 * least one page (balloon_auto_scale_default()).  So every guest keeps the
 * proportions of a 512 MiB one: the floor is half of its RAM, a critical
 * step a quarter, a medium or deflate step 1/16, a low step 1/64, the
 * reserve (below) a quarter and the relief step 1/32; a 128 MiB guest
 * gets 2/8/32 MiB steps, 8 MiB deflate, a 64 MiB floor, a 32 MiB reserve
 * and 4 MiB relief steps.
 * 512 MiB is where the unscaled floor (256 MiB) is half of the guest.
 * Larger guests keep the constants: a step answers one host event, whose
 * size is a property of the host's shortage, not of this guest, and the
 * floor is a minimum, not a share.  Only defaults scale: a size the user
 * gave is used as given, and refused if it does not fit.
 */
#define BALLOON_AUTO_DEFAULT_INFLATE_LOW      (8 * MiB)
#define BALLOON_AUTO_DEFAULT_INFLATE_MEDIUM   (32 * MiB)
#define BALLOON_AUTO_DEFAULT_INFLATE_CRITICAL (128 * MiB)
#define BALLOON_AUTO_DEFAULT_DEFLATE          (32 * MiB)
#define BALLOON_AUTO_DEFAULT_THROTTLE_MS      1000
#define BALLOON_AUTO_DEFAULT_HYSTERESIS_MS    60000
#define BALLOON_AUTO_DEFAULT_FLOOR            (256 * MiB)
#define BALLOON_AUTO_DEFAULT_STALL_MS         30000
#define BALLOON_AUTO_DEFAULT_FULL_RAM         (512 * MiB)

/*
 * How long the residency recorded with a statistics sample bounds an
 * inflate (balloon_auto_gain(), the free-first bound): three of the
 * default statistics intervals (auto-stats-interval, 5 s).  The sample's
 * used and free memory tell what the guest's resident memory was for only
 * as long as the guest does not change much; a sample from long ago (the
 * one a Linux guest sends when its driver starts, with polling off) would
 * keep describing a guest that has since touched, freed and re-used its
 * memory, and would bound every inflate by what was resident at boot.
 * Older than this, only the residency measured at the event counts.
 * Not scaled with a guest-stats-polling-interval the user set: on host
 * pressure the device asks for a sample at once when the last one is
 * older than VIRTIO_BALLOON_AUTO_FAST_STATS_S (1 s), so with polling on
 * inflates are sized from a fresh sample whatever the interval; how long
 * a sample stays true depends on how fast the guest changes, not on how
 * often it is asked.
 */
#define BALLOON_AUTO_SAMPLE_RESIDENCY_NS (15LL * 1000 * 1000 * 1000)

/* The balloon page, in bytes: every size must be a multiple of it */
#define BALLOON_AUTO_PAGE_SIZE (1ULL << BALLOON_AUTO_PAGE_SHIFT)

/*
 * What a guest keeps for itself (guest-aware sizing, see "Guest memory"
 * below): max(reserve, reserve_pct % of its RAM) of available memory.
 *
 * - reserve 128 MiB: twice the 64 MiB below which the statistics call a
 *   guest short of memory (BALLOON_AUTO_STATS_DEFAULT_AVAIL_MIN), so that
 *   a guest inflated down to its reserve has a band of 64 MiB, two
 *   deflate steps, to grow into before it counts as short, and a deflate
 *   sized by the shortfall brings it back to the top of that band.
 * - reserve_pct 5: 2.5 times the statistics' 2 %, for the same band on
 *   large guests, whose workloads allocate proportionally faster; 5 % of
 *   a 64 GiB guest is 3.2 GiB.  MOM (IBM's Memory Overcommitment Manager,
 *   KVM Forum 2011 slides) keeps 20 % of a guest free, which leaves much
 *   idle memory in guests that do not need it.
 *
 * Host relief: once no host pressure event came for relief_ms, the
 * balloon gives back relief_step every second until it is empty.
 *
 * - relief 30 s: vmpressure and PSI report continuously (about once per
 *   second or per window, 2 s) while the host reclaims; 30 s of silence
 *   is many missed reports, so the host has recovered, and it is half the
 *   guest-pressure hysteresis, so memory flows back before a quiet guest
 *   would have been inflated again.
 * - relief step 16 MiB per second: half the RFC's 32 MiB deflate step
 *   each second; 1 GiB comes back in about a minute, slowly enough that
 *   pressure coming back stops relief after a few steps.
 */
#define BALLOON_AUTO_DEFAULT_RESERVE          (128 * MiB)
#define BALLOON_AUTO_DEFAULT_RESERVE_PCT      5
#define BALLOON_AUTO_DEFAULT_RELIEF_MS        30000
#define BALLOON_AUTO_DEFAULT_RELIEF_STEP      (16 * MiB)
/* Time between two relief steps */
#define BALLOON_AUTO_RELIEF_PERIOD_MS         1000

/*
 * Host memory watermarks, in percent of the source's limit (see
 * balloon_auto_host_memory() below and HostMemoryState in
 * include/qemu/host-pressure.h).
 *
 * - high 90 %: the kernel reclaims in a memory cgroup only once it is at
 *   its limit, and vmpressure and PSI report only while it reclaims, so
 *   a balloon driven by their reports alone starts when the cgroup
 *   already swaps.  Above the high watermark memory is taken before
 *   that: the 10 % between the watermark and the limit must hold what
 *   the guests grow by until the balloon has taken it back, about two
 *   seconds (one check per throttle interval, then the guest's own
 *   inflate, hundreds of MiB per second with the stock driver under
 *   TCG); 10 % of a 16 GiB host is 1.6 GiB, of the over-commit
 *   benchmark's 1.5 GiB cgroup 154 MiB, one of its workload phases.
 *   VMware ESXi balloons likewise before it is out of memory: from its
 *   "soft" state on, when free host memory falls below 64 % of minFree
 *   (899 MB for the first 28 GB of host RAM plus 1 % of the rest; vSphere
 *   5.5 and later, "vSphere Resource Management" guide), about 575 MB on
 *   a small host.  A fixed margin of that size would be a third of the
 *   benchmark's cgroup, hence a percentage; and the guests of one host
 *   decide without a coordinator (below), so the margin also absorbs
 *   their overshoot.
 * - low 80 %: relief gives memory back only below it.  Ten points below
 *   the high watermark, so that what relief returns and the guest then
 *   uses does not carry the host above the high watermark again at once:
 *   at 16 MiB per second that is several seconds of relief even for a
 *   1.5 GiB cgroup, and the two rules cannot take turns each second.
 *
 * While the host is above the high watermark, the rule looks again every
 * BALLOON_AUTO_WATERMARK_PERIOD_MS (never faster than the throttle), and
 * for BALLOON_AUTO_WATERMARK_WATCH_MS after each host event, since the
 * kernel's reports stop while a cgroup stays at its limit: 30 s is the
 * relief interval's default, the time after which quiet counts as
 * recovery.
 */
#define BALLOON_AUTO_DEFAULT_HIGH_WATERMARK_PCT 90
#define BALLOON_AUTO_DEFAULT_LOW_WATERMARK_PCT  80
#define BALLOON_AUTO_WATERMARK_PERIOD_MS        1000
#define BALLOON_AUTO_WATERMARK_WATCH_MS         30000
/* Largest reserve_pct accepted: more would never let a guest give */
#define BALLOON_AUTO_MAX_RESERVE_PCT          90

/*
 * Shares: this guest's weight against the other guests on one host, for
 * a fair share without a coordinator.  The name, the default and the
 * range are Proxmox VE's (the "shares" option of a VM, qm(1) in the
 * Proxmox VE Administration Guide: 0 to 50000, default 1000, 0 disables
 * auto-ballooning for the VM); VMware ESXi likewise gives each VM memory
 * shares (low/normal/high: 5/10/20 per MB of its memory, "vSphere
 * Resource Management" guide) and reclaims more from VMs with fewer
 * shares.
 *
 * The rule: what this guest gives on host pressure (host events and the
 * host-watermark rule) is what a guest with the default shares would
 * give, scaled by BALLOON_AUTO_DEFAULT_SHARES / shares
 * (balloon_auto_shares_scale(): amount * 1000 / shares, rounded down to
 * whole pages but at least one page when the amount is not 0), then
 * bounded again by the per-level step upper bound (the level's step; the
 * critical step where the high watermark asks more, as without shares),
 * by what the guest can spare above its reserve, by what the host would
 * gain and by the floor.  So shares 2000 give half of what a default
 * guest gives, shares 500 twice as much up to the same bounds: more than
 * a default guest only where a bound other than the step held the
 * default guest back, i.e. where the high watermark's deficit asked for
 * less than a critical step; a host event without a deficit already
 * takes the level's whole step from a default guest.  Before the first
 * statistics the amount is the step itself, scaled alike.
 * Shares 0: host pressure never inflates this guest (as in Proxmox);
 * guest need, deflates and relief work as ever.
 *
 * There is no coordinator: each QEMU knows only its own guest's shares,
 * not those of the other guests on the source, so shares are relative
 * only through the common default: a guest with 2000 gives half of what
 * a guest with 1000 gives on the same pressure, whatever other guests
 * there are.  Proxmox's pvestatd, a coordinator, divides memory in
 * proportion to the shares of all running VMs instead.
 */
#define BALLOON_AUTO_DEFAULT_SHARES           1000
#define BALLOON_AUTO_MAX_SHARES               50000

/* Host pressure level */
typedef enum BalloonAutoLevel {
    BALLOON_AUTO_LEVEL_LOW,
    BALLOON_AUTO_LEVEL_MEDIUM,
    BALLOON_AUTO_LEVEL_CRITICAL,
    BALLOON_AUTO_LEVEL__MAX,
} BalloonAutoLevel;

/* The tunables of BalloonAutoConfig, for error messages */
typedef enum BalloonAutoTunable {
    BALLOON_AUTO_TUNABLE_INFLATE_LOW,       /* BALLOON_AUTO_LEVEL_LOW's */
    BALLOON_AUTO_TUNABLE_INFLATE_MEDIUM,
    BALLOON_AUTO_TUNABLE_INFLATE_CRITICAL,
    BALLOON_AUTO_TUNABLE_DEFLATE,
    BALLOON_AUTO_TUNABLE_THROTTLE,
    BALLOON_AUTO_TUNABLE_HYSTERESIS,
    BALLOON_AUTO_TUNABLE_STALL,
    BALLOON_AUTO_TUNABLE_FLOOR,
    BALLOON_AUTO_TUNABLE_HIGH_WATERMARK,
    BALLOON_AUTO_TUNABLE_LOW_WATERMARK,
    BALLOON_AUTO_TUNABLE_RESERVE,
    BALLOON_AUTO_TUNABLE_RESERVE_PCT,
    BALLOON_AUTO_TUNABLE_RELIEF,
    BALLOON_AUTO_TUNABLE_RELIEF_STEP,
    BALLOON_AUTO_TUNABLE_SHARES,
    BALLOON_AUTO_TUNABLE__MAX,
} BalloonAutoTunable;

/* Where guest pressure came from */
typedef enum BalloonAutoGuestSource {
    BALLOON_AUTO_GUEST_MESSAGE,     /* message virtqueue */
    BALLOON_AUTO_GUEST_STATS,       /* inferred from the stats virtqueue */
    BALLOON_AUTO_GUEST_SOURCE__MAX,
} BalloonAutoGuestSource;

typedef enum BalloonAutoActionKind {
    BALLOON_AUTO_NONE,      /* target unchanged */
    BALLOON_AUTO_INFLATE,   /* target raised */
    BALLOON_AUTO_DEFLATE,   /* target lowered */
    BALLOON_AUTO_CANCEL,    /* inflate in flight cancelled: target = actual */
    BALLOON_AUTO_STALL,     /* guest found not inflating; target unchanged */
} BalloonAutoActionKind;

typedef enum BalloonAutoReason {
    BALLOON_AUTO_REASON_HOST_LOW,
    BALLOON_AUTO_REASON_HOST_MEDIUM,
    BALLOON_AUTO_REASON_HOST_CRITICAL,
    BALLOON_AUTO_REASON_GUEST_MESSAGE,
    BALLOON_AUTO_REASON_GUEST_STATS,
    BALLOON_AUTO_REASON_GUEST_DEFLATE,  /* guest gave memory back unasked */
    BALLOON_AUTO_REASON_GUEST_STALLED,
    BALLOON_AUTO_REASON_HOST_RELIEF,    /* host recovered: memory back */
    BALLOON_AUTO_REASON_HOST_WATERMARK, /* host above the high watermark */
    BALLOON_AUTO_REASON_RAM_UNPLUGGED,  /* RAM shrank below balloon+floor */
    BALLOON_AUTO_REASON__MAX,
} BalloonAutoReason;

typedef struct BalloonAutoAction {
    BalloonAutoActionKind kind;
    BalloonAutoReason reason;   /* meaningful unless kind is NONE */
    uint64_t target;            /* target after the call */
    /*
     * Static text, never NULL.  For NONE, why nothing happened:
     * "throttled", "guest-window", "stalled", "floor", "pile-up", "idle",
     * "empty", "hostile-actual", "progress", "no-progress", "no-spare",
     * "not-resident", "full", "recorded", "in-flight", "below-high",
     * "above-low", "no-shares", "ram-kept".  For the
     * other kinds a short note for traces.
     */
    const char *why;
} BalloonAutoAction;

typedef struct BalloonAutoConfig {
    uint64_t inflate_pages[BALLOON_AUTO_LEVEL__MAX];
    uint64_t deflate_pages;
    int64_t throttle_ns;        /* minimum interval between two inflates */
    int64_t hysteresis_ns;      /* guest-pressure window length */
    /* host pressure never shrinks the guest below this size */
    uint64_t floor_pages;
    /* inflate outstanding with no progress this long: guest stalled */
    int64_t stall_ns;
    /* the guest keeps max(reserve_pages, reserve_pct % of RAM) available */
    uint64_t reserve_pages;
    uint32_t reserve_pct;
    /* no host event for relief_ns: give relief_pages back per period */
    int64_t relief_ns;          /* 0: no relief */
    uint64_t relief_pages;
    /*
     * Watermarks in percent of the host's limit: above high_pct the
     * balloon inflates without waiting for host events (0: never);
     * relief only below low_pct (0: whatever the usage)
     */
    uint32_t high_pct;
    uint32_t low_pct;
    /*
     * Weight against other guests: host pressure takes amount * 1000 /
     * shares (see BALLOON_AUTO_DEFAULT_SHARES); 0: never inflated for
     * host pressure
     */
    uint32_t shares;
} BalloonAutoConfig;

typedef struct BalloonAutoCounters {
    uint64_t host_events[BALLOON_AUTO_LEVEL__MAX];
    uint64_t throttled;         /* host events coalesced by the throttle */
    /* host events dropped: guest window open, floor, pile-up, stalled */
    uint64_t ignored;
    uint64_t guest_pressure[BALLOON_AUTO_GUEST_SOURCE__MAX];
    uint64_t guest_deflates;    /* actual fell below target unasked */
    uint64_t inflates;
    uint64_t deflates;          /* deflates asked for by guest pressure */
    uint64_t cancels;
    uint64_t stalls;
    uint64_t shortfalls;        /* deflates sized by the guest's shortfall */
    uint64_t reliefs;           /* relief steps */
    /* host events ignored: the host would gain nothing (also in ignored) */
    uint64_t not_resident;
    /* inflates because the host was above the high watermark */
    uint64_t watermark_inflates;
    /* relief steps held back: the host was not below the low watermark */
    uint64_t relief_held;
    /* deflates because RAM shrank below the balloon and the floor */
    uint64_t ram_deflates;
} BalloonAutoCounters;

/*
 * Timing state, for migration.  Times are on the policy's clock;
 * window_end is 0 when no guest-pressure window was ever opened (since
 * the last reset) and last_inflate is INT64_MIN when nothing was inflated.
 */
typedef struct BalloonAutoTiming {
    int64_t window_end;
    int64_t last_inflate;
    int64_t last_progress;
    bool stalled;
    /* RAM shrank under the balloon, not yet acted on: see ram_shrunk */
    bool ram_shrunk;
} BalloonAutoTiming;

/* Public so that the device can embed it; use the functions below. */
typedef struct BalloonAutoPolicy {
    BalloonAutoConfig cfg;
    uint64_t ram_pages;
    /*
     * RAM shrank since balloon_auto_ram_floor() last looked; cleared by a
     * reset and by balloon_auto_sync() (a balloon adopted is sized
     * against the RAM it is adopted with); migrated with the timing.
     */
    bool ram_shrunk;
    uint64_t target;
    uint64_t actual;
    bool window_open;           /* a window was opened since the reset */
    int64_t window_start;       /* when it was opened */
    int64_t last_inflate;       /* INT64_MIN: never */
    int64_t last_progress;
    bool stalled;
    bool pending;               /* a coalesced host event waits */
    BalloonAutoLevel pending_level;
    /*
     * Guest memory, from its statistics: known once a sample with
     * available memory arrived since the reset.  guest_free is the
     * available memory of that sample less the inflate then in flight;
     * guest_target the target at that time.
     */
    bool guest_known;
    uint64_t guest_free;
    uint64_t guest_target;
    /* the sample's available memory as reported and actual at the time */
    uint64_t guest_avail;
    uint64_t guest_actual;
    /*
     * Host residency, from balloon_auto_host_resident(): pages of guest
     * RAM resident in host memory, and actual at the measurement
     */
    bool resident_known;
    uint64_t resident_pages;
    uint64_t resident_actual;
    /*
     * the residency recorded when the last sample arrived, at
     * guest_sample_ns; it counts until BALLOON_AUTO_SAMPLE_RESIDENCY_NS
     * later (kept, but no longer used, after that)
     */
    bool guest_resident_known;
    uint64_t guest_resident;
    int64_t guest_sample_ns;
    /* the sample's free memory (MEMFREE), if it reported it */
    bool guest_memfree_known;
    uint64_t guest_memfree;
    /* the guest reports its free pages (VIRTIO_BALLOON_F_REPORTING) */
    bool free_page_reporting;
    int64_t last_host_event;    /* for relief */
    int64_t last_relief;        /* INT64_MIN: none since the last event */
    /*
     * Host memory, from balloon_auto_host_memory(): the limit and what is
     * available below it, in pages; kept across guest resets (it is the
     * host's).  last_mem_check: the last watermark check, INT64_MIN none.
     */
    bool mem_known;
    uint64_t mem_limit;
    uint64_t mem_avail;
    int64_t last_mem_check;
    int64_t last_signal;        /* the last host event, INT64_MIN none */
    /* no host source is attached: nothing tells whether the host is short */
    bool host_deaf;
    BalloonAutoCounters counters;
} BalloonAutoPolicy;

/* Fill @cfg with the defaults above, converted to pages and nanoseconds */
void balloon_auto_config_default(BalloonAutoConfig *cfg);

/*
 * The default size @bytes for a guest of @ram_pages, in bytes: scaled by
 * ram / BALLOON_AUTO_DEFAULT_FULL_RAM below it, whole pages, at least one
 * page; @bytes itself from BALLOON_AUTO_DEFAULT_FULL_RAM up.
 */
uint64_t balloon_auto_scale_default(uint64_t bytes, uint64_t ram_pages);

/* The defaults for a guest of @ram_pages: sizes scaled as above */
void balloon_auto_config_default_for(BalloonAutoConfig *cfg,
                                     uint64_t ram_pages);

/*
 * Check @cfg against a guest of @ram_pages.  On nonsense return false and
 * set @errp to a message that names the tunable and the bad value:
 * an inflate or deflate step of 0 or larger than RAM, a throttle outside
 * [0, 1 hour], a hysteresis outside [0, 1 day], a floor larger than RAM,
 * a stall timeout outside (0, 1 hour], a reserve larger than RAM, a
 * reserve percentage above BALLOON_AUTO_MAX_RESERVE_PCT, a relief
 * interval outside [0, 1 day], a relief step of 0 or larger than RAM, a
 * watermark above 100 %, a low watermark not below a high one that is
 * on, shares above BALLOON_AUTO_MAX_SHARES.  The inflate steps need not
 * grow with the level.  A floor equal to RAM is accepted: host pressure
 * then never inflates, only management does.
 */
bool balloon_auto_config_check(const BalloonAutoConfig *cfg,
                               uint64_t ram_pages, Error **errp);

/*
 * The same check, with messages that name each tunable by @names (indexed
 * by BalloonAutoTunable): the property or argument the user wrote.
 */
bool balloon_auto_config_check_named(const BalloonAutoConfig *cfg,
                                     uint64_t ram_pages,
                                     const char *const *names, Error **errp);

/* Clean state: target 0, actual 0, no window, counters 0 */
void balloon_auto_init(BalloonAutoPolicy *p, const BalloonAutoConfig *cfg,
                       uint64_t ram_pages, int64_t now);

/*
 * New tunables take effect at once.  An open guest-pressure window ends
 * hysteresis_ns after it was opened with the new hysteresis; throttle and
 * stall deadlines are likewise recomputed from the last inflate/progress.
 */
void balloon_auto_set_config(BalloonAutoPolicy *p,
                             const BalloonAutoConfig *cfg);

/*
 * Guest reset or driver reload: clean state (target 0, actual 0, window
 * closed, nothing pending, not stalled); the counters are kept since they
 * describe the VM's life, not the driver's.
 */
void balloon_auto_reset(BalloonAutoPolicy *p, int64_t now);

/*
 * Guest RAM is now @ram_pages (DIMMs plugged or unplugged): every bound
 * that derives from it (floor, reserve, gain, tunable checks) follows.
 * Target, actual and the measured residency are clamped to it; nothing
 * else changes.  A shrink is remembered for balloon_auto_ram_floor().
 */
void balloon_auto_set_ram_pages(BalloonAutoPolicy *p, uint64_t ram_pages);

/*
 * After guest RAM shrank (balloon_auto_set_ram_pages(), then
 * balloon_auto_set_config() with sizes that fit the new RAM): a target
 * above what the floor allows (ram_pages - floor_pages) was set for a
 * larger guest and would now leave the guest below its floor, or ask for
 * more of its RAM than that (all of it with a floor of 0); it deflates
 * to that bound at once (DEFLATE, reason RAM_UNPLUGGED, "ram-unplugged").
 * NONE ("ram-kept") when RAM did not shrink since the last call or the
 * target fits.  Until then balloon_auto_deadline() is due at once, so
 * that the device's timer acts on it whatever else happens.  Not called
 * while automatic mode is off.
 */
BalloonAutoAction balloon_auto_ram_floor(BalloonAutoPolicy *p);

/*
 * Adopt the device's target and actual (automatic mode switched on at run
 * time, or after migration).  Values above ram_pages are clamped.  Stall
 * detection restarts from @now; nothing is pending; counters unchanged.
 */
void balloon_auto_sync(BalloonAutoPolicy *p, uint64_t target,
                       uint64_t actual, int64_t now);

/*
 * Host pressure at @level.  Ignored while the guest-pressure window is
 * open or the guest is stalled; coalesced (highest level kept, served by
 * balloon_auto_timer()) within throttle_ns of the last inflate; else one
 * inflate step, bounded by the floor, by one step outstanding past actual,
 * once the guest's memory is known, by what it can spare
 * (balloon_auto_spare(): NONE with why "no-spare" when that is nothing)
 * and, once residency is known, by what the host would gain
 * (balloon_auto_gain(): NONE with why "not-resident" when nothing); the
 * step so found is scaled by the shares (see BALLOON_AUTO_DEFAULT_SHARES)
 * and bounded again.  With shares 0, NONE with why "no-shares".
 * May report a stall that fell due before the timer ran.  Every host
 * event postpones relief.
 */
BalloonAutoAction balloon_auto_host_event(BalloonAutoPolicy *p,
                                          BalloonAutoLevel level,
                                          int64_t now);

/*
 * The guest is short of memory: open the window, drop what is pending,
 * clear a stall, then cancel an inflate in flight (target = actual) or,
 * with none in flight, deflate by deflate_pages or by the guest's
 * shortfall (balloon_auto_shortfall()), whichever is larger.
 */
BalloonAutoAction balloon_auto_guest_pressure(BalloonAutoPolicy *p,
                                              BalloonAutoGuestSource src,
                                              int64_t now);

/*
 * A PRESSURE message from the guest at @level (the message queue's low,
 * medium, critical: docs/interop/virtio-balloon-message-queue.rst): as
 * balloon_auto_guest_pressure(..., BALLOON_AUTO_GUEST_MESSAGE), but the
 * deflate step doubles per level: deflate_pages at low, twice that at
 * medium, four times at critical (32, 64, 128 MiB with the defaults).
 * The driver sends at most one message per second, so a guest close to
 * the OOM killer gets memory back at 128 MiB/s, the rate at which host
 * pressure takes it at its worst (one critical step per throttle
 * interval).
 */
BalloonAutoAction balloon_auto_guest_message(BalloonAutoPolicy *p,
                                             BalloonAutoLevel level,
                                             int64_t now);

/*
 * The guest reports a new balloon size.  A value above ram_pages cannot
 * be true, so it is treated as hostile: dropped, state unchanged, NONE
 * with why "hostile-actual" (the device may count it).  Falling below
 * both the old value and the target is a guest-initiated deflate (e.g.
 * deflate-on-OOM): the target follows it and the window opens.  Moving
 * toward the target is progress: it postpones and clears a stall.
 */
BalloonAutoAction balloon_auto_actual_changed(BalloonAutoPolicy *p,
                                              uint64_t actual, int64_t now);

/*
 * Whether the guest reports its free pages to the host (free page
 * reporting negotiated), for the free-first bound: then all of its free
 * memory counts as memory the host does not hold.  Free page reporting
 * returns free memory in blocks of 2 MiB or more (pageblock order) a few
 * seconds after the guest frees it; the balloon's 4 KiB pages, taken from
 * such blocks before they are reported, keep the rest of each block from
 * ever being reported, so the host ends up holding more, not less.  Seen
 * in the over-commit benchmark's RFC case: after each inflate of the
 * shrinking guest (49 to 114 MiB) the cgroup's usage between growth
 * bursts stayed 50 to 65 MiB above free page reporting's alone, and the
 * next burst swapped about that much more.  Kept across resets; the
 * caller says it again with each sample.
 */
void balloon_auto_free_page_reporting(BalloonAutoPolicy *p, bool on);

/*
 * Guest memory from a statistics sample: @avail_pages available,
 * @free_pages free (MEMFREE; UINT64_MAX when not reported), @low when the
 * statistics rule finds the available memory below its threshold.
 * Recorded for guest-aware sizing.  A guest that is low while its balloon
 * holds memory (target > 0) needs memory: as
 * balloon_auto_guest_pressure(), but the deflate is counted in shortfalls
 * too ("shortfall").  A low guest with an empty balloon is merely full:
 * NONE, "full", no window.  Otherwise NONE, "recorded".
 *
 * The free memory is for the free-first bound of inflates: the balloon
 * takes the guest's free pages before the guest reclaims anything, and
 * free memory the host does not hold (given back by free page reporting,
 * or never touched) gains the host nothing.  Where more than half of a
 * step would be such pages, the step is bounded to the free memory the
 * host holds: guest RAM outside the balloon that is not resident is
 * counted as free memory, the rest of the free memory as resident, and
 * what was asked for since the sample as taken from the resident part
 * first.  Nothing left: NONE with why "not-resident".  Except where the
 * guest holds at least as much reclaimable memory the host holds (page
 * cache: balloon_auto_gain() less the free pages resident at the sample)
 * as free memory the host does not: then the inflate goes through those
 * free pages to a step of the cache, at most what the guest can spare;
 * the free pages do not count against the step.  The sample's residency
 * bounds inflates for BALLOON_AUTO_SAMPLE_RESIDENCY_NS.
 */
BalloonAutoAction balloon_auto_guest_sample(BalloonAutoPolicy *p,
                                            uint64_t avail_pages,
                                            uint64_t free_pages, bool low,
                                            int64_t now);

/*
 * Host residency: @resident_pages of the guest's RAM are resident in host
 * memory now (balloon pages).  Recorded for resident-aware sizing: an
 * inflate takes at most balloon_auto_gain().  Call it just before
 * balloon_auto_host_event() (and balloon_auto_timer() when it may serve a
 * coalesced event), so that the bound is fresh, and just before
 * balloon_auto_guest_sample(), which keeps it as the sample's residency.
 */
void balloon_auto_host_resident(BalloonAutoPolicy *p,
                                uint64_t resident_pages);

/*
 * Host memory: the source's limit and what is still available below it,
 * in pages (HostMemoryState converted; @avail_pages above @limit_pages is
 * taken as @limit_pages).  Call it before balloon_auto_host_event() and
 * balloon_auto_timer() with a fresh reading where the source has one, and
 * whenever a reading comes cheaply (with each statistics sample): a
 * reading above the high watermark starts the watermark check.
 * balloon_auto_host_memory_unknown() forgets it (the reading failed):
 * then neither watermark applies.
 *
 * The rule ("host-watermark"): while used = limit - available is above
 * high_pct % of the limit, each throttle interval the guest is inflated
 * by the deficit (used - high watermark) less what it still has in
 * flight, at most one critical step (inflate_pages[critical]) and, as on
 * host events, at most what it can spare above its reserve, what the host
 * would gain and down to the floor; a guest with nothing to spare is not
 * inflated.  A host event's step is the larger of its level's step and
 * what this rule would take.  Both are scaled by the shares as the
 * rule at BALLOON_AUTO_DEFAULT_SHARES says; the inflate in flight counts
 * as what a default guest would have in flight for it (in flight *
 * shares / 1000), so that a guest with more shares does not top its
 * smaller share up to the whole deficit while it inflates.  With shares
 * 0 the check does not run.  There is no coordinator: every QEMU on the
 * source sees the same deficit and gives what its own guest can spare of
 * it, so N guests may take up to N times the deficit in one interval;
 * the next check sees the result, and with the default watermarks two
 * guests that both give the whole deficit leave the host no lower than
 * the low watermark.
 * The check runs on the timer while used is above the high watermark
 * and for BALLOON_AUTO_WATERMARK_WATCH_MS after a host event; otherwise
 * there is no deadline for it, and a reading above the watermark (e.g.
 * with the next statistics sample) starts it again.  An inflate
 * by this rule postpones relief like a host event.  Relief steps only
 * while used is below low_pct % of the limit (counted in relief_held
 * when held back).
 */
void balloon_auto_host_memory(BalloonAutoPolicy *p, uint64_t limit_pages,
                              uint64_t avail_pages);
void balloon_auto_host_memory_unknown(BalloonAutoPolicy *p);

/*
 * Pages the host uses above the high watermark; 0 when not above it, when
 * the host memory is not known or the rule is off (high_pct 0)
 */
uint64_t balloon_auto_host_deficit(const BalloonAutoPolicy *p);

/*
 * The usage at which "used" (@limit - @available) reaches @high_pct % of
 * @limit, all in bytes, from one reading of a source whose @usage counts
 * page cache that used does not (a cgroup v1 memcg's inactive file
 * pages): the watermark plus that cache, at most @limit; 0 with
 * @high_pct 0 (no watermark).  For a usage threshold the kernel signals
 * when crossed: at the watermark alone it fires while used is still
 * below it by the cache, and fires no more while usage climbs on.
 */
uint64_t balloon_auto_usage_threshold(uint64_t limit, uint64_t usage,
                                      uint64_t available, uint32_t high_pct);

/*
 * Whether a usage threshold of @cur bytes (0: none, as after a crossing,
 * which drops it) is to be registered again at @want: when it differs by
 * @slack bytes or more, or to or from 0.
 */
bool balloon_auto_usage_threshold_rearm(uint64_t cur, uint64_t want,
                                        uint64_t slack);

/*
 * Whether to ask the guest for a statistics sample now, on host pressure
 * (times in ns on one clock, INT64_MIN for none yet): when neither the
 * last sample (@last_sample_ns) nor the last request (@last_request_ns)
 * is younger than @interval_ns at @now.  Keyed on the request as well, so
 * that a guest that does not answer (no driver yet, or a slow, hung or
 * hostile one) gets one request per interval, not one per host event,
 * each of which is a stats timer expiry: make bench's event storm (no
 * driver) made 20192 requests in 10 s before this rule, 2 with it.  A
 * time after @now (a clock that went back) does not hold requests off.
 */
bool balloon_auto_stats_request_due(int64_t last_sample_ns,
                                    int64_t last_request_ns,
                                    int64_t interval_ns, int64_t now);

/*
 * A budget of events per second on a clock passed in (ns): QEMU's leaky
 * bucket (include/qemu/throttle.h, the block layer's I/O throttling), as
 * the vmpressure wake-up budget (util/host-pressure-vmpressure.c) uses
 * it.  Up to @rate events at once, then one every 1/@rate s.  last_ns is
 * INT64_MIN before the first event.
 */
typedef struct BalloonAutoBudget {
    LeakyBucket bucket;
    int64_t last_ns;
} BalloonAutoBudget;

/* A full budget of @rate events a second; 0: no event is ever allowed */
void balloon_auto_budget_init(BalloonAutoBudget *b, uint32_t rate);

/*
 * Take one event from @b at @now: true while the budget allows it, false
 * (nothing taken) when it is spent.  A clock that went back gives nothing
 * back.
 */
bool balloon_auto_budget_take(BalloonAutoBudget *b, int64_t now);

/* Used is below the low watermark, or that watermark does not apply */
bool balloon_auto_host_below_low(const BalloonAutoPolicy *p);

/*
 * A host event at @now would not be throttled: the caller measures
 * residency for balloon_auto_host_resident() only then, and before
 * balloon_auto_timer() serves a coalesced event (balloon_auto_pending()).
 */
bool balloon_auto_inflate_due(const BalloonAutoPolicy *p, int64_t now);

/*
 * What the guest uses, in pages: ram - actual - available as of the last
 * statistics sample (0 while no sample is known)
 */
uint64_t balloon_auto_guest_used(const BalloonAutoPolicy *p);

/*
 * What an inflate can return to the host, in pages: the guest RAM the host
 * holds that the guest does not use (resident - used), less what was asked
 * for since the measurement (target - actual then).  A guest's untouched
 * memory was never resident: ballooning it gains the host nothing.  Used
 * is from the last sample; with the residency of that sample too, the
 * smaller of the two estimates (a guest growing since its sample holds
 * more resident memory, all in use) while the sample is younger than
 * BALLOON_AUTO_SAMPLE_RESIDENCY_NS at @now (ns, the policy's clock).
 * UINT64_MAX while residency is not known.
 */
uint64_t balloon_auto_gain(const BalloonAutoPolicy *p, int64_t now);

/*
 * @pages scaled by the shares: @pages * BALLOON_AUTO_DEFAULT_SHARES /
 * @shares, rounded down but at least 1 when @pages is not 0; 0 when
 * @shares is 0; UINT64_MAX when the product does not fit.
 */
uint64_t balloon_auto_shares_scale(uint64_t pages, uint32_t shares);

/* The reserve in pages: max(reserve_pages, reserve_pct % of RAM) */
uint64_t balloon_auto_reserve(const BalloonAutoConfig *cfg,
                              uint64_t ram_pages);

/*
 * What the guest can give now, in pages: its last reported available
 * memory less the reserve and less what was asked for since (target
 * raised after the sample).  UINT64_MAX while no sample is known.
 */
uint64_t balloon_auto_spare(const BalloonAutoPolicy *p);

/*
 * What the guest lacks, in pages: the reserve less its last reported
 * available memory, 0 when not short or not known.
 */
uint64_t balloon_auto_shortfall(const BalloonAutoPolicy *p);

/*
 * Whether a host pressure source is attached (@attached), e.g. at
 * creation or when management attaches or detaches one at run time.
 * Without one, silence is no sign of relief: relief waits until a source
 * is attached, and counts relief_ns from then, since a new source has not
 * had the time to report anything.  Guest pressure works either way.
 */
void balloon_auto_host_source(BalloonAutoPolicy *p, bool attached,
                              int64_t now);

/*
 * Call at or after balloon_auto_deadline(); calling early is harmless.
 * In this order: reports a stall, checks the high watermark (see
 * balloon_auto_host_memory()), serves a coalesced host event (unless the
 * host's memory is known and used is no longer above the high watermark:
 * then it is dropped, NONE with why "below-high"), or gives
 * memory back (host relief): while the balloon holds memory (target > 0),
 * no host event came for relief_ns and the host is below the low
 * watermark, lower the target by relief_pages each
 * BALLOON_AUTO_RELIEF_PERIOD_MS until it is 0.
 */
BalloonAutoAction balloon_auto_timer(BalloonAutoPolicy *p, int64_t now);

/*
 * Next time balloon_auto_timer() must run, INT64_MAX if none.  Relief
 * adds a deadline only while target > 0, the watermark check only while
 * the last reading was above the high watermark or a host event came
 * within BALLOON_AUTO_WATERMARK_WATCH_MS: with an empty balloon, nothing
 * pending, the host below its high watermark and no recent host event
 * there is none.
 */
int64_t balloon_auto_deadline(const BalloonAutoPolicy *p);

uint64_t balloon_auto_target(const BalloonAutoPolicy *p);
uint64_t balloon_auto_actual(const BalloonAutoPolicy *p);
uint64_t balloon_auto_ram_pages(const BalloonAutoPolicy *p);
bool balloon_auto_guest_window_open(const BalloonAutoPolicy *p, int64_t now);
/* End of the last guest-pressure window, 0 if none was opened */
int64_t balloon_auto_guest_window_end(const BalloonAutoPolicy *p);
bool balloon_auto_stalled(const BalloonAutoPolicy *p);
/* A coalesced host event waits for the throttle; its level in @level */
bool balloon_auto_pending(const BalloonAutoPolicy *p, BalloonAutoLevel *level);
const BalloonAutoCounters *balloon_auto_counters(const BalloonAutoPolicy *p);

void balloon_auto_get_timing(const BalloonAutoPolicy *p,
                             BalloonAutoTiming *t);
void balloon_auto_set_timing(BalloonAutoPolicy *p,
                             const BalloonAutoTiming *t);

/* "host-low", ..., "host-watermark"; "invalid" when out of range */
const char *balloon_auto_reason_str(BalloonAutoReason r);
/* "none", "inflate", "deflate", "cancel", "stall"; "invalid" likewise */
const char *balloon_auto_action_str(BalloonAutoActionKind k);

#endif
