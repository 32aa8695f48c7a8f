/* munity-daemon.c — one munityd: its parts, start-up and shutdown
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "munity-accounts.h"
#include "munity-avatar.h"
#include "munity-cluster.h"
#include "munity-daemon.h"
#include "munity-db.h"
#include "munity-dbus.h"
#include "munity-embedded-pg.h"
#include "munity-error.h"
#include "munity-http-server.h"
#include "munity-metrics.h"
#include "munity-migrations.h"
#include "munity-last-seen.h"
#include "munity-presence.h"
#include "munity-ws-hub.h"

#define LISTEN_BACKLOG 4096
#define DB_CONNECTIONS 4
#define STARTUP_DB_WAIT_MS 30000
#define DRAIN_TIMEOUT_MS 2000
#define PG_STOP_TIMEOUT_MS 2000

/**
 * MunityDaemon:
 *
 * Builds the parts of munityd from its configuration, starts them in order
 * (listening sockets, database, migrations, HTTP), tells systemd when it is
 * ready, and takes them down again on SIGTERM or SIGINT — all on one main
 * loop, nothing blocking.
 *
 * It is also the composition root: the only place that connects the parts:
 * inputs change the model, and the model's signals feed the views. The
 * model holds no pointer to anything it feeds; a view holds the model only
 * to read it (the hub's first snapshot, `/api/online`, `ListOnlineUsers`):
 *
 * |[
 *   HTTP handlers ──register, login, logout, profile──▶ MunityAccounts ◀──▶ PostgreSQL
 *        │                                                   │
 *        │ upgraded WebSockets          user-changed, session-ended
 *        ▼                                                   ▼
 *   MunityWsHub ──adds, removes sockets──────────────▶ MunityPresence (the model)
 *        ▲                                                 ▲ │
 *        └──── user-joined, user-left, user-updated, ◀─────┼─┤
 *              socket-added, socket-removed                │ ├──▶ MunityDbusService
 *                                                          │ ├──▶ metrics gauges
 *                          other nodes' sockets, relayed   │ │    (notify::n-users,
 *                          closes, their users' changes    │ │     notify::n-sockets)
 *                                                          │ ▼ socket-added, socket-removed
 *   PostgreSQL ◀──rows, NOTIFY, LISTEN──▶ MunityCluster ◀──┴── (local ones), and
 *                                                 ▲            MunityAccounts user-changed
 *   MunityDb ──notify::up──▶ munity_database_up gauge
 * ]|
 *
 * munity_daemon_connect_accounts() and munity_daemon_connect_dbus_view()
 * make two of these connections, and are public so that tests that put a
 * service in front of a model of their own wire it the same way.
 * munity_daemon_connect_cluster() wires the cluster: another input of the
 * model (the sockets of the other nodes), and a listener of its signals
 * (to publish this node's sockets). Every munityd is a cluster node, the
 * embedded default a cluster of one.
 */
struct _MunityDaemon
{
  GObject           parent_instance;

  MunityConfig     *config;       /* (owned) */
  GMainLoop        *loop;         /* (owned) */
  GCancellable     *cancellable;  /* (owned) cancelled on shutdown */
  GPtrArray        *sockets;      /* (owned) of GSocket, listening */
  gboolean          sockets_from_systemd;
  GSocket          *metrics_socket; /* (owned) (nullable) metrics-listen */
  MunityEmbeddedPg *embedded;     /* (owned) (nullable) */
  char             *conninfo;     /* (owned) */
  MunityDb         *migrate_db;   /* (owned) (nullable) */
  MunityDb         *db;           /* (owned) (nullable) */
  MunityMetrics    *metrics;      /* (owned) */
  MunityAccounts   *accounts;     /* (owned) (nullable) */
  MunityHttpServer *http;         /* (owned) (nullable) */
  MunityPresence   *presence;     /* (owned) (nullable) */
  MunityLastSeen   *last_seen;    /* (owned) (nullable) */
  MunityWsHub      *hub;          /* (owned) (nullable) */
  MunityDbusService *dbus;        /* (owned) (nullable) */
  MunityCluster    *cluster;      /* (owned) (nullable) */

  int               exit_status;
  gboolean          running;
  gboolean          stopping;
  gint64            drain_deadline;
  guint             sigterm_id;
  guint             sigint_id;
  guint             watchdog_id;
  guint             drain_id;
};

G_DEFINE_FINAL_TYPE (MunityDaemon, munity_daemon, G_TYPE_OBJECT)

static void shutdown_begin (MunityDaemon *self, int exit_status);
static void close_databases (MunityDaemon *self);
static void leave_cluster (MunityDaemon *self);

static void
munity_daemon_dispose (GObject *object)
{
  MunityDaemon *self = MUNITY_DAEMON (object);

  g_clear_handle_id (&self->sigterm_id, g_source_remove);
  g_clear_handle_id (&self->sigint_id, g_source_remove);
  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  g_clear_handle_id (&self->drain_id, g_source_remove);
  g_clear_object (&self->http);
  g_clear_object (&self->dbus);
  g_clear_object (&self->cluster);
  g_clear_object (&self->hub);
  g_clear_object (&self->last_seen);
  g_clear_object (&self->presence);
  g_clear_object (&self->accounts);
  g_clear_object (&self->db);
  g_clear_object (&self->migrate_db);
  g_clear_object (&self->embedded);
  g_clear_object (&self->metrics);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->sockets, g_ptr_array_unref);
  g_clear_object (&self->metrics_socket);
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_pointer (&self->conninfo, g_free);
  g_clear_pointer (&self->config, munity_config_free);

  G_OBJECT_CLASS (munity_daemon_parent_class)->dispose (object);
}

static void
munity_daemon_class_init (MunityDaemonClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = munity_daemon_dispose;
}

static void
munity_daemon_init (MunityDaemon *self)
{
  self->loop = g_main_loop_new (NULL, FALSE);
  self->cancellable = g_cancellable_new ();
  self->sockets = g_ptr_array_new_with_free_func (g_object_unref);
  self->metrics = munity_metrics_new ();
}

/**
 * munity_daemon_new:
 * @config: (transfer full): the configuration
 *
 * Returns: (transfer full): a daemon, not started
 */
MunityDaemon *
munity_daemon_new (MunityConfig *config)
{
  MunityDaemon *self = g_object_new (MUNITY_TYPE_DAEMON, NULL);

  self->config = config;
  return self;
}

/* A start-up failure: say why in one line, clean up, exit 1. */
static void
fail (MunityDaemon *self,
      const GError *error)
{
  if (self->stopping)
    return;
  g_printerr ("munityd: %s\n", error->message);
  shutdown_begin (self, MUNITY_EXIT_FAILURE);
}

/* ---- listening sockets ------------------------------------------------- */

/* g_socket_bind() clears SO_REUSEPORT on every stream socket, so the
 * socket is bound here: SO_REUSEADDR as g_socket_bind() sets it, and
 * SO_REUSEPORT when asked. */
static gboolean
bind_socket (GSocket         *socket,
             GSocketAddress  *address,
             gboolean         reuse_port,
             GError         **error)
{
  struct sockaddr_storage native;
  gssize length = g_socket_address_get_native_size (address);

  if (!g_socket_set_option (socket, SOL_SOCKET, SO_REUSEADDR, TRUE, error) ||
      !g_socket_set_option (socket, SOL_SOCKET, SO_REUSEPORT, reuse_port, error) ||
      !g_socket_address_to_native (address, &native, sizeof native, error))
    return FALSE;
  if (bind (g_socket_get_fd (socket), (struct sockaddr *) &native, (socklen_t) length) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "%s", g_strerror (saved_errno));
      return FALSE;
    }
  return TRUE;
}

/* @reuse_port: SO_REUSEPORT, so that several nodes on one host listen on
 * the same port and the kernel spreads connections over them
 * (doc/protocol.md §7). Never on the metrics socket: each node's metrics
 * are its own. */
static GSocket *
open_listen_socket (const char  *text,
                    gboolean     reuse_port,
                    GError     **error)
{
  g_autoptr(GSocketAddress) address = munity_config_parse_listen (text, error);
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) local_error = NULL;
  GSocketFamily family;

  if (address == NULL)
    return NULL;

  family = g_socket_address_get_family (address);
  socket = g_socket_new (family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
  if (socket == NULL)
    return NULL;

  if (family == G_SOCKET_FAMILY_IPV6 &&
      !g_socket_set_option (socket, IPPROTO_IPV6, IPV6_V6ONLY, TRUE, error))
    return NULL;

  /* libsoup's own listen() uses a backlog of 10, far too few for a join
   * storm; so the socket is ours. */
  g_socket_set_listen_backlog (socket, LISTEN_BACKLOG);
  if (!bind_socket (socket, address, reuse_port, &local_error) || !g_socket_listen (socket, &local_error))
    {
      const char *hint = "";

      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
        hint = reuse_port ? _(" (--reuse-port shares a port only with processes that set it too)")
                          : _(" (another process listens there; nodes share a port with --reuse-port)");
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                   _("cannot listen on %s: %s%s"), text, local_error->message, hint);
      return NULL;
    }

  return g_steal_pointer (&socket);
}

static gboolean
add_listen_address (MunityDaemon  *self,
                    const char    *text,
                    GError       **error)
{
  GSocket *socket = open_listen_socket (text, self->config->reuse_port, error);

  if (socket == NULL)
    return FALSE;
  g_ptr_array_add (self->sockets, socket);
  return TRUE;
}

/* The default node name carries the first listening port; only now is it
 * known for `--listen ADDR:0` and for sockets from systemd. */
static void
settle_node_name (MunityDaemon *self)
{
  g_autoptr(GSocketAddress) address = NULL;
  guint16 port;

  if (!self->config->node_name_is_default || self->sockets->len == 0)
    return;
  address = g_socket_get_local_address (self->sockets->pdata[0], NULL);
  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return;
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
  g_free (self->config->node_name);
  self->config->node_name = munity_config_default_node_name (g_get_host_name (), port);
}

static gboolean
open_sockets (MunityDaemon  *self,
              GError       **error)
{
  int n_fds = 0;

  if (self->config->metrics_listen != NULL)
    {
      self->metrics_socket = open_listen_socket (self->config->metrics_listen, FALSE, error);
      if (self->metrics_socket == NULL)
        return FALSE;
    }

  if (self->config->listen == NULL)
    n_fds = sd_listen_fds (TRUE);

  if (n_fds < 0)
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                   _("cannot use the sockets passed by systemd: %s"), g_strerror (-n_fds));
      return FALSE;
    }

  if (n_fds > 0)
    {
      for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n_fds; fd++)
        {
          GSocket *socket = g_socket_new_from_fd (fd, error);
          if (socket == NULL)
            return FALSE;
          g_ptr_array_add (self->sockets, socket);
        }
      self->sockets_from_systemd = TRUE;
    }
  else if (self->config->listen == NULL)
    {
      if (!add_listen_address (self, MUNITY_DEFAULT_LISTEN, error))
        return FALSE;
    }
  else
    {
      for (gsize i = 0; self->config->listen[i] != NULL; i++)
        {
          if (!add_listen_address (self, self->config->listen[i], error))
            return FALSE;
        }
    }

  settle_node_name (self);
  g_message ("Node name: %s%s", self->config->node_name,
             self->config->reuse_port ? " (listening with SO_REUSEPORT)" : "");
  if (self->config->reuse_port && self->config->database == NULL)
    g_message ("--reuse-port without --database: the nodes sharing this port are one cluster only "
               "if they use this node's embedded PostgreSQL, and the cluster ends with this node");
  return TRUE;
}

/* ---- systemd ----------------------------------------------------------- */

/* Accepting that stays impossible (out of descriptors with no spare) for
 * this long is a hang: systemd's watchdog then restarts munityd. */
#define ACCEPT_STALL_LIMIT_US ((gint64) 60 * G_USEC_PER_SEC)

static gboolean
watchdog_cb (gpointer user_data)
{
  MunityDaemon *self = user_data;

  if (self->http != NULL &&
      munity_http_server_get_stalled_us (self->http, g_get_monotonic_time ()) > ACCEPT_STALL_LIMIT_US)
    {
      g_message ("No connection could be accepted for %" G_GINT64_FORMAT " s: not telling the watchdog",
                 ACCEPT_STALL_LIMIT_US / G_USEC_PER_SEC);
      return G_SOURCE_CONTINUE;
    }
  sd_notify (FALSE, "WATCHDOG=1");
  return G_SOURCE_CONTINUE;
}

static void
start_watchdog (MunityDaemon *self)
{
  uint64_t usec = 0;

  if (sd_watchdog_enabled (FALSE, &usec) > 0 && usec > 0)
    {
      sd_notify (FALSE, "WATCHDOG=1");
      self->watchdog_id = g_timeout_add (MAX (usec / 2 / 1000, 1), watchdog_cb, self);
    }
}

/* ---- start-up ---------------------------------------------------------- */

static void
on_db_up_changed (MunityDb   *db,
                  GParamSpec *pspec,
                  gpointer    user_data)
{
  MunityDaemon *self = user_data;

  munity_metrics_set_gauge (self->metrics, "munity_database_up", munity_db_is_up (db) ? 1 : 0);
}

static void
on_presence_changed (MunityPresence *presence,
                     GParamSpec     *pspec,
                     gpointer        user_data)
{
  MunityDaemon *self = user_data;

  munity_metrics_set_gauge (self->metrics, "munity_online_users", munity_presence_get_n_users (presence));
  munity_metrics_set_gauge (self->metrics, "munity_sockets", munity_presence_get_n_sockets (presence));
}

/* ---- wiring ------------------------------------------------------------ */

static void
on_session_ended (MunityAccounts *accounts,
                  gint64          user_id,
                  const char     *session,
                  MunityPresence *presence)
{
  /* That session's sockets close with 4001; the user leaves at once if
   * nothing else of theirs is open. */
  munity_presence_end_session (presence, user_id, session);
}

/**
 * munity_daemon_connect_accounts:
 * @accounts: the accounts service
 * @presence: the presence model
 *
 * Lets stored profile changes and ended sessions reach the model, for as
 * long as both live.
 */
void
munity_daemon_connect_accounts (MunityAccounts *accounts,
                                MunityPresence *presence)
{
  g_signal_connect_object (accounts, "user-changed",
                           G_CALLBACK (munity_presence_update_user), presence, G_CONNECT_SWAPPED);
  g_signal_connect_object (accounts, "session-ended",
                           G_CALLBACK (on_session_ended), presence, 0);
}

/**
 * munity_daemon_connect_dbus_view:
 * @presence: the presence model
 * @dbus: its D-Bus view
 *
 * Lets the model's changes reach the D-Bus view, for as long as both live
 * (the view ignores them while stopped).
 */
void
munity_daemon_connect_dbus_view (MunityPresence    *presence,
                                 MunityDbusService *dbus)
{
  static const struct {
    const char *signal;
    GCallback   callback;
  } wiring[] = {
    { "user-joined", G_CALLBACK (munity_dbus_service_user_joined) },
    { "user-left", G_CALLBACK (munity_dbus_service_user_left) },
    { "user-updated", G_CALLBACK (munity_dbus_service_user_updated) },
    { "socket-added", G_CALLBACK (munity_dbus_service_sockets_changed) },
    { "socket-removed", G_CALLBACK (munity_dbus_service_sockets_changed) },
    { "notify::n-users", G_CALLBACK (munity_dbus_service_counts_changed) },
    { "notify::n-sockets", G_CALLBACK (munity_dbus_service_counts_changed) },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (wiring); i++)
    g_signal_connect_object (presence, wiring[i].signal, wiring[i].callback, dbus, G_CONNECT_SWAPPED);
}

/**
 * munity_daemon_connect_cluster:
 * @presence: the presence model
 * @accounts: the accounts service
 * @cluster: this node's part in the cluster
 *
 * Lets this node's sockets and profile changes reach the other nodes, for
 * as long as all three live. (The cluster changes the model itself: the
 * other nodes' sockets are an input like the WebSocket hub.)
 */
void
munity_daemon_connect_cluster (MunityPresence *presence,
                               MunityAccounts *accounts,
                               MunityCluster  *cluster)
{
  g_signal_connect_object (presence, "socket-added", G_CALLBACK (munity_cluster_socket_added),
                           cluster, G_CONNECT_SWAPPED);
  g_signal_connect_object (presence, "socket-changed", G_CALLBACK (munity_cluster_socket_changed),
                           cluster, G_CONNECT_SWAPPED);
  g_signal_connect_object (presence, "socket-removed", G_CALLBACK (munity_cluster_socket_removed),
                           cluster, G_CONNECT_SWAPPED);
  g_signal_connect_object (accounts, "user-changed", G_CALLBACK (munity_cluster_user_changed),
                           cluster, G_CONNECT_SWAPPED);
}

static void
on_cluster_nodes_changed (MunityCluster *cluster,
                          GParamSpec    *pspec,
                          gpointer       user_data)
{
  MunityDaemon *self = user_data;

  munity_metrics_set_gauge (self->metrics, "munity_cluster_nodes", munity_cluster_get_n_nodes (cluster));
}

/* munity_node_sockets{node="NAME"}: every node's sockets as this node
 * knows them, whenever the model's socket count or the node list changes. */
static void
update_node_gauges (MunityDaemon *self)
{
  g_autoptr(GPtrArray) nodes = NULL;
  g_autofree const char **names = NULL;
  g_autofree gint64 *sockets = NULL;

  if (self->cluster == NULL)
    return;

  nodes = munity_cluster_list_nodes (self->cluster);
  names = g_new0 (const char *, nodes->len);
  sockets = g_new0 (gint64, nodes->len);
  for (guint i = 0; i < nodes->len; i++)
    {
      MunityClusterNode *node = nodes->pdata[i];

      names[i] = node->name;
      sockets[i] = node->n_sockets;
    }
  munity_metrics_set_labelled_gauges (self->metrics, "munity_node_sockets", "node",
                                      nodes->len, names, sockets);
}

/* A picture being written when munityd stopped (or the disk filled up)
 * keeps its temporary name (munity-http-server.c): it goes at start-up. */
static void
remove_partial_uploads (const char *avatars)
{
  g_autoptr(GDir) dir = g_dir_open (avatars, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;

      if (!g_str_has_prefix (name, ".upload-"))
        continue;
      path = g_build_filename (avatars, name, NULL);
      if (g_unlink (path) == 0)
        g_message ("Removed a picture left half-written: %s", path);
    }
}

static void
serve (MunityDaemon *self)
{
  /* Pictures live in the state directory; made here, once, so that no
   * request waits on the file system for it (and after the embedded
   * cluster's first start, which wants an empty directory as root). */
  {
    g_autofree char *avatars = munity_avatar_dir_for_state_dir (self->config->state_dir);
    if (g_mkdir_with_parents (avatars, 0700) != 0)
      {
        int saved_errno = errno;
        g_autoptr(GError) mkdir_error = g_error_new (MUNITY_ERROR, MUNITY_ERROR_FAILED,
                                                     _("cannot create %s: %s"), avatars, g_strerror (saved_errno));
        fail (self, mkdir_error);
        return;
      }
    remove_partial_uploads (avatars);
  }

  self->accounts = munity_accounts_new (self->db);
  self->presence = munity_presence_new (self->config->leave_grace_ms);
  g_signal_connect (self->presence, "notify::n-users", G_CALLBACK (on_presence_changed), self);
  g_signal_connect (self->presence, "notify::n-sockets", G_CALLBACK (on_presence_changed), self);
  on_presence_changed (self->presence, NULL, self);
  self->hub = munity_ws_hub_new (self->presence, self->metrics);
  g_signal_connect_object (self->presence, "user-joined", G_CALLBACK (munity_ws_hub_user_joined),
                           self->hub, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->presence, "user-left", G_CALLBACK (munity_ws_hub_user_left),
                           self->hub, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->presence, "user-updated", G_CALLBACK (munity_ws_hub_user_updated),
                           self->hub, G_CONNECT_SWAPPED);
  self->last_seen = munity_last_seen_new (self->db);
  g_signal_connect_object (self->presence, "user-left", G_CALLBACK (munity_last_seen_user_left),
                           self->last_seen, G_CONNECT_SWAPPED);
  self->http = munity_http_server_new (self->config, self->db, self->accounts,
                                       self->presence, self->hub, self->metrics);

  if (self->metrics_socket != NULL)
    {
      munity_http_server_add_socket (self->http, self->metrics_socket, MUNITY_HTTP_SOCKET_METRICS);
      g_message ("Serving /metrics on %s only", self->config->metrics_listen);
    }

  for (guint i = 0; i < self->sockets->len; i++)
    {
      GSocket *socket = self->sockets->pdata[i];
      g_autoptr(GSocketAddress) address = g_socket_get_local_address (socket, NULL);

      munity_http_server_add_socket (self->http, socket, MUNITY_HTTP_SOCKET_MAIN);

      if (address != NULL && G_IS_INET_SOCKET_ADDRESS (address))
        {
          GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS (address);
          g_autofree char *host = g_inet_address_to_string (g_inet_socket_address_get_address (inet));
          gboolean v6 = g_socket_address_get_family (address) == G_SOCKET_FAMILY_IPV6;

          g_message ("Listening on %s://%s%s%s:%u/", self->config->tls_certificate != NULL ? "https" : "http",
                     v6 ? "[" : "", host, v6 ? "]" : "",
                     g_inet_socket_address_get_port (inet));
        }
    }

  /* Never fatal: without a bus munityd still serves HTTP and WebSockets. */
  if (self->config->bus != MUNITY_BUS_NONE)
    {
      self->dbus = munity_dbus_service_new (self->presence, self->config->bus, self->config->replace);
      munity_daemon_connect_dbus_view (self->presence, self->dbus);
      munity_dbus_service_start (self->dbus);
    }

  /* Inputs last: nothing reaches the model before its views listen. */
  munity_daemon_connect_accounts (self->accounts, self->presence);
  {
    /* Final since open_sockets(): settle_node_name(). */
    self->cluster = munity_cluster_new (self->db, self->presence, self->accounts,
                                        self->config->node_name);
    g_signal_connect (self->cluster, "notify::n-nodes", G_CALLBACK (on_cluster_nodes_changed), self);
    on_cluster_nodes_changed (self->cluster, NULL, self);
    g_signal_connect_swapped (self->cluster, "nodes-changed", G_CALLBACK (update_node_gauges), self);
    g_signal_connect_object (self->presence, "notify::n-sockets", G_CALLBACK (update_node_gauges),
                             self, G_CONNECT_SWAPPED);
    update_node_gauges (self);
    if (self->dbus != NULL)
      munity_dbus_service_set_cluster (self->dbus, self->cluster);
    munity_daemon_connect_cluster (self->presence, self->accounts, self->cluster);
    munity_cluster_start (self->cluster);
  }

  self->running = TRUE;
  start_watchdog (self);
  sd_notify (FALSE, "READY=1\nSTATUS=Serving");
}

static void
db_started_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(MunityDaemon) self = user_data;
  GError *error = NULL;

  if (!munity_db_wait_up_finish (MUNITY_DB (source), result, &error))
    {
      g_prefix_error (&error, _("the database is not reachable: "));
      fail (self, error);
      g_error_free (error);
      return;
    }

  if (!self->stopping)
    serve (self);
}

static void
migrated_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(MunityDaemon) self = user_data;
  GError *error = NULL;
  guint applied = 0;

  if (!munity_migrations_run_finish (result, &applied, &error))
    {
      fail (self, error);
      g_error_free (error);
      return;
    }

  munity_db_close (self->migrate_db);
  g_clear_object (&self->migrate_db);

  g_message ("Database schema is at version %u (%u migration(s) applied now)",
             munity_migrations_latest_version (), applied);

  if (self->stopping)
    return;

  /* Wait for the serving connections too, so READY=1 means usable. */
  self->db = munity_db_new (self->conninfo, DB_CONNECTIONS);
  g_signal_connect (self->db, "notify::up", G_CALLBACK (on_db_up_changed), self);
  on_db_up_changed (self->db, NULL, self);
  munity_db_start (self->db);
  munity_db_wait_up_async (self->db, STARTUP_DB_WAIT_MS, self->cancellable,
                           db_started_cb, g_object_ref (self));
}

static void
migrate_db_up_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(MunityDaemon) self = user_data;
  GError *error = NULL;

  if (!munity_db_wait_up_finish (MUNITY_DB (source), result, &error))
    {
      g_prefix_error (&error, _("the database is not reachable: "));
      fail (self, error);
      g_error_free (error);
      return;
    }

  munity_migrations_run_async (self->migrate_db, self->cancellable, migrated_cb, g_object_ref (self));
}

static void
connect_database (MunityDaemon *self)
{
  sd_notify (FALSE, "STATUS=Connecting to the database");
  self->migrate_db = munity_db_new (self->conninfo, 1);
  munity_db_start (self->migrate_db);
  munity_db_wait_up_async (self->migrate_db, STARTUP_DB_WAIT_MS, self->cancellable,
                           migrate_db_up_cb, g_object_ref (self));
}

/* The embedded cluster restarts itself (munity-embedded-pg.c) and the
 * database connections come back by themselves; systemd only hears why
 * munityd is degraded meanwhile. */
static void
on_embedded_exited (MunityEmbeddedPg *embedded,
                    gpointer          user_data)
{
  sd_notify (FALSE, "STATUS=The embedded PostgreSQL died; restarting it");
}

static void
on_embedded_restarted (MunityEmbeddedPg *embedded,
                       gpointer          user_data)
{
  MunityDaemon *self = user_data;

  if (self->running)
    sd_notify (FALSE, "STATUS=Serving");
}

static void
embedded_started_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(MunityDaemon) self = user_data;
  GError *error = NULL;

  if (!munity_embedded_pg_start_finish (MUNITY_EMBEDDED_PG (source), result, &error))
    {
      g_prefix_error (&error, _("cannot start the embedded PostgreSQL: "));
      fail (self, error);
      g_error_free (error);
      return;
    }

  if (self->stopping)
    return;

  self->conninfo = g_strdup (munity_embedded_pg_get_conninfo (self->embedded));
  connect_database (self);
}

/* Every WebSocket is a descriptor: take all the hard limit allows. */
static void
raise_fd_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &limit) != 0)
        g_debug ("Could not raise the file limit: %s", g_strerror (errno));
    }
}

static void
start (MunityDaemon *self)
{
  g_autoptr(GError) error = NULL;

  raise_fd_limit ();

  if (!munity_config_ensure_state_dir (self->config->state_dir, &error))
    {
      fail (self, error);
      return;
    }

  if (!open_sockets (self, &error))
    {
      fail (self, error);
      return;
    }

  if (self->config->database != NULL)
    {
      self->conninfo = g_strdup (self->config->database);
      connect_database (self);
      return;
    }

  sd_notify (FALSE, "STATUS=Starting the embedded PostgreSQL");
  self->embedded = munity_embedded_pg_new (self->config->state_dir, self->config->embedded_db_user);
  g_signal_connect (self->embedded, "exited", G_CALLBACK (on_embedded_exited), self);
  g_signal_connect (self->embedded, "restarted", G_CALLBACK (on_embedded_restarted), self);
  munity_embedded_pg_start_async (self->embedded, self->cancellable,
                                  embedded_started_cb, g_object_ref (self));
}

/* ---- shutdown ---------------------------------------------------------- */

static void
embedded_stopped_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(MunityDaemon) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!munity_embedded_pg_stop_finish (MUNITY_EMBEDDED_PG (source), result, &error))
    g_message ("Stopping the embedded PostgreSQL: %s", error->message);

  g_main_loop_quit (self->loop);
}

static void
cluster_left_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(MunityDaemon) self = user_data;

  munity_cluster_stop_finish (MUNITY_CLUSTER (source), result);
  close_databases (self);
}

static void
last_seen_stopped_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(MunityDaemon) self = user_data;

  munity_last_seen_stop_finish (MUNITY_LAST_SEEN (source), result);
  leave_cluster (self);
}

static void
shutdown_finish (MunityDaemon *self)
{
  /* The name goes first: whoever watches it knows presence is gone. */
  if (self->dbus != NULL)
    munity_dbus_service_stop (self->dbus);
  /* Sockets that did not answer our close in time are cut now. */
  if (self->http != NULL)
    munity_http_server_disconnect (self->http);
  g_clear_object (&self->hub);

  /* Our sockets are closed: whoever lingers for us now would have left
   * after the grace; they are recorded as seen now (best effort). */
  if (self->last_seen != NULL && self->presence != NULL)
    {
      munity_last_seen_stop_async (self->last_seen, self->presence, last_seen_stopped_cb,
                                   g_object_ref (self));
      return;
    }
  leave_cluster (self);
}

static void
leave_cluster (MunityDaemon *self)
{
  /* The other nodes let our users linger (a rolling restart makes no
   * userLeft); the database is still needed. */
  if (self->cluster != NULL)
    {
      munity_cluster_stop_async (self->cluster, cluster_left_cb, g_object_ref (self));
      return;
    }
  close_databases (self);
}

static void
close_databases (MunityDaemon *self)
{
  if (self->db != NULL)
    munity_db_close (self->db);
  if (self->migrate_db != NULL)
    munity_db_close (self->migrate_db);

  if (self->embedded != NULL)
    {
      munity_embedded_pg_stop_async (self->embedded, PG_STOP_TIMEOUT_MS, NULL,
                                     embedded_stopped_cb, g_object_ref (self));
      return;
    }

  g_main_loop_quit (self->loop);
}

static gboolean
drain_cb (gpointer user_data)
{
  MunityDaemon *self = user_data;

  if (((self->http != NULL && munity_http_server_get_n_in_flight (self->http) > 0) ||
       (self->hub != NULL && munity_ws_hub_get_n_connections (self->hub) > 0)) &&
      g_get_monotonic_time () < self->drain_deadline)
    return G_SOURCE_CONTINUE;

  self->drain_id = 0;
  shutdown_finish (self);
  return G_SOURCE_REMOVE;
}

static void
shutdown_begin (MunityDaemon *self,
                int           exit_status)
{
  if (self->stopping)
    return;

  self->stopping = TRUE;
  self->exit_status = exit_status;
  sd_notify (FALSE, "STOPPING=1");
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->watchdog_id, g_source_remove);

  if (self->http != NULL)
    munity_http_server_stop_listening (self->http);
  /* Clients that connect from now on are refused at once, on our own
   * sockets. Sockets systemd passed stay untouched: systemd keeps them
   * (shut down, its socket unit would fail) and the next munityd takes
   * the connections waiting there. */
  for (guint i = 0; !self->sockets_from_systemd && i < self->sockets->len; i++)
    g_socket_shutdown (self->sockets->pdata[i], TRUE, FALSE, NULL);
  if (self->metrics_socket != NULL)
    g_socket_shutdown (self->metrics_socket, TRUE, FALSE, NULL);
  if (self->hub != NULL)
    munity_ws_hub_close_all (self->hub, MUNITY_CLOSE_GOING_AWAY, "going away");

  /* Requests in flight get a moment to finish. */
  self->drain_deadline = g_get_monotonic_time () + DRAIN_TIMEOUT_MS * 1000;
  self->drain_id = g_timeout_add (20, drain_cb, self);
}

static gboolean
on_signal (gpointer user_data)
{
  MunityDaemon *self = user_data;

  g_message ("Shutting down");
  shutdown_begin (self, self->stopping ? self->exit_status : MUNITY_EXIT_OK);
  return G_SOURCE_CONTINUE;
}

/**
 * munity_daemon_run:
 * @self: a daemon
 *
 * Starts the daemon and runs the main loop until it has shut down.
 *
 * Returns: the exit status: 0 after SIGTERM/SIGINT, 1 if start-up failed
 */
int
munity_daemon_run (MunityDaemon *self)
{
  self->sigterm_id = g_unix_signal_add (SIGTERM, on_signal, self);
  self->sigint_id = g_unix_signal_add (SIGINT, on_signal, self);

  start (self);
  g_main_loop_run (self->loop);

  return self->exit_status;
}
