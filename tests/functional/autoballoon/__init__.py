# SPDX-License-Identifier: GPL-2.0-or-later
#
# Helpers shared by the automatic-ballooning functional tests, the
# over-commit benchmark and the demo: host (memory cgroup, swap, pressure
# observer, counters) and guest (command line, console parser).
