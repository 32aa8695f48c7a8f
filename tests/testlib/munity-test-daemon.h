/* munity-test-daemon.h — the real munityd as a subprocess, for tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _MunityTestDaemon MunityTestDaemon;

/* Starts $MUNITYD on a free loopback port with the given extra arguments
 * (NULL-terminated; may be NULL), with XDG_CONFIG_HOME pointed at an empty
 * temporary directory, `--bus none`, and --state-dir in a fresh temporary
 * directory unless the arguments name one. Waits (≤ 60 s) until GET /healthz
 * answers 200. */
MunityTestDaemon *munity_test_daemon_start     (const char * const *extra_args);

/* Like munity_test_daemon_start() but returns NULL with @error set instead
 * of failing the test when munityd exits early or /healthz does not answer
 * 200 within @timeout_s seconds.
 *
 * When @extra_args contain `--listen ADDR:PORT` (or `--listen=…`), no
 * listening address is added and the base URL is made from the first one
 * (`[::1]:8080` gives `http://[::1]:8080`); likewise `--bus` and
 * `--state-dir` in @extra_args replace the defaults. A state directory given
 * in @extra_args is not removed by munity_test_daemon_free(). */
MunityTestDaemon *munity_test_daemon_try_start (const char * const *extra_args,
                                                guint               timeout_s,
                                                GError            **error);

/* Like munity_test_daemon_try_start() with extra environment variables for
 * munityd on top of the test's own environment: @env is a NULL-terminated
 * array of name, value pairs (may be NULL). For test hooks such as
 * MUNITY_WS_PING_INTERVAL_MS, without changing the test process's own
 * environment. */
MunityTestDaemon *munity_test_daemon_try_start_with_env (const char * const *extra_args,
                                                         const char * const *env,
                                                         guint               timeout_s,
                                                         GError            **error);

const char       *munity_test_daemon_base_url  (MunityTestDaemon *d); /* "http://127.0.0.1:PORT" */
guint16           munity_test_daemon_port      (MunityTestDaemon *d);
GPid              munity_test_daemon_pid       (MunityTestDaemon *d);
const char       *munity_test_daemon_state_dir (MunityTestDaemon *d);

/* A freshly allocated URL: the base URL followed by @path ("/api/me"). */
char             *munity_test_daemon_url       (MunityTestDaemon *d,
                                                const char       *path);

/* TRUE while the munityd process has not exited. */
gboolean          munity_test_daemon_is_running (MunityTestDaemon *d);

/* Sends SIGTERM and waits ≤ 10 s; returns the exit status (WEXITSTATUS) or
 * -1 if it had to be killed; *out_ms gets how long the exit took. A munityd
 * that died of a signal of its own gives 128 + the signal number. */
int               munity_test_daemon_stop      (MunityTestDaemon *d,
                                                guint            *out_ms);

/* Stops munityd if it still runs, ends any process left behind whose command
 * line names the daemon's own temporary state directory, and removes the
 * temporary directories. */
void              munity_test_daemon_free      (MunityTestDaemon *d);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MunityTestDaemon, munity_test_daemon_free)

/* Runs `$MUNITYD args…` to completion with XDG_CONFIG_HOME pointed at an empty
 * temporary directory (nothing is added to @args). Returns the exit status,
 * 128 + N if it died of signal N, or -1 if it was still running after
 * @timeout_s seconds (it is then killed). Standard output and standard error
 * are returned in full through the out parameters (either may be NULL). */
int               munity_test_munityd_run      (const char * const *args,
                                                guint               timeout_s,
                                                char              **out_stdout,
                                                char              **out_stderr);

/* A port that was free on @ip ("127.0.0.1", "::1") a moment ago, found by
 * binding port 0; 0 if @ip cannot be bound at all. */
guint16           munity_test_free_port        (const char *ip);

/* ---- HTTP client helpers ------------------------------------------------ */

/* A SoupSession for tests: 30 s timeout, room for many connections per host.
 * With @cookie_jar, a SoupCookieJar keeps cookies, like one browser. */
SoupSession      *munity_test_session_new      (gboolean cookie_jar);

typedef struct {
  guint               status;
  SoupMessageHeaders *headers;     /* (owned) response headers */
  GBytes             *body;        /* (owned) never NULL */
  double              elapsed_ms;  /* from sending to the full body */
  JsonNode           *json;        /* (owned) (nullable) parsed lazily */
  gboolean            json_tried;
  char               *text;        /* (owned) (nullable) body as a string */
} MunityTestResponse;

void              munity_test_response_free    (MunityTestResponse *resp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MunityTestResponse, munity_test_response_free)

/* Sends one request and reads the whole answer; a transport error fails the
 * test. @body may be NULL (no body); @body_len -1 means NUL-terminated.
 * @content_type NULL sends no Content-Type header. The variadic arguments
 * are extra request header name/value pairs, ended by NULL. */
MunityTestResponse *munity_test_http          (SoupSession *session,
                                               const char  *method,
                                               const char  *url,
                                               const char  *content_type,
                                               const char  *body,
                                               gssize       body_len,
                                               ...) G_GNUC_NULL_TERMINATED;

/* The same with the extra headers as a NULL-terminated name, value, … array,
 * and errors returned rather than failing the test. */
MunityTestResponse *munity_test_http_full     (SoupSession        *session,
                                               const char         *method,
                                               const char         *url,
                                               const char         *content_type,
                                               const char         *body,
                                               gssize              body_len,
                                               const char * const *headers,
                                               GError            **error);

/* One HTTP/1.1 request over a fresh TCP connection whose source address is
 * @local_ip (any 127.x.y.z works on Linux), written by hand, with
 * `Connection: close`. For tests that must appear to come from different
 * client addresses. @headers as for munity_test_http_full(). */
MunityTestResponse *munity_test_http_from     (const char         *local_ip,
                                               const char         *server_ip,
                                               guint16             port,
                                               const char         *method,
                                               const char         *path,
                                               const char         *content_type,
                                               const char         *body,
                                               const char * const *headers,
                                               GError            **error);

/* {"k1": "v1", ...} from string pairs ending with NULL (transfer full). */
char             *munity_test_json_object      (const char *first_key,
                                                ...) G_GNUC_NULL_TERMINATED;

/* The body parsed as JSON (transfer none), or NULL if it is not JSON. */
JsonNode         *munity_test_response_json        (MunityTestResponse *resp);
/* The body's top-level object (transfer none), or NULL. */
JsonObject       *munity_test_response_object      (MunityTestResponse *resp);
/* `error.code` of a JSON error body (transfer none), or NULL. */
const char       *munity_test_response_error_code  (MunityTestResponse *resp);
/* The body as a NUL-terminated string (transfer none). */
const char       *munity_test_response_text        (MunityTestResponse *resp);
/* The media type of Content-Type without parameters (transfer none). */
const char       *munity_test_response_content_type (MunityTestResponse *resp);

/* The full value of the Set-Cookie header that sets cookie @name, or NULL
 * (transfer full). */
char             *munity_test_response_set_cookie  (MunityTestResponse *resp,
                                                    const char         *name);

/* ---- the main loop, and users of a running munityd ---------------------- */

/* Runs the default main context for @ms milliseconds. */
void              munity_test_pump             (guint ms);

/* Pumps until @cond holds, at most @ms milliseconds, then asserts it
 * (saying what it waited for). */
#define MUNITY_TEST_WAIT_FOR(cond, ms) \
  G_STMT_START { \
    gint64 _deadline = g_get_monotonic_time () + (gint64) (ms) * 1000; \
    while (!(cond) && g_get_monotonic_time () < _deadline) \
      munity_test_pump (10); \
    if (!(cond)) \
      g_test_message ("timed out after %u ms waiting for %s", (guint) (ms), #cond); \
    g_assert_true (cond); \
  } G_STMT_END

/* A user registered through POST /api/register, and its session. */
typedef struct {
  gint64  id;
  char   *first;    /* (owned) as registered (renames are the test's to track) */
  char   *last;     /* (owned) */
  char   *email;    /* (owned) */
  char   *cookie;   /* (owned) "munity_session=…", for a Cookie header */
} MunityTestUser;

/* Registers a new user (a unique e-mail address, a fixed good password)
 * through @d; asserts 201. */
MunityTestUser   *munity_test_user_register    (SoupSession      *session,
                                                MunityTestDaemon *d,
                                                const char       *first,
                                                const char       *last);
void              munity_test_user_free        (MunityTestUser   *user);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MunityTestUser, munity_test_user_free)

/* A connection to the private @bus, once a munityd owns
 * org.munity.Presence1 there (fails the test after 10 s). */
GDBusConnection  *munity_test_bus_connect_when_owned (GTestDBus *bus);

/* Calls @method of org.munity.Presence1 on @conn and runs the main loop
 * until the reply (of @reply_type) comes; fails the test on an error or
 * after 10 s. @args is consumed if floating. */
GVariant         *munity_test_presence_call    (GDBusConnection *conn,
                                                const char      *method,
                                                GVariant        *args,
                                                const char      *reply_type);

/* The password munity_test_user_register() gives every user. */
#define MUNITY_TEST_PASSWORD "correct horse battery staple"

/* A tiny but complete 2×2 PNG (made with gdk-pixbuf), for avatars:
 * `static const guint8 png[] = MUNITY_TEST_PNG_2X2;` */
#define MUNITY_TEST_PNG_2X2 { \
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, \
  0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, \
  0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a, 0x73, 0x00, 0x00, 0x00, \
  0x03, 0x73, 0x42, 0x49, 0x54, 0x08, 0x08, 0x08, 0xdb, 0xe1, 0x4f, 0xe0, \
  0x00, 0x00, 0x00, 0x16, 0x49, 0x44, 0x41, 0x54, 0x08, 0x99, 0x63, 0x3c, \
  0x63, 0xcc, 0xc0, 0xc0, 0xc0, 0xc0, 0xc4, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, \
  0x00, 0x00, 0x0c, 0xea, 0x01, 0x03, 0xa9, 0x25, 0x9e, 0x2b, 0x00, 0x00, \
  0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82, \
}

/* ---- processes, files, SQL ---------------------------------------------- */

/* How many processes (other than this one, zombies excluded) have @needle in
 * their command line, found by walking /proc. */
guint             munity_test_count_processes  (const char *needle);
/* The same, as an array of pids (transfer full). */
GArray           *munity_test_find_processes   (const char *needle);

/* Removes @path and everything below it; no error if it does not exist. */
void              munity_test_rm_rf            (const char *path);

/* Runs one SQL statement on @conninfo with libpq and returns the first
 * column of the first row, or NULL if there is no row (or the value is SQL
 * NULL). A connection or query error fails the test. */
char             *munity_test_sql_value        (const char *conninfo,
                                                const char *sql);

/* @s as a quoted SQL string literal ('it''s'). */
char             *munity_test_sql_quote        (const char *s);

G_END_DECLS
