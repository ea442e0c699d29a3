/*
 * virtio-balloon automatic mode: HMP commands
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-auto-balloon.h"
#include "qobject/qdict.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"

void hmp_info_auto_balloon(Monitor *mon, const QDict *qdict)
{
    g_autoptr(AutoBalloonInfo) info = NULL;
    AutoBalloonTunables *t;
    AutoBalloonCounters *c;
    Error *err = NULL;

    info = qmp_query_auto_balloon(&err);
    if (hmp_handle_error(mon, err)) {
        return;
    }
    t = info->tunables;
    c = info->counters;
    monitor_printf(mon, "automatic ballooning: %s\n",
                   info->enabled ? "on" : "off (manual control)");
    if (info->backend == AUTO_BALLOON_BACKEND_NONE) {
        monitor_printf(mon, "source: none attached (QMP set-auto-balloon"
                       " 'source' attaches one)\n");
    } else {
        monitor_printf(mon, "source: %s (%s)%s\n", info->source,
                       AutoBalloonBackend_str(info->backend),
                       info->source_gone ? ", gone" : "");
    }
    monitor_printf(mon, "target: %" PRIu64 " MiB, actual: %" PRIu64
                   " MiB, pages given: %" PRIu64 " MiB\n",
                   info->target / MiB, info->actual / MiB,
                   info->inflated / MiB);
    if (info->guest_window_open) {
        monitor_printf(mon, "guest-pressure window: open, %" PRId64
                       " ms left\n", info->guest_window_remaining_ms);
    } else {
        monitor_printf(mon, "guest-pressure window: closed\n");
    }
    monitor_printf(mon, "guest stalled: %s, message virtqueue: %s\n",
                   info->stalled ? "yes" : "no",
                   !info->message_vq_offered ? "not offered" :
                   info->message_vq ? "negotiated" :
                   "offered, not negotiated");
    monitor_printf(mon, "steps: inflate low %" PRIu64 " MiB, medium %"
                   PRIu64 " MiB, critical %" PRIu64 " MiB; deflate %"
                   PRIu64 " MiB\n", t->inflate_low / MiB,
                   t->inflate_medium / MiB, t->inflate_critical / MiB,
                   t->deflate / MiB);
    monitor_printf(mon, "throttle %u ms, hysteresis %u ms, stall %u ms,"
                   " floor %" PRIu64 " MiB\n", t->throttle_ms,
                   t->hysteresis_ms, t->stall_ms, t->floor / MiB);
    monitor_printf(mon, "reserve %" PRIu64 " MiB or %u %% of RAM, relief"
                   " after %u ms, %" PRIu64 " MiB per second\n",
                   t->reserve / MiB, t->reserve_pct, t->relief_ms,
                   t->relief_step / MiB);
    if (info->has_guest_available) {
        monitor_printf(mon, "guest available: %" PRIu64 " MiB\n",
                       info->guest_available / MiB);
    }
    if (info->has_host_resident) {
        monitor_printf(mon, "host resident: %" PRIu64 " MiB\n",
                       info->host_resident / MiB);
    }
    monitor_printf(mon, "watermarks: high %u %%, low %u %% of the source's"
                   " limit\n", t->high_watermark_pct, t->low_watermark_pct);
    monitor_printf(mon, "shares: %u%s\n", t->shares,
                   t->shares ? "" : " (host pressure never inflates)");
    if (info->host_memory) {
        AutoBalloonHostMemory *m = info->host_memory;

        monitor_printf(mon, "source memory: usage %" PRIu64 " MiB, limit %"
                       PRIu64 " MiB%s, available %" PRIu64 " MiB%s\n",
                       m->usage / MiB, m->limit / MiB,
                       m->own_limit ? "" : " (host RAM)",
                       m->available / MiB,
                       m->above_high_watermark ? ", above high watermark" :
                       m->below_low_watermark ? "" :
                       ", above low watermark");
    }
    monitor_printf(mon, "host events: low %" PRIu64 ", medium %" PRIu64
                   ", critical %" PRIu64 " (immediate %" PRIu64
                   ", throttled %" PRIu64 ", ignored %" PRIu64 ")\n",
                   c->host_events_low, c->host_events_medium,
                   c->host_events_critical, c->inflates_immediate,
                   c->throttled, c->ignored);
    monitor_printf(mon, "guest: messages %" PRIu64 ", from stats %" PRIu64
                   " (of %" PRIu64 " samples, %" PRIu64 " hostile)"
                   ", malformed %" PRIu64 ", own deflates %" PRIu64 "\n",
                   c->guest_messages, c->guest_stats, c->stats_samples,
                   c->stats_hostile, c->malformed_messages,
                   c->guest_deflates);
    monitor_printf(mon, "actions: inflates %" PRIu64 ", deflates %" PRIu64
                   ", cancels %" PRIu64 ", stalls %" PRIu64 "\n",
                   c->inflates, c->deflates, c->cancels, c->stalls);
    monitor_printf(mon, "sizes not backed by pages: %" PRIu64 "\n",
                   c->unbacked_actual);
    monitor_printf(mon, "shortfall deflates %" PRIu64 ", relief steps %"
                   PRIu64 ", not resident %" PRIu64 "\n", c->shortfalls,
                   c->reliefs, c->not_resident);
    monitor_printf(mon, "watermark inflates %" PRIu64 ", relief steps held"
                   " %" PRIu64 ", RAM unplug deflates %" PRIu64 "\n",
                   c->watermark_inflates, c->relief_held, c->ram_deflates);
}

void hmp_auto_balloon(Monitor *mon, const QDict *qdict)
{
    bool enable = qdict_get_bool(qdict, "enable");
    Error *err = NULL;

    qmp_set_auto_balloon(true, enable, NULL, false, 0, false, 0, false, 0,
                         false, 0, false, 0, false, 0, false, 0, false, 0,
                         false, 0, false, 0, false, 0, false, 0,
                         false, 0, false, 0, false, 0, &err);
    hmp_handle_error(mon, err);
}
