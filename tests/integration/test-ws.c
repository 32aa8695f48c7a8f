/* test-ws.c — the WebSocket /ws of the real munityd, from the outside
 *
 * doc/protocol.md §3 row by row, with real clients: libsoup's WebSocket client
 * (one cookie per "browser", sent by hand) and, where libsoup cannot do it
 * (a refused handshake whose answer we inspect, a client that never answers
 * pings, a reader that never reads, fragmented messages, a connection that
 * just vanishes), a raw client over a GSocket that does the handshake and
 * the framing itself.
 *
 * Every test gets a munityd of its own (an empty presence model, the options
 * it needs) on one shared throwaway database where the users are registered
 * once, in parallel, at start-up. Every frame any client receives goes
 * through ws_got_text(), which checks the §3 guarantee as the frame arrives:
 * `onlineUsers` first and only first, each user once, including the
 * receiver; no `userJoined` for a user already in the list; no `userLeft`
 * or `userUpdated` for one not in it; payloads with exactly their members.
 * "Nothing was sent" is proven with a barrier: an event the test causes
 * afterwards must be the very next frame on every socket (the server keeps
 * the order of events).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "munity-presence.h"
#include "munity-test-daemon.h"
#include "munity-test-pg.h"

#define N_USERS 36
#define SENTINEL (N_USERS - 1)   /* only ever used by barrier() */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define QUICK_MS 10000           /* bound for anything that should be quick */

#define OP_CONTINUATION 0x0
#define OP_TEXT 0x1
#define OP_BINARY 0x2
#define OP_CLOSE 0x8
#define OP_PING 0x9
#define OP_PONG 0xA

typedef struct {
  guint  index;
  gint64 id;
  char  *email;   /* (owned) */
  char  *first;   /* (owned) as now stored */
  char  *last;    /* (owned) as now stored */
  char  *cookie;  /* (owned) "munity_session=…" of the registration session */
} User;

static MunityTestPg *pg;            /* (owned) */
static SoupSession  *http;          /* (owned) plain requests, cookies by hand */
static SoupSession  *ws_session;    /* (owned) libsoup WebSocket clients */
static User          users[N_USERS];
static const char    password[] = "correct horse battery staple";
static guint         barrier_serial;
static gboolean      check_names = TRUE;  /* payload names == bookkeeping */

/* ---- options and fixture ------------------------------------------------- */

#define GRACE_DEFAULT G_MAXUINT   /* no --leave-grace-ms at all */

typedef struct {
  guint       grace_ms;
  gboolean    fast_ping;        /* ping every 300 ms, pong within 900 ms */
  const char *allowed_origin;   /* allowed-origins in a config file */
  gboolean    dbus;             /* --bus session, on a private bus */
  gboolean    every_update;     /* no coalescing of userUpdated (a test hook) */
} Opts;

static const Opts grace_0 = { 0, FALSE, NULL, FALSE };
/* The slow reader needs a storm of 10,000 userUpdated frames from renames,
 * which munityd otherwise announces at most once a second per user. */
static const Opts rename_storm = { 0, FALSE, NULL, FALSE, TRUE };
static const Opts grace_1s = { 1000, FALSE, NULL, FALSE };
static const Opts grace_5s = { 5000, FALSE, NULL, FALSE };
static const Opts grace_default = { GRACE_DEFAULT, FALSE, NULL, FALSE };
static const Opts fast_ping = { 0, TRUE, NULL, FALSE };
static const Opts with_allowed = { 1000, FALSE, "https://app.example.org", FALSE };
static const Opts with_dbus = { 5000, FALSE, NULL, TRUE };

typedef struct _Ws Ws;

typedef struct {
  const Opts       *opts;
  MunityTestDaemon *d;
  GTestDBus        *bus;          /* (owned) (nullable) private session bus */
  char             *config_dir;   /* (owned) (nullable) */
  GPtrArray        *sockets;      /* of Ws (owned) */
  Ws               *sentinel;     /* (unowned) (nullable) in sockets */
  gboolean          stopped;      /* the test stopped munityd itself */
} Fixture;

/* One client socket: libsoup's or our own. */
struct _Ws {
  Fixture                 *fx;
  User                    *user;
  char                    *label;        /* (owned) "U3#2" */
  gboolean                 raw;

  /* libsoup */
  SoupMessage             *msg;          /* (owned) */
  SoupWebsocketConnection *conn;         /* (owned) (nullable) */
  GCancellable            *cancellable;  /* (owned) */

  /* raw */
  GSocket                 *sock;         /* (owned) (nullable) */
  GSource                 *source;       /* (owned) (nullable) reading */
  GByteArray              *in;           /* (owned) unparsed input */
  SoupMessageHeaders      *headers;      /* (owned) (nullable) handshake answer */
  char                    *body;         /* (owned) (nullable) refused handshake */
  gboolean                 answer_pings;
  gboolean                 sent_close;
  gboolean                 got_close;
  gboolean                 eof;
  gboolean                 reset;
  guint                    n_pings;
  guint64                  raw_bytes;

  /* state */
  gboolean                 connecting;
  gboolean                 open;         /* upgraded and not closed */
  gboolean                 failed;       /* handshake refused */
  guint                    status;       /* HTTP status of the handshake */
  gboolean                 closing;      /* we asked to close */
  gboolean                 closed;
  guint                    close_code;   /* 0: none received */
  gint64                   opened_at;    /* monotonic µs */
  gint64                   closed_at;

  /* frames */
  GPtrArray               *events;       /* of JsonNode (owned) */
  GArray                  *times;        /* of gint64, arrival of each event */
  gboolean                 keep;         /* keep events (not in storms) */
  guint                    n_frames;
  guint                    n_seen;       /* events consumed by the test */
  guint                    n_errors;
  guint64                  bytes;        /* text payload bytes */
  GHashTable              *list;         /* user id → JsonNode (owned) */
  GArray                  *storm;        /* (nullable) of guint64: id << 32 | number */
  guint                    n_updates;
  gint64                   last_update_at;
  gboolean                 counting;     /* raw: count text frames, do not parse */
  guint                    n_counted;
  gint64                   last_left;    /* id of the last userLeft */
  guint64                  bytes_at_left;   /* ws->bytes when it came */
};

static gint64
now_us (void)
{
  return g_get_monotonic_time ();
}

static double
ms_since (gint64 t)
{
  return (now_us () - t) / 1000.0;
}

/* ---- waiting --------------------------------------------------------------- */

typedef struct {
  gboolean expired;
  guint    id;
  guint    tick_id;
} Deadline;

/* Wakes the loop now and then, for conditions that change outside it
 * (munityd exiting is noticed by GLib's worker thread). */
static gboolean
tick_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
deadline_cb (gpointer user_data)
{
  Deadline *dl = user_data;

  dl->expired = TRUE;
  dl->id = 0;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until @cond holds; fails the test after @timeout_ms. */
#define WAIT_UNTIL(cond, timeout_ms, ...)                                   \
  G_STMT_START {                                                            \
    Deadline dl_ = { FALSE, 0, 0 };                                         \
    dl_.id = g_timeout_add ((timeout_ms), deadline_cb, &dl_);               \
    dl_.tick_id = g_timeout_add (20, tick_cb, NULL);                        \
    while (!(cond) && !dl_.expired)                                         \
      g_main_context_iteration (NULL, TRUE);                                \
    g_clear_handle_id (&dl_.id, g_source_remove);                           \
    g_clear_handle_id (&dl_.tick_id, g_source_remove);                      \
    if (!(cond))                                                            \
      {                                                                     \
        g_test_message (__VA_ARGS__);                                       \
        g_test_message ("gave up after %u ms", (guint) (timeout_ms));       \
        g_assert_true (cond);                                               \
      }                                                                     \
  } G_STMT_END

/* Runs the main loop for @ms milliseconds. */
static void
pump (guint ms)
{
  Deadline dl = { FALSE, 0, 0 };

  dl.id = g_timeout_add (ms, deadline_cb, &dl);
  while (!dl.expired)
    g_main_context_iteration (NULL, TRUE);
}

static void
pump_pending (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* ---- JSON ------------------------------------------------------------------ */

static char *
node_text (JsonNode *node)
{
  return node != NULL ? json_to_string (node, FALSE) : g_strdup ("(none)");
}

static User *
user_by_id (gint64 id)
{
  for (guint i = 0; i < N_USERS; i++)
    if (users[i].id == id)
      return &users[i];
  return NULL;
}

static gboolean
is_int (JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
         json_node_get_value_type (node) == G_TYPE_INT64;
}

static gboolean
is_string (JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
         json_node_get_value_type (node) == G_TYPE_STRING;
}

/* A user as §3 sends it: exactly id, first, last, imageUrl, status.
 * Returns the id. */
static gint64
check_user_payload (Ws       *ws,
                    JsonNode *node)
{
  g_autofree char *text = node_text (node);
  JsonObject *o;
  JsonNode *image;
  gint64 id;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    g_test_message ("%s: a user is not an object: %s", ws->label, text);
  g_assert_true (node != NULL && JSON_NODE_HOLDS_OBJECT (node));
  o = json_node_get_object (node);
  if (json_object_get_size (o) != 5)
    g_test_message ("%s: a user payload must have exactly id, first, last, imageUrl, status: %s",
                    ws->label, text);
  g_assert_cmpuint (json_object_get_size (o), ==, 5);
  g_assert_true (is_string (json_object_get_member (o, "status")));
  g_assert_true (g_str_equal (json_object_get_string_member (o, "status"), "online") ||
                 g_str_equal (json_object_get_string_member (o, "status"), "idle"));
  g_assert_true (is_int (json_object_get_member (o, "id")));
  g_assert_true (is_string (json_object_get_member (o, "first")));
  g_assert_true (is_string (json_object_get_member (o, "last")));
  image = json_object_get_member (o, "imageUrl");
  g_assert_nonnull (image);
  g_assert_true (JSON_NODE_HOLDS_NULL (image) ||
                 (is_string (image) && json_node_get_string (image)[0] == '/'));

  id = json_object_get_int_member (o, "id");
  g_assert_cmpint (id, >, 0);
  if (check_names)
    {
      User *u = user_by_id (id);

      if (u == NULL)
        g_test_message ("%s: a user the test does not know: %s", ws->label, text);
      g_assert_nonnull (u);
      if (u != NULL &&
          (g_strcmp0 (u->first, json_object_get_string_member (o, "first")) != 0 ||
           g_strcmp0 (u->last, json_object_get_string_member (o, "last")) != 0))
        g_test_message ("%s: names of user %" G_GINT64_FORMAT " are %s %s, not as sent: %s",
                        ws->label, id, u->first, u->last, text);
      g_assert_cmpstr (json_object_get_string_member (o, "first"), ==, u != NULL ? u->first : NULL);
      g_assert_cmpstr (json_object_get_string_member (o, "last"), ==, u != NULL ? u->last : NULL);
    }
  return id;
}

/* Storms name users "<prefix><6-digit number>", a different number each
 * time; every socket records the order in which the renames reach it. */
static void
check_storm_sequence (Ws         *ws,
                      JsonObject *user)
{
  gint64 id = json_object_get_int_member (user, "id");
  const char *first = json_object_get_string_member (user, "first");
  gsize len = strlen (first);
  guint64 number = 0;
  guint64 entry;

  g_assert_cmpuint (len, >=, 6);
  g_assert_true (g_ascii_string_to_unsigned (first + len - 6, 10, 1, 999999, &number, NULL));
  g_assert_cmpstr (json_object_get_string_member (user, "last"), ==, first);
  entry = ((guint64) id << 32) | number;
  g_array_append_val (ws->storm, entry);
  ws->n_updates++;
  ws->last_update_at = now_us ();
}

/* Every text frame of every client comes through here. */
static void
ws_got_text (Ws         *ws,
             const char *data,
             gsize       len)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonNode *root, *payload;
  JsonObject *o;
  const char *event;
  gint64 arrival = now_us ();

  ws->bytes += len;
  if (!json_parser_load_from_data (parser, data, len, &error))
    g_test_message ("%s: a frame that is not JSON (%s): %.*s", ws->label, error->message,
                    (int) MIN (len, 200), data);
  g_assert_no_error (error);
  root = json_parser_get_root (parser);
  g_assert_true (root != NULL && JSON_NODE_HOLDS_OBJECT (root));
  o = json_node_get_object (root);
  if (json_object_get_size (o) != 2 || !is_string (json_object_get_member (o, "event")) ||
      !json_object_has_member (o, "data"))
    g_test_message ("%s: a frame is not {\"event\", \"data\"}: %.*s", ws->label,
                    (int) MIN (len, 200), data);
  g_assert_cmpuint (json_object_get_size (o), ==, 2);
  g_assert_true (is_string (json_object_get_member (o, "event")));
  event = json_object_get_string_member (o, "event");
  payload = json_object_get_member (o, "data");
  g_assert_nonnull (payload);

  ws->n_frames++;
  if (ws->n_frames == 1 && g_strcmp0 (event, "onlineUsers") != 0)
    g_test_message ("%s: the first frame is %s, not onlineUsers", ws->label, event);
  if (ws->n_frames == 1)
    g_assert_cmpstr (event, ==, "onlineUsers");

  if (g_str_equal (event, "onlineUsers"))
    {
      JsonArray *array;

      if (ws->n_frames != 1)
        g_test_message ("%s: onlineUsers as frame %u", ws->label, ws->n_frames);
      g_assert_cmpuint (ws->n_frames, ==, 1);
      g_assert_true (JSON_NODE_HOLDS_ARRAY (payload));
      array = json_node_get_array (payload);
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *element = json_array_get_element (array, i);
          gint64 id = check_user_payload (ws, element);

          if (g_hash_table_contains (ws->list, &id))
            g_test_message ("%s: user %" G_GINT64_FORMAT " twice in onlineUsers", ws->label, id);
          g_assert_false (g_hash_table_contains (ws->list, &id));
          g_hash_table_insert (ws->list, g_memdup2 (&id, sizeof id), json_node_copy (element));
        }
      if (!g_hash_table_contains (ws->list, &ws->user->id))
        g_test_message ("%s: onlineUsers lacks the receiver %" G_GINT64_FORMAT, ws->label, ws->user->id);
      g_assert_true (g_hash_table_contains (ws->list, &ws->user->id));
    }
  else if (g_str_equal (event, "userJoined"))
    {
      gint64 id = check_user_payload (ws, payload);

      if (g_hash_table_contains (ws->list, &id))
        g_test_message ("%s: userJoined for user %" G_GINT64_FORMAT ", already in the list",
                        ws->label, id);
      g_assert_false (g_hash_table_contains (ws->list, &id));
      g_hash_table_insert (ws->list, g_memdup2 (&id, sizeof id), json_node_copy (payload));
    }
  else if (g_str_equal (event, "userLeft"))
    {
      JsonObject *obj;
      gint64 id;

      g_assert_true (JSON_NODE_HOLDS_OBJECT (payload));
      obj = json_node_get_object (payload);
      if (json_object_get_size (obj) != 1)
        g_test_message ("%s: userLeft data must be exactly {\"id\": N}", ws->label);
      g_assert_cmpuint (json_object_get_size (obj), ==, 1);
      g_assert_true (is_int (json_object_get_member (obj, "id")));
      id = json_object_get_int_member (obj, "id");
      if (!g_hash_table_contains (ws->list, &id))
        g_test_message ("%s: userLeft for user %" G_GINT64_FORMAT ", not in the list", ws->label, id);
      g_assert_true (g_hash_table_contains (ws->list, &id));
      if (id == ws->user->id && !ws->closing)
        g_test_message ("%s: userLeft for its own user while the socket is open", ws->label);
      g_assert_true (id != ws->user->id || ws->closing);
      g_hash_table_remove (ws->list, &id);
      ws->last_left = id;
      ws->bytes_at_left = ws->bytes;
    }
  else if (g_str_equal (event, "userUpdated"))
    {
      gint64 id;

      id = check_user_payload (ws, payload);
      if (!g_hash_table_contains (ws->list, &id))
        g_test_message ("%s: userUpdated for user %" G_GINT64_FORMAT ", not in the list", ws->label, id);
      g_assert_true (g_hash_table_contains (ws->list, &id));
      g_hash_table_insert (ws->list, g_memdup2 (&id, sizeof id), json_node_copy (payload));
      if (ws->storm != NULL)
        check_storm_sequence (ws, json_node_get_object (payload));
    }
  else if (g_str_equal (event, "error"))
    {
      JsonObject *obj;

      g_assert_true (JSON_NODE_HOLDS_OBJECT (payload));
      obj = json_node_get_object (payload);
      g_assert_cmpuint (json_object_get_size (obj), ==, 1);
      g_assert_cmpstr (json_object_get_string_member (obj, "code"), ==, "bad-message");
      ws->n_errors++;
    }
  else
    {
      g_test_message ("%s: unknown event %s", ws->label, event);
      g_assert_not_reached ();
    }

  if (ws->keep)
    {
      g_ptr_array_add (ws->events, json_node_copy (root));
      g_array_append_val (ws->times, arrival);
    }
}

/* ---- HTTP ------------------------------------------------------------------ */

static char *
url_of (Fixture    *fx,
        const char *path)
{
  return munity_test_daemon_url (fx->d, path);
}

/* A request with @cookie (may be NULL) and a JSON body (may be NULL). */
static MunityTestResponse *
api (Fixture    *fx,
     const char *method,
     const char *path,
     const char *cookie,
     const char *json)
{
  g_autofree char *url = url_of (fx, path);
  g_autoptr(GError) error = NULL;
  const char *headers[] = { "Cookie", cookie, NULL };
  MunityTestResponse *resp;

  resp = munity_test_http_full (http, method, url, json != NULL ? "application/json" : NULL,
                                json, -1, cookie != NULL ? headers : NULL, &error);
  if (resp == NULL)
    g_test_message ("%s %s: %s", method, path, error->message);
  g_assert_no_error (error);
  if (resp->status >= 500)
    g_test_message ("%s %s: %u %s", method, path, resp->status, munity_test_response_text (resp));
  g_assert_cmpuint (resp->status, <, 500);
  return resp;
}

static void
assert_json_error (MunityTestResponse *resp,
                   guint               status,
                   const char         *code)
{
  JsonObject *root = munity_test_response_object (resp);

  if (resp->status != status || g_strcmp0 (munity_test_response_error_code (resp), code) != 0)
    g_test_message ("expected %u %s, got %u: %s", status, code, resp->status,
                    munity_test_response_text (resp));
  g_assert_cmpuint (resp->status, ==, status);
  g_assert_cmpstr (munity_test_response_content_type (resp), ==, "application/json");
  g_assert_nonnull (root);
  g_assert_cmpstr (munity_test_response_error_code (resp), ==, code);
  g_assert_true (is_string (json_object_get_member (json_object_get_object_member (root, "error"),
                                                    "message")));
}

/* "munity_session=…" from a Set-Cookie header. */
static char *
session_cookie (MunityTestResponse *resp)
{
  g_autofree char *set_cookie = munity_test_response_set_cookie (resp, "munity_session");
  char *semicolon;

  g_assert_nonnull (set_cookie);
  semicolon = strchr (set_cookie, ';');
  if (semicolon != NULL)
    *semicolon = '\0';
  g_strstrip (set_cookie);
  g_assert_true (strlen (set_cookie) > strlen ("munity_session="));
  return g_steal_pointer (&set_cookie);
}

/* A new session of @u, like logging in from a second browser. */
static char *
login (Fixture *fx,
       User    *u)
{
  g_autofree char *body = munity_test_json_object ("email", u->email, "password", password, NULL);
  g_autoptr(MunityTestResponse) resp = api (fx, "POST", "/api/login", NULL, body);

  g_assert_cmpuint (resp->status, ==, 200);
  return session_cookie (resp);
}

static void
logout (Fixture    *fx,
        const char *cookie)
{
  g_autoptr(MunityTestResponse) resp = api (fx, "POST", "/api/logout", cookie, NULL);

  g_assert_cmpuint (resp->status, ==, 204);
}

/* PATCH /api/me with first and/or last (NULL: not sent). */
static void
set_names (Fixture    *fx,
           User       *u,
           const char *first,
           const char *last)
{
  g_autofree char *body = NULL;
  g_autoptr(MunityTestResponse) resp = NULL;

  if (first != NULL && last != NULL)
    body = munity_test_json_object ("first", first, "last", last, NULL);
  else if (first != NULL)
    body = munity_test_json_object ("first", first, NULL);
  else
    body = munity_test_json_object ("last", last, NULL);
  resp = api (fx, "PATCH", "/api/me", u->cookie, body);
  if (resp->status != 200)
    g_test_message ("PATCH /api/me: %u %s", resp->status, munity_test_response_text (resp));
  g_assert_cmpuint (resp->status, ==, 200);
  if (first != NULL)
    {
      g_free (u->first);
      u->first = g_strdup (first);
    }
  if (last != NULL)
    {
      g_free (u->last);
      u->last = g_strdup (last);
    }
}

/* The ids of GET /api/online, asked as @u; also checks the user objects. */
static GHashTable *
api_online (Fixture *fx,
            User    *u)
{
  g_autoptr(MunityTestResponse) resp = api (fx, "GET", "/api/online", u->cookie, NULL);
  GHashTable *ids = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                           (GDestroyNotify) json_node_unref);
  JsonObject *root;
  JsonArray *array;

  g_assert_cmpuint (resp->status, ==, 200);
  root = munity_test_response_object (resp);
  g_assert_nonnull (root);
  array = json_object_get_array_member (root, "users");
  g_assert_nonnull (array);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *user = json_array_get_object_element (array, i);
      gint64 id = json_object_get_int_member (user, "id");

      g_assert_false (g_hash_table_contains (ids, &id));
      g_assert_true (is_string (json_object_get_member (user, "first")));
      g_assert_true (is_string (json_object_get_member (user, "last")));
      g_assert_true (json_object_has_member (user, "imageUrl"));
      g_assert_true (is_string (json_object_get_member (user, "bio")));
      g_assert_true (is_string (json_object_get_member (user, "status")));
      g_hash_table_insert (ids, g_memdup2 (&id, sizeof id),
                           json_node_copy (json_array_get_element (array, i)));
    }
  return ids;
}

static gboolean
same_ids (GHashTable *a,
          GHashTable *b)
{
  GHashTableIter iter;
  gpointer key;

  if (g_hash_table_size (a) != g_hash_table_size (b))
    return FALSE;
  g_hash_table_iter_init (&iter, a);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (b, key))
      return FALSE;
  return TRUE;
}

static char *
ids_text (GHashTable *set)
{
  g_autoptr(GList) keys = g_hash_table_get_keys (set);
  GString *s = g_string_new ("{");

  for (GList *l = keys; l != NULL; l = l->next)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, l == keys ? "" : " ", *(gint64 *) l->data);
  g_string_append_c (s, '}');
  return g_string_free (s, FALSE);
}

static GHashTable *
id_set (void)
{
  return g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
}

static void
id_set_add (GHashTable *set,
            gint64      id)
{
  g_hash_table_add (set, g_memdup2 (&id, sizeof id));
}

static gboolean
api_online_has (Fixture *fx,
                User    *asker,
                User    *u)
{
  g_autoptr(GHashTable) online = api_online (fx, asker);

  return g_hash_table_contains (online, &u->id);
}

/* A value from /metrics, -1 if absent. */
static double
metric (Fixture    *fx,
        const char *name)
{
  g_autoptr(MunityTestResponse) resp = api (fx, "GET", "/metrics", NULL, NULL);
  g_autofree char *prefix = g_strconcat (name, " ", NULL);
  g_auto(GStrv) lines = g_strsplit (munity_test_response_text (resp), "\n", -1);

  g_assert_cmpuint (resp->status, ==, 200);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], prefix))
      return g_ascii_strtod (lines[i] + strlen (prefix), NULL);
  return -1;
}

static guint64
vmrss_kib (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents (path, &status, NULL, NULL))
    return 0;
  line = strstr (status, "VmRSS:");
  if (line == NULL)
    return 0;
  return g_ascii_strtoull (line + strlen ("VmRSS:"), NULL, 10);
}

/* ---- clients --------------------------------------------------------------- */

static Ws *
ws_new (Fixture    *fx,
        User       *u,
        gboolean    raw)
{
  Ws *ws = g_new0 (Ws, 1);
  guint tab = 1;

  for (guint i = 0; i < fx->sockets->len; i++)
    tab += ((Ws *) fx->sockets->pdata[i])->user == u;
  ws->fx = fx;
  ws->user = u;
  ws->raw = raw;
  ws->label = g_strdup_printf ("U%u#%u%s", u->index, tab, raw ? "(raw)" : "");
  ws->events = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  ws->times = g_array_new (FALSE, FALSE, sizeof (gint64));
  ws->keep = TRUE;
  ws->list = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                    (GDestroyNotify) json_node_unref);
  ws->in = g_byte_array_new ();
  ws->cancellable = g_cancellable_new ();
  g_ptr_array_add (fx->sockets, ws);
  return ws;
}

static void
ws_free (Ws *ws)
{
  if (ws->conn != NULL)
    {
      g_signal_handlers_disconnect_by_data (ws->conn, ws);
      g_clear_object (&ws->conn);
    }
  g_clear_object (&ws->msg);
  g_clear_object (&ws->cancellable);
  if (ws->source != NULL)
    {
      g_source_destroy (ws->source);
      g_clear_pointer (&ws->source, g_source_unref);
    }
  if (ws->sock != NULL)
    {
      g_socket_close (ws->sock, NULL);
      g_clear_object (&ws->sock);
    }
  g_clear_pointer (&ws->in, g_byte_array_unref);
  g_clear_pointer (&ws->headers, soup_message_headers_unref);
  g_clear_pointer (&ws->events, g_ptr_array_unref);
  g_clear_pointer (&ws->times, g_array_unref);
  g_clear_pointer (&ws->list, g_hash_table_unref);
  g_clear_pointer (&ws->storm, g_array_unref);
  g_free (ws->body);
  g_free (ws->label);
  g_free (ws);
}

static void
ws_mark_closed (Ws *ws)
{
  if (!ws->closed)
    {
      ws->closed = TRUE;
      ws->closed_at = now_us ();
    }
  ws->open = FALSE;
}

/* -- libsoup -- */

static void
on_soup_message (SoupWebsocketConnection *conn,
                 gint                     type,
                 GBytes                  *message,
                 gpointer                 user_data)
{
  Ws *ws = user_data;
  gsize len;
  const char *data = g_bytes_get_data (message, &len);

  if (type != SOUP_WEBSOCKET_DATA_TEXT)
    g_test_message ("%s: the server sent a binary frame", ws->label);
  g_assert_cmpint (type, ==, SOUP_WEBSOCKET_DATA_TEXT);
  ws_got_text (ws, data, len);
}

static void
on_soup_closed (SoupWebsocketConnection *conn,
                gpointer                 user_data)
{
  Ws *ws = user_data;

  ws->close_code = soup_websocket_connection_get_close_code (conn);
  ws_mark_closed (ws);
}

static void
on_soup_error (SoupWebsocketConnection *conn,
               GError                  *error,
               gpointer                 user_data)
{
  Ws *ws = user_data;

  g_test_message ("%s: WebSocket error: %s", ws->label, error->message);
}

static void
soup_connected_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Ws *ws = user_data;
  g_autoptr(GError) error = NULL;
  SoupWebsocketConnection *conn;

  conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  ws->connecting = FALSE;
  ws->status = soup_message_get_status (ws->msg);
  if (conn == NULL)
    {
      ws->failed = TRUE;
      g_test_message ("%s: handshake refused (%u): %s", ws->label, ws->status, error->message);
      return;
    }
  ws->conn = conn;
  ws->open = TRUE;
  ws->opened_at = now_us ();
  g_signal_connect (conn, "message", G_CALLBACK (on_soup_message), ws);
  g_signal_connect (conn, "closed", G_CALLBACK (on_soup_closed), ws);
  g_signal_connect (conn, "error", G_CALLBACK (on_soup_error), ws);
}

/* Starts a libsoup WebSocket of @u with @cookie (NULL: none) and @origin
 * (NULL: no Origin header). */
static Ws *
soup_open_async (Fixture    *fx,
                 User       *u,
                 const char *cookie,
                 const char *origin)
{
  Ws *ws = ws_new (fx, u, FALSE);
  g_autofree char *url = url_of (fx, "/ws");

  ws->msg = soup_message_new ("GET", url);
  g_assert_nonnull (ws->msg);
  if (cookie != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (ws->msg), "Cookie", cookie);
  ws->connecting = TRUE;
  soup_session_websocket_connect_async (ws_session, ws->msg, origin, NULL, G_PRIORITY_DEFAULT,
                                        ws->cancellable, soup_connected_cb, ws);
  return ws;
}

/* Waits until @ws has its onlineUsers snapshot, and consumes it. */
static void
ws_wait_snapshot (Ws *ws)
{
  WAIT_UNTIL (ws->failed || ws->closed || ws->n_frames >= 1, QUICK_MS,
              "%s: waiting for the onlineUsers frame", ws->label);
  if (ws->failed || ws->closed)
    g_test_message ("%s: failed (%u) or closed (%u) before onlineUsers", ws->label,
                    ws->status, ws->close_code);
  g_assert_false (ws->failed);
  g_assert_false (ws->closed);
  if (ws->keep)
    {
      g_assert_cmpuint (ws->n_seen, ==, 0);
      ws->n_seen = 1;
    }
}

/* A libsoup WebSocket of @u with the registration session, open and with
 * its snapshot. */
static Ws *
ws_open (Fixture *fx,
         User    *u)
{
  Ws *ws = soup_open_async (fx, u, u->cookie, NULL);

  ws_wait_snapshot (ws);
  return ws;
}

static Ws *
ws_open_with (Fixture    *fx,
              User       *u,
              const char *cookie,
              const char *origin)
{
  Ws *ws = soup_open_async (fx, u, cookie, origin);

  ws_wait_snapshot (ws);
  return ws;
}

static void raw_close_clean (Ws *ws);

/* Closes cleanly (close frame); does not wait. */
static void
ws_close (Ws *ws)
{
  g_assert_true (ws->open);
  ws->closing = TRUE;
  if (ws->raw)
    raw_close_clean (ws);
  else
    soup_websocket_connection_close (ws->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
}

/* Closes cleanly and waits for the server's answer, so the server has
 * processed the close when this returns. */
static void
ws_close_wait (Ws *ws)
{
  ws_close (ws);
  WAIT_UNTIL (ws->closed, QUICK_MS, "%s: waiting for the close handshake", ws->label);
}

/* -- raw -- */

static gboolean
send_all (GSocket      *sock,
          const guint8 *data,
          gsize         len)
{
  gsize done = 0;

  g_socket_set_blocking (sock, TRUE);
  while (done < len)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send (sock, (const char *) data + done, len - done, NULL, &error);

      if (n <= 0)
        {
          g_test_message ("send: %s", error != NULL ? error->message : "nothing sent");
          g_socket_set_blocking (sock, FALSE);
          return FALSE;
        }
      done += n;
    }
  g_socket_set_blocking (sock, FALSE);
  return TRUE;
}

/* Appends a client frame to @frame: masked, as RFC 6455 requires. */
static void
frame_append (GByteArray *frame,
              guint8      opcode,
              gboolean    fin,
              const void *payload,
              gsize       len)
{
  guint8 head[14];
  gsize head_len = 2;
  guint8 mask[4];

  for (guint i = 0; i < 4; i++)
    mask[i] = (guint8) g_random_int_range (0, 256);
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (len < 126)
    head[1] = 0x80 | (guint8) len;
  else if (len < 65536)
    {
      head[1] = 0x80 | 126;
      head[2] = (guint8) (len >> 8);
      head[3] = (guint8) len;
      head_len = 4;
    }
  else
    {
      head[1] = 0x80 | 127;
      for (guint i = 0; i < 8; i++)
        head[2 + i] = (guint8) ((guint64) len >> (56 - 8 * i));
      head_len = 10;
    }
  memcpy (head + head_len, mask, 4);
  head_len += 4;
  g_byte_array_append (frame, head, head_len);
  for (gsize i = 0; i < len; i++)
    {
      guint8 b = ((const guint8 *) payload)[i] ^ mask[i % 4];
      g_byte_array_append (frame, &b, 1);
    }
}

static gboolean
raw_send (Ws         *ws,
          guint8      opcode,
          gboolean    fin,
          const void *payload,
          gsize       len)
{
  g_autoptr(GByteArray) frame = g_byte_array_new ();

  frame_append (frame, opcode, fin, payload, len);
  return send_all (ws->sock, frame->data, frame->len);
}

/* Several frames in one write, so munityd reads them at once. */
static void
raw_send_burst (Ws         *ws,
                GByteArray *frames)
{
  g_assert_true (send_all (ws->sock, frames->data, frames->len));
}

static void
raw_send_close (Ws      *ws,
                guint16  code)
{
  guint8 payload[2] = { code >> 8, code & 0xff };

  if (ws->sent_close)
    return;
  ws->sent_close = TRUE;
  raw_send (ws, OP_CLOSE, TRUE, payload, code != 0 ? 2 : 0);
}

static void
raw_stop (Ws *ws)
{
  if (ws->source != NULL)
    {
      g_source_destroy (ws->source);
      g_clear_pointer (&ws->source, g_source_unref);
    }
}

/* Parses the server frames in ws->in. */
static void
raw_process (Ws *ws)
{
  gsize at = 0;

  for (;;)
    {
      const guint8 *d = ws->in->data + at;
      gsize avail = ws->in->len - at;
      guint64 len;
      gsize head = 2;
      guint8 opcode;
      const guint8 *payload;

      if (avail < 2)
        break;
      if ((d[0] & 0x70) != 0 || (d[1] & 0x80) != 0)
        g_test_message ("%s: a server frame with RSV bits or a mask: %02x %02x", ws->label, d[0], d[1]);
      g_assert_cmpuint (d[0] & 0x70, ==, 0);   /* no extension */
      g_assert_cmpuint (d[1] & 0x80, ==, 0);   /* servers do not mask */
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
      payload = d + head;
      at += head + len;
      g_assert_true ((d[0] & 0x80) != 0);      /* munityd does not fragment */

      switch (opcode)
        {
        case OP_TEXT:
          if (ws->got_close)
            g_test_message ("%s: a text frame after the close frame", ws->label);
          g_assert_false (ws->got_close);
          if (ws->counting)
            ws->n_counted++;
          else
            ws_got_text (ws, (const char *) payload, len);
          break;
        case OP_CLOSE:
          ws->got_close = TRUE;
          ws->close_code = len >= 2 ? (guint) ((payload[0] << 8) | payload[1]) : 1005;
          raw_send_close (ws, len >= 2 ? ws->close_code : 0);
          ws_mark_closed (ws);
          break;
        case OP_PING:
          ws->n_pings++;
          if (ws->answer_pings && !ws->sent_close)
            raw_send (ws, OP_PONG, TRUE, payload, len);
          break;
        case OP_PONG:
          break;
        default:
          g_test_message ("%s: unexpected opcode %u from the server", ws->label, opcode);
          g_assert_not_reached ();
        }
    }
  g_byte_array_remove_range (ws->in, 0, at);
}

static gboolean
raw_readable (GSocket      *sock,
              GIOCondition  condition,
              gpointer      user_data)
{
  Ws *ws = user_data;
  guint8 buf[65536];

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_receive (sock, (char *) buf, sizeof buf, NULL, &error);

      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return G_SOURCE_CONTINUE;
      if (n <= 0)
        {
          if (n < 0)
            {
              g_test_message ("%s: %s", ws->label, error->message);
              ws->reset = TRUE;
            }
          ws->eof = TRUE;
          ws_mark_closed (ws);
          g_clear_pointer (&ws->source, g_source_unref);
          return G_SOURCE_REMOVE;
        }
      ws->raw_bytes += n;
      g_byte_array_append (ws->in, buf, n);
      raw_process (ws);
    }
}

static void
raw_start_reading (Ws *ws)
{
  g_assert_null (ws->source);
  ws->source = g_socket_create_source (ws->sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (ws->source, (GSourceFunc) (void (*) (void)) raw_readable, ws, NULL);
  g_source_attach (ws->source, NULL);
}

static void
raw_close_clean (Ws *ws)
{
  ws->closing = TRUE;
  raw_send_close (ws, 1000);
}

/* The connection just vanishes, as when a tab is killed. */
static void
raw_close_abrupt (Ws *ws)
{
  ws->closing = TRUE;
  raw_stop (ws);
  g_socket_close (ws->sock, NULL);
  g_clear_object (&ws->sock);
  ws_mark_closed (ws);
}

typedef struct {
  const char         *cookie;        /* NULL: no Cookie header */
  const char         *origin;        /* NULL: no Origin header */
  const char * const *headers;       /* extra name, value pairs */
  int                 rcvbuf;        /* SO_RCVBUF before connecting, 0: default */
  gboolean            no_read;       /* never read after the handshake */
  gboolean            no_pongs;      /* do not answer pings */
} RawOpts;

/* A handshake written by hand. On 101 the client is open (reading unless
 * @opts->no_read); otherwise it is failed with status, headers and body. */
static Ws *
raw_open (Fixture       *fx,
          User          *u,
          const RawOpts *opts)
{
  Ws *ws = ws_new (fx, u, TRUE);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new_from_string ("127.0.0.1",
                                                                          munity_test_daemon_port (fx->d));
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) request = g_string_new (NULL);
  g_autoptr(GByteArray) answer = g_byte_array_new ();
  g_autofree char *key = NULL;
  g_autofree char *accept = NULL;
  g_autofree char *head = NULL;
  const char *end;
  guint8 nonce[16];
  gsize head_len;

  ws->answer_pings = !opts->no_pongs;
  ws->sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  if (opts->rcvbuf > 0)
    {
      g_socket_set_option (ws->sock, SOL_SOCKET, SO_RCVBUF, opts->rcvbuf, &error);
      g_assert_no_error (error);
    }
  g_socket_set_timeout (ws->sock, 10);
  g_socket_connect (ws->sock, addr, NULL, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < sizeof nonce; i++)
    nonce[i] = (guint8) g_random_int_range (0, 256);
  key = g_base64_encode (nonce, sizeof nonce);
  {
    g_autofree char *input = g_strconcat (key, WS_GUID, NULL);
    g_autoptr(GChecksum) sha1 = g_checksum_new (G_CHECKSUM_SHA1);
    guint8 digest[20];
    gsize digest_len = sizeof digest;

    g_checksum_update (sha1, (const guchar *) input, -1);
    g_checksum_get_digest (sha1, digest, &digest_len);
    accept = g_base64_encode (digest, digest_len);
  }

  g_string_append_printf (request,
                          "GET /ws HTTP/1.1\r\n"
                          "Host: 127.0.0.1:%u\r\n"
                          "Upgrade: websocket\r\n"
                          "Connection: Upgrade\r\n"
                          "Sec-WebSocket-Key: %s\r\n"
                          "Sec-WebSocket-Version: 13\r\n",
                          munity_test_daemon_port (fx->d), key);
  if (opts->cookie != NULL)
    g_string_append_printf (request, "Cookie: %s\r\n", opts->cookie);
  if (opts->origin != NULL)
    g_string_append_printf (request, "Origin: %s\r\n", opts->origin);
  for (gsize i = 0; opts->headers != NULL && opts->headers[i] != NULL; i += 2)
    g_string_append_printf (request, "%s: %s\r\n", opts->headers[i], opts->headers[i + 1]);
  g_string_append (request, "\r\n");
  g_assert_true (send_all (ws->sock, (const guint8 *) request->str, request->len));

  /* Blocking reads (10 s timeout) until the end of the answer's header. */
  g_socket_set_blocking (ws->sock, TRUE);
  for (;;)
    {
      guint8 buf[4096];
      gssize n;

      end = answer->len > 0 ? g_strstr_len ((const char *) answer->data, answer->len, "\r\n\r\n") : NULL;
      if (end != NULL)
        break;
      n = g_socket_receive (ws->sock, (char *) buf, sizeof buf, NULL, &error);
      if (n <= 0)
        g_test_message ("%s: connection ended during the handshake after %u bytes", ws->label, answer->len);
      g_assert_no_error (error);
      g_assert_cmpint (n, >, 0);
      g_byte_array_append (answer, buf, n);
    }

  head_len = end - (const char *) answer->data + 2;
  head = g_strndup ((const char *) answer->data, head_len);
  ws->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  g_assert_true (soup_headers_parse_response (head, head_len, ws->headers, NULL, &ws->status, NULL));
  g_byte_array_remove_range (answer, 0, head_len + 2);

  if (ws->status == SOUP_STATUS_SWITCHING_PROTOCOLS)
    {
      g_assert_true (soup_message_headers_header_equals (ws->headers, "Upgrade", "websocket"));
      g_assert_true (soup_message_headers_header_contains (ws->headers, "Connection", "Upgrade"));
      g_assert_cmpstr (soup_message_headers_get_one (ws->headers, "Sec-WebSocket-Accept"), ==, accept);
      ws->open = TRUE;
      ws->opened_at = now_us ();
      g_socket_set_blocking (ws->sock, FALSE);
      g_socket_set_timeout (ws->sock, 0);
      ws->raw_bytes += answer->len;
      g_byte_array_append (ws->in, answer->data, answer->len);
      raw_process (ws);
      if (!opts->no_read)
        raw_start_reading (ws);
      return ws;
    }

  /* Refused: read the body the Content-Length announces. */
  ws->failed = TRUE;
  {
    goffset length = soup_message_headers_get_content_length (ws->headers);

    g_assert_cmpint (soup_message_headers_get_encoding (ws->headers), ==, SOUP_ENCODING_CONTENT_LENGTH);
    while ((goffset) answer->len < length)
      {
        guint8 buf[4096];
        gssize n = g_socket_receive (ws->sock, (char *) buf, sizeof buf, NULL, &error);

        g_assert_no_error (error);
        if (n == 0)
          break;
        g_byte_array_append (answer, buf, n);
      }
    g_assert_cmpint (answer->len, ==, length);
    ws->body = g_strndup ((const char *) answer->data, answer->len);
  }
  g_socket_close (ws->sock, NULL);
  g_clear_object (&ws->sock);
  return ws;
}

/* A raw client with the registration session that reads and answers pings,
 * with its snapshot. */
static Ws *
raw_open_user (Fixture *fx,
               User    *u)
{
  RawOpts opts = { .cookie = u->cookie };
  Ws *ws = raw_open (fx, u, &opts);

  g_assert_cmpuint (ws->status, ==, 101);
  ws_wait_snapshot (ws);
  return ws;
}

/* -- expectations -- */

/* The next event on @ws, which must be @event; returns its data. */
static JsonNode *
ws_next (Ws         *ws,
         const char *event)
{
  JsonObject *o;

  g_assert_true (ws->keep);
  WAIT_UNTIL (ws->n_seen < ws->events->len, QUICK_MS, "%s: waiting for %s", ws->label, event);
  o = json_node_get_object (ws->events->pdata[ws->n_seen]);
  if (g_strcmp0 (json_object_get_string_member (o, "event"), event) != 0)
    {
      g_autofree char *text = node_text (ws->events->pdata[ws->n_seen]);
      g_test_message ("%s: expected %s, got %s", ws->label, event, text);
    }
  g_assert_cmpstr (json_object_get_string_member (o, "event"), ==, event);
  ws->n_seen++;
  return json_object_get_member (o, "data");
}

/* Arrival time of the event ws_next() returned last. */
static gint64
ws_last_time (Ws *ws)
{
  g_assert_cmpuint (ws->n_seen, >, 0);
  return g_array_index (ws->times, gint64, ws->n_seen - 1);
}

/* The next event is about user @u; returns the user payload's object. */
static JsonObject *
ws_next_user (Ws         *ws,
              const char *event,
              User       *u)
{
  JsonNode *data = ws_next (ws, event);
  JsonObject *o = json_node_get_object (data);

  if (json_object_get_int_member (o, "id") != u->id)
    g_test_message ("%s: %s for user %" G_GINT64_FORMAT ", expected U%u (%" G_GINT64_FORMAT ")",
                    ws->label, event, json_object_get_int_member (o, "id"), u->index, u->id);
  g_assert_cmpint (json_object_get_int_member (o, "id"), ==, u->id);
  return o;
}

static void
ws_assert_list (Ws   *ws,
                User *first,
                ...)
{
  g_autoptr(GHashTable) want = id_set ();
  va_list ap;

  va_start (ap, first);
  for (User *u = first; u != NULL; u = va_arg (ap, User *))
    id_set_add (want, u->id);
  va_end (ap);
  if (ws->fx->sentinel != NULL && ws->fx->sentinel->open)
    id_set_add (want, users[SENTINEL].id);
  if (!same_ids (ws->list, want))
    {
      g_autofree char *got = ids_text (ws->list);
      g_autofree char *expected = ids_text (want);
      g_test_message ("%s: online list %s, expected %s", ws->label, got, expected);
    }
  g_assert_true (same_ids (ws->list, want));
}

/* Proves that nothing was sent to the given sockets since their last
 * consumed event: an event caused now must be the very next frame on each.
 * The first barrier of a test brings the sentinel user online (userJoined),
 * later ones rename it (userUpdated). NULL-terminated. */
static void
barrier (Fixture *fx,
         Ws      *first,
         ...)
{
  g_autoptr(GPtrArray) list = g_ptr_array_new ();
  User *s = &users[SENTINEL];
  va_list ap;

  va_start (ap, first);
  for (Ws *ws = first; ws != NULL; ws = va_arg (ap, Ws *))
    g_ptr_array_add (list, ws);
  va_end (ap);

  if (fx->sentinel == NULL)
    {
      fx->sentinel = ws_open (fx, s);
      for (guint i = 0; i < list->len; i++)
        ws_next_user (list->pdata[i], "userJoined", s);
    }
  else
    {
      g_autofree char *last = g_strdup_printf ("Barrier %u", ++barrier_serial);

      set_names (fx, s, NULL, last);
      g_ptr_array_add (list, fx->sentinel);
      for (guint i = 0; i < list->len; i++)
        {
          JsonObject *o = ws_next_user (list->pdata[i], "userUpdated", s);
          g_assert_cmpstr (json_object_get_string_member (o, "last"), ==, last);
        }
    }
}

/* ---- fixture ----------------------------------------------------------------- */

static void
fixture_set_up (Fixture       *fx,
                gconstpointer  data)
{
  const Opts *opts = data;
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) env = g_ptr_array_new ();

  fx->opts = opts;
  fx->sockets = g_ptr_array_new_with_free_func ((GDestroyNotify) ws_free);
  check_names = TRUE;

  g_ptr_array_add (args, g_strdup ("--database"));
  g_ptr_array_add (args, g_strdup (munity_test_pg_conninfo (pg)));
  if (opts->grace_ms != GRACE_DEFAULT)
    {
      g_ptr_array_add (args, g_strdup ("--leave-grace-ms"));
      g_ptr_array_add (args, g_strdup_printf ("%u", opts->grace_ms));
    }
  if (opts->allowed_origin != NULL)
    {
      g_autofree char *file = NULL;
      g_autofree char *text = g_strdup_printf ("[munityd]\nallowed-origins=%s;\n", opts->allowed_origin);

      fx->config_dir = g_dir_make_tmp ("munity-ws-conf-XXXXXX", &error);
      g_assert_no_error (error);
      file = g_build_filename (fx->config_dir, "munityd.conf", NULL);
      g_file_set_contents (file, text, -1, &error);
      g_assert_no_error (error);
      g_ptr_array_add (args, g_strdup ("--config"));
      g_ptr_array_add (args, g_steal_pointer (&file));
    }
  if (opts->dbus)
    {
      fx->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
      g_test_dbus_up (fx->bus);   /* sets DBUS_SESSION_BUS_ADDRESS, which munityd inherits */
      g_ptr_array_add (args, g_strdup ("--bus"));
      g_ptr_array_add (args, g_strdup ("session"));
    }
  g_ptr_array_add (args, NULL);

  if (opts->fast_ping)
    {
      g_ptr_array_add (env, (gpointer) "MUNITY_WS_PING_INTERVAL_MS");
      g_ptr_array_add (env, (gpointer) "300");
      g_ptr_array_add (env, (gpointer) "MUNITY_WS_PONG_TIMEOUT_MS");
      g_ptr_array_add (env, (gpointer) "900");
    }
  if (opts->every_update)
    {
      g_ptr_array_add (env, (gpointer) "MUNITY_PRESENCE_UPDATE_INTERVAL_MS");
      g_ptr_array_add (env, (gpointer) "0");
    }
  g_ptr_array_add (env, NULL);

  fx->d = munity_test_daemon_try_start_with_env ((const char * const *) args->pdata,
                                                 (const char * const *) env->pdata, 60, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture       *fx,
                   gconstpointer  data)
{
  g_autoptr(GPtrArray) weak = g_ptr_array_new ();

  /* Close what is still open, cleanly, and wait for it. */
  for (guint i = 0; i < fx->sockets->len; i++)
    {
      Ws *ws = fx->sockets->pdata[i];

      if (ws->connecting)
        g_cancellable_cancel (ws->cancellable);
      else if (ws->open && !ws->closing && (ws->conn != NULL || ws->sock != NULL))
        ws_close (ws);
    }
  for (guint i = 0; i < fx->sockets->len; i++)
    {
      Ws *ws = fx->sockets->pdata[i];

      WAIT_UNTIL (!ws->connecting && (ws->conn == NULL || ws->closed), QUICK_MS,
                  "%s: waiting for the close at teardown", ws->label);
      if (ws->conn != NULL)
        {
          SoupWebsocketConnection **slot = g_new0 (SoupWebsocketConnection *, 1);

          *slot = ws->conn;
          g_object_add_weak_pointer (G_OBJECT (ws->conn), (gpointer *) slot);
          g_ptr_array_add (weak, slot);
        }
    }
  g_clear_pointer (&fx->sockets, g_ptr_array_unref);
  pump_pending ();
  /* The clients' connections were freed, not leaked. */
  for (guint i = 0; i < weak->len; i++)
    {
      SoupWebsocketConnection **slot = weak->pdata[i];

      g_assert_null (*slot);
      g_free (slot);
    }

  if (!fx->stopped)
    {
      guint ms = 0;
      int status = munity_test_daemon_stop (fx->d, &ms);

      if (status != 0)
        g_test_message ("munityd exited with %d after SIGTERM (%u ms)", status, ms);
      g_assert_cmpint (status, ==, 0);
    }
  g_clear_pointer (&fx->d, munity_test_daemon_free);
  if (fx->bus != NULL)
    {
      g_test_dbus_down (fx->bus);
      g_clear_object (&fx->bus);
    }
  if (fx->config_dir != NULL)
    munity_test_rm_rf (fx->config_dir);
  g_clear_pointer (&fx->config_dir, g_free);
}

/* ---- handshake ------------------------------------------------------------- */

/* A refused handshake: the JSON error, and no trace of an upgrade. */
static void
assert_refused (Ws         *ws,
                guint       status,
                const char *code)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *root, *err;

  g_assert_true (ws->failed);
  if (ws->status != status)
    g_test_message ("%s: expected %u, got %u: %s", ws->label, status, ws->status, ws->body);
  g_assert_cmpuint (ws->status, ==, status);
  g_assert_null (soup_message_headers_get_one (ws->headers, "Upgrade"));
  g_assert_null (soup_message_headers_get_one (ws->headers, "Sec-WebSocket-Accept"));
  g_assert_false (soup_message_headers_header_contains (ws->headers, "Connection", "Upgrade"));
  g_assert_cmpstr (soup_message_headers_get_content_type (ws->headers, NULL), ==, "application/json");
  json_parser_load_from_data (parser, ws->body, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  root = json_node_get_object (json_parser_get_root (parser));
  err = json_object_get_object_member (root, "error");
  g_assert_nonnull (err);
  g_assert_cmpstr (json_object_get_string_member (err, "code"), ==, code);
  g_assert_true (is_string (json_object_get_member (err, "message")));
}

/* libsoup's client sees the same refusal. */
static void
assert_soup_refused (Fixture    *fx,
                     User       *u,
                     const char *cookie,
                     const char *origin,
                     guint       status)
{
  Ws *ws = soup_open_async (fx, u, cookie, origin);

  WAIT_UNTIL (!ws->connecting, QUICK_MS, "%s: waiting for the refusal", ws->label);
  g_assert_true (ws->failed);
  g_assert_null (ws->conn);
  g_assert_cmpuint (ws->status, ==, status);
}

static void
test_handshake_no_session (Fixture       *fx,
                           gconstpointer  data)
{
  g_autofree char *own = g_strdup (munity_test_daemon_base_url (fx->d));
  Ws *w = ws_open (fx, &users[1]);
  RawOpts none = { 0, };
  RawOpts own_origin = { .origin = own };

  assert_refused (raw_open (fx, &users[0], &none), 401, "not-logged-in");
  assert_refused (raw_open (fx, &users[0], &own_origin), 401, "not-logged-in");
  assert_soup_refused (fx, &users[0], NULL, NULL, 401);
  assert_soup_refused (fx, &users[0], NULL, own, 401);

  /* Nobody came online. */
  barrier (fx, w, NULL);
  ws_assert_list (w, &users[1], NULL);
}

static void
test_handshake_invalid_session (Fixture       *fx,
                                gconstpointer  data)
{
  Ws *w = ws_open (fx, &users[1]);
  guint8 random[32];
  g_autofree char *b64 = NULL;
  g_autofree char *forged = NULL;
  g_autofree char *ended = NULL;
  const char *cookies[4];

  for (guint i = 0; i < sizeof random; i++)
    random[i] = (guint8) g_random_int_range (0, 256);
  b64 = g_base64_encode (random, sizeof random);
  g_strdelimit (b64, "+", '-');
  g_strdelimit (b64, "/", '_');
  g_strdelimit (b64, "=", '\0');
  forged = g_strconcat ("munity_session=", b64, NULL);

  /* A session that existed and was logged out. */
  ended = login (fx, &users[0]);
  logout (fx, ended);

  cookies[0] = forged;
  cookies[1] = "munity_session=garbage";
  cookies[2] = "other_cookie=1";
  cookies[3] = ended;
  for (guint i = 0; i < G_N_ELEMENTS (cookies); i++)
    {
      RawOpts opts = { .cookie = cookies[i] };

      g_test_message ("Cookie: %s", cookies[i]);
      assert_refused (raw_open (fx, &users[0], &opts), 401, "not-logged-in");
      assert_soup_refused (fx, &users[0], cookies[i], NULL, 401);
    }

  barrier (fx, w, NULL);
  ws_assert_list (w, &users[1], NULL);
}

static void
test_handshake_foreign_origin (Fixture       *fx,
                               gconstpointer  data)
{
  guint16 port = munity_test_daemon_port (fx->d);
  g_autofree char *other_port = g_strdup_printf ("http://127.0.0.1:%u", port == 65535 ? 1 : port + 1);
  g_autofree char *other_scheme = g_strdup_printf ("https://127.0.0.1:%u", port);
  g_autofree char *other_host = g_strdup_printf ("http://localhost:%u", port);
  const char *origins[] = { "http://evil.example", other_port, other_scheme, other_host, "null" };
  Ws *w = ws_open (fx, &users[1]);

  for (guint i = 0; i < G_N_ELEMENTS (origins); i++)
    {
      RawOpts with_session = { .cookie = users[0].cookie, .origin = origins[i] };
      RawOpts without_session = { .origin = origins[i] };

      g_test_message ("Origin: %s", origins[i]);
      assert_refused (raw_open (fx, &users[0], &with_session), 403, "forbidden-origin");
      /* The origin is checked first. */
      assert_refused (raw_open (fx, &users[0], &without_session), 403, "forbidden-origin");
      assert_soup_refused (fx, &users[0], users[0].cookie, origins[i], 403);
    }

  barrier (fx, w, NULL);
  ws_assert_list (w, &users[1], NULL);
}

static void
test_handshake_no_origin (Fixture       *fx,
                          gconstpointer  data)
{
  Ws *a = raw_open_user (fx, &users[0]);
  Ws *b;

  ws_assert_list (a, &users[0], NULL);
  b = ws_open (fx, &users[1]);   /* libsoup sends no Origin when given none */
  g_assert_null (soup_message_headers_get_one (soup_message_get_request_headers (b->msg), "Origin"));
  ws_assert_list (b, &users[0], &users[1], NULL);
  ws_next_user (a, "userJoined", &users[1]);
}

static void
test_handshake_own_origin (Fixture       *fx,
                           gconstpointer  data)
{
  const char *own = munity_test_daemon_base_url (fx->d);
  RawOpts opts = { .cookie = users[0].cookie, .origin = own };
  Ws *a = raw_open (fx, &users[0], &opts);
  Ws *b;

  g_assert_cmpuint (a->status, ==, 101);
  ws_wait_snapshot (a);
  b = ws_open_with (fx, &users[1], users[1].cookie, own);
  g_assert_cmpstr (soup_message_headers_get_one (soup_message_get_request_headers (b->msg), "Origin"), ==, own);
  ws_assert_list (b, &users[0], &users[1], NULL);
  ws_next_user (a, "userJoined", &users[1]);
}

static void
test_handshake_allowed_origin (Fixture       *fx,
                               gconstpointer  data)
{
  RawOpts other = { .cookie = users[1].cookie, .origin = "https://other.example.org" };
  Ws *a = ws_open_with (fx, &users[0], users[0].cookie, "https://app.example.org");

  ws_assert_list (a, &users[0], NULL);
  assert_refused (raw_open (fx, &users[1], &other), 403, "forbidden-origin");
  barrier (fx, a, NULL);
}

static void
test_handshake_no_deflate (Fixture       *fx,
                           gconstpointer  data)
{
  const char *offer[] = { "Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits", NULL };
  RawOpts opts = { .cookie = users[0].cookie, .headers = offer };
  Ws *a = raw_open (fx, &users[0], &opts);
  Ws *b;
  const char *offered;

  g_assert_cmpuint (a->status, ==, 101);
  g_assert_null (soup_message_headers_get_one (a->headers, "Sec-WebSocket-Extensions"));
  ws_wait_snapshot (a);

  /* libsoup's client offers permessage-deflate; it is not taken. */
  b = ws_open (fx, &users[1]);
  offered = soup_message_headers_get_one (soup_message_get_request_headers (b->msg),
                                          "Sec-WebSocket-Extensions");
  g_test_message ("libsoup offered: %s", offered);
  g_assert_nonnull (offered);
  g_assert_nonnull (strstr (offered, "permessage-deflate"));
  g_assert_null (soup_message_headers_get_one (soup_message_get_response_headers (b->msg),
                                               "Sec-WebSocket-Extensions"));
  g_assert_null (soup_websocket_connection_get_extensions (b->conn));
  ws_next_user (a, "userJoined", &users[1]);
}

/* GET /ws with a session but no upgrade: a JSON error, not a 5xx or HTML. */
static void
test_handshake_plain_get (Fixture       *fx,
                          gconstpointer  data)
{
  g_autoptr(MunityTestResponse) resp = api (fx, "GET", "/ws", users[0].cookie, NULL);

  g_test_message ("GET /ws without Upgrade: %u %s", resp->status, munity_test_response_text (resp));
  g_assert_cmpuint (resp->status, >=, 400);
  g_assert_cmpuint (resp->status, <, 500);
  g_assert_cmpstr (munity_test_response_content_type (resp), ==, "application/json");
  g_assert_nonnull (munity_test_response_error_code (resp));
}

/* ---- events ---------------------------------------------------------------- */

static void
test_events_snapshot_first (Fixture       *fx,
                            gconstpointer  data)
{
  User *a = &users[0], *b = &users[1], *c = &users[2];
  Ws *wa, *wb, *wc;
  JsonObject *o;

  wa = ws_open (fx, a);
  ws_assert_list (wa, a, NULL);
  o = json_node_get_object (g_hash_table_lookup (wa->list, &a->id));
  g_assert_cmpstr (json_object_get_string_member (o, "first"), ==, a->first);
  g_assert_cmpstr (json_object_get_string_member (o, "last"), ==, a->last);
  g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (o, "imageUrl")));

  wb = ws_open (fx, b);
  ws_assert_list (wb, a, b, NULL);
  o = ws_next_user (wa, "userJoined", b);
  g_assert_cmpstr (json_object_get_string_member (o, "first"), ==, b->first);
  g_assert_cmpstr (json_object_get_string_member (o, "last"), ==, b->last);

  wc = raw_open_user (fx, c);
  ws_assert_list (wc, a, b, c, NULL);
  ws_next_user (wa, "userJoined", c);
  ws_next_user (wb, "userJoined", c);
  barrier (fx, wa, wb, wc, NULL);
}

static void
test_events_joined_to_every_other_socket (Fixture       *fx,
                                          gconstpointer  data)
{
  User *a = &users[0], *b = &users[1], *c = &users[2];
  Ws *b1 = ws_open (fx, b);
  Ws *b2 = ws_open (fx, b);
  Ws *c1 = raw_open_user (fx, c);
  Ws *a1;

  ws_next_user (b1, "userJoined", c);
  ws_next_user (b2, "userJoined", c);
  a1 = ws_open (fx, a);
  ws_assert_list (a1, a, b, c, NULL);
  ws_next_user (b1, "userJoined", a);
  ws_next_user (b2, "userJoined", a);
  ws_next_user (c1, "userJoined", a);
  /* a1 does not hear of its own user joining. */
  barrier (fx, a1, b1, b2, c1, NULL);
}

static void
test_events_second_tab_silent (Fixture       *fx,
                               gconstpointer  data)
{
  User *a = &users[0], *b = &users[1];
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open (fx, a);
  Ws *a2, *a3, *a4;

  ws_next_user (wb, "userJoined", a);
  a2 = ws_open (fx, a);
  ws_assert_list (a2, a, b, NULL);
  /* Two more at once. */
  a3 = soup_open_async (fx, a, a->cookie, NULL);
  a4 = raw_open_user (fx, a);
  ws_wait_snapshot (a3);
  ws_assert_list (a3, a, b, NULL);
  ws_assert_list (a4, a, b, NULL);
  barrier (fx, wb, a1, a2, a3, a4, NULL);
  ws_assert_list (wb, a, b, NULL);
}

static void
test_events_closing_one_tab_silent (Fixture       *fx,
                                    gconstpointer  data)
{
  User *a = &users[0], *b = &users[1];
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open (fx, a);
  Ws *a2 = ws_open (fx, a);

  ws_next_user (wb, "userJoined", a);
  ws_close_wait (a1);
  pump (fx->opts->grace_ms + 500);
  barrier (fx, wb, a2, NULL);
  ws_assert_list (wb, a, b, NULL);
  g_assert_true (api_online_has (fx, b, a));
}

/* The last socket closes: userLeft to every remaining socket, after the
 * grace, not before; while lingering the user is online everywhere. */
static void
check_left_after_grace (Fixture *fx,
                        guint    grace_ms)
{
  User *a = &users[0], *b = &users[1], *c = &users[2], *d = &users[3];
  Ws *b1 = ws_open (fx, b);
  Ws *b2 = ws_open (fx, b);
  Ws *c1 = raw_open_user (fx, c);
  Ws *a1 = ws_open (fx, a);
  Ws *d1;
  Ws *remaining[4];
  gint64 t_close, t_closed;

  ws_next_user (b1, "userJoined", c);
  ws_next_user (b2, "userJoined", c);
  ws_next_user (b1, "userJoined", a);
  ws_next_user (b2, "userJoined", a);
  ws_next_user (c1, "userJoined", a);

  t_close = now_us ();
  ws_close_wait (a1);
  t_closed = now_us ();

  /* Lingering: still online for /api/online and for a new socket. */
  g_assert_true (api_online_has (fx, b, a));
  d1 = ws_open (fx, d);
  ws_assert_list (d1, a, b, c, d, NULL);
  ws_next_user (b1, "userJoined", d);
  ws_next_user (b2, "userJoined", d);
  ws_next_user (c1, "userJoined", d);
  g_assert_cmpfloat (ms_since (t_close), <, grace_ms * 0.9);

  remaining[0] = b1;
  remaining[1] = b2;
  remaining[2] = c1;
  remaining[3] = d1;
  for (guint i = 0; i < G_N_ELEMENTS (remaining); i++)
    {
      Ws *ws = remaining[i];
      JsonObject *o = ws_next_user (ws, "userLeft", a);
      double after_close = (ws_last_time (ws) - t_close) / 1000.0;
      double after_closed = (ws_last_time (ws) - t_closed) / 1000.0;

      g_test_message ("%s: userLeft %.0f ms after the close began, %.0f ms after it completed (grace %u ms)",
                      ws->label, after_close, after_closed, grace_ms);
      g_assert_cmpuint (json_object_get_size (o), ==, 1);
      g_assert_cmpfloat (after_close, >=, grace_ms * 0.9);
      g_assert_cmpfloat (after_closed, <=, grace_ms + 1000);
    }
  g_assert_false (api_online_has (fx, b, a));
  barrier (fx, b1, b2, c1, d1, NULL);
}

static void
test_events_left_after_grace (Fixture       *fx,
                              gconstpointer  data)
{
  check_left_after_grace (fx, fx->opts->grace_ms);
}

/* Without --leave-grace-ms the grace is 2000 ms. */
static void
test_events_left_after_default_grace (Fixture       *fx,
                                      gconstpointer  data)
{
  check_left_after_grace (fx, 2000);
}

/* --leave-grace-ms 0: userLeft at once. */
static void
test_events_left_at_once (Fixture       *fx,
                          gconstpointer  data)
{
  User *a = &users[0], *b = &users[1];
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open (fx, a);
  Ws *a2 = raw_open_user (fx, a);
  gint64 t;

  ws_next_user (wb, "userJoined", a);
  ws_close_wait (a1);
  /* The last tab vanishes without a close frame. */
  t = now_us ();
  raw_close_abrupt (a2);
  ws_next_user (wb, "userLeft", a);
  g_test_message ("userLeft %.0f ms after the last connection ended", (ws_last_time (wb) - t) / 1000.0);
  g_assert_cmpfloat ((ws_last_time (wb) - t) / 1000.0, <, 1000);
  g_assert_false (api_online_has (fx, b, a));
}

static void
test_events_grace_cancelled (Fixture       *fx,
                             gconstpointer  data)
{
  User *a = &users[0], *b = &users[1];
  guint grace = fx->opts->grace_ms;
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open (fx, a);
  Ws *a2;
  gint64 t_closed;

  ws_next_user (wb, "userJoined", a);
  ws_close_wait (a1);
  t_closed = now_us ();
  pump (grace / 3);
  /* A reload: the new socket comes within the grace. */
  a2 = ws_open (fx, a);
  g_assert_cmpfloat (ms_since (t_closed), <, grace * 0.9);
  ws_assert_list (a2, a, b, NULL);

  /* Past the grace: no userLeft, no userJoined. */
  pump ((guint) MAX (0, grace + 700 - ms_since (t_closed)));
  barrier (fx, wb, a2, NULL);
  g_assert_true (api_online_has (fx, b, a));

  /* The grace still works afterwards. */
  t_closed = now_us ();
  ws_close_wait (a2);
  ws_next_user (wb, "userLeft", a);
  g_assert_cmpfloat ((ws_last_time (wb) - t_closed) / 1000.0, >=, grace * 0.9);
  g_assert_cmpfloat ((ws_last_time (wb) - t_closed) / 1000.0, <=, grace + 1000);
}

static void
test_events_user_updated (Fixture       *fx,
                          gconstpointer  data)
{
  User *a = &users[0], *b = &users[1], *c = &users[2], *offline = &users[3];
  g_autofree char *first = g_strdup_printf ("Renamed%u", ++barrier_serial);
  g_autofree char *last = g_strdup_printf ("Changed%u", barrier_serial);
  g_autofree char *offline_first = g_strdup_printf ("Offline%u", barrier_serial);
  g_autofree char *same = NULL;
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open (fx, a);
  Ws *a2 = raw_open_user (fx, a);
  Ws *all[3];
  Ws *wc;

  ws_next_user (wb, "userJoined", a);
  all[0] = wb;
  all[1] = a1;
  all[2] = a2;

  set_names (fx, a, first, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    {
      JsonObject *o = ws_next_user (all[i], "userUpdated", a);
      g_assert_cmpstr (json_object_get_string_member (o, "first"), ==, first);
      g_assert_cmpstr (json_object_get_string_member (o, "last"), ==, a->last);
      g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (o, "imageUrl")));
    }

  set_names (fx, a, NULL, last);
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    {
      JsonObject *o = ws_next_user (all[i], "userUpdated", a);
      g_assert_cmpstr (json_object_get_string_member (o, "first"), ==, first);
      g_assert_cmpstr (json_object_get_string_member (o, "last"), ==, last);
    }

  /* The new names everywhere: a new socket's snapshot, /api/online. */
  wc = ws_open (fx, c);
  ws_assert_list (wc, a, b, c, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    ws_next_user (all[i], "userJoined", c);
  {
    g_autoptr(GHashTable) online = api_online (fx, b);
    JsonObject *o = json_node_get_object (g_hash_table_lookup (online, &a->id));
    g_assert_cmpstr (json_object_get_string_member (o, "first"), ==, first);
    g_assert_cmpstr (json_object_get_string_member (o, "last"), ==, last);
  }

  /* Not a change: the same names again; a user who is not online. */
  same = g_strdup (a->first);
  set_names (fx, a, same, NULL);
  set_names (fx, offline, offline_first, NULL);
  barrier (fx, wb, a1, a2, wc, NULL);
}

static void
test_events_bio_silent (Fixture       *fx,
                        gconstpointer  data)
{
  User *a = &users[0], *b = &users[1];
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open (fx, a);
  g_autofree char *bio = g_strdup_printf ("A new bio, number %u", ++barrier_serial);
  g_autofree char *body = munity_test_json_object ("bio", bio, NULL);
  g_autoptr(MunityTestResponse) resp = NULL;

  ws_next_user (wb, "userJoined", a);
  resp = api (fx, "PATCH", "/api/me", a->cookie, body);
  g_assert_cmpuint (resp->status, ==, 200);
  barrier (fx, wb, a1, NULL);
}

/* The smallest PNG: one transparent pixel. */
static const guint8 tiny_png[] = {
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d,
  0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
  0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00,
  0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
  0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49,
  0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

static char *
upload_picture (Fixture *fx,
                User    *u)
{
  g_autofree char *url = url_of (fx, "/api/me/avatar");
  g_autoptr(GError) error = NULL;
  const char *headers[] = { "Cookie", u->cookie, NULL };
  g_autoptr(MunityTestResponse) resp = NULL;
  JsonObject *user;

  resp = munity_test_http_full (http, "POST", url, "image/png", (const char *) tiny_png,
                                sizeof tiny_png, headers, &error);
  g_assert_no_error (error);
  if (resp->status != 200)
    g_test_message ("POST /api/me/avatar: %u %s", resp->status, munity_test_response_text (resp));
  g_assert_cmpuint (resp->status, ==, 200);
  user = json_object_get_object_member (munity_test_response_object (resp), "user");
  g_assert_nonnull (user);
  g_assert_true (is_string (json_object_get_member (user, "imageUrl")));
  return g_strdup (json_object_get_string_member (user, "imageUrl"));
}

static void
test_events_picture_updated (Fixture       *fx,
                             gconstpointer  data)
{
  User *a = &users[20], *b = &users[21];
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open (fx, a);
  Ws *a2 = raw_open_user (fx, a);
  Ws *all[3] = { wb, a1, a2 };
  g_autofree char *image = NULL;
  g_autoptr(MunityTestResponse) served = NULL;

  ws_next_user (wb, "userJoined", a);
  image = upload_picture (fx, a);
  g_test_message ("picture at %s", image);
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    {
      JsonObject *o = ws_next_user (all[i], "userUpdated", a);
      g_assert_cmpstr (json_object_get_string_member (o, "imageUrl"), ==, image);
      g_assert_cmpstr (json_object_get_string_member (o, "first"), ==, a->first);
      g_assert_cmpstr (json_object_get_string_member (o, "last"), ==, a->last);
    }
  /* The URL works without a session. */
  served = api (fx, "GET", image, NULL, NULL);
  g_assert_cmpuint (served->status, ==, 200);
  barrier (fx, wb, a1, a2, NULL);

  /* Removing it (DELETE /api/me/avatar) is announced to everyone too. */
  {
    g_autoptr(MunityTestResponse) removed = api (fx, "DELETE", "/api/me/avatar", a->cookie, NULL);

    g_assert_cmpuint (removed->status, ==, 200);
    for (guint i = 0; i < G_N_ELEMENTS (all); i++)
      {
        JsonObject *o = ws_next_user (all[i], "userUpdated", a);
        g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (o, "imageUrl")));
        g_assert_cmpstr (json_object_get_string_member (o, "first"), ==, a->first);
      }
    ws_next_user (fx->sentinel, "userUpdated", a);
  }
}

/* The first name of @u in @ws's replayed list, or NULL. */
static const char *
user_first_in (Ws   *ws,
               User *u)
{
  JsonNode *node = g_hash_table_lookup (ws->list, &u->id);

  return node != NULL ? json_object_get_string_member (json_node_get_object (node), "first") : NULL;
}

typedef struct {
  guint pending;
  guint failed;
} Batch;

static void
batch_patched_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Batch *batch = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);

  if (body == NULL || soup_message_get_status (msg) != 200)
    batch->failed++;
  batch->pending--;
  g_object_unref (msg);
}

/* Renames of one user racing each other (two tabs saving at once): when
 * they are done, the name every socket and /api/online show is the name
 * stored — within one update interval, since munityd holds the changes
 * inside it and announces the newest when it ends. */
static void
test_races_concurrent_renames (Fixture       *fx,
                                gconstpointer  data)
{
  User *a = &users[22], *b = &users[23];
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open (fx, a);
  g_autofree char *url = url_of (fx, "/api/me");
  guint rounds = 20, per_round = 8, mismatches = 0;

  ws_next_user (wb, "userJoined", a);
  wb->keep = a1->keep = FALSE;
  check_names = FALSE;
  for (guint round = 0; round < rounds; round++)
    {
      Batch batch = { 0, 0 };
      g_autoptr(MunityTestResponse) me = NULL;
      g_autofree char *stored = NULL;
      gint64 until;

      for (guint i = 0; i < per_round; i++)
        {
          g_autofree char *name = g_strdup_printf ("Racer %u-%u", round, i);
          g_autofree char *body = munity_test_json_object ("first", name, NULL);
          g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));
          SoupMessage *msg = soup_message_new ("PATCH", url);

          soup_message_headers_replace (soup_message_get_request_headers (msg), "Cookie", a->cookie);
          soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
          batch.pending++;
          soup_session_send_and_read_async (http, msg, G_PRIORITY_DEFAULT, NULL, batch_patched_cb, &batch);
        }
      WAIT_UNTIL (batch.pending == 0, QUICK_MS, "waiting for %u concurrent renames", per_round);
      g_assert_cmpuint (batch.failed, ==, 0);

      me = api (fx, "GET", "/api/me", a->cookie, NULL);
      g_assert_cmpuint (me->status, ==, 200);
      stored = g_strdup (json_object_get_string_member (json_object_get_object_member (munity_test_response_object (me), "user"),
                                                        "first"));

      /* The interval, and a margin for a loaded machine. */
      until = now_us () + (MUNITY_PRESENCE_UPDATE_INTERVAL_MS + 2000) * 1000;
      while ((g_strcmp0 (user_first_in (wb, a), stored) != 0 ||
              g_strcmp0 (user_first_in (a1, a), stored) != 0) && now_us () < until)
        pump (20);
      {
        g_autoptr(GHashTable) online = api_online (fx, b);
        JsonObject *listed = json_node_get_object (g_hash_table_lookup (online, &a->id));

        if (g_strcmp0 (user_first_in (wb, a), stored) != 0 ||
            g_strcmp0 (user_first_in (a1, a), stored) != 0 ||
            g_strcmp0 (json_object_get_string_member (listed, "first"), stored) != 0)
          {
            g_test_message ("round %u: GET /api/me says \"%s\", the sockets \"%s\" and \"%s\", /api/online \"%s\"",
                            round, stored, user_first_in (wb, a), user_first_in (a1, a),
                            json_object_get_string_member (listed, "first"));
            mismatches++;
          }
      }
      g_free (a->first);
      a->first = g_steal_pointer (&stored);
    }
  check_names = TRUE;
  g_test_message ("%u of %u rounds ended with a name other than the stored one", mismatches, rounds);
  g_assert_cmpuint (mismatches, ==, 0);
}

/* A lingering user is online everywhere: a rename reaches every socket. */
static void
test_events_lingering_user_updated (Fixture       *fx,
                                    gconstpointer  data)
{
  User *a = &users[0], *b = &users[1], *c = &users[2];
  g_autofree char *first = g_strdup_printf ("Lingering%u", ++barrier_serial);
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open (fx, a);
  Ws *wc;
  JsonObject *o;

  ws_next_user (wb, "userJoined", a);
  ws_close_wait (a1);
  set_names (fx, a, first, NULL);
  o = ws_next_user (wb, "userUpdated", a);
  g_assert_cmpstr (json_object_get_string_member (o, "first"), ==, first);
  wc = ws_open (fx, c);
  ws_assert_list (wc, a, b, c, NULL);
  o = json_node_get_object (g_hash_table_lookup (wc->list, &a->id));
  g_assert_cmpstr (json_object_get_string_member (o, "first"), ==, first);
  ws_next_user (wb, "userJoined", c);
  barrier (fx, wb, wc, NULL);
}

/* ---- D-Bus Disconnect ---------------------------------------------------------- */

#define presence_call munity_test_presence_call

/* §3: Disconnect over D-Bus closes every socket of the user with 4003 and
 * the user leaves at once; a lingering user shows on D-Bus with 0 sockets. */
static void
test_dbus_disconnect (Fixture       *fx,
                      gconstpointer  data)
{
  User *a = &users[0], *b = &users[1], *c = &users[2];
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) list = NULL;
  Ws *wb, *a1, *a2, *c1;
  guint32 closed = 0;
  gint64 t;
  gboolean c_seen = FALSE;

  bus = munity_test_bus_connect_when_owned (fx->bus);

  wb = ws_open (fx, b);
  a1 = ws_open (fx, a);
  a2 = raw_open_user (fx, a);
  /* a's join first: c's handshake could otherwise overtake a's. */
  ws_next_user (wb, "userJoined", a);
  c1 = ws_open (fx, c);
  ws_next_user (wb, "userJoined", c);
  ws_close_wait (c1);   /* c lingers */

  list = presence_call (bus, "ListOnlineUsers", NULL, "(a(tssux))");
  {
    g_autoptr(GVariantIter) iter = NULL;
    guint64 id;
    const char *name, *image;
    guint32 sockets;
    gint64 since;

    g_variant_get (list, "(a(tssux))", &iter);
    while (g_variant_iter_loop (iter, "(t&s&sux)", &id, &name, &image, &sockets, &since))
      if ((gint64) id == c->id)
        {
          c_seen = TRUE;
          g_assert_cmpuint (sockets, ==, 0);
        }
  }
  g_assert_true (c_seen);

  t = now_us ();
  reply = presence_call (bus, "Disconnect", g_variant_new ("(t)", (guint64) a->id), "(u)");
  g_variant_get (reply, "(u)", &closed);
  g_assert_cmpuint (closed, ==, 2);
  WAIT_UNTIL (a1->closed && a2->closed, QUICK_MS, "waiting for the disconnected sockets to close");
  g_assert_cmpuint (a1->close_code, ==, 4003);
  g_assert_true (a2->got_close);
  g_assert_cmpuint (a2->close_code, ==, 4003);
  ws_next_user (wb, "userLeft", a);
  g_test_message ("userLeft %.0f ms after Disconnect (grace %u ms)", (ws_last_time (wb) - t) / 1000.0,
                  fx->opts->grace_ms);
  g_assert_cmpfloat ((ws_last_time (wb) - t) / 1000.0, <, 1000);
  g_assert_false (api_online_has (fx, b, a));

  g_clear_pointer (&reply, g_variant_unref);
  reply = presence_call (bus, "Disconnect", g_variant_new ("(t)", (guint64) a->id), "(u)");
  g_variant_get (reply, "(u)", &closed);
  g_assert_cmpuint (closed, ==, 0);

  g_dbus_connection_close_sync (bus, NULL, NULL);
}

/* ---- logout ------------------------------------------------------------------ */

static void
test_logout_closes_4001 (Fixture       *fx,
                         gconstpointer  data)
{
  User *a = &users[0], *b = &users[1];
  g_autofree char *session = login (fx, a);
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open_with (fx, a, session, NULL);
  RawOpts raw = { .cookie = session };
  Ws *a2 = raw_open (fx, a, &raw);
  Ws *again;
  gint64 t;

  g_assert_cmpuint (a2->status, ==, 101);
  ws_wait_snapshot (a2);
  ws_next_user (wb, "userJoined", a);

  t = now_us ();
  logout (fx, session);
  WAIT_UNTIL (a1->closed && a2->closed, QUICK_MS, "waiting for the logged-out sockets to close");
  g_assert_cmpuint (a1->close_code, ==, 4001);
  g_assert_cmpuint (a2->close_code, ==, 4001);

  /* No other socket: userLeft at once, not after the 5 s grace. */
  ws_next_user (wb, "userLeft", a);
  g_test_message ("userLeft %.0f ms after the logout request (grace %u ms)",
                  (ws_last_time (wb) - t) / 1000.0, fx->opts->grace_ms);
  g_assert_cmpfloat ((ws_last_time (wb) - t) / 1000.0, <, 1000);
  g_assert_false (api_online_has (fx, b, a));

  /* The ended session opens no socket. */
  assert_refused (raw_open (fx, a, &raw), 401, "not-logged-in");

  /* Another session of the user still works: a fresh join. */
  again = ws_open (fx, a);
  ws_assert_list (again, a, b, NULL);
  ws_next_user (wb, "userJoined", a);
}

static void
test_logout_while_lingering (Fixture       *fx,
                             gconstpointer  data)
{
  User *a = &users[0], *b = &users[1];
  g_autofree char *session = login (fx, a);
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open_with (fx, a, session, NULL);
  gint64 t;

  ws_next_user (wb, "userJoined", a);
  ws_close_wait (a1);
  g_assert_true (api_online_has (fx, b, a));   /* lingering */

  t = now_us ();
  logout (fx, session);
  ws_next_user (wb, "userLeft", a);
  g_test_message ("userLeft %.0f ms after the logout request", (ws_last_time (wb) - t) / 1000.0);
  g_assert_cmpfloat ((ws_last_time (wb) - t) / 1000.0, <, 1000);
}

static void
test_logout_other_session_stays (Fixture       *fx,
                                 gconstpointer  data)
{
  User *a = &users[0], *b = &users[1];
  g_autofree char *s1 = login (fx, a);
  g_autofree char *s2 = login (fx, a);
  Ws *wb = ws_open (fx, b);
  Ws *t1 = ws_open_with (fx, a, s1, NULL);
  Ws *t1b = ws_open_with (fx, a, s1, NULL);
  Ws *t2 = ws_open_with (fx, a, s2, NULL);
  gint64 t;

  ws_next_user (wb, "userJoined", a);
  logout (fx, s1);
  WAIT_UNTIL (t1->closed && t1b->closed, QUICK_MS, "waiting for session 1's sockets to close");
  g_assert_cmpuint (t1->close_code, ==, 4001);
  g_assert_cmpuint (t1b->close_code, ==, 4001);
  /* Session 2's socket stays, and the user stays online. */
  pump (300);
  g_assert_true (t2->open);
  barrier (fx, wb, t2, NULL);
  g_assert_true (t2->open);
  g_assert_true (api_online_has (fx, b, a));
  ws_assert_list (wb, a, b, NULL);

  t = now_us ();
  logout (fx, s2);
  WAIT_UNTIL (t2->closed, QUICK_MS, "waiting for session 2's socket to close");
  g_assert_cmpuint (t2->close_code, ==, 4001);
  ws_next_user (wb, "userLeft", a);
  g_assert_cmpfloat ((ws_last_time (wb) - t) / 1000.0, <, 1000);
}

/* ---- limits ------------------------------------------------------------------ */

static void
expect_errors (Ws    *ws,
               guint  n)
{
  for (guint i = 0; i < n; i++)
    {
      JsonNode *data = ws_next (ws, "error");
      g_autofree char *text = node_text (data);
      g_assert_cmpstr (text, ==, "{\"code\":\"bad-message\"}");
    }
}



/* ---- last seen ----------------------------------------------------------------- */

/* GET /api/users/:id of @u as @viewer sees it. */
static JsonObject *
profile_of (Fixture *fx,
            User    *viewer,
            User    *u)
{
  g_autofree char *path = g_strdup_printf ("/api/users/%" G_GINT64_FORMAT, u->id);
  g_autoptr(MunityTestResponse) resp = api (fx, "GET", path, viewer->cookie, NULL);
  JsonObject *root;

  g_assert_cmpuint (resp->status, ==, 200);
  root = munity_test_response_object (resp);
  g_assert_nonnull (root);
  return json_object_ref (json_object_get_object_member (root, "user"));
}

/* lastSeen as µs since the epoch; it must be ISO 8601 UTC to the second,
 * ending in Z. */
static gint64
last_seen_us (JsonObject *user)
{
  const char *text = json_object_get_string_member (user, "lastSeen");
  g_autoptr(GDateTime) when = NULL;

  g_assert_nonnull (text);
  g_test_message ("lastSeen %s", text);
  g_assert_cmpuint (strlen (text), ==, strlen ("2026-12-01T13:53:24Z"));
  g_assert_true (g_regex_match_simple ("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$", text, 0, 0));
  when = g_date_time_new_from_iso8601 (text, NULL);
  g_assert_nonnull (when);
  return g_date_time_to_unix (when) * G_USEC_PER_SEC;
}

static gboolean
is_null_member (JsonObject *o,
                const char *name)
{
  return json_object_has_member (o, name) && JSON_NODE_HOLDS_NULL (json_object_get_member (o, name));
}

/* lastSeen is null while online, lingering included; set once the grace
 * is over, to when the user left. */
static void
test_last_seen_after_grace (Fixture       *fx,
                            gconstpointer  data)
{
  User *a = &users[24], *b = &users[25];
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open (fx, a);
  g_autoptr(JsonObject) online = NULL;
  g_autoptr(JsonObject) lingering = NULL;
  g_autoptr(JsonObject) away = NULL;
  gint64 closed, left, seen;

  ws_next_user (wb, "userJoined", a);
  online = profile_of (fx, b, a);
  g_assert_true (json_object_get_boolean_member (online, "online"));
  g_assert_true (is_null_member (online, "lastSeen"));

  closed = g_get_real_time ();
  ws_close_wait (a1);
  lingering = profile_of (fx, b, a);
  g_assert_true (json_object_get_boolean_member (lingering, "online"));
  g_assert_true (is_null_member (lingering, "lastSeen"));

  ws_next_user (wb, "userLeft", a);
  left = g_get_real_time ();
  /* Written in the next iteration or so: bounded. */
  for (guint i = 0; i < 100; i++)
    {
      g_clear_pointer (&away, json_object_unref);
      away = profile_of (fx, b, a);
      if (!is_null_member (away, "lastSeen"))
        break;
      pump (50);
    }
  g_assert_false (json_object_get_boolean_member (away, "online"));
  seen = last_seen_us (away);
  /* After the grace began, by the database's clock (this host's), to the
   * second. */
  g_assert_cmpint (seen, >=, closed - 2 * G_USEC_PER_SEC);
  g_assert_cmpint (seen, <=, left + 2 * G_USEC_PER_SEC);
}

/* Logout leaves at once, and is recorded; a clean shutdown records those
 * still online (best effort). */
static void
test_last_seen_logout_and_shutdown (Fixture       *fx,
                                    gconstpointer  data)
{
  User *a = &users[26], *b = &users[27], *c = &users[28];
  Ws *wb = ws_open (fx, b);
  Ws *wc = ws_open (fx, c);
  Ws *a1;
  g_autofree char *cookie = login (fx, a);
  g_autofree char *sql = NULL;
  g_autoptr(JsonObject) away = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  guint ms = 0;

  ws_next_user (wb, "userJoined", c);
  a1 = ws_open_with (fx, a, cookie, NULL);
  ws_next_user (wb, "userJoined", a);
  logout (fx, cookie);
  ws_next_user (wb, "userLeft", a);
  for (guint i = 0; i < 100; i++)
    {
      g_clear_pointer (&away, json_object_unref);
      away = profile_of (fx, b, a);
      if (!is_null_member (away, "lastSeen"))
        break;
      pump (50);
    }
  last_seen_us (away);
  WAIT_UNTIL (a1->closed, QUICK_MS, "waiting for the logged-out socket to close");
  g_assert_cmpuint (a1->close_code, ==, 4001);

  sql = g_strdup_printf ("SELECT coalesce (last_seen::text, 'never') FROM users WHERE id = %" G_GINT64_FORMAT, c->id);
  before = munity_test_pg_query_value (pg, sql);
  g_assert_cmpint (kill (munity_test_daemon_pid (fx->d), SIGTERM), ==, 0);
  WAIT_UNTIL (wc->closed, 6000, "waiting for the close at shutdown");
  WAIT_UNTIL (!munity_test_daemon_is_running (fx->d), 6000, "waiting for munityd to exit");
  g_assert_cmpint (munity_test_daemon_stop (fx->d, &ms), ==, 0);
  fx->stopped = TRUE;
  after = munity_test_pg_query_value (pg, sql);
  g_test_message ("last_seen of a user online at shutdown: %s, then %s", before, after);
  g_assert_cmpstr (after, !=, "never");
  g_assert_cmpstr (after, !=, before);
}

/* ---- status ------------------------------------------------------------------ */

static void
send_text (Ws         *ws,
           const char *text)
{
  if (ws->raw)
    g_assert_true (raw_send (ws, OP_TEXT, TRUE, text, strlen (text)));
  else
    soup_websocket_connection_send_text (ws->conn, text);
}

static const char set_idle[] = "{\"event\":\"setStatus\",\"data\":{\"status\":\"idle\"}}";
static const char set_online[] = "{\"event\":\"setStatus\",\"data\":{\"status\":\"online\"}}";

static const char *
status_in_list (Ws   *ws,
                User *u)
{
  JsonNode *node = g_hash_table_lookup (ws->list, &u->id);

  g_assert_nonnull (node);
  return json_object_get_string_member (json_node_get_object (node), "status");
}

/* data must be exactly {"status": "online"|"idle"}: anything else is a bad
 * message, counted like the others, and changes nothing. */
static void
test_status_bad_shapes (Fixture       *fx,
                        gconstpointer  data)
{
  User *a = &users[0], *b = &users[1];
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open (fx, a);
  Ws *a2 = raw_open_user (fx, a);
  const char *bad[] = {
    "{\"event\":\"setStatus\",\"data\":{\"status\":\"IDLE\"}}",
    "{\"event\":\"setStatus\",\"data\":{\"status\":\"Online\"}}",
    "{\"event\":\"setStatus\",\"data\":{\"status\":\"away\"}}",
    "{\"event\":\"setStatus\",\"data\":{\"status\":\"idle\",\"since\":1}}",
    "{\"event\":\"setStatus\",\"data\":\"idle\"}",
    "{\"event\":\"setStatus\",\"data\":{\"status\":true}}",
    "{\"event\":\"setStatus\",\"data\":{}}",
    "{\"event\":\"setStatus\",\"data\":null}",
    "{\"event\":\"setStatus\"}",
    "{\"event\":\"setStatus\",\"data\":{\"status\":\"idle\"},\"extra\":0}",
  };

  ws_next_user (wb, "userJoined", a);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      send_text (a1, bad[i]);
      send_text (a2, bad[i]);
    }
  expect_errors (a1, G_N_ELEMENTS (bad));
  expect_errors (a2, G_N_ELEMENTS (bad));
  /* Nothing else was sent, and a stays online. */
  barrier (fx, wb, a1, a2, NULL);
  g_assert_cmpstr (status_in_list (wb, a), ==, "online");
  g_assert_true (a1->open && a2->open);
  g_assert_cmpuint (wb->n_errors, ==, 0);
}

/* Two tabs, one idle: still online, nothing sent. Both idle: one
 * userUpdated to everyone, the user's own sockets included. Saying it
 * again: nothing. */
static void
test_status_two_tabs (Fixture       *fx,
                      gconstpointer  data)
{
  User *a = &users[0], *b = &users[1], *c = &users[2];
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open (fx, a);
  Ws *a2 = raw_open_user (fx, a);
  Ws *all[4];
  Ws *wc, *a3;
  JsonObject *o;

  ws_next_user (wb, "userJoined", a);
  g_assert_cmpstr (status_in_list (wb, a), ==, "online");

  send_text (a1, set_idle);
  barrier (fx, wb, a1, a2, NULL);   /* the sentinel comes online */
  g_assert_cmpstr (status_in_list (wb, a), ==, "online");
  all[0] = wb;
  all[1] = a1;
  all[2] = a2;
  all[3] = fx->sentinel;

  send_text (a2, set_idle);
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    {
      o = ws_next_user (all[i], "userUpdated", a);
      g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "idle");
      g_assert_cmpstr (json_object_get_string_member (o, "first"), ==, a->first);
    }

  /* Repeated, from either tab: nothing. */
  send_text (a2, set_idle);
  send_text (a1, set_idle);
  barrier (fx, wb, a1, a2, NULL);

  /* Everywhere: a new socket's snapshot, /api/online. */
  wc = ws_open (fx, c);
  g_assert_cmpstr (status_in_list (fx->sentinel, a), ==, "idle");
  g_assert_cmpstr (status_in_list (wc, a), ==, "idle");
  g_assert_cmpstr (status_in_list (wc, c), ==, "online");
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    ws_next_user (all[i], "userJoined", c);
  {
    g_autoptr(GHashTable) online = api_online (fx, b);
    JsonObject *api_user = json_node_get_object (g_hash_table_lookup (online, &a->id));
    g_assert_cmpstr (json_object_get_string_member (api_user, "status"), ==, "idle");
  }

  /* One tab back: online again (within the update interval of a second). */
  send_text (a1, set_online);
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    {
      o = ws_next_user (all[i], "userUpdated", a);
      g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "online");
    }
  ws_next_user (wc, "userUpdated", a);

  /* Idle again, then a new tab (online) makes the user online. */
  send_text (a1, set_idle);
  o = ws_next_user (wb, "userUpdated", a);
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "idle");
  a3 = ws_open (fx, a);
  o = ws_next_user (wb, "userUpdated", a);
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "online");
  /* The new tab's own list says so too, by its snapshot or the update
   * (held up to a second after the last one). */
  WAIT_UNTIL (g_str_equal (status_in_list (a3, a), "online"), QUICK_MS, "waiting for a3 to see a online");
}

/* The tab that was online closes: the user's other tabs are all idle. */
static void
test_status_online_tab_closes (Fixture       *fx,
                               gconstpointer  data)
{
  User *a = &users[0], *b = &users[1];
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open (fx, a);
  Ws *a2 = ws_open (fx, a);
  JsonObject *o;

  ws_next_user (wb, "userJoined", a);
  send_text (a1, set_idle);
  barrier (fx, wb, NULL);
  ws_close_wait (a2);
  o = ws_next_user (wb, "userUpdated", a);
  ws_next_user (fx->sentinel, "userUpdated", a);
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "idle");
  ws_assert_list (wb, a, b, NULL);
}

static void
test_limits_not_json (Fixture       *fx,
                      gconstpointer  data)
{
  Ws *a1 = ws_open (fx, &users[0]);
  Ws *a2 = raw_open_user (fx, &users[0]);
  const char *bad[] = { "hello", "{", "{\"event\":", "", "\"just a string", "nul\x01l" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      soup_websocket_connection_send_text (a1->conn, bad[i]);
      raw_send (a2, OP_TEXT, TRUE, bad[i], strlen (bad[i]));
    }
  expect_errors (a1, G_N_ELEMENTS (bad));
  expect_errors (a2, G_N_ELEMENTS (bad));
  /* Both stay open and keep getting events. */
  barrier (fx, a1, a2, NULL);
  g_assert_true (a1->open && a2->open);
}

static void
test_limits_unknown_event (Fixture       *fx,
                           gconstpointer  data)
{
  Ws *a1 = ws_open (fx, &users[0]);
  const char *bad[] = {
    "{\"event\":\"hello\",\"data\":{}}",
    "{\"event\":\"onlineUsers\",\"data\":[]}",
    "{\"event\":\"userLeft\",\"data\":{\"id\":1}}",
    "{\"event\":42}",
    "{\"data\":{}}",
    "[\"userJoined\"]",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    soup_websocket_connection_send_text (a1->conn, bad[i]);
  expect_errors (a1, G_N_ELEMENTS (bad));
  barrier (fx, a1, NULL);
  g_assert_true (a1->open);
}

static void
test_limits_binary (Fixture       *fx,
                    gconstpointer  data)
{
  User *a = &users[0], *b = &users[1];
  Ws *wb = ws_open (fx, b);
  Ws *a1 = ws_open (fx, a);
  Ws *a2 = raw_open_user (fx, a);
  const char json[] = "{\"event\":\"hello\"}";

  ws_next_user (wb, "userJoined", a);
  soup_websocket_connection_send_binary (a1->conn, json, strlen (json));
  WAIT_UNTIL (a1->closed, QUICK_MS, "waiting for the close after a binary frame");
  g_assert_cmpuint (a1->close_code, ==, 1003);
  g_assert_cmpuint (a1->n_errors, ==, 0);

  raw_send (a2, OP_BINARY, TRUE, "\x00\x01\x02", 3);
  WAIT_UNTIL (a2->closed, QUICK_MS, "waiting for the close after a binary frame");
  g_assert_true (a2->got_close);
  g_assert_cmpuint (a2->close_code, ==, 1003);

  /* The closed sockets count as gone (grace 0 here). */
  ws_next_user (wb, "userLeft", a);
}

/* RFC 6455 §8.1: a text message that is not UTF-8 fails the connection
 * with 1007, without an error frame; the check is on the whole message
 * (a character split between fragments is fine) and U+0000 is UTF-8. */
static void
test_limits_invalid_utf8 (Fixture       *fx,
                          gconstpointer  data)
{
  User *a = &users[0];
  static const struct { const char *first; const char *rest; } bad[] = {
    { "\xff", NULL },                                   /* never in UTF-8 */
    { "{\"event\":\"\xc0\xaf\"}", NULL },                  /* overlong '/' */
    { "{\"event\":\"\xed\xa0\x80\"}", NULL },              /* a surrogate */
    { "{\"event\":\"\xf4\x90\x80\x80\"}", NULL },          /* beyond U+10FFFF */
    { "{\"event\":\"\xe2\x82", "\"}" },                   /* a character cut short */
    { "{\"event\":\"ok\"", "\xfe}" },                      /* bad in the continuation */
  };
  Ws *ok = raw_open_user (fx, a);

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      Ws *ws = raw_open_user (fx, a);

      g_test_message ("invalid text message %u", i);
      if (bad[i].rest == NULL)
        raw_send (ws, OP_TEXT, TRUE, bad[i].first, strlen (bad[i].first));
      else
        {
          raw_send (ws, OP_TEXT, FALSE, bad[i].first, strlen (bad[i].first));
          raw_send (ws, OP_CONTINUATION, TRUE, bad[i].rest, strlen (bad[i].rest));
        }
      WAIT_UNTIL (ws->closed, QUICK_MS, "waiting for the close after invalid UTF-8");
      g_assert_true (ws->got_close);
      g_assert_cmpuint (ws->close_code, ==, 1007);
      g_assert_cmpuint (ws->n_errors, ==, 0);
    }

  /* A close frame's reason is UTF-8 text too. */
  {
    Ws *ws = raw_open_user (fx, a);
    const guint8 close_payload[] = { 0x03, 0xe8, 'b', 'y', 0xff };

    ws->sent_close = TRUE;
    raw_send (ws, OP_CLOSE, TRUE, close_payload, sizeof close_payload);
    WAIT_UNTIL (ws->closed, QUICK_MS, "waiting for the answer to a close with a bad reason");
    g_assert_true (ws->got_close);
    g_assert_cmpuint (ws->close_code, ==, 1007);
  }

  /* Valid UTF-8 that is not a message we know: an error frame, as before,
   * and the socket stays open. A € split between two fragments, a NUL. */
  raw_send (ok, OP_TEXT, FALSE, "{\"event\":\"\xe2\x82", strlen ("{\"event\":\"\xe2\x82"));
  raw_send (ok, OP_CONTINUATION, TRUE, "\xac\"}", strlen ("\xac\"}"));
  raw_send (ok, OP_TEXT, TRUE, "a\0b", 3);
  expect_errors (ok, 2);
  barrier (fx, ok, NULL);
  g_assert_true (ok->open);
}

static char *
filler (gsize len)
{
  char *s = g_malloc (len + 1);

  memset (s, 'x', len);
  s[len] = '\0';
  return s;
}

static void
test_limits_too_big (Fixture       *fx,
                     gconstpointer  data)
{
  User *a = &users[0];
  Ws *a1 = ws_open (fx, a);
  Ws *a2 = raw_open_user (fx, a);
  Ws *a3 = raw_open_user (fx, a);
  g_autofree char *max = filler (4096);
  g_autofree char *over = filler (4097);
  g_autofree char *half = filler (2048);
  g_autofree char *third = filler (3000);

  /* 4096 bytes is allowed (and not JSON). */
  soup_websocket_connection_send_text (a1->conn, max);
  expect_errors (a1, 1);
  /* So is a message of 4096 bytes in two fragments: one message, one error. */
  raw_send (a2, OP_TEXT, FALSE, half, 2048);
  raw_send (a2, OP_CONTINUATION, TRUE, half, 2048);
  expect_errors (a2, 1);
  barrier (fx, a1, a2, a3, NULL);

  soup_websocket_connection_send_text (a1->conn, over);
  WAIT_UNTIL (a1->closed, QUICK_MS, "waiting for the close after 4097 bytes");
  g_assert_cmpuint (a1->close_code, ==, 1009);
  g_assert_cmpuint (a1->n_errors, ==, 1);

  /* Over 4 KiB as a message, though every fragment is small. */
  raw_send (a3, OP_TEXT, FALSE, third, 3000);
  raw_send (a3, OP_CONTINUATION, TRUE, third, 3000);
  WAIT_UNTIL (a3->closed, QUICK_MS, "waiting for the close after 6000 bytes in fragments");
  g_assert_true (a3->got_close);
  g_assert_cmpuint (a3->close_code, ==, 1009);
  g_assert_cmpuint (a3->n_errors, ==, 0);

  g_assert_true (a2->open);
}

/* Frames that arrive together are answered like frames that arrive one by
 * one: a bad frame and a message too big, in one write, get the error
 * frame for the first, then 1009. */
static void
test_limits_burst_error_then_too_big (Fixture       *fx,
                                      gconstpointer  data)
{
  Ws *a1 = raw_open_user (fx, &users[0]);
  g_autoptr(GByteArray) burst = g_byte_array_new ();
  g_autofree char *over = filler (4097);

  frame_append (burst, OP_TEXT, TRUE, "not json", 8);
  frame_append (burst, OP_TEXT, TRUE, over, 4097);
  raw_send_burst (a1, burst);
  WAIT_UNTIL (a1->closed, QUICK_MS, "waiting for the close after a bad frame and 4097 bytes");
  g_test_message ("%s: %u error frames, then close code %u", a1->label, a1->n_errors, a1->close_code);
  g_assert_true (a1->got_close);
  g_assert_cmpuint (a1->close_code, ==, 1009);
  g_assert_cmpuint (a1->n_errors, ==, 1);
}

static void
test_limits_bad_frames (Fixture       *fx,
                        gconstpointer  data)
{
  User *a = &users[0];
  Ws *s1 = ws_open (fx, a);
  Ws *s2 = ws_open (fx, a);
  Ws *s3 = raw_open_user (fx, a);

  /* 20 bad frames: 20 errors, still open. */
  for (guint i = 0; i < 20; i++)
    soup_websocket_connection_send_text (s1->conn, "not json");
  expect_errors (s1, 20);
  barrier (fx, s1, s2, s3, NULL);
  g_assert_true (s1->open);

  /* The count is per socket: another tab of the same user is not affected. */
  soup_websocket_connection_send_text (s2->conn, "not json");
  expect_errors (s2, 1);

  /* The 21st within the minute closes with 1008. */
  soup_websocket_connection_send_text (s1->conn, "not json");
  WAIT_UNTIL (s1->closed, QUICK_MS, "waiting for the close after the 21st bad frame");
  g_assert_cmpuint (s1->close_code, ==, 1008);
  g_assert_cmpuint (s1->n_errors, ==, 20);
  g_assert_cmpuint (s1->events->len, ==, s1->n_seen);

  /* The other tabs live on. */
  barrier (fx, s2, s3, NULL);
  g_assert_true (s2->open);
  g_assert_true (s3->open);
}

/* 21 bad frames in one write: still exactly 20 error frames, then 1008 —
 * the errors owed for the first 20 are not lost with the close. */
static void
test_limits_burst_bad_frames (Fixture       *fx,
                              gconstpointer  data)
{
  Ws *s1 = raw_open_user (fx, &users[0]);
  g_autoptr(GByteArray) burst = g_byte_array_new ();

  for (guint i = 0; i < 21; i++)
    frame_append (burst, OP_TEXT, TRUE, "{\"event\":\"nope\"}", 16);
  raw_send_burst (s1, burst);
  WAIT_UNTIL (s1->closed, QUICK_MS, "waiting for the close after 21 bad frames");
  g_test_message ("%s: %u error frames, then close code %u", s1->label, s1->n_errors, s1->close_code);
  g_assert_true (s1->got_close);
  g_assert_cmpuint (s1->close_code, ==, 1008);
  g_assert_cmpuint (s1->n_errors, ==, 20);
}

/* ---- liveness ---------------------------------------------------------------- */

static void
test_liveness_no_pong (Fixture       *fx,
                       gconstpointer  data)
{
  User *x = &users[0], *y = &users[1], *z = &users[2];
  Ws *wz = ws_open (fx, z);             /* libsoup answers pings itself */
  Ws *wy = raw_open_user (fx, y);       /* answers pings */
  RawOpts silent = { .cookie = x->cookie, .no_pongs = TRUE };
  Ws *wx = raw_open (fx, x, &silent);
  double lived;

  g_assert_cmpuint (wx->status, ==, 101);
  ws_wait_snapshot (wx);
  ws_next_user (wz, "userJoined", y);
  ws_next_user (wz, "userJoined", x);
  ws_next_user (wy, "userJoined", x);

  WAIT_UNTIL (wx->closed, 5000, "waiting for the server to drop the client that never answers pings");
  lived = (wx->closed_at - wx->opened_at) / 1000.0;
  g_test_message ("no-pong client closed after %.0f ms (%u pings seen, close code %u, eof %d, reset %d)",
                  lived, wx->n_pings, wx->close_code, wx->eof, wx->reset);
  g_assert_cmpuint (wx->n_pings, >=, 1);
  g_assert_cmpfloat (lived, >=, 900);
  g_assert_cmpfloat (lived, <=, 2500);
  if (wx->got_close)
    g_assert_cmpuint (wx->close_code, ==, 1008);
  WAIT_UNTIL (wx->eof, 3000, "waiting for the TCP connection to end");

  ws_next_user (wz, "userLeft", x);
  ws_next_user (wy, "userLeft", x);

  /* The others live on, well past several pong timeouts. */
  pump ((guint) MAX (0, 4000 - (now_us () - wz->opened_at) / 1000));
  g_assert_true (wz->open);
  g_assert_true (wy->open);
  g_test_message ("the raw client that answers saw %u pings", wy->n_pings);
  g_assert_cmpuint (wy->n_pings, >=, 5);
  barrier (fx, wz, wy, NULL);
}

/* ---- slow reader ------------------------------------------------------------- */

#define STORM_USERS 8
#define STORM_EVENTS 10000
#define STORM_NAME_CHARS 94    /* + 6 digits = 100 code points */

/* One user renamed over and over, one rename at a time (so the order of
 * the renames, and of their events, is known). */
typedef struct {
  Fixture     *fx;
  User        *user;
  char        *prefix;      /* (owned) */
  guint        next;        /* number of the next rename */
  guint        done;
  guint        failed;
  SoupMessage *msg;         /* (owned) (nullable) in flight */
} StormUser;

static void storm_next (StormUser *su);

static void
storm_patched_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  StormUser *su = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);

  if (body == NULL)
    {
      g_test_message ("storm PATCH failed: %s", error->message);
      su->failed++;
    }
  else if (soup_message_get_status (su->msg) != 200)
    {
      g_test_message ("storm PATCH: %u %.*s", soup_message_get_status (su->msg),
                      (int) g_bytes_get_size (body), (const char *) g_bytes_get_data (body, NULL));
      su->failed++;
    }
  g_clear_object (&su->msg);
  su->done++;
  storm_next (su);
}

static void
storm_next (StormUser *su)
{
  g_autofree char *url = NULL;
  g_autofree char *name = NULL;
  g_autofree char *body = NULL;
  g_autoptr(GBytes) bytes = NULL;

  if (su->failed > 0 || su->next > STORM_EVENTS / STORM_USERS)
    return;
  url = url_of (su->fx, "/api/me");
  name = g_strdup_printf ("%s%06u", su->prefix, su->next++);
  body = munity_test_json_object ("first", name, "last", name, NULL);
  bytes = g_bytes_new (body, strlen (body));
  su->msg = soup_message_new ("PATCH", url);
  soup_message_headers_replace (soup_message_get_request_headers (su->msg), "Cookie", su->user->cookie);
  soup_message_set_request_body_from_bytes (su->msg, "application/json", bytes);
  soup_session_send_and_read_async (http, su->msg, G_PRIORITY_DEFAULT, NULL, storm_patched_cb, su);
}

static gboolean
storm_finished (StormUser *storm)
{
  for (guint i = 0; i < STORM_USERS; i++)
    if (storm[i].msg != NULL)
      return FALSE;
  return TRUE;
}

typedef struct {
  GPid    pid;
  guint64 max_kib;
} RssSampler;

static gboolean
sample_rss (gpointer user_data)
{
  RssSampler *s = user_data;

  s->max_kib = MAX (s->max_kib, vmrss_kib (s->pid));
  return G_SOURCE_CONTINUE;
}

static gboolean
readers_done (Ws   **checked,
              guint  n_checked,
              Ws   **counting,
              guint  n_counting,
              User  *slow)
{
  for (guint i = 0; i < n_checked; i++)
    if (checked[i]->n_updates < STORM_EVENTS || g_hash_table_contains (checked[i]->list, &slow->id))
      return FALSE;
  /* They also get the slow reader's userLeft: one frame more. */
  for (guint i = 0; i < n_counting; i++)
    if (counting[i]->n_counted < STORM_EVENTS + 1)
      return FALSE;
  return TRUE;
}

static char *
describe_readers (Ws   **checked,
                  guint  n_checked,
                  Ws   **counting,
                  guint  n_counting)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < n_checked; i++)
    g_string_append_printf (s, " %s: %u updates%s;", checked[i]->label, checked[i]->n_updates,
                            checked[i]->closed ? " (closed)" : "");
  for (guint i = 0; i < n_counting; i++)
    g_string_append_printf (s, " %s: %u frames%s;", counting[i]->label, counting[i]->n_counted,
                            counting[i]->closed ? " (closed)" : "");
  return g_string_free (s, FALSE);
}

/* Checks the storm on a socket that saw it all: each user's renames in the
 * order they were made, every one of them. */
static void
check_storm_order (Ws *ws)
{
  g_autoptr(GHashTable) last = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);

  for (guint k = 0; k < ws->storm->len; k++)
    {
      guint64 entry = g_array_index (ws->storm, guint64, k);
      gint64 id = (gint64) (entry >> 32);
      guint number = (guint) (entry & 0xffffffff);
      guint before = GPOINTER_TO_UINT (g_hash_table_lookup (last, &id));

      if (number != before + 1)
        g_test_message ("%s: user %" G_GINT64_FORMAT ": rename %u came after %u", ws->label, id, number, before);
      g_assert_cmpuint (number, ==, before + 1);
      g_hash_table_insert (last, g_memdup2 (&id, sizeof id), GUINT_TO_POINTER (number));
    }
}

/* A reader that stops reading during a storm of 10,000 events: it is closed,
 * the others get every event, in order, without waiting for it, and
 * munityd's memory stays bounded. */
static void
test_slow_reader (Fixture       *fx,
                  gconstpointer  data)
{
  User *watcher = &users[STORM_USERS];
  User *slow = &users[STORM_USERS + 1];
  Ws *checked[2];                    /* every frame parsed and checked */
  Ws *counting[STORM_USERS - 1];     /* read everything, count frames */
  StormUser storm[STORM_USERS];
  RawOpts raw = { .cookie = slow->cookie, .no_read = TRUE };
  RssSampler rss = { munity_test_daemon_pid (fx->d), 0 };
  g_autoptr(GString) prefix = g_string_new (NULL);
  guint64 rss_before;
  guint sampler;
  Ws *r, *w;
  gint64 t_start, t_storm_end;

  for (guint i = 0; i < STORM_NAME_CHARS; i++)
    g_string_append (prefix, "\xe2\x82\xac");   /* €, 3 bytes in UTF-8 */

  /* The renamed users must be online, each with a socket that reads: the
   * first with libsoup, checking every frame, the others raw, reading and
   * counting (parsing 10,000 frames per socket here would make this
   * process the slow reader). A watcher checks every frame too. */
  checked[0] = ws_open (fx, &users[0]);
  for (guint i = 1; i < STORM_USERS; i++)
    counting[i - 1] = raw_open_user (fx, &users[i]);
  checked[1] = w = ws_open (fx, watcher);
  r = raw_open (fx, slow, &raw);
  g_assert_cmpuint (r->status, ==, 101);
  for (guint i = 0; i < G_N_ELEMENTS (checked); i++)
    {
      WAIT_UNTIL (g_hash_table_contains (checked[i]->list, &slow->id), QUICK_MS,
                  "%s: waiting for the slow reader's userJoined", checked[i]->label);
      checked[i]->keep = FALSE;
      checked[i]->storm = g_array_new (FALSE, FALSE, sizeof (guint64));
    }
  for (guint i = 0; i < G_N_ELEMENTS (counting); i++)
    {
      WAIT_UNTIL (g_hash_table_contains (counting[i]->list, &slow->id), QUICK_MS,
                  "%s: waiting for the slow reader's userJoined", counting[i]->label);
      counting[i]->counting = TRUE;
    }
  r->keep = FALSE;
  r->storm = g_array_new (FALSE, FALSE, sizeof (guint64));
  check_names = FALSE;

  rss_before = vmrss_kib (rss.pid);
  rss.max_kib = rss_before;
  sampler = g_timeout_add (50, sample_rss, &rss);

  t_start = now_us ();
  for (guint i = 0; i < STORM_USERS; i++)
    {
      storm[i] = (StormUser) { fx, &users[i], g_strdup (prefix->str), 1, 0, 0, NULL };
      storm_next (&storm[i]);
    }
  WAIT_UNTIL (storm_finished (storm), 120000, "waiting for the storm of %u renames", STORM_EVENTS);
  t_storm_end = now_us ();
  g_test_message ("%u renames in %.0f ms", STORM_EVENTS, (t_storm_end - t_start) / 1000.0);
  for (guint i = 0; i < STORM_USERS; i++)
    {
      g_assert_cmpuint (storm[i].failed, ==, 0);
      g_assert_cmpuint (storm[i].done, ==, STORM_EVENTS / STORM_USERS);
      g_free (storm[i].prefix);
    }

  /* Every reading client gets every event promptly, and hears that the
   * slow reader's user left (its only socket was closed; grace 0). */
  WAIT_UNTIL (readers_done (checked, G_N_ELEMENTS (checked), counting, G_N_ELEMENTS (counting), slow),
              30000, "waiting for the readers to get all %u events and the slow reader's userLeft:%s",
              STORM_EVENTS, describe_readers (checked, G_N_ELEMENTS (checked), counting, G_N_ELEMENTS (counting)));
  g_source_remove (sampler);
  sample_rss (&rss);

  for (guint i = 0; i < G_N_ELEMENTS (checked); i++)
    {
      double lag = (checked[i]->last_update_at - t_storm_end) / 1000.0;

      g_test_message ("%s: %u updates, %" G_GUINT64_FORMAT " bytes, the last %.0f ms after the last answer",
                      checked[i]->label, checked[i]->n_updates, checked[i]->bytes, lag);
      g_assert_true (checked[i]->open);
      g_assert_cmpuint (checked[i]->storm->len, ==, STORM_EVENTS);
      check_storm_order (checked[i]);
      /* The same order on every socket. */
      g_assert_cmpmem (checked[i]->storm->data, STORM_EVENTS * sizeof (guint64),
                       w->storm->data, STORM_EVENTS * sizeof (guint64));
      g_assert_cmpfloat (lag, <, 5000);
    }
  for (guint i = 0; i < G_N_ELEMENTS (counting); i++)
    {
      g_assert_true (counting[i]->open);
      g_assert_cmpuint (counting[i]->n_counted, ==, STORM_EVENTS + 1);
    }
  g_assert_cmpuint (w->bytes, >, 4 * 1024 * 1024);

  /* The slow reader was closed once about 1 MiB waited for it (beyond what
   * the kernel buffers hold), not at the end of the storm. */
  g_test_message ("the slow reader's userLeft came after %" G_GUINT64_FORMAT " bytes of the storm",
                  w->bytes_at_left);
  g_assert_cmpint (w->last_left, ==, slow->id);
  g_assert_cmpuint (w->bytes_at_left, <, 3 * 1024 * 1024);

  g_test_message ("munityd VmRSS %" G_GUINT64_FORMAT " KiB before, %" G_GUINT64_FORMAT " KiB at most",
                  rss_before, rss.max_kib);
#if defined(__SANITIZE_ADDRESS__)
  /* AddressSanitizer's allocator (redzones, quarantine, shadow) makes RSS
   * meaningless; the bound is checked by the ordinary build. */
  g_test_message ("RSS bound not checked under AddressSanitizer");
#else
  g_assert_cmpuint (rss.max_kib, <, rss_before + 64 * 1024);
#endif

  /* The slow reader reads at last: a prefix of the same events, then the
   * end of the connection. */
  g_assert_false (r->closed);
  t_start = now_us ();
  raw_start_reading (r);
  WAIT_UNTIL (r->eof, 10000, "waiting for the slow reader's connection to end");
  g_test_message ("the slow reader got %" G_GUINT64_FORMAT " bytes (%u updates), close frame %d (code %u), "
                  "reset %d; its connection ended %.0f ms after it began to read",
                  r->raw_bytes, r->n_updates, r->got_close, r->close_code, r->reset, ms_since (t_start));
  if (r->got_close)
    g_assert_cmpuint (r->close_code, ==, 1008);
  g_assert_cmpuint (r->n_updates, <, STORM_EVENTS);
  g_assert_cmpuint (r->raw_bytes, <, 3 * 1024 * 1024);
  g_assert_cmpmem (r->storm->data, r->storm->len * sizeof (guint64),
                   w->storm->data, r->storm->len * sizeof (guint64));

  /* The names as now stored, for the tests that follow. */
  for (guint i = 0; i < STORM_USERS; i++)
    {
      g_autofree char *path = g_strdup_printf ("/api/users/%" G_GINT64_FORMAT, users[i].id);
      g_autoptr(MunityTestResponse) resp = api (fx, "GET", path, watcher->cookie, NULL);
      JsonObject *o;

      g_assert_cmpuint (resp->status, ==, 200);
      o = json_object_get_object_member (munity_test_response_object (resp), "user");
      g_free (users[i].first);
      g_free (users[i].last);
      users[i].first = g_strdup (json_object_get_string_member (o, "first"));
      users[i].last = g_strdup (json_object_get_string_member (o, "last"));
    }
  check_names = TRUE;
}

/* ---- shutdown ---------------------------------------------------------------- */

static void
test_shutdown_1001 (Fixture       *fx,
                    gconstpointer  data)
{
  Ws *all[4];
  gint64 t;
  guint ms = 0;
  int status;

  all[0] = ws_open (fx, &users[0]);
  all[1] = ws_open (fx, &users[0]);
  all[2] = ws_open (fx, &users[1]);
  all[3] = raw_open_user (fx, &users[2]);

  t = now_us ();
  g_assert_cmpint (kill (munity_test_daemon_pid (fx->d), SIGTERM), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    {
      WAIT_UNTIL (all[i]->closed, 6000, "%s: waiting for the close at shutdown", all[i]->label);
      g_test_message ("%s: close code %u after %.0f ms", all[i]->label, all[i]->close_code,
                      (all[i]->closed_at - t) / 1000.0);
      g_assert_cmpuint (all[i]->close_code, ==, 1001);
    }
  g_assert_true (all[3]->got_close);
  WAIT_UNTIL (!munity_test_daemon_is_running (fx->d), 6000, "waiting for munityd to exit");
  g_test_message ("munityd exited %.0f ms after SIGTERM", ms_since (t));
  g_assert_cmpfloat (ms_since (t), <, 5000);
  status = munity_test_daemon_stop (fx->d, &ms);
  g_assert_cmpint (status, ==, 0);
  fx->stopped = TRUE;
}

/* ---- /api/online --------------------------------------------------------------- */

static void
test_online_matches_snapshot (Fixture       *fx,
                              gconstpointer  data)
{
  User *a = &users[0], *b = &users[1], *c = &users[2], *d = &users[3];
  Ws *a1 = ws_open (fx, a);
  Ws *a2 = ws_open (fx, a);
  Ws *b1 = raw_open_user (fx, b);
  Ws *c1 = ws_open (fx, c);
  Ws *d1;
  g_autoptr(GHashTable) online = NULL;
  g_autoptr(MunityTestResponse) anonymous = NULL;
  GHashTableIter iter;
  gpointer key, value;

  ws_close_wait (c1);   /* c lingers (grace 5 s): still online */
  d1 = ws_open (fx, d);
  ws_assert_list (d1, a, b, c, d, NULL);

  online = api_online (fx, b);
  if (!same_ids (online, d1->list))
    {
      g_autofree char *x = ids_text (online);
      g_autofree char *y = ids_text (d1->list);
      g_test_message ("/api/online %s, onlineUsers %s", x, y);
    }
  g_assert_true (same_ids (online, d1->list));
  g_hash_table_iter_init (&iter, online);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      JsonObject *api_user = json_node_get_object (value);
      JsonObject *ws_user = json_node_get_object (g_hash_table_lookup (d1->list, key));

      g_assert_cmpstr (json_object_get_string_member (api_user, "first"), ==,
                       json_object_get_string_member (ws_user, "first"));
      g_assert_cmpstr (json_object_get_string_member (api_user, "last"), ==,
                       json_object_get_string_member (ws_user, "last"));
      g_assert_cmpint (json_node_get_node_type (json_object_get_member (api_user, "imageUrl")), ==,
                       json_node_get_node_type (json_object_get_member (ws_user, "imageUrl")));
    }
  /* Every older socket's replayed list says the same. */
  WAIT_UNTIL (same_ids (online, a1->list) && same_ids (online, a2->list) && same_ids (online, b1->list),
              QUICK_MS, "waiting for the older sockets to hear of d");

  anonymous = api (fx, "GET", "/api/online", NULL, NULL);
  assert_json_error (anonymous, 401, "not-logged-in");
}

/* ---- churn ------------------------------------------------------------------- */

#define CHURN_USERS 32
#define CHURN_OPENS 240
#define CHURN_MAX_CONNECTING 32

static guint
count_connecting (GPtrArray **tabs)
{
  guint n = 0;

  for (guint u = 0; u < CHURN_USERS; u++)
    for (guint i = 0; i < tabs[u]->len; i++)
      n += ((Ws *) tabs[u]->pdata[i])->n_frames == 0;
  return n;
}

/* Every open socket's replayed list equals @expected. */
static gboolean
all_lists_equal (Fixture    *fx,
                 GHashTable *expected)
{
  for (guint i = 0; i < fx->sockets->len; i++)
    {
      Ws *ws = fx->sockets->pdata[i];

      if (ws->open && !ws->closing && !same_ids (ws->list, expected))
        return FALSE;
    }
  return TRUE;
}

/* For the failure message: the first socket whose list is not @expected.
 * (Leaked: the test is about to abort.) */
static char *
describe_mismatch (Fixture    *fx,
                   GHashTable *expected)
{
  g_autofree char *want = ids_text (expected);

  for (guint i = 0; i < fx->sockets->len; i++)
    {
      Ws *ws = fx->sockets->pdata[i];

      if (ws->open && !ws->closing && !same_ids (ws->list, expected))
        {
          g_autofree char *got = ids_text (ws->list);
          return g_strdup_printf ("%s (%u frames) replays %s; expected %s",
                                  ws->label, ws->n_frames, got, want);
        }
    }
  return g_strdup ("no mismatch");
}

static void
test_churn (Fixture       *fx,
            gconstpointer  data)
{
  const char *env = g_getenv ("MUNITY_TEST_SEED");
  guint32 seed = env != NULL ? (guint32) g_ascii_strtoull (env, NULL, 10) : g_random_int ();
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  GPtrArray *tabs[CHURN_USERS];
  g_autoptr(GHashTable) expected = id_set ();
  g_autoptr(GHashTable) online = NULL;
  guint opens = 0, closes = 0, abrupt = 0, raw_opens = 0, bursts = 0, n_sockets = 0;
  guint64 frames = 0;

  g_test_message ("churn seed %u (replay with MUNITY_TEST_SEED=%u)", seed, seed);
  g_printerr ("# test-ws churn seed %u (replay with MUNITY_TEST_SEED=%u)\n", seed, seed);

  for (guint u = 0; u < CHURN_USERS; u++)
    tabs[u] = g_ptr_array_new ();

  while (opens < CHURN_OPENS)
    {
      guint u = g_rand_int_range (rand, 0, CHURN_USERS);
      GPtrArray *t = tabs[u];
      gboolean want_open = t->len == 0 || (t->len < 3 && g_rand_int_range (rand, 0, 100) < 55);

      if (want_open)
        {
          Ws *ws;

          if (count_connecting (tabs) >= CHURN_MAX_CONNECTING)
            WAIT_UNTIL (count_connecting (tabs) < CHURN_MAX_CONNECTING, QUICK_MS,
                        "churn: waiting for handshakes to finish");
          if (g_rand_int_range (rand, 0, 100) < 20)
            {
              ws = raw_open_user (fx, &users[u]);   /* waits for its snapshot */
              raw_opens++;
            }
          else
            ws = soup_open_async (fx, &users[u], users[u].cookie, NULL);
          g_ptr_array_add (t, ws);
          opens++;
        }
      else if (g_rand_int_range (rand, 0, 100) < 4)
        {
          /* All tabs of one user at once. */
          for (guint i = t->len; i > 0; i--)
            {
              Ws *ws = t->pdata[i - 1];
              if (ws->n_frames == 0)
                continue;
              ws_close (ws);
              g_ptr_array_remove_index (t, i - 1);
              closes++;
            }
          bursts++;
        }
      else
        {
          guint i = g_rand_int_range (rand, 0, t->len);
          Ws *ws = t->pdata[i];

          if (ws->n_frames == 0)
            continue;   /* still connecting */
          if (ws->raw && g_rand_boolean (rand))
            {
              raw_close_abrupt (ws);
              abrupt++;
            }
          else
            ws_close (ws);
          g_ptr_array_remove_index (t, i);
          closes++;
        }

      /* Let things happen at once, sometimes more, sometimes less. */
      for (guint k = g_rand_int_range (rand, 0, 4); k > 0; k--)
        g_main_context_iteration (NULL, FALSE);
      if (g_rand_int_range (rand, 0, 100) < 3)
        WAIT_UNTIL (count_connecting (tabs) == 0, QUICK_MS, "churn: waiting for handshakes to finish");

      /* No surprise: no socket we keep was closed or refused. */
      for (guint v = 0; v < CHURN_USERS; v++)
        for (guint i = 0; i < tabs[v]->len; i++)
          {
            Ws *ws = tabs[v]->pdata[i];
            if (ws->failed || ws->closed)
              g_test_message ("churn: %s failed (%u) or closed (%u)", ws->label, ws->status, ws->close_code);
            g_assert_false (ws->failed);
            g_assert_false (ws->closed);
          }
    }

  WAIT_UNTIL (count_connecting (tabs) == 0, QUICK_MS, "churn: waiting for the last handshakes");
  for (guint u = 0; u < CHURN_USERS; u++)
    {
      if (tabs[u]->len > 0)
        id_set_add (expected, users[u].id);
      n_sockets += tabs[u]->len;
    }
  g_test_message ("churn: %u opens (%u raw), %u closes (%u abrupt, %u bursts); at the end %u users with %u sockets",
                  opens, raw_opens, closes, abrupt, bursts, g_hash_table_size (expected), n_sockets);
  g_assert_cmpuint (opens + closes, >=, 300);

  /* Quiescence: every open socket's list, /api/online and our books agree. */
  WAIT_UNTIL (all_lists_equal (fx, expected), QUICK_MS, "churn: waiting for every socket's list to settle: %s",
              describe_mismatch (fx, expected));
  {
    User *asker = &users[CHURN_USERS];
    online = api_online (fx, asker);
  }
  if (!same_ids (online, expected))
    {
      g_autofree char *x = ids_text (online);
      g_autofree char *y = ids_text (expected);
      g_test_message ("/api/online %s, expected %s", x, y);
    }
  g_assert_true (same_ids (online, expected));
  /* Give stragglers a moment, then check again: nothing moves any more. */
  pump (300);
  g_assert_true (all_lists_equal (fx, expected));

  g_assert_cmpfloat (metric (fx, "munity_online_users"), ==, g_hash_table_size (expected));
  g_assert_cmpfloat (metric (fx, "munity_sockets"), ==, n_sockets);

  for (guint i = 0; i < fx->sockets->len; i++)
    frames += ((Ws *) fx->sockets->pdata[i])->n_frames;
  g_test_message ("churn: %" G_GUINT64_FORMAT " frames checked on %u sockets", frames, fx->sockets->len);

  for (guint u = 0; u < CHURN_USERS; u++)
    g_ptr_array_unref (tabs[u]);
}

/* ---- main ---------------------------------------------------------------------- */

typedef struct {
  User        *user;
  SoupMessage *msg;
  gboolean     done;
  GBytes      *body;
  const char  *url;
  GBytes      *request;   /* (owned) */
} Registration;

static void registered_cb (GObject *source, GAsyncResult *result, gpointer user_data);

static void
register_send (Registration *reg)
{
  g_clear_object (&reg->msg);
  reg->msg = soup_message_new ("POST", reg->url);
  soup_message_set_request_body_from_bytes (reg->msg, "application/json", reg->request);
  soup_session_send_and_read_async (http, reg->msg, G_PRIORITY_DEFAULT, NULL, registered_cb, reg);
}

static gboolean
register_again_cb (gpointer user_data)
{
  register_send (user_data);
  return G_SOURCE_REMOVE;
}

static void
registered_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Registration *reg = user_data;
  g_autoptr(GError) error = NULL;

  reg->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  g_assert_no_error (error);
  /* munityd bounds its password-hashing queue and says 503 when it is
   * full: try again in a moment, as a client should. */
  if (soup_message_get_status (reg->msg) == 503)
    {
      g_clear_pointer (&reg->body, g_bytes_unref);
      g_timeout_add (100, register_again_cb, reg);
      return;
    }
  reg->done = TRUE;
}

static gboolean
all_registered (Registration *regs)
{
  for (guint i = 0; i < N_USERS; i++)
    if (!regs[i].done)
      return FALSE;
  return TRUE;
}

/* The users of the whole file, registered at once on a daemon of their own
 * (argon2id makes each registration take a while). */
static void
register_users (void)
{
  const char *args[] = { "--database", munity_test_pg_conninfo (pg), NULL };
  g_autoptr(GError) error = NULL;
  MunityTestDaemon *d = munity_test_daemon_try_start (args, 60, &error);
  g_autofree char *url = NULL;
  Registration regs[N_USERS];
  gint64 t = now_us ();

  g_assert_no_error (error);
  url = munity_test_daemon_url (d, "/api/register");
  for (guint i = 0; i < N_USERS; i++)
    {
      User *u = &users[i];
      g_autofree char *body = NULL;
      g_autoptr(GBytes) bytes = NULL;

      u->index = i;
      u->email = g_strdup_printf ("ws-%u-%d@example.org", i, (int) getpid ());
      u->first = g_strdup_printf ("User%02u", i);
      u->last = g_strdup_printf ("Tester %u", i);
      body = munity_test_json_object ("first", u->first, "last", u->last, "email", u->email,
                           "password", password, NULL);
      bytes = g_bytes_new (body, strlen (body));
      regs[i] = (Registration) { u, NULL, FALSE, NULL, url, g_bytes_ref (bytes) };
      register_send (&regs[i]);
    }
  WAIT_UNTIL (all_registered (regs), 120000, "waiting for %u registrations", N_USERS);

  for (guint i = 0; i < N_USERS; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      GSList *cookies = soup_cookies_from_response (regs[i].msg);
      JsonObject *user;

      if (soup_message_get_status (regs[i].msg) != 201)
        g_test_message ("register: %u %.*s", soup_message_get_status (regs[i].msg),
                        (int) g_bytes_get_size (regs[i].body),
                        (const char *) g_bytes_get_data (regs[i].body, NULL));
      g_assert_cmpuint (soup_message_get_status (regs[i].msg), ==, 201);
      json_parser_load_from_data (parser, g_bytes_get_data (regs[i].body, NULL),
                                  g_bytes_get_size (regs[i].body), &error);
      g_assert_no_error (error);
      user = json_object_get_object_member (json_node_get_object (json_parser_get_root (parser)), "user");
      users[i].id = json_object_get_int_member (user, "id");
      for (GSList *l = cookies; l != NULL; l = l->next)
        if (g_str_equal (soup_cookie_get_name (l->data), "munity_session"))
          users[i].cookie = g_strconcat ("munity_session=", soup_cookie_get_value (l->data), NULL);
      g_assert_nonnull (users[i].cookie);
      g_slist_free_full (cookies, (GDestroyNotify) soup_cookie_free);
      g_object_unref (regs[i].msg);
      g_bytes_unref (regs[i].body);
      g_bytes_unref (regs[i].request);
    }
  g_test_message ("%u users registered in %.0f ms", N_USERS, ms_since (t));

  g_assert_cmpint (munity_test_daemon_stop (d, NULL), ==, 0);
  munity_test_daemon_free (d);
}

static GLogFunc previous_log_handler;

/* GTest prints every g_debug(); libsoup's per-frame ones would flood the log
 * (hundreds of thousands of lines in the storm) and slow the test down.
 * G_MESSAGES_DEBUG brings them back. */
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

#define ADD(path, opts, func) \
  g_test_add (path, Fixture, opts, fixture_set_up, func, fixture_tear_down)

int
main (int    argc,
      char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  previous_log_handler = g_log_set_default_handler (quiet_log_handler, NULL);

  http = munity_test_session_new (FALSE);
  ws_session = soup_session_new_with_options ("max-conns", 4096, "max-conns-per-host", 4096,
                                              "timeout", 0, "idle-timeout", 0, NULL);
  soup_session_set_proxy_resolver (ws_session, NULL);
  if (soup_session_get_feature (ws_session, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER) == NULL)
    soup_session_add_feature_by_type (ws_session, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);

  pg = munity_test_pg_start ();
  register_users ();

  ADD ("/ws/handshake/no-session-401", &grace_1s, test_handshake_no_session);
  ADD ("/ws/handshake/invalid-session-401", &grace_1s, test_handshake_invalid_session);
  ADD ("/ws/handshake/foreign-origin-403", &grace_1s, test_handshake_foreign_origin);
  ADD ("/ws/handshake/no-origin-accepted", &grace_1s, test_handshake_no_origin);
  ADD ("/ws/handshake/own-origin-accepted", &grace_1s, test_handshake_own_origin);
  ADD ("/ws/handshake/allowed-origin", &with_allowed, test_handshake_allowed_origin);
  ADD ("/ws/handshake/no-permessage-deflate", &grace_1s, test_handshake_no_deflate);
  ADD ("/ws/handshake/plain-get", &grace_1s, test_handshake_plain_get);
  ADD ("/ws/events/snapshot-first", &grace_1s, test_events_snapshot_first);
  ADD ("/ws/events/joined-to-every-other-socket", &grace_1s, test_events_joined_to_every_other_socket);
  ADD ("/ws/events/second-tab-silent", &grace_1s, test_events_second_tab_silent);
  ADD ("/ws/events/closing-one-tab-silent", &grace_1s, test_events_closing_one_tab_silent);
  ADD ("/ws/events/left-after-grace", &grace_1s, test_events_left_after_grace);
  ADD ("/ws/events/left-after-default-grace", &grace_default, test_events_left_after_default_grace);
  ADD ("/ws/events/left-at-once-grace-0", &grace_0, test_events_left_at_once);
  ADD ("/ws/events/grace-cancelled-by-new-socket", &grace_1s, test_events_grace_cancelled);
  ADD ("/ws/events/user-updated", &grace_1s, test_events_user_updated);
  ADD ("/ws/events/bio-change-silent", &grace_1s, test_events_bio_silent);
  ADD ("/ws/events/picture-updated", &grace_1s, test_events_picture_updated);
  ADD ("/ws/events/lingering-user-updated", &grace_5s, test_events_lingering_user_updated);
  ADD ("/ws/dbus/disconnect-4003", &with_dbus, test_dbus_disconnect);
  ADD ("/ws/logout/closes-4001-leaves-at-once", &grace_5s, test_logout_closes_4001);
  ADD ("/ws/logout/while-lingering-leaves-at-once", &grace_5s, test_logout_while_lingering);
  ADD ("/ws/logout/other-session-stays-online", &grace_5s, test_logout_other_session_stays);
  ADD ("/ws/liveness/no-pong-closed", &fast_ping, test_liveness_no_pong);
  ADD ("/ws/slow-reader/closed-others-get-everything", &rename_storm, test_slow_reader);
  ADD ("/ws/shutdown/sigterm-1001", &grace_1s, test_shutdown_1001);
  ADD ("/ws/online/api-matches-snapshot", &grace_5s, test_online_matches_snapshot);
  ADD ("/ws/status/bad-shapes", &grace_1s, test_status_bad_shapes);
  ADD ("/ws/status/two-tabs", &grace_1s, test_status_two_tabs);
  ADD ("/ws/status/online-tab-closes", &grace_1s, test_status_online_tab_closes);
  ADD ("/ws/last-seen/after-grace", &grace_1s, test_last_seen_after_grace);
  ADD ("/ws/last-seen/logout-and-shutdown", &grace_5s, test_last_seen_logout_and_shutdown);
  ADD ("/ws/churn/random", &grace_0, test_churn);
  /* Misbehaving clients and races last: an abort there hides nothing. */
  ADD ("/ws/limits/not-json", &grace_1s, test_limits_not_json);
  ADD ("/ws/limits/unknown-event", &grace_1s, test_limits_unknown_event);
  ADD ("/ws/limits/binary-1003", &grace_0, test_limits_binary);
  ADD ("/ws/limits/invalid-utf8-1007", &grace_1s, test_limits_invalid_utf8);
  ADD ("/ws/limits/too-big-1009", &grace_1s, test_limits_too_big);
  ADD ("/ws/limits/bad-frames-1008", &grace_1s, test_limits_bad_frames);
  ADD ("/ws/limits/burst-20-errors-then-1008", &grace_1s, test_limits_burst_bad_frames);
  ADD ("/ws/limits/burst-error-then-1009", &grace_1s, test_limits_burst_error_then_too_big);
  ADD ("/ws/races/concurrent-renames-converge", &grace_1s, test_races_concurrent_renames);

  ret = g_test_run ();

  g_clear_object (&ws_session);
  g_clear_object (&http);
  g_clear_pointer (&pg, munity_test_pg_free);
  for (guint i = 0; i < N_USERS; i++)
    {
      g_free (users[i].email);
      g_free (users[i].first);
      g_free (users[i].last);
      g_free (users[i].cookie);
    }
  return ret;
}
