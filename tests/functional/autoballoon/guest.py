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
# scripts/build-guest.sh's init and the companion driver (patches/linux)
_DRIVER = re.compile(r'balloon-driver=(\w+)')
_FEATURES = re.compile(r'balloon-features=([01]+)')
_MSG_VQ = re.compile(r'message queue at index (\d+)')
_PRESSURE = re.compile(r'guest memory pressure \(level (\d)\)')


def kernel_args(phases=None, delay_s=0, seed=None, extra='', driver=None):
    """Guest kernel command line: memload with @phases (MiB:seconds,...)
    after @delay_s seconds, or an idle guest when @phases is None.
    @driver: the guest's virtio_balloon, 'stock' or 'companion'
    (patches/linux); None: the image's default (stock)."""
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
    if extra:
        args.append(extra)
    return ' '.join(args)


def qemu_args(guest_dir, mem_mib, append, balloon_props='',
              serial_path=None, firmware_dir=None, balloon_id='balloon0',
              no_reboot=True):
    """Arguments for one test guest under TCG with a virtio-balloon-pci.

    @balloon_props: extra device properties ('automatic=on,...').
    @no_reboot: a reset (a guest reboot or panic, but also QMP
    system_reset) makes QEMU exit; False for tests that reset the guest.
    """
    dev = f'virtio-balloon-pci,id={balloon_id}'
    if balloon_props:
        dev += ',' + balloon_props
    args = ['-machine', 'q35', '-accel', 'tcg', '-m', str(mem_mib),
            '-nodefaults']
    if no_reboot:
        args.append('-no-reboot')
    args += ['-kernel', os.path.join(guest_dir, 'vmlinuz'),
             '-initrd', os.path.join(guest_dir, 'initramfs.cpio.gz'),
             '-append', append, '-device', dev]
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
        self.workload_oom_kills = len(_OOM.findall(text))
        self.kernel_oom_kills = len(_KERNEL_OOM.findall(text))
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
