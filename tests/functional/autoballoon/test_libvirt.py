#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Automatic ballooning under a real libvirtd, with libvirt's own balloon
# and the pressure source handed over as file descriptors: libvirt runs
# the patched QEMU as its unprivileged user in a memory cgroup it made,
# with <memballoon model='virtio'> switched to automatic=on and
# auto-source=none through <qemu:override>.  The test, as the manager,
# registers vmpressure eventfds on that cgroup, passes them with
# "virsh qemu-monitor-command --pass-fds" and add-fd, attaches them with
# set-auto-balloon (docs/system/devices/virtio-balloon-auto.rst,
# "libvirt"), then puts the cgroup under real memory pressure and checks
# that the balloon inflates, that query-auto-balloon answers, that
# "virsh dommemstat" gives the guest's statistics and that "virsh setmem"
# is refused while automatic mode is on.  Starts virtlogd and libvirtd
# itself where no init system did, and stops what it started.  Skips,
# saying why, without root, libvirt, a cgroup v1 memory controller or the
# test guest.  Prints TAP (pycotap).

import json
import os
import shlex
import shutil
import signal
import socket
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

# As in the docs, with the test guest's kernel and initramfs, and with
# libvirt's own switch for free page reporting set to off.  With reporting
# on (automatic mode's default), the idle test guest's free memory is
# already the host's: measured here, 96 MiB of its 512 MiB resident with
# 439 MiB available, so automatic mode rightly inflates nothing and
# counts each host event in not-resident (docs, "Free pages first").
# This test needs an inflate to check libvirt's view of the balloon; the
# rule with reporting on and off is covered by the qtest stats/free-first.
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
    <memballoon model='virtio' freePageReporting='off'>
      <stats period='5'/>
    </memballoon>
  </devices>
  <qemu:override>
    <qemu:device alias='balloon0'>
      <qemu:frontend>
        <qemu:property name='automatic' type='bool' value='true'/>
        <qemu:property name='auto-source' type='string' value='none'/>
      </qemu:frontend>
    </qemu:device>
  </qemu:override>{env}
</domain>
'''

# libvirt starts QEMU with an environment of its own: the sanitizer
# settings of `make check-sanitizers` (scripts/check-sanitizers.sh) reach
# it only through <qemu:env>.
SANITIZER_ENV = ('ASAN_OPTIONS', 'LSAN_OPTIONS', 'UBSAN_OPTIONS')


def qemu_env_xml(environ):
    """<qemu:commandline> with a <qemu:env> for each sanitizer setting
    in @environ, or '' when there is none."""
    env = [f"    <qemu:env name='{k}' value={quoteattr(environ[k])}/>"
           for k in SANITIZER_ENV if environ.get(k)]
    if not env:
        return ''
    return '\n  <qemu:commandline>\n' + '\n'.join(env) + \
        '\n  </qemu:commandline>'


# libvirt's capability probe starts the emulator with -daemonize.  A QEMU
# built with GCC 12's AddressSanitizer (make check-sanitizers) can hang for
# good in the daemon child of that fork(): the runtime does not take its
# allocator locks around fork(), so one that another thread held at that
# moment stays locked in the child, and the child's first threads wait on
# it (seen here: both new threads in SizeClassAllocator64::
# GetFromAllocator(), the launcher waiting for them; libvirt gives up after
# 60 s).  Under the sanitizers the test's <emulator> is therefore this
# wrapper: a probe runs the same QEMU in the background without
# -daemonize and the wrapper returns once QEMU has written its pid file
# and listens on its QMP socket, as -daemonize would (libvirt reads the
# one and connects to the other at once); the domain's QEMU is exec'd as
# is.
PROBE_WRAPPER = '''#!/bin/sh
daemonize= pidfile= qmp= prev=
for a do
    shift
    if [ "$a" = -daemonize ]; then daemonize=1; continue; fi
    case $prev in
    -pidfile) pidfile=$a ;;
    -qmp) qmp=${{a#unix:}}; qmp=${{qmp%%,*}} ;;
    esac
    prev=$a
    set -- "$@" "$a"
done
[ -n "$daemonize" ] || exec {qemu} "$@"
{qemu} "$@" </dev/null >/dev/null 2>&1 &
pid=$!
i=0
while [ $i -lt 600 ]; do
    if [ -n "$pidfile" ] && [ -s "$pidfile" ] &&
       {{ [ -z "$qmp" ] || [ -S "$qmp" ]; }}; then
        exit 0
    fi
    kill -0 $pid 2>/dev/null || exit 1
    sleep 0.1
    i=$((i + 1))
done
exit 1
'''


def emulator(tmpdir, qemu, environ):
    """The <emulator> for @qemu: itself, or under the sanitizers (ASAN_OPTIONS
    in @environ) PROBE_WRAPPER written to @tmpdir."""
    if not environ.get('ASAN_OPTIONS'):
        return qemu
    path = os.path.join(tmpdir, 'qemu-probe-wrapper')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(PROBE_WRAPPER.format(qemu=shlex.quote(qemu)))
    os.chmod(path, 0o755)
    return path


def virsh(*args, pass_fds=(), check=True):
    res = subprocess.run(['virsh', '-c', URI, *args], pass_fds=pass_fds,
                         check=False, capture_output=True, text=True,
                         timeout=60)
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


class LibvirtBalloon(unittest.TestCase):

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
        self.name = f'autoballoon-{os.getpid()}'
        xml = os.path.join(self.tmp, 'domain.xml')
        with open(xml, 'w', encoding='ascii') as f:
            f.write(DOMAIN_XML.format(name=self.name, ram=RAM_MIB,
                                      dir=self.tmp,
                                      env=qemu_env_xml(os.environ),
                                      qemu=emulator(
                                          self.tmp, os.path.abspath(
                                              os.environ['QTEST_QEMU_BINARY']),
                                          os.environ)))
        virsh('create', xml)
        self.addCleanup(virsh, 'destroy', self.name, check=False)
        with open(f'/proc/{self.qemu_pid()}/environ', 'rb') as f:
            env = f.read().decode('utf-8', 'replace').split('\0')
        for k in SANITIZER_ENV:
            if os.environ.get(k):
                self.assertIn(f'{k}={os.environ[k]}', env,
                              f'{k} does not reach the QEMU libvirt runs')

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

    def dommemstat(self):
        out = virsh('dommemstat', self.name).stdout
        return {k: int(v) for k, v in
                (line.split() for line in out.splitlines() if line.strip())}

    def test_libvirt_balloon_inflates(self):
        pid = self.qemu_pid()
        with open(f'/proc/{pid}/status', encoding='ascii') as f:
            uid = [line.split()[1] for line in f if line.startswith('Uid:')]
        print(f'# QEMU {pid} runs as uid {uid[0]}')
        self.assertNotEqual(uid[0], '0')
        # libvirt's balloon, created at start, waits for its source
        info = qmp(self.name, 'query-auto-balloon')
        self.assertEqual(info['source'], 'none')
        self.assertEqual(info['backend'], 'none')
        self.assertTrue(info['enabled'])
        memcg = self.memcg(pid)
        fds = self.hand_over(memcg)
        qmp(self.name, 'set-auto-balloon', {'source': f'/dev/fdset/{FDSET}'})
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
              f' {info["target"] >> 20} MiB, guest available'
              f' {info.get("guest-available", 0) >> 20} MiB, host resident'
              f' {info.get("host-resident", 0) >> 20} MiB, counters {events}')
        self.assertGreater(info['counters']['host-events-low'] +
                           info['counters']['host-events-medium'] +
                           info['counters']['host-events-critical'], 0)
        self.assertLess(info['actual'], RAM_MIB * 1024 * 1024)
        self.assertFalse(info['source-gone'])

        # libvirt's view: the balloon's size and the guest's statistics
        deadline = time.monotonic() + 30
        while True:
            stats = self.dommemstat()
            actual = qmp(self.name, 'query-balloon')['actual']
            if stats.get('actual') == actual // 1024 or \
                    time.monotonic() > deadline:
                break
            time.sleep(1)
        print('# dommemstat: ' + ' '.join(f'{k} {v}'
                                          for k, v in stats.items()))
        self.assertEqual(stats['actual'], actual // 1024)
        self.assertLess(stats['actual'], RAM_MIB * 1024)
        for key in ('unused', 'available', 'usable', 'last_update', 'rss'):
            self.assertIn(key, stats)
        self.assertGreater(stats['available'], 0)

        # A manual size would fight automatic mode: refused, and says so
        res = virsh('setmem', self.name, f'{RAM_MIB // 2}M', '--live',
                    check=False)
        print(f'# virsh setmem: {res.stderr.strip()}')
        self.assertNotEqual(res.returncode, 0)
        self.assertIn('automatic ballooning is active', res.stderr)


class ProbeWrapper(unittest.TestCase):
    """The sanitizer run's <emulator> wrapper, with a stand-in for QEMU
    that records its arguments and writes the pid file late."""

    FAKE_QEMU = '''#!/bin/sh
printf '%s\\n' "$@" > "$(dirname "$0")/args.$$"
prev=
for a do
    [ "$prev" = -pidfile ] && {{ sleep 0.3; echo $$ > "$a"; }}
    prev=$a
done
{tail}
'''
    # A QMP server socket made a while after the pid file ($5 is -qmp's
    # argument once the wrapper dropped -daemonize)
    LISTEN = '''q=${5#unix:}
/usr/bin/python3 -c "import socket, sys, time
time.sleep(0.3)
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen()
time.sleep(2)" "${q%%,*}"'''

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='autoballoon-wrapper-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def fake(self, tail=''):
        path = os.path.join(self.tmp, 'fake qemu')
        with open(path, 'w', encoding='utf-8') as f:
            f.write(self.FAKE_QEMU.format(tail=tail))
        os.chmod(path, 0o755)
        return path

    def recorded(self, pid):
        with open(os.path.join(self.tmp, f'args.{pid}'),
                  encoding='utf-8') as f:
            return f.read().splitlines()

    def test_plain_run_is_the_binary(self):
        self.assertEqual(emulator(self.tmp, '/q', {}), '/q')
        self.assertEqual(emulator(self.tmp, '/q', {'ASAN_OPTIONS': ''}), '/q')

    def test_domain_is_execd_unchanged(self):
        wrapper = emulator(self.tmp, self.fake(), {'ASAN_OPTIONS': 'x=1'})
        args = ['-name', 'guest=a b', '-S', '-pidfile',
                os.path.join(self.tmp, 'domain.pid')]
        proc = subprocess.run([wrapper, *args], check=True, timeout=30)
        self.assertEqual(proc.returncode, 0)
        pids = [f[5:] for f in os.listdir(self.tmp) if f.startswith('args.')]
        self.assertEqual(len(pids), 1)
        self.assertEqual(self.recorded(pids[0]), args)

    def test_probe_runs_without_daemonize_until_pid_file(self):
        wrapper = emulator(self.tmp, self.fake('sleep 1'),
                           {'ASAN_OPTIONS': 'x=1'})
        pidfile = os.path.join(self.tmp, 'qemu.pid')
        args = ['-S', '-daemonize', '-pidfile', pidfile, '-machine', 'none']
        start = time.monotonic()
        subprocess.run([wrapper, *args], check=True, timeout=30)
        self.assertGreaterEqual(time.monotonic() - start, 0.3)
        with open(pidfile, encoding='ascii') as f:
            pid = f.read().strip()
        self.assertEqual(self.recorded(pid),
                         ['-S', '-pidfile', pidfile, '-machine', 'none'])

    def test_probe_waits_for_the_qmp_socket(self):
        wrapper = emulator(self.tmp,
                           self.fake(self.LISTEN),
                           {'ASAN_OPTIONS': 'x=1'})
        pidfile = os.path.join(self.tmp, 'qemu.pid')
        sock = os.path.join(self.tmp, 'qmp.monitor')
        subprocess.run([wrapper, '-S', '-pidfile', pidfile, '-daemonize',
                        '-qmp', f'unix:{sock},server=on,wait=off'],
                       check=True, timeout=30)
        client = socket.socket(socket.AF_UNIX)
        self.addCleanup(client.close)
        client.connect(sock)

    def test_probe_that_dies_fails(self):
        wrapper = emulator(self.tmp, '/bin/false', {'ASAN_OPTIONS': 'x=1'})
        proc = subprocess.run([wrapper, '-daemonize', '-pidfile',
                               os.path.join(self.tmp, 'none.pid')],
                              check=False, timeout=30)
        self.assertEqual(proc.returncode, 1)


if __name__ == '__main__':
    tap_main()
