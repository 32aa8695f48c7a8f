/* test-hostile-accounts.c — logins and registrations attacked from outside
 *
 * Issue 10, rows 7, 8 and 15, each reproduced as an attack on the real
 * munityd (on a database of its own in a throwaway cluster), on loopback,
 * bounded in count and time:
 *
 *  - row 7: concurrent wrong logins from one address must be counted
 *    before their passwords are hashed, a full hashing queue must answer
 *    503 busy at once instead of making everyone wait, and registrations
 *    must be throttled per address;
 *  - row 8: a stranger's wrong guesses must not lock the owner out;
 *  - row 15: a register whose answer was a 503 although the database
 *    committed it must succeed when the client repeats it.
 *
 * Client addresses: any 127.x.y.z can be bound on Linux, so each
 * simulated client gets its own.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <locale.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "munity-test-daemon.h"
#include "munity-test-pg.h"

static MunityTestPg *pg;      /* (owned) */
static guint         serial;

/* ---- helpers -------------------------------------------------------------- */

static char *
unique (const char *tag)
{
  return g_strdup_printf ("%s_%d_%u", tag, (int) getpid (), ++serial);
}

static char *
unique_email (const char *tag)
{
  return g_strdup_printf ("%s-%d-%u@example.org", tag, (int) getpid (), ++serial);
}

/* Only ASCII without quotes goes into these bodies: no escaping needed. */
static char *
login_json (const char *email,
            const char *password)
{
  return g_strdup_printf ("{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
}

static char *
register_json (const char *first,
               const char *last,
               const char *email,
               const char *password)
{
  return g_strdup_printf ("{\"first\":\"%s\",\"last\":\"%s\",\"email\":\"%s\",\"password\":\"%s\"}",
                          first, last, email, password);
}

/* A daemon of its own, on a database of its own, with extra environment
 * (name, value, ..., NULL; may be NULL). */
static MunityTestDaemon *
own_daemon (const char * const *env)
{
  g_autofree char *name = unique ("hostile");
  g_autofree char *sql = g_strdup_printf ("CREATE DATABASE %s", name);
  g_autofree char *conninfo = NULL;
  g_autoptr(GError) error = NULL;
  MunityTestDaemon *d;

  g_free (munity_test_sql_value (munity_test_pg_conninfo (pg), sql));
  conninfo = g_strdup_printf ("%s dbname=%s", munity_test_pg_conninfo (pg), name);
  {
    const char *args[] = { "--database", conninfo, NULL };
    d = munity_test_daemon_try_start_with_env (args, env, 60, &error);
  }
  g_assert_no_error (error);
  return d;
}

static char *
db_conninfo (const char *dbname)
{
  return g_strdup_printf ("%s dbname=%s", munity_test_pg_conninfo (pg), dbname);
}

static void
stop_daemon (MunityTestDaemon *d)
{
  guint ms;

  g_assert_cmpint (munity_test_daemon_stop (d, &ms), ==, 0);
  munity_test_daemon_free (d);
}

/* One request over a fresh connection from @local_ip; a transport error
 * fails the test. @cookie may be NULL. */
static MunityTestResponse *
post_from (MunityTestDaemon *d,
           const char       *local_ip,
           const char       *path,
           const char       *body,
           const char       *cookie)
{
  const char *headers[] = { "Cookie", cookie, NULL };
  g_autoptr(GError) error = NULL;
  MunityTestResponse *resp;

  resp = munity_test_http_from (local_ip, "127.0.0.1", munity_test_daemon_port (d),
                                "POST", path, "application/json", body,
                                cookie != NULL ? headers : NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (resp);
  return resp;
}

static void
assert_error (MunityTestResponse *resp,
              guint               status,
              const char         *code)
{
  if (resp->status != status || g_strcmp0 (munity_test_response_error_code (resp), code) != 0)
    g_test_message ("expected %u %s, got %u: %s", status, code, resp->status,
                    munity_test_response_text (resp));
  g_assert_cmpuint (resp->status, ==, status);
  g_assert_cmpstr (munity_test_response_error_code (resp), ==, code);
}

/* Retry-After as a number of seconds, within [1, max_s]. */
static guint64
retry_after_of (SoupMessageHeaders *headers,
                guint64             max_s)
{
  const char *value = soup_message_headers_get_one (headers, "Retry-After");
  guint64 seconds = 0;

  g_assert_nonnull (value);
  g_assert_true (g_ascii_string_to_unsigned (value, 10, 1, max_s, &seconds, NULL));
  return seconds;
}

static void
assert_rate_limited (MunityTestResponse *resp,
                     guint64             max_s)
{
  g_autofree char *cookie = NULL;

  assert_error (resp, 429, "rate-limited");
  retry_after_of (resp->headers, max_s);
  cookie = munity_test_response_set_cookie (resp, "munity_session");
  g_assert_null (cookie);
}

static gint64
user_count (const char *dbname,
            const char *email)
{
  g_autofree char *conninfo = db_conninfo (dbname);
  g_autofree char *quoted = munity_test_sql_quote (email);
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM users WHERE lower(email) = lower(%s)", quoted);
  g_autofree char *value = munity_test_sql_value (conninfo, sql);

  return g_ascii_strtoll (value, NULL, 10);
}

/* ---- many requests at once ------------------------------------------------ */

/* A client bound to @local_ip, so that the daemon sees that address. */
static SoupSession *
session_from (const char *local_ip,
              gboolean    cookie_jar)
{
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string (local_ip);
  g_autoptr(GSocketAddress) local = g_inet_socket_address_new (address, 0);
  SoupSession *session = soup_session_new_with_options ("local-address", local,
                                                        "timeout", 60,
                                                        "max-conns", 512,
                                                        "max-conns-per-host", 512,
                                                        NULL);

  soup_session_set_proxy_resolver (session, NULL);
  if (cookie_jar)
    {
      g_autoptr(SoupCookieJar) jar = soup_cookie_jar_new ();
      soup_session_add_feature (session, SOUP_SESSION_FEATURE (jar));
    }
  return session;
}

typedef struct {
  guint    status;       /* 0 until answered */
  char    *code;         /* (owned) (nullable) error.code */
  char    *retry_after;  /* (owned) (nullable) */
  gint64   start;
  double   elapsed_ms;
  GError  *error;        /* (owned) (nullable) transport error */
  gboolean done;
} Answer;

static void
answer_free (Answer *a)
{
  g_free (a->code);
  g_free (a->retry_after);
  g_clear_error (&a->error);
  g_free (a);
}

static void
answer_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Answer *a = user_data;
  SoupSession *session = SOUP_SESSION (source);
  SoupMessage *msg = soup_session_get_async_result_message (session, result);
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (session, result, &a->error);

  a->elapsed_ms = (g_get_monotonic_time () - a->start) / 1000.0;
  a->done = TRUE;
  if (body == NULL)
    return;

  a->status = soup_message_get_status (msg);
  a->retry_after = g_strdup (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                           "Retry-After"));
  {
    g_autoptr(JsonParser) parser = json_parser_new ();
    JsonNode *root;

    if (json_parser_load_from_data (parser, g_bytes_get_data (body, NULL), g_bytes_get_size (body), NULL) &&
        (root = json_parser_get_root (parser)) != NULL && JSON_NODE_HOLDS_OBJECT (root))
      {
        JsonObject *object = json_node_get_object (root);

        if (json_object_has_member (object, "error"))
          a->code = g_strdup (json_object_get_string_member (json_object_get_object_member (object, "error"),
                                                             "code"));
      }
  }
}

/* Sends a POST without waiting; the answer lands in the returned Answer. */
static Answer *
post_async (MunityTestDaemon *d,
            SoupSession      *session,
            const char       *path,
            const char       *body)
{
  g_autofree char *url = munity_test_daemon_url (d, path);
  g_autoptr(SoupMessage) msg = soup_message_new ("POST", url);
  g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));
  Answer *a = g_new0 (Answer, 1);

  soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  a->start = g_get_monotonic_time ();
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, answer_cb, a);
  return a;
}

static gboolean
wake_up (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
all_done (Answer **answers,
          guint    n)
{
  for (guint i = 0; i < n; i++)
    if (!answers[i]->done)
      return FALSE;
  return TRUE;
}

/* Runs the main loop for @ms milliseconds, so that requests in flight
 * make progress. */
static void
spin (guint ms)
{
  gint64 until = g_get_monotonic_time () + (gint64) ms * 1000;
  guint wake = g_timeout_add (10, wake_up, NULL);

  while (g_get_monotonic_time () < until)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (wake);
}

/* Runs the main loop until every answer is in (at most @timeout_s). */
static void
wait_answers (Answer **answers,
              guint    n,
              guint    timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  guint wake = g_timeout_add (50, wake_up, NULL);

  while (!all_done (answers, n) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (wake);

  for (guint i = 0; i < n; i++)
    {
      if (answers[i]->error != NULL)
        g_test_message ("request %u: %s", i, answers[i]->error->message);
      g_assert_true (answers[i]->done);
      g_assert_no_error (answers[i]->error);
    }
}

/* Registers through @browser (which keeps the cookies) and returns the
 * response. */
static MunityTestResponse *
register_in (MunityTestDaemon *d,
             SoupSession      *browser,
             const char       *body)
{
  g_autofree char *url = munity_test_daemon_url (d, "/api/register");
  MunityTestResponse *resp = munity_test_http (browser, "POST", url, "application/json", body, -1, NULL);

  return resp;
}

/* ---- row 7: counted before hashing ------------------------------------------ */

#define N_GUESSES 200

static void
test_concurrent_guesses (void)
{
  MunityTestDaemon *d = own_daemon (NULL);
  g_autoptr(SoupSession) attacker = session_from ("127.0.0.1", FALSE);
  g_autoptr(SoupSession) elsewhere = session_from ("127.0.0.2", TRUE);
  g_autofree char *victim = unique_email ("victim");
  g_autofree char *user = unique_email ("user");
  g_autofree char *victim_body = register_json ("Vic", "Tim", victim, "correct horse");
  g_autofree char *user_body = register_json ("Real", "User", user, "battery staple");
  g_autofree char *guess = login_json (victim, "wrong guess");
  g_autofree char *real = login_json (user, "battery staple");
  g_autoptr(MunityTestResponse) reg1 = NULL;
  g_autoptr(MunityTestResponse) reg2 = NULL;
  Answer *answers[N_GUESSES + 1];
  Answer *legit = NULL;
  guint n_401 = 0, n_429 = 0;
  double slowest = 0, one_login_ms;
  gint64 start;

  reg1 = post_from (d, "127.0.0.3", "/api/register", victim_body, NULL);
  g_assert_cmpuint (reg1->status, ==, 201);
  reg2 = post_from (d, "127.0.0.3", "/api/register", user_body, NULL);
  g_assert_cmpuint (reg2->status, ==, 201);

  /* One login alone: what a hash costs on this machine, now. */
  {
    g_autoptr(MunityTestResponse) alone = NULL;

    start = g_get_monotonic_time ();
    alone = post_from (d, "127.0.0.4", "/api/login", real, NULL);
    g_assert_cmpuint (alone->status, ==, 200);
    one_login_ms = (g_get_monotonic_time () - start) / 1000.0;
  }

  /* 200 wrong guesses for one account from one address, all at once, and
   * in the middle of them a real user logging in from elsewhere. */
  start = g_get_monotonic_time ();
  for (guint i = 0; i < N_GUESSES; i++)
    {
      answers[i] = post_async (d, attacker, "/api/login", guess);
      if (i == N_GUESSES / 2)
        legit = post_async (d, elsewhere, "/api/login", real);
    }
  answers[N_GUESSES] = legit;
  wait_answers (answers, N_GUESSES + 1, 120);

  for (guint i = 0; i < N_GUESSES; i++)
    {
      Answer *a = answers[i];

      slowest = MAX (slowest, a->elapsed_ms);
      if (a->status == 401 && g_strcmp0 (a->code, "bad-credentials") == 0)
        n_401++;
      else if (a->status == 429 && g_strcmp0 (a->code, "rate-limited") == 0 &&
               a->retry_after != NULL && g_ascii_strtoull (a->retry_after, NULL, 10) >= 1)
        n_429++;
      else
        g_test_message ("guess %u: unexpected %u %s (Retry-After %s)", i, a->status,
                        a->code, a->retry_after);
    }
  g_test_message ("%u guesses: %u answered 401, %u answered 429 in %.0f ms (slowest %.0f ms); "
                  "the real user's login: %u in %.0f ms (alone: %.0f ms)",
                  N_GUESSES, n_401, n_429, (g_get_monotonic_time () - start) / 1000.0, slowest,
                  legit->status, legit->elapsed_ms, one_login_ms);

  /* Only the first 10 may be tried (hashed); the others are refused before
   * any work, and the real user does not queue behind 200 hashes. */
  g_assert_cmpuint (n_401, <=, 10);
  g_assert_cmpuint (n_401, >=, 1);
  g_assert_cmpuint (n_401 + n_429, ==, N_GUESSES);
  g_assert_cmpuint (legit->status, ==, 200);
  /* Behind the 100 guesses sent before it, it would wait for 100 hashes
   * (or 100 / the hashing threads); behind the 10 tried, for 10. The
   * bound follows the machine's speed, so a busy host does not fail it. */
  g_assert_cmpfloat (legit->elapsed_ms, <, MAX (5000, 25 * one_login_ms));

  for (guint i = 0; i <= N_GUESSES; i++)
    answer_free (answers[i]);

  /* Counting attempts before their outcome refuses none for being
   * concurrent: 20 right passwords at once from one address (tabs, a
   * script) all get in; those beyond the budget wait for the first ones. */
  {
    g_autoptr(SoupSession) tabs = session_from ("127.0.0.4", FALSE);
    Answer *logins[20];

    for (guint i = 0; i < G_N_ELEMENTS (logins); i++)
      logins[i] = post_async (d, tabs, "/api/login", real);
    wait_answers (logins, G_N_ELEMENTS (logins), 60);
    for (guint i = 0; i < G_N_ELEMENTS (logins); i++)
      {
        if (logins[i]->status != 200)
          g_test_message ("concurrent login %u: %u %s", i, logins[i]->status, logins[i]->code);
        g_assert_cmpuint (logins[i]->status, ==, 200);
        answer_free (logins[i]);
      }
  }

  stop_daemon (d);
}

/* ---- row 7: a bounded hashing queue ---------------------------------------- */

#define N_BUSY 16

static void
test_busy_when_queue_full (void)
{
  const char *env[] = { "MUNITY_HASH_QUEUE_MAX", "2", NULL };
  MunityTestDaemon *d = own_daemon (env);
  SoupSession *sessions[N_BUSY];
  Answer *answers[N_BUSY];
  g_autofree char *email = unique_email ("busy");
  g_autofree char *body = register_json ("Busy", "Bee", email, "correct horse");
  g_autofree char *good = login_json (email, "correct horse");
  g_autoptr(MunityTestResponse) reg = NULL;
  g_autoptr(MunityTestResponse) later = NULL;
  guint n_401 = 0, n_busy = 0;
  double slowest_401 = 0, slowest_busy = 0;

  /* 16 logins at once from 16 addresses, none of them throttled: with
   * room for 2 hashes, most must be refused at once, not queued. */
  for (guint i = 0; i < N_BUSY; i++)
    {
      g_autofree char *ip = g_strdup_printf ("127.0.1.%u", i + 1);
      g_autofree char *ghost = unique_email ("ghost");
      g_autofree char *json = login_json (ghost, "wrong guess");

      sessions[i] = session_from (ip, FALSE);
      answers[i] = post_async (d, sessions[i], "/api/login", json);
    }
  wait_answers (answers, N_BUSY, 60);

  for (guint i = 0; i < N_BUSY; i++)
    {
      Answer *a = answers[i];

      if (a->status == 401 && g_strcmp0 (a->code, "bad-credentials") == 0)
        {
          n_401++;
          slowest_401 = MAX (slowest_401, a->elapsed_ms);
        }
      else if (a->status == 503 && g_strcmp0 (a->code, "busy") == 0)
        {
          guint64 seconds = 0;

          g_assert_nonnull (a->retry_after);
          g_assert_true (g_ascii_string_to_unsigned (a->retry_after, 10, 1, 60, &seconds, NULL));
          n_busy++;
          slowest_busy = MAX (slowest_busy, a->elapsed_ms);
        }
      else
        {
          g_test_message ("login %u: unexpected %u %s", i, a->status, a->code);
          g_assert_not_reached ();
        }
    }
  g_test_message ("%u logins at once, room for 2 hashes: %u answered 401 (slowest %.0f ms), "
                  "%u answered 503 busy (slowest %.0f ms)",
                  N_BUSY, n_401, slowest_401, n_busy, slowest_busy);
  g_assert_cmpuint (n_401, >=, 2);
  g_assert_cmpuint (n_busy, >=, 1);

  /* The queue empties itself, and refused attempts were not counted:
   * registering and logging in work from the first address at once. */
  reg = post_from (d, "127.0.1.1", "/api/register", body, NULL);
  g_assert_cmpuint (reg->status, ==, 201);
  later = post_from (d, "127.0.1.1", "/api/login", good, NULL);
  g_assert_cmpuint (later->status, ==, 200);

  for (guint i = 0; i < N_BUSY; i++)
    {
      answer_free (answers[i]);
      g_object_unref (sessions[i]);
    }
  stop_daemon (d);
}

/* ---- row 7: registration throttled per address ----------------------------- */

#define REGISTER_PER_ADDRESS 60

static void
test_register_throttled (void)
{
  MunityTestDaemon *d = own_daemon (NULL);
  g_autofree char *taken = unique_email ("taken");
  g_autofree char *first_body = register_json ("First", "Comer", taken, "correct horse");
  g_autofree char *fresh = unique_email ("fresh");
  g_autofree char *fresh_body = register_json ("Fresh", "Face", fresh, "correct horse");
  g_autoptr(MunityTestResponse) first = NULL;
  g_autoptr(MunityTestResponse) refused = NULL;
  g_autoptr(MunityTestResponse) other = NULL;

  first = post_from (d, "127.0.2.1", "/api/register", first_body, NULL);
  g_assert_cmpuint (first->status, ==, 201);

  /* Every register counts, taken addresses too (they cost a query and tell
   * which addresses have accounts): 59 more that get 409... */
  for (guint i = 1; i < REGISTER_PER_ADDRESS; i++)
    {
      g_autofree char *body = register_json ("Some", "Body", taken, "another password");
      g_autoptr(MunityTestResponse) resp = post_from (d, "127.0.2.1", "/api/register", body, NULL);

      assert_error (resp, 409, "email-taken");
    }

  /* ...and the 61st from that address is refused before anything is
   * created, for the rest of the hour. */
  refused = post_from (d, "127.0.2.1", "/api/register", fresh_body, NULL);
  assert_rate_limited (refused, 3600);
  g_test_message ("register %u from one address: 429, Retry-After %s", REGISTER_PER_ADDRESS + 1,
                  soup_message_headers_get_one (refused->headers, "Retry-After"));

  /* Another address is not affected. */
  other = post_from (d, "127.0.2.2", "/api/register", fresh_body, NULL);
  g_assert_cmpuint (other->status, ==, 201);

  stop_daemon (d);
}

/* ---- row 8: a stranger cannot lock the owner out ----------------------------- */

static void
test_stranger_cannot_lock_out_owner (void)
{
  MunityTestDaemon *d = own_daemon (NULL);
  /* The owner's browser shares its address with the stranger (one NAT). */
  g_autoptr(SoupSession) browser = session_from ("127.0.3.1", TRUE);
  g_autofree char *email = unique_email ("owner");
  g_autofree char *body = register_json ("Own", "Er", email, "correct horse");
  g_autofree char *wrong = login_json (email, "wrong guess");
  g_autofree char *right = login_json (email, "correct horse");
  g_autofree char *url = munity_test_daemon_url (d, "/api/login");
  g_autofree char *me_url = munity_test_daemon_url (d, "/api/me");
  g_autoptr(MunityTestResponse) reg = NULL;
  g_autoptr(MunityTestResponse) stranger = NULL;
  g_autoptr(MunityTestResponse) owner = NULL;
  g_autoptr(MunityTestResponse) me = NULL;
  g_autoptr(MunityTestResponse) owner_again = NULL;
  g_autofree char *device_cookie = NULL;
  const char *from[] = { "127.0.3.1", "127.0.3.2" };

  reg = register_in (d, browser, body);
  g_assert_cmpuint (reg->status, ==, 201);

  /* 20 wrong guesses, 10 from the owner's own address: both the address
   * and the account are at their limits. */
  for (guint a = 0; a < G_N_ELEMENTS (from); a++)
    for (guint i = 0; i < 10; i++)
      {
        g_autoptr(MunityTestResponse) resp = post_from (d, from[a], "/api/login", wrong, NULL);

        assert_error (resp, 401, "bad-credentials");
      }

  /* The contract holds for everyone without the owner's device cookie,
   * the right password included. */
  stranger = post_from (d, "127.0.3.3", "/api/login", right, NULL);
  assert_rate_limited (stranger, 600);

  /* The owner's browser still logs in, from the very address the guesses
   * came from. */
  owner = munity_test_http (browser, "POST", url, "application/json", right, -1, NULL);
  if (owner->status != 200)
    g_test_message ("owner's login: %u %s", owner->status, munity_test_response_text (owner));
  g_assert_cmpuint (owner->status, ==, 200);
  me = munity_test_http (browser, "GET", me_url, NULL, NULL, 0, NULL);
  g_assert_cmpuint (me->status, ==, 200);

  /* What made the difference: the device cookie the browser got when it
   * registered, sent only to the login endpoint, out of reach of scripts. */
  device_cookie = munity_test_response_set_cookie (reg, "munity_device");
  g_test_message ("Set-Cookie: %s", device_cookie);
  g_assert_nonnull (device_cookie);
  g_assert_nonnull (strstr (device_cookie, "; Path=/api/login"));
  g_assert_nonnull (strstr (device_cookie, "; HttpOnly"));
  g_assert_nonnull (strstr (device_cookie, "; SameSite=Strict"));

  /* The device cookie is no free pass: three mistakes, then a pause that
   * doubles with each further one. */
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(MunityTestResponse) resp = munity_test_http (browser, "POST", url, "application/json",
                                                             wrong, -1, NULL);
      assert_error (resp, 401, "bad-credentials");
    }
  {
    g_autoptr(MunityTestResponse) resp = munity_test_http (browser, "POST", url, "application/json",
                                                           wrong, -1, NULL);
    assert_error (resp, 429, "rate-limited");
    g_assert_cmpuint (retry_after_of (resp->headers, 600), ==, 1);
  }
  g_usleep (1100 * 1000);
  owner_again = munity_test_http (browser, "POST", url, "application/json", right, -1, NULL);
  g_assert_cmpuint (owner_again->status, ==, 200);

  stop_daemon (d);
}

/* ---- row 15: a register that committed during a stall ----------------------- */

static GArray *
stop_backends (const char *conninfo)
{
  g_autofree char *list = munity_test_sql_value (conninfo,
    "SELECT string_agg(pid::text, ',') FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    " AND backend_type = 'client backend'");
  g_auto(GStrv) pids = g_strsplit (list != NULL ? list : "", ",", -1);
  GArray *stopped = g_array_new (FALSE, FALSE, sizeof (GPid));

  for (guint i = 0; pids[i] != NULL; i++)
    {
      GPid pid = (GPid) g_ascii_strtoll (pids[i], NULL, 10);

      if (pid > 0 && kill (pid, SIGSTOP) == 0)
        g_array_append_val (stopped, pid);
    }
  return stopped;
}

/* Whether one of @stopped has a SIGINT pending, which is how PostgreSQL
 * delivers a cancel request to a backend. */
static gboolean
cancel_pending (GArray *stopped)
{
  for (guint i = 0; i < stopped->len; i++)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) g_array_index (stopped, GPid, i));
      g_autofree char *status = NULL;
      g_auto(GStrv) lines = NULL;

      if (!g_file_get_contents (path, &status, NULL, NULL))
        continue;
      lines = g_strsplit (status, "\n", -1);
      for (guint j = 0; lines[j] != NULL; j++)
        if (g_str_has_prefix (lines[j], "SigPnd:") || g_str_has_prefix (lines[j], "ShdPnd:"))
          {
            guint64 mask = g_ascii_strtoull (strchr (lines[j], ':') + 1, NULL, 16);

            if (mask & (G_GUINT64_CONSTANT (1) << (SIGINT - 1)))
              return TRUE;
          }
    }
  return FALSE;
}

static void
continue_backends (GArray *stopped)
{
  for (guint i = 0; i < stopped->len; i++)
    kill (g_array_index (stopped, GPid, i), SIGCONT);
}

static void
wait_healthy (MunityTestDaemon *d)
{
  g_autoptr(SoupSession) session = munity_test_session_new (FALSE);
  g_autofree char *url = munity_test_daemon_url (d, "/healthz");
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  for (;;)
    {
      g_autoptr(MunityTestResponse) resp = munity_test_http (session, "GET", url, NULL, NULL, 0, NULL);

      if (resp->status == 200)
        return;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (50 * 1000);
    }
}

static void
test_register_retry_after_stall (void)
{
  const char *env[] = { "MUNITY_HASH_QUEUE_MAX", "1000", NULL };
  g_autofree char *dbname = NULL;
  MunityTestDaemon *d;
  g_autofree char *conninfo = NULL;
  g_autofree char *email = unique_email ("stalled");
  g_autofree char *body = register_json ("Stal", "Led", email, "correct horse");
  g_autofree char *wrong_password = register_json ("Stal", "Led", email, "other horse");
  g_autofree char *other_name = register_json ("Other", "Led", email, "correct horse");
  g_autofree char *me_url = NULL;
  g_autoptr(SoupSession) browser = session_from ("127.0.4.1", TRUE);
  g_autoptr(GArray) stopped = NULL;
  g_autoptr(GPtrArray) fillers = g_ptr_array_new_with_free_func ((GDestroyNotify) answer_free);
  g_autoptr(GPtrArray) filler_sessions = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(MunityTestResponse) retry = NULL;
  g_autoptr(MunityTestResponse) me = NULL;
  g_autoptr(MunityTestResponse) guess = NULL;
  g_autoptr(MunityTestResponse) renamed = NULL;
  g_autofree char *t0 = NULL;
  g_autofree char *poll = NULL;
  Answer *first;
  guint n_fillers = 8 * MAX (1, g_get_num_processors () - 1);
  gint64 deadline;

  /* Our own database, so that we can watch and stall its backends. */
  {
    g_autofree char *name = unique ("stall");
    g_autofree char *sql = g_strdup_printf ("CREATE DATABASE %s", name);
    g_autoptr(GError) error = NULL;

    g_free (munity_test_sql_value (munity_test_pg_conninfo (pg), sql));
    dbname = g_strdup (name);
    conninfo = db_conninfo (dbname);
    {
      const char *args[] = { "--database", conninfo, NULL };
      d = munity_test_daemon_try_start_with_env (args, env, 60, &error);
    }
    g_assert_no_error (error);
  }

  /* Keep the hashing threads busy for a while (wrong logins from other
   * addresses), so that the register's own hash waits: between its first
   * query (is the address taken?) and its INSERT there is time to stall
   * the database. */
  for (guint i = 0; i < n_fillers; i++)
    {
      g_autofree char *ip = g_strdup_printf ("127.0.5.%u", i + 1);
      g_autofree char *ghost = unique_email ("filler");
      g_autofree char *json = login_json (ghost, "wrong guess");
      SoupSession *session = session_from (ip, FALSE);

      g_ptr_array_add (filler_sessions, session);
      g_ptr_array_add (fillers, post_async (d, session, "/api/login", json));
    }
  spin (200);
  t0 = munity_test_sql_value (conninfo, "SELECT clock_timestamp()");
  poll = g_strdup_printf ("SELECT count(*) FROM pg_stat_activity"
                          " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                          " AND state = 'idle' AND query_start >= '%s'"
                          " AND query LIKE '%%FROM users%%' AND query LIKE '%%email%%'", t0);

  first = post_async (d, browser, "/api/register", body);

  /* As soon as the check has been answered, stop every backend of the
   * daemon: its INSERT goes to a stopped server. */
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  for (;;)
    {
      g_autofree char *seen = munity_test_sql_value (conninfo, poll);

      g_main_context_iteration (NULL, FALSE);
      if (g_strcmp0 (seen, "0") != 0)
        break;
      g_assert_false (first->done);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (2 * 1000);
    }
  stopped = stop_backends (conninfo);
  g_test_message ("stopped %u backends", stopped->len);
  if (user_count (dbname, email) != 0)
    {
      continue_backends (stopped);
      g_test_message ("the register committed before the database was stalled");
      g_assert_not_reached ();
    }

  /* The daemon gives up after its query timeout and answers 503. It also
   * asks the server to cancel the statement (from a thread): let that
   * request arrive before the database wakes up, as it does when a stall
   * outlasts the timeout. A cancel that finds the backend still waiting
   * for the statement is ignored, so the INSERT runs all the same... */
  wait_answers (&first, 1, 60);
  deadline = g_get_monotonic_time () + 3 * G_USEC_PER_SEC;
  while (!cancel_pending (stopped) && g_get_monotonic_time () < deadline)
    g_usleep (10 * 1000);
  g_test_message ("cancel request pending: %s", cancel_pending (stopped) ? "yes" : "no");
  continue_backends (stopped);
  g_test_message ("register during the stall: %u %s after %.0f ms",
                  first->status, first->code, first->elapsed_ms);
  g_assert_cmpuint (first->status, ==, 503);
  g_assert_cmpstr (first->code, ==, "database-unavailable");

  /* ...and usually commits, though its client was told 503. Not always:
   * when the daemon's timed-out connection closes before the backend
   * wakes, PostgreSQL rolls the INSERT back. Either way the client's
   * retry below must get the account, and only that client. */
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (user_count (dbname, email) == 0 && g_get_monotonic_time () < deadline)
    g_usleep (20 * 1000);
  g_test_message ("the stalled INSERT %s", user_count (dbname, email) == 1 ? "committed" : "was rolled back");
  wait_healthy (d);
  wait_answers ((Answer **) fillers->pdata, fillers->len, 60);

  /* The client repeats its register, as it would after a 503: the account
   * (created then or now) is its own, and it is logged in to it. */
  retry = register_in (d, browser, body);
  if (retry->status != 201)
    g_test_message ("repeated register: %u %s", retry->status, munity_test_response_text (retry));
  g_assert_cmpuint (retry->status, ==, 201);
  me_url = munity_test_daemon_url (d, "/api/me");
  me = munity_test_http (browser, "GET", me_url, NULL, NULL, 0, NULL);
  g_assert_cmpuint (me->status, ==, 200);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (munity_test_response_object (me), "user"), "email"),
                   ==, email);
  g_assert_cmpint (user_count (dbname, email), ==, 1);

  /* Someone else cannot use this to guess the password or take over the
   * account: a different password or name is 409. */
  guess = post_from (d, "127.0.4.3", "/api/register", wrong_password, NULL);
  assert_error (guess, 409, "email-taken");
  renamed = post_from (d, "127.0.4.3", "/api/register", other_name, NULL);
  assert_error (renamed, 409, "email-taken");

  answer_free (first);
  stop_daemon (d);
}

/* ---- a client that goes away --------------------------------------------- */

#define N_GONE 20

/* A metric's value from /metrics. */
static guint64
metric (MunityTestDaemon *d,
        SoupSession      *session,
        const char       *name)
{
  g_autofree char *url = munity_test_daemon_url (d, "/metrics");
  g_autoptr(MunityTestResponse) resp = munity_test_http (session, "GET", url, NULL, NULL, 0, NULL);
  g_autofree char *prefix = g_strdup_printf ("\n%s ", name);
  const char *line;

  g_assert_cmpuint (resp->status, ==, 200);
  line = strstr (munity_test_response_text (resp), prefix);
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen (prefix), NULL, 10);
}

/* munity_password_hashes_total once no password job waits or runs. */
static guint64
hashes_started (MunityTestDaemon *d,
                SoupSession      *session)
{
  for (guint i = 0; i < 300 && metric (d, session, "munity_password_jobs") > 0; i++)
    spin (100);
  g_assert_cmpuint (metric (d, session, "munity_password_jobs"), ==, 0);
  return metric (d, session, "munity_password_hashes_total");
}

/* Clients that send a register and hang up at once: their requests end
 * without an answer and, unless a hashing thread took them before the
 * hang-up was seen, without an argon2id hash; with no internal error (a
 * warning would end munityd: G_DEBUG=fatal-warnings), and the next client
 * is served as usual. */
static void
test_register_client_gone (void)
{
  const char *env[] = { "MUNITY_HASH_QUEUE_MAX", "1000", NULL };
  MunityTestDaemon *d = own_daemon (env);
  g_autoptr(SoupSession) browser = session_from ("127.0.6.2", TRUE);
  g_autofree char *email = unique_email ("after-gone");
  g_autofree char *body = register_json ("After", "Gone", email, "correct horse");
  g_autofree char *me_url = munity_test_daemon_url (d, "/api/me");
  g_autoptr(MunityTestResponse) registered = NULL;
  g_autoptr(MunityTestResponse) me = NULL;
  guint64 hashes_before = hashes_started (d, browser);
  guint64 hashed;

  for (guint i = 0; i < N_GONE; i++)
    {
      g_autofree char *gone_email = unique_email ("gone");
      g_autofree char *json = register_json ("Gone", "Away", gone_email, "correct horse");
      g_autofree char *request = g_strdup_printf ("POST /api/register HTTP/1.1\r\n"
                                                  "Host: 127.0.0.1:%u\r\n"
                                                  "Content-Type: application/json\r\n"
                                                  "Content-Length: %zu\r\n\r\n%s",
                                                  munity_test_daemon_port (d), strlen (json), json);
      g_autoptr(GSocketClient) client = g_socket_client_new ();
      g_autoptr(GInetAddress) local_ip = g_inet_address_new_from_string ("127.0.6.1");
      g_autoptr(GSocketAddress) local = g_inet_socket_address_new (local_ip, 0);
      g_autoptr(GSocketConnection) conn = NULL;
      g_autoptr(GError) error = NULL;

      g_socket_client_set_local_address (client, local);
      conn = g_socket_client_connect_to_host (client, "127.0.0.1", munity_test_daemon_port (d), NULL, &error);
      g_assert_no_error (error);
      g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                                request, strlen (request), NULL, NULL, &error));
      g_assert_no_error (error);
      g_assert_true (g_io_stream_close (G_IO_STREAM (conn), NULL, &error));
    }

  spin (500);
  wait_healthy (d);
  g_assert_true (munity_test_daemon_is_running (d));
  /* A hashing thread may take a job before its hang-up is read: a few. */
  hashed = hashes_started (d, browser) - hashes_before;
  g_test_message ("%" G_GUINT64_FORMAT " of %u gone registers were hashed", hashed, N_GONE);
  g_assert_cmpuint (hashed, <, N_GONE / 2);

  registered = register_in (d, browser, body);
  g_assert_cmpuint (registered->status, ==, 201);
  me = munity_test_http (browser, "GET", me_url, NULL, NULL, 0, NULL);
  g_assert_cmpuint (me->status, ==, 200);

  stop_daemon (d);
}

int
main (int    argc,
      char **argv)
{
  int ret;

  setlocale (LC_ALL, "");
  g_test_init (&argc, &argv, NULL);

  pg = munity_test_pg_start ();

  g_test_add_func ("/hostile/login/concurrent-guesses-are-counted-before-hashing", test_concurrent_guesses);
  g_test_add_func ("/hostile/login/busy-when-hash-queue-full", test_busy_when_queue_full);
  g_test_add_func ("/hostile/register/throttled", test_register_throttled);
  g_test_add_func ("/hostile/login/stranger-cannot-lock-out-owner", test_stranger_cannot_lock_out_owner);
  g_test_add_func ("/hostile/register/retry-after-stall-succeeds", test_register_retry_after_stall);
  g_test_add_func ("/hostile/register/client-gone-mid-request", test_register_client_gone);

  ret = g_test_run ();

  g_clear_pointer (&pg, munity_test_pg_free);
  return ret;
}
