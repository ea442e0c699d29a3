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
#include "qemu/main-loop.h"

/*
 * virtio_balloon_auto_ram_counted:
 * Whether memory device @dev's memory is guest RAM the balloon counts,
 * as upstream's balloon does (get_current_ram_size(): DIMMs, whose size
 * pc_dimm_plug() adds to device_memory->dimm_size): a pc-dimm, not an
 * NVDIMM, virtio-mem or virtio-pmem device.
 */
bool virtio_balloon_auto_ram_counted(Object *dev);

/*
 * virtio_balloon_auto_backend_check:
 * Whether the host pages of memory backend @b can be returned to the host
 * one 4 KiB balloon page at a time (not hugetlb), and with @ram (@b is
 * guest RAM the balloon counts: the machine's RAM or a DIMM's memdev)
 * whether it is writable (not read-only memory, of which the device
 * gives no page back) and, if file-backed, discardable without harm: a
 * shared mapping of a regular file opened read-write, or a memfd (a
 * discard punches a hole in the file, which other users of a privately
 * mapped file would see).  A backend with no RAM block yet passes.
 *
 * Returns: true if so; false with @errp set, naming @b by its id, if not.
 */
bool virtio_balloon_auto_backend_check(HostMemoryBackend *b, bool ram,
                                       Error **errp);

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
 * than that RAM.  The work grows with guest RAM (0.3 to 0.4 ms per GiB
 * of anonymous RAM, measured on a 1 GiB guest: docs/system/devices/
 * virtio-balloon-auto.rst).  Shared RAM in shmem (memfd, a tmpfs file,
 * share=on) is counted with cachestat(2) where the host has it (Linux
 * 6.5), one call per block, as mincore() looks up every page of it the
 * guest has not touched; private file-backed RAM (share=off) from
 * /proc/self/pagemap, as only the guest's own copies of its pages are
 * memory a discard frees.  Its memory is one buffer of 16 KiB.
 * Traced as virtio_balloon_auto_resident.
 *
 * Returns: true with *@bytes set, in bytes; false if it cannot be
 * measured (not Linux, mincore() failed, or no block of guest RAM is
 * mapped), *@bytes unchanged.
 */
bool virtio_balloon_auto_ram_resident(uint64_t *bytes);

/*
 * virtio_balloon_auto_ram_resident_inline:
 * Whether virtio_balloon_auto_ram_resident() is cheap enough for the main
 * thread: all of the guest RAM it measures is anonymous memory (mincore()
 * at up to about 0.5 ms per GiB, where it has pages; none of it has a
 * file behind it, whose holes mincore() looks up one page at a time, 9 to
 * 19 ms per GiB measured) and at most @max_bytes of it.
 */
bool virtio_balloon_auto_ram_resident_inline(uint64_t max_bytes);

/*
 * VirtIOBalloonAutoResident:
 * A measurement of virtio_balloon_auto_ram_resident() running in a
 * worker thread of QEMU's thread pool, so that a large or file-backed
 * guest's does not hold the main loop and the BQL (it grows with guest
 * RAM: virtio_balloon_auto_ram_resident_inline()).  The blocks to measure are
 * chosen on the main thread when it starts, and each keeps a reference
 * to its memory region until the measurement is done, so that RAM
 * unplugged meanwhile stays mapped until then.
 */
typedef struct VirtIOBalloonAutoResident VirtIOBalloonAutoResident;

/*
 * VirtIOBalloonAutoResidentCb:
 * The result: @ok as virtio_balloon_auto_ram_resident() would return,
 * @bytes the resident bytes if @ok, and @elapsed_ns the real time the
 * measurement itself took in its thread (not its wait in the thread
 * pool's queue nor for the main loop).  Called in the main loop with the
 * BQL held, from a bottom half of the iohandler context: never from
 * within a nested poll of the main AioContext (a block layer drain while
 * a snapshot saves device state).
 */
typedef void VirtIOBalloonAutoResidentCb(void *opaque, bool ok,
                                         uint64_t bytes, int64_t elapsed_ns);

/*
 * virtio_balloon_auto_ram_resident_start:
 * Start measuring in a worker thread; @cb(@opaque, ...) is called once,
 * from a later main-loop iteration, never from within this call.  Call
 * it in the main loop with the BQL held.
 *
 * Returns: the measurement, valid until @cb is called or it is
 * orphaned.
 */
VirtIOBalloonAutoResident *
virtio_balloon_auto_ram_resident_start(VirtIOBalloonAutoResidentCb *cb,
                                       void *opaque);

/*
 * virtio_balloon_auto_ram_resident_orphan:
 * The caller goes away: @r finishes on its own and its callback is not
 * called.  NULL is allowed.
 */
void virtio_balloon_auto_ram_resident_orphan(VirtIOBalloonAutoResident *r);

/*
 * VirtIOBalloonAutoRamWatch:
 * Tells the device glue that guest RAM may have changed size, without
 * any other event: a DIMM plugged or unplugged.  QEMU has no notifier for
 * memory devices coming or going, so this is a memory listener on
 * address_space_memory that notes every RAM section added or removed.
 * That is more than DIMMs: every section at registration and
 * unregistration, PAM and SMRAM remaps during the firmware's boot, and
 * RAM-backed regions a guest maps at run time (VGA windows, ROM and video
 * RAM BARs), virtio-mem and NVDIMMs.  The callback must not assume a
 * change of size.  Each call of the listener costs a flag check and at
 * most a bottom-half schedule; the callback runs at most once per
 * main-loop iteration.
 *
 * The callback runs in a bottom half, after the change completed: the
 * listener is called inside the memory transaction, while
 * pc_dimm_unplug() updates the size the balloon counts
 * (device_memory->dimm_size) only after it.  Like the listener, it runs
 * in the main loop with the BQL held.
 */
typedef struct VirtIOBalloonAutoRamWatch VirtIOBalloonAutoRamWatch;

/*
 * virtio_balloon_auto_ram_watch_new:
 * Start watching; @cb(@opaque) runs as described above, a first time
 * soon after this (registration reports the RAM there is).
 *
 * Returns: the watch, to be freed with virtio_balloon_auto_ram_watch_free().
 */
VirtIOBalloonAutoRamWatch *virtio_balloon_auto_ram_watch_new(QEMUBHFunc *cb,
                                                             void *opaque);

/*
 * virtio_balloon_auto_ram_watch_free:
 * Stop watching: @cb does not run after this, even if it was scheduled.
 * NULL is allowed.
 */
void virtio_balloon_auto_ram_watch_free(VirtIOBalloonAutoRamWatch *w);

#endif
