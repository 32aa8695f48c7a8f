/* test-tls-proxy.c — munityd over HTTPS, natively and behind nginx
 *
 * A certificate made here with openssl; munityd serving it itself
 * (--tls-certificate), and munityd behind Debian's nginx running the
 * shipped data/nginx/munity.conf (ports, upstream and certificate paths
 * rewritten for the test) with trusted-proxies=127.0.0.1. The clients are
 * libsoup's, over real TLS: HTTP requests and WebSockets.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "munity-test-daemon.h"

static char *tmp_dir;    /* (owned) */
static char *cert_path;  /* (owned) */
static char *key_path;   /* (owned) */

/* ---- main-loop waits ----------------------------------------------------- */

static gboolean
flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

#define WAIT_UNTIL(cond, timeout_ms)                                        \
  G_STMT_START {                                                            \
    gboolean expired_ = FALSE;                                              \
    guint id_ = g_timeout_add ((timeout_ms), flag_cb, &expired_);           \
    while (!(cond) && !expired_)                                            \
      g_main_context_iteration (NULL, TRUE);                                \
    if (!expired_)                                                          \
      g_source_remove (id_);                                                \
    g_assert_true (cond);                                                   \
  } G_STMT_END

/* ---- clients --------------------------------------------------------------- */

static gboolean
accept_any_certificate (SoupMessage          *msg,
                        GTlsCertificate      *certificate,
                        GTlsCertificateFlags  errors,
                        gpointer              user_data)
{
  return TRUE;
}

/* A browser-like session: cookies kept, the test's certificate accepted,
 * connecting from @local_ip (NULL: any). */
static SoupSession *
browser_new (const char *local_ip)
{
  g_autoptr(GInetSocketAddress) local = NULL;
  SoupSession *session;

  if (local_ip != NULL)
    local = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new_from_string (local_ip, 0));
  session = soup_session_new_with_options ("timeout", 30, "local-address", local, NULL);
  soup_session_set_proxy_resolver (session, NULL);
  soup_session_add_feature_by_type (session, SOUP_TYPE_COOKIE_JAR);
  return session;
}

typedef struct {
  guint   status;
  GBytes *body;
  char   *cookies;  /* Set-Cookie, all of them */
} Answer;

static void
answer_free (Answer *a)
{
  g_clear_pointer (&a->body, g_bytes_unref);
  g_free (a->cookies);
  g_free (a);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Answer, answer_free)

static Answer *
request (SoupSession *session,
         const char  *method,
         const char  *url,
         const char  *json,
         const char  *origin)
{
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  g_autoptr(GError) error = NULL;
  Answer *a = g_new0 (Answer, 1);
  GString *cookies = g_string_new (NULL);
  SoupMessageHeadersIter iter;
  const char *name, *value;

  g_assert_nonnull (msg);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_any_certificate), NULL);
  if (json != NULL)
    {
      g_autoptr(GBytes) body = g_bytes_new (json, strlen (json));
      soup_message_set_request_body_from_bytes (msg, "application/json", body);
    }
  if (origin != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "Origin", origin);

  a->body = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  a->status = soup_message_get_status (msg);
  soup_message_headers_iter_init (&iter, soup_message_get_response_headers (msg));
  while (soup_message_headers_iter_next (&iter, &name, &value))
    if (g_ascii_strcasecmp (name, "Set-Cookie") == 0)
      g_string_append_printf (cookies, "%s\n", value);
  a->cookies = g_string_free (cookies, FALSE);
  return a;
}

static char *
user_json (const char *tag,
           const char *password)
{
  static guint serial;

  return g_strdup_printf ("{\"first\":\"%s\",\"last\":\"Tls\",\"email\":\"%s%u-%d@example.org\",\"password\":\"%s\"}",
                          tag, tag, ++serial, getpid (), password);
}

static gint64
id_of (Answer *a)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *user;

  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (a->body, NULL), g_bytes_get_size (a->body), NULL));
  user = json_object_get_object_member (json_node_get_object (json_parser_get_root (parser)), "user");
  return json_object_get_int_member (user, "id");
}

/* ---- WebSockets -------------------------------------------------------------- */

typedef struct {
  SoupWebsocketConnection *conn;    /* (owned) (nullable) */
  gboolean                 failed;
  gboolean                 closed;
  GPtrArray               *events;  /* (owned) of char*, "event:id" */
} Ws;

static void
ws_free (Ws *ws)
{
  if (ws->conn != NULL && soup_websocket_connection_get_state (ws->conn) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (ws->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  g_clear_object (&ws->conn);
  g_ptr_array_unref (ws->events);
  g_free (ws);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Ws, ws_free)

static void
on_message (SoupWebsocketConnection *conn,
            gint                     type,
            GBytes                  *message,
            gpointer                 user_data)
{
  Ws *ws = user_data;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *frame;
  const char *event;
  JsonNode *data;

  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (message, NULL), g_bytes_get_size (message), NULL));
  frame = json_node_get_object (json_parser_get_root (parser));
  event = json_object_get_string_member (frame, "event");
  data = json_object_get_member (frame, "data");
  if (g_str_equal (event, "onlineUsers"))
    {
      JsonArray *users = json_node_get_array (data);
      for (guint i = 0; i < json_array_get_length (users); i++)
        g_ptr_array_add (ws->events, g_strdup_printf ("onlineUsers:%" G_GINT64_FORMAT,
                                                      json_object_get_int_member (json_array_get_object_element (users, i), "id")));
    }
  else
    g_ptr_array_add (ws->events, g_strdup_printf ("%s:%" G_GINT64_FORMAT, event,
                                                  json_object_get_int_member (json_node_get_object (data), "id")));
}

static void
on_closed (SoupWebsocketConnection *conn,
           gpointer                 user_data)
{
  ((Ws *) user_data)->closed = TRUE;
}

static void
ws_connected_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Ws *ws = user_data;
  g_autoptr(GError) error = NULL;

  ws->conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  if (ws->conn == NULL)
    {
      g_test_message ("WebSocket refused: %s", error->message);
      ws->failed = TRUE;
      return;
    }
  g_signal_connect (ws->conn, "message", G_CALLBACK (on_message), ws);
  g_signal_connect (ws->conn, "closed", G_CALLBACK (on_closed), ws);
}

static gboolean
has_event (Ws         *ws,
           const char *event,
           gint64      id)
{
  g_autofree char *want = g_strdup_printf ("%s:%" G_GINT64_FORMAT, event, id);

  for (guint i = 0; i < ws->events->len; i++)
    if (g_str_equal (ws->events->pdata[i], want))
      return TRUE;
  return FALSE;
}

/* Opens a WebSocket with @session's cookies and waits for it to be open. */
static Ws *
ws_open (SoupSession *session,
         const char  *url,
         const char  *origin)
{
  Ws *ws = g_new0 (Ws, 1);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);

  ws->events = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_any_certificate), NULL);
  soup_session_websocket_connect_async (session, msg, origin, NULL, G_PRIORITY_DEFAULT, NULL,
                                        ws_connected_cb, ws);
  WAIT_UNTIL (ws->conn != NULL || ws->failed, 10000);
  g_assert_false (ws->failed);
  return ws;
}

/* ---- nginx ------------------------------------------------------------------- */

typedef struct {
  GSubprocess *process;  /* (owned) */
  char        *prefix;   /* (owned) */
  guint16      https_port;
  guint16      http_port;
} Nginx;

static void
replace_once (GString    *text,
              const char *from,
              const char *to)
{
  /* The shipped file must still hold what the test rewrites: if it
   * changed, this test is told, not silently testing something else. */
  if (strstr (text->str, from) == NULL)
    g_error ("data/nginx/munity.conf no longer contains “%s”", from);
  g_string_replace (text, from, to, 0);
}

static gboolean
port_answers (guint16 port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;

  conn = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, NULL);
  return conn != NULL;
}

static Nginx *
nginx_start (guint16 munityd_port)
{
  Nginx *n = g_new0 (Nginx, 1);
  g_autofree char *site_path = NULL;
  g_autofree char *conf_path = NULL;
  g_autofree char *shipped = g_build_filename (g_getenv ("MUNITY_SOURCE_ROOT"), "data", "nginx", "munity.conf", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(GString) site = NULL;
  g_autofree char *conf = NULL;
  g_autofree char *upstream = g_strdup_printf ("server 127.0.0.1:%u;", munityd_port);
  g_autofree char *listen_https = NULL;
  g_autofree char *listen_http = NULL;
  g_autoptr(GError) error = NULL;
  const char *nginx = g_file_test ("/usr/sbin/nginx", G_FILE_TEST_IS_EXECUTABLE) ? "/usr/sbin/nginx" : "nginx";

  n->prefix = g_build_filename (tmp_dir, "nginx", NULL);
  g_assert_cmpint (g_mkdir_with_parents (n->prefix, 0700), ==, 0);
  n->https_port = munity_test_free_port ("127.0.0.1");
  n->http_port = munity_test_free_port ("127.0.0.1");
  listen_https = g_strdup_printf ("listen 127.0.0.1:%u ssl http2;", n->https_port);
  listen_http = g_strdup_printf ("listen 127.0.0.1:%u;", n->http_port);

  g_assert_true (g_file_get_contents (shipped, &contents, NULL, NULL));
  site = g_string_new (contents);
  replace_once (site, "server 127.0.0.1:8080;", upstream);
  replace_once (site, "listen 443 ssl http2;", listen_https);
  replace_once (site, "listen [::]:443 ssl http2;", "");
  replace_once (site, "listen 80;", listen_http);
  replace_once (site, "listen [::]:80;", "");
  replace_once (site, "/etc/ssl/munity/fullchain.pem", cert_path);
  replace_once (site, "/etc/ssl/munity/privkey.pem", key_path);
  site_path = g_build_filename (n->prefix, "munity.conf", NULL);
  g_assert_true (g_file_set_contents (site_path, site->str, -1, NULL));

  conf = g_strdup_printf ("%s"
                          "worker_processes 1;\n"
                          "pid %s/nginx.pid;\n"
                          "error_log %s/error.log;\n"
                          "events { worker_connections 512; }\n"
                          "http {\n"
                          "  access_log off;\n"
                          "  client_body_temp_path %s/body;\n"
                          "  proxy_temp_path %s/proxy;\n"
                          "  fastcgi_temp_path %s/fastcgi;\n"
                          "  uwsgi_temp_path %s/uwsgi;\n"
                          "  scgi_temp_path %s/scgi;\n"
                          "  include %s;\n"
                          "}\n",
                          geteuid () == 0 ? "user root;\n" : "",
                          n->prefix, n->prefix, n->prefix, n->prefix, n->prefix, n->prefix, n->prefix,
                          site_path);
  conf_path = g_build_filename (n->prefix, "nginx.conf", NULL);
  g_assert_true (g_file_set_contents (conf_path, conf, -1, NULL));

  n->process = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, nginx, "-p", n->prefix, "-c", conf_path,
                                 "-e", "stderr", "-g", "daemon off;", NULL);
  g_assert_no_error (error);

  for (int i = 0; i < 100 && !port_answers (n->https_port); i++)
    g_usleep (100 * 1000);
  g_assert_true (port_answers (n->https_port));
  return n;
}

static void
nginx_stop (Nginx *n)
{
  g_subprocess_send_signal (n->process, SIGQUIT);
  g_subprocess_wait (n->process, NULL, NULL);
  g_object_unref (n->process);
  munity_test_rm_rf (n->prefix);
  g_free (n->prefix);
  g_free (n);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Nginx, nginx_stop)

/* ---- the tests --------------------------------------------------------------- */

/* Register, log in, see each other live: the same flow for native TLS and
 * through nginx. */
static void
presence_flow (const char *base)
{
  g_autoptr(SoupSession) ada = browser_new (NULL);
  g_autoptr(SoupSession) bob = browser_new (NULL);
  g_autofree char *register_url = g_strconcat (base, "/api/register", NULL);
  g_autofree char *login_url = g_strconcat (base, "/api/login", NULL);
  g_autofree char *me_url = g_strconcat (base, "/api/me", NULL);
  g_autofree char *ws_url = g_strconcat (base, "/ws", NULL);
  g_autofree char *ada_json = user_json ("Ada", "correct horse");
  g_autofree char *bob_json = user_json ("Bob", "correct horse");
  g_autofree char *http_origin = NULL;
  g_autoptr(Answer) reg_ada = NULL;
  g_autoptr(Answer) reg_bob = NULL;
  g_autoptr(Answer) cross = NULL;
  g_autoptr(Answer) downgraded = NULL;
  g_autoptr(Answer) login = NULL;
  g_autoptr(Answer) me = NULL;
  g_autoptr(Ws) ws_ada = NULL;
  g_autoptr(Ws) ws_bob = NULL;
  gint64 ada_id, bob_id;

  /* The browser's own origin passes the Origin rule; another site's, or
   * the same host over plain http, does not. */
  cross = request (ada, "POST", register_url, ada_json, "https://evil.example");
  g_assert_cmpuint (cross->status, ==, 403);
  http_origin = g_strconcat ("http://", base + strlen ("https://"), NULL);
  downgraded = request (ada, "POST", register_url, ada_json, http_origin);
  g_assert_cmpuint (downgraded->status, ==, 403);

  reg_ada = request (ada, "POST", register_url, ada_json, base);
  g_assert_cmpuint (reg_ada->status, ==, 201);
  g_assert_nonnull (strstr (reg_ada->cookies, "munity_session="));
  g_assert_nonnull (strstr (reg_ada->cookies, "; Secure"));
  ada_id = id_of (reg_ada);

  login = request (ada, "POST", login_url, ada_json, base);
  g_assert_cmpuint (login->status, ==, 200);
  g_assert_nonnull (strstr (login->cookies, "; Secure"));
  me = request (ada, "GET", me_url, NULL, NULL);
  g_assert_cmpuint (me->status, ==, 200);

  reg_bob = request (bob, "POST", register_url, bob_json, base);
  g_assert_cmpuint (reg_bob->status, ==, 201);
  bob_id = id_of (reg_bob);

  ws_ada = ws_open (ada, ws_url, base);
  WAIT_UNTIL (has_event (ws_ada, "onlineUsers", ada_id), 10000);
  ws_bob = ws_open (bob, ws_url, base);
  WAIT_UNTIL (has_event (ws_bob, "onlineUsers", ada_id) && has_event (ws_bob, "onlineUsers", bob_id), 10000);
  WAIT_UNTIL (has_event (ws_ada, "userJoined", bob_id), 10000);

  soup_websocket_connection_close (ws_bob->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  WAIT_UNTIL (has_event (ws_ada, "userLeft", bob_id), 10000);
}

static void
test_native_tls (void)
{
  const char *args[] = { "--tls-certificate", cert_path, "--tls-key", key_path, "--leave-grace-ms", "0", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(MunityTestDaemon) d = munity_test_daemon_try_start (args, 60, &error);
  g_autofree char *base = NULL;

  if (d == NULL)
    g_error ("munityd with TLS did not start: %s", error->message);
  base = g_strdup_printf ("https://127.0.0.1:%u", munity_test_daemon_port (d));
  presence_flow (base);
}

static void
test_bad_certificate_exits_2 (void)
{
  g_autofree char *bad = g_build_filename (tmp_dir, "bad.pem", NULL);
  g_autofree char *missing = g_build_filename (tmp_dir, "missing.pem", NULL);
  const char *cases[][5] = {
    { "--tls-certificate", bad, "--tls-key", key_path, NULL },
    { "--tls-certificate", cert_path, "--tls-key", missing, NULL },
    { "--tls-certificate", cert_path, NULL, NULL, NULL },
    { "--tls-certificate", key_path, "--tls-key", cert_path, NULL },
  };

  g_assert_true (g_file_set_contents (bad, "-----BEGIN CERTIFICATE-----\nnot base64\n", -1, NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;
      int status = munity_test_munityd_run (cases[i], 20, &out, &err);

      g_assert_cmpint (status, ==, 2);
      g_assert_true (g_str_has_prefix (err, "munityd: "));
      g_assert_true (strstr (err, "TLS") != NULL || strstr (err, "tls") != NULL);
      /* one line */
      g_assert_cmpint (strchr (err, '\n') - err, ==, (gssize) strlen (err) - 1);
    }
}

static void
test_behind_nginx (void)
{
  const char *args[] = { "--trusted-proxy", "127.0.0.1", "--max-connections-per-address", "0",
                         "--leave-grace-ms", "0", NULL };
  g_autoptr(MunityTestDaemon) d = munity_test_daemon_start (args);
  g_autoptr(Nginx) nginx = nginx_start (munity_test_daemon_port (d));
  g_autofree char *base = g_strdup_printf ("https://127.0.0.1:%u", nginx->https_port);
  g_autofree char *plain = g_strdup_printf ("http://127.0.0.1:%u/api/online", nginx->http_port);
  g_autofree char *metrics = g_strconcat (base, "/metrics", NULL);
  g_autoptr(SoupSession) anyone = browser_new (NULL);
  g_autoptr(SoupMessage) redirect = soup_message_new ("GET", plain);
  g_autoptr(Answer) hidden = NULL;
  g_autoptr(GBytes) body = NULL;

  presence_flow (base);

  /* Plain HTTP is sent to HTTPS; /metrics is not public through nginx. */
  soup_message_add_flags (redirect, SOUP_MESSAGE_NO_REDIRECT);
  body = soup_session_send_and_read (anyone, redirect, NULL, NULL);
  g_assert_cmpuint (soup_message_get_status (redirect), ==, 301);
  hidden = request (anyone, "GET", metrics, NULL, NULL);
  g_assert_cmpuint (hidden->status, ==, 404);
}

/* Login throttling counts the client's address as nginx saw it, not
 * nginx's own: one client is throttled, another is not. */
static void
test_throttle_by_forwarded_address (void)
{
  const char *args[] = { "--trusted-proxy", "127.0.0.1", "--max-connections-per-address", "0", NULL };
  g_autoptr(MunityTestDaemon) d = munity_test_daemon_start (args);
  g_autoptr(Nginx) nginx = nginx_start (munity_test_daemon_port (d));
  g_autofree char *base = g_strdup_printf ("https://127.0.0.1:%u", nginx->https_port);
  g_autofree char *register_url = g_strconcat (base, "/api/register", NULL);
  g_autofree char *login_url = g_strconcat (base, "/api/login", NULL);
  g_autoptr(SoupSession) owner = browser_new (NULL);
  g_autofree char *json = user_json ("Cy", "correct horse");
  g_autoptr(Answer) reg = request (owner, "POST", register_url, json, NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *email = NULL;
  g_autofree char *wrong = NULL;

  g_assert_cmpuint (reg->status, ==, 201);
  g_assert_true (json_parser_load_from_data (parser, json, -1, NULL));
  email = g_strdup (json_object_get_string_member (json_node_get_object (json_parser_get_root (parser)), "email"));
  wrong = g_strdup_printf ("{\"email\":\"%s\",\"password\":\"wrong password\"}", email);

  for (int i = 0; i < 11; i++)
    {
      g_autoptr(SoupSession) guesser = browser_new ("127.0.0.2");
      g_autoptr(Answer) a = request (guesser, "POST", login_url, wrong, NULL);

      g_assert_cmpuint (a->status, ==, i < 10 ? 401 : 429);
    }

  {
    g_autoptr(SoupSession) other = browser_new ("127.0.0.3");
    g_autoptr(Answer) a = request (other, "POST", login_url, wrong, NULL);

    g_assert_cmpuint (a->status, ==, 401);
  }
}

int
main (int   argc,
      char *argv[])
{
  const char *openssl[] = { "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                            "-keyout", NULL, "-out", NULL, NULL };
  gint wait_status = 0;
  int status;

  g_test_init (&argc, &argv, NULL);

  tmp_dir = g_dir_make_tmp ("munity-tls-XXXXXX", NULL);
  cert_path = g_build_filename (tmp_dir, "cert.pem", NULL);
  key_path = g_build_filename (tmp_dir, "key.pem", NULL);
  openssl[13] = key_path;
  openssl[15] = cert_path;
  if (!g_spawn_sync (NULL, (char **) openssl, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, NULL, NULL, &wait_status, NULL) ||
      !g_spawn_check_wait_status (wait_status, NULL))
    g_error ("openssl could not make a test certificate");

  g_test_add_func ("/tls/native/presence", test_native_tls);
  g_test_add_func ("/tls/native/bad-certificate-exits-2", test_bad_certificate_exits_2);
  g_test_add_func ("/tls/nginx/presence", test_behind_nginx);
  g_test_add_func ("/tls/nginx/throttle-by-forwarded-address", test_throttle_by_forwarded_address);

  status = g_test_run ();
  munity_test_rm_rf (tmp_dir);
  return status;
}
