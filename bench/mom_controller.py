#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# A MOM-style balloon controller: the baseline "what users run today"
# row of the over-commit benchmark.  A separate process that drives the
# stock `balloon` command of each guest over QMP, re-implemented from the
# balloon policy of IBM's / oVirt's Memory Overcommitment Manager
# (MOM, doc/balloon.rules, "Auto-Balloon"):
#
#   host_free_percent = host free / host memory
#   if host_free_percent < pressure_threshold (0.20): shrink every guest
#       guest_free_percent = min_guest_free_percent (0.20)
#                            * host_free_percent / pressure_threshold,
#       or host_free_percent - 0.05 when host_free_percent <=
#       pressure_critical (0.05) (forces the guest to swap)
#       new size = max(used + guest_free_percent * cur,
#                      cur * (1 - max_balloon_change_percent (0.05)))
#   else: grow every ballooned guest
#       new size = min(max, max(cur * 1.05, used + 0.20 * max))
#   a change smaller than min_balloon_change_percent (0.0025) of the
#   guest's size is not made.
#
# "cur" is the guest's current size (query-balloon "actual"), "max" its
# RAM, "used" = cur - its free memory (stat-free-memory, MOM's
# mem_unused), averaged, as MOM's StatAvg, over the samples of the last
# cycle.  The host is the memory cgroup the guests run in: its memory is
# the cgroup's limit and its free memory the limit minus the usage.  MOM
# acts every 10 s (its default policy interval).
#
# Usage: mom_controller.py --cgroup DIR --limit BYTES --log FILE
#                          [--cycle S] NAME=QMP_SOCKET...
# The QMP sockets must be free monitors (the benchmark gives each guest a
# second one for this).  Logs one JSON object per decision.

import argparse
import json
import os
import signal
import sys
import time

PRESSURE_THRESHOLD = 0.20
PRESSURE_CRITICAL = 0.05
MIN_GUEST_FREE_PERCENT = 0.20
MAX_BALLOON_CHANGE_PERCENT = 0.05
MIN_BALLOON_CHANGE_PERCENT = 0.0025
STATS_PERIOD_S = 2


def host_usage(cgroup):
    for name in ('memory.usage_in_bytes', 'memory.current'):
        path = os.path.join(cgroup, name)
        if os.path.exists(path):
            with open(path, encoding='ascii') as f:
                return int(f.read())
    raise RuntimeError(f'{cgroup}: no memory usage file')


def shrink_size(cur, used, host_free_pct):
    if host_free_pct <= PRESSURE_CRITICAL:
        guest_free_pct = host_free_pct - 0.05
    else:
        guest_free_pct = (MIN_GUEST_FREE_PERCENT * host_free_pct /
                          PRESSURE_THRESHOLD)
    balloon_min = used + guest_free_pct * cur
    size = cur * (1 - MAX_BALLOON_CHANGE_PERCENT)
    return max(size, balloon_min)


def grow_size(cur, used, mem_max):
    if cur >= mem_max:
        return None
    size = min(cur * (1 + MAX_BALLOON_CHANGE_PERCENT), mem_max)
    return max(size, used + MIN_GUEST_FREE_PERCENT * mem_max)


def big_enough(cur, new):
    return abs(new - cur) > MIN_BALLOON_CHANGE_PERCENT * cur


class Guest:
    def __init__(self, name, sock):
        # imported here so that --help works without QEMU's packages
        # pylint: disable=import-outside-toplevel
        from qemu.qmp.legacy import QEMUMonitorProtocol
        self.name = name
        self.qmp = QEMUMonitorProtocol(sock)
        self.qmp.connect()
        self.max = None
        self.samples = []       # (cur, free) bytes

    def setup(self):
        self.qmp.cmd('qom-set', path='/machine/peripheral/balloon0',
                      property='guest-stats-polling-interval',
                      value=STATS_PERIOD_S)
        # the guest's RAM: the size before any ballooning
        self.max = self.qmp.cmd('query-balloon')['actual']

    def sample(self):
        cur = self.qmp.cmd('query-balloon')['actual']
        stats = self.qmp.cmd('qom-get', path='/machine/peripheral/balloon0',
                             property='guest-stats')
        free = stats['stats'].get('stat-free-memory')
        if free is None or free >= 1 << 63 or stats['last-update'] == 0:
            return
        self.samples.append((cur, free))

    def averages(self):
        if not self.samples:
            return None
        cur = self.qmp.cmd('query-balloon')['actual']
        free = sum(f for _, f in self.samples) / len(self.samples)
        avg_cur = sum(c for c, _ in self.samples) / len(self.samples)
        self.samples = []
        return cur, avg_cur - free


def main():
    ap = argparse.ArgumentParser(
        description='MOM-style balloon controller over QMP')
    ap.add_argument('--cgroup', required=True)
    ap.add_argument('--limit', type=int, required=True,
                    help='host memory: the cgroup limit, bytes')
    ap.add_argument('--cycle', type=float, default=10.0)
    ap.add_argument('--log', required=True)
    ap.add_argument('guests', nargs='+', metavar='NAME=QMP_SOCKET')
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    guests = []
    for spec in args.guests:
        name, _, sock = spec.partition('=')
        if not sock:
            ap.error(f'{spec}: expected NAME=QMP_SOCKET')
        guests.append(Guest(name, sock))
    for g in guests:
        g.setup()

    start = time.monotonic()
    with open(args.log, 'w', encoding='ascii') as log:
        next_cycle = start + args.cycle
        while True:
            time.sleep(STATS_PERIOD_S)
            for g in guests:
                g.sample()
            if time.monotonic() < next_cycle:
                continue
            next_cycle += args.cycle
            free = max(args.limit - host_usage(args.cgroup), 0)
            host_free_pct = free / args.limit
            shrink = host_free_pct < PRESSURE_THRESHOLD
            for g in guests:
                avg = g.averages()
                if avg is None:
                    continue
                cur, used = avg
                if shrink:
                    size = shrink_size(cur, used, host_free_pct)
                    ok = size <= cur
                else:
                    size = grow_size(cur, used, g.max)
                    ok = size is not None
                ok = ok and big_enough(cur, size)
                if ok:
                    g.qmp.cmd('balloon', value=int(size))
                log.write(json.dumps({
                    't': round(time.monotonic() - start, 2), 'guest': g.name,
                    'host_free_pct': round(host_free_pct, 4),
                    'shrink': shrink, 'cur': cur, 'used': int(used),
                    'target': int(size) if ok else None}) + '\n')
                log.flush()


if __name__ == '__main__':
    main()
