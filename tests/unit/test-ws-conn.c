/* test-ws-conn.c — unit tests of one WebSocket connection over a socketpair()
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "munity-protocol.h"
#include "munity-ws-conn.h"

/* The frame the server answers a message it does not understand with. */
#define BAD_MESSAGE "{\"event\":\"error\",\"data\":{\"code\":\"bad-message\"}}"

typedef struct {
  int           client;
  MunitySocket *socket;
  MunityWsConn *conn;
  GByteArray   *received;   /* from the server, not yet parsed */
  guint         n_output;
  guint         n_closing;
  guint         n_dead;
  gboolean      dead_was_open;
  guint         n_bad;
} Fixture;

typedef struct {
  guint8 opcode;
  GBytes *payload;
} Frame;

static void
on_output (MunityWsConn *conn,
           gpointer      user_data)
{
  ((Fixture *) user_data)->n_output++;
}

static void
on_closing (MunityWsConn *conn,
            gpointer      user_data)
{
  Fixture *fixture = user_data;

  g_assert_cmpint (munity_ws_conn_get_state (conn), ==, MUNITY_WS_CONN_CLOSING);
  fixture->n_closing++;
}

static void
on_dead (MunityWsConn *conn,
         gboolean      was_open,
         gpointer      user_data)
{
  Fixture *fixture = user_data;

  /* Told before the descriptor goes, so that it can be unwatched. */
  g_assert_cmpint (munity_ws_conn_get_fd (conn), >=, 0);
  fixture->n_dead++;
  fixture->dead_was_open = was_open;
}

static void
on_bad_message (MunityWsConn *conn,
                gpointer      user_data)
{
  ((Fixture *) user_data)->n_bad++;
}

static const MunityWsConnFuncs funcs = { on_output, on_closing, on_dead, on_bad_message };

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  int fds[2];

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
  g_assert_true (g_unix_set_fd_nonblocking (fds[0], TRUE, NULL));
  fixture->client = fds[1];
  fixture->socket = munity_socket_new (42, NULL);
  fixture->conn = munity_ws_conn_new (fds[0], fixture->socket, &funcs, fixture, sizeof (MunityWsConn));
  fixture->received = g_byte_array_new ();
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  MunitySocket *socket = fixture->socket;

  g_clear_pointer (&fixture->conn, munity_ws_conn_free);
  g_object_add_weak_pointer (G_OBJECT (socket), (gpointer *) &socket);
  g_clear_object (&fixture->socket);
  /* The connection let go of its socket. */
  g_assert_null (socket);
  if (fixture->client >= 0)
    close (fixture->client);
  g_byte_array_unref (fixture->received);
}

/* ---- the client side ----------------------------------------------------- */

static void
client_write (Fixture      *fixture,
              const guint8 *data,
              gsize         length)
{
  while (length > 0)
    {
      ssize_t n = write (fixture->client, data, length);

      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >, 0);
      data += n;
      length -= (gsize) n;
    }
}

/* Builds a client frame: @first is the first byte (FIN, RSV, opcode). */
static GByteArray *
client_frame (guint8      first,
              const void *payload,
              gsize       length,
              gboolean    masked)
{
  static const guint8 mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
  GByteArray *frame = g_byte_array_new ();
  guint8 header[14];
  gsize header_length = 2;

  header[0] = first;
  if (length < 126)
    header[1] = (guint8) length;
  else if (length <= 0xFFFF)
    {
      header[1] = 126;
      header[2] = (guint8) (length >> 8);
      header[3] = (guint8) length;
      header_length = 4;
    }
  else
    {
      header[1] = 127;
      for (int i = 0; i < 8; i++)
        header[2 + i] = (guint8) ((guint64) length >> (56 - 8 * i));
      header_length = 10;
    }
  if (masked)
    {
      header[1] |= 0x80;
      memcpy (header + header_length, mask, 4);
      header_length += 4;
    }
  g_byte_array_append (frame, header, (guint) header_length);
  for (gsize i = 0; i < length; i++)
    {
      guint8 byte = ((const guint8 *) payload)[i] ^ (masked ? mask[i & 3] : 0);
      g_byte_array_append (frame, &byte, 1);
    }
  return frame;
}

/* What the hub does when the descriptor is readable. */
static void
server_turn (Fixture *fixture)
{
  munity_ws_conn_read (fixture->conn);
  if (munity_ws_conn_get_state (fixture->conn) != MUNITY_WS_CONN_DEAD)
    munity_ws_conn_write (fixture->conn);
}

static void
send_frame (Fixture    *fixture,
            guint8      first,
            const void *payload,
            gsize       length)
{
  g_autoptr(GByteArray) frame = client_frame (first, payload, length, TRUE);

  client_write (fixture, frame->data, frame->len);
  server_turn (fixture);
}

static void
send_text (Fixture    *fixture,
           const char *text)
{
  send_frame (fixture, 0x80 | MUNITY_WS_OP_TEXT, text, strlen (text));
}

static void
send_close (Fixture    *fixture,
            const void *payload,
            gsize       length)
{
  send_frame (fixture, 0x80 | MUNITY_WS_OP_CLOSE, payload, length);
}

/* Reads what the server sent, waiting up to a second; FALSE at EOF. */
static gboolean
client_read_some (Fixture *fixture,
                  gsize    at_most)
{
  struct pollfd pfd = { .fd = fixture->client, .events = POLLIN };
  guint8 buffer[65536];
  ssize_t n;

  g_assert_cmpint (poll (&pfd, 1, 1000), ==, 1);
  n = read (fixture->client, buffer, MIN (at_most, sizeof buffer));
  g_assert_cmpint (n, >=, 0);
  g_byte_array_append (fixture->received, buffer, (guint) n);
  return n > 0;
}

static gboolean
try_parse (Fixture *fixture,
           Frame   *frame)
{
  MunityWsHeader header;

  if (munity_ws_parse_header (fixture->received->data, fixture->received->len, &header) != MUNITY_WS_PARSE_OK ||
      fixture->received->len < header.header_length + header.payload_length)
    return FALSE;
  /* Server frames are never masked and never fragmented. */
  g_assert_false (header.masked);
  g_assert_true (header.fin);
  frame->opcode = header.opcode;
  frame->payload = g_bytes_new (fixture->received->data + header.header_length, header.payload_length);
  g_byte_array_remove_range (fixture->received, 0, (guint) (header.header_length + header.payload_length));
  return TRUE;
}

/* The next whole frame from the server. */
static Frame
next_frame (Fixture *fixture)
{
  Frame frame = { 0, NULL };

  while (!try_parse (fixture, &frame))
    g_assert_true (client_read_some (fixture, G_MAXSIZE));
  return frame;
}

static void
expect_frame (Fixture    *fixture,
              guint8      opcode,
              const char *payload)
{
  Frame frame = next_frame (fixture);

  g_assert_cmpint (frame.opcode, ==, opcode);
  g_assert_cmpmem (g_bytes_get_data (frame.payload, NULL), g_bytes_get_size (frame.payload),
                   payload, strlen (payload));
  g_bytes_unref (frame.payload);
}

static void
expect_close (Fixture    *fixture,
              guint16     code,
              const char *reason)
{
  Frame frame = next_frame (fixture);
  const guint8 *data;
  gsize size;

  g_assert_cmpint (frame.opcode, ==, MUNITY_WS_OP_CLOSE);
  data = g_bytes_get_data (frame.payload, &size);
  g_assert_cmpuint (size, >=, 2);
  g_assert_cmpuint ((data[0] << 8) | data[1], ==, code);
  g_assert_cmpmem (data + 2, size - 2, reason, strlen (reason));
  g_bytes_unref (frame.payload);
}

/* After its close frame the server shuts its side down. */
static void
expect_eof (Fixture *fixture)
{
  g_assert_cmpuint (fixture->received->len, ==, 0);
  g_assert_false (client_read_some (fixture, G_MAXSIZE));
}

/* Nothing more is waiting for the client. */
static void
expect_nothing (Fixture *fixture)
{
  struct pollfd pfd = { .fd = fixture->client, .events = POLLIN };

  g_assert_cmpuint (fixture->received->len, ==, 0);
  g_assert_cmpint (poll (&pfd, 1, 0), ==, 0);
}

/* ---- messages ------------------------------------------------------------ */

static void
test_fragmented (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(GByteArray) last = client_frame (0x80 | MUNITY_WS_OP_CONTINUATION, " world", 6, TRUE);

  send_frame (fixture, MUNITY_WS_OP_TEXT, "hel", 3);
  send_frame (fixture, MUNITY_WS_OP_CONTINUATION, "lo", 2);
  expect_nothing (fixture);
  /* The last fragment a byte at a time: nothing happens before it is whole. */
  for (guint i = 0; i < last->len; i++)
    {
      client_write (fixture, last->data + i, 1);
      server_turn (fixture);
      if (i + 1 < last->len)
        g_assert_cmpuint (fixture->n_bad, ==, 0);
    }
  /* One message, which no server event matches: one error frame. */
  expect_frame (fixture, MUNITY_WS_OP_TEXT, BAD_MESSAGE);
  expect_nothing (fixture);
  g_assert_cmpuint (fixture->n_bad, ==, 1);
  g_assert_cmpuint (fixture->n_output, ==, 1);
  g_assert_cmpint (munity_ws_conn_get_state (fixture->conn), ==, MUNITY_WS_CONN_OPEN);

  /* Every text message, JSON or not, gets the same answer. */
  send_text (fixture, "{\"event\":\"dance\"}");
  send_text (fixture, "");
  expect_frame (fixture, MUNITY_WS_OP_TEXT, BAD_MESSAGE);
  expect_frame (fixture, MUNITY_WS_OP_TEXT, BAD_MESSAGE);
  g_assert_cmpuint (fixture->n_bad, ==, 3);
}

static void
test_control_interleaved (Fixture       *fixture,
                          gconstpointer  data)
{
  send_frame (fixture, MUNITY_WS_OP_TEXT, "ab", 2);
  send_frame (fixture, 0x80 | MUNITY_WS_OP_PING, "p1", 2);
  send_frame (fixture, MUNITY_WS_OP_CONTINUATION, "cd", 2);
  send_frame (fixture, 0x80 | MUNITY_WS_OP_PONG, "", 0);
  send_frame (fixture, 0x80 | MUNITY_WS_OP_CONTINUATION, "ef", 2);

  expect_frame (fixture, MUNITY_WS_OP_PONG, "p1");
  expect_frame (fixture, MUNITY_WS_OP_TEXT, BAD_MESSAGE);
  expect_nothing (fixture);
  g_assert_cmpuint (fixture->n_bad, ==, 1);
  g_assert_cmpint (munity_ws_conn_get_state (fixture->conn), ==, MUNITY_WS_CONN_OPEN);
}

static void
test_utf8 (Fixture       *fixture,
           gconstpointer  data)
{
  /* U+0000 is a character; so is an é split across two fragments. */
  send_frame (fixture, 0x80 | MUNITY_WS_OP_TEXT, "a\0b", 3);
  send_frame (fixture, MUNITY_WS_OP_TEXT, "caf\xc3", 4);
  send_frame (fixture, 0x80 | MUNITY_WS_OP_CONTINUATION, "\xa9", 1);
  expect_frame (fixture, MUNITY_WS_OP_TEXT, BAD_MESSAGE);
  expect_frame (fixture, MUNITY_WS_OP_TEXT, BAD_MESSAGE);
  g_assert_cmpuint (fixture->n_closing, ==, 0);

  /* An overlong '/' is not UTF-8: the connection fails, no error frame. */
  send_text (fixture, "\xc0\xaf");
  expect_close (fixture, MUNITY_WS_CLOSE_INVALID_PAYLOAD, "invalid UTF-8");
  expect_eof (fixture);
  g_assert_cmpuint (fixture->n_bad, ==, 2);
  g_assert_cmpuint (fixture->n_closing, ==, 1);
}

typedef struct {
  const char *name;
  guint8      first;
  gboolean    masked;
  gboolean    open_fragment;
  guint16     code;
  const char *reason;
} BadFrame;

static const BadFrame bad_frames[] = {
  { "unmasked", 0x80 | MUNITY_WS_OP_TEXT, FALSE, FALSE, 1002, "protocol error" },
  { "rsv1", 0xC0 | MUNITY_WS_OP_TEXT, TRUE, FALSE, 1002, "protocol error" },
  { "rsv3", 0x90 | MUNITY_WS_OP_TEXT, TRUE, FALSE, 1002, "protocol error" },
  { "opcode-3", 0x83, TRUE, FALSE, 1002, "protocol error" },
  { "opcode-b", 0x8B, TRUE, FALSE, 1002, "protocol error" },
  { "lone-continuation", 0x80 | MUNITY_WS_OP_CONTINUATION, TRUE, FALSE, 1002, "bad fragmentation" },
  { "text-inside-fragmented", 0x80 | MUNITY_WS_OP_TEXT, TRUE, TRUE, 1002, "bad fragmentation" },
  { "fragmented-ping", MUNITY_WS_OP_PING, TRUE, FALSE, 1002, "protocol error" },
  { "binary", 0x80 | MUNITY_WS_OP_BINARY, TRUE, FALSE, 1003, "binary frames are not accepted" },
};

static void
test_bad_frame (Fixture       *fixture,
                gconstpointer  data)
{
  const BadFrame *bad = data;
  g_autoptr(GByteArray) frame = client_frame (bad->first, "hi", 2, bad->masked);
  g_autoptr(GByteArray) after = client_frame (0x80 | MUNITY_WS_OP_PING, "late", 4, TRUE);

  if (bad->open_fragment)
    send_frame (fixture, MUNITY_WS_OP_TEXT, "x", 1);
  /* A ping right behind the bad frame goes unanswered. */
  g_byte_array_append (frame, after->data, after->len);
  client_write (fixture, frame->data, frame->len);
  server_turn (fixture);

  expect_close (fixture, bad->code, bad->reason);
  expect_eof (fixture);
  g_assert_cmpuint (fixture->n_closing, ==, 1);
  g_assert_cmpuint (fixture->n_bad, ==, 0);
  g_assert_cmpuint (fixture->n_dead, ==, 0);
}

static void
test_too_big (Fixture       *fixture,
              gconstpointer  data)
{
  g_autofree char *limit = g_strnfill (MUNITY_WS_MAX_MESSAGE, 'a');
  g_autofree char *part = g_strnfill (MUNITY_WS_MAX_MESSAGE / 2, 'b');
  guint8 header[4] = { 0x80 | MUNITY_WS_OP_TEXT, 0x80 | 126,
                       (MUNITY_WS_MAX_MESSAGE + 1) >> 8, (MUNITY_WS_MAX_MESSAGE + 1) & 0xFF };

  /* 4 KiB is allowed, in one frame or in fragments. */
  send_text (fixture, limit);
  send_frame (fixture, MUNITY_WS_OP_TEXT, part, strlen (part));
  send_frame (fixture, 0x80 | MUNITY_WS_OP_CONTINUATION, part, strlen (part));
  expect_frame (fixture, MUNITY_WS_OP_TEXT, BAD_MESSAGE);
  expect_frame (fixture, MUNITY_WS_OP_TEXT, BAD_MESSAGE);

  /* One byte more is refused from the header alone, before the payload. */
  client_write (fixture, header, sizeof header);
  server_turn (fixture);
  g_assert_cmpuint (fixture->n_closing, ==, 0);   /* the mask is not here yet */
  client_write (fixture, (const guint8 *) "mask", 4);
  server_turn (fixture);
  expect_close (fixture, MUNITY_CLOSE_TOO_BIG, "message too big");
  expect_eof (fixture);
  g_assert_cmpuint (fixture->n_bad, ==, 2);
}

static void
test_too_big_fragmented (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autofree char *part = g_strnfill (MUNITY_WS_MAX_MESSAGE / 2, 'b');

  send_frame (fixture, MUNITY_WS_OP_TEXT, part, strlen (part));
  send_frame (fixture, MUNITY_WS_OP_CONTINUATION, part, strlen (part));
  send_frame (fixture, 0x80 | MUNITY_WS_OP_CONTINUATION, "!", 1);
  expect_close (fixture, MUNITY_CLOSE_TOO_BIG, "message too big");
  expect_eof (fixture);
  g_assert_cmpuint (fixture->n_bad, ==, 0);
}

static void
test_bad_message_limit (Fixture       *fixture,
                        gconstpointer  data)
{
  for (guint i = 0; i < MUNITY_WS_BAD_MESSAGE_LIMIT; i++)
    send_text (fixture, "?");
  for (guint i = 0; i < MUNITY_WS_BAD_MESSAGE_LIMIT; i++)
    expect_frame (fixture, MUNITY_WS_OP_TEXT, BAD_MESSAGE);
  g_assert_cmpuint (fixture->n_closing, ==, 0);

  send_text (fixture, "?");
  expect_close (fixture, MUNITY_CLOSE_POLICY_VIOLATION, "too many bad messages");
  expect_eof (fixture);
  g_assert_cmpuint (fixture->n_bad, ==, MUNITY_WS_BAD_MESSAGE_LIMIT);
}

/* ---- control frames ------------------------------------------------------ */

static void
test_ping_pong (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GBytes) ping = munity_ws_frame_new (MUNITY_WS_OP_PING, NULL, 0);
  g_autofree char *longest = g_strnfill (125, 'p');

  send_frame (fixture, 0x80 | MUNITY_WS_OP_PING, "hello", 5);
  send_frame (fixture, 0x80 | MUNITY_WS_OP_PING, longest, 125);
  expect_frame (fixture, MUNITY_WS_OP_PONG, "hello");
  expect_frame (fixture, MUNITY_WS_OP_PONG, longest);

  /* Our pings: the oldest unanswered one counts, until a pong. */
  g_assert_cmpint (munity_ws_conn_get_ping_outstanding (fixture->conn), ==, 0);
  munity_ws_conn_send_ping (fixture->conn, ping, 1000);
  munity_ws_conn_send_ping (fixture->conn, ping, 2000);
  g_assert_cmpint (munity_ws_conn_get_ping_outstanding (fixture->conn), ==, 1000);
  g_assert_cmpint (munity_ws_conn_get_last_ping (fixture->conn), ==, 2000);
  munity_ws_conn_write (fixture->conn);
  expect_frame (fixture, MUNITY_WS_OP_PING, "");
  expect_frame (fixture, MUNITY_WS_OP_PING, "");
  send_frame (fixture, 0x80 | MUNITY_WS_OP_PONG, "", 0);
  g_assert_cmpint (munity_ws_conn_get_ping_outstanding (fixture->conn), ==, 0);
  expect_nothing (fixture);
  g_assert_cmpuint (fixture->n_bad, ==, 0);
}

/* ---- the closing handshake ----------------------------------------------- */

typedef struct {
  const char *name;
  const char *payload;
  gsize       length;
  guint16     answer;
} ClientClose;

static const ClientClose client_closes[] = {
  { "4000", "\x0f\xa0" "bye", 5, 4000 },
  { "1000", "\x03\xe8", 2, 1000 },
  { "1001", "\x03\xe9", 2, 1001 },
  { "empty", "", 0, 1000 },
  { "one-byte", "\x03", 1, 1002 },
  { "1005-reserved", "\x03\xed", 2, 1002 },
  { "999", "\x03\xe7", 2, 1002 },
  { "5000", "\x13\x88", 2, 1002 },
  { "bad-reason", "\x0f\xa0\xff", 3, 1007 },
};

static void
test_client_closes (Fixture       *fixture,
                    gconstpointer  data)
{
  const ClientClose *close_ = data;

  send_close (fixture, close_->payload, close_->length);
  g_assert_cmpint (munity_ws_conn_get_state (fixture->conn), ==, MUNITY_WS_CONN_CLOSING);
  g_assert_cmpuint (fixture->n_closing, ==, 1);
  /* Their code echoed (or what was wrong with it), no reason. */
  expect_close (fixture, close_->answer, "");
  expect_eof (fixture);

  /* Then they hang up. */
  close (fixture->client);
  fixture->client = -1;
  server_turn (fixture);
  g_assert_cmpint (munity_ws_conn_get_state (fixture->conn), ==, MUNITY_WS_CONN_DEAD);
  g_assert_cmpuint (fixture->n_dead, ==, 1);
  g_assert_false (fixture->dead_was_open);
  g_assert_cmpint (munity_ws_conn_get_fd (fixture->conn), ==, -1);
}

static void
test_server_closes (Fixture       *fixture,
                    gconstpointer  data)
{
  gint64 now = g_get_monotonic_time ();

  munity_ws_conn_close (fixture->conn, MUNITY_CLOSE_LOGGED_OUT, "logged out");
  g_assert_cmpuint (fixture->n_closing, ==, 1);
  g_assert_cmpuint (fixture->n_output, ==, 1);
  /* Closing twice sends one close frame. */
  munity_ws_conn_close (fixture->conn, MUNITY_CLOSE_GOING_AWAY, "going away");
  munity_ws_conn_write (fixture->conn);
  expect_close (fixture, MUNITY_CLOSE_LOGGED_OUT, "logged out");
  expect_eof (fixture);

  /* The peer has two seconds to answer. */
  g_assert_false (munity_ws_conn_linger_expired (fixture->conn, now));
  g_assert_true (munity_ws_conn_linger_expired (fixture->conn, now + 2 * G_USEC_PER_SEC + 100000));

  /* What they send meanwhile is ignored; their close ends it. */
  send_text (fixture, "late");
  send_frame (fixture, 0x80 | MUNITY_WS_OP_PING, "late", 4);
  g_assert_cmpuint (fixture->n_bad, ==, 0);
  g_assert_cmpuint (fixture->n_dead, ==, 0);
  send_close (fixture, "\x0f\xa1", 2);
  g_assert_cmpint (munity_ws_conn_get_state (fixture->conn), ==, MUNITY_WS_CONN_DEAD);
  g_assert_cmpuint (fixture->n_dead, ==, 1);
  g_assert_false (fixture->dead_was_open);
  g_assert_false (munity_ws_conn_linger_expired (fixture->conn, now + 10 * G_USEC_PER_SEC));
  g_assert_cmpuint (fixture->n_closing, ==, 1);
}

/* The model asks the transport to close (logout, D-Bus Disconnect). */
static void
test_close_requested (Fixture       *fixture,
                      gconstpointer  data)
{
  munity_socket_request_close (fixture->socket, MUNITY_CLOSE_DISCONNECTED, "disconnected");
  munity_ws_conn_write (fixture->conn);
  expect_close (fixture, MUNITY_CLOSE_DISCONNECTED, "disconnected");
  g_assert_cmpuint (fixture->n_closing, ==, 1);
}

static void
test_peer_gone (Fixture       *fixture,
                gconstpointer  data)
{
  close (fixture->client);
  fixture->client = -1;
  server_turn (fixture);
  g_assert_cmpint (munity_ws_conn_get_state (fixture->conn), ==, MUNITY_WS_CONN_DEAD);
  g_assert_cmpuint (fixture->n_dead, ==, 1);
  g_assert_true (fixture->dead_was_open);
  g_assert_cmpuint (fixture->n_closing, ==, 0);
  /* Dead is dead. */
  munity_ws_conn_destroy (fixture->conn);
  munity_ws_conn_close (fixture->conn, 1000, "");
  g_assert_cmpuint (fixture->n_dead, ==, 1);
  g_assert_cmpuint (fixture->n_closing, ==, 0);
}

/* ---- output -------------------------------------------------------------- */

static GBytes *
numbered_frame (guint n)
{
  g_autoptr(GString) text = g_string_new (NULL);

  g_string_printf (text, "frame %05u ", n);
  for (guint i = 0; i < (n * 37) % 3000; i++)
    g_string_append_c (text, 'a' + (i + n) % 26);
  return munity_ws_frame_new (MUNITY_WS_OP_TEXT, text->str, text->len);
}

static void
set_small_buffers (Fixture *fixture)
{
  int size = 4096;

  g_assert_no_errno (setsockopt (munity_ws_conn_get_fd (fixture->conn), SOL_SOCKET, SO_SNDBUF, &size, sizeof size));
  g_assert_no_errno (setsockopt (fixture->client, SOL_SOCKET, SO_RCVBUF, &size, sizeof size));
}

static void
test_partial_writes (Fixture       *fixture,
                     gconstpointer  data)
{
  const guint n_frames = 300;
  guint n_blocked = 0;
  guint n_writes = 0;

  set_small_buffers (fixture);
  for (guint i = 0; i < n_frames; i++)
    {
      g_autoptr(GBytes) frame = numbered_frame (i);
      gsize size = g_bytes_get_size (frame);

      /* Some frames queued in pieces, as log chunks and pages are. */
      if (i % 3 == 0)
        {
          munity_ws_conn_queue (fixture->conn, frame, 0, size / 2, MUNITY_WS_SEGMENT_NONE);
          munity_ws_conn_queue (fixture->conn, frame, size / 2, size, MUNITY_WS_SEGMENT_CONTINUES);
        }
      else
        munity_ws_conn_queue (fixture->conn, frame, 0, size, MUNITY_WS_SEGMENT_NONE);
    }
  g_assert_cmpuint (munity_ws_conn_get_unsent (fixture->conn), >, 400000);

  /* A reader that takes a little at a time whenever the server is stuck. */
  for (;;)
    {
      n_writes += munity_ws_conn_write (fixture->conn);
      if (!munity_ws_conn_is_blocked (fixture->conn))
        break;
      n_blocked++;
      g_assert_true (client_read_some (fixture, 1500));
    }
  g_assert_cmpuint (munity_ws_conn_get_unsent (fixture->conn), ==, 0);
  g_assert_cmpuint (n_blocked, >, 10);
  g_assert_cmpuint (n_writes, >, n_blocked);

  for (guint i = 0; i < n_frames; i++)
    {
      g_autoptr(GBytes) want = numbered_frame (i);
      Frame frame = next_frame (fixture);
      gsize header = g_bytes_get_size (want) - g_bytes_get_size (frame.payload);

      g_assert_cmpint (frame.opcode, ==, MUNITY_WS_OP_TEXT);
      g_assert_cmpmem (g_bytes_get_data (frame.payload, NULL), g_bytes_get_size (frame.payload),
                       (const guint8 *) g_bytes_get_data (want, NULL) + header, g_bytes_get_size (want) - header);
      g_bytes_unref (frame.payload);
    }
  expect_nothing (fixture);
  g_assert_cmpint (munity_ws_conn_get_state (fixture->conn), ==, MUNITY_WS_CONN_OPEN);
}

/* Past MUNITY_WS_MAX_PENDING_OUTPUT unsent (the snapshot aside), what has
 * not begun goes and a 1008 follows what has. */
static void
test_slow_reader (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autofree char *big = g_strnfill (64 * 1024, 'e');
  g_autoptr(GBytes) event = munity_ws_frame_new (MUNITY_WS_OP_TEXT, big, strlen (big));
  g_autofree char *body = g_strnfill (300 * 1024, 's');
  g_autoptr(GBytes) snapshot = munity_ws_frame_new (MUNITY_WS_OP_TEXT, body, strlen (body));
  gsize snapshot_size = g_bytes_get_size (snapshot);
  gsize limit_frames = MUNITY_WS_MAX_PENDING_OUTPUT / g_bytes_get_size (event);
  guint n_events = 0;
  Frame frame;

  set_small_buffers (fixture);

  /* The snapshot, in three pieces as the hub sends it, does not count. */
  munity_ws_conn_queue (fixture->conn, snapshot, 0, 100, MUNITY_WS_SEGMENT_SNAPSHOT);
  munity_ws_conn_queue (fixture->conn, snapshot, 100, snapshot_size - 2,
                        MUNITY_WS_SEGMENT_SNAPSHOT | MUNITY_WS_SEGMENT_CONTINUES);
  munity_ws_conn_queue (fixture->conn, snapshot, snapshot_size - 2, snapshot_size,
                        MUNITY_WS_SEGMENT_SNAPSHOT | MUNITY_WS_SEGMENT_CONTINUES);
  g_assert_cmpuint (munity_ws_conn_get_unsent (fixture->conn), ==, 0);
  munity_ws_conn_write (fixture->conn);
  g_assert_true (munity_ws_conn_is_blocked (fixture->conn));

  /* Events up to the limit are kept... */
  for (gsize i = 0; i < limit_frames; i++)
    munity_ws_conn_queue (fixture->conn, event, 0, g_bytes_get_size (event), MUNITY_WS_SEGMENT_NONE);
  munity_ws_conn_queue (fixture->conn, event, 0, MUNITY_WS_MAX_PENDING_OUTPUT - munity_ws_conn_get_unsent (fixture->conn),
                        MUNITY_WS_SEGMENT_NONE);
  g_assert_cmpuint (munity_ws_conn_get_unsent (fixture->conn), ==, MUNITY_WS_MAX_PENDING_OUTPUT);
  g_assert_false (munity_ws_conn_shed_slow_reader (fixture->conn));

  /* ...one byte more, and the reader is cut. */
  munity_ws_conn_queue (fixture->conn, event, 0, 1, MUNITY_WS_SEGMENT_NONE);
  g_assert_true (munity_ws_conn_shed_slow_reader (fixture->conn));
  g_assert_cmpint (munity_ws_conn_get_state (fixture->conn), ==, MUNITY_WS_CONN_CLOSING);
  g_assert_cmpuint (fixture->n_closing, ==, 1);
  /* Only the close frame is left, behind the rest of the snapshot. */
  g_assert_cmpuint (munity_ws_conn_get_unsent (fixture->conn), ==, 2 + 2 + strlen ("too slow"));
  g_assert_false (munity_ws_conn_shed_slow_reader (fixture->conn));

  for (;;)
    {
      munity_ws_conn_write (fixture->conn);
      if (!munity_ws_conn_is_blocked (fixture->conn))
        break;
      g_assert_true (client_read_some (fixture, 8192));
    }

  /* The snapshot whole, then the close: frame boundaries are kept. */
  frame = next_frame (fixture);
  g_assert_cmpint (frame.opcode, ==, MUNITY_WS_OP_TEXT);
  g_assert_cmpuint (g_bytes_get_size (frame.payload), ==, strlen (body));
  g_bytes_unref (frame.payload);
  for (;;)
    {
      frame = next_frame (fixture);
      if (frame.opcode != MUNITY_WS_OP_TEXT)
        break;
      /* An event the kernel had taken before the cut. */
      g_assert_cmpuint (g_bytes_get_size (frame.payload), ==, strlen (big));
      g_bytes_unref (frame.payload);
      n_events++;
    }
  g_assert_cmpuint (n_events, ==, 0);
  g_assert_cmpint (frame.opcode, ==, MUNITY_WS_OP_CLOSE);
  g_assert_cmpmem ((const guint8 *) g_bytes_get_data (frame.payload, NULL) + 2, g_bytes_get_size (frame.payload) - 2,
                   "too slow", 8);
  g_bytes_unref (frame.payload);
  expect_eof (fixture);

  /* A slow reader gets five seconds to take its close. */
  g_assert_false (munity_ws_conn_linger_expired (fixture->conn, g_get_monotonic_time () + 4 * G_USEC_PER_SEC));
}

/* ---- UTF-8 ----------------------------------------------------------------- */

static void
test_utf8_validate (void)
{
  g_assert_true (munity_ws_utf8_validate ((const guint8 *) "", 0));
  g_assert_true (munity_ws_utf8_validate ((const guint8 *) "\0\0", 2));
  g_assert_true (munity_ws_utf8_validate ((const guint8 *) "a\0\xc3\xa9\0", 5));
  g_assert_true (munity_ws_utf8_validate ((const guint8 *) "\xf4\x8f\xbf\xbf", 4));
  g_assert_false (munity_ws_utf8_validate ((const guint8 *) "\xf4\x90\x80\x80", 4));   /* > U+10FFFF */
  g_assert_false (munity_ws_utf8_validate ((const guint8 *) "\xed\xa0\x80", 3));       /* surrogate */
  g_assert_false (munity_ws_utf8_validate ((const guint8 *) "\0\xc3", 2));             /* cut short */
  g_assert_false (munity_ws_utf8_validate ((const guint8 *) "\xc3\0\xa9", 3));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, data, func) \
  g_test_add (path, Fixture, data, fixture_set_up, func, fixture_tear_down)
  ADD ("/ws-conn/message/fragmented", NULL, test_fragmented);
  ADD ("/ws-conn/message/control-interleaved", NULL, test_control_interleaved);
  ADD ("/ws-conn/message/utf8", NULL, test_utf8);
  ADD ("/ws-conn/message/too-big", NULL, test_too_big);
  ADD ("/ws-conn/message/too-big-fragmented", NULL, test_too_big_fragmented);
  ADD ("/ws-conn/message/bad-message-limit", NULL, test_bad_message_limit);
  for (guint i = 0; i < G_N_ELEMENTS (bad_frames); i++)
    {
      g_autofree char *path = g_strdup_printf ("/ws-conn/bad-frame/%s", bad_frames[i].name);
      ADD (path, &bad_frames[i], test_bad_frame);
    }
  ADD ("/ws-conn/control/ping-pong", NULL, test_ping_pong);
  for (guint i = 0; i < G_N_ELEMENTS (client_closes); i++)
    {
      g_autofree char *path = g_strdup_printf ("/ws-conn/close/from-client/%s", client_closes[i].name);
      ADD (path, &client_closes[i], test_client_closes);
    }
  ADD ("/ws-conn/close/from-server", NULL, test_server_closes);
  ADD ("/ws-conn/close/requested-by-model", NULL, test_close_requested);
  ADD ("/ws-conn/close/peer-gone", NULL, test_peer_gone);
  ADD ("/ws-conn/output/partial-writes", NULL, test_partial_writes);
  ADD ("/ws-conn/output/slow-reader", NULL, test_slow_reader);
#undef ADD
  g_test_add_func ("/ws-conn/utf8-validate", test_utf8_validate);

  return g_test_run ();
}
