# SPDX-License-Identifier: GPL-2.0-or-later
#
# Guest side of automatic-ballooning experiments: the QEMU command line
# of the project's test guest (Debian's cloud kernel plus a busybox
# initramfs with the memload workload, scripts/build-guest.sh) and the
# parser of what the guest prints on its serial console.
#
# Shared by the real-guest functional tests, the over-commit benchmark
# and the demo.

import os
import re
import shutil
import subprocess
import tempfile

MIB = 1 << 20

# memload's lines (bench/workload/memload.c).  Kernel messages may be
# printed into the middle of a console line, so these are searched, not
# anchored.
_START = re.compile(r'(\w+): start phases=(\d+)')
_PHASE = re.compile(r'(\w+): phase (\d+)/(\d+) ws=(\d+)(?:MiB)? secs=(\d+) '
                    r'records=(\d+) rate=(\d+) oom_kills=(\d+)')
_OOM = re.compile(r'(\w+): oom-killed phase=(\d+)')
_DONE = re.compile(r'(\w+): done records=(\d+) oom_kills=(\d+)')
_KERNEL_OOM = re.compile(r'Out of memory: Killed process \d+ \((\S+)\)')
# init's line once it has read demo.cache MiB of its data disk
_CACHE_READ = re.compile(r'init: page cache: read (\d+) MiB')
# scripts/build-guest.sh's init and the companion driver (patches/linux)
_DRIVER = re.compile(r'balloon-driver=(\w+)')
_FEATURES = re.compile(r'balloon-features=([01]+)')
_MSG_VQ = re.compile(r'message queue at index (\d+)')
_PRESSURE = re.compile(r'guest memory pressure \(level (\d)\)')
# The kernel's clocksource watchdog (kernel/time/clocksource.c) after a
# check interval that ran long: how far the clocksource (cs) and the
# watchdog's clock (wd) moved in it, in ns; and its verdict when the two
# disagree in a normal interval.  Under TCG the guest's TSC is the host's
# raw TSC, which jumps where the host's own TSC does (a virtual machine
# booted with tsc=unstable): one CI run's guest saw cs_nsec 454965 s
# against wd_nsec 0.34 s, and its timed workload ended at once.
_LONG_READOUT = re.compile(r'Long readout interval, skipping watchdog check:'
                           r' cs_nsec: (-?\d+) wd_nsec: (-?\d+)')
_UNSTABLE = re.compile(r"Marking clocksource '(\w+)' as unstable")
# A long readout whose two clocks disagree by more than this is a jump
CLOCK_JUMP_NS = 1000 * 1000 * 1000


def kernel_args(phases=None, delay_s=0, seed=None, extra='', driver=None,
                cache_mib=0, cache_dev='/dev/vdb'):
    """Guest kernel command line: memload with @phases (MiB:seconds,...)
    after @delay_s seconds, or an idle guest when @phases is None.
    @driver: the guest's virtio_balloon, 'stock' or 'companion'
    (patches/linux); None: the image's default (stock).
    @cache_mib: MiB of the disk @cache_dev the guest reads into its page
    cache before it says it is ready (qemu_args()'s @data_disk)."""
    # no_timer_check: under TCG on a loaded host the kernel's check that
    # the IO-APIC timer ticks can fail, and it then panics ("IO-APIC +
    # timer doesn't work!"); seen here while other guests ran.
    args = ['console=ttyS0', 'panic=-1', 'no_timer_check']
    if phases:
        args += ['demo.work=memload', f'demo.phases={phases}',
                 f'demo.delay={delay_s}']
        if seed is not None:
            args.append(f'demo.seed={seed}')
    else:
        args.append('demo.work=idle')
    if driver:
        args.append(f'autoballoon.driver={driver}')
    if cache_mib:
        args += [f'demo.cache={cache_mib}', f'demo.cachedev={cache_dev}']
    if extra:
        args.append(extra)
    return ' '.join(args)


def data_disk_device(boot_disk):
    """The guest's name of qemu_args()'s @data_disk: the next virtio disk
    after the boot disk when it boots from one (@boot_disk), else the
    first."""
    return '/dev/vdb' if boot_disk else '/dev/vda'


def write_data_disk(path, mib):
    """A raw file of @mib MiB of random bytes, for a guest's page cache
    (kernel_args()'s @cache_mib): random, so that no layer can drop or
    merge the pages (zero-filled pages are not written to swap, and
    same-filled ones can be merged)."""
    with open(path, 'wb') as f:
        for _ in range(mib):
            f.write(os.urandom(MIB))


# What disk_image() runs: (program, Debian package)
DISK_TOOLS = (('mkfs.fat', 'dosfstools'), ('mcopy', 'mtools'),
              ('syslinux', 'syslinux'))
# The image's size: the kernel and initramfs (about 16 MiB) with room
DISK_IMAGE_KIB = 32768


def disk_tool_env():
    """The environment disk_image() runs its tools in: mkfs.fat is in
    /usr/sbin, which a user's PATH may lack."""
    return dict(os.environ,
                PATH=os.environ.get('PATH', '') + ':/usr/sbin:/sbin')


def disk_tools_missing():
    """The Debian packages disk_image() needs that are not installed."""
    path = disk_tool_env()['PATH']
    return [pkg for prog, pkg in DISK_TOOLS
            if not shutil.which(prog, path=path)]


def disk_image(guest_dir, append, path):
    """Write a raw disk image at @path that boots the test guest with the
    kernel command line @append, as a guest boots from its own disk: a
    FAT file system with the guest's kernel and initramfs and the
    syslinux boot loader, which SeaBIOS starts from the first sector.

    Booted so, QEMU keeps no copy of the kernel and initramfs: with
    -kernel it holds both for fw_cfg (about 15 MiB per QEMU) for as long
    as it runs, cold memory that a host under pressure swaps out first
    (bench/results/2026-12-01-owner).  Needs mkfs.fat, mcopy and syslinux
    (disk_tools_missing()); raises CalledProcessError when one fails."""
    env = disk_tool_env()

    def run(*cmd):
        subprocess.run(cmd, check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    if os.path.exists(path):
        os.unlink(path)
    run('mkfs.fat', '-C', path, str(DISK_IMAGE_KIB))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, 'syslinux.cfg')
        with open(cfg, 'w', encoding='ascii') as f:
            f.write('DEFAULT guest\nPROMPT 0\nTIMEOUT 0\nLABEL guest\n'
                    '  KERNEL vmlinuz\n  INITRD initrd.gz\n'
                    f'  APPEND {append}\n')
        run('mcopy', '-i', path, os.path.join(guest_dir, 'vmlinuz'),
            '::vmlinuz')
        run('mcopy', '-i', path,
            os.path.join(guest_dir, 'initramfs.cpio.gz'), '::initrd.gz')
        run('mcopy', '-i', path, cfg, '::syslinux.cfg')
    run('syslinux', '--install', path)


def qemu_args(guest_dir, mem_mib, append, balloon_props='',
              serial_path=None, firmware_dir=None, balloon_id='balloon0',
              no_reboot=True, disk=None, data_disk=None):
    """Arguments for one test guest under TCG with a virtio-balloon-pci.

    @balloon_props: extra device properties ('automatic=on,...').
    @no_reboot: a reset (a guest reboot or panic, but also QMP
    system_reset) makes QEMU exit; False for tests that reset the guest.
    @disk: boot from this disk_image() (read-only virtio-blk) instead of
    -kernel; its command line is the one it was written with, @append is
    not used.
    @data_disk: a raw file the guest sees as its next virtio disk
    (/dev/vdb after a boot @disk, else /dev/vda), read-only and read
    with O_DIRECT, so that what the guest reads is charged as its RAM
    and not as host page cache.
    """
    dev = f'virtio-balloon-pci,id={balloon_id}'
    if balloon_props:
        dev += ',' + balloon_props
    args = ['-machine', 'q35', '-accel', 'tcg', '-m', str(mem_mib),
            '-nodefaults']
    if no_reboot:
        args.append('-no-reboot')
    if disk:
        args += ['-drive', f'file={disk},format=raw,if=virtio,readonly=on']
    else:
        args += ['-kernel', os.path.join(guest_dir, 'vmlinuz'),
                 '-initrd', os.path.join(guest_dir, 'initramfs.cpio.gz'),
                 '-append', append]
    if data_disk:
        args += ['-drive', f'file={data_disk},format=raw,if=virtio,'
                 'readonly=on,cache.direct=on']
    args += ['-device', dev]
    if firmware_dir:
        args += ['-L', firmware_dir]
    if serial_path:
        args += ['-serial', f'file:{serial_path}']
    return args


class Console:
    """What memload and the guest kernel said on one serial console."""

    def __init__(self, text):
        self.text = text
        self.ready = 'GUEST READY' in text
        self.balloon_bound = 'balloon=bound' in text
        m = _DRIVER.search(text)
        # 'stock' or 'companion', None before GUEST READY or in an image
        # older than the companion driver
        self.balloon_driver = m.group(1) if m else None
        # The balloon's negotiated feature bits, bit 0 first
        m = _FEATURES.search(text)
        self.balloon_features = m.group(1) if m else None
        m = _MSG_VQ.search(text)
        self.msg_vq_index = int(m.group(1)) if m else None
        self.pressure_levels = [int(x) for x in _PRESSURE.findall(text)]
        self.started = bool(_START.search(text))
        self.phases = {}        # phase number -> dict
        for m in _PHASE.finditer(text):
            self.phases[int(m.group(2))] = {
                'n': int(m.group(3)), 'ws_mib': int(m.group(4)),
                'secs': int(m.group(5)), 'records': int(m.group(6)),
                'rate': int(m.group(7)), 'oom_kills': int(m.group(8))}
        # MiB init read into the page cache (demo.cache), 0 if none
        m = _CACHE_READ.search(text)
        self.page_cache_mib = int(m.group(1)) if m else 0
        self.workload_oom_kills = len(_OOM.findall(text))
        self.kernel_oom_kills = len(_KERNEL_OOM.findall(text))
        # The largest jump of the guest's clock the watchdog saw, in s (0:
        # none), and the clocksources the kernel gave up as unstable
        jumps = [abs(int(cs) - int(wd))
                 for cs, wd in _LONG_READOUT.findall(text)]
        jumps = [j for j in jumps if j > CLOCK_JUMP_NS]
        self.clock_jump_s = max(jumps, default=0) / 1e9
        self.unstable_clocksources = _UNSTABLE.findall(text)
        self.clock_sound = not jumps and not self.unstable_clocksources
        m = _DONE.search(text)
        self.done = m is not None
        self.total_records = (int(m.group(2)) if m else
                              sum(p['records'] for p in self.phases.values()))

    @classmethod
    def from_file(cls, path):
        try:
            with open(path, 'rb') as f:
                return cls(f.read().decode('ascii', 'replace'))
        except FileNotFoundError:
            return cls('')
