/* munity-dbus.h — presence on D-Bus: org.munity.Presence1
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "munity-cluster.h"
#include "munity-config.h"
#include "munity-dbus-generated.h"
#include "munity-presence.h"

G_BEGIN_DECLS

/**
 * MUNITY_DBUS_NAME:
 *
 * The well-known bus name munityd owns.
 */
#define MUNITY_DBUS_NAME "org.munity.Presence1"

/**
 * MUNITY_DBUS_PATH:
 *
 * The object path of the root object, which also carries
 * `org.freedesktop.DBus.ObjectManager`.
 */
#define MUNITY_DBUS_PATH "/org/munity/Presence1"

/**
 * MUNITY_DBUS_USERS_PATH:
 *
 * The object path under which every online user has an object, named by
 * the user id.
 */
#define MUNITY_DBUS_USERS_PATH MUNITY_DBUS_PATH "/users"

#define MUNITY_TYPE_DBUS_SERVICE (munity_dbus_service_get_type ())
G_DECLARE_FINAL_TYPE (MunityDbusService, munity_dbus_service, MUNITY, DBUS_SERVICE, GObject)

MunityDbusService *munity_dbus_service_new            (MunityPresence    *presence,
                                                       MunityBusType      bus,
                                                       gboolean           replace);
void               munity_dbus_service_start          (MunityDbusService *self);
void               munity_dbus_service_stop           (MunityDbusService *self);
void               munity_dbus_service_set_cluster    (MunityDbusService *self,
                                                       MunityCluster     *cluster);
gboolean           munity_dbus_service_get_name_owned (MunityDbusService *self);
GDBusConnection   *munity_dbus_service_get_connection (MunityDbusService *self);

void               munity_dbus_service_user_joined    (MunityDbusService *self,
                                                       MunityUser        *user);
void               munity_dbus_service_user_left      (MunityDbusService *self,
                                                       MunityUser        *user);
void               munity_dbus_service_user_updated   (MunityDbusService *self,
                                                       MunityUser        *user);
void               munity_dbus_service_sockets_changed (MunityDbusService *self,
                                                        MunityUser        *user);
void               munity_dbus_service_counts_changed (MunityDbusService *self);

char              *munity_dbus_user_path              (gint64             user_id);

G_END_DECLS
