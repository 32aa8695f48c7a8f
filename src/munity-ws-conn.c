/* munity-ws-conn.c — one WebSocket connection: RFC 6455 framing and output queue
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "munity-protocol.h"
#include "munity-ws-conn.h"

/*
 * A connection reads client frames as they come (the pure
 * munity_ws_parse_header() of munity-protocol.c does the header), answers
 * control frames, enforces the limits of doc/protocol.md §3 and keeps a
 * queue of output: references into shared buffers (the event log, the
 * snapshot pages), never copies, written with one writev() however many
 * pieces are pending. It does no polling of its own: the hub watches the
 * descriptor on its epoll set (doc/websocket-design.md), which is also why
 * it can be driven over a socketpair() in a test.
 */

#define MAX_IOV 64
#define READ_CHUNK 8192
#define BAD_MESSAGE_WINDOW_US (60 * G_USEC_PER_SEC)
#define CLOSE_LINGER_US (2 * G_USEC_PER_SEC)
#define SLOW_CLOSE_LINGER_US (5 * G_USEC_PER_SEC)

typedef struct {
  GBytes  *bytes;     /* (owned) */
  gsize    offset;    /* next byte to send */
  gsize    start;     /* where this segment began, to know if it started */
  gsize    end;
  gboolean snapshot;
  gboolean continues; /* not the first piece of its frame */
} Segment;

static void
segment_free (Segment *segment)
{
  g_bytes_unref (segment->bytes);
  g_free (segment);
}

static void
on_close_requested (MunitySocket *socket,
                    guint         code,
                    const char   *reason,
                    gpointer      user_data)
{
  munity_ws_conn_close (user_data, (guint16) code, reason);
}

/**
 * munity_ws_conn_new:
 * @fd: a non-blocking, upgraded connection's descriptor, which the
 *   connection now owns
 * @socket: the socket as the model sees it; its `close-requested` closes
 *   the connection
 * @funcs: (not nullable): what to tell the owner; must outlive the connection
 * @user_data: passed to @funcs
 * @struct_size: the size to allocate, at least `sizeof (MunityWsConn)`:
 *   an owner may put the connection at the start of its own struct
 *
 * The connection starts open, with nothing queued.
 *
 * Returns: (transfer full): a new connection, freed with munity_ws_conn_free()
 */
MunityWsConn *
munity_ws_conn_new (int                      fd,
                    MunitySocket            *socket,
                    const MunityWsConnFuncs *funcs,
                    gpointer                 user_data,
                    gsize                    struct_size)
{
  MunityWsConn *conn;

  g_return_val_if_fail (struct_size >= sizeof (MunityWsConn), NULL);

  conn = g_malloc0 (struct_size);
  conn->fd = fd;
  conn->state = MUNITY_WS_CONN_OPEN;
  conn->funcs = funcs;
  conn->user_data = user_data;
  conn->last_ping = g_get_monotonic_time ();
  g_queue_init (&conn->out);
  conn->socket = g_object_ref (socket);
  conn->close_handler = g_signal_connect (socket, "close-requested", G_CALLBACK (on_close_requested), conn);
  return conn;
}

/**
 * munity_ws_conn_free:
 * @conn: (transfer full): a connection, dead or not
 *
 * Frees @conn, closing its descriptor if it is still open, without telling
 * anyone: use munity_ws_conn_destroy() first to have the owner told.
 */
void
munity_ws_conn_free (MunityWsConn *conn)
{
  if (conn->fd >= 0)
    close (conn->fd);
  g_clear_signal_handler (&conn->close_handler, conn->socket);
  g_clear_object (&conn->socket);
  g_queue_clear_full (&conn->out, (GDestroyNotify) segment_free);
  g_clear_pointer (&conn->in, g_byte_array_unref);
  g_clear_pointer (&conn->message, g_byte_array_unref);
  g_free (conn);
}

/**
 * munity_ws_conn_get_socket:
 * @conn: a connection
 *
 * Returns: (transfer none): its socket in the model
 */
MunitySocket *
munity_ws_conn_get_socket (MunityWsConn *conn)
{
  return conn->socket;
}

/**
 * munity_ws_conn_get_fd:
 * @conn: a connection
 *
 * Returns: its descriptor, -1 once dead
 */
int
munity_ws_conn_get_fd (MunityWsConn *conn)
{
  return conn->fd;
}

/**
 * munity_ws_conn_get_unsent:
 * @conn: a connection
 *
 * Returns: how many bytes of output wait to be sent, the snapshot aside
 */
gsize
munity_ws_conn_get_unsent (MunityWsConn *conn)
{
  return conn->out_bytes;
}

/* ---- output ------------------------------------------------------------ */

/**
 * munity_ws_conn_queue:
 * @conn: a connection
 * @bytes: a buffer whose bytes from @start to @end never change
 * @start: the first byte to send
 * @end: just past the last
 * @flags: what the piece is
 *
 * Queues a reference to a piece of output; nothing is copied. The owner
 * calls munity_ws_conn_write() when it sees fit.
 */
void
munity_ws_conn_queue (MunityWsConn         *conn,
                      GBytes               *bytes,
                      gsize                 start,
                      gsize                 end,
                      MunityWsSegmentFlags  flags)
{
  Segment *segment = g_new (Segment, 1);

  segment->bytes = g_bytes_ref (bytes);
  segment->offset = start;
  segment->start = start;
  segment->end = end;
  segment->snapshot = (flags & MUNITY_WS_SEGMENT_SNAPSHOT) != 0;
  segment->continues = (flags & MUNITY_WS_SEGMENT_CONTINUES) != 0;
  g_queue_push_tail (&conn->out, segment);
  if (!segment->snapshot)
    conn->out_bytes += end - start;
}

/**
 * munity_ws_conn_send_frame:
 * @conn: a connection
 * @frame: a whole frame
 *
 * Queues @frame and tells the owner there is output.
 */
void
munity_ws_conn_send_frame (MunityWsConn *conn,
                           GBytes       *frame)
{
  munity_ws_conn_queue (conn, frame, 0, g_bytes_get_size (frame), MUNITY_WS_SEGMENT_NONE);
  conn->funcs->output (conn, conn->user_data);
}

/**
 * munity_ws_conn_write:
 * @conn: a connection
 *
 * Writes as much of the queued output as the socket takes. When it takes
 * everything and the connection is closing, the write side is shut down.
 * munity_ws_conn_is_blocked() says afterwards whether output is left for
 * when the socket is writable. A write error destroys the connection.
 *
 * Returns: how many writev() calls were made
 */
guint
munity_ws_conn_write (MunityWsConn *conn)
{
  guint n_writes = 0;

  while (conn->state != MUNITY_WS_CONN_DEAD && !g_queue_is_empty (&conn->out))
    {
      struct iovec iov[MAX_IOV];
      int n_iov = 0;
      ssize_t written;

      for (GList *l = conn->out.head; l != NULL && n_iov < MAX_IOV; l = l->next)
        {
          Segment *segment = l->data;
          iov[n_iov].iov_base = (guint8 *) g_bytes_get_data (segment->bytes, NULL) + segment->offset;
          iov[n_iov].iov_len = segment->end - segment->offset;
          n_iov++;
        }

      written = writev (conn->fd, iov, n_iov);
      n_writes++;
      if (written < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            {
              conn->blocked = TRUE;
              return n_writes;
            }
          g_debug ("WebSocket write failed: %s", g_strerror (errno));
          munity_ws_conn_destroy (conn);
          return n_writes;
        }

      while (written > 0)
        {
          Segment *segment = g_queue_peek_head (&conn->out);
          gsize left = segment->end - segment->offset;
          gsize step = MIN (left, (gsize) written);

          segment->offset += step;
          written -= step;
          if (!segment->snapshot)
            conn->out_bytes -= step;
          if (segment->offset == segment->end)
            segment_free (g_queue_pop_head (&conn->out));
        }
    }

  if (conn->state == MUNITY_WS_CONN_DEAD)
    return n_writes;

  conn->blocked = FALSE;

  /* Our close frame is out: half-close and wait for the peer's. */
  if (conn->state == MUNITY_WS_CONN_CLOSING && !conn->write_shut)
    {
      conn->write_shut = TRUE;
      shutdown (conn->fd, SHUT_WR);
    }
  return n_writes;
}

/* Drops every output segment not yet begun, keeping frame boundaries: the
 * rest of a frame that has begun (a snapshot is several pieces) stays. */
static void
drop_unsent (MunityWsConn *conn)
{
  GList *l = conn->out.head;
  gboolean kept = FALSE;

  while (l != NULL)
    {
      GList *next = l->next;
      Segment *segment = l->data;

      kept = segment->offset != segment->start || (segment->continues && kept);
      if (!kept)
        {
          if (!segment->snapshot)
            conn->out_bytes -= segment->end - segment->offset;
          segment_free (segment);
          g_queue_delete_link (&conn->out, l);
        }
      l = next;
    }
}

/**
 * munity_ws_conn_shed_slow_reader:
 * @conn: a connection
 *
 * A reader that does not keep up is closed; nobody waits for it. When more
 * than %MUNITY_WS_MAX_PENDING_OUTPUT bytes (the snapshot aside) wait, what
 * it has not begun to receive is dropped, frames already queued for it
 * (error replies) with it, and a 1008 close frame is queued behind what
 * was partly sent.
 *
 * Returns: %TRUE if @conn was closed and has a close frame to write
 */
gboolean
munity_ws_conn_shed_slow_reader (MunityWsConn *conn)
{
  if (conn->state != MUNITY_WS_CONN_OPEN || conn->out_bytes <= MUNITY_WS_MAX_PENDING_OUTPUT)
    return FALSE;

  g_message ("Closing WebSocket %s of user %" G_GINT64_FORMAT ": %" G_GSIZE_FORMAT " bytes unread",
             munity_socket_get_id (conn->socket), munity_socket_get_user_id (conn->socket),
             conn->out_bytes);
  drop_unsent (conn);
  munity_ws_conn_close (conn, MUNITY_CLOSE_POLICY_VIOLATION, "too slow");
  return TRUE;
}

/**
 * munity_ws_conn_close:
 * @conn: a connection
 * @code: the close code
 * @reason: (nullable): the close reason
 *
 * Starts the closing handshake: queues a close frame and tells the owner
 * that the connection is no longer open. The peer has a few seconds
 * (munity_ws_conn_linger_expired()) to answer. Does nothing unless open.
 */
void
munity_ws_conn_close (MunityWsConn *conn,
                      guint16       code,
                      const char   *reason)
{
  g_autoptr(GBytes) frame = NULL;

  if (conn->state != MUNITY_WS_CONN_OPEN)
    return;

  g_debug ("Closing WebSocket %s with %u (%s)", munity_socket_get_id (conn->socket), code, reason);

  frame = munity_ws_close_frame_new (code, reason);
  munity_ws_conn_send_frame (conn, frame);
  conn->state = MUNITY_WS_CONN_CLOSING;
  conn->close_deadline = g_get_monotonic_time () +
                         (code == MUNITY_CLOSE_POLICY_VIOLATION ? SLOW_CLOSE_LINGER_US : CLOSE_LINGER_US);
  conn->funcs->closing (conn, conn->user_data);
}

/**
 * munity_ws_conn_destroy:
 * @conn: a connection
 *
 * Ends the connection at once: the owner is told (#MunityWsConnFuncs.dead)
 * and the descriptor closed. The struct stays valid until
 * munity_ws_conn_free().
 */
void
munity_ws_conn_destroy (MunityWsConn *conn)
{
  gboolean was_open;

  if (conn->state == MUNITY_WS_CONN_DEAD)
    return;

  was_open = conn->state == MUNITY_WS_CONN_OPEN;
  conn->state = MUNITY_WS_CONN_DEAD;
  conn->funcs->dead (conn, was_open, conn->user_data);
  close (conn->fd);
  conn->fd = -1;
}

/* ---- keepalive --------------------------------------------------------- */

/**
 * munity_ws_conn_send_ping:
 * @conn: an open connection
 * @ping: a ping frame, shared by every connection
 * @now: the monotonic time
 *
 * Queues @ping. The first ping not yet answered is remembered
 * (munity_ws_conn_get_ping_outstanding()) until a pong comes.
 */
void
munity_ws_conn_send_ping (MunityWsConn *conn,
                          GBytes       *ping,
                          gint64        now)
{
  conn->last_ping = now;
  if (conn->ping_outstanding == 0)
    conn->ping_outstanding = now;
  munity_ws_conn_send_frame (conn, ping);
}

/**
 * munity_ws_conn_get_last_ping:
 * @conn: a connection
 *
 * Returns: when the last ping was queued (the connection's creation before
 *   the first)
 */
gint64
munity_ws_conn_get_last_ping (MunityWsConn *conn)
{
  return conn->last_ping;
}

/**
 * munity_ws_conn_get_ping_outstanding:
 * @conn: a connection
 *
 * Returns: when the oldest unanswered ping was queued, 0 if every ping has
 *   had its pong
 */
gint64
munity_ws_conn_get_ping_outstanding (MunityWsConn *conn)
{
  return conn->ping_outstanding;
}

/**
 * munity_ws_conn_linger_expired:
 * @conn: a connection
 * @now: the monotonic time
 *
 * Returns: %TRUE if @conn is closing and the peer has not answered our
 *   close in time (5 s after a 1008, 2 s otherwise)
 */
gboolean
munity_ws_conn_linger_expired (MunityWsConn *conn,
                               gint64        now)
{
  return conn->state == MUNITY_WS_CONN_CLOSING && now >= conn->close_deadline;
}

/* ---- input ------------------------------------------------------------- */

static void
bad_message (MunityWsConn *conn)
{
  gint64 now = g_get_monotonic_time ();
  guint expired = 0;

  /* Forget bad messages older than a minute (the oldest come first). */
  while (expired < conn->n_bad && now - conn->bad[expired] >= BAD_MESSAGE_WINDOW_US)
    expired++;
  if (expired > 0)
    {
      memmove (conn->bad, conn->bad + expired, (conn->n_bad - expired) * sizeof (gint64));
      conn->n_bad -= expired;
    }

  if (conn->n_bad >= MUNITY_WS_BAD_MESSAGE_LIMIT)
    {
      g_message ("Closing WebSocket %s: too many bad messages", munity_socket_get_id (conn->socket));
      munity_ws_conn_close (conn, MUNITY_CLOSE_POLICY_VIOLATION, "too many bad messages");
      return;
    }

  conn->bad[conn->n_bad++] = now;
  {
    g_autoptr(GBytes) frame = munity_protocol_error_frame ("bad-message");
    munity_ws_conn_send_frame (conn, frame);
    conn->funcs->bad_message (conn, conn->user_data);
  }
}

/**
 * munity_ws_utf8_validate:
 * @data: (array length=length): text from a client
 * @length: its length
 *
 * Validates UTF-8 as RFC 6455 wants it. U+0000 is a character like any
 * other, but g_utf8_validate_len() stops at a NUL byte, so the text is
 * validated between them. GLib refuses overlong forms, surrogates and code
 * points beyond U+10FFFF, as RFC 3629 does.
 *
 * Returns: %TRUE if @data is UTF-8
 */
gboolean
munity_ws_utf8_validate (const guint8 *data,
                         gsize         length)
{
  const guint8 *end = data + length;

  while (data < end)
    {
      const guint8 *nul = memchr (data, '\0', (gsize) (end - data));
      const guint8 *stop = nul != NULL ? nul : end;

      if (!g_utf8_validate_len ((const char *) data, (gsize) (stop - data), NULL))
        return FALSE;
      data = stop + (nul != NULL ? 1 : 0);
    }
  return TRUE;
}

static void
handle_message (MunityWsConn *conn,
                guint8        opcode,
                const guint8 *payload,
                gsize         length)
{
  if (opcode == MUNITY_WS_OP_BINARY)
    {
      munity_ws_conn_close (conn, MUNITY_CLOSE_UNSUPPORTED_DATA, "binary frames are not accepted");
      return;
    }

  /* A text message that is not UTF-8 breaks the framing contract, not
   * ours: RFC 6455 §8.1 says fail the connection (1007), no error frame. */
  if (!munity_ws_utf8_validate (payload, length))
    {
      munity_ws_conn_close (conn, MUNITY_WS_CLOSE_INVALID_PAYLOAD, "invalid UTF-8");
      return;
    }

  /* Clients need to send nothing (doc/protocol.md §3); what they may send
   * (setStatus, setWindow) the owner understands, on an open connection
   * only. */
  if (conn->state == MUNITY_WS_CONN_OPEN && conn->funcs->message != NULL &&
      conn->funcs->message (conn, (const char *) payload, length, conn->user_data))
    return;
  bad_message (conn);
}

static void
handle_control (MunityWsConn *conn,
                guint8        opcode,
                const guint8 *payload,
                gsize         length)
{
  switch (opcode)
    {
    case MUNITY_WS_OP_PING:
      if (conn->state == MUNITY_WS_CONN_OPEN)
        {
          g_autoptr(GBytes) pong = munity_ws_frame_new (MUNITY_WS_OP_PONG, payload, length);
          munity_ws_conn_send_frame (conn, pong);
        }
      break;

    case MUNITY_WS_OP_PONG:
      conn->ping_outstanding = 0;
      break;

    case MUNITY_WS_OP_CLOSE:
      if (conn->state == MUNITY_WS_CONN_OPEN)
        {
          guint16 code = 1000;

          if (length == 1)
            code = MUNITY_CLOSE_PROTOCOL_ERROR;
          else if (length >= 2)
            {
              guint16 theirs = (guint16) ((payload[0] << 8) | payload[1]);
              code = munity_ws_close_code_is_valid (theirs) ? theirs : MUNITY_CLOSE_PROTOCOL_ERROR;
              /* The reason is UTF-8 text too (RFC 6455 §5.5.1). */
              if (code != MUNITY_CLOSE_PROTOCOL_ERROR && !munity_ws_utf8_validate (payload + 2, length - 2))
                code = MUNITY_WS_CLOSE_INVALID_PAYLOAD;
            }
          munity_ws_conn_close (conn, code, "");
        }
      else
        {
          /* They answered our close: done. */
          munity_ws_conn_destroy (conn);
        }
      break;

    default:
      break;
    }
}

/* Returns how many bytes of @data were consumed; stops early when the
 * connection closes. */
static gsize
parse_frames (MunityWsConn *conn,
              guint8       *data,
              gsize         length)
{
  gsize at = 0;

  while (at < length && conn->state != MUNITY_WS_CONN_DEAD)
    {
      MunityWsHeader header;
      MunityWsParse result = munity_ws_parse_header (data + at, length - at, &header);
      guint8 *payload;

      if (result == MUNITY_WS_PARSE_NEED_MORE)
        break;
      if (result == MUNITY_WS_PARSE_PROTOCOL_ERROR || !header.masked)
        {
          munity_ws_conn_close (conn, MUNITY_CLOSE_PROTOCOL_ERROR, "protocol error");
          return length;
        }

      if (header.opcode < MUNITY_WS_OP_CLOSE)
        {
          gsize so_far = conn->message != NULL ? conn->message->len : 0;

          if ((header.opcode == MUNITY_WS_OP_CONTINUATION) != (conn->message != NULL))
            {
              munity_ws_conn_close (conn, MUNITY_CLOSE_PROTOCOL_ERROR, "bad fragmentation");
              return length;
            }
          if (header.payload_length > MUNITY_WS_MAX_MESSAGE - so_far)
            {
              munity_ws_conn_close (conn, MUNITY_CLOSE_TOO_BIG, "message too big");
              return length;
            }
        }

      if (length - at < header.header_length + header.payload_length)
        break;

      payload = data + at + header.header_length;
      munity_ws_unmask (payload, header.payload_length, header.mask);
      at += header.header_length + header.payload_length;

      if (conn->state != MUNITY_WS_CONN_OPEN && header.opcode != MUNITY_WS_OP_CLOSE)
        continue;  /* after our close, only their close matters */

      if (header.opcode >= MUNITY_WS_OP_CLOSE)
        {
          handle_control (conn, header.opcode, payload, header.payload_length);
          continue;
        }

      if (!header.fin)
        {
          if (conn->message == NULL)
            {
              conn->message = g_byte_array_new ();
              conn->message_opcode = header.opcode;
            }
          g_byte_array_append (conn->message, payload, header.payload_length);
          continue;
        }

      if (conn->message != NULL)
        {
          g_autoptr(GByteArray) message = g_steal_pointer (&conn->message);
          g_byte_array_append (message, payload, header.payload_length);
          handle_message (conn, conn->message_opcode, message->data, message->len);
        }
      else
        {
          handle_message (conn, header.opcode, payload, header.payload_length);
        }
    }

  return at;
}

/**
 * munity_ws_conn_read:
 * @conn: a connection whose descriptor is readable
 *
 * Reads what the peer sent (a bounded amount, so that one busy peer does
 * not hold the loop) and acts on every whole frame. End of file or a read
 * error destroys the connection.
 */
void
munity_ws_conn_read (MunityWsConn *conn)
{
  guint8 buffer[READ_CHUNK];

  for (int round = 0; round < 4 && conn->state != MUNITY_WS_CONN_DEAD; round++)
    {
      ssize_t n = read (conn->fd, buffer, sizeof buffer);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno != EAGAIN)
            munity_ws_conn_destroy (conn);
          return;
        }
      if (n == 0)
        {
          munity_ws_conn_destroy (conn);
          return;
        }

      if (conn->in != NULL)
        {
          gsize used;

          g_byte_array_append (conn->in, buffer, n);
          used = parse_frames (conn, conn->in->data, conn->in->len);
          if (conn->in != NULL)
            {
              g_byte_array_remove_range (conn->in, 0, used);
              if (conn->in->len == 0)
                g_clear_pointer (&conn->in, g_byte_array_unref);
            }
        }
      else
        {
          gsize used = parse_frames (conn, buffer, n);
          if (used < (gsize) n && conn->state != MUNITY_WS_CONN_DEAD)
            {
              conn->in = g_byte_array_sized_new (n - used);
              g_byte_array_append (conn->in, buffer + used, n - used);
            }
        }

      if ((gsize) n < sizeof buffer)
        return;
    }
}
