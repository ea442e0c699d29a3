/*
 * Unit tests of the guest-pressure-from-stats rule of virtio-balloon's
 * automatic mode
 *
 * Each test feeds fake stats samples, as the device would receive them
 * from the stats virtqueue, with a fake clock.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/virtio/virtio-balloon-auto-stats.h"

#define SEC(n)      ((int64_t)(n) * 1000 * 1000 * 1000)
#define ABSENT      ((uint64_t)-1)
#define POLL        SEC(5)      /* the fake device polls every 5 s */
#define T0          SEC(1000)
#define GUEST_RAM   (4 * GiB)

typedef struct Fixture {
    BalloonAutoStatsConfig cfg;
    BalloonAutoStatsState s;
    uint64_t st[VIRTIO_BALLOON_S_NR];
    int64_t now;
    const char *why;
} Fixture;

/* A healthy 4 GiB guest with a recent kernel: every tag reported */
static void setup(Fixture *f)
{
    int i;

    balloon_auto_stats_config_default(&f->cfg);
    balloon_auto_stats_reset(&f->s);
    for (i = 0; i < VIRTIO_BALLOON_S_NR; i++) {
        f->st[i] = 0;
    }
    f->st[VIRTIO_BALLOON_S_SWAP_IN] = 4 * MiB;
    f->st[VIRTIO_BALLOON_S_SWAP_OUT] = 64 * MiB;
    f->st[VIRTIO_BALLOON_S_MAJFLT] = 20000;
    f->st[VIRTIO_BALLOON_S_MINFLT] = 1000000;
    f->st[VIRTIO_BALLOON_S_MEMTOT] = GUEST_RAM;
    f->st[VIRTIO_BALLOON_S_MEMFREE] = 1 * GiB;
    f->st[VIRTIO_BALLOON_S_CACHES] = 2 * GiB;
    f->st[VIRTIO_BALLOON_S_AVAIL] = 2 * GiB + 512 * MiB;
    f->st[VIRTIO_BALLOON_S_OOM_KILL] = 0;
    f->st[VIRTIO_BALLOON_S_ALLOC_STALL] = 10;
    f->st[VIRTIO_BALLOON_S_DIRECT_RECLAIM] = 1 * MiB;
    f->st[VIRTIO_BALLOON_S_ASYNC_RECLAIM] = 512 * MiB;
    f->now = T0;
    f->why = NULL;
}

/* Feed the current sample, then advance the clock by one poll */
static bool feed(Fixture *f)
{
    bool p = balloon_auto_stats_update(&f->s, &f->cfg, f->st, f->now,
                                       &f->why);

    g_assert_nonnull(f->why);
    f->now += POLL;
    return p;
}

static void expect(Fixture *f, bool pressure, const char *why)
{
    bool p = feed(f);

    g_assert_cmpstr(f->why, ==, why);
    g_assert_cmpint(p, ==, pressure);
}

/*
 * The guest is low on available memory: full, which is not pressure by
 * itself; the policy gets the flag and the value
 */
static void expect_low(Fixture *f)
{
    expect(f, false, "low-available");
    g_assert_true(balloon_auto_stats_low(&f->s));
    g_assert_cmpuint(balloon_auto_stats_available(&f->s), !=, ABSENT);
}

/* The guest reports only the tags of kernels before 4.16: 0-9, no AVAIL */
static void old_tags(Fixture *f)
{
    int i;

    for (i = 10; i < VIRTIO_BALLOON_S_NR; i++) {
        f->st[i] = ABSENT;
    }
    f->st[VIRTIO_BALLOON_S_AVAIL] = ABSENT;
}

/* Config */

static void test_config_defaults(void)
{
    BalloonAutoStatsConfig cfg;

    balloon_auto_stats_config_default(&cfg);
    g_assert_cmpuint(cfg.avail_min, ==, 64 * MiB);
    g_assert_cmpuint(cfg.avail_min_pct, ==, 2);
    g_assert_cmpuint(cfg.min_delta[BALLOON_AUTO_STATS_OOM_KILL], ==, 1);
    g_assert_cmpuint(cfg.min_delta[BALLOON_AUTO_STATS_ALLOC_STALL], ==, 32);
    g_assert_cmpuint(cfg.min_delta[BALLOON_AUTO_STATS_DIRECT_RECLAIM], ==,
                     32 * MiB);
    g_assert_cmpuint(cfg.min_delta[BALLOON_AUTO_STATS_SWAP_IN], ==, 1 * MiB);
    g_assert_cmpuint(cfg.min_delta[BALLOON_AUTO_STATS_MAJFLT], ==, 1000);
    g_assert_true(balloon_auto_stats_config_check(&cfg, &error_abort));

    /* Everything off is a valid config: the stats never give pressure */
    memset(&cfg, 0, sizeof(cfg));
    g_assert_true(balloon_auto_stats_config_check(&cfg, &error_abort));
}

static void check_error(const BalloonAutoStatsConfig *cfg, const char *part1,
                        const char *part2)
{
    Error *err = NULL;

    g_assert_false(balloon_auto_stats_config_check(cfg, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(error_get_pretty(err), part1));
    g_assert_nonnull(strstr(error_get_pretty(err), part2));
    error_free(err);
}

static void test_config_check(void)
{
    BalloonAutoStatsConfig cfg;
    int c;

    balloon_auto_stats_config_default(&cfg);
    cfg.avail_min = BALLOON_AUTO_STATS_MAX_AVAIL_MIN;
    g_assert_true(balloon_auto_stats_config_check(&cfg, &error_abort));
    cfg.avail_min++;
    check_error(&cfg, "available-memory threshold", "4503599627370497");
    cfg.avail_min = UINT64_MAX;
    check_error(&cfg, "available-memory threshold", "18446744073709551615");

    balloon_auto_stats_config_default(&cfg);
    cfg.avail_min_pct = 50;
    g_assert_true(balloon_auto_stats_config_check(&cfg, &error_abort));
    cfg.avail_min_pct = 51;
    check_error(&cfg, "available-memory threshold", "51 %");
    cfg.avail_min_pct = UINT32_MAX;
    check_error(&cfg, "available-memory threshold", "4294967295 %");

    balloon_auto_stats_config_default(&cfg);
    cfg.min_delta[BALLOON_AUTO_STATS_OOM_KILL] = 1001;
    check_error(&cfg, "oom-kill", "1001 kills per sample");
    balloon_auto_stats_config_default(&cfg);
    cfg.min_delta[BALLOON_AUTO_STATS_SWAP_IN] = UINT64_MAX;
    check_error(&cfg, "swap-in", "18446744073709551615 bytes per second");

    /* Every counter is checked, and accepts its limit */
    for (c = 0; c < BALLOON_AUTO_STATS_COUNTER__MAX; c++) {
        balloon_auto_stats_config_default(&cfg);
        cfg.min_delta[c] = UINT64_MAX;
        check_error(&cfg, balloon_auto_stats_counter_str(c), "minimum");
        cfg.min_delta[c] = 1;
        g_assert_true(balloon_auto_stats_config_check(&cfg, &error_abort));
    }

    /* The first error wins; nothing else is touched */
    balloon_auto_stats_config_default(&cfg);
    cfg.avail_min_pct = 99;
    cfg.min_delta[BALLOON_AUTO_STATS_MAJFLT] = UINT64_MAX;
    check_error(&cfg, "available-memory threshold", "99 %");
}

static void test_names(void)
{
    g_assert_cmpstr(balloon_auto_stats_counter_str(BALLOON_AUTO_STATS_MAJFLT),
                    ==, "major-faults");
    g_assert_cmpstr(balloon_auto_stats_counter_str(
                        BALLOON_AUTO_STATS_COUNTER__MAX), ==, "invalid");
    g_assert_cmpint(balloon_auto_stats_counter_tag(BALLOON_AUTO_STATS_OOM_KILL),
                    ==, VIRTIO_BALLOON_S_OOM_KILL);
    g_assert_cmpint(balloon_auto_stats_counter_tag(BALLOON_AUTO_STATS_SWAP_IN),
                    ==, VIRTIO_BALLOON_S_SWAP_IN);
    g_assert_cmpint(balloon_auto_stats_counter_tag(-1), ==, -1);
}

/* Baseline and quiet guest */

static void test_first_sample_then_quiet(void)
{
    Fixture f;
    int i;

    setup(&f);
    expect(&f, false, "first-sample");
    g_assert_cmpuint(balloon_auto_stats_reported(&f.s), ==, 0xffff);
    /* A quiet guest: counters creep slowly, plenty available */
    for (i = 0; i < 100; i++) {
        f.st[VIRTIO_BALLOON_S_MAJFLT] += 200;               /* 40/s */
        f.st[VIRTIO_BALLOON_S_SWAP_IN] += 64 * KiB;         /* 12.8 KiB/s */
        f.st[VIRTIO_BALLOON_S_ALLOC_STALL] += i % 3;
        f.st[VIRTIO_BALLOON_S_DIRECT_RECLAIM] += 256 * KiB;
        f.st[VIRTIO_BALLOON_S_MINFLT] += 100000;
        f.st[VIRTIO_BALLOON_S_SWAP_OUT] += 1 * GiB;         /* not watched */
        expect(&f, false, "quiet");
    }
    g_assert_cmpuint(f.s.samples, ==, 101);
    g_assert_cmpuint(f.s.pressure, ==, 0);
}

/* The first sample only sets the baseline, whatever the counters say */
static void test_first_sample_no_counter_pressure(void)
{
    Fixture f;

    setup(&f);
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 50;
    f.st[VIRTIO_BALLOON_S_ALLOC_STALL] = 1000000;
    f.st[VIRTIO_BALLOON_S_SWAP_IN] = 100 * GiB;
    expect(&f, false, "first-sample");
    expect(&f, false, "quiet");
    f.st[VIRTIO_BALLOON_S_OOM_KILL]++;
    expect(&f, true, "oom-kill");
}

/* Counters */

static void test_oom_kill(void)
{
    Fixture f;

    setup(&f);
    expect(&f, false, "first-sample");
    expect(&f, false, "quiet");
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 1;
    expect(&f, true, "oom-kill");
    /* No new kill: quiet again */
    expect(&f, false, "quiet");
    /* Per sample: one kill after a long time still counts */
    f.now += SEC(600);
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 2;
    expect(&f, true, "oom-kill");
    g_assert_cmpuint(f.s.pressure, ==, 2);

    /* Ignored with a minimum delta of 0 */
    f.cfg.min_delta[BALLOON_AUTO_STATS_OOM_KILL] = 0;
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 3;
    expect(&f, false, "quiet");
}

static void test_alloc_stall(void)
{
    Fixture f;

    setup(&f);
    expect(&f, false, "first-sample");
    /* A few stalls per poll: healthy guest streaming I/O */
    f.st[VIRTIO_BALLOON_S_ALLOC_STALL] += 31;
    expect(&f, false, "quiet");
    /* Rising stalls */
    f.st[VIRTIO_BALLOON_S_ALLOC_STALL] += 32;
    expect(&f, true, "alloc-stall");
    f.st[VIRTIO_BALLOON_S_ALLOC_STALL] += 500;
    expect(&f, true, "alloc-stall");
    f.st[VIRTIO_BALLOON_S_ALLOC_STALL] += 2;
    expect(&f, false, "quiet");
}

static void test_direct_reclaim(void)
{
    Fixture f;

    setup(&f);
    expect(&f, false, "first-sample");
    f.st[VIRTIO_BALLOON_S_DIRECT_RECLAIM] += 32 * MiB - 1;
    expect(&f, false, "quiet");
    f.st[VIRTIO_BALLOON_S_DIRECT_RECLAIM] += 32 * MiB;
    expect(&f, true, "direct-reclaim");
    f.st[VIRTIO_BALLOON_S_DIRECT_RECLAIM] += 200 * MiB;
    expect(&f, true, "direct-reclaim");
    expect(&f, false, "quiet");
    /* Async reclaim (kswapd) alone is not pressure */
    f.st[VIRTIO_BALLOON_S_ASYNC_RECLAIM] += 10 * GiB;
    f.st[VIRTIO_BALLOON_S_ASYNC_SCAN] += 20 * GiB;
    expect(&f, false, "quiet");
}

static void test_swap_in(void)
{
    Fixture f;

    setup(&f);
    expect(&f, false, "first-sample");
    /* Background swap-in: a few pages now and then */
    f.st[VIRTIO_BALLOON_S_SWAP_IN] += 16 * KiB;
    expect(&f, false, "quiet");
    f.st[VIRTIO_BALLOON_S_SWAP_IN] += 1 * MiB;      /* 0.2 MiB/s over 5 s */
    expect(&f, false, "quiet");
    /* Just below 1 MiB/s over the 5 s poll, then just at it */
    f.st[VIRTIO_BALLOON_S_SWAP_IN] += 5 * MiB - 1;
    expect(&f, false, "quiet");
    f.st[VIRTIO_BALLOON_S_SWAP_IN] += 5 * MiB;
    expect(&f, true, "swap-in");
    /* A burst */
    f.st[VIRTIO_BALLOON_S_SWAP_IN] += 300 * MiB;
    expect(&f, true, "swap-in");
    /* The same amount spread over a minute is background */
    f.now += SEC(55);
    f.st[VIRTIO_BALLOON_S_SWAP_IN] += 5 * MiB;
    expect(&f, false, "quiet");
}

static void test_swap_in_short_interval(void)
{
    Fixture f;

    setup(&f);
    expect(&f, false, "first-sample");
    /*
     * Two samples 10 ms apart: the elapsed time counts as 1 s, so 100 KiB
     * is not read as 10 MiB/s ...
     */
    f.now = f.now - POLL + SEC(1) / 100;
    f.st[VIRTIO_BALLOON_S_SWAP_IN] += 100 * KiB;
    expect(&f, false, "quiet");
    /* ... but a full second's worth in 10 ms fires */
    f.now = f.now - POLL + SEC(1) / 100;
    f.st[VIRTIO_BALLOON_S_SWAP_IN] += 1 * MiB;
    expect(&f, true, "swap-in");
}

static void test_major_faults(void)
{
    Fixture f;

    setup(&f);
    expect(&f, false, "first-sample");
    /* A program starting with a cold cache: 3000 faults in one poll */
    f.st[VIRTIO_BALLOON_S_MAJFLT] += 3000;
    expect(&f, false, "quiet");
    f.st[VIRTIO_BALLOON_S_MAJFLT] += 4999;
    expect(&f, false, "quiet");
    /* Thrashing: 1000/s and more */
    f.st[VIRTIO_BALLOON_S_MAJFLT] += 5000;
    expect(&f, true, "major-faults");
    f.st[VIRTIO_BALLOON_S_MAJFLT] += 50000;
    expect(&f, true, "major-faults");
    f.cfg.min_delta[BALLOON_AUTO_STATS_MAJFLT] = 0;
    f.st[VIRTIO_BALLOON_S_MAJFLT] += 50000;
    expect(&f, false, "quiet");
}

static void test_precedence(void)
{
    Fixture f;

    setup(&f);
    expect(&f, false, "first-sample");
    f.st[VIRTIO_BALLOON_S_MAJFLT] += 100000;
    f.st[VIRTIO_BALLOON_S_SWAP_IN] += 1 * GiB;
    f.st[VIRTIO_BALLOON_S_DIRECT_RECLAIM] += 1 * GiB;
    f.st[VIRTIO_BALLOON_S_ALLOC_STALL] += 1000;
    f.st[VIRTIO_BALLOON_S_OOM_KILL] += 1;
    expect(&f, true, "oom-kill");
    f.st[VIRTIO_BALLOON_S_MAJFLT] += 100000;
    f.st[VIRTIO_BALLOON_S_SWAP_IN] += 1 * GiB;
    f.st[VIRTIO_BALLOON_S_DIRECT_RECLAIM] += 1 * GiB;
    f.st[VIRTIO_BALLOON_S_ALLOC_STALL] += 1000;
    expect(&f, true, "alloc-stall");
    f.st[VIRTIO_BALLOON_S_MAJFLT] += 100000;
    f.st[VIRTIO_BALLOON_S_SWAP_IN] += 1 * GiB;
    f.st[VIRTIO_BALLOON_S_DIRECT_RECLAIM] += 1 * GiB;
    expect(&f, true, "direct-reclaim");
    f.st[VIRTIO_BALLOON_S_MAJFLT] += 100000;
    f.st[VIRTIO_BALLOON_S_SWAP_IN] += 1 * GiB;
    expect(&f, true, "swap-in");
    f.st[VIRTIO_BALLOON_S_MAJFLT] += 100000;
    expect(&f, true, "major-faults");
    /*
     * Counters come before low available memory: a full guest is not
     * under pressure, a guest that is killing processes is
     */
    f.st[VIRTIO_BALLOON_S_AVAIL] = 1 * MiB;
    f.st[VIRTIO_BALLOON_S_OOM_KILL] += 1;
    expect(&f, true, "oom-kill");
    g_assert_true(balloon_auto_stats_low(&f.s));
    expect_low(&f);
}

/* Available memory */

static void test_low_available(void)
{
    Fixture f;

    setup(&f);
    /* No history needed: the first sample can say low-available */
    f.st[VIRTIO_BALLOON_S_AVAIL] = 10 * MiB;
    expect_low(&f);
    /* 2 % of 4 GiB is 81.9 MiB, above the 64 MiB floor */
    f.st[VIRTIO_BALLOON_S_AVAIL] = 80 * MiB;
    expect_low(&f);
    f.st[VIRTIO_BALLOON_S_AVAIL] = GUEST_RAM / 50 - 1;
    expect_low(&f);
    /* Recovering */
    f.st[VIRTIO_BALLOON_S_AVAIL] = GUEST_RAM / 50 + 1;
    expect(&f, false, "quiet");
    f.st[VIRTIO_BALLOON_S_AVAIL] = 1 * GiB;
    expect(&f, false, "quiet");
    g_assert_false(balloon_auto_stats_low(&f.s));
    g_assert_cmpuint(balloon_auto_stats_available(&f.s), ==, 1 * GiB);
    /* Full is not pressure */
    g_assert_cmpuint(f.s.pressure, ==, 0);

    /* A 1 GiB guest: 2 % is 20 MiB, the 64 MiB floor rules */
    f.st[VIRTIO_BALLOON_S_MEMTOT] = 1 * GiB;
    f.st[VIRTIO_BALLOON_S_MEMFREE] = 10 * MiB;
    f.st[VIRTIO_BALLOON_S_CACHES] = 100 * MiB;
    f.st[VIRTIO_BALLOON_S_AVAIL] = 64 * MiB - 1;
    expect_low(&f);
    f.st[VIRTIO_BALLOON_S_AVAIL] = 64 * MiB;
    expect(&f, false, "quiet");

    /* Without MEMTOT only the absolute threshold counts */
    f.st[VIRTIO_BALLOON_S_MEMTOT] = ABSENT;
    f.cfg.avail_min_pct = 50;
    expect(&f, false, "quiet");
    f.st[VIRTIO_BALLOON_S_AVAIL] = 1;
    expect_low(&f);
    /* Both thresholds off */
    f.cfg.avail_min_pct = 0;
    f.cfg.avail_min = 0;
    f.st[VIRTIO_BALLOON_S_AVAIL] = 0;
    expect(&f, false, "quiet");
}

static void test_available_fallback(void)
{
    Fixture f;

    setup(&f);
    f.st[VIRTIO_BALLOON_S_AVAIL] = ABSENT;
    /* MEMFREE + CACHES = 3 GiB */
    expect(&f, false, "first-sample");
    f.st[VIRTIO_BALLOON_S_MEMFREE] = 20 * MiB;
    f.st[VIRTIO_BALLOON_S_CACHES] = 40 * MiB;
    expect_low(&f);
    f.st[VIRTIO_BALLOON_S_CACHES] = 80 * MiB;
    expect(&f, false, "quiet");
    /* MEMFREE alone cannot tell: no check, no pressure from it */
    f.st[VIRTIO_BALLOON_S_CACHES] = ABSENT;
    f.st[VIRTIO_BALLOON_S_MEMFREE] = 1 * MiB;
    expect(&f, false, "quiet");
    /* AVAIL wins over the fallback when both are there */
    f.st[VIRTIO_BALLOON_S_CACHES] = 1 * GiB;
    f.st[VIRTIO_BALLOON_S_AVAIL] = 1 * MiB;
    expect_low(&f);

    /*
     * MEMFREE + CACHES is capped at MEMTOT: 3 + 3 GiB of a 4 GiB guest
     * count as 4 GiB, below a (large) 5 GiB threshold
     */
    f.st[VIRTIO_BALLOON_S_AVAIL] = ABSENT;
    f.st[VIRTIO_BALLOON_S_MEMFREE] = 3 * GiB;
    f.st[VIRTIO_BALLOON_S_CACHES] = 3 * GiB;
    f.cfg.avail_min = 4 * GiB;
    expect(&f, false, "quiet");
    f.cfg.avail_min = 5 * GiB;
    expect_low(&f);
}

/* A guest with only tags 0-9 (no AVAIL, no OOM/stall/reclaim counters) */
static void test_old_guest(void)
{
    Fixture f;

    setup(&f);
    old_tags(&f);
    expect(&f, false, "first-sample");
    g_assert_cmpuint(balloon_auto_stats_reported(&f.s), ==, 0x3bf);
    expect(&f, false, "quiet");
    /* Swap-in and major faults still work */
    f.st[VIRTIO_BALLOON_S_SWAP_IN] += 50 * MiB;
    expect(&f, true, "swap-in");
    f.st[VIRTIO_BALLOON_S_MAJFLT] += 10000;
    expect(&f, true, "major-faults");
    expect(&f, false, "quiet");
    /* Available memory via MEMFREE + CACHES */
    f.st[VIRTIO_BALLOON_S_MEMFREE] = 30 * MiB;
    f.st[VIRTIO_BALLOON_S_CACHES] = 30 * MiB;
    expect_low(&f);
    f.st[VIRTIO_BALLOON_S_CACHES] = 500 * MiB;
    expect(&f, false, "quiet");
    /* The absent counters are never considered, however configured */
    f.cfg.min_delta[BALLOON_AUTO_STATS_OOM_KILL] = 1;
    f.cfg.min_delta[BALLOON_AUTO_STATS_ALLOC_STALL] = 1;
    f.cfg.min_delta[BALLOON_AUTO_STATS_DIRECT_RECLAIM] = 1;
    expect(&f, false, "quiet");
    g_assert_cmpuint(f.s.baseline, ==,
                     (1u << BALLOON_AUTO_STATS_SWAP_IN) |
                     (1u << BALLOON_AUTO_STATS_MAJFLT));
}

/* A guest with only the memory sizes: no counters at all */
static void test_sizes_only(void)
{
    Fixture f;
    int i;

    setup(&f);
    for (i = 0; i < VIRTIO_BALLOON_S_NR; i++) {
        f.st[i] = ABSENT;
    }
    expect(&f, false, "no-data");
    g_assert_cmpuint(balloon_auto_stats_reported(&f.s), ==, 0);
    f.st[VIRTIO_BALLOON_S_MEMTOT] = 1 * GiB;
    f.st[VIRTIO_BALLOON_S_MEMFREE] = 1 * MiB;
    expect(&f, false, "no-data");
    f.st[VIRTIO_BALLOON_S_AVAIL] = 512 * MiB;
    expect(&f, false, "quiet");
    f.st[VIRTIO_BALLOON_S_AVAIL] = 1 * MiB;
    expect_low(&f);
}

/* Counter reset: reboot or driver reload */

static void test_counter_reset(void)
{
    Fixture f;

    setup(&f);
    f.st[VIRTIO_BALLOON_S_MAJFLT] = 1000000;
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 7;
    expect(&f, false, "first-sample");
    expect(&f, false, "quiet");
    /* Reboot: every counter back near 0, with fresh boot activity */
    f.st[VIRTIO_BALLOON_S_MAJFLT] = 30000;
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 0;
    f.st[VIRTIO_BALLOON_S_SWAP_IN] = 0;
    f.st[VIRTIO_BALLOON_S_ALLOC_STALL] = 500;
    expect(&f, false, "counter-reset");
    g_assert_cmpuint(f.s.resets, ==, 1);
    /* Re-baselined on the reset sample */
    expect(&f, false, "quiet");
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 1;
    expect(&f, true, "oom-kill");

    /* Only one counter going down is enough, the others do not fire */
    f.st[VIRTIO_BALLOON_S_ALLOC_STALL] = 0;
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 100;
    f.st[VIRTIO_BALLOON_S_MAJFLT] += 1000000;
    expect(&f, false, "counter-reset");
    expect(&f, false, "quiet");

    /* The available check needs no history: it still applies */
    f.st[VIRTIO_BALLOON_S_MAJFLT] = 0;
    f.st[VIRTIO_BALLOON_S_AVAIL] = 1 * MiB;
    expect(&f, false, "counter-reset");
    g_assert_true(balloon_auto_stats_low(&f.s));
    g_assert_cmpuint(f.s.resets, ==, 3);
}

/* Hostile values */

/* MEMFREE of the last sample, for the policy's free-first bound */
static void test_memfree(void)
{
    Fixture f;

    setup(&f);
    g_assert_cmpuint(balloon_auto_stats_memfree(&f.s), ==, UINT64_MAX);
    f.st[VIRTIO_BALLOON_S_MEMFREE] = 300 * MiB;
    expect(&f, false, "first-sample");
    g_assert_cmpuint(balloon_auto_stats_memfree(&f.s), ==, 300 * MiB);
    /* Not reported: not known, not the last value */
    f.st[VIRTIO_BALLOON_S_MEMFREE] = ABSENT;
    expect(&f, false, "quiet");
    g_assert_cmpuint(balloon_auto_stats_memfree(&f.s), ==, UINT64_MAX);
    /* A hostile sample tells nothing */
    f.st[VIRTIO_BALLOON_S_MEMFREE] = GUEST_RAM + 1;
    expect(&f, false, "hostile");
    g_assert_cmpuint(balloon_auto_stats_memfree(&f.s), ==, UINT64_MAX);
    f.st[VIRTIO_BALLOON_S_MEMFREE] = 1 * GiB;
    expect(&f, false, "first-sample");
    g_assert_cmpuint(balloon_auto_stats_memfree(&f.s), ==, 1 * GiB);
    balloon_auto_stats_reset(&f.s);
    g_assert_cmpuint(balloon_auto_stats_memfree(&f.s), ==, UINT64_MAX);
}

static void test_hostile_sizes(void)
{
    Fixture f;

    setup(&f);
    expect(&f, false, "first-sample");
    expect(&f, false, "quiet");

    /* AVAIL > MEMTOT, even while also claiming an OOM kill */
    f.st[VIRTIO_BALLOON_S_AVAIL] = GUEST_RAM + 1;
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 1;
    expect(&f, false, "hostile");
    g_assert_cmpuint(f.s.baseline, ==, 0);
    /* The next sane sample is a new baseline: no oom-kill from garbage */
    f.st[VIRTIO_BALLOON_S_AVAIL] = 1 * GiB;
    expect(&f, false, "first-sample");
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 2;
    expect(&f, true, "oom-kill");

    f.st[VIRTIO_BALLOON_S_MEMFREE] = UINT64_MAX - 1;
    expect(&f, false, "hostile");
    f.st[VIRTIO_BALLOON_S_MEMFREE] = 1 * GiB;
    f.st[VIRTIO_BALLOON_S_CACHES] = GUEST_RAM * 2;
    expect(&f, false, "hostile");
    f.st[VIRTIO_BALLOON_S_CACHES] = 1 * GiB;

    /* MEMTOT 0, with AVAIL 0 that would otherwise be low-available */
    f.st[VIRTIO_BALLOON_S_MEMTOT] = 0;
    f.st[VIRTIO_BALLOON_S_AVAIL] = 0;
    expect(&f, false, "hostile");
    f.st[VIRTIO_BALLOON_S_MEMTOT] = GUEST_RAM;
    f.st[VIRTIO_BALLOON_S_AVAIL] = 1 * GiB;
    expect(&f, false, "first-sample");
    g_assert_cmpuint(f.s.hostile, ==, 4);
    g_assert_cmpuint(f.s.pressure, ==, 1);

    /*
     * Without MEMTOT and without the guest's RAM size, nothing to check
     * against: huge values are fine
     */
    f.st[VIRTIO_BALLOON_S_MEMTOT] = ABSENT;
    f.st[VIRTIO_BALLOON_S_AVAIL] = UINT64_MAX - 1;
    expect(&f, false, "quiet");
    /* ... and MEMFREE + CACHES saturates instead of wrapping */
    f.st[VIRTIO_BALLOON_S_AVAIL] = ABSENT;
    f.st[VIRTIO_BALLOON_S_MEMFREE] = UINT64_MAX - 1;
    f.st[VIRTIO_BALLOON_S_CACHES] = UINT64_MAX - 1;
    expect(&f, false, "quiet");
    /* With MEMTOT, MEMFREE + CACHES is capped at it */
    f.st[VIRTIO_BALLOON_S_MEMTOT] = GUEST_RAM;
    f.st[VIRTIO_BALLOON_S_MEMFREE] = GUEST_RAM;
    f.st[VIRTIO_BALLOON_S_CACHES] = GUEST_RAM;
    expect(&f, false, "quiet");
}

/*
 * With the guest's RAM size known, every size is bounded by it, whether
 * the guest reports MEMTOT or leaves it out.  With MEMTOT = RAM, AVAIL,
 * MEMFREE and CACHES above RAM are above MEMTOT too: the cases the RAM
 * bound adds are MEMTOT itself and every size without MEMTOT.
 */
static void test_hostile_beyond_ram(void)
{
    static const int sizes[] = {
        VIRTIO_BALLOON_S_AVAIL, VIRTIO_BALLOON_S_MEMFREE,
        VIRTIO_BALLOON_S_CACHES, VIRTIO_BALLOON_S_MEMTOT,
    };
    Fixture f;
    int i, with_memtot;

    for (with_memtot = 0; with_memtot < 2; with_memtot++) {
        for (i = 0; i < ARRAY_SIZE(sizes); i++) {
            if (!with_memtot && sizes[i] == VIRTIO_BALLOON_S_MEMTOT) {
                continue;
            }
            setup(&f);
            f.cfg.ram_size = GUEST_RAM;
            if (!with_memtot) {
                f.st[VIRTIO_BALLOON_S_MEMTOT] = ABSENT;
            }
            expect(&f, false, "first-sample");
            /* All of RAM is a size a guest can report */
            f.st[sizes[i]] = GUEST_RAM;
            expect(&f, false, "quiet");
            f.st[sizes[i]] = GUEST_RAM + 4096;
            expect(&f, false, "hostile");
            g_assert_cmpuint(f.s.hostile, ==, 1);
            g_assert_cmpuint(balloon_auto_stats_available(&f.s), ==,
                             UINT64_MAX);
            g_assert_cmpuint(balloon_auto_stats_memfree(&f.s), ==,
                             UINT64_MAX);
            f.st[sizes[i]] = UINT64_MAX - 1;
            expect(&f, false, "hostile");
            g_assert_cmpuint(f.s.hostile, ==, 2);
        }
    }

    /* Without MEMTOT, AVAIL of 2^62 from a 4 GiB guest is not believed */
    setup(&f);
    f.cfg.ram_size = GUEST_RAM;
    f.st[VIRTIO_BALLOON_S_MEMTOT] = ABSENT;
    f.st[VIRTIO_BALLOON_S_AVAIL] = 1ULL << 62;
    expect(&f, false, "hostile");
    g_assert_false(balloon_auto_stats_low(&f.s));
    /* MEMFREE + CACHES within RAM each, their sum capped at RAM */
    f.st[VIRTIO_BALLOON_S_AVAIL] = ABSENT;
    f.st[VIRTIO_BALLOON_S_MEMFREE] = GUEST_RAM;
    f.st[VIRTIO_BALLOON_S_CACHES] = GUEST_RAM;
    expect(&f, false, "first-sample");
    g_assert_cmpuint(balloon_auto_stats_available(&f.s), ==, GUEST_RAM);
}

static void test_hostile_deltas(void)
{
    Fixture f;
    int c;

    for (c = 0; c < BALLOON_AUTO_STATS_COUNTER__MAX; c++) {
        int tag = balloon_auto_stats_counter_tag(c);

        setup(&f);
        f.st[tag] = 0;
        expect(&f, false, "first-sample");
        /* UINT64_MAX - 1: the largest value that is not "absent" */
        f.st[tag] = UINT64_MAX - 1;
        expect(&f, false, "hostile");
        /* Then a sane value below the garbage: a baseline, not a reset */
        f.st[tag] = 10;
        expect(&f, false, "first-sample");
        g_assert_cmpuint(f.s.resets, ==, 0);
        g_assert_cmpuint(f.s.hostile, ==, 1);
        g_assert_cmpuint(f.s.pressure, ==, 0);
    }

    /* The limit is per second of elapsed time */
    setup(&f);
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 0;
    expect(&f, false, "first-sample");
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 5 * 1000;     /* 1000/s over 5 s */
    expect(&f, true, "oom-kill");
    f.st[VIRTIO_BALLOON_S_OOM_KILL] += 5 * 1000 + 1;
    expect(&f, false, "hostile");
    /* Within 1 ms the elapsed time counts as 1 s */
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 0;
    expect(&f, false, "first-sample");
    f.now = f.now - POLL + SEC(1) / 1000;
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 1000;
    expect(&f, true, "oom-kill");
    f.now = f.now - POLL + SEC(1) / 1000;
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 2001;
    expect(&f, false, "hostile");
}

static void test_tag_disappears(void)
{
    Fixture f;

    setup(&f);
    expect(&f, false, "first-sample");
    /* Swap-in disappears: no baseline for it any more */
    f.st[VIRTIO_BALLOON_S_SWAP_IN] = ABSENT;
    expect(&f, false, "quiet");
    g_assert_false(f.s.baseline & (1u << BALLOON_AUTO_STATS_SWAP_IN));
    g_assert_false(balloon_auto_stats_reported(&f.s) &
                   (1u << VIRTIO_BALLOON_S_SWAP_IN));
    /* It comes back much higher: a new baseline, not a burst */
    f.st[VIRTIO_BALLOON_S_SWAP_IN] = 10 * GiB;
    expect(&f, false, "quiet");
    /* ... or lower: not a reset either */
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = ABSENT;
    expect(&f, false, "quiet");
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 0;
    f.st[VIRTIO_BALLOON_S_SWAP_IN] += 1 * MiB;
    expect(&f, false, "quiet");
    g_assert_cmpuint(f.s.resets, ==, 0);
    /* From there, deltas again */
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 1;
    expect(&f, true, "oom-kill");
    /* Everything gone */
    memset(f.st, 0xff, sizeof(f.st));
    expect(&f, false, "no-data");
    g_assert_cmpuint(f.s.baseline, ==, 0);
}

static void test_reset_state(void)
{
    Fixture f;

    setup(&f);
    expect(&f, false, "first-sample");
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 1;
    expect(&f, true, "oom-kill");
    balloon_auto_stats_reset(&f.s);
    g_assert_cmpuint(f.s.samples, ==, 0);
    g_assert_cmpuint(f.s.pressure, ==, 0);
    g_assert_cmpuint(balloon_auto_stats_reported(&f.s), ==, 0);
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 2;
    expect(&f, false, "first-sample");
    /* @why may be NULL */
    f.st[VIRTIO_BALLOON_S_OOM_KILL] = 3;
    g_assert_true(balloon_auto_stats_update(&f.s, &f.cfg, f.st, f.now, NULL));
}

/*
 * Random sequences: never crash, and pressure only when the documented
 * rule holds, recomputed here independently from the previous sample.
 */
static uint64_t rnd_value(GRand *r, uint64_t prev, bool size)
{
    switch (g_rand_int_range(r, 0, 12)) {
    case 0:
        return ABSENT;
    case 1:
        return UINT64_MAX - g_rand_int_range(r, 1, 3);
    case 2:
        return 0;
    case 3:
        return prev == ABSENT ? 0 : prev / 2;       /* goes down */
    case 4:
        return ((uint64_t)g_rand_int(r) << 32) | g_rand_int(r);
    default:
        if (prev == ABSENT || prev > UINT64_MAX / 2) {
            prev = 0;
        }
        return prev + g_rand_int_range(r, 0, size ? 1 << 30 : 10000);
    }
}

static const uint64_t max_per_s[BALLOON_AUTO_STATS_COUNTER__MAX] = {
    [BALLOON_AUTO_STATS_OOM_KILL] = BALLOON_AUTO_STATS_MAX_OOM_KILL_PER_S,
    [BALLOON_AUTO_STATS_ALLOC_STALL] =
        BALLOON_AUTO_STATS_MAX_ALLOC_STALL_PER_S,
    [BALLOON_AUTO_STATS_DIRECT_RECLAIM] =
        BALLOON_AUTO_STATS_MAX_DIRECT_RECLAIM_PER_S,
    [BALLOON_AUTO_STATS_SWAP_IN] = BALLOON_AUTO_STATS_MAX_SWAP_IN_PER_S,
    [BALLOON_AUTO_STATS_MAJFLT] = BALLOON_AUTO_STATS_MAX_MAJFLT_PER_S,
};

static bool known_reason(const char *why)
{
    static const char *const reasons[] = {
        "hostile", "no-data", "low-available", "counter-reset", "oom-kill",
        "alloc-stall", "direct-reclaim", "swap-in", "major-faults",
        "first-sample", "quiet",
    };
    int i;

    for (i = 0; i < ARRAY_SIZE(reasons); i++) {
        if (!strcmp(why, reasons[i])) {
            return true;
        }
    }
    return false;
}

static void test_random(void)
{
    GRand *r = g_rand_new_with_seed(0x5eed);
    BalloonAutoStatsConfig cfg;
    BalloonAutoStatsState s;
    uint64_t prev[VIRTIO_BALLOON_S_NR], st[VIRTIO_BALLOON_S_NR];
    bool prev_valid = false;
    int64_t now = 0, prev_now = 0;
    int run, i, c;
    uint64_t fired = 0;

    for (run = 0; run < 200; run++) {
        balloon_auto_stats_config_default(&cfg);
        /* RAM not known, or more, as much as or less than MEMTOT below */
        cfg.ram_size = (uint64_t)g_rand_int_range(r, 0, 4) * 2 * GiB;
        if (run % 2) {
            for (c = 0; c < BALLOON_AUTO_STATS_COUNTER__MAX; c++) {
                cfg.min_delta[c] = g_rand_int_range(r, 0, 4) ?
                                   g_rand_int_range(r, 0, 1000) : 0;
            }
            cfg.avail_min = g_rand_int_range(r, 0, 1 << 30);
            cfg.avail_min_pct = g_rand_int_range(r, 0, 51);
        }
        g_assert_true(balloon_auto_stats_config_check(&cfg, &error_abort));
        balloon_auto_stats_reset(&s);
        prev_valid = false;
        for (i = 0; i < VIRTIO_BALLOON_S_NR; i++) {
            prev[i] = ABSENT;
        }

        for (i = 0; i < 200; i++) {
            const char *why = NULL;
            bool p, hostile = false, low = false, reset = false;
            bool counter_fires = false, absurd = false;
            uint64_t total, bound, avail, elapsed;
            int tag;

            for (tag = 0; tag < VIRTIO_BALLOON_S_NR; tag++) {
                st[tag] = rnd_value(r, prev[tag],
                                    tag >= VIRTIO_BALLOON_S_MEMFREE &&
                                    tag <= VIRTIO_BALLOON_S_CACHES);
            }
            /* Mostly consistent sizes, sometimes not */
            if (g_rand_int_range(r, 0, 4)) {
                st[VIRTIO_BALLOON_S_MEMTOT] = 4 * GiB;
                for (tag = VIRTIO_BALLOON_S_MEMFREE;
                     tag <= VIRTIO_BALLOON_S_CACHES; tag++) {
                    if (tag != VIRTIO_BALLOON_S_MEMTOT &&
                        st[tag] != ABSENT) {
                        st[tag] %= 4 * GiB;
                    }
                }
            }
            now += g_rand_int_range(r, 0, 4) ? SEC(g_rand_int_range(r, 0, 10))
                                             : -SEC(1);

            p = balloon_auto_stats_update(&s, &cfg, st, now, &why);
            g_assert_nonnull(why);

            /* The rule, recomputed */
            total = st[VIRTIO_BALLOON_S_MEMTOT];
            bound = cfg.ram_size ? cfg.ram_size : ABSENT;
            if (total != ABSENT) {
                hostile = total == 0 || total > bound;
                bound = total;
            }
            hostile = hostile ||
                (st[VIRTIO_BALLOON_S_AVAIL] != ABSENT &&
                 st[VIRTIO_BALLOON_S_AVAIL] > bound) ||
                (st[VIRTIO_BALLOON_S_MEMFREE] != ABSENT &&
                 st[VIRTIO_BALLOON_S_MEMFREE] > bound) ||
                (st[VIRTIO_BALLOON_S_CACHES] != ABSENT &&
                 st[VIRTIO_BALLOON_S_CACHES] > bound);
            avail = st[VIRTIO_BALLOON_S_AVAIL];
            if (avail == ABSENT && st[VIRTIO_BALLOON_S_MEMFREE] != ABSENT &&
                st[VIRTIO_BALLOON_S_CACHES] != ABSENT) {
                avail = MIN(st[VIRTIO_BALLOON_S_MEMFREE],
                            UINT64_MAX - 1 - st[VIRTIO_BALLOON_S_CACHES]) +
                        st[VIRTIO_BALLOON_S_CACHES];
                if (total != ABSENT) {
                    avail = MIN(avail, total);
                } else if (cfg.ram_size) {
                    avail = MIN(avail, cfg.ram_size);
                }
            }
            if (avail != ABSENT) {
                low = avail < cfg.avail_min ||
                      (total != ABSENT &&
                       (long double)avail * 100 <
                       (long double)total * cfg.avail_min_pct);
            }
            elapsed = now - prev_now > SEC(1) ? now - prev_now : SEC(1);
            for (c = 0; prev_valid && c < BALLOON_AUTO_STATS_COUNTER__MAX;
                 c++) {
                tag = balloon_auto_stats_counter_tag(c);
                if (st[tag] == ABSENT || prev[tag] == ABSENT) {
                    continue;
                }
                if (st[tag] < prev[tag]) {
                    reset = true;
                    continue;
                }
                if ((long double)(st[tag] - prev[tag]) >
                    (long double)max_per_s[c] * (elapsed / 1e9)) {
                    absurd = true;
                }
                if (cfg.min_delta[c] &&
                           (long double)(st[tag] - prev[tag]) >=
                           (long double)cfg.min_delta[c] *
                           (c >= BALLOON_AUTO_STATS_SWAP_IN ?
                            elapsed / 1e9 : 1)) {
                    counter_fires = true;
                }
            }

            g_assert_true(known_reason(why));
            /* Hostile exactly when a size or a delta cannot be true */
            g_assert_cmpint(!strcmp(why, "hostile"), ==,
                            hostile || (absurd && !reset));
            if (p) {
                /* Only counters give pressure, never fullness alone */
                g_assert_false(hostile);
                g_assert_false(reset);
                g_assert_true(counter_fires);
                fired++;
            } else if (strcmp(why, "hostile")) {
                /* Not hostile: no pressure means no counter rule held */
                g_assert_false(counter_fires && !reset && !absurd);
            }
            /* Low is reported apart from pressure, hostile never low */
            g_assert_cmpint(balloon_auto_stats_low(&s), ==,
                            strcmp(why, "hostile") && low);

            /* What the module keeps as a baseline for the next round */
            if (!strcmp(why, "hostile")) {
                prev_valid = false;
            } else {
                prev_valid = true;
                memcpy(prev, st, sizeof(prev));
                prev_now = now;
            }
            g_assert_cmpuint(s.samples, ==, (uint64_t)i + 1);
            g_assert_cmpuint(s.pressure + s.hostile, <=, s.samples);
        }
    }
    /* The sequences are not so hostile that nothing ever fires */
    g_assert_cmpuint(fired, >, 1000);
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(path, fn) \
    g_test_add_func("/virtio-balloon-auto-stats/" path, fn)

    ADD("config/defaults", test_config_defaults);
    ADD("config/check", test_config_check);
    ADD("names", test_names);
    ADD("baseline/first-then-quiet", test_first_sample_then_quiet);
    ADD("baseline/first-no-counter-pressure",
        test_first_sample_no_counter_pressure);
    ADD("counter/oom-kill", test_oom_kill);
    ADD("counter/alloc-stall", test_alloc_stall);
    ADD("counter/direct-reclaim", test_direct_reclaim);
    ADD("counter/swap-in", test_swap_in);
    ADD("counter/swap-in-short-interval", test_swap_in_short_interval);
    ADD("counter/major-faults", test_major_faults);
    ADD("counter/precedence", test_precedence);
    ADD("available/low", test_low_available);
    ADD("available/fallback", test_available_fallback);
    ADD("available/memfree", test_memfree);
    ADD("guest/old-tags", test_old_guest);
    ADD("guest/sizes-only", test_sizes_only);
    ADD("reset/counter-reset", test_counter_reset);
    ADD("reset/state", test_reset_state);
    ADD("hostile/sizes", test_hostile_sizes);
    ADD("hostile/beyond-ram", test_hostile_beyond_ram);
    ADD("hostile/deltas", test_hostile_deltas);
    ADD("hostile/tag-disappears", test_tag_disappears);
    ADD("random", test_random);

    return g_test_run();
}
