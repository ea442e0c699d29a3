/*
 * memload: a memory workload that follows a schedule of working-set sizes
 *
 * The guest workload of the over-commit benchmark, in the spirit of ebizzy
 * and memknobs, and on the host the memory hog of the same benchmark.
 *
 *     memload [-d DELAY_S] [-s SEED] [-t TAG] MiB:SECONDS[,MiB:SECONDS...]
 *
 * After DELAY_S seconds the schedule starts; its phases follow each other
 * in CLOCK_MONOTONIC time, so phase i always runs from start + the seconds
 * of the phases before it to start + those seconds + its own, whatever
 * happens in between.  During a phase the working set is the phase's MiB:
 * growing touches new pages with pseudo-random data (never zero pages, nor
 * pages equal to each other, which a kernel could merge or drop), shrinking
 * hands the tail back with MADV_DONTNEED, so the memory really is free.
 * Then, until the phase ends, random 64-byte records of the working set are
 * read and written, and counted.
 *
 * A child process holds the memory and does the work; the parent only keeps
 * time, counts and reports.  The parent asks the OOM killer to spare it
 * (oom_score_adj -1000, where it may: that takes CAP_SYS_RESOURCE) and the
 * child asks to be its first choice (500).  When the child dies the parent
 * reports it and starts a new child (at most one a second), which takes the
 * schedule up where the clock is, re-touching the working set of the
 * current phase.  The child adds its records to a per-phase counter shared
 * with the parent, in batches, and tells the parent through a pipe when a
 * phase is counted in full.  Records of a batch not yet added when a child
 * is killed are lost, and so are those a child (starved of CPU, or stuck
 * in reclaim) adds more than ACK_TIMEOUT_NS after its phase: the phase
 * line is printed by then, and the total is the sum of the phase lines.
 *
 * Output, on stdout, one line per event, nothing else while a phase runs:
 *     TAG: start phases=N delay=Ds max=MiB seed=S
 *     TAG: phase I/N ws=MiB secs=S records=R rate=R_PER_S oom_kills=K
 *     TAG: oom-killed phase=I                   child died of SIGKILL
 *     TAG: killed phase=I signal=SIG            child died of another signal
 *     TAG: child died phase=I status=STATUS     child exited before the end
 *     TAG: done records=TOTAL oom_kills=K elapsed=SECONDS
 *     TAG: stopped                              parent got SIGTERM or SIGINT
 * Exit status: 0 when the schedule completes or on SIGTERM/SIGINT, 1 on a
 * system error, 2 on bad usage.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB_SHIFT 20
#define NS_PER_S 1000000000ULL

/* Limits of the command line; anything above is refused, not clamped. */
#define MAX_PHASES 1000
#define MAX_MIB (1ULL << 20)            /* 1 TiB */
#define MAX_SECS (7ULL * 24 * 3600)     /* a phase, and the delay */
#define MAX_TAG_LEN 32

#define RECORD_SIZE 64
/* Records between two looks at the clock and two updates of the counter. */
#define RECORD_BATCH 4096
/* Bytes touched between two looks at the clock while growing. */
#define GROW_CHUNK (1ULL << MIB_SHIFT)

/* A new child starts at most this often (a child that cannot live). */
#define RESPAWN_INTERVAL_NS (1 * NS_PER_S)
/* How long the parent waits for the child's count at a phase's end. */
#define ACK_TIMEOUT_NS (1 * NS_PER_S)
/* How long the parent waits for the child to exit at the end. */
#define EXIT_TIMEOUT_NS (2 * NS_PER_S)

#define PARENT_OOM_SCORE_ADJ "-1000"
#define CHILD_OOM_SCORE_ADJ "500"

#define EXIT_USAGE 2

typedef struct Phase {
    uint64_t mib;
    uint64_t secs;
    uint64_t end_s;         /* seconds from the start to its end */
} Phase;

typedef struct Memload {
    /* The command line */
    const char *tag;
    uint64_t delay_s;
    uint64_t seed;
    Phase phases[MAX_PHASES];
    unsigned n_phases;
    uint64_t max_mib;

    /* Set up by the parent before the first child */
    uint64_t start_ns;      /* CLOCK_MONOTONIC time the schedule starts */
    uint8_t *area;          /* max_mib reserved, touched only by children */
    uint64_t *records;      /* per phase, MAP_SHARED with the children */
    int sigfd;              /* SIGCHLD, SIGTERM, SIGINT for the parent */
    int ack_rd, ack_wr;     /* child -> parent: "phase i is counted" */
    sigset_t old_mask;
    pid_t parent;

    /* Parent state */
    pid_t child;            /* 0: none */
    unsigned generation;    /* children started so far */
    uint64_t child_start_ns;
    uint64_t next_spawn_ns;
    unsigned acked;         /* phases counted by a child, 0..n_phases */
    uint64_t total_records; /* of the phase lines printed so far */
    unsigned kills[MAX_PHASES];
} Memload;

static uint64_t memload_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* splitmix64 (Steele, Lea, Flood, OOPSLA 2014): fast, and any seed works */
static uint64_t memload_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* --- Command line ------------------------------------------------------ */

static void memload_usage(FILE *f)
{
    fprintf(f,
            "usage: memload [-d DELAY_S] [-s SEED] [-t TAG] PHASES\n"
            "  PHASES   MiB:SECONDS[,MiB:SECONDS...], e.g. 800:30,200:30\n"
            "           (MiB may be 0; SECONDS at least 1)\n"
            "  -d       seconds to wait before the schedule starts "
            "(default 0)\n"
            "  -s       seed of the pseudo-random numbers "
            "(default: time and pid)\n"
            "  -t       prefix of the output lines (default memload)\n");
}

/* Print "memload: MESSAGE" and the usage, exit with EXIT_USAGE. */
static void __attribute__((noreturn, format(printf, 1, 2)))
memload_bad_usage(const char *fmt, ...)
{
    va_list ap;

    fputs("memload: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    memload_usage(stderr);
    exit(EXIT_USAGE);
}

/* Print "memload: MESSAGE: strerror(errno)" and exit with status 1. */
static void __attribute__((noreturn, format(printf, 1, 2)))
memload_fail(const char *fmt, ...)
{
    int err = errno;
    va_list ap;

    fputs("memload: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", strerror(err));
    exit(1);
}

typedef enum NumResult {
    NUM_OK,
    NUM_NOT_A_NUMBER,
    NUM_TOO_LARGE,
} NumResult;

/*
 * Parse the LEN characters at S as a decimal number of at most MAX.
 * Digits only: no sign, no blanks, no base prefix, at least one digit.
 */
static NumResult memload_parse_num(const char *s, size_t len, uint64_t max,
                                   uint64_t *value)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0) {
        return NUM_NOT_A_NUMBER;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return NUM_NOT_A_NUMBER;
        }
    }
    for (i = 0; i < len; i++) {
        unsigned digit = s[i] - '0';

        if (digit > max || v > (max - digit) / 10) {
            return NUM_TOO_LARGE;
        }
        v = v * 10 + digit;
    }
    *value = v;
    return NUM_OK;
}

/* Parse the value of option -OPT, at most MAX, or exit with a message. */
static uint64_t memload_option_num(char opt, const char *arg, uint64_t max)
{
    uint64_t v = 0;

    switch (memload_parse_num(arg, strlen(arg), max, &v)) {
    case NUM_OK:
        break;
    case NUM_NOT_A_NUMBER:
        memload_bad_usage("-%c '%s' is not a decimal number", opt, arg);
    case NUM_TOO_LARGE:
        memload_bad_usage("-%c '%s' is out of range (at most %" PRIu64 ")",
                          opt, arg, max);
    }
    return v;
}

/* Parse field WHAT ("MiB" or "SECONDS") of phase NR, the text PHASE. */
static uint64_t memload_phase_num(unsigned nr, const char *phase,
                                  size_t phase_len, const char *what,
                                  const char *s, size_t len, uint64_t max)
{
    uint64_t v = 0;

    if (len == 0) {
        memload_bad_usage("phase %u '%.*s': %s is missing",
                          nr, (int)phase_len, phase, what);
    }
    switch (memload_parse_num(s, len, max, &v)) {
    case NUM_OK:
        break;
    case NUM_NOT_A_NUMBER:
        memload_bad_usage("phase %u '%.*s': %s '%.*s' is not a decimal number",
                          nr, (int)phase_len, phase, what, (int)len, s);
    case NUM_TOO_LARGE:
        memload_bad_usage("phase %u '%.*s': %s '%.*s' is out of range "
                          "(at most %" PRIu64 ")",
                          nr, (int)phase_len, phase, what, (int)len, s, max);
    }
    return v;
}

/* Append the phase "MiB:SECONDS" (the LEN characters at S) to M. */
static void memload_parse_phase(Memload *m, const char *s, size_t len)
{
    unsigned i = m->n_phases;
    const char *colon = memchr(s, ':', len);
    Phase *ph;

    if (i == MAX_PHASES) {
        memload_bad_usage("more than %d phases", MAX_PHASES);
    }
    ph = &m->phases[i];
    if (len == 0) {
        memload_bad_usage("phase %u is empty", i + 1);
    }
    if (!colon) {
        memload_bad_usage("phase %u '%.*s' is not MiB:SECONDS",
                          i + 1, (int)len, s);
    }
    ph->mib = memload_phase_num(i + 1, s, len, "MiB", s, colon - s, MAX_MIB);
    ph->secs = memload_phase_num(i + 1, s, len, "SECONDS", colon + 1,
                                 s + len - colon - 1, MAX_SECS);
    if (ph->secs == 0) {
        memload_bad_usage("phase %u '%.*s': SECONDS must be at least 1",
                          i + 1, (int)len, s);
    }
    ph->end_s = (i ? m->phases[i - 1].end_s : 0) + ph->secs;
    if (ph->mib > m->max_mib) {
        m->max_mib = ph->mib;
    }
    m->n_phases++;
}

static void memload_parse_phases(Memload *m, const char *arg)
{
    const char *p = arg;
    const char *comma;

    if (*arg == '\0') {
        memload_bad_usage("PHASES is empty");
    }
    for (;;) {
        comma = strchrnul(p, ',');
        memload_parse_phase(m, p, comma - p);
        if (*comma == '\0') {
            return;
        }
        p = comma + 1;
    }
}

/* A tag starts every output line: one word, \w+ in a regular expression. */
static const char *memload_option_tag(const char *arg)
{
    size_t len = strlen(arg);

    if (len == 0 || len > MAX_TAG_LEN ||
        strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
               "0123456789_") != len) {
        memload_bad_usage("-t '%s': a tag is 1 to %d characters out of "
                          "A-Z a-z 0-9 _", arg, MAX_TAG_LEN);
    }
    return arg;
}

/* A seed when -s is not given: different per run and per process. */
static uint64_t memload_default_seed(void)
{
    struct timespec ts;
    uint64_t state;

    clock_gettime(CLOCK_REALTIME, &ts);
    state = (uint64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
    state ^= (uint64_t)getpid() << 32;
    return memload_rand(&state);
}

static void memload_parse_args(Memload *m, int argc, char **argv)
{
    bool have_seed = false;
    int opt;

    m->tag = "memload";
    opterr = 0;
    while ((opt = getopt(argc, argv, "+:d:s:t:h")) != -1) {
        switch (opt) {
        case 'd':
            m->delay_s = memload_option_num(opt, optarg, MAX_SECS);
            break;
        case 's':
            m->seed = memload_option_num(opt, optarg, UINT64_MAX);
            have_seed = true;
            break;
        case 't':
            m->tag = memload_option_tag(optarg);
            break;
        case 'h':
            memload_usage(stdout);
            exit(0);
        case ':':
            memload_bad_usage("option -%c needs a value", optopt);
        default:
            memload_bad_usage("unknown option -%c", optopt);
        }
    }
    if (argc - optind != 1) {
        memload_bad_usage("expected one PHASES argument, got %d",
                          argc - optind);
    }
    memload_parse_phases(m, argv[optind]);
    if (!have_seed) {
        m->seed = memload_default_seed();
    }
}

/* --- Both processes ---------------------------------------------------- */

static uint64_t memload_phase_end_ns(const Memload *m, unsigned i)
{
    return m->start_ns + m->phases[i].end_s * NS_PER_S;
}

/* The phase running at NOW_NS, or n_phases once the schedule is over. */
static unsigned memload_phase_at(const Memload *m, uint64_t now_ns)
{
    unsigned i = 0;

    while (i < m->n_phases && memload_phase_end_ns(m, i) <= now_ns) {
        i++;
    }
    return i;
}

/*
 * Best effort: without /proc, or without CAP_SYS_RESOURCE for a negative
 * value, the OOM killer just makes its default choice.
 */
static void memload_set_oom_score_adj(const char *value)
{
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    ssize_t ret;

    if (fd < 0) {
        return;
    }
    ret = write(fd, value, strlen(value));
    (void)ret;
    close(fd);
}

/* --- Child: holds the working set and does the work ------------------- */

static void memload_sleep_until(uint64_t deadline_ns)
{
    struct timespec ts = {
        .tv_sec = deadline_ns / NS_PER_S,
        .tv_nsec = deadline_ns % NS_PER_S,
    };

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
           EINTR) {
        continue;
    }
}

/*
 * Touch the LEN bytes at P (whole records): the first word of every record
 * gets xorshift64 output (Marsaglia, "Xorshift RNGs", J. Stat. Softw.
 * 8(14), 2003), which is never zero from a non-zero state.  So no page is
 * a zero page or equal to another one, yet growing costs little more than
 * the page faults, also under TCG.  The other words stay zero until the
 * records are worked on: the pages compress well (zswap, zram).
 */
static void memload_fill(uint8_t *p, size_t len, uint64_t *rng)
{
    uint64_t x = memload_rand(rng) | 1;
    size_t off;

    for (off = 0; off < len; off += RECORD_SIZE) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *(uint64_t *)(p + off) = x;
    }
}

/*
 * Make the working set TARGET bytes, from WS bytes: hand back the tail, or
 * touch new pages until done or END_NS.  Returns the new working set.
 */
static size_t memload_resize(Memload *m, size_t ws, size_t target,
                             uint64_t end_ns, uint64_t *rng)
{
    size_t chunk;

    if (target < ws) {
        if (madvise(m->area + target, ws - target, MADV_DONTNEED)) {
            memload_fail("madvise(MADV_DONTNEED) of %zu MiB",
                         (ws - target) >> MIB_SHIFT);
        }
        return target;
    }
    while (ws < target && memload_now_ns() < end_ns) {
        chunk = target - ws < GROW_CHUNK ? target - ws : GROW_CHUNK;
        memload_fill(m->area + ws, chunk, rng);
        ws += chunk;
    }
    return ws;
}

/* Read and write RECORD_BATCH random records of the N_RECORDS at AREA. */
static void memload_record_batch(uint8_t *area, uint64_t n_records,
                                 uint64_t *rng)
{
    unsigned k, w;

    for (k = 0; k < RECORD_BATCH; k++) {
        uint64_t r = memload_rand(rng);
        uint64_t index = (uint64_t)(((unsigned __int128)r * n_records) >> 64);
        uint64_t *rec = (uint64_t *)(area + index * RECORD_SIZE);
        uint64_t sum = 0;

        for (w = 0; w < RECORD_SIZE / sizeof(*rec); w++) {
            sum += rec[w];
        }
        rec[r & (RECORD_SIZE / sizeof(*rec) - 1)] += sum | 1;
    }
}

/* Work on the WS bytes of phase I until END_NS, counting in m->records. */
static void memload_work(Memload *m, unsigned i, size_t ws, uint64_t end_ns,
                         uint64_t *rng)
{
    uint64_t n_records = ws / RECORD_SIZE;

    if (n_records == 0) {
        memload_sleep_until(end_ns);
        return;
    }
    while (memload_now_ns() < end_ns) {
        memload_record_batch(m->area, n_records, rng);
        __atomic_fetch_add(&m->records[i], RECORD_BATCH, __ATOMIC_RELAXED);
    }
}

/* Tell the parent that phase I is counted in full. */
static void memload_ack(Memload *m, unsigned i)
{
    uint32_t msg = i;
    ssize_t ret = write(m->ack_wr, &msg, sizeof(msg));

    (void)ret;      /* the parent stops waiting after ACK_TIMEOUT_NS */
}

static void memload_child_init(Memload *m)
{
    /* The parent stops the child (SIGKILL), here or when it dies itself. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    sigprocmask(SIG_SETMASK, &m->old_mask, NULL);
    close(m->sigfd);
    close(m->ack_rd);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != m->parent) {
        _exit(1);
    }
    memload_set_oom_score_adj(CHILD_OOM_SCORE_ADJ);
}

static void __attribute__((noreturn)) memload_child(Memload *m)
{
    uint64_t generation = m->generation;
    uint64_t rng = m->seed ^ memload_rand(&generation);
    size_t ws = 0;
    unsigned i;

    memload_child_init(m);
    for (i = memload_phase_at(m, memload_now_ns()); i < m->n_phases; i++) {
        uint64_t end_ns = memload_phase_end_ns(m, i);

        ws = memload_resize(m, ws, m->phases[i].mib << MIB_SHIFT, end_ns,
                            &rng);
        memload_work(m, i, ws, end_ns, &rng);
        memload_ack(m, i);
    }
    _exit(0);
}

/* --- Parent: keeps time, restarts the child, reports ------------------- */

static void memload_setup(Memload *m)
{
    size_t bytes = m->max_mib << MIB_SHIFT;
    int ack[2];
    sigset_t set;

    /* Address space only: a child's touches are its own (private). */
    if (bytes) {
        m->area = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m->area == MAP_FAILED) {
            memload_fail("cannot reserve %" PRIu64 " MiB", m->max_mib);
        }
    }
    m->records = mmap(NULL, m->n_phases * sizeof(*m->records),
                      PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                      -1, 0);
    if (m->records == MAP_FAILED) {
        memload_fail("mmap of the shared counters");
    }
    if (pipe2(ack, O_CLOEXEC)) {
        memload_fail("pipe");
    }
    m->ack_rd = ack[0];
    m->ack_wr = ack[1];
    if (fcntl(m->ack_rd, F_SETFL, O_NONBLOCK)) {
        memload_fail("fcntl");
    }
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, &m->old_mask);
    m->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (m->sigfd < 0) {
        memload_fail("signalfd");
    }
    m->parent = getpid();
    memload_set_oom_score_adj(PARENT_OOM_SCORE_ADJ);
}

static void memload_spawn(Memload *m)
{
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        /* Out of memory for a new process, most likely: retry later. */
        fprintf(stderr, "memload: fork: %s, retrying\n", strerror(errno));
        m->next_spawn_ns = memload_now_ns() + RESPAWN_INTERVAL_NS;
        return;
    }
    if (pid == 0) {
        memload_child(m);
    }
    m->child = pid;
    m->generation++;
    m->child_start_ns = memload_now_ns();
}

static void memload_read_acks(Memload *m)
{
    uint32_t msg;

    while (read(m->ack_rd, &msg, sizeof(msg)) == sizeof(msg)) {
        if (msg < m->n_phases && msg + 1 > m->acked) {
            m->acked = msg + 1;
        }
    }
}

/* Report how the child ended, during phase I. */
static void memload_report_end(Memload *m, unsigned i, int status)
{
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
        m->kills[i]++;
        printf("%s: oom-killed phase=%u\n", m->tag, i + 1);
    } else if (WIFSIGNALED(status)) {
        printf("%s: killed phase=%u signal=%d\n", m->tag, i + 1,
               WTERMSIG(status));
    } else if (WEXITSTATUS(status) != 0 || m->acked < m->n_phases) {
        printf("%s: child died phase=%u status=%d\n", m->tag, i + 1,
               WEXITSTATUS(status));
    }
}

static void memload_reap(Memload *m, unsigned i)
{
    int status;

    if (!m->child || waitpid(m->child, &status, WNOHANG) <= 0) {
        return;
    }
    /* A child that has finished sent its last message before it exited. */
    memload_read_acks(m);
    m->child = 0;
    m->next_spawn_ns = m->child_start_ns + RESPAWN_INTERVAL_NS;
    memload_report_end(m, i, status);
}

static void __attribute__((noreturn)) memload_stop(Memload *m)
{
    if (m->child) {
        kill(m->child, SIGKILL);
        waitpid(m->child, NULL, 0);
    }
    printf("%s: stopped\n", m->tag);
    exit(0);
}

static void memload_read_signals(Memload *m, unsigned i)
{
    struct signalfd_siginfo si;

    while (read(m->sigfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo != SIGCHLD) {
            memload_stop(m);
        }
        memload_reap(m, i);
    }
}

/* Wait for a signal, a child's message or DEADLINE_NS, during phase I. */
static void memload_wait(Memload *m, uint64_t deadline_ns, unsigned i)
{
    struct pollfd fds[] = {
        { .fd = m->sigfd, .events = POLLIN },
        { .fd = m->ack_rd, .events = POLLIN },
    };
    uint64_t now_ns = memload_now_ns();
    uint64_t left_ns = deadline_ns > now_ns ? deadline_ns - now_ns : 0;
    struct timespec ts = {
        .tv_sec = left_ns / NS_PER_S,
        .tv_nsec = left_ns % NS_PER_S,
    };

    if (ppoll(fds, 2, &ts, NULL) <= 0) {
        return;
    }
    if (fds[0].revents) {
        memload_read_signals(m, i);
    }
    if (fds[1].revents) {
        memload_read_acks(m);
    }
}

/* Keep a child running through phase I, then print its line. */
static void memload_run_phase(Memload *m, unsigned i)
{
    uint64_t end_ns = memload_phase_end_ns(m, i);
    uint64_t deadline_ns, records;
    const Phase *ph = &m->phases[i];

    for (;;) {
        uint64_t now_ns = memload_now_ns();

        if (!m->child && now_ns >= m->next_spawn_ns && now_ns < end_ns) {
            memload_spawn(m);
        }
        if (now_ns >= end_ns) {
            break;
        }
        deadline_ns = end_ns;
        if (!m->child && m->next_spawn_ns < deadline_ns) {
            deadline_ns = m->next_spawn_ns;
        }
        memload_wait(m, deadline_ns, i);
    }
    /* The child adds its last batch of the phase, then says so. */
    deadline_ns = end_ns + ACK_TIMEOUT_NS;
    while (m->child && m->acked <= i && memload_now_ns() < deadline_ns) {
        memload_wait(m, deadline_ns, i);
    }
    records = __atomic_load_n(&m->records[i], __ATOMIC_RELAXED);
    m->total_records += records;
    printf("%s: phase %u/%u ws=%" PRIu64 " secs=%" PRIu64 " records=%"
           PRIu64 " rate=%" PRIu64 " oom_kills=%u\n",
           m->tag, i + 1, m->n_phases, ph->mib, ph->secs, records,
           records / ph->secs, m->kills[i]);
}

/* Let the child exit by itself (it has finished), then print the total. */
static void memload_finish(Memload *m)
{
    uint64_t deadline_ns = memload_now_ns() + EXIT_TIMEOUT_NS;
    unsigned kills = 0;
    unsigned i;

    while (m->child && memload_now_ns() < deadline_ns) {
        memload_wait(m, deadline_ns, m->n_phases - 1);
    }
    if (m->child) {
        kill(m->child, SIGKILL);
        waitpid(m->child, NULL, 0);
        m->child = 0;
    }
    for (i = 0; i < m->n_phases; i++) {
        kills += m->kills[i];
    }
    printf("%s: done records=%" PRIu64 " oom_kills=%u elapsed=%.1f\n",
           m->tag, m->total_records, kills,
           (double)(memload_now_ns() - m->start_ns) / NS_PER_S);
}

int main(int argc, char **argv)
{
    static Memload m;
    unsigned i;

    memload_parse_args(&m, argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    memload_setup(&m);
    printf("%s: start phases=%u delay=%" PRIu64 "s max=%" PRIu64
           " seed=%" PRIu64 "\n",
           m.tag, m.n_phases, m.delay_s, m.max_mib, m.seed);
    m.start_ns = memload_now_ns() + m.delay_s * NS_PER_S;
    while (memload_now_ns() < m.start_ns) {
        memload_wait(&m, m.start_ns, 0);
    }
    for (i = 0; i < m.n_phases; i++) {
        memload_run_phase(&m, i);
    }
    memload_finish(&m);
    return 0;
}
