/* munity-embedded-pg.c — the private PostgreSQL cluster in the state directory
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * When no database is configured, munityd runs its own PostgreSQL: initdb
 * on first run into STATE/postgresql, then `postgres` as a child process
 * (not pg_ctl: we keep the GSubprocess, so we learn at once when it exits
 * and can always kill it), listening only on a Unix socket in STATE with
 * mode 0700. When munityd runs as root, PostgreSQL (which refuses to run as
 * root) runs as an unprivileged account that owns the state directory.
 *
 * Once started, the server is supervised: if it dies (a crash, the OOM
 * killer, a SIGKILL), it is restarted in this process after a back-off
 * that starts at 0.5 s and doubles up to 30 s, and starts again at 0.5 s
 * once a server has stayed up for a minute. Restarting here rather than
 * exiting for systemd keeps the listening sockets and every WebSocket up;
 * the database connections (MunityDb) reconnect by themselves.
 */
#include "config.h"

#include "munity-embedded-pg.h"
#include "munity-config.h"
#include "munity-db.h"
#include "munity-error.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define PG_PORT                 "5432"
#define SOCKET_NAME             ".s.PGSQL." PG_PORT
#define READY_TIMEOUT_MS        60000
#define READY_POLL_MS           100
#define INTERNAL_STOP_TIMEOUT_MS 5000
#define LOG_ROTATE_SIZE         (8 * 1024 * 1024)
/* Restart back-off. The first delay is short because a killed postmaster
 * is usually restartable at once; doubling keeps a server that cannot
 * start (disk full, leftover children holding its shared memory) from
 * costing a start-up every half second; 30 s bounds the outage once the
 * cause is gone. A server that stayed up RESTART_STABLE_US had recovered:
 * its next death starts the back-off over. */
#define RESTART_INITIAL_MS      500
#define RESTART_MAX_MS          30000
#define RESTART_STABLE_US       (60 * G_USEC_PER_SEC)
/* Failed restarts in a row (about a minute of them) before the log says
 * more than a message: by then it is no passing kill. */
#define RESTART_WARN_AFTER      8

typedef enum {
  STATE_IDLE,
  STATE_INITDB,
  STATE_STARTING,
  STATE_RUNNING,
} EmbeddedState;

/* What the child does between fork and exec. Only async-signal-safe calls
 * there, so the supplementary groups are looked up before the fork
 * (getgrouplist) and set in the child with setgroups, which is what
 * initgroups does minus the NSS lookups. */
typedef struct {
  gboolean switch_user;
  uid_t uid;
  gid_t gid;
  pid_t parent;
  int death_signal;
  int n_groups;
  gid_t groups[];
} ChildSetup;

struct _MunityEmbeddedPg
{
  GObject parent_instance;

  char *state_dir;              /* (owned): absolute */
  int   lock_fd;                /* (owned) STATE/embedded.lock, flock()ed; -1 */
  char *db_user;                /* (owned) */
  char *data_dir;               /* (owned) */
  char *log_path;               /* (owned) */
  char *conninfo;               /* (owned) */
  char *bindir;                 /* (owned) (nullable): found at start */
  gint64 log_start;             /* size of the log when the last server started */

  gboolean as_user;             /* euid 0: run PostgreSQL as db_user */
  uid_t uid;
  gid_t gid;
  gid_t *groups;                /* (owned) (array length=n_groups) (nullable) */
  int n_groups;

  EmbeddedState state;
  gboolean stopping;
  GSubprocess *initdb;          /* (owned) (nullable) */
  GSubprocess *postgres;        /* (owned) (nullable) */
  MunityDb *probe;              /* (owned) (nullable): waits for the server to accept connections */
  GTask *start_task;            /* (owned) (nullable) */
  GSource *start_cancel_source; /* (owned) (nullable) */
  GPtrArray *stop_tasks;        /* (owned) (element-type GTask) */
  GSource *kill_timer;          /* (owned) (nullable) */

  /* Supervision: from the first successful start until stop_async. */
  gboolean supervised;
  GSource *restart_timer;       /* (owned) (nullable) */
  guint restart_delay_ms;       /* the next back-off delay */
  guint n_failed_restarts;      /* in a row, since the server last ran */
  gint64 running_since;         /* monotonic µs; 0 while not running */
  /* Cancelled in dispose: our own pending operations then complete
   * without touching the (gone) object. */
  GCancellable *cancellable;    /* (owned) */
};

enum {
  SIGNAL_EXITED,
  SIGNAL_RESTARTED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (MunityEmbeddedPg, munity_embedded_pg, G_TYPE_OBJECT)

static void begin_stop (MunityEmbeddedPg *self, guint timeout_ms);
static void spawn_postgres (MunityEmbeddedPg *self);
static void schedule_restart (MunityEmbeddedPg *self);

/* ---- helpers ---------------------------------------------------------- */

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

/* Single-quoted libpq keyword value. */
static char *
conninfo_quote (const char *value)
{
  GString *s = g_string_new ("'");

  for (const char *p = value; *p != '\0'; p++)
    {
      if (*p == '\'' || *p == '\\')
        g_string_append_c (s, '\\');
      g_string_append_c (s, *p);
    }
  g_string_append_c (s, '\'');
  return g_string_free (s, FALSE);
}

/* The last non-empty line of a text, for error messages. */
static char *
last_line (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text != NULL ? text : "", "\n", -1);

  for (guint i = g_strv_length (lines); i > 0; i--)
    {
      g_strstrip (lines[i - 1]);
      if (lines[i - 1][0] != '\0')
        return g_strdup (lines[i - 1]);
    }
  return g_strdup ("(no output)");
}

/* Why a server that exited while starting did: the last FATAL or PANIC
 * line it wrote (PostgreSQL logs a few harmless lines after it, such as
 * "database system is shut down"), else its last line. Only what was
 * written after @start counts: the log also holds the previous servers'
 * last words. */
static char *
log_last_line (const char *path,
               gint64      start)
{
  g_autofree char *buf = NULL;
  g_auto(GStrv) lines = NULL;
  int fd;
  off_t size;
  ssize_t n;

  fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    return g_strdup ("(no log)");

  size = lseek (fd, 0, SEEK_END);
  if (size < start)
    start = 0;  /* rotated meanwhile */
  lseek (fd, MAX (start, (gint64) size - 4096), SEEK_SET);

  buf = g_malloc0 (4097);
  n = read (fd, buf, 4096);
  close (fd);
  if (n <= 0)
    return g_strdup ("(empty log)");
  buf[n] = '\0';

  lines = g_strsplit (buf, "\n", -1);
  for (guint i = g_strv_length (lines); i > 0; i--)
    {
      const char *line = lines[i - 1];

      if (strstr (line, "FATAL:") != NULL || strstr (line, "PANIC:") != NULL)
        return g_strstrip (g_strdup (line));
    }
  return last_line (buf);
}

static gboolean
has_program (const char *dir,
             const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  return g_file_test (path, G_FILE_TEST_IS_EXECUTABLE);
}

static char *
find_bindir (GError **error)
{
  const char *env = g_getenv ("MUNITY_PG_BINDIR");
  g_autofree char *in_path = NULL;

  if (env != NULL && *env != '\0')
    {
      if (has_program (env, "postgres") && has_program (env, "initdb"))
        return g_strdup (env);
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                   "MUNITY_PG_BINDIR=%s does not hold the PostgreSQL programs initdb and postgres", env);
      return NULL;
    }

  if (has_program (MUNITY_PG_BINDIR, "postgres") && has_program (MUNITY_PG_BINDIR, "initdb"))
    return g_strdup (MUNITY_PG_BINDIR);

  in_path = g_find_program_in_path ("postgres");
  if (in_path != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (in_path);

      if (has_program (dir, "initdb"))
        return g_steal_pointer (&dir);
    }

  g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
               "Cannot find the PostgreSQL server programs (initdb, postgres) in %s or PATH; "
               "install PostgreSQL, set MUNITY_PG_BINDIR, or configure a database URL",
               MUNITY_PG_BINDIR);
  return NULL;
}

static gboolean
dir_is_empty (const char  *path,
              GError     **error)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, error);

  if (dir == NULL)
    return FALSE;
  return g_dir_read_name (dir) == NULL;
}

/* PostgreSQL's lock files (postmaster.pid, .s.PGSQL.5432.lock) start with
 * the pid of their owner. After a crash or a reboot the file stays; we
 * remove it only when no process has that pid, so that a running server
 * is never disturbed. */
static void
remove_stale_lock (const char *path)
{
  g_autofree char *contents = NULL;
  gint64 pid;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return;

  pid = g_ascii_strtoll (contents, NULL, 10);
  if (pid <= 0 || pid > G_MAXINT)
    return;

  if (kill ((pid_t) pid, 0) < 0 && errno == ESRCH)
    {
      g_message ("Removing stale PostgreSQL lock file %s (process %" G_GINT64_FORMAT " is gone)",
                 path, pid);
      if (g_unlink (path) < 0)
        g_message ("Could not remove %s: %s", path, g_strerror (errno));
    }
}

static void
child_setup (gpointer user_data)
{
  ChildSetup *cs = user_data;

  if (cs->switch_user)
    {
      if (setgroups ((size_t) cs->n_groups, cs->groups) != 0 ||
          setgid (cs->gid) != 0 ||
          setuid (cs->uid) != 0)
        {
          static const char msg[] = "munityd: cannot switch to the PostgreSQL account\n";
          ssize_t ignored = write (STDERR_FILENO, msg, sizeof msg - 1);

          (void) ignored;
          _exit (127);
        }
    }

  /* If munityd dies without stopping us (SIGKILL, crash), the kernel tells
   * the child, so that no PostgreSQL is ever left behind. Set after the
   * uid change, which clears it. */
  prctl (PR_SET_PDEATHSIG, cs->death_signal);
  if (getppid () != cs->parent)
    _exit (1);
}

static GSubprocessLauncher *
make_launcher (MunityEmbeddedPg *self,
               GSubprocessFlags  flags,
               int               death_signal)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);
  ChildSetup *cs = g_malloc0 (sizeof (ChildSetup) + sizeof (gid_t) * (gsize) MAX (self->n_groups, 1));

  cs->switch_user = self->as_user;
  cs->uid = self->uid;
  cs->gid = self->gid;
  cs->parent = getpid ();
  cs->death_signal = death_signal;
  cs->n_groups = self->n_groups;
  if (self->n_groups > 0)
    memcpy (cs->groups, self->groups, sizeof (gid_t) * (gsize) self->n_groups);

  g_subprocess_launcher_set_child_setup (launcher, child_setup, cs, g_free);
  /* The account PostgreSQL runs as may not enter our working directory. */
  g_subprocess_launcher_set_cwd (launcher, self->state_dir);
  /* Settings of the parent's environment meant for clients must not leak
   * into the server's. */
  g_subprocess_launcher_unsetenv (launcher, "PGDATA");
  g_subprocess_launcher_unsetenv (launcher, "PGHOST");
  g_subprocess_launcher_unsetenv (launcher, "PGPORT");
  g_subprocess_launcher_unsetenv (launcher, "PGOPTIONS");
  /* systemd's for munityd, not for PostgreSQL (which would sd_notify the
   * service manager, which logs each message it refuses). */
  g_subprocess_launcher_unsetenv (launcher, "NOTIFY_SOCKET");
  g_subprocess_launcher_unsetenv (launcher, "WATCHDOG_USEC");
  g_subprocess_launcher_unsetenv (launcher, "WATCHDOG_PID");
  g_subprocess_launcher_unsetenv (launcher, "LISTEN_FDS");
  g_subprocess_launcher_unsetenv (launcher, "LISTEN_PID");
  g_subprocess_launcher_unsetenv (launcher, "LISTEN_FDNAMES");
  return g_steal_pointer (&launcher);
}

static char *
describe_exit (GSubprocess *proc)
{
  if (g_subprocess_get_if_signaled (proc))
    return g_strdup_printf ("killed by signal %d", g_subprocess_get_term_sig (proc));
  return g_strdup_printf ("exit status %d", g_subprocess_get_exit_status (proc));
}

/* ---- stop ------------------------------------------------------------- */

static void
maybe_finish_stop (MunityEmbeddedPg *self)
{
  g_autoptr(GPtrArray) tasks = NULL;

  if (self->initdb != NULL || self->postgres != NULL)
    return;

  clear_source (&self->kill_timer);
  self->stopping = FALSE;

  tasks = g_steal_pointer (&self->stop_tasks);
  self->stop_tasks = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < tasks->len; i++)
    g_task_return_boolean (tasks->pdata[i], TRUE);
}

static gboolean
kill_timer_cb (gpointer user_data)
{
  MunityEmbeddedPg *self = user_data;

  clear_source (&self->kill_timer);
  if (self->initdb != NULL)
    {
      g_message ("initdb did not stop in time; killing it");
      g_subprocess_force_exit (self->initdb);
    }
  if (self->postgres != NULL)
    {
      g_message ("PostgreSQL did not stop in time; killing it");
      g_subprocess_force_exit (self->postgres);
    }
  return G_SOURCE_REMOVE;
}

/* Asks the children to stop: SIGINT is PostgreSQL's fast shutdown (abort
 * transactions, disconnect clients, checkpoint, exit); initdb cleans up
 * after itself on SIGTERM. SIGKILL after timeout_ms. */
static void
begin_stop (MunityEmbeddedPg *self,
            guint             timeout_ms)
{
  if (self->initdb == NULL && self->postgres == NULL)
    return;

  if (!self->stopping)
    {
      self->stopping = TRUE;
      if (self->initdb != NULL)
        g_subprocess_send_signal (self->initdb, SIGTERM);
      if (self->postgres != NULL)
        g_subprocess_send_signal (self->postgres, SIGINT);
    }

  if (self->kill_timer == NULL)
    {
      self->kill_timer = g_timeout_source_new (timeout_ms);
      g_source_set_callback (self->kill_timer, kill_timer_cb, self, NULL);
      g_source_set_static_name (self->kill_timer, "[munity] embedded PostgreSQL kill timer");
      g_source_attach (self->kill_timer, g_main_context_get_thread_default ());
    }
}

/* ---- start ------------------------------------------------------------ */

static void
start_fail (MunityEmbeddedPg *self,
            GError           *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->start_task);

  clear_source (&self->start_cancel_source);
  if (self->state != STATE_RUNNING)
    self->state = STATE_IDLE;
  /* Whatever child is still there must not outlive a failed start. */
  begin_stop (self, INTERNAL_STOP_TIMEOUT_MS);

  if (task != NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  /* No task: a restart attempt failed. Try again once the child (if any)
   * is gone; postgres_exited_cb does it for a child that is still there. */
  if (self->supervised)
    {
      self->n_failed_restarts++;
      g_message ("Restarting PostgreSQL failed (attempt %u): %s",
                 self->n_failed_restarts, error->message);
      /* Failing for about a minute is a real fault, not a passing kill:
       * say it louder, once per outage. */
      if (self->n_failed_restarts == RESTART_WARN_AFTER)
        g_warning ("The embedded PostgreSQL keeps failing to start; see %s", self->log_path);
      schedule_restart (self);
    }
  g_error_free (error);
}

static void
close_probe (MunityEmbeddedPg *self)
{
  g_autoptr(MunityDb) probe = g_steal_pointer (&self->probe);

  if (probe != NULL)
    munity_db_close (probe);
}

/* ---- supervision -------------------------------------------------------- */

static gboolean
restart_cb (gpointer user_data)
{
  MunityEmbeddedPg *self = user_data;

  clear_source (&self->restart_timer);
  if (!self->supervised || self->postgres != NULL || self->initdb != NULL)
    return G_SOURCE_REMOVE;

  g_debug ("Restarting PostgreSQL (attempt %u)", self->n_failed_restarts + 1);
  spawn_postgres (self);
  return G_SOURCE_REMOVE;
}

/* Arms the restart timer for the next back-off delay; nothing when the
 * server is not supervised or a child still runs (its exit comes here
 * again). */
static void
schedule_restart (MunityEmbeddedPg *self)
{
  guint delay;

  if (!self->supervised || self->stopping || self->restart_timer != NULL ||
      self->postgres != NULL || self->initdb != NULL)
    return;

  delay = self->restart_delay_ms;
  self->restart_delay_ms = MIN (delay * 2, RESTART_MAX_MS);

  g_message ("Restarting PostgreSQL in %u.%u s", delay / 1000, (delay % 1000) / 100);
  self->restart_timer = g_timeout_source_new (delay);
  g_source_set_callback (self->restart_timer, restart_cb, self, NULL);
  g_source_set_static_name (self->restart_timer, "[munity] embedded PostgreSQL restart");
  g_source_attach (self->restart_timer, g_main_context_get_thread_default ());
}

static void
postgres_exited_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  MunityEmbeddedPg *self;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *how = NULL;
  EmbeddedState state;

  if (!g_subprocess_wait_finish (G_SUBPROCESS (source), result, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;  /* disposed */

  self = g_object_ref (user_data);
  if (self->postgres != G_SUBPROCESS (source))
    {
      g_object_unref (self);
      return;
    }

  proc = g_steal_pointer (&self->postgres);
  how = describe_exit (proc);
  state = self->state;
  self->state = STATE_IDLE;
  close_probe (self);

  if (state == STATE_STARTING)
    {
      if (self->stopping)
        start_fail (self, g_error_new (MUNITY_ERROR, MUNITY_ERROR_FAILED,
                                       "PostgreSQL was stopped while starting"));
      else
        {
          g_autofree char *line = log_last_line (self->log_path, self->log_start);

          start_fail (self, g_error_new (MUNITY_ERROR, MUNITY_ERROR_FAILED,
                                         "PostgreSQL exited while starting (%s): %s (see %s)",
                                         how, line, self->log_path));
        }
    }
  else if (state == STATE_RUNNING && !self->stopping)
    {
      /* A message, not a warning: the server is restarted below, and a
       * server killed on purpose (by a test, by an operator) is no fault
       * of ours. A restart that keeps failing is warned about. */
      g_message ("PostgreSQL exited unexpectedly (%s); see %s", how, self->log_path);
      if (self->running_since != 0 &&
          g_get_monotonic_time () - self->running_since >= RESTART_STABLE_US)
        self->restart_delay_ms = RESTART_INITIAL_MS;
      self->running_since = 0;
      g_signal_emit (self, signals[SIGNAL_EXITED], 0);
    }
  else
    {
      g_debug ("PostgreSQL stopped (%s)", how);
    }

  maybe_finish_stop (self);
  schedule_restart (self);
  g_object_unref (self);
}

static void
probe_up_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  MunityEmbeddedPg *self;
  g_autoptr(GError) error = NULL;
  gboolean up;

  up = munity_db_wait_up_finish (MUNITY_DB (source), result, &error);
  if (!up && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;  /* disposed */

  self = user_data;
  /* The server exited meanwhile: postgres_exited_cb reports that. */
  if (self->state != STATE_STARTING || self->probe != MUNITY_DB (source))
    return;

  g_object_ref (self);
  close_probe (self);

  if (up)
    {
      g_autoptr(GTask) task = g_steal_pointer (&self->start_task);

      clear_source (&self->start_cancel_source);
      self->state = STATE_RUNNING;
      self->running_since = g_get_monotonic_time ();
      if (task != NULL)
        {
          g_debug ("PostgreSQL is accepting connections in %s", self->state_dir);
          self->supervised = TRUE;
          self->restart_delay_ms = RESTART_INITIAL_MS;
          g_task_return_boolean (task, TRUE);
        }
      else
        {
          g_message ("Restarted PostgreSQL (pid %s); it accepts connections again",
                     g_subprocess_get_identifier (self->postgres));
          self->n_failed_restarts = 0;
          g_signal_emit (self, signals[SIGNAL_RESTARTED], 0);
        }
    }
  else
    {
      start_fail (self, g_error_new (MUNITY_ERROR, MUNITY_ERROR_FAILED,
                                     "PostgreSQL did not accept connections within %u s: %s",
                                     READY_TIMEOUT_MS / 1000, error->message));
    }

  g_object_unref (self);
}

static int
open_log (MunityEmbeddedPg  *self,
          GError           **error)
{
  GStatBuf st;
  int fd;

  /* Keep the previous run's log (a crash is worth reading) but do not
   * grow without bound. */
  if (g_stat (self->log_path, &st) == 0 && st.st_size > LOG_ROTATE_SIZE)
    {
      g_autofree char *old = g_strconcat (self->log_path, ".old", NULL);

      if (g_rename (self->log_path, old) < 0)
        g_message ("Could not rotate %s: %s", self->log_path, g_strerror (errno));
    }

  fd = g_open (self->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                   "Cannot open the PostgreSQL log %s: %s", self->log_path, g_strerror (saved));
      return -1;
    }

  if (self->as_user && fchown (fd, self->uid, self->gid) < 0)
    g_debug ("Could not give %s to %s: %s", self->log_path, self->db_user, g_strerror (errno));

  return fd;
}

static void
spawn_postgres (MunityEmbeddedPg *self)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autofree char *postgres = g_build_filename (self->bindir, "postgres", NULL);
  g_autofree char *pidfile = g_build_filename (self->data_dir, "postmaster.pid", NULL);
  g_autofree char *socklock = g_build_filename (self->state_dir, SOCKET_NAME ".lock", NULL);
  GError *error = NULL;
  int log_fd;

  remove_stale_lock (pidfile);
  remove_stale_lock (socklock);

  log_fd = open_log (self, &error);
  if (log_fd < 0)
    {
      start_fail (self, error);
      return;
    }
  self->log_start = lseek (log_fd, 0, SEEK_END);

  launcher = make_launcher (self, G_SUBPROCESS_FLAGS_STDERR_MERGE, SIGINT);
  g_subprocess_launcher_take_stdout_fd (launcher, log_fd);

  self->postgres = g_subprocess_launcher_spawn (launcher, &error,
                                                postgres,
                                                "-D", self->data_dir,
                                                "-k", self->state_dir,
                                                "-p", PG_PORT,
                                                "-c", "listen_addresses=",
                                                "-c", "unix_socket_permissions=0700",
                                                /* JIT needs writable+executable memory, which
                                                 * the hardened unit forbids; our queries are tiny */
                                                "-c", "jit=off",
                                                NULL);
  if (self->postgres == NULL)
    {
      g_prefix_error (&error, "Cannot run %s: ", postgres);
      start_fail (self, error);
      return;
    }

  g_debug ("Started PostgreSQL (pid %s) in %s", g_subprocess_get_identifier (self->postgres), self->data_dir);
  self->state = STATE_STARTING;
  g_subprocess_wait_async (self->postgres, self->cancellable, postgres_exited_cb, self);

  self->probe = munity_db_new (self->conninfo, 1);
  munity_db_set_reconnect_backoff (self->probe, READY_POLL_MS, READY_POLL_MS);
  munity_db_start (self->probe);
  munity_db_wait_up_async (self->probe, READY_TIMEOUT_MS, self->cancellable, probe_up_cb, self);
}

static void
initdb_done_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  GSubprocess *proc = G_SUBPROCESS (source);
  MunityEmbeddedPg *self;
  g_autoptr(GError) error = NULL;
  g_autofree char *output = NULL;

  if (!g_subprocess_communicate_utf8_finish (proc, result, &output, NULL, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;  /* disposed */

  self = g_object_ref (user_data);
  g_clear_object (&self->initdb);

  if (error != NULL)
    {
      /* Reading the output failed; the child may still run. */
      g_subprocess_force_exit (proc);
      start_fail (self, g_error_new (MUNITY_ERROR, MUNITY_ERROR_FAILED,
                                     "initdb failed: %s", error->message));
    }
  else if (self->stopping)
    {
      start_fail (self, g_error_new (MUNITY_ERROR, MUNITY_ERROR_FAILED,
                                     "PostgreSQL was stopped while initdb ran"));
    }
  else if (!g_subprocess_get_successful (proc))
    {
      g_autofree char *how = describe_exit (proc);
      g_autofree char *line = last_line (output);

      start_fail (self, g_error_new (MUNITY_ERROR, MUNITY_ERROR_FAILED,
                                     "initdb failed (%s): %s", how, line));
    }
  else
    {
      g_debug ("initdb output:\n%s", output);
      g_message ("Created the embedded PostgreSQL cluster in %s", self->data_dir);
      spawn_postgres (self);
    }

  maybe_finish_stop (self);
  g_object_unref (self);
}

static void
run_initdb (MunityEmbeddedPg *self)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autofree char *initdb = g_build_filename (self->bindir, "initdb", NULL);
  g_autofree char *data_arg = g_strconcat ("--pgdata=", self->data_dir, NULL);
  GError *error = NULL;

  launcher = make_launcher (self, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, SIGTERM);
  self->initdb = g_subprocess_launcher_spawn (launcher, &error,
                                              initdb,
                                              data_arg,
                                              "--username=munity",
                                              "--auth=trust",
                                              "--encoding=UTF8",
                                              "--locale=C.UTF-8",
                                              "--no-instructions",
                                              NULL);
  if (self->initdb == NULL)
    {
      g_prefix_error (&error, "Cannot run %s: ", initdb);
      start_fail (self, error);
      return;
    }

  self->state = STATE_INITDB;
  g_subprocess_communicate_utf8_async (self->initdb, NULL, self->cancellable, initdb_done_cb, self);
}

/* Everything synchronous and cheap before the first child: find the
 * programs, check and claim the state directory. */
/* One munityd per embedded cluster: a second one on the same state
 * directory would find the first one's socket answering, take that
 * PostgreSQL for its own and restart its own in a loop. The lock lives as
 * long as @self (the kernel drops it if munityd dies). */
static gboolean
lock_state_dir (MunityEmbeddedPg  *self,
                GError           **error)
{
  g_autofree char *path = NULL;
  int fd;

  if (self->lock_fd >= 0)
    return TRUE;
  path = g_build_filename (self->state_dir, "embedded.lock", NULL);
  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Cannot open %s: %s", path, g_strerror (saved_errno));
      return FALSE;
    }
  if (flock (fd, LOCK_EX | LOCK_NB) != 0)
    {
      int saved_errno = errno;
      close (fd);
      if (saved_errno == EWOULDBLOCK)
        g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                     "Another munityd runs the embedded PostgreSQL of %s: give this one "
                     "--database (the server every node of a cluster shares) or another --state-dir",
                     self->state_dir);
      else
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                     "Cannot lock %s: %s", path, g_strerror (saved_errno));
      return FALSE;
    }
  self->lock_fd = fd;
  return TRUE;
}

static gboolean
prepare (MunityEmbeddedPg  *self,
         GError           **error)
{
  g_autofree char *pg_version = g_build_filename (self->data_dir, "PG_VERSION", NULL);
  g_autofree char *socket_path = g_build_filename (self->state_dir, SOCKET_NAME, NULL);
  GStatBuf st;

  g_clear_pointer (&self->bindir, g_free);
  self->bindir = find_bindir (error);
  if (self->bindir == NULL)
    return FALSE;

  /* sun_path holds 108 bytes with its NUL. */
  if (strlen (socket_path) >= 108)
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                   "The state directory path %s is too long for PostgreSQL's Unix socket; use a shorter one",
                   self->state_dir);
      return FALSE;
    }

  if (!munity_config_ensure_state_dir (self->state_dir, error))
    return FALSE;

  g_clear_pointer (&self->groups, g_free);
  self->n_groups = 0;
  self->as_user = geteuid () == 0;

  if (self->as_user)
    {
      struct passwd *pw = getpwnam (self->db_user);
      int n_groups = 32;

      if (pw == NULL)
        {
          g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                       "The account %s to run the embedded PostgreSQL as does not exist "
                       "(PostgreSQL refuses to run as root; set embedded-db-user)",
                       self->db_user);
          return FALSE;
        }
      if (pw->pw_uid == 0)
        {
          g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                       "The embedded PostgreSQL cannot run as %s: PostgreSQL refuses to run as root",
                       self->db_user);
          return FALSE;
        }

      self->uid = pw->pw_uid;
      self->gid = pw->pw_gid;
      self->groups = g_new0 (gid_t, n_groups);
      if (getgrouplist (self->db_user, self->gid, self->groups, &n_groups) < 0)
        {
          self->groups = g_renew (gid_t, self->groups, n_groups);
          if (getgrouplist (self->db_user, self->gid, self->groups, &n_groups) < 0)
            n_groups = 0;
        }
      self->n_groups = n_groups;
      if (self->n_groups == 0)
        {
          self->groups[0] = self->gid;
          self->n_groups = 1;
        }

      if (g_stat (self->state_dir, &st) < 0)
        {
          int saved = errno;

          g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                       "Cannot read the state directory %s: %s", self->state_dir, g_strerror (saved));
          return FALSE;
        }

      if (st.st_uid != self->uid)
        {
          g_autoptr(GError) local_error = NULL;

          /* A fresh directory is ours to give away; one with contents
           * (avatars, another cluster) we never re-own behind the
           * operator's back. */
          if (!dir_is_empty (self->state_dir, &local_error))
            {
              g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                           "The state directory %s must belong to the user %s, "
                           "who runs the embedded PostgreSQL (chown -R %s %s)",
                           self->state_dir, self->db_user, self->db_user, self->state_dir);
              return FALSE;
            }
          if (chown (self->state_dir, self->uid, self->gid) < 0)
            {
              int saved = errno;

              g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                           "Cannot give the state directory %s to %s: %s",
                           self->state_dir, self->db_user, g_strerror (saved));
              return FALSE;
            }
          g_chmod (self->state_dir, 0700);
        }
    }

  if (!g_file_test (pg_version, G_FILE_TEST_EXISTS) && g_file_test (self->data_dir, G_FILE_TEST_IS_DIR))
    {
      g_autoptr(GError) local_error = NULL;

      if (!dir_is_empty (self->data_dir, &local_error))
        {
          g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                       "%s exists but holds no PostgreSQL cluster (an interrupted initdb?); "
                       "move it away to create a new one",
                       self->data_dir);
          return FALSE;
        }
    }

  /* Last: a fresh state directory is given to the PostgreSQL user above
   * only while it is empty. */
  return lock_state_dir (self, error);
}

static gboolean
start_cancelled_cb (GCancellable *cancellable,
                    gpointer      user_data)
{
  MunityEmbeddedPg *self = user_data;

  clear_source (&self->start_cancel_source);
  /* The start fails when the child has gone. */
  begin_stop (self, INTERNAL_STOP_TIMEOUT_MS);
  return G_SOURCE_REMOVE;
}

/* ---- GObject ---------------------------------------------------------- */

static void
kill_now (GSubprocess **proc)
{
  if (*proc == NULL)
    return;

  /* Synchronous on purpose: an object that goes away must not leave a
   * server behind, and the wait is for a SIGKILLed child. */
  g_subprocess_force_exit (*proc);
  g_subprocess_wait (*proc, NULL, NULL);
  g_clear_object (proc);
}

static void
munity_embedded_pg_dispose (GObject *object)
{
  MunityEmbeddedPg *self = MUNITY_EMBEDDED_PG (object);

  g_cancellable_cancel (self->cancellable);
  close_probe (self);
  kill_now (&self->initdb);
  kill_now (&self->postgres);
  self->state = STATE_IDLE;
  self->supervised = FALSE;
  clear_source (&self->restart_timer);
  clear_source (&self->kill_timer);
  clear_source (&self->start_cancel_source);
  g_clear_object (&self->start_task);
  if (self->stop_tasks != NULL)
    g_ptr_array_set_size (self->stop_tasks, 0);

  G_OBJECT_CLASS (munity_embedded_pg_parent_class)->dispose (object);
}

static void
munity_embedded_pg_finalize (GObject *object)
{
  MunityEmbeddedPg *self = MUNITY_EMBEDDED_PG (object);

  g_clear_pointer (&self->stop_tasks, g_ptr_array_unref);
  g_clear_object (&self->cancellable);
  if (self->lock_fd >= 0)
    close (self->lock_fd);
  g_free (self->state_dir);
  g_free (self->db_user);
  g_free (self->data_dir);
  g_free (self->log_path);
  g_free (self->conninfo);
  g_free (self->bindir);
  g_free (self->groups);

  G_OBJECT_CLASS (munity_embedded_pg_parent_class)->finalize (object);
}

static void
munity_embedded_pg_class_init (MunityEmbeddedPgClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = munity_embedded_pg_dispose;
  object_class->finalize = munity_embedded_pg_finalize;

  /**
   * MunityEmbeddedPg::exited:
   * @self: the cluster
   *
   * Emitted when the running PostgreSQL server exited by itself (not
   * because [method@Munity.EmbeddedPg.stop_async] asked it to). It is
   * restarted after a back-off; #MunityEmbeddedPg::restarted follows
   * when it accepts connections again.
   */
  signals[SIGNAL_EXITED] =
    g_signal_new ("exited",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);

  /**
   * MunityEmbeddedPg::restarted:
   * @self: the cluster
   *
   * Emitted when a server restarted after #MunityEmbeddedPg::exited
   * accepts connections.
   */
  signals[SIGNAL_RESTARTED] =
    g_signal_new ("restarted",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

static void
munity_embedded_pg_init (MunityEmbeddedPg *self)
{
  self->cancellable = g_cancellable_new ();
  self->stop_tasks = g_ptr_array_new_with_free_func (g_object_unref);
  self->lock_fd = -1;
}

/* ---- public API ------------------------------------------------------- */

/**
 * munity_embedded_pg_new:
 * @state_dir: the state directory; the cluster lives in its `postgresql`
 *   subdirectory, the socket in it and the server log in
 *   `postgresql.log`
 * @db_user: (nullable): the account PostgreSQL runs as when the process
 *   runs as root (ignored otherwise); %NULL for `postgres`
 *
 * Creates the object; nothing happens until
 * [method@Munity.EmbeddedPg.start_async].
 *
 * Returns: (transfer full): a new #MunityEmbeddedPg
 */
MunityEmbeddedPg *
munity_embedded_pg_new (const char *state_dir,
                        const char *db_user)
{
  MunityEmbeddedPg *self;
  g_autofree char *quoted = NULL;

  g_return_val_if_fail (state_dir != NULL, NULL);

  self = g_object_new (MUNITY_TYPE_EMBEDDED_PG, NULL);
  /* Absolute: libpq takes a host starting with '/' for a socket
   * directory, and the children run in another working directory. */
  self->state_dir = g_canonicalize_filename (state_dir, NULL);
  self->db_user = g_strdup (db_user != NULL ? db_user : "postgres");
  self->data_dir = g_build_filename (self->state_dir, "postgresql", NULL);
  self->log_path = g_build_filename (self->state_dir, "postgresql.log", NULL);
  quoted = conninfo_quote (self->state_dir);
  self->conninfo = g_strdup_printf ("host=%s port=" PG_PORT " user=munity dbname=postgres", quoted);
  return self;
}

/**
 * munity_embedded_pg_start_async:
 * @self: a #MunityEmbeddedPg
 * @cancellable: (nullable): a #GCancellable; cancelling stops the children
 *   and fails the start
 * @callback: (scope async): called when the server accepts connections, or
 *   on failure
 * @user_data: data for @callback
 *
 * Starts the cluster: runs initdb on first use, removes stale lock files
 * of a server that is gone, starts `postgres` (socket only, in the state
 * directory, mode 0700; no TCP) and waits (at most 60 s) until it accepts
 * connections. When the process runs as root, a fresh (empty) state
 * directory is given to the database account and PostgreSQL runs as that
 * account; a non-empty one that belongs to someone else is refused.
 *
 * From then on, until [method@Munity.EmbeddedPg.stop_async], a server
 * that exits by itself is restarted: after 0.5 s, then after a delay that
 * doubles with every death or failed start up to 30 s, back to 0.5 s
 * once a server stayed up for a minute. Each death and restart is
 * logged (g_message; a g_warning after about a minute of failed starts).
 */
void
munity_embedded_pg_start_async (MunityEmbeddedPg    *self,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *pg_version = NULL;
  GError *error = NULL;

  g_return_if_fail (MUNITY_IS_EMBEDDED_PG (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, munity_embedded_pg_start_async);

  if (self->start_task != NULL || self->initdb != NULL || self->postgres != NULL || self->supervised)
    {
      g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                               "The embedded PostgreSQL is already started");
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;
  if (!prepare (self, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  self->start_task = g_steal_pointer (&task);
  self->stopping = FALSE;
  if (cancellable != NULL)
    {
      self->start_cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (self->start_cancel_source, G_SOURCE_FUNC (start_cancelled_cb), self, NULL);
      g_source_attach (self->start_cancel_source, g_main_context_get_thread_default ());
    }

  pg_version = g_build_filename (self->data_dir, "PG_VERSION", NULL);
  if (g_file_test (pg_version, G_FILE_TEST_EXISTS))
    spawn_postgres (self);
  else
    run_initdb (self);
}

/**
 * munity_embedded_pg_start_finish:
 * @self: a #MunityEmbeddedPg
 * @result: the result passed to the callback
 * @error: return location for an error
 *
 * Returns: %TRUE if the server runs and accepts connections at
 *   [method@Munity.EmbeddedPg.get_conninfo]
 */
gboolean
munity_embedded_pg_start_finish (MunityEmbeddedPg  *self,
                                 GAsyncResult      *result,
                                 GError           **error)
{
  g_return_val_if_fail (MUNITY_IS_EMBEDDED_PG (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == munity_embedded_pg_start_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * munity_embedded_pg_get_conninfo:
 * @self: a #MunityEmbeddedPg
 *
 * Returns: (transfer none): the libpq connection string of the cluster:
 *   its socket directory, user `munity`, database `postgres`
 */
const char *
munity_embedded_pg_get_conninfo (MunityEmbeddedPg *self)
{
  g_return_val_if_fail (MUNITY_IS_EMBEDDED_PG (self), NULL);

  return self->conninfo;
}

/**
 * munity_embedded_pg_is_running:
 * @self: a #MunityEmbeddedPg
 *
 * Returns: whether the server has started and has not exited since (a
 *   restarted server runs again once it accepts connections)
 */
gboolean
munity_embedded_pg_is_running (MunityEmbeddedPg *self)
{
  g_return_val_if_fail (MUNITY_IS_EMBEDDED_PG (self), FALSE);

  return self->state == STATE_RUNNING;
}

/**
 * munity_embedded_pg_stop_async:
 * @self: a #MunityEmbeddedPg
 * @timeout_ms: how long to wait for a clean exit before SIGKILL
 * @cancellable: (nullable): a #GCancellable (cancelling does not stop the
 *   shutdown, only the wait)
 * @callback: (scope async): called when no child process is left
 * @user_data: data for @callback
 *
 * Stops the server with a fast shutdown (SIGINT: transactions are rolled
 * back, clients disconnected), or a running initdb with SIGTERM, and kills
 * them after @timeout_ms, and ends the supervision: no restart follows.
 * Fine to call when never started, while starting (the start then fails)
 * or while a restart is pending.
 */
void
munity_embedded_pg_stop_async (MunityEmbeddedPg    *self,
                               guint                timeout_ms,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MUNITY_IS_EMBEDDED_PG (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, munity_embedded_pg_stop_async);

  /* Whatever runs now is the last server until the next start. */
  self->supervised = FALSE;
  self->n_failed_restarts = 0;
  clear_source (&self->restart_timer);

  if (self->initdb == NULL && self->postgres == NULL)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  g_ptr_array_add (self->stop_tasks, g_steal_pointer (&task));
  begin_stop (self, timeout_ms);
}

/**
 * munity_embedded_pg_stop_finish:
 * @self: a #MunityEmbeddedPg
 * @result: the result passed to the callback
 * @error: return location for an error
 *
 * Returns: %TRUE once no PostgreSQL process of ours is left
 */
gboolean
munity_embedded_pg_stop_finish (MunityEmbeddedPg  *self,
                                GAsyncResult      *result,
                                GError           **error)
{
  g_return_val_if_fail (MUNITY_IS_EMBEDDED_PG (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == munity_embedded_pg_stop_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
