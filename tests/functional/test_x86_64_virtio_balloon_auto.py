#!/usr/bin/env python3
#
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Automatic ballooning (-device virtio-balloon-pci,automatic=on) with a
# real guest under real host memory pressure.
#
# The guest is the project's test guest, built locally from Debian's
# packages by scripts/build-guest.sh (Debian 12 cloud kernel with the stock
# virtio_balloon driver, a busybox initramfs and the memload workload);
# AUTOBALLOON_GUEST_DIR names its directory.  Nothing is downloaded.
#
# Each test creates a memory cgroup with a limit and a temporary swap file
# (tests/functional/autoballoon/host.py), starts QEMU under TCG stopped
# (-S), moves it into the cgroup and lets it run, with the cgroup as
# auto-source.  The guest runs memload with a schedule of working-set
# sizes; on the host, memload is the hog that pushes the cgroup to its
# limit, so the pressure notifications are the kernel's own.  Everything
# is removed again, also when a test fails or the run is interrupted
# (SIGTERM, SIGINT).
#
# Environment:
#   AUTOBALLOON_GUEST_DIR     vmlinuz, initramfs.cpio.gz and the host's
#                             memload (scripts/build-guest.sh DIR);
#                             the tests skip when it is unset or incomplete
#   AUTOBALLOON_FIRMWARE_DIR  -L for QEMU (default: the build's pc-bios)
#   AUTOBALLOON_QEMU_EXTRA_MIB, AUTOBALLOON_TIME_FACTOR  room and time
#                             for a sanitizer build (see below)
# The tests skip, saying why, without root, without a memory cgroup
# controller or without the swap tools.  The guest's virtio_balloon is the
# stock module unless a test asks for the companion driver (patches/linux,
# autoballoon.driver=companion); those tests skip with an image that has
# no companion module.

import os
import re
import signal
import time

from qemu_test import QemuSystemTest, BUILD_DIR
from qemu.qmp import ExecuteError

from autoballoon import guest
from autoballoon import host

MIB = 1 << 20


def env_int(name, default, minimum):
    """The whole number in environment variable @name (@default when it
    is unset or empty), refused with a message naming it unless it is at
    least @minimum."""
    text = os.environ.get(name) or str(default)
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ValueError(f'{name} must be a whole number of at least'
                         f' {minimum}, not {text!r}')
    return value


# The guest and its host cgroup.  The guest fills FILL_MIB, then keeps
# IDLE_MIB: what it freed stays resident in QEMU until the balloon takes
# it.  With the hog in the cgroup, the cgroup needs more than its limit,
# so it reclaims (and swaps) and signals pressure.
GUEST_MIB = 1024
LIMIT_MIB = 1152
SWAP_MIB = 1024
FILL_MIB = 600
IDLE_MIB = 100
# The hog grows by HOG_STEP_MIB per second up to HOG_MIB and stays there.
HOG_MIB = 640
HOG_STEP_MIB = 160

# The guests keep time with the HPET, not the TSC.  Under TCG a guest's
# TSC is the host's raw rdtsc (cpu_get_host_ticks()), which QEMU guards
# against going backwards only; on a host whose TSC can jump (a virtual
# machine booted with tsc=unstable), the guest's clock jumped 454965 s
# once, memload's phases ended at once and a test timed out.  The HPET
# counts QEMU's virtual clock, which follows the host's CLOCK_MONOTONIC.
GUEST_CLOCK_ARGS = 'clocksource=hpet'

# The limits above are sized for a plain QEMU.  One built with the
# sanitizers needs more host memory besides its guest's (shadow memory,
# allocator metadata, the freed-memory quarantine: measured 36 MiB more
# with ASan's quarantine at 16 MiB, scripts/check-sanitizers.sh), which
# would put the cgroup under pressure before a test's hog does; each QEMU
# a test starts raises the limit by this much.  0 in `make check`.
QEMU_EXTRA_MIB = env_int('AUTOBALLOON_QEMU_EXTRA_MIB', 0, 0)

# Such a QEMU also runs the guest slower where it matters here, in the
# host page faults of a guest that grows while the host swaps: with ASan,
# guest_growth()'s guest took 22 s from the start of its growth to its
# first pressure message, against 5 s with a plain QEMU, and was still
# growing when its 30 s phase ended.  A phase that the guest's workload
# must get through within its own clock is stretched by this factor
# (scripts/check-sanitizers.sh sets 2).  1 in `make check`.
TIME_FACTOR = env_int('AUTOBALLOON_TIME_FACTOR', 1, 1)

# Seconds, under TCG on a slow 2-core host.  memload's phases run on the
# guest's clock from its start; FILL_S must cover growing to FILL_MIB.
BOOT_TIMEOUT_S = 120
FILL_S = 10
INFLATE_TIMEOUT_S = 60
# How far host pressure must have inflated before a test goes on.
INFLATED_MIB = 128
# test_page_cache_inflates: the page cache the guest holds (read from a
# data disk), as much as FILL_MIB
CACHE_MIB = 600

READY = 'GUEST READY'

# The balloon tests turn off free page reporting, which automatic=on
# offers by default: it hands the host what the guest freed within
# seconds, before the hog builds any pressure, and then there is nothing
# for the balloon to do (test_default_reports_freed_memory checks that).
BALLOON = 'automatic=on,free-page-reporting=off,auto-source={source}'


class Interrupted(Exception):
    """SIGTERM or SIGINT: fail the current test so its cleanups run."""


_interrupted = []


def _on_signal(signum, _frame):
    _interrupted.append(signum)
    raise Interrupted(f'interrupted by signal {signum}')


def panic_line(text):
    return text[text.index('Kernel panic'):].splitlines()[0]


class Sample:
    """One look at the balloon, the guest and the cgroup."""

    def __init__(self, t, auto, balloon, cg):
        self.t = t
        self.enabled = auto['enabled']
        self.target = auto['target'] // MIB
        self.actual = balloon // MIB     # query-balloon: the guest's size
        self.window = auto['guest-window-open']
        self.c = auto['counters']
        self.host_events = (self.c['host-events-low'] +
                            self.c['host-events-medium'] +
                            self.c['host-events-critical'])
        self.usage = cg.usage() // MIB
        sw = cg.swap_usage()
        self.swap = sw // MIB if sw is not None else -1

    def __str__(self):
        c = self.c
        return (f't={self.t:5.1f}s target={self.target} actual={self.actual}'
                f' MiB enabled={self.enabled} window={self.window}'
                f' cgroup={self.usage} swap={self.swap} MiB'
                f' host-events={c["host-events-low"]}/'
                f'{c["host-events-medium"]}/{c["host-events-critical"]}'
                f' ignored={c["ignored"]} inflates={c["inflates"]}'
                f' deflates={c["deflates"]} cancels={c["cancels"]}'
                f' guest-stats={c["guest-stats"]}'
                f' guest-messages={c["guest-messages"]}'
                f' guest-deflates={c["guest-deflates"]}'
                f' stalls={c["stalls"]}')


class VirtioBalloonAutoX86(QemuSystemTest):
    """A stock Debian guest ballooned by automatic mode under real host
    memory pressure, inside a memory cgroup with swap."""

    def setUp(self):
        # What this host and environment lack is a skip with its reason;
        # checked before the framework's setUp, which a skip there would
        # leave half done.
        self.guest_dir = os.environ.get('AUTOBALLOON_GUEST_DIR')
        if not self.guest_dir:
            self.skipTest('AUTOBALLOON_GUEST_DIR is not set (a guest made'
                          ' by scripts/build-guest.sh DIR)')
        missing = [f for f in ('vmlinuz', 'initramfs.cpio.gz', 'memload')
                   if not os.path.isfile(os.path.join(self.guest_dir, f))]
        if missing:
            self.skipTest(f'no {", ".join(missing)} in {self.guest_dir}'
                          ' (scripts/build-guest.sh DIR)')
        ok, why = host.can_run()
        if not ok:
            self.skipTest(why)
        if _interrupted:
            self.skipTest('the run was interrupted')
        super().setUp()
        self.firmware_dir = os.environ.get('AUTOBALLOON_FIRMWARE_DIR',
                                           os.path.join(BUILD_DIR, 'pc-bios'))
        self.serial = self.log_file('serial.log')
        self.memload = os.path.join(self.guest_dir, 'memload')
        self.t0 = None
        self.guest_vm = None
        self.hog = None
        self.samples = []
        # AUTO_BALLOON_ACTION events seen while sampling: (t, action,
        # reason, target MiB)
        self.actions = []
        self.serials = {}       # VM -> its console log, if not serial.log
        self.old_handlers = {s: signal.signal(s, _on_signal)
                             for s in (signal.SIGTERM, signal.SIGINT)}
        self.addCleanup(self._restore_signals)
        # Cleanups run after tearDown has shut QEMU down, last first: the
        # hog stops, then the cgroup goes, then the swap file.
        self.swap = host.SwapFile(SWAP_MIB * MIB)
        self.addCleanup(self.swap.remove)
        self.cg = host.MemCgroup(f'qemu-autoballoon-functional-{os.getpid()}',
                                 LIMIT_MIB * MIB)
        self.addCleanup(self.cg.remove)
        self.log.info('cgroup %s (%s), limit %d MiB; swap %s, %d MiB',
                      self.cg.path, self.cg.kind, LIMIT_MIB, self.swap.path,
                      SWAP_MIB)

    def tearDown(self):
        # A QEMU that is gone already (a crash), or going (the signal that
        # interrupted the run went to its process group too), is waited
        # for or killed: the framework's shutdown would fail on its dead
        # monitor.
        vm = self.guest_vm
        if vm is not None and vm.exitcode() is not None:
            vm.wait()
        elif vm is not None and _interrupted:
            vm.kill()
        super().tearDown()

    def _restore_signals(self):
        for s, h in self.old_handlers.items():
            signal.signal(s, h)

    # --- guest and host ------------------------------------------------

    def launch(self, phases, props='', reboot=False, balloon=None,
               driver=None, guest_mib=GUEST_MIB, kernel_extra='',
               qemu_extra=(), name='guest', serial=None, disk=False,
               cache_mib=0, data_disk=None):
        """Start the guest with memload @phases, inside the cgroup.

        @props: more balloon device properties.  @reboot: a reset reboots
        the guest (the default, -no-reboot, turns it into an exit).
        @balloon: the device's properties instead of BALLOON's.
        @driver: 'stock' or 'companion' (the guest's virtio_balloon;
        with 'companion' the device gets x-auto-message-queue=on).
        @kernel_extra: more guest kernel arguments; @qemu_extra: more
        QEMU arguments.  @name: the VM's name, one per QEMU of a test.
        @serial: its console log (default: the test's serial.log).
        @disk: boot from a disk image (guest.disk_image()), not -kernel.
        @data_disk: a second disk, of which the guest reads @cache_mib MiB
        into its page cache before GUEST READY.
        """
        serial = serial or self.serial
        balloon = balloon or BALLOON.format(source=self.cg.source)
        if props:
            balloon += ',' + props
        if driver == 'companion':
            # the companion driver speaks on the message queue, which the
            # device offers only on request (experimental)
            balloon += ',x-auto-message-queue=on'
        extra = ' '.join(a for a in (GUEST_CLOCK_ARGS, kernel_extra) if a)
        append = guest.kernel_args(phases, driver=driver, extra=extra,
                                   cache_mib=cache_mib,
                                   cache_dev=guest.data_disk_device(disk))
        image = None
        if disk:
            image = self.scratch_file(f'{name}.img')
            guest.disk_image(self.guest_dir, append, image)
        args = guest.qemu_args(self.guest_dir, guest_mib, append,
                               balloon_props=balloon,
                               serial_path=serial,
                               firmware_dir=self.firmware_dir,
                               no_reboot=not reboot, disk=image,
                               data_disk=data_disk)
        vm = self.get_vm(*args, *qemu_extra, name=name)
        self.serials[vm] = serial
        # Stopped until it is in the cgroup, so that every guest page is
        # charged there.
        vm.add_args('-S')
        vm.launch()
        self.guest_vm = vm
        self.add_qemu(vm)
        vm.cmd('cont')
        self.t0 = time.monotonic()
        return vm

    def add_qemu(self, vm):
        """Move @vm's QEMU into the cgroup, and make room there for what
        a sanitizer build needs besides the guest (QEMU_EXTRA_MIB)."""
        if QEMU_EXTRA_MIB:
            self.cg.set_limit(self.cg.limit_bytes + QEMU_EXTRA_MIB * MIB)
            self.log.info('cgroup limit %d MiB (%d MiB more for this QEMU)',
                          self.cg.limit_bytes // MIB, QEMU_EXTRA_MIB)
        self.cg.add_pid(vm.get_pid())

    def remove_qemu(self):
        """A QEMU of the cgroup has exited: take back the room
        add_qemu() made for it.  Left in place, the cgroup's limit after a
        migration held a sanitizer build's room for two QEMUs with one
        running, and the test's hog no longer reached it (test_migrate_
        inflated under make check-sanitizers)."""
        if QEMU_EXTRA_MIB:
            self.cg.set_limit(self.cg.limit_bytes - QEMU_EXTRA_MIB * MIB)
            self.log.info('cgroup limit %d MiB (%d MiB less: a QEMU exited)',
                          self.cg.limit_bytes // MIB, QEMU_EXTRA_MIB)

    def start_hog(self, mib=HOG_MIB, name='hog'):
        """A hog in the cgroup that grows by HOG_STEP_MIB a second up to
        @mib and keeps it, until the test ends or stops it."""
        steps = list(range(HOG_STEP_MIB, mib, HOG_STEP_MIB)) + [mib]
        phases = ','.join([f'{m}:1' for m in steps[:-1]] + [f'{mib}:3600'])
        hog = host.Hog(self.memload, self.cg, phases,
                       self.log_file(f'{name}.log'))
        self.addCleanup(hog.stop)
        self.log.info('%s: %s (MiB:s) in the cgroup', name, phases)
        return hog

    def console(self, boot=0, vm=None):
        """What the guest printed: all of it (@boot 0), or from the
        @boot'th GUEST READY on (1 the first boot, 2 after a reset).
        @vm: the guest of that VM (default: the one on serial.log)."""
        path = self.serials.get(vm, self.serial)
        text = guest.Console.from_file(path).text
        if boot:
            parts = text.split(READY)
            if len(parts) <= boot:
                return guest.Console('')
            text = READY + READY.join(parts[boot:])
        return guest.Console(text)

    def sample(self, vm):
        s = Sample(time.monotonic() - self.t0, vm.cmd('query-auto-balloon'),
                   vm.cmd('query-balloon')['actual'], self.cg)
        for ev in vm.get_qmp_events():
            if ev['event'] == 'AUTO_BALLOON_ACTION':
                d = ev['data']
                self.actions.append((s.t, d['action'], d['reason'],
                                     d['target'] // MIB))
                self.log.info('  event %s/%s target=%d MiB', d['action'],
                              d['reason'], d['target'] // MIB)
        self.samples.append(s)
        self.log.info('%s', s)
        return s

    def wait(self, vm, cond, timeout, what, boot=0):
        """Sample once a second until cond(sample, console) holds.

        Fails when QEMU exits, the guest panics or @timeout seconds pass;
        the failure says what was seen last.  @boot: look at the console
        from that boot on (0: all of it).
        """
        end = time.monotonic() + timeout
        while True:
            try:
                s = self.sample(vm)
            except Exception:       # pylint: disable=broad-except
                if vm.is_running():
                    raise
                self.qemu_exited(vm, what)
            text = self.console(vm=vm).text
            if 'Kernel panic' in text:
                self.fail(f'{what}: the guest panicked: {panic_line(text)}')
            if cond(s, self.console(boot, vm)):
                return s
            if time.monotonic() > end:
                con = self.console(vm=vm)
                clock = ('' if con.clock_sound else
                         f"; the guest's clock jumped {con.clock_jump_s:.0f} s"
                         f' (unstable: {con.unstable_clocksources})')
                self.fail(f'{what}: not within {timeout} s; last: {s}'
                          + clock)
            time.sleep(1)

    def qemu_exited(self, vm, what):
        vm.wait()
        text = self.console(vm=vm).text
        why = (f'the guest panicked: {panic_line(text)}'
               if 'Kernel panic' in text else 'QEMU exited')
        self.fail(f'{what}: {why} (status {vm.exitcode()}, host cgroup'
                  f' OOM kills {self.cg.oom_kills()}): {vm.get_log()}')

    def wait_ready(self, vm, boot=1, driver=None):
        self.wait(vm, lambda s, c: c.ready, BOOT_TIMEOUT_S,
                  'the guest says GUEST READY', boot)
        con = self.console(boot, vm)
        self.assertTrue(con.balloon_bound,
                        "the guest's virtio_balloon driver is not bound")
        if driver:
            self.assertEqual(con.balloon_driver, driver,
                             "the guest's console names another driver")
        # The kernel's messages of this boot: before its GUEST READY
        booted = self.console(0, vm).text.split(READY)[boot - 1]
        clocks = re.findall(r'clocksource: Switched to clocksource (\w+)',
                            booted)
        self.assertEqual(clocks[-1:], [GUEST_CLOCK_ARGS.split('=')[1]],
                         'the guest keeps time with another clocksource')
        self.log.info('guest ready after %.1f s',
                      time.monotonic() - self.t0)

    def wait_phase(self, vm, phase, timeout, boot=1):
        self.wait(vm, lambda s, c: phase in c.phases, timeout,
                  f'memload ends phase {phase}', boot)

    def inflate_under_host_pressure(self, vm):
        """After the guest has filled and freed memory, grow the hog until
        host pressure has inflated the balloon by INFLATED_MIB and the
        guest has followed.  Returns (sample before, sample after)."""
        self.wait_phase(vm, 1, FILL_S + 60)
        before = self.sample(vm)
        self.hog = self.start_hog()
        after = self.wait(
            vm, lambda s, c: (s.target <= before.target - INFLATED_MIB and
                              s.actual <= s.target + 8),
            INFLATE_TIMEOUT_S,
            f'host pressure inflates the balloon by {INFLATED_MIB} MiB'
            ' and the guest follows')
        self.log.info('inflated to %d MiB in %.1f s of hog', after.target,
                      after.t - before.t)
        return before, after

    def need_companion(self):
        """Skip unless the image has the companion driver."""
        info = os.path.join(self.guest_dir, 'guest-info')
        try:
            with open(info, encoding='utf-8') as f:
                has = 'companion:' in f.read()
        except FileNotFoundError:
            has = False
        if not has:
            self.skipTest(f'{self.guest_dir} has no companion virtio_balloon'
                          ' (scripts/build-guest.sh with patches/linux)')

    def stalled(self, vm):
        return vm.cmd('query-auto-balloon')['stalled']

    def guest_total_mib(self, vm, since):
        """The guest's total memory in MiB, from the first stats the
        guest's driver sent after @since (time.time())."""
        def total(s, c):
            stats = vm.cmd('qom-get', path='/machine/peripheral/balloon0',
                           property='guest-stats')
            self.log.info('guest stats at %d: total %s', stats['last-update'],
                          stats['stats']['stat-total-memory'])
            return (stats['last-update'] > since and
                    stats['stats']['stat-total-memory'] < 1 << 63)
        self.wait(vm, total, 30, 'the guest driver sends its stats')
        stats = vm.cmd('qom-get', path='/machine/peripheral/balloon0',
                       property='guest-stats')
        return stats['stats']['stat-total-memory'] // MIB

    def assert_no_oom(self, vm, con):
        self.assertTrue(vm.is_running(), 'QEMU is gone')
        self.assertEqual(self.cg.oom_kills(), 0,
                         'the OOM killer struck in the host cgroup')
        self.assertEqual(con.workload_oom_kills, 0,
                         'the guest OOM killer killed memload')
        self.assertEqual(con.kernel_oom_kills, 0,
                         'the guest OOM killer killed a process')

    # --- tests --------------------------------------------------------

    def test_default_reports_freed_memory(self):
        """With automatic=on and its defaults, free page reporting hands
        the host what a stock guest freed, with no host pressure at all."""
        vm = self.launch(f'{FILL_MIB}:{FILL_S},{IDLE_MIB}:3600',
                         balloon=f'automatic=on,auto-source={self.cg.source}')
        self.wait_ready(vm)
        self.wait_phase(vm, 1, FILL_S + 60)
        full = self.sample(vm).usage
        # The guest frees FILL_MIB - IDLE_MIB; Linux reports free blocks of
        # 2 MiB and more two seconds after they are freed.
        freed = self.wait(
            vm, lambda s, c: s.usage <= full - (FILL_MIB - IDLE_MIB) // 2,
            INFLATE_TIMEOUT_S,
            'the cgroup gives back at least half of what the guest freed')
        self.log.info('cgroup %d -> %d MiB without the balloon', full,
                      freed.usage)
        self.assertEqual(freed.target, GUEST_MIB, 'the balloon inflated')
        self.assertEqual(freed.host_events, 0)

    def test_boot_from_disk(self):
        """The guest boots from a disk image with its boot loader, as the
        over-commit benchmark's --boot disk does: the balloon is bound and
        memload runs the phases written into the image's command line."""
        missing = guest.disk_tools_missing()
        if missing:
            self.skipTest('no ' + ', '.join(missing) +
                          ' to write a boot disk')
        vm = self.launch(f'{IDLE_MIB}:2,{IDLE_MIB}:3600', disk=True)
        self.wait_ready(vm)
        self.wait(vm, lambda s, c: 1 in c.phases, 60,
                  'memload ends its first phase')
        # syslinux names the kernel it loaded; -kernel does not
        self.assertIn('BOOT_IMAGE=vmlinuz', self.console(0, vm).text)
        con = self.console(1, vm)
        self.assertEqual(con.phases[1]['n'], 2)
        self.assertEqual(con.phases[1]['ws_mib'], IDLE_MIB)

    def test_memdump(self):
        """demo.memdump (the benchmark's --guest-args) prints where the
        guest's memory is at the asked second of uptime: meminfo, the
        zone watermarks and per-cpu lists with their limit, and
        vm.min_free_kbytes; a value that is no whole number is said and
        skipped, the others still print."""
        vm = self.launch(f'{IDLE_MIB}:3600',
                         kernel_extra='demo.memdump=1x,3')
        self.wait_ready(vm)
        self.wait(vm, lambda s, c: 'sysctl: vm.min_free_kbytes' in c.text,
                  60, 'the guest prints its memory state at 3 s')
        text = self.console(vm=vm).text
        self.assertIn("init: demo.memdump: '1x' is not a whole number",
                      text)
        # the console ends its lines with CR LF
        found = re.findall(r'^memdump: t=([\d.]+) (.*?)\r?$', text, re.M)
        self.assertGreaterEqual(min(float(t) for t, _ in found), 3,
                                'a dump before the second asked for')
        dump = [d for _, d in found]
        self.assertTrue(any(d.startswith('meminfo: MemFree:')
                            for d in dump), dump[:5])
        zoneinfo = [d for d in dump if d.startswith('zoneinfo:')]
        zone = None
        seen = {}
        for d in zoneinfo:
            m = re.match(r'zoneinfo: Node 0, zone +(\S+)$', d)
            if m:
                zone = m.group(1)
                continue
            m = re.match(r'zoneinfo: +(low|cpu:|count:|high:|batch:) +(\d+)$',
                         d)
            if m and zone == 'DMA32':
                # the first CPU's list (one line of each per CPU)
                seen.setdefault(m.group(1), int(m.group(2)))
        # the list's limit (pcp high) besides the zone's low watermark it
        # derives from (zone_highsize() in Linux's mm/page_alloc.c)
        self.assertEqual(sorted(seen),
                         ['batch:', 'count:', 'cpu:', 'high:', 'low'],
                         zoneinfo)
        self.assertEqual(seen['cpu:'], 0)
        self.assertGreater(seen['high:'], 0)
        self.assertGreater(seen['low'], 0)
        self.assertRegex(text, r'memdump: t=[\d.]+ sysctl: '
                         r'vm\.min_free_kbytes \d+')

    def test_host_pressure_inflates(self):
        """Host pressure in QEMU's cgroup inflates a stock guest that has
        memory to spare; nothing is OOM-killed."""
        vm = self.launch(f'{FILL_MIB}:{FILL_S},{IDLE_MIB}:3600')
        self.wait_ready(vm)
        before, after = self.inflate_under_host_pressure(vm)

        self.assertEqual(before.target, GUEST_MIB,
                         'the balloon inflated before the hog started')
        self.assertGreater(after.host_events, before.host_events)
        self.assertGreater(after.c['inflates'], 0)
        self.assertEqual(after.c['stalls'], 0)
        # The guest gave the memory: query-balloon follows the target.
        self.assertLessEqual(after.actual, GUEST_MIB - INFLATED_MIB + 8)
        self.assertGreaterEqual(after.target, 256,
                                'inflated below the default floor')
        self.assert_no_oom(vm, self.console())

    def test_page_cache_inflates(self):
        """A stock guest whose spare memory is page cache, with automatic
        mode's defaults (free page reporting on): host pressure inflates
        it past its free memory, which the host does not hold, into the
        cache, which free page reporting cannot return.  Nothing is
        OOM-killed."""
        data = self.scratch_file('cache.raw')
        guest.write_data_disk(data, CACHE_MIB)
        vm = self.launch(f'{IDLE_MIB}:3600',
                         balloon=f'automatic=on,auto-source={self.cg.source}',
                         cache_mib=CACHE_MIB, data_disk=data)
        self.wait_ready(vm)
        # said before GUEST READY
        self.assertIn(f'page cache: read {CACHE_MIB} MiB',
                      self.console(0, vm).text)
        # A statistics sample from after memload has grown (the first
        # comes when the driver starts, before the cache is read)
        start = self.sample(vm)
        self.wait(vm, lambda s, c: (s.c['stats-samples'] >=
                                    start.c['stats-samples'] + 2),
                  30, 'two more statistics samples')
        stats = vm.cmd('qom-get', path='/machine/peripheral/balloon0',
                       property='guest-stats')['stats']
        free = stats['stat-free-memory'] // MIB
        avail = stats['stat-available-memory'] // MIB
        self.log.info('guest with its cache: %d MiB free, %d available',
                      free, avail)
        # The premise: most of what is available is the cache
        self.assertGreater(avail - free, CACHE_MIB // 2,
                           'the guest holds no page cache')
        before = self.sample(vm)
        self.hog = self.start_hog()
        # Past the free memory by INFLATED_MIB: the rest came out of the
        # cache (memload holds IDLE_MIB, checked below)
        after = self.wait(
            vm, lambda s, c: (s.target <= GUEST_MIB - free - INFLATED_MIB
                              and s.actual <= s.target + 8),
            INFLATE_TIMEOUT_S,
            f'host pressure inflates the balloon by {INFLATED_MIB} MiB'
            f' more than the guest\'s {free} MiB of free memory, and the'
            ' guest follows')
        self.log.info('inflated to %d MiB in %.1f s of hog', after.target,
                      after.t - before.t)
        self.assertEqual(before.target, GUEST_MIB,
                         'the balloon inflated before the hog started')
        self.assertGreater(after.c['inflates'], 0)
        self.assert_no_oom(vm, self.console())

    def guest_growth(self, driver, props=''):
        """After host pressure inflated the balloon, the guest's working
        set grows past what the balloon left it, while the hog still
        holds its memory: guest pressure deflates the balloon and the
        workload gets through its peak without an OOM kill.  @props: more
        balloon properties.  Returns the last sample, the console and,
        for each reason, when the device first deflated (or cancelled an
        inflate) for it, in s from the start."""
        # At full size the guest has about 870 MiB available for memload
        # (MemTotal 973 MiB, ~100 MiB for the kernel and init); inflated by
        # INFLATED_MIB or more, at most about 740 MiB are left.
        grow_mib = 780
        # The guest's clock decides when it grows: the idle phase leaves
        # time for the hog to start and the balloon to inflate.
        idle_s = 30
        grow_s = 30 * TIME_FACTOR
        # BALLOON: automatic mode offers deflate-on-oom by itself; no
        # free page reporting (the message queue is at index 3).
        vm = self.launch(f'{FILL_MIB}:{FILL_S},{IDLE_MIB}:{idle_s},'
                         f'{grow_mib}:{grow_s}', props=props, driver=driver)
        self.wait_ready(vm, driver=driver)
        self.inflate_under_host_pressure(vm)
        self.assertNotIn(2, self.console().phases,
                         'the guest grew before the balloon had inflated;'
                         ' raise idle_s')
        low = self.wait(vm, lambda s, c: 2 in c.phases, idle_s + 30,
                        'memload ends its idle phase')
        self.assertLessEqual(low.actual, GUEST_MIB - INFLATED_MIB,
                             'the balloon deflated before the guest grew')
        done = self.wait(vm, lambda s, c: c.done, grow_s + 60,
                         'memload says done')
        con = self.console()
        peak = max(s.actual for s in self.samples if s.t >= low.t)
        self.log.info('guest size at growth %d MiB, then peak %d, at the'
                      ' end %d; memload phase 3: %s, OOM kills %d',
                      low.actual, peak, done.actual, con.phases.get(3),
                      con.workload_oom_kills)
        self.assert_no_oom(vm, con)
        self.assertGreater(con.phases[3]['records'], 0,
                           'memload did no work at its peak: it was still'
                           ' growing when the phase ended')
        self.assertGreater(peak, low.actual, 'the balloon never deflated')
        self.assertGreater(done.c['deflates'] + done.c['guest-deflates'] +
                           done.c['cancels'], 0)
        # From the growth on: when the guest first said so, and when the
        # balloon first gave memory back.
        grow = [s for s in self.samples if s.t >= low.t]
        first = {k: next((s.t for s in grow if s.c[k] > low.c[k]), None)
                 for k in ('guest-messages', 'guest-stats', 'guest-deflates')}
        back = next((s.t for s in grow if s.actual > low.actual), None)
        self.log.info('%s driver: from the growth at %.1f s, first message'
                      ' %s, first stats pressure %s, first deflate-on-OOM'
                      ' %s, first deflate seen %s s; %d MiB returned',
                      driver, low.t, first['guest-messages'],
                      first['guest-stats'], first['guest-deflates'], back,
                      peak - low.actual)
        # What gave memory back, by the device's own account
        gave = {}
        for t, action, reason, _ in self.actions:
            if t >= low.t and action in ('deflate', 'cancel'):
                gave.setdefault(reason, t)
        self.log.info('%s driver: first deflate or cancel by reason: %s',
                      driver, {r: f'{t - low.t:.1f} s'
                               for r, t in gave.items()})
        return done, con, gave

    def test_guest_growth_deflates(self):
        """The growth scenario with the stock driver: no messages, guest
        pressure comes from its statistics."""
        done, con, gave = self.guest_growth('stock')
        self.assertEqual(con.msg_vq_index, None)
        self.assertNotIn('guest-message', gave)
        self.assertEqual(done.c['guest-messages'], 0,
                         'the stock driver sent messages')
        self.assertGreater(done.c['guest-stats'], 0,
                           'no guest pressure from the statistics')

    def test_companion_growth_deflates(self):
        """The growth scenario with the companion driver: guest pressure
        arrives as messages on the message queue and deflates the
        balloon before the workload is OOM-killed."""
        self.need_companion()
        # No statistics: what gives memory back is the messages (or the
        # guest's OOM notifier, deflate-on-oom), not a statistics sample
        done, con, gave = self.guest_growth('companion',
                                            'auto-stats-interval=0')
        self.assertEqual(con.msg_vq_index, 3)
        self.assertGreater(done.c['guest-messages'], 0,
                           'no pressure message arrived')
        self.assertEqual(done.c['guest-stats'], 0,
                         'guest pressure from statistics that are off')
        # The messages themselves gave memory back.  The guest's OOM
        # notifier (deflate-on-oom) may take some too: the growth gets from
        # kswapd's watermark to the OOM path within about a second, so
        # which comes first is a race.  guest_growth() has checked that
        # nothing was OOM-killed.
        self.assertIn('guest-message', gave,
                      'no deflate or cancel for a message')
        self.assertEqual(done.c['malformed-messages'], 0)
        self.assertTrue(con.pressure_levels,
                        'the guest never said it was under pressure')

    def test_message_queue_index(self):
        """The companion driver finds the message queue where the device
        has it (docs/interop/virtio-balloon-message-queue.rst) for the
        optional queues the device offers, also when it offers one that
        the guest does not negotiate: free page reporting with
        page-poison=off and init_on_free=1 in the guest.  The guest fills
        its memory; its messages arrive (guest-messages moves, nothing
        is malformed)."""
        self.need_companion()
        # (name, device properties, guest kernel arguments, index,
        #  {feature bit: negotiated})
        hint = 'free-page-hint=on,iothread=iot0'
        cases = [
            ('stats', 'free-page-reporting=off', '', 3,
             {1: True, 3: False, 5: False}),
            ('stats+reporting', 'free-page-reporting=on', '', 4,
             {3: False, 5: True}),
            ('stats+hinting', hint + ',free-page-reporting=off', '', 4,
             {3: True, 5: False}),
            ('stats+hinting+reporting', hint + ',free-page-reporting=on',
             '', 5, {3: True, 5: True}),
            ('reporting offered, not negotiated',
             'free-page-reporting=on,page-poison=off', 'init_on_free=1', 4,
             {4: False, 5: False}),
        ]
        # 512 MiB guest, memload asks for more than it has: reclaim, OOM
        # kills of memload's worker, and messages.
        for n, (name, props, kargs, index, bits) in enumerate(cases):
            # no subTest(): the TAP runner does not report a failed
            # subtest, so each assertion names its case instead
            self.samples = []
            self.serial = self.log_file(f'serial-{n}.log')
            # these properties, not BALLOON's: each case says whether
            # it wants free page reporting
            vm = self.launch('440:3600', driver='companion',
                             balloon=f'automatic=on,'
                             f'auto-source={self.cg.source},{props}',
                             guest_mib=512, kernel_extra=kargs,
                             qemu_extra=('-object', 'iothread,id=iot0'),
                             name=f'guest{n}')
            self.wait_ready(vm, driver='companion')
            con = self.console()
            self.log.info('%s: index %s, features %s', name,
                          con.msg_vq_index, con.balloon_features)
            self.assertEqual(con.msg_vq_index, index, name)
            self.assertEqual(con.balloon_features[10], '1', name)
            for bit, on in bits.items():
                self.assertEqual(con.balloon_features[bit],
                                 '1' if on else '0',
                                 f'{name}: feature bit {bit}')
            got = self.wait(vm, lambda s, c: s.c['guest-messages'] > 0,
                            90, f'{name}: a pressure message arrives')
            self.assertEqual(got.c['malformed-messages'], 0, name)
            vm.shutdown()
            self.guest_vm = None

    def test_companion_pressure_escalates(self):
        """The companion driver's level rises as the guest's reclaim gets
        worse, and the device gets the higher level.

        The balloon holds memory (set by hand, automatic mode then on,
        with no host source and no statistics polling, so that only the
        guest's messages move it).  The guest has no swap and its memory
        is anonymous: when its working set grows past what it has, kswapd
        wakes at the low watermark and frees nothing, then allocations
        stall in direct reclaim at the min watermark.  The driver says
        "low" for kswapd alone and "critical" for direct reclaim with
        almost nothing available.  Normally the two watermarks are a few
        MiB apart, which memload crosses under TCG before the driver's
        first decision, so that the first message may already be
        critical (seen in 1 of 4 runs).  vm.watermark_scale_factor=1000
        puts about 10 % of the guest's memory between them, and memload
        crosses that band in steps of 20 MiB, so that one step ends
        where kswapd runs alone; then it grows past the min watermark.
        The device deflates on every message, by a step that doubles per
        level (balloon_auto_guest_message()): auto-deflate at low, four
        times that at critical, or the guest's shortfall if more.
        """
        self.need_companion()
        bal_mib = 640           # the guest's size, balloon set by hand
        # memload: idle while the balloon is set, then past what the
        # guest has.  At 640 MiB the guest has about 450 MiB free with
        # memload at 100 MiB; kswapd wakes below about 100 MiB free, the
        # allocations stall below a few MiB.  Steps of 20 MiB from 440 to
        # 520 MiB end in that band, then 700 MiB is far past it.
        idle_s, step_s, grow_s = 25, 2, 15
        steps = list(range(440, 521, 20)) + [700]
        phases = f'100:{idle_s},' + ','.join(
            [f'{m}:{step_s}' for m in steps[:-1]] + [f'{steps[-1]}:{grow_s}'])
        last = len(steps) + 1
        qlog = self.log_file('qemu-trace.log')
        traces = ('virtio_balloon_auto_msg_pressure',
                  'virtio_balloon_auto_action',
                  'virtio_balloon_auto_no_action',
                  'virtio_balloon_auto_pages')
        extra = ['-msg', 'timestamp=on', '-D', qlog]
        for t in traces:
            extra += ['-trace', t]
        vm = self.launch(phases, driver='companion',
                         balloon='automatic=on,free-page-reporting=off,'
                         'auto-source=none,auto-stats-interval=0',
                         kernel_extra='sysctl.vm.watermark_scale_factor=1000',
                         qemu_extra=extra)
        self.wait_ready(vm, driver='companion')
        vm.cmd('set-auto-balloon', enabled=False)
        vm.cmd('balloon', value=bal_mib * MIB)
        self.wait(vm, lambda s, c: s.actual <= bal_mib, 30,
                  'the guest follows the manual balloon command')
        vm.cmd('set-auto-balloon', enabled=True)
        self.assertNotIn(1, self.console().phases,
                         'memload grew before the balloon was set;'
                         ' raise idle_s')
        tunables = vm.cmd('query-auto-balloon')['tunables']
        deflate_mib = tunables['deflate'] // MIB
        done = self.wait(vm, lambda s, c: c.done,
                         idle_s + step_s * (last - 2) + grow_s + 60,
                         'memload says done')
        con = self.console()
        msgs = self.trace_messages(qlog,
                                   (GUEST_MIB - bal_mib) * MIB // 4096)
        levels = [m['level'] for m in msgs]
        self.log.info('levels the device got: %s; the guest logged %s',
                      levels, con.pressure_levels)
        for m in msgs:
            self.log.info('  +%.1f s level %d: %s to %s MiB, guest followed'
                          ' after %s s', m['t'], m['level'], m['action'],
                          m['target_mib'], m['followed_s'])
        for lvl in sorted(set(levels)):
            ms = [m for m in msgs if m['level'] == lvl]
            after = [m['followed_s'] for m in ms
                     if m['followed_s'] is not None]
            self.log.info('level %d: %d messages, %d MiB deflated, guest'
                          ' followed in %s s (median)', lvl, len(ms),
                          sum(m['step_mib'] for m in ms),
                          sorted(after)[len(after) // 2] if after else None)
        self.log.info('balloon %d -> %d MiB: %d MiB on messages, the rest'
                      ' deflate-on-OOM (%d times); memload at its peak: %s',
                      bal_mib, done.actual,
                      sum(m['step_mib'] for m in msgs),
                      done.c['guest-deflates'], con.phases.get(last))

        self.assertEqual(done.c['malformed-messages'], 0)
        self.assertEqual(len(msgs), done.c['guest-messages'])
        self.assertTrue(msgs, 'no pressure message arrived')
        # The pressure got worse and the device was told so: the level
        # rose after the first message, and the guest's log says the same.
        self.assertEqual(levels[0], 0, 'the first message was not "low"')
        self.assertIn(2, levels, 'no "critical" message')
        self.assertEqual(con.pressure_levels[:2], [0, 2],
                         'the guest did not log the rise')
        # Every message deflated (or cancelled an inflate in flight),
        # by at least its level's step, and the guest followed; once a
        # message emptied the balloon, a later one has nothing to take
        # back, and the device says so ("nothing to do (empty)").
        empty = False
        for m in msgs:
            if m['action'] == 'none':
                self.assertTrue(empty, 'no action before the balloon was'
                                ' empty: ' + str(m))
                self.assertEqual((m['why'], m['target']), ('empty', 0),
                                 str(m))
                continue
            self.assertIn(m['action'], ('deflate', 'cancel'), str(m))
            empty = empty or m['target_mib'] == GUEST_MIB
            if m['action'] == 'deflate' and m['target_mib'] < GUEST_MIB:
                self.assertGreaterEqual(m['step_mib'],
                                        deflate_mib << m['level'], str(m))
        self.assertGreater(done.actual, bal_mib, 'the balloon never deflated')
        self.assertGreater(con.phases[last]['records'], 0,
                           'memload did no work at its peak')
        self.assert_no_oom(vm, con)

    def trace_messages(self, path, target):
        """Pressure messages from QEMU's trace log: for each, its time
        (s from the first), level, the action it caused ('none' with its
        reason in 'why' when the device had nothing to do), the target
        after it and the step in MiB (@target: the balloon's size in
        pages before the first), and how long the guest took to give the
        balloon pages back (None: it did not before the next message)."""
        def guest_mib(pages):
            # the guest's size with @pages (4 KiB) in the balloon
            return GUEST_MIB - pages * 4096 // MIB

        ev = []
        with open(path, encoding='utf-8', errors='replace') as f:
            for line in f:
                m = re.search(r'@(\d+\.\d+):virtio_balloon_auto_(\w+) (.*)',
                              line)
                if m:
                    ev.append((float(m.group(1)), m.group(2), m.group(3)))
        msgs = []
        for i, (t, name, text) in enumerate(ev):
            if name == 'action':
                m = re.match(r'(\w+) .* target (\d+) actual', text)
                old = target
                target = int(m.group(2))
                if msgs and msgs[-1]['action'] is None:
                    msgs[-1]['action'] = m.group(1)
                    msgs[-1]['target_mib'] = guest_mib(target)
                    msgs[-1]['step_mib'] = (old - target) * 4096 // MIB
                    msgs[-1]['target'] = target
            if name == 'no_action' and msgs and msgs[-1]['action'] is None:
                m = re.match(r'nothing to do \((\S+)\) target (\d+)', text)
                msgs[-1]['action'] = 'none'
                msgs[-1]['why'] = m.group(1)
                msgs[-1]['target'] = int(m.group(2))
                msgs[-1]['target_mib'] = guest_mib(msgs[-1]['target'])
            if name != 'msg_pressure':
                continue
            level = int(re.search(r'level (\d+)', text).group(1))
            msgs.append({'t': t, 'level': level, 'action': None,
                         'target_mib': None, 'step_mib': 0,
                         'followed_s': None, 'i': i})
        for k, msg in enumerate(msgs):
            end = msgs[k + 1]['i'] if k + 1 < len(msgs) else len(ev)
            for t, name, text in ev[msg['i']:end]:
                m = re.match(r'inflate 0: \d+ pages, (\d+) in', text)
                if (name == 'pages' and m and msg.get('target') is not None
                        and int(m.group(1)) <= msg['target']):
                    msg['followed_s'] = round(t - msg['t'], 2)
                    break
        t0 = msgs[0]['t'] if msgs else 0
        for msg in msgs:
            msg['t'] = round(msg['t'] - t0, 2)
        return msgs

    def test_relief_empties_balloon(self):
        """Once the host has recovered (the hog is gone, no pressure for
        relief-ms, the cgroup below its low watermark), relief gives the
        guest its memory back step by step until the balloon is empty,
        and then stops."""
        relief_ms = 5000
        vm = self.launch(f'{FILL_MIB}:{FILL_S},{IDLE_MIB}:3600')
        self.wait_ready(vm)
        # Relief waits 30 s by default; 5 s keeps the test short.
        vm.cmd('set-auto-balloon', **{'relief-ms': relief_ms})
        _, inflated = self.inflate_under_host_pressure(vm)
        self.hog.stop()
        stopped = self.sample(vm)
        empty = self.wait(
            vm, lambda s, c: (s.target == GUEST_MIB and
                              s.actual >= GUEST_MIB - 8),
            # relief-step is 16 MiB per second: about 25 s for the
            # 400 MiB inflated, plus relief-ms, plus the guest following
            # under TCG.
            relief_ms // 1000 + 90,
            'relief empties the balloon and the guest takes its memory back')
        self.log.info('relief: %d -> %d MiB in %.1f s after the hog left,'
                      ' %d steps', inflated.target, empty.target,
                      empty.t - stopped.t,
                      empty.c['reliefs'] - stopped.c['reliefs'])
        self.assertGreater(empty.c['reliefs'], stopped.c['reliefs'])
        # Step by step: more than one step for what was inflated.
        self.assertGreater(empty.c['reliefs'] - stopped.c['reliefs'], 1)
        # Relief never ran while the pressure lasted.
        self.assertEqual(inflated.c['reliefs'], 0)
        # Empty: nothing more to give back, nothing more happens.
        time.sleep(relief_ms / 1000 + 3)
        later = self.sample(vm)
        self.assertEqual(later.target, GUEST_MIB)
        self.assertEqual(later.c['reliefs'], empty.c['reliefs'])
        self.assert_no_oom(vm, self.console())

    def test_full_guest_not_under_pressure(self):
        """A guest whose workload holds most of its memory, full but
        healthy (little available, no stall, no OOM), is not a guest under
        memory pressure: with an empty balloon there is nothing to give
        back, so no guest pressure is counted and the window stays shut.
        Under host pressure it has nothing to spare and is not inflated."""
        hold_mib = 820
        vm = self.launch(f'{hold_mib}:{FILL_S},{hold_mib}:3600')
        self.wait_ready(vm)
        self.wait_phase(vm, 1, FILL_S + 90)
        # Several statistics samples (every 5 s in automatic mode) of a
        # full guest.
        start = self.sample(vm)
        stats = self.wait(vm, lambda s, c: (s.c['stats-samples'] >=
                                            start.c['stats-samples'] + 4),
                          60, 'four statistics samples of the full guest')
        avail = vm.cmd('qom-get', path='/machine/peripheral/balloon0',
                       property='guest-stats')['stats'][
                           'stat-available-memory'] // MIB
        self.log.info('full guest: %d MiB available', avail)
        # The premise: the guest is below the default reserve (128 MiB).
        self.assertLess(avail, 128, 'the guest is not full; raise hold_mib')
        for s in self.samples:
            self.assertFalse(s.window, f'guest pressure window open: {s}')
        self.assertEqual(stats.c['guest-stats'], 0,
                         'a full guest counted as under pressure')
        self.assertEqual(stats.c['shortfalls'], 0)
        self.assertEqual(stats.target, GUEST_MIB)

        # Host pressure: nothing to spare, nothing taken.
        self.start_hog()
        seen = self.wait(vm, lambda s, c: s.host_events >= 3,
                         INFLATE_TIMEOUT_S, 'host pressure')
        time.sleep(10)
        after = self.sample(vm)
        self.log.info('under host pressure: %s', after)
        self.assertEqual(after.target, GUEST_MIB,
                         'a guest with nothing to spare was inflated')
        self.assertEqual(after.c['inflates'], 0)
        self.assertGreater(after.host_events, seen.host_events - 1)
        self.assertFalse(after.window)
        self.assert_no_oom(vm, self.console())

    def test_two_guests_spare_gives_more(self):
        """Two guests in one cgroup see the same host pressure; each QEMU
        decides from its own guest.  The guest that has memory to spare
        gives it; the full one gives less (here: nothing)."""
        mib = 512
        # spare: fills 300 MiB, then keeps 30 (about 400 MiB available);
        # full: keeps 360 MiB (under 100 MiB available, below the reserve)
        spare = self.launch(f'300:{FILL_S},30:3600', guest_mib=mib,
                            name='spare')
        full = self.launch(f'360:{FILL_S},360:3600', guest_mib=mib,
                           name='full',
                           serial=self.log_file('serial-full.log'))
        for vm in (spare, full):
            self.wait_ready(vm)
            self.wait_phase(vm, 1, FILL_S + 90)
        # Statistics known for both (one sample every 5 s)
        for vm in (spare, full):
            self.wait(vm, lambda s, c: s.c['stats-samples'] >= 2, 30,
                      'statistics from the guest')
        b_spare, b_full = self.sample(spare), self.sample(full)
        self.assertEqual((b_spare.target, b_full.target), (mib, mib),
                         'a balloon inflated before the hog started')
        self.hog = self.start_hog()
        self.wait(spare, lambda s, c: s.target <= mib - 64,
                  INFLATE_TIMEOUT_S + 30,
                  'host pressure inflates the guest with memory to spare')
        # Both saw the pressure for a while.
        time.sleep(10)
        a_spare, a_full = self.sample(spare), self.sample(full)
        gave_spare, gave_full = mib - a_spare.target, mib - a_full.target
        self.log.info('host events %d / %d; gave: spare guest %d MiB, full'
                      ' guest %d MiB', a_spare.host_events,
                      a_full.host_events, gave_spare, gave_full)
        self.assertGreater(a_full.host_events, b_full.host_events,
                           'the full guest never saw host pressure')
        self.assertGreaterEqual(gave_spare, 64)
        self.assertLess(gave_full, gave_spare)
        self.assertLessEqual(gave_full, gave_spare // 4,
                             'the full guest gave more than a quarter of'
                             ' what the guest with spare memory gave')
        for vm in (spare, full):
            self.assertTrue(vm.is_running())
            con = self.console(vm=vm)
            self.assertEqual(con.workload_oom_kills, 0)
            self.assertEqual(con.kernel_oom_kills, 0)
        self.assertEqual(self.cg.oom_kills(), 0)

    def test_switch_off_and_on(self):
        """Switched off, host pressure does not move the balloon and the
        manual balloon command works; switched on again, automatic mode
        goes on from the size manual control left."""
        manual_mib = 768
        vm = self.launch(f'{FILL_MIB}:{FILL_S},{IDLE_MIB}:3600')
        self.wait_ready(vm)
        with self.assertRaises(ExecuteError, msg='manual balloon accepted'
                               ' while automatic mode is on'):
            vm.cmd('balloon', value=manual_mib * MIB)
        self.wait_phase(vm, 1, FILL_S + 60)

        vm.cmd('set-auto-balloon', enabled=False)
        off = self.sample(vm)
        self.assertFalse(off.enabled)
        hog = self.start_hog()
        # Enough pressure that automatic mode would have inflated.
        seen = self.wait(vm, lambda s, c: s.host_events >= off.host_events + 5,
                         INFLATE_TIMEOUT_S, 'host pressure while off')
        # Stopped at once: the longer it runs, the more of the guest's
        # freed memory the host swaps out, and swapped-out guest memory is
        # not worth inflating (nothing resident to gain) once switched on.
        hog.stop()
        self.assertEqual(seen.target, off.target,
                         'host pressure moved the target while off')
        self.assertEqual(seen.c['inflates'], off.c['inflates'])
        self.assertGreaterEqual(seen.c['ignored'] - off.c['ignored'],
                                seen.host_events - off.host_events)

        vm.cmd('balloon', value=manual_mib * MIB)
        manual = self.wait(vm, lambda s, c: s.actual <= manual_mib,
                           INFLATE_TIMEOUT_S,
                           'the guest follows the manual balloon command')
        self.assertEqual(manual.target, manual_mib)

        vm.cmd('set-auto-balloon', enabled=True)
        on = self.sample(vm)
        self.assertTrue(on.enabled)
        self.assertLessEqual(on.target, manual_mib,
                             'switching on did not start from the manual'
                             ' size')
        # A second hog brings the pressure back, and automatic mode
        # inflates further.
        self.start_hog(HOG_MIB, 'hog2')
        more = self.wait(vm, lambda s, c: s.target < manual_mib,
                         INFLATE_TIMEOUT_S,
                         'host pressure inflates on from the manual size')
        self.assertGreater(more.c['inflates'], on.c['inflates'])
        self.assert_no_oom(vm, self.console())

    def test_reset_while_inflated(self):
        """A guest reset while the balloon is inflated: the target is the
        full guest again, the policy starts over, and the rebooted guest
        boots, has all its memory and uses it."""
        vm = self.launch(f'{FILL_MIB}:{FILL_S},{IDLE_MIB}:3600',
                         reboot=True)
        self.wait_ready(vm)
        full_total = self.guest_total_mib(vm, 0)
        _, inflated = self.inflate_under_host_pressure(vm)
        # No more host pressure, so that what follows is the reset's doing.
        self.hog.stop()
        vm.cmd('system_reset')
        vm.event_wait('RESET', timeout=10)
        reset = self.sample(vm)
        self.assertLess(inflated.target, GUEST_MIB)
        self.assertEqual(reset.target, GUEST_MIB,
                         'the target survived the reset')
        self.assertTrue(reset.enabled)
        self.assertFalse(reset.window)
        self.assertFalse(self.stalled(vm))
        self.wait_ready(vm, boot=2)
        # The new driver instance has the whole guest: the kernel's total
        # memory is what it was at the first boot.
        self.assertEqual(self.guest_total_mib(vm, time.time() - 1),
                         full_total)
        # ... and memload fills FILL_MIB in it again.
        self.wait_phase(vm, 1, FILL_S + 60, boot=2)
        after = self.sample(vm)
        self.assertEqual(after.target, GUEST_MIB)
        self.assertEqual(after.actual, GUEST_MIB)
        self.assert_no_oom(vm, self.console())

    def test_migrate_inflated(self):
        """Migration of an inflated guest to a destination in the same
        cgroup: the destination continues from the migrated balloon (not
        from an empty one), watches the source again, and the guest goes
        on running there."""
        vm = self.launch(f'{FILL_MIB}:{FILL_S},{IDLE_MIB}:3600')
        self.wait_ready(vm)
        _, inflated = self.inflate_under_host_pressure(vm)
        # Two QEMUs and the hog would not fit the cgroup during the copy.
        self.hog.stop()

        serial = self.log_file('serial-dst.log')
        balloon = BALLOON.format(source=self.cg.source)
        args = guest.qemu_args(self.guest_dir, GUEST_MIB,
                               guest.kernel_args(
                                   f'{FILL_MIB}:{FILL_S},{IDLE_MIB}:3600',
                                   extra=GUEST_CLOCK_ARGS),
                               balloon_props=balloon, serial_path=serial,
                               firmware_dir=self.firmware_dir)
        dst = self.get_vm(*args, name='dst')
        dst.add_args('-incoming', 'defer')
        dst.launch()
        self.add_qemu(dst)
        uri = f'unix:{self.socket_dir().name}/mig.sock'
        dst.cmd('migrate-incoming', uri=uri)
        # memload dirties its working set faster than the default 128 MiB/s
        # copies it under TCG: allow a longer downtime, so that the
        # migration converges and the test is about the balloon.
        vm.cmd('migrate-set-parameters', **{'max-bandwidth': 4 << 30,
                                            'downtime-limit': 20000})
        vm.cmd('migrate', uri=uri)
        end = time.monotonic() + 180
        while True:
            status = vm.cmd('query-migrate')['status']
            if status in ('completed', 'failed', 'cancelled'):
                break
            if time.monotonic() > end:
                self.fail(f'migration not done in 180 s: {status}')
            time.sleep(0.5)
        self.assertEqual(status, 'completed')
        src = vm.cmd('query-auto-balloon')
        vm.shutdown()
        self.remove_qemu()
        self.guest_vm = dst
        first = len(self.actions)
        moved = self.wait(dst, lambda s, c: dst.cmd('query-status')[
            'status'] == 'running', 30, 'the destination runs')
        self.log.info('migrated: source target %d MiB, destination %s',
                      src['target'] // MIB, moved)
        # The destination starts from the balloon the guest has.  The
        # cgroup may still be above its high watermark from the copy, so
        # it may inflate further at once; but nothing it does is sized
        # from an empty balloon, before or after the stream is in.
        for _, action, reason, target in self.actions[first:]:
            self.assertEqual(action, 'inflate',
                             f'destination {action}/{reason} to {target}'
                             ' MiB')
            self.assertLessEqual(target, src['target'] // MIB,
                                 f'destination {action}/{reason} above the'
                                 ' migrated balloon')
        if len(self.actions) == first:
            self.assertEqual(moved.target, src['target'] // MIB)
        self.assertLessEqual(moved.target, src['target'] // MIB)
        self.assertLessEqual(moved.target, inflated.target)
        # The guest got nothing back: at most the size it had on the
        # source (a further inflate may still be under way, so not the
        # destination's target)
        self.assertLessEqual(moved.actual, src['actual'] // MIB + 8)
        info = dst.cmd('query-auto-balloon')
        self.assertEqual(info['source'], self.cg.source)
        self.assertFalse(info['source-gone'])
        # The guest runs on the destination: its console goes on there.
        before = len(guest.Console.from_file(serial).text)
        time.sleep(6)
        self.assertGreater(len(guest.Console.from_file(serial).text), before,
                           'the guest prints nothing on the destination')
        # The destination's own registration sees the kernel's pressure
        # notifications, and it reads the cgroup's memory: a new hog
        # inflates further from where it was.  The inflate may come from
        # the high watermark before the kernel signals, so wait for both.
        self.start_hog(HOG_MIB + 256, 'hog2')
        more = self.wait(dst, lambda s, c: (s.target < moved.target and
                                            s.host_events > 0), 90,
                         'host pressure inflates on the destination and'
                         ' the kernel signals it there')
        self.assertGreater(more.c['inflates'], 0)
        self.assertEqual(self.cg.oom_kills(), 0)


if __name__ == '__main__':
    QemuSystemTest.main()
