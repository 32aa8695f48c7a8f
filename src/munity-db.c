/* munity-db.c — asynchronous PostgreSQL access on the main loop
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A MunityDb owns a small pool of libpq connections driven entirely with
 * libpq's non-blocking API: every socket is watched by a GSource on the
 * main context the object was created in, and no libpq call that could wait
 * on the network is ever made. Queries wait in one FIFO queue and go to the
 * first idle connection, one query in flight per connection.
 *
 * Re-entrancy: task callbacks and "notify::up" handlers may do anything,
 * including closing or dropping the last reference to the MunityDb. So the
 * internal code never invokes them directly: finished requests are parked
 * on `done` and returned by db_flush(), which every entry point (GSource
 * callback or public function) calls last, when no connection pointer is
 * held any more.
 *
 * LISTEN: one more connection, outside the pool (it never runs queries),
 * LISTENs on the channels callers name and turns what PQnotifies() gives
 * into #MunityDb::notification. It reconnects with the pool's backoff and
 * LISTENs again each time; #MunityDb:listening says whether it currently
 * does (notifications sent while it did not are lost, so a caller that
 * sees it come back resynchronises). Notifications on pool connections are
 * ignored.
 */
#include "config.h"

#include "munity-db.h"
#include "munity-error.h"

#include <glib-unix.h>
#include <string.h>

#define DEFAULT_QUERY_TIMEOUT_MS 5000
#define CONNECT_TIMEOUT_MS       10000
#define BACKOFF_INITIAL_MS       100
#define BACKOFF_MAX_MS           2000
#define MAX_CONNECTIONS_LIMIT    64

typedef enum {
  REQUEST_QUERY,
  REQUEST_SCRIPT,
  REQUEST_WAIT_UP,
} RequestKind;

typedef struct {
  RequestKind kind;
  GTask *task;                  /* (owned) */
  char *sql;                    /* (owned) (nullable) */
  char **params;                /* (owned) (array length=n_params) (nullable): entries may be NULL */
  int n_params;
  GSource *cancel_source;       /* (owned) (nullable) */
  GSource *timeout_source;      /* (owned) (nullable): wait_up only */
  PGresult *result;             /* (owned) (nullable) */
  GError *error;                /* (owned) (nullable) */
} Request;

typedef enum {
  CONN_DOWN,        /* no PGconn; a reconnect timer is pending unless closed */
  CONN_CONNECTING,  /* PQconnectPoll in progress */
  CONN_IDLE,        /* up, nothing in flight */
  CONN_BUSY,        /* up, one query in flight (current may be NULL: discarding) */
} ConnState;

typedef struct {
  MunityDb *db;                 /* (unowned) */
  guint index;
  ConnState state;
  PGconn *pg;                   /* (owned) (nullable) */
  GSource *io_source;           /* (owned) (nullable) */
  int io_fd;
  GIOCondition io_cond;
  /* At most one timer at a time: the reconnect delay while DOWN, the
   * connect timeout while CONNECTING, the query timeout while BUSY. */
  GSource *timer;               /* (owned) (nullable) */
  guint next_delay_ms;
  gboolean flushing;            /* PQflush() returned 1: wait for G_IO_OUT */
  gboolean script_in_flight;    /* a simple-protocol script is running */
  gboolean has_been_up;
  gboolean is_listener;         /* the LISTEN connection, not in the pool */
  gboolean listen_sent;         /* its LISTEN statement is in flight */
  gboolean listen_failed;       /* ... and the server refused it */
  gboolean listen_again;        /* channels were added while it was in flight */
  /* A cancelled query's cancel request is on its way to the server: the
   * connection takes no query before it arrived, or the request could
   * cancel the next one instead. */
  gboolean cancelling;
  guint generation;             /* changes whenever the PGconn is dropped */
  Request *current;             /* (owned) (nullable) */
} Conn;

struct _MunityDb
{
  GObject parent_instance;

  char *conninfo;               /* (owned) */
  guint max_connections;
  guint query_timeout_ms;
  guint backoff_initial_ms;
  guint backoff_max_ms;

  GMainContext *context;        /* (owned) */
  GPtrArray *conns;             /* (owned) (element-type Conn) */
  GQueue queue;                 /* (owned) (element-type Request): waiting for a connection */
  GQueue waiters;               /* (owned) (element-type Request): wait_up calls */
  GQueue done;                  /* (owned) (element-type Request): finished, to be returned */
  char *last_error;             /* (owned) (nullable): why the last connection failed */
  GPtrArray *channels;          /* (owned) (element-type utf8): to LISTEN on */
  Conn *listener;               /* (owned) (nullable): the LISTEN connection */
  GQueue notifications;         /* (owned) (element-type Notification): to emit */

  gboolean started;
  gboolean closed;
  gboolean up;
  gboolean notify_up;
  gboolean listening;
  gboolean notify_listening;
};

typedef struct {
  char *channel;                /* (owned) */
  char *payload;                /* (owned) */
} Notification;

static void
notification_free (Notification *note)
{
  g_free (note->channel);
  g_free (note->payload);
  g_free (note);
}

enum {
  SIGNAL_NOTIFICATION,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

enum {
  PROP_0,
  PROP_CONNINFO,
  PROP_MAX_CONNECTIONS,
  PROP_QUERY_TIMEOUT,
  PROP_UP,
  PROP_LISTENING,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_FINAL_TYPE (MunityDb, munity_db, G_TYPE_OBJECT)

static void conn_connect (Conn *conn);
static void conn_drop (Conn *conn, const char *reason, gboolean timed_out);
static void db_update_up (MunityDb *self);
static void db_flush (MunityDb *self);
static void listener_set_listening (MunityDb *self, gboolean listening);
static void listener_send_listen (Conn *conn);

/* ---- small helpers ---------------------------------------------------- */

/* libpq and server messages may span several lines ("DETAIL", "HINT",
 * "Is the server running...?"); logs and GErrors get the first one. */
static char *
one_line (const char *message)
{
  g_autofree char *copy = g_strdup (message != NULL ? message : "");
  char *nl = strchr (copy, '\n');

  if (nl != NULL)
    *nl = '\0';
  g_strstrip (copy);
  if (*copy == '\0')
    return g_strdup ("unknown error");
  return g_steal_pointer (&copy);
}

static GError *
unavailable_error (MunityDb   *self,
                   const char *why)
{
  if (why != NULL)
    return g_error_new (MUNITY_ERROR, MUNITY_ERROR_DATABASE_UNAVAILABLE,
                        "Database unavailable: %s", why);
  if (self->last_error != NULL)
    return g_error_new (MUNITY_ERROR, MUNITY_ERROR_DATABASE_UNAVAILABLE,
                        "Database unavailable: %s", self->last_error);
  return g_error_new_literal (MUNITY_ERROR, MUNITY_ERROR_DATABASE_UNAVAILABLE,
                              "Database unavailable");
}

static Request *
request_new (RequestKind kind,
             GTask      *task)
{
  Request *req = g_new0 (Request, 1);

  req->kind = kind;
  req->task = task;
  return req;
}

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
request_free (Request *req)
{
  clear_source (&req->cancel_source);
  clear_source (&req->timeout_source);
  g_clear_object (&req->task);
  g_free (req->sql);
  if (req->params != NULL)
    {
      for (int i = 0; i < req->n_params; i++)
        g_free (req->params[i]);
      g_free (req->params);
    }
  g_clear_pointer (&req->result, PQclear);
  g_clear_error (&req->error);
  g_free (req);
}

static void
request_set_error (Request *req,
                   GError  *error)
{
  g_clear_error (&req->error);
  req->error = error;
}

/* Hands the request over to the caller: invokes (or schedules) its
 * callback and frees it. Only called from db_flush(). */
static void
request_return (Request *req)
{
  GTask *task = req->task;

  clear_source (&req->cancel_source);
  clear_source (&req->timeout_source);

  if (req->error != NULL)
    g_task_return_error (task, g_steal_pointer (&req->error));
  else if (req->kind == REQUEST_QUERY)
    g_task_return_pointer (task, g_steal_pointer (&req->result), (GDestroyNotify) PQclear);
  else
    g_task_return_boolean (task, TRUE);

  request_free (req);
}

static void
db_complete (MunityDb *self,
             Request  *req)
{
  g_queue_push_tail (&self->done, req);
}

/* ---- per-connection plumbing ------------------------------------------ */

static void
conn_clear_timer (Conn *conn)
{
  clear_source (&conn->timer);
}

static void
conn_set_timer (Conn        *conn,
                guint        ms,
                GSourceFunc  func)
{
  conn_clear_timer (conn);
  conn->timer = g_timeout_source_new (ms);
  g_source_set_callback (conn->timer, func, conn, NULL);
  g_source_set_static_name (conn->timer, "[munity] database timer");
  g_source_attach (conn->timer, conn->db->context);
}

static void
conn_clear_watch (Conn *conn)
{
  clear_source (&conn->io_source);
  conn->io_fd = -1;
  conn->io_cond = 0;
}

static gboolean conn_io_cb (int fd, GIOCondition condition, gpointer user_data);

/* Watches the connection's socket. libpq may switch sockets while it
 * connects (several hosts or addresses), so callers pass PQsocket() anew
 * after each step. Returns FALSE (and drops the connection) if libpq has
 * no socket. */
static gboolean
conn_watch (Conn         *conn,
            GIOCondition  condition)
{
  int fd = PQsocket (conn->pg);

  if (fd < 0)
    {
      conn_drop (conn, PQerrorMessage (conn->pg), FALSE);
      return FALSE;
    }

  if (conn->io_source != NULL && conn->io_fd == fd && conn->io_cond == condition)
    return TRUE;

  conn_clear_watch (conn);
  conn->io_source = g_unix_fd_source_new (fd, condition);
  g_source_set_callback (conn->io_source, G_SOURCE_FUNC (conn_io_cb), conn, NULL);
  g_source_set_static_name (conn->io_source, "[munity] database socket");
  g_source_attach (conn->io_source, conn->db->context);
  conn->io_fd = fd;
  conn->io_cond = condition;
  return TRUE;
}

static void
conn_free (Conn *conn)
{
  conn_clear_watch (conn);
  conn_clear_timer (conn);
  g_clear_pointer (&conn->pg, PQfinish);
  g_clear_pointer (&conn->current, request_free);
  g_free (conn);
}

static void
notice_cb (void       *arg,
           const char *message)
{
  g_autofree char *line = one_line (message);

  /* Server notices ("relation ... already exists, skipping") and the
   * server's goodbye before it closes an idle connection; libpq would
   * print them on stderr. */
  g_debug ("Database notice: %s", line);
}

/* A cancel request for the statement running on one connection. */
typedef struct {
  PGcancel *cancel;             /* (owned) */
  GWeakRef  db;
  guint     index;              /* of the connection */
  guint     generation;         /* of its PGconn when the request was made */
} CancelJob;

static void
cancel_job_free (gpointer data)
{
  CancelJob *job = data;

  PQfreeCancel (job->cancel);
  g_weak_ref_clear (&job->db);
  g_free (job);
}

static void
cancel_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  CancelJob *job = task_data;
  char errbuf[256] = "";

  /* PQcancel() opens a new connection and waits until the server has
   * handled the request: fine in a worker thread, never on the main
   * loop. */
  if (!PQcancel (job->cancel, errbuf, sizeof errbuf))
    g_debug ("Could not cancel a query on the server: %s", errbuf);
  g_task_return_boolean (task, TRUE);
}

static gboolean conn_rollback_if_aborted (Conn *conn);

/* The server has the cancel request: the connection may take queries again
 * (unless its PGconn was dropped meanwhile, or the MunityDb is gone). */
static void
cancel_done_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  CancelJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(MunityDb) self = g_weak_ref_get (&job->db);
  Conn *conn;

  if (self == NULL || self->closed || job->index >= self->conns->len)
    return;
  conn = self->conns->pdata[job->index];
  if (conn->generation != job->generation || !conn->cancelling)
    return;

  conn->cancelling = FALSE;
  /* A script cancelled inside its transaction left it aborted; the
   * ROLLBACK waited for the cancel, which could have hit it. */
  if (conn->state == CONN_IDLE)
    conn_rollback_if_aborted (conn);
  db_flush (self);
}

/* Closing our socket does not stop a running statement on the server (it
 * notices only when it next writes), and it may hold locks; a cancelled
 * caller no longer waits for it either: ask the server to cancel it. Until
 * the request has arrived the connection takes no new query. */
static void
conn_cancel_on_server (Conn *conn)
{
  g_autoptr(GTask) task = NULL;
  PGcancel *cancel = PQgetCancel (conn->pg);
  CancelJob *job;

  if (cancel == NULL)
    return;

  job = g_new0 (CancelJob, 1);
  job->cancel = cancel;
  g_weak_ref_init (&job->db, conn->db);
  job->index = conn->index;
  job->generation = conn->generation;
  conn->cancelling = TRUE;

  task = g_task_new (NULL, NULL, cancel_done_cb, NULL);
  g_task_set_source_tag (task, conn_cancel_on_server);
  g_task_set_task_data (task, job, cancel_job_free);
  g_task_run_in_thread (task, cancel_thread);
}

static gboolean
conn_reconnect_cb (gpointer user_data)
{
  Conn *conn = user_data;
  g_autoptr(MunityDb) self = g_object_ref (conn->db);

  conn_clear_timer (conn);
  conn_connect (conn);
  db_flush (self);
  return G_SOURCE_REMOVE;
}

/* Closes the connection (if any), fails the query in flight with
 * MUNITY_ERROR_DATABASE_UNAVAILABLE and schedules the next attempt. */
static void
conn_drop (Conn       *conn,
           const char *reason,
           gboolean    timed_out)
{
  MunityDb *self = conn->db;
  gboolean was_up = conn->state == CONN_IDLE || conn->state == CONN_BUSY;
  g_autofree char *line = one_line (reason);  /* copy: reason may belong to conn->pg */
  Request *req;
  guint delay;

  if (was_up)
    g_message ("Lost database connection %u: %s", conn->index, line);
  else
    g_debug ("Cannot connect to the database (connection %u): %s", conn->index, line);

  g_free (self->last_error);
  self->last_error = g_strdup (line);

  conn_clear_watch (conn);
  conn_clear_timer (conn);
  if (timed_out && conn->pg != NULL)
    conn_cancel_on_server (conn);
  g_clear_pointer (&conn->pg, PQfinish);
  /* A cancel request on its way concerns the PGconn just dropped. */
  conn->generation++;
  conn->cancelling = FALSE;
  conn->state = CONN_DOWN;
  conn->flushing = FALSE;
  conn->script_in_flight = FALSE;
  conn->listen_sent = FALSE;
  conn->listen_failed = FALSE;
  conn->listen_again = FALSE;
  if (conn->is_listener)
    listener_set_listening (self, FALSE);

  req = g_steal_pointer (&conn->current);
  if (req != NULL)
    {
      /* A server error that came before the connection went away (the
       * query did fail) or the server's own goodbye stays as it is. */
      if (req->error == NULL)
        req->error = unavailable_error (self, line);
      g_clear_pointer (&req->result, PQclear);
      db_complete (self, req);
    }

  if (!self->closed)
    {
      if (was_up)
        conn->next_delay_ms = self->backoff_initial_ms;
      delay = conn->next_delay_ms;
      conn->next_delay_ms = MIN (MAX (delay, 1) * 2, self->backoff_max_ms);
      conn_set_timer (conn, delay, conn_reconnect_cb);
    }

  db_update_up (self);
}

static gboolean
conn_connect_timeout_cb (gpointer user_data)
{
  Conn *conn = user_data;
  g_autoptr(MunityDb) self = g_object_ref (conn->db);

  conn_drop (conn, "timed out while connecting", FALSE);
  db_flush (self);
  return G_SOURCE_REMOVE;
}

static gboolean
conn_query_timeout_cb (gpointer user_data)
{
  Conn *conn = user_data;
  g_autoptr(MunityDb) self = g_object_ref (conn->db);
  g_autofree char *reason = g_strdup_printf ("query timed out after %u ms", self->query_timeout_ms);

  conn_drop (conn, reason, TRUE);
  db_flush (self);
  return G_SOURCE_REMOVE;
}

static void
conn_connect (Conn *conn)
{
  MunityDb *self = conn->db;

  g_assert (conn->pg == NULL);

  conn->pg = PQconnectStart (self->conninfo);
  if (conn->pg == NULL)
    {
      conn_drop (conn, "out of memory", FALSE);
      return;
    }
  if (PQstatus (conn->pg) == CONNECTION_BAD)
    {
      conn_drop (conn, PQerrorMessage (conn->pg), FALSE);
      return;
    }

  PQsetNoticeProcessor (conn->pg, notice_cb, NULL);
  conn->state = CONN_CONNECTING;
  conn_set_timer (conn, CONNECT_TIMEOUT_MS, conn_connect_timeout_cb);

  /* After PQconnectStart, act as if PQconnectPoll returned WRITING. */
  conn_watch (conn, G_IO_OUT);
}

static void
conn_ready (Conn *conn)
{
  MunityDb *self = conn->db;

  if (PQsetnonblocking (conn->pg, 1) != 0)
    {
      conn_drop (conn, PQerrorMessage (conn->pg), FALSE);
      return;
    }

  conn_clear_timer (conn);
  conn->state = CONN_IDLE;
  conn->flushing = FALSE;
  conn->next_delay_ms = self->backoff_initial_ms;

  if (conn->has_been_up)
    g_message ("Reconnected database connection %u", conn->index);
  else
    g_debug ("Database connection %u is up", conn->index);
  conn->has_been_up = TRUE;

  if (conn->is_listener)
    {
      listener_send_listen (conn);
      return;
    }

  /* Idle connections are watched too, so that we learn at once when the
   * server goes away, not when the next query fails. */
  if (conn_watch (conn, G_IO_IN))
    db_update_up (self);
}

static void
conn_connect_poll (Conn *conn)
{
  switch (PQconnectPoll (conn->pg))
    {
    case PGRES_POLLING_READING:
      conn_watch (conn, G_IO_IN);
      break;
    case PGRES_POLLING_WRITING:
      conn_watch (conn, G_IO_OUT);
      break;
    case PGRES_POLLING_OK:
      conn_ready (conn);
      break;
    case PGRES_POLLING_FAILED:
      conn_drop (conn, PQerrorMessage (conn->pg), FALSE);
      break;
    case PGRES_POLLING_ACTIVE:
    default:
      /* Unused by libpq since 7.4; poll again once writable. */
      conn_watch (conn, G_IO_OUT);
      break;
    }
}

/* Returns FALSE if the connection was dropped. */
static gboolean
conn_flush (Conn *conn)
{
  int ret = PQflush (conn->pg);

  if (ret < 0)
    {
      conn_drop (conn, PQerrorMessage (conn->pg), FALSE);
      return FALSE;
    }

  conn->flushing = ret == 1;
  return conn_watch (conn, conn->flushing ? G_IO_IN | G_IO_OUT : G_IO_IN);
}

/* Sends SQL without a caller waiting for it (current stays NULL, so its
 * results are discarded). */
static void
conn_send_internal (Conn       *conn,
                    const char *sql)
{
  MunityDb *self = conn->db;

  if (!PQsendQuery (conn->pg, sql))
    {
      conn_drop (conn, PQerrorMessage (conn->pg), FALSE);
      return;
    }

  conn->state = CONN_BUSY;
  if (self->query_timeout_ms > 0)
    conn_set_timer (conn, self->query_timeout_ms, conn_query_timeout_cb);
  conn_flush (conn);
}

static void
conn_send (Conn    *conn,
           Request *req)
{
  MunityDb *self = conn->db;
  int ok;

  g_assert (conn->state == CONN_IDLE);
  g_assert (conn->current == NULL);

  conn->script_in_flight = req->kind == REQUEST_SCRIPT;
  if (req->kind == REQUEST_SCRIPT)
    ok = PQsendQuery (conn->pg, req->sql);
  else
    ok = PQsendQueryParams (conn->pg, req->sql, req->n_params, NULL,
                            (const char * const *) req->params, NULL, NULL, 0);

  if (!ok)
    {
      g_autofree char *line = one_line (PQerrorMessage (conn->pg));

      if (PQstatus (conn->pg) == CONNECTION_BAD)
        {
          conn->current = req;
          conn_drop (conn, line, FALSE);
        }
      else
        {
          /* Refused by libpq before anything was sent (too many
           * parameters, ...): the connection is still fine. */
          request_set_error (req, g_error_new (MUNITY_ERROR, MUNITY_ERROR_DATABASE, "%s", line));
          db_complete (self, req);
        }
      return;
    }

  conn->current = req;
  conn->state = CONN_BUSY;
  if (self->query_timeout_ms > 0)
    conn_set_timer (conn, self->query_timeout_ms, conn_query_timeout_cb);
  conn_flush (conn);
}

static GError *
result_error (Conn           *conn,
              const PGresult *res)
{
  const char *sqlstate = PQresultErrorField (res, PG_DIAG_SQLSTATE);
  const char *primary = PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY);
  g_autofree char *line = one_line (primary != NULL ? primary : PQresultErrorMessage (res));

  /* Class 08 (connection exception) and 57P0x (admin shutdown, crash
   * shutdown, cannot connect now) mean the server is going away, not that
   * the query was wrong. */
  if (PQstatus (conn->pg) == CONNECTION_BAD ||
      (sqlstate != NULL && (g_str_has_prefix (sqlstate, "08") || g_str_has_prefix (sqlstate, "57P"))))
    return unavailable_error (conn->db, line);

  /* 53100 disk_full, 53200 out_of_memory... class 53: nothing was stored. */
  if (sqlstate != NULL && g_str_equal (sqlstate, "53100"))
    return g_error_new (MUNITY_ERROR, MUNITY_ERROR_STORAGE_FULL, "%s", line);

  return g_error_new (MUNITY_ERROR, MUNITY_ERROR_DATABASE, "%s", line);
}

/* Returns FALSE if the connection was dropped. */
static gboolean
conn_take_result (Conn     *conn,
                  PGresult *res)
{
  g_autoptr(PGresult) owned = res;
  Request *req = conn->current;
  ExecStatusType status = PQresultStatus (res);

  switch (status)
    {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
      if (req != NULL && req->kind == REQUEST_QUERY && req->result == NULL && req->error == NULL)
        req->result = g_steal_pointer (&owned);
      break;

    case PGRES_EMPTY_QUERY:
      if (req != NULL && req->kind == REQUEST_QUERY && req->error == NULL)
        req->error = g_error_new_literal (MUNITY_ERROR, MUNITY_ERROR_DATABASE, "empty query");
      break;

    case PGRES_FATAL_ERROR:
    case PGRES_NONFATAL_ERROR:
    case PGRES_BAD_RESPONSE:
      if (req != NULL && req->error == NULL)
        req->error = result_error (conn, res);
      if (conn->listen_sent && !conn->listen_failed)
        {
          g_autofree char *line = one_line (PQresultErrorMessage (res));

          g_message ("The database refused LISTEN: %s", line);
          conn->listen_failed = TRUE;
        }
      break;

    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
      /* The connection would stay in COPY mode: give it up. */
      if (req != NULL && req->error == NULL)
        req->error = g_error_new_literal (MUNITY_ERROR, MUNITY_ERROR_DATABASE, "COPY is not supported");
      conn_drop (conn, "a statement started COPY", FALSE);
      return FALSE;

    case PGRES_SINGLE_TUPLE:
    case PGRES_PIPELINE_SYNC:
    case PGRES_PIPELINE_ABORTED:
    default:
      if (req != NULL && req->error == NULL)
        req->error = g_error_new (MUNITY_ERROR, MUNITY_ERROR_DATABASE,
                                  "unexpected result status %s", PQresStatus (status));
      break;
    }

  return TRUE;
}

static void
conn_finish_request (Conn *conn)
{
  MunityDb *self = conn->db;
  Request *req = g_steal_pointer (&conn->current);
  gboolean script = conn->script_in_flight;

  if (PQstatus (conn->pg) == CONNECTION_BAD)
    {
      conn->current = req;
      conn_drop (conn, PQerrorMessage (conn->pg), FALSE);
      return;
    }

  conn_clear_timer (conn);
  conn->state = CONN_IDLE;
  conn->script_in_flight = FALSE;

  if (req != NULL)
    {
      if (req->error != NULL)
        g_clear_pointer (&req->result, PQclear);
      else if (req->kind == REQUEST_QUERY && req->result == NULL)
        req->error = g_error_new_literal (MUNITY_ERROR, MUNITY_ERROR_DATABASE, "no result");
    }

  if (req != NULL)
    db_complete (self, req);

  if (conn->listen_sent)
    {
      gboolean failed = conn->listen_failed;

      conn->listen_sent = FALSE;
      conn->listen_failed = FALSE;
      if (failed)
        {
          /* Retried with backoff, like a connection that failed. */
          conn_drop (conn, "LISTEN failed", FALSE);
          return;
        }
      if (conn->listen_again)
        {
          listener_send_listen (conn);
          return;
        }
      listener_set_listening (self, TRUE);
    }

  /* (while a cancel request is on its way, cancel_done_cb() does it) */
  if (script && !conn->cancelling && conn_rollback_if_aborted (conn))
    return;

  conn_watch (conn, G_IO_IN);
}

/* A script that failed between its BEGIN and COMMIT leaves the session in
 * an aborted transaction; its caller cannot send the ROLLBACK (another
 * query may come first), so we do. Returns TRUE if it was sent. */
static gboolean
conn_rollback_if_aborted (Conn *conn)
{
  if (PQtransactionStatus (conn->pg) != PQTRANS_INERROR)
    return FALSE;
  conn_send_internal (conn, "ROLLBACK");
  return TRUE;
}

static void
conn_read_results (Conn *conn)
{
  while (conn->state == CONN_BUSY)
    {
      PGresult *res;

      if (PQisBusy (conn->pg))
        {
          if (PQstatus (conn->pg) == CONNECTION_BAD)
            conn_drop (conn, PQerrorMessage (conn->pg), FALSE);
          return;
        }

      res = PQgetResult (conn->pg);
      if (res == NULL)
        {
          conn_finish_request (conn);
          return;
        }

      if (!conn_take_result (conn, res))
        return;
    }
}

static void
conn_drain_notifies (Conn *conn)
{
  PGnotify *notify;

  while ((notify = PQnotifies (conn->pg)) != NULL)
    {
      if (conn->is_listener)
        {
          Notification *note = g_new0 (Notification, 1);

          note->channel = g_strdup (notify->relname);
          note->payload = g_strdup (notify->extra);
          g_queue_push_tail (&conn->db->notifications, note);
        }
      else
        g_debug ("Ignoring database notification on channel %s", notify->relname);
      PQfreemem (notify);
    }
}

/* ---- the LISTEN connection ---------------------------------------------- */

static void
listener_set_listening (MunityDb *self,
                        gboolean  listening)
{
  if (self->listening == listening)
    return;
  self->listening = listening;
  self->notify_listening = TRUE;
  if (listening)
    g_debug ("Listening for database notifications");
  else
    g_debug ("No longer listening for database notifications");
}

/* LISTENs on every channel (again: LISTEN twice is harmless). */
static void
listener_send_listen (Conn *conn)
{
  MunityDb *self = conn->db;
  g_autoptr(GString) sql = g_string_new (NULL);

  for (guint i = 0; i < self->channels->len; i++)
    {
      char *quoted = PQescapeIdentifier (conn->pg, self->channels->pdata[i],
                                         strlen (self->channels->pdata[i]));
      if (quoted == NULL)
        {
          conn_drop (conn, PQerrorMessage (conn->pg), FALSE);
          return;
        }
      g_string_append_printf (sql, "LISTEN %s;", quoted);
      PQfreemem (quoted);
    }

  conn->listen_again = FALSE;
  conn->listen_sent = TRUE;
  conn->listen_failed = FALSE;
  conn_send_internal (conn, sql->str);
}

static void
listener_start (MunityDb *self)
{
  Conn *conn;

  if (self->listener != NULL)
    return;

  conn = g_new0 (Conn, 1);
  conn->db = self;
  conn->index = self->max_connections;  /* numbered after the pool's */
  conn->state = CONN_DOWN;
  conn->io_fd = -1;
  conn->next_delay_ms = self->backoff_initial_ms;
  conn->is_listener = TRUE;
  self->listener = conn;
  conn_connect (conn);
}

static gboolean
conn_io_cb (int           fd,
            GIOCondition  condition,
            gpointer      user_data)
{
  Conn *conn = user_data;
  g_autoptr(MunityDb) self = g_object_ref (conn->db);

  switch (conn->state)
    {
    case CONN_CONNECTING:
      conn_connect_poll (conn);
      break;

    case CONN_IDLE:
      if (!PQconsumeInput (conn->pg) || PQstatus (conn->pg) == CONNECTION_BAD)
        conn_drop (conn, PQerrorMessage (conn->pg), FALSE);
      else
        conn_drain_notifies (conn);
      break;

    case CONN_BUSY:
      if ((condition & (G_IO_IN | G_IO_HUP | G_IO_ERR | G_IO_NVAL)) != 0 &&
          !PQconsumeInput (conn->pg))
        {
          conn_drop (conn, PQerrorMessage (conn->pg), FALSE);
          break;
        }
      if (conn->flushing && !conn_flush (conn))
        break;
      conn_drain_notifies (conn);
      conn_read_results (conn);
      break;

    case CONN_DOWN:
    default:
      conn_clear_watch (conn);
      break;
    }

  /* Nothing below touches conn: callbacks run from here may close the
   * MunityDb and free it. */
  db_flush (self);
  return G_SOURCE_CONTINUE;
}

/* ---- pool level ------------------------------------------------------- */

static void
db_update_up (MunityDb *self)
{
  gboolean up = FALSE;

  for (guint i = 0; i < self->conns->len; i++)
    {
      Conn *conn = self->conns->pdata[i];

      if (conn->state == CONN_IDLE || conn->state == CONN_BUSY)
        up = TRUE;
    }

  if (up == self->up)
    return;

  self->up = up;
  self->notify_up = TRUE;

  if (up)
    {
      Request *req;

      while ((req = g_queue_pop_head (&self->waiters)) != NULL)
        db_complete (self, req);
    }
  else
    {
      Request *req;

      /* No connection left to run them on: fail at once rather than keep
       * callers waiting for an unknown time. */
      while ((req = g_queue_pop_head (&self->queue)) != NULL)
        {
          request_set_error (req, unavailable_error (self, NULL));
          db_complete (self, req);
        }
    }
}

static Conn *
db_find_idle (MunityDb *self)
{
  for (guint i = 0; i < self->conns->len; i++)
    {
      Conn *conn = self->conns->pdata[i];

      if (conn->state == CONN_IDLE && !conn->cancelling)
        return conn;
    }
  return NULL;
}

static void
db_dispatch (MunityDb *self)
{
  while (!self->closed && !g_queue_is_empty (&self->queue))
    {
      Conn *conn = db_find_idle (self);

      if (conn == NULL)
        break;
      conn_send (conn, g_queue_pop_head (&self->queue));
    }
}

/* Sends what can be sent, then runs callbacks and notifications. The last
 * thing every entry point does. */
static void
db_flush (MunityDb *self)
{
  g_autoptr(MunityDb) hold = g_object_ref (self);

  db_dispatch (self);

  for (;;)
    {
      Request *req;

      Notification *note;

      if (self->notify_up)
        {
          self->notify_up = FALSE;
          g_object_notify_by_pspec (G_OBJECT (self), props[PROP_UP]);
          continue;
        }

      /* Notifications received before the connection was lost come
       * first; "listening" goes FALSE after them. */
      note = g_queue_pop_head (&self->notifications);
      if (note != NULL)
        {
          g_signal_emit (self, signals[SIGNAL_NOTIFICATION], 0, note->channel, note->payload);
          notification_free (note);
          continue;
        }

      if (self->notify_listening)
        {
          self->notify_listening = FALSE;
          g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LISTENING]);
          continue;
        }

      req = g_queue_pop_head (&self->done);
      if (req == NULL)
        break;
      request_return (req);
    }
}

static void
db_close_internal (MunityDb *self)
{
  Request *req;

  if (self->closed)
    return;
  self->closed = TRUE;

  for (guint i = 0; i < self->conns->len; i++)
    {
      Conn *conn = self->conns->pdata[i];

      req = g_steal_pointer (&conn->current);
      if (req != NULL)
        {
          request_set_error (req, unavailable_error (self, "the connection was closed"));
          g_clear_pointer (&req->result, PQclear);
          db_complete (self, req);
        }
    }
  g_ptr_array_set_size (self->conns, 0);
  g_clear_pointer (&self->listener, conn_free);
  listener_set_listening (self, FALSE);

  while ((req = g_queue_pop_head (&self->queue)) != NULL)
    {
      request_set_error (req, unavailable_error (self, "the connection was closed"));
      db_complete (self, req);
    }
  while ((req = g_queue_pop_head (&self->waiters)) != NULL)
    {
      request_set_error (req, unavailable_error (self, "the connection was closed"));
      db_complete (self, req);
    }

  db_update_up (self);
}

static gboolean
request_cancelled_cb (GCancellable *cancellable,
                      gpointer      user_data)
{
  Request *req = user_data;
  MunityDb *self = g_task_get_source_object (req->task);
  g_autoptr(MunityDb) hold = g_object_ref (self);
  gboolean found = FALSE;

  if (g_queue_remove (&self->queue, req) || g_queue_remove (&self->waiters, req))
    {
      found = TRUE;
    }
  else
    {
      for (guint i = 0; i < self->conns->len; i++)
        {
          Conn *conn = self->conns->pdata[i];

          /* In flight: answer now, and have the server cancel the
           * statement (nobody reads its result, and it may hold locks or
           * run long); the connection stays busy until the server is done
           * and discards the result. */
          if (conn->current == req)
            {
              conn->current = NULL;
              conn_cancel_on_server (conn);
              found = TRUE;
            }
        }
    }

  if (found)
    {
      request_set_error (req, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                   "Operation was cancelled"));
      g_clear_pointer (&req->result, PQclear);
      db_complete (self, req);
    }

  db_flush (self);
  return G_SOURCE_REMOVE;
}

static void
request_watch_cancellable (MunityDb *self,
                           Request  *req)
{
  GCancellable *cancellable = g_task_get_cancellable (req->task);

  if (cancellable == NULL)
    return;

  req->cancel_source = g_cancellable_source_new (cancellable);
  g_source_set_callback (req->cancel_source, G_SOURCE_FUNC (request_cancelled_cb), req, NULL);
  g_source_set_static_name (req->cancel_source, "[munity] database request cancelled");
  g_source_attach (req->cancel_source, self->context);
}

static void
db_submit (MunityDb *self,
           Request  *req)
{
  GError *error = NULL;

  if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (req->task), &error))
    {
      request_set_error (req, error);
      db_complete (self, req);
    }
  else if (self->closed)
    {
      request_set_error (req, unavailable_error (self, "the connection was closed"));
      db_complete (self, req);
    }
  else if (!self->up)
    {
      request_set_error (req, unavailable_error (self, NULL));
      db_complete (self, req);
    }
  else
    {
      request_watch_cancellable (self, req);
      g_queue_push_tail (&self->queue, req);
    }

  db_flush (self);
}

/* ---- GObject ---------------------------------------------------------- */

static void
munity_db_dispose (GObject *object)
{
  MunityDb *self = MUNITY_DB (object);
  Request *req;

  db_close_internal (self);

  /* Every request holds a reference on us, so nothing can be waiting
   * here; be tidy anyway. */
  while ((req = g_queue_pop_head (&self->done)) != NULL)
    request_free (req);
  g_queue_clear_full (&self->notifications, (GDestroyNotify) notification_free);

  G_OBJECT_CLASS (munity_db_parent_class)->dispose (object);
}

static void
munity_db_finalize (GObject *object)
{
  MunityDb *self = MUNITY_DB (object);

  g_clear_pointer (&self->conns, g_ptr_array_unref);
  g_clear_pointer (&self->channels, g_ptr_array_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->conninfo);
  g_free (self->last_error);

  G_OBJECT_CLASS (munity_db_parent_class)->finalize (object);
}

static void
munity_db_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  MunityDb *self = MUNITY_DB (object);

  switch (prop_id)
    {
    case PROP_CONNINFO:
      g_value_set_string (value, self->conninfo);
      break;
    case PROP_MAX_CONNECTIONS:
      g_value_set_uint (value, self->max_connections);
      break;
    case PROP_QUERY_TIMEOUT:
      g_value_set_uint (value, self->query_timeout_ms);
      break;
    case PROP_UP:
      g_value_set_boolean (value, self->up);
      break;
    case PROP_LISTENING:
      g_value_set_boolean (value, self->listening);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
}

static void
munity_db_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  MunityDb *self = MUNITY_DB (object);

  switch (prop_id)
    {
    case PROP_CONNINFO:
      g_free (self->conninfo);
      self->conninfo = g_value_dup_string (value);
      break;
    case PROP_MAX_CONNECTIONS:
      self->max_connections = g_value_get_uint (value);
      break;
    case PROP_QUERY_TIMEOUT:
      munity_db_set_query_timeout (self, g_value_get_uint (value));
      break;
    case PROP_UP:
    case PROP_LISTENING:
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
}

static void
munity_db_class_init (MunityDbClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = munity_db_dispose;
  object_class->finalize = munity_db_finalize;
  object_class->get_property = munity_db_get_property;
  object_class->set_property = munity_db_set_property;

  /**
   * MunityDb:conninfo:
   *
   * The libpq connection string: a `postgresql://` URI or keyword/value
   * pairs. It may hold a password; do not log it.
   */
  props[PROP_CONNINFO] =
    g_param_spec_string ("conninfo", NULL, NULL,
                         "",
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * MunityDb:max-connections:
   *
   * How many connections the pool opens. With one, queries run strictly in
   * order on one session.
   */
  props[PROP_MAX_CONNECTIONS] =
    g_param_spec_uint ("max-connections", NULL, NULL,
                       1, MAX_CONNECTIONS_LIMIT, 1,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * MunityDb:query-timeout:
   *
   * How long a query may run, in milliseconds, before it fails with
   * %MUNITY_ERROR_DATABASE_UNAVAILABLE and its connection is dropped and
   * reconnected; 0 means no limit.
   */
  props[PROP_QUERY_TIMEOUT] =
    g_param_spec_uint ("query-timeout", NULL, NULL,
                       0, G_MAXUINT, DEFAULT_QUERY_TIMEOUT_MS,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MunityDb:up:
   *
   * Whether at least one connection is up. Notified when it changes.
   */
  props[PROP_UP] =
    g_param_spec_boolean ("up", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MunityDb:listening:
   *
   * Whether the LISTEN connection is up and listening on every channel
   * given to [method@Munity.Db.listen]. Notified when it changes: FALSE
   * when the connection is lost (notifications may have been missed),
   * TRUE once LISTEN succeeded on the new one.
   */
  props[PROP_LISTENING] =
    g_param_spec_boolean ("listening", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, props);

  /**
   * MunityDb::notification:
   * @self: the database
   * @channel: the channel it was sent on
   * @payload: its payload, possibly empty
   *
   * A NOTIFY on a channel given to [method@Munity.Db.listen], in the order
   * the server delivered them.
   */
  signals[SIGNAL_NOTIFICATION] =
    g_signal_new ("notification", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
}

static void
munity_db_init (MunityDb *self)
{
  self->max_connections = 1;
  self->query_timeout_ms = DEFAULT_QUERY_TIMEOUT_MS;
  self->backoff_initial_ms = BACKOFF_INITIAL_MS;
  self->backoff_max_ms = BACKOFF_MAX_MS;
  self->context = g_main_context_ref_thread_default ();
  self->conns = g_ptr_array_new_with_free_func ((GDestroyNotify) conn_free);
  g_queue_init (&self->queue);
  g_queue_init (&self->waiters);
  g_queue_init (&self->done);
  g_queue_init (&self->notifications);
  self->channels = g_ptr_array_new_with_free_func (g_free);
}

/* ---- public API ------------------------------------------------------- */

/**
 * munity_db_new:
 * @conninfo: a libpq connection string (`postgresql://...` or
 *   keyword/value pairs)
 * @max_connections: how many connections to open, 1 to 64
 *
 * Creates a database client. Nothing happens until [method@Munity.Db.start]
 * is called. All its callbacks run in the thread-default main context of
 * the caller, which must be the only thread using the object.
 *
 * Returns: (transfer full): a new #MunityDb
 */
MunityDb *
munity_db_new (const char *conninfo,
               guint       max_connections)
{
  g_return_val_if_fail (conninfo != NULL, NULL);
  g_return_val_if_fail (max_connections >= 1 && max_connections <= MAX_CONNECTIONS_LIMIT, NULL);

  return g_object_new (MUNITY_TYPE_DB,
                       "conninfo", conninfo,
                       "max-connections", max_connections,
                       NULL);
}

/**
 * munity_db_set_query_timeout:
 * @self: a #MunityDb
 * @timeout_ms: the limit in milliseconds, 0 for none
 *
 * Sets how long a query may run (from the moment it is sent to the server)
 * before it fails with %MUNITY_ERROR_DATABASE_UNAVAILABLE; its connection
 * is then dropped, the server is asked to cancel the statement, and the
 * connection is re-established. Applies to queries sent afterwards. The
 * default is 5000 ms.
 */
void
munity_db_set_query_timeout (MunityDb *self,
                             guint     timeout_ms)
{
  g_return_if_fail (MUNITY_IS_DB (self));

  if (self->query_timeout_ms == timeout_ms)
    return;
  self->query_timeout_ms = timeout_ms;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_QUERY_TIMEOUT]);
}

/**
 * munity_db_set_reconnect_backoff:
 * @self: a #MunityDb
 * @initial_ms: the delay before the first new attempt, at least 1
 * @max_ms: the longest delay between attempts, at least @initial_ms
 *
 * Sets how connections are retried: after a failure (or the loss of a
 * connection that was up) the next attempt waits @initial_ms, and each
 * further failure doubles the wait up to @max_ms. The default is 100 ms
 * doubling to 2000 ms. Someone polling a server that is starting (such as
 * [class@Munity.EmbeddedPg]) uses a constant short delay. Applies to
 * failures from now on.
 */
void
munity_db_set_reconnect_backoff (MunityDb *self,
                                 guint     initial_ms,
                                 guint     max_ms)
{
  g_return_if_fail (MUNITY_IS_DB (self));
  g_return_if_fail (initial_ms >= 1);
  g_return_if_fail (max_ms >= initial_ms);

  self->backoff_initial_ms = initial_ms;
  self->backoff_max_ms = max_ms;
  for (guint i = 0; i < self->conns->len; i++)
    {
      Conn *conn = self->conns->pdata[i];

      conn->next_delay_ms = CLAMP (conn->next_delay_ms, initial_ms, max_ms);
    }
}

/**
 * munity_db_start:
 * @self: a #MunityDb
 *
 * Opens the connections, without waiting. Connections that fail or go
 * away are retried forever with backoff until [method@Munity.Db.close].
 * Use [method@Munity.Db.wait_up_async] to wait for the first one. Calling
 * it again, or after closing, does nothing.
 */
void
munity_db_start (MunityDb *self)
{
  g_return_if_fail (MUNITY_IS_DB (self));

  if (self->started || self->closed)
    return;
  self->started = TRUE;

  for (guint i = 0; i < self->max_connections; i++)
    {
      Conn *conn = g_new0 (Conn, 1);

      conn->db = self;
      conn->index = i;
      conn->state = CONN_DOWN;
      conn->io_fd = -1;
      conn->next_delay_ms = self->backoff_initial_ms;
      g_ptr_array_add (self->conns, conn);
    }

  for (guint i = 0; i < self->conns->len; i++)
    conn_connect (self->conns->pdata[i]);
  if (self->channels->len > 0)
    listener_start (self);

  db_flush (self);
}

/**
 * munity_db_listen:
 * @self: a #MunityDb
 * @channel: a channel name
 *
 * LISTENs on @channel on the LISTEN connection (opened on first use, kept
 * apart from the query pool), now and after every reconnection, and emits
 * #MunityDb::notification for what arrives there. Watch
 * #MunityDb:listening to know when notifications may have been missed.
 */
void
munity_db_listen (MunityDb   *self,
                  const char *channel)
{
  g_return_if_fail (MUNITY_IS_DB (self));
  g_return_if_fail (channel != NULL && *channel != '\0');

  if (self->closed)
    return;
  for (guint i = 0; i < self->channels->len; i++)
    if (g_str_equal (self->channels->pdata[i], channel))
      return;
  g_ptr_array_add (self->channels, g_strdup (channel));

  if (!self->started)
    return;

  if (self->listener == NULL)
    listener_start (self);
  else if (self->listener->state == CONN_IDLE)
    {
      listener_set_listening (self, FALSE);
      listener_send_listen (self->listener);
    }
  else if (self->listener->listen_sent)
    self->listener->listen_again = TRUE;
  /* (connecting or down: it LISTENs on everything once up) */

  db_flush (self);
}

/**
 * munity_db_is_listening:
 * @self: a #MunityDb
 *
 * Returns: the #MunityDb:listening property
 */
gboolean
munity_db_is_listening (MunityDb *self)
{
  g_return_val_if_fail (MUNITY_IS_DB (self), FALSE);

  return self->listening;
}

/**
 * munity_db_close:
 * @self: a #MunityDb
 *
 * Closes every connection and stops reconnecting. Queries queued or in
 * flight, and pending [method@Munity.Db.wait_up_async] calls, fail with
 * %MUNITY_ERROR_DATABASE_UNAVAILABLE; so do all later calls. Their
 * callbacks may run before this function returns. Idempotent.
 */
void
munity_db_close (MunityDb *self)
{
  g_return_if_fail (MUNITY_IS_DB (self));

  db_close_internal (self);
  db_flush (self);
}

/**
 * munity_db_is_up:
 * @self: a #MunityDb
 *
 * Returns: whether at least one connection is up (the #MunityDb:up
 *   property)
 */
gboolean
munity_db_is_up (MunityDb *self)
{
  g_return_val_if_fail (MUNITY_IS_DB (self), FALSE);

  return self->up;
}

static gboolean
wait_up_timeout_cb (gpointer user_data)
{
  Request *req = user_data;
  MunityDb *self = g_task_get_source_object (req->task);
  g_autoptr(MunityDb) hold = g_object_ref (self);

  if (g_queue_remove (&self->waiters, req))
    {
      request_set_error (req, unavailable_error (self, NULL));
      db_complete (self, req);
    }

  db_flush (self);
  return G_SOURCE_REMOVE;
}

/**
 * munity_db_wait_up_async:
 * @self: a #MunityDb
 * @timeout_ms: how long to wait, in milliseconds
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when at least one connection is up, or
 *   on timeout
 * @user_data: data for @callback
 *
 * Waits until at least one connection is up; completes at once if one is.
 * Fails with %MUNITY_ERROR_DATABASE_UNAVAILABLE (with the last connection
 * error as message) if none came up within @timeout_ms, or if the
 * #MunityDb is closed.
 */
void
munity_db_wait_up_async (MunityDb            *self,
                         guint                timeout_ms,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;
  Request *req;

  g_return_if_fail (MUNITY_IS_DB (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, munity_db_wait_up_async);
  req = request_new (REQUEST_WAIT_UP, g_steal_pointer (&task));

  if (g_cancellable_set_error_if_cancelled (cancellable, &error))
    {
      request_set_error (req, error);
      db_complete (self, req);
    }
  else if (self->closed)
    {
      request_set_error (req, unavailable_error (self, "the connection was closed"));
      db_complete (self, req);
    }
  else if (self->up)
    {
      db_complete (self, req);
    }
  else
    {
      req->timeout_source = g_timeout_source_new (timeout_ms);
      g_source_set_callback (req->timeout_source, wait_up_timeout_cb, req, NULL);
      g_source_set_static_name (req->timeout_source, "[munity] database wait-up timeout");
      g_source_attach (req->timeout_source, self->context);
      request_watch_cancellable (self, req);
      g_queue_push_tail (&self->waiters, req);
    }

  db_flush (self);
}

/**
 * munity_db_wait_up_finish:
 * @self: a #MunityDb
 * @result: the result passed to the callback
 * @error: return location for an error
 *
 * Returns: %TRUE if a connection is up
 */
gboolean
munity_db_wait_up_finish (MunityDb      *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (MUNITY_IS_DB (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == munity_db_wait_up_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * munity_db_query_async:
 * @self: a #MunityDb
 * @sql: one SQL statement, with parameters `$1`, `$2`, ...
 * @n_params: the number of parameters
 * @params: (array length=n_params) (nullable) (element-type utf8): the
 *   parameter values as text; a %NULL entry is SQL NULL. Copied.
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the result
 * @user_data: data for @callback
 *
 * Runs one statement with the extended protocol, so the parameters are
 * never parsed as SQL. Queries wait in one FIFO queue for an idle
 * connection; with one connection they run strictly in order.
 *
 * If no connection is up the query fails at once with
 * %MUNITY_ERROR_DATABASE_UNAVAILABLE rather than wait; it fails the same way
 * if its connection goes away while it runs or if it runs longer than the
 * query timeout. A server-side error gives %MUNITY_ERROR_DATABASE with the
 * server's message. Cancelling a queued query removes it from the queue;
 * cancelling one in flight answers at once with %G_IO_ERROR_CANCELLED and
 * its result is discarded when it comes.
 */
void
munity_db_query_async (MunityDb            *self,
                       const char          *sql,
                       int                  n_params,
                       const char * const  *params,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Request *req;

  g_return_if_fail (MUNITY_IS_DB (self));
  g_return_if_fail (sql != NULL);
  g_return_if_fail (n_params >= 0);
  g_return_if_fail (n_params == 0 || params != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, munity_db_query_async);

  req = request_new (REQUEST_QUERY, g_steal_pointer (&task));
  req->sql = g_strdup (sql);
  req->n_params = n_params;
  if (n_params > 0)
    {
      req->params = g_new0 (char *, n_params);
      for (int i = 0; i < n_params; i++)
        req->params[i] = g_strdup (params[i]);
    }

  db_submit (self, req);
}

/**
 * munity_db_query_finish: (skip)
 * @self: a #MunityDb
 * @result: the result passed to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full) (nullable): the result, with status
 *   `PGRES_TUPLES_OK` or `PGRES_COMMAND_OK` (free it with `PQclear()` or
 *   `g_autoptr(PGresult)`), or %NULL with @error set
 */
PGresult *
munity_db_query_finish (MunityDb      *self,
                        GAsyncResult  *result,
                        GError       **error)
{
  g_return_val_if_fail (MUNITY_IS_DB (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == munity_db_query_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * munity_db_exec_script_async:
 * @self: a #MunityDb
 * @script: trusted SQL, possibly several statements separated by `;`
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * Runs a script with the simple query protocol: for our own SQL
 * (migrations), never for anything containing user input, as it takes no
 * parameters. Unless the script has its own transaction blocks, all of it
 * runs in one implicit transaction. If it fails inside a `BEGIN` it
 * opened, the session is rolled back before the next query runs. Queued
 * and failing like [method@Munity.Db.query_async].
 */
void
munity_db_exec_script_async (MunityDb            *self,
                             const char          *script,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Request *req;

  g_return_if_fail (MUNITY_IS_DB (self));
  g_return_if_fail (script != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, munity_db_exec_script_async);

  req = request_new (REQUEST_SCRIPT, g_steal_pointer (&task));
  req->sql = g_strdup (script);

  db_submit (self, req);
}

/**
 * munity_db_exec_script_finish:
 * @self: a #MunityDb
 * @result: the result passed to the callback
 * @error: return location for an error
 *
 * Returns: %TRUE if every statement of the script succeeded
 */
gboolean
munity_db_exec_script_finish (MunityDb      *self,
                              GAsyncResult  *result,
                              GError       **error)
{
  g_return_val_if_fail (MUNITY_IS_DB (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == munity_db_exec_script_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
