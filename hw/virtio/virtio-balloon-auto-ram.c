/*
 * virtio-balloon automatic mode: guest RAM as the host holds it
 *
 * Which RAM blocks are guest RAM, whether the balloon can return their
 * pages to the host, how much of them is resident, and when guest RAM may
 * have changed size (virtio-balloon-auto-ram.h).
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/timer.h"
#include "qemu/host-utils.h"
#include "qemu/bswap.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "hw/boards.h"
#include "hw/mem/memory-device.h"
#include "hw/mem/nvdimm.h"
#include "hw/mem/pc-dimm.h"
#include "hw/virtio/virtio-balloon.h"
#include "hw/virtio/virtio-balloon-auto-ram.h"
#include "exec/memory.h"
#include "exec/address-spaces.h"
#include "exec/ramblock.h"
#include "exec/cpu-common.h"
#include "system/hostmem.h"
#include "system/numa.h"
#include "system/system.h"
#include "block/thread-pool.h"
#include "trace.h"

#ifdef CONFIG_LINUX
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <linux/mman.h>
#endif

/*
 * Residency of guest RAM in host memory, with mincore() over the host
 * mapping (or cachestat() over the file of shared RAM: see
 * auto_resident_cachestat()) of every RAM block of the guest RAM the
 * balloon counts (auto_guest_ram_backend(), counted: the machine's RAM
 * and DIMMs; ROMs, video RAM, firmware and other devices' memory are not
 * guest RAM the balloon can take).  The vector is filled RESIDENT_CHUNK
 * pages at a time, so the cost in memory is one small buffer whatever the
 * guest size.
 */
#define RESIDENT_CHUNK 16384

typedef struct AutoDeviceOf {
    HostMemoryBackend *backend;
    bool counted;
} AutoDeviceOf;

bool virtio_balloon_auto_ram_counted(Object *dev)
{
    return object_dynamic_cast(dev, TYPE_PC_DIMM) &&
           !object_dynamic_cast(dev, TYPE_NVDIMM);
}

/*
 * object_child_foreach_recursive(): is @obj a memory device whose memdev
 * is @opaque's backend?  With counted, only one whose memory upstream's
 * balloon counts as guest RAM (virtio_balloon_auto_ram_counted()).
 */
static int auto_memory_device_of(Object *obj, void *opaque)
{
    AutoDeviceOf *d = opaque;

    if (d->counted && !virtio_balloon_auto_ram_counted(obj)) {
        return 0;
    }
    return object_dynamic_cast(obj, TYPE_MEMORY_DEVICE) &&
           object_property_get_link(obj, "memdev", NULL) ==
           OBJECT(d->backend);
}

/*
 * The memory backend of RAM block @rb if it is guest RAM: the machine's
 * RAM (its memory-backend, or a NUMA node's memdev) or the memdev of a
 * memory device.  With @counted, only the memory devices whose memory
 * the balloon counts as guest RAM (DIMMs: what query-balloon and the
 * policy's RAM count, so that the residency measured is of the same
 * RAM); without, every memory device (DIMM, NVDIMM, virtio-mem,
 * virtio-pmem: what the device glue's plug check judges, since a guest
 * may put such memory in its page allocator).  NULL otherwise: ROMs and
 * video RAM, a backend no device uses, and one another device maps that
 * is not guest RAM the balloon can take (ivshmem's shared memory, an
 * NVMe persistent memory region, SGX EPC), although QEMU marks those
 * mapped too.
 */
static HostMemoryBackend *auto_guest_ram_backend(RAMBlock *rb, bool counted)
{
    MachineState *ms = MACHINE(qdev_get_machine());
    Object *owner = rb->mr ? memory_region_owner(rb->mr) : NULL;
    Object *o = owner ? object_dynamic_cast(owner, TYPE_MEMORY_BACKEND) : NULL;
    HostMemoryBackend *b = o ? MEMORY_BACKEND(o) : NULL;
    AutoDeviceOf d = { .counted = counted };
    int i;

    if (!b || !host_memory_backend_is_mapped(b)) {
        return NULL;
    }
    if (b == ms->memdev) {
        return b;
    }
    for (i = 0; ms->numa_state && i < ms->numa_state->num_nodes; i++) {
        if (ms->numa_state->nodes[i].node_memdev == b) {
            return b;
        }
    }
    d.backend = b;
    return object_child_foreach_recursive(OBJECT(ms), auto_memory_device_of,
                                          &d) ? b : NULL;
}

/*
 * One block of guest RAM to measure, as collected on the main thread: what
 * the measurement needs of its RAMBlock, and a reference to its memory
 * region, so that the block and its mapping outlive a measurement in a
 * worker thread even if its memory backend is deleted meanwhile (a DIMM
 * unplugged and its memdev removed).
 */
typedef struct AutoResidentBlock {
    MemoryRegion *mr;
    uint8_t *host;
    uint64_t len;
    int fd;
    uint64_t fd_offset;
    bool shared;
} AutoResidentBlock;

struct VirtIOBalloonAutoResident {
    GArray *blocks;
    /* the result, set by the measurement, and what it took (real ns) */
    uint64_t bytes;
    bool failed;
    int64_t elapsed_ns;
    /* asynchronous only: called on completion unless orphaned */
    VirtIOBalloonAutoResidentCb *cb;
    void *opaque;
};

static int auto_collect_block(RAMBlock *rb, void *opaque)
{
    VirtIOBalloonAutoResident *r = opaque;
    AutoResidentBlock b = {
        .mr = rb->mr,
        .host = qemu_ram_get_host_addr(rb),
        .len = qemu_ram_get_used_length(rb),
        .fd = qemu_ram_get_fd(rb),
        .fd_offset = rb->fd_offset,
        .shared = qemu_ram_is_shared(rb),
    };

    if (!b.host || !auto_guest_ram_backend(rb, true)) {
        return 0;
    }
    memory_region_ref(b.mr);
    g_array_append_val(r->blocks, b);
    return 0;
}

/* The blocks of guest RAM the balloon counts, on the main thread */
static VirtIOBalloonAutoResident *auto_resident_new(void)
{
    VirtIOBalloonAutoResident *r = g_new0(VirtIOBalloonAutoResident, 1);

    r->blocks = g_array_new(false, false, sizeof(AutoResidentBlock));
    qemu_ram_foreach_block(auto_collect_block, r);
    return r;
}

/* Drop the blocks' references, on the main thread (with the BQL) */
static void auto_resident_free(VirtIOBalloonAutoResident *r)
{
    guint i;

    for (i = 0; i < r->blocks->len; i++) {
        memory_region_unref(g_array_index(r->blocks, AutoResidentBlock,
                                          i).mr);
    }
    g_array_free(r->blocks, true);
    g_free(r);
}

#ifdef CONFIG_LINUX
/*
 * Count the resident host pages of [@host, @host + @len) into @pages, with
 * @vec a buffer of RESIDENT_CHUNK bytes
 */
static bool auto_resident_range(unsigned char *vec, size_t host_page,
                                uint8_t *host, uint64_t len, uint64_t *pages)
{
    uint64_t off, n, i;

    for (off = 0; off < len; off += n * host_page) {
        n = MIN(RESIDENT_CHUNK, DIV_ROUND_UP(len - off, host_page));
        if (mincore(host + off, n * host_page, vec)) {
            return false;
        }
        /* Bit 0 of each byte: resident; 8 bytes at a time */
        for (i = 0; i + 8 <= n; i += 8) {
            *pages += ctpop64(ldq_he_p(vec + i) & 0x0101010101010101ull);
        }
        for (; i < n; i++) {
            *pages += vec[i] & 1;
        }
    }
    return true;
}

/*
 * Count the pages of shared file-backed block @b that are in the file's
 * page cache into @pages, with cachestat(2) (Linux 6.5): one call, which
 * walks only the pages there are and leaves the descriptor's offset
 * alone.  It costs about 8 ms per GiB of pages there are, mincore() 9 ms
 * per GiB of pages there are not and 0.5 ms per GiB of those there are
 * (a 16 GiB memfd, measured here: bench/results/README.md), so it is
 * used only while less than half of the file is allocated.  Shared RAM
 * in shmem (memory-backend-memfd, -file with share=on on tmpfs such as
 * /dev/shm, -ram with share=on when QEMU gives it a memfd: the shared
 * memory vhost-user devices and virtiofs need) is that page cache;
 * mincore() would look up every page it finds no mapping for, the
 * guest's untouched pages and those it gave back, one by one
 * (docs/system/devices/virtio-balloon-auto.rst).  Only a regular file on
 * tmpfs: elsewhere the descriptor's page cache need not be the one the
 * mapping uses (an overlayfs file maps the file beneath it, whose pages
 * cachestat() on the overlay does not see; a shared mapping of /dev/zero
 * is a new shmem file of its own), and cachestat() would count none of
 * the RAM.  False for any other block (anonymous RAM, whose mapping is
 * all there is; a private mapping, whose written pages are not in the
 * file: auto_resident_private(); other file systems) and where
 * cachestat() is missing or refused: then mincore() measures it.
 */
static bool auto_resident_cachestat(const AutoResidentBlock *b,
                                    uint64_t *pages)
{
#if defined(__NR_cachestat)
    struct cachestat_range range = { .off = b->fd_offset, .len = b->len };
    struct cachestat cs;
    struct statfs sfs;
    struct stat st;

    /*
     * Half or more of the file allocated (st_blocks, 512-byte units: an
     * upper bound of the block's part): mincore() is the cheaper
     */
    if (b->fd < 0 || !b->shared || fstat(b->fd, &st) ||
        !S_ISREG(st.st_mode) || fstatfs(b->fd, &sfs) ||
        sfs.f_type != TMPFS_MAGIC ||
        (uint64_t)st.st_blocks * 512 >= range.len / 2 ||
        syscall(__NR_cachestat, b->fd, &range, &cs, 0)) {
        return false;
    }
    /* In pages of the host's base page size */
    *pages += cs.nr_cache;
    trace_virtio_balloon_auto_resident_cachestat(range.off, range.len,
                                                 cs.nr_cache);
    return true;
#else
    return false;
#endif
}

/* /proc/PID/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst) */
#define PAGEMAP_PRESENT         (1ull << 63)
#define PAGEMAP_FILE_OR_SHARED  (1ull << 61)

/*
 * Count the host pages of private file-backed block @b that are the
 * guest's own (copies it wrote: anonymous memory) into @pages, from
 * /proc/self/pagemap (@pagemap, -1 if it cannot be opened), with @vec a
 * buffer of RESIDENT_CHUNK bytes.  mincore() on a private file mapping
 * counts the file's pages in the host's page cache too: those the guest
 * only read, and those it never touched when the host holds the file (a
 * template file, readonly=on,rom=off), of which discarding frees
 * nothing.  The flags of an entry need no privilege (Linux 4.2; only the
 * frame number does).  False for any other block and where pagemap
 * cannot be read: then mincore() measures it.
 */
static bool auto_resident_private(int pagemap, const AutoResidentBlock *b,
                                  unsigned char *vec, size_t host_page,
                                  uint64_t *pages)
{
    uint64_t *ent = (uint64_t *)vec;
    uint64_t total = DIV_ROUND_UP(b->len, host_page);
    uint64_t first = (uintptr_t)b->host / host_page;
    uint64_t done, n, i, count = 0;

    if (pagemap < 0 || b->fd < 0 || b->shared) {
        return false;
    }
    for (done = 0; done < total; done += n) {
        n = MIN(RESIDENT_CHUNK / sizeof(*ent), total - done);
        if (pread(pagemap, ent, n * sizeof(*ent),
                  (first + done) * sizeof(*ent)) != n * sizeof(*ent)) {
            return false;
        }
        for (i = 0; i < n; i++) {
            count += (ent[i] & (PAGEMAP_PRESENT | PAGEMAP_FILE_OR_SHARED)) ==
                     PAGEMAP_PRESENT;
        }
    }
    *pages += count;
    return true;
}

/*
 * Measure @r's blocks into r->bytes (r->failed if one cannot be).  Needs
 * no lock: it runs on the main thread or in a worker thread, and reads
 * nothing but @r and the blocks' host mappings, which @r keeps alive.
 */
static int auto_resident_measure(void *opaque)
{
    VirtIOBalloonAutoResident *r = opaque;
    g_autofree unsigned char *vec = g_malloc(RESIDENT_CHUNK);
    size_t host_page = qemu_real_host_page_size();
    int64_t start = get_clock();
    bool pagemap_tried = false;
    int pagemap = -1;
    guint i;

    for (i = 0; i < r->blocks->len; i++) {
        const AutoResidentBlock *b = &g_array_index(r->blocks,
                                                    AutoResidentBlock, i);
        uint64_t pages = 0;

        if (b->fd >= 0 && !b->shared && !pagemap_tried) {
            pagemap = qemu_open_old("/proc/self/pagemap", O_RDONLY);
            pagemap_tried = true;
        }
        if (!auto_resident_cachestat(b, &pages) &&
            !auto_resident_private(pagemap, b, vec, host_page, &pages) &&
            !auto_resident_range(vec, host_page, b->host, b->len, &pages)) {
            r->failed = true;
            break;
        }
        r->bytes += pages * host_page;
    }
    if (pagemap >= 0) {
        close(pagemap);
    }
    r->failed |= !r->blocks->len;
    r->elapsed_ns = get_clock() - start;
    trace_virtio_balloon_auto_resident(r->bytes, r->blocks->len,
                                       r->elapsed_ns / SCALE_US);
    return 0;
}
#else
static int auto_resident_measure(void *opaque)
{
    VirtIOBalloonAutoResident *r = opaque;

    r->failed = true;
    return 0;
}
#endif

bool virtio_balloon_auto_ram_resident_inline(uint64_t max_bytes)
{
    VirtIOBalloonAutoResident *r = auto_resident_new();
    uint64_t total = 0;
    bool ok = true;
    guint i;

    for (i = 0; i < r->blocks->len && ok; i++) {
        const AutoResidentBlock *b = &g_array_index(r->blocks,
                                                    AutoResidentBlock, i);

        total += b->len;
        ok = b->fd < 0 && total <= max_bytes;
    }
    auto_resident_free(r);
    return ok;
}

bool virtio_balloon_auto_ram_resident(uint64_t *bytes)
{
    VirtIOBalloonAutoResident *r = auto_resident_new();
    bool ok;

    auto_resident_measure(r);
    ok = !r->failed;
    if (ok) {
        *bytes = r->bytes;
    }
    auto_resident_free(r);
    return ok;
}

/* The result, from the main loop itself (auto_resident_done()) */
static void auto_resident_deliver(void *opaque)
{
    VirtIOBalloonAutoResident *r = opaque;

    if (r->cb) {
        r->cb(r->opaque, !r->failed, r->bytes, r->elapsed_ns);
    }
    auto_resident_free(r);
}

/*
 * Thread pool completion, with the BQL held, in the main AioContext:
 * which the block layer also polls from within other work (a drain
 * while a snapshot saves the devices' state, say), where the device must
 * not change.  So the result goes on through the iohandler context, as
 * the host pressure source's descriptors and the monitor do, which only
 * the main loop itself dispatches.
 */
static void auto_resident_done(void *opaque, int ret)
{
    aio_bh_schedule_oneshot(iohandler_get_aio_context(),
                            auto_resident_deliver, opaque);
}

VirtIOBalloonAutoResident *
virtio_balloon_auto_ram_resident_start(VirtIOBalloonAutoResidentCb *cb,
                                       void *opaque)
{
    VirtIOBalloonAutoResident *r = auto_resident_new();

    r->cb = cb;
    r->opaque = opaque;
    thread_pool_submit_aio(auto_resident_measure, r, auto_resident_done, r);
    return r;
}

void virtio_balloon_auto_ram_resident_orphan(VirtIOBalloonAutoResident *r)
{
    if (r) {
        r->cb = NULL;
    }
}

/* Whether guest RAM @what, in host pages of @pagesize bytes, frees 4 KiB */
static bool auto_page_size_check(const char *what, size_t pagesize,
                                 Error **errp)
{
    if (pagesize > (1 << VIRTIO_BALLOON_PFN_SHIFT)) {
        error_setg(errp, "%s is backed by host pages of %zu KiB (hugetlb?),"
                   " which 4 KiB balloon pages cannot return to the host;"
                   " give it 4 KiB pages, or leave automatic mode off",
                   what, pagesize / KiB);
        return false;
    }
    return true;
}

/*
 * Whether a balloon page of file-backed guest RAM @rb (of backend @b,
 * named @what) can be discarded without harm.  Discarding file-backed
 * RAM punches a hole in the file (ram_block_discard_range()), even for a
 * private mapping: with memory-backend-file,share=off (a private copy of
 * a template file) every other mapping of the file would read zeros
 * there, and free page reporting, on by default in automatic mode, does
 * it to every block the guest frees.  A memfd of QEMU's own has no
 * other user.  A file opened read-only (readonly=on,rom=off) and a file
 * that is no regular file (/dev/zero) cannot be discarded at all: every
 * balloon page would be lost to the guest for nothing.
 */
static bool auto_file_discardable(HostMemoryBackend *b, RAMBlock *rb,
                                  const char *what, Error **errp)
{
    int fd = qemu_ram_get_fd(rb);
    struct stat st;
    int flags;

    if (fd < 0 || object_dynamic_cast(OBJECT(b), TYPE_MEMORY_BACKEND_MEMFD)) {
        return true;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_ACCMODE) == O_RDONLY) {
        error_setg(errp, "%s maps a file opened read-only (readonly=on),"
                   " of which the balloon cannot discard pages; give"
                   " guest RAM a writable file, or leave automatic mode"
                   " off", what);
        return false;
    }
    if (!qemu_ram_is_shared(rb)) {
        error_setg(errp, "%s is a private mapping of a file (share=off):"
                   " discarding a balloon page would punch a hole in the"
                   " file, which every other user of it sees; use"
                   " share=on, memory-backend-memfd or memory-backend-ram,"
                   " or leave automatic mode off", what);
        return false;
    }
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        error_setg(errp, "%s maps a file that is not a regular file, of"
                   " which the balloon cannot discard pages; give guest"
                   " RAM a regular file, or leave automatic mode off",
                   what);
        return false;
    }
    return true;
}

bool virtio_balloon_auto_backend_check(HostMemoryBackend *b, bool ram,
                                       Error **errp)
{
    MemoryRegion *mr = host_memory_backend_get_memory(b);
    g_autofree char *what = NULL;

    if (!mr || !mr->ram_block) {
        return true;
    }
    what = g_strdup_printf("memory backend '%s'",
                           object_get_canonical_path_component(OBJECT(b)));
    /*
     * Guest RAM the guest cannot write (readonly=on, whose rom defaults
     * to on): the device gives no page of a ROM back to the host
     * (balloon_inflate_page()), so every balloon page would be lost to
     * the guest for nothing.  A read-only NVDIMM or virtio-pmem device
     * (an image shared read-only) is no RAM the balloon counts, and no
     * page the guest's allocator can hand it.
     */
    if (ram && memory_region_is_rom(mr)) {
        error_setg(errp, "%s is read-only memory (rom=on), of which the"
                   " balloon cannot return pages to the host; give guest"
                   " RAM writable memory (rom=off), or leave automatic"
                   " mode off", what);
        return false;
    }
    if (ram && !auto_file_discardable(b, mr->ram_block, what, errp)) {
        return false;
    }
    return auto_page_size_check(what, qemu_ram_pagesize(mr->ram_block),
                                errp);
}

static int auto_ram_block_check(RAMBlock *rb, void *opaque)
{
    HostMemoryBackend *b = auto_guest_ram_backend(rb, false);

    return b && !virtio_balloon_auto_backend_check(
        b, auto_guest_ram_backend(rb, true) != NULL, opaque);
}

/*
 * Inflating only helps the host if each 4 KiB balloon page can be
 * discarded on its own.  Locked memory (-overcommit mem-lock) refuses
 * MADV_DONTNEED, and a page of a larger host page (hugetlb) frees nothing
 * until its whole host page is ballooned: with either, automatic mode
 * would shrink the guest for no gain.
 */
bool virtio_balloon_auto_ram_discardable(Error **errp)
{
    if (should_mlock(mlock_state)) {
        error_setg(errp, "guest RAM is locked in host memory (-overcommit"
                   " mem-lock=%s), so balloon pages cannot be returned to"
                   " the host; drop mem-lock, or leave automatic mode off",
                   is_mlock_on_fault(mlock_state) ? "on-fault" : "on");
        return false;
    }
    return !qemu_ram_foreach_block(auto_ram_block_check, errp);
}

struct VirtIOBalloonAutoRamWatch {
    MemoryListener listener;
    QEMUBH *bh;
};

static void auto_ram_watch_section(MemoryListener *listener,
                                   MemoryRegionSection *section)
{
    VirtIOBalloonAutoRamWatch *w =
        container_of(listener, VirtIOBalloonAutoRamWatch, listener);

    if (memory_region_is_ram(section->mr)) {
        /* A no-op while one is pending: one run for a whole transaction */
        qemu_bh_schedule(w->bh);
    }
}

VirtIOBalloonAutoRamWatch *virtio_balloon_auto_ram_watch_new(QEMUBHFunc *cb,
                                                             void *opaque)
{
    VirtIOBalloonAutoRamWatch *w = g_new0(VirtIOBalloonAutoRamWatch, 1);

    /*
     * Run by the main loop itself, not from the block layer's polls of
     * the main AioContext within savevm and loadvm, where the device's
     * state must not change (as auto_resident_done())
     */
    w->bh = aio_bh_new_full(iohandler_get_aio_context(), cb, opaque,
                            "virtio-balloon-auto-ram", NULL);
    w->listener = (MemoryListener) {
        .name = "virtio-balloon-auto",
        .region_add = auto_ram_watch_section,
        .region_del = auto_ram_watch_section,
    };
    memory_listener_register(&w->listener, &address_space_memory);
    return w;
}

void virtio_balloon_auto_ram_watch_free(VirtIOBalloonAutoRamWatch *w)
{
    if (!w) {
        return;
    }
    memory_listener_unregister(&w->listener);
    qemu_bh_delete(w->bh);
    g_free(w);
}
