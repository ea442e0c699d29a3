/*
 * QTest cases for automatic ballooning in virtio-balloon
 *
 * Copyright (c) 2026 The QEMU auto-balloon authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "qobject/qdict.h"

/* With automatic mode off the device answers query-balloon as upstream. */
static void test_off_query_balloon(void)
{
    QTestState *qts = qtest_init("-m 256 -nodefaults"
                                 " -device virtio-balloon-pci,id=balloon0");
    QDict *ret = qtest_qmp_assert_success_ref(qts,
                                              "{ 'execute': 'query-balloon' }");

    g_assert_cmpint(qdict_get_int(ret, "actual"), ==, 256 * MiB);
    qobject_unref(ret);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("virtio-balloon-auto/off/query-balloon",
                   test_off_query_balloon);

    return g_test_run();
}
