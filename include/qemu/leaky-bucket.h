/*
 * One event through QEMU's leaky bucket on a clock passed in
 *
 * include/qemu/throttle.h has the bucket (throttle_leak_bucket(),
 * throttle_compute_wait()) but leaves keeping its clock to the caller,
 * the block layer's ThrottleState.  The automatic balloon's two wake-up
 * budgets (util/host-pressure-vmpressure.c and the policy's
 * BalloonAutoBudget) keep theirs the same way, here.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QEMU_LEAKY_BUCKET_H
#define QEMU_LEAKY_BUCKET_H

#include "qemu/throttle.h"

/*
 * Leak @bkt for the time from *@leaked_ns to @now (ns of the caller's
 * clock; INT64_MIN: never leaked, so the bucket drains fully), then add
 * one event.  A clock that went back leaks nothing and moves nothing, so
 * that the time is not credited twice when it comes forward again.
 * Returns throttle_compute_wait()'s answer, in ns: 0 when the event fits
 * the budget.  The event stays in the bucket either way; a caller that
 * refuses it takes it out again (bkt->level -= 1).
 */
static inline int64_t leaky_bucket_add_one(LeakyBucket *bkt,
                                           int64_t *leaked_ns, int64_t now)
{
    if (now > *leaked_ns) {
        throttle_leak_bucket(bkt, MIN((uint64_t)now - (uint64_t)*leaked_ns,
                                      INT64_MAX));
        *leaked_ns = now;
    }
    bkt->level += 1;
    return throttle_compute_wait(bkt);
}

#endif
