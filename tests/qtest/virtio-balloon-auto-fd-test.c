/*
 * QTest cases for a host pressure source handed over as file descriptors:
 * -add-fd on the command line and the add-fd QMP command (hot-plug), with
 * real eventfds and real PSI triggers, and the refusal of fdsets that are
 * not a pressure source.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "virtio-balloon-auto-guest.h"
#include <sys/eventfd.h>

#define RAM             (1024 * MiB)
#define PSI_SYSTEM      "/proc/pressure/memory"
/* The cgroup v2 root's, where a hybrid hierarchy mounts it */
#define PSI_V2_ROOT     "/sys/fs/cgroup/unified/memory.pressure"

static const char *const levels[] = { "low", "medium", "critical" };

/* An fd the QEMU that qtest_init() starts inherits */
static int inherited(int fd)
{
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fcntl(fd, F_SETFD, 0), ==, 0);
    return fd;
}

static int new_eventfd(void)
{
    return inherited(eventfd(0, EFD_NONBLOCK));
}

/* @file opened for a PSI trigger, armed with @trigger unless NULL */
static int new_psi_fd(const char *file, const char *trigger)
{
    int fd = inherited(open(file, O_RDWR | O_NONBLOCK));

    if (trigger) {
        g_assert_cmpint(write(fd, trigger, strlen(trigger) + 1), >, 0);
    }
    return fd;
}

static bool psi_file_usable(const char *file)
{
    int fd = open(file, O_RDWR | O_NONBLOCK);
    bool ok = fd >= 0 && write(fd, "some 150000 2000000", 20) > 0;

    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

static bool psi_usable(void)
{
    return psi_file_usable(PSI_SYSTEM);
}

/* " -add-fd fd=F,set=S,opaque=L" for each level that has an fd */
static char *add_fds(int set, const int fds[3])
{
    GString *s = g_string_new("");
    int l;

    for (l = 0; l < 3; l++) {
        if (fds[l] >= 0) {
            g_string_append_printf(s, " -add-fd fd=%d,set=%d,opaque=%s",
                                   fds[l], set, levels[l]);
        }
    }
    return g_string_free(s, false);
}

static void close_fds(const int fds[3])
{
    int l;

    for (l = 0; l < 3; l++) {
        if (fds[l] >= 0) {
            close(fds[l]);
        }
    }
}

static QDict *device_add(QTestState *qts, int set)
{
    g_autofree char *source = g_strdup_printf("/dev/fdset/%d", set);

    return qtest_qmp(qts, "{ 'execute': 'device_add', 'arguments':"
                     " { 'driver': 'virtio-balloon-pci', 'id': 'balloon0',"
                     " 'automatic': true, 'auto-source': %s } }", source);
}

static void assert_source(QTestState *qts, int set, const char *backend)
{
    g_autoptr(QDict) info = ag_query(qts);
    g_autofree char *source = g_strdup_printf("/dev/fdset/%d", set);

    g_assert_cmpstr(qdict_get_str(info, "source"), ==, source);
    g_assert_cmpstr(qdict_get_str(info, "backend"), ==, backend);
    g_assert_false(qdict_get_bool(info, "source-gone"));
}

/* Signal level @l's eventfd as the kernel would; wait for its event */
static void signal_level(QTestState *qts, const int fds[3], int l)
{
    g_autofree char *counter = g_strdup_printf("host-events-%s", levels[l]);
    uint64_t one = 1;
    int64_t deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    g_assert_cmpint(ag_counter(qts, counter), ==, 0);
    g_assert_cmpint(write(fds[l], &one, sizeof(one)), ==, sizeof(one));
    while (ag_counter(qts, counter) == 0) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(10 * 1000);
    }
}

/* -add-fd with three eventfds: vmpressure, and an event raises the target */
static void test_eventfds_command_line(void)
{
    int fds[3] = { new_eventfd(), new_eventfd(), new_eventfd() };
    g_autofree char *args = add_fds(3, fds);
    QTestState *qts;

    qts = qtest_initf("-m 1024 -nodefaults%s -device virtio-balloon-pci,"
                      "id=balloon0,automatic=on,auto-source=/dev/fdset/3",
                      args);
    assert_source(qts, 3, "vmpressure");
    g_assert_cmpuint(ag_query_target_pages(qts, RAM), ==, 0);
    /* Only guest RAM the host holds is worth inflating */
    ag_touch_ram(qts, 512 * MiB);
    signal_level(qts, fds, 2);
    g_assert_cmpuint(ag_query_target_pages(qts, RAM), >, 0);
    g_assert_cmpuint(ag_counter(qts, "host-events-low"), ==, 0);
    qtest_quit(qts);
    close_fds(fds);
}

/*
 * Hot-plug: the fds arrive over QMP (SCM_RIGHTS) with add-fd, then
 * device_add; the manager may remove them from the set afterwards.  The
 * monitor makes the fds it receives blocking; the device must not block
 * on the levels that were not signalled.
 */
static void test_eventfds_hotplug(void)
{
    /* Blocking, as a manager may create them */
    int fds[3] = { eventfd(0, 0), eventfd(0, 0), eventfd(0, 0) };
    QTestState *qts = qtest_init("-m 1024 -nodefaults");
    QDict *rsp;
    int l;

    for (l = 0; l < 3; l++) {
        rsp = qtest_qmp_fds(qts, &fds[l], 1, "{ 'execute': 'add-fd',"
                            " 'arguments': { 'fdset-id': 5,"
                            " 'opaque': %s } }", levels[l]);
        g_assert_true(qdict_haskey(rsp, "return"));
        qobject_unref(rsp);
    }
    rsp = device_add(qts, 5);
    g_assert_true(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    qtest_qmp_assert_success(qts, "{ 'execute': 'remove-fd',"
                             " 'arguments': { 'fdset-id': 5 } }");
    assert_source(qts, 5, "vmpressure");
    ag_touch_ram(qts, 512 * MiB);
    signal_level(qts, fds, 1);
    g_assert_cmpuint(ag_query_target_pages(qts, RAM), >, 0);
    qtest_quit(qts);
    close_fds(fds);
}

/* Real PSI triggers armed by the "manager" (this test) */
static void test_psi_command_line(void)
{
    int fds[3];
    g_autofree char *args = NULL;
    QTestState *qts;

    if (!psi_usable()) {
        g_test_skip("cannot write a PSI trigger on " PSI_SYSTEM
                    " (no PSI, or no permission)");
        return;
    }
    fds[0] = new_psi_fd(PSI_SYSTEM, "some 100000 2000000");
    fds[1] = new_psi_fd(PSI_SYSTEM, "some 400000 2000000");
    fds[2] = new_psi_fd(PSI_SYSTEM, "full 400000 2000000");
    args = add_fds(4, fds);
    qts = qtest_initf("-m 1024 -nodefaults%s -device virtio-balloon-pci,"
                      "id=balloon0,automatic=on,auto-source=/dev/fdset/4",
                      args);
    assert_source(qts, 4, "psi");
    qtest_quit(qts);
    close_fds(fds);
}

/*
 * Whether query-fdsets lists fdset @set.  An fdset whose fds were removed
 * stays while QEMU uses duplicates of them (patches/0026), and goes when
 * the last is closed.
 */
static bool fdset_listed(QTestState *qts, int set)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-fdsets' }");
    QListEntry *e;
    bool found = false;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(rsp, "return"), e) {
        QDict *info = qobject_to(QDict, qlist_entry_obj(e));

        found |= qdict_get_int(info, "fdset-id") == set;
    }
    qobject_unref(rsp);
    return found;
}

static QDict *set_source(QTestState *qts, const char *source)
{
    return qtest_qmp(qts, "{ 'execute': 'set-auto-balloon',"
                     " 'arguments': { 'source': %s } }", source);
}

static void assert_error_with(QDict *rsp, const char *expect)
{
    QDict *err = qdict_get_qdict(rsp, "error");
    const char *desc;

    g_assert_nonnull(err);
    desc = qdict_get_str(err, "desc");
    g_test_message("refused: %s", desc);
    if (!strstr(desc, expect)) {
        g_test_message("error '%s' lacks '%s'", desc, expect);
        g_assert_not_reached();
    }
    qobject_unref(rsp);
}

static void add_fd_qmp(QTestState *qts, int set, int fd, const char *role)
{
    QDict *rsp = qtest_qmp_fds(qts, &fd, 1, "{ 'execute': 'add-fd',"
                               " 'arguments': { 'fdset-id': %d,"
                               " 'opaque': %s } }", set, role);

    g_assert_true(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
}

/*
 * The way libvirt's own balloon gets its source: the device exists from
 * the start with auto-source=none; once QEMU runs, the manager arms the
 * source, hands it over with add-fd and attaches it with set-auto-balloon.
 * A source that cannot be attached leaves the current one; "none"
 * detaches it.
 */
static void test_attach_at_run_time(void)
{
    int fds[3] = { eventfd(0, 0), eventfd(0, 0), eventfd(0, 0) };
    int bad[3] = { -1, eventfd(0, 0), eventfd(0, 0) };
    g_autofree char *hmp = NULL;
    int pipefd[2];
    QTestState *qts;
    QDict *info, *rsp;
    int l;

    qts = qtest_init("-m 1024 -nodefaults -device virtio-balloon-pci,"
                     "id=balloon0,automatic=on,auto-source=none");
    info = ag_query(qts);
    g_assert_cmpstr(qdict_get_str(info, "source"), ==, "none");
    g_assert_cmpstr(qdict_get_str(info, "backend"), ==, "none");
    g_assert_false(qdict_get_bool(info, "source-gone"));
    qobject_unref(info);
    hmp = qtest_hmp(qts, "info auto-balloon");
    g_assert_nonnull(strstr(hmp, "source: none attached"));

    /* What libvirt asks at start: the size the balloon already has */
    qtest_qmp_assert_success(qts, "{ 'execute': 'balloon', 'arguments':"
                             " { 'value': %" PRId64 " } }", (int64_t)RAM);
    assert_error_with(qtest_qmp(qts, "{ 'execute': 'balloon', 'arguments':"
                                " { 'value': %" PRId64 " } }",
                                (int64_t)RAM / 2),
                      "automatic ballooning is active");

    /* An id is digits only, as QEMU's own /dev/fdset/ paths take it */
    assert_error_with(set_source(qts, "/dev/fdset/+5"),
                      "'/dev/fdset/+5' is not an fdset");
    assert_error_with(set_source(qts, "/dev/fdset/ 5"),
                      "'/dev/fdset/ 5' is not an fdset");
    /* Before the fds are there: refused, nothing changes */
    assert_error_with(set_source(qts, "/dev/fdset/5"),
                      "automatic ballooning: fdset '/dev/fdset/5' does not"
                      " exist");
    info = ag_query(qts);
    g_assert_cmpstr(qdict_get_str(info, "backend"), ==, "none");
    qobject_unref(info);

    for (l = 0; l < 3; l++) {
        add_fd_qmp(qts, 5, fds[l], levels[l]);
    }
    qtest_qmp_assert_success(qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'source': '/dev/fdset/5' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'remove-fd',"
                             " 'arguments': { 'fdset-id': 5 } }");
    /* Its fds are gone, but the source holds duplicates: in use */
    g_assert_true(fdset_listed(qts, 5));
    assert_source(qts, 5, "vmpressure");
    rsp = qtest_qmp(qts, "{ 'execute': 'qom-get', 'arguments':"
                    " { 'path': '/machine/peripheral/balloon0/virtio-backend',"
                    " 'property': 'auto-source' } }");
    g_assert_cmpstr(qdict_get_str(rsp, "return"), ==, "/dev/fdset/5");
    qobject_unref(rsp);
    ag_touch_ram(qts, 512 * MiB);
    signal_level(qts, fds, 2);
    g_assert_cmpuint(ag_query_target_pages(qts, RAM), >, 0);

    /* An fd of the wrong kind: the attached source stays */
    g_assert_cmpint(pipe(pipefd), ==, 0);
    close(pipefd[1]);
    bad[0] = pipefd[0];
    for (l = 0; l < 3; l++) {
        add_fd_qmp(qts, 6, bad[l], levels[l]);
    }
    assert_error_with(set_source(qts, "/dev/fdset/6"),
                      "'/dev/fdset/6': the fd for level low is 'pipe:[");
    assert_source(qts, 5, "vmpressure");
    signal_level(qts, fds, 1);
    /* The refused attach closed its duplicates: nothing keeps fdset 6 */
    qtest_qmp_assert_success(qts, "{ 'execute': 'remove-fd',"
                             " 'arguments': { 'fdset-id': 6 } }");
    g_assert_false(fdset_listed(qts, 6));

    /* Detached: back to no source */
    qtest_qmp_assert_success(qts, "{ 'execute': 'set-auto-balloon',"
                             " 'arguments': { 'source': 'none' } }");
    info = ag_query(qts);
    g_assert_cmpstr(qdict_get_str(info, "source"), ==, "none");
    g_assert_cmpstr(qdict_get_str(info, "backend"), ==, "none");
    qobject_unref(info);
    /* The source closed its duplicates: fdset 5 is freed */
    g_assert_false(fdset_listed(qts, 5));
    qtest_quit(qts);
    close_fds(fds);
    close_fds(bad);
}

/* device_add of fdset @set, holding @fds, fails with an error with @expect */
static void check_refused(int set, const int fds[3], const char *extra,
                          const char *expect)
{
    g_autofree char *args = add_fds(set, fds);
    QTestState *qts = qtest_initf("-m 512 -nodefaults%s%s", args, extra);
    QDict *rsp = device_add(qts, set);
    QDict *err = qdict_get_qdict(rsp, "error");
    const char *desc;

    g_assert_nonnull(err);
    desc = qdict_get_str(err, "desc");
    g_test_message("fdset %d refused: %s", set, desc);
    if (!strstr(desc, expect)) {
        g_test_message("error '%s' lacks '%s'", desc, expect);
        g_assert_not_reached();
    }
    qobject_unref(rsp);
    qtest_quit(qts);
    close_fds(fds);
}

static void test_refused(void)
{
    g_autofree char *file = NULL;
    g_autofree char *unknown = NULL;
    g_autofree char *twice = NULL;
    g_autofree char *huge = NULL;
    g_autofree char *unknown_long = NULL;
    int pipefd[2];
    int fd;

    /* A regular file */
    fd = inherited(g_file_open_tmp("auto-fd-test-XXXXXX", &file, NULL));
    unlink(file);
    check_refused(10, (int[3]) { new_eventfd(), fd, new_eventfd() }, "",
                  "'/dev/fdset/10': the fd for level medium is '");
    /* A pipe */
    g_assert_cmpint(pipe(pipefd), ==, 0);
    close(pipefd[1]);
    check_refused(11, (int[3]) { new_eventfd(), new_eventfd(),
                                 inherited(pipefd[0]) }, "",
                  "the fd for level critical is 'pipe:[");
    fd = inherited(open("/dev/null", O_RDONLY));
    check_refused(12, (int[3]) { fd, new_eventfd(), new_eventfd() }, "",
                  "expected memory.pressure of a cgroup v2 directory or "
                  PSI_SYSTEM);
    /* A level missing */
    check_refused(13, (int[3]) { new_eventfd(), new_eventfd(), -1 }, "",
                  "'/dev/fdset/13' has no fd for level critical: all of"
                  " low, medium and critical are needed");
    /* A role nobody knows, and a level twice */
    fd = new_eventfd();
    unknown = g_strdup_printf(" -add-fd fd=%d,set=14,opaque=high", fd);
    check_refused(14, (int[3]) { new_eventfd(), new_eventfd(),
                                 new_eventfd() }, unknown,
                  "has opaque 'high': each fd's opaque must name its level");
    close(fd);
    fd = new_eventfd();
    twice = g_strdup_printf(" -add-fd fd=%d,set=15,opaque=low", fd);
    check_refused(15, (int[3]) { new_eventfd(), new_eventfd(),
                                 new_eventfd() }, twice,
                  "is a second fd for 'low'");
    close(fd);
    /* No such set */
    check_refused(16, (int[3]) { -1, -1, -1 }, "",
                  "fdset '/dev/fdset/16' does not exist");
    /*
     * An opaque of any size is told by its length, not quoted: add-fd
     * takes any string (64 KiB: the command line is one argument to sh,
     * at most 128 KiB)
     */
    fd = new_eventfd();
    huge = g_strnfill(64 * KiB, 'x');
    unknown_long = g_strdup_printf(" -add-fd fd=%d,set=19,opaque=%s", fd,
                                   huge);
    check_refused(19, (int[3]) { new_eventfd(), new_eventfd(),
                                 new_eventfd() }, unknown_long,
                  "has an opaque of 65536 bytes: each fd's opaque must name"
                  " its level");
    close(fd);
}

static void test_refused_psi(void)
{
    if (!psi_usable()) {
        g_test_skip("cannot write a PSI trigger on " PSI_SYSTEM);
        return;
    }
    /* PSI without its trigger */
    check_refused(17, (int[3]) { new_psi_fd(PSI_SYSTEM, "some 1 2000000"),
                                 new_psi_fd(PSI_SYSTEM, NULL),
                                 new_psi_fd(PSI_SYSTEM, "full 1 2000000") },
                  "", "the fd for level medium ('" PSI_SYSTEM "') has no PSI"
                  " trigger");
    /* PSI and eventfds mixed */
    check_refused(18, (int[3]) { new_psi_fd(PSI_SYSTEM, "some 1 2000000"),
                                 new_eventfd(),
                                 new_psi_fd(PSI_SYSTEM, "full 1 2000000") },
                  "", "the fd for level low is a PSI file but the fd for"
                  " level medium is an eventfd");
    /* Triggers on two PSI files: the host's and a cgroup's */
    if (!psi_file_usable(PSI_V2_ROOT)) {
        g_test_message("cannot write a PSI trigger on " PSI_V2_ROOT
                       ": PSI files mixed not checked");
        return;
    }
    check_refused(20, (int[3]) { new_psi_fd(PSI_SYSTEM, "some 1 2000000"),
                                 new_psi_fd(PSI_V2_ROOT, "some 1 2000000"),
                                 new_psi_fd(PSI_SYSTEM, "full 1 2000000") },
                  "", "the fd for level medium is '" PSI_V2_ROOT "' but the"
                  " fd for level low is '" PSI_SYSTEM "'");
}

#define MEMCG_ROOT "/sys/fs/cgroup/memory"

/*
 * A vmpressure fdset whose memcg is gone: the kernel's last signal on
 * removal tells the device that first holds it (source-gone), but the
 * eventfds' counts are drained then, so a source attached afterwards
 * would never hear of it.  It is refused, at run time and at creation,
 * as the same memcg named by its path is (ENOENT), and nothing changes.
 */
static void test_memcg_gone(void)
{
    g_autofree char *memcg = NULL, *level_path = NULL, *ctl_path = NULL;
    g_autofree char *args = NULL, *plevel = NULL;
    int fds[3], level_fd, ctl_fd, l;
    int64_t deadline;
    QTestState *qts;
    QDict *info;

    if (geteuid() != 0 ||
        !g_file_test(MEMCG_ROOT "/cgroup.event_control", G_FILE_TEST_EXISTS)) {
        g_test_skip("needs root and a cgroup v1 memory controller at "
                    MEMCG_ROOT);
        return;
    }
    memcg = ag_cgroup_make(MEMCG_ROOT, "fd-gone");
    level_path = g_build_filename(memcg, "memory.pressure_level", NULL);
    ctl_path = g_build_filename(memcg, "cgroup.event_control", NULL);
    level_fd = inherited(open(level_path, O_RDONLY));
    ctl_fd = open(ctl_path, O_WRONLY | O_CLOEXEC);
    g_assert_cmpint(ctl_fd, >=, 0);
    /* As a manager registers them: critical first (see the docs) */
    for (l = 2; l >= 0; l--) {
        g_autofree char *line = NULL;

        fds[l] = new_eventfd();
        line = g_strdup_printf("%d %d %s", fds[l], level_fd, levels[l]);
        g_assert_cmpint(write(ctl_fd, line, strlen(line) + 1), >, 0);
    }
    close(ctl_fd);
    args = add_fds(7, fds);
    plevel = g_strdup_printf(" -add-fd fd=%d,set=7,opaque=pressure_level",
                             level_fd);

    qts = qtest_initf("-m 1024 -nodefaults%s%s -device virtio-balloon-pci,"
                      "id=balloon0,automatic=on,auto-source=/dev/fdset/7",
                      args, plevel);
    assert_source(qts, 7, "vmpressure");
    g_assert_cmpint(rmdir(memcg), ==, 0);
    deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    for (;;) {
        info = ag_query(qts);
        if (qdict_get_bool(info, "source-gone")) {
            break;
        }
        qobject_unref(info);
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(20 * 1000);
    }
    qobject_unref(info);

    assert_error_with(set_source(qts, "/dev/fdset/7"),
                      "the memory cgroup of its memory.pressure_level fd");
    info = ag_query(qts);
    g_assert_true(qdict_get_bool(info, "source-gone"));
    qobject_unref(info);
    qtest_quit(qts);

    /* At creation too */
    check_refused(7, fds, plevel,
                  "the memory cgroup of its memory.pressure_level fd");
    close(level_fd);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (strcmp(qtest_get_arch(), "i386") &&
        strcmp(qtest_get_arch(), "x86_64")) {
        g_test_message("the test drives a virtio-balloon-pci on a PC");
        return g_test_run();
    }
    qtest_add_func("virtio-balloon-auto-fd/eventfd/command-line",
                   test_eventfds_command_line);
    qtest_add_func("virtio-balloon-auto-fd/eventfd/hotplug",
                   test_eventfds_hotplug);
    qtest_add_func("virtio-balloon-auto-fd/psi/command-line",
                   test_psi_command_line);
    qtest_add_func("virtio-balloon-auto-fd/refused", test_refused);
    qtest_add_func("virtio-balloon-auto-fd/refused/psi", test_refused_psi);
    qtest_add_func("virtio-balloon-auto-fd/eventfd/memcg-gone",
                   test_memcg_gone);
    qtest_add_func("virtio-balloon-auto-fd/attach/at-run-time",
                   test_attach_at_run_time);
    return g_test_run();
}
