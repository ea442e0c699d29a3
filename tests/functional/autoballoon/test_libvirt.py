#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Automatic ballooning under a real libvirtd, with the pressure source
# handed over as file descriptors: libvirt runs the patched QEMU as its
# unprivileged user in a memory cgroup it made; the test, as the manager,
# registers vmpressure eventfds on that cgroup, passes them with
# "virsh qemu-monitor-command --pass-fds" and add-fd, hot-plugs the
# balloon with auto-source=/dev/fdset/1 (docs/system/devices/
# virtio-balloon-auto.rst, "libvirt"), then puts the cgroup under real
# memory pressure and checks that the guest's balloon inflates.  Starts
# virtlogd and libvirtd itself where no init system did, and stops what
# it started.  Skips, saying why, without root, libvirt, a cgroup v1
# memory controller or the test guest.  Prints TAP (pycotap).
#
# Under `make check-sanitizers` libvirt starts QEMU with an environment
# of its own: the test hands it the sanitizer options through
# <qemu:env>, and fails on a sanitizer report in the domain's log.

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import sys
import unittest
from xml.sax.saxutils import quoteattr

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

# pylint: disable=wrong-import-position
from autoballoon import tap_main       # noqa: E402

MEMCG_ROOT = '/sys/fs/cgroup/memory'
URI = 'qemu:///system'
RAM_MIB = 512
FDSET = 1
SANITIZER_VARS = ('ASAN_OPTIONS', 'LSAN_OPTIONS', 'UBSAN_OPTIONS')
SANITIZER_REPORT = re.compile(r'ERROR: (Address|Leak)Sanitizer'
                              r'|runtime error:|SUMMARY: \w+Sanitizer')

DOMAIN_XML = '''<domain type='qemu'
    xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{name}</name>
  <memory unit='MiB'>{ram}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{dir}/vmlinuz</kernel>
    <initrd>{dir}/initramfs.cpio.gz</initrd>
    <cmdline>console=ttyS0</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <emulator>{qemu}</emulator>
    <serial type='pty'/>
    <memballoon model='none'/>
  </devices>
{extra}</domain>
'''


def sanitizer_xml(tmp):
    """
    <qemu:commandline> with this run's sanitizer options, for a QEMU that
    libvirt starts with an environment of its own: without log_path (its
    user cannot write there; the reports go to the domain's log) and
    with the suppression files copied to @tmp, where it can read them.
    Empty outside a sanitizer run.
    """
    env = []
    for var in SANITIZER_VARS:
        opts = []
        for opt in filter(None, os.environ.get(var, '').split(':')):
            key, _, value = opt.partition('=')
            if key == 'log_path':
                continue
            if key == 'suppressions':
                copy = os.path.join(tmp, var.lower() + '.supp')
                shutil.copy(value, copy)
                os.chmod(copy, 0o644)
                value = copy
            opts.append(f'{key}={value}')
        if opts:
            env.append(f'    <qemu:env name={quoteattr(var)}'
                       f' value={quoteattr(":".join(opts))}/>\n')
    if not env:
        return ''
    return '  <qemu:commandline>\n' + ''.join(env) + '  </qemu:commandline>\n'


def virsh(*args, pass_fds=(), check=True, timeout=60):
    res = subprocess.run(['virsh', '-c', URI, *args], pass_fds=pass_fds,
                         check=False, capture_output=True, text=True,
                         timeout=timeout)
    if check and res.returncode:
        raise RuntimeError(f'virsh {" ".join(args)}: {res.stderr.strip()}')
    return res


def qmp(name, cmd, args=None, pass_fd=None):
    msg = {'execute': cmd}
    if args is not None:
        msg['arguments'] = args
    extra = ['--pass-fds', str(pass_fd)] if pass_fd is not None else []
    out = virsh('qemu-monitor-command', name, *extra, json.dumps(msg),
                pass_fds=(pass_fd,) if pass_fd is not None else ())
    return json.loads(out.stdout)['return']


class Libvirtd:
    """libvirtd and virtlogd, started here unless already running"""

    def __init__(self):
        self.started = []

    def usable(self):
        return virsh('list', check=False).returncode == 0

    def start(self):
        if self.usable():
            return True
        for daemon in ('virtlogd', 'libvirtd'):
            pidfile = f'/run/{daemon}.pid'
            subprocess.run([daemon, '-d'], check=False, timeout=30)
            deadline = time.monotonic() + 10
            while not os.path.exists(pidfile) and time.monotonic() < deadline:
                time.sleep(0.1)
            if os.path.exists(pidfile):
                with open(pidfile, encoding='ascii') as f:
                    self.started.append((daemon, int(f.read().strip())))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.usable():
                return True
            time.sleep(0.5)
        return False

    def stop(self):
        for _, pid in reversed(self.started):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def skip_reason():
    if os.geteuid() != 0:
        return 'needs root to run libvirtd and to create memory pressure'
    for tool in ('virsh', 'libvirtd', 'virtlogd'):
        if not shutil.which(tool):
            return f'no {tool}: install libvirt-daemon-system'
    if not os.path.exists(f'{MEMCG_ROOT}/cgroup.event_control'):
        return f'no cgroup v1 memory controller at {MEMCG_ROOT}'
    guest = os.environ.get('AUTOBALLOON_GUEST_DIR', '')
    if not os.path.exists(os.path.join(guest, 'vmlinuz')):
        return 'AUTOBALLOON_GUEST_DIR has no test guest (scripts/build-guest.sh)'
    qemu = os.environ.get('QTEST_QEMU_BINARY', '')
    if not os.access(qemu, os.X_OK):
        return 'QTEST_QEMU_BINARY is not the patched QEMU'
    return None


class LibvirtFdSource(unittest.TestCase):

    def setUp(self):
        reason = skip_reason()
        if reason:
            self.skipTest(reason)
        self.daemons = Libvirtd()
        self.addCleanup(self.daemons.stop)
        if not self.daemons.start():
            self.skipTest('libvirtd does not answer on ' + URI)
        # libvirt relabels kernel and initrd: give it copies
        self.tmp = tempfile.mkdtemp(prefix='autoballoon-libvirt-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        os.chmod(self.tmp, 0o755)
        guest = os.environ['AUTOBALLOON_GUEST_DIR']
        for f in ('vmlinuz', 'initramfs.cpio.gz'):
            shutil.copy(os.path.join(guest, f), self.tmp)
        self.name = f'autoballoon-fd-{os.getpid()}'
        xml = os.path.join(self.tmp, 'domain.xml')
        with open(xml, 'w', encoding='ascii') as f:
            f.write(DOMAIN_XML.format(name=self.name, ram=RAM_MIB,
                                      dir=self.tmp,
                                      qemu=os.path.abspath(
                                          os.environ['QTEST_QEMU_BINARY']),
                                      extra=sanitizer_xml(self.tmp)))
        # Cleanups run last first: this one after the destroy below, once
        # QEMU has exited (LeakSanitizer reports at exit).
        self.addCleanup(self.check_sanitizer_log)
        # libvirt probes a QEMU binary it has not seen before it starts
        # it: for the ASan build on 2 busy cores that took longer than
        # the 60 s one virsh command is given (4 s once cached)
        t0 = time.monotonic()
        virsh('domcapabilities', '--emulatorbin',
              os.path.abspath(os.environ['QTEST_QEMU_BINARY']), timeout=600)
        print(f'# libvirt knows the QEMU binary after'
              f' {time.monotonic() - t0:.0f} s')
        virsh('create', xml)
        self.addCleanup(virsh, 'destroy', self.name, check=False)

    def check_sanitizer_log(self):
        """No sanitizer report in the log libvirt keeps of QEMU"""
        log = f'/var/log/libvirt/qemu/{self.name}.log'
        try:
            with open(log, encoding='utf-8', errors='replace') as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return
        if any(SANITIZER_REPORT.search(line) for line in lines):
            for line in lines:
                print('# ' + line)
            self.fail(f'sanitizer report in {log}')

    def qemu_pid(self):
        with open(f'/run/libvirt/qemu/{self.name}.pid', encoding='ascii') as f:
            return int(f.read().strip())

    def memcg(self, pid):
        with open(f'/proc/{pid}/cgroup', encoding='ascii') as f:
            for line in f:
                _, ctrl, path = line.strip().split(':', 2)
                if 'memory' in ctrl.split(','):
                    return MEMCG_ROOT + path
        self.fail('QEMU is in no memory cgroup')
        return None

    def hand_over(self, memcg):
        """Register vmpressure eventfds on @memcg, add them to the fdset"""
        fds = {}
        lvl = os.open(f'{memcg}/memory.pressure_level', os.O_RDONLY)
        ctl = os.open(f'{memcg}/cgroup.event_control', os.O_WRONLY)
        for level in ('critical', 'medium', 'low'):     # critical first
            fds[level] = os.eventfd(0, os.EFD_NONBLOCK)
            os.write(ctl, f'{fds[level]} {lvl} {level}'.encode())
        os.close(ctl)
        fds['pressure_level'] = lvl
        for role, fd in fds.items():
            ret = qmp(self.name, 'add-fd', {'fdset-id': FDSET,
                                            'opaque': role}, pass_fd=fd)
            self.assertEqual(ret['fdset-id'], FDSET)
        return fds

    def wait_guest(self):
        """Until the guest's balloon driver sends statistics"""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            info = qmp(self.name, 'query-auto-balloon')
            if info['counters']['stats-samples'] > 0:
                return
            time.sleep(1)
        self.fail('the guest never sent balloon statistics')

    def pressure(self, memcg):
        """
        Limit @memcg to what it uses + 128 MiB, read a file larger than
        that three times: the page cache reclaim is vmpressure.  The guest
        must have booted first: without swap, a guest that still grows
        would get QEMU OOM-killed in its cgroup.
        """
        with open(f'{memcg}/memory.usage_in_bytes', encoding='ascii') as f:
            usage = int(f.read())
        with open(f'{memcg}/memory.limit_in_bytes', 'w',
                  encoding='ascii') as f:
            f.write(str(usage + 128 * 1024 * 1024))
        hog = os.path.join(self.tmp, 'hog')
        script = (f'echo $$ > {memcg}/cgroup.procs && '
                  f'dd if=/dev/zero of={hog} bs=1M count=256 2>/dev/null && '
                  f'for i in 1 2 3; do cat {hog} > /dev/null; done; '
                  f'rm -f {hog}')
        return subprocess.Popen(['sh', '-c', script])

    def test_fd_source_inflates(self):
        pid = self.qemu_pid()
        with open(f'/proc/{pid}/status', encoding='ascii') as f:
            uid = [line.split()[1] for line in f if line.startswith('Uid:')]
        print(f'# QEMU {pid} runs as uid {uid[0]}')
        memcg = self.memcg(pid)
        fds = self.hand_over(memcg)
        qmp(self.name, 'device_add', {'driver': 'virtio-balloon-pci',
                                      'id': 'balloon0', 'automatic': True,
                                      'auto-source': f'/dev/fdset/{FDSET}'})
        # QEMU holds duplicates: the manager can let go of its own
        qmp(self.name, 'remove-fd', {'fdset-id': FDSET})
        for fd in fds.values():
            os.close(fd)
        info = qmp(self.name, 'query-auto-balloon')
        self.assertEqual(info['source'], f'/dev/fdset/{FDSET}')
        self.assertEqual(info['backend'], 'vmpressure')
        self.assertEqual(info['actual'], RAM_MIB * 1024 * 1024)

        self.wait_guest()
        hog = self.pressure(memcg)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            info = qmp(self.name, 'query-auto-balloon')
            if info['actual'] < RAM_MIB * 1024 * 1024:
                break
            time.sleep(0.5)
        hog.wait(timeout=120)
        events = {k: v for k, v in info['counters'].items() if v}
        print(f'# actual {info["actual"] >> 20} MiB, target'
              f' {info["target"] >> 20} MiB, counters {events}')
        self.assertGreater(info['counters']['host-events-low'] +
                           info['counters']['host-events-medium'] +
                           info['counters']['host-events-critical'], 0)
        self.assertLess(info['actual'], RAM_MIB * 1024 * 1024)
        self.assertFalse(info['source-gone'])

        # libvirt's own view still answers (it does not know the balloon)
        stats = virsh('dommemstat', self.name).stdout
        print('# dommemstat: ' + ' '.join(stats.split()))
        self.assertIn('rss', stats)


if __name__ == '__main__':
    tap_main()
