/*
 * virtio-balloon automatic mode: guest RAM as the host holds it
 *
 * Which RAM blocks are guest RAM the balloon can take pages from, whether
 * their host pages can be returned one 4 KiB balloon page at a time, and
 * how much of them is resident in host memory.  Used by the device glue
 * (virtio-balloon-auto.c); knows nothing of the policy.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_BALLOON_AUTO_RAM_H
#define HW_VIRTIO_BALLOON_AUTO_RAM_H

#include "system/hostmem.h"

/*
 * virtio_balloon_auto_backend_check:
 * Whether the host pages of memory backend @b can be returned to the host
 * one 4 KiB balloon page at a time (not hugetlb).  A backend with no RAM
 * block yet passes.
 *
 * Returns: true if so; false with @errp set, naming @b by its id, if not.
 */
bool virtio_balloon_auto_backend_check(HostMemoryBackend *b, Error **errp);

/*
 * virtio_balloon_auto_ram_discardable:
 * Whether inflating can help the host at all: guest RAM is not locked
 * (-overcommit mem-lock) and no block of guest RAM has host pages larger
 * than 4 KiB (virtio_balloon_auto_backend_check()).
 *
 * Returns: true if so; false with @errp set, saying what to change, if
 * not.
 */
bool virtio_balloon_auto_ram_discardable(Error **errp);

/*
 * virtio_balloon_auto_ram_resident:
 * Measure how much guest RAM is resident in host memory now, with
 * mincore() over the host mapping of each block of the guest RAM the
 * balloon counts (as query-balloon does): the machine's RAM and the
 * memdevs of DIMMs; not NVDIMMs, virtio-mem or virtio-pmem devices, nor
 * ROMs, video RAM or other devices' memory.  So the result is never more
 * than that RAM.  The work grows with guest RAM (0.3 to 0.4 ms
 * per GiB, measured on a 1 GiB guest: docs/system/devices/
 * virtio-balloon-auto.rst); its memory is one vector of 16 KiB.
 * Traced as virtio_balloon_auto_resident.
 *
 * Returns: true with *@bytes set, in bytes; false if it cannot be
 * measured (not Linux, mincore() failed, or no block of guest RAM is
 * mapped), *@bytes unchanged.
 */
bool virtio_balloon_auto_ram_resident(uint64_t *bytes);

#endif
