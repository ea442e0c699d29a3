#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tests of the MOM-style controller's rules (bench/mom_controller.py)
# against MOM's balloon policy: shrink under host pressure, scaled by how
# short the host is, never more than 5 % per cycle; grow back by 5 % (or
# to 20 % free) when the host is not short; ignore tiny changes.
# Prints TAP (pycotap).

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'functional'))

# pylint: disable=wrong-import-position
import mom_controller as M     # noqa: E402
from autoballoon import tap_main     # noqa: E402

GIB = 1 << 30
MIB = 1 << 20


class TestShrink(unittest.TestCase):

    def test_step_bounded_by_five_percent(self):
        # a guest using little: the 5 % step bounds the shrink
        self.assertAlmostEqual(M.shrink_size(GIB, 100 * MIB, 0.10),
                               GIB * 0.95)

    def test_keeps_scaled_free_memory(self):
        # host at 10 % free: the guest keeps 20 % * 10/20 = 10 % free
        used = 900 * MIB
        size = M.shrink_size(GIB, used, 0.10)
        self.assertAlmostEqual(size, used + 0.10 * GIB)
        self.assertLess(size, GIB)

    def test_critical_allows_below_used(self):
        # at <= 5 % host free MOM makes guest free memory negative
        used = 1000 * MIB
        size = M.shrink_size(GIB, used, 0.01)
        self.assertAlmostEqual(size, max(GIB * 0.95, used - 0.04 * GIB))


class TestGrow(unittest.TestCase):

    def test_not_ballooned_stays(self):
        self.assertIsNone(M.grow_size(GIB, 100 * MIB, GIB))

    def test_grows_five_percent(self):
        cur = 512 * MIB
        self.assertAlmostEqual(M.grow_size(cur, 10 * MIB, GIB), cur * 1.05)

    def test_grows_to_twenty_percent_free(self):
        used = 600 * MIB
        self.assertAlmostEqual(M.grow_size(620 * MIB, used, GIB),
                               used + 0.2 * GIB)

    def test_capped_at_max(self):
        self.assertEqual(M.grow_size(GIB - MIB, 10 * MIB, GIB), GIB)


class TestBigEnough(unittest.TestCase):

    def test_threshold(self):
        self.assertFalse(M.big_enough(GIB, GIB - 0.002 * GIB))
        self.assertTrue(M.big_enough(GIB, GIB - 0.003 * GIB))


if __name__ == '__main__':
    tap_main()
