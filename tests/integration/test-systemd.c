/* munityd under a service manager (doc/protocol.md §1): sd_notify READY=1,
 * WATCHDOG=1 and STOPPING=1 on a NOTIFY_SOCKET the test owns, socket
 * activation through LISTEN_FDS / LISTEN_PID, and the shipped unit, D-Bus
 * and sysusers files checked by the tools that read them. The real
 * $MUNITYD against a throwaway PostgreSQL. */
#include "config.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <unistd.h>

#include "munity-test-daemon.h"
#include "munity-test-pg.h"

#define READY_TIMEOUT_S 60

static MunityTestPg *pg;  /* shared by the tests that start munityd */

static const char *
test_pg_conninfo (void)
{
  if (pg == NULL)
    pg = munity_test_pg_start ();
  return munity_test_pg_conninfo (pg);
}

static const char *
munityd_path (void)
{
  const char *path = g_getenv ("MUNITYD");

  if (path == NULL)
    g_error ("MUNITYD is not set (run the tests through meson test)");
  return path;
}

/* ---- a NOTIFY_SOCKET of our own ----------------------------------------- */

typedef struct {
  char      *dir;       /* (owned) */
  char      *path;      /* (owned) */
  GSocket   *socket;    /* (owned) */
  GPtrArray *messages;  /* (owned) of char*, one line each, "READY=1" */
  GArray    *times;     /* (owned) of gint64 monotonic µs, per message */
} Notify;

static Notify *
notify_new (void)
{
  Notify *n = g_new0 (Notify, 1);
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GError) error = NULL;

  n->dir = g_dir_make_tmp ("munity-notify-XXXXXX", &error);
  g_assert_no_error (error);
  n->path = g_build_filename (n->dir, "notify", NULL);
  n->socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
  g_assert_no_error (error);
  address = g_unix_socket_address_new (n->path);
  g_assert_true (g_socket_bind (n->socket, address, FALSE, &error));
  g_assert_no_error (error);
  n->messages = g_ptr_array_new_with_free_func (g_free);
  n->times = g_array_new (FALSE, FALSE, sizeof (gint64));
  return n;
}

static void
notify_free (Notify *n)
{
  g_socket_close (n->socket, NULL);
  g_object_unref (n->socket);
  g_remove (n->path);
  g_rmdir (n->dir);
  g_free (n->path);
  g_free (n->dir);
  g_ptr_array_unref (n->messages);
  g_array_unref (n->times);
  g_free (n);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Notify, notify_free)

/* Reads datagrams until @until (monotonic µs); returns early once a line
 * equal to @want (if not NULL) has arrived. */
static gboolean
notify_read (Notify     *n,
             const char *want,
             gint64      until)
{
  for (;;)
    {
      gint64 now = g_get_monotonic_time ();
      char buffer[4096];
      gssize len;
      g_autoptr(GError) error = NULL;
      g_auto(GStrv) lines = NULL;
      gboolean found = FALSE;

      if (now >= until)
        return FALSE;
      if (!g_socket_condition_timed_wait (n->socket, G_IO_IN, until - now, NULL, NULL))
        return FALSE;
      len = g_socket_receive (n->socket, buffer, sizeof buffer - 1, NULL, &error);
      g_assert_no_error (error);
      buffer[len] = '\0';
      now = g_get_monotonic_time ();
      lines = g_strsplit (buffer, "\n", -1);
      for (gsize i = 0; lines[i] != NULL; i++)
        {
          if (*lines[i] == '\0')
            continue;
          g_test_message ("notify: %s", lines[i]);
          g_ptr_array_add (n->messages, g_strdup (lines[i]));
          g_array_append_val (n->times, now);
          if (want != NULL && g_str_equal (lines[i], want))
            found = TRUE;
        }
      if (found)
        return TRUE;
    }
}

static guint
notify_count (Notify     *n,
              const char *line)
{
  guint count = 0;

  for (guint i = 0; i < n->messages->len; i++)
    if (g_str_equal (n->messages->pdata[i], line))
      count++;
  return count;
}

/* ---- munityd as a service manager would start it ----------------------- */

typedef struct {
  GSubprocess *proc;       /* (owned) */
  char        *state_dir;  /* (owned) */
  char        *xdg_dir;    /* (owned) */
} Service;

static void
service_free (Service *s)
{
  if (s->proc != NULL && g_subprocess_get_identifier (s->proc) != NULL)
    {
      g_subprocess_force_exit (s->proc);
      g_subprocess_wait (s->proc, NULL, NULL);
    }
  g_clear_object (&s->proc);
  munity_test_rm_rf (s->state_dir);
  munity_test_rm_rf (s->xdg_dir);
  g_free (s->state_dir);
  g_free (s->xdg_dir);
  g_free (s);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Service, service_free)

/* Runs munityd through `sh -c '… exec munityd …'` so that WATCHDOG_PID and
 * LISTEN_PID can name munityd's own pid, as systemd does. @listen_fd ≥ 0 is
 * passed as fd 3 with LISTEN_FDS=1. */
static Service *
service_start (Notify             *n,
               const char         *watchdog_usec,
               int                 listen_fd,
               const char * const *extra_args)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  Service *s = g_new0 (Service, 1);

  s->state_dir = g_dir_make_tmp ("munity-systemd-state-XXXXXX", &error);
  g_assert_no_error (error);
  s->xdg_dir = g_dir_make_tmp ("munity-systemd-xdg-XXXXXX", &error);
  g_assert_no_error (error);

  g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", s->xdg_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "NOTIFY_SOCKET", n->path, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "LISTEN_FDS");
  g_subprocess_launcher_unsetenv (launcher, "LISTEN_PID");
  g_subprocess_launcher_unsetenv (launcher, "LISTEN_FDNAMES");
  g_subprocess_launcher_unsetenv (launcher, "WATCHDOG_USEC");
  g_subprocess_launcher_unsetenv (launcher, "WATCHDOG_PID");
  if (watchdog_usec != NULL)
    g_subprocess_launcher_setenv (launcher, "WATCHDOG_USEC", watchdog_usec, TRUE);
  if (listen_fd >= 0)
    {
      g_subprocess_launcher_setenv (launcher, "LISTEN_FDS", "1", TRUE);
      g_subprocess_launcher_take_fd (launcher, dup (listen_fd), 3);
    }

  g_ptr_array_add (argv, (gpointer) "sh");
  g_ptr_array_add (argv, (gpointer) "-c");
  g_ptr_array_add (argv, (gpointer) (listen_fd >= 0 ? "LISTEN_PID=$$ WATCHDOG_PID=$$ exec \"$0\" \"$@\""
                                                    : "WATCHDOG_PID=$$ exec \"$0\" \"$@\""));
  g_ptr_array_add (argv, (gpointer) munityd_path ());
  g_ptr_array_add (argv, (gpointer) "--database");
  g_ptr_array_add (argv, (gpointer) test_pg_conninfo ());
  g_ptr_array_add (argv, (gpointer) "--bus");
  g_ptr_array_add (argv, (gpointer) "none");
  g_ptr_array_add (argv, (gpointer) "--state-dir");
  g_ptr_array_add (argv, s->state_dir);
  for (gsize i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) extra_args[i]);
  g_ptr_array_add (argv, NULL);

  s->proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  return s;
}

static int
service_stop (Service *s,
              int      signum)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  g_subprocess_send_signal (s->proc, signum);
  while (g_subprocess_get_identifier (s->proc) != NULL && g_get_monotonic_time () < deadline)
    g_usleep (10 * 1000);
  g_assert_null (g_subprocess_get_identifier (s->proc));
  g_subprocess_wait (s->proc, NULL, NULL);
  g_assert_true (g_subprocess_get_if_exited (s->proc));
  return g_subprocess_get_exit_status (s->proc);
}

/* The "node" of /healthz on @port. */
static char *
healthz_node (guint16 port)
{
  g_autoptr(SoupSession) session = munity_test_session_new (FALSE);
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u/healthz", port);
  g_autoptr(MunityTestResponse) resp = munity_test_http (session, "GET", url, NULL, NULL, 0, NULL);
  JsonObject *body = munity_test_response_object (resp);

  g_assert_nonnull (body);
  g_assert_true (json_object_has_member (body, "node"));
  return g_strdup (json_object_get_string_member (body, "node"));
}

static void
assert_healthz (guint16 port)
{
  g_autoptr(SoupSession) session = munity_test_session_new (FALSE);
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u/healthz", port);
  g_autoptr(MunityTestResponse) resp = munity_test_http (session, "GET", url, NULL, NULL, 0, NULL);
  JsonObject *body = munity_test_response_object (resp);

  g_assert_cmpuint (resp->status, ==, 200);
  g_assert_nonnull (body);
  g_assert_cmpstr (json_object_get_string_member (body, "status"), ==, "ok");
  g_assert_cmpstr (json_object_get_string_member (body, "database"), ==, "ok");
}

/* ---- tests -------------------------------------------------------------- */

/* Type=notify with WatchdogSec=: READY=1 once serving (and usable),
 * WATCHDOG=1 every half of WATCHDOG_USEC, STOPPING=1 on SIGTERM. */
static void
test_notify (void)
{
  g_autoptr(Notify) n = notify_new ();
  g_autoptr(Service) s = NULL;
  guint16 port = munity_test_free_port ("127.0.0.1");
  g_autofree char *listen = g_strdup_printf ("127.0.0.1:%u", port);
  const char *args[] = { "--listen", listen, NULL };
  gint64 ready_at, last = 0, max_gap = 0;
  guint watchdogs = 0;

  s = service_start (n, "2000000", -1, args);
  g_assert_true (notify_read (n, "READY=1", g_get_monotonic_time () + READY_TIMEOUT_S * G_USEC_PER_SEC));
  ready_at = g_get_monotonic_time ();
  g_assert_cmpuint (notify_count (n, "STOPPING=1"), ==, 0);

  /* READY=1 means usable: listening, database reachable */
  assert_healthz (port);

  /* WATCHDOG_USEC=2 s: a ping every second */
  notify_read (n, NULL, ready_at + 3500 * 1000);
  for (guint i = 0; i < n->messages->len; i++)
    {
      gint64 t = g_array_index (n->times, gint64, i);

      if (!g_str_equal (n->messages->pdata[i], "WATCHDOG=1"))
        continue;
      if (last != 0)
        max_gap = MAX (max_gap, t - last);
      last = t;
      watchdogs++;
    }
  g_assert_cmpuint (watchdogs, >=, 3);
  g_assert_cmpint (max_gap, <, 1600 * 1000);

  g_assert_cmpint (service_stop (s, SIGTERM), ==, 0);
  notify_read (n, NULL, g_get_monotonic_time () + 200 * 1000);
  g_assert_cmpuint (notify_count (n, "STOPPING=1"), ==, 1);
  /* nothing after STOPPING=1 claims readiness again */
  g_assert_cmpuint (notify_count (n, "READY=1"), ==, 1);
}

/* Without WATCHDOG_USEC there is no watchdog chatter; with a WATCHDOG_PID
 * that is not munityd's, neither. */
static void
test_notify_no_watchdog (void)
{
  g_autoptr(Notify) n = notify_new ();
  g_autoptr(Service) s = NULL;
  g_autofree char *listen = g_strdup_printf ("127.0.0.1:%u", munity_test_free_port ("127.0.0.1"));
  const char *args[] = { "--listen", listen, NULL };

  s = service_start (n, NULL, -1, args);
  g_assert_true (notify_read (n, "READY=1", g_get_monotonic_time () + READY_TIMEOUT_S * G_USEC_PER_SEC));
  notify_read (n, NULL, g_get_monotonic_time () + 1500 * 1000);
  g_assert_cmpuint (notify_count (n, "WATCHDOG=1"), ==, 0);

  g_assert_cmpint (service_stop (s, SIGINT), ==, 0);
  notify_read (n, NULL, g_get_monotonic_time () + 200 * 1000);
  g_assert_cmpuint (notify_count (n, "STOPPING=1"), ==, 1);
}

/* The TCP sockets in LISTEN state that @pid holds. */
static guint
count_listening (GPid pid)
{
  g_autofree char *fd_dir = g_strdup_printf ("/proc/%d/fd", (int) pid);
  g_autoptr(GDir) dir = g_dir_open (fd_dir, 0, NULL);
  g_autoptr(GHashTable) inodes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  const char *tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
  const char *name;
  guint count = 0;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (fd_dir, name, NULL);
      g_autofree char *target = g_file_read_link (path, NULL);

      if (target != NULL && g_str_has_prefix (target, "socket:["))
        g_hash_table_add (inodes, g_strndup (target + 8, strlen (target) - 9));
    }

  for (gsize t = 0; t < G_N_ELEMENTS (tables); t++)
    {
      g_autofree char *contents = NULL;
      g_auto(GStrv) lines = NULL;

      if (!g_file_get_contents (tables[t], &contents, NULL, NULL))
        continue;
      lines = g_strsplit (contents, "\n", -1);
      for (gsize i = 1; lines[i] != NULL; i++)
        {
          g_auto(GStrv) fields = g_strsplit_set (g_strstrip (lines[i]), " ", -1);
          g_autoptr(GPtrArray) cols = g_ptr_array_new ();

          for (gsize j = 0; fields[j] != NULL; j++)
            if (*fields[j] != '\0')
              g_ptr_array_add (cols, fields[j]);
          /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
          if (cols->len > 9 && g_str_equal (cols->pdata[3], "0A") &&
              g_hash_table_contains (inodes, cols->pdata[9]))
            count++;
        }
    }
  return count;
}

/* munityd.socket: systemd listens and passes the socket as fd 3; without
 * --listen munityd serves that socket and opens none of its own. systemd
 * keeps its copy: after munityd stops, the socket still listens (a shut
 * down socket would fail munityd.socket), and a client that connects
 * meanwhile is answered by the next munityd. */
static void
test_socket_activation (void)
{
  g_autoptr(Notify) n = notify_new ();
  g_autoptr(Service) s = NULL;
  g_autoptr(GSocket) listener = NULL;
  g_autoptr(GSocketAddress) any = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GError) error = NULL;
  const char *identifier;
  guint16 port;

  listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  any = g_inet_socket_address_new (loopback, 0);
  g_assert_true (g_socket_bind (listener, any, TRUE, &error));
  g_assert_true (g_socket_listen (listener, &error));
  bound = g_socket_get_local_address (listener, &error);
  g_assert_no_error (error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));

  s = service_start (n, NULL, g_socket_get_fd (listener), NULL);

  g_assert_true (notify_read (n, "READY=1", g_get_monotonic_time () + READY_TIMEOUT_S * G_USEC_PER_SEC));
  assert_healthz (port);
  /* The default node name carries the port of the socket systemd passed. */
  {
    g_autofree char *node = healthz_node (port);
    g_autofree char *expected = g_strdup_printf ("%s:%u", g_get_host_name (), port);

    g_assert_cmpstr (node, ==, expected);
  }

  identifier = g_subprocess_get_identifier (s->proc);
  g_assert_nonnull (identifier);
  g_assert_cmpuint (count_listening ((GPid) g_ascii_strtoll (identifier, NULL, 10)), ==, 1);

  g_assert_cmpint (service_stop (s, SIGTERM), ==, 0);
  g_clear_pointer (&s, service_free);

  {
    g_autoptr(GSocketClient) client = g_socket_client_new ();
    g_autoptr(GSocketConnection) waiting = NULL;
    g_autoptr(Notify) n2 = notify_new ();
    g_autofree char *request = g_strdup_printf ("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", port);
    char answer[64] = { 0 };
    gssize got;

    /* Between two munityd: the kernel queues the client on systemd's socket. */
    waiting = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (bound), NULL, &error);
    g_assert_no_error (error);
    g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (waiting)),
                                              request, strlen (request), NULL, NULL, &error));

    s = service_start (n2, NULL, g_socket_get_fd (listener), NULL);
    g_assert_true (notify_read (n2, "READY=1", g_get_monotonic_time () + READY_TIMEOUT_S * G_USEC_PER_SEC));
    got = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (waiting)), answer, sizeof answer - 1,
                               NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpint (got, >, 12);
    g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 200"));
    g_assert_cmpint (service_stop (s, SIGTERM), ==, 0);
  }
}

/* ---- the shipped files -------------------------------------------------- */

static char *
source_path (const char *first,
             ...)
{
  const char *root = g_getenv ("MUNITY_SOURCE_ROOT");
  g_autoptr(GPtrArray) parts = g_ptr_array_new ();
  va_list ap;

  g_assert_nonnull (root);
  g_ptr_array_add (parts, (gpointer) root);
  va_start (ap, first);
  for (const char *p = first; p != NULL; p = va_arg (ap, const char *))
    g_ptr_array_add (parts, (gpointer) p);
  va_end (ap);
  g_ptr_array_add (parts, NULL);
  return g_build_filenamev ((char **) parts->pdata);
}

/* The template with @sbindir@ pointing at the munityd just built, so that
 * verify can check ExecStart=. */
static void
configure_copy (const char *template,
                const char *output)
{
  g_autofree char *text = NULL;
  g_autofree char *sbindir = g_path_get_dirname (munityd_path ());
  g_autoptr(GString) out = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_get_contents (template, &text, NULL, &error));
  out = g_string_new (text);
  g_string_replace (out, "@sbindir@", sbindir, 0);
  g_assert_false (g_regex_match_simple ("@[a-z_]+@", out->str, 0, 0));
  g_assert_true (g_file_set_contents (output, out->str, -1, &error));
  g_assert_no_error (error);
}

static void
run_tool (const char * const *argv,
          const char         *cwd,
          const char         *runtime_dir)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                       G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  g_subprocess_launcher_set_cwd (launcher, cwd);
  if (runtime_dir != NULL)
    g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", runtime_dir, TRUE);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  g_test_message ("%s: exit %d\n%s%s", argv[0], g_subprocess_get_exit_status (proc), out, err);
  /* Warnings (an unknown key, a bad value) count as failures too. */
  g_assert_cmpstr (err, ==, "");
  g_assert_true (g_subprocess_get_successful (proc));
}

static void
test_units_verify (void)
{
  g_autofree char *analyze = g_find_program_in_path ("systemd-analyze");
  g_autofree char *dir = NULL;
  g_autofree char *runtime = NULL;
  g_autofree char *user_dir = NULL;
  g_autofree char *system_in = source_path ("data", "munityd.service.in", NULL);
  g_autofree char *socket_in = source_path ("data", "munityd.socket", NULL);
  g_autofree char *user_in = source_path ("data", "user", "munityd.service.in", NULL);
  g_autofree char *template_in = source_path ("data", "munityd@.service.in", NULL);
  g_autofree char *system_out = NULL;
  g_autofree char *socket_out = NULL;
  g_autofree char *user_out = NULL;
  g_autofree char *template_out = NULL;
  g_autofree char *instance = NULL;

  if (analyze == NULL)
    {
      g_test_skip ("systemd-analyze is not installed");
      return;
    }

  dir = g_dir_make_tmp ("munity-units-XXXXXX", NULL);
  runtime = g_build_filename (dir, "runtime", NULL);
  user_dir = g_build_filename (dir, "user", NULL);
  g_assert_cmpint (g_mkdir (runtime, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (user_dir, 0700), ==, 0);
  system_out = g_build_filename (dir, "munityd.service", NULL);
  socket_out = g_build_filename (dir, "munityd.socket", NULL);
  user_out = g_build_filename (user_dir, "munityd.service", NULL);
  configure_copy (system_in, system_out);
  configure_copy (socket_in, socket_out);
  configure_copy (user_in, user_out);
  /* A template is verified through an instance; systemd finds the
   * template beside it. */
  template_out = g_build_filename (dir, "munityd@.service", NULL);
  instance = g_build_filename (dir, "munityd@web1-1.service", NULL);
  configure_copy (template_in, template_out);

  {
    const char *argv[] = { analyze, "verify", "--man=no", system_out, socket_out, instance, NULL };
    run_tool (argv, dir, runtime);
  }
  {
    const char *argv[] = { analyze, "--user", "verify", "--man=no", user_out, NULL };
    run_tool (argv, dir, runtime);
  }

  munity_test_rm_rf (dir);
}

/* The most `systemd-analyze security` may rate the system unit: 2.0 on its
 * 0-10 scale ("OK"). doc/deploy.md explains each directive behind it. */
#define MAX_EXPOSURE 2.0

/* A system unit as installed (@template_name from data/, copied as
 * @file_name; @unit_name is what to rate: the file itself, or an instance
 * of a template), rated offline (systemd ≥ 250) by `systemd-analyze
 * security`; the rating must stay at most MAX_EXPOSURE. */
static void
check_unit_security (const char *template_name,
                     const char *file_name,
                     const char *unit_name)
{
  g_autofree char *analyze = g_find_program_in_path ("systemd-analyze");
  g_autofree char *system_in = source_path ("data", template_name, NULL);
  g_autofree char *dir = NULL;
  g_autofree char *unit = NULL;
  g_autofree char *rated = NULL;
  g_autofree char *threshold = g_strdup_printf ("--threshold=%d", (int) (MAX_EXPOSURE * 10));
  g_autofree char *pattern = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GRegex) regex = NULL;
  g_autoptr(GMatchInfo) match = NULL;
  g_autofree char *level = NULL;
  double exposure;

  /* Fail, not skip: the rating is the point of the test. */
  if (analyze == NULL)
    {
      g_test_fail_printf ("systemd-analyze is not installed (package systemd)");
      return;
    }

  dir = g_dir_make_tmp ("munity-security-XXXXXX", NULL);
  unit = g_build_filename (dir, file_name, NULL);
  rated = g_build_filename (dir, unit_name, NULL);
  configure_copy (system_in, unit);

  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error,
                           analyze, "security", "--offline=yes", "--no-pager", threshold, rated, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  /* The log gets what counts against the unit: lines that end in their
   * share of the exposure. */
  {
    g_auto(GStrv) lines = g_strsplit (out, "\n", -1);
    g_autoptr(GString) exposed = g_string_new (NULL);

    for (gsize i = 0; lines[i] != NULL; i++)
      if (g_regex_match_simple ("[0-9]\\.[0-9]\\s*$", lines[i], 0, 0))
        g_string_append_printf (exposed, "%s\n", g_strchomp (lines[i]));
    g_test_message ("systemd-analyze security %s: exit %d\n%s%s", unit_name,
                    g_subprocess_get_exit_status (proc), exposed->str, err);
  }

  {
    g_autofree char *escaped = g_regex_escape_string (unit_name, -1);
    pattern = g_strdup_printf ("Overall exposure level for %s: ([0-9]+\\.[0-9])", escaped);
  }
  regex = g_regex_new (pattern, 0, 0, &error);
  g_assert_no_error (error);
  if (!g_regex_match (regex, out, 0, &match))
    g_error ("no overall exposure level for %s in the output of systemd-analyze security", unit_name);
  level = g_match_info_fetch (match, 1);
  exposure = g_ascii_strtod (level, NULL);
  g_test_message ("%s: exposure %.1f (at most %.1f)", unit_name, exposure, MAX_EXPOSURE);
  g_assert_cmpfloat (exposure, <=, MAX_EXPOSURE);
  /* --threshold makes it fail above the same level; any other failure
   * (a unit it cannot load) fails here too. */
  g_assert_true (g_subprocess_get_successful (proc));

  munity_test_rm_rf (dir);
}

static void
test_unit_security (void)
{
  check_unit_security ("munityd.service.in", "munityd.service", "munityd.service");
  /* The nodes of a cluster get the same sandbox. */
  check_unit_security ("munityd@.service.in", "munityd@.service", "munityd@web1-1.service");
}

static void
check_activation_file (const char *name,
                       const char *bus_arg,
                       gboolean    system)
{
  g_autofree char *path = source_path ("data", name, NULL);
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *service_name = NULL;
  g_autofree char *exec = NULL;
  g_autofree char *systemd_service = NULL;
  g_autofree char *user = NULL;

  g_assert_true (g_key_file_load_from_file (key_file, path, G_KEY_FILE_NONE, &error));
  service_name = g_key_file_get_string (key_file, "D-BUS Service", "Name", &error);
  g_assert_cmpstr (service_name, ==, "org.munity.Presence1");
  exec = g_key_file_get_string (key_file, "D-BUS Service", "Exec", &error);
  g_assert_true (g_str_has_prefix (exec, "@sbindir@/munityd "));
  g_assert_nonnull (strstr (exec, bus_arg));
  systemd_service = g_key_file_get_string (key_file, "D-BUS Service", "SystemdService", &error);
  g_assert_cmpstr (systemd_service, ==, "munityd.service");
  user = g_key_file_get_string (key_file, "D-BUS Service", "User", NULL);
  g_assert_cmpstr (user, ==, system ? "munity" : NULL);
}

/* The D-Bus activation files name the service the units own, and the
 * units carry the same bus name. */
static void
test_dbus_files (void)
{
  g_autofree char *system_unit = source_path ("data", "munityd.service.in", NULL);
  g_autofree char *user_unit = source_path ("data", "user", "munityd.service.in", NULL);
  g_autofree char *text = NULL;

  check_activation_file ("org.munity.Presence1.system.service.in", "--bus system", TRUE);
  check_activation_file ("org.munity.Presence1.session.service.in", "--bus session", FALSE);

  g_assert_true (g_file_get_contents (system_unit, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, "\nBusName=org.munity.Presence1\n"));
  g_assert_nonnull (strstr (text, "\nType=notify\n"));
  g_assert_nonnull (strstr (text, "--bus system\n"));
  g_clear_pointer (&text, g_free);
  g_assert_true (g_file_get_contents (user_unit, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, "\nBusName=org.munity.Presence1\n"));
  g_assert_nonnull (strstr (text, "\nType=notify\n"));
  g_assert_nonnull (strstr (text, "--bus session\n"));
}

/* The template of a cluster node: the instance is the node name, the
 * nodes share the port, and none claims the bus name for the unit (one
 * owns it, the others queue). */
static void
test_template_unit (void)
{
  g_autofree char *template_unit = source_path ("data", "munityd@.service.in", NULL);
  g_autofree char *system_unit = source_path ("data", "munityd.service.in", NULL);
  g_autofree char *text = NULL;
  g_autofree char *system_text = NULL;
  g_auto(GStrv) lines = NULL;

  g_assert_true (g_file_get_contents (template_unit, &text, NULL, NULL));
  g_assert_true (g_file_get_contents (system_unit, &system_text, NULL, NULL));
  g_assert_nonnull (strstr (text, "\nExecStart=@sbindir@/munityd --bus system --node-name=%i --reuse-port "));
  g_assert_nonnull (strstr (text, "\nType=notify\n"));
  g_assert_null (strstr (text, "\nBusName="));
  g_assert_nonnull (strstr (text, "\nStateDirectory=munity\n"));

  /* Every sandbox line of munityd.service is in the template too. */
  lines = g_strsplit (strstr (system_text, "\nUser="), "\n", -1);
  for (gsize i = 0; lines[i] != NULL; i++)
    {
      g_autofree char *line = g_strdup_printf ("\n%s\n", lines[i]);

      if (*lines[i] == '\0' || *lines[i] == '#' || *lines[i] == '[' || g_str_has_prefix (lines[i], "WantedBy="))
        continue;
      g_test_message ("template has %s", lines[i]);
      g_assert_nonnull (strstr (text, line));
    }
}

/* sysusers.d: the munity account and the munity-admin group, created in an
 * empty root. */
static void
test_sysusers (void)
{
  g_autofree char *sysusers = g_find_program_in_path ("systemd-sysusers");
  g_autofree char *conf = source_path ("data", "munity.sysusers", NULL);
  g_autofree char *root = NULL;
  g_autofree char *etc = NULL;
  g_autofree char *passwd_path = NULL;
  g_autofree char *group_path = NULL;
  g_autofree char *passwd = NULL;
  g_autofree char *group = NULL;
  g_autofree char *root_arg = NULL;

  if (sysusers == NULL)
    {
      g_test_skip ("systemd-sysusers is not installed");
      return;
    }

  root = g_dir_make_tmp ("munity-sysusers-XXXXXX", NULL);
  etc = g_build_filename (root, "etc", NULL);
  g_assert_cmpint (g_mkdir (etc, 0755), ==, 0);
  root_arg = g_strdup_printf ("--root=%s", root);
  {
    g_autoptr(GSubprocess) proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                                                    NULL, sysusers, root_arg, conf, NULL);
    g_assert_nonnull (proc);
    g_assert_true (g_subprocess_wait_check (proc, NULL, NULL));
  }

  passwd_path = g_build_filename (etc, "passwd", NULL);
  group_path = g_build_filename (etc, "group", NULL);
  g_assert_true (g_file_get_contents (passwd_path, &passwd, NULL, NULL));
  g_assert_true (g_file_get_contents (group_path, &group, NULL, NULL));
  g_assert_true (g_str_has_prefix (passwd, "munity:") || strstr (passwd, "\nmunity:") != NULL);
  g_assert_nonnull (strstr (passwd, ":/var/lib/munity:"));
  g_assert_nonnull (strstr (group, "munity-admin:"));
  g_assert_nonnull (strstr (group, "munity:"));

  munity_test_rm_rf (root);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/systemd/notify/ready-watchdog-stopping", test_notify);
  g_test_add_func ("/systemd/notify/no-watchdog", test_notify_no_watchdog);
  g_test_add_func ("/systemd/socket-activation", test_socket_activation);
  g_test_add_func ("/systemd/files/units-verify", test_units_verify);
  g_test_add_func ("/systemd/files/unit-security", test_unit_security);
  g_test_add_func ("/systemd/files/dbus-activation", test_dbus_files);
  g_test_add_func ("/systemd/files/template-unit", test_template_unit);
  g_test_add_func ("/systemd/files/sysusers", test_sysusers);

  status = g_test_run ();
  g_clear_pointer (&pg, munity_test_pg_free);
  return status;
}
