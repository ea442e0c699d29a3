#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# PSI against vmpressure under the same real host pressure.
#
# One stock guest (1024 MiB) fills 700 MiB and frees it down to 100 MiB,
# so that it has memory to spare; then a host hog grows to 700 MiB.  The
# QEMU and the hog run in a cgroup v1 memcg with a limit (1280 MiB by
# default) and swap, and at the same time in a cgroup v2 directory, which
# has PSI (memory.pressure): the reclaim stalls of the v1 limit are
# accounted in the v2 group's memory.pressure, so the same pressure can be
# watched by both sources.  (This needs a hybrid cgroup layout, as on this
# machine; on a pure v2 host the v2 directory would hold the limit.)
#
# Rows, each run --repeat times, alternating:
#
#   vmpressure   auto-source = the v1 memcg.  Its memory state (usage,
#                limit) is known: the watermark rule takes part.
#   psi          auto-source = the v2 directory.  Here it has no memory
#                controller (no memory.current, no memory.max): its
#                memory state is unknown and the watermark rule is off.
#   psi-mem      auto-source = the v2 directory, auto-memory-source = the
#                v1 memcg: PSI events, and the memory state (limit) read
#                where the limit is, as a PSI source on a pure cgroup v2
#                host reads it from its own directory's memory.max.
#
# Per run: MiB the balloon returned (actual balloon size) within --window-s
# (40 s) of the hog starting, its target then, the host events by level
# in that window, host swap-out/in (pages, /proc/vmstat) in the window.
# Output: results.json and results.md in --out, median and [min-max].
#
# Free page reporting is off by default in both rows (--fpr to keep the
# default on): it returns what the guest freed whatever the source, so
# with it the balloon has little left to take and the comparison measures
# reporting, not the source.
#
# Needs root, a hybrid cgroup layout (v1 memory controller plus a v2 mount
# with memory.pressure), the test guest and QEMU's python packages.

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'tests', 'functional'))

# pylint: disable=wrong-import-position
from autoballoon import host as H      # noqa: E402
from autoballoon import guest as G     # noqa: E402

MIB = 1 << 20
V2_ROOT = '/sys/fs/cgroup/unified'
LEVELS = ('low', 'medium', 'critical')


class BothCgroups:
    """The v1 memcg with the limit and a v2 directory for PSI; a program
    started with wrapper() joins both."""

    def __init__(self, name, limit_bytes, v2_root):
        self.v1 = H.MemCgroup(name, limit_bytes, kind='v1', root=H.V1_ROOT)
        self.v2 = os.path.join(v2_root, name)
        try:
            os.mkdir(self.v2)
        except BaseException:
            self.v1.remove()
            raise

    def wrapper(self):
        return ['/bin/sh', '-c',
                'echo $$ > "$0/cgroup.procs" && '
                'echo $$ > "$1/cgroup.procs" && shift && exec "$@"',
                self.v1.path, self.v2]

    def psi_totals(self):
        """[some, full] stall totals of the v2 directory, in us."""
        with open(os.path.join(self.v2, 'memory.pressure'),
                  encoding='ascii') as f:
            return [int(line.rsplit('total=', 1)[1])
                    for line in f.read().splitlines()]

    def remove(self):
        self.v1.remove()
        root = os.path.dirname(self.v2)
        for _ in range(50):
            try:
                with open(os.path.join(self.v2, 'cgroup.procs'),
                          encoding='ascii') as f:
                    pids = f.read().split()
            except OSError:
                return
            for pid in pids:
                try:
                    with open(os.path.join(root, 'cgroup.procs'), 'w',
                              encoding='ascii') as f:
                        f.write(pid)
                except OSError:
                    pass
            try:
                os.rmdir(self.v2)
                return
            except OSError:
                time.sleep(0.1)


def query(vm):
    info = vm.cmd('query-auto-balloon')
    c = info['counters']
    return {'actual': info['actual'] // MIB,
            'target': info['target'] // MIB,
            'events': {lvl: c[f'host-events-{lvl}'] for lvl in LEVELS},
            'inflates': c.get('inflates'),
            'watermark_inflates': c.get('watermark-inflates'),
            'host_memory': 'host-memory' in info}


def one_run(args, row, rep, outdir):
    # pylint: disable=import-outside-toplevel
    from qemu.machine import QEMUMachine
    rdir = os.path.join(outdir, 'runs', f'{row}-{rep}')
    os.makedirs(rdir, exist_ok=True)
    cg = BothCgroups(f'qemu-autoballoon-psicmp-{os.getpid()}',
                     args.limit_mib * MIB, args.v2_root)
    vm = hog = None
    try:
        source = cg.v1.path if row == 'vmpressure' else cg.v2
        props = f'automatic=on,auto-source={source}'
        if not args.fpr:
            props += ',free-page-reporting=off'
        if row == 'psi-mem':
            props += f',auto-memory-source={cg.v1.path}'
        extra = args.vmp_props if row == 'vmpressure' else args.psi_props
        if extra:
            props += ',' + extra
        serial = os.path.join(rdir, 'guest.console')
        append = G.kernel_args(f'{args.fill_mib}:{args.fill_s},'
                               f'{args.keep_mib}:600', 0, seed=rep)
        qargs = G.qemu_args(args.guest_dir, args.guest_mib, append,
                            balloon_props=props, serial_path=serial,
                            firmware_dir=args.firmware)
        vm = QEMUMachine(args.qemu, args=qargs, wrapper=cg.wrapper(),
                         name='guest', log_dir=rdir, base_temp_dir=rdir)
        vm.launch()
        # the guest filled and freed: its first phase line is printed
        end = time.monotonic() + 240
        while not G.Console.from_file(serial).phases.get(1):
            if time.monotonic() > end or not vm.is_running():
                raise RuntimeError(f'{row}: the guest did not free in time')
            time.sleep(0.5)
        # let its statistics (every 5 s by default) see it
        time.sleep(args.settle_s)
        s0 = query(vm)
        psi0 = cg.psi_totals()
        vm0 = H.vmstat()
        hog = H.Hog(args.memload, cg, f'{args.hog_mib}:{args.window_s + 20}',
                    os.path.join(rdir, 'hog.log'))
        t0 = time.monotonic()
        samples = []
        while time.monotonic() - t0 < args.window_s:
            time.sleep(max(0, 1 - (time.monotonic() - t0) % 1))
            s = query(vm)
            s['t'] = round(time.monotonic() - t0, 2)
            s['usage'] = cg.v1.usage() // MIB
            s['psi_us'] = cg.psi_totals()
            samples.append(s)
        s1 = samples[-1]
        vm1 = H.vmstat()
        res = {
            'row': row, 'rep': rep, 'props': props,
            'returned_mib': s0['actual'] - s1['actual'],
            'target_mib': s0['target'] - s1['target'],
            'events': {lvl: s1['events'][lvl] - s0['events'][lvl]
                       for lvl in LEVELS},
            'host_memory_known': s1['host_memory'],
            'pswpout': vm1['pswpout'] - vm0['pswpout'],
            'pswpin': vm1['pswpin'] - vm0['pswpin'],
            'first_return_s': next((s['t'] for s in samples
                                    if s['actual'] < s0['actual']), None),
            'samples': samples,
        }
        # stall of the v2 group in each 2 s (the default PSI window),
        # as the triggers see it: some / full, ms
        tot = [psi0] + [x['psi_us'] for x in samples]
        res['stall_ms_2s'] = [[(tot[i][k] - tot[i - 2][k]) // 1000
                               for k in (0, 1)]
                              for i in range(2, len(tot), 2)]
        res['stall_ms_total'] = [(tot[-1][k] - tot[0][k]) // 1000
                                 for k in (0, 1)]
        with open(os.path.join(rdir, 'samples.json'), 'w',
                  encoding='ascii') as f:
            json.dump(res, f, indent=1)
        return res
    finally:
        if hog:
            hog.stop()
        if vm:
            vm.shutdown(hard=True)
        cg.remove()


def spread(vals):
    if not vals:
        return 'n/a'
    return (f'{statistics.median(vals):g} [{min(vals):g}-{max(vals):g}]')


def report(args, results):
    rows = [r for r in ('vmpressure', 'psi', 'psi-mem')
            if any(x['row'] == r for x in results)]
    out = ['# PSI against vmpressure under the same pressure', '',
           f'Guest {args.guest_mib} MiB, fills {args.fill_mib} MiB then '
           f'keeps {args.keep_mib} MiB; hog {args.hog_mib} MiB; v1 memcg '
           f'limit {args.limit_mib} MiB, swap {args.swap_mib} MiB; '
           f'window {args.window_s} s from the hog\'s start; free page '
           f'reporting {"on" if args.fpr else "off"}.', '',
           '| row | run | returned MiB | target MiB | events low/med/crit '
           '| host memory state | swap-out | swap-in | first return s |',
           '|---|---|---|---|---|---|---|---|---|']
    for r in results:
        e = r['events']
        out.append(f'| {r["row"]} | {r["rep"] + 1} | {r["returned_mib"]} | '
                   f'{r["target_mib"]} | {e["low"]}/{e["medium"]}/'
                   f'{e["critical"]} | '
                   f'{"yes" if r["host_memory_known"] else "no"} | '
                   f'{r["pswpout"]} | {r["pswpin"]} | '
                   f'{r["first_return_s"]} |')
    out += ['', '| row | returned MiB median [min-max] | swap-out | '
            'props |', '|---|---|---|---|']
    med = {}
    for row in rows:
        rs = [r for r in results if r['row'] == row]
        med[row] = statistics.median(r['returned_mib'] for r in rs)
        out.append(f'| {row} | {spread([r["returned_mib"] for r in rs])} '
                   f'| {spread([r["pswpout"] for r in rs])} | '
                   f'`{rs[0]["props"]}` |')
    for row in ('psi', 'psi-mem'):
        if row in med and med.get('vmpressure'):
            out += ['', f'{row} / vmpressure (medians): '
                    f'{med[row] / med["vmpressure"]:.2f}']
    text = '\n'.join(out) + '\n'
    with open(os.path.join(args.out, 'results.md'), 'w',
              encoding='ascii') as f:
        f.write(text)
    print(text)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--qemu', required=True)
    ap.add_argument('--firmware')
    ap.add_argument('--qemu-python', required=True)
    ap.add_argument('--guest-dir', required=True)
    ap.add_argument('--rows', default='vmpressure,psi,psi-mem')
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--guest-mib', type=int, default=1024)
    ap.add_argument('--fill-mib', type=int, default=700)
    ap.add_argument('--fill-s', type=int, default=10)
    ap.add_argument('--keep-mib', type=int, default=100)
    ap.add_argument('--settle-s', type=int, default=6)
    ap.add_argument('--hog-mib', type=int, default=700)
    ap.add_argument('--limit-mib', type=int, default=1280)
    ap.add_argument('--swap-mib', type=int, default=2048)
    ap.add_argument('--window-s', type=int, default=40)
    ap.add_argument('--fpr', action='store_true',
                    help='keep free page reporting at its default (on)')
    ap.add_argument('--psi-props', default='',
                    help='more device properties for the psi row')
    ap.add_argument('--vmp-props', default='',
                    help='more device properties for the vmpressure row')
    ap.add_argument('--v2-root', default=V2_ROOT)
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    args.memload = os.path.join(args.guest_dir, 'memload')
    args.row_list = args.rows.split(',')
    for r in args.row_list:
        if r not in ('vmpressure', 'psi', 'psi-mem'):
            ap.error(f'unknown row {r!r} (vmpressure, psi, psi-mem)')
    if os.geteuid() != 0:
        ap.error('needs root (memory cgroup, swap file)')
    if not os.path.exists(os.path.join(H.V1_ROOT, 'cgroup.event_control')):
        ap.error(f'needs a cgroup v1 memory controller at {H.V1_ROOT}')
    if not os.path.exists(os.path.join(args.v2_root, 'memory.pressure')):
        ap.error(f'needs a cgroup v2 mount with PSI at {args.v2_root}')
    sys.path.insert(0, args.qemu_python)
    return args


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    results = []
    swap = H.SwapFile(args.swap_mib * MIB)
    try:
        for rep in range(args.repeat):
            for row in args.row_list:
                t = time.monotonic()
                r = one_run(args, row, rep, args.out)
                results.append(r)
                print(f'{row} run {rep + 1}: returned {r["returned_mib"]} '
                      f'MiB, events {r["events"]}, swap-out {r["pswpout"]}'
                      f' ({time.monotonic() - t:.0f} s)', flush=True)
                with open(os.path.join(args.out, 'results.json'), 'w',
                          encoding='ascii') as f:
                    json.dump(results, f, indent=1)
    finally:
        swap.remove()
    report(args, results)


if __name__ == '__main__':
    main()
