/* test-hostile-db.c — the embedded PostgreSQL killed under munityd's feet
 *
 * The hostile-client suite, database part (issue 10, row 6): the embedded
 * postmaster is SIGKILLed while logins run, as an attacker who found a way
 * to crash it (or the kernel's OOM killer) would. munityd must notice, say
 * so on /healthz, restart PostgreSQL with back-off and serve again — with
 * the WebSockets it held all along still open. Loopback only, and every
 * wait is bounded.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "munity-test-daemon.h"

/* How long munityd may take to serve again after its PostgreSQL died: the
 * first restart waits 0.5 s, the database connections retry every ≤ 2 s. */
#define RECOVER_MS   20000
/* How long the outage may take to show on /healthz. */
#define NOTICE_MS    5000
#define PASSWORD     "correct horse battery"

/* Each test has a munityd of its own: the restart back-off grows with
 * every death and starts over only after a minute of uptime. */
static MunityTestDaemon *daemon_;   /* (owned) the current test's */
static guint             serial;

/* ---- helpers ------------------------------------------------------------- */

static char *
unique_email (const char *tag)
{
  return g_strdup_printf ("%s-%d-%u@hostile-db.example", tag, (int) getpid (), ++serial);
}

/* Registers a user on @browser (a session with a cookie jar); returns the id. */
static gint64
register_user (SoupSession *browser,
               const char  *first,
               const char  *email)
{
  g_autofree char *url = munity_test_daemon_url (daemon_, "/api/register");
  g_autofree char *body = munity_test_json_object ("first", first, "last", "Hostile",
                                            "email", email, "password", PASSWORD, NULL);
  g_autoptr(MunityTestResponse) resp = munity_test_http (browser, "POST", url, "application/json",
                                                         body, -1, NULL);
  JsonObject *root;

  if (resp->status != 201)
    g_test_message ("register %s: %u %s", email, resp->status, munity_test_response_text (resp));
  g_assert_cmpuint (resp->status, ==, 201);
  root = munity_test_response_object (resp);
  g_assert_nonnull (root);
  return json_object_get_int_member (json_object_get_object_member (root, "user"), "id");
}

static guint
login_status (SoupSession *browser,
              const char  *email)
{
  g_autofree char *url = munity_test_daemon_url (daemon_, "/api/login");
  g_autofree char *body = munity_test_json_object ("email", email, "password", PASSWORD, NULL);
  g_autoptr(MunityTestResponse) resp = munity_test_http (browser, "POST", url, "application/json",
                                                         body, -1, NULL);

  return resp->status;
}

static guint
healthz (SoupSession *session)
{
  g_autofree char *url = munity_test_daemon_url (daemon_, "/healthz");
  g_autoptr(GError) error = NULL;
  g_autoptr(MunityTestResponse) resp = munity_test_http_full (session, "GET", url, NULL, NULL, 0,
                                                              NULL, &error);

  if (resp == NULL)
    {
      g_test_message ("GET /healthz: %s", error->message);
      return 0;
    }
  if (resp->status == 503)
    {
      JsonObject *o = munity_test_response_object (resp);

      g_assert_nonnull (o);
      g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "degraded");
      g_assert_cmpstr (json_object_get_string_member (o, "database"), ==, "unavailable");
    }
  return resp->status;
}

/* Lets the main loop run for about @ms (the async logins and WebSockets
 * live there). */
static void
spin (guint ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;

  while (g_get_monotonic_time () < end)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (5 * 1000);
    }
}

/* Polls /healthz until it answers @want; returns the milliseconds that took,
 * or -1 after @timeout_ms. */
static gint64
wait_health (SoupSession *session,
             guint        want,
             guint        timeout_ms)
{
  gint64 start = g_get_monotonic_time ();
  guint last = 0;

  while (g_get_monotonic_time () - start < (gint64) timeout_ms * 1000)
    {
      last = healthz (session);
      if (last == want)
        return (g_get_monotonic_time () - start) / 1000;
      spin (50);
    }
  g_test_message ("/healthz still %u after %u ms (wanted %u)", last, timeout_ms, want);
  return -1;
}

/* The postmaster's pid as its pid file says, or 0. */
static GPid
postmaster_pid (void)
{
  g_autofree char *path = g_build_filename (munity_test_daemon_state_dir (daemon_),
                                            "postgresql", "postmaster.pid", NULL);
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return 0;
  return (GPid) g_ascii_strtoll (contents, NULL, 10);
}

/* Alive and not a zombie. */
static gboolean
process_alive (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/cmdline", (int) pid);
  g_autofree char *cmdline = NULL;
  gsize len = 0;

  return pid > 0 && g_file_get_contents (path, &cmdline, &len, NULL) && len > 0;
}

/* Field 4 of /proc/PID/stat. */
static GPid
parent_of (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = NULL;
  const char *after_comm;
  int ppid = 0;

  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return 0;
  after_comm = strrchr (stat, ')');
  if (after_comm == NULL || sscanf (after_comm, ") %*c %d", &ppid) != 1)
    return 0;
  return (GPid) ppid;
}

/* The postmaster's children whose command line contains @needle. */
static GArray *
postmaster_children (GPid        postmaster,
                     const char *needle)
{
  g_autoptr(GArray) all = munity_test_find_processes (needle);
  GArray *children = g_array_new (FALSE, FALSE, sizeof (GPid));

  for (guint i = 0; i < all->len; i++)
    {
      GPid pid = g_array_index (all, GPid, i);
      if (parent_of (pid) == postmaster)
        g_array_append_val (children, pid);
    }
  return children;
}

static GPid
kill_postmaster (void)
{
  GPid pid = postmaster_pid ();

  g_test_message ("SIGKILL to the postmaster, pid %d", (int) pid);
  g_assert_true (process_alive (pid));
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  return pid;
}

/* A PostgreSQL other than @old serves again, and munityd says so. */
static void
assert_recovered (SoupSession *session,
                  GPid         old,
                  guint        timeout_ms)
{
  gint64 ms = wait_health (session, 200, timeout_ms);
  GPid now;

  g_test_message ("/healthz 200 again after %" G_GINT64_FORMAT " ms", ms);
  g_assert_cmpint (ms, >=, 0);
  now = postmaster_pid ();
  g_test_message ("new postmaster pid %d", (int) now);
  g_assert_cmpint (now, !=, old);
  g_assert_true (process_alive (now));
  g_assert_false (process_alive (old));
  g_assert_true (munity_test_daemon_is_running (daemon_));
}

/* ---- logins in the background ---------------------------------------------- */

typedef struct {
  SoupSession *session;     /* (owned) */
  char        *url;         /* (owned) */
  GBytes      *body;        /* (owned) */
  guint        in_flight;
  gboolean     stop;
  GHashTable  *statuses;    /* (owned) status → count; 0 = transport error */
} LoginLoad;

static void login_next (LoginLoad *load);

static void
login_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  LoginLoad *load = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  guint status = body != NULL ? soup_message_get_status (msg) : 0;

  /* The first of each kind is enough to read. */
  if (!g_hash_table_contains (load->statuses, GUINT_TO_POINTER (status)))
    {
      if (body == NULL)
        g_test_message ("login: %s", error->message);
      else
        g_test_message ("login: %u %.*s", status,
                        (int) g_bytes_get_size (body), (const char *) g_bytes_get_data (body, NULL));
    }
  g_hash_table_insert (load->statuses, GUINT_TO_POINTER (status),
                       GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (load->statuses,
                                                                                GUINT_TO_POINTER (status))) + 1));
  load->in_flight--;
  g_object_unref (msg);
  login_next (load);
}

static void
login_next (LoginLoad *load)
{
  SoupMessage *msg;

  if (load->stop)
    return;
  msg = soup_message_new ("POST", load->url);
  soup_message_set_request_body_from_bytes (msg, "application/json", load->body);
  load->in_flight++;
  soup_session_send_and_read_async (load->session, msg, G_PRIORITY_DEFAULT, NULL, login_done_cb, load);
}

static LoginLoad *
login_load_start (const char *email,
                  guint       parallel)
{
  LoginLoad *load = g_new0 (LoginLoad, 1);
  g_autofree char *body = munity_test_json_object ("email", email, "password", PASSWORD, NULL);

  load->session = munity_test_session_new (FALSE);
  load->url = munity_test_daemon_url (daemon_, "/api/login");
  load->body = g_bytes_new (body, strlen (body));
  load->statuses = g_hash_table_new (NULL, NULL);
  for (guint i = 0; i < parallel; i++)
    login_next (load);
  return load;
}

/* Stops the load, waits for what is in flight and checks every answer:
 * 200, or 503 while the database was gone — never a 500, never a dropped
 * connection. */
static void
login_load_finish (LoginLoad *load)
{
  GHashTableIter iter;
  gpointer key, value;
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  guint total = 0;

  load->stop = TRUE;
  while (load->in_flight > 0 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (load->in_flight, ==, 0);

  g_hash_table_iter_init (&iter, load->statuses);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      guint status = GPOINTER_TO_UINT (key);

      g_test_message ("logins answered %u: %u", status, GPOINTER_TO_UINT (value));
      g_assert_true (status == 200 || status == 503);
      total += GPOINTER_TO_UINT (value);
    }
  g_assert_cmpuint (total, >, 0);

  g_object_unref (load->session);
  g_free (load->url);
  g_bytes_unref (load->body);
  g_hash_table_unref (load->statuses);
  g_free (load);
}

/* ---- a WebSocket that lives through the outage ------------------------------- */

typedef struct {
  SoupWebsocketConnection *conn;   /* (owned) (nullable) */
  GPtrArray               *texts;  /* (owned) frames as strings */
  gboolean                 done;   /* handshake finished (either way) */
  gboolean                 closed;
} Ws;

static void
ws_message_cb (SoupWebsocketConnection *conn,
               gint                     type,
               GBytes                  *message,
               gpointer                 user_data)
{
  Ws *ws = user_data;

  g_ptr_array_add (ws->texts, g_strndup (g_bytes_get_data (message, NULL), g_bytes_get_size (message)));
}

static void
ws_closed_cb (SoupWebsocketConnection *conn,
              gpointer                 user_data)
{
  Ws *ws = user_data;

  g_test_message ("WebSocket closed: %u", soup_websocket_connection_get_close_code (conn));
  ws->closed = TRUE;
}

static void
ws_connected_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Ws *ws = user_data;
  g_autoptr(GError) error = NULL;

  ws->conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  ws->done = TRUE;
  g_assert_no_error (error);
  g_signal_connect (ws->conn, "message", G_CALLBACK (ws_message_cb), ws);
  g_signal_connect (ws->conn, "closed", G_CALLBACK (ws_closed_cb), ws);
}

/* Waits (≤ 10 s) until @ws has received a frame containing @needle. */
static gboolean
ws_wait_for (Ws         *ws,
             const char *needle)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < deadline && !ws->closed)
    {
      for (guint i = 0; i < ws->texts->len; i++)
        if (strstr (ws->texts->pdata[i], needle) != NULL)
          return TRUE;
      spin (20);
    }
  return FALSE;
}

static Ws *
ws_open (SoupSession *browser)
{
  Ws *ws = g_new0 (Ws, 1);
  g_autofree char *url = munity_test_daemon_url (daemon_, "/ws");
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  ws->texts = g_ptr_array_new_with_free_func (g_free);
  soup_session_websocket_connect_async (browser, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        ws_connected_cb, ws);
  while (!ws->done && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (ws->done);
  g_assert_true (ws_wait_for (ws, "\"onlineUsers\""));
  return ws;
}

static void
ws_free (Ws *ws)
{
  if (ws->conn != NULL && !ws->closed)
    {
      gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

      soup_websocket_connection_close (ws->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      while (!ws->closed && g_get_monotonic_time () < deadline)
        g_main_context_iteration (NULL, TRUE);
    }
  g_clear_object (&ws->conn);
  g_ptr_array_unref (ws->texts);
  g_free (ws);
}

/* ---- tests ------------------------------------------------------------------ */

/* The attack of row 6: SIGKILL to the postmaster while logins run. */
static void
test_postmaster_sigkill (void)
{
  g_autoptr(SoupSession) probe = munity_test_session_new (FALSE);
  g_autoptr(SoupSession) alice = munity_test_session_new (TRUE);
  g_autoptr(SoupSession) bob = munity_test_session_new (TRUE);
  g_autoptr(SoupSession) carol = munity_test_session_new (TRUE);
  g_autofree char *alice_email = unique_email ("alice");
  g_autofree char *bob_email = unique_email ("bob");
  g_autofree char *carol_email = unique_email ("carol");
  g_autofree char *me_url = munity_test_daemon_url (daemon_, "/api/me");
  g_autofree char *bob_id = NULL;
  LoginLoad *load;
  GPid munityd = munity_test_daemon_pid (daemon_);
  GPid old;
  gint64 ms;
  Ws *ws;

  register_user (alice, "Alice", alice_email);
  bob_id = g_strdup_printf ("\"id\":%" G_GINT64_FORMAT, register_user (bob, "Bob", bob_email));
  ws = ws_open (alice);

  load = login_load_start (alice_email, 2);
  spin (300);
  old = kill_postmaster ();

  /* Down: said at once, and munityd itself stays up. */
  ms = wait_health (probe, 503, NOTICE_MS);
  g_test_message ("/healthz 503 after %" G_GINT64_FORMAT " ms", ms);
  g_assert_cmpint (ms, >=, 0);

  assert_recovered (probe, old, RECOVER_MS);
  spin (300);
  login_load_finish (load);

  /* The same process, its state intact: old sessions, logins, new users. */
  g_assert_cmpint (munity_test_daemon_pid (daemon_), ==, munityd);
  {
    g_autoptr(MunityTestResponse) me = munity_test_http (alice, "GET", me_url, NULL, NULL, 0, NULL);
    g_assert_cmpuint (me->status, ==, 200);
  }
  g_assert_cmpuint (login_status (bob, bob_email), ==, 200);
  register_user (carol, "Carol", carol_email);

  /* The WebSocket opened before the kill was never closed and still gets
   * events. */
  g_assert_false (ws->closed);
  {
    Ws *other = ws_open (bob);

    g_assert_true (ws_wait_for (ws, bob_id));
    ws_free (other);
  }
  ws_free (ws);
}

/* Killed again and again: each death is noticed and each restart works
 * (the back-off grows but stays within seconds). */
static void
test_postmaster_killed_repeatedly (void)
{
  g_autoptr(SoupSession) probe = munity_test_session_new (FALSE);
  g_autoptr(SoupSession) dave = munity_test_session_new (TRUE);
  g_autofree char *email = unique_email ("dave");

  register_user (dave, "Dave", email);
  for (guint round = 0; round < 3; round++)
    {
      GPid old = kill_postmaster ();

      g_assert_cmpint (wait_health (probe, 503, NOTICE_MS), >=, 0);
      assert_recovered (probe, old, RECOVER_MS);
      g_assert_cmpuint (login_status (dave, email), ==, 200);
    }
}

/* The postmaster dies while one of its children cannot exit (stopped), so
 * the children still hold the old server's shared memory: PostgreSQL
 * refuses to start on it. munityd keeps trying, with back-off, and comes
 * back once the leftover process is gone. */
static void
test_postmaster_leftover_child (void)
{
  g_autoptr(SoupSession) probe = munity_test_session_new (FALSE);
  g_autoptr(SoupSession) erin = munity_test_session_new (TRUE);
  g_autofree char *email = unique_email ("erin");
  g_autoptr(GArray) stopped = NULL;
  GPid old = postmaster_pid ();

  register_user (erin, "Erin", email);
  stopped = postmaster_children (old, "checkpointer");
  g_assert_cmpuint (stopped->len, ==, 1);
  g_test_message ("SIGSTOP to the checkpointer, pid %d", (int) g_array_index (stopped, GPid, 0));
  g_assert_cmpint (kill (g_array_index (stopped, GPid, 0), SIGSTOP), ==, 0);

  g_assert_cmpint (kill_postmaster (), ==, old);
  g_assert_cmpint (wait_health (probe, 503, NOTICE_MS), >=, 0);

  /* Several restarts fail meanwhile; munityd stays up and says 503. */
  spin (3000);
  g_assert_cmpuint (healthz (probe), ==, 503);
  g_assert_true (munity_test_daemon_is_running (daemon_));

  g_test_message ("SIGCONT to the checkpointer");
  g_assert_cmpint (kill (g_array_index (stopped, GPid, 0), SIGCONT), ==, 0);
  assert_recovered (probe, old, RECOVER_MS);
  g_assert_cmpuint (login_status (erin, email), ==, 200);
}

/* SIGTERM while a restart is pending: munityd exits cleanly at once and
 * leaves no PostgreSQL behind. */
static void
test_sigterm_while_down (void)
{
  const char *state = munity_test_daemon_state_dir (daemon_);
  guint ms = 0;
  int status;

  kill_postmaster ();
  status = munity_test_daemon_stop (daemon_, &ms);
  g_test_message ("munityd exited with %d after %u ms", status, ms);
  g_assert_cmpint (status, ==, 0);
  g_assert_cmpuint (ms, <, 5000);
  /* What is left of the killed server goes on its own; a restarted one
   * would be stopped by munityd. Give the orphans a moment. */
  for (guint i = 0; i < 100 && munity_test_count_processes (state) > 0; i++)
    g_usleep (50 * 1000);
  g_assert_cmpuint (munity_test_count_processes (state), ==, 0);
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

static void
set_up (gpointer      fixture,
        gconstpointer data)
{
  daemon_ = munity_test_daemon_start (NULL);
}

static void
tear_down (gpointer      fixture,
           gconstpointer data)
{
  g_clear_pointer (&daemon_, munity_test_daemon_free);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  previous_log_handler = g_log_set_default_handler (quiet_log_handler, NULL);

#define ADD(path, func) g_test_add_vtable (path, 0, NULL, set_up, (GTestFixtureFunc) func, tear_down)
  ADD ("/hostile/db/postmaster-sigkill-restarts", test_postmaster_sigkill);
  ADD ("/hostile/db/postmaster-leftover-child", test_postmaster_leftover_child);
  ADD ("/hostile/db/postmaster-killed-repeatedly", test_postmaster_killed_repeatedly);
  ADD ("/hostile/db/sigterm-while-down", test_sigterm_while_down);
#undef ADD

  return g_test_run ();
}
