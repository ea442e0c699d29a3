/*
 * virtio-balloon automatic mode: QMP commands
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-auto-balloon.h"
#include "qom/object.h"
#include "hw/virtio/virtio-balloon.h"
#include "hw/virtio/virtio-balloon-auto.h"

/*
 * The balloon device with automatic=on.  Errors are GenericError, as
 * include/qapi/error.h asks of new commands; query-balloon's
 * DeviceNotActive is kept there for compatibility only.  QEMU accepts one
 * balloon device at most.
 */
static VirtIOBalloon *auto_balloon_find(Error **errp)
{
    Object *obj = object_resolve_path_type("", TYPE_VIRTIO_BALLOON, NULL);
    VirtIOBalloon *s = obj ? VIRTIO_BALLOON(obj) : NULL;

    if (!s || !DEVICE(s)->realized) {
        error_setg(errp, "No balloon device has been activated");
        return NULL;
    }
    if (!s->auto_state) {
        error_setg(errp,
                   "The balloon device was not created with automatic=on");
        return NULL;
    }
    return s;
}

AutoBalloonInfo *qmp_query_auto_balloon(Error **errp)
{
    VirtIOBalloon *s = auto_balloon_find(errp);
    AutoBalloonInfo *info;

    if (!s) {
        return NULL;
    }
    info = g_new0(AutoBalloonInfo, 1);
    virtio_balloon_auto_query(s, info);
    return info;
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
    VirtIOBalloon *s = auto_balloon_find(errp);
    VirtIOBalloonAutoProps p;

    if (!s) {
        return;
    }
    /* Start from the current values: what is not given stays as it is */
    p = s->auto_props;
    if (has_inflate_low) {
        p.inflate_low = inflate_low;
    }
    if (has_inflate_medium) {
        p.inflate_medium = inflate_medium;
    }
    if (has_inflate_critical) {
        p.inflate_critical = inflate_critical;
    }
    if (has_deflate) {
        p.deflate = deflate;
    }
    if (has_throttle_ms) {
        p.throttle_ms = throttle_ms;
    }
    if (has_hysteresis_ms) {
        p.hysteresis_ms = hysteresis_ms;
    }
    if (has_stall_ms) {
        p.stall_ms = stall_ms;
    }
    if (has_floor) {
        p.floor = floor;
    }
    if (has_reserve) {
        p.reserve = reserve;
    }
    if (has_reserve_pct) {
        p.reserve_pct = reserve_pct;
    }
    if (has_relief_ms) {
        p.relief_ms = relief_ms;
    }
    if (has_relief_step) {
        p.relief_step = relief_step;
    }
    if (has_high_watermark_pct) {
        p.high_watermark_pct = high_watermark_pct;
    }
    if (has_low_watermark_pct) {
        p.low_watermark_pct = low_watermark_pct;
    }
    if (has_shares) {
        p.shares = shares;
    }
    virtio_balloon_auto_configure(s, &p, has_enabled ? enabled :
                                  virtio_balloon_auto_enabled(s), source,
                                  errp);
}
