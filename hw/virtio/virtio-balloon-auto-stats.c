/*
 * virtio-balloon automatic mode: guest pressure inferred from the stats
 *
 * Available memory and the OOM-kill, allocation-stall, direct-reclaim,
 * swap-in and major-fault counters of the stats virtqueue.  Pure logic
 * with the clock passed in, unit-tested in
 * tests/unit/test-virtio-balloon-auto-stats.c.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/host-utils.h"
#include "qapi/error.h"
#include "hw/virtio/virtio-balloon-auto-stats.h"
#include "hw/virtio/virtio-balloon-auto-size.h"

#define NS_PER_S        ((int64_t)1000 * 1000 * 1000)
#define ABSENT          ((uint64_t)-1)

typedef struct CounterInfo {
    int tag;
    const char *name;           /* also the reason for pressure */
    bool per_second;            /* min_delta per second, else per sample */
    uint64_t max_per_s;         /* plausibility limit */
    const char *unit;
} CounterInfo;

static const CounterInfo counters[BALLOON_AUTO_STATS_COUNTER__MAX] = {
    [BALLOON_AUTO_STATS_OOM_KILL] = {
        VIRTIO_BALLOON_S_OOM_KILL, "oom-kill", false,
        BALLOON_AUTO_STATS_MAX_OOM_KILL_PER_S, "kills per sample",
    },
    [BALLOON_AUTO_STATS_ALLOC_STALL] = {
        VIRTIO_BALLOON_S_ALLOC_STALL, "alloc-stall", false,
        BALLOON_AUTO_STATS_MAX_ALLOC_STALL_PER_S, "stalls per sample",
    },
    [BALLOON_AUTO_STATS_DIRECT_RECLAIM] = {
        VIRTIO_BALLOON_S_DIRECT_RECLAIM, "direct-reclaim", false,
        BALLOON_AUTO_STATS_MAX_DIRECT_RECLAIM_PER_S, "bytes per sample",
    },
    [BALLOON_AUTO_STATS_SWAP_IN] = {
        VIRTIO_BALLOON_S_SWAP_IN, "swap-in", true,
        BALLOON_AUTO_STATS_MAX_SWAP_IN_PER_S, "bytes per second",
    },
    [BALLOON_AUTO_STATS_MAJFLT] = {
        VIRTIO_BALLOON_S_MAJFLT, "major-faults", true,
        BALLOON_AUTO_STATS_MAX_MAJFLT_PER_S, "faults per second",
    },
};

void balloon_auto_stats_config_default(BalloonAutoStatsConfig *cfg)
{
    *cfg = (BalloonAutoStatsConfig) {
        .avail_min = BALLOON_AUTO_STATS_DEFAULT_AVAIL_MIN,
        .avail_min_pct = BALLOON_AUTO_STATS_DEFAULT_AVAIL_MIN_PCT,
        .min_delta = {
            [BALLOON_AUTO_STATS_OOM_KILL] =
                BALLOON_AUTO_STATS_DEFAULT_OOM_KILL,
            [BALLOON_AUTO_STATS_ALLOC_STALL] =
                BALLOON_AUTO_STATS_DEFAULT_ALLOC_STALL,
            [BALLOON_AUTO_STATS_DIRECT_RECLAIM] =
                BALLOON_AUTO_STATS_DEFAULT_DIRECT_RECLAIM,
            [BALLOON_AUTO_STATS_SWAP_IN] =
                BALLOON_AUTO_STATS_DEFAULT_SWAP_IN,
            [BALLOON_AUTO_STATS_MAJFLT] =
                BALLOON_AUTO_STATS_DEFAULT_MAJFLT,
        },
    };
}

bool balloon_auto_stats_config_check(const BalloonAutoStatsConfig *cfg,
                                     Error **errp)
{
    return balloon_auto_stats_config_check_named(cfg, NULL, errp);
}

/* A user's name in quotes, else the concept */
static char *stats_name(const char *name, const char *concept)
{
    return name ? g_strdup_printf("'%s'", name) : g_strdup(concept);
}

bool balloon_auto_stats_config_check_named(const BalloonAutoStatsConfig *cfg,
                                           const BalloonAutoStatsNames *names,
                                           Error **errp)
{
    g_autofree char *what = NULL;
    g_autofree char *size = NULL;
    int c;

    if (cfg->avail_min > BALLOON_AUTO_STATS_MAX_AVAIL_MIN) {
        what = stats_name(names ? names->avail_min : NULL,
                          "available-memory threshold");
        size = balloon_auto_size_str(cfg->avail_min);
        error_setg(errp, "%s is %s bytes; it must be at most %" PRIu64
                   " bytes (4 PiB)", what, size,
                   (uint64_t)BALLOON_AUTO_STATS_MAX_AVAIL_MIN);
        return false;
    }
    if (cfg->avail_min_pct > BALLOON_AUTO_STATS_MAX_AVAIL_MIN_PCT) {
        what = stats_name(names ? names->avail_min_pct : NULL,
                          "available-memory threshold");
        error_setg(errp, "%s is %" PRIu32 " %% of the guest memory; it"
                   " must be at most %d %%", what, cfg->avail_min_pct,
                   BALLOON_AUTO_STATS_MAX_AVAIL_MIN_PCT);
        return false;
    }
    for (c = 0; c < BALLOON_AUTO_STATS_COUNTER__MAX; c++) {
        if (cfg->min_delta[c] > counters[c].max_per_s) {
            g_autofree char *concept =
                g_strdup_printf("minimum %s delta", counters[c].name);

            what = stats_name(names ? names->min_delta[c] : NULL, concept);
            error_setg(errp, "%s is %" PRIu64 " %s; it must be at most %"
                       PRIu64 " (0 ignores the counter)", what,
                       cfg->min_delta[c], counters[c].unit,
                       counters[c].max_per_s);
            return false;
        }
    }
    return true;
}

void balloon_auto_stats_reset(BalloonAutoStatsState *s)
{
    memset(s, 0, sizeof(*s));
    s->avail = ABSENT;
    s->memfree = ABSENT;
}

uint64_t balloon_auto_stats_available(const BalloonAutoStatsState *s)
{
    return s->avail;
}

uint64_t balloon_auto_stats_memfree(const BalloonAutoStatsState *s)
{
    return s->memfree;
}

bool balloon_auto_stats_low(const BalloonAutoStatsState *s)
{
    return s->low;
}

uint32_t balloon_auto_stats_reported(const BalloonAutoStatsState *s)
{
    return s->reported;
}

int balloon_auto_stats_counter_tag(BalloonAutoStatsCounter c)
{
    if ((unsigned)c >= BALLOON_AUTO_STATS_COUNTER__MAX) {
        return -1;
    }
    return counters[c].tag;
}

const char *balloon_auto_stats_counter_str(BalloonAutoStatsCounter c)
{
    if ((unsigned)c >= BALLOON_AUTO_STATS_COUNTER__MAX) {
        return "invalid";
    }
    return counters[c].name;
}

/* a * b >= c * d, exactly */
static bool mul_ge(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    uint64_t lo1, hi1, lo2, hi2;

    mulu64(&lo1, &hi1, a, b);
    mulu64(&lo2, &hi2, c, d);
    return hi1 > hi2 || (hi1 == hi2 && lo1 >= lo2);
}

static uint64_t sat_add_u64(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/*
 * The most memory a size in @stats can be: MEMTOT when reported, else
 * @ram_size when known (not 0), else ABSENT (no bound)
 */
static uint64_t size_bound(const uint64_t *stats, uint64_t ram_size)
{
    if (stats[VIRTIO_BALLOON_S_MEMTOT] != ABSENT) {
        return stats[VIRTIO_BALLOON_S_MEMTOT];
    }
    return ram_size ? ram_size : ABSENT;
}

/*
 * Values a guest with @ram_size bytes of RAM (0: not known) that reports
 * MEMTOT bytes of it cannot report
 */
static bool sizes_hostile(const uint64_t *stats, uint64_t ram_size)
{
    uint64_t total = stats[VIRTIO_BALLOON_S_MEMTOT];
    uint64_t bound = size_bound(stats, ram_size);
    static const int sizes[] = {
        VIRTIO_BALLOON_S_AVAIL, VIRTIO_BALLOON_S_MEMFREE,
        VIRTIO_BALLOON_S_CACHES,
    };
    int i;

    if (total != ABSENT &&
        (total == 0 || (ram_size && total > ram_size))) {
        return true;
    }
    for (i = 0; i < ARRAY_SIZE(sizes); i++) {
        if (stats[sizes[i]] != ABSENT && stats[sizes[i]] > bound) {
            return true;
        }
    }
    return false;
}

/*
 * Available memory in bytes, or ABSENT when it cannot be computed; never
 * more than MEMTOT, or than @ram_size (0: not known) without MEMTOT
 */
static uint64_t available(const uint64_t *stats, uint64_t ram_size)
{
    uint64_t free = stats[VIRTIO_BALLOON_S_MEMFREE];
    uint64_t caches = stats[VIRTIO_BALLOON_S_CACHES];
    uint64_t avail;

    if (stats[VIRTIO_BALLOON_S_AVAIL] != ABSENT) {
        return stats[VIRTIO_BALLOON_S_AVAIL];
    }
    if (free == ABSENT || caches == ABSENT) {
        return ABSENT;
    }
    /* ABSENT - 1 at most: never mistaken for "not computable" */
    avail = MIN(sat_add_u64(free, caches), ABSENT - 1);
    return MIN(avail, size_bound(stats, ram_size));
}

static bool low_available(const BalloonAutoStatsConfig *cfg,
                          const uint64_t *stats, uint64_t avail)
{
    uint64_t total = stats[VIRTIO_BALLOON_S_MEMTOT];
    uint64_t min = cfg->avail_min;

    if (total != ABSENT && cfg->avail_min_pct) {
        /* avail * 100 < total * pct, exactly */
        if (!mul_ge(avail, 100, total, cfg->avail_min_pct)) {
            return true;
        }
    }
    return avail < min;
}

static bool fires(const BalloonAutoStatsConfig *cfg, int c, uint64_t delta,
                  uint64_t elapsed)
{
    uint64_t min = cfg->min_delta[c];

    if (!min) {
        return false;
    }
    if (!counters[c].per_second) {
        return delta >= min;
    }
    /* delta >= min * elapsed / 1 s */
    return mul_ge(delta, NS_PER_S, min, elapsed);
}

static void drop_baselines(BalloonAutoStatsState *s)
{
    s->baseline = 0;
    memset(s->last, 0, sizeof(s->last));
    s->last_ns = 0;
}

static bool result(bool pressure, const char *reason, const char **why)
{
    if (why) {
        *why = reason;
    }
    return pressure;
}

bool balloon_auto_stats_update(BalloonAutoStatsState *s,
                               const BalloonAutoStatsConfig *cfg,
                               const uint64_t stats[VIRTIO_BALLOON_S_NR],
                               int64_t now_ns, const char **why)
{
    uint64_t delta[BALLOON_AUTO_STATS_COUNTER__MAX] = { 0 };
    uint32_t had = 0;           /* counters with a baseline and a value */
    uint32_t present = 0;       /* watched counters in this sample */
    bool reset = false;
    uint64_t elapsed, avail;
    int c, tag;

    s->samples++;
    s->reported = 0;
    s->avail = ABSENT;
    s->memfree = ABSENT;
    s->low = false;
    for (tag = 0; tag < VIRTIO_BALLOON_S_NR; tag++) {
        if (stats[tag] != ABSENT) {
            s->reported |= 1u << tag;
        }
    }

    /*
     * Elapsed time since the baseline, at least 1 s; a clock that went
     * back counts as 1 s too.
     */
    if (now_ns > s->last_ns && now_ns - s->last_ns > NS_PER_S) {
        elapsed = (uint64_t)now_ns - (uint64_t)s->last_ns;
    } else {
        elapsed = NS_PER_S;
    }

    for (c = 0; c < BALLOON_AUTO_STATS_COUNTER__MAX; c++) {
        uint64_t v = stats[counters[c].tag];

        if (v == ABSENT) {
            continue;
        }
        present |= 1u << c;
        if (!(s->baseline & (1u << c))) {
            continue;
        }
        had |= 1u << c;
        if (v < s->last[c]) {
            reset = true;
        } else {
            delta[c] = v - s->last[c];
        }
    }

    if (sizes_hostile(stats, cfg->ram_size)) {
        goto hostile;
    }
    if (!reset) {
        for (c = 0; c < BALLOON_AUTO_STATS_COUNTER__MAX; c++) {
            if ((had & (1u << c)) &&
                !mul_ge(counters[c].max_per_s, elapsed, delta[c], NS_PER_S)) {
                goto hostile;
            }
        }
    }

    avail = available(stats, cfg->ram_size);
    if (avail == ABSENT && !present) {
        drop_baselines(s);
        return result(false, "no-data", why);
    }

    /* New baselines: what this sample reports, nothing else */
    s->baseline = present;
    for (c = 0; c < BALLOON_AUTO_STATS_COUNTER__MAX; c++) {
        s->last[c] = (present & (1u << c)) ? stats[counters[c].tag] : 0;
    }
    s->last_ns = now_ns;
    if (reset) {
        s->resets++;
    }

    s->avail = avail;
    s->memfree = stats[VIRTIO_BALLOON_S_MEMFREE];
    s->low = avail != ABSENT && low_available(cfg, stats, avail);
    if (reset) {
        return result(false, "counter-reset", why);
    }
    for (c = 0; c < BALLOON_AUTO_STATS_COUNTER__MAX; c++) {
        if ((had & (1u << c)) && fires(cfg, c, delta[c], elapsed)) {
            s->pressure++;
            return result(true, counters[c].name, why);
        }
    }
    if (s->low) {
        /* Full is not short: the policy decides what a low guest gets */
        return result(false, "low-available", why);
    }
    if (present && !had) {
        return result(false, "first-sample", why);
    }
    return result(false, "quiet", why);

hostile:
    s->hostile++;
    drop_baselines(s);
    return result(false, "hostile", why);
}
