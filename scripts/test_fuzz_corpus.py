#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tests of scripts/fuzz-corpus.py, which converts the fuzzer's corpus
# between the committed text file and libFuzzer's directory: round trip,
# pinned inputs, what it refuses (and then leaves alone).  Prints TAP
# (pycotap).

import base64
import hashlib
import importlib.util
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'functional'))

# pylint: disable=wrong-import-position
from autoballoon import tap_main     # noqa: E402

_spec = importlib.util.spec_from_file_location(
    'fuzz_corpus', os.path.join(HERE, 'fuzz-corpus.py'))
C = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(C)

HEADER = '# the header\n# two lines\n\n'
PIN = b'\x00pinned\xff'
PINNED = f'# a reproducer\n{base64.b64encode(PIN).decode()}\n'


def sha1(data):
    return hashlib.sha1(data).hexdigest()


class TestFuzzCorpus(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = os.path.join(self.tmp.name, 'dir')
        self.corpus = os.path.join(self.tmp.name, 'corpus')

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, text, mode='w'):
        with open(self.corpus, mode) as f:
            f.write(text)

    def read(self):
        with open(self.corpus, 'rb') as f:
            return f.read()

    def test_round_trip_keeps_pinned_first(self):
        others = [b'b', b'a' * 300, b'\n\r\x00']
        self.write(HEADER + PINNED + ''.join(
            base64.b64encode(d).decode() + '\n' for d in others))
        C.unpack(self.corpus, self.dir)
        self.assertEqual(sorted(os.listdir(self.dir)),
                         sorted(sha1(d) for d in [PIN] + others))
        with open(os.path.join(self.dir, sha1(PIN)), 'rb') as f:
            self.assertEqual(f.read(), PIN)
        # a merge that drops the pinned input and adds one
        os.unlink(os.path.join(self.dir, sha1(PIN)))
        with open(os.path.join(self.dir, sha1(b'new')), 'wb') as f:
            f.write(b'new')
        C.pack(self.dir, self.corpus)
        header, pinned, inputs = C.read_corpus(self.corpus)
        self.assertEqual(header, ['# the header', '# two lines', ''])
        self.assertEqual(pinned, [(['# a reproducer'], PIN)])
        self.assertEqual(inputs, sorted(others + [b'new'], key=sha1))
        # packing what it unpacks writes the same file again
        before = self.read()
        C.unpack(self.corpus, self.dir)
        C.pack(self.dir, self.corpus)
        self.assertEqual(self.read(), before)

    def test_unpack_touches_only_input_names(self):
        os.mkdir(self.dir)
        mine = os.path.join(self.dir, 'notes.txt')
        stale = os.path.join(self.dir, sha1(b'stale'))
        for path in (mine, stale):
            with open(path, 'w') as f:
                f.write('x')
        os.mkdir(os.path.join(self.dir, 'sub'))
        self.write(PINNED)
        C.unpack(self.corpus, self.dir)
        self.assertTrue(os.path.exists(mine))
        self.assertFalse(os.path.exists(stale))
        self.assertTrue(os.path.isdir(os.path.join(self.dir, 'sub')))

    def test_refused_and_left_alone(self):
        os.mkdir(self.dir)
        with open(os.path.join(self.dir, sha1(b'x')), 'wb') as f:
            f.write(b'x')
        for text, why in (
                (PINNED + 'QUJ*\n', ':3: not base64'),
                (PINNED + 'QUJD\rAQ==\n', ':3: not base64'),
                ('# caf\u00e9\n' + PINNED, ':1: not ASCII'),
                (PINNED + 'QUJD\x00\n', ':3: not base64'),
                (PINNED + '# nothing after\n', 'names no input')):
            self.write(text.encode('utf-8'), 'wb')
            with self.assertRaises(C.CorpusError) as cm:
                C.pack(self.dir, self.corpus)
            self.assertIn(why, str(cm.exception))
            self.assertEqual(self.read(), text.encode('utf-8'))

    def test_empty_directory_refused(self):
        os.mkdir(self.dir)
        self.write(HEADER + PINNED + 'QUJD\n')
        with self.assertRaises(C.CorpusError) as cm:
            C.pack(self.dir, self.corpus)
        self.assertIn('is empty', str(cm.exception))
        self.assertEqual(self.read(), (HEADER + PINNED + 'QUJD\n').encode())

    def test_command_line(self):
        self.write('QUJ*\n')
        argv = sys.argv
        try:
            sys.argv = ['fuzz-corpus.py', 'unpack', self.corpus, self.dir]
            self.assertEqual(C.main(), 1)
            sys.argv = ['fuzz-corpus.py', 'bogus', 'a', 'b']
            self.assertEqual(C.main(), 2)
        finally:
            sys.argv = argv


if __name__ == '__main__':
    tap_main()
