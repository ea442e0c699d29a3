# SPDX-License-Identifier: GPL-2.0-or-later
#
# Helpers shared by the automatic-ballooning functional tests, the
# over-commit benchmark and the demo: host (memory cgroup, swap, pressure
# observer, counters) and guest (command line, console parser).

import unittest


def tap_main():
    """unittest.main() printing TAP (Debian's pycotap) where it is
    installed, unittest's own output elsewhere."""
    try:
        # pylint: disable=import-outside-toplevel
        import pycotap
        runner = pycotap.TAPTestRunner(
            message_log=pycotap.LogMode.LogToYAML,
            test_output_log=pycotap.LogMode.LogToDiagnostics)
    except ImportError:
        runner = None
    unittest.main(testRunner=runner)
