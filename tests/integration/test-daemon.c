/* test-daemon.c — munityd as a process: options, lifecycle, database outages
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "munity-test-daemon.h"
#include "munity-test-pg.h"

static MunityTestPg *pg;  /* (owned) shared by the tests that need a server */
static guint         serial;

/* ---- helpers ---------------------------------------------------------------- */

static char *
unique_name (const char *tag)
{
  return g_strdup_printf ("%s_%d_%u", tag, (int) getpid (), ++serial);
}

static char *
unique_email (const char *tag)
{
  return g_strdup_printf ("%s-%d-%u@example.org", tag, (int) getpid (), ++serial);
}

/* A fresh database in the shared cluster; returns its conninfo. */
static char *
own_database (const char *tag)
{
  g_autofree char *name = unique_name (tag);
  g_autofree char *sql = g_strdup_printf ("CREATE DATABASE %s", name);

  g_free (munity_test_sql_value (munity_test_pg_conninfo (pg), sql));
  return g_strdup_printf ("%s dbname=%s", munity_test_pg_conninfo (pg), name);
}

static char *
json_login (const char *email,
            const char *password)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "email");
  json_builder_add_string_value (b, email);
  json_builder_set_member_name (b, "password");
  json_builder_add_string_value (b, password);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static char *
json_register (const char *first,
               const char *last,
               const char *email,
               const char *password)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "first");
  json_builder_add_string_value (b, first);
  json_builder_set_member_name (b, "last");
  json_builder_add_string_value (b, last);
  json_builder_set_member_name (b, "email");
  json_builder_add_string_value (b, email);
  json_builder_set_member_name (b, "password");
  json_builder_add_string_value (b, password);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static MunityTestResponse *
request (MunityTestDaemon *d,
         SoupSession      *session,
         const char       *method,
         const char       *path,
         const char       *json)
{
  g_autofree char *url = munity_test_daemon_url (d, path);

  return munity_test_http (session, method, url, json != NULL ? "application/json" : NULL,
                           json, -1, NULL);
}

static void
assert_status (MunityTestResponse *resp,
               guint               status)
{
  if (resp->status != status)
    g_test_message ("expected %u, got %u: %s", status, resp->status,
                    munity_test_response_text (resp));
  g_assert_cmpuint (resp->status, ==, status);
}

static const char *
member_string (JsonObject *o,
               const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  g_assert_nonnull (n);
  g_assert_cmpuint (json_node_get_value_type (n), ==, G_TYPE_STRING);
  return json_node_get_string (n);
}

static JsonObject *
user_of (MunityTestResponse *resp)
{
  JsonObject *root = munity_test_response_object (resp);
  JsonNode *user;

  g_assert_nonnull (root);
  user = json_object_get_member (root, "user");
  g_assert_nonnull (user);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (user));
  return json_node_get_object (user);
}

static gint64
register_user (MunityTestDaemon *d,
               SoupSession      *browser,
               const char       *first,
               const char       *last,
               const char       *email,
               const char       *password)
{
  g_autofree char *body = json_register (first, last, email, password);
  g_autoptr(MunityTestResponse) resp = request (d, browser, "POST", "/api/register", body);
  JsonNode *id;

  assert_status (resp, 201);
  id = json_object_get_member (user_of (resp), "id");
  g_assert_nonnull (id);
  return json_node_get_int (id);
}

static void
stop_ok (MunityTestDaemon *d)
{
  guint ms = 0;
  int status = munity_test_daemon_stop (d, &ms);

  g_test_message ("munityd exited with %d after %u ms", status, ms);
  g_assert_cmpint (status, ==, 0);
}

static guint
count_lines (const char *s)
{
  guint n = 0;

  for (; *s != '\0'; s++)
    if (*s == '\n')
      n++;
  return n;
}

/* Exactly one non-empty line. */
static void
assert_one_line (const char *err)
{
  g_test_message ("stderr: %s", err);
  g_assert_cmpuint (count_lines (err), ==, 1);
  g_assert_true (g_str_has_suffix (err, "\n"));
  g_assert_cmpuint (strlen (err), >, 1);
}

/* ---- /daemon/options --------------------------------------------------------- */

static void
test_options_version (void)
{
  const char *args[] = { "--version", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = munity_test_munityd_run (args, 20, &out, &err);

  g_test_message ("stdout: %s", out);
  g_assert_cmpint (status, ==, 0);
  g_assert_true (g_regex_match_simple ("\\Amunityd [0-9]+\\.[0-9]+(\\.[0-9]+)?[^\\s]*\\n\\z",
                                       out, 0, 0));
}

static void
test_options_help (void)
{
  const char *args[] = { "--help", NULL };
  const char *options[] = { "--config", "--listen", "--database", "--state-dir", "--bus",
                            "--leave-grace-ms", "--replace", "--version", "--node-name",
                            "--reuse-port" };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = munity_test_munityd_run (args, 20, &out, &err);

  g_assert_cmpint (status, ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (options); i++)
    {
      g_test_message ("--help mentions %s", options[i]);
      g_assert_nonnull (strstr (out, options[i]));
    }
}

/* Runs munityd with @args plus harmless defaults for what @args do not
 * name, so that a munityd that wrongly accepts @args starts somewhere
 * harmless (and is killed after the timeout). */
static int
run_with_defaults (const char * const *args,
                   const char         *config_text,
                   char              **out_err)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *state = g_dir_make_tmp ("munity-state-XXXXXX", NULL);
  g_autofree char *listen = g_strdup_printf ("127.0.0.1:%u", munity_test_free_port ("127.0.0.1"));
  g_autofree char *conninfo = own_database ("opts");
  g_autofree char *out = NULL;
  gboolean has_listen = FALSE, has_bus = FALSE;
  int status;

  for (guint i = 0; args[i] != NULL; i++)
    {
      g_ptr_array_add (argv, (gpointer) args[i]);
      has_listen |= g_str_has_prefix (args[i], "--listen");
      has_bus |= g_str_has_prefix (args[i], "--bus");
    }
  if (config_text != NULL)
    {
      has_listen |= strstr (config_text, "listen") != NULL;
      has_bus |= strstr (config_text, "bus") != NULL;
    }
  if (!has_listen)
    {
      g_ptr_array_add (argv, "--listen");
      g_ptr_array_add (argv, listen);
    }
  if (!has_bus)
    {
      g_ptr_array_add (argv, "--bus");
      g_ptr_array_add (argv, "none");
    }
  g_ptr_array_add (argv, "--state-dir");
  g_ptr_array_add (argv, state);
  g_ptr_array_add (argv, "--database");
  g_ptr_array_add (argv, conninfo);
  g_ptr_array_add (argv, NULL);

  status = munity_test_munityd_run ((const char * const *) argv->pdata, 20, &out, out_err);
  g_test_message ("exit status %d", status);
  munity_test_rm_rf (state);
  return status;
}

static void
test_options_bad (void)
{
  const char *cases[][3] = {
    { "--no-such-option", NULL, NULL },
    { "--listen", "nonsense", NULL },
    { "--listen", "127.0.0.1:99999", NULL },
    { "--listen", "[::1:8080", NULL },
    { "--leave-grace-ms", "-5", NULL },
    { "--leave-grace-ms", "soon", NULL },
    { "--bus", "bogus", NULL },
    { "--config", "/nonexistent/munityd.conf", NULL },
    { "--node-name", "", NULL },
    { "--node-name", "two\nlines", NULL },
    { "--node-name", "bell\a", NULL },
    { "--node-name", "a-name-that-is-much-longer-than-sixty-four-bytes-and-so-is-refused", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *err = NULL;
      int status;

      g_test_message ("munityd %s %s", cases[i][0], cases[i][1] != NULL ? cases[i][1] : "");
      status = run_with_defaults (cases[i], NULL, &err);
      assert_one_line (err);
      g_assert_cmpint (status, ==, 2);
    }
}

static void
test_options_bad_config (void)
{
  const char *configs[] = {
    "[munityd]\nleave-grace-ms=-5\n",
    "[munityd]\nleave-grace-ms=soon\n",
    "[munityd]\nbus=bogus\n",
    "[munityd]\nlisten=nonsense\n",
    "[munityd]\ncookie-secure=maybe\n",
    "[munityd]\nnode-name=\n",
    "[munityd]\nreuse-port=maybe\n",
    "this is not a key file\n",
  };
  g_autofree char *dir = g_dir_make_tmp ("munity-conf-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "munityd.conf", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (configs); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *err = NULL;
      const char *args[] = { "--config", path, NULL };
      int status;

      g_test_message ("config: %s", configs[i]);
      g_file_set_contents (path, configs[i], -1, &error);
      g_assert_no_error (error);
      status = run_with_defaults (args, configs[i], &err);
      assert_one_line (err);
      g_assert_cmpint (status, ==, 2);
    }
  munity_test_rm_rf (dir);
}

static void
test_options_state_dir (void)
{
  g_autofree char *base = g_dir_make_tmp ("munity-base-XXXXXX", NULL);
  g_autofree char *state = g_build_filename (base, "state", NULL);
  g_autofree char *conninfo = own_database ("statedir");
  const char *args[] = { "--state-dir", state, "--database", conninfo, NULL };
  g_autoptr(MunityTestDaemon) d = NULL;
  struct stat st;

  g_assert_false (g_file_test (state, G_FILE_TEST_EXISTS));
  d = munity_test_daemon_start (args);
  g_assert_cmpint (stat (state, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_test_message ("mode %o", (unsigned) (st.st_mode & 07777));
  g_assert_cmpuint (st.st_mode & 07777, ==, 0700);
  stop_ok (d);
  munity_test_rm_rf (base);
}

static void
test_options_ipv6 (void)
{
  guint16 port = munity_test_free_port ("::1");
  g_autofree char *listen = NULL;
  g_autofree char *conninfo = NULL;
  g_autoptr(MunityTestDaemon) d = NULL;
  g_autoptr(SoupSession) session = munity_test_session_new (FALSE);
  g_autoptr(MunityTestResponse) resp = NULL;

  if (port == 0)
    {
      g_test_skip ("this machine has no IPv6 loopback");
      return;
    }
  listen = g_strdup_printf ("[::1]:%u", port);
  conninfo = own_database ("ipv6");
  {
    const char *args[] = { "--listen", listen, "--database", conninfo, NULL };
    d = munity_test_daemon_start (args);
  }
  {
    g_autofree char *expected = g_strdup_printf ("http://[::1]:%u", port);
    g_assert_cmpstr (munity_test_daemon_base_url (d), ==, expected);
  }
  resp = request (d, session, "GET", "/healthz", NULL);
  assert_status (resp, 200);
  stop_ok (d);
}

static void
test_options_command_line_wins (void)
{
  g_autofree char *dir = g_dir_make_tmp ("munity-conf-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "munityd.conf", NULL);
  guint16 config_port = munity_test_free_port ("127.0.0.1");
  guint16 cli_port = munity_test_free_port ("127.0.0.1");
  g_autofree char *config = g_strdup_printf ("[munityd]\nlisten=127.0.0.1:%u\n", config_port);
  g_autofree char *listen = g_strdup_printf ("127.0.0.1:%u", cli_port);
  g_autofree char *conninfo = own_database ("cliwins");
  g_autofree char *config_url = g_strdup_printf ("http://127.0.0.1:%u/healthz", config_port);
  g_autoptr(MunityTestDaemon) d = NULL;
  g_autoptr(SoupSession) session = munity_test_session_new (FALSE);
  g_autoptr(MunityTestResponse) resp = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (config_port, !=, cli_port);
  g_file_set_contents (path, config, -1, &error);
  g_assert_no_error (error);
  {
    const char *args[] = { "--config", path, "--listen", listen, "--database", conninfo, NULL };
    d = munity_test_daemon_start (args);
  }
  /* Served on the command line's port (start waited for it), not the file's. */
  resp = munity_test_http_full (session, "GET", config_url, NULL, NULL, 0, NULL, &error);
  g_assert_null (resp);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  stop_ok (d);
  munity_test_rm_rf (dir);
}

/* ---- schema ------------------------------------------------------------------ */

static int
compare_uint (gconstpointer a,
              gconstpointer b)
{
  guint x = *(const guint *) a, y = *(const guint *) b;

  return x < y ? -1 : x > y;
}

/* "1,2,…": the versions of the migrations in the source tree's sql/. */
static char *
expected_versions (void)
{
  const char *root = g_getenv ("MUNITY_SOURCE_ROOT");
  g_autofree char *sql_dir = g_build_filename (root != NULL ? root : ".", "sql", NULL);
  g_autoptr(GDir) dir = g_dir_open (sql_dir, 0, NULL);
  g_autoptr(GArray) versions = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr(GString) out = g_string_new (NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      guint64 version;
      g_autofree char *number = NULL;

      if (!g_str_has_suffix (name, ".sql") || strchr (name, '-') == NULL)
        continue;
      number = g_strndup (name, strchr (name, '-') - name);
      if (g_ascii_string_to_unsigned (number, 10, 1, G_MAXUINT, &version, NULL))
        {
          guint v = (guint) version;
          g_array_append_val (versions, v);
        }
    }
  g_array_sort (versions, compare_uint);
  for (guint i = 0; i < versions->len; i++)
    g_string_append_printf (out, "%s%u", i > 0 ? "," : "", g_array_index (versions, guint, i));

  /* The two this suite was written against are there. */
  g_assert_true (g_str_has_prefix (out->str, "1,2"));
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
test_schema_migrations (void)
{
  g_autofree char *conninfo = own_database ("migrations");
  const char *args[] = { "--database", conninfo, NULL };
  const char *sql = "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations";
  g_autofree char *expected = expected_versions ();

  for (guint round = 0; round < 2; round++)
    {
      g_autoptr(MunityTestDaemon) d = munity_test_daemon_start (args);
      g_autofree char *versions = munity_test_sql_value (conninfo, sql);

      g_test_message ("round %u: schema_migrations has %s", round, versions);
      g_assert_cmpstr (versions, ==, expected);
      stop_ok (d);
    }
}

static void
test_schema_too_new (void)
{
  g_autofree char *conninfo = own_database ("toonew");
  g_autofree char *state = g_dir_make_tmp ("munity-state-XXXXXX", NULL);
  g_autofree char *listen = g_strdup_printf ("127.0.0.1:%u", munity_test_free_port ("127.0.0.1"));
  g_autofree char *err = NULL;
  g_autofree char *err_lower = NULL;
  g_autofree char *versions = NULL;
  const char *sql = "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations";
  int status;

  {
    const char *args[] = { "--database", conninfo, NULL };
    g_autoptr(MunityTestDaemon) d = munity_test_daemon_start (args);
    stop_ok (d);
  }
  /* The table is munityd's; fill any other required column it has. */
  {
    g_autofree char *has_name = munity_test_sql_value (conninfo,
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = 'schema_migrations' AND column_name = 'name'");

    g_free (munity_test_sql_value (conninfo,
                                   g_strcmp0 (has_name, "1") == 0
                                   ? "INSERT INTO schema_migrations (version, name) VALUES (9999, 'from-the-future')"
                                   : "INSERT INTO schema_migrations (version) VALUES (9999)"));
  }

  {
    const char *args[] = { "--database", conninfo, "--bus", "none", "--state-dir", state,
                           "--listen", listen, NULL };
    status = munity_test_munityd_run (args, 30, NULL, &err);
  }
  g_test_message ("exit status %d, stderr: %s", status, err);
  g_assert_cmpint (status, >, 0);
  g_assert_cmpint (status, <, 128);
  err_lower = g_utf8_strdown (err, -1);
  g_assert_nonnull (strstr (err_lower, "schema"));

  /* Refused, not "repaired". */
  versions = munity_test_sql_value (conninfo, sql);
  {
    g_autofree char *known = expected_versions ();
    g_autofree char *expected = g_strconcat (known, ",9999", NULL);
    g_assert_cmpstr (versions, ==, expected);
  }
  munity_test_rm_rf (state);
}

/* ---- /daemon/healthz-while-hashing ------------------------------------------- */

typedef struct {
  MunityTestDaemon *d;
  SoupSession      *probe_session;
  guint             logins_pending;
  guint             logins_ok;
  guint             samples;
  guint             samples_during;
  double            max_ms;
  gint64            probe_start;
  gboolean          probe_in_flight;
  gboolean          timed_out;
} Hashing;

static void probe_healthz (Hashing *h);

static void
login_done (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Hashing *h = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  g_assert_no_error (error);
  if (soup_message_get_status (msg) == SOUP_STATUS_OK)
    h->logins_ok++;
  else
    g_test_message ("login answered %u", soup_message_get_status (msg));
  h->logins_pending--;
}

static void
probe_done (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Hashing *h = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  double ms;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  g_assert_no_error (error);
  ms = (g_get_monotonic_time () - h->probe_start) / 1000.0;
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  h->probe_in_flight = FALSE;
  h->samples++;
  if (h->logins_pending > 0)
    {
      h->samples_during++;
      h->max_ms = MAX (h->max_ms, ms);
      probe_healthz (h);
    }
}

static void
probe_healthz (Hashing *h)
{
  g_autofree char *url = munity_test_daemon_url (h->d, "/healthz");
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);

  h->probe_in_flight = TRUE;
  h->probe_start = g_get_monotonic_time ();
  soup_session_send_and_read_async (h->probe_session, msg, G_PRIORITY_DEFAULT, NULL,
                                    probe_done, h);
}

static gboolean
first_probe_cb (gpointer user_data)
{
  probe_healthz (user_data);
  return G_SOURCE_REMOVE;
}

static gboolean
timed_out_cb (gpointer user_data)
{
  Hashing *h = user_data;

  h->timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_healthz_while_hashing (void)
{
  g_autofree char *conninfo = own_database ("hashing");
  const char *args[] = { "--database", conninfo, NULL };
  g_autoptr(MunityTestDaemon) d = munity_test_daemon_start (args);
  g_autoptr(SoupSession) logins = munity_test_session_new (FALSE);
  g_autoptr(SoupSession) probes = munity_test_session_new (FALSE);
  g_autofree char *email = unique_email ("hash");
  g_autofree char *body = json_login (email, "many hashes please");
  g_autofree char *login_url = munity_test_daemon_url (d, "/api/login");
  Hashing h = { .d = d, .probe_session = probes };
  guint timeout_id;

  register_user (d, logins, "Hash", "Er", email, "many hashes please");

  h.logins_pending = 20;
  for (guint i = 0; i < 20; i++)
    {
      g_autoptr(SoupMessage) msg = soup_message_new ("POST", login_url);
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));

      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
      soup_session_send_and_read_async (logins, msg, G_PRIORITY_DEFAULT, NULL, login_done, &h);
    }
  g_timeout_add (20, first_probe_cb, &h);
  timeout_id = g_timeout_add_seconds (120, timed_out_cb, &h);

  while ((h.logins_pending > 0 || h.probe_in_flight) && !h.timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (h.timed_out);
  g_source_remove (timeout_id);

  g_test_message ("%u /healthz answers while hashing (%u in all), slowest %.1f ms",
                  h.samples_during, h.samples, h.max_ms);
  g_assert_cmpuint (h.logins_ok, ==, 20);
  g_assert_cmpuint (h.samples_during, >=, 1);
  g_assert_cmpfloat (h.max_ms, <, 500.0);

  stop_ok (d);
}

/* ---- /daemon/database-down ----------------------------------------------------- */

static void
check_health_body (MunityTestResponse *resp,
                   const char         *status,
                   const char         *database)
{
  JsonObject *root = munity_test_response_object (resp);

  g_assert_cmpstr (munity_test_response_content_type (resp), ==, "application/json");
  g_assert_nonnull (root);
  g_assert_cmpstr (member_string (root, "status"), ==, status);
  g_assert_cmpstr (member_string (root, "database"), ==, database);
}

static void
test_database_down (void)
{
  g_autoptr(MunityTestPg) own_pg = munity_test_pg_start ();
  const char *args[] = { "--database", munity_test_pg_conninfo (own_pg), NULL };
  g_autoptr(MunityTestDaemon) d = munity_test_daemon_start (args);
  g_autoptr(SoupSession) browser = munity_test_session_new (TRUE);
  g_autoptr(SoupSession) anonymous = munity_test_session_new (FALSE);
  g_autofree char *email = unique_email ("down");
  g_autoptr(MunityTestResponse) me = NULL;
  g_autoptr(MunityTestResponse) login = NULL;
  g_autoptr(MunityTestResponse) metrics = NULL;
  g_autoptr(MunityTestResponse) health = NULL;
  g_autoptr(MunityTestResponse) back = NULL;
  gint64 stopped, restarted;
  double waited_ms;

  register_user (d, browser, "Down", "Time", email, "password123");

  munity_test_pg_stop_server (own_pg);
  stopped = g_get_monotonic_time ();

  /* /healthz says so within a second, and answers quickly while at it. */
  for (;;)
    {
      g_autoptr(MunityTestResponse) resp = request (d, anonymous, "GET", "/healthz", NULL);

      g_assert_cmpfloat (resp->elapsed_ms, <, 1000.0);
      g_assert_true (resp->status == 200 || resp->status == 503);
      if (resp->status == 503)
        {
          health = g_steal_pointer (&resp);
          break;
        }
      g_assert_cmpint (g_get_monotonic_time () - stopped, <, G_USEC_PER_SEC);
      g_usleep (50 * 1000);
    }
  waited_ms = (g_get_monotonic_time () - stopped) / 1000.0;
  g_test_message ("/healthz 503 %.0f ms after the server stopped", waited_ms);
  check_health_body (health, "degraded", "unavailable");

  me = request (d, browser, "GET", "/api/me", NULL);
  g_test_message ("GET /api/me: %u in %.0f ms: %s", me->status, me->elapsed_ms,
                  munity_test_response_text (me));
  assert_status (me, 503);
  g_assert_cmpstr (munity_test_response_error_code (me), ==, "database-unavailable");
  g_assert_cmpfloat (me->elapsed_ms, <, 1000.0);

  /* Not "bad-credentials": nobody could check. */
  {
    g_autofree char *body = json_login (email, "password123");
    login = request (d, anonymous, "POST", "/api/login", body);
  }
  assert_status (login, 503);
  g_assert_cmpstr (munity_test_response_error_code (login), ==, "database-unavailable");

  metrics = request (d, anonymous, "GET", "/metrics", NULL);
  assert_status (metrics, 200);
  g_assert_true (g_regex_match_simple ("^munity_database_up 0$", munity_test_response_text (metrics),
                                       G_REGEX_MULTILINE, 0));

  /* Back by itself within 10 s of the server's return. */
  munity_test_pg_restart_server (own_pg);
  restarted = g_get_monotonic_time ();
  for (;;)
    {
      g_autoptr(MunityTestResponse) resp = request (d, anonymous, "GET", "/healthz", NULL);

      if (resp->status == 200)
        {
          check_health_body (resp, "ok", "ok");
          break;
        }
      g_assert_cmpint (g_get_monotonic_time () - restarted, <, 10 * G_USEC_PER_SEC);
      g_usleep (100 * 1000);
    }
  g_test_message ("/healthz 200 again %.0f ms after the server restarted",
                  (g_get_monotonic_time () - restarted) / 1000.0);

  back = request (d, browser, "GET", "/api/me", NULL);
  assert_status (back, 200);

  stop_ok (d);
}

/* ---- embedded mode --------------------------------------------------------------- */

/* The pid in the first postmaster.pid found under @dir, or 0. */
static GPid
find_postmaster_pid (const char *dir,
                     guint       depth)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  g_autofree char *pidfile = g_build_filename (dir, "postmaster.pid", NULL);
  g_autofree char *contents = NULL;
  const char *name;

  if (g_file_get_contents (pidfile, &contents, NULL, NULL))
    return (GPid) g_ascii_strtoll (contents, NULL, 10);
  if (d == NULL || depth == 0)
    return 0;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *sub = g_build_filename (dir, name, NULL);
      GPid pid;

      if (!g_file_test (sub, G_FILE_TEST_IS_DIR) || g_file_test (sub, G_FILE_TEST_IS_SYMLINK))
        continue;
      pid = find_postmaster_pid (sub, depth - 1);
      if (pid > 0)
        return pid;
    }
  return 0;
}

static gboolean
process_alive (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/cmdline", (int) pid);
  g_autofree char *cmdline = NULL;
  gsize len = 0;

  /* A zombie has an empty command line; it is gone for our purposes. */
  return g_file_get_contents (path, &cmdline, &len, NULL) && len > 0;
}

static void
test_sigterm (void)
{
  g_autoptr(MunityTestDaemon) d = munity_test_daemon_start (NULL);
  g_autoptr(SoupSession) browser = munity_test_session_new (TRUE);
  g_autofree char *email = unique_email ("term");
  const char *state = munity_test_daemon_state_dir (d);
  g_autoptr(GArray) before = NULL;
  GPid postmaster;
  guint ms = 0;
  int status;
  guint others = 0;

  register_user (d, browser, "Signal", "Fifteen", email, "password123");

  postmaster = find_postmaster_pid (state, 3);
  g_test_message ("embedded postmaster pid %d", (int) postmaster);
  g_assert_cmpint (postmaster, >, 0);
  g_assert_true (process_alive (postmaster));
  before = munity_test_find_processes (state);
  for (guint i = 0; i < before->len; i++)
    if (g_array_index (before, GPid, i) != munity_test_daemon_pid (d))
      others++;
  g_test_message ("%u processes besides munityd name %s", others, state);

  status = munity_test_daemon_stop (d, &ms);
  g_test_message ("exit status %d after %u ms", status, ms);
  g_assert_cmpint (status, ==, 0);
  g_assert_cmpuint (ms, <, 5000);

  g_assert_cmpuint (munity_test_count_processes (state), ==, 0);
  g_assert_false (process_alive (postmaster));
}

/* A second munityd on the state directory of one that runs the embedded
 * PostgreSQL refuses to start, saying why, and the first one is not
 * disturbed. */
static void
test_embedded_taken (void)
{
  g_autoptr(MunityTestDaemon) d = munity_test_daemon_start (NULL);
  g_autofree char *listen = g_strdup_printf ("127.0.0.1:%u", munity_test_free_port ("127.0.0.1"));
  const char *args[] = { "--state-dir", munity_test_daemon_state_dir (d), "--listen", listen,
                         "--bus", "none", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *health = munity_test_daemon_url (d, "/healthz");
  g_autoptr(SoupSession) session = munity_test_session_new (FALSE);
  g_autoptr(MunityTestResponse) resp = NULL;
  int status;

  status = munity_test_munityd_run (args, 60, &out, &err);
  g_test_message ("second munityd: status %d, stderr: %s", status, err);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "Another munityd runs the embedded PostgreSQL"));
  g_assert_nonnull (strstr (err, "--database"));

  resp = munity_test_http (session, "GET", health, NULL, NULL, 0, NULL);
  g_assert_cmpuint (resp->status, ==, 200);
  g_assert_cmpint (munity_test_daemon_stop (d, NULL), ==, 0);
}

static guint
count_fds (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/fd", (int) pid);
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* One request on a fresh connection that the client closes as soon as it
 * has the answer, as curl does. */
static void
request_and_hang_up (guint16     port,
                     const char *request)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, NULL);
  GOutputStream *out;
  GInputStream *in;
  char buffer[4096];
  gssize n;

  g_assert_nonnull (conn);
  out = g_io_stream_get_output_stream (G_IO_STREAM (conn));
  in = g_io_stream_get_input_stream (G_IO_STREAM (conn));
  g_assert_true (g_output_stream_write_all (out, request, strlen (request), NULL, NULL, NULL));
  n = g_input_stream_read (in, buffer, sizeof buffer - 1, NULL, NULL);
  g_assert_cmpint (n, >, 12);
  buffer[n] = '\0';
  g_assert_true (g_str_has_prefix (buffer, "HTTP/1.1 "));
  g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
}

/* Clients that hang up must not leave their connections (and descriptors)
 * behind: 200 requests of every kind, then as many descriptors as before. */
static void
test_no_descriptor_leak (void)
{
  g_autoptr(MunityTestDaemon) d = munity_test_daemon_start (NULL);
  guint16 port = munity_test_daemon_port (d);
  GPid pid = munity_test_daemon_pid (d);
  const char *requests[] = {
    "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "GET /api/nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "GET /online HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}",
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n\r\n",
  };
  guint before, after = 0;

  /* settle: the database pool connects in the background */
  g_usleep (500 * 1000);
  before = count_fds (pid);
  for (guint round = 0; round < 25; round++)
    for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
      request_and_hang_up (port, requests[i]);

  for (int wait = 0; wait < 50; wait++)
    {
      after = count_fds (pid);
      if (after <= before + 2)
        break;
      g_usleep (100 * 1000);
    }
  g_test_message ("munityd had %u descriptors before 200 requests, %u after", before, after);
  g_assert_cmpuint (after, <=, before + 2);
}

static void
test_restart_keeps_data (void)
{
  g_autofree char *base = g_dir_make_tmp ("munity-restart-XXXXXX", NULL);
  g_autofree char *state = g_build_filename (base, "state", NULL);
  const char *args[] = { "--state-dir", state, NULL };
  g_autofree char *email = unique_email ("restart");
  g_autofree char *body = json_login (email, "remember me please");
  gint64 id;
  struct stat st;

  /* Like /var/lib: the embedded PostgreSQL runs as another user (when we are
   * root) and must be able to reach the state directory inside. */
  g_assert_cmpint (chmod (base, 0755), ==, 0);

  {
    g_autoptr(MunityTestDaemon) d = munity_test_daemon_start (args);
    g_autoptr(SoupSession) browser = munity_test_session_new (TRUE);

    g_assert_cmpint (stat (state, &st), ==, 0);
    g_assert_cmpuint (st.st_mode & 07777, ==, 0700);
    id = register_user (d, browser, "Persistent", "Data", email, "remember me please");
    stop_ok (d);
  }
  g_assert_cmpuint (munity_test_count_processes (state), ==, 0);

  {
    g_autoptr(MunityTestDaemon) d = munity_test_daemon_start (args);
    g_autoptr(SoupSession) browser = munity_test_session_new (TRUE);
    g_autoptr(MunityTestResponse) resp = request (d, browser, "POST", "/api/login", body);
    JsonObject *user;
    JsonNode *id_node;

    assert_status (resp, 200);
    user = user_of (resp);
    id_node = json_object_get_member (user, "id");
    g_assert_nonnull (id_node);
    g_assert_cmpint (json_node_get_int (id_node), ==, id);
    g_assert_cmpstr (member_string (user, "first"), ==, "Persistent");
    g_assert_cmpstr (member_string (user, "last"), ==, "Data");
    stop_ok (d);
  }
  g_assert_cmpuint (munity_test_count_processes (state), ==, 0);

  munity_test_rm_rf (base);
}

/* ---- /daemon/reuse-port, /daemon/node-name ---------------------------------- */

/* The "node" of one GET /healthz over a fresh connection (so that
 * SO_REUSEPORT picks a listener anew), or NULL if nobody answered 200. */
static char *
healthz_node_fresh (guint16 port)
{
  const char *headers[] = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(MunityTestResponse) resp = munity_test_http_from ("127.0.0.1", "127.0.0.1", port, "GET",
                                                              "/healthz", NULL, NULL, headers, &error);
  JsonObject *body;

  if (resp == NULL)
    {
      g_test_message ("GET /healthz: %s", error->message);
      return NULL;
    }
  body = munity_test_response_object (resp);
  if (resp->status != 200 || body == NULL || !json_object_has_member (body, "node"))
    return NULL;
  return g_strdup (json_object_get_string_member (body, "node"));
}

#define REUSE_PROBES 64

/* Two munityd with --reuse-port on one port both start and both answer
 * (the kernel spreads fresh connections over them); when one stops, the
 * other answers everything. Without --reuse-port a third cannot listen
 * there and exits with a line that says why; nor can a munityd with
 * --reuse-port join a port held without it. */
static void
test_reuse_port (void)
{
  guint16 port = munity_test_free_port ("127.0.0.1");
  g_autofree char *listen = g_strdup_printf ("127.0.0.1:%u", port);
  g_autofree char *conninfo = own_database ("reuseport");
  const char *args_a[] = { "--listen", listen, "--reuse-port", "--node-name", "reuse-a",
                           "--database", conninfo, NULL };
  const char *args_b[] = { "--listen", listen, "--reuse-port", "--node-name", "reuse-b",
                           "--database", conninfo, NULL };
  g_autoptr(MunityTestDaemon) a = NULL;
  g_autoptr(MunityTestDaemon) b = NULL;
  guint on_a = 0, on_b = 0;

  a = munity_test_daemon_start (args_a);
  b = munity_test_daemon_start (args_b);
  g_assert_true (munity_test_daemon_is_running (a));

  /* b's start is over once the port answers, which a already does: wait
   * (bounded) until b answers one, which shows it listens too. */
  for (gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
       g_get_monotonic_time () < deadline;)
    {
      g_autofree char *node = healthz_node_fresh (port);

      if (node != NULL && g_str_equal (node, "reuse-b"))
        break;
      g_usleep (20000);
    }

  for (guint i = 0; i < REUSE_PROBES; i++)
    {
      g_autofree char *node = healthz_node_fresh (port);

      g_assert_nonnull (node);
      if (g_str_equal (node, "reuse-a"))
        on_a++;
      else if (g_str_equal (node, "reuse-b"))
        on_b++;
      else
        g_error ("/healthz answered by node “%s”", node);
    }
  g_test_message ("%u connections: %u on reuse-a (pid %d), %u on reuse-b (pid %d)", REUSE_PROBES,
                  on_a, (int) munity_test_daemon_pid (a), on_b, (int) munity_test_daemon_pid (b));
  g_assert_cmpuint (on_a, >, 0);
  g_assert_cmpuint (on_b, >, 0);

  {
    const char *args_c[] = { "--listen", listen, "--node-name", "reuse-c", NULL };
    g_autofree char *err = NULL;
    int status = run_with_defaults (args_c, NULL, &err);

    g_test_message ("without --reuse-port: %s", err);
    g_assert_cmpint (status, ==, 1);
    g_assert_nonnull (strstr (err, listen));
    g_assert_nonnull (strstr (err, "--reuse-port"));
  }

  stop_ok (a);
  for (guint i = 0; i < REUSE_PROBES / 4; i++)
    {
      g_autofree char *node = healthz_node_fresh (port);
      g_assert_cmpstr (node, ==, "reuse-b");
    }
  stop_ok (b);

  /* A port held without SO_REUSEPORT is not shared. */
  {
    g_autoptr(GSocket) holder = NULL;
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
    g_autoptr(GError) error = NULL;
    const char *args_d[] = { "--listen", listen, "--reuse-port", NULL };
    g_autofree char *err = NULL;
    int status;

    holder = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
    g_assert_no_error (error);
    g_assert_true (g_socket_bind (holder, address, TRUE, &error));
    g_assert_true (g_socket_listen (holder, &error));
    status = run_with_defaults (args_d, NULL, &err);
    g_test_message ("--reuse-port on a port held without it: %s", err);
    g_assert_cmpint (status, ==, 1);
    g_assert_nonnull (strstr (err, "--reuse-port"));
  }
}

/* /healthz names the node: the given name, else the host name and the
 * first listening port. */
static void
test_node_name (void)
{
  g_autofree char *conninfo = own_database ("nodename");
  const char *named_args[] = { "--node-name", "nœud 1 — salle B", "--database", conninfo, NULL };
  const char *default_args[] = { "--database", conninfo, NULL };

  {
    g_autoptr(MunityTestDaemon) d = munity_test_daemon_start (named_args);
    g_autofree char *node = healthz_node_fresh (munity_test_daemon_port (d));

    g_assert_cmpstr (node, ==, "nœud 1 — salle B");
    stop_ok (d);
  }
  {
    g_autoptr(MunityTestDaemon) d = munity_test_daemon_start (default_args);
    g_autofree char *node = healthz_node_fresh (munity_test_daemon_port (d));
    g_autofree char *expected = g_strdup_printf ("%s:%u", g_get_host_name (), munity_test_daemon_port (d));

    g_assert_cmpstr (node, ==, expected);
    stop_ok (d);
  }
}

int
main (int    argc,
      char **argv)
{
  int ret;

  /* Readable UTF-8 in the log (munityd's messages, names with accents). */
  setlocale (LC_ALL, "");
  g_test_init (&argc, &argv, NULL);

  pg = munity_test_pg_start ();

  g_test_add_func ("/daemon/options/version", test_options_version);
  g_test_add_func ("/daemon/options/help", test_options_help);
  g_test_add_func ("/daemon/options/bad", test_options_bad);
  g_test_add_func ("/daemon/options/bad-config", test_options_bad_config);
  g_test_add_func ("/daemon/options/state-dir", test_options_state_dir);
  g_test_add_func ("/daemon/options/ipv6", test_options_ipv6);
  g_test_add_func ("/daemon/options/command-line-wins", test_options_command_line_wins);
  g_test_add_func ("/daemon/schema/migrations", test_schema_migrations);
  g_test_add_func ("/daemon/schema/too-new", test_schema_too_new);
  g_test_add_func ("/daemon/database-down", test_database_down);
  g_test_add_func ("/daemon/embedded/state-dir-taken", test_embedded_taken);
  g_test_add_func ("/daemon/sigterm", test_sigterm);
  g_test_add_func ("/daemon/no-descriptor-leak", test_no_descriptor_leak);
  g_test_add_func ("/daemon/restart-keeps-data", test_restart_keeps_data);
  g_test_add_func ("/daemon/reuse-port", test_reuse_port);
  g_test_add_func ("/daemon/node-name", test_node_name);
  /* The one most sensitive to a loaded machine runs last of its level. */
  g_test_add_func ("/daemon/healthz-while-hashing", test_healthz_while_hashing);

  ret = g_test_run ();

  g_clear_pointer (&pg, munity_test_pg_free);
  return ret;
}
