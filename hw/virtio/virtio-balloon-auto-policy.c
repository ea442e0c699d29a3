/*
 * virtio-balloon automatic mode: policy core
 *
 * Throttle, hysteresis, cancel, floor, no-pile-up and stall detection.
 * Pure logic with the clock passed in, so that every rule can be
 * unit-tested with a fake clock (tests/unit/test-virtio-balloon-auto-policy.c).
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/virtio/virtio-balloon-auto-policy.h"

#define NS_PER_MS       ((int64_t)1000 * 1000)
#define MAX_THROTTLE_NS ((int64_t)3600 * 1000 * NS_PER_MS)
#define MAX_HYST_NS     ((int64_t)24 * 3600 * 1000 * NS_PER_MS)
#define MAX_STALL_NS    ((int64_t)3600 * 1000 * NS_PER_MS)
#define MAX_RELIEF_NS   ((int64_t)24 * 3600 * 1000 * NS_PER_MS)
#define RELIEF_PERIOD_NS (BALLOON_AUTO_RELIEF_PERIOD_MS * NS_PER_MS)
#define WATERMARK_PERIOD_NS (BALLOON_AUTO_WATERMARK_PERIOD_MS * NS_PER_MS)
#define WATERMARK_WATCH_NS (BALLOON_AUTO_WATERMARK_WATCH_MS * NS_PER_MS)

/* last_inflate when nothing was inflated since the last reset */
#define NEVER           INT64_MIN

static uint64_t sat_add_u64(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/*
 * Saturate instead of wrapping: a deadline past the end of time must stay
 * in the future, not turn into one in the distant past.
 */
static int64_t sat_add_time(int64_t t, int64_t d)
{
    if (d > 0 && t > INT64_MAX - d) {
        return INT64_MAX;
    }
    if (d < 0 && t < INT64_MIN - d) {
        return INT64_MIN;
    }
    return t + d;
}

static int64_t sat_sub_time(int64_t t, int64_t d)
{
    if (d == INT64_MIN) {
        return t >= 0 ? INT64_MAX : t - INT64_MIN;
    }
    return sat_add_time(t, -d);
}

/* INT64_MAX means "never", so a saturated deadline never fires. */
static bool due(int64_t deadline, int64_t now)
{
    return deadline != INT64_MAX && now >= deadline;
}

static uint64_t page_bytes(uint64_t pages)
{
    return pages > (UINT64_MAX >> BALLOON_AUTO_PAGE_SHIFT) ?
           UINT64_MAX : pages << BALLOON_AUTO_PAGE_SHIFT;
}

static char *balloon_auto_size_str_pages(uint64_t pages)
{
    return balloon_auto_size_str(page_bytes(pages));
}

/*
 * @pages * @num / @den rounded down, without overflow in between for
 * @num and @den below 2^32; UINT64_MAX when the result does not fit
 */
static uint64_t scale_ratio(uint64_t pages, uint64_t num, uint64_t den)
{
    uint64_t q = pages / den;
    uint64_t r = pages % den;

    if (num && q > (UINT64_MAX - r * num / den) / num) {
        return UINT64_MAX;
    }
    return q * num + r * num / den;
}

uint64_t balloon_auto_shares_scale(uint64_t pages, uint32_t shares)
{
    if (!pages || !shares) {
        return 0;
    }
    /* A guest asked for something gives at least a page */
    return MAX(scale_ratio(pages, BALLOON_AUTO_DEFAULT_SHARES, shares), 1);
}

/* Exact, but readable for the usual whole milliseconds */
static char *time_str(int64_t ns)
{
    if (ns % NS_PER_MS == 0) {
        return g_strdup_printf("%" PRId64 " ms", ns / NS_PER_MS);
    }
    return g_strdup_printf("%" PRId64 " ns", ns);
}

void balloon_auto_config_default(BalloonAutoConfig *cfg)
{
    cfg->inflate_pages[BALLOON_AUTO_LEVEL_LOW] =
        BALLOON_AUTO_DEFAULT_INFLATE_LOW >> BALLOON_AUTO_PAGE_SHIFT;
    cfg->inflate_pages[BALLOON_AUTO_LEVEL_MEDIUM] =
        BALLOON_AUTO_DEFAULT_INFLATE_MEDIUM >> BALLOON_AUTO_PAGE_SHIFT;
    cfg->inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL] =
        BALLOON_AUTO_DEFAULT_INFLATE_CRITICAL >> BALLOON_AUTO_PAGE_SHIFT;
    cfg->deflate_pages =
        BALLOON_AUTO_DEFAULT_DEFLATE >> BALLOON_AUTO_PAGE_SHIFT;
    cfg->throttle_ns = BALLOON_AUTO_DEFAULT_THROTTLE_MS * NS_PER_MS;
    cfg->hysteresis_ns = BALLOON_AUTO_DEFAULT_HYSTERESIS_MS * NS_PER_MS;
    cfg->floor_pages = BALLOON_AUTO_DEFAULT_FLOOR >> BALLOON_AUTO_PAGE_SHIFT;
    cfg->stall_ns = BALLOON_AUTO_DEFAULT_STALL_MS * NS_PER_MS;
    cfg->reserve_pages =
        BALLOON_AUTO_DEFAULT_RESERVE >> BALLOON_AUTO_PAGE_SHIFT;
    cfg->reserve_pct = BALLOON_AUTO_DEFAULT_RESERVE_PCT;
    cfg->relief_ns = BALLOON_AUTO_DEFAULT_RELIEF_MS * NS_PER_MS;
    cfg->relief_pages =
        BALLOON_AUTO_DEFAULT_RELIEF_STEP >> BALLOON_AUTO_PAGE_SHIFT;
    cfg->high_pct = BALLOON_AUTO_DEFAULT_HIGH_WATERMARK_PCT;
    cfg->low_pct = BALLOON_AUTO_DEFAULT_LOW_WATERMARK_PCT;
    cfg->shares = BALLOON_AUTO_DEFAULT_SHARES;
}

uint64_t balloon_auto_scale_default(uint64_t bytes, uint64_t ram_pages)
{
    const uint64_t full_pages =
        BALLOON_AUTO_DEFAULT_FULL_RAM >> BALLOON_AUTO_PAGE_SHIFT;
    uint64_t pages = bytes >> BALLOON_AUTO_PAGE_SHIFT;

    if (ram_pages < full_pages) {
        /* Both factors are below 2^32: no overflow */
        pages = MAX(pages * ram_pages / full_pages, 1);
    }
    return pages << BALLOON_AUTO_PAGE_SHIFT;
}

static uint64_t scaled_pages(uint64_t bytes, uint64_t ram_pages)
{
    return balloon_auto_scale_default(bytes, ram_pages) >>
           BALLOON_AUTO_PAGE_SHIFT;
}

void balloon_auto_config_default_for(BalloonAutoConfig *cfg,
                                     uint64_t ram_pages)
{
    balloon_auto_config_default(cfg);
    cfg->inflate_pages[BALLOON_AUTO_LEVEL_LOW] =
        scaled_pages(BALLOON_AUTO_DEFAULT_INFLATE_LOW, ram_pages);
    cfg->inflate_pages[BALLOON_AUTO_LEVEL_MEDIUM] =
        scaled_pages(BALLOON_AUTO_DEFAULT_INFLATE_MEDIUM, ram_pages);
    cfg->inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL] =
        scaled_pages(BALLOON_AUTO_DEFAULT_INFLATE_CRITICAL, ram_pages);
    cfg->deflate_pages = scaled_pages(BALLOON_AUTO_DEFAULT_DEFLATE, ram_pages);
    cfg->floor_pages = scaled_pages(BALLOON_AUTO_DEFAULT_FLOOR, ram_pages);
    cfg->reserve_pages = scaled_pages(BALLOON_AUTO_DEFAULT_RESERVE,
                                      ram_pages);
    cfg->relief_pages = scaled_pages(BALLOON_AUTO_DEFAULT_RELIEF_STEP,
                                     ram_pages);
}

/* What the messages of balloon_auto_config_check() call each tunable */
static const char *const tunable_concepts[BALLOON_AUTO_TUNABLE__MAX] = {
    [BALLOON_AUTO_TUNABLE_INFLATE_LOW] = "inflate step for level low",
    [BALLOON_AUTO_TUNABLE_INFLATE_MEDIUM] = "inflate step for level medium",
    [BALLOON_AUTO_TUNABLE_INFLATE_CRITICAL] =
        "inflate step for level critical",
    [BALLOON_AUTO_TUNABLE_DEFLATE] = "deflate step",
    [BALLOON_AUTO_TUNABLE_THROTTLE] = "throttle interval",
    [BALLOON_AUTO_TUNABLE_HYSTERESIS] = "hysteresis",
    [BALLOON_AUTO_TUNABLE_STALL] = "stall timeout",
    [BALLOON_AUTO_TUNABLE_FLOOR] = "floor",
    [BALLOON_AUTO_TUNABLE_HIGH_WATERMARK] = "high watermark",
    [BALLOON_AUTO_TUNABLE_LOW_WATERMARK] = "low watermark",
    [BALLOON_AUTO_TUNABLE_RESERVE] = "reserve",
    [BALLOON_AUTO_TUNABLE_RESERVE_PCT] = "reserve percentage",
    [BALLOON_AUTO_TUNABLE_RELIEF] = "relief interval",
    [BALLOON_AUTO_TUNABLE_RELIEF_STEP] = "relief step",
    [BALLOON_AUTO_TUNABLE_SHARES] = "shares",
};

/* A user's name in quotes, as virtio-mem's messages have them */
static char *tunable_str(const char *const *names, BalloonAutoTunable t)
{
    return names ? g_strdup_printf("'%s'", names[t])
                 : g_strdup(tunable_concepts[t]);
}

bool balloon_auto_config_check(const BalloonAutoConfig *cfg,
                               uint64_t ram_pages, Error **errp)
{
    return balloon_auto_config_check_named(cfg, ram_pages, NULL, errp);
}

bool balloon_auto_config_check_named(const BalloonAutoConfig *cfg,
                                     uint64_t ram_pages,
                                     const char *const *names, Error **errp)
{
    g_autofree char *val = NULL;
    g_autofree char *what = NULL;
    int l;

    for (l = 0; l < BALLOON_AUTO_LEVEL__MAX; l++) {
        if (!cfg->inflate_pages[l] || cfg->inflate_pages[l] > ram_pages) {
            what = tunable_str(names, BALLOON_AUTO_TUNABLE_INFLATE_LOW + l);
            val = balloon_auto_size_str_pages(cfg->inflate_pages[l]);
            error_setg(errp, "%s is %s bytes; it must be at least"
                       " 4 KiB and at most the guest RAM size (%" PRIu64
                       " bytes)", what, val, page_bytes(ram_pages));
            return false;
        }
    }
    if (!cfg->deflate_pages || cfg->deflate_pages > ram_pages) {
        what = tunable_str(names, BALLOON_AUTO_TUNABLE_DEFLATE);
        val = balloon_auto_size_str_pages(cfg->deflate_pages);
        error_setg(errp, "%s is %s bytes; it must be at least"
                   " 4 KiB and at most the guest RAM size (%" PRIu64
                   " bytes)", what, val, page_bytes(ram_pages));
        return false;
    }
    if (cfg->throttle_ns < 0 || cfg->throttle_ns > MAX_THROTTLE_NS) {
        what = tunable_str(names, BALLOON_AUTO_TUNABLE_THROTTLE);
        val = time_str(cfg->throttle_ns);
        error_setg(errp, "%s is %s; it must be between 0 and 1 hour",
                   what, val);
        return false;
    }
    if (cfg->hysteresis_ns < 0 || cfg->hysteresis_ns > MAX_HYST_NS) {
        what = tunable_str(names, BALLOON_AUTO_TUNABLE_HYSTERESIS);
        val = time_str(cfg->hysteresis_ns);
        error_setg(errp, "%s is %s; it must be between 0 and 1 day",
                   what, val);
        return false;
    }
    /* floor == RAM is a way to say "host pressure never inflates" */
    if (cfg->floor_pages > ram_pages) {
        what = tunable_str(names, BALLOON_AUTO_TUNABLE_FLOOR);
        val = balloon_auto_size_str_pages(cfg->floor_pages);
        error_setg(errp, "%s is %s bytes; it must be at most"
                   " the guest RAM size (%" PRIu64 " bytes)", what,
                   val, page_bytes(ram_pages));
        return false;
    }
    if (cfg->stall_ns <= 0 || cfg->stall_ns > MAX_STALL_NS) {
        what = tunable_str(names, BALLOON_AUTO_TUNABLE_STALL);
        val = time_str(cfg->stall_ns);
        error_setg(errp, "%s is %s; it must be more than 0 and"
                   " at most 1 hour", what, val);
        return false;
    }
    if (cfg->reserve_pages > ram_pages) {
        what = tunable_str(names, BALLOON_AUTO_TUNABLE_RESERVE);
        val = balloon_auto_size_str_pages(cfg->reserve_pages);
        error_setg(errp, "%s is %s bytes; it must be at most"
                   " the guest RAM size (%" PRIu64 " bytes)", what,
                   val, page_bytes(ram_pages));
        return false;
    }
    if (cfg->reserve_pct > BALLOON_AUTO_MAX_RESERVE_PCT) {
        what = tunable_str(names, BALLOON_AUTO_TUNABLE_RESERVE_PCT);
        error_setg(errp, "%s is %" PRIu32 " %% of the guest RAM; it"
                   " must be at most %d %%", what, cfg->reserve_pct,
                   BALLOON_AUTO_MAX_RESERVE_PCT);
        return false;
    }
    if (cfg->relief_ns < 0 || cfg->relief_ns > MAX_RELIEF_NS) {
        what = tunable_str(names, BALLOON_AUTO_TUNABLE_RELIEF);
        val = time_str(cfg->relief_ns);
        error_setg(errp, "%s is %s; it must be between 0 (no relief) and"
                   " 1 day", what, val);
        return false;
    }
    if (!cfg->relief_pages || cfg->relief_pages > ram_pages) {
        what = tunable_str(names, BALLOON_AUTO_TUNABLE_RELIEF_STEP);
        val = balloon_auto_size_str_pages(cfg->relief_pages);
        error_setg(errp, "%s is %s bytes; it must be at least"
                   " 4 KiB and at most the guest RAM size (%" PRIu64
                   " bytes)", what, val, page_bytes(ram_pages));
        return false;
    }
    if (cfg->high_pct > 100) {
        what = tunable_str(names, BALLOON_AUTO_TUNABLE_HIGH_WATERMARK);
        error_setg(errp, "%s is %" PRIu32 " %% of the host's limit; it must"
                   " be at most 100 %% (0: off)", what, cfg->high_pct);
        return false;
    }
    if (cfg->low_pct > 100) {
        what = tunable_str(names, BALLOON_AUTO_TUNABLE_LOW_WATERMARK);
        error_setg(errp, "%s is %" PRIu32 " %% of the host's limit; it must"
                   " be at most 100 %% (0: off)", what, cfg->low_pct);
        return false;
    }
    if (cfg->high_pct && cfg->low_pct >= cfg->high_pct) {
        what = tunable_str(names, BALLOON_AUTO_TUNABLE_LOW_WATERMARK);
        val = tunable_str(names, BALLOON_AUTO_TUNABLE_HIGH_WATERMARK);
        error_setg(errp, "%s is %" PRIu32 " %% of the host's limit; it must"
                   " be below %s (%" PRIu32 " %%), or relief would give"
                   " back what the high watermark takes", what,
                   cfg->low_pct, val, cfg->high_pct);
        return false;
    }
    if (cfg->shares > BALLOON_AUTO_MAX_SHARES) {
        what = tunable_str(names, BALLOON_AUTO_TUNABLE_SHARES);
        error_setg(errp, "%s is %" PRIu32 "; it must be between 0 (never"
                   " inflated for host pressure) and %d (default %d)",
                   what, cfg->shares, BALLOON_AUTO_MAX_SHARES,
                   BALLOON_AUTO_DEFAULT_SHARES);
        return false;
    }
    return true;
}

static BalloonAutoAction action(const BalloonAutoPolicy *p,
                                BalloonAutoActionKind kind,
                                BalloonAutoReason reason, const char *why)
{
    return (BalloonAutoAction) {
        .kind = kind, .reason = reason, .target = p->target, .why = why,
    };
}

static BalloonAutoAction nothing(const BalloonAutoPolicy *p, const char *why)
{
    return action(p, BALLOON_AUTO_NONE, BALLOON_AUTO_REASON_HOST_LOW, why);
}

static void clean_state(BalloonAutoPolicy *p, int64_t now)
{
    p->ram_shrunk = false;
    p->target = 0;
    p->actual = 0;
    p->window_open = false;
    p->window_start = 0;
    p->last_inflate = NEVER;
    p->last_progress = now;
    p->stalled = false;
    p->pending = false;
    p->pending_level = BALLOON_AUTO_LEVEL_LOW;
    p->guest_known = false;
    p->guest_free = 0;
    p->guest_target = 0;
    p->guest_avail = 0;
    p->guest_actual = 0;
    p->resident_known = false;
    p->resident_pages = 0;
    p->resident_actual = 0;
    p->guest_resident_known = false;
    p->guest_memfree_known = false;
    p->guest_resident = 0;
    p->last_host_event = now;
    p->last_relief = NEVER;
    /* The host's memory state stays: it is not the guest's */
    p->last_mem_check = NEVER;
    p->last_signal = NEVER;
}

void balloon_auto_init(BalloonAutoPolicy *p, const BalloonAutoConfig *cfg,
                       uint64_t ram_pages, int64_t now)
{
    memset(p, 0, sizeof(*p));
    p->cfg = *cfg;
    p->ram_pages = ram_pages;
    clean_state(p, now);
}

/*
 * Only the tunables are stored: every deadline is derived from the time
 * its event happened (window opened, last inflate, last progress), so the
 * new values apply at once, to an open window too.
 */
void balloon_auto_set_config(BalloonAutoPolicy *p,
                             const BalloonAutoConfig *cfg)
{
    p->cfg = *cfg;
}

void balloon_auto_reset(BalloonAutoPolicy *p, int64_t now)
{
    clean_state(p, now);
}

void balloon_auto_set_ram_pages(BalloonAutoPolicy *p, uint64_t ram_pages)
{
    if (ram_pages < p->ram_pages) {
        p->ram_shrunk = true;
    }
    p->ram_pages = ram_pages;
    p->target = MIN(p->target, ram_pages);
    p->actual = MIN(p->actual, ram_pages);
    p->resident_pages = MIN(p->resident_pages, ram_pages);
}

void balloon_auto_sync(BalloonAutoPolicy *p, uint64_t target,
                       uint64_t actual, int64_t now)
{
    /* Whatever the device held, the policy's bounds must hold from now. */
    p->ram_shrunk = false;
    p->target = MIN(target, p->ram_pages);
    p->actual = MIN(actual, p->ram_pages);
    /* Give an inherited outstanding request a full stall period. */
    p->last_progress = now;
    p->stalled = false;
    p->pending = false;
    /* Relief waits a full interval for what management left inflated */
    p->last_host_event = now;
    p->last_relief = NEVER;
    p->last_mem_check = NEVER;
}

int64_t balloon_auto_guest_window_end(const BalloonAutoPolicy *p)
{
    if (!p->window_open) {
        return 0;
    }
    return sat_add_time(p->window_start, p->cfg.hysteresis_ns);
}

bool balloon_auto_guest_window_open(const BalloonAutoPolicy *p, int64_t now)
{
    return p->window_open && now < balloon_auto_guest_window_end(p);
}

static void open_window(BalloonAutoPolicy *p, int64_t now)
{
    p->window_open = true;
    p->window_start = now;
    /* The guest is short of memory: whatever the host wanted is moot. */
    p->pending = false;
    p->stalled = false;
}

/* When an outstanding inflate with no progress becomes a stall */
static int64_t stall_deadline(const BalloonAutoPolicy *p)
{
    if (p->target <= p->actual || p->stalled) {
        return INT64_MAX;
    }
    return sat_add_time(MAX(p->last_inflate, p->last_progress),
                        p->cfg.stall_ns);
}

static int64_t throttle_end(const BalloonAutoPolicy *p)
{
    if (p->last_inflate == NEVER) {
        return INT64_MIN;
    }
    return sat_add_time(p->last_inflate, p->cfg.throttle_ns);
}

/*
 * When the next relief step is due: relief_ns after the last host event,
 * then one step per period.  Only while the balloon holds memory, so that
 * an empty balloon costs no timer at all.
 */
static int64_t relief_deadline(const BalloonAutoPolicy *p)
{
    int64_t d;

    if (!p->target || !p->cfg.relief_ns || p->host_deaf) {
        return INT64_MAX;
    }
    d = sat_add_time(p->last_host_event, p->cfg.relief_ns);
    if (p->last_relief != NEVER) {
        d = MAX(d, sat_add_time(p->last_relief, RELIEF_PERIOD_NS));
    }
    return d;
}

void balloon_auto_host_source(BalloonAutoPolicy *p, bool attached,
                              int64_t now)
{
    p->host_deaf = !attached;
    p->last_host_event = now;
    p->last_relief = NEVER;
}

bool balloon_auto_inflate_due(const BalloonAutoPolicy *p, int64_t now)
{
    return due(throttle_end(p), now);
}

/* @pct % of @pages, rounded down; pages < 2^52: no overflow */
static uint64_t pct_of(uint64_t pages, uint32_t pct)
{
    return pages / 100 * pct + pages % 100 * pct / 100;
}

/* What the host uses of its limit, in pages */
static uint64_t host_used(const BalloonAutoPolicy *p)
{
    return p->mem_limit - p->mem_avail;
}

uint64_t balloon_auto_usage_threshold(uint64_t limit, uint64_t usage,
                                      uint64_t available, uint32_t high_pct)
{
    uint64_t high, used, cache;

    if (!high_pct) {
        return 0;
    }
    high_pct = MIN(high_pct, 100);
    high = limit / 100 * high_pct + limit % 100 * high_pct / 100;
    used = limit - MIN(available, limit);
    cache = usage > used ? usage - used : 0;
    return MIN(sat_add_u64(high, cache), limit);
}

bool balloon_auto_usage_threshold_rearm(uint64_t cur, uint64_t want,
                                        uint64_t slack)
{
    if (cur == want) {
        return false;
    }
    if (!cur || !want) {
        return true;
    }
    return MAX(cur, want) - MIN(cur, want) >= slack;
}

/* Younger than @interval_ns at @now: a time after @now is not */
static bool younger(int64_t t, int64_t interval_ns, int64_t now)
{
    return t != NEVER && t <= now && now - t < interval_ns;
}

bool balloon_auto_stats_request_due(int64_t last_sample_ns,
                                    int64_t last_request_ns,
                                    int64_t interval_ns, int64_t now)
{
    return !younger(last_sample_ns, interval_ns, now) &&
           !younger(last_request_ns, interval_ns, now);
}

void balloon_auto_budget_init(BalloonAutoBudget *b, uint32_t rate)
{
    *b = (BalloonAutoBudget) {
        .bucket = { .avg = rate, .max = rate, .burst_length = 1 },
        .last_ns = NEVER,
    };
}

bool balloon_auto_budget_take(BalloonAutoBudget *b, int64_t now)
{
    if (!b->bucket.avg) {
        /* throttle_compute_wait() never holds back a bucket without one */
        return false;
    }
    if (leaky_bucket_add_one(&b->bucket, &b->last_ns, now) > 0) {
        b->bucket.level -= 1;
        return false;
    }
    return true;
}

uint64_t balloon_auto_host_deficit(const BalloonAutoPolicy *p)
{
    uint64_t high;

    if (!p->mem_known || !p->cfg.high_pct) {
        return 0;
    }
    high = pct_of(p->mem_limit, p->cfg.high_pct);
    return host_used(p) > high ? host_used(p) - high : 0;
}

bool balloon_auto_host_below_low(const BalloonAutoPolicy *p)
{
    return !p->mem_known || !p->cfg.low_pct ||
           host_used(p) < pct_of(p->mem_limit, p->cfg.low_pct);
}

void balloon_auto_host_memory(BalloonAutoPolicy *p, uint64_t limit_pages,
                              uint64_t avail_pages)
{
    p->mem_known = true;
    p->mem_limit = limit_pages;
    p->mem_avail = MIN(avail_pages, limit_pages);
}

void balloon_auto_host_memory_unknown(BalloonAutoPolicy *p)
{
    p->mem_known = false;
}

/*
 * When the high watermark is checked next: every period (never within
 * the throttle) while the host is above it, or for a while after a host
 * event; else never, so that a quiet host costs no timer.  A crossing
 * in between is seen in the next reading the caller passes in (with the
 * guest's statistics) and starts the checks.
 */
static int64_t watermark_deadline(const BalloonAutoPolicy *p)
{
    int64_t next;

    /* A guest with shares 0 gives nothing: no check, no wake-ups */
    if (!p->mem_known || !p->cfg.high_pct || !p->cfg.shares) {
        return INT64_MAX;
    }
    next = p->last_mem_check == NEVER ? INT64_MIN :
           sat_add_time(p->last_mem_check, WATERMARK_PERIOD_NS);
    if (!balloon_auto_host_deficit(p) &&
        (p->last_signal == NEVER ||
         next > sat_add_time(p->last_signal, WATERMARK_WATCH_NS))) {
        return INT64_MAX;
    }
    return MAX(next, throttle_end(p));
}

static uint64_t inflate_limit(const BalloonAutoPolicy *p);

/*
 * Only deadlines balloon_auto_timer() acts on when they are due: one it
 * would pass over stays in the past, and a timer re-armed in the past runs
 * again at once, forever.  While an inflate is pending, relief waits for
 * it (balloon_auto_timer()), so the throttle's end is the deadline then,
 * even with a relief interval shorter than the throttle interval.
 */
int64_t balloon_auto_deadline(const BalloonAutoPolicy *p)
{
    int64_t d = stall_deadline(p);

    /* RAM shrank under the balloon: balloon_auto_ram_floor() at once */
    if (p->ram_shrunk && p->target > inflate_limit(p)) {
        return 0;
    }

    if (p->pending) {
        d = MIN(d, throttle_end(p));
    } else {
        d = MIN(d, relief_deadline(p));
    }
    return MIN(d, watermark_deadline(p));
}

/* Report a stall once, when its time has come. */
static bool check_stall(BalloonAutoPolicy *p, int64_t now)
{
    if (!due(stall_deadline(p), now)) {
        return false;
    }
    p->stalled = true;
    /* Never push a stalled guest further, not even later. */
    p->pending = false;
    p->counters.stalls++;
    return true;
}

static BalloonAutoAction stall_action(const BalloonAutoPolicy *p)
{
    return action(p, BALLOON_AUTO_STALL, BALLOON_AUTO_REASON_GUEST_STALLED,
                  "stall-timeout");
}

/* Highest target host pressure may ask for: the guest keeps its floor */
static uint64_t inflate_limit(const BalloonAutoPolicy *p)
{
    return p->ram_pages > p->cfg.floor_pages ?
           p->ram_pages - p->cfg.floor_pages : 0;
}

/*
 * The residency measured with the last statistics sample, while it still
 * describes the guest: for BALLOON_AUTO_SAMPLE_RESIDENCY_NS after the
 * sample.  A Linux guest sends one sample when its driver starts; with
 * polling off no other follows, and that boot-time residency must not
 * bound inflates for ever.
 */
static bool sample_resident_fresh(const BalloonAutoPolicy *p, int64_t now)
{
    return p->guest_known && p->guest_resident_known &&
           now - p->guest_sample_ns <= BALLOON_AUTO_SAMPLE_RESIDENCY_NS;
}

/*
 * The free-first bound (balloon_auto_guest_sample()): @step, or the free
 * memory the host holds where more than half of @step would be free
 * memory it does not hold.  Free page reporting gives a guest's free
 * memory back to the host as the guest frees it; ballooning that memory
 * gains nothing, and a guest with init_on_alloc=1 (Debian's kernels)
 * zeroes each page it takes, so the host faults it back in and charges
 * it, while short of memory, before the balloon discards it again.  Seen
 * in the over-commit benchmark's RFC case: runs whose shrinking guest was
 * inflated by 269-375 MiB swapped 2.3 times what free page reporting
 * alone did, a run in which it was not inflated as little.
 *
 * Except where the guest holds at least as much reclaimable memory the
 * host holds (@gain, less the free pages resident at the sample: page
 * cache) as free memory the host does not: then the balloon goes through
 * those free pages to the cache, @step of it, as far as the guest can
 * spare (@spare).  The free pages move no host memory, so they do not
 * count against the step; a guest inflates them in batches of 256 pages,
 * each discarded as it arrives, so the host charges at most a batch of
 * them at a time.  Without this a guest whose memory is page cache with
 * some free memory beside it, as most of an idle Linux guest's is, gave
 * nothing: the over-commit benchmark's cache case, 2026-12-02.
 */
static uint64_t free_first_bound(const BalloonAutoPolicy *p, uint64_t step,
                                 uint64_t spare, uint64_t gain, int64_t now)
{
    uint64_t held, nonres, asked, free, rfree, taken, nfree, cache;
    uint64_t resfree;

    if (!sample_resident_fresh(p, now) || !p->guest_memfree_known) {
        return step;
    }
    /* Guest RAM outside the balloon the host does not hold */
    held = p->ram_pages - MIN(p->guest_actual, p->ram_pages);
    nonres = held > p->guest_resident ? held - p->guest_resident : 0;
    nonres = MIN(nonres, p->guest_memfree);
    /* Free pages resident at the sample, reported later or not */
    resfree = p->guest_memfree - nonres;
    /* Reported, or about to be: see balloon_auto_free_page_reporting() */
    if (p->free_page_reporting) {
        nonres = p->guest_memfree;
    }
    /*
     * Asked for since the sample comes out of the free pages, the
     * resident ones first
     */
    asked = p->target > p->guest_target ? p->target - p->guest_target : 0;
    free = p->guest_memfree - MIN(p->guest_memfree, asked);
    rfree = p->guest_memfree - nonres;
    rfree -= MIN(rfree, asked);
    /* Of @step, more than half free pages the host does not hold? */
    taken = MIN(step, free);
    if (taken <= rfree || taken - rfree <= step / 2) {
        return step;
    }
    /*
     * Free pages the host does not hold, and the cache behind them: the
     * reclaimable memory the host holds, less the free pages in it
     */
    nfree = free - rfree;
    cache = gain > resfree ? gain - resfree : 0;
    if (step && cache >= nfree) {
        return MIN(spare, sat_add_u64(nfree, step));
    }
    return MIN(step, rfree);
}

/*
 * Raise the target by at most @bound pages, what the rule asks of a guest
 * with the default shares, scaled by this guest's shares and then at most
 * @cap (@bound <= @cap), the rule's step upper bound.  Returns NONE with
 * the reason when nothing can move; the caller decides what to count,
 * except that a host event (@host_event) the host would gain nothing from
 * is counted in not_resident.
 */
static BalloonAutoAction inflate(BalloonAutoPolicy *p, uint64_t bound,
                                 uint64_t cap, BalloonAutoReason reason,
                                 bool host_event, int64_t now,
                                 const char *note)
{
    /*
     * The bound is an upper bound; the guest gives no more than it spares,
     * and the host gains no more than the guest RAM it holds unused.
     */
    uint64_t spare, gain, step, new_target, limit = inflate_limit(p);

    spare = balloon_auto_spare(p);
    gain = balloon_auto_gain(p, now);
    step = MIN(bound, MIN(spare, gain));

    if (!p->cfg.shares) {
        return nothing(p, "no-shares");
    }
    /*
     * What a default guest would give, scaled by the shares and bounded
     * again: fewer shares may give more, but never beyond the bounds.
     */
    step = MIN(balloon_auto_shares_scale(step, p->cfg.shares),
               MIN(cap, MIN(spare, gain)));
    step = free_first_bound(p, step, spare, gain, now);
    /*
     * No pile-up: a guest that has not caught up with the previous request
     * gets no more than one step outstanding; asking for more would only
     * make it inflate past the moment pressure is over.
     */
    new_target = MIN(sat_add_u64(p->target, step),
                     sat_add_u64(p->actual, step));
    new_target = MIN(new_target, limit);
    if (new_target <= p->target) {
        if (p->target >= limit) {
            return nothing(p, "floor");
        }
        if (step) {
            return nothing(p, "pile-up");
        }
        if (!spare) {
            return nothing(p, "no-spare");
        }
        if (host_event) {
            p->counters.not_resident++;
        }
        return nothing(p, "not-resident");
    }
    p->target = new_target;
    p->last_inflate = now;
    p->counters.inflates++;
    return action(p, BALLOON_AUTO_INFLATE, reason, note);
}

/*
 * What the high watermark asks of a guest with the default shares: the
 * deficit less what is still in flight, at most one critical step; 0 when
 * not above it.  In flight counts as what a default guest would have in
 * flight for it (in flight * shares / default), so that the share
 * inflate() scales this to is what this guest has to have in flight.
 */
static uint64_t watermark_bound(const BalloonAutoPolicy *p)
{
    uint64_t deficit = balloon_auto_host_deficit(p);
    uint64_t inflight = p->target > p->actual ? p->target - p->actual : 0;

    inflight = scale_ratio(inflight, p->cfg.shares,
                           BALLOON_AUTO_DEFAULT_SHARES);

    if (deficit <= inflight) {
        return 0;
    }
    return MIN(deficit - inflight,
               p->cfg.inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL]);
}

/*
 * A host event at @level: one step of that level, or what the high
 * watermark asks if that is more (the event uses up the throttle
 * interval the watermark check would have had).
 */
static BalloonAutoAction inflate_level(BalloonAutoPolicy *p,
                                       BalloonAutoLevel level, int64_t now,
                                       const char *note)
{
    uint64_t step = p->cfg.inflate_pages[level];
    uint64_t wm = watermark_bound(p);
    /* The step bounds the event; the critical step where the deficit asks */
    uint64_t cap = wm ? MAX(step,
                            p->cfg.inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL])
                      : step;

    return inflate(p, MAX(step, wm), cap,
                   BALLOON_AUTO_REASON_HOST_LOW + level, true, now, note);
}

/*
 * The host is above its high watermark: take the deficit less what is
 * still in flight, at most one critical step per throttle interval.
 */
static BalloonAutoAction watermark_inflate(BalloonAutoPolicy *p, int64_t now)
{
    uint64_t deficit = balloon_auto_host_deficit(p);
    BalloonAutoAction a;

    if (!deficit) {
        return nothing(p, "below-high");
    }
    if (balloon_auto_guest_window_open(p, now)) {
        return nothing(p, "guest-window");
    }
    if (p->stalled) {
        return nothing(p, "stalled");
    }
    if (!due(throttle_end(p), now)) {
        return nothing(p, "throttled");
    }
    /* What this guest was asked for already comes out of the deficit */
    if (!watermark_bound(p)) {
        return nothing(p, "in-flight");
    }
    a = inflate(p, watermark_bound(p),
                p->cfg.inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL],
                BALLOON_AUTO_REASON_HOST_WATERMARK, false, now, "watermark");
    if (a.kind == BALLOON_AUTO_INFLATE) {
        p->counters.watermark_inflates++;
        /* The host is short: no relief until it has been quiet again */
        p->last_host_event = now;
        p->last_relief = NEVER;
    }
    return a;
}

BalloonAutoAction balloon_auto_host_event(BalloonAutoPolicy *p,
                                          BalloonAutoLevel level,
                                          int64_t now)
{
    BalloonAutoAction a;

    assert(level < BALLOON_AUTO_LEVEL__MAX);
    p->counters.host_events[level]++;
    /* Pressure goes on: no relief until it has been quiet again */
    p->last_host_event = now;
    p->last_signal = now;
    p->last_relief = NEVER;

    if (check_stall(p, now)) {
        p->counters.ignored++;
        return stall_action(p);
    }
    /* The RFC's rule: the guest is under pressure, do not take memory. */
    if (balloon_auto_guest_window_open(p, now)) {
        p->counters.ignored++;
        return nothing(p, "guest-window");
    }
    if (p->stalled) {
        p->counters.ignored++;
        return nothing(p, "stalled");
    }
    if (!due(throttle_end(p), now)) {
        /* Coalesce: one inflate at the worst level seen, when allowed */
        if (!p->pending || level > p->pending_level) {
            p->pending_level = level;
        }
        p->pending = true;
        p->counters.throttled++;
        return nothing(p, "throttled");
    }
    /* The timer is late: serve what waits together with this event. */
    if (p->pending) {
        level = MAX(level, p->pending_level);
        p->pending = false;
    }
    a = inflate_level(p, level, now, "host-pressure");
    if (a.kind == BALLOON_AUTO_NONE) {
        p->counters.ignored++;
    }
    return a;
}

BalloonAutoAction balloon_auto_ram_floor(BalloonAutoPolicy *p)
{
    uint64_t limit = inflate_limit(p);
    bool shrunk = p->ram_shrunk;

    p->ram_shrunk = false;
    if (!shrunk || p->target <= limit) {
        return nothing(p, "ram-kept");
    }
    p->target = limit;
    p->counters.ram_deflates++;
    return action(p, BALLOON_AUTO_DEFLATE, BALLOON_AUTO_REASON_RAM_UNPLUGGED,
                  "ram-unplugged");
}

/* Give one relief step back */
static BalloonAutoAction balloon_auto_relief(BalloonAutoPolicy *p,
                                             int64_t now)
{
    p->target -= MIN(p->target, p->cfg.relief_pages);
    p->last_relief = now;
    p->counters.reliefs++;
    return action(p, BALLOON_AUTO_DEFLATE, BALLOON_AUTO_REASON_HOST_RELIEF,
                  "host-relief");
}

BalloonAutoAction balloon_auto_timer(BalloonAutoPolicy *p, int64_t now)
{
    /* What the watermark check found, if nothing else happens */
    BalloonAutoAction idle = nothing(p, "idle");

    if (check_stall(p, now)) {
        return stall_action(p);
    }
    if (due(watermark_deadline(p), now)) {
        p->last_mem_check = now;
        idle = watermark_inflate(p, now);
        if (idle.kind != BALLOON_AUTO_NONE) {
            return idle;
        }
    }
    /* pending implies a recent host event, so no relief is due then */
    if (!p->pending && due(relief_deadline(p), now)) {
        if (!balloon_auto_host_below_low(p)) {
            /* Relief would fight the watermark: look again next period */
            p->last_relief = now;
            p->counters.relief_held++;
            return nothing(p, "above-low");
        }
        return balloon_auto_relief(p, now);
    }
    if (!p->pending || !due(throttle_end(p), now)) {
        return idle;
    }
    /*
     * The coalesced events were counted as throttled already; if the
     * inflate is dropped now they are not counted a second time.
     */
    p->pending = false;
    if (balloon_auto_guest_window_open(p, now)) {
        return nothing(p, "guest-window");
    }
    if (p->stalled) {
        return nothing(p, "stalled");
    }
    /*
     * Where the host's memory is known, an event served after the fact is
     * stale once used memory (without reclaimable page cache) is back at
     * or below the high watermark: what brought it down, usually the
     * inflates since, has served it, and reclaim from there on finds page
     * cache before it swaps.  Served as a full step anyway, it took a
     * critical step (128 MiB) more than the watermark asked for
     * (bench/results/README.md, 2026-11-30-psi).  A fresh event reports
     * reclaim going on now and is served as before.
     */
    if (p->mem_known && p->cfg.high_pct && !balloon_auto_host_deficit(p)) {
        return nothing(p, "below-high");
    }
    return inflate_level(p, p->pending_level, now, "coalesced");
}

/* Guest pressure; the deflate step is deflate_pages << @shift */
static BalloonAutoAction guest_pressure(BalloonAutoPolicy *p,
                                        BalloonAutoGuestSource src,
                                        unsigned shift, int64_t now)
{
    BalloonAutoReason reason = src == BALLOON_AUTO_GUEST_MESSAGE ?
                               BALLOON_AUTO_REASON_GUEST_MESSAGE :
                               BALLOON_AUTO_REASON_GUEST_STATS;

    assert(src < BALLOON_AUTO_GUEST_SOURCE__MAX);
    p->counters.guest_pressure[src]++;
    open_window(p, now);

    if (p->target > p->actual) {
        /* Stop the guest where it is rather than take memory back later */
        p->target = p->actual;
        p->counters.cancels++;
        return action(p, BALLOON_AUTO_CANCEL, reason, "inflate-in-flight");
    }
    if (p->target) {
        /* deflate_pages <= RAM < 2^52 and shift <= 2: no overflow */
        uint64_t d = MIN(p->target, MAX(p->cfg.deflate_pages << shift,
                                        balloon_auto_shortfall(p)));

        p->target -= d;
        /* What comes back is available again: do not ask for it twice */
        p->guest_free = sat_add_u64(p->guest_free, d);
        p->guest_target = p->target;
        p->counters.deflates++;
        return action(p, BALLOON_AUTO_DEFLATE, reason, "guest-pressure");
    }
    return nothing(p, "empty");
}

BalloonAutoAction balloon_auto_guest_pressure(BalloonAutoPolicy *p,
                                              BalloonAutoGuestSource src,
                                              int64_t now)
{
    return guest_pressure(p, src, 0, now);
}

BalloonAutoAction balloon_auto_guest_message(BalloonAutoPolicy *p,
                                             BalloonAutoLevel level,
                                             int64_t now)
{
    assert(level < BALLOON_AUTO_LEVEL__MAX);
    return guest_pressure(p, BALLOON_AUTO_GUEST_MESSAGE, level, now);
}

uint64_t balloon_auto_reserve(const BalloonAutoConfig *cfg,
                              uint64_t ram_pages)
{
    /* ram_pages < 2^52: no overflow */
    return MAX(cfg->reserve_pages, ram_pages / 100 * cfg->reserve_pct +
               ram_pages % 100 * cfg->reserve_pct / 100);
}

uint64_t balloon_auto_spare(const BalloonAutoPolicy *p)
{
    uint64_t reserve = balloon_auto_reserve(&p->cfg, p->ram_pages);
    uint64_t asked;

    if (!p->guest_known) {
        return UINT64_MAX;
    }
    asked = p->target > p->guest_target ? p->target - p->guest_target : 0;
    if (p->guest_free <= sat_add_u64(reserve, asked)) {
        return 0;
    }
    return p->guest_free - reserve - asked;
}

uint64_t balloon_auto_guest_used(const BalloonAutoPolicy *p)
{
    /*
     * The guest's own view of MemTotal includes the balloon with
     * deflate-on-oom and excludes it without; ram - actual - available is
     * the memory the guest uses either way.
     */
    uint64_t held = p->ram_pages - MIN(p->guest_actual, p->ram_pages);

    if (!p->guest_known) {
        return 0;
    }
    return held > p->guest_avail ? held - p->guest_avail : 0;
}

/*
 * Resident memory the guest did not use at a measurement of @resident
 * pages when the balloon was @actual, less what was asked for since:
 * that comes out of the same memory.
 */
static uint64_t unused_resident(const BalloonAutoPolicy *p, uint64_t resident,
                                uint64_t actual)
{
    uint64_t used = balloon_auto_guest_used(p);
    uint64_t asked = p->target > actual ? p->target - actual : 0;

    if (resident <= sat_add_u64(used, asked)) {
        return 0;
    }
    return resident - used - asked;
}

uint64_t balloon_auto_gain(const BalloonAutoPolicy *p, int64_t now)
{
    uint64_t gain;

    if (!p->resident_known) {
        return UINT64_MAX;
    }
    gain = unused_resident(p, p->resident_pages, p->resident_actual);
    /*
     * Used memory comes from the last sample, which may be seconds old: a
     * guest that grew since holds more resident memory now, all of it in
     * use.  The residency measured with the sample does not have that
     * error, so the smaller of the two counts.
     */
    if (sample_resident_fresh(p, now)) {
        gain = MIN(gain, unused_resident(p, p->guest_resident,
                                         p->guest_actual));
    }
    return gain;
}

void balloon_auto_host_resident(BalloonAutoPolicy *p, uint64_t resident_pages)
{
    p->resident_known = true;
    p->resident_pages = MIN(resident_pages, p->ram_pages);
    p->resident_actual = p->actual;
}

uint64_t balloon_auto_shortfall(const BalloonAutoPolicy *p)
{
    uint64_t reserve = balloon_auto_reserve(&p->cfg, p->ram_pages);

    if (!p->guest_known || p->guest_free >= reserve) {
        return 0;
    }
    return reserve - p->guest_free;
}

void balloon_auto_free_page_reporting(BalloonAutoPolicy *p, bool on)
{
    p->free_page_reporting = on;
}

BalloonAutoAction balloon_auto_guest_sample(BalloonAutoPolicy *p,
                                            uint64_t avail_pages,
                                            uint64_t free_pages, bool low,
                                            int64_t now)
{
    BalloonAutoAction a;
    /* An inflate in flight is still to come out of what is available */
    uint64_t inflight = p->target > p->actual ? p->target - p->actual : 0;

    p->guest_known = true;
    p->guest_free = avail_pages > inflight ? avail_pages - inflight : 0;
    p->guest_target = p->target;
    p->guest_avail = avail_pages;
    p->guest_actual = p->actual;
    /* The residency measured just before belongs to this sample */
    p->guest_resident_known = p->resident_known;
    p->guest_resident = p->resident_pages;
    p->guest_sample_ns = now;
    p->guest_memfree_known = free_pages != UINT64_MAX;
    /* An inflate in flight comes out of the free pages first too */
    p->guest_memfree = p->guest_memfree_known ?
                       MIN(free_pages, p->ram_pages) : 0;
    p->guest_memfree -= MIN(p->guest_memfree, inflight);
    if (!low) {
        return nothing(p, "recorded");
    }
    if (!p->target) {
        /* Full, but the balloon holds nothing it could give back */
        return nothing(p, "full");
    }
    a = balloon_auto_guest_pressure(p, BALLOON_AUTO_GUEST_STATS, now);
    if (a.kind == BALLOON_AUTO_DEFLATE) {
        p->counters.shortfalls++;
        a.why = "shortfall";
    }
    return a;
}

static uint64_t gap(uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

BalloonAutoAction balloon_auto_actual_changed(BalloonAutoPolicy *p,
                                              uint64_t actual, int64_t now)
{
    uint64_t old = p->actual;

    /* A guest cannot balloon more memory than it has: do not trust it. */
    if (actual > p->ram_pages) {
        return nothing(p, "hostile-actual");
    }
    p->actual = actual;

    if (actual < old && actual < p->target) {
        /*
         * The guest took memory back without being asked (deflate-on-OOM,
         * a driver that honours its own shrinker): that is guest pressure.
         * Follow it instead of asking for the memory again.
         */
        p->target = actual;
        p->counters.guest_deflates++;
        open_window(p, now);
        p->last_progress = now;
        return action(p, BALLOON_AUTO_DEFLATE,
                      BALLOON_AUTO_REASON_GUEST_DEFLATE, "guest-deflated");
    }
    if (gap(p->target, actual) < gap(p->target, old)) {
        p->last_progress = now;
        p->stalled = false;
        return nothing(p, "progress");
    }
    return nothing(p, "no-progress");
}

uint64_t balloon_auto_target(const BalloonAutoPolicy *p)
{
    return p->target;
}

uint64_t balloon_auto_actual(const BalloonAutoPolicy *p)
{
    return p->actual;
}

uint64_t balloon_auto_ram_pages(const BalloonAutoPolicy *p)
{
    return p->ram_pages;
}

bool balloon_auto_stalled(const BalloonAutoPolicy *p)
{
    return p->stalled;
}

bool balloon_auto_pending(const BalloonAutoPolicy *p, BalloonAutoLevel *level)
{
    if (level) {
        *level = p->pending_level;
    }
    return p->pending;
}

const BalloonAutoCounters *balloon_auto_counters(const BalloonAutoPolicy *p)
{
    return &p->counters;
}

void balloon_auto_get_timing(const BalloonAutoPolicy *p,
                             BalloonAutoTiming *t)
{
    t->window_end = balloon_auto_guest_window_end(p);
    t->last_inflate = p->last_inflate;
    t->last_progress = p->last_progress;
    t->stalled = p->stalled;
    t->ram_shrunk = p->ram_shrunk;
}

/*
 * The window is migrated as its end; its start is derived back from the
 * hysteresis in force here, so that the end is kept exactly and a later
 * set_config still moves it.  Times are non-negative, so a window_end of
 * 0 means no window.  A pending coalesced event is not migrated: the next
 * host event after the throttle inflates anyway.
 */
void balloon_auto_set_timing(BalloonAutoPolicy *p,
                             const BalloonAutoTiming *t)
{
    p->window_open = t->window_end != 0;
    p->window_start = p->window_open ?
                      sat_sub_time(t->window_end, p->cfg.hysteresis_ns) : 0;
    p->last_inflate = t->last_inflate;
    p->last_progress = t->last_progress;
    p->stalled = t->stalled;
    p->ram_shrunk = t->ram_shrunk;
}

const char *balloon_auto_reason_str(BalloonAutoReason r)
{
    static const char *const names[BALLOON_AUTO_REASON__MAX] = {
        [BALLOON_AUTO_REASON_HOST_LOW] = "host-low",
        [BALLOON_AUTO_REASON_HOST_MEDIUM] = "host-medium",
        [BALLOON_AUTO_REASON_HOST_CRITICAL] = "host-critical",
        [BALLOON_AUTO_REASON_GUEST_MESSAGE] = "guest-message",
        [BALLOON_AUTO_REASON_GUEST_STATS] = "guest-stats",
        [BALLOON_AUTO_REASON_GUEST_DEFLATE] = "guest-deflate",
        [BALLOON_AUTO_REASON_GUEST_STALLED] = "guest-stalled",
        [BALLOON_AUTO_REASON_HOST_RELIEF] = "host-relief",
        [BALLOON_AUTO_REASON_HOST_WATERMARK] = "host-watermark",
        [BALLOON_AUTO_REASON_RAM_UNPLUGGED] = "ram-unplugged",
    };

    if ((unsigned)r >= BALLOON_AUTO_REASON__MAX) {
        return "invalid";
    }
    return names[r];
}

const char *balloon_auto_action_str(BalloonAutoActionKind k)
{
    static const char *const names[] = {
        [BALLOON_AUTO_NONE] = "none",
        [BALLOON_AUTO_INFLATE] = "inflate",
        [BALLOON_AUTO_DEFLATE] = "deflate",
        [BALLOON_AUTO_CANCEL] = "cancel",
        [BALLOON_AUTO_STALL] = "stall",
    };

    if ((unsigned)k >= ARRAY_SIZE(names)) {
        return "invalid";
    }
    return names[k];
}
