/* munity-daemon.h — one munityd: its parts, start-up and shutdown
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "munity-accounts.h"
#include "munity-cluster.h"
#include "munity-config.h"
#include "munity-dbus.h"
#include "munity-presence.h"

G_BEGIN_DECLS

#define MUNITY_EXIT_OK 0
#define MUNITY_EXIT_FAILURE 1
#define MUNITY_EXIT_USAGE 2

#define MUNITY_TYPE_DAEMON (munity_daemon_get_type ())
G_DECLARE_FINAL_TYPE (MunityDaemon, munity_daemon, MUNITY, DAEMON, GObject)

MunityDaemon *munity_daemon_new (MunityConfig *config);
int           munity_daemon_run (MunityDaemon *self);

void          munity_daemon_connect_accounts  (MunityAccounts    *accounts,
                                               MunityPresence    *presence);
void          munity_daemon_connect_dbus_view (MunityPresence    *presence,
                                               MunityDbusService *dbus);
void          munity_daemon_connect_cluster   (MunityPresence    *presence,
                                               MunityAccounts    *accounts,
                                               MunityCluster     *cluster);

G_END_DECLS
