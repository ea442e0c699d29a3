#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tiny QMP client (Python 3 standard library only).

The demo and benchmarks need a few QMP commands and nothing else, so this
avoids depending on QEMU's python/qemu.qmp package being importable.

As a module:
    from qmp import QMP
    with QMP("/path/to/qmp.sock") as q:
        print(q.cmd("query-balloon"))
        q.cmd("balloon", value=512 << 20)
        print(q.events)          # async events seen so far

From the command line (prints the "return" value as JSON, exit status 1
with the error on stderr when QEMU answers with an error):
    qmp.py [-w SECONDS] SOCK CMD ['{"arg": value}']
"""

import json
import socket
import sys
import time


class QMPError(Exception):
    """QEMU answered a command with an error."""

    def __init__(self, name, error):
        self.cls = error.get("class", "GenericError")
        self.desc = error.get("desc", str(error))
        super().__init__(f"{name}: {self.cls}: {self.desc}")


class QMP:
    def __init__(self, path, wait=0.0, timeout=30.0):
        """Connect to the QMP UNIX socket PATH and leave negotiation.

        wait: keep retrying to connect for this many seconds (QEMU may
        not have created the socket yet).  timeout: per-reply limit.
        """
        self.events = []
        self._buf = b""
        self._id = 0
        deadline = time.monotonic() + wait
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)
        self.sock.settimeout(timeout)
        greeting = self._recv()
        if "QMP" not in greeting:
            raise ConnectionError(f"not a QMP greeting: {greeting}")
        self.greeting = greeting["QMP"]
        self.cmd("qmp_capabilities")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def _recv(self):
        """Return the next JSON message from QEMU.

        QMP writes one message per line (strings escape their newlines),
        so splitting on newlines is enough.
        """
        while True:
            while b"\n" not in self._buf:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("QMP connection closed by QEMU")
                self._buf += data
            line, self._buf = self._buf.split(b"\n", 1)
            if line.strip():
                return json.loads(line)

    def cmd(self, name, **args):
        """Run command NAME with ARGS; return its "return" value.

        Events arriving before the reply are appended to self.events.
        Raises QMPError when QEMU answers with an error.
        """
        self._id += 1
        req = {"execute": name, "id": self._id}
        if args:
            req["arguments"] = args
        self.sock.sendall(json.dumps(req).encode("utf-8") + b"\n")
        while True:
            msg = self._recv()
            if "event" in msg:
                self.events.append(msg)
                continue
            if msg.get("id") != self._id:
                continue        # a reply to something else: not ours
            if "error" in msg:
                raise QMPError(name, msg["error"])
            return msg.get("return")

    def poll_events(self, timeout=0.0):
        """Collect events that arrive within TIMEOUT seconds; return all."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout if timeout > 0 else 1e-6)
        try:
            while True:
                msg = self._recv()
                if "event" in msg:
                    self.events.append(msg)
        except (socket.timeout, BlockingIOError):
            pass
        finally:
            self.sock.settimeout(old)
        return self.events


def main(argv):
    wait = 0.0
    if len(argv) > 2 and argv[1] == "-w":
        wait = float(argv[2])
        argv = argv[:1] + argv[3:]
    if len(argv) not in (3, 4):
        print(f"usage: {argv[0]} [-w SECONDS] SOCK CMD ['{{JSON-ARGS}}']",
              file=sys.stderr)
        return 2
    args = json.loads(argv[3]) if len(argv) == 4 else {}
    if not isinstance(args, dict):
        print("JSON-ARGS must be an object", file=sys.stderr)
        return 2
    try:
        with QMP(argv[1], wait=wait) as q:
            ret = q.cmd(argv[2], **args)
    except QMPError as e:
        print(e, file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{argv[1]}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(ret))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
