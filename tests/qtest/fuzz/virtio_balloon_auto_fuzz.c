/*
 * virtio-balloon automatic mode fuzzing target
 *
 * Everything the guest controls in automatic mode, plus the host events
 * and management commands it reacts to, decoded from the input by
 * tests/qtest/virtio-balloon-auto-fuzz.c.  QEMU runs in this process and
 * is not restarted between inputs: each input ends with the device reset
 * and automatic mode restored, which costs far less than a fork.
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qobject/qdict.h"
#include "qapi/qmp-registry.h"
#include "monitor/monitor-internal.h"
#include "system/runstate.h"
#include "tests/qtest/libqtest.h"
#include "tests/qtest/virtio-balloon-auto-fuzz.h"
#include "fuzz.h"

static Vbaf *vbaf;

/* QMP without a monitor: the dispatcher the monitor uses, in-process */
static QDict *fuzz_qmp(void *opaque, QDict *cmd)
{
    return qmp_dispatch(&qmp_commands, QOBJECT(cmd), false, NULL);
}

static void fuzz_system_reset(void *opaque)
{
    qemu_system_reset(SHUTDOWN_CAUSE_GUEST_RESET);
}

static GString *vbaf_cmdline(FuzzTarget *t)
{
    return g_string_new(TARGET_NAME " -machine accel=qtest -display none "
                        VBAF_QEMU_ARGS);
}

static void vbaf_pre_fuzz(QTestState *s)
{
    static const VbafHost host = {
        .qmp = fuzz_qmp,
        .system_reset = fuzz_system_reset,
    };

    vbaf = vbaf_new(s, &host);
}

static void vbaf_fuzz(QTestState *s, const unsigned char *data, size_t size)
{
    vbaf_run(vbaf, data, size);
    flush_events(s);
}

static void register_virtio_balloon_auto_fuzz_targets(void)
{
    fuzz_add_target(&(FuzzTarget){
        .name = "virtio-balloon-auto-fuzz",
        .description = "Fuzz what the guest controls in virtio-balloon's"
                       " automatic mode (queues, config, features, resets)"
                       " with host pressure and QMP",
        .get_init_cmdline = vbaf_cmdline,
        .pre_fuzz = vbaf_pre_fuzz,
        .fuzz = vbaf_fuzz,
    });
}

fuzz_target_init(register_virtio_balloon_auto_fuzz_targets);
