/* munity-dbus.c — presence on D-Bus: org.munity.Presence1
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "munity-dbus.h"
#include "munity-error.h"

#define RECONNECT_MIN_S 1
#define RECONNECT_MAX_S 60

/**
 * MunityDbusService:
 *
 * The D-Bus view of a #MunityPresence: owns `org.munity.Presence1`, exports
 * the `org.munity.Presence1` interface and an object manager at
 * `/org/munity/Presence1`, and one `org.munity.User1` object per online
 * user below it.
 *
 * It only translates what the model tells it (user joined → InterfacesAdded
 * + UserJoined, user left → InterfacesRemoved + UserLeft, socket changes →
 * the Sockets property, the model's counters → OnlineCount and
 * SocketCount; munity-daemon.c connects the model's signals to
 * munity_dbus_service_user_joined() and its siblings) and answers method
 * calls from the model (`ListNodes` from the #MunityCluster); who is
 * online is never kept here. Errors reach
 * the bus by the D-Bus names that %MUNITY_ERROR registers for itself
 * (munity-error.c). Property changes are coalesced by the generated
 * skeletons, which emit one PropertiesChanged per object from an idle
 * callback however many changes happened in one main-loop iteration.
 *
 * The connection is a private one made for this service, so that losing
 * the bus never terminates the process (a shared connection from
 * g_bus_get() raises SIGTERM when it closes) and reconnecting gets a fresh
 * connection. If the bus goes away or the name is lost, the service says
 * so in the log and munityd keeps serving; a lost bus is retried with
 * backoff, a lost name comes back when its new owner releases it.
 */
struct _MunityDbusService
{
  GObject                   parent_instance;

  MunityPresence           *presence;        /* (owned) */
  MunityCluster            *cluster;         /* (owned) (nullable) for ListNodes */
  MunityBusType             bus;
  gboolean                  replace;

  MunityDBusPresence1      *root;            /* (owned) */
  GDBusObjectManagerServer *manager;         /* (owned) user objects */
  GDBusConnection          *connection;      /* (owned) (nullable) */
  GCancellable             *cancellable;     /* (owned) (nullable) while connecting */

  gboolean                  started;
  gboolean                  name_owned;
  guint                     owner_id;
  gulong                    closed_id;
  guint                     reconnect_id;
  guint                     reconnect_delay_s;
  gboolean                  reported_down;    /* the outage is in the log */
};

G_DEFINE_FINAL_TYPE (MunityDbusService, munity_dbus_service, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_NAME_OWNED,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static void connect_bus (MunityDbusService *self);
static void disconnect_bus (MunityDbusService *self);

/**
 * munity_dbus_user_path:
 * @user_id: a user id
 *
 * Returns: (transfer full): the object path of the user,
 *   `/org/munity/Presence1/users/ID`
 */
char *
munity_dbus_user_path (gint64 user_id)
{
  return g_strdup_printf (MUNITY_DBUS_USERS_PATH "/%" G_GINT64_FORMAT, user_id);
}

/* ---- user objects ------------------------------------------------------ */

static void
user_sync_details (MunityDBusUser1 *iface,
                   MunityUser      *user)
{
  g_autofree char *name = munity_user_dup_name (user);
  const char *image_url = munity_user_get_image_url (user);

  munity_dbus_user1_set_name (iface, name);
  munity_dbus_user1_set_image_url (iface, image_url != NULL ? image_url : "");
  munity_dbus_user1_set_status (iface, munity_user_get_status (user));
}

static MunityDBusUser1 *
lookup_user_iface (MunityDbusService *self,
                   gint64             user_id)
{
  g_autofree char *path = munity_dbus_user_path (user_id);
  g_autoptr(GDBusObject) object = g_dbus_object_manager_get_object (G_DBUS_OBJECT_MANAGER (self->manager), path);

  if (object == NULL)
    return NULL;
  /* (transfer none): the object manager keeps the object and its interface. */
  return munity_dbus_object_peek_user1 (MUNITY_DBUS_OBJECT (object));
}

static void
export_user (MunityDbusService *self,
             MunityUser        *user)
{
  g_autofree char *path = munity_dbus_user_path (munity_user_get_id (user));
  g_autoptr(MunityDBusObjectSkeleton) object = munity_dbus_object_skeleton_new (path);
  g_autoptr(MunityDBusUser1) iface = munity_dbus_user1_skeleton_new ();

  munity_dbus_user1_set_id (iface, (guint64) munity_user_get_id (user));
  user_sync_details (iface, user);
  munity_dbus_user1_set_sockets (iface, munity_user_get_n_sockets (user));
  munity_dbus_user1_set_online_since (iface, munity_user_get_online_since (user));

  munity_dbus_object_skeleton_set_user1 (object, iface);
  g_dbus_object_manager_server_export (self->manager, G_DBUS_OBJECT_SKELETON (object));
}

/* ---- what the model tells the view ------------------------------------- */

/* The daemon connects these to the model's signals (munity-daemon.c, the
 * one place where inputs and views are wired); each does nothing while the
 * service is stopped, and start() catches up from the model. The trailing
 * arguments of a swapped connection (the socket, the presence) are not
 * needed. */

/**
 * munity_dbus_service_user_joined:
 * @self: a service
 * @user: a user who came online
 *
 * Exports the user's object and emits `UserJoined`. For
 * #MunityPresence::user-joined.
 */
void
munity_dbus_service_user_joined (MunityDbusService *self,
                                 MunityUser        *user)
{
  g_autofree char *name = NULL;
  const char *image_url;

  if (!self->started)
    return;

  name = munity_user_dup_name (user);
  image_url = munity_user_get_image_url (user);
  export_user (self, user);
  munity_dbus_presence1_emit_user_joined (self->root, (guint64) munity_user_get_id (user),
                                          name, image_url != NULL ? image_url : "");
}

/**
 * munity_dbus_service_user_left:
 * @self: a service
 * @user: a user who went offline
 *
 * Removes the user's object and emits `UserLeft`. For
 * #MunityPresence::user-left.
 */
void
munity_dbus_service_user_left (MunityDbusService *self,
                               MunityUser        *user)
{
  g_autofree char *path = NULL;

  if (!self->started)
    return;

  path = munity_dbus_user_path (munity_user_get_id (user));
  g_dbus_object_manager_server_unexport (self->manager, path);
  munity_dbus_presence1_emit_user_left (self->root, (guint64) munity_user_get_id (user));
}

/* The object of @user while the service runs, else %NULL. */
static MunityDBusUser1 *
running_user_iface (MunityDbusService *self,
                    MunityUser        *user)
{
  return self->started ? lookup_user_iface (self, munity_user_get_id (user)) : NULL;
}

/**
 * munity_dbus_service_user_updated:
 * @self: a service
 * @user: a user whose name, picture or status changed
 *
 * Updates the `Name`, `ImageUrl` and `Status` properties of the user's
 * object. For
 * #MunityPresence::user-updated.
 */
void
munity_dbus_service_user_updated (MunityDbusService *self,
                                  MunityUser        *user)
{
  MunityDBusUser1 *iface = running_user_iface (self, user);

  if (iface != NULL)
    user_sync_details (iface, user);
}

/**
 * munity_dbus_service_sockets_changed:
 * @self: a service
 * @user: a user who gained or lost a socket
 *
 * Updates the `Sockets` property of the user's object. For
 * #MunityPresence::socket-added and #MunityPresence::socket-removed.
 */
void
munity_dbus_service_sockets_changed (MunityDbusService *self,
                                     MunityUser        *user)
{
  MunityDBusUser1 *iface = running_user_iface (self, user);

  if (iface != NULL)
    munity_dbus_user1_set_sockets (iface, munity_user_get_n_sockets (user));
}

/**
 * munity_dbus_service_counts_changed:
 * @self: a service
 *
 * Updates `OnlineCount` and `SocketCount` from the model (a property whose
 * value is unchanged is not announced). For the model's
 * `notify::n-users` and `notify::n-sockets`.
 */
void
munity_dbus_service_counts_changed (MunityDbusService *self)
{
  if (!self->started)
    return;

  munity_dbus_presence1_set_online_count (self->root, munity_presence_get_n_users (self->presence));
  munity_dbus_presence1_set_socket_count (self->root, munity_presence_get_n_sockets (self->presence));
}

/* ---- methods ----------------------------------------------------------- */

static gboolean
handle_list_online_users (MunityDBusPresence1   *root,
                          GDBusMethodInvocation *invocation,
                          MunityDbusService     *self)
{
  g_autoptr(GPtrArray) users = munity_presence_list_users (self->presence);
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(tssux)"));
  for (guint i = 0; i < users->len; i++)
    {
      MunityUser *user = users->pdata[i];
      g_autofree char *name = munity_user_dup_name (user);
      const char *image_url = munity_user_get_image_url (user);

      g_variant_builder_add (&builder, "(tssux)",
                             (guint64) munity_user_get_id (user),
                             name,
                             image_url != NULL ? image_url : "",
                             munity_user_get_n_sockets (user),
                             munity_user_get_online_since (user));
    }

  munity_dbus_presence1_complete_list_online_users (root, invocation,
                                                    g_variant_builder_end (&builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_user (MunityDBusPresence1   *root,
                 GDBusMethodInvocation *invocation,
                 guint64                id,
                 MunityDbusService     *self)
{
  g_autofree char *path = NULL;

  if (id > G_MAXINT64 || munity_presence_lookup_user (self->presence, (gint64) id) == NULL)
    {
      g_autofree char *id_str = g_strdup_printf ("%" G_GUINT64_FORMAT, id);

      g_dbus_method_invocation_return_error (invocation, MUNITY_ERROR, MUNITY_ERROR_NOT_ONLINE,
                                             _("User %s is not online"), id_str);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  path = munity_dbus_user_path ((gint64) id);
  munity_dbus_presence1_complete_get_user (root, invocation, path);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_disconnect (MunityDBusPresence1   *root,
                   GDBusMethodInvocation *invocation,
                   guint64                id,
                   MunityDbusService     *self)
{
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  g_autofree char *id_str = g_strdup_printf ("%" G_GUINT64_FORMAT, id);
  guint closed = 0;

  if (id <= G_MAXINT64)
    closed = munity_presence_disconnect_user (self->presence, (gint64) id, MUNITY_CLOSE_DISCONNECTED);

  /* Administrative actions belong in the journal, with who did them. */
  g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE,
                    "MUNITY_USER_ID", id_str,
                    "MUNITY_DBUS_SENDER", sender != NULL ? sender : "",
                    "MESSAGE", "User %s disconnected over D-Bus by %s: %u socket(s) closed",
                    id_str, sender != NULL ? sender : "(peer)", closed);

  munity_dbus_presence1_complete_disconnect (root, invocation, closed);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_list_nodes (MunityDBusPresence1   *root,
                   GDBusMethodInvocation *invocation,
                   MunityDbusService     *self)
{
  g_autoptr(GPtrArray) nodes = NULL;
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(suxb)"));
  if (self->cluster != NULL)
    nodes = munity_cluster_list_nodes (self->cluster);
  for (guint i = 0; nodes != NULL && i < nodes->len; i++)
    {
      MunityClusterNode *node = nodes->pdata[i];

      g_variant_builder_add (&builder, "(suxb)", node->name, node->n_sockets,
                             node->heartbeat, node->is_self);
    }

  munity_dbus_presence1_complete_list_nodes (root, invocation, g_variant_builder_end (&builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- the bus ----------------------------------------------------------- */

static const char *
bus_label (MunityDbusService *self)
{
  return self->bus == MUNITY_BUS_SYSTEM ? "system" : "session";
}

static void
set_name_owned (MunityDbusService *self,
                gboolean           owned)
{
  if (self->name_owned == owned)
    return;
  self->name_owned = owned;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_NAME_OWNED]);
}

static void
on_name_acquired (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  MunityDbusService *self = user_data;

  g_message ("Owning %s on the %s bus", name, bus_label (self));
  set_name_owned (self, TRUE);
}

static void
on_name_lost (GDBusConnection *connection,
              const char      *name,
              gpointer         user_data)
{
  MunityDbusService *self = user_data;

  /* Called for a name we never got (someone else owns it and we are queued
   * behind them), for a name taken over with --replace, and when the
   * connection closed (handled in on_closed). */
  if (connection != NULL && !g_dbus_connection_is_closed (connection))
    {
      if (self->name_owned)
        g_message ("Lost the name %s on the %s bus to another owner; still serving HTTP and "
                   "WebSockets, and taking the name back if it is released", name, bus_label (self));
      else
        g_message ("The name %s on the %s bus is owned by another process; still serving HTTP "
                   "and WebSockets, and taking the name if it is released (munityd --replace takes it over)",
                   name, bus_label (self));
    }
  set_name_owned (self, FALSE);
}

/* Once per outage in the log (the retries go on quietly, with backoff). */
G_GNUC_PRINTF (2, 3)
static void
report_down (MunityDbusService *self,
             const char        *format,
             ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);

  if (self->reported_down)
    {
      g_debug ("%s", message);
      return;
    }
  self->reported_down = TRUE;
  g_message ("%s; still serving HTTP and WebSockets, and trying again in the background", message);
}

static gboolean
reconnect_cb (gpointer user_data)
{
  MunityDbusService *self = user_data;

  self->reconnect_id = 0;
  connect_bus (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (MunityDbusService *self)
{
  if (!self->started || self->reconnect_id != 0)
    return;

  g_debug ("Trying the %s bus again in %u s", bus_label (self), self->reconnect_delay_s);
  self->reconnect_id = g_timeout_add_seconds (self->reconnect_delay_s, reconnect_cb, self);
  self->reconnect_delay_s = MIN (self->reconnect_delay_s * 2, RECONNECT_MAX_S);
}

static void
on_closed (GDBusConnection *connection,
           gboolean         remote_peer_vanished,
           GError          *error,
           gpointer         user_data)
{
  MunityDbusService *self = user_data;

  report_down (self, "Lost the connection to the %s bus%s%s",
               bus_label (self), error != NULL ? ": " : "", error != NULL ? error->message : "");
  disconnect_bus (self);
  schedule_reconnect (self);
}

static void
connected_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(MunityDbusService) self = user_data;
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  GBusNameOwnerFlags flags = G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT;

  connection = g_dbus_connection_new_for_address_finish (result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  if (!self->started || self->connection != NULL)
    {
      /* A late answer to an attempt that was given up on. */
      if (connection != NULL)
        g_dbus_connection_close (connection, NULL, NULL, NULL);
      return;
    }

  g_clear_object (&self->cancellable);
  if (connection == NULL)
    {
      report_down (self, "Cannot connect to the %s bus: %s", bus_label (self), error->message);
      schedule_reconnect (self);
      return;
    }

  self->connection = g_steal_pointer (&connection);
  self->reconnect_delay_s = RECONNECT_MIN_S;
  self->reported_down = FALSE;
  self->closed_id = g_signal_connect (self->connection, "closed", G_CALLBACK (on_closed), self);

  /* Objects first, then the name: whoever sees the name appear finds
   * everything in place. */
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->root), self->connection,
                                         MUNITY_DBUS_PATH, &error))
    {
      g_message ("Cannot export %s on the %s bus: %s", MUNITY_DBUS_PATH, bus_label (self), error->message);
      disconnect_bus (self);
      return;
    }
  g_dbus_object_manager_server_set_connection (self->manager, self->connection);

  /* --replace takes the name over at start-up; after a lost bus the
   * service asks for it like anyone else. */
  if (self->replace)
    flags |= G_BUS_NAME_OWNER_FLAGS_REPLACE;
  self->replace = FALSE;
  self->owner_id = g_bus_own_name_on_connection (self->connection, MUNITY_DBUS_NAME, flags,
                                                 on_name_acquired, on_name_lost, self, NULL);
}

static void
connect_bus (MunityDbusService *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *address = NULL;

  address = g_dbus_address_get_for_bus_sync (self->bus == MUNITY_BUS_SYSTEM ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION,
                                             NULL, &error);
  if (address == NULL)
    {
      report_down (self, "Cannot find the %s bus: %s", bus_label (self), error->message);
      schedule_reconnect (self);
      return;
    }

  self->cancellable = g_cancellable_new ();
  g_dbus_connection_new_for_address (address,
                                     G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                     G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                     NULL, self->cancellable, connected_cb, g_object_ref (self));
}

/* Drops the connection, the name and the exports; the objects stay in the
 * object manager for the next connection. */
static void
disconnect_bus (MunityDbusService *self)
{
  if (self->cancellable != NULL)
    {
      g_cancellable_cancel (self->cancellable);
      g_clear_object (&self->cancellable);
    }

  if (self->owner_id != 0)
    {
      /* Releases the name at once when the connection is still up. */
      g_bus_unown_name (self->owner_id);
      self->owner_id = 0;
    }
  set_name_owned (self, FALSE);

  if (self->connection == NULL)
    return;

  g_dbus_object_manager_server_set_connection (self->manager, NULL);
  if (g_dbus_interface_skeleton_has_connection (G_DBUS_INTERFACE_SKELETON (self->root), self->connection))
    g_dbus_interface_skeleton_unexport_from_connection (G_DBUS_INTERFACE_SKELETON (self->root),
                                                        self->connection);
  g_clear_signal_handler (&self->closed_id, self->connection);
  if (!g_dbus_connection_is_closed (self->connection))
    g_dbus_connection_close (self->connection, NULL, NULL, NULL);
  g_clear_object (&self->connection);
}

/* ---- life cycle -------------------------------------------------------- */

static void
munity_dbus_service_dispose (GObject *object)
{
  MunityDbusService *self = MUNITY_DBUS_SERVICE (object);

  munity_dbus_service_stop (self);
  g_clear_object (&self->manager);
  g_clear_object (&self->root);
  g_clear_object (&self->cluster);
  g_clear_object (&self->presence);

  G_OBJECT_CLASS (munity_dbus_service_parent_class)->dispose (object);
}

static void
munity_dbus_service_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  MunityDbusService *self = MUNITY_DBUS_SERVICE (object);

  switch (prop_id)
    {
    case PROP_NAME_OWNED:
      g_value_set_boolean (value, self->name_owned);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
munity_dbus_service_class_init (MunityDbusServiceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = munity_dbus_service_dispose;
  object_class->get_property = munity_dbus_service_get_property;

  /**
   * MunityDbusService:name-owned:
   *
   * Whether the service owns `org.munity.Presence1` right now.
   */
  props[PROP_NAME_OWNED] = g_param_spec_boolean ("name-owned", NULL, NULL, FALSE,
                                                 G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
munity_dbus_service_init (MunityDbusService *self)
{
  self->reconnect_delay_s = RECONNECT_MIN_S;
}

/**
 * munity_dbus_service_new:
 * @presence: the presence model to publish
 * @bus: %MUNITY_BUS_SESSION or %MUNITY_BUS_SYSTEM
 * @replace: whether to take the name over from another owner
 *
 * Returns: (transfer full): a service, not started
 */
MunityDbusService *
munity_dbus_service_new (MunityPresence *presence,
                         MunityBusType   bus,
                         gboolean        replace)
{
  MunityDbusService *self;

  g_return_val_if_fail (MUNITY_IS_PRESENCE (presence), NULL);
  g_return_val_if_fail (bus == MUNITY_BUS_SESSION || bus == MUNITY_BUS_SYSTEM, NULL);

  self = g_object_new (MUNITY_TYPE_DBUS_SERVICE, NULL);
  self->presence = g_object_ref (presence);
  self->bus = bus;
  self->replace = replace;
  return self;
}

/**
 * munity_dbus_service_start:
 * @self: a service
 *
 * Connects to the bus, exports the objects and asks for the name, all
 * asynchronously. Failing to reach the bus or to get the name is logged
 * and never fatal. Starting a started service does nothing.
 */
void
munity_dbus_service_start (MunityDbusService *self)
{
  g_autoptr(GPtrArray) users = NULL;

  g_return_if_fail (MUNITY_IS_DBUS_SERVICE (self));

  if (self->started)
    return;
  self->started = TRUE;

  self->root = munity_dbus_presence1_skeleton_new ();
  munity_dbus_presence1_set_version (self->root, PACKAGE_VERSION);
  munity_dbus_presence1_set_online_count (self->root, munity_presence_get_n_users (self->presence));
  munity_dbus_presence1_set_socket_count (self->root, munity_presence_get_n_sockets (self->presence));
  g_signal_connect (self->root, "handle-list-online-users", G_CALLBACK (handle_list_online_users), self);
  g_signal_connect (self->root, "handle-get-user", G_CALLBACK (handle_get_user), self);
  g_signal_connect (self->root, "handle-disconnect", G_CALLBACK (handle_disconnect), self);
  g_signal_connect (self->root, "handle-list-nodes", G_CALLBACK (handle_list_nodes), self);

  self->manager = g_dbus_object_manager_server_new (MUNITY_DBUS_PATH);
  users = munity_presence_list_users (self->presence);
  for (guint i = 0; i < users->len; i++)
    export_user (self, users->pdata[i]);

  connect_bus (self);
}

/**
 * munity_dbus_service_stop:
 * @self: a service
 *
 * Releases the name, removes every object from the bus and closes the
 * connection. Stopping a stopped service does nothing.
 */
void
munity_dbus_service_stop (MunityDbusService *self)
{
  g_return_if_fail (MUNITY_IS_DBUS_SERVICE (self));

  if (!self->started)
    return;
  self->started = FALSE;

  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  disconnect_bus (self);

  g_signal_handlers_disconnect_by_data (self->root, self);
  g_clear_object (&self->manager);
  g_clear_object (&self->root);
}

/**
 * munity_dbus_service_set_cluster:
 * @self: a service
 * @cluster: (nullable): the cluster this node is part of
 *
 * Where `ListNodes` finds the node list; without a cluster the list is
 * empty.
 */
void
munity_dbus_service_set_cluster (MunityDbusService *self,
                                 MunityCluster     *cluster)
{
  g_return_if_fail (MUNITY_IS_DBUS_SERVICE (self));

  g_set_object (&self->cluster, cluster);
}

/**
 * munity_dbus_service_get_name_owned:
 * @self: a service
 *
 * Returns: %TRUE if the service owns `org.munity.Presence1` right now
 */
gboolean
munity_dbus_service_get_name_owned (MunityDbusService *self)
{
  g_return_val_if_fail (MUNITY_IS_DBUS_SERVICE (self), FALSE);

  return self->name_owned;
}

/**
 * munity_dbus_service_get_connection:
 * @self: a service
 *
 * Returns: (transfer none) (nullable): the service's own bus connection,
 *   while connected
 */
GDBusConnection *
munity_dbus_service_get_connection (MunityDbusService *self)
{
  g_return_val_if_fail (MUNITY_IS_DBUS_SERVICE (self), NULL);

  return self->connection;
}
