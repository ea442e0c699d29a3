/*
 * virtio-balloon automatic mode: sizes in error messages
 *
 * Shared by the policy core and the statistics rule, which are built and
 * unit-tested apart, so that every refused size reads the same.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_BALLOON_AUTO_SIZE_H
#define HW_VIRTIO_BALLOON_AUTO_SIZE_H

/*
 * @bytes as the user wrote them, for error messages (g_free() it): QMP
 * and -device take a negative size as its two's complement, so a size
 * above INT64_MAX was written either way and both are printed
 * ("18446744073709547520 (-4096)").
 */
static inline char *balloon_auto_size_str(uint64_t bytes)
{
    if (bytes > INT64_MAX) {
        return g_strdup_printf("%" PRIu64 " (%" PRId64 ")", bytes,
                               (int64_t)bytes);
    }
    return g_strdup_printf("%" PRIu64, bytes);
}

#endif
