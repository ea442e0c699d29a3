/*
 * Fuzzing automatic ballooning: the input decoder
 *
 * Plays a guest driver that does whatever the input says, on its own
 * split rings at fixed guest addresses (libqos's ring helpers assert on
 * what a hostile driver does, this one must not).  See the header for
 * who uses it.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "qobject/qdict.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "libqos/pci-pc.h"
#include "libqos/virtio-pci.h"
#include "standard-headers/linux/virtio_balloon.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_pci.h"
#include "standard-headers/linux/virtio_ring.h"
#include "virtio-balloon-auto-fuzz.h"
#include "virtio-balloon-auto-ram.h"

/* include/hw/virtio/virtio-balloon-auto.h, which a qtest cannot include */
#define VBAF_F_MESSAGE_VQ   10

#define VBAF_PAGE           4096
#define VBAF_RAM            ((uint64_t)VBAF_RAM_MIB * MiB)
#define VBAF_RAM_PAGES      (VBAF_RAM / VBAF_PAGE)
#define VBAF_DEVFN          QPCI_DEVFN(4, 0)
#define VBAF_BACKEND        "/machine/peripheral/balloon0/virtio-backend"

/* Queues 0-4 exist (see VBAF_QEMU_ARGS); 5-7 let kicks miss */
#define VBAF_QUEUES         8
#define VBAF_DEVICE_QUEUES  5
#define VBAF_IVQ            0
#define VBAF_DVQ            1
#define VBAF_SVQ            2
#define VBAF_MSG_VQ         4
/* The largest queue a driver may ask for (VIRTQUEUE_MAX_SIZE) */
#define VBAF_QUEUE_MAX      1024

/*
 * Guest memory: rings, then buffers, then the pages the driver gives to
 * the balloon, which QEMU discards (they are made resident again after
 * each input, see vbaf_retouch()).
 */
#define VBAF_RING_BASE      (2 * MiB)
#define VBAF_RING_STRIDE    (64 * KiB)
#define VBAF_DATA_BASE      (4 * MiB)
#define VBAF_DATA_SIZE      (4 * MiB)
#define VBAF_BALLOON_PFN    (16 * MiB / VBAF_PAGE)
#define VBAF_RING_BASE_PFN  (VBAF_RING_BASE / VBAF_PAGE)
#define VBAF_DATA_END_PFN   ((VBAF_DATA_BASE + VBAF_DATA_SIZE) / VBAF_PAGE)
#define VBAF_BALLOON_PAGES  (VBAF_RAM_PAGES - VBAF_BALLOON_PFN)

/*
 * Pages an honest driver moves per operation, and per buffer.  QEMU
 * discards each page it receives with one madvise(), and the page must be
 * made resident again after the input: an honest driver gives the same
 * VBAF_FOLLOW_PFNS pages over and over (the device counts pages, it does
 * not tell them apart), and moves at most a quarter of the default
 * medium step (RAM/16) per operation, to keep inputs fast.
 */
#define VBAF_FOLLOW_MAX     512
#define VBAF_FOLLOW_PFNS    64
#define VBAF_PFNS_PER_BUF   256

/*
 * Pages OP_FOLLOW and OP_PFNS may put on the inflate and deflate queues
 * in one input: 4096 pages (16 MiB), two default medium steps of this
 * machine.  Without it, OP_FOLLOW moves 512 pages for 2 input bytes and
 * the corpus averaged 32,000 madvise() calls per input, 45 % of the
 * fuzzer's time.  Once it is spent, an honest driver stops following
 * (as a stalled one does) and OP_PFNS sends one page.
 */
#define VBAF_PAGE_BUDGET    4096

typedef struct VbafQueue {
    uint16_t size;          /* 0: not set up by the driver */
    uint16_t avail_idx;
    uint16_t next_desc;
    uint64_t desc, avail;
} VbafQueue;

struct Vbaf {
    QTestState *qts;
    VbafHost host;
    QPCIBus *bus;
    QVirtioPCIDevice *pci;
    uint64_t pio_alloc_ptr, mmio_alloc_ptr;
    /* query-auto-balloon's tunables after start-up, restored after each run */
    QDict *tunables;
    uint64_t host_features;
    VbafQueue q[VBAF_QUEUES];
    uint64_t data_next;
    uint64_t data_end;      /* end of what this input wrote there */
    /* pages the honest driver has in the balloon */
    uint32_t given;
    uint32_t pfn_cursor;
    int64_t clock_left_ns;
    uint32_t pages_left;    /* of VBAF_PAGE_BUDGET */
    bool qmp_dirty;
    /* pages handed to the inflate queue in this input (discarded) */
    unsigned long *inflated;
    uint64_t ops, runs;
};

typedef struct VbafIn {
    const uint8_t *p;
    size_t left;
} VbafIn;

enum {
    OP_BUF,
    OP_MSG,
    OP_STATS,
    OP_PFNS,
    OP_FOLLOW,
    OP_CONFIG,
    OP_ACTUAL,
    OP_INJECT,
    OP_CLOCK,
    OP_KICK,
    OP_STATUS,
    OP_FEATURES,
    OP_QUEUE,
    OP_INIT,
    OP_SYSTEM_RESET,
    OP_SET_AUTO,
    OP_BALLOON,
    OP_QUERY,
    OP_TOUCH,
    OP__MAX
};

/* Reading past the end of the input gives zeros */
static uint8_t in_u8(VbafIn *in)
{
    if (!in->left) {
        return 0;
    }
    in->left--;
    return *in->p++;
}

static uint16_t in_u16(VbafIn *in)
{
    uint16_t v = in_u8(in);

    return v | in_u8(in) << 8;
}

static uint32_t in_u32(VbafIn *in)
{
    uint32_t v = in_u16(in);

    return v | (uint32_t)in_u16(in) << 16;
}

static uint64_t in_u64(VbafIn *in)
{
    uint64_t v = in_u32(in);

    return v | (uint64_t)in_u32(in) << 32;
}

/* Copy up to @n bytes of input to @buf, zeros for the rest */
static void in_bytes(VbafIn *in, void *buf, size_t n)
{
    size_t k = MIN(n, in->left);

    memcpy(buf, in->p, k);
    memset((uint8_t *)buf + k, 0, n - k);
    in->p += k;
    in->left -= k;
}

/* Registers of the modern virtio-pci interface */
static uint64_t common(const Vbaf *f, size_t off)
{
    return f->pci->common_cfg_offset + off;
}

#define COMMON(f, field) \
    common(f, offsetof(struct virtio_pci_common_cfg, field))

static void wr8(Vbaf *f, uint64_t off, uint8_t v)
{
    qpci_io_writeb(f->pci->pdev, f->pci->bar, off, v);
}

static void wr16(Vbaf *f, uint64_t off, uint16_t v)
{
    qpci_io_writew(f->pci->pdev, f->pci->bar, off, v);
}

static void wr32(Vbaf *f, uint64_t off, uint32_t v)
{
    qpci_io_writel(f->pci->pdev, f->pci->bar, off, v);
}

static uint16_t rd16(Vbaf *f, uint64_t off)
{
    return qpci_io_readw(f->pci->pdev, f->pci->bar, off);
}

static uint32_t rd32(Vbaf *f, uint64_t off)
{
    return qpci_io_readl(f->pci->pdev, f->pci->bar, off);
}

static uint32_t cfg_num_pages(Vbaf *f)
{
    return rd32(f, f->pci->device_cfg_offset);
}

static void cfg_write_actual(Vbaf *f, uint32_t pages)
{
    wr32(f, f->pci->device_cfg_offset + 4, pages);
}

static uint64_t read_host_features(Vbaf *f)
{
    uint64_t lo, hi;

    wr32(f, COMMON(f, device_feature_select), 0);
    lo = rd32(f, COMMON(f, device_feature));
    wr32(f, COMMON(f, device_feature_select), 1);
    hi = rd32(f, COMMON(f, device_feature));
    return hi << 32 | lo;
}

static void write_features(Vbaf *f, uint64_t features)
{
    wr32(f, COMMON(f, guest_feature_select), 0);
    wr32(f, COMMON(f, guest_feature), features);
    wr32(f, COMMON(f, guest_feature_select), 1);
    wr32(f, COMMON(f, guest_feature), features >> 32);
}

/* The device forgets its rings on reset; so does the driver */
static void write_status(Vbaf *f, uint8_t status)
{
    wr8(f, COMMON(f, device_status), status);
    if (!status) {
        memset(f->q, 0, sizeof(f->q));
    }
}

/*
 * Map the device's BAR, at the same address every time: after a system
 * reset it is unmapped.  Not done for each input, because moving a BAR
 * rebuilds QEMU's memory map, which costs more than the rest of an input.
 */
static void attach(Vbaf *f)
{
    f->bus->pio_alloc_ptr = f->pio_alloc_ptr;
    f->bus->mmio_alloc_ptr = f->mmio_alloc_ptr;
    qvirtio_pci_device_enable(f->pci);
    memset(f->q, 0, sizeof(f->q));
    f->given = 0;
}

/* A buffer in the data area, which wraps around */
static uint64_t data_alloc(Vbaf *f, size_t len)
{
    uint64_t addr;

    len = ROUND_UP(MAX(len, 1), 16);
    assert(len <= VBAF_DATA_SIZE);
    if (f->data_next + len > VBAF_DATA_BASE + VBAF_DATA_SIZE) {
        f->data_next = VBAF_DATA_BASE;
    }
    addr = f->data_next;
    f->data_next += len;
    f->data_end = MAX(f->data_end, f->data_next);
    return addr;
}

static uint64_t data_put(Vbaf *f, const void *buf, size_t len)
{
    uint64_t addr = data_alloc(f, len);

    if (len) {
        qtest_memwrite(f->qts, addr, buf, len);
    }
    return addr;
}

/*
 * Set up queue @n at its fixed place; @size 0 keeps the device's size.
 * Whatever the device thinks of it, the driver uses what it asked for.
 */
static void queue_setup(Vbaf *f, int n, uint16_t size, bool enable)
{
    VbafQueue *q = &f->q[n];
    uint64_t desc = VBAF_RING_BASE + n * VBAF_RING_STRIDE;
    uint64_t avail, used;
    uint32_t zero = 0;

    wr16(f, COMMON(f, queue_select), n);
    if (size) {
        wr16(f, COMMON(f, queue_size), size);
    }
    size = rd16(f, COMMON(f, queue_size));
    if (!size || size > VBAF_QUEUE_MAX) {
        q->size = 0;
        return;
    }
    avail = desc + 16 * size;
    used = ROUND_UP(avail + 6 + 2 * size, 4096);
    /*
     * The device reads what is below idx, and idx.  It keeps its own
     * avail index until a reset: carry on from where this queue was (0
     * after a reset).  Starting again at 0 made the device pop 65,535
     * stale buffers in one notification, each of up to 256 pages.
     * Without queue_enable the device keeps the old rings, which the new
     * ones may overlap: leave memory alone then, or clearing the new used
     * ring can clear the old avail index, with the same effect.
     */
    if (enable) {
        qtest_memwrite(f->qts, avail, &zero, sizeof(zero));
        qtest_writew(f->qts, avail + 2, q->avail_idx);
        qtest_memwrite(f->qts, used, &zero, sizeof(zero));
    }
    wr32(f, COMMON(f, queue_desc_lo), desc);
    wr32(f, COMMON(f, queue_desc_hi), desc >> 32);
    wr32(f, COMMON(f, queue_avail_lo), avail);
    wr32(f, COMMON(f, queue_avail_hi), avail >> 32);
    wr32(f, COMMON(f, queue_used_lo), used);
    wr32(f, COMMON(f, queue_used_hi), used >> 32);
    if (enable) {
        wr16(f, COMMON(f, queue_enable), 1);
    }
    q->size = size;
    q->next_desc = 0;
    q->desc = desc;
    q->avail = avail;
}

static void kick(Vbaf *f, int n)
{
    wr16(f, f->pci->notify_cfg_offset + n * f->pci->notify_off_multiplier,
         n);
}

static void desc_write(Vbaf *f, uint64_t at, uint64_t addr, uint32_t len,
                       uint16_t flags, uint16_t next)
{
    struct vring_desc d = {
        .addr = cpu_to_le64(addr),
        .len = cpu_to_le32(len),
        .flags = cpu_to_le16(flags),
        .next = cpu_to_le16(next),
    };

    qtest_memwrite(f->qts, at, &d, sizeof(d));
}

/* Make descriptor @head available and maybe notify the device */
static void avail_push(Vbaf *f, int n, uint16_t head, bool notify)
{
    VbafQueue *q = &f->q[n];

    qtest_writew(f->qts, q->avail + 4 + 2 * (q->avail_idx % q->size), head);
    q->avail_idx++;
    qtest_writew(f->qts, q->avail + 2, q->avail_idx);
    if (notify) {
        kick(f, n);
    }
}

/* One device-readable (or -writable) buffer, alone in its chain */
static void add_one(Vbaf *f, int n, uint64_t addr, uint32_t len, bool write,
                    bool notify)
{
    VbafQueue *q = &f->q[n];
    uint16_t head;

    if (!q->size) {
        return;
    }
    head = q->next_desc;
    q->next_desc = (q->next_desc + 1) % q->size;
    desc_write(f, q->desc + 16 * head, addr, len,
               write ? VRING_DESC_F_WRITE : 0, 0);
    avail_push(f, n, head, notify);
}

static void mark_inflated(Vbaf *f, uint32_t pfn)
{
    if (pfn < VBAF_RAM_PAGES) {
        set_bit(pfn, f->inflated);
    }
}

/*
 * A descriptor of @len bytes on the inflate or deflate queue names len / 4
 * PFNs, and QEMU discards each: charge them to the input's page budget,
 * and shorten the descriptor to what is left of it (keeping a length that
 * is not a multiple of 4).  Without it, one OP_BUF of 4 descriptors of up
 * to 64 KiB named 65,532 pages, and inputs of a few such took over 10 s.
 */
static uint32_t charge_pfn_bytes(Vbaf *f, uint32_t len)
{
    uint32_t pfns = MIN(len / 4, f->pages_left);

    f->pages_left -= pfns;
    return pfns * 4 + len % 4;
}

/*
 * OP_BUF: a chain of 1-4 descriptors on any queue, direct or indirect,
 * with the input's bytes, lengths, flags, addresses and next fields.
 */
static void op_buf(Vbaf *f, VbafIn *in)
{
    int n = in_u8(in) % VBAF_QUEUES;
    int ndesc = in_u8(in) % 4 + 1;
    uint8_t how = in_u8(in);
    bool indirect = how & 1, notify = !(how & 2);
    VbafQueue *q = &f->q[n];
    uint64_t table, at[4];
    uint16_t idx[4], head;
    size_t b;
    int i;

    if (!q->size) {
        return;
    }
    if (indirect) {
        table = data_alloc(f, 16 * ndesc);
        for (i = 0; i < ndesc; i++) {
            at[i] = table + 16 * i;
            idx[i] = i;
        }
    } else {
        for (i = 0; i < ndesc; i++) {
            idx[i] = q->next_desc;
            at[i] = q->desc + 16 * idx[i];
            q->next_desc = (q->next_desc + 1) % q->size;
        }
    }
    for (i = 0; i < ndesc; i++) {
        uint8_t fl = in_u8(in);
        uint8_t data[64];
        size_t nbytes = in_u8(in) % (sizeof(data) + 1);
        uint32_t len = nbytes;
        uint16_t flags = fl & 1 ? VRING_DESC_F_WRITE : 0;
        uint16_t next = i + 1 < ndesc ? idx[i + 1] : 0;
        uint64_t addr;

        in_bytes(in, data, nbytes);
        addr = data_put(f, data, nbytes);
        if (n == VBAF_IVQ && !(fl & 1)) {
            for (b = 0; b + 4 <= nbytes; b += 4) {
                mark_inflated(f, ldl_le_p(data + b));
            }
        }
        if (fl & 2) {
            addr = in_u64(in);
        }
        if (fl & 4) {
            len = in_u16(in);
        }
        if (n == VBAF_IVQ || n == VBAF_DVQ) {
            len = charge_pfn_bytes(f, len);
        }
        if (i + 1 < ndesc) {
            flags |= VRING_DESC_F_NEXT;
        }
        if (fl & 8) {
            next = in_u8(in);
        }
        /*
         * A table the input points at names lengths this function did not
         * write and cannot charge: on the inflate and deflate queues only
         * the tables built above (@indirect) are indirect.
         */
        if ((fl & 16) && n != VBAF_IVQ && n != VBAF_DVQ) {
            flags ^= VRING_DESC_F_INDIRECT;
        }
        if (fl & 32) {
            flags ^= VRING_DESC_F_NEXT;
        }
        desc_write(f, at[i], addr, len, flags, next);
    }
    if (indirect) {
        head = q->next_desc;
        q->next_desc = (q->next_desc + 1) % q->size;
        desc_write(f, q->desc + 16 * head, table, 16 * ndesc,
                   VRING_DESC_F_INDIRECT, 0);
    } else {
        head = idx[0];
    }
    avail_push(f, n, head, notify);
}

/* OP_MSG: a message on the message queue, mostly well-formed */
static void op_msg(Vbaf *f, VbafIn *in)
{
    uint8_t how = in_u8(in);
    struct {
        uint16_t type;
        uint16_t flags;
        uint32_t level;
    } QEMU_PACKED msg = {
        .type = cpu_to_le16(in_u8(in) % 4),
        .flags = cpu_to_le16(how & 1 ? in_u16(in) : 0),
        .level = cpu_to_le32(in_u8(in) % 4),
    };
    size_t len = how & 2 ? in_u8(in) % (sizeof(msg) + 2) : sizeof(msg);
    uint64_t addr = data_put(f, &msg, sizeof(msg));

    add_one(f, VBAF_MSG_VQ, addr, len, how & 4, !(how & 8));
}

/* A value of 0 to 2^63 with few bits, or all ones */
static uint64_t in_magnitude(VbafIn *in)
{
    uint8_t shift = in_u8(in);
    uint64_t mant = in_u16(in);

    if (shift >= 0xf8) {
        return UINT64_MAX - (shift & 7);
    }
    return mant << (shift % 48);
}

/* OP_STATS: a stats buffer of tag/value pairs, tags 0-17 */
static void op_stats(Vbaf *f, VbafIn *in)
{
    struct {
        uint16_t tag;
        uint64_t val;
    } QEMU_PACKED st[VIRTIO_BALLOON_S_NR + 2];
    int n = in_u8(in) % (ARRAY_SIZE(st) + 1);
    uint8_t how = in_u8(in);
    size_t len = n * sizeof(st[0]);
    int i;

    for (i = 0; i < n; i++) {
        st[i].tag = cpu_to_le16(in_u8(in) % ARRAY_SIZE(st));
        st[i].val = cpu_to_le64(in_magnitude(in));
    }
    if (how & 1) {
        len = in_u8(in) % (len + 8);
    }
    add_one(f, VBAF_SVQ, data_put(f, st, n * sizeof(st[0])), len, how & 2,
            !(how & 4));
}

static uint32_t balloon_pfn(uint64_t i)
{
    return VBAF_BALLOON_PFN + i % VBAF_BALLOON_PAGES;
}

/* One buffer of @n PFNs on queue @vq */
static void send_pfns(Vbaf *f, int vq, const uint32_t *pfns, size_t n,
                      bool notify)
{
    g_autofree uint32_t *le = g_new(uint32_t, MAX(n, 1));
    size_t i;

    for (i = 0; i < n; i++) {
        le[i] = cpu_to_le32(pfns[i]);
        if (vq == VBAF_IVQ) {
            mark_inflated(f, pfns[i]);
        }
    }
    add_one(f, vq, data_put(f, le, n * 4), n * 4, false, notify);
}

/* OP_PFNS: PFNs on the inflate or deflate queue, in RAM or anywhere */
static void op_pfns(Vbaf *f, VbafIn *in)
{
    uint8_t how = in_u8(in);
    int vq = how & 1 ? VBAF_DVQ : VBAF_IVQ;
    size_t n = in_u8(in) + 1;
    uint32_t base = in_u16(in), stride = in_u8(in) % 4;
    uint32_t pfns[VBAF_PFNS_PER_BUF];
    size_t i;

    n = MIN(n, MAX(f->pages_left, 1));
    f->pages_left -= MIN(f->pages_left, n);
    for (i = 0; i < n; i++) {
        pfns[i] = balloon_pfn(base + i * stride);
    }
    if (how & 2) {
        pfns[0] = in_u32(in);
    }
    send_pfns(f, vq, pfns, n, !(how & 4));
    if (vq == VBAF_IVQ) {
        f->given += n;
    } else {
        f->given -= MIN(f->given, n);
    }
}

/*
 * OP_FOLLOW: the driver catches up with num_pages as Linux does (pages,
 * then 'actual'), or stops half-way, or writes 'actual' without pages.
 */
static void op_follow(Vbaf *f, VbafIn *in)
{
    uint8_t how = in_u8(in);
    uint32_t target = cfg_num_pages(f);
    uint32_t pfns[VBAF_PFNS_PER_BUF];
    uint32_t todo, done = 0;
    int vq;

    if (how & 1) {
        cfg_write_actual(f, target);
        return;
    }
    vq = target >= f->given ? VBAF_IVQ : VBAF_DVQ;
    todo = target >= f->given ? target - f->given : f->given - target;
    todo = MIN(todo, how & 2 ? VBAF_FOLLOW_MAX / 8 : VBAF_FOLLOW_MAX);
    todo = MIN(todo, f->pages_left);
    f->pages_left -= todo;
    while (done < todo) {
        uint32_t k = MIN(todo - done, VBAF_PFNS_PER_BUF);
        uint32_t i;

        for (i = 0; i < k; i++) {
            pfns[i] = balloon_pfn(f->pfn_cursor++ % VBAF_FOLLOW_PFNS);
        }
        send_pfns(f, vq, pfns, k, true);
        done += k;
    }
    f->given = vq == VBAF_IVQ ? f->given + done : f->given - done;
    if (!(how & 4)) {
        cfg_write_actual(f, f->given);
    }
}

/* OP_CONFIG: a write of any width anywhere in (and past) config space */
static void op_config(Vbaf *f, VbafIn *in)
{
    uint64_t off = f->pci->device_cfg_offset + in_u8(in) % 24;
    uint8_t width = in_u8(in) % 3;
    uint32_t v = in_u32(in);

    if (width == 0) {
        wr8(f, off, v);
    } else if (width == 1) {
        wr16(f, off, v);
    } else {
        wr32(f, off, v);
    }
}

/* OP_ACTUAL: 'actual' near the target, past RAM or anything */
static void op_actual(Vbaf *f, VbafIn *in)
{
    uint8_t how = in_u8(in);
    uint32_t target = cfg_num_pages(f);
    uint32_t delta = in_u16(in);
    uint32_t v;

    switch (how % 5) {
    case 0:
        v = target + delta;
        break;
    case 1:
        v = target - MIN(target, delta);
        break;
    case 2:
        v = VBAF_RAM_PAGES + delta - 0x8000;
        break;
    case 3:
        v = f->given;
        break;
    default:
        v = delta | (uint32_t)in_u16(in) << 16;
        break;
    }
    cfg_write_actual(f, v);
}

static QDict *cmd_new(const char *execute, QDict *args)
{
    QDict *cmd = qdict_new();

    qdict_put_str(cmd, "execute", execute);
    if (args) {
        qdict_put(cmd, "arguments", args);
    }
    return cmd;
}

/* Run @cmd (taking it) and return the response, which QEMU must give */
static QDict *qmp_call(Vbaf *f, QDict *cmd)
{
    QDict *rsp = f->host.qmp(f->host.opaque, cmd);

    qobject_unref(cmd);
    g_assert(rsp);
    g_assert(qdict_haskey(rsp, "return") || qdict_haskey(rsp, "error"));
    return rsp;
}

/* Run @cmd (taking it); true if it succeeded */
static bool qmp_run(Vbaf *f, QDict *cmd)
{
    QDict *rsp = qmp_call(f, cmd);
    bool ok = qdict_haskey(rsp, "return");

    qobject_unref(rsp);
    return ok;
}

static void op_inject(Vbaf *f, VbafIn *in)
{
    static const char *const levels[] = { "low", "medium", "critical",
                                          "none" };
    QDict *args = qdict_new();

    qdict_put_str(args, "path", VBAF_BACKEND);
    qdict_put_str(args, "property", "x-inject-host-pressure");
    qdict_put_str(args, "value", levels[in_u8(in) % ARRAY_SIZE(levels)]);
    qmp_run(f, cmd_new("qom-set", args));
}

/* OP_CLOCK: 1 ms to 5 min of guest time, within the input's budget */
static void op_clock(Vbaf *f, VbafIn *in)
{
    static const int64_t unit_ns[] = {
        1000 * 1000, 100 * 1000 * 1000, 1000 * 1000 * 1000LL,
        5 * 1000 * 1000 * 1000LL
    };
    uint8_t b = in_u8(in);
    int64_t ns = MIN(unit_ns[b >> 6] * ((b & 63) + 1), f->clock_left_ns);

    if (ns > 0) {
        qtest_clock_step(f->qts, ns);
        f->clock_left_ns -= ns;
    }
}

/*
 * OP_INIT: the standard driver start, with features taken away or added
 * as the input says (without VERSION_1 the device refuses FEATURES_OK).
 */
static void driver_init(Vbaf *f, uint8_t drop, uint64_t extra, bool reset)
{
    static const int bits[] = {
        VIRTIO_BALLOON_F_STATS_VQ, VBAF_F_MESSAGE_VQ,
        VIRTIO_BALLOON_F_DEFLATE_ON_OOM, VIRTIO_BALLOON_F_REPORTING,
        VIRTIO_F_VERSION_1, VIRTIO_RING_F_EVENT_IDX,
        VIRTIO_RING_F_INDIRECT_DESC,
    };
    uint64_t features = f->host_features | extra;
    int i;

    for (i = 0; i < ARRAY_SIZE(bits); i++) {
        if (drop & (1u << i)) {
            features &= ~(1ull << bits[i]);
        }
    }
    if (reset) {
        write_status(f, 0);
    }
    write_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    write_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    write_features(f, features);
    write_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                    VIRTIO_CONFIG_S_FEATURES_OK);
    for (i = 0; i < VBAF_DEVICE_QUEUES; i++) {
        queue_setup(f, i, 0, true);
    }
    write_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                    VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
    f->given = 0;
}

static void op_init(Vbaf *f, VbafIn *in)
{
    uint8_t drop = in_u8(in);
    uint64_t extra = drop & 0x80 ? 1ull << (in_u8(in) % 64) : 0;

    driver_init(f, drop, extra, true);
}

static void op_queue(Vbaf *f, VbafIn *in)
{
    int n = in_u8(in) % VBAF_QUEUES;
    uint8_t how = in_u8(in);
    uint16_t size = 0;

    if (how & 1) {
        size = how & 2 ? in_u16(in) : 1u << (in_u8(in) % 11);
    }
    queue_setup(f, n, size, !(how & 4));
}

/* Values for sizes (bytes) and times (ms) that mean something, or any */
static uint64_t in_size(VbafIn *in)
{
    static const uint64_t sizes[] = {
        0, VBAF_PAGE, MiB, 2 * MiB, 4 * MiB, 8 * MiB, 16 * MiB, 32 * MiB,
        64 * MiB, 96 * MiB, 124 * MiB, 128 * MiB, 256 * MiB, GiB, 4095,
        INT64_MAX, UINT64_MAX,
    };
    uint8_t i = in_u8(in);

    return i < ARRAY_SIZE(sizes) ? sizes[i] : in_u64(in);
}

static uint32_t in_ms(VbafIn *in)
{
    static const uint32_t ms[] = {
        0, 1, 10, 100, 1000, 5000, 30000, 60000, 3600000, UINT32_MAX,
    };
    uint8_t i = in_u8(in);

    return i < ARRAY_SIZE(ms) ? ms[i] : in_u32(in);
}

/* OP_SET_AUTO: set-auto-balloon with any of its arguments */
static void op_set_auto(Vbaf *f, VbafIn *in)
{
    static const struct {
        const char *name;
        bool u32;       /* a uint32 (ms, percent, shares), else a size */
    } args[] = {
        { "inflate-low" }, { "inflate-medium" }, { "inflate-critical" },
        { "deflate" }, { "throttle-ms", true }, { "hysteresis-ms", true },
        { "stall-ms", true }, { "floor" }, { "reserve" },
        { "reserve-pct", true }, { "relief-ms", true }, { "relief-step" },
        { "shares", true },
        /* from here on, only with bit 15 (a second byte of flags) */
        { "high-watermark-pct", true }, { "low-watermark-pct", true },
    };
    /* bit 0: give enabled, bit 1: its value, bits 2-14: args 0-12 */
    uint32_t which = in_u16(in);
    QDict *a = qdict_new();
    int i;

    if (which & 0x8000) {
        which |= (uint32_t)in_u8(in) << 16;     /* args 13- */
    }
    if (which & 1) {
        qdict_put_bool(a, "enabled", which & 2);
    }
    for (i = 0; i < ARRAY_SIZE(args); i++) {
        if (which & (i < 13 ? 4u << i : 1u << (16 + i - 13))) {
            if (args[i].u32) {
                qdict_put_int(a, args[i].name, in_ms(in));
            } else {
                qdict_put(a, args[i].name, qnum_from_uint(in_size(in)));
            }
        }
    }
    f->qmp_dirty = true;
    qmp_run(f, cmd_new("set-auto-balloon", a));
}

/* OP_BALLOON: the manual command, refused while automatic mode is on */
static void op_balloon(Vbaf *f, VbafIn *in)
{
    QDict *a = qdict_new();

    qdict_put_int(a, "value", (int64_t)in_size(in));
    f->qmp_dirty = true;
    qmp_run(f, cmd_new("balloon", a));
}

static uint64_t get_u64(QDict *d, const char *key)
{
    QNum *n = qobject_to(QNum, qdict_get(d, key));
    uint64_t v;

    g_assert(n);
    g_assert(qnum_get_try_uint(n, &v));
    return v;
}

/*
 * QEMU answers query-auto-balloon, and what it says holds together: the
 * balloon is never larger than RAM, and the host event counters add up
 * (host events = immediate + throttled + ignored, none negative).  Unless
 * management stepped in, automatic mode is on and the guest keeps its
 * floor, whatever the guest did.
 */
static void check(Vbaf *f)
{
    QDict *rsp = qmp_call(f, cmd_new("query-auto-balloon", NULL));
    QDict *info, *c;
    uint64_t host;

    info = qdict_get_qdict(rsp, "return");
    g_assert(info);
    g_assert_cmpuint(get_u64(info, "target"), <=, VBAF_RAM);
    g_assert_cmpuint(get_u64(info, "actual"), <=, VBAF_RAM);
    if (!f->qmp_dirty) {
        g_assert_true(qdict_get_bool(info, "enabled"));
        g_assert_cmpuint(get_u64(info, "target"), >=,
                         get_u64(f->tunables, "floor"));
    }
    c = qdict_get_qdict(info, "counters");
    g_assert(c);
    host = get_u64(c, "host-events-low") + get_u64(c, "host-events-medium") +
           get_u64(c, "host-events-critical");
    g_assert_cmpuint(get_u64(c, "throttled"), <=, host);
    g_assert_cmpuint(get_u64(c, "ignored"), <=, host);
    g_assert_cmpuint(get_u64(c, "inflates-immediate"), <=, host);
    g_assert_cmpuint(get_u64(c, "inflates-immediate") +
                     get_u64(c, "throttled") + get_u64(c, "ignored"), ==,
                     host);
    qobject_unref(rsp);
    g_assert_cmpuint(cfg_num_pages(f), <=, VBAF_RAM_PAGES);
}

/* What the fuzz target writes to make guest RAM resident */
#define VBAF_TOUCH_BYTE     0x5a

/* Clear all rings, and the first @data_len bytes of the data area */
static void clear_driver_memory(Vbaf *f, uint64_t data_len)
{
    vba_fill_ram(f->qts, VBAF_RING_BASE, VBAF_QUEUES * VBAF_RING_STRIDE, 0);
    if (data_len) {
        vba_fill_ram(f->qts, VBAF_DATA_BASE, data_len, 0);
    }
}

/* Write guest RAM, so that the host holds it */
static void touch(Vbaf *f, uint64_t addr, uint64_t len)
{
    vba_fill_ram(f->qts, addr, len, VBAF_TOUCH_BYTE);
}

/* OP_TOUCH: make 1 MiB of guest RAM resident (as a guest using it) */
static void op_touch(Vbaf *f, VbafIn *in)
{
    uint64_t mib = 16 + in_u8(in) % (VBAF_RAM_MIB - 16);

    touch(f, mib * MiB, MiB);
}

/* Make the pages the balloon discarded in this input resident again */
static void retouch(Vbaf *f)
{
    unsigned long start = find_first_bit(f->inflated, VBAF_RAM_PAGES);

    while (start < VBAF_RAM_PAGES) {
        unsigned long end = find_next_zero_bit(f->inflated, VBAF_RAM_PAGES,
                                               start);

        touch(f, (uint64_t)start * VBAF_PAGE, (end - start) * VBAF_PAGE);
        start = find_next_bit(f->inflated, VBAF_RAM_PAGES, end);
    }
    /* Touching rings or buffers dirtied them: clear all of them next */
    if (find_next_bit(f->inflated, VBAF_DATA_END_PFN, VBAF_RING_BASE_PFN) <
        VBAF_DATA_END_PFN) {
        f->data_end = VBAF_DATA_BASE + VBAF_DATA_SIZE;
    }
    bitmap_zero(f->inflated, VBAF_RAM_PAGES);
}

static void run_op(Vbaf *f, VbafIn *in)
{
    switch (in_u8(in) % OP__MAX) {
    case OP_BUF:
        op_buf(f, in);
        break;
    case OP_MSG:
        op_msg(f, in);
        break;
    case OP_STATS:
        op_stats(f, in);
        break;
    case OP_PFNS:
        op_pfns(f, in);
        break;
    case OP_FOLLOW:
        op_follow(f, in);
        break;
    case OP_CONFIG:
        op_config(f, in);
        break;
    case OP_ACTUAL:
        op_actual(f, in);
        break;
    case OP_INJECT:
        op_inject(f, in);
        break;
    case OP_CLOCK:
        op_clock(f, in);
        break;
    case OP_KICK:
        kick(f, in_u8(in) % VBAF_QUEUES);
        break;
    case OP_STATUS:
        write_status(f, in_u8(in));
        break;
    case OP_FEATURES:
        write_features(f, in_u64(in));
        break;
    case OP_QUEUE:
        op_queue(f, in);
        break;
    case OP_INIT:
        op_init(f, in);
        break;
    case OP_SYSTEM_RESET:
        /*
         * One in 8: a machine reset costs more than all else an input
         * does (it resets every device and all 1024 virtqueue slots of
         * the balloon), and once in an input is as good as twice.
         */
        if (in_u8(in) % 8 == 0) {
            f->host.system_reset(f->host.opaque);
            attach(f);
        }
        break;
    case OP_SET_AUTO:
        op_set_auto(f, in);
        break;
    case OP_BALLOON:
        op_balloon(f, in);
        break;
    case OP_QUERY:
        check(f);
        break;
    case OP_TOUCH:
        op_touch(f, in);
        break;
    default:
        g_assert_not_reached();
    }
}

void vbaf_run(Vbaf *f, const uint8_t *data, size_t size)
{
    VbafIn in = { .p = data, .left = size };
    int n = 0;

    /*
     * The previous input ended with a reset (and vbaf_new is fresh).  Its
     * rings and buffers are still in guest RAM: clear them, or a queue
     * (or a descriptor) of this input pointing at them would replay what
     * the previous input left there, so that an input would do something
     * else in the replay test, and, in the fuzzer, the device popped up to
     * 65,536 stale 256-page buffers in one input.
     */
    clear_driver_memory(f, f->data_end ? f->data_end - VBAF_DATA_BASE : 0);
    driver_init(f, 0, 0, false);
    f->data_next = VBAF_DATA_BASE;
    f->data_end = 0;
    f->pfn_cursor = 0;
    f->clock_left_ns = VBAF_CLOCK_BUDGET_NS;
    f->pages_left = VBAF_PAGE_BUDGET;
    f->qmp_dirty = false;
    while (in.left && n++ < VBAF_MAX_OPS) {
        run_op(f, &in);
    }
    f->ops += n;
    f->runs++;

    check(f);
    if (f->qmp_dirty) {
        QDict *a = qdict_clone_shallow(f->tunables);

        qdict_put_bool(a, "enabled", true);
        g_assert(qmp_run(f, cmd_new("set-auto-balloon", a)));
    }
    write_status(f, 0);
    retouch(f);
}

uint64_t vbaf_ops(const Vbaf *f)
{
    return f->ops;
}

Vbaf *vbaf_new(QTestState *qts, const VbafHost *host)
{
    Vbaf *f = g_new0(Vbaf, 1);
    QPCIAddress addr = { .devfn = VBAF_DEVFN };
    QDict *rsp, *info;

    f->qts = qts;
    f->host = *host;
    f->inflated = bitmap_new(VBAF_RAM_PAGES);
    /*
     * A guest that has run has touched its RAM: the host holds it.  Rings
     * and buffers start clear, as at the start of every input.
     */
    touch(f, MiB, VBAF_RAM - MiB);
    clear_driver_memory(f, VBAF_DATA_SIZE);
    f->bus = qpci_new_pc(qts, NULL);
    f->pci = virtio_pci_new(f->bus, &addr);
    g_assert(f->pci);
    f->pio_alloc_ptr = f->bus->pio_alloc_ptr;
    f->mmio_alloc_ptr = f->bus->mmio_alloc_ptr;
    attach(f);
    f->host_features = read_host_features(f);
    g_assert(f->host_features & (1ull << VBAF_F_MESSAGE_VQ));

    rsp = qmp_call(f, cmd_new("query-auto-balloon", NULL));
    info = qdict_get_qdict(rsp, "return");
    g_assert(info);
    f->tunables = qdict_get_qdict(info, "tunables");
    g_assert(f->tunables);
    qobject_ref(f->tunables);
    qobject_unref(rsp);
    return f;
}

void vbaf_free(Vbaf *f)
{
    qobject_unref(f->tunables);
    g_free(f->inflated);
    g_free(f->pci->pdev);
    g_free(f->pci);
    qpci_free_pc(f->bus);
    g_free(f);
}
