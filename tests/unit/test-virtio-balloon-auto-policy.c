/*
 * Unit tests of the virtio-balloon automatic mode policy core
 *
 * The policy takes the time as an argument, so these tests drive it with a
 * fake clock: a plain integer that the test advances.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/virtio/virtio-balloon-auto-policy.h"

#define MS(n)       ((int64_t)(n) * 1000 * 1000)
#define SEC(n)      (MS(n) * 1000)
#define PAGES(b)    ((uint64_t)(b) >> BALLOON_AUTO_PAGE_SHIFT)
#define RAM         PAGES(1 * GiB)
#define LOW         PAGES(BALLOON_AUTO_DEFAULT_INFLATE_LOW)
#define MEDIUM      PAGES(BALLOON_AUTO_DEFAULT_INFLATE_MEDIUM)
#define CRITICAL    PAGES(BALLOON_AUTO_DEFAULT_INFLATE_CRITICAL)
#define DEFLATE     PAGES(BALLOON_AUTO_DEFAULT_DEFLATE)
#define FLOOR       PAGES(BALLOON_AUTO_DEFAULT_FLOOR)
#define LIMIT       (RAM - FLOOR)   /* highest target host pressure reaches */
#define THROTTLE    MS(BALLOON_AUTO_DEFAULT_THROTTLE_MS)
#define HYSTERESIS  MS(BALLOON_AUTO_DEFAULT_HYSTERESIS_MS)
#define STALL       MS(BALLOON_AUTO_DEFAULT_STALL_MS)
#define T0          SEC(1000)
/* max(128 MiB, 5 % of 1 GiB = 51 MiB) */
#define RESERVE     PAGES(BALLOON_AUTO_DEFAULT_RESERVE)
#define RELIEF      MS(BALLOON_AUTO_DEFAULT_RELIEF_MS)
#define RELIEF_STEP PAGES(BALLOON_AUTO_DEFAULT_RELIEF_STEP)
#define RELIEF_PERIOD MS(BALLOON_AUTO_RELIEF_PERIOD_MS)

/* The fake clock */
static int64_t now;

/*
 * The defaults, but without host relief: the rules that came before it
 * (throttle, stall, no pile-up) are tested on their own, with deadlines
 * of their own; relief has its own tests, with the real defaults.
 */
static BalloonAutoConfig default_cfg(void)
{
    BalloonAutoConfig cfg;

    balloon_auto_config_default(&cfg);
    cfg.relief_ns = 0;
    return cfg;
}

/* With every default, relief included */
static void setup_defaults(BalloonAutoPolicy *p)
{
    BalloonAutoConfig cfg;

    balloon_auto_config_default(&cfg);
    now = T0;
    balloon_auto_init(p, &cfg, RAM, now);
}

static void setup(BalloonAutoPolicy *p)
{
    BalloonAutoConfig cfg = default_cfg();

    now = T0;
    balloon_auto_init(p, &cfg, RAM, now);
}

static BalloonAutoAction host(BalloonAutoPolicy *p, BalloonAutoLevel l)
{
    return balloon_auto_host_event(p, l, now);
}

static BalloonAutoAction guest(BalloonAutoPolicy *p)
{
    return balloon_auto_guest_pressure(p, BALLOON_AUTO_GUEST_MESSAGE, now);
}

static BalloonAutoAction set_actual(BalloonAutoPolicy *p, uint64_t actual)
{
    return balloon_auto_actual_changed(p, actual, now);
}

/* The guest does all it was asked for */
static void catch_up(BalloonAutoPolicy *p)
{
    set_actual(p, balloon_auto_target(p));
    g_assert_cmpuint(balloon_auto_actual(p), ==, balloon_auto_target(p));
}

static void assert_none(BalloonAutoAction a, const char *why)
{
    g_assert_cmpint(a.kind, ==, BALLOON_AUTO_NONE);
    g_assert_cmpstr(a.why, ==, why);
}

static void assert_action(BalloonAutoAction a, BalloonAutoActionKind kind,
                          BalloonAutoReason reason, uint64_t target)
{
    g_assert_cmpstr(balloon_auto_action_str(a.kind), ==,
                    balloon_auto_action_str(kind));
    g_assert_cmpstr(balloon_auto_reason_str(a.reason), ==,
                    balloon_auto_reason_str(reason));
    g_assert_cmpuint(a.target, ==, target);
    g_assert_nonnull(a.why);
}

static uint64_t host_events(const BalloonAutoPolicy *p)
{
    const BalloonAutoCounters *c = balloon_auto_counters(p);

    return c->host_events[BALLOON_AUTO_LEVEL_LOW] +
           c->host_events[BALLOON_AUTO_LEVEL_MEDIUM] +
           c->host_events[BALLOON_AUTO_LEVEL_CRITICAL];
}

/* Config */

static void test_config_defaults(void)
{
    BalloonAutoConfig cfg = default_cfg();
    Error *err = NULL;

    g_assert_cmpuint(cfg.inflate_pages[BALLOON_AUTO_LEVEL_LOW], ==, 2048);
    g_assert_cmpuint(cfg.inflate_pages[BALLOON_AUTO_LEVEL_MEDIUM], ==, 8192);
    g_assert_cmpuint(cfg.inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL], ==,
                     32768);
    g_assert_cmpuint(cfg.deflate_pages, ==, 8192);
    g_assert_cmpint(cfg.throttle_ns, ==, SEC(1));
    g_assert_cmpint(cfg.hysteresis_ns, ==, SEC(60));
    g_assert_cmpuint(cfg.floor_pages, ==, 65536);
    g_assert_cmpint(cfg.stall_ns, ==, SEC(30));
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &err));
    g_assert_null(err);
    /* A small guest: the floor plus one critical step */
    g_assert_true(balloon_auto_config_check(&cfg, FLOOR + CRITICAL,
                                            &error_abort));
}

/*
 * Defaults fit every guest: QEMU's default 128 MiB scales every size by
 * 1/4; from 512 MiB up to hundreds of GiB the constants apply as they are.
 */
static void test_config_defaults_scaled(void)
{
    static const struct {
        uint64_t ram;
        uint64_t low, medium, critical, deflate, floor, reserve, relief;
    } cases[] = {
        { 128 * MiB, 2 * MiB, 8 * MiB, 32 * MiB, 8 * MiB, 64 * MiB,
          32 * MiB, 4 * MiB },
        { 256 * MiB, 4 * MiB, 16 * MiB, 64 * MiB, 16 * MiB, 128 * MiB,
          64 * MiB, 8 * MiB },
        { 512 * MiB, 8 * MiB, 32 * MiB, 128 * MiB, 32 * MiB, 256 * MiB,
          128 * MiB, 16 * MiB },
        { 4 * GiB, 8 * MiB, 32 * MiB, 128 * MiB, 32 * MiB, 256 * MiB,
          128 * MiB, 16 * MiB },
        { 512 * GiB, 8 * MiB, 32 * MiB, 128 * MiB, 32 * MiB, 256 * MiB,
          128 * MiB, 16 * MiB },
        /* whole pages, rounded down; at least one page */
        { 100 * MiB, 1600 * KiB, 6400 * KiB, 25600 * KiB, 6400 * KiB,
          50 * MiB, 25 * MiB, 3200 * KiB },
        { 16 * MiB, 256 * KiB, 1 * MiB, 4 * MiB, 1 * MiB, 8 * MiB,
          4 * MiB, 512 * KiB },
        { 12 * KiB, 4 * KiB, 4 * KiB, 4 * KiB, 4 * KiB, 4 * KiB,
          4 * KiB, 4 * KiB },
    };
    int i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        uint64_t ram = PAGES(cases[i].ram);
        BalloonAutoConfig cfg;

        balloon_auto_config_default_for(&cfg, ram);
        g_assert_cmpuint(cfg.inflate_pages[BALLOON_AUTO_LEVEL_LOW], ==,
                         PAGES(cases[i].low));
        g_assert_cmpuint(cfg.inflate_pages[BALLOON_AUTO_LEVEL_MEDIUM], ==,
                         PAGES(cases[i].medium));
        g_assert_cmpuint(cfg.inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL], ==,
                         PAGES(cases[i].critical));
        g_assert_cmpuint(cfg.deflate_pages, ==, PAGES(cases[i].deflate));
        g_assert_cmpuint(cfg.floor_pages, ==, PAGES(cases[i].floor));
        g_assert_cmpuint(cfg.reserve_pages, ==, PAGES(cases[i].reserve));
        g_assert_cmpuint(cfg.relief_pages, ==, PAGES(cases[i].relief));
        /* times do not depend on the guest */
        g_assert_cmpint(cfg.throttle_ns, ==, THROTTLE);
        g_assert_cmpint(cfg.hysteresis_ns, ==, HYSTERESIS);
        g_assert_cmpint(cfg.stall_ns, ==, STALL);
        g_assert_true(balloon_auto_config_check(&cfg, ram, &error_abort));
        g_assert_cmpuint(balloon_auto_scale_default(64 * MiB, ram) %
                         BALLOON_AUTO_PAGE_SIZE, ==, 0);
    }
    /* A huge size default is never scaled up */
    g_assert_cmpuint(balloon_auto_scale_default(256 * MiB, PAGES(1 * TiB)),
                     ==, 256 * MiB);
}

/* Named: the user's name of the tunable, in quotes, and the value */
static void test_config_check_named(void)
{
    static const char *const names[BALLOON_AUTO_TUNABLE__MAX] = {
        "n-low", "n-medium", "n-critical", "n-deflate", "n-throttle",
        "n-hysteresis", "n-stall", "n-floor", "n-high", "n-low-wm",
    };
    static const struct {
        BalloonAutoTunable t;
        const char *text;
    } cases[] = {
        { BALLOON_AUTO_TUNABLE_INFLATE_LOW, "'n-low' is 0 bytes" },
        { BALLOON_AUTO_TUNABLE_INFLATE_MEDIUM, "'n-medium' is 0 bytes" },
        { BALLOON_AUTO_TUNABLE_INFLATE_CRITICAL, "'n-critical' is 0 bytes" },
        { BALLOON_AUTO_TUNABLE_DEFLATE, "'n-deflate' is 0 bytes" },
        { BALLOON_AUTO_TUNABLE_THROTTLE, "'n-throttle' is 3600001 ms" },
        { BALLOON_AUTO_TUNABLE_HYSTERESIS, "'n-hysteresis' is 86400001 ms" },
        { BALLOON_AUTO_TUNABLE_STALL, "'n-stall' is 0 ms" },
        { BALLOON_AUTO_TUNABLE_FLOOR, "'n-floor' is 1073745920 bytes;" },
        { BALLOON_AUTO_TUNABLE_HIGH_WATERMARK, "'n-high' is 101 %" },
        { BALLOON_AUTO_TUNABLE_LOW_WATERMARK, "'n-low-wm' is 95 %" },
    };
    int i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        BalloonAutoConfig cfg = default_cfg();
        Error *err = NULL;

        switch (cases[i].t) {
        case BALLOON_AUTO_TUNABLE_INFLATE_LOW:
        case BALLOON_AUTO_TUNABLE_INFLATE_MEDIUM:
        case BALLOON_AUTO_TUNABLE_INFLATE_CRITICAL:
            cfg.inflate_pages[cases[i].t] = 0;
            break;
        case BALLOON_AUTO_TUNABLE_DEFLATE:
            cfg.deflate_pages = 0;
            break;
        case BALLOON_AUTO_TUNABLE_THROTTLE:
            cfg.throttle_ns = MS(3600001);
            break;
        case BALLOON_AUTO_TUNABLE_HYSTERESIS:
            cfg.hysteresis_ns = MS(86400001);
            break;
        case BALLOON_AUTO_TUNABLE_STALL:
            cfg.stall_ns = 0;
            break;
        case BALLOON_AUTO_TUNABLE_FLOOR:
            cfg.floor_pages = RAM + 1;
            break;
        case BALLOON_AUTO_TUNABLE_HIGH_WATERMARK:
            cfg.high_pct = 101;
            break;
        case BALLOON_AUTO_TUNABLE_LOW_WATERMARK:
            cfg.low_pct = 95;
            break;
        default:
            g_assert_not_reached();
        }
        g_assert_false(balloon_auto_config_check_named(&cfg, RAM, names,
                                                       &err));
        g_assert_nonnull(strstr(error_get_pretty(err), cases[i].text));
        error_free(err);
    }
}

/* Check that @cfg is refused with a message holding all of @words */
static void check_refused(const BalloonAutoConfig *cfg, uint64_t ram,
                          const char *w1, const char *w2, const char *w3)
{
    BalloonAutoConfig copy = *cfg;
    Error *err = NULL;
    const char *msg;

    g_assert_false(balloon_auto_config_check(cfg, ram, &err));
    g_assert_nonnull(err);
    msg = error_get_pretty(err);
    if (g_test_verbose()) {
        g_test_message("refused: %s", msg);
    }
    g_assert_nonnull(strstr(msg, w1));
    g_assert_nonnull(strstr(msg, w2));
    if (w3) {
        g_assert_nonnull(strstr(msg, w3));
    }
    error_free(err);
    /* Changes nothing */
    g_assert_cmpmem(&copy, sizeof(copy), cfg, sizeof(*cfg));
}

static void test_config_check(void)
{
    BalloonAutoConfig cfg;
    g_autofree char *ram_bytes = g_strdup_printf("%" PRIu64, RAM * 4096);
    g_autofree char *big_bytes = g_strdup_printf("%" PRIu64,
                                                 (RAM + 1) * 4096);

    cfg = default_cfg();
    cfg.inflate_pages[BALLOON_AUTO_LEVEL_LOW] = 0;
    check_refused(&cfg, RAM, "inflate", "low", "is 0 bytes");

    cfg = default_cfg();
    cfg.inflate_pages[BALLOON_AUTO_LEVEL_MEDIUM] = 0;
    check_refused(&cfg, RAM, "inflate", "medium", "is 0 bytes");

    cfg = default_cfg();
    cfg.inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL] = RAM + 1;
    check_refused(&cfg, RAM, "inflate", "critical", big_bytes);

    /* A step of all of RAM is allowed: the floor still bounds it */
    cfg = default_cfg();
    cfg.inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL] = RAM;
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));

    cfg = default_cfg();
    cfg.inflate_pages[BALLOON_AUTO_LEVEL_LOW] = UINT64_MAX;
    check_refused(&cfg, RAM, "inflate", "low", "18446744073709551615");

    cfg = default_cfg();
    cfg.deflate_pages = 0;
    check_refused(&cfg, RAM, "deflate", "is 0 bytes", NULL);

    cfg = default_cfg();
    cfg.deflate_pages = RAM + 1;
    check_refused(&cfg, RAM, "deflate", big_bytes, NULL);

    cfg = default_cfg();
    cfg.throttle_ns = -1;
    check_refused(&cfg, RAM, "throttle", "-1 ns", NULL);

    cfg = default_cfg();
    cfg.throttle_ns = SEC(3600) + MS(1);
    check_refused(&cfg, RAM, "throttle", "3600001 ms", NULL);

    cfg = default_cfg();
    cfg.throttle_ns = 0;        /* no throttle at all is a valid choice */
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));
    cfg.throttle_ns = SEC(3600);
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));

    cfg = default_cfg();
    cfg.hysteresis_ns = -MS(5);
    check_refused(&cfg, RAM, "hysteresis", "-5 ms", NULL);

    cfg = default_cfg();
    cfg.hysteresis_ns = SEC(86400) + 1;
    check_refused(&cfg, RAM, "hysteresis", "86400000000001 ns", NULL);

    cfg = default_cfg();
    cfg.hysteresis_ns = SEC(86400);
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));

    cfg = default_cfg();
    cfg.floor_pages = RAM + 1;
    check_refused(&cfg, RAM, "floor", big_bytes, ram_bytes);

    /* A floor of all of RAM only turns host-driven inflation off */
    cfg = default_cfg();
    cfg.floor_pages = RAM;
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));

    cfg = default_cfg();
    cfg.floor_pages = UINT64_MAX;
    check_refused(&cfg, RAM, "floor", "18446744073709551615", NULL);

    cfg = default_cfg();
    cfg.floor_pages = 0;        /* no floor: the user's call */
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));

    cfg = default_cfg();
    cfg.stall_ns = 0;
    check_refused(&cfg, RAM, "stall", "0 ms", NULL);

    cfg = default_cfg();
    cfg.stall_ns = -SEC(1);
    check_refused(&cfg, RAM, "stall", "-1000 ms", NULL);

    cfg = default_cfg();
    cfg.stall_ns = SEC(3601);
    check_refused(&cfg, RAM, "stall", "3601000 ms", NULL);

    /* Defaults do not fit a guest smaller than the floor */
    cfg = default_cfg();
    check_refused(&cfg, FLOOR - 1, "floor", "bytes", NULL);

    /* Steps need not grow with the level */
    cfg = default_cfg();
    cfg.inflate_pages[BALLOON_AUTO_LEVEL_LOW] = CRITICAL;
    cfg.inflate_pages[BALLOON_AUTO_LEVEL_MEDIUM] = 1;
    cfg.inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL] = LOW;
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));
}

/* Inflate steps */

static void test_step_level(BalloonAutoLevel l, uint64_t step,
                            BalloonAutoReason reason)
{
    BalloonAutoPolicy p;
    BalloonAutoAction a;

    setup(&p);
    a = host(&p, l);
    assert_action(a, BALLOON_AUTO_INFLATE, reason, step);
    g_assert_cmpuint(balloon_auto_target(&p), ==, step);
    g_assert_cmpuint(balloon_auto_counters(&p)->inflates, ==, 1);
    g_assert_cmpuint(balloon_auto_counters(&p)->host_events[l], ==, 1);
    g_assert_cmpuint(host_events(&p), ==, 1);

    /* The next step after the throttle, once the guest caught up */
    catch_up(&p);
    now += THROTTLE;
    a = host(&p, l);
    assert_action(a, BALLOON_AUTO_INFLATE, reason, 2 * step);
}

static void test_step_low(void)
{
    test_step_level(BALLOON_AUTO_LEVEL_LOW, LOW, BALLOON_AUTO_REASON_HOST_LOW);
}

static void test_step_medium(void)
{
    test_step_level(BALLOON_AUTO_LEVEL_MEDIUM, MEDIUM,
                    BALLOON_AUTO_REASON_HOST_MEDIUM);
}

static void test_step_critical(void)
{
    test_step_level(BALLOON_AUTO_LEVEL_CRITICAL, CRITICAL,
                    BALLOON_AUTO_REASON_HOST_CRITICAL);
}

/* Throttle */

static void test_throttle_coalesce(void)
{
    BalloonAutoPolicy p;
    BalloonAutoAction a;
    BalloonAutoLevel l;

    setup(&p);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, LOW);
    catch_up(&p);
    /* Nothing outstanding, nothing pending: no deadline */
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);

    now = T0 + MS(500);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_MEDIUM), "throttled");
    now = T0 + MS(600);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_LOW), "throttled");
    g_assert_cmpuint(balloon_auto_target(&p), ==, LOW);
    g_assert_true(balloon_auto_pending(&p, &l));
    g_assert_cmpint(l, ==, BALLOON_AUTO_LEVEL_MEDIUM);
    g_assert_cmpuint(balloon_auto_counters(&p)->throttled, ==, 2);
    g_assert_cmpuint(balloon_auto_counters(&p)->inflates, ==, 1);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, T0 + THROTTLE);

    /* Early timer: nothing */
    now = T0 + THROTTLE - 1;
    assert_none(balloon_auto_timer(&p, now), "idle");
    g_assert_cmpuint(balloon_auto_target(&p), ==, LOW);

    /* One inflate at the highest level that was coalesced */
    now = T0 + THROTTLE;
    a = balloon_auto_timer(&p, now);
    assert_action(a, BALLOON_AUTO_INFLATE, BALLOON_AUTO_REASON_HOST_MEDIUM,
                  LOW + MEDIUM);
    g_assert_false(balloon_auto_pending(&p, NULL));
    g_assert_cmpuint(balloon_auto_counters(&p)->inflates, ==, 2);
    /* Now only the stall deadline of the new request is left */
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + STALL);
    assert_none(balloon_auto_timer(&p, now), "idle");
    g_assert_cmpuint(balloon_auto_counters(&p)->inflates, ==, 2);

    /* The timer's inflate restarts the throttle */
    catch_up(&p);
    now += THROTTLE - 1;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_LOW), "throttled");
    g_assert_cmpint(balloon_auto_deadline(&p), ==, T0 + 2 * THROTTLE);
}

static void test_throttle_storm(void)
{
    BalloonAutoPolicy p;
    const BalloonAutoCounters *c;
    BalloonAutoAction a;
    int i, changes = 0;

    setup(&p);
    /* 1000 events in one second, one of them critical */
    for (i = 0; i < 1000; i++) {
        now = T0 + MS(i);
        a = host(&p, i == 700 ? BALLOON_AUTO_LEVEL_CRITICAL :
                     i % 2 ? BALLOON_AUTO_LEVEL_MEDIUM :
                     BALLOON_AUTO_LEVEL_LOW);
        if (a.kind != BALLOON_AUTO_NONE) {
            changes++;
            assert_action(a, BALLOON_AUTO_INFLATE,
                          BALLOON_AUTO_REASON_HOST_LOW, LOW);
        } else {
            g_assert_cmpstr(a.why, ==, "throttled");
        }
    }
    g_assert_cmpint(changes, ==, 1);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, T0 + THROTTLE);

    /* The guest took half of it meanwhile */
    set_actual(&p, LOW / 2);
    now = T0 + THROTTLE;
    a = balloon_auto_timer(&p, now);
    /* One step past what the guest has: no pile-up */
    assert_action(a, BALLOON_AUTO_INFLATE, BALLOON_AUTO_REASON_HOST_CRITICAL,
                  LOW / 2 + CRITICAL);
    assert_none(balloon_auto_timer(&p, now), "idle");

    c = balloon_auto_counters(&p);
    g_assert_cmpuint(c->host_events[BALLOON_AUTO_LEVEL_LOW], ==, 499);
    g_assert_cmpuint(c->host_events[BALLOON_AUTO_LEVEL_MEDIUM], ==, 500);
    g_assert_cmpuint(c->host_events[BALLOON_AUTO_LEVEL_CRITICAL], ==, 1);
    g_assert_cmpuint(c->throttled, ==, 999);
    g_assert_cmpuint(c->ignored, ==, 0);
    g_assert_cmpuint(c->inflates, ==, 2);
    g_assert_false(balloon_auto_pending(&p, NULL));
}

/* A host event after the throttle, before the timer ran, serves the wait */
static void test_throttle_late_timer(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    host(&p, BALLOON_AUTO_LEVEL_LOW);
    catch_up(&p);
    now += MS(10);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "throttled");
    now = T0 + THROTTLE + MS(5);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, LOW + CRITICAL);
    g_assert_false(balloon_auto_pending(&p, NULL));
    assert_none(balloon_auto_timer(&p, now), "idle");
    g_assert_cmpuint(balloon_auto_counters(&p)->inflates, ==, 2);
}

static void test_throttle_zero(void)
{
    BalloonAutoPolicy p;
    BalloonAutoConfig cfg = default_cfg();
    int i;

    cfg.throttle_ns = 0;
    setup(&p);
    balloon_auto_set_config(&p, &cfg);
    for (i = 1; i <= 5; i++) {
        assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                      BALLOON_AUTO_REASON_HOST_LOW, i * LOW);
        catch_up(&p);
    }
    g_assert_cmpuint(balloon_auto_counters(&p)->throttled, ==, 0);
}

/* Guest pressure */

static void test_cancel(void)
{
    BalloonAutoPolicy p;
    BalloonAutoAction a;
    const BalloonAutoCounters *c;

    setup(&p);
    host(&p, BALLOON_AUTO_LEVEL_CRITICAL);
    set_actual(&p, 1000);
    now += MS(100);
    a = guest(&p);
    assert_action(a, BALLOON_AUTO_CANCEL, BALLOON_AUTO_REASON_GUEST_MESSAGE,
                  1000);
    g_assert_cmpuint(balloon_auto_target(&p), ==, 1000);
    c = balloon_auto_counters(&p);
    g_assert_cmpuint(c->cancels, ==, 1);
    g_assert_cmpuint(c->deflates, ==, 0);
    g_assert_cmpuint(c->guest_pressure[BALLOON_AUTO_GUEST_MESSAGE], ==, 1);
    g_assert_true(balloon_auto_guest_window_open(&p, now));
    g_assert_cmpint(balloon_auto_guest_window_end(&p), ==, now + HYSTERESIS);
    /* Nothing outstanding any more: no stall to watch for */
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);

    /* Cancelled, the next pressure deflates */
    a = balloon_auto_guest_pressure(&p, BALLOON_AUTO_GUEST_STATS, now);
    assert_action(a, BALLOON_AUTO_DEFLATE, BALLOON_AUTO_REASON_GUEST_STATS,
                  0);
    g_assert_cmpuint(c->guest_pressure[BALLOON_AUTO_GUEST_STATS], ==, 1);
}

static void test_deflate(void)
{
    BalloonAutoPolicy p;
    BalloonAutoAction a;

    setup(&p);
    balloon_auto_sync(&p, DEFLATE + 100, DEFLATE + 100, now);
    a = balloon_auto_guest_pressure(&p, BALLOON_AUTO_GUEST_STATS, now);
    assert_action(a, BALLOON_AUTO_DEFLATE, BALLOON_AUTO_REASON_GUEST_STATS,
                  100);
    /* The guest has not deflated yet: target < actual is no inflate */
    a = guest(&p);
    assert_action(a, BALLOON_AUTO_DEFLATE, BALLOON_AUTO_REASON_GUEST_MESSAGE,
                  0);
    g_assert_cmpuint(balloon_auto_counters(&p)->deflates, ==, 2);
    g_assert_cmpuint(balloon_auto_counters(&p)->cancels, ==, 0);
    /* The guest deflating toward the target is progress, not pressure */
    assert_none(set_actual(&p, 50), "progress");
    g_assert_cmpuint(balloon_auto_counters(&p)->guest_deflates, ==, 0);
}

static void test_deflate_at_zero(void)
{
    BalloonAutoPolicy p;
    BalloonAutoAction a;

    setup(&p);
    g_assert_cmpint(balloon_auto_guest_window_end(&p), ==, 0);
    a = guest(&p);
    assert_none(a, "empty");
    g_assert_cmpuint(a.target, ==, 0);
    g_assert_cmpuint(balloon_auto_counters(&p)->deflates, ==, 0);
    g_assert_cmpuint(
        balloon_auto_counters(&p)->guest_pressure[BALLOON_AUTO_GUEST_MESSAGE],
        ==, 1);
    /* The window opens all the same */
    g_assert_true(balloon_auto_guest_window_open(&p, now));
    g_assert_cmpint(balloon_auto_guest_window_end(&p), ==, now + HYSTERESIS);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "guest-window");
}

static void test_guest_drops_pending(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    host(&p, BALLOON_AUTO_LEVEL_LOW);
    catch_up(&p);
    now += MS(10);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "throttled");
    g_assert_true(balloon_auto_pending(&p, NULL));
    guest(&p);
    g_assert_false(balloon_auto_pending(&p, NULL));
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    now = T0 + THROTTLE;
    assert_none(balloon_auto_timer(&p, now), "idle");
    /* LOW < DEFLATE: the deflate emptied the balloon */
    g_assert_cmpuint(balloon_auto_target(&p), ==, 0);
}

static void test_hysteresis(void)
{
    BalloonAutoPolicy p;
    const BalloonAutoCounters *c;
    int64_t opened;

    setup(&p);
    c = balloon_auto_counters(&p);
    guest(&p);
    opened = now;
    now = opened + 1;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "guest-window");
    now = opened + SEC(30);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_LOW), "guest-window");
    now = opened + HYSTERESIS - 1;
    g_assert_true(balloon_auto_guest_window_open(&p, now));
    assert_none(host(&p, BALLOON_AUTO_LEVEL_MEDIUM), "guest-window");
    g_assert_cmpuint(c->ignored, ==, 3);
    g_assert_cmpuint(c->throttled, ==, 0);
    g_assert_cmpuint(balloon_auto_target(&p), ==, 0);
    /* Ignored events are not kept for later */
    g_assert_false(balloon_auto_pending(&p, NULL));
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);

    /* Expiry re-enables host pressure */
    now = opened + HYSTERESIS;
    g_assert_false(balloon_auto_guest_window_open(&p, now));
    g_assert_cmpint(balloon_auto_guest_window_end(&p), ==,
                    opened + HYSTERESIS);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_MEDIUM), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_MEDIUM, MEDIUM);

    /* Fresh pressure extends the window from its own time */
    catch_up(&p);
    now += SEC(10);
    guest(&p);
    g_assert_cmpint(balloon_auto_guest_window_end(&p), ==, now + HYSTERESIS);
}

/* Floor */

static void test_floor_never_below(void)
{
    BalloonAutoPolicy p;
    BalloonAutoAction a;
    int i;

    setup(&p);
    for (i = 0; i < 20; i++) {
        a = host(&p, BALLOON_AUTO_LEVEL_CRITICAL);
        g_assert_cmpuint(RAM - balloon_auto_target(&p), >=, FLOOR);
        catch_up(&p);
        now += THROTTLE;
    }
    g_assert_cmpuint(balloon_auto_target(&p), ==, LIMIT);
    assert_none(a, "floor");
    /* LIMIT / CRITICAL = 6 steps exactly */
    g_assert_cmpuint(balloon_auto_counters(&p)->inflates, ==, LIMIT / CRITICAL);
    g_assert_cmpuint(balloon_auto_counters(&p)->ignored, ==,
                     20 - LIMIT / CRITICAL);
}

static void test_floor_boundary(void)
{
    BalloonAutoPolicy p;

    /* One step short of the limit: the step lands exactly on it */
    setup(&p);
    balloon_auto_sync(&p, LIMIT - LOW, LIMIT - LOW, now);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, LIMIT);
    catch_up(&p);
    now += THROTTLE;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_LOW), "floor");
    g_assert_cmpuint(RAM - balloon_auto_target(&p), ==, FLOOR);

    /* Less than a step left: clamped to the limit */
    setup(&p);
    balloon_auto_sync(&p, LIMIT - 1, LIMIT - 1, now);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, LIMIT);

    /* Already below the floor (a manual balloon did it): never further */
    setup(&p);
    balloon_auto_sync(&p, LIMIT + 10, LIMIT + 10, now);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "floor");
    g_assert_cmpuint(balloon_auto_target(&p), ==, LIMIT + 10);
}

static void test_floor_above_ram(void)
{
    BalloonAutoPolicy p;
    BalloonAutoConfig cfg = default_cfg();
    uint64_t floors[] = { RAM, RAM + 1, UINT64_MAX };
    int i;

    /* The one floor >= RAM that config_check lets through */
    cfg.floor_pages = RAM;
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));

    for (i = 0; i < ARRAY_SIZE(floors); i++) {
        setup(&p);
        cfg.floor_pages = floors[i];
        balloon_auto_set_config(&p, &cfg);
        assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "floor");
        g_assert_cmpuint(balloon_auto_target(&p), ==, 0);
        g_assert_cmpuint(balloon_auto_counters(&p)->ignored, ==, 1);
    }
}

/* No pile-up */

static void test_no_pile_up(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    host(&p, BALLOON_AUTO_LEVEL_MEDIUM);
    /* The guest did nothing: the request may not grow */
    now += THROTTLE;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_MEDIUM), "pile-up");
    assert_none(host(&p, BALLOON_AUTO_LEVEL_LOW), "pile-up");
    g_assert_cmpuint(balloon_auto_target(&p), ==, MEDIUM);
    g_assert_cmpuint(balloon_auto_counters(&p)->ignored, ==, 2);
    /* A bigger level still gets one of its steps past actual */
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, CRITICAL);
    /* Partial progress: one step past what the guest has */
    set_actual(&p, 1000);
    now += THROTTLE;
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, 1000 + CRITICAL);
    /* The RFC's 10 events in a row: still one step outstanding */
    now += THROTTLE;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "pile-up");
}

static uint64_t max_step(const BalloonAutoConfig *cfg)
{
    return MAX(cfg->inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL],
               MAX(cfg->inflate_pages[BALLOON_AUTO_LEVEL_MEDIUM],
                   cfg->inflate_pages[BALLOON_AUTO_LEVEL_LOW]));
}

/*
 * Property check over random sequences: host inflates never leave more
 * than one step outstanding nor shrink the guest below its floor, only
 * INFLATE raises the target, and every host event is counted once.
 */
static void test_no_pile_up_random(void)
{
    BalloonAutoPolicy p;
    BalloonAutoConfig cfg;
    int run, i;

    for (run = 0; run < 20; run++) {
        uint64_t immediate = 0, timer_inflates = 0, step;
        const BalloonAutoCounters *c;

        cfg = default_cfg();
        cfg.inflate_pages[BALLOON_AUTO_LEVEL_LOW] =
            g_test_rand_int_range(1, 4096);
        cfg.inflate_pages[BALLOON_AUTO_LEVEL_MEDIUM] =
            g_test_rand_int_range(1, 16384);
        cfg.inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL] =
            g_test_rand_int_range(1, 65536);
        cfg.floor_pages = g_test_rand_int_range(0, RAM);
        cfg.throttle_ns = MS(g_test_rand_int_range(0, 2000));
        cfg.hysteresis_ns = MS(g_test_rand_int_range(0, 10000));
        cfg.stall_ns = MS(g_test_rand_int_range(1, 20000));
        g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));
        step = max_step(&cfg);
        now = T0;
        balloon_auto_init(&p, &cfg, RAM, now);
        c = balloon_auto_counters(&p);

        for (i = 0; i < 5000; i++) {
            uint64_t before = balloon_auto_target(&p);
            uint64_t target, actual;
            BalloonAutoAction a;
            int op = g_test_rand_int_range(0, 100);

            if (op < 40) {
                a = host(&p, g_test_rand_int_range(0,
                                                   BALLOON_AUTO_LEVEL__MAX));
                if (a.kind == BALLOON_AUTO_INFLATE) {
                    immediate++;
                }
            } else if (op < 55) {
                now += MS(g_test_rand_int_range(0, 3000));
                a = (BalloonAutoAction) {
                    .kind = BALLOON_AUTO_NONE, .target = before, .why = "",
                };
            } else if (op < 65) {
                now = MAX(now, balloon_auto_deadline(&p) == INT64_MAX ?
                               now : balloon_auto_deadline(&p));
                a = balloon_auto_timer(&p, now);
                if (a.kind == BALLOON_AUTO_INFLATE) {
                    timer_inflates++;
                }
            } else if (op < 88) {
                /* The guest moves part of the way toward the target */
                target = balloon_auto_target(&p);
                actual = balloon_auto_actual(&p);
                if (target > actual) {
                    actual += g_test_rand_int_range(0, target - actual + 1);
                } else {
                    actual -= g_test_rand_int_range(0, actual - target + 1);
                }
                a = set_actual(&p, actual);
            } else if (op < 91) {
                a = balloon_auto_guest_pressure(&p,
                        g_test_rand_int_range(0,
                                              BALLOON_AUTO_GUEST_SOURCE__MAX),
                        now);
            } else if (op < 99) {
                /* Anything a guest may write, hostile values included */
                a = set_actual(&p, g_test_rand_int_range(0, RAM + 100));
            } else {
                a = set_actual(&p, UINT64_MAX - g_test_rand_int_range(0, 9));
            }

            target = balloon_auto_target(&p);
            actual = balloon_auto_actual(&p);
            g_assert_cmpuint(a.target, ==, target);
            g_assert_nonnull(a.why);
            if (target > actual) {
                g_assert_cmpuint(target - actual, <=, step);
            }
            g_assert_cmpuint(actual, <=, RAM);
            g_assert_cmpuint(target, <=, RAM - cfg.floor_pages);
            if (a.kind == BALLOON_AUTO_INFLATE) {
                g_assert_cmpuint(target, >, before);
            } else {
                g_assert_cmpuint(target, <=, before);
            }
            if (a.kind == BALLOON_AUTO_STALL) {
                g_assert_true(balloon_auto_stalled(&p));
            }
            g_assert_cmpuint(host_events(&p), ==,
                             immediate + c->throttled + c->ignored);
            g_assert_cmpuint(c->inflates, ==, immediate + timer_inflates);
            g_assert_cmpint(balloon_auto_deadline(&p), >=, T0);
        }
    }
}

/* Stall */

static void test_stall_once(void)
{
    BalloonAutoPolicy p;
    BalloonAutoAction a;
    int64_t inflated = T0;

    setup(&p);
    host(&p, BALLOON_AUTO_LEVEL_CRITICAL);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, inflated + STALL);

    now = inflated + STALL - 1;
    assert_none(balloon_auto_timer(&p, now), "idle");
    g_assert_false(balloon_auto_stalled(&p));

    now = inflated + STALL;
    a = balloon_auto_timer(&p, now);
    assert_action(a, BALLOON_AUTO_STALL, BALLOON_AUTO_REASON_GUEST_STALLED,
                  CRITICAL);
    g_assert_true(balloon_auto_stalled(&p));
    g_assert_cmpuint(balloon_auto_counters(&p)->stalls, ==, 1);
    /* Reported once */
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    assert_none(balloon_auto_timer(&p, now + SEC(100)), "idle");
    g_assert_cmpuint(balloon_auto_counters(&p)->stalls, ==, 1);

    /* Host events are ignored, never coalesced for later */
    now += SEC(100);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "stalled");
    assert_none(host(&p, BALLOON_AUTO_LEVEL_LOW), "stalled");
    g_assert_false(balloon_auto_pending(&p, NULL));
    g_assert_cmpuint(balloon_auto_counters(&p)->ignored, ==, 2);
    g_assert_cmpuint(balloon_auto_target(&p), ==, CRITICAL);

    /* The same value again is no progress */
    assert_none(set_actual(&p, 0), "no-progress");
    g_assert_true(balloon_auto_stalled(&p));

    /* Progress clears it */
    assert_none(set_actual(&p, 100), "progress");
    g_assert_false(balloon_auto_stalled(&p));
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + STALL);
    /* ... and host pressure works again */
    catch_up(&p);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, CRITICAL + LOW);
}

static void test_stall_on_event(void)
{
    BalloonAutoPolicy p;
    BalloonAutoAction a;

    setup(&p);
    host(&p, BALLOON_AUTO_LEVEL_MEDIUM);
    /* The device's timer did not run; a host event finds it first */
    now = T0 + STALL + SEC(1);
    a = host(&p, BALLOON_AUTO_LEVEL_CRITICAL);
    assert_action(a, BALLOON_AUTO_STALL, BALLOON_AUTO_REASON_GUEST_STALLED,
                  MEDIUM);
    g_assert_cmpuint(balloon_auto_counters(&p)->stalls, ==, 1);
    g_assert_cmpuint(balloon_auto_counters(&p)->ignored, ==, 1);
    assert_none(balloon_auto_timer(&p, now), "idle");
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "stalled");
    g_assert_cmpuint(balloon_auto_counters(&p)->stalls, ==, 1);
}

static void test_stall_progress_postpones(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    host(&p, BALLOON_AUTO_LEVEL_CRITICAL);
    now = T0 + SEC(20);
    assert_none(set_actual(&p, 10), "progress");
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + STALL);
    now = T0 + STALL;
    assert_none(balloon_auto_timer(&p, now), "idle");
    g_assert_false(balloon_auto_stalled(&p));

    /* A later inflate restarts the clock from the inflate */
    now = T0 + SEC(25);
    catch_up(&p);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, CRITICAL + LOW);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + STALL);
}

static void test_stall_cleared_by_guest(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    host(&p, BALLOON_AUTO_LEVEL_LOW);
    now += STALL;
    balloon_auto_timer(&p, now);
    g_assert_true(balloon_auto_stalled(&p));
    assert_action(guest(&p), BALLOON_AUTO_CANCEL,
                  BALLOON_AUTO_REASON_GUEST_MESSAGE, 0);
    g_assert_false(balloon_auto_stalled(&p));
    now += HYSTERESIS;
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, LOW);
}

/* A pending coalesced inflate is dropped, not served, once stalled */
static void test_stall_drops_pending(void)
{
    BalloonAutoPolicy p;
    BalloonAutoConfig cfg = default_cfg();

    cfg.throttle_ns = SEC(60);
    setup(&p);
    balloon_auto_set_config(&p, &cfg);
    host(&p, BALLOON_AUTO_LEVEL_LOW);
    now += SEC(1);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "throttled");
    g_assert_cmpint(balloon_auto_deadline(&p), ==, T0 + STALL);
    now = T0 + STALL;
    assert_action(balloon_auto_timer(&p, now), BALLOON_AUTO_STALL,
                  BALLOON_AUTO_REASON_GUEST_STALLED, LOW);
    g_assert_false(balloon_auto_pending(&p, NULL));
    now = T0 + SEC(60);
    assert_none(balloon_auto_timer(&p, now), "idle");
    g_assert_cmpuint(balloon_auto_target(&p), ==, LOW);
}

/* Guest progress and hostile values */

static void test_guest_initiated_deflate(void)
{
    BalloonAutoPolicy p;
    BalloonAutoAction a;
    const BalloonAutoCounters *c;

    setup(&p);
    c = balloon_auto_counters(&p);
    host(&p, BALLOON_AUTO_LEVEL_CRITICAL);
    catch_up(&p);
    now += THROTTLE / 2;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_LOW), "throttled");
    now += SEC(5);
    g_assert_true(balloon_auto_pending(&p, NULL));

    /* deflate-on-oom: the guest took 100 pages back on its own */
    a = set_actual(&p, CRITICAL - 100);
    assert_action(a, BALLOON_AUTO_DEFLATE, BALLOON_AUTO_REASON_GUEST_DEFLATE,
                  CRITICAL - 100);
    g_assert_cmpuint(c->guest_deflates, ==, 1);
    g_assert_cmpuint(c->deflates, ==, 0);
    g_assert_true(balloon_auto_guest_window_open(&p, now));
    g_assert_cmpint(balloon_auto_guest_window_end(&p), ==, now + HYSTERESIS);
    g_assert_false(balloon_auto_pending(&p, NULL));
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "guest-window");

    /* Rising toward the target is progress, not a deflate */
    balloon_auto_sync(&p, 5000, 1000, now);
    assert_none(set_actual(&p, 3000), "progress");
    /* Falling while still at or above the target: no guest pressure */
    balloon_auto_sync(&p, 1000, 3000, now);
    assert_none(set_actual(&p, 1000), "progress");
    g_assert_cmpuint(c->guest_deflates, ==, 1);
    /* Past the target on the way down is */
    balloon_auto_sync(&p, 1000, 3000, now);
    assert_action(set_actual(&p, 900), BALLOON_AUTO_DEFLATE,
                  BALLOON_AUTO_REASON_GUEST_DEFLATE, 900);
    g_assert_cmpuint(c->guest_deflates, ==, 2);
}

static void test_hostile_actual(void)
{
    BalloonAutoPolicy p;
    uint64_t bad[] = { RAM + 1, RAM * 2, UINT32_MAX, UINT64_MAX };
    int i;

    setup(&p);
    host(&p, BALLOON_AUTO_LEVEL_MEDIUM);
    set_actual(&p, 100);
    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_none(set_actual(&p, bad[i]), "hostile-actual");
        g_assert_cmpuint(balloon_auto_actual(&p), ==, 100);
        g_assert_cmpuint(balloon_auto_target(&p), ==, MEDIUM);
    }
    g_assert_cmpuint(balloon_auto_counters(&p)->guest_deflates, ==, 0);
    g_assert_false(balloon_auto_guest_window_open(&p, now));
    /* All of RAM is a legal, if odd, value */
    assert_none(set_actual(&p, RAM), "no-progress");
    g_assert_cmpuint(balloon_auto_actual(&p), ==, RAM);
}

/* State */

static void assert_clean(BalloonAutoPolicy *p)
{
    g_assert_cmpuint(balloon_auto_target(p), ==, 0);
    g_assert_cmpuint(balloon_auto_actual(p), ==, 0);
    g_assert_false(balloon_auto_guest_window_open(p, now));
    g_assert_cmpint(balloon_auto_guest_window_end(p), ==, 0);
    g_assert_false(balloon_auto_stalled(p));
    g_assert_false(balloon_auto_pending(p, NULL));
    g_assert_cmpint(balloon_auto_deadline(p), ==, INT64_MAX);
}

static void test_reset(void)
{
    BalloonAutoPolicy p;
    BalloonAutoCounters before;

    /* Inflate in flight and a coalesced event pending */
    setup(&p);
    host(&p, BALLOON_AUTO_LEVEL_MEDIUM);
    set_actual(&p, 10);
    now += MS(1);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_LOW), "throttled");
    before = *balloon_auto_counters(&p);
    now += MS(1);
    balloon_auto_reset(&p, now);
    assert_clean(&p);
    g_assert_cmpmem(&before, sizeof(before), balloon_auto_counters(&p),
                    sizeof(before));
    /* No throttle left over from before the reset */
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, LOW);

    /* Stalled, then a guest-pressure window */
    now += STALL;
    assert_action(balloon_auto_timer(&p, now), BALLOON_AUTO_STALL,
                  BALLOON_AUTO_REASON_GUEST_STALLED, LOW);
    balloon_auto_reset(&p, now);
    assert_clean(&p);
    host(&p, BALLOON_AUTO_LEVEL_LOW);
    guest(&p);
    g_assert_true(balloon_auto_guest_window_open(&p, now));
    before = *balloon_auto_counters(&p);
    balloon_auto_reset(&p, now);
    assert_clean(&p);
    /* Counters kept */
    g_assert_cmpmem(&before, sizeof(before), balloon_auto_counters(&p),
                    sizeof(before));
    g_assert_cmpuint(before.inflates, ==, 3);
    g_assert_cmpuint(before.throttled, ==, 1);
    g_assert_cmpuint(before.stalls, ==, 1);
    g_assert_cmpuint(before.cancels, ==, 1);
    /* The window is gone with the reset */
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, LOW);
}

static void test_sync(void)
{
    BalloonAutoPolicy p;
    BalloonAutoCounters zero = { 0 };

    setup(&p);
    now += SEC(7);
    balloon_auto_sync(&p, 5000, 2000, now);
    g_assert_cmpuint(balloon_auto_target(&p), ==, 5000);
    g_assert_cmpuint(balloon_auto_actual(&p), ==, 2000);
    g_assert_cmpmem(&zero, sizeof(zero), balloon_auto_counters(&p),
                    sizeof(zero));
    /* The inherited request gets a full stall period from now */
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + STALL);
    /* Policy rules apply to the adopted values */
    assert_none(host(&p, BALLOON_AUTO_LEVEL_LOW), "pile-up");
    assert_action(host(&p, BALLOON_AUTO_LEVEL_MEDIUM), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_MEDIUM, 2000 + MEDIUM);
    assert_action(guest(&p), BALLOON_AUTO_CANCEL,
                  BALLOON_AUTO_REASON_GUEST_MESSAGE, 2000);

    /* Out-of-bounds values are clamped to RAM */
    balloon_auto_sync(&p, UINT64_MAX, RAM + 5, now);
    g_assert_cmpuint(balloon_auto_target(&p), ==, RAM);
    g_assert_cmpuint(balloon_auto_actual(&p), ==, RAM);
}

/*
 * Guest RAM changes (DIMMs): the floor bound follows the new size, and
 * target and actual stay within it.
 */
static void test_ram_pages(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    balloon_auto_sync(&p, LIMIT, LIMIT, now);
    now += SEC(2);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "floor");
    /* A DIMM as large as the boot RAM: the guest can give more */
    balloon_auto_set_ram_pages(&p, 2 * RAM);
    g_assert_cmpuint(balloon_auto_ram_pages(&p), ==, 2 * RAM);
    g_assert_cmpuint(balloon_auto_target(&p), ==, LIMIT);
    now += SEC(2);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, LIMIT + CRITICAL);
    /* Unplugged again, and smaller than the balloon: clamped */
    balloon_auto_set_ram_pages(&p, RAM / 2);
    g_assert_cmpuint(balloon_auto_target(&p), ==, RAM / 2);
    g_assert_cmpuint(balloon_auto_actual(&p), ==, RAM / 2);
    now += SEC(2);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "floor");
}

/*
 * RAM that shrinks under the balloon: a target above RAM less the floor
 * deflates to it once, the next step after the shrink; growing RAM, or a
 * target that still fits, changes nothing.
 */
static void test_ram_floor(void)
{
    BalloonAutoPolicy p;
    const BalloonAutoCounters *c;
    BalloonAutoConfig cfg;

    setup(&p);
    c = balloon_auto_counters(&p);
    /* No change of RAM, nothing to do */
    assert_none(balloon_auto_ram_floor(&p), "ram-kept");
    /* A DIMM as large as the boot RAM, inflated to its floor... */
    balloon_auto_set_ram_pages(&p, 2 * RAM);
    assert_none(balloon_auto_ram_floor(&p), "ram-kept");
    balloon_auto_sync(&p, 2 * RAM - FLOOR, 2 * RAM - FLOOR, now);
    /* ... then unplugged: the balloon would hold all but the floor... */
    balloon_auto_set_ram_pages(&p, RAM);
    g_assert_cmpuint(balloon_auto_target(&p), ==, RAM);
    /* ... the device's timer is due at once, and migrates so... */
    g_assert_cmpint(balloon_auto_deadline(&p), ==, 0);
    {
        BalloonAutoPolicy q;
        BalloonAutoTiming t;

        setup(&q);
        balloon_auto_get_timing(&p, &t);
        g_assert_true(t.ram_shrunk);
        balloon_auto_set_ram_pages(&q, RAM);
        balloon_auto_sync(&q, RAM, RAM, now);
        balloon_auto_set_timing(&q, &t);
        assert_action(balloon_auto_ram_floor(&q), BALLOON_AUTO_DEFLATE,
                      BALLOON_AUTO_REASON_RAM_UNPLUGGED, RAM - FLOOR);
    }
    /* ... and the next step gives back what the floor needs, once */
    assert_action(balloon_auto_ram_floor(&p), BALLOON_AUTO_DEFLATE,
                  BALLOON_AUTO_REASON_RAM_UNPLUGGED, RAM - FLOOR);
    g_assert_cmpuint(balloon_auto_target(&p), ==, RAM - FLOOR);
    g_assert_cmpuint(c->ram_deflates, ==, 1);
    g_assert_cmpuint(c->deflates, ==, 0);
    assert_none(balloon_auto_ram_floor(&p), "ram-kept");
    g_assert_cmpint(balloon_auto_deadline(&p), >, 0);
    /* Host pressure then keeps the floor as before */
    now += SEC(2);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "floor");

    /* A shrink the target still fits: nothing */
    balloon_auto_set_ram_pages(&p, 2 * RAM);
    balloon_auto_sync(&p, LOW, LOW, now);
    balloon_auto_set_ram_pages(&p, RAM);
    assert_none(balloon_auto_ram_floor(&p), "ram-kept");
    g_assert_cmpuint(balloon_auto_target(&p), ==, LOW);
    g_assert_cmpuint(c->ram_deflates, ==, 1);

    /*
     * A floor the unplug left above RAM is clamped to RAM by the device
     * (balloon_auto_set_config()): the balloon empties
     */
    balloon_auto_set_ram_pages(&p, 2 * RAM);
    cfg = default_cfg();
    cfg.floor_pages = RAM + FLOOR;
    balloon_auto_set_config(&p, &cfg);
    balloon_auto_sync(&p, RAM - FLOOR, RAM - FLOOR, now);
    balloon_auto_set_ram_pages(&p, RAM);
    cfg.floor_pages = RAM;
    balloon_auto_set_config(&p, &cfg);
    assert_action(balloon_auto_ram_floor(&p), BALLOON_AUTO_DEFLATE,
                  BALLOON_AUTO_REASON_RAM_UNPLUGGED, 0);
    g_assert_cmpuint(c->ram_deflates, ==, 2);

    /*
     * A balloon adopted (switched on) or a reset after the shrink is
     * sized against the RAM it meets: nothing is given back for it
     */
    balloon_auto_set_ram_pages(&p, 2 * RAM);
    balloon_auto_sync(&p, RAM, RAM, now);
    balloon_auto_set_ram_pages(&p, RAM);
    balloon_auto_sync(&p, RAM, RAM, now);
    assert_none(balloon_auto_ram_floor(&p), "ram-kept");
    balloon_auto_set_ram_pages(&p, 2 * RAM);
    balloon_auto_set_ram_pages(&p, RAM);
    balloon_auto_reset(&p, now);
    assert_none(balloon_auto_ram_floor(&p), "ram-kept");
    g_assert_cmpuint(c->ram_deflates, ==, 2);
}

/* Field by field: the struct has padding */
static void assert_timing_eq(const BalloonAutoTiming *a,
                             const BalloonAutoTiming *b)
{
    g_assert_cmpint(a->window_end, ==, b->window_end);
    g_assert_cmpint(a->last_inflate, ==, b->last_inflate);
    g_assert_cmpint(a->last_progress, ==, b->last_progress);
    g_assert_cmpint(a->stalled, ==, b->stalled);
}

static void test_timing_round_trip(void)
{
    BalloonAutoPolicy src, dst;
    BalloonAutoConfig cfg = default_cfg();
    BalloonAutoTiming t, t2;
    BalloonAutoTiming cases[] = {
        { .window_end = 0, .last_inflate = INT64_MIN,
          .last_progress = 5, .stalled = false },
        { .window_end = SEC(99), .last_inflate = SEC(50),
          .last_progress = SEC(51), .stalled = true },
    };
    int i;

    /* A live policy: inflate, partial progress, guest pressure */
    setup(&src);
    host(&src, BALLOON_AUTO_LEVEL_CRITICAL);
    now += SEC(2);
    set_actual(&src, 500);
    now += SEC(3);
    balloon_auto_guest_pressure(&src, BALLOON_AUTO_GUEST_STATS, now);
    now += SEC(70);
    host(&src, BALLOON_AUTO_LEVEL_LOW);
    balloon_auto_get_timing(&src, &t);
    g_assert_cmpint(t.window_end, ==, T0 + SEC(5) + HYSTERESIS);
    g_assert_cmpint(t.last_inflate, ==, now);
    g_assert_cmpint(t.last_progress, ==, T0 + SEC(2));
    g_assert_false(t.stalled);

    /* The destination: sync, then the timing */
    balloon_auto_init(&dst, &cfg, RAM, now);
    balloon_auto_sync(&dst, balloon_auto_target(&src),
                      balloon_auto_actual(&src), now);
    balloon_auto_set_timing(&dst, &t);
    balloon_auto_get_timing(&dst, &t2);
    assert_timing_eq(&t, &t2);
    g_assert_cmpint(balloon_auto_deadline(&dst), ==,
                    balloon_auto_deadline(&src));
    g_assert_cmpint(balloon_auto_guest_window_end(&dst), ==,
                    balloon_auto_guest_window_end(&src));
    /* The throttle carried over */
    now += MS(10);
    assert_none(host(&dst, BALLOON_AUTO_LEVEL_LOW), "throttled");

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        balloon_auto_init(&dst, &cfg, RAM, T0);
        balloon_auto_set_timing(&dst, &cases[i]);
        balloon_auto_get_timing(&dst, &t2);
        assert_timing_eq(&cases[i], &t2);
        g_assert_cmpint(balloon_auto_stalled(&dst), ==, cases[i].stalled);
    }
    /*
     * Timing set under a pending coalesced event: the timer re-checks the
     * window and the stall when it serves it.
     */
    for (i = 0; i < 2; i++) {
        BalloonAutoTiming tt;

        balloon_auto_init(&dst, &cfg, RAM, T0);
        now = T0;
        host(&dst, BALLOON_AUTO_LEVEL_LOW);
        catch_up(&dst);
        now += MS(1);
        assert_none(host(&dst, BALLOON_AUTO_LEVEL_LOW), "throttled");
        balloon_auto_get_timing(&dst, &tt);
        if (i) {
            tt.stalled = true;
        } else {
            tt.window_end = T0 + SEC(10);
        }
        balloon_auto_set_timing(&dst, &tt);
        g_assert_true(balloon_auto_pending(&dst, NULL));
        now = T0 + THROTTLE;
        assert_none(balloon_auto_timer(&dst, now),
                    i ? "stalled" : "guest-window");
        g_assert_false(balloon_auto_pending(&dst, NULL));
        g_assert_cmpuint(balloon_auto_target(&dst), ==, LOW);
    }

    /* A migrated window still moves with a later set_config */
    balloon_auto_init(&dst, &cfg, RAM, T0);
    balloon_auto_set_timing(&dst, &cases[1]);
    cfg.hysteresis_ns = SEC(10);
    balloon_auto_set_config(&dst, &cfg);
    g_assert_cmpint(balloon_auto_guest_window_end(&dst), ==,
                    SEC(99) - HYSTERESIS + SEC(10));
}

static void test_set_config_runtime(void)
{
    BalloonAutoPolicy p;
    BalloonAutoConfig cfg = default_cfg();
    int64_t opened;

    /* The window is measured from when it opened */
    setup(&p);
    guest(&p);
    opened = now;
    now += SEC(5);
    cfg.hysteresis_ns = SEC(10);
    balloon_auto_set_config(&p, &cfg);
    g_assert_cmpint(balloon_auto_guest_window_end(&p), ==, opened + SEC(10));
    now = opened + SEC(10) - 1;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_LOW), "guest-window");
    now = opened + SEC(10);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, LOW);
    /* Shrinking it below the time elapsed closes it at once */
    guest(&p);
    opened = now;
    now += SEC(3);
    g_assert_true(balloon_auto_guest_window_open(&p, now));
    cfg.hysteresis_ns = SEC(2);
    balloon_auto_set_config(&p, &cfg);
    g_assert_false(balloon_auto_guest_window_open(&p, now));

    /* Throttle and steps apply at once */
    setup(&p);
    cfg = default_cfg();
    host(&p, BALLOON_AUTO_LEVEL_LOW);
    catch_up(&p);
    cfg.throttle_ns = SEC(5);
    cfg.inflate_pages[BALLOON_AUTO_LEVEL_MEDIUM] = 3;
    balloon_auto_set_config(&p, &cfg);
    now = T0 + SEC(2);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_MEDIUM), "throttled");
    g_assert_cmpint(balloon_auto_deadline(&p), ==, T0 + SEC(5));
    now = T0 + SEC(5);
    assert_action(balloon_auto_timer(&p, now), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_MEDIUM, LOW + 3);

    /* Stall period too */
    cfg.stall_ns = SEC(1);
    balloon_auto_set_config(&p, &cfg);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + SEC(1));

    /* A higher floor stops inflating */
    catch_up(&p);
    cfg.floor_pages = RAM - LOW;
    balloon_auto_set_config(&p, &cfg);
    now += SEC(5);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "floor");
}

/* Huge values: saturate, never wrap */
static void test_overflow(void)
{
    BalloonAutoPolicy p;
    BalloonAutoConfig cfg = default_cfg();
    uint64_t ram = UINT64_MAX - 1;
    int64_t t;

    cfg.inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL] = UINT64_MAX;
    cfg.floor_pages = 10;
    cfg.throttle_ns = INT64_MAX;
    cfg.hysteresis_ns = INT64_MAX;
    cfg.stall_ns = INT64_MAX;
    t = INT64_MAX - 100;
    balloon_auto_init(&p, &cfg, ram, t);
    balloon_auto_sync(&p, ram - 20, ram - 20, t);
    assert_action(balloon_auto_host_event(&p, BALLOON_AUTO_LEVEL_CRITICAL, t),
                  BALLOON_AUTO_INFLATE, BALLOON_AUTO_REASON_HOST_CRITICAL,
                  ram - 10);
    /* Deadlines saturate at "never" instead of wrapping into the past */
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    assert_none(balloon_auto_host_event(&p, BALLOON_AUTO_LEVEL_LOW,
                                        INT64_MAX - 1), "throttled");
    g_assert_true(balloon_auto_pending(&p, NULL));
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    assert_none(balloon_auto_timer(&p, INT64_MAX), "idle");
    g_assert_false(balloon_auto_stalled(&p));

    balloon_auto_guest_pressure(&p, BALLOON_AUTO_GUEST_MESSAGE, t);
    g_assert_cmpint(balloon_auto_guest_window_end(&p), ==, INT64_MAX);
    g_assert_true(balloon_auto_guest_window_open(&p, INT64_MAX - 1));

    /* Huge steps near the floor with a normal clock */
    cfg = default_cfg();
    cfg.inflate_pages[BALLOON_AUTO_LEVEL_LOW] = UINT64_MAX;
    cfg.deflate_pages = UINT64_MAX;
    balloon_auto_init(&p, &cfg, RAM, T0);
    balloon_auto_sync(&p, 7, 7, T0);
    assert_action(balloon_auto_host_event(&p, BALLOON_AUTO_LEVEL_LOW, T0),
                  BALLOON_AUTO_INFLATE, BALLOON_AUTO_REASON_HOST_LOW, LIMIT);
    balloon_auto_actual_changed(&p, LIMIT, T0);
    assert_action(balloon_auto_guest_pressure(&p, BALLOON_AUTO_GUEST_STATS,
                                              T0),
                  BALLOON_AUTO_DEFLATE, BALLOON_AUTO_REASON_GUEST_STATS, 0);

    /* Sizes near the limits in error messages do not wrap either */
    cfg = default_cfg();
    cfg.floor_pages = UINT64_MAX;
    check_refused(&cfg, UINT64_MAX - 1, "floor", "18446744073709551615",
                  NULL);
    g_assert_true(balloon_auto_config_check(&cfg, UINT64_MAX, &error_abort));
}

static void test_strings(void)
{
    static const char *const reasons[] = {
        "host-low", "host-medium", "host-critical", "guest-message",
        "guest-stats", "guest-deflate", "guest-stalled", "host-relief",
        "host-watermark", "ram-unplugged",
    };
    static const char *const actions[] = {
        "none", "inflate", "deflate", "cancel", "stall",
    };
    int i;

    g_assert_cmpint(ARRAY_SIZE(reasons), ==, BALLOON_AUTO_REASON__MAX);
    for (i = 0; i < ARRAY_SIZE(reasons); i++) {
        g_assert_cmpstr(balloon_auto_reason_str(i), ==, reasons[i]);
    }
    g_assert_cmpstr(balloon_auto_reason_str(BALLOON_AUTO_REASON__MAX), ==,
                    "invalid");
    g_assert_cmpstr(balloon_auto_reason_str(-1), ==, "invalid");
    for (i = 0; i < ARRAY_SIZE(actions); i++) {
        g_assert_cmpstr(balloon_auto_action_str(i), ==, actions[i]);
    }
    g_assert_cmpstr(balloon_auto_action_str(BALLOON_AUTO_STALL + 1), ==,
                    "invalid");
    g_assert_cmpstr(balloon_auto_action_str(-1), ==, "invalid");
    /* The reason of an inflate follows the level order */
    g_assert_cmpint(BALLOON_AUTO_REASON_HOST_LOW + BALLOON_AUTO_LEVEL_CRITICAL,
                    ==, BALLOON_AUTO_REASON_HOST_CRITICAL);
}

/* Guest memory: guest-aware inflate, shortfall deflate */

/* A sample without MEMFREE (UINT64_MAX): no free-first bound */
static BalloonAutoAction stats(BalloonAutoPolicy *p, uint64_t avail,
                               bool low)
{
    return balloon_auto_guest_sample(p, avail, UINT64_MAX, low, now);
}

static void test_reserve(void)
{
    BalloonAutoConfig cfg = default_cfg();

    g_assert_cmpuint(balloon_auto_reserve(&cfg, RAM), ==, RESERVE);
    g_assert_cmpuint(balloon_auto_reserve(&cfg, PAGES(128 * MiB)), ==,
                     RESERVE);
    /* 5 % of 64 GiB is 3.2 GiB */
    g_assert_cmpuint(balloon_auto_reserve(&cfg, PAGES(64 * GiB)), ==,
                     PAGES(64 * GiB) / 20);
    cfg.reserve_pages = 0;
    cfg.reserve_pct = 0;
    g_assert_cmpuint(balloon_auto_reserve(&cfg, RAM), ==, 0);
}

static void test_inflate_before_stats(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    /* Nothing known yet: the per-level steps apply as before */
    g_assert_cmpuint(balloon_auto_spare(&p), ==, UINT64_MAX);
    g_assert_cmpuint(balloon_auto_shortfall(&p), ==, 0);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, CRITICAL);
}

static void test_inflate_sized_by_spare(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    /* 150 MiB available, 128 MiB reserve: 22 MiB to spare */
    assert_none(stats(&p, PAGES(150 * MiB), false), "recorded");
    g_assert_cmpuint(balloon_auto_spare(&p), ==, PAGES(22 * MiB));
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, PAGES(22 * MiB));
    /* What was asked since the sample is not spare any more */
    g_assert_cmpuint(balloon_auto_spare(&p), ==, 0);
    catch_up(&p);
    now += THROTTLE;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "no-spare");
    g_assert_cmpuint(balloon_auto_target(&p), ==, PAGES(22 * MiB));

    /* The next sample says the guest freed memory: the step bounds it */
    assert_none(stats(&p, PAGES(600 * MiB), false), "recorded");
    now += THROTTLE;
    assert_action(host(&p, BALLOON_AUTO_LEVEL_MEDIUM), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_MEDIUM, PAGES(22 * MiB) + MEDIUM);
}

static void test_inflate_nothing_to_spare(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    /* Full but healthy: not under pressure, but nothing to give either */
    assert_none(stats(&p, PAGES(10 * MiB), true), "full");
    g_assert_false(balloon_auto_guest_window_open(&p, now));
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "no-spare");
    g_assert_cmpuint(balloon_auto_target(&p), ==, 0);
    /* Exactly the reserve is nothing to spare either */
    assert_none(stats(&p, RESERVE, false), "recorded");
    now += THROTTLE;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_LOW), "no-spare");
    g_assert_cmpuint(balloon_auto_counters(&p)->ignored, ==, 2);
    /* An inflate in flight at the sample comes off what is available */
    assert_none(stats(&p, RESERVE + LOW, false), "recorded");
    now += THROTTLE;
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, LOW);
    assert_none(stats(&p, RESERVE + LOW, false), "recorded");
    g_assert_cmpuint(balloon_auto_spare(&p), ==, 0);
}

static void test_shortfall_deflate(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, CRITICAL);
    catch_up(&p);
    /* Low enough not to matter: recorded, nothing else */
    assert_none(stats(&p, PAGES(100 * MiB), false), "recorded");
    g_assert_cmpuint(balloon_auto_shortfall(&p), ==, PAGES(28 * MiB));
    /* Low while the balloon holds memory: the shortfall comes back */
    assert_action(stats(&p, PAGES(20 * MiB), true), BALLOON_AUTO_DEFLATE,
                  BALLOON_AUTO_REASON_GUEST_STATS,
                  CRITICAL - PAGES(108 * MiB));
    g_assert_true(balloon_auto_guest_window_open(&p, now));
    g_assert_cmpuint(balloon_auto_counters(&p)->shortfalls, ==, 1);
    g_assert_cmpuint(balloon_auto_counters(&p)->deflates, ==, 1);
    /* Given back: not asked for twice before the next sample */
    g_assert_cmpuint(balloon_auto_shortfall(&p), ==, 0);
    catch_up(&p);
    /* A small shortfall still gets at least one deflate step */
    assert_action(stats(&p, RESERVE - 1, true), BALLOON_AUTO_DEFLATE,
                  BALLOON_AUTO_REASON_GUEST_STATS, 0);
    /* Bounded by the balloon: empty now, a low guest is just full */
    assert_none(stats(&p, 0, true), "full");
    g_assert_cmpuint(balloon_auto_target(&p), ==, 0);
}

static void test_pressure_deflate_by_shortfall(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, CRITICAL);
    catch_up(&p);
    /* Counters say pressure, 28 MiB short: the step is larger */
    stats(&p, PAGES(100 * MiB), false);
    assert_action(guest(&p), BALLOON_AUTO_DEFLATE,
                  BALLOON_AUTO_REASON_GUEST_MESSAGE, CRITICAL - DEFLATE);
    catch_up(&p);
    /* 60 MiB short: the shortfall is larger */
    stats(&p, PAGES(68 * MiB), false);
    assert_action(guest(&p), BALLOON_AUTO_DEFLATE,
                  BALLOON_AUTO_REASON_GUEST_MESSAGE,
                  CRITICAL - DEFLATE - PAGES(60 * MiB));
}

/* Host relief */

static void test_relief_to_empty(void)
{
    BalloonAutoPolicy p;
    uint64_t target;
    int steps = 0;

    setup_defaults(&p);
    /* Empty balloon: no timer at all */
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    host(&p, BALLOON_AUTO_LEVEL_CRITICAL);
    catch_up(&p);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + RELIEF);
    now += RELIEF - 1;
    assert_none(balloon_auto_timer(&p, now), "idle");
    now += 1;
    target = CRITICAL;
    while (balloon_auto_target(&p)) {
        g_assert_cmpint(balloon_auto_deadline(&p), ==, now);
        target -= MIN(target, RELIEF_STEP);
        assert_action(balloon_auto_timer(&p, now), BALLOON_AUTO_DEFLATE,
                      BALLOON_AUTO_REASON_HOST_RELIEF, target);
        /* One step per period */
        assert_none(balloon_auto_timer(&p, now + RELIEF_PERIOD - 1), "idle");
        now += RELIEF_PERIOD;
        steps++;
    }
    g_assert_cmpint(steps, ==, DIV_ROUND_UP(CRITICAL, RELIEF_STEP));
    g_assert_cmpuint(balloon_auto_counters(&p)->reliefs, ==, steps);
    /* Empty again: the timer stops */
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
}

/*
 * The deadline the timer is armed for is one balloon_auto_timer() acts
 * on: run as often as it is due at one instant (one action per run, as
 * the device does), the next deadline soon lies ahead, or there is none.
 * A deadline passed over would stay in the past and the device's timer
 * would run forever in one main-loop iteration (found by fuzzing: a
 * relief interval of 1 ms, shorter than the throttle interval, with an
 * inflate pending).
 */
#define MAX_RUNS_PER_INSTANT    8

static void assert_deadline_ahead(BalloonAutoPolicy *p)
{
    int64_t d = balloon_auto_deadline(p);

    g_assert_true(d == INT64_MAX || d > now);
}

/* What the device does: run the timer while it is due, then check */
static void run_due_timers(BalloonAutoPolicy *p)
{
    int k;

    for (k = 0; k < MAX_RUNS_PER_INSTANT &&
         balloon_auto_deadline(p) <= now; k++) {
        balloon_auto_timer(p, now);
    }
    assert_deadline_ahead(p);
}

static void test_relief_shorter_than_throttle(void)
{
    BalloonAutoPolicy p;
    BalloonAutoConfig cfg;

    balloon_auto_config_default(&cfg);
    cfg.relief_ns = MS(1);
    now = T0;
    balloon_auto_init(&p, &cfg, RAM, now);
    host(&p, BALLOON_AUTO_LEVEL_LOW);
    catch_up(&p);
    /* Coalesced: pending until the throttle interval ends */
    now += MS(1);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_MEDIUM), "throttled");
    g_assert_true(balloon_auto_pending(&p, NULL));
    now += MS(1);
    run_due_timers(&p);
    g_assert_cmpint(balloon_auto_deadline(&p), ==,
                    T0 + cfg.throttle_ns);
}

/* The same invariant over random events, tunables and times */
static void test_deadline_always_ahead(void)
{
    static const int64_t times[] = {
        1, MS(1), MS(10), MS(999), MS(1000), MS(5000), MS(30000),
    };
    GRand *r = g_rand_new_with_seed(20261130);
    int run, i;

    for (run = 0; run < 200; run++) {
        BalloonAutoPolicy p;
        BalloonAutoConfig cfg;

        balloon_auto_config_default(&cfg);
        cfg.relief_ns = times[g_rand_int_range(r, 0, ARRAY_SIZE(times))];
        cfg.throttle_ns = times[g_rand_int_range(r, 0, ARRAY_SIZE(times))];
        cfg.stall_ns = times[g_rand_int_range(r, 0, ARRAY_SIZE(times))];
        cfg.hysteresis_ns = times[g_rand_int_range(r, 0,
                                                   ARRAY_SIZE(times))];
        cfg.floor_pages = 0;
        now = T0;
        balloon_auto_init(&p, &cfg, RAM, now);
        for (i = 0; i < 200; i++) {
            switch (g_rand_int_range(r, 0, 6)) {
            case 0:
                host(&p, g_rand_int_range(r, 0, BALLOON_AUTO_LEVEL__MAX));
                break;
            case 1:
                catch_up(&p);
                break;
            case 2:
                balloon_auto_guest_pressure(&p, BALLOON_AUTO_GUEST_MESSAGE,
                                            now);
                break;
            case 3:
                /* With or without MEMFREE, residency and reporting */
                balloon_auto_free_page_reporting(&p, g_rand_boolean(r));
                if (g_rand_boolean(r)) {
                    balloon_auto_host_resident(&p,
                                               g_rand_int_range(r, 0, RAM));
                }
                balloon_auto_guest_sample(&p, g_rand_int_range(r, 0, 1 << 18),
                                          g_rand_boolean(r) ? UINT64_MAX :
                                          g_rand_int_range(r, 0, 1 << 18),
                                          g_rand_boolean(r), now);
                break;
            case 4:
                balloon_auto_host_memory(&p, RAM,
                                         g_rand_int_range(r, 0, RAM));
                break;
            default:
                break;
            }
            now += times[g_rand_int_range(r, 0, ARRAY_SIZE(times))];
            run_due_timers(&p);
        }
    }
    g_rand_free(r);
}

static void test_relief_not_while_pressure(void)
{
    BalloonAutoPolicy p;
    int i;

    setup_defaults(&p);
    host(&p, BALLOON_AUTO_LEVEL_CRITICAL);
    catch_up(&p);
    /* An event every RELIEF - 1: relief never comes, ignored ones too */
    for (i = 0; i < 10; i++) {
        now += RELIEF - 1;
        assert_none(balloon_auto_timer(&p, now), "idle");
        host(&p, BALLOON_AUTO_LEVEL_LOW);
        catch_up(&p);
        g_assert_cmpint(balloon_auto_deadline(&p), ==, now + RELIEF);
    }
    g_assert_cmpuint(balloon_auto_counters(&p)->reliefs, ==, 0);
    /* Relief starts, then pressure returns: it stops at once */
    now += RELIEF;
    g_assert_cmpint(balloon_auto_timer(&p, now).kind, ==,
                    BALLOON_AUTO_DEFLATE);
    now += RELIEF_PERIOD / 2;
    host(&p, BALLOON_AUTO_LEVEL_LOW);
    now += RELIEF_PERIOD;
    assert_none(balloon_auto_timer(&p, now), "idle");
    g_assert_cmpuint(balloon_auto_counters(&p)->reliefs, ==, 1);
}

/* Resident-aware inflate: the host gains only what it holds unused */

static void resident(BalloonAutoPolicy *p, uint64_t pages)
{
    balloon_auto_host_resident(p, pages);
}

static void test_resident_bounds_inflate(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    /* 1 GiB guest using 224 MiB; the host holds 234 MiB of it */
    assert_none(stats(&p, PAGES(800 * MiB), false), "recorded");
    g_assert_cmpuint(balloon_auto_guest_used(&p), ==, PAGES(224 * MiB));
    g_assert_cmpuint(balloon_auto_gain(&p, now), ==, UINT64_MAX);
    resident(&p, PAGES(234 * MiB));
    g_assert_cmpuint(balloon_auto_gain(&p, now), ==, PAGES(10 * MiB));
    /* 672 MiB to spare, a 128 MiB step, but 10 MiB to gain */
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, PAGES(10 * MiB));
    /* What was asked since the measurement comes out of the same memory */
    g_assert_cmpuint(balloon_auto_gain(&p, now), ==, 0);
    /* Within the throttle interval an event only coalesces: no measuring */
    g_assert_false(balloon_auto_inflate_due(&p, now + THROTTLE - 1));
    catch_up(&p);
    now += THROTTLE;
    g_assert_true(balloon_auto_inflate_due(&p, now));
    /* The guest gave its 10 MiB: the host holds 224 MiB, all in use */
    resident(&p, PAGES(224 * MiB));
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "not-resident");
    g_assert_cmpuint(balloon_auto_target(&p), ==, PAGES(10 * MiB));
    g_assert_cmpuint(balloon_auto_counters(&p)->not_resident, ==, 1);
    g_assert_cmpuint(balloon_auto_counters(&p)->ignored, ==, 1);
    g_assert_cmpuint(host_events(&p), ==,
                     balloon_auto_counters(&p)->inflates +
                     balloon_auto_counters(&p)->ignored);
}

/*
 * The RFC's vm-up/vm-down case: the growing guest reports much available
 * memory it never touched, the shrinking guest freed memory the host
 * still holds.  Only the latter is inflated.
 */
static void test_resident_untouched_guest(void)
{
    BalloonAutoPolicy up, down;

    setup(&up);
    setup(&down);
    /* Growing: uses 200 MiB, 824 available, the host holds 200 MiB */
    assert_none(stats(&up, PAGES(824 * MiB), false), "recorded");
    resident(&up, PAGES(200 * MiB));
    assert_none(host(&up, BALLOON_AUTO_LEVEL_CRITICAL), "not-resident");
    g_assert_cmpuint(balloon_auto_target(&up), ==, 0);
    /* Shrinking: went from 800 MiB to 200 MiB, the host holds 800 MiB */
    assert_none(stats(&down, PAGES(824 * MiB), false), "recorded");
    resident(&down, PAGES(800 * MiB));
    assert_action(host(&down, BALLOON_AUTO_LEVEL_CRITICAL),
                  BALLOON_AUTO_INFLATE, BALLOON_AUTO_REASON_HOST_CRITICAL,
                  CRITICAL);
}

/* With a balloon, used is ram - actual - available whatever MemTotal is */
static void test_resident_used_with_balloon(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    balloon_auto_sync(&p, PAGES(256 * MiB), PAGES(256 * MiB), now);
    assert_none(stats(&p, PAGES(300 * MiB), false), "recorded");
    g_assert_cmpuint(balloon_auto_guest_used(&p), ==, PAGES(468 * MiB));
    /* The balloon's pages were discarded: not resident */
    resident(&p, PAGES(500 * MiB));
    g_assert_cmpuint(balloon_auto_gain(&p, now), ==, PAGES(32 * MiB));
    /* More resident than RAM is capped at RAM */
    resident(&p, RAM * 2);
    g_assert_cmpuint(balloon_auto_gain(&p, now), ==, RAM - PAGES(468 * MiB));
    /* More available than the guest holds: nothing used */
    assert_none(stats(&p, RAM, false), "recorded");
    g_assert_cmpuint(balloon_auto_guest_used(&p), ==, 0);
}

/*
 * Used memory comes from a sample seconds old; a guest that grew since
 * holds more resident memory now, all in use.  The residency measured
 * with the sample bounds the gain.
 */
static void test_resident_growing_since_sample(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    /* At the sample: 300 MiB used, all of it resident, nothing else */
    resident(&p, PAGES(300 * MiB));
    assert_none(stats(&p, PAGES(724 * MiB), false), "recorded");
    /* It grew by 100 MiB since: resident 400 MiB, not 100 MiB unused */
    resident(&p, PAGES(400 * MiB));
    g_assert_cmpuint(balloon_auto_gain(&p, now), ==, 0);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "not-resident");
    /* The host swapped half of the sample's 40 MiB unused out since */
    resident(&p, PAGES(340 * MiB));
    assert_none(stats(&p, PAGES(724 * MiB), false), "recorded");
    resident(&p, PAGES(320 * MiB));
    g_assert_cmpuint(balloon_auto_gain(&p, now), ==, PAGES(20 * MiB));
}

/* Before statistics the steps apply, still bounded by residency */
static void test_resident_before_stats(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    resident(&p, PAGES(20 * MiB));
    g_assert_cmpuint(balloon_auto_guest_used(&p), ==, 0);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, PAGES(20 * MiB));
    /* A reset forgets the measurement: unbounded until the next one */
    balloon_auto_reset(&p, now);
    g_assert_cmpuint(balloon_auto_gain(&p, now), ==, UINT64_MAX);
}

static void test_relief_off(void)
{
    BalloonAutoConfig cfg = default_cfg();
    BalloonAutoPolicy p;

    setup_defaults(&p);
    cfg.relief_ns = 0;
    balloon_auto_set_config(&p, &cfg);
    host(&p, BALLOON_AUTO_LEVEL_CRITICAL);
    catch_up(&p);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    now += SEC(3600);
    assert_none(balloon_auto_timer(&p, now), "idle");
    g_assert_cmpuint(balloon_auto_target(&p), ==, CRITICAL);
}

/*
 * Without a source, silence says nothing about the host: no relief, no
 * timer for it; a source attached later counts relief from then on, and
 * one detached again stops it.  A reset does not attach one.
 */
static void test_relief_no_source(void)
{
    BalloonAutoPolicy p;

    setup_defaults(&p);
    balloon_auto_host_source(&p, false, now);
    host(&p, BALLOON_AUTO_LEVEL_CRITICAL);
    catch_up(&p);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    now += SEC(3600);
    assert_none(balloon_auto_timer(&p, now), "idle");
    g_assert_cmpuint(balloon_auto_target(&p), ==, CRITICAL);

    balloon_auto_host_source(&p, true, now);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + RELIEF);
    now += RELIEF;
    assert_action(balloon_auto_timer(&p, now), BALLOON_AUTO_DEFLATE,
                  BALLOON_AUTO_REASON_HOST_RELIEF, CRITICAL - RELIEF_STEP);

    balloon_auto_host_source(&p, false, now);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    now += RELIEF_PERIOD;
    assert_none(balloon_auto_timer(&p, now), "idle");
    g_assert_cmpuint(balloon_auto_counters(&p)->reliefs, ==, 1);
}

static void test_config_check_new(void)
{
    BalloonAutoConfig cfg;
    Error *err = NULL;

    balloon_auto_config_default(&cfg);
    g_assert_cmpuint(cfg.reserve_pages, ==, PAGES(128 * MiB));
    g_assert_cmpuint(cfg.reserve_pct, ==, 5);
    g_assert_cmpint(cfg.relief_ns, ==, SEC(30));
    g_assert_cmpuint(cfg.relief_pages, ==, PAGES(16 * MiB));
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));
    cfg.reserve_pages = RAM;
    cfg.reserve_pct = BALLOON_AUTO_MAX_RESERVE_PCT;
    cfg.relief_ns = 0;
    cfg.relief_pages = RAM;
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));
    cfg.reserve_pages = RAM + 1;
    g_assert_false(balloon_auto_config_check(&cfg, RAM, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "reserve is"));
    error_free(err);
    err = NULL;
    cfg = default_cfg();
    cfg.reserve_pct = BALLOON_AUTO_MAX_RESERVE_PCT + 1;
    g_assert_false(balloon_auto_config_check(&cfg, RAM, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "91 %"));
    error_free(err);
    err = NULL;
    cfg = default_cfg();
    cfg.relief_ns = -1;
    g_assert_false(balloon_auto_config_check(&cfg, RAM, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "relief interval"));
    error_free(err);
    err = NULL;
    cfg = default_cfg();
    cfg.relief_pages = 0;
    g_assert_false(balloon_auto_config_check(&cfg, RAM, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "relief step"));
    error_free(err);
}

/* A message's level scales the deflate step: 1x, 2x, 4x */
#define CRIT    BALLOON_AUTO_LEVEL_CRITICAL
#define STATS   BALLOON_AUTO_GUEST_STATS

/* A fresh policy after one critical step the guest followed */
static void inflated_critical(BalloonAutoPolicy *p)
{
    setup(p);
    host(p, CRIT);
    catch_up(p);
}

static void test_guest_message_level(void)
{
    static const uint64_t step[] = { DEFLATE, 2 * DEFLATE, 4 * DEFLATE };
    BalloonAutoLevel l;

    for (l = 0; l < BALLOON_AUTO_LEVEL__MAX; l++) {
        BalloonAutoPolicy p;

        inflated_critical(&p);
        assert_action(balloon_auto_guest_message(&p, l, now),
                      BALLOON_AUTO_DEFLATE, BALLOON_AUTO_REASON_GUEST_MESSAGE,
                      CRITICAL - step[l]);
        g_assert_cmpuint(balloon_auto_counters(&p)->
                         guest_pressure[BALLOON_AUTO_GUEST_MESSAGE], ==, 1);
        g_assert_true(balloon_auto_guest_window_open(&p, now));
    }

    /* Statistics have no level: the deflate step */
    {
        BalloonAutoPolicy p;

        inflated_critical(&p);
        assert_action(balloon_auto_guest_pressure(&p, STATS, now),
                      BALLOON_AUTO_DEFLATE, BALLOON_AUTO_REASON_GUEST_STATS,
                      CRITICAL - DEFLATE);
    }

    /* Never below 0, and an inflate in flight is cancelled, not deflated */
    {
        BalloonAutoPolicy p;

        setup(&p);
        host(&p, BALLOON_AUTO_LEVEL_MEDIUM);
        catch_up(&p);
        assert_action(balloon_auto_guest_message(&p, CRIT, now),
                      BALLOON_AUTO_DEFLATE, BALLOON_AUTO_REASON_GUEST_MESSAGE,
                      0);
        catch_up(&p);
        now += HYSTERESIS + SEC(1);
        g_assert_cmpint(host(&p, CRIT).kind, ==, BALLOON_AUTO_INFLATE);
        set_actual(&p, PAGES(MiB));
        assert_action(balloon_auto_guest_message(&p, CRIT, now),
                      BALLOON_AUTO_CANCEL, BALLOON_AUTO_REASON_GUEST_MESSAGE,
                      PAGES(MiB));
    }
}

/*
 * Host memory watermarks.  The host's limit is 4000 MiB, so the high
 * watermark (90 %) is at 3600 MiB and the low one (80 %) at 3200 MiB.
 */
#define HOST_LIMIT      PAGES(4000 * MiB)
#define WATERMARK_PERIOD MS(BALLOON_AUTO_WATERMARK_PERIOD_MS)
#define WATERMARK_WATCH MS(BALLOON_AUTO_WATERMARK_WATCH_MS)

/* A reading of the host: @used_mib of its 4000 MiB in use */
static void host_used(BalloonAutoPolicy *p, uint64_t used_mib)
{
    balloon_auto_host_memory(p, HOST_LIMIT,
                             HOST_LIMIT - PAGES(used_mib * MiB));
}

static BalloonAutoAction timer(BalloonAutoPolicy *p)
{
    return balloon_auto_timer(p, now);
}

static void test_watermark_defaults(void)
{
    BalloonAutoConfig cfg;

    balloon_auto_config_default(&cfg);
    g_assert_cmpuint(cfg.high_pct, ==, 90);
    g_assert_cmpuint(cfg.low_pct, ==, 80);
    g_assert_cmpstr(balloon_auto_reason_str(BALLOON_AUTO_REASON_HOST_WATERMARK),
                    ==, "host-watermark");
}

/* Crossing the high watermark inflates by the deficit, then stops */
static void test_watermark_crossing(void)
{
    BalloonAutoPolicy p;
    const BalloonAutoCounters *c;

    setup(&p);
    c = balloon_auto_counters(&p);
    /* Not known: no watermark at all */
    g_assert_cmpuint(balloon_auto_host_deficit(&p), ==, 0);
    g_assert_true(balloon_auto_host_below_low(&p));
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    /* Below: still no timer */
    host_used(&p, 3500);
    g_assert_cmpuint(balloon_auto_host_deficit(&p), ==, 0);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    /* At the watermark is not above it */
    host_used(&p, 3600);
    g_assert_cmpuint(balloon_auto_host_deficit(&p), ==, 0);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    /* 50 MiB above: the check is due at once and takes the deficit */
    host_used(&p, 3650);
    g_assert_cmpuint(balloon_auto_host_deficit(&p), ==, PAGES(50 * MiB));
    g_assert_cmpint(balloon_auto_deadline(&p), <=, now);
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_WATERMARK, PAGES(50 * MiB));
    g_assert_cmpuint(c->watermark_inflates, ==, 1);
    g_assert_cmpuint(c->inflates, ==, 1);
    /* No host event was involved */
    g_assert_cmpuint(host_events(&p), ==, 0);
    /* Next look one period later, not before */
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + WATERMARK_PERIOD);
    /* The guest has not inflated yet: the deficit is in flight */
    now += WATERMARK_PERIOD;
    assert_none(timer(&p), "in-flight");
    g_assert_cmpuint(balloon_auto_target(&p), ==, PAGES(50 * MiB));
    /* Half of it arrived, usage grew meanwhile: take the rest */
    set_actual(&p, PAGES(25 * MiB));
    host_used(&p, 3680);
    now += WATERMARK_PERIOD;
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_WATERMARK, PAGES(80 * MiB));
    /* Done, below the watermark: the timer stops */
    catch_up(&p);
    host_used(&p, 3590);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    now += SEC(10);
    assert_none(timer(&p), "idle");
    g_assert_cmpuint(c->watermark_inflates, ==, 2);
}

/* The bounds: one critical step, spare, floor; nothing to spare: nothing */
static void test_watermark_bounds(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    /* 400 MiB over: one critical step per throttle interval */
    host_used(&p, 4000);
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_WATERMARK, CRITICAL);
    catch_up(&p);
    /* Not within the throttle, even if asked early */
    now += THROTTLE - 1;
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + 1);
    assert_none(timer(&p), "idle");
    now += 1;
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_WATERMARK, 2 * CRITICAL);
    catch_up(&p);

    /* The guest spares 22 MiB above its reserve: that much, no more */
    stats(&p, PAGES(150 * MiB), false);
    now += THROTTLE;
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_WATERMARK,
                  2 * CRITICAL + PAGES(22 * MiB));
    catch_up(&p);
    /* Nothing left to spare: not inflated, the check goes on */
    stats(&p, PAGES(128 * MiB), false);
    now += THROTTLE;
    assert_none(timer(&p), "no-spare");
    g_assert_cmpuint(balloon_auto_target(&p), ==,
                     2 * CRITICAL + PAGES(22 * MiB));
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + WATERMARK_PERIOD);

    /* Plenty to spare, but the floor holds */
    stats(&p, PAGES(900 * MiB), false);
    while (balloon_auto_target(&p) < LIMIT) {
        now += THROTTLE;
        g_assert_cmpint(timer(&p).kind, ==, BALLOON_AUTO_INFLATE);
        catch_up(&p);
        stats(&p, PAGES(900 * MiB), false);
    }
    g_assert_cmpuint(balloon_auto_target(&p), ==, LIMIT);
    now += THROTTLE;
    assert_none(timer(&p), "floor");
    /* Not counted as host events the host gains nothing from */
    g_assert_cmpuint(balloon_auto_counters(&p)->ignored, ==, 0);
}

/* The host would gain nothing from a guest's untouched memory */
static void test_watermark_not_resident(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    /* 900 MiB available of 1 GiB: 124 MiB used */
    stats(&p, PAGES(900 * MiB), false);
    /* All of it resident, nothing else is */
    resident(&p, PAGES(124 * MiB));
    host_used(&p, 4000);
    assert_none(timer(&p), "not-resident");
    g_assert_cmpuint(balloon_auto_target(&p), ==, 0);
    /* Only host events count in not-resident (and in ignored) */
    g_assert_cmpuint(balloon_auto_counters(&p)->not_resident, ==, 0);
    /* 40 MiB more resident than used: that much */
    resident(&p, PAGES(164 * MiB));
    now += THROTTLE;
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_WATERMARK, PAGES(40 * MiB));
}

/* Guest pressure and stalls hold the rule back as they hold events */
static void test_watermark_guest_window(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    guest(&p);
    host_used(&p, 3800);
    assert_none(timer(&p), "guest-window");
    now += HYSTERESIS;
    /* 200 MiB over: one critical step */
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_WATERMARK, CRITICAL);
    /* The guest never follows: stalled, then left alone */
    now += STALL;
    g_assert_cmpint(timer(&p).kind, ==, BALLOON_AUTO_STALL);
    now += THROTTLE;
    assert_none(timer(&p), "stalled");
    g_assert_cmpuint(balloon_auto_target(&p), ==, CRITICAL);
}

/*
 * Idle cost: no deadline while below the watermark and quiet; after a
 * host event the check runs for the watch period, then stops.
 */
static void test_watermark_idle(void)
{
    BalloonAutoPolicy p;
    int checks = 0;
    int64_t start;

    setup(&p);
    /* Created recently, known and below: no timer */
    host_used(&p, 3000);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    /* A host event: one low step, then the watch */
    host(&p, BALLOON_AUTO_LEVEL_LOW);
    catch_up(&p);
    start = now;
    while (balloon_auto_deadline(&p) != INT64_MAX) {
        g_assert_cmpint(balloon_auto_deadline(&p), >, now - 1);
        now = MAX(now, balloon_auto_deadline(&p));
        timer(&p);
        checks++;
        g_assert_cmpint(checks, <, 100);
    }
    /* One look per period for the watch period */
    g_assert_cmpint(now - start, <=, WATERMARK_WATCH);
    g_assert_cmpint(checks, >=, WATERMARK_WATCH / WATERMARK_PERIOD - 1);
    g_assert_cmpint(checks, <=, WATERMARK_WATCH / WATERMARK_PERIOD + 1);
    /* The watermark crossed later is seen in the next reading */
    host_used(&p, 3700);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + WATERMARK_PERIOD);
    /* Off: never */
    {
        BalloonAutoConfig cfg = default_cfg();

        cfg.high_pct = 0;
        balloon_auto_set_config(&p, &cfg);
        g_assert_cmpuint(balloon_auto_host_deficit(&p), ==, 0);
        g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
    }
    /* A failed reading: unknown, no timer either */
    setup(&p);
    host_used(&p, 3700);
    balloon_auto_host_memory_unknown(&p);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, INT64_MAX);
}

/* Relief gives back only below the low watermark */
static void test_watermark_relief_below_low(void)
{
    BalloonAutoPolicy p;
    const BalloonAutoCounters *c;

    setup_defaults(&p);
    c = balloon_auto_counters(&p);
    host(&p, BALLOON_AUTO_LEVEL_CRITICAL);
    catch_up(&p);
    /* Between the watermarks: relief is held, one look per period */
    host_used(&p, 3400);
    g_assert_false(balloon_auto_host_below_low(&p));
    now += RELIEF;
    assert_none(timer(&p), "above-low");
    g_assert_cmpuint(c->relief_held, ==, 1);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + RELIEF_PERIOD);
    now += RELIEF_PERIOD;
    assert_none(timer(&p), "above-low");
    g_assert_cmpuint(c->relief_held, ==, 2);
    g_assert_cmpuint(balloon_auto_target(&p), ==, CRITICAL);
    /* At the low watermark is not below it */
    host_used(&p, 3200);
    now += RELIEF_PERIOD;
    assert_none(timer(&p), "above-low");
    /* Below: relief steps */
    host_used(&p, 3199);
    g_assert_true(balloon_auto_host_below_low(&p));
    now += RELIEF_PERIOD;
    assert_action(timer(&p), BALLOON_AUTO_DEFLATE,
                  BALLOON_AUTO_REASON_HOST_RELIEF, CRITICAL - RELIEF_STEP);
    g_assert_cmpuint(c->reliefs, ==, 1);
    /* The low watermark off: relief at any usage below the high one */
    {
        BalloonAutoConfig cfg;

        balloon_auto_config_default(&cfg);
        cfg.low_pct = 0;
        balloon_auto_set_config(&p, &cfg);
    }
    host_used(&p, 3550);
    g_assert_true(balloon_auto_host_below_low(&p));
    now += RELIEF_PERIOD;
    assert_action(timer(&p), BALLOON_AUTO_DEFLATE,
                  BALLOON_AUTO_REASON_HOST_RELIEF,
                  CRITICAL - 2 * RELIEF_STEP);
}

/* An inflate by the watermark postpones relief like a host event */
static void test_watermark_postpones_relief(void)
{
    BalloonAutoPolicy p;

    setup_defaults(&p);
    host_used(&p, 3700);
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_WATERMARK, PAGES(100 * MiB));
    catch_up(&p);
    host_used(&p, 3000);
    /* Quiet, below the low watermark: relief after the full interval */
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + RELIEF);
    now += RELIEF;
    assert_action(timer(&p), BALLOON_AUTO_DEFLATE,
                  BALLOON_AUTO_REASON_HOST_RELIEF,
                  PAGES(100 * MiB) - RELIEF_STEP);
    /* Relief never takes the host above the low watermark: stop there */
    host_used(&p, 3300);
    now += RELIEF_PERIOD;
    assert_none(timer(&p), "above-low");
}

/*
 * Several QEMUs on one source, no coordinator: each sees the same deficit
 * and gives what its own guest can spare of it.  The guest with spare
 * memory gives, the other does not; together they never take the host
 * below the low watermark in one interval.
 */
static void test_watermark_two_guests(void)
{
    BalloonAutoPolicy a, b;
    uint64_t used_mib = 3690;
    uint64_t given;

    setup(&a);
    setup(&b);
    /* a has 600 MiB available, b only its reserve */
    stats(&a, PAGES(600 * MiB), false);
    stats(&b, RESERVE, false);
    host_used(&a, used_mib);
    host_used(&b, used_mib);
    timer(&a);
    timer(&b);
    g_assert_cmpuint(balloon_auto_target(&a), ==, PAGES(90 * MiB));
    g_assert_cmpuint(balloon_auto_target(&b), ==, 0);
    /* Both with plenty to spare: together at most twice the deficit */
    setup(&a);
    setup(&b);
    stats(&a, PAGES(900 * MiB), false);
    stats(&b, PAGES(900 * MiB), false);
    host_used(&a, 3700);
    host_used(&b, 3700);
    timer(&a);
    timer(&b);
    given = balloon_auto_target(&a) + balloon_auto_target(&b);
    g_assert_cmpuint(given, <=, 2 * PAGES(100 * MiB));
    g_assert_cmpuint(PAGES(3700 * MiB) - given, >=,
                     HOST_LIMIT / 100 * BALLOON_AUTO_DEFAULT_LOW_WATERMARK_PCT);
}

/* A host event above the watermark takes what the watermark would */
static void test_watermark_host_event(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    host_used(&p, 3700);
    /* A low event: not 8 MiB but the 100 MiB deficit, as host-low */
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, PAGES(100 * MiB));
    g_assert_cmpuint(balloon_auto_counters(&p)->watermark_inflates, ==, 0);
    /* The throttle interval is used up: the check waits for its end */
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now + THROTTLE);
    assert_none(timer(&p), "idle");
    catch_up(&p);
    /* Just above the watermark: the level's step is the larger */
    host_used(&p, 3601);
    now += THROTTLE;
    assert_action(host(&p, BALLOON_AUTO_LEVEL_MEDIUM), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_MEDIUM,
                  PAGES(100 * MiB) + MEDIUM);
}

/*
 * The free-first bound.  A fresh 1 GiB guest whose sample says
 * @avail_mib available and @free_mib free; the host holds @resident_mib,
 * measured with the sample.
 */
static void sample_of(BalloonAutoPolicy *p, uint64_t resident_mib,
                      uint64_t avail_mib, uint64_t free_mib)
{
    setup(p);
    resident(p, PAGES(resident_mib * MiB));
    assert_none(balloon_auto_guest_sample(p, PAGES(avail_mib * MiB),
                                          PAGES(free_mib * MiB), false, now),
                "recorded");
}

/* 600 MiB available, @free_mib of it free */
static void free_sample(BalloonAutoPolicy *p, uint64_t resident_mib,
                        uint64_t free_mib)
{
    sample_of(p, resident_mib, 600, free_mib);
}

/*
 * A sample from long ago (a Linux guest sends one when its driver starts;
 * with polling off no other follows) does not bound inflates for ever:
 * past BALLOON_AUTO_SAMPLE_RESIDENCY_NS only the residency measured at
 * the event counts.  At boot: 100 MiB resident, 900 MiB free and
 * available.  Since: the guest filled 700 MiB and freed it, so 800 MiB
 * are resident, most of it free.
 */
static void test_resident_sample_expires(void)
{
    BalloonAutoPolicy p;

    setup(&p);
    resident(&p, PAGES(100 * MiB));
    assert_none(balloon_auto_guest_sample(&p, PAGES(900 * MiB),
                                          PAGES(900 * MiB), false, now),
                "recorded");
    /* Still fresh: the boot residency bounds it (nothing resident free) */
    now += BALLOON_AUTO_SAMPLE_RESIDENCY_NS;
    resident(&p, PAGES(800 * MiB));
    g_assert_cmpuint(balloon_auto_gain(&p, now), ==, 0);
    g_assert_cmpuint(balloon_auto_gain(&p, now + 1), >, 0);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "not-resident");
    /* Past it: the 800 MiB resident now count, a full step */
    now += 1;
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, CRITICAL);
    /* Freshness is a matter of the clock: the inflate forgot nothing */
    g_assert_cmpuint(balloon_auto_gain(&p, now - 1), ==, 0);
    /*
     * A new sample bounds inflates again: 96 MiB used outside the
     * 128 MiB balloon, all of the resident memory
     */
    catch_up(&p);
    now += THROTTLE;
    resident(&p, PAGES(96 * MiB));
    assert_none(balloon_auto_guest_sample(&p, PAGES(800 * MiB),
                                          PAGES(800 * MiB), false, now),
                "recorded");
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "not-resident");
}

static void test_resident_free_first(void)
{
    BalloonAutoPolicy p;

    /*
     * Free page reporting gave the free memory back: 424 MiB resident,
     * the 600 MiB free are not.  The avail-based gain is 0 too here.
     */
    free_sample(&p, 424, 600);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "not-resident");

    /*
     * 100 MiB of page cache the host holds, the free 500 MiB not: the
     * avail-based gain (resident - used) is 100 MiB, but the balloon
     * would take the free pages first.
     */
    sample_of(&p, 524, 600, 500);
    g_assert_cmpuint(balloon_auto_gain(&p, now), ==, PAGES(100 * MiB));
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "not-resident");
    /* The same without MEMFREE: the avail-based gain alone, as before */
    setup(&p);
    resident(&p, PAGES(524 * MiB));
    stats(&p, PAGES(600 * MiB), false);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, PAGES(100 * MiB));

    /* All of it resident (no free page reporting): a full step */
    free_sample(&p, 1024, 600);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, CRITICAL);

    /* 50 of the 600 MiB free resident: 78 of 128 MiB wasted, take 50 */
    free_sample(&p, 474, 600);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, PAGES(50 * MiB));
    /* Asked since the sample came out of the resident part: none left */
    catch_up(&p);
    now += THROTTLE;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "not-resident");

    /*
     * 70 of them resident, and 100 MiB of cache (700 MiB available): 58
     * of 128 wasted, not more than half
     */
    sample_of(&p, 494, 700, 600);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, CRITICAL);

    /*
     * Mostly page cache: 10 MiB free, 8 of them not resident, the rest of
     * the 600 MiB available is cache the host holds.  Past the free pages
     * the guest reclaims cache: a full step.
     */
    sample_of(&p, 1016, 600, 10);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, CRITICAL);

    /*
     * Free page reporting: all free memory counts as the host's, even
     * the part still resident (freed but not reported yet)
     */
    free_sample(&p, 1024, 600);
    balloon_auto_free_page_reporting(&p, true);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "not-resident");
    balloon_auto_free_page_reporting(&p, false);
    now += THROTTLE;
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, CRITICAL);
    /* With it, a guest of mostly cache (40 MiB free) still gives a step */
    sample_of(&p, 1024, 600, 40);
    balloon_auto_free_page_reporting(&p, true);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, CRITICAL);

    /*
     * Page cache behind free memory the host does not hold: 200 MiB free,
     * none of it resident, 600 MiB of cache (800 available, 824
     * resident).  The balloon goes through the free pages to a step of
     * the cache; the free pages do not count against the step.
     */
    sample_of(&p, 824, 800, 200);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL,
                  PAGES(200 * MiB) + CRITICAL);
    /* The free pages are gone: the next event is a plain step */
    catch_up(&p);
    now += THROTTLE;
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL,
                  PAGES(200 * MiB) + 2 * CRITICAL);
    /* A low event: its own step of the cache */
    sample_of(&p, 824, 800, 200);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, PAGES(200 * MiB) + LOW);
    /* The same with free page reporting */
    sample_of(&p, 824, 800, 200);
    balloon_auto_free_page_reporting(&p, true);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL,
                  PAGES(200 * MiB) + CRITICAL);
    /*
     * As much cache as free memory (200 MiB of each, 600 available, 624
     * resident): still; 1 MiB less cache: nothing, the free pages would
     * cost more than the cache gives
     */
    sample_of(&p, 624, 600, 200);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL,
                  PAGES(200 * MiB) + CRITICAL);
    sample_of(&p, 623, 600, 200);
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "not-resident");
    g_assert_cmpuint(balloon_auto_target(&p), ==, 0);
    /*
     * Never past what the guest spares: 100 MiB free, 200 of cache, 300
     * available less the 128 MiB reserve
     */
    sample_of(&p, 924, 300, 100);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL,
                  PAGES(300 * MiB) - PAGES(BALLOON_AUTO_DEFAULT_RESERVE));
    /* The watermark rule goes through them the same way */
    sample_of(&p, 824, 800, 200);
    host_used(&p, 3700);
    g_assert(timer(&p).kind == BALLOON_AUTO_INFLATE);
    g_assert_cmpuint(balloon_auto_target(&p), >, PAGES(200 * MiB));

    /* The watermark rule is bounded the same way */
    free_sample(&p, 424, 600);
    host_used(&p, 3700);
    assert_none(timer(&p), "not-resident");
    g_assert_cmpuint(balloon_auto_target(&p), ==, 0);

    /* A reset forgets the free memory */
    free_sample(&p, 424, 600);
    balloon_auto_reset(&p, now);
    resident(&p, PAGES(1024 * MiB));
    stats(&p, PAGES(600 * MiB), false);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, CRITICAL);
}

/*
 * The usage threshold at the high watermark: the watermark plus the page
 * cache usage counts and used does not.  The cache benchmark's reading at
 * a crossing: limit 1280 MiB, usage 1207967744, available 135401472, so
 * 1.1 MiB of cache; used reaches the 1152 MiB watermark at usage 1152
 * MiB plus it.
 */
static void test_usage_threshold(void)
{
    uint64_t limit = 1280 * MiB, high = 1152 * MiB;

    /* No cache: the watermark itself */
    g_assert_cmpuint(balloon_auto_usage_threshold(limit, 1000 * MiB,
                                                  280 * MiB, 90), ==, high);
    g_assert_cmpuint(balloon_auto_usage_threshold(limit, 1207967744,
                                                  135401472, 90), ==,
                     high + 1207967744 - (limit - 135401472));
    /* 50 MiB of cache */
    g_assert_cmpuint(balloon_auto_usage_threshold(limit, 1000 * MiB,
                                                  330 * MiB, 90), ==,
                     high + 50 * MiB);
    /* Never past the limit, nor below the watermark */
    g_assert_cmpuint(balloon_auto_usage_threshold(limit, limit,
                                                  limit, 90), ==, limit);
    g_assert_cmpuint(balloon_auto_usage_threshold(limit, 10 * MiB,
                                                  0, 90), ==, high);
    g_assert_cmpuint(balloon_auto_usage_threshold(UINT64_MAX, UINT64_MAX,
                                                  UINT64_MAX, 100), ==,
                     UINT64_MAX);
    /* Not rounded up: 90 % of 1001 bytes */
    g_assert_cmpuint(balloon_auto_usage_threshold(1001, 0, 1001, 90), ==,
                     900);
    /* No watermark, no threshold */
    g_assert_cmpuint(balloon_auto_usage_threshold(limit, 1000 * MiB,
                                                  330 * MiB, 0), ==, 0);

    /*
     * Re-armed when it moved by the slack, or after a crossing, which
     * leaves none
     */
    g_assert_false(balloon_auto_usage_threshold_rearm(high, high, MiB));
    g_assert_false(balloon_auto_usage_threshold_rearm(high, high + MiB - 1,
                                                      MiB));
    g_assert_false(balloon_auto_usage_threshold_rearm(high, high - MiB + 1,
                                                      MiB));
    g_assert_true(balloon_auto_usage_threshold_rearm(high, high + MiB, MiB));
    g_assert_true(balloon_auto_usage_threshold_rearm(high, high - MiB, MiB));
    g_assert_true(balloon_auto_usage_threshold_rearm(0, high, MiB));
    /* To and from none */
    g_assert_true(balloon_auto_usage_threshold_rearm(0, 1, MiB));
    g_assert_true(balloon_auto_usage_threshold_rearm(1, 0, MiB));
    g_assert_false(balloon_auto_usage_threshold_rearm(0, 0, MiB));
}

/*
 * Statistics requests on host pressure: one per interval whether the
 * guest answers or not.  A guest that never answers (last sample never,
 * or long ago) is asked again only once the last request is an interval
 * old.
 */
static void test_stats_request_due(void)
{
    const int64_t s = 1000LL * 1000 * 1000, t = 100 * s;

    /* Nothing yet: ask */
    g_assert_true(balloon_auto_stats_request_due(INT64_MIN, INT64_MIN, s, t));
    /* A fresh sample: no request; an interval old: ask */
    g_assert_false(balloon_auto_stats_request_due(t - s + 1, INT64_MIN, s,
                                                  t));
    g_assert_true(balloon_auto_stats_request_due(t - s, INT64_MIN, s, t));
    /* Asked, not answered: not again within the interval */
    g_assert_false(balloon_auto_stats_request_due(INT64_MIN, t, s, t));
    g_assert_false(balloon_auto_stats_request_due(INT64_MIN, t - s + 1, s,
                                                  t));
    g_assert_false(balloon_auto_stats_request_due(t - 5 * s, t - 1, s, t));
    g_assert_true(balloon_auto_stats_request_due(INT64_MIN, t - s, s, t));
    g_assert_true(balloon_auto_stats_request_due(t - 5 * s, t - s, s, t));
    /* Answered since the request: the sample counts */
    g_assert_false(balloon_auto_stats_request_due(t - 1, t - 2 * s, s, t));
    /* A clock that went back does not hold requests off */
    g_assert_true(balloon_auto_stats_request_due(t + s, t + s, s, t));
    /* Extremes: no overflow */
    g_assert_true(balloon_auto_stats_request_due(0, 0, s, INT64_MAX));
    g_assert_false(balloon_auto_stats_request_due(INT64_MAX, INT64_MAX,
                                                  INT64_MAX, INT64_MAX));
    g_assert_true(balloon_auto_stats_request_due(INT64_MIN, INT64_MIN,
                                                 INT64_MAX, 0));
}

/* A budget of 3 a second: 3 at once, then one every third of a second */
static void test_budget(void)
{
    const int64_t s = 1000LL * 1000 * 1000, t = 100 * s;
    ThrottleConfig cfg;
    BalloonAutoBudget b;
    int i;

    /* A bucket QEMU's throttling accepts (max is a rate, at least avg) */
    balloon_auto_budget_init(&b, 8);
    throttle_config_init(&cfg);
    cfg.buckets[THROTTLE_OPS_TOTAL] = b.bucket;
    g_assert_true(throttle_is_valid(&cfg, &error_abort));

    balloon_auto_budget_init(&b, 3);
    for (i = 0; i < 3; i++) {
        g_assert_true(balloon_auto_budget_take(&b, t));
    }
    /* Spent: nothing more until a third of a second passed */
    for (i = 0; i < 100; i++) {
        g_assert_false(balloon_auto_budget_take(&b, t + s / 3 - 1));
    }
    g_assert_true(balloon_auto_budget_take(&b, t + s / 3));
    g_assert_false(balloon_auto_budget_take(&b, t + s / 3));
    /* Two thirds more: two more */
    g_assert_true(balloon_auto_budget_take(&b, t + s));
    g_assert_true(balloon_auto_budget_take(&b, t + s));
    g_assert_false(balloon_auto_budget_take(&b, t + s));
    /* Long idle: the full budget, never more */
    for (i = 0; i < 3; i++) {
        g_assert_true(balloon_auto_budget_take(&b, t + 100 * s));
    }
    g_assert_false(balloon_auto_budget_take(&b, t + 100 * s));
    /*
     * A clock that went back gives nothing back, then or when it runs
     * forward again over the same time
     */
    g_assert_false(balloon_auto_budget_take(&b, t));
    g_assert_false(balloon_auto_budget_take(&b, t + 100 * s));
    g_assert_true(balloon_auto_budget_take(&b, t + 100 * s + s / 3));
    g_assert_false(balloon_auto_budget_take(&b, t + 100 * s + s / 3));
    /* Rate 0: never */
    balloon_auto_budget_init(&b, 0);
    g_assert_false(balloon_auto_budget_take(&b, t));
    g_assert_false(balloon_auto_budget_take(&b, t + 100 * s));
    /* Extremes: no overflow */
    balloon_auto_budget_init(&b, 1);
    g_assert_true(balloon_auto_budget_take(&b, INT64_MIN + 1));
    g_assert_true(balloon_auto_budget_take(&b, INT64_MAX));
    g_assert_false(balloon_auto_budget_take(&b, INT64_MAX));
}

/*
 * A coalesced event is dropped once used is back under the high
 * watermark; it is served while above it, and always without the rule.
 */
static void test_watermark_coalesced_stale(void)
{
    BalloonAutoPolicy p;
    BalloonAutoConfig cfg = default_cfg();
    BalloonAutoLevel l;

    setup(&p);
    host_used(&p, 3650);
    /* A low event takes the 50 MiB deficit */
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, PAGES(50 * MiB));
    /* A critical event within the throttle waits */
    now += THROTTLE / 2;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "throttled");
    g_assert_true(balloon_auto_pending(&p, &l));
    g_assert_cmpint(l, ==, BALLOON_AUTO_LEVEL_CRITICAL);
    /* The inflate arrived and usage fell below the watermark */
    catch_up(&p);
    host_used(&p, 3550);
    now += THROTTLE / 2;
    g_assert_cmpint(balloon_auto_deadline(&p), <=, now);
    assert_none(timer(&p), "below-high");
    g_assert_false(balloon_auto_pending(&p, NULL));
    g_assert_cmpuint(balloon_auto_target(&p), ==, PAGES(50 * MiB));
    g_assert_cmpuint(balloon_auto_counters(&p)->inflates, ==, 1);

    /* A fresh event below the watermark is still one step of its level */
    now += THROTTLE;
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL,
                  PAGES(50 * MiB) + CRITICAL);

    /*
     * Still 10 MiB above the watermark when the throttle ends, 10 MiB in
     * flight, so the watermark asks nothing more: the coalesced event is
     * served, one step past actual.
     */
    set_actual(&p, PAGES(40 * MiB) + CRITICAL);
    host_used(&p, 3610);
    now += THROTTLE / 2;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_MEDIUM), "throttled");
    now += THROTTLE / 2;
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_MEDIUM,
                  PAGES(40 * MiB) + CRITICAL + MEDIUM);
    g_assert_false(balloon_auto_pending(&p, NULL));

    /* With the watermark rule off, memory state does not matter */
    setup(&p);
    cfg.high_pct = 0;
    balloon_auto_set_config(&p, &cfg);
    host_used(&p, 3000);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, LOW);
    now += THROTTLE / 2;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_MEDIUM), "throttled");
    catch_up(&p);
    now += THROTTLE / 2;
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_MEDIUM, LOW + MEDIUM);
}

static void test_watermark_config_check(void)
{
    BalloonAutoConfig cfg = default_cfg();
    const char *names[BALLOON_AUTO_TUNABLE__MAX] = {
        [BALLOON_AUTO_TUNABLE_HIGH_WATERMARK] = "auto-high-watermark-pct",
        [BALLOON_AUTO_TUNABLE_LOW_WATERMARK] = "auto-low-watermark-pct",
    };
    Error *err = NULL;

    cfg.high_pct = 100;
    cfg.low_pct = 99;
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));
    cfg.high_pct = 0;
    cfg.low_pct = 100;
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));
    cfg.low_pct = 0;
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));

    cfg.high_pct = 101;
    g_assert_false(balloon_auto_config_check_named(&cfg, RAM, names, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "'auto-high-watermark-pct' is"
                    " 101 % of the host's limit; it must be at most 100 %"
                    " (0: off)");
    error_free(err);
    err = NULL;
    cfg.high_pct = 90;
    cfg.low_pct = 90;
    g_assert_false(balloon_auto_config_check_named(&cfg, RAM, names, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "'auto-low-watermark-pct' is"
                    " 90 % of the host's limit; it must be below"
                    " 'auto-high-watermark-pct' (90 %), or relief would"
                    " give back what the high watermark takes");
    error_free(err);
    err = NULL;
    cfg.high_pct = 0;
    cfg.low_pct = 101;
    g_assert_false(balloon_auto_config_check(&cfg, RAM, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "low watermark is 101 %"));
    error_free(err);
}

/* Shares */

static void setup_shares(BalloonAutoPolicy *p, uint32_t shares)
{
    BalloonAutoConfig cfg = default_cfg();

    cfg.shares = shares;
    now = T0;
    balloon_auto_init(p, &cfg, RAM, now);
}

static void set_shares(BalloonAutoPolicy *p, uint32_t shares)
{
    BalloonAutoConfig cfg = p->cfg;

    cfg.shares = shares;
    balloon_auto_set_config(p, &cfg);
}

static void test_shares_config(void)
{
    BalloonAutoConfig cfg = default_cfg();
    const char *names[BALLOON_AUTO_TUNABLE__MAX] = {
        [BALLOON_AUTO_TUNABLE_SHARES] = "auto-shares",
    };
    Error *err = NULL;

    /* Proxmox VE's default and range */
    g_assert_cmpuint(cfg.shares, ==, 1000);
    g_assert_cmpuint(BALLOON_AUTO_DEFAULT_SHARES, ==, 1000);
    g_assert_cmpuint(BALLOON_AUTO_MAX_SHARES, ==, 50000);
    cfg.shares = 0;
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));
    cfg.shares = 50000;
    g_assert_true(balloon_auto_config_check(&cfg, RAM, &error_abort));
    cfg.shares = 50001;
    g_assert_false(balloon_auto_config_check_named(&cfg, RAM, names, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "'auto-shares' is 50001; it"
                    " must be between 0 (never inflated for host pressure)"
                    " and 50000 (default 1000)");
    error_free(err);
    err = NULL;
    cfg.shares = UINT32_MAX;
    g_assert_false(balloon_auto_config_check(&cfg, RAM, &err));
    g_assert_nonnull(strstr(error_get_pretty(err),
                            "shares is 4294967295;"));
    error_free(err);
}

/* amount * 1000 / shares: rounding and overflow */
static void test_shares_scale(void)
{
    g_assert_cmpuint(balloon_auto_shares_scale(100, 1000), ==, 100);
    g_assert_cmpuint(balloon_auto_shares_scale(100, 2000), ==, 50);
    g_assert_cmpuint(balloon_auto_shares_scale(101, 2000), ==, 50);
    g_assert_cmpuint(balloon_auto_shares_scale(100, 500), ==, 200);
    g_assert_cmpuint(balloon_auto_shares_scale(100, 3000), ==, 33);
    /* Never 0 pages for an amount that was not 0 */
    g_assert_cmpuint(balloon_auto_shares_scale(1, 2000), ==, 1);
    g_assert_cmpuint(balloon_auto_shares_scale(1, 50000), ==, 1);
    g_assert_cmpuint(balloon_auto_shares_scale(49, 50000), ==, 1);
    g_assert_cmpuint(balloon_auto_shares_scale(100, 50000), ==, 2);
    /* Nothing stays nothing; shares 0 give nothing */
    g_assert_cmpuint(balloon_auto_shares_scale(0, 500), ==, 0);
    g_assert_cmpuint(balloon_auto_shares_scale(0, 1000), ==, 0);
    g_assert_cmpuint(balloon_auto_shares_scale(100, 0), ==, 0);
    /* pages * 1000 does not fit in 64 bits: exact, or saturated */
    g_assert_cmpuint(balloon_auto_shares_scale(3ULL << 50, 3), ==,
                     1000ULL << 50);
    g_assert_cmpuint(balloon_auto_shares_scale(UINT64_MAX, 1000), ==,
                     UINT64_MAX);
    g_assert_cmpuint(balloon_auto_shares_scale(UINT64_MAX - 1, 1000), ==,
                     UINT64_MAX - 1);
    g_assert_cmpuint(balloon_auto_shares_scale(UINT64_MAX, 2000), ==,
                     UINT64_MAX / 2);
    g_assert_cmpuint(balloon_auto_shares_scale(UINT64_MAX / 2, 1), ==,
                     UINT64_MAX);
    /* The product overflows, the result does not: exact */
    g_assert_cmpuint(balloon_auto_shares_scale(UINT64_MAX / 1000 + 1, 999),
                     ==, 18465209282992544ULL);
}

/* The default shares: the amounts the other tests expect, unchanged */
static void test_shares_default_unchanged(void)
{
    BalloonAutoPolicy p;

    setup_shares(&p, BALLOON_AUTO_DEFAULT_SHARES);
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, CRITICAL);
    catch_up(&p);
    stats(&p, RESERVE + PAGES(22 * MiB), false);
    now += THROTTLE;
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL,
                  CRITICAL + PAGES(22 * MiB));
    catch_up(&p);
    stats(&p, PAGES(600 * MiB), false);
    host_used(&p, 3650);
    now += THROTTLE;
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_WATERMARK,
                  CRITICAL + PAGES(72 * MiB));
}

/* Shares 2000 give half of what a default guest gives */
static void test_shares_half(void)
{
    BalloonAutoPolicy p;

    setup_shares(&p, 2000);
    /* Before the first statistics the step is scaled too */
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, CRITICAL / 2);
    catch_up(&p);
    now += THROTTLE;
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, CRITICAL / 2 + LOW / 2);
    catch_up(&p);
    /* 22 MiB to spare: a default guest gives 22, this one 11 */
    stats(&p, RESERVE + PAGES(22 * MiB), false);
    now += THROTTLE;
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL,
                  CRITICAL / 2 + LOW / 2 + PAGES(11 * MiB));
    catch_up(&p);

    /* The watermark: half of the 100 MiB deficit */
    setup_shares(&p, 2000);
    stats(&p, PAGES(600 * MiB), false);
    host_used(&p, 3700);
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_WATERMARK, PAGES(50 * MiB));
    /*
     * Still in flight: it counts as the 100 MiB a default guest would
     * have in flight, so this guest does not top up to the whole deficit
     */
    now += WATERMARK_PERIOD;
    assert_none(timer(&p), "in-flight");
    /* All of it arrived, the host is still above: another half */
    catch_up(&p);
    now += WATERMARK_PERIOD;
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_WATERMARK, PAGES(100 * MiB));
    /* A low event above the watermark: half the larger of the two */
    catch_up(&p);
    now += THROTTLE;
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, PAGES(150 * MiB));
}

/* Shares 500 give twice as much, but never beyond the bounds */
static void test_shares_double(void)
{
    BalloonAutoPolicy p;

    setup_shares(&p, 500);
    /* Before statistics and without a deficit the step is the bound */
    assert_action(host(&p, BALLOON_AUTO_LEVEL_LOW), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_LOW, LOW);
    catch_up(&p);
    now += THROTTLE;
    assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_CRITICAL, LOW + CRITICAL);
    catch_up(&p);

    /* A 50 MiB deficit: 100 MiB, where a default guest gives 50 */
    setup_shares(&p, 500);
    stats(&p, PAGES(600 * MiB), false);
    host_used(&p, 3650);
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_WATERMARK, PAGES(100 * MiB));
    /* In flight: 100 MiB count as the 50 a default guest would have */
    now += WATERMARK_PERIOD;
    assert_none(timer(&p), "in-flight");
    catch_up(&p);
    /* A 100 MiB deficit: 200 MiB, but at most one critical step */
    stats(&p, PAGES(600 * MiB), false);
    host_used(&p, 3700);
    now += WATERMARK_PERIOD;
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_WATERMARK,
                  PAGES(100 * MiB) + CRITICAL);
    catch_up(&p);
    /* A 20 MiB deficit, but only 22 MiB to spare: 22 MiB, not 40 */
    stats(&p, RESERVE + PAGES(22 * MiB), false);
    host_used(&p, 3620);
    now += WATERMARK_PERIOD;
    assert_action(timer(&p), BALLOON_AUTO_INFLATE,
                  BALLOON_AUTO_REASON_HOST_WATERMARK,
                  PAGES(122 * MiB) + CRITICAL);
    catch_up(&p);
    /* Plenty to spare: the floor holds */
    stats(&p, PAGES(900 * MiB), false);
    host_used(&p, 3700);
    while (balloon_auto_target(&p) < LIMIT) {
        uint64_t before = balloon_auto_target(&p);

        now += THROTTLE;
        g_assert_cmpint(timer(&p).kind, ==, BALLOON_AUTO_INFLATE);
        g_assert_cmpuint(balloon_auto_target(&p) - before, <=, CRITICAL);
        catch_up(&p);
        stats(&p, PAGES(900 * MiB), false);
    }
    g_assert_cmpuint(balloon_auto_target(&p), ==, LIMIT);
    now += THROTTLE;
    assert_none(timer(&p), "floor");
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "floor");
}

/* Shares 0: never inflated for host pressure; need and relief still work */
static void test_shares_zero(void)
{
    BalloonAutoPolicy p;
    const BalloonAutoCounters *c;

    setup_defaults(&p);
    c = balloon_auto_counters(&p);
    host(&p, BALLOON_AUTO_LEVEL_CRITICAL);
    catch_up(&p);
    set_shares(&p, 0);
    stats(&p, PAGES(600 * MiB), false);
    now += THROTTLE;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_CRITICAL), "no-shares");
    now += THROTTLE;
    assert_none(host(&p, BALLOON_AUTO_LEVEL_LOW), "no-shares");
    g_assert_cmpuint(balloon_auto_target(&p), ==, CRITICAL);
    /* Counted as ignored: every host event is in exactly one place */
    g_assert_cmpuint(c->ignored, ==, 2);
    g_assert_cmpuint(host_events(&p), ==,
                     c->inflates + c->throttled + c->ignored);
    /* Far above the high watermark: no check, no timer for it */
    host_used(&p, 3900);
    g_assert_cmpuint(balloon_auto_host_deficit(&p), >, 0);
    now += SEC(1);
    g_assert_cmpint(balloon_auto_deadline(&p), ==, now - SEC(1) + RELIEF);
    assert_none(timer(&p), "idle");
    g_assert_cmpuint(c->watermark_inflates, ==, 0);
    g_assert_cmpuint(balloon_auto_target(&p), ==, CRITICAL);

    /* Relief still gives memory back */
    host_used(&p, 3000);
    now += RELIEF;
    assert_action(timer(&p), BALLOON_AUTO_DEFLATE,
                  BALLOON_AUTO_REASON_HOST_RELIEF, CRITICAL - RELIEF_STEP);
    catch_up(&p);
    /* And a guest in need still gets its shortfall back */
    assert_action(stats(&p, PAGES(60 * MiB), true), BALLOON_AUTO_DEFLATE,
                  BALLOON_AUTO_REASON_GUEST_STATS,
                  CRITICAL - RELIEF_STEP - (RESERVE - PAGES(60 * MiB)));
    g_assert_cmpuint(c->shortfalls, ==, 1);
    /* Guest pressure deflates too */
    assert_action(guest(&p), BALLOON_AUTO_DEFLATE,
                  BALLOON_AUTO_REASON_GUEST_MESSAGE,
                  CRITICAL - RELIEF_STEP - (RESERVE - PAGES(60 * MiB)) -
                  DEFLATE);
    /* Back to the default: host pressure inflates again */
    set_shares(&p, BALLOON_AUTO_DEFAULT_SHARES);
    catch_up(&p);
    now += HYSTERESIS;
    stats(&p, PAGES(600 * MiB), false);
    g_assert_cmpint(host(&p, BALLOON_AUTO_LEVEL_LOW).kind, ==,
                    BALLOON_AUTO_INFLATE);
}

/* A guest that spares a page gives it, whatever its shares */
static void test_shares_rounding(void)
{
    static const uint32_t shares[] = { 1, 500, 999, 1001, 2000, 50000 };
    BalloonAutoPolicy p;
    int i;

    for (i = 0; i < ARRAY_SIZE(shares); i++) {
        setup_shares(&p, shares[i]);
        stats(&p, RESERVE + 1, false);
        assert_action(host(&p, BALLOON_AUTO_LEVEL_CRITICAL),
                      BALLOON_AUTO_INFLATE,
                      BALLOON_AUTO_REASON_HOST_CRITICAL, 1);
        /* A step scales likewise: at least a page, at most the step */
        setup_shares(&p, shares[i]);
        host(&p, BALLOON_AUTO_LEVEL_LOW);
        g_assert_cmpuint(balloon_auto_target(&p), ==,
                         MIN(LOW, MAX(LOW * 1000 / shares[i], 1)));
    }
}

/*
 * Two QEMUs on one source, no coordinator, the same host events: the
 * guest with spare memory gives more than the one without, and of two
 * guests with the same spare memory the one with more shares gives less.
 */
static void test_shares_two_guests(void)
{
    BalloonAutoPolicy a, b;
    int i;

    /* a spares 600 - 128 MiB, b only 8 MiB; both with default shares */
    setup(&a);
    setup(&b);
    for (i = 0; i < 5; i++) {
        stats(&a, PAGES(600 * MiB), false);
        stats(&b, RESERVE + PAGES(8 * MiB), false);
        host(&a, BALLOON_AUTO_LEVEL_MEDIUM);
        host(&b, BALLOON_AUTO_LEVEL_MEDIUM);
        catch_up(&a);
        catch_up(&b);
        now += THROTTLE;
    }
    g_assert_cmpuint(balloon_auto_target(&a), ==, 5 * MEDIUM);
    g_assert_cmpuint(balloon_auto_target(&b), ==, 5 * PAGES(8 * MiB));
    g_assert_cmpuint(balloon_auto_target(&a), >, balloon_auto_target(&b));

    /* The same spare memory, shares 1000 and 3000: a third */
    setup(&a);
    setup_shares(&b, 3000);
    for (i = 0; i < 5; i++) {
        stats(&a, PAGES(900 * MiB), false);
        stats(&b, PAGES(900 * MiB), false);
        host(&a, BALLOON_AUTO_LEVEL_MEDIUM);
        host(&b, BALLOON_AUTO_LEVEL_MEDIUM);
        catch_up(&a);
        catch_up(&b);
        now += THROTTLE;
    }
    g_assert_cmpuint(balloon_auto_target(&a), ==, 5 * MEDIUM);
    g_assert_cmpuint(balloon_auto_target(&b), ==, 5 * (MEDIUM / 3));
    /* Bounded by the spare memory, the shares still count */
    setup(&a);
    setup_shares(&b, 3000);
    stats(&a, RESERVE + PAGES(3 * MiB), false);
    stats(&b, RESERVE + PAGES(3 * MiB), false);
    host(&a, BALLOON_AUTO_LEVEL_MEDIUM);
    host(&b, BALLOON_AUTO_LEVEL_MEDIUM);
    g_assert_cmpuint(balloon_auto_target(&a), ==, PAGES(3 * MiB));
    g_assert_cmpuint(balloon_auto_target(&b), ==, PAGES(1 * MiB));
    /* And on the watermark's deficit */
    setup(&a);
    setup_shares(&b, 2000);
    stats(&a, PAGES(900 * MiB), false);
    stats(&b, PAGES(900 * MiB), false);
    host_used(&a, 3700);
    host_used(&b, 3700);
    timer(&a);
    timer(&b);
    g_assert_cmpuint(balloon_auto_target(&a), ==, PAGES(100 * MiB));
    g_assert_cmpuint(balloon_auto_target(&b), ==, PAGES(50 * MiB));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(path, fn) \
    g_test_add_func("/virtio-balloon-auto-policy/" path, fn)

    ADD("config/defaults", test_config_defaults);
    ADD("config/check", test_config_check);
    ADD("config/defaults-scaled", test_config_defaults_scaled);
    ADD("config/check-named", test_config_check_named);
    ADD("config/set-at-run-time", test_set_config_runtime);
    ADD("inflate/step-low", test_step_low);
    ADD("inflate/step-medium", test_step_medium);
    ADD("inflate/step-critical", test_step_critical);
    ADD("throttle/coalesce", test_throttle_coalesce);
    ADD("throttle/storm", test_throttle_storm);
    ADD("throttle/late-timer", test_throttle_late_timer);
    ADD("throttle/zero", test_throttle_zero);
    ADD("guest/cancel", test_cancel);
    ADD("guest/deflate", test_deflate);
    ADD("guest/deflate-at-zero", test_deflate_at_zero);
    ADD("guest/drops-pending", test_guest_drops_pending);
    ADD("guest/hysteresis", test_hysteresis);
    ADD("guest/initiated-deflate", test_guest_initiated_deflate);
    ADD("guest/hostile-actual", test_hostile_actual);
    ADD("floor/never-below", test_floor_never_below);
    ADD("floor/boundary", test_floor_boundary);
    ADD("floor/above-ram", test_floor_above_ram);
    ADD("pile-up/no-progress", test_no_pile_up);
    ADD("pile-up/random", test_no_pile_up_random);
    ADD("stall/once", test_stall_once);
    ADD("stall/on-host-event", test_stall_on_event);
    ADD("stall/progress-postpones", test_stall_progress_postpones);
    ADD("stall/cleared-by-guest", test_stall_cleared_by_guest);
    ADD("stall/drops-pending", test_stall_drops_pending);
    ADD("state/reset", test_reset);
    ADD("state/sync", test_sync);
    ADD("state/ram-pages", test_ram_pages);
    ADD("state/ram-floor", test_ram_floor);
    ADD("state/timing-round-trip", test_timing_round_trip);
    ADD("state/overflow", test_overflow);
    ADD("strings", test_strings);
    ADD("config/check-reserve-relief", test_config_check_new);
    ADD("guest-memory/reserve", test_reserve);
    ADD("guest-memory/inflate-before-stats", test_inflate_before_stats);
    ADD("guest-memory/inflate-sized-by-spare", test_inflate_sized_by_spare);
    ADD("guest-memory/nothing-to-spare", test_inflate_nothing_to_spare);
    ADD("guest-memory/shortfall-deflate", test_shortfall_deflate);
    ADD("guest-memory/pressure-deflate", test_pressure_deflate_by_shortfall);
    ADD("relief/to-empty", test_relief_to_empty);
    ADD("relief/not-while-pressure", test_relief_not_while_pressure);
    ADD("relief/off", test_relief_off);
    ADD("relief/shorter-than-throttle", test_relief_shorter_than_throttle);
    ADD("deadline/always-ahead", test_deadline_always_ahead);
    ADD("relief/no-source", test_relief_no_source);
    ADD("resident/bounds-inflate", test_resident_bounds_inflate);
    ADD("resident/untouched-guest", test_resident_untouched_guest);
    ADD("resident/used-with-balloon", test_resident_used_with_balloon);
    ADD("resident/free-first", test_resident_free_first);
    ADD("watermark/usage-threshold", test_usage_threshold);
    ADD("stats/request-due", test_stats_request_due);
    ADD("stats/budget", test_budget);
    ADD("resident/sample-expires", test_resident_sample_expires);
    ADD("resident/before-stats", test_resident_before_stats);
    ADD("resident/growing-since-sample", test_resident_growing_since_sample);
    ADD("guest/message-level", test_guest_message_level);
    ADD("watermark/defaults", test_watermark_defaults);
    ADD("watermark/crossing", test_watermark_crossing);
    ADD("watermark/bounds", test_watermark_bounds);
    ADD("watermark/not-resident", test_watermark_not_resident);
    ADD("watermark/guest-window", test_watermark_guest_window);
    ADD("watermark/idle", test_watermark_idle);
    ADD("watermark/relief-below-low", test_watermark_relief_below_low);
    ADD("watermark/postpones-relief", test_watermark_postpones_relief);
    ADD("watermark/two-guests", test_watermark_two_guests);
    ADD("watermark/host-event", test_watermark_host_event);
    ADD("watermark/coalesced-stale", test_watermark_coalesced_stale);
    ADD("watermark/config-check", test_watermark_config_check);
    ADD("shares/config", test_shares_config);
    ADD("shares/scale", test_shares_scale);
    ADD("shares/default-unchanged", test_shares_default_unchanged);
    ADD("shares/half", test_shares_half);
    ADD("shares/double", test_shares_double);
    ADD("shares/zero", test_shares_zero);
    ADD("shares/rounding", test_shares_rounding);
    ADD("shares/two-guests", test_shares_two_guests);

#undef ADD

    return g_test_run();
}
