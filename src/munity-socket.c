/* munity-socket.c — one open WebSocket of a user, as the model sees it
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "munity-presence-private.h"
#include "munity-socket.h"

/**
 * MunitySocket:
 *
 * The model's view of one WebSocket: whose it is, which session opened it,
 * and a random id. The transport that owns the real connection listens to
 * #MunitySocket::close-requested; the model itself does no I/O.
 *
 * The id names the socket in log lines (munity-ws-hub.c) and, in a
 * cluster, in the table of sockets and the notifications between nodes
 * (munity-cluster.c); it is not sent to clients nor shown on D-Bus.
 * So it needs to be unique, not secret: it comes from GLib's generator
 * (not a cryptographic one, and none is needed here), which keeps the
 * model free of libsodium. Its form is unchanged: 32 hexadecimal digits,
 * 128 random bits, kept inline so that a socket costs no extra allocation.
 */
struct _MunitySocket
{
  GObject   parent_instance;

  char      id[33];    /* 128 random bits in hex */
  gint64    user_id;
  char     *session;   /* (owned) (nullable) the session's token hash */
  gint64    node_id;   /* 0: held by this munityd; else the cluster node's id */
  gboolean  attached;  /* in the presence model */
  gboolean  ended;     /* removed by the model itself (logout, disconnect) */
  guint     close_code; /* with ended: the close code asked for; 0: none */
  gboolean  idle;      /* the client said it is idle (setStatus) */
};

G_DEFINE_FINAL_TYPE (MunitySocket, munity_socket, G_TYPE_OBJECT)

enum {
  SIGNAL_CLOSE_REQUESTED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
munity_socket_finalize (GObject *object)
{
  MunitySocket *self = MUNITY_SOCKET (object);

  g_free (self->session);

  G_OBJECT_CLASS (munity_socket_parent_class)->finalize (object);
}

static void
munity_socket_class_init (MunitySocketClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = munity_socket_finalize;

  /**
   * MunitySocket::close-requested:
   * @self: the socket
   * @code: the WebSocket close code
   * @reason: the close reason
   *
   * The model asks the transport to close this socket. By the time this is
   * emitted the socket is no longer part of the model.
   */
  signals[SIGNAL_CLOSE_REQUESTED] =
    g_signal_new ("close-requested", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_STRING);
}

static void
munity_socket_init (MunitySocket *self)
{
  g_snprintf (self->id, sizeof self->id, "%08x%08x%08x%08x",
              g_random_int (), g_random_int (), g_random_int (), g_random_int ());
}

/**
 * munity_socket_new:
 * @user_id: the user the socket belongs to
 * @session: (nullable): the session that opened it (its token hash)
 *
 * Returns: (transfer full): a new socket with a fresh random id
 */
MunitySocket *
munity_socket_new (gint64      user_id,
                   const char *session)
{
  MunitySocket *self = g_object_new (MUNITY_TYPE_SOCKET, NULL);

  self->user_id = user_id;
  self->session = g_strdup (session);
  return self;
}

/**
 * munity_socket_new_remote:
 * @node_id: the cluster node that holds the socket (not 0)
 * @id: the socket's id on that node
 * @user_id: the user the socket belongs to
 * @session: (nullable): the session that opened it (its token hash)
 *
 * A socket held by another node of the cluster: the model counts it like
 * its own, and a close it requests is relayed to that node.
 *
 * Returns: (transfer full): a new remote socket that keeps @id
 */
MunitySocket *
munity_socket_new_remote (gint64      node_id,
                          const char *id,
                          gint64      user_id,
                          const char *session)
{
  MunitySocket *self;

  g_return_val_if_fail (node_id != 0, NULL);
  g_return_val_if_fail (id != NULL, NULL);

  self = munity_socket_new (user_id, session);
  self->node_id = node_id;
  g_strlcpy (self->id, id, sizeof self->id);
  return self;
}

/**
 * munity_socket_get_node_id:
 * @self: a socket
 *
 * Returns: 0 for a socket of this munityd, else the id of the cluster
 *   node that holds it
 */
gint64
munity_socket_get_node_id (MunitySocket *self)
{
  return self->node_id;
}

/**
 * munity_socket_get_ended:
 * @self: a socket
 *
 * Whether the model itself took the socket out (a logout, a disconnect, a
 * dead node) rather than the socket closing: its user does not linger for
 * it. Meaningful in #MunityPresence::socket-removed handlers.
 *
 * Returns: %TRUE if the model ended the socket
 */
gboolean
munity_socket_get_ended (MunitySocket *self)
{
  return self->ended;
}

/**
 * munity_socket_get_close_code:
 * @self: a socket
 *
 * For a socket the model ended (munity_socket_get_ended()): the close code
 * it asked the socket's transport for (a logout, a disconnect), or 0 when
 * it asked for none (a dead node's socket, one closed elsewhere). The
 * cluster relays it for sockets of other nodes, which have no transport
 * here. Meaningful in #MunityPresence::socket-removed handlers.
 *
 * Returns: a WebSocket close code, or 0
 */
guint
munity_socket_get_close_code (MunitySocket *self)
{
  return self->close_code;
}

/**
 * munity_socket_get_id:
 * @self: a socket
 *
 * Returns: the socket's id for log lines: 32 hexadecimal digits, 128
 *   random bits
 */
const char *
munity_socket_get_id (MunitySocket *self)
{
  return self->id;
}

/**
 * munity_socket_get_user_id:
 * @self: a socket
 *
 * Returns: the id of the user the socket belongs to
 */
gint64
munity_socket_get_user_id (MunitySocket *self)
{
  return self->user_id;
}

/**
 * munity_socket_get_session:
 * @self: a socket
 *
 * Returns: (nullable): the session that opened the socket
 */
const char *
munity_socket_get_session (MunitySocket *self)
{
  return self->session;
}

/**
 * munity_socket_request_close:
 * @self: a socket
 * @code: a WebSocket close code
 * @reason: a short reason
 *
 * Emits #MunitySocket::close-requested.
 */
void
munity_socket_request_close (MunitySocket *self,
                             guint         code,
                             const char   *reason)
{
  g_signal_emit (self, signals[SIGNAL_CLOSE_REQUESTED], 0, code, reason);
}

/**
 * munity_socket_get_idle:
 * @self: a socket
 *
 * Whether the socket's client said it is idle (`setStatus`,
 * doc/protocol.md §3). A socket starts online; only
 * munity_presence_set_socket_idle() changes it.
 *
 * Returns: %TRUE if the socket is idle
 */
gboolean
munity_socket_get_idle (MunitySocket *self)
{
  return self->idle;
}

void
munity_socket_set_idle (MunitySocket *self,
                        gboolean      idle)
{
  self->idle = idle;
}

gboolean
munity_socket_is_attached (MunitySocket *self)
{
  return self->attached;
}

void
munity_socket_set_attached (MunitySocket *self,
                            gboolean      attached)
{
  self->attached = attached;
}

/* Taken out by the model; a close with @close_code is asked for unless
 * it is 0. */
void
munity_socket_end (MunitySocket *self,
                   guint         close_code)
{
  self->ended = TRUE;
  self->close_code = close_code;
}
