/* test-hostile-ws.c — WebSocket and presence attacks on a real munityd
 *
 * The hostile-client suite, WebSocket part (issue 10):
 * - row 10: one logged-in user renames itself as fast as the server
 *   answers; every other socket must get at most about one userUpdated a
 *   second for it, and the last one must carry the last name;
 * - row 12: a text frame that is not UTF-8 must fail the connection with
 *   1007 (RFC 6455 §8.1), not earn an error frame.
 *
 * The WebSocket client is raw and blocking (poll with a timeout on a plain
 * socket): every frame is seen as sent, nothing is buffered for us. One
 * munityd (embedded PostgreSQL), loopback only, every wait bounded.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "munity-presence.h"
#include "munity-test-daemon.h"

#define OP_CONTINUATION 0x0
#define OP_TEXT         0x1
#define OP_CLOSE        0x8
#define OP_PING         0x9
#define OP_PONG         0xA

#define FLOOD_MS        3000
#define PASSWORD        "correct horse battery"

static MunityTestDaemon *daemon_;   /* (owned) shared by the tests */
static guint             serial;

/* ---- accounts ----------------------------------------------------------- */

typedef struct {
  gint64  id;
  char   *cookie;   /* (owned) "munity_session=…" */
} User;

static void
user_register (User       *u,
               const char *first)
{
  g_autoptr(SoupSession) session = munity_test_session_new (FALSE);
  g_autofree char *url = munity_test_daemon_url (daemon_, "/api/register");
  g_autofree char *email = g_strdup_printf ("%s-%d-%u@hostile-ws.example", first, (int) getpid (), ++serial);
  g_autofree char *body = munity_test_json_object ("first", first, "last", "Hostile",
                                            "email", email, "password", PASSWORD, NULL);
  g_autoptr(MunityTestResponse) resp = munity_test_http (session, "POST", url, "application/json",
                                                         body, -1, NULL);
  g_autofree char *set_cookie = NULL;
  char *semicolon;

  g_assert_cmpuint (resp->status, ==, 201);
  u->id = json_object_get_int_member (json_object_get_object_member (munity_test_response_object (resp), "user"),
                                      "id");
  set_cookie = munity_test_response_set_cookie (resp, "munity_session");
  g_assert_nonnull (set_cookie);
  semicolon = strchr (set_cookie, ';');
  u->cookie = semicolon != NULL ? g_strndup (set_cookie, semicolon - set_cookie) : g_strdup (set_cookie);
}

static void
user_clear (User *u)
{
  g_clear_pointer (&u->cookie, g_free);
}

static guint
patch_first (SoupSession *session,
             User        *u,
             const char  *first)
{
  g_autofree char *url = munity_test_daemon_url (daemon_, "/api/me");
  g_autofree char *body = munity_test_json_object ("first", first, NULL);
  g_autoptr(MunityTestResponse) resp = munity_test_http (session, "PATCH", url, "application/json",
                                                         body, -1, "Cookie", u->cookie, NULL);

  return resp->status;
}

/* ---- a raw WebSocket client ------------------------------------------- */

typedef struct {
  const char *label;
  GSocket    *sock;     /* (owned) */
  GByteArray *in;       /* (owned) bytes not parsed yet */
  GPtrArray  *texts;    /* (owned) text frames, as strings */
  GArray     *times;    /* (owned) gint64 arrival of each text frame */
  gboolean    closed;   /* got the server's close frame, or EOF */
  guint       close_code;
} Ws;

static void
send_all (GSocket      *sock,
          const guint8 *data,
          gsize         len)
{
  gsize done = 0;

  while (done < len)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send (sock, (const char *) data + done, len - done, NULL, &error);

      g_assert_no_error (error);
      g_assert_cmpint (n, >, 0);
      done += (gsize) n;
    }
}

/* One masked client frame, as RFC 6455 requires of clients. */
static void
ws_send (Ws          *ws,
         guint8       opcode,
         gboolean     fin,
         const void  *payload,
         gsize        len)
{
  g_autoptr(GByteArray) frame = g_byte_array_new ();
  guint8 head[8];
  gsize head_len = 2;
  guint32 mask = g_random_int ();
  const guint8 *m = (const guint8 *) &mask;

  g_assert_cmpuint (len, <, 65536);
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (len < 126)
    head[1] = 0x80 | (guint8) len;
  else
    {
      head[1] = 0x80 | 126;
      head[2] = (guint8) (len >> 8);
      head[3] = (guint8) len;
      head_len = 4;
    }
  g_byte_array_append (frame, head, head_len);
  g_byte_array_append (frame, m, 4);
  for (gsize i = 0; i < len; i++)
    {
      guint8 b = ((const guint8 *) payload)[i] ^ m[i % 4];
      g_byte_array_append (frame, &b, 1);
    }
  send_all (ws->sock, frame->data, frame->len);
}

static void
ws_parse (Ws *ws)
{
  gsize at = 0;

  for (;;)
    {
      const guint8 *d = ws->in->data + at;
      gsize avail = ws->in->len - at, head = 2;
      guint64 len;
      guint8 opcode;

      if (avail < 2)
        break;
      len = d[1] & 0x7f;
      if (len == 126)
        {
          if (avail < 4)
            break;
          len = ((guint64) d[2] << 8) | d[3];
          head = 4;
        }
      else if (len == 127)
        {
          if (avail < 10)
            break;
          len = 0;
          for (guint i = 0; i < 8; i++)
            len = (len << 8) | d[2 + i];
          head = 10;
        }
      if (avail < head + len)
        break;
      opcode = d[0] & 0x0f;
      g_assert_cmpuint (d[1] & 0x80, ==, 0);   /* servers do not mask */

      switch (opcode)
        {
        case OP_TEXT:
          {
            gint64 now = g_get_monotonic_time ();

            g_ptr_array_add (ws->texts, g_strndup ((const char *) d + head, len));
            g_array_append_val (ws->times, now);
          }
          break;
        case OP_CLOSE:
          ws->close_code = len >= 2 ? (guint) ((d[head] << 8) | d[head + 1]) : 1005;
          ws->closed = TRUE;
          break;
        case OP_PING:
          ws_send (ws, OP_PONG, TRUE, d + head, len);
          break;
        default:
          break;
        }
      at += head + len;
    }
  g_byte_array_remove_range (ws->in, 0, at);
}

/* Reads what arrives within @timeout_ms (0: only what is there now). */
static void
ws_pump (Ws   *ws,
         guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (!ws->closed)
    {
      struct pollfd pfd = { g_socket_get_fd (ws->sock), POLLIN, 0 };
      gint64 left = (end - g_get_monotonic_time ()) / 1000;
      guint8 buf[16384];
      gssize n;

      if (poll (&pfd, 1, (int) MAX (left, 0)) <= 0)
        return;
      n = g_socket_receive (ws->sock, (char *) buf, sizeof buf, NULL, NULL);
      if (n <= 0)
        {
          ws->closed = TRUE;
          return;
        }
      g_byte_array_append (ws->in, buf, (guint) n);
      ws_parse (ws);
    }
}

static Ws *
ws_open (const char *label,
         User       *u)
{
  Ws *ws = g_new0 (Ws, 1);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, munity_test_daemon_port (daemon_));
  g_autoptr(GError) error = NULL;
  g_autofree char *request = NULL;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  const char *end = NULL;

  ws->label = label;
  ws->in = g_byte_array_new ();
  ws->texts = g_ptr_array_new_with_free_func (g_free);
  ws->times = g_array_new (FALSE, FALSE, sizeof (gint64));
  ws->sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_connect (ws->sock, address, NULL, &error);
  g_assert_no_error (error);

  request = g_strdup_printf ("GET /ws HTTP/1.1\r\n"
                             "Host: 127.0.0.1:%u\r\n"
                             "Upgrade: websocket\r\n"
                             "Connection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n"
                             "Cookie: %s\r\n"
                             "\r\n",
                             munity_test_daemon_port (daemon_), u->cookie);
  send_all (ws->sock, (const guint8 *) request, strlen (request));

  /* The answer's head, then frames. */
  while (end == NULL && g_get_monotonic_time () < deadline)
    {
      struct pollfd pfd = { g_socket_get_fd (ws->sock), POLLIN, 0 };
      guint8 buf[4096];
      gssize n;

      if (poll (&pfd, 1, 100) <= 0)
        continue;
      n = g_socket_receive (ws->sock, (char *) buf, sizeof buf, NULL, NULL);
      g_assert_cmpint (n, >, 0);
      g_byte_array_append (ws->in, buf, (guint) n);
      end = g_strstr_len ((const char *) ws->in->data, ws->in->len, "\r\n\r\n");
    }
  g_assert_nonnull (end);
  g_assert_true (g_str_has_prefix ((const char *) ws->in->data, "HTTP/1.1 101"));
  g_byte_array_remove_range (ws->in, 0, (guint) (end + 4 - (const char *) ws->in->data));
  ws_parse (ws);

  while (ws->texts->len == 0 && !ws->closed && g_get_monotonic_time () < deadline)
    ws_pump (ws, 100);
  g_assert_cmpuint (ws->texts->len, >=, 1);
  g_assert_true (strstr (ws->texts->pdata[0], "\"onlineUsers\"") != NULL);
  return ws;
}

static void
ws_free (Ws *ws)
{
  if (!ws->closed)
    {
      guint8 bye[2] = { 1000 >> 8, 1000 & 0xff };

      ws_send (ws, OP_CLOSE, TRUE, bye, sizeof bye);
      ws_pump (ws, 2000);
    }
  g_object_unref (ws->sock);
  g_byte_array_unref (ws->in);
  g_ptr_array_unref (ws->texts);
  g_array_unref (ws->times);
  g_free (ws);
}

/* The userUpdated frames about user @id that @ws received, parsed. */
static GPtrArray *
ws_updates_of (Ws     *ws,
               gint64  id,
               GArray *times)
{
  GPtrArray *updates = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);

  for (guint i = 0; i < ws->texts->len; i++)
    {
      g_autoptr(JsonNode) node = json_from_string (ws->texts->pdata[i], NULL);
      JsonObject *o, *data;

      g_assert_nonnull (node);
      o = json_node_get_object (node);
      if (g_strcmp0 (json_object_get_string_member (o, "event"), "userUpdated") != 0)
        continue;
      data = json_object_get_object_member (o, "data");
      if (json_object_get_int_member (data, "id") != id)
        continue;
      g_ptr_array_add (updates, json_node_ref (json_object_get_member (o, "data")));
      if (times != NULL)
        g_array_append_val (times, g_array_index (ws->times, gint64, i));
    }
  return updates;
}

static const char *
first_of (GPtrArray *updates)
{
  g_assert_cmpuint (updates->len, >, 0);
  return json_object_get_string_member (json_node_get_object (updates->pdata[updates->len - 1]), "first");
}

/* ---- row 10: a rename flood ------------------------------------------------ */

static void
test_rename_flood (void)
{
  g_autoptr(SoupSession) session = munity_test_session_new (FALSE);
  g_autoptr(GPtrArray) seen = NULL;
  g_autoptr(GPtrArray) own = NULL;
  g_autoptr(GArray) times = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autofree char *last = NULL;
  User renamer = { 0, }, watcher = { 0, };
  Ws *wr, *ww;
  gint64 start, flood_end, deadline;
  guint n_renames = 0, allowed;
  double flood_s;

  user_register (&renamer, "Renamer");
  user_register (&watcher, "Watcher");
  wr = ws_open ("renamer", &renamer);
  ww = ws_open ("watcher", &watcher);

  /* As fast as munityd answers, one rename at a time, reading both
   * sockets in between so neither is a slow reader. */
  start = g_get_monotonic_time ();
  while (g_get_monotonic_time () - start < FLOOD_MS * 1000)
    {
      g_free (last);
      last = g_strdup_printf ("Flood%u", n_renames++);
      g_assert_cmpuint (patch_first (session, &renamer, last), ==, 200);
      ws_pump (ww, 0);
      ws_pump (wr, 0);
    }
  flood_end = g_get_monotonic_time ();
  flood_s = (flood_end - start) / 1e6;

  /* The last name arrives within an interval of the last rename. */
  deadline = flood_end + (MUNITY_PRESENCE_UPDATE_INTERVAL_MS + 3000) * 1000;
  for (;;)
    {
      g_autoptr(GPtrArray) so_far = NULL;

      ws_pump (ww, 50);
      ws_pump (wr, 0);
      so_far = ws_updates_of (ww, renamer.id, NULL);
      if ((so_far->len > 0 && g_strcmp0 (first_of (so_far), last) == 0) ||
          g_get_monotonic_time () > deadline || ww->closed)
        break;
    }
  /* And nothing after it: wait out one more interval. */
  ws_pump (ww, MUNITY_PRESENCE_UPDATE_INTERVAL_MS + 200);
  ws_pump (wr, 0);

  seen = ws_updates_of (ww, renamer.id, times);
  own = ws_updates_of (wr, renamer.id, NULL);
  /* One at once, one per interval of the flood, the held last one. */
  allowed = (guint) (flood_s * 1000 / MUNITY_PRESENCE_UPDATE_INTERVAL_MS) + 2;
  g_test_message ("%u renames in %.2f s (%.0f/s); the watcher got %u userUpdated, the renamer %u "
                  "(at most %u allowed)", n_renames, flood_s, n_renames / flood_s, seen->len, own->len, allowed);
  g_assert_false (ww->closed);
  g_assert_false (wr->closed);
  g_assert_cmpuint (n_renames, >=, 20);
  g_assert_cmpuint (seen->len, >=, 2);
  g_assert_cmpuint (seen->len, <=, allowed);
  g_assert_cmpuint (own->len, <=, allowed);
  /* Never two in one interval (the arrival times carry our own jitter). */
  for (guint i = 1; i < times->len; i++)
    {
      gint64 gap_ms = (g_array_index (times, gint64, i) - g_array_index (times, gint64, i - 1)) / 1000;

      g_test_message ("gap %u: %" G_GINT64_FORMAT " ms", i, gap_ms);
      g_assert_cmpint (gap_ms, >=, MUNITY_PRESENCE_UPDATE_INTERVAL_MS / 2);
    }
  /* The last value is never lost: every socket, the user's own included,
   * and /api/online end with the last name. */
  g_assert_cmpstr (first_of (seen), ==, last);
  g_assert_cmpstr (first_of (own), ==, last);
  {
    g_autofree char *url = munity_test_daemon_url (daemon_, "/api/online");
    g_autoptr(MunityTestResponse) resp = munity_test_http (session, "GET", url, NULL, NULL, 0,
                                                           "Cookie", watcher.cookie, NULL);
    JsonArray *users;
    gboolean found = FALSE;

    g_assert_cmpuint (resp->status, ==, 200);
    users = json_object_get_array_member (munity_test_response_object (resp), "users");
    for (guint i = 0; i < json_array_get_length (users); i++)
      {
        JsonObject *o = json_array_get_object_element (users, i);

        if (json_object_get_int_member (o, "id") == renamer.id)
          {
            g_assert_cmpstr (json_object_get_string_member (o, "first"), ==, last);
            found = TRUE;
          }
      }
    g_assert_true (found);
  }

  ws_free (ww);
  ws_free (wr);
  user_clear (&renamer);
  user_clear (&watcher);
}

/* ---- row 12: invalid UTF-8 -------------------------------------------------- */

static void
expect_1007 (Ws *ws)
{
  guint texts_before = ws->texts->len;

  ws_pump (ws, 5000);
  g_test_message ("%s: closed %d, code %u", ws->label, ws->closed, ws->close_code);
  g_assert_true (ws->closed);
  g_assert_cmpuint (ws->close_code, ==, 1007);
  /* Closed, not answered with an error frame. */
  for (guint i = texts_before; i < ws->texts->len; i++)
    g_assert_null (strstr (ws->texts->pdata[i], "\"error\""));
}

static void
test_invalid_utf8 (void)
{
  User u = { 0, };
  Ws *ws;

  user_register (&u, "Utf");

  ws = ws_open ("one frame", &u);
  ws_send (ws, OP_TEXT, TRUE, "{\"event\":\"\xff\xfe\"}", 14);
  expect_1007 (ws);
  ws_free (ws);

  ws = ws_open ("fragments", &u);
  ws_send (ws, OP_TEXT, FALSE, "{\"event\":", 9);
  ws_send (ws, OP_CONTINUATION, TRUE, "\"\xed\xa0\x80\"}", 6);   /* a surrogate */
  expect_1007 (ws);
  ws_free (ws);

  /* munityd shrugs it off. */
  {
    g_autoptr(SoupSession) session = munity_test_session_new (FALSE);
    g_autofree char *url = munity_test_daemon_url (daemon_, "/healthz");
    g_autoptr(MunityTestResponse) resp = munity_test_http (session, "GET", url, NULL, NULL, 0, NULL);

    g_assert_cmpuint (resp->status, ==, 200);
  }
  user_clear (&u);
}

static GLogFunc previous_log_handler;

/* GTest prints every g_debug(); GIO's and libsoup's would bury the
 * test's own lines. G_MESSAGES_DEBUG brings them back. */
static void
quiet_log_handler (const char     *domain,
                   GLogLevelFlags  level,
                   const char     *message,
                   gpointer        user_data)
{
  if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) != 0 && g_getenv ("G_MESSAGES_DEBUG") == NULL)
    return;
  previous_log_handler (domain, level, message, user_data);
}

int
main (int    argc,
      char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  previous_log_handler = g_log_set_default_handler (quiet_log_handler, NULL);

  daemon_ = munity_test_daemon_start (NULL);

  g_test_add_func ("/hostile/ws/rename-flood-coalesced", test_rename_flood);
  g_test_add_func ("/hostile/ws/invalid-utf8-1007", test_invalid_utf8);

  ret = g_test_run ();

  munity_test_daemon_free (daemon_);
  return ret;
}
