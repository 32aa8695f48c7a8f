/* test-api.c — the HTTP API of the real munityd, from the outside
 *
 * One munityd on a throwaway PostgreSQL cluster is shared by the suite; tests
 * that need a daemon of their own (throttling, timing, configuration) start
 * one on their own database in the same cluster. Every test makes its own
 * users with unique email addresses, so the tests do not depend on each
 * other. Every answer goes through check_response(): no 5xx anywhere, and
 * every error is a JSON `{"error":{"code","message"}}`.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <locale.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "munity-test-daemon.h"
#include "munity-test-pg.h"

static MunityTestPg     *pg;          /* (owned) */
static MunityTestDaemon *shared;      /* (owned) the suite's munityd */
static SoupSession      *plain;       /* (owned) no cookie jar */
static GHashTable       *statuses;    /* (owned) status → times seen */
static GPtrArray        *pool;        /* (owned) strings that live until exit */
static guint             serial;

/* ---- small helpers -------------------------------------------------------- */

static const char *
pooled (char *s)
{
  g_ptr_array_add (pool, s);
  return s;
}

/* A JSON string literal for @s, properly escaped. */
static const char *
Q (const char *s)
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_VALUE);

  json_node_set_string (node, s);
  return pooled (json_to_string (node, FALSE));
}

static const char *
repeat (const char *unit,
        guint       times)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < times; i++)
    g_string_append (s, unit);
  return pooled (g_string_free (s, FALSE));
}

static const char *
unique_email (const char *tag)
{
  return pooled (g_strdup_printf ("%s-%d-%u@example.org", tag, (int) getpid (), ++serial));
}

static const char *
unique_name (const char *tag)
{
  return pooled (g_strdup_printf ("%s_%d_%u", tag, (int) getpid (), ++serial));
}

static const char *
node_kind (JsonNode *node)
{
  if (node == NULL)
    return "missing";
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT: return "object";
    case JSON_NODE_ARRAY: return "array";
    case JSON_NODE_NULL: return "null";
    case JSON_NODE_VALUE:
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_STRING: return "string";
        case G_TYPE_INT64: return "int";
        case G_TYPE_DOUBLE: return "double";
        case G_TYPE_BOOLEAN: return "bool";
        default: return "value";
        }
    default:
      return "unknown";
    }
}

static const char *
member_string (JsonObject *o,
               const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  g_assert_cmpstr (node_kind (n), ==, "string");
  return json_node_get_string (n);
}

static gint64
member_int (JsonObject *o,
            const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  g_assert_cmpstr (node_kind (n), ==, "int");
  return json_node_get_int (n);
}

static JsonObject *
member_object (JsonObject *o,
               const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  g_assert_cmpstr (node_kind (n), ==, "object");
  return json_node_get_object (n);
}

/* ---- requests ------------------------------------------------------------ */

static void
check_error_body (MunityTestResponse *resp)
{
  JsonObject *root, *error;

  g_assert_cmpstr (munity_test_response_content_type (resp), ==, "application/json");
  root = munity_test_response_object (resp);
  if (root == NULL)
    g_test_message ("error body is not a JSON object: %s", munity_test_response_text (resp));
  g_assert_nonnull (root);
  error = member_object (root, "error");
  g_assert_cmpstr (member_string (error, "code"), !=, "");
  g_assert_cmpstr (member_string (error, "message"), !=, "");
}

/* Every answer of the suite passes through here. */
static void
check_response (MunityTestResponse *resp)
{
  guint seen = GPOINTER_TO_UINT (g_hash_table_lookup (statuses, GUINT_TO_POINTER (resp->status)));

  g_hash_table_insert (statuses, GUINT_TO_POINTER (resp->status), GUINT_TO_POINTER (seen + 1));
  if (resp->status >= 500)
    g_test_message ("server error %u: %s", resp->status, munity_test_response_text (resp));
  g_assert_cmpuint (resp->status, <, 500);
  if (resp->status >= 400)
    check_error_body (resp);
}

static MunityTestResponse *
request_va (MunityTestDaemon *d,
            SoupSession      *session,
            const char       *method,
            const char       *path,
            const char       *content_type,
            const char       *body,
            gssize            body_len,
            va_list           ap)
{
  g_autoptr(GPtrArray) headers = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *url = munity_test_daemon_url (d, path);
  MunityTestResponse *resp;
  const char *name;

  while ((name = va_arg (ap, const char *)) != NULL)
    {
      g_ptr_array_add (headers, (gpointer) name);
      g_ptr_array_add (headers, va_arg (ap, gpointer));
    }
  g_ptr_array_add (headers, NULL);

  resp = munity_test_http_full (session, method, url, content_type, body, body_len,
                                (const char * const *) headers->pdata, &error);
  if (resp == NULL)
    g_test_message ("%s %s: %s", method, path, error->message);
  g_assert_no_error (error);
  check_response (resp);
  return resp;
}

/* A request with an arbitrary body and content type. */
static MunityTestResponse * G_GNUC_NULL_TERMINATED
raw (MunityTestDaemon *d,
     SoupSession      *session,
     const char       *method,
     const char       *path,
     const char       *content_type,
     const char       *body,
     gssize            body_len,
     ...)
{
  MunityTestResponse *resp;
  va_list ap;

  va_start (ap, body_len);
  resp = request_va (d, session, method, path, content_type, body, body_len, ap);
  va_end (ap);
  return resp;
}

/* A request with a JSON body (if @json is not NULL). */
static MunityTestResponse * G_GNUC_NULL_TERMINATED
api (MunityTestDaemon *d,
     SoupSession      *session,
     const char       *method,
     const char       *path,
     const char       *json,
     ...)
{
  MunityTestResponse *resp;
  va_list ap;

  va_start (ap, json);
  resp = request_va (d, session, method, path,
                     json != NULL ? "application/json" : NULL, json, -1, ap);
  va_end (ap);
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

static void
assert_status (MunityTestResponse *resp,
               guint               status)
{
  if (resp->status != status)
    g_test_message ("expected %u, got %u: %s", status, resp->status,
                    munity_test_response_text (resp));
  g_assert_cmpuint (resp->status, ==, status);
}

/* The body of a registration; each argument is a JSON fragment, NULL leaves
 * the member out. */
static const char *
reg_json (const char *first,
          const char *last,
          const char *email,
          const char *password)
{
  GString *s = g_string_new ("{");
  const char *names[] = { "first", "last", "email", "password" };
  const char *values[] = { first, last, email, password };
  gboolean comma = FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      if (values[i] == NULL)
        continue;
      g_string_append_printf (s, "%s\"%s\":%s", comma ? "," : "", names[i], values[i]);
      comma = TRUE;
    }
  g_string_append_c (s, '}');
  return pooled (g_string_free (s, FALSE));
}

static const char *
login_json (const char *email,
            const char *password)
{
  return pooled (g_strdup_printf ("{\"email\":%s,\"password\":%s}", Q (email), Q (password)));
}

static guint64
count_users (const char *email)
{
  g_autofree char *quoted = munity_test_sql_quote (email);
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM users WHERE lower(email) = lower(%s)", quoted);
  g_autofree char *value = munity_test_pg_query_value (pg, sql);

  g_assert_nonnull (value);
  return g_ascii_strtoull (value, NULL, 10);
}

static char *
user_column (const char *email,
             const char *column)
{
  g_autofree char *quoted = munity_test_sql_quote (email);
  g_autofree char *sql = g_strdup_printf ("SELECT %s FROM users WHERE lower(email) = lower(%s)",
                                          column, quoted);
  return munity_test_pg_query_value (pg, sql);
}

/* A database of its own in the suite's cluster, for a daemon of its own. */
static char *
own_database (const char *tag)
{
  const char *name = unique_name (tag);
  g_autofree char *sql = g_strdup_printf ("CREATE DATABASE %s", name);

  g_free (munity_test_sql_value (munity_test_pg_conninfo (pg), sql));
  return g_strdup_printf ("%s dbname=%s", munity_test_pg_conninfo (pg), name);
}

static MunityTestDaemon *
own_daemon (const char *tag,
            const char *config_file)
{
  g_autofree char *conninfo = own_database (tag);
  const char *args[] = { "--database", conninfo, NULL, NULL, NULL };

  if (config_file != NULL)
    {
      args[2] = "--config";
      args[3] = config_file;
    }
  return munity_test_daemon_start (args);
}

static void
stop_own_daemon (MunityTestDaemon *d)
{
  guint ms;
  int status = munity_test_daemon_stop (d, &ms);

  g_assert_cmpint (status, ==, 0);
  munity_test_daemon_free (d);
}

/* ---- users --------------------------------------------------------------- */

typedef struct {
  gint64       id;
  char        *first;
  char        *last;
  char        *email;
  char        *password;
  char        *cookie;   /* the munity_session value */
  SoupSession *browser;  /* (owned) holds the cookie in its jar */
} TestUser;

static void
test_user_free (TestUser *u)
{
  g_free (u->first);
  g_free (u->last);
  g_free (u->email);
  g_free (u->password);
  g_free (u->cookie);
  if (u->browser != NULL)
    {
      /* Nothing we did kept the browser (and its connections) alive. */
      g_object_add_weak_pointer (G_OBJECT (u->browser), (gpointer *) &u->browser);
      g_object_unref (u->browser);
      g_assert_null (u->browser);
    }
  g_free (u);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestUser, test_user_free)

static JsonObject *
user_of (MunityTestResponse *resp)
{
  JsonObject *root = munity_test_response_object (resp);

  g_assert_cmpstr (munity_test_response_content_type (resp), ==, "application/json");
  if (root == NULL)
    g_test_message ("not a JSON object: %s", munity_test_response_text (resp));
  g_assert_nonnull (root);
  return member_object (root, "user");
}

/* Checks the shape of a user object; @email NULL means it must not be
 * there (another user's view). */
static void
check_user (JsonObject *user,
            gint64      id,
            const char *first,
            const char *last,
            const char *email)
{
  JsonNode *image = json_object_get_member (user, "imageUrl");

  if (id > 0)
    g_assert_cmpint (member_int (user, "id"), ==, id);
  else
    g_assert_cmpint (member_int (user, "id"), >, 0);
  if (first != NULL)
    g_assert_cmpstr (member_string (user, "first"), ==, first);
  if (last != NULL)
    g_assert_cmpstr (member_string (user, "last"), ==, last);
  g_assert_true (g_str_equal (node_kind (image), "null") ||
                 g_str_equal (node_kind (image), "string"));
  member_string (user, "bio");
  if (email != NULL)
    g_assert_cmpstr (member_string (user, "email"), ==, email);
  else
    g_assert_false (json_object_has_member (user, "email"));
}

/* The value of the munity_session cookie set by @resp, after checking its
 * attributes; NULL if there is none. */
static char *
session_cookie_of (MunityTestResponse *resp)
{
  g_autofree char *header = munity_test_response_set_cookie (resp, "munity_session");
  g_autoptr(SoupCookie) cookie = NULL;
  g_autofree char *lower = NULL;
  const char *value;
  guint bits;
  gboolean hex = TRUE;
  gsize len;

  if (header == NULL)
    return NULL;

  g_test_message ("Set-Cookie: %s", header);
  cookie = soup_cookie_parse (header, NULL);
  g_assert_nonnull (cookie);
  g_assert_true (soup_cookie_get_http_only (cookie));
  g_assert_cmpint (soup_cookie_get_same_site_policy (cookie), ==, SOUP_SAME_SITE_POLICY_LAX);
  g_assert_cmpstr (soup_cookie_get_path (cookie), ==, "/");
  /* No `Secure` unless cookie-secure is configured. */
  g_assert_false (soup_cookie_get_secure (cookie));
  lower = g_ascii_strdown (header, -1);
  g_assert_nonnull (strstr (lower, "httponly"));
  g_assert_nonnull (strstr (lower, "samesite=lax"));
  g_assert_nonnull (strstr (lower, "path=/"));

  /* 256 random bits: 43 characters of base64url (or 64 of hex). */
  value = soup_cookie_get_value (cookie);
  len = strlen (value);
  while (len > 0 && value[len - 1] == '=')
    len--;
  for (gsize i = 0; i < len; i++)
    {
      g_assert_true (g_ascii_isalnum (value[i]) || value[i] == '-' || value[i] == '_');
      if (!g_ascii_isxdigit (value[i]))
        hex = FALSE;
    }
  bits = hex ? len * 4 : len * 6;
  g_assert_cmpuint (bits, >=, 256);
  return g_strdup (value);
}

static TestUser *
register_user_on (MunityTestDaemon *d,
                  const char       *first,
                  const char       *last)
{
  g_autoptr(TestUser) u = g_new0 (TestUser, 1);
  g_autoptr(MunityTestResponse) resp = NULL;
  JsonObject *user;

  u->first = g_strdup (first);
  u->last = g_strdup (last);
  u->email = g_strdup (unique_email ("user"));
  u->password = g_strdup_printf ("correct horse %u", ++serial);
  u->browser = munity_test_session_new (TRUE);

  resp = api (d, u->browser, "POST", "/api/register",
              reg_json (Q (first), Q (last), Q (u->email), Q (u->password)), NULL);
  assert_status (resp, 201);
  user = user_of (resp);
  check_user (user, 0, first, last, u->email);
  u->id = member_int (user, "id");
  u->cookie = session_cookie_of (resp);
  g_assert_nonnull (u->cookie);
  return g_steal_pointer (&u);
}

static TestUser *
register_user (const char *first,
               const char *last)
{
  return register_user_on (shared, first, last);
}

/* The user's own view, through their own browser. */
static MunityTestResponse *
get_me (TestUser *u)
{
  return api (shared, u->browser, "GET", "/api/me", NULL, NULL);
}

static const char *
cookie_header (const char *value)
{
  return pooled (g_strdup_printf ("munity_session=%s", value));
}

static void
check_rate_limited (MunityTestResponse *resp)
{
  const char *retry_after;
  guint64 seconds = 0;

  assert_error (resp, 429, "rate-limited");
  retry_after = soup_message_headers_get_one (resp->headers, "Retry-After");
  g_assert_nonnull (retry_after);
  g_test_message ("Retry-After: %s", retry_after);
  g_assert_true (g_ascii_string_to_unsigned (retry_after, 10, 1, 600, &seconds, NULL));
  g_assert_null (munity_test_response_set_cookie (resp, "munity_session"));
}

/* ---- /api/register --------------------------------------------------------- */

static void
test_register_ok (void)
{
  g_autoptr(SoupSession) browser = munity_test_session_new (TRUE);
  g_autoptr(SoupSession) browser2 = munity_test_session_new (TRUE);
  g_autoptr(MunityTestResponse) resp = NULL;
  g_autoptr(MunityTestResponse) resp2 = NULL;
  g_autoptr(MunityTestResponse) me = NULL;
  g_autofree char *cookie = NULL;
  g_autofree char *cookie2 = NULL;
  g_autofree char *hash = NULL;
  const char *email = unique_email ("ok");
  const char *password = "a fine password";
  JsonObject *user;
  gint64 id;

  resp = api (shared, browser, "POST", "/api/register",
              reg_json (Q ("Ada"), Q ("Lovelace"), Q (email), Q (password)), NULL);
  assert_status (resp, 201);
  user = user_of (resp);
  check_user (user, 0, "Ada", "Lovelace", email);
  id = member_int (user, "id");
  g_assert_cmpstr (node_kind (json_object_get_member (user, "imageUrl")), ==, "null");
  g_assert_cmpstr (member_string (user, "bio"), ==, "");
  g_assert_cmpuint (json_object_get_size (user), ==, 6);

  cookie = session_cookie_of (resp);
  g_assert_nonnull (cookie);

  /* The cookie logs this browser in. */
  me = api (shared, browser, "GET", "/api/me", NULL, NULL);
  assert_status (me, 200);
  check_user (user_of (me), id, "Ada", "Lovelace", email);

  /* One row, with an argon2id hash and not the password. */
  g_assert_cmpuint (count_users (email), ==, 1);
  hash = user_column (email, "password_hash");
  g_assert_nonnull (hash);
  g_assert_true (g_str_has_prefix (hash, "$argon2id$"));
  g_assert_null (strstr (hash, password));

  /* Another registration gets another session and another id. */
  resp2 = api (shared, browser2, "POST", "/api/register",
               reg_json (Q ("Charles"), Q ("Babbage"), Q (unique_email ("ok")), Q (password)),
               NULL);
  assert_status (resp2, 201);
  g_assert_cmpint (member_int (user_of (resp2), "id"), !=, id);
  cookie2 = session_cookie_of (resp2);
  g_assert_nonnull (cookie2);
  g_assert_cmpstr (cookie, !=, cookie2);
}

static void
test_register_trimmed (void)
{
  g_autoptr(SoupSession) browser = munity_test_session_new (TRUE);
  g_autoptr(MunityTestResponse) resp = NULL;
  g_autoptr(MunityTestResponse) me = NULL;
  g_autofree char *first = NULL;
  g_autofree char *last = NULL;
  const char *email = unique_email ("trim");

  resp = api (shared, browser, "POST", "/api/register",
              reg_json (Q ("  Mary Ann \t"), Q ("\t Shelley  "), Q (email), Q ("password1")),
              NULL);
  assert_status (resp, 201);
  check_user (user_of (resp), 0, "Mary Ann", "Shelley", email);

  me = api (shared, browser, "GET", "/api/me", NULL, NULL);
  assert_status (me, 200);
  check_user (user_of (me), 0, "Mary Ann", "Shelley", email);

  first = user_column (email, "first");
  last = user_column (email, "last");
  g_assert_cmpstr (first, ==, "Mary Ann");
  g_assert_cmpstr (last, ==, "Shelley");
}

/* Values that are not a valid first or last name, as JSON fragments. */
static const char **
bad_names (void)
{
  static const char *bad[32];
  guint n = 0;

  bad[n++] = Q ("");
  bad[n++] = Q ("   ");
  bad[n++] = Q (" \t ");
  bad[n++] = Q (repeat ("a", 101));
  bad[n++] = Q (repeat ("é", 101));
  bad[n++] = Q (pooled (g_strconcat ("  ", repeat ("z", 101), "  ", NULL)));
  bad[n++] = Q ("Ada\001ce");
  bad[n++] = Q ("Ada\177");
  bad[n++] = Q ("A\nB");
  bad[n++] = Q ("\033[31mred");
  bad[n++] = Q ("A\302\205B");  /* U+0085, a C1 control */
  bad[n++] = "5";
  bad[n++] = "true";
  bad[n++] = "null";
  bad[n++] = "[]";
  bad[n++] = "{}";
  bad[n++] = "[\"Ada\"]";
  bad[n++] = NULL;  /* end; "missing" is tested separately */
  return bad;
}

static void
check_bad_name (gboolean is_first)
{
  const char **bad = bad_names ();

  for (guint i = 0; bad[i] != NULL; i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;
      const char *email = unique_email ("badname");

      g_test_message ("%s = %s", is_first ? "first" : "last", bad[i]);
      resp = api (shared, plain, "POST", "/api/register",
                  is_first ? reg_json (bad[i], Q ("Last"), Q (email), Q ("password1"))
                           : reg_json (Q ("First"), bad[i], Q (email), Q ("password1")),
                  NULL);
      assert_error (resp, 400, is_first ? "invalid-first" : "invalid-last");
      g_assert_null (munity_test_response_set_cookie (resp, "munity_session"));
      g_assert_cmpuint (count_users (email), ==, 0);
    }

  /* Missing altogether. */
  {
    g_autoptr(MunityTestResponse) resp = NULL;
    const char *email = unique_email ("noname");

    resp = api (shared, plain, "POST", "/api/register",
                is_first ? reg_json (NULL, Q ("Last"), Q (email), Q ("password1"))
                         : reg_json (Q ("First"), NULL, Q (email), Q ("password1")),
                NULL);
    assert_error (resp, 400, is_first ? "invalid-first" : "invalid-last");
    g_assert_cmpuint (count_users (email), ==, 0);
  }
}

static void
test_register_invalid_first (void)
{
  check_bad_name (TRUE);
}

static void
test_register_invalid_last (void)
{
  check_bad_name (FALSE);
}

static void
test_register_name_limits (void)
{
  const char *firsts[] = { repeat ("é", 100), repeat ("a", 100),
                           pooled (g_strconcat ("   ", repeat ("b", 100), "\t", NULL)), "X" };
  const char *expect[] = { repeat ("é", 100), repeat ("a", 100), repeat ("b", 100), "X" };

  for (guint i = 0; i < G_N_ELEMENTS (firsts); i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;
      const char *email = unique_email ("limit");

      resp = api (shared, plain, "POST", "/api/register",
                  reg_json (Q (firsts[i]), Q (repeat ("😀", 100)), Q (email), Q ("password1")),
                  NULL);
      assert_status (resp, 201);
      check_user (user_of (resp), 0, expect[i], repeat ("😀", 100), email);
    }
}

static void
test_register_invalid_email (void)
{
  const char *tag = unique_name ("mail");
  const char *bad_strings[] = {
    pooled (g_strdup_printf ("%sexample.org", tag)),
    pooled (g_strdup_printf ("%s@@example.org", tag)),
    pooled (g_strdup_printf ("%s@x@example.org", tag)),
    pooled (g_strdup_printf ("%s@localhost", tag)),
    pooled (g_strdup_printf ("%s@", tag)),
    "@example.org",
    pooled (g_strdup_printf ("%s @example.org", tag)),
    pooled (g_strdup_printf ("%s@exa mple.org", tag)),
    pooled (g_strdup_printf ("%s\t@example.org", tag)),
    pooled (g_strdup_printf ("%s\001@example.org", tag)),
    pooled (g_strdup_printf ("%s@example.org\n", tag)),
    "",
    "   ",
    /* 255 and 300 bytes */
    pooled (g_strdup_printf ("%s%s@example.org", tag, repeat ("a", 255 - 12 - strlen (tag)))),
    pooled (g_strdup_printf ("%s%s@example.org", tag, repeat ("a", 300 - 12 - strlen (tag)))),
  };
  const char *bad_types[] = { "5", "true", "null", "[]", "{}", NULL };

  g_assert_cmpuint (strlen (bad_strings[13]), ==, 255);

  for (guint i = 0; i < G_N_ELEMENTS (bad_strings); i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;

      g_test_message ("email = %s", Q (bad_strings[i]));
      resp = api (shared, plain, "POST", "/api/register",
                  reg_json (Q ("Ada"), Q ("Lovelace"), Q (bad_strings[i]), Q ("password1")),
                  NULL);
      assert_error (resp, 400, "invalid-email");
      g_assert_null (munity_test_response_set_cookie (resp, "munity_session"));
      g_assert_cmpuint (count_users (bad_strings[i]), ==, 0);
    }

  for (guint i = 0; i < G_N_ELEMENTS (bad_types); i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;

      g_test_message ("email = %s", bad_types[i] != NULL ? bad_types[i] : "(missing)");
      resp = api (shared, plain, "POST", "/api/register",
                  reg_json (Q ("Ada"), Q ("Lovelace"), bad_types[i], Q ("password1")), NULL);
      assert_error (resp, 400, "invalid-email");
    }
}

static void
test_register_email_limits (void)
{
  const char *tag = unique_name ("max");
  const char *email = pooled (g_strdup_printf ("%s%s@example.org", tag,
                                               repeat ("m", 254 - 12 - strlen (tag))));
  g_autoptr(MunityTestResponse) resp = NULL;

  g_assert_cmpuint (strlen (email), ==, 254);
  resp = api (shared, plain, "POST", "/api/register",
              reg_json (Q ("Ada"), Q ("Lovelace"), Q (email), Q ("password1")), NULL);
  assert_status (resp, 201);
  check_user (user_of (resp), 0, "Ada", "Lovelace", email);
  g_assert_cmpuint (count_users (email), ==, 1);
}

static void
test_register_invalid_password (void)
{
  const char *bad[] = {
    Q (""), Q ("1234567"), Q ("éééa") /* 4 code points, 7 bytes */,
    Q (repeat ("p", 1025)), Q (pooled (g_strconcat (repeat ("é", 512), "a", NULL))),
    "12345678", "true", "null", "[]", "{}", NULL,
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;
      const char *email = unique_email ("badpw");

      g_test_message ("password = %.40s", bad[i] != NULL ? bad[i] : "(missing)");
      resp = api (shared, plain, "POST", "/api/register",
                  reg_json (Q ("Ada"), Q ("Lovelace"), Q (email), bad[i]), NULL);
      assert_error (resp, 400, "invalid-password");
      g_assert_null (munity_test_response_set_cookie (resp, "munity_session"));
      g_assert_cmpuint (count_users (email), ==, 0);
    }
}

static void
test_register_password_limits (void)
{
  /* Lengths are in bytes: "éééab" is 8 bytes in 5 code points. */
  const char *good[] = { "éééab", "12345678", repeat ("p", 1024), repeat ("é", 512) };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;
      g_autoptr(MunityTestResponse) login = NULL;
      g_autoptr(SoupSession) browser = munity_test_session_new (TRUE);
      const char *email = unique_email ("goodpw");

      g_test_message ("password of %zu bytes", strlen (good[i]));
      resp = api (shared, plain, "POST", "/api/register",
                  reg_json (Q ("Ada"), Q ("Lovelace"), Q (email), Q (good[i])), NULL);
      assert_status (resp, 201);

      login = api (shared, browser, "POST", "/api/login", login_json (email, good[i]), NULL);
      assert_status (login, 200);
    }
}

static void
test_register_wrong_types (void)
{
  struct { const char *json; const char *code; } cases[] = {
    { reg_json ("1", Q ("L"), Q (unique_email ("type")), Q ("password1")), "invalid-first" },
    { reg_json (Q ("F"), "false", Q (unique_email ("type")), Q ("password1")), "invalid-last" },
    { reg_json (Q ("F"), Q ("L"), "42", Q ("password1")), "invalid-email" },
    { reg_json (Q ("F"), Q ("L"), Q (unique_email ("type")), "12345678"), "invalid-password" },
    { reg_json (Q ("F"), Q ("L"), Q (unique_email ("type")), "[\"password1\"]"), "invalid-password" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;

      g_test_message ("%s", cases[i].json);
      resp = api (shared, plain, "POST", "/api/register", cases[i].json, NULL);
      assert_error (resp, 400, cases[i].code);
    }
}

static void
test_register_email_taken (void)
{
  const char *tag = unique_name ("Taken");
  const char *mixed = pooled (g_strdup_printf ("%s@Example.ORG", tag));
  const char *lower = pooled (g_ascii_strdown (mixed, -1));
  const char *upper = pooled (g_ascii_strup (mixed, -1));
  const char *again[] = { mixed, lower, upper };
  g_autoptr(MunityTestResponse) first = NULL;

  first = api (shared, plain, "POST", "/api/register",
               reg_json (Q ("Ada"), Q ("Lovelace"), Q (mixed), Q ("password1")), NULL);
  assert_status (first, 201);

  for (guint i = 0; i < G_N_ELEMENTS (again); i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;

      resp = api (shared, plain, "POST", "/api/register",
                  reg_json (Q ("Other"), Q ("Person"), Q (again[i]), Q ("password2")), NULL);
      assert_error (resp, 409, "email-taken");
      g_assert_null (munity_test_response_set_cookie (resp, "munity_session"));
    }
  g_assert_cmpuint (count_users (mixed), ==, 1);
}

static void
test_register_invalid_json (void)
{
  const char *email = unique_email ("json");
  const char *bodies[] = {
    "{", "{\"first\":", "not json", "", "[]", "[1,2]", "\"str\"", "42", "null", "true",
    "{\"first\":\"Ada\",}",
    /* invalid UTF-8 inside a string, and an overlong encoding */
    pooled (g_strdup_printf ("{\"first\":\"\377\376\",\"last\":\"L\",\"email\":\"%s\",\"password\":\"password1\"}", email)),
    pooled (g_strdup_printf ("{\"first\":\"A\300\257\",\"last\":\"L\",\"email\":\"%s\",\"password\":\"password1\"}", email)),
  };

  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;

      g_test_message ("body %u: %s", i, bodies[i]);
      resp = raw (shared, plain, "POST", "/api/register", "application/json",
                  bodies[i], -1, NULL);
      assert_error (resp, 400, "invalid-json");
    }
  g_assert_cmpuint (count_users (email), ==, 0);
}

static void
test_register_round_trip (void)
{
  const char *names[][2] = {
    { "Robert'); DROP TABLE users;--", "Zoë 👩‍💻" },
    { "O'Brien \"the\" \\ man", "<script>alert(1)</script>" },
    { "李", "Ωμέγα %s %n" },
  };
  g_autoptr(TestUser) viewer = register_user ("Viewer", "One");

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr(TestUser) u = register_user (names[i][0], names[i][1]);
      g_autoptr(MunityTestResponse) me = get_me (u);
      g_autofree char *path = g_strdup_printf ("/api/users/%" G_GINT64_FORMAT, u->id);
      g_autoptr(MunityTestResponse) other = api (shared, viewer->browser, "GET", path, NULL, NULL);
      g_autofree char *first = user_column (u->email, "first");
      g_autofree char *last = user_column (u->email, "last");

      assert_status (me, 200);
      check_user (user_of (me), u->id, names[i][0], names[i][1], u->email);
      assert_status (other, 200);
      check_user (user_of (other), u->id, names[i][0], names[i][1], NULL);
      g_assert_cmpstr (first, ==, names[i][0]);
      g_assert_cmpstr (last, ==, names[i][1]);
    }

  /* The table is still there. */
  g_assert_cmpuint (count_users (viewer->email), ==, 1);
}

/* ---- /api/login ------------------------------------------------------------ */

static void
test_login_ok (void)
{
  g_autoptr(TestUser) u = register_user ("Grace", "Hopper");
  g_autoptr(SoupSession) browser = munity_test_session_new (TRUE);
  g_autoptr(MunityTestResponse) resp = NULL;
  g_autoptr(MunityTestResponse) me = NULL;
  g_autofree char *cookie = NULL;

  resp = api (shared, browser, "POST", "/api/login", login_json (u->email, u->password), NULL);
  assert_status (resp, 200);
  check_user (user_of (resp), u->id, "Grace", "Hopper", u->email);
  cookie = session_cookie_of (resp);
  g_assert_nonnull (cookie);
  g_assert_cmpstr (cookie, !=, u->cookie);

  me = api (shared, browser, "GET", "/api/me", NULL, NULL);
  assert_status (me, 200);
  check_user (user_of (me), u->id, "Grace", "Hopper", u->email);
}

static void
test_login_bad_credentials (void)
{
  g_autoptr(TestUser) u = register_user ("Alan", "Turing");
  g_autoptr(MunityTestResponse) wrong = NULL;
  g_autoptr(MunityTestResponse) unknown = NULL;
  g_autoptr(MunityTestResponse) empty = NULL;
  g_autoptr(MunityTestResponse) me = NULL;
  g_autoptr(SoupSession) browser = munity_test_session_new (TRUE);

  /* Few failures here: the shared daemon must stay under the per-address
   * limit (10) for the rest of the suite. */
  wrong = api (shared, browser, "POST", "/api/login",
               login_json (u->email, "not the password"), NULL);
  assert_error (wrong, 401, "bad-credentials");
  g_assert_null (munity_test_response_set_cookie (wrong, "munity_session"));

  unknown = api (shared, browser, "POST", "/api/login",
                 login_json (unique_email ("nobody"), "not the password"), NULL);
  assert_error (unknown, 401, "bad-credentials");
  g_assert_null (munity_test_response_set_cookie (unknown, "munity_session"));

  /* The answers do not tell which of the two was wrong. */
  g_assert_cmpstr (member_string (member_object (munity_test_response_object (wrong), "error"), "message"), ==,
                   member_string (member_object (munity_test_response_object (unknown), "error"), "message"));

  empty = api (shared, browser, "POST", "/api/login", "{}", NULL);
  assert_error (empty, 401, "bad-credentials");

  me = api (shared, browser, "GET", "/api/me", NULL, NULL);
  assert_error (me, 401, "not-logged-in");
}

static double
median (double *v,
        guint   n)
{
  for (guint i = 1; i < n; i++)
    for (guint j = i; j > 0 && v[j - 1] > v[j]; j--)
      {
        double t = v[j];
        v[j] = v[j - 1];
        v[j - 1] = t;
      }
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
test_login_timing (void)
{
  MunityTestDaemon *d = own_daemon ("timing", NULL);
  g_autoptr(TestUser) u = register_user_on (d, "Time", "Keeper");
  g_autoptr(MunityTestResponse) warm = NULL;
  double wrong_ms[4], unknown_ms[4], wrong, unknown, ratio;

  /* Security, not speed: a login for an unknown email must cost about as
   * much as one with a wrong password, or the timing tells which emails have
   * accounts. 8 failures stay under the per-address limit of 10. */
  warm = api (d, plain, "POST", "/api/login", login_json (u->email, u->password), NULL);
  assert_status (warm, 200);

  for (guint i = 0; i < G_N_ELEMENTS (wrong_ms); i++)
    {
      g_autoptr(MunityTestResponse) a = NULL;
      g_autoptr(MunityTestResponse) b = NULL;

      a = api (d, plain, "POST", "/api/login",
               login_json (u->email, pooled (g_strdup_printf ("wrong password %u", i))), NULL);
      assert_error (a, 401, "bad-credentials");
      wrong_ms[i] = a->elapsed_ms;

      b = api (d, plain, "POST", "/api/login",
               login_json (unique_email ("ghost"), pooled (g_strdup_printf ("wrong password %u", i))),
               NULL);
      assert_error (b, 401, "bad-credentials");
      unknown_ms[i] = b->elapsed_ms;
    }

  wrong = median (wrong_ms, G_N_ELEMENTS (wrong_ms));
  unknown = median (unknown_ms, G_N_ELEMENTS (unknown_ms));
  ratio = unknown / MAX (wrong, 0.001);
  g_test_message ("median login time: wrong password %.1f ms, unknown email %.1f ms, ratio %.2f",
                  wrong, unknown, ratio);
  g_assert_cmpfloat (ratio, >=, 0.5);
  g_assert_cmpfloat (ratio, <=, 2.0);

  stop_own_daemon (d);
}

static void
test_login_throttle_address (void)
{
  MunityTestDaemon *d = own_daemon ("throttle_addr", NULL);
  g_autoptr(TestUser) u = register_user_on (d, "Rate", "Limited");
  g_autoptr(MunityTestResponse) eleventh = NULL;
  g_autoptr(MunityTestResponse) twelfth = NULL;
  g_autoptr(MunityTestResponse) elsewhere = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(TestUser) later = NULL;

  /* 10 failures from 127.0.0.1: half wrong passwords, half unknown emails. */
  for (guint i = 0; i < 10; i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;
      const char *email = i % 2 ? u->email : unique_email ("ghost");

      resp = api (d, plain, "POST", "/api/login", login_json (email, "wrong password"), NULL);
      g_test_message ("failed login %u: %u", i + 1, resp->status);
      assert_error (resp, 401, "bad-credentials");
    }

  /* The 11th is refused even with the right password. */
  eleventh = api (d, plain, "POST", "/api/login", login_json (u->email, u->password), NULL);
  check_rate_limited (eleventh);
  twelfth = api (d, plain, "POST", "/api/login",
                 login_json (unique_email ("ghost"), "wrong password"), NULL);
  check_rate_limited (twelfth);

  /* The limit is per address: the same account from 127.0.0.2 still works. */
  elsewhere = munity_test_http_from ("127.0.0.2", "127.0.0.1", munity_test_daemon_port (d),
                                     "POST", "/api/login", "application/json",
                                     login_json (u->email, u->password), NULL, &error);
  g_assert_no_error (error);
  check_response (elsewhere);
  assert_status (elsewhere, 200);

  /* Only logins are throttled. */
  later = register_user_on (d, "Still", "Welcome");

  stop_own_daemon (d);
}

static MunityTestResponse *
login_from (MunityTestDaemon *d,
            const char       *address,
            const char       *email,
            const char       *password)
{
  g_autoptr(GError) error = NULL;
  MunityTestResponse *resp;

  resp = munity_test_http_from (address, "127.0.0.1", munity_test_daemon_port (d),
                                "POST", "/api/login", "application/json",
                                login_json (email, password), NULL, &error);
  g_assert_no_error (error);
  check_response (resp);
  return resp;
}

static void
test_login_throttle_account (void)
{
  MunityTestDaemon *d = own_daemon ("throttle_acct", NULL);
  g_autoptr(TestUser) u = register_user_on (d, "Target", "Account");
  g_autoptr(TestUser) v = register_user_on (d, "Other", "Account");
  g_autoptr(MunityTestResponse) blocked = NULL;
  g_autoptr(MunityTestResponse) blocked_too = NULL;
  g_autoptr(MunityTestResponse) other = NULL;
  const struct { const char *address; guint failures; } from[] = {
    { "127.0.0.2", 7 }, { "127.0.0.3", 7 }, { "127.0.0.4", 6 },
  };
  guint n = 0;

  /* 20 failures for one account, spread so that no address reaches 10. */
  for (guint a = 0; a < G_N_ELEMENTS (from); a++)
    for (guint i = 0; i < from[a].failures; i++)
      {
        g_autoptr(MunityTestResponse) resp = login_from (d, from[a].address, u->email,
                                                          "wrong password");
        g_test_message ("failed login %u from %s: %u", ++n, from[a].address, resp->status);
        assert_error (resp, 401, "bad-credentials");
      }
  g_assert_cmpuint (n, ==, 20);

  /* The 21st, with the right password, from an address with 6 failures. */
  blocked = login_from (d, "127.0.0.4", u->email, u->password);
  check_rate_limited (blocked);
  blocked_too = api (d, plain, "POST", "/api/login", login_json (u->email, u->password), NULL);
  check_rate_limited (blocked_too);

  /* The address itself is not blocked: another account logs in from it. */
  other = login_from (d, "127.0.0.4", v->email, v->password);
  assert_status (other, 200);

  stop_own_daemon (d);
}

/* ---- /api/logout ----------------------------------------------------------- */

static void
check_cookie_cleared (MunityTestResponse *resp)
{
  g_autofree char *header = munity_test_response_set_cookie (resp, "munity_session");
  g_autoptr(SoupCookie) cookie = NULL;
  g_autofree char *lower = NULL;
  GDateTime *expires;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();

  g_assert_nonnull (header);
  g_test_message ("Set-Cookie: %s", header);
  lower = g_ascii_strdown (header, -1);
  cookie = soup_cookie_parse (header, NULL);
  g_assert_nonnull (cookie);
  g_assert_cmpstr (soup_cookie_get_path (cookie), ==, "/");
  expires = soup_cookie_get_expires (cookie);
  g_assert_true (strstr (lower, "max-age=0") != NULL ||
                 (expires != NULL && g_date_time_compare (expires, now) <= 0));
}

static void
test_logout_ok (void)
{
  g_autoptr(TestUser) u = register_user ("Log", "Out");
  g_autoptr(SoupSession) second = munity_test_session_new (TRUE);
  g_autoptr(MunityTestResponse) login = NULL;
  g_autoptr(MunityTestResponse) out = NULL;
  g_autoptr(MunityTestResponse) me = NULL;
  g_autoptr(MunityTestResponse) replay = NULL;
  g_autoptr(MunityTestResponse) still = NULL;

  /* The same user, logged in on a second browser. */
  login = api (shared, second, "POST", "/api/login", login_json (u->email, u->password), NULL);
  assert_status (login, 200);

  out = raw (shared, u->browser, "POST", "/api/logout", NULL, NULL, 0, NULL);
  assert_status (out, 204);
  g_assert_cmpuint (g_bytes_get_size (out->body), ==, 0);
  check_cookie_cleared (out);

  me = get_me (u);
  assert_error (me, 401, "not-logged-in");

  /* The old cookie is dead on the server, not just forgotten by the browser. */
  replay = api (shared, plain, "GET", "/api/me", NULL,
                "Cookie", cookie_header (u->cookie), NULL);
  assert_error (replay, 401, "not-logged-in");

  /* Only that session ended. */
  still = api (shared, second, "GET", "/api/me", NULL, NULL);
  assert_status (still, 200);
  check_user (user_of (still), u->id, "Log", "Out", u->email);
}

static void
test_logout_without_session (void)
{
  g_autoptr(TestUser) u = register_user ("Twice", "Out");
  const char *cookies[] = { NULL, "munity_session=garbage",
                            "munity_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" };

  for (guint i = 0; i < G_N_ELEMENTS (cookies); i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;

      if (cookies[i] == NULL)
        resp = raw (shared, plain, "POST", "/api/logout", NULL, NULL, 0, NULL);
      else
        resp = raw (shared, plain, "POST", "/api/logout", NULL, NULL, 0,
                    "Cookie", cookies[i], NULL);
      assert_status (resp, 204);
    }

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(MunityTestResponse) resp = raw (shared, u->browser, "POST", "/api/logout",
                                                NULL, NULL, 0, NULL);
      assert_status (resp, 204);
    }
}

/* ---- /api/me --------------------------------------------------------------- */

static void
test_me_get (void)
{
  g_autoptr(TestUser) u = register_user ("Me", "Myself");
  g_autoptr(MunityTestResponse) ok = get_me (u);
  g_autoptr(MunityTestResponse) anonymous = NULL;
  const char *bad_cookies[] = {
    "munity_session=garbage",
    "munity_session=",
    "munity_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    pooled (g_strdup_printf ("munity_session=%.42s", u->cookie)),
    pooled (g_strdup_printf ("other=%s", u->cookie)),
  };

  assert_status (ok, 200);
  check_user (user_of (ok), u->id, "Me", "Myself", u->email);

  anonymous = api (shared, plain, "GET", "/api/me", NULL, NULL);
  assert_error (anonymous, 401, "not-logged-in");

  for (guint i = 0; i < G_N_ELEMENTS (bad_cookies); i++)
    {
      g_autoptr(MunityTestResponse) resp = api (shared, plain, "GET", "/api/me", NULL,
                                                "Cookie", bad_cookies[i], NULL);
      g_test_message ("Cookie: %s", bad_cookies[i]);
      assert_error (resp, 401, "not-logged-in");
    }

  /* The cookie by hand works as well as the jar. */
  {
    g_autoptr(MunityTestResponse) resp = api (shared, plain, "GET", "/api/me", NULL,
                                              "Cookie", cookie_header (u->cookie), NULL);
    assert_status (resp, 200);
  }
}

static MunityTestResponse *
patch_me (TestUser   *u,
          const char *json)
{
  return api (shared, u->browser, "PATCH", "/api/me", json, NULL);
}

static void
test_me_patch_fields (void)
{
  g_autoptr(TestUser) u = register_user ("Ada", "Lovelace");
  g_autoptr(MunityTestResponse) r1 = NULL;
  g_autoptr(MunityTestResponse) r2 = NULL;
  g_autoptr(MunityTestResponse) r3 = NULL;
  g_autoptr(MunityTestResponse) r4 = NULL;
  g_autoptr(MunityTestResponse) me = NULL;
  g_autofree char *first = NULL;
  g_autofree char *bio = NULL;
  JsonObject *user;

  r1 = patch_me (u, "{\"first\":\"  Grace \\t\"}");
  assert_status (r1, 200);
  check_user (user_of (r1), u->id, "Grace", "Lovelace", u->email);

  r2 = patch_me (u, "{\"last\":\" Hopper \"}");
  assert_status (r2, 200);
  check_user (user_of (r2), u->id, "Grace", "Hopper", u->email);

  r3 = patch_me (u, pooled (g_strdup_printf ("{\"bio\":%s}", Q ("Wrote the first compiler.\nZoë 👩‍💻"))));
  assert_status (r3, 200);
  user = user_of (r3);
  check_user (user, u->id, "Grace", "Hopper", u->email);
  g_assert_cmpstr (member_string (user, "bio"), ==, "Wrote the first compiler.\nZoë 👩‍💻");

  r4 = patch_me (u, "{\"first\":\"Amazing\",\"last\":\"Grace\",\"bio\":\"\"}");
  assert_status (r4, 200);
  user = user_of (r4);
  check_user (user, u->id, "Amazing", "Grace", u->email);
  g_assert_cmpstr (member_string (user, "bio"), ==, "");

  me = get_me (u);
  assert_status (me, 200);
  check_user (user_of (me), u->id, "Amazing", "Grace", u->email);

  first = user_column (u->email, "first");
  bio = user_column (u->email, "bio");
  g_assert_cmpstr (first, ==, "Amazing");
  g_assert_cmpstr (bio, ==, "");
}

static void
test_me_patch_empty (void)
{
  g_autoptr(TestUser) u = register_user ("Stays", "Same");
  g_autoptr(MunityTestResponse) resp = patch_me (u, "{}");
  JsonObject *user;

  assert_status (resp, 200);
  user = user_of (resp);
  check_user (user, u->id, "Stays", "Same", u->email);
  g_assert_cmpstr (member_string (user, "bio"), ==, "");
}

static void
test_me_patch_bio (void)
{
  g_autoptr(TestUser) u = register_user ("Long", "Story");
  const char *bio2000 = repeat ("ü", 2000);
  g_autoptr(MunityTestResponse) ok = NULL;
  g_autoptr(MunityTestResponse) me = NULL;
  const char *bad[] = {
    Q (repeat ("ü", 2001)), Q (repeat ("b", 2001)), "5", "true", "[]", "{}",
  };

  ok = patch_me (u, pooled (g_strdup_printf ("{\"bio\":%s}", Q (bio2000))));
  assert_status (ok, 200);
  g_assert_cmpstr (member_string (user_of (ok), "bio"), ==, bio2000);

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;

      g_test_message ("bio = %.40s", bad[i]);
      resp = patch_me (u, pooled (g_strdup_printf ("{\"bio\":%s}", bad[i])));
      assert_error (resp, 400, "invalid-bio");
    }

  me = get_me (u);
  assert_status (me, 200);
  g_assert_cmpstr (member_string (user_of (me), "bio"), ==, bio2000);
}

static void
test_me_patch_invalid (void)
{
  g_autoptr(TestUser) u = register_user ("Keep", "Me");
  g_autoptr(MunityTestResponse) me = NULL;
  struct { const char *json; guint status; const char *code; } cases[] = {
    { "{\"first\":\"\"}", 400, "invalid-first" },
    { "{\"first\":\"   \"}", 400, "invalid-first" },
    { pooled (g_strdup_printf ("{\"first\":%s}", Q (repeat ("é", 101)))), 400, "invalid-first" },
    { "{\"first\":\"A\\u0001B\"}", 400, "invalid-first" },
    { "{\"first\":5}", 400, "invalid-first" },
    { "{\"first\":null}", 400, "invalid-first" },
    { "{\"last\":\"\"}", 400, "invalid-last" },
    { "{\"last\":\"\\t\"}", 400, "invalid-last" },
    { pooled (g_strdup_printf ("{\"last\":%s}", Q (repeat ("x", 101)))), 400, "invalid-last" },
    { "{\"last\":[]}", 400, "invalid-last" },
    /* All or nothing. */
    { "{\"first\":\"Changed\",\"last\":\"\"}", 400, "invalid-last" },
    { "{\"first\":\"Changed\",\"bio\":7}", 400, "invalid-bio" },
    { "{\"email\":\"new@example.org\"}", 400, "unknown-field" },
    { "{\"id\":1}", 400, "unknown-field" },
    { "{\"imageUrl\":\"/avatars/1.webp\"}", 400, "unknown-field" },
    { "{\"password\":\"password1\"}", 400, "unknown-field" },
    { "{\"first\":\"Changed\",\"nope\":1}", 400, "unknown-field" },
    { "{", 400, "invalid-json" },
    { "", 400, "invalid-json" },
    { "[]", 400, "invalid-json" },
    { "[{\"first\":\"Changed\"}]", 400, "invalid-json" },
    { "\"first\"", 400, "invalid-json" },
    { "42", 400, "invalid-json" },
    { "null", 400, "invalid-json" },
    { "{\"first\":\"Ch\377anged\"}", 400, "invalid-json" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;

      g_test_message ("PATCH %.60s", cases[i].json);
      resp = patch_me (u, cases[i].json);
      assert_error (resp, cases[i].status, cases[i].code);
    }

  /* Not JSON at all. */
  {
    const char *types[] = { NULL, "text/plain", "application/x-www-form-urlencoded" };

    for (guint i = 0; i < G_N_ELEMENTS (types); i++)
      {
        g_autoptr(MunityTestResponse) resp = NULL;

        resp = raw (shared, u->browser, "PATCH", "/api/me", types[i],
                    "{\"first\":\"Changed\"}", -1, NULL);
        assert_error (resp, 415, "unsupported-media-type");
      }
  }

  me = get_me (u);
  assert_status (me, 200);
  check_user (user_of (me), u->id, "Keep", "Me", u->email);
  g_assert_cmpstr (member_string (user_of (me), "bio"), ==, "");
}

static void
test_me_patch_anonymous (void)
{
  g_autoptr(MunityTestResponse) resp = NULL;
  g_autoptr(MunityTestResponse) garbage = NULL;

  resp = api (shared, plain, "PATCH", "/api/me", "{\"first\":\"Nobody\"}", NULL);
  assert_error (resp, 401, "not-logged-in");
  garbage = api (shared, plain, "PATCH", "/api/me", "{\"first\":\"Nobody\"}",
                 "Cookie", "munity_session=garbage", NULL);
  assert_error (garbage, 401, "not-logged-in");
}

/* ---- /api/users/:id -------------------------------------------------------- */

static void
test_users_get (void)
{
  g_autoptr(TestUser) u = register_user ("Seen", "ByOthers");
  g_autoptr(TestUser) w = register_user ("Looks", "Around");
  g_autofree char *path = g_strdup_printf ("/api/users/%" G_GINT64_FORMAT, u->id);
  g_autofree char *own = g_strdup_printf ("/api/users/%" G_GINT64_FORMAT, w->id);
  g_autoptr(MunityTestResponse) patched = NULL;
  g_autoptr(MunityTestResponse) resp = NULL;
  g_autoptr(MunityTestResponse) self = NULL;
  JsonObject *user;

  patched = patch_me (u, "{\"bio\":\"Hello there\"}");
  assert_status (patched, 200);

  resp = api (shared, w->browser, "GET", path, NULL, NULL);
  assert_status (resp, 200);
  user = user_of (resp);
  check_user (user, u->id, "Seen", "ByOthers", NULL);
  g_assert_cmpstr (member_string (user, "bio"), ==, "Hello there");
  g_assert_cmpstr (node_kind (json_object_get_member (user, "imageUrl")), ==, "null");
  g_assert_null (strstr (munity_test_response_text (resp), u->email));
  /* Never online: not online, never seen (doc/protocol.md §3). */
  g_assert_cmpuint (json_object_get_size (user), ==, 7);
  g_assert_cmpstr (node_kind (json_object_get_member (user, "online")), ==, "bool");
  g_assert_false (json_object_get_boolean_member (user, "online"));
  g_assert_cmpstr (node_kind (json_object_get_member (user, "lastSeen")), ==, "null");

  /* As everyone may see it, even for oneself. */
  self = api (shared, w->browser, "GET", own, NULL, NULL);
  assert_status (self, 200);
  check_user (user_of (self), w->id, "Looks", "Around", NULL);
}

static void
test_users_not_found (void)
{
  g_autoptr(TestUser) w = register_user ("Search", "Er");
  const char *ids[] = {
    "999999999", "9223372036854775807", "9223372036854775808",
    "99999999999999999999999999999", "-1", "-9223372036854775808", "0",
    "abc", "1abc", "1.5", "0x10", "1e3", "%20", "-",
  };

  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      g_autofree char *path = g_strdup_printf ("/api/users/%s", ids[i]);
      g_autoptr(MunityTestResponse) resp = api (shared, w->browser, "GET", path, NULL, NULL);

      g_test_message ("GET %s", path);
      assert_error (resp, 404, "no-such-user");
    }
}

static void
test_users_anonymous (void)
{
  g_autoptr(TestUser) u = register_user ("Hidden", "FromStrangers");
  g_autofree char *path = g_strdup_printf ("/api/users/%" G_GINT64_FORMAT, u->id);
  g_autoptr(MunityTestResponse) resp = api (shared, plain, "GET", path, NULL, NULL);

  assert_error (resp, 401, "not-logged-in");
}

/* ---- generic errors -------------------------------------------------------- */

static void
test_not_found (void)
{
  g_autoptr(TestUser) u = register_user ("Lost", "Traveller");
  const char *paths[] = { "/api/nope", "/api/", "/api/me/nope", "/api/register/extra",
                          "/api/loginx", "/api/nope/deeper", "/api/healthz" };
  const char *methods[] = { "GET", "POST", "DELETE" };
  SoupSession *sessions[] = { plain, u->browser };

  for (guint s = 0; s < G_N_ELEMENTS (sessions); s++)
    for (guint p = 0; p < G_N_ELEMENTS (paths); p++)
      for (guint m = 0; m < G_N_ELEMENTS (methods); m++)
        {
          gboolean with_body = g_str_equal (methods[m], "POST");
          g_autoptr(MunityTestResponse) resp = api (shared, sessions[s], methods[m], paths[p],
                                                    with_body ? "{}" : NULL, NULL);

          g_test_message ("%s %s (%s)", methods[m], paths[p], s ? "logged in" : "anonymous");
          assert_error (resp, 404, "not-found");
        }
}

static void
assert_allows (MunityTestResponse *resp,
               const char         *methods)
{
  const char *allow = soup_message_headers_get_one (resp->headers, "Allow");
  g_auto(GStrv) want = g_strsplit (methods, ",", -1);
  g_auto(GStrv) have = NULL;

  assert_error (resp, 405, "method-not-allowed");
  g_assert_nonnull (allow);
  g_test_message ("Allow: %s", allow);
  have = g_strsplit (allow, ",", -1);
  for (guint i = 0; have[i] != NULL; i++)
    g_strstrip (have[i]);
  for (guint i = 0; want[i] != NULL; i++)
    g_assert_true (g_strv_contains ((const char * const *) have, want[i]));
}

static void
test_method_not_allowed (void)
{
  g_autoptr(TestUser) u = register_user ("Wrong", "Verb");
  g_autofree char *user_path = g_strdup_printf ("/api/users/%" G_GINT64_FORMAT, u->id);
  struct { const char *method; const char *path; const char *allow; } cases[] = {
    { "GET", "/api/register", "POST" },
    { "PUT", "/api/register", "POST" },
    { "GET", "/api/login", "POST" },
    { "DELETE", "/api/login", "POST" },
    { "GET", "/api/logout", "POST" },
    { "DELETE", "/api/me", "GET,PATCH" },
    { "POST", "/api/me", "GET,PATCH" },
    { "PUT", "/api/me", "GET,PATCH" },
    { "POST", user_path, "GET" },
    { "DELETE", user_path, "GET" },
    { "POST", "/api/online", "GET" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gboolean with_body = !g_str_equal (cases[i].method, "GET") &&
                           !g_str_equal (cases[i].method, "DELETE");
      g_autoptr(MunityTestResponse) resp = api (shared, u->browser, cases[i].method,
                                                cases[i].path, with_body ? "{}" : NULL, NULL);

      g_test_message ("%s %s", cases[i].method, cases[i].path);
      assert_allows (resp, cases[i].allow);
    }

  /* Also without a session where the endpoint is public. */
  {
    g_autoptr(MunityTestResponse) resp = api (shared, plain, "GET", "/api/register", NULL, NULL);
    assert_allows (resp, "POST");
  }
}

static void
test_unsupported_media_type (void)
{
  g_autoptr(TestUser) u = register_user ("Media", "Type");
  const char *types[] = { NULL, "text/plain", "application/x-www-form-urlencoded",
                          "multipart/form-data; boundary=x", "application/jsonx" };
  const char *email = unique_email ("media");

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autoptr(MunityTestResponse) reg = NULL;

      g_test_message ("Content-Type: %s", types[i] != NULL ? types[i] : "(none)");
      reg = raw (shared, plain, "POST", "/api/register", types[i],
                 reg_json (Q ("Ada"), Q ("Lovelace"), Q (email), Q ("password1")), -1, NULL);
      assert_error (reg, 415, "unsupported-media-type");
    }
  g_assert_cmpuint (count_users (email), ==, 0);

  {
    g_autoptr(MunityTestResponse) login = raw (shared, plain, "POST", "/api/login", "text/plain",
                                               login_json (u->email, u->password), -1, NULL);
    assert_error (login, 415, "unsupported-media-type");
  }

  /* A parameter does not make it another type. */
  {
    g_autoptr(MunityTestResponse) ok = NULL;

    ok = raw (shared, plain, "POST", "/api/register", "application/json; charset=utf-8",
              reg_json (Q ("Ada"), Q ("Lovelace"), Q (email), Q ("password1")), -1, NULL);
    assert_status (ok, 201);
  }
}

static void
test_payload_too_large (void)
{
  g_autoptr(TestUser) u = register_user ("Big", "Mouth");
  const char *email = unique_email ("big");
  const char *head = pooled (g_strdup_printf ("{\"last\":\"L\",\"email\":%s,\"password\":\"password1\",\"first\":\"",
                                              Q (email)));
  const char *tail = "\"}";
  gsize sizes[] = { 65536, 65537, 200 * 1024 };

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autoptr(GString) body = g_string_new (head);
      g_autoptr(MunityTestResponse) resp = NULL;

      while (body->len < sizes[i] - strlen (tail))
        g_string_append_c (body, 'a');
      g_string_append (body, tail);
      g_assert_cmpuint (body->len, ==, sizes[i]);

      g_test_message ("body of %zu bytes", body->len);
      resp = raw (shared, plain, "POST", "/api/register", "application/json",
                  body->str, body->len, NULL);
      if (sizes[i] <= 64 * 1024)
        assert_error (resp, 400, "invalid-first");
      else
        assert_error (resp, 413, "payload-too-large");
    }
  g_assert_cmpuint (count_users (email), ==, 0);

  {
    g_autoptr(GString) body = g_string_new ("{\"bio\":\"");
    g_autoptr(MunityTestResponse) resp = NULL;

    while (body->len < 70 * 1024)
      g_string_append_c (body, 'b');
    g_string_append (body, "\"}");
    resp = raw (shared, u->browser, "PATCH", "/api/me", "application/json",
                body->str, body->len, NULL);
    assert_error (resp, 413, "payload-too-large");
  }
}

/* ---- Origin ----------------------------------------------------------------- */

static void
test_origin_forbidden (void)
{
  g_autoptr(TestUser) u = register_user ("Same", "Origin");
  g_autoptr(MunityTestResponse) me = NULL;
  guint16 port = munity_test_daemon_port (shared);
  const char *origins[] = {
    "http://evil.example",
    "null",
    "http://127.0.0.1:1",
    pooled (g_strdup_printf ("https://127.0.0.1:%u", port)),
    pooled (g_strdup_printf ("http://localhost:%u", port)),
    pooled (g_strdup_printf ("http://127.0.0.1:%u.evil.example", port)),
  };

  for (guint i = 0; i < G_N_ELEMENTS (origins); i++)
    {
      g_autoptr(MunityTestResponse) reg = NULL;
      g_autoptr(MunityTestResponse) login = NULL;
      g_autoptr(MunityTestResponse) patch = NULL;
      g_autoptr(MunityTestResponse) logout = NULL;
      const char *email = unique_email ("origin");

      g_test_message ("Origin: %s", origins[i]);
      reg = api (shared, plain, "POST", "/api/register",
                 reg_json (Q ("Eve"), Q ("Il"), Q (email), Q ("password1")),
                 "Origin", origins[i], NULL);
      assert_error (reg, 403, "forbidden-origin");
      g_assert_cmpuint (count_users (email), ==, 0);

      login = api (shared, plain, "POST", "/api/login", login_json (u->email, u->password),
                   "Origin", origins[i], NULL);
      assert_error (login, 403, "forbidden-origin");
      g_assert_null (munity_test_response_set_cookie (login, "munity_session"));

      patch = api (shared, u->browser, "PATCH", "/api/me", "{\"first\":\"Hacked\"}",
                   "Origin", origins[i], NULL);
      assert_error (patch, 403, "forbidden-origin");

      logout = raw (shared, u->browser, "POST", "/api/logout", NULL, NULL, 0,
                    "Origin", origins[i], NULL);
      assert_error (logout, 403, "forbidden-origin");
    }

  /* Nothing of that happened. */
  me = get_me (u);
  assert_status (me, 200);
  check_user (user_of (me), u->id, "Same", "Origin", u->email);
}

static void
test_origin_own (void)
{
  const char *own = munity_test_daemon_base_url (shared);
  g_autoptr(SoupSession) browser = munity_test_session_new (TRUE);
  g_autoptr(MunityTestResponse) reg = NULL;
  g_autoptr(MunityTestResponse) patch = NULL;
  g_autoptr(MunityTestResponse) evil_get = NULL;
  g_autoptr(MunityTestResponse) logout = NULL;
  const char *email = unique_email ("own");

  reg = api (shared, browser, "POST", "/api/register",
             reg_json (Q ("Home"), Q ("Sweet"), Q (email), Q ("password1")),
             "Origin", own, NULL);
  assert_status (reg, 201);

  patch = api (shared, browser, "PATCH", "/api/me", "{\"first\":\"Home2\"}", "Origin", own, NULL);
  assert_status (patch, 200);

  /* GET is not refused, whatever the Origin. */
  evil_get = api (shared, browser, "GET", "/api/me", NULL, "Origin", "http://evil.example", NULL);
  assert_status (evil_get, 200);

  logout = raw (shared, browser, "POST", "/api/logout", NULL, NULL, 0, "Origin", own, NULL);
  assert_status (logout, 204);
}

static void
test_origin_allowed (void)
{
  g_autofree char *dir = g_dir_make_tmp ("munity-conf-XXXXXX", NULL);
  g_autofree char *config = g_build_filename (dir, "munityd.conf", NULL);
  g_autoptr(GError) error = NULL;
  MunityTestDaemon *d;
  struct { const char *origin; guint status; } cases[] = {
    { "https://example.org", 201 },
    { NULL, 201 },
    { "http://evil.example", 403 },
    { "http://example.org", 403 },
    { "https://example.org.evil.example", 403 },
    { "https://sub.example.org", 403 },
  };

  /* the same daemon also checks cookie-secure */
  g_file_set_contents (config, "[munityd]\nallowed-origins=https://example.org;\ncookie-secure=true\n", -1, &error);
  g_assert_no_error (error);
  d = own_daemon ("origins", config);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;
      const char *email = unique_email ("allowed");
      const char *origin = cases[i].origin != NULL ? cases[i].origin
                                                   : munity_test_daemon_base_url (d);

      g_test_message ("Origin: %s", origin);
      resp = api (d, plain, "POST", "/api/register",
                  reg_json (Q ("Allowed"), Q ("Origin"), Q (email), Q ("password1")),
                  "Origin", origin, NULL);
      if (cases[i].status == 201)
        {
          g_autofree char *cookie = NULL;

          assert_status (resp, 201);
          cookie = munity_test_response_set_cookie (resp, "munity_session");
          g_assert_nonnull (cookie);
          g_assert_nonnull (strstr (cookie, "; Secure"));
        }
      else
        assert_error (resp, cases[i].status, "forbidden-origin");
    }

  stop_own_daemon (d);
  munity_test_rm_rf (dir);
}

/* ---- /api/me/avatar ---------------------------------------------------------- */

/* Tiny but complete images (2×2 PNG and JPEG made with gdk-pixbuf, 1×1 GIF
 * and lossless WebP). */
static const guint8 image_png[] = MUNITY_TEST_PNG_2X2;
static const guint8 image_jpeg[] = {
  0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01,
  0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43,
  0x00, 0x10, 0x0b, 0x0c, 0x0e, 0x0c, 0x0a, 0x10, 0x0e, 0x0d, 0x0e, 0x12,
  0x11, 0x10, 0x13, 0x18, 0x28, 0x1a, 0x18, 0x16, 0x16, 0x18, 0x31, 0x23,
  0x25, 0x1d, 0x28, 0x3a, 0x33, 0x3d, 0x3c, 0x39, 0x33, 0x38, 0x37, 0x40,
  0x48, 0x5c, 0x4e, 0x40, 0x44, 0x57, 0x45, 0x37, 0x38, 0x50, 0x6d, 0x51,
  0x57, 0x5f, 0x62, 0x67, 0x68, 0x67, 0x3e, 0x4d, 0x71, 0x79, 0x70, 0x64,
  0x78, 0x5c, 0x65, 0x67, 0x63, 0xff, 0xdb, 0x00, 0x43, 0x01, 0x11, 0x12,
  0x12, 0x18, 0x15, 0x18, 0x2f, 0x1a, 0x1a, 0x2f, 0x63, 0x42, 0x38, 0x42,
  0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63,
  0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63,
  0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63,
  0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63,
  0x63, 0x63, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x02, 0x00, 0x02, 0x03,
  0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xc4, 0x00,
  0x1f, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
  0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0xff, 0xc4, 0x00, 0xb5, 0x10, 0x00,
  0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00,
  0x00, 0x01, 0x7d, 0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21,
  0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81,
  0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24,
  0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25,
  0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a,
  0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56,
  0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
  0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86,
  0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
  0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3,
  0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6,
  0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9,
  0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1,
  0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xff, 0xc4, 0x00,
  0x1f, 0x01, 0x00, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
  0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
  0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0xff, 0xc4, 0x00, 0xb5, 0x11, 0x00,
  0x02, 0x01, 0x02, 0x04, 0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00,
  0x01, 0x02, 0x77, 0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31,
  0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08,
  0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15,
  0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18,
  0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39,
  0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55,
  0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
  0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84,
  0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
  0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa,
  0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4,
  0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7,
  0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea,
  0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xff, 0xda, 0x00,
  0x0c, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00, 0xcc,
  0xa2, 0x8a, 0x2b, 0xc7, 0x3e, 0x98, 0xff, 0xd9,
};
static const guint8 image_gif[] = {
  0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00,
  0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00,
  0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
  0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
};
static const guint8 image_webp[] = {
  0x52, 0x49, 0x46, 0x46, 0x1a, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50,
  0x56, 0x50, 0x38, 0x4c, 0x0d, 0x00, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x00,
  0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe, 0x07, 0x00,
};

static const char svg_image[] =
  "<?xml version=\"1.0\"?>\n"
  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1\" height=\"1\">"
  "<script>alert(1)</script><rect width=\"1\" height=\"1\"/></svg>\n";

static const char *
image_url_of (JsonObject *user)
{
  JsonNode *n = json_object_get_member (user, "imageUrl");

  g_assert_cmpstr (node_kind (n), ==, "string");
  return json_node_get_string (n);
}

static void
test_avatar_ok (void)
{
  struct { const guint8 *data; gsize len; const char *type; } images[] = {
    { image_png, sizeof image_png, "image/png" },
    { image_jpeg, sizeof image_jpeg, "image/jpeg" },
    { image_gif, sizeof image_gif, "image/gif" },
    { image_webp, sizeof image_webp, "image/webp" },
  };
  g_autoptr(TestUser) viewer = register_user ("Picture", "Viewer");

  for (guint i = 0; i < G_N_ELEMENTS (images); i++)
    {
      g_autoptr(TestUser) u = register_user ("Picture", "Owner");
      g_autoptr(MunityTestResponse) resp = NULL;
      g_autoptr(MunityTestResponse) picture = NULL;
      g_autoptr(MunityTestResponse) other = NULL;
      g_autofree char *path = g_strdup_printf ("/api/users/%" G_GINT64_FORMAT, u->id);
      const char *url;

      g_test_message ("uploading %s", images[i].type);
      resp = raw (shared, u->browser, "POST", "/api/me/avatar", images[i].type,
                  (const char *) images[i].data, images[i].len, NULL);
      assert_status (resp, 200);
      check_user (user_of (resp), u->id, "Picture", "Owner", u->email);
      url = image_url_of (user_of (resp));
      g_test_message ("imageUrl %s", url);
      /* A same-origin path. */
      g_assert_true (g_str_has_prefix (url, "/"));
      g_assert_false (g_str_has_prefix (url, "//"));

      /* Served without login. */
      picture = raw (shared, plain, "GET", url, NULL, NULL, 0, NULL);
      assert_status (picture, 200);
      g_assert_true (g_str_has_prefix (munity_test_response_content_type (picture), "image/"));
      g_assert_cmpstr (munity_test_response_content_type (picture), !=, "image/svg+xml");
      g_assert_cmpuint (g_bytes_get_size (picture->body), >, 0);

      other = api (shared, viewer->browser, "GET", path, NULL, NULL);
      assert_status (other, 200);
      g_assert_cmpstr (image_url_of (user_of (other)), ==, url);
    }
}

static void
test_avatar_bad_image (void)
{
  g_autoptr(TestUser) u = register_user ("Bad", "Picture");
  g_autoptr(MunityTestResponse) me = NULL;
  struct { const char *data; gsize len; const char *type; } bad[] = {
    { "hello, world", 12, "image/png" },
    { svg_image, sizeof svg_image - 1, "image/svg+xml" },
    { svg_image, sizeof svg_image - 1, "image/png" },
    { "", 0, "image/png" },
    { "<html><body>hi</body></html>", 28, "image/gif" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(MunityTestResponse) resp = NULL;

      g_test_message ("%s: %.20s", bad[i].type, bad[i].data);
      resp = raw (shared, u->browser, "POST", "/api/me/avatar", bad[i].type,
                  bad[i].data, bad[i].len, NULL);
      assert_error (resp, 400, "bad-image");
    }

  me = get_me (u);
  assert_status (me, 200);
  g_assert_cmpstr (node_kind (json_object_get_member (user_of (me), "imageUrl")), ==, "null");
}

static void
test_avatar_too_large (void)
{
  g_autoptr(TestUser) u = register_user ("Huge", "Picture");
  gsize size = 5 * 1024 * 1024 + 1;
  g_autofree char *body = g_malloc0 (size);
  g_autoptr(MunityTestResponse) resp = NULL;
  g_autoptr(MunityTestResponse) me = NULL;

  /* A PNG signature in front, so only the size is wrong. */
  memcpy (body, image_png, sizeof image_png);
  resp = raw (shared, u->browser, "POST", "/api/me/avatar", "image/png", body, size, NULL);
  assert_error (resp, 413, "payload-too-large");

  me = get_me (u);
  assert_status (me, 200);
  g_assert_cmpstr (node_kind (json_object_get_member (user_of (me), "imageUrl")), ==, "null");
}

static void
test_avatar_errors (void)
{
  g_autoptr(MunityTestResponse) resp = NULL;
  g_autoptr(TestUser) u = register_user ("Cross", "Origin");
  g_autoptr(MunityTestResponse) evil = NULL;
  g_autoptr(MunityTestResponse) get = NULL;

  resp = raw (shared, plain, "POST", "/api/me/avatar", "image/png",
              (const char *) image_png, sizeof image_png, NULL);
  assert_error (resp, 401, "not-logged-in");

  evil = raw (shared, u->browser, "POST", "/api/me/avatar", "image/png",
              (const char *) image_png, sizeof image_png, "Origin", "http://evil.example", NULL);
  assert_error (evil, 403, "forbidden-origin");

  get = api (shared, u->browser, "GET", "/api/me/avatar", NULL, NULL);
  assert_allows (get, "POST");
}

/* ---- /api/online ------------------------------------------------------------- */

typedef struct {
  SoupWebsocketConnection *conn;
  GError                  *error;
  gboolean                 done;
  guint                    messages;
} WsState;

static void
ws_connected_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  WsState *ws = user_data;

  ws->conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &ws->error);
  ws->done = TRUE;
}

static void
ws_message_cb (SoupWebsocketConnection *conn,
               int                      type,
               GBytes                  *message,
               gpointer                 user_data)
{
  WsState *ws = user_data;

  ws->messages++;
}

static gboolean
flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the default main context until @condition holds, for at most
 * @timeout_ms. */
static void
iterate_until (gboolean (*condition) (WsState *),
               WsState  *ws,
               guint     timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (timeout_ms, flag_cb, &timed_out);

  while (!condition (ws) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
}

static gboolean ws_done (WsState *ws) { return ws->done; }
static gboolean ws_has_message (WsState *ws) { return ws->messages > 0; }
static gboolean
ws_closed (WsState *ws)
{
  return soup_websocket_connection_get_state (ws->conn) == SOUP_WEBSOCKET_STATE_CLOSED;
}

static void
test_online (void)
{
  g_autoptr(TestUser) u = register_user ("Online", "Now");
  g_autoptr(TestUser) w = register_user ("Looking", "AtOnline");
  g_autoptr(MunityTestResponse) anonymous = NULL;
  g_autoptr(MunityTestResponse) resp = NULL;
  g_autofree char *url = munity_test_daemon_url (shared, "/ws");
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  WsState ws = { 0, };
  JsonNode *users;
  JsonArray *array;
  guint found = 0;

  anonymous = api (shared, plain, "GET", "/api/online", NULL, NULL);
  assert_error (anonymous, 401, "not-logged-in");

  /* u comes online with one socket; its first frame (onlineUsers) means the
   * server has counted it. */
  soup_session_websocket_connect_async (u->browser, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        ws_connected_cb, &ws);
  iterate_until (ws_done, &ws, 10000);
  g_assert_true (ws.done);
  g_assert_no_error (ws.error);
  g_signal_connect (ws.conn, "message", G_CALLBACK (ws_message_cb), &ws);
  iterate_until (ws_has_message, &ws, 10000);
  g_assert_cmpuint (ws.messages, >, 0);

  resp = api (shared, w->browser, "GET", "/api/online", NULL, NULL);
  assert_status (resp, 200);
  g_assert_nonnull (munity_test_response_object (resp));
  users = json_object_get_member (munity_test_response_object (resp), "users");
  g_assert_cmpstr (node_kind (users), ==, "array");
  array = json_node_get_array (users);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      JsonObject *user;

      g_assert_cmpstr (node_kind (node), ==, "object");
      user = json_node_get_object (node);
      g_assert_false (json_object_has_member (user, "email"));
      if (member_int (user, "id") == u->id)
        {
          found++;
          g_assert_cmpstr (member_string (user, "first"), ==, "Online");
          g_assert_cmpstr (member_string (user, "last"), ==, "Now");
          g_assert_true (json_object_has_member (user, "imageUrl"));
        }
    }
  g_assert_cmpuint (found, ==, 1);

  soup_websocket_connection_close (ws.conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  iterate_until (ws_closed, &ws, 10000);
  g_assert_true (ws_closed (&ws));
  g_clear_object (&ws.conn);
}

/* ---- /healthz, /metrics ----------------------------------------------------- */

static void
test_healthz (void)
{
  g_autoptr(MunityTestResponse) resp = api (shared, plain, "GET", "/healthz", NULL, NULL);
  JsonObject *root;

  assert_status (resp, 200);
  g_assert_cmpstr (munity_test_response_content_type (resp), ==, "application/json");
  root = munity_test_response_object (resp);
  g_assert_nonnull (root);
  g_assert_cmpstr (member_string (root, "status"), ==, "ok");
  g_assert_cmpstr (member_string (root, "database"), ==, "ok");
}

static gboolean
has_line_starting (const char *text,
                   const char *prefix,
                   const char *also)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], prefix) &&
        (also == NULL || strstr (lines[i], also) != NULL))
      return TRUE;
  return FALSE;
}

static void
test_metrics (void)
{
  g_autoptr(MunityTestResponse) missing = api (shared, plain, "GET", "/api/nope", NULL, NULL);
  g_autoptr(MunityTestResponse) resp = api (shared, plain, "GET", "/metrics", NULL, NULL);
  const char *type = soup_message_headers_get_one (resp->headers, "Content-Type");
  g_autoptr(GHashTable) params = NULL;
  const char *text;
  const char *names[] = { "munity_online_users", "munity_sockets", "munity_events_sent_total",
                          "munity_http_requests_total", "munity_database_up" };

  assert_error (missing, 404, "not-found");
  assert_status (resp, 200);
  g_test_message ("Content-Type: %s", type);
  g_assert_cmpstr (soup_message_headers_get_content_type (resp->headers, &params), ==, "text/plain");
  g_assert_nonnull (params);
  g_assert_cmpstr (g_hash_table_lookup (params, "version"), ==, "0.0.4");

  text = munity_test_response_text (resp);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_test_message ("metric %s", names[i]);
      g_assert_nonnull (strstr (text, names[i]));
    }
  g_assert_nonnull (strstr (text, "munity_http_requests_total{code="));
  g_assert_true (has_line_starting (text, "munity_http_requests_total{", "code=\"404\""));
  g_assert_true (has_line_starting (text, "munity_http_requests_total{", "code=\"200\""));
  g_assert_true (has_line_starting (text, "munity_database_up 1", NULL));
}

/* Runs last: the whole suite never saw a 5xx. */
static void
test_no_server_errors (void)
{
  GHashTableIter iter;
  gpointer key, value;
  g_autoptr(GString) seen = g_string_new (NULL);
  guint server_errors = 0;

  g_hash_table_iter_init (&iter, statuses);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      g_string_append_printf (seen, " %u:%u", GPOINTER_TO_UINT (key), GPOINTER_TO_UINT (value));
      if (GPOINTER_TO_UINT (key) >= 500)
        server_errors += GPOINTER_TO_UINT (value);
    }
  /* Alone (-p), this test has nothing to look at. */
  g_test_message ("statuses seen:%s", seen->str);
  g_assert_cmpuint (server_errors, ==, 0);
}

/* DELETE /api/me/avatar: the picture goes, from the row and the disk. */
static void
test_avatar_delete (void)
{
  g_autoptr(TestUser) u = register_user ("Picture", "Remover");
  g_autoptr(TestUser) viewer = register_user ("Picture", "Watcher");
  g_autoptr(MunityTestResponse) up = NULL;
  g_autoptr(MunityTestResponse) del = NULL;
  g_autoptr(MunityTestResponse) again = NULL;
  g_autoptr(MunityTestResponse) me = NULL;
  g_autoptr(MunityTestResponse) other = NULL;
  g_autoptr(MunityTestResponse) anonymous = NULL;
  g_autoptr(MunityTestResponse) foreign = NULL;
  g_autofree char *path = g_strdup_printf ("/api/users/%" G_GINT64_FORMAT, u->id);
  g_autofree char *url = NULL;
  guint status = 0;

  up = raw (shared, u->browser, "POST", "/api/me/avatar", "image/png",
            (const char *) image_png, sizeof image_png, NULL);
  assert_status (up, 200);
  url = g_strdup (image_url_of (user_of (up)));
  g_assert_nonnull (url);

  /* Not logged in; another origin. */
  anonymous = api (shared, plain, "DELETE", "/api/me/avatar", NULL, NULL);
  assert_error (anonymous, 401, "not-logged-in");
  foreign = api (shared, u->browser, "DELETE", "/api/me/avatar", NULL, "Origin", "http://evil.example", NULL);
  assert_error (foreign, 403, "forbidden-origin");
  me = get_me (u);
  g_assert_cmpstr (image_url_of (user_of (me)), ==, url);
  g_clear_pointer (&me, munity_test_response_free);

  del = api (shared, u->browser, "DELETE", "/api/me/avatar", NULL, NULL);
  assert_status (del, 200);
  check_user (user_of (del), u->id, "Picture", "Remover", u->email);
  g_assert_cmpstr (node_kind (json_object_get_member (user_of (del), "imageUrl")), ==, "null");

  me = get_me (u);
  g_assert_cmpstr (node_kind (json_object_get_member (user_of (me), "imageUrl")), ==, "null");
  other = api (shared, viewer->browser, "GET", path, NULL, NULL);
  g_assert_cmpstr (node_kind (json_object_get_member (user_of (other), "imageUrl")), ==, "null");

  /* The file is deleted (asynchronously, after the answer). */
  for (guint i = 0; i < 100; i++)
    {
      g_autoptr(MunityTestResponse) picture = raw (shared, plain, "GET", url, NULL, NULL, 0, NULL);

      status = picture->status;
      if (status == 404)
        break;
      g_usleep (50 * 1000);
    }
  g_assert_cmpuint (status, ==, 404);

  /* Removing no picture is no error. */
  again = api (shared, u->browser, "DELETE", "/api/me/avatar", NULL, NULL);
  assert_status (again, 200);
  g_assert_cmpstr (node_kind (json_object_get_member (user_of (again), "imageUrl")), ==, "null");
}

int
main (int    argc,
      char **argv)
{
  int ret;
  guint ms = 0;
  int status;

  /* Readable UTF-8 in the log (munityd's messages, names with accents). */
  setlocale (LC_ALL, "");
  g_test_init (&argc, &argv, NULL);

  pool = g_ptr_array_new_with_free_func (g_free);
  statuses = g_hash_table_new (NULL, NULL);

  pg = munity_test_pg_start ();
  {
    const char *args[] = { "--database", munity_test_pg_conninfo (pg), NULL };
    shared = munity_test_daemon_start (args);
  }
  plain = munity_test_session_new (FALSE);

  g_test_add_func ("/api/register/ok", test_register_ok);
  g_test_add_func ("/api/register/trimmed", test_register_trimmed);
  g_test_add_func ("/api/register/invalid-first", test_register_invalid_first);
  g_test_add_func ("/api/register/invalid-last", test_register_invalid_last);
  g_test_add_func ("/api/register/name-limits", test_register_name_limits);
  g_test_add_func ("/api/register/invalid-email", test_register_invalid_email);
  g_test_add_func ("/api/register/email-limits", test_register_email_limits);
  g_test_add_func ("/api/register/invalid-password", test_register_invalid_password);
  g_test_add_func ("/api/register/password-limits", test_register_password_limits);
  g_test_add_func ("/api/register/wrong-types", test_register_wrong_types);
  g_test_add_func ("/api/register/email-taken", test_register_email_taken);
  g_test_add_func ("/api/register/invalid-json", test_register_invalid_json);
  g_test_add_func ("/api/register/round-trip", test_register_round_trip);
  g_test_add_func ("/api/login/ok", test_login_ok);
  g_test_add_func ("/api/login/bad-credentials", test_login_bad_credentials);
  g_test_add_func ("/api/login/timing", test_login_timing);
  g_test_add_func ("/api/login/throttle-address", test_login_throttle_address);
  g_test_add_func ("/api/login/throttle-account", test_login_throttle_account);
  g_test_add_func ("/api/logout/ok", test_logout_ok);
  g_test_add_func ("/api/logout/without-session", test_logout_without_session);
  g_test_add_func ("/api/me/get", test_me_get);
  g_test_add_func ("/api/me/patch-fields", test_me_patch_fields);
  g_test_add_func ("/api/me/patch-empty", test_me_patch_empty);
  g_test_add_func ("/api/me/patch-bio", test_me_patch_bio);
  g_test_add_func ("/api/me/patch-invalid", test_me_patch_invalid);
  g_test_add_func ("/api/me/patch-anonymous", test_me_patch_anonymous);
  g_test_add_func ("/api/users/get", test_users_get);
  g_test_add_func ("/api/users/not-found", test_users_not_found);
  g_test_add_func ("/api/users/anonymous", test_users_anonymous);
  g_test_add_func ("/api/errors/not-found", test_not_found);
  g_test_add_func ("/api/errors/method-not-allowed", test_method_not_allowed);
  g_test_add_func ("/api/errors/unsupported-media-type", test_unsupported_media_type);
  g_test_add_func ("/api/errors/payload-too-large", test_payload_too_large);
  g_test_add_func ("/api/online/list", test_online);
  g_test_add_func ("/api/origin/forbidden", test_origin_forbidden);
  g_test_add_func ("/api/origin/own", test_origin_own);
  g_test_add_func ("/api/origin/allowed-origins", test_origin_allowed);
  g_test_add_func ("/api/service/healthz", test_healthz);
  g_test_add_func ("/api/service/metrics", test_metrics);
  g_test_add_func ("/api/avatar/ok", test_avatar_ok);
  g_test_add_func ("/api/avatar/bad-image", test_avatar_bad_image);
  g_test_add_func ("/api/avatar/too-large", test_avatar_too_large);
  g_test_add_func ("/api/avatar/errors", test_avatar_errors);
  g_test_add_func ("/api/avatar/delete", test_avatar_delete);
  /* A sub-suite added last runs last. */
  g_test_add_func ("/api/zz/no-server-errors", test_no_server_errors);

  ret = g_test_run ();

  g_clear_object (&plain);
  status = munity_test_daemon_stop (shared, &ms);
  if (status != 0)
    {
      g_printerr ("munityd exited with status %d after SIGTERM (%u ms)\n", status, ms);
      ret = 1;
    }
  g_clear_pointer (&shared, munity_test_daemon_free);
  g_clear_pointer (&pg, munity_test_pg_free);
  g_clear_pointer (&statuses, g_hash_table_unref);
  g_clear_pointer (&pool, g_ptr_array_unref);

  return ret;
}
