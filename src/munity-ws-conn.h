/* munity-ws-conn.h — one WebSocket connection: RFC 6455 framing and output queue
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "munity-socket.h"

G_BEGIN_DECLS

/* doc/protocol.md §3: output a slow reader may have pending, snapshot aside. */
#define MUNITY_WS_MAX_PENDING_OUTPUT (1024 * 1024)

/* RFC 6455 §7.4.1: "data within a message that was not consistent with
 * the type of the message (e.g., non-UTF-8 data within a text message)".
 * Only the framing closes with it, so it is not among MUNITY_CLOSE_*. */
#define MUNITY_WS_CLOSE_INVALID_PAYLOAD 1007

/* Bad messages a connection may send within a sliding minute; the next
 * one closes it (doc/protocol.md §3). */
#define MUNITY_WS_BAD_MESSAGE_LIMIT 20

/**
 * MunityWsConnState:
 * @MUNITY_WS_CONN_OPEN: the connection is open
 * @MUNITY_WS_CONN_CLOSING: our close frame is queued or sent
 * @MUNITY_WS_CONN_DEAD: the descriptor is closed; the connection waits to
 *   be freed
 */
typedef enum {
  MUNITY_WS_CONN_OPEN,
  MUNITY_WS_CONN_CLOSING,
  MUNITY_WS_CONN_DEAD,
} MunityWsConnState;

/**
 * MunityWsSegmentFlags:
 * @MUNITY_WS_SEGMENT_NONE: a whole frame, or the start of one
 * @MUNITY_WS_SEGMENT_SNAPSHOT: part of the snapshot, which does not count
 *   against %MUNITY_WS_MAX_PENDING_OUTPUT
 * @MUNITY_WS_SEGMENT_CONTINUES: not the first piece of its frame: it is
 *   sent whenever the piece before it has begun
 */
typedef enum {
  MUNITY_WS_SEGMENT_NONE = 0,
  MUNITY_WS_SEGMENT_SNAPSHOT = 1 << 0,
  MUNITY_WS_SEGMENT_CONTINUES = 1 << 1,
} MunityWsSegmentFlags;

typedef struct _MunityWsConn MunityWsConn;

/**
 * MunityWsConnFuncs:
 * @output: the connection queued a frame of its own (a pong, an error, a
 *   close): munity_ws_conn_write() it soon
 * @closing: the connection is no longer open (its close frame is queued):
 *   its socket should leave the model now
 * @dead: the connection is about to close its descriptor (@was_open when
 *   it never got to closing): stop watching it; free it later with
 *   munity_ws_conn_free(), not from this callback
 * @bad_message: an `error` frame was queued for a message not understood
 * @message: (nullable): a text message (valid UTF-8) arrived on an open
 *   connection; return %FALSE if it is not understood, and the connection
 *   answers and counts it as a bad message. %NULL understands nothing.
 *
 * What a connection tells its owner, which watches its descriptor. No
 * callback may free the connection.
 */
typedef struct {
  void (*output)      (MunityWsConn *conn,
                       gpointer      user_data);
  void (*closing)     (MunityWsConn *conn,
                       gpointer      user_data);
  void (*dead)        (MunityWsConn *conn,
                       gboolean      was_open,
                       gpointer      user_data);
  void (*bad_message) (MunityWsConn *conn,
                       gpointer      user_data);
  gboolean (*message) (MunityWsConn *conn,
                       const char   *text,
                       gsize         length,
                       gpointer      user_data);
} MunityWsConnFuncs;

/**
 * MunityWsConn:
 *
 * One upgraded WebSocket connection on a non-blocking descriptor. It has
 * no main-loop source or timer of its own: its owner watches the
 * descriptor and calls munity_ws_conn_read() and munity_ws_conn_write(),
 * and keeps time for it (munity_ws_conn_send_ping(),
 * munity_ws_conn_linger_expired()). Owners may embed it at the start of a
 * larger struct, as with #GSource (see munity_ws_conn_new()).
 *
 * The fields are private; munity_ws_conn_get_state() and
 * munity_ws_conn_is_blocked() read them without a call.
 */
struct _MunityWsConn
{
  /*< private >*/
  int                      fd;
  MunityWsConnState        state;
  gboolean                 blocked;          /* the last write met EAGAIN */
  gboolean                 write_shut;
  const MunityWsConnFuncs *funcs;
  gpointer                 user_data;
  MunitySocket            *socket;           /* (owned) */
  gulong                   close_handler;
  GQueue                   out;              /* of Segment (owned) */
  gsize                    out_bytes;        /* unsent bytes, snapshot excluded */
  GByteArray              *in;               /* (owned) (nullable) partial frame */
  GByteArray              *message;          /* (owned) (nullable) fragmented message */
  guint8                   message_opcode;
  gint64                   last_ping;
  gint64                   ping_outstanding; /* 0 when no ping waits for its pong */
  gint64                   close_deadline;
  guint                    n_bad;
  gint64                   bad[MUNITY_WS_BAD_MESSAGE_LIMIT]; /* oldest first */
};

MunityWsConn *munity_ws_conn_new               (int                      fd,
                                                MunitySocket            *socket,
                                                const MunityWsConnFuncs *funcs,
                                                gpointer                 user_data,
                                                gsize                    struct_size);
void          munity_ws_conn_free              (MunityWsConn            *conn);

MunitySocket *munity_ws_conn_get_socket        (MunityWsConn            *conn);
int           munity_ws_conn_get_fd            (MunityWsConn            *conn);
gsize         munity_ws_conn_get_unsent        (MunityWsConn            *conn);

void          munity_ws_conn_read              (MunityWsConn            *conn);
guint         munity_ws_conn_write             (MunityWsConn            *conn);
void          munity_ws_conn_queue             (MunityWsConn            *conn,
                                                GBytes                  *bytes,
                                                gsize                    start,
                                                gsize                    end,
                                                MunityWsSegmentFlags     flags);
void          munity_ws_conn_send_frame        (MunityWsConn            *conn,
                                                GBytes                  *frame);
gboolean      munity_ws_conn_shed_slow_reader  (MunityWsConn            *conn);
void          munity_ws_conn_close             (MunityWsConn            *conn,
                                                guint16                  code,
                                                const char              *reason);
void          munity_ws_conn_destroy           (MunityWsConn            *conn);

void          munity_ws_conn_send_ping         (MunityWsConn            *conn,
                                                GBytes                  *ping,
                                                gint64                   now);
gint64        munity_ws_conn_get_last_ping     (MunityWsConn            *conn);
gint64        munity_ws_conn_get_ping_outstanding (MunityWsConn         *conn);
gboolean      munity_ws_conn_linger_expired    (MunityWsConn            *conn,
                                                gint64                   now);

gboolean      munity_ws_utf8_validate          (const guint8            *data,
                                                gsize                    length);

/**
 * munity_ws_conn_get_state:
 * @conn: a connection
 *
 * Returns: where @conn is in its life
 */
static inline MunityWsConnState
munity_ws_conn_get_state (MunityWsConn *conn)
{
  return conn->state;
}

/**
 * munity_ws_conn_is_blocked:
 * @conn: a connection
 *
 * Returns: %TRUE when the last munity_ws_conn_write() left output behind
 *   because the socket was full: write again when it is writable
 */
static inline gboolean
munity_ws_conn_is_blocked (MunityWsConn *conn)
{
  return conn->blocked;
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MunityWsConn, munity_ws_conn_free)

G_END_DECLS
