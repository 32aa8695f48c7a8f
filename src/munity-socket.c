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
 * The id only names the socket in log lines (munity-ws-hub.c); it is not
 * sent to clients nor shown on D-Bus, and nothing looks a socket up by it.
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
  gboolean  attached;  /* in the presence model */
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
