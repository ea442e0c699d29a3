/*
 * virtio-balloon automatic mode: device glue
 *
 * Wires the host pressure monitor and the guest's messages into the policy
 * core and applies its decisions to the device's num_pages.  Mechanism
 * (util/host-pressure*.c) and policy (virtio-balloon-auto-policy.c) know
 * nothing about the device; everything device-specific is here.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/iov.h"
#include "qemu/timer.h"
#include "qemu/host-pressure.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-balloon.h"
#include "hw/virtio/virtio-balloon-auto.h"
#include "hw/virtio/virtio-balloon-auto-policy.h"
#include "exec/memory.h"
#include "system/qtest.h"
#include "trace.h"

/* auto-source value that opens no source: qtests inject events instead */
#define AUTO_QTEST_SOURCE "qtest"

struct VirtIOBalloonAuto {
    VirtIOBalloon *dev;
    HostPressureMonitor *monitor;
    BalloonAutoPolicy policy;
    QEMUTimer *timer;
    VirtQueue *msg_vq;
    uint64_t malformed;
    BalloonAutoTiming timing;   /* staging area for migration */
};

static int64_t auto_now(void)
{
    return qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
}

static void auto_rearm(VirtIOBalloonAuto *a)
{
    int64_t deadline = balloon_auto_deadline(&a->policy);

    if (deadline == INT64_MAX) {
        timer_del(a->timer);
    } else {
        timer_mod(a->timer, deadline);
    }
}

/* Make the device follow the policy's decision. */
static void auto_apply(VirtIOBalloonAuto *a, BalloonAutoAction act)
{
    VirtIOBalloon *s = a->dev;

    if (act.kind == BALLOON_AUTO_NONE) {
        trace_virtio_balloon_auto_no_action(act.why, act.target, s->actual);
    } else {
        trace_virtio_balloon_auto_action(balloon_auto_action_str(act.kind),
                                         balloon_auto_reason_str(act.reason),
                                         act.why, act.target, s->actual);
    }
    /* num_pages is le32 in config space; the policy never exceeds RAM. */
    if (act.target != s->num_pages && act.target <= UINT32_MAX) {
        s->num_pages = act.target;
        virtio_notify_config(VIRTIO_DEVICE(s));
    }
    auto_rearm(a);
}

static void auto_host_event(VirtIOBalloonAuto *a, HostPressureLevel level)
{
    BalloonAutoLevel l = (BalloonAutoLevel)level;

    trace_virtio_balloon_auto_host_event(host_pressure_level_str(level));
    auto_apply(a, balloon_auto_host_event(&a->policy, l, auto_now()));
}

static void auto_host_pressure_cb(void *opaque, HostPressureLevel level)
{
    auto_host_event(opaque, level);
}

static void auto_source_gone_cb(void *opaque)
{
    VirtIOBalloonAuto *a = opaque;

    trace_virtio_balloon_auto_source_gone(
        host_pressure_monitor_path(a->monitor));
}

static void auto_timer_cb(void *opaque)
{
    VirtIOBalloonAuto *a = opaque;

    auto_apply(a, balloon_auto_timer(&a->policy, auto_now()));
}

/*
 * Message virtqueue.  The guest is not trusted: every buffer must hold
 * exactly one well-formed message; anything else is counted and dropped.
 */
static const char *auto_parse_msg(VirtQueueElement *elem,
                                  struct virtio_balloon_msg *msg)
{
    size_t size = iov_size(elem->out_sg, elem->out_num);

    if (elem->in_num) {
        return "device-writable buffer";
    }
    if (size != sizeof(*msg)) {
        return size < sizeof(*msg) ? "short buffer" : "oversized buffer";
    }
    iov_to_buf(elem->out_sg, elem->out_num, 0, msg, sizeof(*msg));
    msg->type = le16_to_cpu(msg->type);
    msg->flags = le16_to_cpu(msg->flags);
    msg->level = le32_to_cpu(msg->level);
    if (msg->flags) {
        return "reserved flags set";
    }
    if (msg->type != VIRTIO_BALLOON_MSG_PRESSURE) {
        return "unknown type";
    }
    if (msg->level > VIRTIO_BALLOON_MSG_LEVEL_CRITICAL) {
        return "unknown level";
    }
    return NULL;
}

static void auto_handle_msg(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOBalloon *s = VIRTIO_BALLOON(vdev);
    VirtIOBalloonAuto *a = s->auto_state;
    VirtQueueElement *elem;
    bool used = false;

    while ((elem = virtqueue_pop(vq, sizeof(VirtQueueElement)))) {
        struct virtio_balloon_msg msg = { 0 };
        const char *bad = auto_parse_msg(elem, &msg);

        if (bad) {
            a->malformed++;
            trace_virtio_balloon_auto_msg_dropped(bad, msg.type,
                iov_size(elem->out_sg, elem->out_num));
        } else {
            trace_virtio_balloon_auto_msg_pressure(msg.level);
            auto_apply(a, balloon_auto_guest_pressure(
                              &a->policy, BALLOON_AUTO_GUEST_MESSAGE,
                              auto_now()));
        }
        virtqueue_push(vq, elem, 0);
        g_free(elem);
        used = true;
    }
    if (used) {
        virtio_notify(vdev, vq);
    }
}

static bool auto_props_to_config(const VirtIOBalloonAutoProps *p,
                                 uint64_t ram_pages, BalloonAutoConfig *cfg,
                                 Error **errp)
{
    balloon_auto_config_default(cfg);
    cfg->inflate_pages[BALLOON_AUTO_LEVEL_LOW] =
        p->inflate_low >> VIRTIO_BALLOON_PFN_SHIFT;
    cfg->inflate_pages[BALLOON_AUTO_LEVEL_MEDIUM] =
        p->inflate_medium >> VIRTIO_BALLOON_PFN_SHIFT;
    cfg->inflate_pages[BALLOON_AUTO_LEVEL_CRITICAL] =
        p->inflate_critical >> VIRTIO_BALLOON_PFN_SHIFT;
    cfg->deflate_pages = p->deflate >> VIRTIO_BALLOON_PFN_SHIFT;
    cfg->throttle_ns = (int64_t)p->throttle_ms * SCALE_MS;
    cfg->hysteresis_ns = (int64_t)p->hysteresis_ms * SCALE_MS;
    cfg->stall_ns = (int64_t)p->stall_ms * SCALE_MS;
    cfg->floor_pages = p->floor >> VIRTIO_BALLOON_PFN_SHIFT;
    return balloon_auto_config_check(cfg, ram_pages, errp);
}

bool virtio_balloon_auto_realize(VirtIOBalloon *s, uint64_t ram_size,
                                 Error **errp)
{
    ERRP_GUARD();
    VirtIOBalloonAutoProps *p = &s->auto_props;
    uint64_t ram_pages = ram_size >> VIRTIO_BALLOON_PFN_SHIFT;
    g_autofree char *source = NULL;
    BalloonAutoConfig cfg;
    VirtIOBalloonAuto *a;

    if (!p->enabled) {
        return true;
    }
    if (!auto_props_to_config(p, ram_pages, &cfg, errp)) {
        error_prepend(errp, "automatic ballooning: ");
        return false;
    }
    /*
     * Inflating only helps the host if the guest's pages can really be
     * discarded; VFIO and friends pin all of guest RAM.  Requiring discard
     * also makes such devices refuse to plug in later.
     */
    if (ram_block_discard_require(true)) {
        error_setg(errp, "automatic ballooning needs to discard guest RAM,"
                   " but a device that pins guest memory (e.g. VFIO)"
                   " has disabled RAM discard");
        return false;
    }
    source = p->source ? g_strdup(p->source)
                       : host_pressure_default_source(errp);
    if (!source) {
        goto fail;
    }
    /* Test hook: no host source, qtests inject the events */
    if (!strcmp(source, AUTO_QTEST_SOURCE) && !qtest_enabled()) {
        error_setg(errp, "auto-source=%s is a test hook, only available"
                   " with the qtest accelerator", AUTO_QTEST_SOURCE);
        goto fail;
    }

    a = g_new0(VirtIOBalloonAuto, 1);
    a->dev = s;
    if (strcmp(source, AUTO_QTEST_SOURCE)) {
        a->monitor = host_pressure_monitor_new(source, auto_host_pressure_cb,
                                               auto_source_gone_cb, a, errp);
        if (!a->monitor) {
            g_free(a);
            goto fail;
        }
    }
    balloon_auto_init(&a->policy, &cfg, ram_pages, auto_now());
    a->timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, auto_timer_cb, a);
    s->auto_state = a;
    trace_virtio_balloon_auto_realize(source, a->monitor ?
        host_pressure_backend_str(host_pressure_monitor_backend(a->monitor)) :
        AUTO_QTEST_SOURCE);
    return true;

fail:
    error_prepend(errp, "automatic ballooning: ");
    ram_block_discard_require(false);
    return false;
}

/* The message queue comes after every optional queue the device offers. */
void virtio_balloon_auto_add_queues(VirtIOBalloon *s)
{
    VirtIOBalloonAuto *a = s->auto_state;

    if (a) {
        a->msg_vq = virtio_add_queue(VIRTIO_DEVICE(s),
                                     VIRTIO_BALLOON_MSG_VQ_SIZE,
                                     auto_handle_msg);
    }
}

void virtio_balloon_auto_unrealize(VirtIOBalloon *s)
{
    VirtIOBalloonAuto *a = s->auto_state;

    if (!a) {
        return;
    }
    host_pressure_monitor_free(a->monitor);
    timer_free(a->timer);
    if (a->msg_vq) {
        virtio_delete_queue(a->msg_vq);
    }
    ram_block_discard_require(false);
    g_free(a);
    s->auto_state = NULL;
}

/*
 * Device reset (guest reboot, driver load or unload): the guest has all of
 * its memory back, so start from a clean slate rather than re-inflating to
 * a target chosen for the previous driver instance.
 */
void virtio_balloon_auto_reset(VirtIOBalloon *s)
{
    VirtIOBalloonAuto *a = s->auto_state;

    if (!a) {
        return;
    }
    balloon_auto_reset(&a->policy, auto_now());
    s->num_pages = 0;
    s->actual = 0;
    timer_del(a->timer);
    trace_virtio_balloon_auto_reset();
}

void virtio_balloon_auto_get_features(VirtIOBalloon *s, uint64_t *features)
{
    if (s->auto_props.enabled) {
        virtio_add_feature(features, VIRTIO_BALLOON_F_MESSAGE_VQ);
    }
}

void virtio_balloon_auto_actual_changed(VirtIOBalloon *s)
{
    VirtIOBalloonAuto *a = s->auto_state;

    if (a) {
        auto_apply(a, balloon_auto_actual_changed(&a->policy, s->actual,
                                                  auto_now()));
    }
}

/*
 * Test hook: inject a host pressure event as if the monitor had reported
 * it, so that qtests can drive the policy deterministically.  Only
 * available with the qtest accelerator.
 */
static void auto_inject_set(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    VirtIOBalloon *s = VIRTIO_BALLOON(obj);
    g_autofree char *value = NULL;
    int level;

    if (!visit_type_str(v, name, &value, errp)) {
        return;
    }
    if (!qtest_enabled()) {
        error_setg(errp, "'%s' is a test hook, only available with the"
                   " qtest accelerator", name);
        return;
    }
    if (!s->auto_state) {
        error_setg(errp, "automatic ballooning is not enabled");
        return;
    }
    for (level = 0; level < HOST_PRESSURE__MAX; level++) {
        if (!strcmp(value, host_pressure_level_str(level))) {
            auto_host_event(s->auto_state, level);
            return;
        }
    }
    error_setg(errp, "'%s' expects low, medium or critical, not '%s'",
               name, value);
}

/* Balloon size the automatic mode currently asks for, in bytes. */
static void auto_target_get(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    VirtIOBalloon *s = VIRTIO_BALLOON(obj);
    uint64_t value = (uint64_t)s->num_pages << VIRTIO_BALLOON_PFN_SHIFT;

    visit_type_uint64(v, name, &value, errp);
}

void virtio_balloon_auto_instance_init(Object *obj)
{
    object_property_add(obj, "x-inject-host-pressure", "str", NULL,
                        auto_inject_set, NULL, NULL);
    object_property_add(obj, "auto-target", "uint64", auto_target_get,
                        NULL, NULL, NULL);
}

static bool auto_vmstate_needed(void *opaque)
{
    VirtIOBalloon *s = opaque;

    return s->auto_state != NULL;
}

static int auto_pre_save(void *opaque)
{
    VirtIOBalloonAuto *a = opaque;

    balloon_auto_get_timing(&a->policy, &a->timing);
    return 0;
}

/*
 * num_pages and actual travel in the main section; the timing state is on
 * QEMU_CLOCK_VIRTUAL, which migrates, so the destination continues the
 * same guest-pressure window, throttle and stall detection.
 */
static int auto_post_load(void *opaque, int version_id)
{
    VirtIOBalloonAuto *a = opaque;
    VirtIOBalloon *s = a->dev;

    balloon_auto_sync(&a->policy, s->num_pages, s->actual, auto_now());
    balloon_auto_set_timing(&a->policy, &a->timing);
    auto_rearm(a);
    return 0;
}

static const VMStateDescription vmstate_auto_state = {
    .name = "virtio-balloon-auto-state",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = auto_pre_save,
    .post_load = auto_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_INT64(timing.window_end, VirtIOBalloonAuto),
        VMSTATE_INT64(timing.last_inflate, VirtIOBalloonAuto),
        VMSTATE_INT64(timing.last_progress, VirtIOBalloonAuto),
        VMSTATE_BOOL(timing.stalled, VirtIOBalloonAuto),
        VMSTATE_END_OF_LIST()
    }
};

/*
 * Only sent with automatic=on; a destination without it does not know the
 * subsection and fails the migration instead of silently dropping the mode.
 */
const VMStateDescription vmstate_virtio_balloon_auto = {
    .name = "virtio-balloon-device/auto",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = auto_vmstate_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT_POINTER(auto_state, VirtIOBalloon, vmstate_auto_state,
                               VirtIOBalloonAuto),
        VMSTATE_END_OF_LIST()
    }
};
