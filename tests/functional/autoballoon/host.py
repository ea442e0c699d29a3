# SPDX-License-Identifier: GPL-2.0-or-later
#
# Host side of automatic-ballooning experiments: a memory cgroup with a
# limit (cgroup v1 memcg, or cgroup v2 with memory.max), a temporary swap
# file, an observer of the cgroup's own pressure notifications, and the
# host counters the over-commit benchmark reports.
#
# Used by the real-guest functional tests, the over-commit benchmark and
# the demo, so that all three set up the host the same way.  Everything
# here needs root; callers check can_run() first and skip with its reason.

import os
import re
import select
import shutil
import subprocess
import threading
import time

V1_ROOT = '/sys/fs/cgroup/memory'
MIB = 1 << 20


def _read(path):
    with open(path, encoding='ascii') as f:
        return f.read()


def _write(path, text):
    with open(path, 'w', encoding='ascii') as f:
        f.write(text)


def _stat_file(path):
    """A 'key value' file (memory.stat, /proc/vmstat) as a dict of ints."""
    out = {}
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip('-').isdigit():
            out[parts[0]] = int(parts[1])
    return out


def vmstat():
    """Host-wide /proc/vmstat counters (pswpin, pswpout in pages...)."""
    return _stat_file('/proc/vmstat')


def swap_areas():
    """Active swap areas: {path: used KiB}, from /proc/swaps."""
    out = {}
    for line in _read('/proc/swaps').splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 4:
            out[parts[0]] = int(parts[3])
    return out


def _stat_fields(path):
    """The fields of a /proc stat file from the third (state) on: the
    command name may hold spaces, so split after its closing ')'."""
    stat = _read(path)
    return stat[stat.rindex(')') + 2:].split()


def proc_major_faults(pid):
    """Major faults of process @pid so far (field 12 of /proc/PID/stat)."""
    return int(_stat_fields(f'/proc/{pid}/stat')[9])


def proc_cpu_split(pid, task_dir=None):
    """CPU time of process @pid so far, in seconds: {'vcpu', 'other'}.
    'vcpu' sums the threads QEMU names 'CPU n/ACCEL' (running guest
    code); 'other' is the rest: the main loop, where device emulation,
    QMP and automatic ballooning run, and QEMU's helper threads.  QEMU
    names its threads only with -name ...,debug-threads=on: without a
    vCPU thread by that name both are None.  @task_dir stands in for
    /proc/PID/task in tests."""
    tick = os.sysconf('SC_CLK_TCK')
    task_dir = task_dir or f'/proc/{pid}/task'
    out = {'vcpu': 0.0, 'other': 0.0}
    seen_vcpu = False
    for tid in os.listdir(task_dir):
        try:
            comm = _read(os.path.join(task_dir, tid, 'comm')).strip()
            fields = _stat_fields(os.path.join(task_dir, tid, 'stat'))
        except FileNotFoundError:
            continue        # the thread exited meanwhile
        # utime and stime: fields 14 and 15 of stat
        cpu = (int(fields[11]) + int(fields[12])) / tick
        key = 'vcpu' if comm.startswith('CPU ') and '/' in comm else 'other'
        out[key] += cpu
        seen_vcpu = seen_vcpu or key == 'vcpu'
    return out if seen_vcpu else {'vcpu': None, 'other': None}


# QEMU maps guest RAM with at most a huge page or two of alignment
RAM_MAPPING_SLACK = 8 * MIB


def proc_memory_split(pid, ram_bytes, smaps=None):
    """Where process @pid's memory is, from /proc/PID/smaps (or the file
    @smaps): {'ram_rss', 'ram_swap', 'other_rss', 'other_swap'} in bytes.
    'ram' is a mapping of @ram_bytes up to RAM_MAPPING_SLACK more, which
    in a QEMU whose guest RAM is one anonymous block is that block (its
    mapping is the RAM size plus alignment); 'other' is the rest (QEMU's
    heap, TCG's code buffer of 1 GiB, libraries).  Tells whether host
    swap-out took guest memory or the VMM's own."""
    out = dict.fromkeys(('ram_rss', 'ram_swap', 'other_rss', 'other_swap'),
                        0)
    part = 'other'
    for line in _read(smaps or f'/proc/{pid}/smaps').splitlines():
        head = line.split(None, 1)[0] if line.strip() else ''
        if '-' in head and not head.endswith(':'):
            start, end = (int(x, 16) for x in head.split('-'))
            part = ('ram' if ram_bytes <= end - start <=
                    ram_bytes + RAM_MAPPING_SLACK else 'other')
        elif head in ('Rss:', 'Swap:'):
            key = f'{part}_{head[:-1].lower()}'
            out[key] += int(line.split()[1]) * 1024
    return out


def _cgroup2_mounts(mounts_file):
    out = []
    for line in _read(mounts_file).splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == 'cgroup2':
            out.append(parts[1])
    return out


def choose_hierarchy(v1_root=V1_ROOT, mounts_file='/proc/self/mounts'):
    """Which memory cgroup hierarchy this host offers.

    Returns ('v1', root) where a cgroup v1 memory controller with
    vmpressure is mounted (cgroup.event_control present), else ('v2',
    mount) for a cgroup v2 mount whose root offers the memory controller,
    else (None, reason).  v1 comes first because its vmpressure is the
    pressure source the RFC was built on; a pure v2 host (the default of
    Debian 12 and 13, Fedora, RHEL, Ubuntu) gets v2 with memory.max and
    PSI (memory.pressure).
    """
    if os.path.isfile(os.path.join(v1_root, 'cgroup.event_control')):
        return 'v1', v1_root
    for mnt in _cgroup2_mounts(mounts_file):
        try:
            controllers = _read(os.path.join(mnt, 'cgroup.controllers'))
        except OSError:
            continue
        if 'memory' in controllers.split():
            return 'v2', mnt
    return None, ('no cgroup v1 memory controller at %s and no cgroup v2 '
                  'mount with the memory controller' % v1_root)


def can_run():
    """(True, '') if experiments can run here, else (False, reason)."""
    if os.geteuid() != 0:
        return False, 'needs root (memory cgroup and swap file)'
    kind, where = choose_hierarchy()
    if kind is None:
        return False, where
    for tool in ('mkswap', 'swapon', 'swapoff'):
        if shutil.which(tool) is None:
            return False, f'{tool} is missing'
    return True, ''


def _pid_gone(pid):
    """True if no process has this PID (kill(pid, 0) fails with ESRCH).
    A PID beyond what the kernel gives (2^22) is not one: False."""
    if not 0 < pid <= 1 << 22:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _ours(path):
    """True if @path (not followed) belongs to this user."""
    try:
        return os.lstat(path).st_uid == os.geteuid()
    except OSError:
        return False


def _swapoff(path):
    """swapoff @path; False if it failed or there is no swapoff."""
    try:
        res = subprocess.run(['swapoff', path], capture_output=True,
                             check=False)
    except OSError:
        return False
    return res.returncode == 0


STALE_CGROUP = re.compile(r'^qemu-autoballoon-[\w-]+-(\d+)$')
STALE_SWAP = re.compile(r'^qemu-autoballoon-(\d+)\.swap$')


def _own_stale(pattern, name):
    """True if @name is one of @pattern's with this process's PID."""
    m = pattern.match(name)
    return bool(m) and int(m.group(1)) == os.getpid()


def sweep_stale(cgroup_root=None, swap_dir=None, swaps_file='/proc/swaps'):
    """Remove what a run killed before its own cleanup left: the empty
    cgroups "qemu-autoballoon-*-PID" under cgroup_root and the swap files
    "qemu-autoballoon-PID.swap" in swap_dir (swapped off first) whose PID
    runs no more and that this user owns.  A cgroup that still holds a
    task (a QEMU that outlived its run) stays, as does everything of a
    live PID.  PIDs are this PID namespace's: a run in another container
    sharing these directories would look dead.  Returns the paths
    removed."""
    removed = []
    if cgroup_root and os.path.isdir(cgroup_root):
        for name in sorted(os.listdir(cgroup_root)):
            m = STALE_CGROUP.match(name)
            path = os.path.join(cgroup_root, name)
            if not m or not _pid_gone(int(m.group(1))) or \
                    not _ours(path) or not os.path.isdir(path):
                continue
            try:
                os.rmdir(path)
                removed.append(path)
            except OSError:
                pass
    if swap_dir and os.path.isdir(swap_dir):
        active = set()
        if os.path.exists(swaps_file):
            active = {line.split()[0] for line in
                      _read(swaps_file).splitlines()[1:] if line.split()}
        for name in sorted(os.listdir(swap_dir)):
            m = STALE_SWAP.match(name)
            path = os.path.join(swap_dir, name)
            if not m or not _pid_gone(int(m.group(1))) or not _ours(path):
                continue
            if path in active and not _swapoff(path):
                continue
            try:
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass
    return removed


class MemCgroup:
    """A memory cgroup with a limit, removed again by remove().

    kind 'v1': <v1 root>/<name> with memory.limit_in_bytes and vmpressure.
    kind 'v2': <v2 mount>/<name> with memory.max (and memory.high left at
    max), PSI in memory.pressure; the memory controller is enabled in the
    root's cgroup.subtree_control first.  The same directory is what
    automatic mode takes as auto-source.
    """

    def __init__(self, name, limit_bytes, kind=None, root=None):
        if kind is None:
            kind, root = choose_hierarchy()
            if kind is None:
                raise RuntimeError(root)
        self.kind = kind
        self.root = root
        self.path = os.path.join(root, name)
        if kind == 'v2':
            ctl = os.path.join(root, 'cgroup.subtree_control')
            if 'memory' not in _read(ctl).split():
                _write(ctl, '+memory')
        sweep_stale(cgroup_root=root)
        # a name of this PID's before it is made can only be a killed
        # run's whose PID was this one
        if _own_stale(STALE_CGROUP, name) and os.path.isdir(self.path):
            try:
                os.rmdir(self.path)
            except OSError:
                pass
        os.mkdir(self.path)
        try:
            self.set_limit(limit_bytes)
        except OSError:
            os.rmdir(self.path)
            raise

    def set_limit(self, limit_bytes):
        """Set the limit (memory.limit_in_bytes, or memory.max in v2)."""
        name = 'memory.limit_in_bytes' if self.kind == 'v1' else 'memory.max'
        _write(self._f(name), str(limit_bytes))
        self.limit_bytes = limit_bytes

    def _f(self, name):
        return os.path.join(self.path, name)

    @property
    def source(self):
        """What auto-source= takes for this cgroup."""
        return self.path

    def wrapper(self):
        """argv prefix that starts a program inside this cgroup.

        The shell joins the cgroup and then execs the program, so every
        page the program ever touches is charged here.
        """
        return ['/bin/sh', '-c',
                'echo $$ > "$0/cgroup.procs" && exec "$@"', self.path]

    def add_pid(self, pid):
        _write(self._f('cgroup.procs'), str(pid))

    def usage(self):
        """Bytes charged (RAM, page cache included)."""
        if self.kind == 'v1':
            return int(_read(self._f('memory.usage_in_bytes')))
        return int(_read(self._f('memory.current')))

    def swap_usage(self):
        """Bytes of this cgroup in swap, None where the kernel hides it."""
        try:
            if self.kind == 'v1':
                return _stat_file(self._f('memory.stat')).get('swap')
            return int(_read(self._f('memory.swap.current')))
        except OSError:
            return None

    def stat(self):
        return _stat_file(self._f('memory.stat'))

    def oom_kills(self):
        """OOM kills inside this cgroup so far."""
        if self.kind == 'v1':
            return _stat_file(self._f('memory.oom_control')).get('oom_kill',
                                                                 0)
        return _stat_file(self._f('memory.events')).get('oom_kill', 0)

    def major_faults(self):
        st = self.stat()
        return st.get('pgmajfault', 0)

    def pids(self):
        try:
            return [int(p) for p in _read(self._f('cgroup.procs')).split()]
        except OSError:
            return []

    def remove(self):
        """Move what is left to the root and remove the directory."""
        if not os.path.isdir(self.path):
            return
        for pid in self.pids():
            try:
                _write(os.path.join(self.root, 'cgroup.procs'), str(pid))
            except OSError:
                pass
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f'could not remove {self.path}')


class SwapFile:
    """A temporary swap file, swapped on at creation, off by remove()."""

    def __init__(self, size_bytes, directory='/var/tmp', name=None):
        name = name or f'qemu-autoballoon-{os.getpid()}.swap'
        self.path = os.path.join(directory, name)
        self.on = False
        sweep_stale(swap_dir=directory)
        # likewise
        if _own_stale(STALE_SWAP, name) and os.path.exists(self.path) and \
                (self.path not in swap_areas() or _swapoff(self.path)):
            os.unlink(self.path)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o600)
            try:
                try:
                    os.posix_fallocate(fd, 0, size_bytes)
                except OSError:
                    self._write_out(fd, size_bytes)
            finally:
                os.close(fd)
            self._run('mkswap', '-q', self.path)
            try:
                self._run('swapon', self.path)
            except RuntimeError:
                # some file systems refuse fallocated swap files
                with open(self.path, 'r+b') as f:
                    self._write_out(f.fileno(), size_bytes)
                self._run('mkswap', '-q', self.path)
                self._run('swapon', self.path)
            self.on = True
        except BaseException:
            if os.path.exists(self.path):
                os.unlink(self.path)
            raise

    @staticmethod
    def _write_out(fd, size):
        os.lseek(fd, 0, os.SEEK_SET)
        block = bytes(MIB)
        for _ in range(size // MIB):
            os.write(fd, block)

    @staticmethod
    def _run(*argv):
        res = subprocess.run(argv, capture_output=True, text=True,
                             check=False)
        if res.returncode != 0:
            raise RuntimeError(f'{" ".join(argv)}: {res.stderr.strip()}')

    def remove(self):
        if self.on:
            self._run('swapoff', self.path)
            self.on = False
        if os.path.exists(self.path):
            os.unlink(self.path)


class PressureObserver:
    """Counts the cgroup's own memory pressure notifications.

    An independent observer, outside the cgroup, so that every row of a
    benchmark (with or without automatic mode) has the same clock of host
    pressure.  v1: one vmpressure eventfd per level (the kernel signals
    every level up to the current one, so 'low' counts all events).  v2:
    one PSI trigger per level on memory.pressure, with the same
    thresholds as automatic mode's defaults (some 100 ms / some 200 ms /
    full 100 ms per 2 s window).
    """

    LEVELS = ('low', 'medium', 'critical')
    PSI_TRIGGERS = ('some 100000 2000000', 'some 200000 2000000',
                    'full 100000 2000000')

    def __init__(self, cgroup):
        self.counts = dict.fromkeys(self.LEVELS, 0)
        self.first = None           # time.monotonic() of the first event
        self.times = []             # (time, level) of each wake-up
        self._fds = {}
        self._keep = []
        self._psi = cgroup.kind == 'v2'
        self._lock = threading.Lock()
        rd, self._stop_w = os.pipe()
        self._stop_r = rd
        poller = select.poll()
        poller.register(rd, select.POLLIN)
        if cgroup.kind == 'v1':
            plfd = os.open(os.path.join(cgroup.path, 'memory.pressure_level'),
                           os.O_RDONLY)
            self._keep.append(plfd)
            for lvl in self.LEVELS:
                efd = os.eventfd(0, os.EFD_NONBLOCK)
                _write(os.path.join(cgroup.path, 'cgroup.event_control'),
                       f'{efd} {plfd} {lvl}')
                self._fds[efd] = lvl
                poller.register(efd, select.POLLIN)
        else:
            for lvl, trig in zip(self.LEVELS, self.PSI_TRIGGERS):
                fd = os.open(os.path.join(cgroup.path, 'memory.pressure'),
                             os.O_RDWR | os.O_NONBLOCK)
                os.write(fd, trig.encode() + b'\0')
                self._fds[fd] = lvl
                poller.register(fd, select.POLLPRI)
        self._poller = poller
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            for fd, ev in self._poller.poll():
                if fd == self._stop_r:
                    return
                lvl = self._fds[fd]
                if ev & select.POLLERR:
                    # the cgroup went away
                    self._poller.unregister(fd)
                    continue
                if self._psi:
                    n = 1
                else:
                    n = int.from_bytes(os.read(fd, 8), 'little')
                now = time.monotonic()
                with self._lock:
                    self.counts[lvl] += n
                    self.times.append((now, lvl))
                    if self.first is None:
                        self.first = now

    def snapshot(self):
        with self._lock:
            return dict(self.counts), self.first

    def close(self):
        os.write(self._stop_w, b'x')
        self._thread.join(5)
        for fd in list(self._fds) + self._keep + [self._stop_r,
                                                  self._stop_w]:
            os.close(fd)
        self._fds = {}
        self._keep = []


class Hog:
    """A host memory hog in the cgroup: the guest workload program run on
    the host with a schedule of phases (MiB:seconds,...)."""

    def __init__(self, memload, cgroup, phases, log_path, delay_s=0):
        self.log_path = log_path
        self._log = open(log_path, 'w', encoding='ascii')
        argv = cgroup.wrapper() + [memload, '-t', 'hog',
                                   '-d', str(delay_s), phases]
        # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(argv, stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def output(self):
        return _read(self.log_path)
