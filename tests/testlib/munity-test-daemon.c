/* munity-test-daemon.c — the real munityd as a subprocess, for tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/* nftw () */
#ifndef _GNU_SOURCE
#endif

#include "munity-test-daemon.h"

#include <errno.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct _MunityTestDaemon {
  GSubprocess *proc;          /* (owned) */
  GPid         pid;
  char        *base_url;      /* (owned) */
  guint16      port;
  char        *state_dir;     /* (owned) */
  gboolean     own_state_dir; /* remove state_dir in free() */
  char        *xdg_dir;       /* (owned) */
};

/* ---- small utilities ---------------------------------------------------- */

/* g_set_str() is GLib 2.76. */
static void
replace_str (char       **dest,
             const char  *value)
{
  char *copy = g_strdup (value);

  g_free (*dest);
  *dest = copy;
}

guint16
munity_test_free_port (const char *ip)
{
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string (ip);
  g_autoptr(GSocket) sock = NULL;
  g_autoptr(GSocketAddress) bind_addr = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  guint16 port;

  g_return_val_if_fail (addr != NULL, 0);

  sock = g_socket_new (g_inet_address_get_family (addr), G_SOCKET_TYPE_STREAM,
                       G_SOCKET_PROTOCOL_TCP, NULL);
  if (sock == NULL)
    return 0;
  bind_addr = g_inet_socket_address_new (addr, 0);
  if (!g_socket_bind (sock, bind_addr, FALSE, NULL))
    return 0;
  local = g_socket_get_local_address (sock, NULL);
  if (local == NULL)
    return 0;
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
  g_socket_close (sock, NULL);
  return port;
}

static int
rm_rf_cb (const char        *path,
          const struct stat *sb,
          int                typeflag,
          struct FTW        *ftwbuf)
{
  if (remove (path) != 0 && errno != ENOENT)
    g_test_message ("could not remove %s: %s", path, g_strerror (errno));
  return 0;
}

void
munity_test_rm_rf (const char *path)
{
  if (path == NULL || !g_file_test (path, G_FILE_TEST_EXISTS | G_FILE_TEST_IS_SYMLINK))
    return;
  nftw (path, rm_rf_cb, 32, FTW_DEPTH | FTW_PHYS);
}

GArray *
munity_test_find_processes (const char *needle)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (GPid));
  g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;
  GPid self = getpid ();

  g_return_val_if_fail (needle != NULL && *needle != '\0', pids);

  if (dir == NULL)
    return pids;

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *cmdline = NULL;
      gsize len = 0;
      guint64 pid;

      if (!g_ascii_string_to_unsigned (name, 10, 1, G_MAXINT, &pid, NULL))
        continue;
      if ((GPid) pid == self)
        continue;

      path = g_strdup_printf ("/proc/%s/cmdline", name);
      /* Zombies and kernel threads have an empty command line. */
      if (!g_file_get_contents (path, &cmdline, &len, NULL) || len == 0)
        continue;
      for (gsize i = 0; i < len; i++)
        if (cmdline[i] == '\0')
          cmdline[i] = ' ';
      if (strstr (cmdline, needle) != NULL)
        {
          GPid p = (GPid) pid;
          g_array_append_val (pids, p);
        }
    }

  return pids;
}

guint
munity_test_count_processes (const char *needle)
{
  g_autoptr(GArray) pids = munity_test_find_processes (needle);

  return pids->len;
}

/* ---- running munityd ---------------------------------------------------- */

static const char *
munityd_path (GError **error)
{
  const char *path = g_getenv ("MUNITYD");

  if (path == NULL || *path == '\0')
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                           "MUNITYD is not set (run the tests through meson test)");
      return NULL;
    }
  return path;
}

typedef struct {
  pid_t parent;
} ChildSetup;

/* A test that fails aborts at once; munityd must not outlive it. SIGTERM
 * lets it stop its embedded PostgreSQL on the way out. */
static void
child_setup (gpointer user_data)
{
  ChildSetup *cs = user_data;

  prctl (PR_SET_PDEATHSIG, SIGTERM);
  if (getppid () != cs->parent)
    _exit (1);
}

static GSubprocessLauncher *
new_launcher (GSubprocessFlags flags,
              const char      *xdg_dir)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);
  ChildSetup *cs = g_new0 (ChildSetup, 1);

  cs->parent = getpid ();
  g_subprocess_launcher_set_child_setup (launcher, child_setup, cs, g_free);

  g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", xdg_dir, TRUE);
  /* Whatever the test runner was started with must not leak into munityd. */
  g_subprocess_launcher_unsetenv (launcher, "LISTEN_FDS");
  g_subprocess_launcher_unsetenv (launcher, "LISTEN_PID");
  g_subprocess_launcher_unsetenv (launcher, "LISTEN_FDNAMES");
  g_subprocess_launcher_unsetenv (launcher, "NOTIFY_SOCKET");
  g_subprocess_launcher_unsetenv (launcher, "WATCHDOG_USEC");
  g_subprocess_launcher_unsetenv (launcher, "WATCHDOG_PID");
  return launcher;
}

/* Finds `--NAME VALUE` or `--NAME=VALUE` in @args. */
static const char *
find_option (const char * const *args,
             const char         *name)
{
  gsize name_len = strlen (name);

  for (gsize i = 0; args != NULL && args[i] != NULL; i++)
    {
      if (strcmp (args[i], name) == 0)
        return args[i + 1];
      if (strncmp (args[i], name, name_len) == 0 && args[i][name_len] == '=')
        return args[i] + name_len + 1;
    }
  return NULL;
}

/* "127.0.0.1:8080" → "http://127.0.0.1:8080"; "[::1]:80" → "http://[::1]:80";
 * wildcard addresses are reached through loopback. */
static char *
base_url_for_listen (const char *listen,
                     guint16    *out_port)
{
  g_autofree char *host = NULL;
  const char *colon = strrchr (listen, ':');
  guint64 port = 0;

  if (colon == NULL)
    return NULL;
  host = g_strndup (listen, colon - listen);
  if (!g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &port, NULL))
    return NULL;
  if (g_str_equal (host, "0.0.0.0") || *host == '\0')
    replace_str (&host, "127.0.0.1");
  else if (g_str_equal (host, "[::]"))
    replace_str (&host, "[::1]");
  *out_port = (guint16) port;
  return g_strdup_printf ("http://%s:%u", host, (guint) port);
}

static gboolean
wait_for_exit (GSubprocess *proc,
               guint        timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  /* GSubprocess reaps the child from GLib's worker thread, so the identifier
   * goes NULL without anyone iterating a main context. */
  while (g_subprocess_get_identifier (proc) != NULL)
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_usleep (10 * 1000);
    }
  g_subprocess_wait (proc, NULL, NULL);
  return TRUE;
}

static int
exit_code_of (GSubprocess *proc)
{
  if (g_subprocess_get_if_exited (proc))
    return g_subprocess_get_exit_status (proc);
  if (g_subprocess_get_if_signaled (proc))
    return 128 + g_subprocess_get_term_sig (proc);
  return -1;
}

MunityTestDaemon *
munity_test_daemon_try_start (const char * const *extra_args,
                              guint               timeout_s,
                              GError            **error)
{
  return munity_test_daemon_try_start_with_env (extra_args, NULL, timeout_s, error);
}

MunityTestDaemon *
munity_test_daemon_try_start_with_env (const char * const *extra_args,
                                       const char * const *env,
                                       guint               timeout_s,
                                       GError            **error)
{
  g_autoptr(MunityTestDaemon) d = g_new0 (MunityTestDaemon, 1);
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(SoupSession) session = NULL;
  g_autofree char *healthz = NULL;
  const char *munityd = munityd_path (error);
  const char *listen = find_option (extra_args, "--listen");
  const char *state_dir = find_option (extra_args, "--state-dir");
  g_autofree char *own_listen = NULL;
  gint64 deadline;
  guint last_status = 0;
  g_autofree char *last_error = NULL;
  int stdout_fd;

  if (munityd == NULL)
    return NULL;

  d->xdg_dir = g_dir_make_tmp ("munity-xdg-XXXXXX", error);
  if (d->xdg_dir == NULL)
    return NULL;

  if (state_dir != NULL)
    d->state_dir = g_strdup (state_dir);
  else
    {
      d->state_dir = g_dir_make_tmp ("munity-state-XXXXXX", error);
      if (d->state_dir == NULL)
        return NULL;
      d->own_state_dir = TRUE;
    }

  if (listen == NULL)
    {
      guint16 port = munity_test_free_port ("127.0.0.1");

      if (port == 0)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                               "no free port on 127.0.0.1");
          return NULL;
        }
      own_listen = g_strdup_printf ("127.0.0.1:%u", port);
      listen = own_listen;
    }
  d->base_url = base_url_for_listen (listen, &d->port);
  if (d->base_url == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "cannot make a URL from --listen %s", listen);
      return NULL;
    }
  /* With --tls-certificate munityd speaks HTTPS on its listen address. */
  if (find_option (extra_args, "--tls-certificate") != NULL)
    {
      char *https = g_strconcat ("https://", d->base_url + strlen ("http://"), NULL);
      g_free (d->base_url);
      d->base_url = https;
    }

  g_ptr_array_add (argv, g_strdup (munityd));
  if (own_listen != NULL)
    {
      g_ptr_array_add (argv, g_strdup ("--listen"));
      g_ptr_array_add (argv, g_strdup (own_listen));
    }
  if (find_option (extra_args, "--bus") == NULL)
    {
      g_ptr_array_add (argv, g_strdup ("--bus"));
      g_ptr_array_add (argv, g_strdup ("none"));
    }
  if (state_dir == NULL)
    {
      g_ptr_array_add (argv, g_strdup ("--state-dir"));
      g_ptr_array_add (argv, g_strdup (d->state_dir));
    }
  for (gsize i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra_args[i]));
  g_ptr_array_add (argv, NULL);

  {
    g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
    g_test_message ("starting %s", cmd);
  }

  /* munityd's stderr is inherited so that its log shows in the test log;
   * its stdout goes there too, because our stdout carries TAP. */
  launcher = new_launcher (G_SUBPROCESS_FLAGS_NONE, d->xdg_dir);
  for (gsize i = 0; env != NULL && env[i] != NULL && env[i + 1] != NULL; i += 2)
    {
      g_test_message ("  with %s=%s", env[i], env[i + 1]);
      g_subprocess_launcher_setenv (launcher, env[i], env[i + 1], TRUE);
    }
  stdout_fd = dup (STDERR_FILENO);
  if (stdout_fd >= 0)
    g_subprocess_launcher_take_stdout_fd (launcher, stdout_fd);
  d->proc = g_subprocess_launcher_spawnv (launcher,
                                          (const char * const *) argv->pdata,
                                          error);
  if (d->proc == NULL)
    return NULL;
  {
    const char *ident = g_subprocess_get_identifier (d->proc);
    d->pid = ident != NULL ? (GPid) g_ascii_strtoll (ident, NULL, 10) : 0;
  }

  session = munity_test_session_new (FALSE);
  g_object_set (session, "timeout", 2, NULL);
  healthz = munity_test_daemon_url (d, "/healthz");
  deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;

  for (;;)
    {
      g_autoptr(MunityTestResponse) resp = NULL;
      g_autoptr(GError) local_error = NULL;

      if (!munity_test_daemon_is_running (d))
        {
          g_subprocess_wait (d->proc, NULL, NULL);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       "munityd exited early (status %d) before /healthz answered 200",
                       exit_code_of (d->proc));
          return NULL;
        }

      resp = munity_test_http_full (session, "GET", healthz, NULL, NULL, 0,
                                    NULL, &local_error);
      if (resp != NULL && resp->status == SOUP_STATUS_OK)
        break;
      if (resp != NULL)
        last_status = resp->status;
      if (local_error != NULL)
        replace_str (&last_error, local_error->message);

      if (g_get_monotonic_time () > deadline)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "munityd did not answer GET /healthz with 200 within %u s "
                       "(last status %u, last error: %s)",
                       timeout_s, last_status,
                       last_error != NULL ? last_error : "none");
          return NULL;
        }
      g_usleep (100 * 1000);
    }

  return g_steal_pointer (&d);
}

MunityTestDaemon *
munity_test_daemon_start (const char * const *extra_args)
{
  g_autoptr(GError) error = NULL;
  MunityTestDaemon *d = munity_test_daemon_try_start (extra_args, 60, &error);

  if (d == NULL)
    g_error ("could not start munityd: %s", error->message);
  return d;
}

const char *
munity_test_daemon_base_url (MunityTestDaemon *d)
{
  return d->base_url;
}

guint16
munity_test_daemon_port (MunityTestDaemon *d)
{
  return d->port;
}

GPid
munity_test_daemon_pid (MunityTestDaemon *d)
{
  return d->pid;
}

const char *
munity_test_daemon_state_dir (MunityTestDaemon *d)
{
  return d->state_dir;
}

char *
munity_test_daemon_url (MunityTestDaemon *d,
                        const char       *path)
{
  return g_strconcat (d->base_url, path, NULL);
}

gboolean
munity_test_daemon_is_running (MunityTestDaemon *d)
{
  return d->proc != NULL && g_subprocess_get_identifier (d->proc) != NULL;
}

int
munity_test_daemon_stop (MunityTestDaemon *d,
                         guint            *out_ms)
{
  gint64 start = g_get_monotonic_time ();
  int status;

  g_return_val_if_fail (d->proc != NULL, -1);

  if (munity_test_daemon_is_running (d))
    g_subprocess_send_signal (d->proc, SIGTERM);

  if (wait_for_exit (d->proc, 10 * 1000))
    status = exit_code_of (d->proc);
  else
    {
      g_test_message ("munityd (pid %d) did not exit within 10 s of SIGTERM; killing it",
                      (int) d->pid);
      g_subprocess_force_exit (d->proc);
      wait_for_exit (d->proc, 10 * 1000);
      status = -1;
    }

  if (out_ms != NULL)
    *out_ms = (guint) ((g_get_monotonic_time () - start) / 1000);
  return status;
}

/* PostgreSQL started by a munityd that died badly would outlive it; end
 * such processes, found by our own unique temporary directory name. */
static void
end_leftovers (const char *needle)
{
  g_autoptr(GArray) pids = munity_test_find_processes (needle);
  gint64 deadline;

  if (pids->len == 0)
    return;

  for (guint i = 0; i < pids->len; i++)
    {
      GPid pid = g_array_index (pids, GPid, i);
      g_test_message ("ending leftover process %d (command line names %s)",
                      (int) pid, needle);
      kill (pid, SIGTERM);
    }

  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      if (munity_test_count_processes (needle) == 0)
        return;
      g_usleep (50 * 1000);
    }
  for (guint i = 0; i < pids->len; i++)
    kill (g_array_index (pids, GPid, i), SIGKILL);
}

void
munity_test_daemon_free (MunityTestDaemon *d)
{
  if (d == NULL)
    return;

  if (munity_test_daemon_is_running (d))
    munity_test_daemon_stop (d, NULL);

  if (d->own_state_dir && d->state_dir != NULL)
    {
      end_leftovers (d->state_dir);
      munity_test_rm_rf (d->state_dir);
    }
  if (d->xdg_dir != NULL)
    munity_test_rm_rf (d->xdg_dir);

  g_clear_object (&d->proc);
  g_free (d->base_url);
  g_free (d->state_dir);
  g_free (d->xdg_dir);
  g_free (d);
}

typedef struct {
  gboolean  done;
  GBytes   *out;
  GBytes   *err;
} CommunicateData;

static void
communicate_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  CommunicateData *data = user_data;

  g_subprocess_communicate_finish (G_SUBPROCESS (source), result,
                                   &data->out, &data->err, NULL);
  data->done = TRUE;
}

static char *
bytes_to_string (GBytes *bytes)
{
  if (bytes == NULL)
    return g_strdup ("");
  return g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

int
munity_test_munityd_run (const char * const *args,
                         guint               timeout_s,
                         char              **out_stdout,
                         char              **out_stderr)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *xdg_dir = NULL;
  CommunicateData data = { 0, };
  const char *munityd = munityd_path (&error);
  gint64 deadline;
  gboolean timed_out = FALSE;
  int status;

  g_assert_no_error (error);

  xdg_dir = g_dir_make_tmp ("munity-xdg-XXXXXX", &error);
  g_assert_no_error (error);

  g_ptr_array_add (argv, (gpointer) munityd);
  for (gsize i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  launcher = new_launcher (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                           G_SUBPROCESS_FLAGS_STDERR_PIPE, xdg_dir);
  proc = g_subprocess_launcher_spawnv (launcher,
                                       (const char * const *) argv->pdata,
                                       &error);
  g_assert_no_error (error);

  g_main_context_push_thread_default (context);
  g_subprocess_communicate_async (proc, NULL, cancellable, communicate_cb, &data);

  deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  while (!data.done && g_get_monotonic_time () < deadline)
    {
      g_main_context_iteration (context, FALSE);
      if (!data.done)
        g_usleep (5 * 1000);
    }
  if (!data.done)
    {
      timed_out = TRUE;
      g_test_message ("munityd still running after %u s; killing it", timeout_s);
      g_subprocess_force_exit (proc);
      /* A child of munityd could hold the pipes open; do not wait forever. */
      deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
      while (!data.done && g_get_monotonic_time () < deadline)
        {
          g_main_context_iteration (context, FALSE);
          if (!data.done)
            g_usleep (5 * 1000);
        }
      if (!data.done)
        {
          g_cancellable_cancel (cancellable);
          while (!data.done)
            g_main_context_iteration (context, TRUE);
        }
    }
  g_main_context_pop_thread_default (context);

  wait_for_exit (proc, 10 * 1000);
  status = timed_out ? -1 : exit_code_of (proc);

  if (out_stdout != NULL)
    *out_stdout = bytes_to_string (data.out);
  if (out_stderr != NULL)
    *out_stderr = bytes_to_string (data.err);
  g_clear_pointer (&data.out, g_bytes_unref);
  g_clear_pointer (&data.err, g_bytes_unref);

  munity_test_rm_rf (xdg_dir);
  return status;
}

/* ---- HTTP client helpers ------------------------------------------------ */

static gboolean
accept_test_certificate (SoupMessage          *msg,
                         GTlsCertificate      *certificate,
                         GTlsCertificateFlags  errors,
                         gpointer              user_data)
{
  return TRUE;
}

SoupSession *
munity_test_session_new (gboolean cookie_jar)
{
  SoupSession *session = soup_session_new_with_options ("timeout", 30,
                                                        "max-conns", 128,
                                                        "max-conns-per-host", 64,
                                                        NULL);

  /* Straight to the daemon, whatever proxy the environment names. */
  soup_session_set_proxy_resolver (session, NULL);
  if (cookie_jar)
    {
      g_autoptr(SoupCookieJar) jar = soup_cookie_jar_new ();
      soup_session_add_feature (session, SOUP_SESSION_FEATURE (jar));
    }
  return session;
}

void
munity_test_response_free (MunityTestResponse *resp)
{
  if (resp == NULL)
    return;
  g_clear_pointer (&resp->headers, soup_message_headers_unref);
  g_clear_pointer (&resp->body, g_bytes_unref);
  g_clear_pointer (&resp->json, json_node_unref);
  g_free (resp->text);
  g_free (resp);
}

MunityTestResponse *
munity_test_http_full (SoupSession        *session,
                       const char         *method,
                       const char         *url,
                       const char         *content_type,
                       const char         *body,
                       gssize              body_len,
                       const char * const *headers,
                       GError            **error)
{
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);

  /* Tests make their own certificates. */
  if (msg != NULL && g_str_has_prefix (url, "https://"))
    g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_test_certificate), NULL);
  g_autoptr(GBytes) response_body = NULL;
  MunityTestResponse *resp;
  SoupMessageHeaders *request_headers;
  gint64 start;

  if (msg == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "not a valid URL: %s", url);
      return NULL;
    }

  request_headers = soup_message_get_request_headers (msg);
  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = NULL;

      if (body_len < 0)
        body_len = strlen (body);
      bytes = g_bytes_new (body, body_len);
      soup_message_set_request_body_from_bytes (msg, content_type, bytes);
    }
  else if (content_type != NULL)
    soup_message_headers_replace (request_headers, "Content-Type", content_type);

  for (gsize i = 0; headers != NULL && headers[i] != NULL && headers[i + 1] != NULL; i += 2)
    soup_message_headers_append (request_headers, headers[i], headers[i + 1]);

  start = g_get_monotonic_time ();
  response_body = soup_session_send_and_read (session, msg, NULL, error);
  if (response_body == NULL)
    return NULL;

  resp = g_new0 (MunityTestResponse, 1);
  resp->elapsed_ms = (g_get_monotonic_time () - start) / 1000.0;
  resp->status = soup_message_get_status (msg);
  resp->headers = soup_message_headers_ref (soup_message_get_response_headers (msg));
  resp->body = g_steal_pointer (&response_body);
  return resp;
}

MunityTestResponse *
munity_test_http (SoupSession *session,
                  const char  *method,
                  const char  *url,
                  const char  *content_type,
                  const char  *body,
                  gssize       body_len,
                  ...)
{
  g_autoptr(GPtrArray) headers = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  MunityTestResponse *resp;
  const char *name;
  va_list ap;

  va_start (ap, body_len);
  while ((name = va_arg (ap, const char *)) != NULL)
    {
      const char *value = va_arg (ap, const char *);
      g_ptr_array_add (headers, (gpointer) name);
      g_ptr_array_add (headers, (gpointer) value);
    }
  va_end (ap);
  g_ptr_array_add (headers, NULL);

  resp = munity_test_http_full (session, method, url, content_type, body,
                                body_len, (const char * const *) headers->pdata,
                                &error);
  if (resp == NULL)
    g_test_message ("%s %s failed: %s", method, url, error->message);
  g_assert_no_error (error);
  return resp;
}

/* Undoes `Transfer-Encoding: chunked`; NULL if malformed. */
static GBytes *
dechunk (const char *data,
         gsize       len)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  gsize pos = 0;

  for (;;)
    {
      const char *eol = g_strstr_len (data + pos, len - pos, "\r\n");
      guint64 size;
      char *end;

      if (eol == NULL)
        return NULL;
      size = g_ascii_strtoull (data + pos, &end, 16);
      if (end == data + pos)
        return NULL;
      pos = (eol - data) + 2;
      if (size == 0)
        break;
      if (size > len - pos)
        return NULL;
      g_byte_array_append (out, (const guint8 *) data + pos, size);
      pos += size + 2;
      if (pos > len)
        return NULL;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

MunityTestResponse *
munity_test_http_from (const char         *local_ip,
                       const char         *server_ip,
                       guint16             port,
                       const char         *method,
                       const char         *path,
                       const char         *content_type,
                       const char         *body,
                       const char * const *headers,
                       GError            **error)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GString) request = g_string_new (NULL);
  g_autoptr(GByteArray) answer = g_byte_array_new ();
  g_autofree char *head = NULL;
  g_autoptr(MunityTestResponse) resp = g_new0 (MunityTestResponse, 1);
  SoupHTTPVersion version;
  const char *data, *blank;
  gsize header_len;
  gint64 start;

  local = g_inet_socket_address_new_from_string (local_ip, 0);
  remote = g_inet_socket_address_new_from_string (server_ip, port);
  if (local == NULL || remote == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "bad address %s or %s", local_ip, server_ip);
      return NULL;
    }
  g_socket_client_set_local_address (client, local);
  g_socket_client_set_timeout (client, 30);

  if (strchr (server_ip, ':') != NULL)
    g_string_append_printf (request, "%s %s HTTP/1.1\r\nHost: [%s]:%u\r\n",
                            method, path, server_ip, port);
  else
    g_string_append_printf (request, "%s %s HTTP/1.1\r\nHost: %s:%u\r\n",
                            method, path, server_ip, port);
  g_string_append (request, "Connection: close\r\n");
  if (content_type != NULL)
    g_string_append_printf (request, "Content-Type: %s\r\n", content_type);
  if (body != NULL)
    g_string_append_printf (request, "Content-Length: %zu\r\n", strlen (body));
  for (gsize i = 0; headers != NULL && headers[i] != NULL && headers[i + 1] != NULL; i += 2)
    g_string_append_printf (request, "%s: %s\r\n", headers[i], headers[i + 1]);
  g_string_append (request, "\r\n");
  if (body != NULL)
    g_string_append (request, body);

  start = g_get_monotonic_time ();
  conn = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (remote), NULL, error);
  if (conn == NULL)
    return NULL;
  if (!g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                  request->str, request->len, NULL, NULL, error))
    return NULL;

  for (;;)
    {
      guint8 buf[8192];
      gssize n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)),
                                      buf, sizeof buf, NULL, error);
      if (n < 0)
        return NULL;
      if (n == 0)
        break;
      g_byte_array_append (answer, buf, n);
    }
  resp->elapsed_ms = (g_get_monotonic_time () - start) / 1000.0;

  data = (const char *) answer->data;
  blank = g_strstr_len (data, answer->len, "\r\n\r\n");
  if (blank == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "no complete HTTP response header in %u bytes", answer->len);
      return NULL;
    }
  header_len = blank - data + 2;
  head = g_strndup (data, header_len);
  resp->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  if (!soup_headers_parse_response (head, header_len, resp->headers, &version,
                                    &resp->status, NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "cannot parse HTTP response header");
      return NULL;
    }

  {
    const char *rest = blank + 4;
    gsize rest_len = answer->len - (rest - data);

    if (soup_message_headers_get_encoding (resp->headers) == SOUP_ENCODING_CHUNKED)
      {
        resp->body = dechunk (rest, rest_len);
        if (resp->body == NULL)
          {
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                         "malformed chunked body");
            return NULL;
          }
      }
    else
      {
        goffset length = soup_message_headers_get_content_length (resp->headers);
        if (soup_message_headers_get_encoding (resp->headers) == SOUP_ENCODING_CONTENT_LENGTH &&
            (gsize) length < rest_len)
          rest_len = length;
        resp->body = g_bytes_new (rest, rest_len);
      }
  }

  return g_steal_pointer (&resp);
}

const char *
munity_test_response_text (MunityTestResponse *resp)
{
  if (resp->text == NULL)
    {
      gsize len;
      const char *data = g_bytes_get_data (resp->body, &len);

      resp->text = g_strndup (data != NULL ? data : "", len);
    }
  return resp->text;
}

JsonNode *
munity_test_response_json (MunityTestResponse *resp)
{
  if (!resp->json_tried)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      gsize len;
      const char *data = g_bytes_get_data (resp->body, &len);

      resp->json_tried = TRUE;
      if (data != NULL && len > 0 &&
          json_parser_load_from_data (parser, data, len, NULL) &&
          json_parser_get_root (parser) != NULL)
        resp->json = json_node_copy (json_parser_get_root (parser));
    }
  return resp->json;
}

JsonObject *
munity_test_response_object (MunityTestResponse *resp)
{
  JsonNode *node = munity_test_response_json (resp);

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  return json_node_get_object (node);
}

const char *
munity_test_response_error_code (MunityTestResponse *resp)
{
  JsonObject *root = munity_test_response_object (resp);
  JsonNode *error_node, *code;

  if (root == NULL)
    return NULL;
  error_node = json_object_get_member (root, "error");
  if (error_node == NULL || !JSON_NODE_HOLDS_OBJECT (error_node))
    return NULL;
  code = json_object_get_member (json_node_get_object (error_node), "code");
  if (code == NULL || json_node_get_value_type (code) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (code);
}

const char *
munity_test_response_content_type (MunityTestResponse *resp)
{
  return soup_message_headers_get_content_type (resp->headers, NULL);
}

char *
munity_test_response_set_cookie (MunityTestResponse *resp,
                                 const char         *name)
{
  SoupMessageHeadersIter iter;
  const char *header_name, *value;
  g_autofree char *prefix = g_strconcat (name, "=", NULL);
  char *found = NULL;

  soup_message_headers_iter_init (&iter, resp->headers);
  while (soup_message_headers_iter_next (&iter, &header_name, &value))
    {
      const char *v = value;

      if (g_ascii_strcasecmp (header_name, "Set-Cookie") != 0)
        continue;
      while (*v == ' ' || *v == '\t')
        v++;
      if (g_str_has_prefix (v, prefix))
        replace_str (&found, value);
    }
  return found;
}

/* ---- SQL ------------------------------------------------------------------ */

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PGconn, PQfinish)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PGresult, PQclear)

char *
munity_test_sql_value (const char *conninfo,
                       const char *sql)
{
  g_autoptr(PGconn) conn = PQconnectdb (conninfo);
  g_autoptr(PGresult) result = NULL;
  ExecStatusType status;

  if (PQstatus (conn) != CONNECTION_OK)
    g_error ("cannot connect to %s: %s", conninfo, PQerrorMessage (conn));

  result = PQexec (conn, sql);
  status = PQresultStatus (result);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    g_error ("SQL failed: %s: %s", sql, PQresultErrorMessage (result));

  if (status != PGRES_TUPLES_OK || PQntuples (result) == 0 ||
      PQnfields (result) == 0 || PQgetisnull (result, 0, 0))
    return NULL;
  return g_strdup (PQgetvalue (result, 0, 0));
}

char *
munity_test_sql_quote (const char *s)
{
  GString *out = g_string_new ("'");

  for (const char *p = s; *p != '\0'; p++)
    {
      if (*p == '\'')
        g_string_append_c (out, '\'');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, '\'');
  return g_string_free (out, FALSE);
}

char *
munity_test_json_object (const char *first_key,
                         ...)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  va_list ap;

  json_builder_begin_object (builder);
  va_start (ap, first_key);
  for (const char *key = first_key; key != NULL; key = va_arg (ap, const char *))
    {
      json_builder_set_member_name (builder, key);
      json_builder_add_string_value (builder, va_arg (ap, const char *));
    }
  va_end (ap);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

/* ---- the main loop, and users of a running munityd ---------------------- */

static gboolean
pump_done_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
munity_test_pump (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, pump_done_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

MunityTestUser *
munity_test_user_register (SoupSession      *session,
                           MunityTestDaemon *d,
                           const char       *first,
                           const char       *last)
{
  static guint serial;
  MunityTestUser *u = g_new0 (MunityTestUser, 1);
  g_autofree char *url = munity_test_daemon_url (d, "/api/register");
  g_autofree char *body = NULL;
  g_autoptr(MunityTestResponse) resp = NULL;
  char *set_cookie;

  u->email = g_strdup_printf ("user-%u-%d-%" G_GINT64_FORMAT "@example.org", serial++, (int) getpid (),
                              g_get_real_time ());
  u->first = g_strdup (first);
  u->last = g_strdup (last);
  body = munity_test_json_object ("first", first, "last", last, "email", u->email,
                                  "password", MUNITY_TEST_PASSWORD, NULL);
  resp = munity_test_http (session, "POST", url, "application/json", body, -1, NULL);
  if (resp->status != 201)
    g_test_message ("register %s: %u %s", u->email, resp->status, munity_test_response_text (resp));
  g_assert_cmpuint (resp->status, ==, 201);
  u->id = json_object_get_int_member (json_object_get_object_member (munity_test_response_object (resp), "user"),
                                      "id");
  set_cookie = munity_test_response_set_cookie (resp, "munity_session");
  g_assert_nonnull (set_cookie);
  *strchr (set_cookie, ';') = '\0';
  u->cookie = set_cookie;
  return u;
}

void
munity_test_user_free (MunityTestUser *user)
{
  if (user == NULL)
    return;
  g_free (user->first);
  g_free (user->last);
  g_free (user->email);
  g_free (user->cookie);
  g_free (user);
}

/* ---- D-Bus ---------------------------------------------------------------- */

static void
name_appeared_cb (GDBusConnection *connection,
                  const char      *name,
                  const char      *owner,
                  gpointer         user_data)
{
  *(gboolean *) user_data = TRUE;
}

GDBusConnection *
munity_test_bus_connect_when_owned (GTestDBus *bus)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *conn;
  gboolean appeared = FALSE;
  guint watch;

  conn = g_dbus_connection_new_for_address_sync (g_test_dbus_get_bus_address (bus),
                                                 G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                 G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                 NULL, NULL, &error);
  g_assert_no_error (error);
  watch = g_bus_watch_name_on_connection (conn, "org.munity.Presence1", G_BUS_NAME_WATCHER_FLAGS_NONE,
                                          name_appeared_cb, NULL, &appeared, NULL);
  MUNITY_TEST_WAIT_FOR (appeared, 10000);
  g_bus_unwatch_name (watch);
  return conn;
}

static void
call_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  GVariant **reply = user_data;
  g_autoptr(GError) error = NULL;

  *reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  g_assert_no_error (error);
}

GVariant *
munity_test_presence_call (GDBusConnection *conn,
                           const char      *method,
                           GVariant        *args,
                           const char      *reply_type)
{
  GVariant *reply = NULL;

  g_dbus_connection_call (conn, "org.munity.Presence1", "/org/munity/Presence1",
                          "org.munity.Presence1", method, args, G_VARIANT_TYPE (reply_type),
                          G_DBUS_CALL_FLAGS_NONE, 10000, NULL, call_done_cb, &reply);
  MUNITY_TEST_WAIT_FOR (reply != NULL, 10000);
  return reply;
}
