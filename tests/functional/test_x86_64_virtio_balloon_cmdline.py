#!/usr/bin/env python3
#
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Automatic ballooning's sizes on the command line, against the guest RAM
# of the moment the balloon is created: memory devices listed after the
# balloon do not count yet.  A size that only they could make fit is
# refused, and the error says so and what to do; listed first, the same
# DIMM counts.  A size no memory device could make fit gets no such hint.
#
# QEMU runs with the qtest accelerator: no guest is needed, and each case
# either fails to start or starts and is queried.

from qemu.machine.machine import VMLaunchFailure
from qemu.machine.qtest import QEMUQtestMachine
from qemu_test import QemuBaseTest

MIB = 1 << 20
RAM = ['-m', '256M,slots=2,maxmem=1G']
DIMM = ['-object', 'memory-backend-ram,id=r0,size=256M',
        '-device', 'pc-dimm,id=d0,memdev=r0']
BALLOON = 'virtio-balloon-pci,id=bal,automatic=on,auto-source=qtest'
REFUSED = ("'auto-floor' is 402653184 bytes; it must be at most the guest"
           " RAM size (268435456 bytes)")
HINT = ('Memory devices listed after the balloon on the command line are'
        ' not counted; list DIMMs before it to count them.')


class VirtioBalloonCmdline(QemuBaseTest):

    def setUp(self):
        super().setUp()
        self.machine = None

    def tearDown(self):
        if self.machine is not None:
            self.machine.shutdown(hard=True)
        super().tearDown()

    def machine_with(self, *args):
        self.machine = QEMUQtestMachine(
            self.qemu_bin, base_temp_dir=self.workdir,
            args=['-machine', 'pc', '-nodefaults', *RAM, *args])
        return self.machine

    def refused(self, *args):
        """What QEMU printed when it refused to start with @args."""
        with self.assertRaises(VMLaunchFailure) as cm:
            self.machine_with(*args).launch()
        self.machine = None
        self.assertEqual(cm.exception.exitcode, 1)
        return cm.exception.output

    def test_dimm_after_balloon_hinted(self):
        out = self.refused('-device', BALLOON + ',auto-floor=384M', *DIMM)
        self.assertIn(REFUSED, out)
        self.assertIn(HINT, out)

    def test_dimm_before_balloon_counts(self):
        vm = self.machine_with(*DIMM, '-device', BALLOON + ',auto-floor=384M')
        vm.launch()
        info = vm.cmd('query-auto-balloon')
        self.assertEqual(info['tunables']['floor'], 384 * MIB)
        self.assertEqual(info['target'], 512 * MIB)

    def test_beyond_maxmem_not_hinted(self):
        out = self.refused('-device', BALLOON + ',auto-floor=2G')
        self.assertIn("'auto-floor' is 2147483648 bytes; it must be at most"
                      " the guest RAM size (268435456 bytes)", out)
        self.assertNotIn(HINT, out)

    def test_other_errors_not_hinted(self):
        out = self.refused('-device', BALLOON + ',auto-floor=5000', *DIMM)
        self.assertIn("'auto-floor' is 5000 bytes; it must be a multiple of"
                      " the balloon page size", out)
        self.assertNotIn(HINT, out)


if __name__ == '__main__':
    QemuBaseTest.main()
