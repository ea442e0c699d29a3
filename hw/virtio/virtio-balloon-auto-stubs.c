/*
 * virtio-balloon automatic mode: QMP commands where there is no
 * virtio-balloon device in the build
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-auto-balloon.h"

static void auto_balloon_unavailable(Error **errp)
{
    error_setg(errp, "No balloon device has been activated");
}

AutoBalloonInfo *qmp_query_auto_balloon(Error **errp)
{
    auto_balloon_unavailable(errp);
    return NULL;
}

void qmp_set_auto_balloon(bool has_enabled, bool enabled,
                          const char *source,
                          bool has_inflate_low, uint64_t inflate_low,
                          bool has_inflate_medium, uint64_t inflate_medium,
                          bool has_inflate_critical, uint64_t inflate_critical,
                          bool has_deflate, uint64_t deflate,
                          bool has_throttle_ms, uint32_t throttle_ms,
                          bool has_hysteresis_ms, uint32_t hysteresis_ms,
                          bool has_stall_ms, uint32_t stall_ms,
                          bool has_floor, uint64_t floor,
                          bool has_reserve, uint64_t reserve,
                          bool has_reserve_pct, uint32_t reserve_pct,
                          bool has_relief_ms, uint32_t relief_ms,
                          bool has_relief_step, uint64_t relief_step,
                          bool has_high_watermark_pct,
                          uint32_t high_watermark_pct,
                          bool has_low_watermark_pct,
                          uint32_t low_watermark_pct,
                          bool has_shares, uint32_t shares,
                          Error **errp)
{
    auto_balloon_unavailable(errp);
}
