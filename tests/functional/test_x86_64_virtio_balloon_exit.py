#!/usr/bin/env python3
#
# SPDX-License-Identifier: GPL-2.0-or-later
#
# QEMU exits cleanly when the guest kicked the balloon's inflate queue
# just before the shutdown.
#
# When the VM stops, virtio flushes each queue whose ioeventfd fired but
# was not yet handled, so the balloon handles that inflate request inside
# qemu_cleanup().  Each page it handles asks virtio_balloon_inhibited(),
# which asks migration_in_bg_snapshot(); by then migration_shutdown() has
# released the migration object (patches/0020).  With a sanitizer build
# that read is a heap-use-after-free and QEMU exits with status 1.
#
# The guest driver is this test, over the qtest protocol: it sets up the
# legacy virtio-balloon-pci device, puts one page on the inflate queue
# and sends the kick and the guest's reset request (port 0xcf9, with
# -no-reboot a shutdown) in one write.  QEMU handles both lines in one
# read, so the ioeventfd cannot be served before the shutdown: the trace
# shows the inflate handled after the VM stopped.

import os
import re

from qemu.machine.qtest import QEMUQtestMachine
from qemu_test import QemuBaseTest

PCI_SLOT = 4
IO_BASE = 0xc000
# Legacy virtio-pci registers (virtio spec 1.x, 4.1.4.8)
VIRTIO_PCI_GUEST_FEATURES = 4
VIRTIO_PCI_QUEUE_PFN = 8
VIRTIO_PCI_QUEUE_NUM = 12
VIRTIO_PCI_QUEUE_SEL = 14
VIRTIO_PCI_QUEUE_NOTIFY = 16
VIRTIO_PCI_STATUS = 18
STATUS_DRIVER_OK = 0x7          # ACKNOWLEDGE | DRIVER | DRIVER_OK
VRING_ADDR = 0x100000           # legacy: page aligned, used ring at 4 KiB
PFN_LIST_ADDR = 0x200000
BALLOONED_PFN = 0x300           # a page of RAM
RESET_CONTROL_PORT = 0xcf9      # PIIX3 reset control register


class VirtioBalloonExit(QemuBaseTest):

    def setUp(self):
        super().setUp()
        self.machine = None

    def tearDown(self):
        if self.machine is not None:
            self.machine.shutdown(hard=True)
        super().tearDown()

    def config_write(self, qtest, reg, value):
        address = 0x80000000 | (PCI_SLOT << 11) | reg
        qtest.qtest(f'outl 0xcf8 {address:#x}')
        qtest.qtest(f'outl 0xcfc {value:#x}')

    def io(self, qtest, width, reg, value):
        qtest.qtest(f'out{width} {IO_BASE + reg:#x} {value:#x}')

    def mem(self, qtest, width, addr, value):
        qtest.qtest(f'write{width} {addr:#x} {value:#x}')

    def kick_inflate_then_exit(self, device_args):
        trace = os.path.join(self.workdir, 'trace.log')
        self.machine = QEMUQtestMachine(
            self.qemu_bin, base_temp_dir=self.workdir,
            args=['-machine', 'pc', '-m', '128M', '-nodefaults',
                  '-no-reboot',
                  '-device', f'virtio-balloon-pci,disable-modern=on,'
                  f'addr={PCI_SLOT:#x},{device_args}',
                  '-trace', 'vm_state_notify',
                  '-trace', 'virtio_balloon_handle_output',
                  '-D', trace])
        self.machine.launch()
        qt = self.machine

        # PCI: I/O BAR at IO_BASE, I/O and bus master on
        self.config_write(qt, 0x10, IO_BASE)
        self.config_write(qt, 0x04, 0x5)
        # virtio: reset, features, queue 0 (inflate), DRIVER_OK
        self.io(qt, 'b', VIRTIO_PCI_STATUS, 0)
        self.io(qt, 'l', VIRTIO_PCI_GUEST_FEATURES, 0)
        self.io(qt, 'w', VIRTIO_PCI_QUEUE_SEL, 0)
        resp = qt.qtest(f'inw {IO_BASE + VIRTIO_PCI_QUEUE_NUM:#x}')
        num = int(resp.split()[1], 16)
        self.assertGreater(num, 0, 'inflate queue has no size')
        self.io(qt, 'l', VIRTIO_PCI_QUEUE_PFN, VRING_ADDR >> 12)
        self.io(qt, 'b', VIRTIO_PCI_STATUS, STATUS_DRIVER_OK)

        # One buffer with one PFN: descriptor 0, avail ring [0], idx 1
        self.mem(qt, 'l', PFN_LIST_ADDR, BALLOONED_PFN)
        self.mem(qt, 'q', VRING_ADDR, PFN_LIST_ADDR)
        self.mem(qt, 'l', VRING_ADDR + 8, 4)
        avail = VRING_ADDR + 16 * num
        self.mem(qt, 'w', avail + 4, 0)
        self.mem(qt, 'w', avail + 2, 1)

        # The kick and the shutdown request in one read of QEMU's
        qt.qtest(f'outw {IO_BASE + VIRTIO_PCI_QUEUE_NOTIFY:#x} 0\n'
                 f'outb {RESET_CONTROL_PORT:#x} 0x6')
        self.machine.wait(timeout=60)
        exitcode = self.machine.exitcode()
        log = self.machine.get_log() or ''
        self.machine = None

        # A sanitizer report is the end of the log
        self.assertEqual(exitcode, 0,
                         f'QEMU exited with {exitcode}:\n{log[-4000:]}')
        self.assertNotIn('ERROR: AddressSanitizer', log)
        self.assertNotIn('runtime error', log)

        # The inflate was handled in qemu_cleanup(), after the VM stopped
        with open(trace, encoding='utf-8') as f:
            events = f.read()
        stop = re.search(r'vm_state_notify running 0 .*\(shutdown\)',
                         events)
        handled = re.search(r'virtio_balloon_handle_output .*gpa: 0x300000',
                            events)
        self.assertIsNotNone(stop, f'the VM never stopped:\n{events}')
        self.assertIsNotNone(handled,
                             f'the inflate was not handled:\n{events}')
        self.assertGreater(handled.start(), stop.start(),
                           f'the inflate was handled before the stop, '
                           f'not at exit:\n{events}')

    def test_plain_balloon(self):
        self.kick_inflate_then_exit('id=balloon0')

    def test_automatic_balloon(self):
        self.kick_inflate_then_exit('automatic=on,auto-source=qtest,'
                                    'id=balloon0')


if __name__ == '__main__':
    QemuBaseTest.main()
