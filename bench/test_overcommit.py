#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tests of the over-commit benchmark's pure parts (bench/overcommit.py):
# the scenarios it runs (sizes scale with the guest, phases line up), the
# ratios against the no-policy row of the same run, and the medians and
# spreads of the table.  The runs themselves need root and real guests:
# they are the benchmark (make bench-overcommit), not a test.
# Prints TAP (pycotap).

import argparse
import io
import os
import sys
import tempfile
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'functional'))

# pylint: disable=wrong-import-position
import overcommit as O     # noqa: E402
from autoballoon import tap_main     # noqa: E402


def args(**kw):
    a = dict(guest_mib=1024, phase_s=30, limit_mib=0, guests=3)
    a.update(kw)
    return argparse.Namespace(**a)


class TestScenarios(unittest.TestCase):

    def test_rfc_is_the_rfc_case(self):
        guests, limit, hog = O.scenario('rfc', args())
        self.assertEqual(limit, 1536)
        self.assertIsNone(hog)
        (down, _, sd), (up, _, su) = guests
        self.assertEqual((down, up), ('vm-down', 'vm-up'))
        self.assertEqual([m for m, _ in sd], [800, 650, 500, 350, 200])
        self.assertEqual([m for m, _ in su], [200, 350, 500, 650, 800])
        # the working sets add up to the same in every phase
        self.assertEqual({a + b for (a, _), (b, _) in zip(sd, su)}, {1000})

    def test_sizes_scale_with_the_guest(self):
        guests, limit, _ = O.scenario('rfc', args(guest_mib=2048))
        self.assertEqual(limit, 3072)
        self.assertEqual(guests[0][2][0][0], 1600)

    def test_idle_hog_starts_after_the_guest_freed(self):
        guests, limit, hog = O.scenario('idle', args())
        (_, mem, sched), = guests
        self.assertEqual(sched[0][0], 700)
        self.assertLess(sched[1][0], sched[0][0])
        self.assertEqual(hog[0][0], 0)
        self.assertGreaterEqual(hog[0][1], sched[0][1])
        self.assertGreater(mem + hog[1][0], limit)
        # the hog is gone when the guest's schedule ends: no idle tail
        self.assertEqual(sum(s for _, s in hog), sum(s for _, s in sched))

    def test_stagger_peaks_one_at_a_time(self):
        for n in (2, 3, 5):
            guests, limit, _ = O.scenario('stagger', args(guests=n))
            self.assertEqual(len(guests), n)
            self.assertEqual(limit, 384 * n)
            for phase in range(n):
                peaks = [g for g in guests if g[2][phase][0] == 600]
                self.assertEqual(len(peaks), 1)
            # peaks of 20 s at the default 30 s phases
            self.assertEqual({s for g in guests for _, s in g[2]}, {20})

    def test_cache_hog_ramps_while_the_guest_holds_cache(self):
        guests, limit, hog = O.scenario('cache', args())
        (name, mem, sched), = guests
        cache = O.page_cache_mib('cache', args())[name]
        self.assertEqual(cache, 700)
        # cache and working set fit in the guest, guest and hog not in
        # the cgroup
        self.assertLess(cache + max(m for m, _ in sched), mem)
        self.assertGreater(cache + hog[-1][0], limit)
        # the hog starts idle, then grows in equal steps to its peak
        self.assertEqual(hog[0][0], 0)
        sizes = [m for m, _ in hog]
        self.assertEqual(sizes, sorted(sizes))
        self.assertEqual({b - a for a, b in zip(sizes, sizes[1:])}, {100})
        self.assertEqual(sizes[-1], 700)
        self.assertEqual(sum(s for _, s in hog), sum(s for _, s in sched))
        # everything scales with the guest
        _, limit2, hog2 = O.scenario('cache', args(guest_mib=2048))
        self.assertEqual((limit2, hog2[-1][0]), (2560, 1400))
        self.assertEqual(O.page_cache_mib('cache', args(guest_mib=2048)),
                         {'cache': 1400})

    def test_only_cache_reads_into_the_page_cache(self):
        for scen in ('rfc', 'idle', 'stagger'):
            self.assertEqual(O.page_cache_mib(scen, args()), {})

    def test_data_disk_is_random(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'd.raw')
            O.G.write_data_disk(path, 2)
            with open(path, 'rb') as f:
                data = f.read()
        self.assertEqual(len(data), 2 * O.MIB)
        # no zero page and no two equal pages
        pages = {data[i:i + 4096] for i in range(0, len(data), 4096)}
        self.assertEqual(len(pages), len(data) // 4096)
        self.assertNotIn(bytes(4096), pages)

    def test_unknown(self):
        with self.assertRaises(ValueError):
            O.scenario('nope', args())


class TestCommandLine(unittest.TestCase):

    required = ['--qemu', 'q', '--qemu-python', 'p', '--guest-dir', 'g',
                '--out', 'o']

    def test_guests_boot_from_disk_by_default(self):
        self.assertEqual(O.arg_parser().parse_args(self.required).boot,
                         'disk')

    def test_guest_args_kept_as_given(self):
        a = O.arg_parser().parse_args(self.required + [
            '--guest-args', 'demo.memdump=50,80'])
        self.assertEqual(a.guest_args, 'demo.memdump=50,80')
        self.assertEqual(O.arg_parser().parse_args(self.required).guest_args,
                         '')

    def test_kernel_boot_on_request(self):
        a = O.arg_parser().parse_args(self.required + ['--boot', 'kernel'])
        self.assertEqual(a.boot, 'kernel')

    def refused(self, extra):
        """parse_args() with @extra exits with a usage error (status 2),
        before anything is made: no --out directory."""
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'out')
            argv = ['overcommit.py', '--qemu', 'q', '--qemu-python', 'p',
                    '--guest-dir', 'g', '--out', out] + extra
            with mock.patch.object(sys, 'argv', argv), \
                    mock.patch.object(sys, 'stderr', io.StringIO()) as err, \
                    self.assertRaises(SystemExit) as cm:
                O.parse_args()
            self.assertEqual(cm.exception.code, 2)
            self.assertFalse(os.path.exists(out))
            return err.getvalue()

    def test_bad_values_refused_up_front(self):
        # each refused for its own value, not for the missing guest 'g'
        # (checked after them)
        for extra, why in (
                (['--swap-mib', '0'], '--swap-mib >= 64'),
                (['--swap-mib', '-1'], '--swap-mib >= 64'),
                (['--limit-mib', '-1'], '--limit-mib 0'),
                (['--limit-mib', '5'], '--limit-mib 0'),
                (['--start-delay-s', '-1'], '--start-delay-s >= 0'),
                (['--guest-mib', '65537'], '--guest-mib from 256 to 65536'),
                (['--guest-mib', '255'], '--guest-mib from 256 to 65536'),
                (['--repeat', '0'], '--repeat >= 1'),
                (['--phase-s', '3'], '--phase-s >= 4'),
                (['--guests', '9'], '--guests from 2 to 8'),
                (['--rows', 'none,nope'], "unknown row 'nope'"),
                (['--scenarios', ''], "unknown scenario ''"),
                (['--guest-args', 'a\nDEFAULT x'], '--guest-args: printable'),
                (['--guest-args', 'a\tb'], '--guest-args: printable'),
                (['--guest-args', 'demo.memdump=\u00e9'],
                 '--guest-args: printable'),
                (['--guest-args', 'x' * 1025], '--guest-args: printable'),
                (['--guest-args', 'demo.memdump=5 demo.work=idle'],
                 '--guest-args: demo.work is the benchmark'),
                (['--guest-args', 'initrd=/x'],
                 '--guest-args: initrd is the benchmark')):
            # no subTest(): the TAP runner does not report a failed one
            self.assertIn(why, self.refused(extra), extra)
        # the values alone are fine: refused for the machine or the guest
        self.assertRegex(self.refused([]),
                         'no vmlinuz in g|cannot run here|--boot disk needs')

    def test_disk_space_checked(self):
        msg = self.refused(['--swap-mib', str(1 << 40)])
        self.assertIn('/var/tmp has', msg)


def result(row, rep, swap_out, records=100):
    return {'scenario': 's', 'row': row, 'rep': rep, 'pswpout': swap_out,
            'pswpin': 0, 'records': records, 'guest_oom_kills': 0,
            'cgroup_oom_kills': 0, 'cgroup_major_faults': 0,
            'cgroup_peak_swap_mib': 0, 'qemu_major_faults': {'a': 5},
            'pressure_to_return_s': None, 'inflated_mib': 0,
            'deflated_mib': 0, 'moved_mib': 0, 'elapsed_s': 10,
            'all_done': True, 'host_quiet': True,
            'guests': {'a': {'phases': [records], 'oom_kills': 0}}}


class TestGuestKernel(unittest.TestCase):

    def test_named_from_guest_info(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, 'guest-info'), 'w',
                      encoding='ascii') as f:
                f.write('kernel: linux-image-6.12.118+deb12-cloud-amd64 '
                        '6.12.118-1~deb12u1 (6.12.118+deb12-cloud-amd64)\n'
                        'busybox-static: 1:1.35.0-4+deb12u1+b1\n')
            self.assertEqual(O.guest_kernel(d),
                             'linux-image-6.12.118+deb12-cloud-amd64 '
                             '6.12.118-1~deb12u1 (6.12.118+deb12-cloud-amd64)')

    def test_none_without_guest_info_or_line(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertIsNone(O.guest_kernel(d))
            with open(os.path.join(d, 'guest-info'), 'w',
                      encoding='ascii') as f:
                f.write('busybox-static: 1:1.35.0-4+deb12u1+b1\nkernel: \n')
            self.assertIsNone(O.guest_kernel(d))


class TestTable(unittest.TestCase):

    def test_ratio(self):
        self.assertEqual(O.ratio(5, 10), 0.5)
        self.assertEqual(O.ratio(0, 0), 1.0)
        self.assertEqual(O.ratio(3, 0), float('inf'))
        self.assertIsNone(O.ratio(None, 3))

    def test_spread(self):
        self.assertEqual(O.fmt_spread([3, 1, 2]), '2 [1-3]')
        self.assertEqual(O.fmt_spread([0.5, 0.25], ratio=True),
                         '0.38x [0.25x-0.50x]')
        self.assertEqual(O.fmt_spread([None]), 'n/a')
        self.assertEqual(O.fmt_spread([7]), '7')
        self.assertEqual(O.fmt_spread([0, 0, 0]), '0')

    def test_ratios_within_one_run(self):
        # run 0: auto halves swap-out; run 1: auto doubles it.  Each
        # ratio is against the 'none' row of its own run.
        res = [result('none', 0, 100), result('auto', 0, 50),
               result('none', 1, 1000), result('auto', 1, 2000)]
        table = O.table(res, 's', ['none', 'auto'])
        auto = [line for line in table.splitlines()
                if line.startswith('| auto ')][0]
        cells = [c.strip() for c in auto.split('|')]
        self.assertEqual(cells[2], '1025 [50-2000]')
        self.assertEqual(cells[3], '1.25x [0.50x-2.00x]')
        # all done, no page cache asked, no QEMU died, host quiet, no
        # verdict on the guests' clocks (results older than that column)
        self.assertTrue(auto.endswith('| 2/2 | - | 0/2 | 2/2 | - |'))
        res[1]['qemu_exited'] = ['vm-up']
        table = O.table(res, 's', ['none', 'auto'])
        self.assertIn('| 2/2 | - | 1/2 | 2/2 | - |', table)
        # of auto's two runs, one whose guest read less page cache than
        # asked; none's runs asked for none
        res[1]['cache_read'] = True
        res[3]['cache_read'] = False
        table = O.table(res, 's', ['none', 'auto'])
        self.assertIn('| auto ', table)
        self.assertTrue(table.endswith('| 2/2 | 1/2 | 1/2 | 2/2 | - |'))
        self.assertIn('| 2/2 | - | 0/2 | 2/2 | - |', table)
        # of auto's two runs, one in which a guest's clock jumped
        res[1]['guest_clock_sound'] = True
        res[3]['guest_clock_sound'] = False
        table = O.table(res, 's', ['none', 'auto'])
        self.assertTrue(table.endswith('| 2/2 | 1/2 | 1/2 | 2/2 | 1/2 |'))

    def test_page_cache_read(self):
        from autoballoon import guest as G
        c = G.Console('init: page cache: read 700 MiB of /dev/vdb (t=3.1s)'
                      ' buffers=702MiB available=790MiB\n')
        self.assertEqual(c.page_cache_mib, 700)
        self.assertEqual(G.Console('init: page cache: reading /dev/vdb'
                                   ' FAILED\n').page_cache_mib, 0)
        self.assertEqual(G.Console('').page_cache_mib, 0)
        asked = {'cache': 700}
        self.assertIsNone(O.cache_read_ok({}, {}))
        self.assertTrue(O.cache_read_ok(asked,
                                        {'cache': {'page_cache_mib': 700}}))
        self.assertFalse(O.cache_read_ok(asked,
                                         {'cache': {'page_cache_mib': 512}}))
        # a guest that said nothing read nothing
        self.assertFalse(O.cache_read_ok(asked, {'cache': {}}))
        self.assertFalse(O.cache_read_ok(asked, {}))
        self.assertEqual(O.runs_cell([None, None]), '-')
        self.assertEqual(O.runs_cell([True, False, None]), '1/2')

    def test_guest_clock(self):
        from autoballoon import guest as G
        # what a guest printed when its TSC jumped under TCG (a CI run)
        jumped = G.Console('[  601.2] clocksource: Long readout interval,'
                           ' skipping watchdog check: cs_nsec:'
                           ' 454965692950163 wd_nsec: 336887120\n')
        self.assertAlmostEqual(jumped.clock_jump_s, 454965.4, places=1)
        self.assertFalse(jumped.clock_sound)
        # a watchdog delayed on a busy host: both clocks moved alike
        late = G.Console('clocksource: Long readout interval, skipping'
                         ' watchdog check: cs_nsec: 2812345678 wd_nsec:'
                         ' 2812000000\n')
        self.assertEqual(late.clock_jump_s, 0)
        self.assertTrue(late.clock_sound)
        unstable = G.Console("clocksource: timekeeping watchdog on CPU1:"
                             " Marking clocksource 'tsc' as unstable"
                             " because the skew is too large:\n")
        self.assertEqual(unstable.unstable_clocksources, ['tsc'])
        self.assertFalse(unstable.clock_sound)
        self.assertTrue(G.Console('').clock_sound)

    def test_guest_pressure_to_deflate(self):
        def smp(t, **guests):
            return {'t': t, 'guests': {
                n: {'size': size, 'guest_pressure': p, 'messages': p}
                for n, (size, p) in guests.items()}}
        samples = [smp(0, a=(700, 0), b=(900, 0)),
                   smp(1, a=(700, 0), b=(900, 0)),
                   smp(2, a=(700, 2), b=(900, 0)),   # a says so
                   smp(3, a=(700, 3), b=(900, 1)),
                   smp(4, a=(732, 4), b=(900, 1))]   # a deflates
        m = O.Run._guest_pressure(samples)
        self.assertEqual(m['guest_pressure_s'], 2)
        self.assertEqual(m['guest_pressure_to_deflate_s'], 2)
        self.assertEqual(m['guest_messages'], 5)
        # no deflate after the pressure; no auto counters at all
        m = O.Run._guest_pressure(samples[:4])
        self.assertIsNone(m['guest_pressure_to_deflate_s'])
        m = O.Run._guest_pressure([{'t': 0, 'guests': {'a': {'size': 1}}}])
        self.assertEqual(m, {'guest_pressure_s': None,
                             'guest_pressure_to_deflate_s': None,
                             'guest_messages': None})

    def test_phase_table(self):
        res = [result('none', 0, 1, records=10),
               result('none', 1, 1, records=30)]
        table = O.phase_table(res, 's', ['none'])
        self.assertIn('| none | a | 20 [10-30] | 0 | n/a | n/a |', table)

    def test_phase_table_balloon_per_guest(self):
        res = [result('auto', 0, 1), result('auto', 1, 1)]
        for r, took in zip(res, (300, 500)):
            r['guests']['a'].update(inflated_mib=took, deflated_mib=16)
        table = O.phase_table(res, 's', ['auto'])
        self.assertIn('| auto | a | 100 | 0 | 400 [300-500] | 16 |', table)

    def test_phase_table_swap_and_cpu_per_guest(self):
        res = [result('auto', 0, 1), result('auto', 1, 1)]
        for r, ram, cpu in zip(res, (10, 30), (4.0, 6.0)):
            r['guests']['a'].update(peak_ram_swap_mib=ram,
                                    peak_other_swap_mib=20)
            r['qemu_cpu_s'] = {'a': {'vcpu': 150.0, 'other': cpu}}
        table = O.phase_table(res, 's', ['auto'])
        self.assertIn('| 20 [10-30] | 20 | 150 | 5.0 [4.0-6.0] |', table)
        # results from before these figures: n/a, not an error
        del res[0]['qemu_cpu_s'], res[1]['qemu_cpu_s']
        self.assertTrue(O.phase_table(res, 's', ['auto']).endswith(
            '| 20 | n/a | n/a |'))

    def test_balloon_moves_per_guest(self):
        # 'up' is never inflated; 'down' gives 300 MiB, gets 100 back
        samples = [{'t': t, 'guests': {'up': {'size': 1024},
                                       'down': {'size': size}}}
                   for t, size in ((0, 1024), (1, 824), (2, 724),
                                   (3, 824))]
        samples[1]['guests']['up'] = {}       # no size in that sample
        moves, first = O.Run._balloon_moves(samples,
                                            {'up': 1024, 'down': 1024})
        self.assertEqual(moves, {'up': (0, 0), 'down': (300, 100)})
        self.assertEqual(first, 1)


if __name__ == '__main__':
    tap_main()
