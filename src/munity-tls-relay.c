/* munity-tls-relay.c — a WebSocket over TLS as a plain descriptor
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "munity-tls-relay.h"

/* The WebSocket hub writes frames straight to descriptors (one writev for
 * many sockets, see doc/websocket-design.md), which TLS cannot share. For a
 * connection that munityd terminates TLS on itself, the hub gets one end of
 * a socket pair and this relay copies between the other end and the TLS
 * stream, both ways, on the main loop. It costs two buffers and a TLS
 * session per socket: native TLS suits small sites; big ones terminate TLS
 * in nginx (doc/deploy.md) and give munityd plain sockets. */

#define RELAY_BUFFER 16384

typedef struct _Relay Relay;

typedef struct {
  Relay         *relay;
  GInputStream  *in;    /* (unowned) */
  GOutputStream *out;   /* (unowned) */
  guint8         buffer[RELAY_BUFFER];
} Direction;

struct _Relay {
  GIOStream    *tls;         /* (owned) */
  GIOStream    *plain;       /* (owned) our end of the socket pair */
  GCancellable *cancellable; /* (owned) cancelled when one direction ends */
  Direction     up;          /* client → hub */
  Direction     down;        /* hub → client */
  int           running;     /* directions still copying */
};

static void read_next (Direction *d);

static void
relay_unref_direction (Relay *relay)
{
  if (--relay->running > 0)
    {
      /* The first direction to end ends the other one. */
      g_cancellable_cancel (relay->cancellable);
      return;
    }

  g_io_stream_close (relay->plain, NULL, NULL);
  g_io_stream_close_async (relay->tls, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_clear_object (&relay->plain);
  g_clear_object (&relay->tls);
  g_clear_object (&relay->cancellable);
  g_free (relay);
}

static void
written_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Direction *d = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      g_debug ("TLS relay: %s", error->message);
      relay_unref_direction (d->relay);
      return;
    }
  read_next (d);
}

static void
read_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Direction *d = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (n <= 0)
    {
      if (n < 0)
        g_debug ("TLS relay: %s", error->message);
      relay_unref_direction (d->relay);
      return;
    }

  g_output_stream_write_all_async (d->out, d->buffer, n, G_PRIORITY_DEFAULT,
                                   d->relay->cancellable, written_cb, d);
}

static void
read_next (Direction *d)
{
  g_input_stream_read_async (d->in, d->buffer, sizeof d->buffer, G_PRIORITY_DEFAULT,
                             d->relay->cancellable, read_cb, d);
}

/**
 * munity_tls_relay_start:
 * @tls: a TLS connection, after the WebSocket handshake
 * @error: return location for an error
 *
 * Starts copying between @tls and a new socket pair; the relay ends, and
 * closes @tls, when either side closes.
 *
 * Returns: the plain end of the socket pair (owned by the caller), or -1
 */
int
munity_tls_relay_start (GIOStream  *tls,
                        GError    **error)
{
  int pair[2];
  g_autoptr(GSocket) socket = NULL;
  Relay *relay;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "socketpair: %s", g_strerror (saved_errno));
      return -1;
    }

  socket = g_socket_new_from_fd (pair[1], error);
  if (socket == NULL)
    {
      close (pair[0]);
      close (pair[1]);
      return -1;
    }

  relay = g_new0 (Relay, 1);
  relay->tls = g_object_ref (tls);
  relay->plain = G_IO_STREAM (g_socket_connection_factory_create_connection (socket));
  relay->cancellable = g_cancellable_new ();
  relay->running = 2;
  relay->up = (Direction) { relay, g_io_stream_get_input_stream (tls), g_io_stream_get_output_stream (relay->plain), { 0 } };
  relay->down = (Direction) { relay, g_io_stream_get_input_stream (relay->plain), g_io_stream_get_output_stream (tls), { 0 } };
  read_next (&relay->up);
  read_next (&relay->down);
  return pair[0];
}
