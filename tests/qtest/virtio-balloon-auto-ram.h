/*
 * QTest helper for automatic ballooning: fill guest RAM
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VIRTIO_BALLOON_AUTO_RAM_H
#define VIRTIO_BALLOON_AUTO_RAM_H

#include "qemu/units.h"
#include "libqtest.h"

/*
 * Set @len bytes of guest RAM from guest-physical @addr to @byte, which
 * makes them resident on the host.  Shared by the qtests (a booted guest
 * has touched its RAM) and the fuzz target (between inputs).
 *
 * - Over the qtest socket: memset in 16 MiB pieces.  QEMU allocates a
 *   buffer as long as each request, and faulting in a fresh 1 GiB one
 *   took 7-8 s here, against 0.6 s in 16 MiB pieces, which glibc serves
 *   from one reused heap buffer (below its 32 MiB mmap threshold).  The
 *   guest RAM resident afterwards is the same.
 * - In the fuzzer (CONFIG_FUZZ), where qtest runs in the QEMU process and
 *   qtest_memset() mallocs and fills such a buffer for every call: write
 *   from a 1 MiB pattern of @byte, made once (one per value, per user of
 *   this header).
 */
static inline void vba_fill_ram(QTestState *qts, uint64_t addr, uint64_t len,
                                uint8_t byte)
{
#ifdef CONFIG_FUZZ
    const uint64_t piece = MiB;
    static uint8_t *pattern[256];

    if (!pattern[byte]) {
        pattern[byte] = g_malloc(piece);
        memset(pattern[byte], byte, piece);
    }
#else
    const uint64_t piece = 16 * MiB;
#endif
    uint64_t n;

    for (; len; addr += n, len -= n) {
        n = MIN(len, piece);
#ifdef CONFIG_FUZZ
        qtest_memwrite(qts, addr, pattern[byte], n);
#else
        qtest_memset(qts, addr, byte, n);
#endif
    }
}

#endif
