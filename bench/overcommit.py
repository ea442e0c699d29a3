#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The over-commit benchmark: real guests running a phased workload in one
# memory cgroup with a limit and swap, side by side under the policies a
# host operator can choose today.  Rows (each run in the same invocation,
# on the same host settings):
#
#   none       the balloon device, automatic=off, nobody drives it
#   fpr        free-page-reporting=on
#   mom        a MOM-style controller over QMP (bench/mom_controller.py)
#   auto       automatic=on with its defaults (free page reporting
#              included), auto-source = the cgroup
#   auto-nofpr automatic=on, free-page-reporting=off: the policy alone
#   auto-fpr   automatic=on,free-page-reporting=on (only on request:
#              the same as auto since reporting became its default)
#   auto-companion  automatic=on as 'auto' with x-auto-message-queue=on,
#              the guests running the
#              companion virtio_balloon (patches/linux): guest pressure
#              arrives as messages rather than from statistics (only on
#              request, --rows ...,auto-companion: the full comparison
#              keeps within its 30 minutes)
#
# Scenarios (sizes scale with --guest-mib, phases with --phase-s):
#
#   rfc      the vm-up / vm-down case of Capitulino's RFC ("balloon: add
#            automatic ballooning support", qemu-devel, 2013): two guests,
#            one's working set going 800 -> 200 MiB, the other's 200 ->
#            800 MiB, in five phases; the cgroup holds 1.5 of their 2 GiB
#   idle     one guest fills 700 MiB, frees it down to 100 MiB and idles,
#            while a host process grows to 700 MiB in the same cgroup
#   stagger  --guests (3) guests whose 600 MiB peaks come one after the
#            other (a nightly batch on three VMs), the cgroup holding
#            half of their RAM; each peak lasts two thirds of a phase
#   cache    one guest that has read 700 MiB of its disk (page cache, as
#            the memory of a Linux guest that has run a while mostly is)
#            and works in 100 MiB, while a host process grows to 700 MiB
#            in 100 MiB steps, as other guests and services fill a host;
#            free page reporting returns free memory only, not cache
#
# Per row: host swap-in/out (pages, /proc/vmstat), each QEMU's major
# faults, each guest's records (total and per phase), OOM kills inside the
# guests and in the cgroup, time from the first host pressure to the first
# MiB returned, MiB inflated and deflated, time from the guests' first
# pressure (a message, pressure seen in statistics, or a deflate-on-OOM)
# to the balloon's first deflate, the guests' messages, elapsed time.  State is read
# over QMP once per second per guest.  Output in --out: results.json, a
# Markdown table of ratios against the 'none' row (median and spread over
# --repeat runs), and one PNG timeline per scenario and row.
#
# Needs root (cgroup, swap file), a QEMU build with the series, the test
# guest (scripts/build-guest.sh) and QEMU's python packages; see
# `make bench-overcommit`.

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'tests', 'functional'))

# pylint: disable=wrong-import-position
from autoballoon import host as H      # noqa: E402
from autoballoon import guest as G     # noqa: E402

MIB = 1 << 20
# The rows run by default; auto-fpr is the same as auto since automatic
# mode offers free page reporting by default, and stays for comparisons
# with results from before; auto-companion needs a guest image with the
# companion driver and runs on request
ROWS = ('none', 'fpr', 'mom', 'auto', 'auto-nofpr')
SCENARIOS = ('rfc', 'idle', 'stagger', 'cache')
ROW_PROPS = {
    'none': '',
    'fpr': 'free-page-reporting=on',
    'mom': '',
    'auto': 'automatic=on,auto-source={cg}',
    'auto-nofpr': 'automatic=on,auto-source={cg},free-page-reporting=off',
    'auto-fpr': 'automatic=on,auto-source={cg},free-page-reporting=on',
    'auto-companion': 'automatic=on,auto-source={cg},x-auto-message-queue=on',
}
# The guests' virtio_balloon where it is not the stock module
ROW_DRIVER = {'auto-companion': 'companion'}


def scaled(mib, scale):
    return max(int(mib * scale), 0)


def phases_str(pairs):
    return ','.join(f'{m}:{s}' for m, s in pairs)


def scenario(name, args):
    """Guests (name, RAM MiB, phases), the cgroup limit and the hog."""
    k = args.guest_mib / 1024
    p = args.phase_s
    if name == 'rfc':
        down = [800, 650, 500, 350, 200]
        guests = [('vm-down', args.guest_mib,
                   [(scaled(m, k), p) for m in down]),
                  ('vm-up', args.guest_mib,
                   [(scaled(m, k), p) for m in reversed(down)])]
        limit = args.limit_mib or scaled(1536, k)
        return guests, limit, None
    if name == 'idle':
        guests = [('idle', args.guest_mib,
                   [(scaled(700, k), p), (scaled(100, k), p + p // 2)])]
        limit = args.limit_mib or scaled(1280, k)
        # the hog starts a quarter phase after the guest freed its memory
        # and runs to the end of the guest's schedule
        hog = [(0, p + p // 4), (scaled(700, k), p // 2 + p - p // 4)]
        return guests, limit, hog
    if name == 'stagger':
        n = args.guests
        mem = scaled(768, k)
        hi, lo = scaled(600, k), scaled(100, k)
        # peaks of two thirds of a phase (20 s by default): the full
        # comparison stays within 30 minutes on 2 cores
        peak = max(2 * p // 3, 4)
        guests = []
        for i in range(n):
            sched = [(hi if j == i else lo, peak) for j in range(n)]
            guests.append((f'vm{i + 1}', mem, sched))
        # half of the guests' RAM, as with the default three
        limit = args.limit_mib or scaled(384 * n, k)
        return guests, limit, None
    if name == 'cache':
        guests = [('cache', args.guest_mib,
                   [(scaled(100, k), p), (scaled(100, k), p + p // 2)])]
        limit = args.limit_mib or scaled(1280, k)
        # after a quarter phase the hog grows by 100 MiB (scaled) every
        # 1/15 of a phase, 50 MiB/s at the defaults, to 700 MiB, and
        # holds that to the end of the guest's schedule
        total = sum(s for _, s in guests[0][2])
        step_s = max(p // 15, 1)
        hog = [(0, p // 4)] + [(scaled(100 * i, k), step_s)
                               for i in range(1, 7)]
        hog.append((scaled(700, k), total - sum(s for _, s in hog)))
        return guests, limit, hog
    raise ValueError(f'unknown scenario {name}')


def page_cache_mib(name, args):
    """MiB of its data disk each guest of scenario @name reads into its
    page cache before it starts its schedule: {guest name: MiB}, empty
    where no guest does."""
    if name == 'cache':
        return {'cache': scaled(700, args.guest_mib / 1024)}
    return {}


def cache_read_ok(asked, guests):
    """Whether every guest of @asked ({name: MiB}) read that much into its
    page cache, by @guests' 'page_cache_mib'; None when none was asked."""
    if not asked:
        return None
    return all(guests.get(n, {}).get('page_cache_mib', 0) >= mib
               for n, mib in asked.items())


class Run:
    """One scenario under one row: guests, cgroup, samples, metrics."""

    def __init__(self, args, scen, row, rep, outdir):
        self.args = args
        self.scen = scen
        self.row = row
        self.rep = rep
        self.dir = os.path.join(outdir, 'runs', f'{scen}-{row}-{rep}')
        os.makedirs(self.dir, exist_ok=True)
        self.guests, self.limit_mib, self.hog_sched = scenario(scen, args)
        self.cache_mib = page_cache_mib(scen, args)
        self.mem = {n: mem for n, mem, _ in self.guests}
        self.samples = []
        self.vms = {}
        self.cg = None
        self.obs = None
        self.hog = None
        self.mom = None
        self.disk_dir = None

    def _launch(self):
        # pylint: disable=import-outside-toplevel
        from qemu.machine import QEMUMachine
        props = ROW_PROPS[self.row].format(cg=self.cg.source)
        if self.row.startswith('auto') and self.args.auto_props:
            props += ',' + self.args.auto_props
        delay = self.args.start_delay_s
        # the data disk comes after the boot disk, if any
        cache_dev = G.data_disk_device(self.args.boot == 'disk')
        for name, mem, sched in self.guests:
            cache = self.cache_mib.get(name, 0)
            append = G.kernel_args(phases_str(sched), delay,
                                   seed=hash((name, self.rep)) & 0xffff,
                                   driver=ROW_DRIVER.get(self.row),
                                   cache_mib=cache, cache_dev=cache_dev,
                                   extra=self.args.guest_args)
            serial = os.path.join(self.dir, f'{name}.console')
            disk = None
            if self.args.boot == 'disk':
                # outside the run's directory: results are kept, images
                # are not
                if self.disk_dir is None:
                    self.disk_dir = tempfile.mkdtemp(prefix='overcommit-')
                disk = os.path.join(self.disk_dir, f'{name}.img')
                G.disk_image(self.args.guest_dir, append, disk)
            qargs = G.qemu_args(self.args.guest_dir, mem, append,
                                balloon_props=props, serial_path=serial,
                                firmware_dir=self.args.firmware, disk=disk,
                                data_disk=self.args.data_disk if cache
                                else None)
            # thread names, for the vCPU / other CPU split
            qargs += ['-name', f'{name},debug-threads=on']
            if self.args.trace:
                log = os.path.join(self.dir, f'{name}.trace')
                qargs += ['-trace', f'enable={self.args.trace},file={log}']
            if self.row == 'mom':
                sock = os.path.join(self.dir, f'{name}.mom.sock')
                qargs += ['-chardev',
                          f'socket,id=mom,path={sock},server=on,wait=off',
                          '-mon', 'chardev=mom,mode=control']
            vm = QEMUMachine(self.args.qemu, args=qargs,
                             wrapper=self.cg.wrapper(), name=name,
                             log_dir=self.dir, base_temp_dir=self.dir)
            vm.launch()
            self.vms[name] = vm

    def _wait_ready(self, timeout=180):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            cons = {n: G.Console.from_file(self._console(n))
                    for n in self.vms}
            if all(c.ready for c in cons.values()):
                bad = [n for n, c in cons.items() if not c.balloon_bound]
                if bad:
                    raise RuntimeError(f'balloon driver not bound in {bad}')
                want = ROW_DRIVER.get(self.row, 'stock')
                bad = [n for n, c in cons.items()
                       if c.balloon_driver not in (want, None)]
                if bad or (want != 'stock' and
                           any(c.balloon_driver is None
                               for c in cons.values())):
                    raise RuntimeError(f'not the {want} balloon driver in'
                                       f' {bad or list(cons)} (rebuild the'
                                       ' guest: scripts/build-guest.sh)')
                return
            for n, vm in self.vms.items():
                if not vm.is_running():
                    raise RuntimeError(f'{n}: QEMU exited: {vm.get_log()}')
            time.sleep(0.5)
        raise RuntimeError('guests did not boot in time')

    def _console(self, name):
        return os.path.join(self.dir, f'{name}.console')

    def _start_mom(self):
        socks = [f'{n}={os.path.join(self.dir, n + ".mom.sock")}'
                 for n in self.vms]
        env = dict(os.environ, PYTHONPATH=self.args.qemu_python)
        log = os.path.join(self.dir, 'mom.jsonl')
        # pylint: disable=consider-using-with
        self.mom = subprocess.Popen(
            [sys.executable, os.path.join(HERE, 'mom_controller.py'),
             '--cgroup', self.cg.path, '--limit',
             str(self.limit_mib * MIB), '--log', log] + socks,
            env=env, stdout=open(os.path.join(self.dir, 'mom.out'), 'w',
                                 encoding='ascii'),
            stderr=subprocess.STDOUT)

    def _sample(self, t0):
        s = {'t': round(time.monotonic() - t0, 2), 'guests': {}}
        for n, vm in self.vms.items():
            g = {}
            try:
                # one QMP command per guest and second
                if self.row.startswith('auto'):
                    info = vm.cmd('query-auto-balloon')
                    g['size'] = info['actual'] // MIB
                    g['target'] = info['target'] // MIB
                    c = info['counters']
                    g['host_events'] = (c['host-events-low'] +
                                        c['host-events-medium'] +
                                        c['host-events-critical'])
                    g['messages'] = c['guest-messages']
                    # guest pressure from any source
                    g['guest_pressure'] = (c['guest-messages'] +
                                           c['guest-stats'] +
                                           c['guest-deflates'])
                else:
                    g['size'] = vm.cmd('query-balloon')['actual'] // MIB
            except Exception:      # pylint: disable=broad-except
                pass
            try:
                # whose memory is in swap: guest RAM or QEMU's own
                split = H.proc_memory_split(vm.get_pid(), self.mem[n] * MIB)
                for k, v in split.items():
                    g[k] = v // MIB
            except (OSError, TypeError):
                pass
            s['guests'][n] = g
        s['usage'] = self.cg.usage() // MIB
        sw = self.cg.swap_usage()
        s['swap'] = sw // MIB if sw is not None else None
        vm_ = H.vmstat()
        s['pswpin'] = vm_['pswpin'] - self.vm0['pswpin']
        s['pswpout'] = vm_['pswpout'] - self.vm0['pswpout']
        counts, _ = self.obs.snapshot()
        s['pressure'] = counts['low']
        self.samples.append(s)

    def _finished(self):
        for n, vm in self.vms.items():
            # a QEMU the memory cgroup killed never finishes its schedule
            if (vm.is_running() and
                    not G.Console.from_file(self._console(n)).done):
                return False
        return self.hog is None or self.hog.proc.poll() is not None

    def execute(self):
        cg_name = f'qemu-autoballoon-bench-{os.getpid()}'
        self.cg = H.MemCgroup(cg_name, self.limit_mib * MIB)
        try:
            self.obs = H.PressureObserver(self.cg)
            self.others_swap_kib = self._others_swap()
            self.vm0 = H.vmstat()
            t_launch = time.monotonic()
            self._launch()
            self._wait_ready()
            boot_s = time.monotonic() - t_launch
            if self.row == 'mom':
                self._start_mom()
            if self.hog_sched:
                self.hog = H.Hog(self.args.memload, self.cg,
                                 phases_str(self.hog_sched),
                                 os.path.join(self.dir, 'hog.log'),
                                 delay_s=self.args.start_delay_s)
            t0 = time.monotonic()
            total = (self.args.start_delay_s +
                     max(sum(s for _, s in sched)
                         for _, _, sched in self.guests) + 60)
            while time.monotonic() - t0 < total and not self._finished():
                if self.mom is not None and self.mom.poll() is not None:
                    with open(os.path.join(self.dir, 'mom.out'),
                              encoding='ascii') as f:
                        raise RuntimeError('the MOM-style controller died:\n'
                                           + f.read()[-2000:])
                self._sample(t0)
                time.sleep(max(0, 1 - (time.monotonic() - t0) % 1))
            self._sample(t0)
            return self._metrics(t0, boot_s)
        finally:
            self._teardown()

    def _others_swap(self):
        """KiB in swap areas other than the benchmark's: a host that is
        not quiet makes the host-wide swap counters meaningless."""
        return sum(kib for path, kib in H.swap_areas().items()
                   if path != self.args.swap_path)

    def _metrics(self, t0, boot_s):
        m = {'scenario': self.scen, 'row': self.row, 'rep': self.rep,
             'elapsed_s': round(time.monotonic() - t0, 1),
             'boot_s': round(boot_s, 1)}
        vm1 = H.vmstat()
        m['pswpin'] = vm1['pswpin'] - self.vm0['pswpin']
        m['pswpout'] = vm1['pswpout'] - self.vm0['pswpout']
        m['cgroup_oom_kills'] = self.cg.oom_kills()
        # guests whose QEMU died (the cgroup's OOM killer, or a crash)
        m['qemu_exited'] = sorted(n for n, vm in self.vms.items()
                                  if not vm.is_running())
        m['cgroup_major_faults'] = self.cg.major_faults()
        m['cgroup_peak_swap_mib'] = max(
            (x['swap'] or 0 for x in self.samples), default=0)
        others = max(self.others_swap_kib, self._others_swap())
        m['host_quiet'] = others == 0
        if others:
            print(f'  WARNING: other swap areas hold {others} KiB: the host '
                  'is not quiet, host-wide swap counts include others',
                  flush=True)
        m['qemu_major_faults'] = {}
        m['qemu_cpu_s'] = {}
        for n, vm in self.vms.items():
            try:
                # host CPU: guest code, and QEMU's own work (main loop)
                m['qemu_cpu_s'][n] = {
                    k: round(v, 1) for k, v in
                    H.proc_cpu_split(vm.get_pid()).items()}
            except (OSError, TypeError):
                m['qemu_cpu_s'][n] = None
            try:
                # each mapping's residency and swap, for a closer look
                shutil.copyfile(f'/proc/{vm.get_pid()}/smaps',
                                os.path.join(self.dir, f'{n}.smaps'))
            except (OSError, TypeError):
                pass
            try:
                m['qemu_major_faults'][n] = H.proc_major_faults(vm.get_pid())
            except (OSError, TypeError):
                m['qemu_major_faults'][n] = None
        m['guests'] = {}
        for n in self.vms:
            c = G.Console.from_file(self._console(n))
            m['guests'][n] = {
                'records': c.total_records, 'done': c.done,
                'clock_jump_s': c.clock_jump_s,
                'unstable_clocksources': c.unstable_clocksources,
                'clock_sound': c.clock_sound,
                'oom_kills': c.workload_oom_kills,
                'kernel_oom_kills': c.kernel_oom_kills,
                'page_cache_mib': c.page_cache_mib,
                'phases': [c.phases[i]['records'] if i in c.phases else None
                           for i in range(1, 1 + max(c.phases or [0]))]}
        m['records'] = sum(g['records'] for g in m['guests'].values())
        m['guest_oom_kills'] = sum(g['oom_kills']
                                   for g in m['guests'].values())
        m['all_done'] = all(g['done'] for g in m['guests'].values())
        # every guest's clock ran on: a jump ends memload's timed phases
        # early and makes the run's records and swap meaningless
        m['guest_clock_sound'] = all(g['clock_sound']
                                     for g in m['guests'].values())
        # the scenario as designed: each guest read the page cache it was
        # asked to (init says how much it read); None where none was
        m['cache_read'] = cache_read_ok(self.cache_mib, m['guests'])
        for n in self.vms:
            for k in ('ram_swap', 'other_swap'):
                m['guests'][n][f'peak_{k}_mib'] = max(
                    (x['guests'].get(n, {}).get(k, 0)
                     for x in self.samples), default=0)
        # balloon movement, from the guests' sizes sampled each second
        moves, first_return = self._balloon_moves(self.samples, self.mem)
        for n, (gi, gd) in moves.items():
            m['guests'][n]['inflated_mib'] = gi
            m['guests'][n]['deflated_mib'] = gd
        infl = sum(gi for gi, _ in moves.values())
        defl = sum(gd for _, gd in moves.values())
        m['inflated_mib'] = infl
        m['deflated_mib'] = defl
        # what one guest gave that another got back
        m['moved_mib'] = min(infl, defl) if len(self.guests) > 1 else 0
        _, first_p = self.obs.snapshot()
        m['first_pressure_s'] = (round(first_p - t0, 1)
                                 if first_p is not None else None)
        m['pressure_to_return_s'] = (
            round(first_return - m['first_pressure_s'], 1)
            if first_return is not None and first_p is not None else None)
        m['pressure_events'] = self.obs.snapshot()[0]
        m.update(self._guest_pressure(self.samples))
        return m

    @staticmethod
    def _balloon_moves(samples, mem):
        """Per guest, the MiB its balloon took (inflated) and gave back
        (deflated), summed over the samples' size changes; and the time
        of the first sample in which a guest was below its RAM (@mem:
        guest -> MiB), or None."""
        moves = {}
        first_return = None
        prev = {}
        for s in samples:
            for n, g in s['guests'].items():
                if 'size' not in g:
                    continue
                gi, gd = moves.get(n, (0, 0))
                if n in prev:
                    d = prev[n] - g['size']
                    gi, gd = gi + max(d, 0), gd + max(-d, 0)
                moves[n] = (gi, gd)
                prev[n] = g['size']
                if first_return is None and mem[n] - g['size'] >= 1:
                    first_return = s['t']
        return moves, first_return

    @staticmethod
    def _guest_pressure(samples):
        """The first guest pressure (any guest, any source) and the first
        deflate of that guest from then on, in seconds (None: no guest
        pressure, or no deflate after it); the guests' messages."""
        first = None        # (t, guest, size before)
        prev = {}
        last = {}
        delay = None
        for s in samples:
            for n, g in s['guests'].items():
                if 'guest_pressure' not in g or 'size' not in g:
                    continue
                last[n] = g
                if first is None and n in prev and \
                        g['guest_pressure'] > prev[n]['guest_pressure']:
                    first = (s['t'], n, prev[n]['size'])
                if (first is not None and delay is None and
                        n == first[1] and g['size'] > first[2]):
                    delay = round(s['t'] - first[0], 1)
                prev[n] = g
        return {'guest_pressure_s': first[0] if first else None,
                'guest_pressure_to_deflate_s': delay,
                'guest_messages': (sum(g.get('messages', 0)
                                       for g in last.values())
                                   if last else None)}

    def _teardown(self):
        if self.mom is not None:
            self.mom.terminate()
            self.mom.wait()
        if self.hog is not None:
            self.hog.stop()
        for vm in self.vms.values():
            try:
                vm.shutdown(timeout=10)
            except Exception:      # pylint: disable=broad-except
                vm.kill()
        if self.obs is not None:
            self.obs.close()
        if self.disk_dir is not None:
            shutil.rmtree(self.disk_dir, ignore_errors=True)
        self.cg.remove()
        with open(os.path.join(self.dir, 'samples.json'), 'w',
                  encoding='ascii') as f:
            json.dump(self.samples, f)


def fmt_spread(values, ratio=False):
    vals = [v for v in values if v is not None]
    if not vals:
        return 'n/a'
    med = statistics.median(vals)
    if ratio:
        f = '{:.2f}x'
    elif all(isinstance(v, int) for v in vals) or med >= 10:
        f = '{:.0f}'
    else:
        f = '{:.1f}'
    if min(vals) == max(vals):
        return f.format(med)
    return f'{f.format(med)} [{f.format(min(vals))}-{f.format(max(vals))}]'


def ratio(a, b):
    if a is None or b is None:
        return None
    if b == 0:
        return 1.0 if a == 0 else float('inf')
    return a / b


def runs_cell(oks):
    """'n/m': of the m runs with a verdict (True or False), the n with
    True; '-' where no run has one (a page cache no run asked for, or
    results older than the column)."""
    asked = [ok for ok in oks if ok is not None]
    if not asked:
        return '-'
    return '%d/%d' % (sum(asked), len(asked))


def table(results, scen, rows):
    """Markdown table for one scenario: medians [min-max] over repeats;
    ratios against the 'none' row of the same repeat."""
    by = {(r['row'], r['rep']): r for r in results if r['scenario'] == scen}
    reps = sorted({r['rep'] for r in results if r['scenario'] == scen})
    hdr = ('| row | swap-out (pages) | ratio | swap-in (pages) | ratio | '
           'records | ratio | guest OOM kills | cgroup OOM kills | '
           'cgroup major faults | cgroup peak swap MiB | '
           'QEMU major faults | pressure->return (s) | inflated MiB | '
           'deflated MiB | moved MiB | guest pressure->deflate (s) | '
           'guest messages | elapsed (s) | all done | page cache read | '
           'QEMU died | host quiet | guest clocks sound |')
    out = [hdr, '|' + '---|' * (hdr.count('|') - 1)]
    for row in rows:
        rs = [by[(row, k)] for k in reps if (row, k) in by]
        if not rs:
            continue
        base = [by.get(('none', r['rep'])) for r in rs]

        def col(key, rs=rs):
            return [r[key] for r in rs]

        def rcol(key, rs=rs, base=base):
            return [ratio(r[key], b[key] if b else None)
                    for r, b in zip(rs, base)]

        faults = [sum(v for v in r['qemu_major_faults'].values() if v)
                  for r in rs]
        out.append('| ' + ' | '.join([
            row, fmt_spread(col('pswpout')), fmt_spread(rcol('pswpout'), 1),
            fmt_spread(col('pswpin')), fmt_spread(rcol('pswpin'), 1),
            fmt_spread(col('records')), fmt_spread(rcol('records'), 1),
            fmt_spread(col('guest_oom_kills')),
            fmt_spread(col('cgroup_oom_kills')),
            fmt_spread(col('cgroup_major_faults')),
            fmt_spread(col('cgroup_peak_swap_mib')), fmt_spread(faults),
            fmt_spread(col('pressure_to_return_s')),
            fmt_spread(col('inflated_mib')), fmt_spread(col('deflated_mib')),
            fmt_spread(col('moved_mib')),
            fmt_spread([r.get('guest_pressure_to_deflate_s') for r in rs]),
            fmt_spread([r.get('guest_messages') for r in rs]),
            fmt_spread(col('elapsed_s')),
            '%d/%d' % (sum(r['all_done'] for r in rs), len(rs)),
            runs_cell([r.get('cache_read') for r in rs]),
            '%d/%d' % (sum(bool(r.get('qemu_exited')) for r in rs), len(rs)),
            '%d/%d' % (sum(r['host_quiet'] for r in rs), len(rs)),
            runs_cell([r.get('guest_clock_sound') for r in rs])]) + ' |')
    return '\n'.join(out)


def phase_table(results, scen, rows):
    """Records per guest and phase: medians over the runs."""
    rs = [r for r in results if r['scenario'] == scen]
    if not rs:
        return ''
    guests = sorted(rs[0]['guests'])
    nph = max(len(g['phases']) for r in rs for g in r['guests'].values())
    hdr = '| row | guest | ' + ' | '.join(
        f'phase {i + 1}' for i in range(nph)) + \
        ' | OOM kills | balloon took MiB | gave back MiB |' \
        ' peak swap: guest RAM MiB | peak swap: QEMU\'s own MiB |' \
        ' QEMU CPU s: vCPU | QEMU CPU s: other threads |'
    out = [hdr, '|' + '---|' * (nph + 9)]
    for row in rows:
        rr = [r for r in rs if r['row'] == row]
        if not rr:
            continue
        for g in guests:
            cells = []
            for i in range(nph):
                vals = [r['guests'][g]['phases'][i] for r in rr
                        if i < len(r['guests'][g]['phases'])]
                cells.append(fmt_spread(vals))
            kills = fmt_spread([r['guests'][g]['oom_kills'] for r in rr])
            took = fmt_spread([r['guests'][g].get('inflated_mib')
                               for r in rr])
            back = fmt_spread([r['guests'][g].get('deflated_mib')
                               for r in rr])
            swap = [fmt_spread([r['guests'][g].get(f'peak_{k}_swap_mib')
                                for r in rr]) for k in ('ram', 'other')]
            cpu = [fmt_spread([(r.get('qemu_cpu_s', {}).get(g) or {})
                               .get(k) for r in rr])
                   for k in ('vcpu', 'other')]
            out.append(f'| {row} | {g} | ' + ' | '.join(cells) +
                       f' | {kills} | {took} | {back} | {swap[0]} |'
                       f' {swap[1]} | {cpu[0]} | {cpu[1]} |')
    return '\n'.join(out)


def plot(run_dir, title, limit_mib, png):
    # pylint: disable=import-outside-toplevel
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    with open(os.path.join(run_dir, 'samples.json'), encoding='ascii') as f:
        samples = json.load(f)
    if not samples:
        return
    t = [s['t'] for s in samples]
    fig, ax = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    names = sorted(samples[-1]['guests'])
    for i, n in enumerate(names):
        color = f'C{i}'
        size = [s['guests'].get(n, {}).get('size') for s in samples]
        ax[0].plot(t, size, color=color, label=f'{n} size (actual)')
        tgt = [s['guests'].get(n, {}).get('target') for s in samples]
        if any(v is not None for v in tgt):
            ax[0].plot(t, tgt, color=color, linestyle='--',
                       label=f'{n} target')
    mom = os.path.join(run_dir, 'mom.jsonl')
    if os.path.exists(mom):
        with open(mom, encoding='ascii') as f:
            recs = [json.loads(line) for line in f if line.strip()]
        for i, n in enumerate(names):
            pts = [(r['t'], r['target'] // MIB) for r in recs
                   if r['guest'] == n and r['target'] is not None]
            if pts:
                ax[0].scatter(*zip(*pts), color=f'C{i}', marker='x',
                              label=f'{n} MOM target')
    ax[0].set_ylabel('guest size (MiB)')
    ax[0].legend(fontsize='small', loc='lower left')
    ax[1].plot(t, [s['usage'] for s in samples], label='cgroup usage')
    ax[1].plot(t, [s['swap'] for s in samples], label='cgroup in swap')
    ax[1].axhline(limit_mib, color='k', linestyle=':', label='limit')
    ax[1].set_ylabel('MiB')
    ax[1].legend(fontsize='small', loc='upper left')
    ax[2].plot(t, [s['pswpout'] for s in samples], label='host swap-out')
    ax[2].plot(t, [s['pswpin'] for s in samples], label='host swap-in')
    ax[2].set_ylabel('pages (cumulative)')
    ax2 = ax[2].twinx()
    ax2.plot(t, [s['pressure'] for s in samples], color='C3',
             linestyle='--', label='pressure events')
    ax2.set_ylabel('pressure events (cumulative)')
    ax[2].legend(fontsize='small', loc='upper left')
    ax2.legend(fontsize='small', loc='lower right')
    ax[2].set_xlabel('time since the workloads were started (s)')
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)


def arg_parser():
    """The command line, without the checks that need the host"""
    ap = argparse.ArgumentParser(
        description='Over-commit benchmark: real guests, one memory cgroup, '
        'rows side by side.')
    ap.add_argument('--qemu', required=True, help='qemu-system-x86_64')
    ap.add_argument('--firmware', help='firmware directory (-L)')
    ap.add_argument('--qemu-python', required=True,
                    help="QEMU's python/ directory (qemu.machine, qemu.qmp)")
    ap.add_argument('--guest-dir', required=True,
                    help='vmlinuz, initramfs.cpio.gz, memload '
                    '(scripts/build-guest.sh)')
    ap.add_argument('--scenarios', default='rfc,idle,stagger')
    ap.add_argument('--rows', default=','.join(ROWS))
    ap.add_argument('--repeat', type=int, default=1)
    ap.add_argument('--guest-mib', type=int, default=1024,
                    help='guest RAM; the scenarios scale with it')
    ap.add_argument('--guests', type=int, default=3,
                    help='guests in the stagger scenario')
    ap.add_argument('--limit-mib', type=int, default=0,
                    help='cgroup limit (default: per scenario)')
    ap.add_argument('--swap-mib', type=int, default=2048)
    ap.add_argument('--phase-s', type=int, default=30)
    ap.add_argument('--start-delay-s', type=int, default=5)
    ap.add_argument('--auto-props', default='',
                    help='more device properties for the automatic rows,'
                    ' e.g. free-page-reporting=off')
    ap.add_argument('--trace', default='',
                    help="QEMU trace events to log (QEMU's -trace enable=,"
                    " e.g. 'virtio_balloon_auto_*') into NAME.trace in"
                    " each run's directory; costs CPU, so not for figures")
    ap.add_argument('--guest-args', default='',
                    help='more guest kernel arguments, e.g.'
                    " 'demo.memdump=50,80' (the guest prints /proc/meminfo,"
                    ' /proc/vmstat and its per-cpu page counts at those'
                    ' seconds of uptime, on its console; see'
                    ' scripts/build-guest.sh)')
    # disk by default since 2026-12-01: under libvirt a guest boots from
    # its disk, and -kernel's copy was most of what the balloon rows
    # still swapped (bench/results/2026-12-01-owner and -disk)
    ap.add_argument('--boot', choices=('disk', 'kernel'), default='disk',
                    help='disk (default): from a disk image with a boot'
                    ' loader, as a guest boots from its own disk (needs'
                    " dosfstools, mtools and syslinux); kernel: QEMU's"
                    ' -kernel and -initrd (QEMU keeps a copy of both,'
                    ' about 15 MiB of cold memory per guest), as results'
                    ' before 2026-12-01-disk were made')
    ap.add_argument('--out', required=True)
    return ap


# Guest kernel arguments the benchmark sets (guest.kernel_args(), the
# disk image's boot loader): --guest-args may not repeat them
BENCH_GUEST_ARGS = ('console', 'panic', 'no_timer_check', 'initrd',
                    'demo.work', 'demo.phases', 'demo.delay', 'demo.seed',
                    'demo.cache', 'demo.cachedev', 'autoballoon.driver')


def parse_args():
    ap = arg_parser()
    args = ap.parse_args()
    args.memload = os.path.join(args.guest_dir, 'memload')
    rows = args.rows.split(',')
    for r in rows:
        if r not in ROW_PROPS:
            ap.error(f'unknown row {r!r} (rows: {", ".join(ROW_PROPS)})')
    args.row_list = rows
    args.scen_list = args.scenarios.split(',')
    for s in args.scen_list:
        if s not in SCENARIOS:
            ap.error(f'unknown scenario {s!r} ({", ".join(SCENARIOS)})')
    if (args.repeat < 1 or args.phase_s < 4 or
            not 256 <= args.guest_mib <= 65536 or
            not 2 <= args.guests <= 8):
        ap.error('--repeat >= 1, --phase-s >= 4, --guest-mib from 256 to '
                 '65536, --guests from 2 to 8')
    if args.swap_mib < 64 or args.start_delay_s < 0 or \
            (args.limit_mib and args.limit_mib < 128) or args.limit_mib < 0:
        ap.error('--swap-mib >= 64, --start-delay-s >= 0, --limit-mib 0 '
                 '(the scenario\'s) or >= 128')
    # the arguments go into the boot loader's configuration, one line:
    # printable ASCII only, and the kernel keeps 2048 bytes of its
    # command line (x86 COMMAND_LINE_SIZE) for the benchmark's own too
    if len(args.guest_args) > 1024 or \
            not all(' ' <= c <= '~' for c in args.guest_args):
        ap.error('--guest-args: printable ASCII, at most 1024 characters')
    # the guest's init takes the last of a repeated argument: these would
    # change the scenario or the boot, not add to them
    for word in args.guest_args.split():
        key = word.split('=', 1)[0]
        if key in BENCH_GUEST_ARGS:
            ap.error(f'--guest-args: {key} is the benchmark\'s own')
    # one data disk for every run: the largest page cache asked for
    args.data_mib = max((m for scen in args.scen_list
                         for m in page_cache_mib(scen, args).values()),
                        default=0)
    # the swap file and the data disk both go to /var/tmp
    need = args.swap_mib + args.data_mib
    free = shutil.disk_usage('/var/tmp').free // MIB
    if need + 256 > free:
        ap.error(f'/var/tmp has {free} MiB free; the swap file and the '
                 f'data disk need {need} MiB and 256 MiB to spare')
    ok, why = H.can_run()
    if not ok:
        ap.error(f'cannot run here: {why}')
    if args.boot == 'disk' and G.disk_tools_missing():
        ap.error('--boot disk needs the Debian packages '
                 + ' '.join(G.disk_tools_missing()))
    for f in ('vmlinuz', 'initramfs.cpio.gz', 'memload'):
        if not os.path.exists(os.path.join(args.guest_dir, f)):
            ap.error(f'no {f} in {args.guest_dir} (scripts/build-guest.sh)')
    sys.path.insert(0, args.qemu_python)
    return args


def stop_on_signal(signum, _frame):
    """SIGTERM and SIGHUP end the benchmark as Ctrl-C does: through the
    finally clauses that stop QEMU and the hog and remove the cgroup, the
    swap file and the data disk."""
    raise SystemExit(f'overcommit: stopped by signal {signum}')


def main():
    args = parse_args()
    # the kernel the runs boot, not one a rebuild put there meanwhile
    args.guest_kernel = guest_kernel(args.guest_dir)
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    os.makedirs(args.out, exist_ok=True)
    results = []
    swap = H.SwapFile(args.swap_mib * MIB)
    args.swap_path = swap.path
    started = time.time()
    # the data disk (parse_args()) on disk (/var/tmp), not tmpfs, whose
    # pages would be host memory
    data_mib = args.data_mib
    data_dir = None
    args.data_disk = None
    try:
        if data_mib:
            data_dir = tempfile.mkdtemp(prefix='overcommit-data-',
                                        dir='/var/tmp')
            args.data_disk = os.path.join(data_dir, 'cache.raw')
            G.write_data_disk(args.data_disk, data_mib)
        for rep in range(args.repeat):
            for scen in args.scen_list:
                for row in args.row_list:
                    t = time.monotonic()
                    print(f'overcommit: {scen} / {row} / run {rep + 1}',
                          flush=True)
                    r = Run(args, scen, row, rep, args.out).execute()
                    results.append(r)
                    print(f'  swap-out {r["pswpout"]} swap-in {r["pswpin"]}'
                          f' records {r["records"]} guest OOM kills '
                          f'{r["guest_oom_kills"]} done {r["all_done"]} '
                          f'({time.monotonic() - t:.0f} s)', flush=True)
                    if not r['guest_clock_sound']:
                        print('  WARNING: a guest\'s clock jumped or was'
                              ' found unstable: '
                              + ', '.join(
                                  f'{n} {g["clock_jump_s"]:.0f} s'
                                  + (' (unstable: '
                                     + ', '.join(g['unstable_clocksources'])
                                     + ')' if g['unstable_clocksources']
                                     else '')
                                  for n, g in r['guests'].items()
                                  if not g['clock_sound'])
                              + '; this run\'s figures are not sound',
                              flush=True)
                    if r['cache_read'] is False:
                        asked = page_cache_mib(scen, args)
                        read = {n: r['guests'].get(n, {}).get(
                                    'page_cache_mib', 0) for n in asked}
                        print('  WARNING: a guest read less page cache than'
                              ' the scenario asks for: '
                              + ', '.join(f'{n} {read[n]} of {mib} MiB'
                                          for n, mib in asked.items()),
                              flush=True)
                    with open(os.path.join(args.out, 'results.json'), 'w',
                              encoding='ascii') as f:
                        json.dump(results, f, indent=1)
    finally:
        swap.remove()
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
    report(args, results, started)


def guest_kernel(guest_dir):
    """The guest kernel package that scripts/build-guest.sh put in
    GUEST_DIR, from the "kernel:" line of its guest-info ("linux-image-...
    VERSION (RELEASE)"), or None where there is no such line."""
    try:
        with open(os.path.join(guest_dir, 'guest-info'), encoding='utf-8',
                  errors='replace') as f:
            for line in f:
                if line.startswith('kernel: '):
                    return line[len('kernel: '):].strip()[:200] or None
    except OSError:
        pass
    return None


def report(args, results, started):
    uname = platform.uname()
    kernel = args.guest_kernel
    lines = ['# Over-commit benchmark results', '',
             f'Date: {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; '
             f'machine: {os.cpu_count()} CPUs, '
             f'{os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1 << 30)} GiB, '
             f'host kernel {uname.release}; TCG guests, guest kernel '
             + (kernel or 'not recorded (the guest directory\'s '
                'guest-info names none)') + '.', '',
             f'Guest RAM {args.guest_mib} MiB (scenarios scale with it), '
             f'phases of {args.phase_s} s, swap {args.swap_mib} MiB, '
             f'{args.repeat} run(s) per row; guests booted '
             + ('from a disk image' if args.boot == 'disk' else
                'with -kernel') + '; '
             f'wall time {(time.time() - started) / 60:.1f} min.'
             + (f'  Automatic rows with {args.auto_props}.'
                if args.auto_props else '')
             + (f'  Guest kernel arguments added: {args.guest_args}.'
                if args.guest_args else ''), '',
             'Each cell: median [min-max] over the runs; ratios are '
             'against the "none" row of the same run.  Swap-out and '
             'swap-in are host-wide (/proc/vmstat pswpout, pswpin); '
             '"host quiet" counts the runs during which no other swap area '
             'held pages (else the host-wide counts include others); '
             '"guest clocks sound" the runs in which no guest\'s clock '
             'jumped (its kernel\'s clocksource watchdog saw no jump and '
             'gave up no clocksource as unstable).  The '
             'cgroup\'s own counters: major faults (memory.stat '
             'pgmajfault, swap-ins included) and peak MiB in swap.  '
             '"pressure->return": from the first pressure notification of '
             'the cgroup to the first MiB a balloon took.', '']
    for scen in args.scen_list:
        guests, limit, hog = scenario(scen, args)
        cache = page_cache_mib(scen, args)
        lines += [f'## {scen}', '',
                  'Guests: ' + '; '.join(
                      f'{n} {m} MiB, '
                      + (f'page cache {cache[n]} MiB, ' if n in cache
                         else '') + f'phases {phases_str(p)}'
                      for n, m, p in guests) +
                  f'. Cgroup limit {limit} MiB.' +
                  (f' Host hog: {phases_str(hog)}.' if hog else ''), '',
                  table(results, scen, args.row_list), '',
                  'Records per guest and phase:', '',
                  phase_table(results, scen, args.row_list), '']
        for row in args.row_list:
            run_dir = os.path.join(args.out, 'runs', f'{scen}-{row}-0')
            png = os.path.join(args.out, f'{scen}-{row}.png')
            if os.path.exists(os.path.join(run_dir, 'samples.json')):
                plot(run_dir, f'{scen} / {row} (run 1)', limit, png)
                lines.append(f'![{scen} / {row}]({os.path.basename(png)})')
        lines.append('')
    md = os.path.join(args.out, 'results.md')
    with open(md, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines))
    print('\n'.join(lines))
    print(f'overcommit: wrote {md}')


if __name__ == '__main__':
    main()
