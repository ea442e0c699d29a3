#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The virtio-balloon-auto-fuzz corpus is one text file in the tree
# (tests/qtest/fuzz/virtio-balloon-auto.corpus), not a directory of a
# thousand binary files: one input per line in base64 (RFC 4648), lines
# starting with '#' are comments, blank lines are ignored.  libFuzzer
# wants a directory; this converts between the two.
#
# Usage: fuzz-corpus.py unpack CORPUS DIR
#        fuzz-corpus.py pack DIR CORPUS
#
# unpack  writes each input of CORPUS to DIR/<SHA-1 of the input> (the
#         names libFuzzer gives), after deleting the files of such names
#         already there (nothing else in DIR is touched).
# pack    rewrites CORPUS with the inputs in DIR, sorted by name (their
#         SHA-1), keeping CORPUS's opening comment and every input that a
#         comment names ("pinned": a reproducer kept whatever a libFuzzer
#         merge drops), in front, with their comments.  An empty DIR is
#         refused: it would drop every input that is not pinned.
#
# Lines end with LF (a CR before it is ignored); the file is ASCII.  Exit
# status 1, with the file and line, on a byte that is not ASCII, a line
# that is not base64 or an empty input; CORPUS is then left as it was.

import base64
import binascii
import hashlib
import os
import re
import sys
import tempfile

# libFuzzer's name for an input: the SHA-1 of its bytes, in hex
INPUT_NAME = re.compile(r'^[0-9a-f]{40}$')
# What a line may start or end with: C's isspace(), as the replay test's
# g_strstrip() (str.strip() would also take the bytes 0x1c to 0x1f)
WHITESPACE = " \t\n\v\f\r"


class CorpusError(Exception):
    pass


def read_corpus(path):
    """(header, pinned, inputs): the opening comment lines, the
    [(comment lines, input)] of commented inputs, and the other inputs
    (bytes), in file order."""
    header, pinned, inputs, comment = [], [], [], []
    seen_input = False
    with open(path, "rb") as f:
        raw = f.read()
    for n, bline in enumerate(raw.split(b"\n"), 1):
        try:
            line = bline.decode("ascii").strip(WHITESPACE)
        except UnicodeDecodeError as e:
            raise CorpusError(f"{path}:{n}: not ASCII ({e.reason})") from e
        if line.startswith("#"):
            comment.append(line)
            continue
        if not line:
            if not seen_input and comment:
                header += comment + [""]
                comment = []
            continue
        try:
            data = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError) as e:
            raise CorpusError(f"{path}:{n}: not base64 ({e})") from e
        if not data:
            raise CorpusError(f"{path}:{n}: an empty input")
        seen_input = True
        if comment:
            pinned.append((comment, data))
            comment = []
        else:
            inputs.append(data)
    if comment:
        raise CorpusError(f"{path}: a comment names no input at the end")
    return header, pinned, inputs


def unpack(corpus, directory):
    header, pinned, inputs = read_corpus(corpus)
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if INPUT_NAME.match(name):
            os.unlink(os.path.join(directory, name))
    for data in [d for _, d in pinned] + inputs:
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
    print(f"fuzz-corpus: {len(pinned) + len(inputs)} inputs from {corpus}"
          f" in {directory}")


def pack(directory, corpus):
    header, pinned, _ = read_corpus(corpus)
    kept = {d for _, d in pinned}
    inputs = []
    names = sorted(os.listdir(directory))
    if not names:
        raise CorpusError(f"{directory} is empty: packing it would drop"
                          " every input that is not pinned")
    for name in names:
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        if data and data not in kept:
            kept.add(data)
            inputs.append(data)
    lines = list(header)
    for comment, data in pinned:
        lines += comment + [base64.b64encode(data).decode()]
    lines += [base64.b64encode(d).decode() for d in inputs]
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(corpus)))
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, corpus)
    print(f"fuzz-corpus: {corpus}: {len(pinned)} pinned and {len(inputs)}"
          f" other inputs, {os.path.getsize(corpus) // 1024} KiB")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("unpack", "pack"):
        sys.stderr.write("usage: fuzz-corpus.py unpack CORPUS DIR\n"
                         "       fuzz-corpus.py pack DIR CORPUS\n")
        return 2
    try:
        if sys.argv[1] == "unpack":
            unpack(sys.argv[2], sys.argv[3])
        else:
            pack(sys.argv[2], sys.argv[3])
    except (CorpusError, OSError) as e:
        sys.stderr.write(f"fuzz-corpus: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
