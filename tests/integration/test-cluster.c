/* test-cluster.c — several real munityd nodes on one real PostgreSQL
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Three nodes share a throwaway cluster; browsers are libsoup WebSocket
 * clients. Every frame of every socket is checked against the guarantee
 * of doc/protocol.md §3 (onlineUsers first, no user twice, no userLeft for
 * a user not in the list), wherever the joins and leaves happened.
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "munity-test-daemon.h"
#include "munity-test-pg.h"

#define GRACE_MS 1500

static MunityTestPg *pg;
static SoupSession  *http;
static guint         n_registered;

typedef MunityTestUser User;

typedef struct {
  char                    *label;   /* (owned) */
  User                    *user;
  SoupWebsocketConnection *conn;    /* (owned) (nullable) */
  SoupMessage             *msg;     /* (owned) */
  gboolean                 open;
  gboolean                 closed;
  gboolean                 failed;
  guint                    close_code;
  guint                    n_frames;
  GHashTable              *list;    /* user id → first name (owned) */
  GHashTable              *status;  /* user id → "online" or "idle" (owned) */
  GString                 *log;     /* "J5 L5 U5:Name " after onlineUsers */
} Ws;

#define pump munity_test_pump
#define WAIT_FOR MUNITY_TEST_WAIT_FOR

/* ---- nodes and users --------------------------------------------------- */

static MunityTestDaemon *
node_start (const char *name)
{
  g_autofree char *grace = g_strdup_printf ("%u", GRACE_MS);
  const char *args[] = { "--database", munity_test_pg_conninfo (pg), "--node-name", name,
                         "--leave-grace-ms", grace, NULL };
  g_autoptr(GError) error = NULL;
  MunityTestDaemon *d = munity_test_daemon_try_start (args, 60, &error);

  g_assert_no_error (error);
  return d;
}

static User *
user_new (MunityTestDaemon *d)
{
  g_autofree char *first = g_strdup_printf ("First%u", ++n_registered);

  return munity_test_user_register (http, d, first, "Tester");
}

#define user_free munity_test_user_free

/* A second session of @u (another browser), through @d. */
static char *
login (MunityTestDaemon *d,
       User             *u)
{
  g_autofree char *url = munity_test_daemon_url (d, "/api/login");
  g_autofree char *body = NULL;
  g_autoptr(MunityTestResponse) resp = NULL;
  char *set_cookie;

  body = munity_test_json_object ("email", u->email, "password", MUNITY_TEST_PASSWORD, NULL);
  resp = munity_test_http (http, "POST", url, "application/json", body, -1, NULL);
  g_assert_cmpuint (resp->status, ==, 200);
  set_cookie = munity_test_response_set_cookie (resp, "munity_session");
  *strchr (set_cookie, ';') = '\0';
  return set_cookie;
}

/* `GET /api/online` on @d as @viewer: its users (kept alive by *@resp). */
static JsonArray *
api_online (MunityTestDaemon    *d,
            User                *viewer,
            MunityTestResponse **resp)
{
  g_autofree char *url = munity_test_daemon_url (d, "/api/online");
  const char *headers[] = { "Cookie", viewer->cookie, NULL };

  *resp = munity_test_http_full (http, "GET", url, NULL, NULL, 0, headers, NULL);
  g_assert_cmpuint ((*resp)->status, ==, 200);
  return json_object_get_array_member (munity_test_response_object (*resp), "users");
}

static guint
api_online_count (MunityTestDaemon *d,
                  User             *viewer,
                  gint64            id)
{
  g_autoptr(MunityTestResponse) resp = NULL;
  JsonArray *array = api_online (d, viewer, &resp);
  guint n = 0;

  for (guint i = 0; i < json_array_get_length (array); i++)
    n += json_object_get_int_member (json_array_get_object_element (array, i), "id") == id;
  return n;
}

/* ---- WebSocket clients, checked on every frame -------------------------- */

/* Keeps the user's status as the frame shows it. */
static void
note_status (Ws         *ws,
             JsonObject *user)
{
  gint64 id = json_object_get_int_member (user, "id");

  g_assert_true (json_object_has_member (user, "status"));
  g_hash_table_insert (ws->status, g_memdup2 (&id, sizeof id),
                       g_strdup (json_object_get_string_member (user, "status")));
}

static void
ws_got (SoupWebsocketConnection *conn,
        gint                     type,
        GBytes                  *message,
        Ws                      *ws)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize len;
  const char *data = g_bytes_get_data (message, &len);
  JsonObject *o;
  JsonNode *payload;
  const char *event;

  g_assert_true (json_parser_load_from_data (parser, data, len, NULL));
  o = json_node_get_object (json_parser_get_root (parser));
  event = json_object_get_string_member (o, "event");
  payload = json_object_get_member (o, "data");
  ws->n_frames++;
  if (ws->n_frames == 1 && !g_str_equal (event, "onlineUsers"))
    g_test_message ("%s: first frame %s", ws->label, event);
  g_assert_true ((ws->n_frames == 1) == g_str_equal (event, "onlineUsers"));

  if (g_str_equal (event, "onlineUsers"))
    {
      JsonArray *array = json_node_get_array (payload);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonObject *user = json_array_get_object_element (array, i);
          gint64 id = json_object_get_int_member (user, "id");

          if (g_hash_table_contains (ws->list, &id))
            g_test_message ("%s: user %" G_GINT64_FORMAT " twice in onlineUsers", ws->label, id);
          g_assert_false (g_hash_table_contains (ws->list, &id));
          g_hash_table_insert (ws->list, g_memdup2 (&id, sizeof id),
                               g_strdup (json_object_get_string_member (user, "first")));
          note_status (ws, user);
        }
    }
  else if (g_str_equal (event, "userJoined"))
    {
      gint64 id = json_object_get_int_member (json_node_get_object (payload), "id");

      if (g_hash_table_contains (ws->list, &id))
        g_test_message ("%s: userJoined %" G_GINT64_FORMAT " already in the list", ws->label, id);
      g_assert_false (g_hash_table_contains (ws->list, &id));
      g_hash_table_insert (ws->list, g_memdup2 (&id, sizeof id),
                           g_strdup (json_object_get_string_member (json_node_get_object (payload), "first")));
      note_status (ws, json_node_get_object (payload));
      g_string_append_printf (ws->log, "J%" G_GINT64_FORMAT " ", id);
    }
  else if (g_str_equal (event, "userLeft"))
    {
      gint64 id = json_object_get_int_member (json_node_get_object (payload), "id");

      if (!g_hash_table_contains (ws->list, &id))
        g_test_message ("%s: userLeft %" G_GINT64_FORMAT " not in the list", ws->label, id);
      g_assert_true (g_hash_table_remove (ws->list, &id));
      g_string_append_printf (ws->log, "L%" G_GINT64_FORMAT " ", id);
    }
  else if (g_str_equal (event, "userUpdated"))
    {
      JsonObject *user = json_node_get_object (payload);
      gint64 id = json_object_get_int_member (user, "id");

      g_assert_true (g_hash_table_contains (ws->list, &id));
      g_hash_table_insert (ws->list, g_memdup2 (&id, sizeof id),
                           g_strdup (json_object_get_string_member (user, "first")));
      note_status (ws, user);
      g_string_append_printf (ws->log, "U%" G_GINT64_FORMAT ":%s ", id,
                              json_object_get_string_member (user, "first"));
    }
}

static void
ws_closed (SoupWebsocketConnection *conn,
           Ws                      *ws)
{
  ws->close_code = soup_websocket_connection_get_close_code (conn);
  ws->closed = TRUE;
  ws->open = FALSE;
}

static void
ws_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Ws *ws = user_data;
  g_autoptr(GError) error = NULL;

  ws->conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  if (ws->conn == NULL)
    {
      g_test_message ("%s: %s", ws->label, error->message);
      ws->failed = TRUE;
      return;
    }
  soup_websocket_connection_set_keepalive_interval (ws->conn, 0);
  g_signal_connect (ws->conn, "message", G_CALLBACK (ws_got), ws);
  g_signal_connect (ws->conn, "closed", G_CALLBACK (ws_closed), ws);
  ws->open = TRUE;
}

/* A tab of @u on node @d, with @cookie (NULL: the user's first session);
 * returns once onlineUsers arrived. */
static Ws *
ws_open (MunityTestDaemon *d,
         User             *u,
         const char       *cookie,
         const char       *label)
{
  Ws *ws = g_new0 (Ws, 1);
  g_autofree char *url = munity_test_daemon_url (d, "/ws");

  ws->label = g_strdup (label);
  ws->user = u;
  ws->list = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  ws->status = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  ws->log = g_string_new (NULL);
  ws->msg = soup_message_new ("GET", url);
  soup_message_headers_append (soup_message_get_request_headers (ws->msg), "Cookie",
                               cookie != NULL ? cookie : u->cookie);
  soup_session_websocket_connect_async (http, ws->msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        ws_connected, ws);
  WAIT_FOR (ws->failed || ws->n_frames >= 1, 10000);
  g_assert_false (ws->failed);
  g_assert_true (g_hash_table_contains (ws->list, &u->id));
  return ws;
}

static void
ws_close (Ws *ws)
{
  if (ws->open)
    soup_websocket_connection_close (ws->conn, 1000, NULL);
  WAIT_FOR (ws->closed, 5000);
}

static void
ws_free (Ws *ws)
{
  if (ws->conn != NULL)
    {
      g_signal_handlers_disconnect_by_data (ws->conn, ws);
      if (ws->open)
        soup_websocket_connection_close (ws->conn, 1000, NULL);
      g_clear_object (&ws->conn);
    }
  g_clear_object (&ws->msg);
  g_hash_table_unref (ws->list);
  g_hash_table_unref (ws->status);
  g_string_free (ws->log, TRUE);
  g_free (ws->label);
  g_free (ws);
}

static gboolean
has (Ws     *ws,
     gint64  id)
{
  return g_hash_table_contains (ws->list, &id);
}

static gboolean
logged (Ws         *ws,
        const char *prefix,
        gint64      id)
{
  g_autofree char *needle = g_strdup_printf ("%s%" G_GINT64_FORMAT " ", prefix, id);
  g_autofree char *spaced = g_strconcat (" ", ws->log->str, NULL);
  g_autofree char *spaced_needle = g_strconcat (" ", needle, NULL);

  return strstr (spaced, spaced_needle) != NULL;
}

/* ---- fixture: three nodes ---------------------------------------------- */

typedef struct {
  MunityTestDaemon *nodes[3];
  char             *names[3];
} Fixture;

static guint fixture_serial;

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  fixture_serial++;
  for (guint i = 0; i < 3; i++)
    {
      f->names[i] = g_strdup_printf ("t%u-node%u", fixture_serial, i);
      f->nodes[i] = node_start (f->names[i]);
    }
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  for (guint i = 0; i < 3; i++)
    {
      g_clear_pointer (&f->nodes[i], munity_test_daemon_free);
      g_free (f->names[i]);
    }
}

/* ---- tests ------------------------------------------------------------- */

static void
test_multi_tab (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  User *a = user_new (f->nodes[0]);
  User *o = user_new (f->nodes[2]);
  Ws *observer, *tab1, *tab2;
  gint64 t;

  g_ptr_array_add (users, a);
  g_ptr_array_add (users, o);
  observer = ws_open (f->nodes[2], o, NULL, "O@2");
  tab1 = ws_open (f->nodes[0], a, NULL, "A#1@0");
  WAIT_FOR (has (observer, a->id), 3000);
  tab2 = ws_open (f->nodes[1], a, NULL, "A#2@1");
  /* A tab on node 0 and one on node 1: online once everywhere. */
  g_assert_true (has (tab2, o->id));
  WAIT_FOR (has (tab1, o->id), 3000);
  pump (500);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpuint (api_online_count (f->nodes[i], o, a->id), ==, 1);
  g_assert_false (logged (observer, "L", a->id));

  /* One tab closes: nobody sees A leave, even after the grace. */
  ws_close (tab1);
  pump (GRACE_MS + 1000);
  g_assert_true (has (observer, a->id));
  g_assert_false (logged (observer, "L", a->id));
  g_assert_cmpuint (api_online_count (f->nodes[2], o, a->id), ==, 1);

  /* The last tab in the cluster closes: A leaves after the grace, also
   * on the node that held neither tab. */
  t = g_get_monotonic_time ();
  ws_close (tab2);
  pump (GRACE_MS / 2);
  g_assert_true (has (observer, a->id));
  WAIT_FOR (!has (observer, a->id), GRACE_MS + 3000);
  g_test_message ("userLeft on another node %.0f ms after the last tab closed (grace %u ms)",
                  (g_get_monotonic_time () - t) / 1000.0, GRACE_MS);
  g_assert_cmpuint (api_online_count (f->nodes[2], o, a->id), ==, 0);

  ws_free (tab1);
  ws_free (tab2);
  ws_free (observer);
}

static void
test_logout (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  User *b = user_new (f->nodes[0]);
  User *o = user_new (f->nodes[0]);
  g_autofree char *other_session = login (f->nodes[2], b);
  g_autofree char *url = munity_test_daemon_url (f->nodes[0], "/api/logout");
  const char *headers[] = { "Cookie", b->cookie, NULL };
  g_autoptr(MunityTestResponse) resp = NULL;
  Ws *observer, *s1_on_1, *s1_on_0, *s2_on_2;

  g_ptr_array_add (users, b);
  g_ptr_array_add (users, o);
  observer = ws_open (f->nodes[2], o, NULL, "O@2");
  s1_on_0 = ws_open (f->nodes[0], b, NULL, "B.s1@0");
  s1_on_1 = ws_open (f->nodes[1], b, NULL, "B.s1@1");
  s2_on_2 = ws_open (f->nodes[2], b, other_session, "B.s2@2");
  WAIT_FOR (has (observer, b->id), 3000);
  pump (300);

  /* Logging session 1 out on node 0 closes its socket on node 1 too. */
  resp = munity_test_http_full (http, "POST", url, NULL, NULL, 0, headers, NULL);
  g_assert_cmpuint (resp->status, ==, 204);
  WAIT_FOR (s1_on_0->closed && s1_on_1->closed, 3000);
  g_assert_cmpuint (s1_on_0->close_code, ==, 4001);
  g_assert_cmpuint (s1_on_1->close_code, ==, 4001);
  g_assert_false (s2_on_2->closed);
  /* Session 2 keeps B online. */
  pump (GRACE_MS + 500);
  g_assert_false (logged (observer, "L", b->id));

  /* Then session 2 logs out too: B leaves at once, no grace. */
  {
    g_autofree char *url2 = munity_test_daemon_url (f->nodes[1], "/api/logout");
    const char *headers2[] = { "Cookie", other_session, NULL };
    g_autoptr(MunityTestResponse) resp2 = munity_test_http_full (http, "POST", url2, NULL, NULL, 0, headers2, NULL);
    gint64 t = g_get_monotonic_time ();

    g_assert_cmpuint (resp2->status, ==, 204);
    WAIT_FOR (s2_on_2->closed, 3000);
    g_assert_cmpuint (s2_on_2->close_code, ==, 4001);
    WAIT_FOR (!has (observer, b->id), 3000);
    g_assert_cmpint (g_get_monotonic_time () - t, <, GRACE_MS * 1000);
  }

  ws_free (s1_on_0);
  ws_free (s1_on_1);
  ws_free (s2_on_2);
  ws_free (observer);
}

static void
test_user_updated (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  User *c = user_new (f->nodes[0]);
  User *o = user_new (f->nodes[1]);
  g_autofree char *url = munity_test_daemon_url (f->nodes[0], "/api/me");
  const char *headers[] = { "Cookie", c->cookie, NULL };
  g_autoptr(MunityTestResponse) resp = NULL;
  Ws *observer, *own;

  g_ptr_array_add (users, c);
  g_ptr_array_add (users, o);
  observer = ws_open (f->nodes[1], o, NULL, "O@1");
  own = ws_open (f->nodes[2], c, NULL, "C@2");
  WAIT_FOR (has (observer, c->id), 3000);

  /* Changed through node 0, which holds no socket of anyone here. */
  resp = munity_test_http_full (http, "PATCH", url, "application/json", "{\"first\":\"Renamed\"}", -1,
                                headers, NULL);
  g_assert_cmpuint (resp->status, ==, 200);
  WAIT_FOR (g_strcmp0 (g_hash_table_lookup (observer->list, &c->id), "Renamed") == 0, 3000);
  WAIT_FOR (g_strcmp0 (g_hash_table_lookup (own->list, &c->id), "Renamed") == 0, 3000);

  ws_free (own);
  ws_free (observer);
}

static const guint8 image_png[] = MUNITY_TEST_PNG_2X2;

static void
me_send (MunityTestDaemon *d,
         User             *u,
         const char       *method,
         const char       *path,
         const char       *type,
         const char       *body,
         gssize            length)
{
  g_autofree char *url = munity_test_daemon_url (d, path);
  const char *headers[] = { "Cookie", u->cookie, NULL };
  g_autoptr(MunityTestResponse) resp = munity_test_http_full (http, method, url, type, body, length, headers, NULL);

  g_assert_cmpuint (resp->status, ==, 200);
}

/* The user @id as `GET /api/online` on @d shows it, as JSON text. */
static char *
api_online_user (MunityTestDaemon *d,
                 User             *viewer,
                 gint64            id)
{
  g_autoptr(MunityTestResponse) resp = NULL;
  JsonArray *array = api_online (d, viewer, &resp);

  for (guint i = 0; i < json_array_get_length (array); i++)
    if (json_object_get_int_member (json_array_get_object_element (array, i), "id") == id)
      return json_to_string (json_array_get_element (array, i), FALSE);
  return NULL;
}

/* Whoever joins on one node shows with the same details on the others:
 * names with spaces, `%`, `=` and accents, a bio with a newline, an
 * avatar — carried in the notification — and a bio too long for it,
 * fetched instead. */
static void
test_profile_across_nodes (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  User *a = munity_test_user_register (http, f->nodes[0], "Zoë 100% = real", "O'Brien  Ünal");
  User *b = munity_test_user_register (http, f->nodes[0], "Long", "Bio");
  User *o = user_new (f->nodes[1]);
  g_autoptr(GString) long_bio = g_string_new (NULL);
  g_autofree char *long_body = NULL;
  g_autofree char *own_a = NULL;
  g_autofree char *own_b = NULL;
  Ws *observer, *ws_a, *ws_b;

  g_ptr_array_add (users, a);
  g_ptr_array_add (users, b);
  g_ptr_array_add (users, o);
  me_send (f->nodes[0], a, "PATCH", "/api/me", "application/json",
           "{\"bio\":\"Line one\\nline two: 50% + \\u00fcn\\u00efc\\u00f6d\\u00e9 =\"}", -1);
  me_send (f->nodes[0], a, "POST", "/api/me/avatar", "image/png", (const char *) image_png, sizeof image_png);
  for (guint i = 0; i < 1500; i++)
    g_string_append (long_bio, "é");
  long_body = munity_test_json_object ("bio", long_bio->str, NULL);
  me_send (f->nodes[0], b, "PATCH", "/api/me", "application/json", long_body, -1);

  observer = ws_open (f->nodes[1], o, NULL, "O@1");
  ws_a = ws_open (f->nodes[0], a, NULL, "A@0");
  ws_b = ws_open (f->nodes[0], b, NULL, "B@0");
  WAIT_FOR (has (observer, a->id) && has (observer, b->id), 3000);
  g_assert_cmpstr (g_hash_table_lookup (observer->list, &a->id), ==, "Zoë 100% = real");

  own_a = api_online_user (f->nodes[0], o, a->id);
  own_b = api_online_user (f->nodes[0], o, b->id);
  g_assert_nonnull (own_a);
  g_assert_nonnull (strstr (own_a, "imageUrl\":\"/"));
  g_assert_nonnull (own_b);
  for (guint i = 1; i < 3; i++)
    {
      g_autofree char *there_a = api_online_user (f->nodes[i], o, a->id);
      g_autofree char *there_b = api_online_user (f->nodes[i], o, b->id);

      g_assert_cmpstr (there_a, ==, own_a);
      g_assert_cmpstr (there_b, ==, own_b);
    }

  ws_free (ws_a);
  ws_free (ws_b);
  ws_free (observer);
}

static gboolean
status_is (Ws         *ws,
           gint64      id,
           const char *status)
{
  return g_strcmp0 (g_hash_table_lookup (ws->status, &id), status) == 0;
}

static void
set_status (Ws         *ws,
            const char *status)
{
  g_autofree char *text = g_strdup_printf ("{\"event\":\"setStatus\",\"data\":{\"status\":\"%s\"}}", status);

  soup_websocket_connection_send_text (ws->conn, text);
}

/* A user with a tab on node 0 and one on node 1 is idle when both are,
 * as every node shows it; a node that starts later reads it from the
 * database. */
static void
test_status (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  g_autoptr(MunityTestDaemon) late = NULL;
  g_autofree char *late_name = g_strdup_printf ("t%u-late", fixture_serial);
  User *a = user_new (f->nodes[0]);
  User *o = user_new (f->nodes[2]);
  Ws *observer, *tab1, *tab2, *late_observer;

  g_ptr_array_add (users, a);
  g_ptr_array_add (users, o);
  observer = ws_open (f->nodes[2], o, NULL, "O@2");
  tab1 = ws_open (f->nodes[0], a, NULL, "A#1@0");
  tab2 = ws_open (f->nodes[1], a, NULL, "A#2@1");
  WAIT_FOR (has (observer, a->id), 3000);
  g_assert_true (status_is (observer, a->id, "online"));

  /* One tab idle: still online everywhere. */
  set_status (tab1, "idle");
  pump (1500);
  g_assert_true (status_is (observer, a->id, "online"));
  g_assert_true (status_is (tab2, a->id, "online"));
  g_assert_false (logged (observer, "U", a->id));

  /* The other, on another node, too: idle everywhere. */
  set_status (tab2, "idle");
  WAIT_FOR (status_is (observer, a->id, "idle") && status_is (tab1, a->id, "idle") &&
            status_is (tab2, a->id, "idle"), 3000);

  /* A node that starts now learns it from cluster_sockets. */
  late = node_start (late_name);
  late_observer = ws_open (late, o, NULL, "O@late");
  WAIT_FOR (has (late_observer, a->id) && status_is (late_observer, a->id, "idle"), 5000);

  /* Online again from node 0: everywhere, the late node included. */
  set_status (tab1, "online");
  WAIT_FOR (status_is (observer, a->id, "online") && status_is (late_observer, a->id, "online") &&
            status_is (tab2, a->id, "online"), 3000);

  ws_free (late_observer);
  ws_free (tab1);
  ws_free (tab2);
  ws_free (observer);
}

static void
test_sigkill (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  User *d = user_new (f->nodes[0]);
  User *both = user_new (f->nodes[0]);
  User *o = user_new (f->nodes[0]);
  Ws *observer0, *observer2, *victim, *both1, *both2;
  gint64 t;

  g_ptr_array_add (users, d);
  g_ptr_array_add (users, both);
  g_ptr_array_add (users, o);
  observer0 = ws_open (f->nodes[0], o, NULL, "O@0");
  observer2 = ws_open (f->nodes[2], o, NULL, "O@2");
  victim = ws_open (f->nodes[1], d, NULL, "D@1");
  both1 = ws_open (f->nodes[1], both, NULL, "E@1");
  both2 = ws_open (f->nodes[2], both, NULL, "E@2");
  WAIT_FOR (has (observer0, d->id) && has (observer2, d->id) && has (observer0, both->id), 3000);

  t = g_get_monotonic_time ();
  kill (munity_test_daemon_pid (f->nodes[1]), SIGKILL);
  WAIT_FOR (!has (observer0, d->id) && !has (observer2, d->id), 15000);
  g_test_message ("users of a SIGKILLed node gone from the others after %.1f s",
                  (g_get_monotonic_time () - t) / 1e6);
  /* A user with a socket on a live node stays. */
  g_assert_true (has (observer0, both->id) && has (observer2, both->id));
  g_assert_false (logged (observer0, "L", both->id));

  ws_free (observer0);
  ws_free (observer2);
  ws_free (victim);
  ws_free (both1);
  ws_free (both2);
}

static void
test_sigterm_reconnect (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  User *e = user_new (f->nodes[0]);
  User *o = user_new (f->nodes[0]);
  Ws *observer, *tab, *again;
  guint exit_ms = 0;

  g_ptr_array_add (users, e);
  g_ptr_array_add (users, o);
  observer = ws_open (f->nodes[0], o, NULL, "O@0");
  tab = ws_open (f->nodes[1], e, NULL, "E@1");
  WAIT_FOR (has (observer, e->id), 3000);

  /* A rolling restart: node 1 stops, the browser (which answers the
   * close, so this loop runs meanwhile) reconnects to node 2. */
  g_string_truncate (observer->log, 0);
  kill (munity_test_daemon_pid (f->nodes[1]), SIGTERM);
  WAIT_FOR (tab->closed, 3000);
  g_assert_cmpuint (tab->close_code, ==, 1001);
  again = ws_open (f->nodes[2], e, NULL, "E@2");
  WAIT_FOR (!munity_test_daemon_is_running (f->nodes[1]), 5000);
  g_assert_cmpint (munity_test_daemon_stop (f->nodes[1], &exit_ms), ==, 0);
  pump (GRACE_MS + 1500);
  g_assert_true (has (observer, e->id));
  g_assert_false (logged (observer, "L", e->id));
  g_assert_false (logged (observer, "J", e->id));

  ws_free (tab);
  ws_free (again);
  ws_free (observer);
}

/* A node that starts while a user lingers elsewhere (their last socket
 * closed, the grace not over) lists them too, and sees them leave when the
 * grace runs out: in a rolling restart whose browsers come back slowly, a
 * restarted node shows the same list as the others. */
static void
test_start_while_lingering (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  User *u = user_new (f->nodes[0]);
  User *o = user_new (f->nodes[0]);
  Ws *tab, *observer, *late;
  gint64 closed, started;

  g_ptr_array_add (users, u);
  g_ptr_array_add (users, o);
  g_clear_pointer (&f->nodes[2], munity_test_daemon_free);
  tab = ws_open (f->nodes[0], u, NULL, "U@0");
  observer = ws_open (f->nodes[1], o, NULL, "O@1");
  WAIT_FOR (has (observer, u->id), 3000);

  ws_close (tab);
  closed = g_get_monotonic_time ();
  f->nodes[2] = node_start (f->names[2]);
  late = ws_open (f->nodes[2], o, NULL, "O@2");
  started = g_get_monotonic_time ();
  g_test_message ("node 2 took %.0f ms to start and answer", (started - closed) / 1000.0);
  /* Up within the grace (1.5 s here; and each node waits 1 s longer for
   * a user last seen elsewhere): U is listed there too... */
  g_assert_cmpint (started - closed, <, GRACE_MS * 1000);
  WAIT_FOR (has (late, u->id), 2000);
  g_assert_false (logged (observer, "L", u->id));
  /* ...and leaves there when the grace is over, as everywhere. */
  WAIT_FOR (!has (late, u->id), GRACE_MS + 3000);
  g_assert_true (logged (late, "L", u->id));
  WAIT_FOR (!has (observer, u->id), 2000);

  ws_free (tab);
  ws_free (late);
  ws_free (observer);
}

/* ...but when every node of a cluster stopped, nobody holds anyone: a
 * cluster started afresh within the grace lists no one from before. */
static void
test_fresh_cluster_starts_empty (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  User *u = user_new (f->nodes[0]);
  User *o = user_new (f->nodes[0]);
  Ws *tab, *observer;
  gint64 stopped;

  g_ptr_array_add (users, u);
  g_ptr_array_add (users, o);
  tab = ws_open (f->nodes[0], u, NULL, "U@0");
  observer = ws_open (f->nodes[1], o, NULL, "O@1");
  WAIT_FOR (has (observer, u->id), 3000);
  ws_free (observer);

  /* Every node stops at once (SIGTERM): U's last socket closes, and U
   * lingers in cluster_lingering for the grace. */
  for (guint i = 0; i < 3; i++)
    kill (munity_test_daemon_pid (f->nodes[i]), SIGTERM);
  for (guint i = 0; i < 3; i++)
    {
      WAIT_FOR (!munity_test_daemon_is_running (f->nodes[i]), 5000);
      g_assert_cmpint (munity_test_daemon_stop (f->nodes[i], NULL), ==, 0);
      g_clear_pointer (&f->nodes[i], munity_test_daemon_free);
    }
  stopped = g_get_monotonic_time ();
  f->nodes[0] = node_start (f->names[0]);
  f->nodes[1] = node_start (f->names[1]);
  observer = ws_open (f->nodes[1], o, NULL, "O@1'");
  WAIT_FOR (has (observer, o->id), 3000);
  /* Still within U's grace, had anyone held it. */
  g_assert_cmpint (g_get_monotonic_time () - stopped, <, GRACE_MS * 1000);
  pump (300);
  g_assert_false (has (observer, u->id));
  g_assert_cmpuint (api_online_count (f->nodes[0], o, u->id), ==, 0);

  ws_free (tab);
  ws_free (observer);
}

static void
test_restart_same_name (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  User *g = user_new (f->nodes[0]);
  User *o = user_new (f->nodes[0]);
  Ws *observer, *tab;
  gint64 t;

  g_ptr_array_add (users, g);
  g_ptr_array_add (users, o);
  observer = ws_open (f->nodes[0], o, NULL, "O@0");
  tab = ws_open (f->nodes[1], g, NULL, "G@1");
  WAIT_FOR (has (observer, g->id), 3000);

  /* Killed and started again at once under its name: what its previous
   * life left is cleared long before the heartbeat would expire. */
  kill (munity_test_daemon_pid (f->nodes[1]), SIGKILL);
  t = g_get_monotonic_time ();
  g_clear_pointer (&f->nodes[1], munity_test_daemon_free);
  f->nodes[1] = node_start (f->names[1]);
  WAIT_FOR (!has (observer, g->id), 5000);
  g_assert_cmpint (g_get_monotonic_time () - t, <, 8 * G_USEC_PER_SEC);
  {
    g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM cluster_sockets s JOIN cluster_nodes n"
                                            " ON n.id = s.node_id WHERE n.name = '%s'", f->names[1]);
    g_autofree char *count = munity_test_pg_query_value (pg, sql);

    g_assert_cmpstr (count, ==, "0");
  }

  ws_free (tab);
  ws_free (observer);
}

static guint
healthz_status (MunityTestDaemon *d)
{
  g_autofree char *url = munity_test_daemon_url (d, "/healthz");
  g_autoptr(MunityTestResponse) resp = munity_test_http_full (http, "GET", url, NULL, NULL, 0, NULL, NULL);

  return resp != NULL ? resp->status : 0;
}

static void
test_database_outage (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  User *x = user_new (f->nodes[0]);
  User *w = user_new (f->nodes[0]);
  User *y = user_new (f->nodes[0]);
  User *o = user_new (f->nodes[0]);
  Ws *observer, *observer1, *xtab, *wtab, *ytab;
  gint64 t;

  g_ptr_array_add (users, x);
  g_ptr_array_add (users, w);
  g_ptr_array_add (users, y);
  g_ptr_array_add (users, o);
  observer = ws_open (f->nodes[0], o, NULL, "O@0");
  observer1 = ws_open (f->nodes[1], o, NULL, "O@1");
  xtab = ws_open (f->nodes[1], x, NULL, "X@1");
  wtab = ws_open (f->nodes[2], w, NULL, "W@2");
  WAIT_FOR (has (observer, x->id) && has (observer, w->id), 3000);
  g_string_truncate (observer->log, 0);

  /* PostgreSQL is away for 10 s; X closes its tab on node 1 meanwhile.
   * Each node keeps serving its own sockets. */
  munity_test_pg_stop_server (pg);
  t = g_get_monotonic_time ();
  pump (500);
  g_assert_cmpuint (healthz_status (f->nodes[0]), ==, 503);
  ws_close (xtab);
  WAIT_FOR (!has (observer1, x->id), GRACE_MS + 2000);
  while (g_get_monotonic_time () - t < 10 * G_USEC_PER_SEC)
    pump (100);
  g_assert_true (has (observer, x->id));

  /* Back: node 0 converges within 5 s, and nobody else left. */
  munity_test_pg_restart_server (pg);
  t = g_get_monotonic_time ();
  WAIT_FOR (!has (observer, x->id), 5000);
  g_test_message ("converged %.0f ms after the database came back", (g_get_monotonic_time () - t) / 1000.0);
  WAIT_FOR (healthz_status (f->nodes[0]) == 200, 5000);
  ytab = ws_open (f->nodes[2], y, NULL, "Y@2");
  WAIT_FOR (has (observer, y->id) && has (observer1, y->id), 3000);
  /* Nobody was declared dead for the outage: W never flickered. */
  pump (3000);
  g_assert_true (has (observer, w->id) && has (observer1, w->id));
  g_assert_false (logged (observer, "L", w->id));

  ws_free (xtab);
  ws_free (wtab);
  ws_free (ytab);
  ws_free (observer1);
  ws_free (observer);
}

#define bus_connect_when_owned munity_test_bus_connect_when_owned

/* D-Bus Disconnect on a fourth node, which holds no socket of the user:
 * the user's sockets on two other nodes close with 4003, the reply counts
 * the cluster's sockets, and the user leaves at once everywhere. */
static void
test_dbus_disconnect (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  g_autoptr(GTestDBus) bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_autoptr(GDBusConnection) conn = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *grace = g_strdup_printf ("%u", GRACE_MS);
  g_autofree char *name = g_strdup_printf ("%s-bus", f->names[0]);
  const char *args[] = { "--database", munity_test_pg_conninfo (pg), "--node-name", name,
                         "--leave-grace-ms", grace, "--bus", "session", NULL };
  MunityTestDaemon *with_bus;
  User *a, *o;
  Ws *observer, *a0, *a1;
  guint n = 0;
  gint64 t;

  g_test_dbus_up (bus);   /* munityd inherits DBUS_SESSION_BUS_ADDRESS */
  with_bus = munity_test_daemon_try_start (args, 60, &error);
  g_assert_no_error (error);
  conn = bus_connect_when_owned (bus);

  a = user_new (f->nodes[0]);
  o = user_new (f->nodes[0]);
  g_ptr_array_add (users, a);
  g_ptr_array_add (users, o);
  observer = ws_open (f->nodes[2], o, NULL, "O@2");
  a0 = ws_open (f->nodes[0], a, NULL, "A@0");
  a1 = ws_open (f->nodes[1], a, NULL, "A@1");
  WAIT_FOR (has (observer, a->id), 3000);
  pump (500);

  t = g_get_monotonic_time ();
  reply = munity_test_presence_call (conn, "Disconnect", g_variant_new ("(t)", (guint64) a->id), "(u)");
  g_variant_get (reply, "(u)", &n);
  g_assert_cmpuint (n, ==, 2);
  WAIT_FOR (a0->closed && a1->closed, 3000);
  g_assert_cmpuint (a0->close_code, ==, 4003);
  g_assert_cmpuint (a1->close_code, ==, 4003);
  WAIT_FOR (!has (observer, a->id), 3000);
  g_assert_cmpint (g_get_monotonic_time () - t, <, GRACE_MS * 1000);

  ws_free (a0);
  ws_free (a1);
  ws_free (observer);
  munity_test_daemon_free (with_bus);
  g_clear_object (&conn);
  g_test_dbus_down (bus);
}

/* ListNodes of the node answering on @conn: "name=sockets[*] …", sorted
 * by name, * for the node that answered; heartbeats are checked here. */
static char *
list_nodes (GDBusConnection *conn)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) nodes = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  GVariantIter iter;
  const char *name;
  guint32 sockets;
  gint64 heartbeat;
  gboolean is_self;

  reply = g_dbus_connection_call_sync (conn, "org.munity.Presence1", "/org/munity/Presence1",
                                       "org.munity.Presence1", "ListNodes", NULL,
                                       G_VARIANT_TYPE ("(a(suxb))"), G_DBUS_CALL_FLAGS_NONE,
                                       10000, NULL, &error);
  g_assert_no_error (error);
  nodes = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, nodes);
  while (g_variant_iter_next (&iter, "(&suxb)", &name, &sockets, &heartbeat, &is_self))
    {
      /* 0 only until the first read; then at most a few seconds old */
      if (heartbeat != 0)
        g_assert_cmpint (ABS (g_get_real_time () - heartbeat), <, 10 * G_USEC_PER_SEC);
      g_string_append_printf (out, "%s%s=%u%s", out->len > 0 ? " " : "", name, sockets,
                              is_self ? "*" : "");
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
list_nodes_is (GDBusConnection *conn,
               const char      *expected)
{
  g_autofree char *got = list_nodes (conn);

  return g_str_equal (got, expected);
}

static gboolean
metrics_have (MunityTestDaemon   *d,
              const char * const *lines)
{
  g_autofree char *url = munity_test_daemon_url (d, "/metrics");
  g_autoptr(MunityTestResponse) resp = munity_test_http (http, "GET", url, NULL, NULL, 0, NULL);
  g_autofree char *text = g_strndup (g_bytes_get_data (resp->body, NULL), g_bytes_get_size (resp->body));

  g_assert_cmpuint (resp->status, ==, 200);
  for (gsize i = 0; lines[i] != NULL; i++)
    {
      g_autofree char *line = g_strdup_printf ("\n%s\n", lines[i]);

      if (strstr (text, line) == NULL)
        {
          g_test_message ("no “%s” in /metrics yet", lines[i]);
          return FALSE;
        }
    }
  return TRUE;
}

/* The operator view (doc/protocol.md §7): the third node, started again
 * with a bus, lists the three nodes with their sockets over D-Bus and in
 * `munityctl status`; /metrics has a gauge per node and its own count. */
static void
test_operator_view (Fixture *f, gconstpointer data)
{
  g_autofree char *grace = g_strdup_printf ("%u", GRACE_MS);
  g_autoptr(GTestDBus) bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  g_autoptr(GSubprocess) ctl = NULL;
  g_autoptr(GDBusConnection) conn = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto(GStrv) lines = NULL;
  const char *args[] = { "--database", munity_test_pg_conninfo (pg), "--node-name", f->names[2],
                         "--leave-grace-ms", grace, "--bus", "session", NULL };
  g_autofree char *l0 = g_strdup_printf ("munity_node_sockets{node=\"%s\"} 2", f->names[0]);
  g_autofree char *l1 = g_strdup_printf ("munity_node_sockets{node=\"%s\"} 1", f->names[1]);
  g_autofree char *l2 = g_strdup_printf ("munity_node_sockets{node=\"%s\"} 1", f->names[2]);
  const char *metrics0[] = { "munity_cluster_nodes 3", "munity_sockets 4", "munity_online_users 2",
                             "munity_local_sockets 2", l0, l1, l2, NULL };
  User *a, *b;
  Ws *ws[4];

  g_test_dbus_up (bus);   /* munityd inherits DBUS_SESSION_BUS_ADDRESS */
  g_assert_cmpint (munity_test_daemon_stop (f->nodes[2], NULL), ==, 0);
  g_clear_pointer (&f->nodes[2], munity_test_daemon_free);
  f->nodes[2] = munity_test_daemon_try_start (args, 60, &error);
  g_assert_no_error (error);
  conn = bus_connect_when_owned (bus);

  a = user_new (f->nodes[0]);
  b = user_new (f->nodes[1]);
  g_ptr_array_add (users, a);
  g_ptr_array_add (users, b);
  ws[0] = ws_open (f->nodes[0], a, NULL, "A@0");
  ws[1] = ws_open (f->nodes[0], b, NULL, "B@0");
  ws[2] = ws_open (f->nodes[1], a, NULL, "A@1");
  ws[3] = ws_open (f->nodes[2], b, NULL, "B@2");

  /* The names come with a heartbeat (2 s), the counts with the model. */
  expected = g_strdup_printf ("%s=2 %s=1 %s=1*", f->names[0], f->names[1], f->names[2]);
  WAIT_FOR (list_nodes_is (conn, expected), 8000);
  WAIT_FOR (metrics_have (f->nodes[0], metrics0), 8000);

  ctl = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error,
                          g_getenv ("MUNITYCTL"), "status", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (ctl, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  g_test_message ("munityctl status:\n%s%s", out, err);
  g_assert_true (g_subprocess_get_if_exited (ctl));
  g_assert_cmpint (g_subprocess_get_exit_status (ctl), ==, 0);
  lines = g_strsplit (out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 10);
  g_assert_true (g_str_has_prefix (lines[0], "Version:      "));
  g_assert_cmpstr (lines[1], ==, "Online users: 2");
  g_assert_cmpstr (lines[2], ==, "Sockets:      4");
  g_assert_cmpstr (lines[3], ==, "Nodes:        3");
  g_assert_cmpstr (lines[4], ==, "");
  g_assert_true (g_str_has_prefix (lines[5], "NODE "));
  for (guint i = 0; i < 3; i++)
    {
      g_auto(GStrv) words = g_strsplit_set (lines[6 + i], " ", -1);
      g_autofree char *joined = NULL;
      g_autoptr(GPtrArray) kept = g_ptr_array_new ();

      for (guint j = 0; words[j] != NULL; j++)
        if (*words[j] != '\0')
          g_ptr_array_add (kept, words[j]);
      g_assert_cmpuint (kept->len, >=, 5);
      g_assert_cmpstr (kept->pdata[0], ==, f->names[i]);
      g_assert_cmpstr (kept->pdata[1], ==, i == 0 ? "2" : "1");
      g_assert_true (g_str_has_suffix (lines[6 + i], "s ago)  (this node)") == (i == 2));
    }
  g_assert_cmpstr (lines[9], ==, "");

  for (guint i = 0; i < G_N_ELEMENTS (ws); i++)
    ws_free (ws[i]);
  g_clear_object (&conn);
  g_clear_pointer (&f->nodes[2], munity_test_daemon_free);
  g_test_dbus_down (bus);
}

/* A seeded random churn spread over the three nodes: tabs open and close
 * anywhere, every frame of every socket is checked (ws_got), and once it
 * is quiet every socket's list is the cluster's online set, the same on
 * every node's /api/online. */
static void
test_random_churn (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  g_autoptr(GPtrArray) open = g_ptr_array_new ();
  g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func ((GDestroyNotify) ws_free);
  g_autoptr(GRand) rand = g_rand_new_with_seed (g_test_rand_int ());
  g_autoptr(GHashTable) expected = g_hash_table_new (g_int64_hash, g_int64_equal);
  User *o;
  guint n_users = 10;

  for (guint i = 0; i < n_users; i++)
    g_ptr_array_add (users, user_new (f->nodes[i % 3]));
  o = users->pdata[0];

  for (guint step = 0; step < 120; step++)
    {
      if (open->len == 0 || (open->len < 16 && g_rand_int_range (rand, 0, 100) < 55))
        {
          User *u = users->pdata[g_rand_int_range (rand, 0, n_users)];
          guint node = g_rand_int_range (rand, 0, 3);
          g_autofree char *label = g_strdup_printf ("U%" G_GINT64_FORMAT "#%u@%u", u->id, step, node);
          Ws *ws = ws_open (f->nodes[node], u, NULL, label);

          g_ptr_array_add (open, ws);
          g_ptr_array_add (all, ws);
        }
      else
        {
          Ws *ws = g_ptr_array_steal_index_fast (open, g_rand_int_range (rand, 0, open->len));

          if (ws->open)
            soup_websocket_connection_close (ws->conn, 1000, NULL);
        }
      pump (g_rand_int_range (rand, 0, 40));
    }

  /* Quiet: the lingering have left, every notification arrived. */
  pump (GRACE_MS + 2000);
  for (guint i = 0; i < open->len; i++)
    {
      Ws *ws = open->pdata[i];
      g_hash_table_add (expected, &ws->user->id);
    }
  for (guint i = 0; i < open->len; i++)
    {
      Ws *ws = open->pdata[i];
      GHashTableIter iter;
      gint64 *id;

      g_assert_false (ws->closed);
      if (g_hash_table_size (ws->list) != g_hash_table_size (expected))
        g_test_message ("%s: %u users in the list, %u online", ws->label,
                        g_hash_table_size (ws->list), g_hash_table_size (expected));
      g_assert_cmpuint (g_hash_table_size (ws->list), ==, g_hash_table_size (expected));
      g_hash_table_iter_init (&iter, ws->list);
      while (g_hash_table_iter_next (&iter, (gpointer *) &id, NULL))
        g_assert_true (g_hash_table_contains (expected, id));
    }
  for (guint n = 0; n < 3; n++)
    for (guint i = 0; i < n_users; i++)
      {
        User *u = users->pdata[i];
        g_assert_cmpuint (api_online_count (f->nodes[n], o, u->id), ==,
                          g_hash_table_contains (expected, &u->id) ? 1 : 0);
      }
  g_test_message ("%u sockets open at the end, %u users online", open->len, g_hash_table_size (expected));
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  pg = munity_test_pg_start ();
  http = munity_test_session_new (FALSE);

#define ADD(path, func) g_test_add (path, Fixture, NULL, setup, func, teardown)
  ADD ("/cluster/multi-tab/across-nodes", test_multi_tab);
  ADD ("/cluster/logout/closes-other-nodes", test_logout);
  ADD ("/cluster/user-updated/from-another-node", test_user_updated);
  ADD ("/cluster/profile/same-on-every-node", test_profile_across_nodes);
  ADD ("/cluster/status/idle-on-one-node-seen-on-others", test_status);
  ADD ("/cluster/disconnect/dbus-on-another-node", test_dbus_disconnect);
  ADD ("/cluster/churn/random", test_random_churn);
  ADD ("/cluster/operator/node-list", test_operator_view);
  ADD ("/cluster/node/sigkill", test_sigkill);
  ADD ("/cluster/node/sigterm-reconnect-elsewhere", test_sigterm_reconnect);
  ADD ("/cluster/node/restart-same-name", test_restart_same_name);
  ADD ("/cluster/node/start-while-a-user-lingers", test_start_while_lingering);
  ADD ("/cluster/node/fresh-cluster-starts-empty", test_fresh_cluster_starts_empty);
  ADD ("/cluster/database/outage", test_database_outage);
#undef ADD

  status = g_test_run ();
  g_object_unref (http);
  munity_test_pg_free (pg);
  return status;
}
