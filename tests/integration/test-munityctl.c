/* munityctl (doc/protocol.md §5) against a MunityDbusService on a private bus:
 * the real munityctl binary ($MUNITYCTL), the service in this process,
 * driven through the presence model. While munityctl runs, this process
 * keeps its main loop turning so the service can answer. */
#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sodium.h>
#include <unistd.h>

#include "munity-daemon.h"
#include "munity-dbus.h"
#include "munity-presence.h"
#include "munity-test-model.h"
#include "munity-test-daemon.h"
#include "munity-test-pg.h"

#define TIMEOUT_S 20

typedef struct {
  GTestDBus         *bus;
  MunityTestModel    model;         /* presence, fake clock, users, closes */
  MunityDbusService *service;
} Fixture;

typedef struct {
  int   status;
  char *out;
  char *err;
} Run;

static void
run_clear (Run *run)
{
  g_clear_pointer (&run->out, g_free);
  g_clear_pointer (&run->err, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Run, run_clear)

/* ---- helpers ------------------------------------------------------------ */

static const char *
munityctl_path (void)
{
  const char *path = g_getenv ("MUNITYCTL");

  if (path == NULL)
    g_error ("MUNITYCTL is not set (run the tests through meson test)");
  return path;
}

static GSubprocessLauncher *
new_launcher (GSubprocessFlags flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);

  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
  g_subprocess_launcher_unsetenv (launcher, "G_DEBUG");
  return launcher;
}

/* Runs `[prefix…] munityctl args…` to completion, turning the main loop
 * meanwhile. @env: NULL-terminated name, value pairs to set (value NULL
 * unsets). */
static void
run_ctl_full (Run                *run,
              const char * const *prefix,
              const char * const *env,
              const char * const *args)
{
  g_autoptr(GSubprocessLauncher) launcher = new_launcher (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                          G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  for (gsize i = 0; env != NULL && env[i] != NULL; i += 2)
    {
      if (env[i + 1] != NULL)
        g_subprocess_launcher_setenv (launcher, env[i], env[i + 1], TRUE);
      else
        g_subprocess_launcher_unsetenv (launcher, env[i]);
    }
  for (gsize i = 0; prefix != NULL && prefix[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) prefix[i]);
  g_ptr_array_add (argv, (gpointer) munityctl_path ());
  for (gsize i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, munity_test_store_result_cb, &result);
  munity_test_wait_for_pointer ((gpointer *) &result, TIMEOUT_S);
  g_subprocess_communicate_utf8_finish (proc, result, &run->out, &run->err, &error);
  g_assert_no_error (error);
  g_subprocess_wait (proc, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (proc));
  run->status = g_subprocess_get_exit_status (proc);
  g_test_message ("munityctl %s → %d\nstdout: %s\nstderr: %s",
                  args != NULL && args[0] != NULL ? args[0] : "", run->status, run->out, run->err);
}

#define run_ctl(run, ...) run_ctl_full (run, NULL, NULL, (const char * const []) { __VA_ARGS__, NULL })

static guint
count_lines (const char *text)
{
  guint n = 0;

  for (const char *p = text; *p != '\0'; p++)
    if (*p == '\n')
      n++;
  return n;
}

/* ---- fixture ------------------------------------------------------------ */

static void
setup_no_service (Fixture       *f,
                  gconstpointer  data)
{
  f->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (f->bus);
  munity_test_model_init (&f->model, 2000);
}

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  setup_no_service (f, data);
  f->service = munity_dbus_service_new (f->model.presence, MUNITY_BUS_SESSION, FALSE);
  munity_daemon_connect_dbus_view (f->model.presence, f->service);
  munity_dbus_service_start (f->service);
  munity_test_wait_name_owned (f->service, TRUE, TIMEOUT_S);
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  munity_test_free_service (&f->service);
  munity_test_model_clear (&f->model);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_test_dbus_down (f->bus);
  g_clear_object (&f->bus);
}

/* ---- online, status, disconnect ------------------------------------------ */

static gint64
parse_iso_usec (const char *text)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601 (text, NULL);

  g_assert_nonnull (dt);
  return g_date_time_to_unix (dt) * G_USEC_PER_SEC + g_date_time_get_microsecond (dt);
}

static void
test_online_json (Fixture       *f,
                  gconstpointer  data)
{
  g_auto(Run) run = { 0, };
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonArray *array;
  JsonObject *o;
  MunitySocket *lingering;

  run_ctl (&run, "online", "--json");
  g_assert_cmpint (run.status, ==, 0);
  g_assert_cmpstr (g_strstrip (run.out), ==, "[]");
  run_clear (&run);

  munity_test_model_user_info (&f->model, 42, "Ada", "Lovelace", "/avatars/42-3f9a.webp");
  munity_test_model_user_info (&f->model, 7, "Grace", "Hopper", NULL);
  munity_test_model_user_info (&f->model, 9, "Linus", "Lingering", NULL);
  munity_test_model_open_socket (&f->model, 42);
  munity_test_model_open_socket (&f->model, 7);
  munity_test_model_open_socket (&f->model, 7);
  lingering = munity_test_model_open_socket (&f->model, 9);
  /* Idle when it lingers: it keeps the status it had. */
  munity_presence_set_socket_idle (f->model.presence, lingering, TRUE);
  munity_presence_remove_socket (f->model.presence, lingering);

  run_ctl (&run, "online", "--json");
  g_assert_cmpint (run.status, ==, 0);
  g_assert_cmpstr (run.err, ==, "");
  json_parser_load_from_data (parser, run.out, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (json_parser_get_root (parser)));
  array = json_node_get_array (json_parser_get_root (parser));
  g_assert_cmpuint (json_array_get_length (array), ==, 3);

  o = json_array_get_object_element (array, 0);
  g_assert_cmpuint (json_object_get_size (o), ==, 6);
  g_assert_cmpint (json_object_get_int_member (o, "id"), ==, 42);
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "online");
  g_assert_cmpstr (json_object_get_string_member (o, "name"), ==, "Ada Lovelace");
  g_assert_cmpstr (json_object_get_string_member (o, "imageUrl"), ==, "/avatars/42-3f9a.webp");
  g_assert_cmpint (json_object_get_int_member (o, "sockets"), ==, 1);
  g_assert_true (g_str_has_suffix (json_object_get_string_member (o, "onlineSince"), "Z"));
  g_assert_cmpint (parse_iso_usec (json_object_get_string_member (o, "onlineSince")), ==,
                   munity_user_get_online_since (munity_presence_lookup_user (f->model.presence, 42)));

  o = json_array_get_object_element (array, 1);
  g_assert_cmpint (json_object_get_int_member (o, "id"), ==, 7);
  g_assert_cmpstr (json_object_get_string_member (o, "name"), ==, "Grace Hopper");
  g_assert_true (json_object_get_null_member (o, "imageUrl"));
  g_assert_cmpint (json_object_get_int_member (o, "sockets"), ==, 2);

  o = json_array_get_object_element (array, 2);
  g_assert_cmpint (json_object_get_int_member (o, "id"), ==, 9);
  g_assert_cmpint (json_object_get_int_member (o, "sockets"), ==, 0);
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "idle");
}

static void
test_online_table (Fixture       *f,
                   gconstpointer  data)
{
  g_auto(Run) run = { 0, };
  g_auto(GStrv) lines = NULL;
  g_auto(GStrv) header = NULL;

  munity_test_model_user_info (&f->model, 42, "Ada", "Lovelace", NULL);
  munity_test_model_user_info (&f->model, 1234, "Grace", "Hopper", NULL);
  munity_presence_set_socket_idle (f->model.presence, munity_test_model_open_socket (&f->model, 42), TRUE);
  munity_test_model_open_socket (&f->model, 1234);
  munity_test_model_open_socket (&f->model, 1234);

  run_ctl (&run, "online");
  g_assert_cmpint (run.status, ==, 0);
  lines = g_strsplit (run.out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 4);  /* header, 2 rows, "" */
  g_assert_true (g_str_has_prefix (lines[0], "ID "));
  g_assert_nonnull (strstr (lines[0], "NAME"));
  g_assert_nonnull (strstr (lines[0], "SOCKETS"));
  g_assert_true (g_str_has_suffix (lines[0], "ONLINE SINCE"));
  /* columns line up; STATUS between NAME and SOCKETS */
  g_assert_true (g_str_has_prefix (lines[0], "ID    NAME          STATUS  SOCKETS  "));
  g_assert_true (g_str_has_prefix (lines[1], "42    Ada Lovelace  idle    1 "));
  g_assert_true (g_str_has_prefix (lines[2], "1234  Grace Hopper  online  2 "));
  g_assert_cmpuint (strstr (lines[0], "SOCKETS") - lines[0], ==, strstr (lines[2], "2 ") - lines[2]);
  g_assert_cmpstr (lines[3], ==, "");
}

static void
test_status (Fixture       *f,
             gconstpointer  data)
{
  g_auto(Run) run = { 0, };
  g_autofree char *expected = NULL;

  munity_test_model_open_socket (&f->model, 1);
  munity_test_model_open_socket (&f->model, 1);
  munity_test_model_open_socket (&f->model, 2);

  /* A service without a cluster lists no node: the three lines only. */
  run_ctl (&run, "status");
  g_assert_cmpint (run.status, ==, 0);
  expected = g_strdup_printf ("Version:      %s\n"
                              "Online users: 2\n"
                              "Sockets:      3\n", PACKAGE_VERSION);
  g_assert_cmpstr (run.out, ==, expected);
  g_assert_cmpstr (run.err, ==, "");
}

static void
test_disconnect (Fixture       *f,
                 gconstpointer  data)
{
  g_auto(Run) run = { 0, };

  munity_test_model_user_info (&f->model, 42, "Ada", "Lovelace", NULL);
  munity_test_model_open_socket (&f->model, 42);
  munity_test_model_open_socket (&f->model, 42);
  munity_test_model_open_socket (&f->model, 5);

  run_ctl (&run, "disconnect", "42");
  g_assert_cmpint (run.status, ==, 0);
  g_assert_cmpstr (run.out, ==, "Disconnected user 42: 2 sockets closed.\n");
  g_assert_cmpstr (f->model.closed->str, ==, "42:4003 42:4003 ");
  g_assert_null (munity_presence_lookup_user (f->model.presence, 42));
  g_assert_nonnull (munity_presence_lookup_user (f->model.presence, 5));
  run_clear (&run);

  run_ctl (&run, "disconnect", "42");
  g_assert_cmpint (run.status, ==, 0);
  g_assert_cmpstr (run.out, ==, "User 42 was not online.\n");
}

/* ---- watch -------------------------------------------------------------- */

typedef struct {
  GDataInputStream *in;     /* (owned) */
  GPtrArray        *lines;  /* (owned) of char* */
  gboolean          eof;
} Reader;

static void read_next (Reader *reader);

static void
line_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Reader *reader = user_data;
  g_autoptr(GError) error = NULL;
  char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, &error);

  g_assert_no_error (error);
  if (line == NULL)
    {
      reader->eof = TRUE;
      return;
    }
  g_ptr_array_add (reader->lines, line);
  read_next (reader);
}

static void
read_next (Reader *reader)
{
  g_data_input_stream_read_line_async (reader->in, G_PRIORITY_DEFAULT, NULL, line_read_cb, reader);
}

static gboolean
has_line (Reader     *reader,
          const char *line)
{
  for (guint i = 0; i < reader->lines->len; i++)
    if (g_str_equal (reader->lines->pdata[i], line))
      return TRUE;
  return FALSE;
}

static void
wait_line (Reader     *reader,
           const char *line)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (TIMEOUT_S, munity_test_flag_cb, &timed_out);

  while (!has_line (reader, line) && !reader->eof && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  g_assert_true (has_line (reader, line));
}

static void
iterate_ms (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, munity_test_flag_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

/* Starts `munityctl watch` with its output in a pipe and returns once it
 * demonstrably sees events (it subscribes asynchronously): a probe user
 * joins and leaves until the watch reports it. */
static GSubprocess *
start_watch (Fixture *f,
             Reader  *reader)
{
  g_autoptr(GSubprocessLauncher) launcher = new_launcher (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GError) error = NULL;
  GSubprocess *proc;
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_S * G_USEC_PER_SEC;

  proc = g_subprocess_launcher_spawn (launcher, &error, munityctl_path (), "watch", NULL);
  g_assert_no_error (error);
  reader->in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc));
  reader->lines = g_ptr_array_new_with_free_func (g_free);
  read_next (reader);

  munity_test_model_user_info (&f->model, 999, "Probe", "Probe", NULL);
  while (!has_line (reader, "joined 999 Probe Probe"))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_assert_false (reader->eof);
      munity_test_model_open_socket (&f->model, 999);
      munity_presence_disconnect_user (f->model.presence, 999, MUNITY_CLOSE_DISCONNECTED);
      iterate_ms (50);
    }

  /* A last marker so that no probe event is still on its way. */
  munity_test_model_user_info (&f->model, 998, "Marker", "Marker", NULL);
  munity_test_model_open_socket (&f->model, 998);
  munity_presence_disconnect_user (f->model.presence, 998, MUNITY_CLOSE_DISCONNECTED);
  wait_line (reader, "left 998");
  g_ptr_array_set_size (reader->lines, 0);
  return proc;
}

static void
reader_clear (Reader *reader)
{
  g_clear_object (&reader->in);
  g_clear_pointer (&reader->lines, g_ptr_array_unref);
}

static int
stop_watch (GSubprocess *proc,
            Reader      *reader,
            int          signum)
{
  gboolean timed_out = FALSE;
  guint id;

  g_subprocess_send_signal (proc, signum);
  id = g_timeout_add_seconds (TIMEOUT_S, munity_test_flag_cb, &timed_out);
  while (!reader->eof && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  g_assert_true (reader->eof);
  g_subprocess_wait (proc, NULL, NULL);
  g_assert_true (g_subprocess_get_if_exited (proc));
  return g_subprocess_get_exit_status (proc);
}

static void
test_watch (Fixture       *f,
            gconstpointer  data)
{
  g_autoptr(GSubprocess) proc = NULL;
  Reader reader = { 0, };
  MunitySocket *s1;

  proc = start_watch (f, &reader);

  /* a join, a second tab (nothing), a reload within the grace (nothing),
   * and a leave once the grace ran out */
  munity_test_model_user_info (&f->model, 42, "Ada", "Lovelace", NULL);
  s1 = munity_test_model_open_socket (&f->model, 42);
  wait_line (&reader, "joined 42 Ada Lovelace");
  munity_test_model_open_socket (&f->model, 42);                                /* a second tab */
  munity_presence_remove_socket (f->model.presence, s1);    /* one tab closes */
  munity_presence_disconnect_user (f->model.presence, 42, MUNITY_CLOSE_DISCONNECTED);
  wait_line (&reader, "left 42");

  munity_test_model_user_info (&f->model, 43, "Grace", "Hopper", NULL);
  s1 = munity_test_model_open_socket (&f->model, 43);
  munity_presence_remove_socket (f->model.presence, s1);
  f->model.now += 1000 * 1000;
  munity_presence_expire (f->model.presence);
  munity_test_model_open_socket (&f->model, 43);                        /* back within the grace */
  wait_line (&reader, "joined 43 Grace Hopper");
  munity_presence_remove_socket (f->model.presence,
                                 munity_user_get_sockets (munity_presence_lookup_user (f->model.presence, 43))->pdata[0]);
  f->model.now += 2000 * 1000;
  munity_presence_expire (f->model.presence);
  wait_line (&reader, "left 43");

  g_assert_cmpuint (reader.lines->len, ==, 4);
  g_assert_cmpstr (reader.lines->pdata[0], ==, "joined 42 Ada Lovelace");
  g_assert_cmpstr (reader.lines->pdata[1], ==, "left 42");
  g_assert_cmpstr (reader.lines->pdata[2], ==, "joined 43 Grace Hopper");
  g_assert_cmpstr (reader.lines->pdata[3], ==, "left 43");

  g_assert_cmpint (stop_watch (proc, &reader, SIGTERM), ==, 0);
  reader_clear (&reader);
}

static void
test_watch_sigint (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GSubprocess) proc = NULL;
  Reader reader = { 0, };

  proc = start_watch (f, &reader);
  g_assert_cmpint (stop_watch (proc, &reader, SIGINT), ==, 0);
  g_assert_cmpuint (reader.lines->len, ==, 0);
  reader_clear (&reader);
}

/* ---- failures ------------------------------------------------------------ */

static void
assert_not_running (Run *run)
{
  g_assert_cmpint (run->status, ==, 1);
  g_assert_cmpstr (run->out, ==, "");
  g_assert_cmpuint (count_lines (run->err), ==, 1);
  g_assert_true (g_str_has_prefix (run->err, "munityctl: "));
}

static void
test_no_daemon (Fixture       *f,
                gconstpointer  data)
{
  const char *commands[][3] = {
    { "status", NULL, NULL },
    { "online", NULL, NULL },
    { "online", "--json", NULL },
    { "watch", NULL, NULL },
    { "disconnect", "5", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_auto(Run) run = { 0, };

      run_ctl_full (&run, NULL, NULL, commands[i]);
      assert_not_running (&run);
      g_assert_nonnull (strstr (run.err, "munityd is not running on the session bus"));
    }
}

static void
test_no_bus (void)
{
  const char *env[] = { "DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/munity-bus", NULL };
  const char *args[] = { "status", NULL };
  g_auto(Run) run = { 0, };

  run_ctl_full (&run, NULL, env, args);
  assert_not_running (&run);
  g_assert_nonnull (strstr (run.err, "cannot connect to the session bus"));
}

static void
test_usage (void)
{
  const char *bad[][4] = {
    { NULL },
    { "bogus", NULL },
    { "online", "extra", NULL },
    { "status", "extra", NULL },
    { "watch", "extra", NULL },
    { "status", "--json", NULL },
    { "watch", "--json", NULL },
    { "disconnect", NULL },
    { "disconnect", "abc", NULL },
    { "disconnect", "0", NULL },
    { "disconnect", "-1", NULL },
    { "disconnect", "4x", NULL },
    { "disconnect", "99999999999999999999", NULL },
    { "disconnect", "1", "2", NULL },
    { "--bogus", "status", NULL },
  };
  const char *env[] = { "DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/munity-bus", NULL };

  /* bad usage is found before any bus is needed */
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_auto(Run) run = { 0, };

      run_ctl_full (&run, NULL, env, bad[i]);
      g_assert_cmpint (run.status, ==, 2);
      g_assert_cmpstr (run.out, ==, "");
      g_assert_true (g_str_has_prefix (run.err, "munityctl: "));
      g_assert_nonnull (strstr (run.err, "\nUsage: munityctl"));
    }

  {
    g_auto(Run) run = { 0, };
    const char *args[] = { "--help", NULL };

    run_ctl_full (&run, NULL, env, args);
    g_assert_cmpint (run.status, ==, 0);
    g_assert_nonnull (strstr (run.out, "disconnect USER-ID"));
  }
  {
    g_auto(Run) run = { 0, };
    g_autofree char *expected = g_strdup_printf ("munityctl %s\n", PACKAGE_VERSION);
    const char *args[] = { "--version", NULL };

    run_ctl_full (&run, NULL, env, args);
    g_assert_cmpint (run.status, ==, 0);
    g_assert_cmpstr (run.out, ==, expected);
  }
}

/* ---- the system bus and its policy -------------------------------------- */

static GSubprocess *
start_system_like_bus (const char  *dir,
                       const char  *admin_group,
                       char       **out_address)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *policy_src = g_build_filename (g_getenv ("MUNITY_SOURCE_ROOT"), "data",
                                                  "org.munity.Presence1.conf", NULL);
  g_autofree char *policy = NULL;
  g_autofree char *policy_path = g_build_filename (dir, "org.munity.Presence1.conf", NULL);
  g_autofree char *config_path = g_build_filename (dir, "system.conf", NULL);
  g_autofree char *config = NULL;
  g_autofree char *config_arg = NULL;
  g_autoptr(GString) policy_text = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  GSubprocess *daemon;

  g_assert_true (g_file_get_contents (policy_src, &policy, NULL, &error));
  g_assert_no_error (error);
  /* The shipped policy, with an administrators' group this machine has. */
  policy_text = g_string_new (policy);
  g_assert_cmpuint (g_string_replace (policy_text, "group=\"munity-admin\"", admin_group, 0), ==, 1);
  g_assert_true (g_file_set_contents (policy_path, policy_text->str, -1, &error));

  /* What matters of Debian's system.conf: deny by default. */
  config = g_strdup_printf (
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
    " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
    "<busconfig>\n"
    "  <type>system</type>\n"
    "  <listen>unix:path=%s/system_bus_socket</listen>\n"
    "  <auth>EXTERNAL</auth>\n"
    "  <policy context=\"default\">\n"
    "    <allow user=\"*\"/>\n"
    "    <deny own=\"*\"/>\n"
    "    <deny send_type=\"method_call\"/>\n"
    "    <allow send_type=\"signal\"/>\n"
    "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
    "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
    "    <allow receive_type=\"method_call\"/>\n"
    "    <allow receive_type=\"method_return\"/>\n"
    "    <allow receive_type=\"error\"/>\n"
    "    <allow receive_type=\"signal\"/>\n"
    "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>\n"
    "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
    "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Properties\"/>\n"
    "  </policy>\n"
    "  <include>%s</include>\n"
    "</busconfig>\n", dir, policy_path);
  g_assert_true (g_file_set_contents (config_path, config, -1, &error));

  config_arg = g_strdup_printf ("--config-file=%s", config_path);
  daemon = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                             "dbus-daemon", "--nofork", "--nopidfile", config_arg, "--print-address=1", NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (daemon));
  *out_address = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (*out_address);
  return daemon;
}

/* On the system bus everyone may look, only root and munity-admin may
 * disconnect (data/org.munity.Presence1.conf). */
static void
test_system_bus_policy (void)
{
  g_autofree char *dir = g_dir_make_tmp ("munity-system-bus-XXXXXX", NULL);
  g_autofree char *address = NULL;
  g_autoptr(GSubprocess) daemon = NULL;
  g_autoptr(MunityPresence) presence = munity_presence_new (2000);
  MunityDbusService *service = NULL;
  g_autoptr(MunitySocket) socket = munity_socket_new (42, "a");
  g_autoptr(MunityUserInfo) info = g_atomic_rc_box_new0 (MunityUserInfo);
  /* "nobody", with and without the stand-in for munity-admin (users, 100) */
  const char *as_nobody[] = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", NULL };
  const char *as_admin[] = { "setpriv", "--reuid=65534", "--regid=65534", "--groups=100", NULL };
  const char *online_args[] = { "--system", "online", "--json", NULL };
  const char *status_args[] = { "--system", "status", NULL };
  const char *disconnect_args[] = { "--system", "disconnect", "42", NULL };
  const char *env[5] = { "DBUS_SYSTEM_BUS_ADDRESS", NULL, "DBUS_SESSION_BUS_ADDRESS", NULL, NULL };

  g_autofree char *setpriv = g_find_program_in_path ("setpriv");

  if (getuid () != 0 || setpriv == NULL)
    {
      g_test_skip ("needs root and setpriv to call as other users");
      return;
    }
  g_assert_cmpint (g_chmod (dir, 0755), ==, 0);

  info->id = 42;
  info->first = g_strdup ("Ada");
  info->last = g_strdup ("Lovelace");
  munity_presence_add_socket (presence, socket, info);

  daemon = start_system_like_bus (dir, "group=\"users\"", &address);
  env[1] = address;
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", address, TRUE);

  /* root may own the name */
  service = munity_dbus_service_new (presence, MUNITY_BUS_SYSTEM, FALSE);
  munity_daemon_connect_dbus_view (presence, service);
  munity_dbus_service_start (service);
  munity_test_wait_name_owned (service, TRUE, TIMEOUT_S);

  {
    g_auto(Run) run = { 0, };

    run_ctl_full (&run, as_nobody, env, online_args);
    g_assert_cmpint (run.status, ==, 0);
    g_assert_nonnull (strstr (run.out, "\"Ada Lovelace\""));
  }
  {
    g_auto(Run) run = { 0, };

    run_ctl_full (&run, as_nobody, env, status_args);
    g_assert_cmpint (run.status, ==, 0);
    g_assert_nonnull (strstr (run.out, "Online users: 1"));
  }
  {
    g_auto(Run) run = { 0, };

    run_ctl_full (&run, as_nobody, env, disconnect_args);
    g_assert_cmpint (run.status, ==, 1);
    g_assert_nonnull (strstr (run.err, "permission denied"));
    g_assert_cmpuint (count_lines (run.err), ==, 1);
    g_assert_nonnull (munity_presence_lookup_user (presence, 42));
  }
  {
    g_auto(Run) run = { 0, };

    run_ctl_full (&run, as_admin, env, disconnect_args);
    g_assert_cmpint (run.status, ==, 0);
    g_assert_null (munity_presence_lookup_user (presence, 42));
  }
  {
    g_auto(Run) run = { 0, };

    /* root too */
    run_ctl_full (&run, NULL, env, disconnect_args);
    g_assert_cmpint (run.status, ==, 0);
    g_assert_cmpstr (run.out, ==, "User 42 was not online.\n");
  }

  /* nobody may not own the name */
  {
    g_auto(Run) run = { 0, };
    const char *own[] = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          "gdbus", "call", "--system", "--dest", "org.freedesktop.DBus",
                          "--object-path", "/org/freedesktop/DBus",
                          "--method", "org.freedesktop.DBus.RequestName", "org.munity.Presence1", "4", NULL };
    g_autoptr(GSubprocessLauncher) launcher = new_launcher (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                            G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(GError) error = NULL;

    g_subprocess_launcher_setenv (launcher, "DBUS_SYSTEM_BUS_ADDRESS", address, TRUE);
    proc = g_subprocess_launcher_spawnv (launcher, own, &error);
    g_assert_no_error (error);
    g_subprocess_communicate_utf8_async (proc, NULL, NULL, munity_test_store_result_cb, &result);
    munity_test_wait_for_pointer ((gpointer *) &result, TIMEOUT_S);
    g_subprocess_communicate_utf8_finish (proc, result, &run.out, &run.err, &error);
    g_assert_no_error (error);
    g_assert_false (g_subprocess_get_successful (proc));
    g_assert_nonnull (strstr (run.err, "AccessDenied"));
  }

  munity_test_free_service (&service);
  g_subprocess_send_signal (daemon, SIGTERM);
  g_subprocess_wait (daemon, NULL, NULL);
  g_unsetenv ("DBUS_SYSTEM_BUS_ADDRESS");
  {
    g_autofree char *p1 = g_build_filename (dir, "system.conf", NULL);
    g_autofree char *p2 = g_build_filename (dir, "org.munity.Presence1.conf", NULL);
    g_autofree char *p3 = g_build_filename (dir, "system_bus_socket", NULL);

    g_remove (p1);
    g_remove (p2);
    g_remove (p3);
    g_rmdir (dir);
  }
}

/* ---- the real munityd ------------------------------------------------------ */

typedef struct {
  guint frames;
  guint close_code;
  gboolean closed;
} Tab;

static void
on_tab_message (SoupWebsocketConnection *conn,
                gint                     type,
                GBytes                  *message,
                Tab                     *tab)
{
  tab->frames++;
}

static void
on_tab_closed (SoupWebsocketConnection *conn,
               Tab                     *tab)
{
  tab->close_code = soup_websocket_connection_get_close_code (conn);
  tab->closed = TRUE;
}

static SoupWebsocketConnection *
open_tab (SoupSession *session,
          const char  *url,
          Tab         *tab)
{
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  SoupWebsocketConnection *conn;
  gboolean timed_out = FALSE;
  guint id;

  soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        munity_test_store_result_cb, &result);
  munity_test_wait_for_pointer ((gpointer *) &result, TIMEOUT_S);
  conn = soup_session_websocket_connect_finish (session, result, &error);
  g_assert_no_error (error);
  g_signal_connect (conn, "message", G_CALLBACK (on_tab_message), tab);
  g_signal_connect (conn, "closed", G_CALLBACK (on_tab_closed), tab);

  /* onlineUsers first: the socket is in the model */
  id = g_timeout_add_seconds (TIMEOUT_S, munity_test_flag_cb, &timed_out);
  while (tab->frames == 0 && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  g_assert_cmpuint (tab->frames, >=, 1);
  return conn;
}

static void
wait_owner (gboolean owned)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_S * G_USEC_PER_SEC;

  for (;;)
    {
      g_auto(Run) run = { 0, };

      run_ctl (&run, "status");
      if ((run.status == 0) == owned)
        return;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      iterate_ms (100);
    }
}

/* munityctl against the real munityd: a user with two browser tabs shows
 * up, is disconnected (the tabs get 4003), and `--bus none` publishes
 * nothing. */
static void
test_real_daemon (void)
{
  g_autoptr(MunityTestPg) pg = munity_test_pg_start ();
  g_autoptr(GTestDBus) bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  const char *session_args[] = { "--database", munity_test_pg_conninfo (pg), "--bus", "session", NULL };
  const char *none_args[] = { "--database", munity_test_pg_conninfo (pg), "--bus", "none", NULL };
  g_autoptr(MunityTestDaemon) d = NULL;
  g_autoptr(SoupSession) session = munity_test_session_new (TRUE);
  g_autoptr(MunityTestResponse) resp = NULL;
  g_autoptr(SoupWebsocketConnection) tab1 = NULL;
  g_autoptr(SoupWebsocketConnection) tab2 = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  g_autofree char *ws_url = NULL;
  g_autofree char *id_str = NULL;
  g_autofree char *expected = NULL;
  Tab t1 = { 0, }, t2 = { 0, };
  JsonArray *array;
  JsonObject *o;
  gint64 id;

  g_test_dbus_up (bus);
  d = munity_test_daemon_try_start (session_args, 60, &error);
  g_assert_no_error (error);
  wait_owner (TRUE);

  url = munity_test_daemon_url (d, "/api/register");
  resp = munity_test_http (session, "POST", url, "application/json",
                           "{\"first\": \"Ada\", \"last\": \"Lovelace\", "
                           "\"email\": \"ada-ctl@example.org\", \"password\": \"correct horse\"}",
                           -1, NULL);
  g_assert_cmpuint (resp->status, ==, 201);
  id = json_object_get_int_member (json_object_get_object_member (munity_test_response_object (resp), "user"), "id");
  id_str = g_strdup_printf ("%" G_GINT64_FORMAT, id);

  ws_url = munity_test_daemon_url (d, "/ws");
  tab1 = open_tab (session, ws_url, &t1);
  tab2 = open_tab (session, ws_url, &t2);

  {
    g_auto(Run) run = { 0, };

    run_ctl (&run, "online", "--json");
    g_assert_cmpint (run.status, ==, 0);
    json_parser_load_from_data (parser, run.out, -1, &error);
    g_assert_no_error (error);
    array = json_node_get_array (json_parser_get_root (parser));
    g_assert_cmpuint (json_array_get_length (array), ==, 1);
    o = json_array_get_object_element (array, 0);
    g_assert_cmpint (json_object_get_int_member (o, "id"), ==, id);
    g_assert_cmpstr (json_object_get_string_member (o, "name"), ==, "Ada Lovelace");
    g_assert_cmpint (json_object_get_int_member (o, "sockets"), ==, 2);
  }
  {
    /* A cluster of one: the node list holds this node, with both tabs. */
    g_auto(Run) run = { 0, };
    g_autofree char *health_url = munity_test_daemon_url (d, "/healthz");
    g_autoptr(MunityTestResponse) health = munity_test_http (session, "GET", health_url, NULL, NULL, 0, NULL);
    const char *node = json_object_get_string_member (munity_test_response_object (health), "node");
    g_auto(GStrv) lines = NULL;
    g_auto(GStrv) words = NULL;

    run_ctl (&run, "status");
    g_assert_cmpint (run.status, ==, 0);
    g_assert_cmpstr (run.err, ==, "");
    lines = g_strsplit (run.out, "\n", -1);
    g_assert_cmpuint (g_strv_length (lines), ==, 8);
    g_assert_cmpstr (lines[1], ==, "Online users: 1");
    g_assert_cmpstr (lines[2], ==, "Sockets:      2");
    g_assert_cmpstr (lines[3], ==, "Nodes:        1");
    g_assert_cmpstr (lines[4], ==, "");
    g_assert_true (g_str_has_prefix (lines[5], "NODE"));
    g_assert_nonnull (strstr (lines[5], "SOCKETS"));
    g_assert_nonnull (strstr (lines[5], "LAST HEARTBEAT"));
    /* SOCKETS lines up under its heading */
    g_assert_cmpuint (strstr (lines[5], "SOCKETS") - lines[5], ==, strlen (node) + 2);
    g_assert_true (g_str_has_prefix (lines[6], node));
    g_assert_true (g_str_has_suffix (lines[6], "  (this node)"));
    words = g_strsplit (lines[6] + strlen (node) + 2, " ", 2);
    g_assert_cmpstr (words[0], ==, "2");
    g_assert_cmpstr (lines[7], ==, "");
  }
  {
    g_auto(Run) run = { 0, };

    run_ctl (&run, "disconnect", id_str);
    g_assert_cmpint (run.status, ==, 0);
    expected = g_strdup_printf ("Disconnected user %s: 2 sockets closed.\n", id_str);
    g_assert_cmpstr (run.out, ==, expected);
  }
  {
    gboolean timed_out = FALSE;
    guint timeout_id = g_timeout_add_seconds (TIMEOUT_S, munity_test_flag_cb, &timed_out);

    while (!(t1.closed && t2.closed) && !timed_out)
      g_main_context_iteration (NULL, TRUE);
    if (!timed_out)
      g_source_remove (timeout_id);
    g_assert_true (t1.closed && t2.closed);
    g_assert_cmpuint (t1.close_code, ==, 4003);
    g_assert_cmpuint (t2.close_code, ==, 4003);
  }
  {
    g_auto(Run) run = { 0, };

    run_ctl (&run, "online", "--json");
    g_assert_cmpint (run.status, ==, 0);
    g_assert_cmpstr (g_strstrip (run.out), ==, "[]");
  }

  /* gone from the bus when it stops */
  g_assert_cmpint (munity_test_daemon_stop (d, NULL), ==, 0);
  g_clear_pointer (&d, munity_test_daemon_free);
  wait_owner (FALSE);

  /* --bus none: serving, but nothing on the bus */
  d = munity_test_daemon_try_start (none_args, 60, &error);
  g_assert_no_error (error);
  iterate_ms (500);
  {
    g_auto(Run) run = { 0, };

    run_ctl (&run, "status");
    assert_not_running (&run);
  }
  g_assert_cmpint (munity_test_daemon_stop (d, NULL), ==, 0);
  g_clear_pointer (&d, munity_test_daemon_free);

  g_clear_object (&tab1);
  g_clear_object (&tab2);
  g_clear_object (&session);
  g_test_dbus_down (bus);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (sodium_init (), >=, 0);
  g_test_dbus_unset ();

#define ADD(path, func) g_test_add (path, Fixture, NULL, setup, func, teardown)
  ADD ("/munityctl/online/json", test_online_json);
  ADD ("/munityctl/online/table", test_online_table);
  ADD ("/munityctl/status", test_status);
  ADD ("/munityctl/disconnect", test_disconnect);
  ADD ("/munityctl/watch", test_watch);
  ADD ("/munityctl/watch/sigint", test_watch_sigint);
#undef ADD
  g_test_add ("/munityctl/no-daemon", Fixture, NULL, setup_no_service, test_no_daemon, teardown);
  g_test_add_func ("/munityctl/no-bus", test_no_bus);
  g_test_add_func ("/munityctl/usage", test_usage);
  g_test_add_func ("/munityctl/system-bus/policy", test_system_bus_policy);
  g_test_add_func ("/munityctl/daemon", test_real_daemon);

  return g_test_run ();
}
