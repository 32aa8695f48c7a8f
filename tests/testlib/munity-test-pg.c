/* munity-test-pg.c — a throwaway PostgreSQL cluster for tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Test code: blocking calls are fine here. The cluster lives in a fresh
 * temporary directory, listens only on a Unix socket in it, and when the
 * tests run as root it belongs to, and runs as, the `postgres` account
 * (PostgreSQL refuses to run as root).
 */
#include "config.h"

#include "munity-test-pg.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#define START_TIMEOUT_US (30 * G_USEC_PER_SEC)
#define STOP_TIMEOUT_MS  15000

struct _MunityTestPg
{
  char *dir;                    /* (owned) */
  char *data_dir;               /* (owned) */
  char *log_path;               /* (owned) */
  char *conninfo;               /* (owned) */
  char *bindir;                 /* (owned) */
  GSubprocess *postgres;        /* (owned) (nullable) */
  gboolean as_postgres;
  uid_t uid;
  gid_t gid;
};

typedef struct {
  gboolean switch_user;
  uid_t uid;
  gid_t gid;
  pid_t parent;
} ChildSetup;

static void
child_setup (gpointer user_data)
{
  ChildSetup *cs = user_data;

  if (cs->switch_user)
    {
      gid_t groups[1] = { cs->gid };

      if (setgroups (1, groups) != 0 || setgid (cs->gid) != 0 || setuid (cs->uid) != 0)
        _exit (127);
    }
  /* A crashed or timed-out test must not leave a server behind. */
  prctl (PR_SET_PDEATHSIG, SIGINT);
  if (getppid () != cs->parent)
    _exit (1);
}

static GSubprocessLauncher *
make_launcher (MunityTestPg     *pg,
               GSubprocessFlags  flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);
  ChildSetup *cs = g_new0 (ChildSetup, 1);

  cs->switch_user = pg->as_postgres;
  cs->uid = pg->uid;
  cs->gid = pg->gid;
  cs->parent = getpid ();
  g_subprocess_launcher_set_child_setup (launcher, child_setup, cs, g_free);
  g_subprocess_launcher_set_cwd (launcher, pg->dir);
  g_subprocess_launcher_unsetenv (launcher, "PGDATA");
  return launcher;
}

static char *
find_bindir (void)
{
  const char *env = g_getenv ("MUNITY_PG_BINDIR");

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  return g_strdup (MUNITY_PG_BINDIR);
}

static char *
read_log (MunityTestPg *pg)
{
  char *contents = NULL;

  if (!g_file_get_contents (pg->log_path, &contents, NULL, NULL))
    return g_strdup ("(no log)");
  return contents;
}

static void
start_server (MunityTestPg *pg)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autofree char *postgres = g_build_filename (pg->bindir, "postgres", NULL);
  g_autoptr(GError) error = NULL;
  gint64 deadline;
  int log_fd;

  log_fd = g_open (pg->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    g_error ("Cannot open %s: %s", pg->log_path, g_strerror (errno));

  launcher = make_launcher (pg, G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_take_stdout_fd (launcher, log_fd);
  /* Durability is of no use to a throwaway cluster; speed is. */
  pg->postgres = g_subprocess_launcher_spawn (launcher, &error,
                                              postgres,
                                              "-D", pg->data_dir,
                                              "-k", pg->dir,
                                              "-p", "5432",
                                              "-c", "listen_addresses=",
                                              "-c", "fsync=off",
                                              "-c", "synchronous_commit=off",
                                              "-c", "full_page_writes=off",
                                              NULL);
  if (pg->postgres == NULL)
    g_error ("Cannot run %s: %s", postgres, error->message);

  deadline = g_get_monotonic_time () + START_TIMEOUT_US;
  while (PQping (pg->conninfo) != PQPING_OK)
    {
      if (g_get_monotonic_time () > deadline)
        {
          g_autofree char *log = read_log (pg);

          g_error ("The test PostgreSQL in %s did not start within 30 s; its log:\n%s", pg->dir, log);
        }
      g_usleep (50 * 1000);
    }
}

static void
wait_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  gboolean *done = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *done = TRUE;
}

static gboolean
flag_cb (gpointer user_data)
{
  gboolean *flag = user_data;

  *flag = TRUE;
  return G_SOURCE_REMOVE;
}

/* Waits for the child in a private main context, so that the test's own
 * sources (a MunityDb under test) do not run meanwhile. */
static gboolean
wait_exit (GSubprocess *proc,
           guint        timeout_ms)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GSource) timeout = g_timeout_source_new (timeout_ms);
  gboolean done = FALSE;
  gboolean timed_out = FALSE;

  g_main_context_push_thread_default (context);
  g_source_set_callback (timeout, flag_cb, &timed_out, NULL);
  g_source_attach (timeout, context);
  g_subprocess_wait_async (proc, NULL, wait_done_cb, &done);
  while (!done && !timed_out)
    g_main_context_iteration (context, TRUE);
  if (!done)
    {
      g_subprocess_force_exit (proc);
      while (!done)
        g_main_context_iteration (context, TRUE);
    }
  g_source_destroy (timeout);
  g_main_context_pop_thread_default (context);
  return !timed_out;
}

MunityTestPg *
munity_test_pg_start (void)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) initdb = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *initdb_path = NULL;
  g_autofree char *output = NULL;
  MunityTestPg *pg = g_new0 (MunityTestPg, 1);

  pg->bindir = find_bindir ();
  pg->dir = g_dir_make_tmp ("munity-pg-XXXXXX", &error);
  if (pg->dir == NULL)
    g_error ("Cannot create a temporary directory: %s", error->message);
  pg->data_dir = g_build_filename (pg->dir, "data", NULL);
  pg->log_path = g_build_filename (pg->dir, "postgres.log", NULL);
  pg->conninfo = g_strdup_printf ("host=%s port=5432 dbname=postgres user=postgres", pg->dir);

  if (geteuid () == 0)
    {
      struct passwd *pw = getpwnam ("postgres");

      if (pw == NULL)
        g_error ("Tests run as root need the postgres account to run PostgreSQL");
      pg->as_postgres = TRUE;
      pg->uid = pw->pw_uid;
      pg->gid = pw->pw_gid;
      if (chown (pg->dir, pg->uid, pg->gid) < 0)
        g_error ("Cannot give %s to postgres: %s", pg->dir, g_strerror (errno));
    }

  initdb_path = g_build_filename (pg->bindir, "initdb", NULL);
  launcher = make_launcher (pg, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  initdb = g_subprocess_launcher_spawn (launcher, &error,
                                        initdb_path,
                                        "-D", pg->data_dir,
                                        "--username=postgres",
                                        "--auth=trust",
                                        "--encoding=UTF8",
                                        "--locale=C.UTF-8",
                                        "--no-sync",
                                        "--no-instructions",
                                        NULL);
  if (initdb == NULL)
    g_error ("Cannot run %s: %s", initdb_path, error->message);
  if (!g_subprocess_communicate_utf8 (initdb, NULL, NULL, &output, NULL, &error))
    g_error ("initdb: %s", error->message);
  if (!g_subprocess_get_successful (initdb))
    g_error ("initdb failed:\n%s", output);

  start_server (pg);
  return pg;
}

const char *
munity_test_pg_conninfo (MunityTestPg *pg)
{
  return pg->conninfo;
}

const char *
munity_test_pg_dir (MunityTestPg *pg)
{
  return pg->dir;
}

void
munity_test_pg_stop_server (MunityTestPg *pg)
{
  g_autoptr(GSubprocess) proc = g_steal_pointer (&pg->postgres);

  if (proc == NULL)
    return;

  /* Fast shutdown: clients are disconnected at once. */
  g_subprocess_send_signal (proc, SIGINT);
  if (!wait_exit (proc, STOP_TIMEOUT_MS))
    g_warning ("The test PostgreSQL in %s had to be killed", pg->dir);
}

void
munity_test_pg_restart_server (MunityTestPg *pg)
{
  munity_test_pg_stop_server (pg);
  start_server (pg);
}

char *
munity_test_pg_query_value (MunityTestPg *pg,
                            const char   *sql)
{
  PGconn *conn = PQconnectdb (pg->conninfo);
  PGresult *res;
  char *value = NULL;
  ExecStatusType status;

  if (PQstatus (conn) != CONNECTION_OK)
    g_error ("Cannot connect to the test PostgreSQL: %s", PQerrorMessage (conn));

  res = PQexec (conn, sql);
  status = PQresultStatus (res);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    g_error ("Query %s failed: %s", sql, PQresultErrorMessage (res));

  if (status == PGRES_TUPLES_OK && PQntuples (res) > 0 && PQnfields (res) > 0 &&
      !PQgetisnull (res, 0, 0))
    value = g_strdup (PQgetvalue (res, 0, 0));

  PQclear (res);
  PQfinish (conn);
  return value;
}

static int
remove_one (const char        *path,
            const struct stat *st,
            int                flag,
            struct FTW        *ftw)
{
  if (remove (path) < 0 && errno != ENOENT)
    g_message ("Cannot remove %s: %s", path, g_strerror (errno));
  return 0;
}

void
munity_test_pg_free (MunityTestPg *pg)
{
  if (pg == NULL)
    return;

  munity_test_pg_stop_server (pg);
  nftw (pg->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);

  g_free (pg->dir);
  g_free (pg->data_dir);
  g_free (pg->log_path);
  g_free (pg->conninfo);
  g_free (pg->bindir);
  g_free (pg);
}
