#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Automatic ballooning demo: a Debian guest under TCG inside a memory
# cgroup with a limit holds most of its memory as page cache (it has read
# a data disk, as a Linux guest that has run a while has), a host memory
# hog grows in the same cgroup, and the balloon inflates from the high
# watermark on, so that the guest gives its cache back to the host
# instead of the host swapping.  Free page reporting (on by default with
# automatic=on) cannot do that: cache is not free memory.  One row per
# second shows the balloon target and the guest's size, what the cgroup
# holds in RAM and in swap, and the host pressure events QEMU counted.
# It exits with status 1 when the balloon did not inflate.
#
# The cgroup is a v1 memcg (vmpressure source) where the host has the v1
# memory controller, else a cgroup v2 directory with memory.max (PSI
# source, memory.pressure): the demo says which.  It removes the cgroup,
# the swap file and the data disk it made, whatever happens.
#
# Usage (as root): demo.py --qemu QEMU --firmware DIR --guest-dir DIR
#                          --qemu-python DIR
# Tunables (environment, sizes in MiB):
#   DEMO_SECONDS=60   rows of the table, one per second, from hog start
#   DEMO_MEM=1024     guest RAM
#   DEMO_CACHE=600    MiB of its data disk the guest reads into its page
#                     cache at boot (0: none, and nothing to give back
#                     that free page reporting does not return)
#   DEMO_WORK=100     the guest's workload: a working set of this size
#   DEMO_LIMIT        cgroup limit (default DEMO_MEM + 256)
#   DEMO_HOG=768      host hog size, grown DEMO_HOG_STEP per second
#   DEMO_HOG_STEP=32  (under TCG the guest inflates about 30 MiB/s here
#                     while the cgroup swaps: a faster hog outruns it)
#   DEMO_SWAP=1024    size of the temporary swap file in /var/tmp
#   DEMO_AUTO_PROPS   device properties for automatic mode, {cg} standing
#                     for the cgroup (default automatic=on,auto-source={cg})
#   DEMO_APPEND       more guest kernel parameters
#   DEMO_LOGDIR       serial/QEMU logs (build/demo)

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'tests', 'functional'))

# pylint: disable=wrong-import-position
from autoballoon import host as H      # noqa: E402
from autoballoon import guest as G     # noqa: E402

MIB = 1 << 20


def env(name, default, zero=False):
    val = os.environ.get(name, '')
    if not val:
        return default
    if not val.isdigit() or (int(val) == 0 and not zero):
        sys.exit(f'demo: {name}={val!r}: expected a '
                 f'{"non-negative" if zero else "positive"} number')
    return int(val)


def log(msg):
    print(f'demo: {msg}', flush=True)


class Demo:
    def __init__(self, args):
        self.args = args
        self.seconds = env('DEMO_SECONDS', 60)
        self.mem = env('DEMO_MEM', 1024)
        self.cache = env('DEMO_CACHE', 600, zero=True)
        self.work = env('DEMO_WORK', 100)
        self.limit = env('DEMO_LIMIT', self.mem + 256)
        self.hog_mib = env('DEMO_HOG', 768)
        self.hog_step = env('DEMO_HOG_STEP', 32)
        self.swap_mib = env('DEMO_SWAP', 1024)
        self.logdir = os.environ.get('DEMO_LOGDIR') or os.path.join(
            REPO, 'build', 'demo')
        self.cg = self.swap = self.obs = self.vm = self.hog = None
        self.data = None
        if self.cache + self.work >= self.mem:
            sys.exit(f'demo: DEMO_CACHE + DEMO_WORK ({self.cache} + '
                     f'{self.work} MiB) must be below DEMO_MEM '
                     f'({self.mem} MiB)')

    def guest_phases(self):
        # the working set, held for the whole run
        return f'{self.work}:{60 + self.seconds}'

    def hog_phases(self):
        steps = list(range(self.hog_step, self.hog_mib, self.hog_step))
        pairs = [(m, 1) for m in steps] + [(self.hog_mib, self.seconds + 60)]
        return ','.join(f'{m}:{s}' for m, s in pairs)

    def setup(self):
        os.makedirs(self.logdir, exist_ok=True)
        name = f'qemu-autoballoon-demo-{os.getpid()}'
        self.cg = H.MemCgroup(name, self.limit * MIB)
        if self.cg.kind == 'v1':
            log(f'cgroup v1 memcg {self.cg.path}, limit {self.limit} MiB; '
                'pressure source: vmpressure')
        else:
            log(f'cgroup v2 {self.cg.path}, memory.max {self.limit} MiB; '
                'pressure source: PSI (memory.pressure)')
        self.swap = H.SwapFile(self.swap_mib * MIB)
        log(f'swap file {self.swap.path}, {self.swap_mib} MiB')
        if self.cache:
            self.data = os.path.join(self.logdir, 'data.raw')
            G.write_data_disk(self.data, self.cache)
            log(f'data disk {self.data}, {self.cache} MiB of random bytes')
        self.obs = H.PressureObserver(self.cg)

    def launch(self):
        # pylint: disable=import-outside-toplevel
        from qemu.machine import QEMUMachine
        props = (os.environ.get('DEMO_AUTO_PROPS') or
                 'automatic=on,auto-source={cg}').format(cg=self.cg.source)
        append = G.kernel_args(self.guest_phases(), 0,
                               extra=os.environ.get('DEMO_APPEND', ''),
                               cache_mib=self.cache,
                               cache_dev=G.data_disk_device(False))
        self.serial = os.path.join(self.logdir, 'serial.log')
        if os.path.exists(self.serial):
            os.unlink(self.serial)
        qargs = G.qemu_args(self.args.guest_dir, self.mem, append,
                            balloon_props=props, serial_path=self.serial,
                            firmware_dir=self.args.firmware,
                            data_disk=self.data)
        self.vm = QEMUMachine(self.args.qemu, args=qargs,
                              wrapper=self.cg.wrapper(), name='demo',
                              log_dir=self.logdir, base_temp_dir=self.logdir)
        t0 = time.monotonic()
        self.vm.launch()
        log(f'QEMU pid {self.vm.get_pid()}: -m {self.mem}, '
            f'virtio-balloon-pci,{props}')
        while not G.Console.from_file(self.serial).ready:
            if not self.vm.is_running() or time.monotonic() - t0 > 180:
                sys.exit('demo: the guest did not boot; QEMU log:\n' +
                         (self.vm.get_log() or ''))
            time.sleep(0.2)
        log(f'guest ready {time.monotonic() - t0:.1f} s after QEMU start')
        if not G.Console.from_file(self.serial).balloon_bound:
            sys.exit("demo: the guest's balloon driver is not bound")
        # the workload touches its working set
        time.sleep(5)

    def state(self):
        info = self.vm.cmd('query-auto-balloon')
        c = info['counters']
        return {
            'target': info['target'] // MIB,
            'guest': self.vm.cmd('query-balloon')['actual'] // MIB,
            'events': '%d/%d/%d' % (c['host-events-low'],
                                    c['host-events-medium'],
                                    c['host-events-critical']),
            'gp': ('%d times from its statistics, %d messages, %d'
                   ' deflates of its own; %d deflates or cancelled'
                   ' inflates for it' % (
                       c['guest-stats'], c['guest-messages'],
                       c['guest-deflates'], c['deflates'] + c['cancels'])),
            'usage': self.cg.usage() // MIB,
            'swap': (self.cg.swap_usage() or 0) // MIB,
        }

    def run(self):
        hog_log = os.path.join(self.logdir, 'hog.log')
        self.hog = H.Hog(self.args.guest_dir + '/memload', self.cg,
                         self.hog_phases(), hog_log)
        log(f'host hog pid {self.hog.proc.pid}: {self.hog_mib} MiB in '
            f'{self.hog_step} MiB steps, in the cgroup')
        print('%6s %8s %8s %8s %8s %8s  %s' % (
            'time', 'target', 'guest', 'cgroup', 'swap', 'balloon',
            'host events'))
        print('%6s %8s %8s %8s %8s %8s  %s' % (
            '(s)', '(MiB)', '(MiB)', '(MiB)', '(MiB)', '(MiB)',
            '(low/med/crit)'))
        t0 = time.monotonic()
        peak_usage = peak_swap = peak_balloon = 0
        t_rise = t_follow = None
        s = self.state()
        for i in range(self.seconds):
            time.sleep(max(0, t0 + i - time.monotonic()))
            if not self.vm.is_running():
                log('QEMU exited')
                break
            s = self.state()
            now = time.monotonic() - t0
            balloon = self.mem - s['guest']
            print('%6.1f %8d %8d %8d %8d %8d  %s' % (
                now, s['target'], s['guest'], s['usage'], s['swap'],
                balloon, s['events']), flush=True)
            peak_usage = max(peak_usage, s['usage'])
            peak_swap = max(peak_swap, s['swap'])
            peak_balloon = max(peak_balloon, balloon)
            if t_rise is None and s['target'] < self.mem:
                t_rise = now
            if t_follow is None and t_rise is not None and \
                    s['guest'] <= s['target'] + 1:
                t_follow = now
        print()
        log('summary (automatic mode, cgroup %s):' % self.cg.kind)
        print(f'  cgroup: limit {self.limit} MiB, peak usage {peak_usage} '
              f'MiB, peak swap {peak_swap} MiB')
        print(f'  host pressure events QEMU counted (low/medium/critical): '
              f'{s["events"]}')
        if t_rise is None:
            print('  balloon inflated: NO')
        else:
            print(f'  balloon inflated: yes, first at t={t_rise:.1f} s, '
                  f'largest {peak_balloon} MiB')
            print('  guest reached the balloon target: ' + (
                f'yes, {t_follow - t_rise:.1f} s after the first inflate'
                ' request' if t_follow is not None else 'NO'))
        print(f'  at the end: target {s["target"]} MiB, guest '
              f'{s["guest"]} MiB')
        print(f'  guest memory pressure seen: {s["gp"]}')
        print(f'  logs in {self.logdir}: serial.log (guest console), '
              'hog.log (host hog), demo.log (QEMU\'s own output)')
        return t_rise is not None

    def cleanup(self):
        if self.hog:
            self.hog.stop()
        if self.vm:
            try:
                self.vm.shutdown(timeout=10)
            except Exception:      # pylint: disable=broad-except
                self.vm.kill()
        if self.obs:
            self.obs.close()
        if self.swap:
            self.swap.remove()
        if self.cg:
            self.cg.remove()
            log(f'removed {self.cg.path} and the swap file')
        if self.data and os.path.exists(self.data):
            os.unlink(self.data)
            log(f'removed the data disk {self.data}')


def main():
    ap = argparse.ArgumentParser(description='automatic ballooning demo')
    ap.add_argument('--qemu', required=True)
    ap.add_argument('--firmware', required=True)
    ap.add_argument('--guest-dir', required=True)
    ap.add_argument('--qemu-python', required=True)
    args = ap.parse_args()
    ok, why = H.can_run()
    if not ok:
        sys.exit(f'demo: cannot run here: {why}')
    for f in ('vmlinuz', 'initramfs.cpio.gz', 'memload'):
        if not os.path.exists(os.path.join(args.guest_dir, f)):
            sys.exit(f'demo: no {f} in {args.guest_dir} '
                     '(scripts/build-guest.sh)')
    sys.path.insert(0, args.qemu_python)
    demo = Demo(args)
    try:
        demo.setup()
        demo.launch()
        inflated = demo.run()
    finally:
        demo.cleanup()
    if not inflated:
        sys.exit('demo: FAILED: the balloon did not inflate')


if __name__ == '__main__':
    main()
