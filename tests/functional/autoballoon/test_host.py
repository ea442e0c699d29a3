#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tests of the host helpers (host.py) that the demo, the benchmark and
# the functional tests share: which cgroup hierarchy is chosen, the
# commands that set a cgroup v2 directory up (against a directory laid
# out like cgroupfs, since this machine's v2 hierarchy has no memory
# controller), and, where the host has them as root, a real v1 memcg and
# real v2 PSI triggers; and the guest's boot disk image (guest.py).
# Prints TAP (pycotap).

import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

# pylint: disable=wrong-import-position
from autoballoon import guest as G     # noqa: E402
from autoballoon import host as H      # noqa: E402
from autoballoon import tap_main       # noqa: E402


def write(path, text):
    with open(path, 'w', encoding='ascii') as f:
        f.write(text)


class FakeCgroupfs:
    """A v1 memory root and a v2 mount laid out in a temporary directory,
    with the mounts file that names them."""

    def __init__(self, v1=False, v2_controllers=None):
        self.tmp = tempfile.TemporaryDirectory()
        base = self.tmp.name
        self.v1 = os.path.join(base, 'memory')
        self.v2 = os.path.join(base, 'unified')
        os.mkdir(self.v1)
        os.mkdir(self.v2)
        if v1:
            write(os.path.join(self.v1, 'cgroup.event_control'), '')
        mounts = ['proc /proc proc rw 0 0']
        if v2_controllers is not None:
            write(os.path.join(self.v2, 'cgroup.controllers'),
                  ' '.join(v2_controllers) + '\n')
            write(os.path.join(self.v2, 'cgroup.subtree_control'), '')
            mounts.append(f'cgroup2 {self.v2} cgroup2 rw,relatime 0 0')
        self.mounts = os.path.join(base, 'mounts')
        write(self.mounts, '\n'.join(mounts) + '\n')

    def choose(self):
        return H.choose_hierarchy(self.v1, self.mounts)


class TestChooseHierarchy(unittest.TestCase):

    def test_v1_first(self):
        fs = FakeCgroupfs(v1=True, v2_controllers=['memory', 'cpu'])
        self.assertEqual(fs.choose(), ('v1', fs.v1))

    def test_pure_v2(self):
        fs = FakeCgroupfs(v2_controllers=['cpuset', 'cpu', 'io', 'memory'])
        self.assertEqual(fs.choose(), ('v2', fs.v2))

    def test_v2_without_memory_controller(self):
        # this machine's hybrid layout: v2 has only hugetlb
        fs = FakeCgroupfs(v2_controllers=['hugetlb'])
        kind, why = fs.choose()
        self.assertIsNone(kind)
        self.assertIn('no cgroup v1 memory controller', why)

    def test_nothing(self):
        fs = FakeCgroupfs()
        self.assertIsNone(fs.choose()[0])


class TestV2Setup(unittest.TestCase):
    """The writes that make a v2 cgroup with a limit."""

    def test_enables_controller_and_sets_memory_max(self):
        fs = FakeCgroupfs(v2_controllers=['memory'])
        cg = H.MemCgroup('demo', 768 << 20, kind='v2', root=fs.v2)
        with open(os.path.join(fs.v2, 'cgroup.subtree_control'),
                  encoding='ascii') as f:
            self.assertEqual(f.read(), '+memory')
        with open(os.path.join(cg.path, 'memory.max'),
                  encoding='ascii') as f:
            self.assertEqual(f.read(), str(768 << 20))
        self.assertEqual(cg.source, os.path.join(fs.v2, 'demo'))
        cg.set_limit(832 << 20)
        with open(os.path.join(cg.path, 'memory.max'),
                  encoding='ascii') as f:
            self.assertEqual(f.read(), str(832 << 20))
        self.assertEqual(cg.limit_bytes, 832 << 20)
        # a real cgroupfs fills these in; here the test does
        write(os.path.join(cg.path, 'memory.current'), '1048576\n')
        write(os.path.join(cg.path, 'memory.swap.current'), '4096\n')
        write(os.path.join(cg.path, 'memory.events'),
              'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n')
        write(os.path.join(cg.path, 'cgroup.procs'), '')
        self.assertEqual(cg.usage(), 1 << 20)
        self.assertEqual(cg.swap_usage(), 4096)
        self.assertEqual(cg.oom_kills(), 1)
        for f in os.listdir(cg.path):
            os.unlink(os.path.join(cg.path, f))
        cg.remove()
        self.assertFalse(os.path.exists(cg.path))

    def test_wrapper_joins_the_cgroup(self):
        fs = FakeCgroupfs(v2_controllers=['memory'])
        cg = H.MemCgroup('w', 1 << 30, kind='v2', root=fs.v2)
        argv = cg.wrapper() + ['/bin/true']
        pid = os.fork()
        if pid == 0:
            os.execv(argv[0], argv)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        with open(os.path.join(cg.path, 'cgroup.procs'),
                  encoding='ascii') as f:
            self.assertTrue(f.read().strip().isdigit())

    def test_limit_refused_leaves_nothing(self):
        fs = FakeCgroupfs(v2_controllers=['memory'])
        os.mkdir(os.path.join(fs.v2, 'taken'))
        with self.assertRaises(FileExistsError):
            H.MemCgroup('taken', 1 << 30, kind='v2', root=fs.v2)


SMAPS = """\
55d0c0000000-55d0c0100000 r-xp 00000000 fe:01 1234  /usr/bin/qemu
Size:               1024 kB
Rss:                 800 kB
Swap:                  0 kB
7f0000000000-7f0040200000 rw-p 00000000 00:00 0
Size:            1050624 kB
Rss:              600000 kB
Pss:              600000 kB
Swap:              40000 kB
SwapPss:           40000 kB
7f0040200000-7f0041200000 rw-p 00000000 00:00 0
Size:              16384 kB
Rss:               10000 kB
Swap:               2000 kB
VmFlags: rd wr mr mw me ac
"""


def dead_pid():
    """A PID that ran a moment ago and runs no more."""
    child = subprocess.Popen(['true'])
    child.wait()
    return child.pid


class TestSweepStale(unittest.TestCase):
    """What a killed run left (cgroups, swap files of dead PIDs) goes at
    the next run; nothing else does.  In temporary directories."""

    def test_cgroups_and_swap_files(self):
        dead = dead_pid()
        with tempfile.TemporaryDirectory() as cg, \
                tempfile.TemporaryDirectory() as sw:
            stale = os.path.join(cg, f'qemu-autoballoon-bench-{dead}')
            busy = os.path.join(cg, f'qemu-autoballoon-demo-{dead}')
            live = os.path.join(cg, f'qemu-autoballoon-bench-{os.getppid()}')
            other = os.path.join(cg, f'user-{dead}')
            for d in (stale, busy, live, other):
                os.mkdir(d)
            write(os.path.join(busy, 'tasks'), '1\n')   # cannot go
            stale_swap = os.path.join(sw, f'qemu-autoballoon-{dead}.swap')
            live_swap = os.path.join(sw,
                                     f'qemu-autoballoon-{os.getpid()}.swap')
            on_swap = os.path.join(sw, f'qemu-autoballoon-{dead + 1}.swap')
            for f in (stale_swap, live_swap, on_swap):
                write(f, '')
            # on_swap is named active, and swapoff refuses a file that
            # is no swap area: it stays (if dead + 1 runs, it stays too)
            swaps = os.path.join(sw, 'swaps')
            write(swaps, 'Filename Type Size Used Priority\n'
                  f'{on_swap} file 1024 0 -2\n')

            removed = H.sweep_stale(cgroup_root=cg, swap_dir=sw,
                                    swaps_file=swaps)

            self.assertEqual(removed, [stale, stale_swap])
            for path in (busy, live, other, live_swap, on_swap):
                self.assertTrue(os.path.exists(path), path)
            self.assertEqual(H.sweep_stale(cgroup_root=cg, swap_dir=sw,
                                           swaps_file=swaps), [])

    def test_odd_names_and_owners(self):
        dead = dead_pid()
        with tempfile.TemporaryDirectory() as cg:
            huge = os.path.join(cg, 'qemu-autoballoon-x-' + '9' * 20)
            spaced = os.path.join(cg, f'qemu-autoballoon-x- {dead}')
            theirs = os.path.join(cg, f'qemu-autoballoon-x-{dead}')
            for d in (huge, spaced, theirs):
                os.mkdir(d)
            if os.geteuid() == 0:
                os.chown(theirs, 65534, 65534)    # nobody's
                kept = (huge, spaced, theirs)
            else:
                kept = (huge, spaced)
            removed = H.sweep_stale(cgroup_root=cg)
            for path in kept:
                self.assertTrue(os.path.exists(path), path)
            if os.geteuid() != 0:
                self.assertEqual(removed, [theirs])

    def test_own_pid_leftover_made_again(self):
        # a killed run's cgroup whose PID this process now has
        fs = FakeCgroupfs(v2_controllers=['memory'])
        name = f'qemu-autoballoon-bench-{os.getpid()}'
        os.mkdir(os.path.join(fs.v2, name))
        cg = H.MemCgroup(name, 1 << 30, kind='v2', root=fs.v2)
        self.assertTrue(os.path.isdir(cg.path))
        for f in os.listdir(cg.path):
            os.unlink(os.path.join(cg.path, f))
        cg.remove()

    def test_missing_directories(self):
        self.assertEqual(H.sweep_stale(cgroup_root='/nonexistent/cg',
                                       swap_dir='/nonexistent/swap'), [])


class TestMemorySplit(unittest.TestCase):
    """proc_memory_split(): guest RAM apart from QEMU's own memory."""

    def test_fake_smaps(self):
        with tempfile.NamedTemporaryFile('w', suffix='.smaps') as f:
            f.write(SMAPS)
            f.flush()
            got = H.proc_memory_split(0, 1 << 30, smaps=f.name)
        self.assertEqual(got, {'ram_rss': 600000 * 1024,
                               'ram_swap': 40000 * 1024,
                               'other_rss': 10800 * 1024,
                               'other_swap': 2000 * 1024})

    def test_code_buffer_larger_than_ram(self):
        """A 16 MiB guest: the 1 GiB mapping (as TCG's code buffer) and
        the 1 MiB one are not its RAM, the 16 MiB one is."""
        with tempfile.NamedTemporaryFile('w', suffix='.smaps') as f:
            f.write(SMAPS)
            f.flush()
            got = H.proc_memory_split(0, 16 << 20, smaps=f.name)
        self.assertEqual(got['ram_rss'], 10000 * 1024)
        self.assertEqual(got['ram_swap'], 2000 * 1024)
        self.assertEqual(got['other_swap'], 40000 * 1024)

    def test_real_process(self):
        """This process with a 64 MiB anonymous mapping half touched: the
        mapping counts as 'ram', its touched half as resident."""
        import mmap                 # pylint: disable=import-outside-toplevel
        m = mmap.mmap(-1, 64 << 20)
        try:
            m[:32 << 20] = b'x' * (32 << 20)
            got = H.proc_memory_split(os.getpid(), 64 << 20)
            self.assertGreaterEqual(got['ram_rss'], 32 << 20)
            self.assertLess(got['ram_rss'], 40 << 20)
            self.assertGreater(got['other_rss'], 0)
        finally:
            m.close()


class TestCpuSplit(unittest.TestCase):
    """proc_cpu_split(): vCPU threads apart from the rest."""

    def test_fake_tasks(self):
        tick = os.sysconf('SC_CLK_TCK')
        threads = {'100': ('qemu-system-x86', 3 * tick, 1 * tick),
                   '101': ('CPU 0/TCG', 50 * tick, 2 * tick),
                   '102': ('CPU 1/KVM', 10 * tick, 0),
                   '103': ('call_rcu', 0, tick // 2)}
        with tempfile.TemporaryDirectory() as d:
            for tid, (comm, ut, st) in threads.items():
                os.mkdir(os.path.join(d, tid))
                write(os.path.join(d, tid, 'comm'), comm + '\n')
                # the name in stat may hold spaces and parentheses
                write(os.path.join(d, tid, 'stat'),
                      f'{tid} ({comm}) S 1 1 1 0 -1 0 0 0 0 0 {ut} {st} '
                      '0 0 20 0 1 0 0 0 0\n')
            got = H.proc_cpu_split(0, task_dir=d)
        self.assertAlmostEqual(got['vcpu'], 62.0)
        self.assertAlmostEqual(got['other'], 4.5)

    def test_unnamed_threads(self):
        """A process without vCPU thread names (QEMU without
        debug-threads=on, or this one): not known, rather than all of
        its time counted as 'other'."""
        self.assertEqual(H.proc_cpu_split(os.getpid()),
                         {'vcpu': None, 'other': None})


class TestDiskImage(unittest.TestCase):
    """guest.disk_image(): a FAT image with syslinux, the kernel, the
    initramfs and the command line; checked with mtools, booted by the
    functional test test_boot_from_disk."""

    def setUp(self):
        missing = G.disk_tools_missing()
        if missing:
            self.skipTest('no ' + ', '.join(missing) + ' (install-deps.sh)')
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        for name, data in (('vmlinuz', b'kernel\x00' * 1000),
                           ('initramfs.cpio.gz', b'initrd')):
            with open(os.path.join(self.tmp.name, name), 'wb') as f:
                f.write(data)
        self.img = os.path.join(self.tmp.name, 'guest.img')

    def mtype(self, name):
        return subprocess.run(['mtype', '-i', self.img, '::' + name],
                              check=True, capture_output=True,
                              env=G.disk_tool_env()).stdout

    def test_image_boots_the_guest_with_its_command_line(self):
        G.disk_image(self.tmp.name, 'console=ttyS0 demo.phases=1:2', self.img)
        self.assertEqual(os.path.getsize(self.img), G.DISK_IMAGE_KIB * 1024)
        self.assertEqual(self.mtype('vmlinuz'), b'kernel\x00' * 1000)
        self.assertEqual(self.mtype('initrd.gz'), b'initrd')
        cfg = self.mtype('syslinux.cfg').decode()
        self.assertIn('  APPEND console=ttyS0 demo.phases=1:2\n', cfg)
        self.assertIn('  KERNEL vmlinuz\n', cfg)
        # syslinux's loader is in the file system and its boot code in
        # the first sector, which ends with the boot signature
        self.assertTrue(self.mtype('ldlinux.sys'))
        with open(self.img, 'rb') as f:
            sector = f.read(512)
        self.assertEqual(sector[510:], b'\x55\xaa')
        self.assertIn(b'SYSLINUX', sector)

    def test_written_again(self):
        G.disk_image(self.tmp.name, 'first', self.img)
        G.disk_image(self.tmp.name, 'second', self.img)
        self.assertIn('APPEND second', self.mtype('syslinux.cfg').decode())

    def test_missing_kernel_fails(self):
        os.unlink(os.path.join(self.tmp.name, 'vmlinuz'))
        with self.assertRaises(subprocess.CalledProcessError):
            G.disk_image(self.tmp.name, 'x', self.img)

    def test_qemu_args(self):
        args = G.qemu_args('/g', 512, 'a=b', disk='/d/guest.img')
        self.assertIn('file=/d/guest.img,format=raw,if=virtio,readonly=on',
                      args)
        for opt in ('-kernel', '-initrd', '-append'):
            self.assertNotIn(opt, args)
        args = G.qemu_args('/g', 512, 'a=b')
        self.assertEqual(args[args.index('-append') + 1], 'a=b')
        self.assertNotIn('-drive', args)


class TestRealCgroups(unittest.TestCase):
    """The real kernel: skipped, with the reason, where it cannot run."""

    def test_v1_memcg_and_vmpressure(self):
        if os.geteuid() != 0:
            self.skipTest('needs root')
        kind, root = H.choose_hierarchy()
        if kind != 'v1':
            self.skipTest('no cgroup v1 memory controller on this host')
        cg = H.MemCgroup(f'autoballoon-test-{os.getpid()}', 32 << 20)
        try:
            obs = H.PressureObserver(cg)
            try:
                # a page-cache hog in the cgroup: reclaim -> vmpressure
                argv = cg.wrapper() + [
                    '/bin/sh', '-c',
                    'dd if=/dev/zero of=/var/tmp/ab-test-$$ bs=1M count=128 '
                    '2>/dev/null; rm -f /var/tmp/ab-test-$$']
                pid = os.fork()
                if pid == 0:
                    os.execv(argv[0], argv)
                os.waitpid(pid, 0)
                end = time.monotonic() + 5
                while obs.snapshot()[1] is None and time.monotonic() < end:
                    time.sleep(0.1)
                counts, first = obs.snapshot()
                self.assertIsNotNone(first)
                self.assertGreater(counts['low'], 0)
                self.assertGreater(cg.usage(), 0)
                self.assertLessEqual(cg.usage(), 32 << 20)
                cg.set_limit(48 << 20)
                with open(os.path.join(cg.path, 'memory.limit_in_bytes'),
                          encoding='ascii') as f:
                    self.assertEqual(int(f.read()), 48 << 20)
            finally:
                obs.close()
        finally:
            cg.remove()
        self.assertFalse(os.path.exists(cg.path))

    def test_v2_psi_triggers_accepted(self):
        """The observer's PSI triggers on a real v2 cgroup (memory.pressure
        exists in every v2 cgroup, with or without the memory
        controller): the kernel accepts all three, and closing stops the
        thread."""
        if os.geteuid() != 0:
            self.skipTest('needs root')
        mounts = H._cgroup2_mounts('/proc/self/mounts')
        if not mounts or not os.path.exists(
                os.path.join(mounts[0], 'memory.pressure')):
            self.skipTest('no cgroup v2 mount with PSI')
        path = os.path.join(mounts[0], f'autoballoon-test-{os.getpid()}')
        os.mkdir(path)
        try:
            class V2:
                kind = 'v2'
            V2.path = path
            obs = H.PressureObserver(V2)
            self.assertEqual(len(obs._fds), 3)
            obs.close()
            self.assertFalse(obs._thread.is_alive())
        finally:
            os.rmdir(path)


if __name__ == '__main__':
    tap_main()
