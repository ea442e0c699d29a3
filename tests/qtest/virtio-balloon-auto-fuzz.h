/*
 * Fuzzing automatic ballooning: the input decoder, shared by the
 * libFuzzer target (tests/qtest/fuzz/virtio_balloon_auto_fuzz.c) and the
 * replay qtest (virtio-balloon-auto-fuzz-replay-test.c)
 *
 * An input is a sequence of guest (and management) operations on a PC
 * with one virtio-balloon-pci in automatic mode: feature negotiation,
 * queue set-up, buffers on every queue (message, stats, inflate, deflate,
 * free page reporting), config writes of any width, device status
 * writes, host pressure, clock steps, device and system resets,
 * set-auto-balloon and balloon.  The decoder talks to QEMU through
 * libqtest and libqos only, so the same input does the same thing in the
 * fuzzer (in-process qtest) and in a qtest (a QEMU process); what differs
 * (running a QMP command, resetting the machine) comes from the caller.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VIRTIO_BALLOON_AUTO_FUZZ_H
#define VIRTIO_BALLOON_AUTO_FUZZ_H

#include "qobject/qdict.h"
#include "libqtest.h"

/* Guest RAM, in MiB: small, so that measuring its residency is cheap */
#define VBAF_RAM_MIB        128

/*
 * The machine both callers start (the fuzzer adds -machine accel=qtest).
 * free-page-reporting=on adds the reporting queue, so the message queue
 * is at index 4, after every optional queue (the queue index rule).  No
 * PIT or HPET: with no guest to program them, the PIT would tick 18 times
 * per second of guest time and make clock steps the bulk of the work.
 */
#define VBAF_QEMU_ARGS \
    "-machine pc,pit=off,hpet=off -m 128M -nodefaults " \
    "-device virtio-balloon-pci,id=balloon0,addr=04.0,automatic=on," \
    "auto-source=qtest,free-page-reporting=on,x-auto-message-queue=on"

/* Stop decoding an input after this many operations */
#define VBAF_MAX_OPS        256

/*
 * Guest time one input may advance, in ns: QEMU_CLOCK_VIRTUAL never goes
 * back, and a fuzzer runs ~10^8 inputs in one process, so the total must
 * stay far from INT64_MAX.  Two minutes cover the default hysteresis
 * (60 s), relief (30 s) and stall (30 s) windows.
 */
#define VBAF_CLOCK_BUDGET_NS    (120 * 1000 * 1000 * 1000LL)

typedef struct VbafHost {
    /*
     * Run one QMP command (a dict with "execute" and maybe "arguments",
     * which stays the caller's) and return the response, with "return"
     * or "error".
     */
    QDict *(*qmp)(void *opaque, QDict *cmd);
    /* Reset the machine as system_reset does; done when it returns */
    void (*system_reset)(void *opaque);
    void *opaque;
} VbafHost;

typedef struct Vbaf Vbaf;

/*
 * Find the balloon of VBAF_QEMU_ARGS on @qts, make guest RAM resident and
 * remember the tunables to restore after each input.
 */
Vbaf *vbaf_new(QTestState *qts, const VbafHost *host);
/*
 * Run one input, then check that QEMU answers query-auto-balloon with
 * consistent values, and bring the device back to where it started
 * (automatic mode on with its tunables, device reset).  A failed check
 * aborts (g_assert).
 */
void vbaf_run(Vbaf *f, const uint8_t *data, size_t size);
/* Operations run and inputs run so far */
uint64_t vbaf_ops(const Vbaf *f);
void vbaf_free(Vbaf *f);

#endif
