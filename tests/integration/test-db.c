/* test-db.c — MunityDb and MunityEmbeddedPg against real PostgreSQL servers
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "munity-accounts.h"
#include "munity-config.h"
#include "munity-daemon.h"
#include "munity-db.h"
#include "munity-embedded-pg.h"
#include "munity-error.h"
#include "munity-migrations.h"
#include "munity-session.h"
#include "munity-test-pg.h"

/* One cluster for the MunityDb tests: initdb is the slow part. */
static MunityTestPg *cluster;

/* ---- helpers ---------------------------------------------------------- */

static void
store_result_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GAsyncResult **out = user_data;

  g_assert_null (*out);
  *out = g_object_ref (result);
}

static gboolean
flag_cb (gpointer user_data)
{
  gboolean *flag = user_data;

  *flag = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until *result is set; fails the test after
 * timeout_ms rather than hang. */
static GAsyncResult *
await_result (GAsyncResult **result,
              guint          timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (timeout_ms, flag_cb, &timed_out);

  while (*result == NULL && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (*result == NULL)
    g_error ("Timed out after %u ms waiting for an asynchronous result", timeout_ms);
  g_source_remove (id);
  return *result;
}

/* Runs the main loop until check() holds, at most timeout_ms. */
static gboolean
loop_until (gboolean (*check) (gpointer), gpointer data, guint timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (timeout_ms, flag_cb, &timed_out);

  while (!check (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return check (data);
}

static void
spin (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, flag_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static PGresult *
query (MunityDb            *db,
       const char          *sql,
       int                  n_params,
       const char * const  *params,
       GError             **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  munity_db_query_async (db, sql, n_params, params, NULL, store_result_cb, &result);
  await_result (&result, 10000);
  return munity_db_query_finish (db, result, error);
}

static char *
query_value (MunityDb   *db,
             const char *sql)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PGresult) res = query (db, sql, 0, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpint (PQresultStatus (res), ==, PGRES_TUPLES_OK);
  g_assert_cmpint (PQntuples (res), ==, 1);
  return g_strdup (PQgetvalue (res, 0, 0));
}

static gboolean
exec_script (MunityDb    *db,
             const char  *script,
             GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  munity_db_exec_script_async (db, script, NULL, store_result_cb, &result);
  await_result (&result, 10000);
  return munity_db_exec_script_finish (db, result, error);
}

static MunityDb *
db_new_up (guint max_connections)
{
  g_autoptr(MunityDb) db = munity_db_new (munity_test_pg_conninfo (cluster), max_connections);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  munity_db_start (db);
  munity_db_wait_up_async (db, 10000, NULL, store_result_cb, &result);
  await_result (&result, 15000);
  munity_db_wait_up_finish (db, result, &error);
  g_assert_no_error (error);
  g_assert_true (munity_db_is_up (db));
  return g_steal_pointer (&db);
}

/* Closes and drops the last reference, and proves the object is gone
 * (callbacks deferred to idle may hold it for one more iteration). */
static void
db_free_checked (MunityDb *db)
{
  gpointer weak = db;

  g_object_add_weak_pointer (G_OBJECT (db), &weak);
  munity_db_close (db);
  g_object_unref (db);
  for (int i = 0; i < 100 && weak != NULL; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_null (weak);
}

/* ---- LISTEN ----------------------------------------------------------- */

typedef struct {
  GPtrArray *payloads;    /* of char*, in arrival order */
  GString   *listening;   /* "F" / "T" per change of MunityDb:listening */
} Heard;

static void
on_notification (MunityDb *db, const char *channel, const char *payload, Heard *heard)
{
  g_ptr_array_add (heard->payloads, g_strdup_printf ("%s:%s", channel, payload));
}

static void
on_listening (MunityDb *db, GParamSpec *pspec, Heard *heard)
{
  g_string_append_c (heard->listening, munity_db_is_listening (db) ? 'T' : 'F');
}

static gboolean
is_listening (gpointer data)
{
  return munity_db_is_listening (data);
}

static Heard *heard_wait;
static guint heard_wait_n;

static gboolean
heard_enough (gpointer data)
{
  return heard_wait->payloads->len >= heard_wait_n;
}

static void
test_listen (void)
{
  g_autoptr(MunityDb) db = db_new_up (1);
  g_autoptr(MunityDb) other = db_new_up (1);
  g_autofree char *pid = NULL;
  g_autofree char *killed = NULL;
  Heard heard = { g_ptr_array_new_with_free_func (g_free), g_string_new (NULL) };

  g_signal_connect (db, "notification", G_CALLBACK (on_notification), &heard);
  g_signal_connect (db, "notify::listening", G_CALLBACK (on_listening), &heard);
  g_assert_false (munity_db_is_listening (db));
  munity_db_listen (db, "munity_test");
  munity_db_listen (db, "Munity Other");
  g_assert_true (loop_until (is_listening, db, 10000));

  /* Sent from another connection, in order, on both channels; a
   * notification on the pool's own connection is not one of ours. */
  g_free (query_value (other, "SELECT pg_notify('munity_test', 'one')::text || pg_notify('Munity Other', 'two')::text"));
  g_free (query_value (other, "SELECT pg_notify('munity_test', 'three')::text"));
  g_free (query_value (other, "SELECT pg_notify('not_ours', 'x')::text"));
  heard_wait = &heard;
  heard_wait_n = 3;
  g_assert_true (loop_until (heard_enough, NULL, 10000));
  spin (100);
  g_assert_cmpuint (heard.payloads->len, ==, 3);
  g_assert_cmpstr (heard.payloads->pdata[0], ==, "munity_test:one");
  g_assert_cmpstr (heard.payloads->pdata[1], ==, "Munity Other:two");
  g_assert_cmpstr (heard.payloads->pdata[2], ==, "munity_test:three");

  /* The server ends the listening backend: listening goes FALSE, then
   * TRUE again on a new connection that LISTENs on both channels. */
  pid = query_value (other, "SELECT pid::text FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()");
  g_assert_cmpstr (heard.listening->str, ==, "T");
  killed = query_value (other, "SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity "
                               "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()");
  g_assert_cmpstr (killed, ==, "1");
  for (int i = 0; i < 500 && strcmp (heard.listening->str, "TFT") != 0; i++)
    spin (10);
  g_assert_cmpstr (heard.listening->str, ==, "TFT");
  g_assert_true (munity_db_is_up (db));

  g_free (query_value (other, "SELECT pg_notify('Munity Other', 'four')::text"));
  heard_wait_n = 4;
  g_assert_true (loop_until (heard_enough, NULL, 10000));
  g_assert_cmpstr (heard.payloads->pdata[3], ==, "Munity Other:four");

  g_signal_handlers_disconnect_by_data (db, &heard);
  db_free_checked (g_steal_pointer (&db));
  db_free_checked (g_steal_pointer (&other));
  g_ptr_array_unref (heard.payloads);
  g_string_free (heard.listening, TRUE);
}

/* ---- MunityDb --------------------------------------------------------- */

static void
test_query_params (void)
{
  MunityDb *db = db_new_up (2);
  g_autoptr(GError) error = NULL;
  g_autoptr(PGresult) res = NULL;
  g_autoptr(PGresult) res2 = NULL;
  g_autofree char *count = NULL;
  const char *injection = "Robert'); DROP TABLE students; --";
  const char *emoji = "Ünïcödé 😀👩‍💻 \\ ' \" $1";
  const char *params[] = { injection, emoji, NULL, "41" };

  res = query (db, "SELECT $1::text, $2::text, $3::text IS NULL, $4::int + 1, $3::text",
               G_N_ELEMENTS (params), params, &error);
  g_assert_no_error (error);
  g_assert_cmpint (PQresultStatus (res), ==, PGRES_TUPLES_OK);
  g_assert_cmpint (PQntuples (res), ==, 1);
  g_assert_cmpstr (PQgetvalue (res, 0, 0), ==, injection);
  g_assert_cmpstr (PQgetvalue (res, 0, 1), ==, emoji);
  g_assert_cmpstr (PQgetvalue (res, 0, 2), ==, "t");
  g_assert_cmpstr (PQgetvalue (res, 0, 3), ==, "42");
  g_assert_true (PQgetisnull (res, 0, 4));

  /* Stored and read back through a table, which survives. */
  g_assert_true (exec_script (db, "DROP TABLE IF EXISTS students; CREATE TABLE students (name text)", &error));
  g_assert_no_error (error);
  {
    const char *insert[] = { injection };
    g_autoptr(PGresult) ins = query (db, "INSERT INTO students (name) VALUES ($1)", 1, insert, &error);

    g_assert_no_error (error);
    g_assert_cmpint (PQresultStatus (ins), ==, PGRES_COMMAND_OK);
    g_assert_cmpstr (PQcmdTuples (ins), ==, "1");
  }
  {
    const char *insert[] = { emoji };
    g_autoptr(PGresult) ins = query (db, "INSERT INTO students (name) VALUES ($1)", 1, insert, &error);

    g_assert_no_error (error);
  }
  res2 = query (db, "SELECT name FROM students ORDER BY name", 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (PQntuples (res2), ==, 2);
  g_assert_cmpstr (PQgetvalue (res2, 0, 0), ==, injection);
  g_assert_cmpstr (PQgetvalue (res2, 1, 0), ==, emoji);
  count = munity_test_pg_query_value (cluster, "SELECT count(*) FROM students");
  g_assert_cmpstr (count, ==, "2");

  g_assert_true (exec_script (db, "DROP TABLE students", &error));
  db_free_checked (db);
}

static void
test_query_server_error (void)
{
  MunityDb *db = db_new_up (1);
  g_autoptr(GError) error = NULL;
  g_autoptr(PGresult) res = NULL;
  g_autofree char *value = NULL;

  res = query (db, "SELECT * FROM no_such_table", 0, NULL, &error);
  g_assert_null (res);
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_DATABASE);
  g_assert_nonnull (strstr (error->message, "no_such_table"));
  g_assert_null (strchr (error->message, '\n'));
  g_clear_error (&error);

  /* A bad parameter value is the server's error too. */
  {
    const char *params[] = { "not a number" };

    res = query (db, "SELECT $1::int", 1, params, &error);
    g_assert_null (res);
    g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_DATABASE);
    g_clear_error (&error);
  }

  /* The connection is still fine afterwards. */
  value = query_value (db, "SELECT 'still here'");
  g_assert_cmpstr (value, ==, "still here");
  db_free_checked (db);
}

typedef struct {
  int index;
  GArray *order;                /* (unowned) */
  char *value;
  char *seq;
  GError *error;
} OrderItem;

static void
order_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  OrderItem *item = user_data;
  g_autoptr(PGresult) res = munity_db_query_finish (MUNITY_DB (source), result, &item->error);

  if (res != NULL)
    {
      item->value = g_strdup (PQgetvalue (res, 0, 0));
      item->seq = g_strdup (PQgetvalue (res, 0, 1));
    }
  g_array_append_val (item->order, item->index);
}

static gboolean
order_all_done (gpointer data)
{
  GArray *order = data;

  return order->len == 200;
}

static void
run_queue_order (guint max_connections)
{
  MunityDb *db = db_new_up (max_connections);
  g_autoptr(GArray) order = g_array_new (FALSE, FALSE, sizeof (int));
  OrderItem items[200];
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) seqs = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, NULL);
  gint64 first_seq;

  g_assert_true (exec_script (db, "DROP SEQUENCE IF EXISTS order_seq; CREATE SEQUENCE order_seq", &error));
  g_assert_no_error (error);

  for (int i = 0; i < 200; i++)
    {
      g_autofree char *param = g_strdup_printf ("%d", i);
      const char *params[] = { param };

      items[i] = (OrderItem) { .index = i, .order = order };
      munity_db_query_async (db, "SELECT $1::int, nextval('order_seq')", 1, params,
                             NULL, order_cb, &items[i]);
    }

  g_assert_true (loop_until (order_all_done, order, 20000));

  first_seq = g_ascii_strtoll (items[0].seq != NULL ? items[0].seq : "0", NULL, 10);
  for (int i = 0; i < 200; i++)
    {
      g_autofree char *expected = g_strdup_printf ("%d", i);

      g_assert_no_error (items[i].error);
      g_assert_cmpstr (items[i].value, ==, expected);
      /* Every query ran exactly once. */
      g_assert_false (g_hash_table_contains (seqs, items[i].seq));
      g_hash_table_add (seqs, items[i].seq);
      if (max_connections == 1)
        {
          /* One connection: run on the server and answered strictly in
           * submission order. */
          g_assert_cmpint (g_array_index (order, int, i), ==, i);
          g_assert_cmpint (g_ascii_strtoll (items[i].seq, NULL, 10), ==, first_seq + i);
        }
    }

  for (int i = 0; i < 200; i++)
    {
      g_free (items[i].value);
      g_free (items[i].seq);
    }

  g_assert_true (exec_script (db, "DROP SEQUENCE order_seq", &error));
  db_free_checked (db);
}

static void
test_queue_order_one (void)
{
  run_queue_order (1);
}

static void
test_queue_order_four (void)
{
  run_queue_order (4);
}

static void
test_cancel_queued (void)
{
  MunityDb *db = db_new_up (1);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) slow = NULL;
  g_autoptr(GAsyncResult) cancelled = NULL;
  g_autoptr(GAsyncResult) after = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(PGresult) res = NULL;
  gint64 start;

  munity_db_query_async (db, "SELECT pg_sleep(0.5)", 0, NULL, NULL, store_result_cb, &slow);
  munity_db_query_async (db, "SELECT 'cancelled'", 0, NULL, cancellable, store_result_cb, &cancelled);
  munity_db_query_async (db, "SELECT 'after'", 0, NULL, NULL, store_result_cb, &after);

  start = g_get_monotonic_time ();
  g_cancellable_cancel (cancellable);
  await_result (&cancelled, 5000);
  /* Answered at once, not after the slow query ahead of it. */
  g_assert_cmpint (g_get_monotonic_time () - start, <, 300 * 1000);
  g_assert_null (slow);
  res = munity_db_query_finish (db, cancelled, &error);
  g_assert_null (res);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  await_result (&slow, 5000);
  res = munity_db_query_finish (db, slow, &error);
  g_assert_no_error (error);
  g_clear_pointer (&res, PQclear);

  await_result (&after, 5000);
  res = munity_db_query_finish (db, after, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (PQgetvalue (res, 0, 0), ==, "after");

  g_clear_object (&slow);
  g_clear_object (&cancelled);
  g_clear_object (&after);
  db_free_checked (db);
}

static void
count_notify_cb (GObject    *object,
                 GParamSpec *pspec,
                 gpointer    user_data)
{
  guint *count = user_data;

  (*count)++;
}

static gboolean
db_is_down (gpointer data)
{
  return !munity_db_is_up (data);
}

static gboolean
db_is_up (gpointer data)
{
  return munity_db_is_up (data);
}

static void
test_server_restart (void)
{
  MunityDb *db = db_new_up (2);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(PGresult) res = NULL;
  g_autofree char *value = NULL;
  guint notifies = 0;
  gint64 start;

  g_signal_connect (db, "notify::up", G_CALLBACK (count_notify_cb), &notifies);

  munity_test_pg_stop_server (cluster);

  /* A query sent now fails fast, whether or not the loss was noticed. */
  start = g_get_monotonic_time ();
  munity_db_query_async (db, "SELECT 1", 0, NULL, NULL, store_result_cb, &result);
  await_result (&result, 1000);
  res = munity_db_query_finish (db, result, &error);
  g_assert_null (res);
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_DATABASE_UNAVAILABLE);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  g_clear_error (&error);
  g_clear_object (&result);

  g_assert_true (loop_until (db_is_down, db, 1000));
  g_assert_cmpuint (notifies, ==, 1);

  /* While down: fail at once, do not queue. */
  start = g_get_monotonic_time ();
  munity_db_query_async (db, "SELECT 1", 0, NULL, NULL, store_result_cb, &result);
  await_result (&result, 1000);
  res = munity_db_query_finish (db, result, &error);
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_DATABASE_UNAVAILABLE);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 100 * 1000);
  g_clear_error (&error);
  g_clear_object (&result);

  /* Let it fail to reconnect a few times, so the backoff is long. */
  spin (1500);
  g_assert_false (munity_db_is_up (db));

  munity_test_pg_restart_server (cluster);
  start = g_get_monotonic_time ();
  g_assert_true (loop_until (db_is_up, db, 10000));
  g_test_message ("back up after %" G_GINT64_FORMAT " ms", (g_get_monotonic_time () - start) / 1000);
  g_assert_cmpuint (notifies, ==, 2);

  value = query_value (db, "SELECT 'back'");
  g_assert_cmpstr (value, ==, "back");
  db_free_checked (db);
}

static void
test_query_timeout (void)
{
  MunityDb *db = db_new_up (1);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(PGresult) res = NULL;
  g_autofree char *value = NULL;
  g_autofree char *running = NULL;
  gint64 start, elapsed;

  munity_db_set_query_timeout (db, 500);
  start = g_get_monotonic_time ();
  munity_db_query_async (db, "SELECT pg_sleep(3)", 0, NULL, NULL, store_result_cb, &result);
  await_result (&result, 2500);
  elapsed = g_get_monotonic_time () - start;
  res = munity_db_query_finish (db, result, &error);
  g_assert_null (res);
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_DATABASE_UNAVAILABLE);
  g_assert_cmpint (elapsed, >=, 450 * 1000);
  g_assert_cmpint (elapsed, <, 1500 * 1000);
  g_clear_error (&error);

  /* The connection comes back by itself and works. */
  g_assert_true (loop_until (db_is_up, db, 5000));
  value = query_value (db, "SELECT 'after timeout'");
  g_assert_cmpstr (value, ==, "after timeout");

  /* The statement was cancelled on the server, not left running. */
  for (int i = 0; i < 50; i++)
    {
      g_clear_pointer (&running, g_free);
      running = munity_test_pg_query_value (cluster,
                                            "SELECT count(*) FROM pg_stat_activity "
                                            "WHERE query = 'SELECT pg_sleep(3)' AND state = 'active'");
      if (g_strcmp0 (running, "0") == 0)
        break;
      spin (20);
    }
  g_assert_cmpstr (running, ==, "0");

  g_clear_object (&result);
  db_free_checked (db);
}

static void
test_exec_script (void)
{
  MunityDb *db = db_new_up (1);
  g_autoptr(GError) error = NULL;
  g_autofree char *value = NULL;
  g_autofree char *exists = NULL;

  g_assert_true (exec_script (db,
                              "DROP TABLE IF EXISTS s1, s2;\n"
                              "CREATE TABLE s1 (a int);\n"
                              "INSERT INTO s1 VALUES (1), (2), (3);\n"
                              "CREATE TABLE s2 (b text);\n"
                              "INSERT INTO s2 SELECT a::text FROM s1;",
                              &error));
  g_assert_no_error (error);
  value = query_value (db, "SELECT sum(b::int) FROM s2");
  g_assert_cmpstr (value, ==, "6");

  /* A failing statement fails the script; with its own transaction the
   * session is rolled back, so the next query works and nothing of the
   * script is left. */
  g_assert_false (exec_script (db,
                               "BEGIN;\n"
                               "CREATE TABLE s3 (c int);\n"
                               "SELECT * FROM no_such_table;\n"
                               "COMMIT;",
                               &error));
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_DATABASE);
  g_assert_nonnull (strstr (error->message, "no_such_table"));
  g_clear_error (&error);
  exists = query_value (db, "SELECT to_regclass('s3') IS NULL");
  g_assert_cmpstr (exists, ==, "t");

  /* Without BEGIN the whole script is one implicit transaction. */
  g_assert_false (exec_script (db, "INSERT INTO s1 VALUES (10); SELECT 1/0;", &error));
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_DATABASE);
  g_clear_error (&error);
  g_clear_pointer (&value, g_free);
  value = query_value (db, "SELECT count(*) FROM s1");
  g_assert_cmpstr (value, ==, "3");

  g_assert_true (exec_script (db, "DROP TABLE s1, s2", &error));
  db_free_checked (db);
}

static void
test_unreachable (void)
{
  g_autofree char *dir = g_dir_make_tmp ("munity-nopg-XXXXXX", NULL);
  g_autofree char *conninfo = g_strdup_printf ("host=%s port=5432 dbname=postgres", dir);
  MunityDb *db = munity_db_new (conninfo, 2);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(PGresult) res = NULL;
  gint64 start;

  munity_db_start (db);

  start = g_get_monotonic_time ();
  munity_db_wait_up_async (db, 300, NULL, store_result_cb, &result);
  await_result (&result, 2000);
  g_assert_false (munity_db_wait_up_finish (db, result, &error));
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_DATABASE_UNAVAILABLE);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 250 * 1000);
  g_clear_error (&error);
  g_clear_object (&result);

  munity_db_query_async (db, "SELECT 1", 0, NULL, NULL, store_result_cb, &result);
  await_result (&result, 500);
  res = munity_db_query_finish (db, result, &error);
  g_assert_null (res);
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_DATABASE_UNAVAILABLE);
  g_clear_error (&error);
  g_clear_object (&result);

  /* Close fails pending waits too. */
  munity_db_wait_up_async (db, 10000, NULL, store_result_cb, &result);
  munity_db_close (db);
  await_result (&result, 500);
  g_assert_false (munity_db_wait_up_finish (db, result, &error));
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_DATABASE_UNAVAILABLE);

  g_clear_object (&result);
  db_free_checked (db);
  g_rmdir (dir);
}

/* The one check of a connection string is the configuration's. */
static gboolean
config_accepts_database (const char  *conninfo,
                         GError     **error)
{
  g_autoptr(MunityConfig) config = munity_config_new ();
  g_autofree char *option = g_strdup_printf ("--database=%s", conninfo);
  char *args[] = { (char *) "munityd", option, NULL };
  char **argv = args;
  int argc = 2;
  gboolean version = FALSE;

  return munity_config_parse_args (config, &argc, &argv, &version, error);
}

static void
test_bad_conninfo (void)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (config_accepts_database ("host=/tmp port=5432", NULL));
  g_assert_true (config_accepts_database ("postgresql://u@localhost/db", NULL));
  g_assert_false (config_accepts_database ("hots=/tmp", &error));
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG);
}

static char *
count_active (const char *sql)
{
  g_autofree char *quoted = g_strdup_printf ("SELECT count(*) FROM pg_stat_activity "
                                             "WHERE query = '%s' AND state = 'active'", sql);

  return munity_test_pg_query_value (cluster, quoted);
}

static void
test_cancel_in_flight (void)
{
  MunityDb *db = db_new_up (1);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) slow = NULL;
  g_autoptr(GAsyncResult) after = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(PGresult) res = NULL;
  g_autofree char *running = NULL;
  gint64 start;

  /* No query timeout: only the cancellation may stop the statement. */
  munity_db_set_query_timeout (db, 0);
  munity_db_query_async (db, "SELECT pg_sleep(20)", 0, NULL, cancellable, store_result_cb, &slow);
  for (int i = 0; i < 250 && g_strcmp0 (running, "1") != 0; i++)
    {
      spin (20);
      g_clear_pointer (&running, g_free);
      running = count_active ("SELECT pg_sleep(20)");
    }
  g_assert_cmpstr (running, ==, "1");

  start = g_get_monotonic_time ();
  g_cancellable_cancel (cancellable);
  await_result (&slow, 5000);
  res = munity_db_query_finish (db, slow, &error);
  g_assert_null (res);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  /* The server stopped the statement, so the one connection is free for
   * the next query long before the 20 s are over. */
  munity_db_query_async (db, "SELECT 'after'", 0, NULL, NULL, store_result_cb, &after);
  await_result (&after, 10000);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  res = munity_db_query_finish (db, after, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (PQgetvalue (res, 0, 0), ==, "after");

  g_clear_pointer (&running, g_free);
  running = count_active ("SELECT pg_sleep(20)");
  g_assert_cmpstr (running, ==, "0");

  g_clear_object (&slow);
  g_clear_object (&after);
  db_free_checked (db);
}

/* ---- MunityAccounts --------------------------------------------------- */

typedef struct {
  guint  done;
  guint  cancelled;
} RegisterCount;

static void
register_done_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  RegisterCount *count = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(MunityUserInfo) user = NULL;
  g_autofree char *token = NULL;

  user = munity_accounts_register_finish (MUNITY_ACCOUNTS (source), result, &token, NULL, NULL, &error);
  g_assert_null (user);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    count->cancelled++;
  count->done++;
}

typedef struct {
  MunityAccounts *accounts;
  guint           jobs;
} HashJobs;

static gboolean
hash_jobs_reached (gpointer data)
{
  HashJobs *wait = data;

  return munity_accounts_get_n_hash_jobs (wait->accounts) >= wait->jobs;
}

static gboolean
hash_jobs_gone (gpointer data)
{
  HashJobs *wait = data;

  return munity_accounts_get_n_hash_jobs (wait->accounts) == 0;
}

static MunityDb *
db_new_migrated (void)
{
  MunityDb *db = db_new_up (2);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  munity_migrations_run_async (db, NULL, store_result_cb, &result);
  await_result (&result, 30000);
  g_assert_true (munity_migrations_run_finish (result, NULL, &error));
  g_assert_no_error (error);
  return db;
}

static void
on_close_requested (MunitySocket *socket,
                    guint         code,
                    const char   *reason,
                    guint        *out_code)
{
  *out_code = code;
}

/* Stored changes and ended sessions reach the model through the daemon's
 * wiring, not through whoever asked for them. */
static void
test_accounts_reach_presence (void)
{
  MunityDb *db = db_new_migrated ();
  g_autoptr(MunityAccounts) accounts = munity_accounts_new (db);
  g_autoptr(MunityPresence) presence = munity_presence_new (0);
  g_autoptr(MunityUserInfo) user = NULL;
  g_autoptr(MunityUserInfo) changed = NULL;
  g_autoptr(MunitySocket) socket = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;
  g_autofree char *email = g_strdup_printf ("wired-%d@example.org", (int) getpid ());
  g_autofree char *session = NULL;
  guint close_code = 0;

  /* every change announced at once */
  munity_presence_set_update_interval (presence, 0);
  munity_daemon_connect_accounts (accounts, presence);

  munity_accounts_register_async (accounts, "Wired", "Up", email, "a long password",
                                  "192.0.2.200", NULL, store_result_cb, &result);
  await_result (&result, 20000);
  user = munity_accounts_register_finish (accounts, result, &token, NULL, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  session = munity_session_token_hash (token);
  socket = munity_socket_new (user->id, session);
  g_signal_connect (socket, "close-requested", G_CALLBACK (on_close_requested), &close_code);
  munity_presence_add_socket (presence, socket, user);

  munity_accounts_update_async (accounts, user->id, "Renamed", NULL, NULL, NULL, store_result_cb, &result);
  await_result (&result, 10000);
  changed = munity_accounts_update_finish (accounts, result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  g_assert_cmpstr (munity_user_get_first (munity_presence_lookup_user (presence, user->id)), ==, "Renamed");
  g_clear_pointer (&changed, munity_user_info_unref);

  munity_accounts_set_image_async (accounts, user->id, "/avatars/wired.png", NULL, store_result_cb, &result);
  await_result (&result, 10000);
  changed = munity_accounts_set_image_finish (accounts, result, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  g_assert_cmpstr (munity_user_get_image_url (munity_presence_lookup_user (presence, user->id)), ==,
                   "/avatars/wired.png");

  munity_accounts_logout_async (accounts, token, NULL, store_result_cb, &result);
  await_result (&result, 10000);
  g_assert_cmpint (munity_accounts_logout_finish (accounts, result, &error), ==, user->id);
  g_assert_no_error (error);
  g_assert_cmpuint (close_code, ==, MUNITY_CLOSE_LOGGED_OUT);
  g_assert_null (munity_presence_lookup_user (presence, user->id));

  g_clear_object (&result);
  g_clear_object (&accounts);
  db_free_checked (db);
}

/* A register whose client went away while its password waited for a
 * hashing thread costs no argon2id hash: the pool skips it. */
static void
test_cancelled_register_does_not_hash (void)
{
  MunityDb *db = db_new_migrated ();
  g_autoptr(MunityAccounts) accounts = NULL;
  g_autoptr(GPtrArray) cancellables = g_ptr_array_new_with_free_func (g_object_unref);
  /* as many hashing threads as munity-accounts.c starts */
  guint threads = MAX (1, g_get_num_processors () - 1);
  guint n = 2 * threads + 2;
  RegisterCount count = { 0, 0 };
  HashJobs wait;
  guint64 before, at_cancel, after;
  guint jobs_at_cancel;

  accounts = munity_accounts_new (db);
  before = munity_accounts_get_n_hashes (accounts);
  for (guint i = 0; i < n; i++)
    {
      GCancellable *cancellable = g_cancellable_new ();
      g_autofree char *email = g_strdup_printf ("cancelled-%d-%u@example.org", (int) getpid (), i);
      g_autofree char *address = g_strdup_printf ("192.0.2.%u", i % 250);

      g_ptr_array_add (cancellables, cancellable);
      munity_accounts_register_async (accounts, "Can", "Celled", email, "a long password",
                                      address, cancellable, register_done_cb, &count);
    }

  /* Every password is in the pool: at most `threads` hashing, the others
   * (at least threads + 1 of them) waiting for a thread. */
  wait.accounts = accounts;
  wait.jobs = 2 * threads + 1;
  g_assert_true (loop_until (hash_jobs_reached, &wait, 20000));

  for (guint i = 0; i < cancellables->len; i++)
    g_cancellable_cancel (cancellables->pdata[i]);
  at_cancel = munity_accounts_get_n_hashes (accounts);
  jobs_at_cancel = munity_accounts_get_n_hash_jobs (accounts);

  for (int i = 0; i < 2000 && count.done < n; i++)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (count.done, ==, n);
  g_assert_cmpuint (count.cancelled, ==, n);
  after = munity_accounts_get_n_hashes (accounts);
  g_test_message ("%u registers, %u hashing threads: %" G_GUINT64_FORMAT " hashed before the "
                  "cancel, %" G_GUINT64_FORMAT " after it, %u jobs in the pool at the cancel",
                  n, threads, at_cancel - before, after - at_cancel, jobs_at_cancel);

  /* Those that waited were never hashed. Without the check each would
   * be, and at least threads + 1 were waiting; the ones a thread had just
   * taken are the margin. */
  g_assert_cmpuint (after - at_cancel, <=, threads);
  g_assert_cmpuint (after - before, <, n);
  /* (a thread counts its job out just after the job's answer is sent) */
  g_assert_true (loop_until (hash_jobs_gone, &wait, 5000));

  g_clear_object (&accounts);
  db_free_checked (db);
}

/* ---- MunityEmbeddedPg ------------------------------------------------- */

static int
pid_from_file (const char *path)
{
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return -1;
  return (int) g_ascii_strtoll (contents, NULL, 10);
}

static void
embedded_start (MunityEmbeddedPg *epg)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  munity_embedded_pg_start_async (epg, NULL, store_result_cb, &result);
  await_result (&result, 90000);
  munity_embedded_pg_start_finish (epg, result, &error);
  g_assert_no_error (error);
  g_assert_true (munity_embedded_pg_is_running (epg));
}

static void
embedded_stop (MunityEmbeddedPg *epg)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  munity_embedded_pg_stop_async (epg, 10000, NULL, store_result_cb, &result);
  await_result (&result, 15000);
  g_assert_true (munity_embedded_pg_stop_finish (epg, result, &error));
  g_assert_no_error (error);
  g_assert_false (munity_embedded_pg_is_running (epg));
}

static MunityDb *
embedded_db (MunityEmbeddedPg *epg)
{
  g_autoptr(MunityDb) db = munity_db_new (munity_embedded_pg_get_conninfo (epg), 1);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  munity_db_start (db);
  munity_db_wait_up_async (db, 5000, NULL, store_result_cb, &result);
  await_result (&result, 10000);
  g_assert_true (munity_db_wait_up_finish (db, result, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&db);
}

static void
rm_rf (const char *path)
{
  g_autoptr(GSubprocess) rm = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, NULL, "rm", "-rf", path, NULL);

  g_assert_nonnull (rm);
  g_assert_true (g_subprocess_wait_check (rm, NULL, NULL));
}

static void
test_embedded_lifecycle (void)
{
  g_autofree char *state = g_dir_make_tmp ("munity-state-XXXXXX", NULL);
  g_autofree char *pidfile = g_build_filename (state, "postgresql", "postmaster.pid", NULL);
  g_autofree char *pg_version = g_build_filename (state, "postgresql", "PG_VERSION", NULL);
  g_autofree char *value = NULL;
  MunityEmbeddedPg *epg;
  gpointer weak;
  MunityDb *db;
  GStatBuf st1, st2;
  int pid;

  g_assert_nonnull (state);

  /* First run: initdb, start, talk to it. */
  epg = munity_embedded_pg_new (state, "postgres");
  embedded_start (epg);
  g_assert_cmpint (g_stat (pg_version, &st1), ==, 0);
  {
    g_autofree char *data_dir = g_build_filename (state, "postgresql", NULL);
    GStatBuf st;

    g_assert_cmpint (g_stat (data_dir, &st), ==, 0);
    g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  }
  if (geteuid () == 0)
    {
      GStatBuf st;

      g_assert_cmpint (g_stat (state, &st), ==, 0);
      g_assert_cmpuint (st.st_uid, !=, 0);
    }

  db = embedded_db (epg);
  value = query_value (db, "SELECT 1");
  g_assert_cmpstr (value, ==, "1");
  g_clear_pointer (&value, g_free);
  /* Unix socket only: no TCP listener at all. */
  value = query_value (db, "SHOW listen_addresses");
  g_assert_cmpstr (value, ==, "");
  g_clear_pointer (&value, g_free);
  value = query_value (db, "SELECT current_user");
  g_assert_cmpstr (value, ==, "munity");
  g_clear_pointer (&value, g_free);
  {
    g_autoptr(GError) error = NULL;

    g_assert_true (exec_script (db, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survivor')", &error));
    g_assert_no_error (error);
  }
  db_free_checked (db);

  pid = pid_from_file (pidfile);
  g_assert_cmpint (pid, >, 0);
  g_assert_cmpint (kill (pid, 0), ==, 0);

  embedded_stop (epg);
  /* Reaped, not just signalled: the pid is gone. */
  g_assert_cmpint (kill (pid, 0), ==, -1);
  g_assert_cmpint (errno, ==, ESRCH);
  g_assert_false (g_file_test (pidfile, G_FILE_TEST_EXISTS));

  /* Stopping again is fine. */
  embedded_stop (epg);

  /* Second run on the same state: no initdb, the data is there. */
  embedded_start (epg);
  g_assert_cmpint (g_stat (pg_version, &st2), ==, 0);
  g_assert_cmpuint (st1.st_ino, ==, st2.st_ino);
  g_assert_cmpint (st1.st_mtime, ==, st2.st_mtime);
  db = embedded_db (epg);
  value = query_value (db, "SELECT v FROM kept");
  g_assert_cmpstr (value, ==, "survivor");
  db_free_checked (db);

  /* Dropping the object kills a still-running server synchronously. */
  pid = pid_from_file (pidfile);
  g_assert_cmpint (pid, >, 0);
  weak = epg;
  g_object_add_weak_pointer (G_OBJECT (epg), &weak);
  g_object_unref (epg);
  g_assert_null (weak);
  g_assert_cmpint (kill (pid, 0), ==, -1);
  g_assert_cmpint (errno, ==, ESRCH);

  /* A stale postmaster.pid (left by the kill above) does not prevent the
   * next start. */
  g_assert_true (g_file_test (pidfile, G_FILE_TEST_EXISTS));
  epg = munity_embedded_pg_new (state, "postgres");
  embedded_start (epg);
  embedded_stop (epg);
  g_object_unref (epg);

  rm_rf (state);
}

static void
exited_cb (MunityEmbeddedPg *epg,
           gpointer          user_data)
{
  gboolean *exited = user_data;

  *exited = TRUE;
}

static gboolean
flag_is_set (gpointer data)
{
  return *(gboolean *) data;
}

static void
test_embedded_exited (void)
{
  g_autofree char *state = g_dir_make_tmp ("munity-state-XXXXXX", NULL);
  g_autofree char *pidfile = g_build_filename (state, "postgresql", "postmaster.pid", NULL);
  g_autoptr(MunityEmbeddedPg) epg = munity_embedded_pg_new (state, "postgres");
  gboolean exited = FALSE;
  int pid;

  g_signal_connect (epg, "exited", G_CALLBACK (exited_cb), &exited);
  embedded_start (epg);
  pid = pid_from_file (pidfile);
  g_assert_cmpint (pid, >, 0);

  /* Someone else stops the server (immediate shutdown). */
  g_assert_cmpint (kill (pid, SIGQUIT), ==, 0);
  g_assert_true (loop_until (flag_is_set, &exited, 10000));
  g_assert_false (munity_embedded_pg_is_running (epg));
  embedded_stop (epg);

  g_clear_object (&epg);
  rm_rf (state);
}

static void
test_embedded_stop_while_starting (void)
{
  g_autofree char *state = g_dir_make_tmp ("munity-state-XXXXXX", NULL);
  g_autoptr(MunityEmbeddedPg) epg = munity_embedded_pg_new (state, "postgres");
  g_autoptr(GAsyncResult) started = NULL;
  g_autoptr(GAsyncResult) stopped = NULL;
  g_autoptr(GError) error = NULL;

  /* Stop during initdb: the start fails, nothing is left running. */
  munity_embedded_pg_start_async (epg, NULL, store_result_cb, &started);
  spin (50);
  munity_embedded_pg_stop_async (epg, 5000, NULL, store_result_cb, &stopped);
  await_result (&stopped, 10000);
  g_assert_true (munity_embedded_pg_stop_finish (epg, stopped, &error));
  await_result (&started, 10000);
  g_assert_false (munity_embedded_pg_start_finish (epg, started, &error));
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED);
  g_assert_false (munity_embedded_pg_is_running (epg));

  g_clear_object (&epg);
  rm_rf (state);
}

static char *
write_fake_bindir (const char *initdb_script,
                   const char *postgres_script)
{
  g_autofree char *dir = g_dir_make_tmp ("munity-fakebin-XXXXXX", NULL);
  g_autofree char *initdb = g_build_filename (dir, "initdb", NULL);
  g_autofree char *postgres = g_build_filename (dir, "postgres", NULL);

  g_assert_nonnull (dir);
  /* When root, the fakes run as postgres. */
  g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (initdb, initdb_script, -1, NULL));
  g_assert_true (g_file_set_contents (postgres, postgres_script, -1, NULL));
  g_assert_cmpint (g_chmod (initdb, 0755), ==, 0);
  g_assert_cmpint (g_chmod (postgres, 0755), ==, 0);
  return g_steal_pointer (&dir);
}

static GError *
embedded_start_error (const char *bindir)
{
  g_autofree char *state = g_dir_make_tmp ("munity-state-XXXXXX", NULL);
  g_autoptr(MunityEmbeddedPg) epg = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  GError *error = NULL;

  g_setenv ("MUNITY_PG_BINDIR", bindir, TRUE);
  epg = munity_embedded_pg_new (state, "postgres");
  munity_embedded_pg_start_async (epg, NULL, store_result_cb, &result);
  await_result (&result, 10000);
  g_assert_false (munity_embedded_pg_start_finish (epg, result, &error));
  g_assert_false (munity_embedded_pg_is_running (epg));
  g_test_message ("start failed as expected: %s", error->message);
  g_unsetenv ("MUNITY_PG_BINDIR");

  g_clear_object (&result);
  g_clear_object (&epg);
  rm_rf (state);
  return error;
}

static void
test_embedded_failures (void)
{
  g_autofree char *bindir = NULL;
  g_autoptr(GError) error = NULL;

  /* initdb fails: its last line of output is in the error. */
  bindir = write_fake_bindir ("#!/bin/sh\necho 'running bootstrap'\necho 'initdb: error: the disk caught fire' >&2\nexit 1\n",
                              "#!/bin/sh\nexit 1\n");
  error = embedded_start_error (bindir);
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "the disk caught fire"));
  g_clear_error (&error);
  rm_rf (bindir);
  g_clear_pointer (&bindir, g_free);

  /* postgres exits during start-up: the last line of its log is. */
  bindir = write_fake_bindir ("#!/bin/sh\n"
                              "for a; do case $a in --pgdata=*) d=${a#--pgdata=};; esac; done\n"
                              "mkdir -m 700 \"$d\" && echo 15 > \"$d/PG_VERSION\"\n",
                              "#!/bin/sh\necho 'FATAL:  could not frobnicate' >&2\nexit 1\n");
  error = embedded_start_error (bindir);
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "could not frobnicate"));
  g_clear_error (&error);
  rm_rf (bindir);

  /* No programs at all. */
  error = embedded_start_error ("/nonexistent");
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "MUNITY_PG_BINDIR"));
}

static void
test_embedded_foreign_state_dir (void)
{
  g_autofree char *state = g_dir_make_tmp ("munity-state-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (state, "something", NULL);
  g_autoptr(MunityEmbeddedPg) epg = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GStatBuf st;

  /* Root's non-empty directory: never re-owned behind the operator's
   * back. */
  g_assert_true (g_file_set_contents (file, "x", -1, NULL));
  epg = munity_embedded_pg_new (state, "postgres");
  munity_embedded_pg_start_async (epg, NULL, store_result_cb, &result);
  await_result (&result, 5000);
  g_assert_false (munity_embedded_pg_start_finish (epg, result, &error));
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "must belong to the user postgres"));
  g_assert_cmpint (g_stat (state, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, 0);

  g_clear_object (&epg);
  rm_rf (state);
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);

  cluster = munity_test_pg_start ();

  g_test_add_func ("/db/query/params", test_query_params);
  g_test_add_func ("/db/query/server-error", test_query_server_error);
  g_test_add_func ("/db/query/timeout", test_query_timeout);
  g_test_add_func ("/db/queue/order/one-connection", test_queue_order_one);
  g_test_add_func ("/db/queue/order/four-connections", test_queue_order_four);
  g_test_add_func ("/db/queue/cancel-queued", test_cancel_queued);
  g_test_add_func ("/db/query/cancel-in-flight", test_cancel_in_flight);
  g_test_add_func ("/db/script/several-statements", test_exec_script);
  g_test_add_func ("/db/server/stop-and-restart", test_server_restart);
  g_test_add_func ("/db/server/unreachable", test_unreachable);
  g_test_add_func ("/db/listen/notify-and-reconnect", test_listen);
  g_test_add_func ("/db/conninfo/validate", test_bad_conninfo);
  g_test_add_func ("/accounts/signals-reach-presence", test_accounts_reach_presence);
  g_test_add_func ("/accounts/register/cancelled-does-not-hash", test_cancelled_register_does_not_hash);
  g_test_add_func ("/embedded-pg/lifecycle", test_embedded_lifecycle);
  g_test_add_func ("/embedded-pg/exited", test_embedded_exited);
  g_test_add_func ("/embedded-pg/stop-while-starting", test_embedded_stop_while_starting);
  g_test_add_func ("/embedded-pg/start-failures", test_embedded_failures);
  if (geteuid () == 0)
    g_test_add_func ("/embedded-pg/foreign-state-dir", test_embedded_foreign_state_dir);

  ret = g_test_run ();

  munity_test_pg_free (cluster);
  return ret;
}
