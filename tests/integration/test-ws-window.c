/* test-ws-window.c — /ws?view=window on real munityd nodes: the §8 guarantee on every frame
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "munity-test-daemon.h"
#include "munity-test-pg.h"

/*
 * Two munityd nodes on one throwaway PostgreSQL, no grace. Window sockets
 * (doc/protocol.md §8) apply every windowChanged to the window they hold
 * and check, on every frame, what a client can: the ops' indexes are in
 * range, the window holds min(limit, max(0, total − offset)) users, in
 * order (collation key of "First Last", then id), each once, and matching
 * the query. Once things are quiet, each window must be exactly the one
 * computed here from who the test knows is online.
 */

typedef MunityTestUser User;

typedef struct {
  const char              *label;
  SoupWebsocketConnection *conn;
  gboolean                 open;
  gboolean                 closed;
  gboolean                 failed;
  gboolean                 list;         /* a full-list socket: frames only counted */
  guint                    status;
  guint                    n_frames;
  guint                    n_windows;    /* onlineWindow frames */
  guint                    n_changes;    /* windowChanged frames */
  guint                    n_errors;
  guint                    n_other;      /* any other event */
  char                    *query;
  guint                    offset;
  guint                    limit;
  guint                    total;
  GPtrArray               *users;        /* of JsonObject (owned): the window */
  gint64                   opened_at;    /* monotonic µs */
} Win;

static MunityTestPg     *pg;
static MunityTestDaemon *nodes[2];
static SoupSession      *http;
static GPtrArray        *everyone;     /* of User (owned) */

#define pump munity_test_pump
#define WAIT_FOR MUNITY_TEST_WAIT_FOR

/* ---- users ------------------------------------------------------------------ */

static User *
user_new (MunityTestDaemon *d,
          const char       *first,
          const char       *last)
{
  User *u = munity_test_user_register (http, d, first, last);

  g_ptr_array_add (everyone, u);
  return u;
}

static void
user_rename (MunityTestDaemon *d,
             User             *u,
             const char       *first)
{
  g_autofree char *url = munity_test_daemon_url (d, "/api/me");
  g_autofree char *body = munity_test_json_object ("first", first, NULL);
  const char *headers[] = { "Cookie", u->cookie, NULL };
  g_autoptr(MunityTestResponse) resp = munity_test_http_full (http, "PATCH", url, "application/json", body, -1,
                                                              headers, NULL);

  g_assert_cmpuint (resp->status, ==, 200);
  g_free (u->first);
  u->first = g_strdup (first);
}

static char *
display_name (JsonObject *user)
{
  return g_strdup_printf ("%s %s", json_object_get_string_member (user, "first"),
                          json_object_get_string_member (user, "last"));
}

static int
compare_named (const char *name_a,
               gint64      id_a,
               const char *name_b,
               gint64      id_b)
{
  g_autofree char *ka = g_utf8_collate_key (name_a, -1);
  g_autofree char *kb = g_utf8_collate_key (name_b, -1);
  int order = strcmp (ka, kb);

  return order != 0 ? order : id_a < id_b ? -1 : id_a > id_b;
}

static gboolean
name_matches (const char *name,
              const char *query)
{
  g_autofree char *folded = g_utf8_casefold (name, -1);
  g_autofree char *q = g_utf8_casefold (query, -1);

  return strstr (folded, q) != NULL;
}

/* ---- window sockets --------------------------------------------------------- */

static void
win_check (Win *w)
{
  guint expected = w->total > w->offset ? MIN (w->limit, w->total - w->offset) : 0;

  /* Strictly in order: so no user twice either. */
  if (w->users->len != expected)
    g_test_message ("%s: holds %u users, total %u offset %u limit %u", w->label, w->users->len, w->total,
                    w->offset, w->limit);
  g_assert_cmpuint (w->users->len, ==, expected);
  for (guint i = 0; i < w->users->len; i++)
    {
      JsonObject *user = w->users->pdata[i];
      g_autofree char *name = display_name (user);

      g_assert_true (name_matches (name, w->query));
      if (i > 0)
        {
          JsonObject *before = w->users->pdata[i - 1];
          g_autofree char *name_before = display_name (before);

          if (compare_named (name_before, json_object_get_int_member (before, "id"), name,
                             json_object_get_int_member (user, "id")) >= 0)
            g_test_message ("%s: %s before %s", w->label, name_before, name);
          g_assert_cmpint (compare_named (name_before, json_object_get_int_member (before, "id"), name,
                                          json_object_get_int_member (user, "id")), <, 0);
        }
    }
}

static void
win_got (SoupWebsocketConnection *conn,
         gint                     type,
         GBytes                  *message,
         Win                     *w)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize len;
  const char *text = g_bytes_get_data (message, &len);
  JsonObject *root, *data;
  const char *event;

  g_assert_true (json_parser_load_from_data (parser, text, (gssize) len, NULL));
  root = json_node_get_object (json_parser_get_root (parser));
  event = json_object_get_string_member (root, "event");
  w->n_frames++;
  if (w->list)
    {
      w->n_errors += g_str_equal (event, "error");
      return;
    }
  data = json_object_get_object_member (root, "data");
  if (w->n_frames == 1)
    g_assert_cmpstr (event, ==, "onlineWindow");

  if (g_str_equal (event, "onlineWindow"))
    {
      JsonArray *users = json_object_get_array_member (data, "users");

      w->n_windows++;
      g_free (w->query);
      w->query = g_strdup (json_object_get_string_member (data, "query"));
      w->offset = (guint) json_object_get_int_member (data, "offset");
      w->limit = (guint) json_object_get_int_member (data, "limit");
      w->total = (guint) json_object_get_int_member (data, "total");
      g_ptr_array_set_size (w->users, 0);
      for (guint i = 0; i < json_array_get_length (users); i++)
        g_ptr_array_add (w->users, json_object_ref (json_array_get_object_element (users, i)));
      win_check (w);
    }
  else if (g_str_equal (event, "windowChanged"))
    {
      JsonArray *ops = json_object_get_array_member (data, "ops");

      w->n_changes++;
      w->total = (guint) json_object_get_int_member (data, "total");
      for (guint i = 0; i < json_array_get_length (ops); i++)
        {
          JsonObject *op = json_array_get_object_element (ops, i);
          const char *kind = json_object_get_string_member (op, "op");
          gint64 index = json_object_get_int_member (op, "index");

          g_assert_cmpint (index, >=, 0);
          if (g_str_equal (kind, "insert"))
            {
              g_assert_cmpint (index, <=, w->users->len);
              g_ptr_array_insert (w->users, (gint) index, json_object_ref (json_object_get_object_member (op, "user")));
            }
          else if (g_str_equal (kind, "remove"))
            {
              g_assert_cmpint (index, <, w->users->len);
              g_ptr_array_remove_index (w->users, (guint) index);
            }
          else
            {
              g_assert_cmpstr (kind, ==, "update");
              g_assert_cmpint (index, <, w->users->len);
              json_object_unref (w->users->pdata[index]);
              w->users->pdata[index] = json_object_ref (json_object_get_object_member (op, "user"));
            }
        }
      win_check (w);
    }
  else if (g_str_equal (event, "error"))
    w->n_errors++;
  else
    {
      g_test_message ("%s: unexpected %s", w->label, event);
      w->n_other++;
    }
}

static void
win_closed (SoupWebsocketConnection *conn,
            Win                     *w)
{
  w->closed = TRUE;
  w->open = FALSE;
}

static void
win_connected (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Win *w = user_data;
  g_autoptr(GError) error = NULL;

  w->conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  if (w->conn == NULL)
    {
      w->failed = TRUE;
      return;
    }
  w->open = TRUE;
  g_signal_connect (w->conn, "message", G_CALLBACK (win_got), w);
  g_signal_connect (w->conn, "closed", G_CALLBACK (win_closed), w);
}

/* Opens /ws@path_query on @d as @u; waits for the first frame when it should come. */
static Win *
win_open (MunityTestDaemon *d,
          User             *u,
          const char       *path_query,
          const char       *label)
{
  Win *w = g_new0 (Win, 1);
  g_autofree char *url = munity_test_daemon_url (d, path_query);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);

  w->label = label;
  w->list = strstr (path_query, "view=window") == NULL;
  w->users = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  w->query = g_strdup ("");
  w->opened_at = g_get_monotonic_time ();
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Cookie", u->cookie);
  soup_session_websocket_connect_async (http, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL, win_connected, w);
  WAIT_FOR (w->open || w->failed, 10000);
  w->status = soup_message_get_status (msg);
  return w;
}

static void
win_free (Win *w)
{
  if (w == NULL)
    return;
  if (w->conn != NULL)
    {
      if (w->open)
        {
          soup_websocket_connection_close (w->conn, 1000, NULL);
          WAIT_FOR (w->closed, 5000);
        }
      g_signal_handlers_disconnect_by_data (w->conn, w);
      g_object_unref (w->conn);
    }
  g_ptr_array_unref (w->users);
  g_free (w->query);
  g_free (w);
}

static void
win_set (Win        *w,
         guint       offset,
         guint       limit,
         const char *query)
{
  g_autofree char *quoted = NULL;
  g_autofree char *text = NULL;
  g_autoptr(JsonNode) node = json_node_init_string (json_node_alloc (), query);
  guint before = w->n_windows;

  quoted = json_to_string (node, FALSE);
  text = g_strdup_printf ("{\"event\":\"setWindow\",\"data\":{\"offset\":%u,\"limit\":%u,\"query\":%s}}",
                          offset, limit, quoted);
  soup_websocket_connection_send_text (w->conn, text);
  WAIT_FOR (w->n_windows > before, 5000);
  g_assert_cmpuint (w->offset, ==, offset);
  g_assert_cmpuint (w->limit, ==, limit);
  g_assert_cmpstr (w->query, ==, query);
}

/* The window @w should hold now, from the users with a socket open. */
static void
win_assert_exact (Win        *w,
                  GHashTable *online)
{
  g_autoptr(GPtrArray) matching = g_ptr_array_new ();
  GHashTableIter iter;
  User *u;

  g_hash_table_iter_init (&iter, online);
  while (g_hash_table_iter_next (&iter, (gpointer *) &u, NULL))
    {
      g_autofree char *name = g_strdup_printf ("%s %s", u->first, u->last);
      if (name_matches (name, w->query))
        g_ptr_array_add (matching, u);
    }
  for (guint i = 1; i < matching->len; i++)   /* insertion sort: small */
    for (guint j = i; j > 0; j--)
      {
        User *a = matching->pdata[j - 1], *b = matching->pdata[j];
        g_autofree char *na = g_strdup_printf ("%s %s", a->first, a->last);
        g_autofree char *nb = g_strdup_printf ("%s %s", b->first, b->last);

        if (compare_named (na, a->id, nb, b->id) < 0)
          break;
        matching->pdata[j - 1] = b;
        matching->pdata[j] = a;
      }

  if (w->total != matching->len)
    g_test_message ("%s: total %u, expected %u (query \"%s\")", w->label, w->total, matching->len, w->query);
  g_assert_cmpuint (w->total, ==, matching->len);
  for (guint i = 0; i < w->users->len; i++)
    {
      User *expected = matching->pdata[w->offset + i];
      JsonObject *got = w->users->pdata[i];

      g_assert_cmpint (json_object_get_int_member (got, "id"), ==, expected->id);
      g_assert_cmpstr (json_object_get_string_member (got, "first"), ==, expected->first);
    }
}

/* ---- tests ---------------------------------------------------------------------- */

static void
test_first_window (void)
{
  static const char *names[][2] = { { "Zed", "Zulu" }, { "ada", "Lovelace" }, { "Ada", "Lovelace" },
                                    { "Bob", "Marley" }, { "Émile", "Zola" } };
  g_autoptr(GHashTable) online = g_hash_table_new (NULL, NULL);
  User *viewer = user_new (nodes[0], "Vera", "Viewer");
  g_autoptr(GPtrArray) tabs = g_ptr_array_new_with_free_func ((GDestroyNotify) win_free);
  Win *w;

  g_hash_table_add (online, viewer);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      User *u = user_new (nodes[i % 2], names[i][0], names[i][1]);
      g_ptr_array_add (tabs, win_open (nodes[i % 2], u, "/ws", "tab"));
      g_hash_table_add (online, u);
    }
  pump (1500);

  w = win_open (nodes[1], viewer, "/ws?view=window", "V");
  WAIT_FOR (w->n_frames >= 1, 5000);
  g_assert_cmpuint (w->offset, ==, 0);
  g_assert_cmpuint (w->limit, ==, 50);
  g_assert_cmpstr (w->query, ==, "");
  win_assert_exact (w, online);

  /* A join lands in the window as an insert at its place: no userJoined. */
  {
    User *late = user_new (nodes[0], "Aaron", "Aardvark");
    guint changes = w->n_changes;

    g_ptr_array_add (tabs, win_open (nodes[0], late, "/ws", "late"));
    g_hash_table_add (online, late);
    WAIT_FOR (w->n_changes > changes, 3000);
    win_assert_exact (w, online);
    g_assert_cmpint (json_object_get_int_member (w->users->pdata[0], "id"), ==, late->id);
  }

  /* A query, case-insensitively; then a window further down. */
  win_set (w, 0, 10, "LOVE");
  win_assert_exact (w, online);
  g_assert_cmpuint (w->total, ==, 2);
  win_set (w, 2, 2, "");
  win_assert_exact (w, online);
  g_assert_cmpuint (w->users->len, ==, 2);
  win_set (w, 100, 5, "");
  g_assert_cmpuint (w->users->len, ==, 0);
  g_assert_cmpuint (w->n_other, ==, 0);
  g_assert_cmpuint (w->n_errors, ==, 0);

  win_free (w);
}

static void
test_bad_set_window (void)
{
  static const char *bad[] = {
    "{\"event\":\"setWindow\",\"data\":{\"offset\":0,\"limit\":201}}",
    "{\"event\":\"setWindow\",\"data\":{\"offset\":-1,\"limit\":5}}",
    "{\"event\":\"setWindow\",\"data\":{\"offset\":0.5,\"limit\":5}}",
    "{\"event\":\"setWindow\",\"data\":{\"offset\":0,\"limit\":\"5\"}}",
    "{\"event\":\"setWindow\",\"data\":{\"limit\":5}}",
    "{\"event\":\"setWindow\",\"data\":{\"offset\":0,\"limit\":5,\"query\":7}}",
    "{\"event\":\"setWindow\",\"data\":{\"offset\":0,\"limit\":5,\"sort\":\"name\"}}",
    "{\"event\":\"setWindow\",\"data\":[0,5]}",
    "{\"event\":\"setWindow\"}",
  };
  User *u = user_new (nodes[0], "Bad", "Input");
  g_autofree char *long_query = NULL;
  g_autofree char *too_long = NULL;
  Win *w = win_open (nodes[0], u, "/ws?view=window", "W");
  Win *list;

  WAIT_FOR (w->n_frames >= 1, 5000);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    soup_websocket_connection_send_text (w->conn, bad[i]);
  /* 101 characters of query: one too many (é is one character, two bytes). */
  long_query = g_strnfill (100, 'x');
  too_long = g_strdup_printf ("{\"event\":\"setWindow\",\"data\":{\"offset\":0,\"limit\":5,\"query\":\"é%s\"}}",
                              long_query);
  soup_websocket_connection_send_text (w->conn, too_long);
  WAIT_FOR (w->n_errors == G_N_ELEMENTS (bad) + 1, 5000);
  g_assert_true (w->open);
  g_assert_cmpuint (w->n_windows, ==, 1);

  /* Exactly 100 characters is fine, and so is no query at all. */
  win_set (w, 0, 5, long_query);
  soup_websocket_connection_send_text (w->conn, "{\"event\":\"setWindow\",\"data\":{\"offset\":1,\"limit\":0}}");
  WAIT_FOR (w->n_windows == 3, 5000);
  g_assert_cmpstr (w->query, ==, "");
  g_assert_cmpuint (w->users->len, ==, 0);

  /* A full-list socket has no window to move. */
  list = win_open (nodes[0], u, "/ws", "L");
  soup_websocket_connection_send_text (list->conn, "{\"event\":\"setWindow\",\"data\":{\"offset\":0,\"limit\":5}}");
  WAIT_FOR (list->n_errors == 1, 5000);
  g_assert_true (list->open);
  win_free (list);
  win_free (w);

  /* An unknown view is refused before the upgrade. */
  {
    g_autofree char *url = munity_test_daemon_url (nodes[0], "/ws?view=grid");
    const char *headers[] = { "Cookie", u->cookie, "Connection", "Upgrade", "Upgrade", "websocket",
                              "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==",
                              NULL };
    g_autoptr(MunityTestResponse) resp = munity_test_http_full (http, "GET", url, NULL, NULL, 0, headers, NULL);

    g_assert_cmpuint (resp->status, ==, 400);
    g_assert_cmpstr (munity_test_response_error_code (resp), ==, "bad-request");
  }
}

/* Seeded churn over both nodes: users come and go and rename themselves;
 * window sockets on both nodes, with random windows and queries, check
 * every frame, and are exact once things are quiet. */
static void
test_random_churn (void)
{
  static const char *firsts[] = { "Ada", "ada", "Alan", "Bob", "Émile", "Grace", "Li", "Zoë" };
  static const char *queries[] = { "", "", "", "a", "LI", "ë", "zzz" };
  g_autoptr(GRand) rand = g_rand_new_with_seed (15);
  g_autoptr(GHashTable) online = g_hash_table_new (NULL, NULL);
  g_autoptr(GPtrArray) users = g_ptr_array_new ();
  g_autoptr(GPtrArray) tabs = g_ptr_array_new_with_free_func ((GDestroyNotify) win_free);  /* by user index */
  g_autoptr(GPtrArray) windows = g_ptr_array_new_with_free_func ((GDestroyNotify) win_free);
  static const char *labels[] = { "W0", "W1", "W2", "W3", "W4", "W5" };
  User *watcher = user_new (nodes[0], "Wanda", "Watcher");

  for (guint i = 0; i < 24; i++)
    {
      User *u = user_new (nodes[i % 2], firsts[i % G_N_ELEMENTS (firsts)], i % 3 == 0 ? "Kay" : "Ng");
      g_ptr_array_add (users, u);
      g_ptr_array_add (tabs, NULL);
    }
  g_hash_table_add (online, watcher);
  for (guint i = 0; i < G_N_ELEMENTS (labels); i++)
    {
      Win *w = win_open (nodes[i % 2], watcher, "/ws?view=window", labels[i]);
      WAIT_FOR (w->n_frames >= 1, 5000);
      g_ptr_array_add (windows, w);
    }

  for (guint round = 0; round < 120; round++)
    {
      guint i = (guint) g_rand_int_range (rand, 0, (gint32) users->len);
      User *u = users->pdata[i];
      guint what = (guint) g_rand_int_range (rand, 0, 10);

      if (what < 6)
        {
          if (tabs->pdata[i] == NULL)
            {
              tabs->pdata[i] = win_open (nodes[g_rand_int_range (rand, 0, 2)], u, "/ws", "tab");
              g_hash_table_add (online, u);
            }
          else
            {
              win_free (tabs->pdata[i]);
              tabs->pdata[i] = NULL;
              g_hash_table_remove (online, u);
            }
        }
      else if (what < 8)
        {
          g_autofree char *first = g_strdup_printf ("%s%u", firsts[g_rand_int_range (rand, 0, G_N_ELEMENTS (firsts))],
                                                    round);
          user_rename (nodes[g_rand_int_range (rand, 0, 2)], u, first);
        }
      else
        {
          Win *w = windows->pdata[g_rand_int_range (rand, 0, (gint32) windows->len)];
          win_set (w, (guint) g_rand_int_range (rand, 0, 20), (guint) g_rand_int_range (rand, 1, 12),
                   queries[g_rand_int_range (rand, 0, G_N_ELEMENTS (queries))]);
        }
      if (g_rand_int_range (rand, 0, 4) == 0)
        pump ((guint) g_rand_int_range (rand, 0, 150));
    }

  /* Quiet: the total may wait a second, the rest 100 ms, a node's news
   * travels through PostgreSQL. */
  pump (2500);
  for (guint i = 0; i < windows->len; i++)
    {
      Win *w = windows->pdata[i];

      win_assert_exact (w, online);
      g_assert_cmpuint (w->n_other, ==, 0);
      g_assert_cmpuint (w->n_errors, ==, 0);
      g_assert_true (w->open);
      {
        /* At most one windowChanged per window per 100 ms: counted, as
         * frames may reach this (busy) client together. A setWindow
         * starts a new window, whose first frame may come sooner. */
        gint64 elapsed = g_get_monotonic_time () - w->opened_at;
        guint64 most = (guint64) (elapsed / (100 * 1000)) + w->n_windows + 1;

        g_test_message ("%s: %u frames, %u windowChanged in %.1f s (at most %" G_GUINT64_FORMAT ")", w->label,
                        w->n_frames, w->n_changes, elapsed / 1e6, most);
        g_assert_cmpuint (w->n_changes, <=, most);
      }
    }
}

int
main (int   argc,
      char *argv[])
{
  const char *args0[] = { "--database", NULL, "--node-name", "w0", "--leave-grace-ms", "0", NULL };
  const char *args1[] = { "--database", NULL, "--node-name", "w1", "--leave-grace-ms", "0", NULL };
  g_autoptr(GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

  pg = munity_test_pg_start ();
  args0[1] = args1[1] = munity_test_pg_conninfo (pg);
  nodes[0] = munity_test_daemon_try_start (args0, 60, &error);
  g_assert_no_error (error);
  nodes[1] = munity_test_daemon_try_start (args1, 60, &error);
  g_assert_no_error (error);
  http = munity_test_session_new (FALSE);
  everyone = g_ptr_array_new_with_free_func ((GDestroyNotify) munity_test_user_free);

  g_test_add_func ("/ws-window/first-window-and-moves", test_first_window);
  g_test_add_func ("/ws-window/bad-set-window", test_bad_set_window);
  g_test_add_func ("/ws-window/random-churn-two-nodes", test_random_churn);
  status = g_test_run ();

  g_ptr_array_unref (everyone);
  g_object_unref (http);
  munity_test_daemon_free (nodes[1]);
  munity_test_daemon_free (nodes[0]);
  munity_test_pg_free (pg);
  return status;
}
