/* test-static-serve.c — MunityStatic answering real HTTP requests
 *
 * A SoupServer on loopback serves a temporary build directory through
 * munity_static_serve(); the requests are written by hand over TCP (from a
 * thread, so the server's main loop keeps running) so that paths such as
 * `/../etc/passwd` reach the server exactly as written.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "munity-static.h"

#define INDEX_HTML "<!doctype html><html><head><script type=\"module\" src=\"/assets/app-3f9a.js\"></script></head></html>\n"
#define APP_JS "console.log('munity');\n"

typedef struct {
  char         *root;      /* (owned) the build directory */
  char         *outside;   /* (owned) a directory beside it, with a secret */
  SoupServer   *server;    /* (owned) */
  MunityStatic *web;       /* (owned) */
  guint16       port;
} Fixture;

typedef struct {
  int      status;
  char    *head;   /* (owned) status line and headers */
  char    *body;   /* (owned) */
  gsize    body_length;
} Response;

static void
response_free (Response *response)
{
  g_free (response->head);
  g_free (response->body);
  g_free (response);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Response, response_free)

/* The value of a response header, or NULL. */
static char *
response_header (Response   *response,
                 const char *name)
{
  g_auto(GStrv) lines = g_strsplit (response->head, "\r\n", -1);

  for (guint i = 1; lines[i] != NULL; i++)
    {
      const char *colon = strchr (lines[i], ':');

      if (colon != NULL && (gsize) (colon - lines[i]) == strlen (name) &&
          g_ascii_strncasecmp (lines[i], name, strlen (name)) == 0)
        return g_strstrip (g_strdup (colon + 1));
    }
  return NULL;
}

static void
handler (SoupServer        *server,
         SoupServerMessage *msg,
         const char        *path,
         GHashTable        *query,
         gpointer           user_data)
{
  Fixture *fixture = user_data;

  if (!munity_static_serve (fixture->web, msg, path))
    {
      /* What the HTTP server would do with a path that is not the client's. */
      soup_server_message_set_status (msg, 418, NULL);
      soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "caller", 6);
    }
}

typedef struct {
  guint16  port;
  char    *request;   /* (owned) */
  GString *reply;     /* (owned) */
  gboolean done;
} RawRequest;

static gpointer
raw_request_thread (gpointer user_data)
{
  RawRequest *raw = user_data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  char buffer[4096];
  gssize n;

  connection = g_socket_client_connect_to_host (client, "127.0.0.1", raw->port, NULL, &error);
  g_assert_no_error (error);
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)),
                             raw->request, strlen (raw->request), NULL, NULL, &error);
  g_assert_no_error (error);
  while ((n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                                   buffer, sizeof buffer, NULL, &error)) > 0)
    g_string_append_len (raw->reply, buffer, n);
  g_assert_no_error (error);

  g_atomic_int_set (&raw->done, TRUE);
  g_main_context_wakeup (NULL);
  return NULL;
}

/* Sends "METHOD TARGET HTTP/1.1" with @extra_headers ("Name: value\r\n"...)
 * and returns the parsed answer. */
static Response *
request (Fixture    *fixture,
         const char *method,
         const char *target,
         const char *extra_headers)
{
  RawRequest raw = { 0 };
  GThread *thread;
  Response *response = g_new0 (Response, 1);
  const char *end;

  raw.port = fixture->port;
  raw.request = g_strdup_printf ("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n%s\r\n",
                                 method, target, fixture->port, extra_headers ? extra_headers : "");
  raw.reply = g_string_new (NULL);
  thread = g_thread_new ("raw-request", raw_request_thread, &raw);
  while (!g_atomic_int_get (&raw.done))
    g_main_context_iteration (NULL, TRUE);
  g_thread_join (thread);

  end = strstr (raw.reply->str, "\r\n\r\n");
  g_assert_nonnull (end);
  response->head = g_strndup (raw.reply->str, end - raw.reply->str);
  response->body_length = raw.reply->len - (end + 4 - raw.reply->str);
  response->body = g_strndup (end + 4, response->body_length);
  g_assert_true (g_str_has_prefix (response->head, "HTTP/1.1 "));
  response->status = atoi (response->head + strlen ("HTTP/1.1 "));

  g_free (raw.request);
  g_string_free (raw.reply, TRUE);
  return response;
}

static Response *
get (Fixture    *fixture,
     const char *target)
{
  return request (fixture, "GET", target, NULL);
}

static void
assert_header (Response   *response,
               const char *name,
               const char *expected)
{
  g_autofree char *value = response_header (response, name);

  g_assert_cmpstr (value, ==, expected);
}

static void
write_file (const char *dir,
            const char *relpath,
            const char *contents)
{
  g_autofree char *path = g_build_filename (dir, relpath, NULL);
  g_autofree char *parent = g_path_get_dirname (path);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *base = g_dir_make_tmp ("munity-static-XXXXXX", &error);
  g_autofree char *link = NULL;
  g_autofree char *secret = NULL;
  g_autoslist(GUri) uris = NULL;
  gboolean build_missing = GPOINTER_TO_INT (data);

  g_assert_no_error (error);
  fixture->root = g_build_filename (base, "dist", NULL);
  fixture->outside = g_strdup (base);

  write_file (fixture->outside, "secret.txt", "top secret\n");
  if (!build_missing)
    {
      write_file (fixture->root, "index.html", INDEX_HTML);
      write_file (fixture->root, "assets/app-3f9a.js", APP_JS);
      write_file (fixture->root, "assets/style-3f9a.css", "body{}\n");
      write_file (fixture->root, "favicon.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
      write_file (fixture->root, "assets/dir.js/inner.txt", "a directory named like a file\n");
      /* Symbolic links out of the root must not be followed. */
      secret = g_build_filename (fixture->outside, "secret.txt", NULL);
      link = g_build_filename (fixture->root, "assets", "evil.js", NULL);
      g_assert_cmpint (symlink (secret, link), ==, 0);
      g_clear_pointer (&link, g_free);
      link = g_build_filename (fixture->root, "up", NULL);
      g_assert_cmpint (symlink ("..", link), ==, 0);
      g_clear_pointer (&link, g_free);
      /* A link that stays inside is fine. */
      link = g_build_filename (fixture->root, "assets", "alias-3f9a.js", NULL);
      g_assert_cmpint (symlink ("app-3f9a.js", link), ==, 0);
    }

  fixture->web = munity_static_new (fixture->root);
  fixture->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (fixture->server, NULL, handler, fixture, NULL);
  soup_server_listen_local (fixture->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (fixture->server);
  fixture->port = g_uri_get_port (uris->data);
}

static gboolean
remove_tree (GFile    *file,
             GError  **error)
{
  g_autoptr(GFileEnumerator) children = NULL;

  children = g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                        G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  if (children != NULL)
    {
      GFileInfo *info;
      while ((info = g_file_enumerator_next_file (children, NULL, NULL)) != NULL)
        {
          g_autoptr(GFile) child = g_file_get_child (file, g_file_info_get_name (info));
          g_autoptr(GFileInfo) owned = info;
          remove_tree (child, NULL);
        }
    }
  return g_file_delete (file, NULL, error);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GFile) base = g_file_new_for_path (fixture->outside);
  MunityStatic *weak = fixture->web;

  soup_server_disconnect (fixture->server);
  g_clear_object (&fixture->server);
  g_object_add_weak_pointer (G_OBJECT (fixture->web), (gpointer *) &weak);
  g_clear_object (&fixture->web);
  /* No request is in flight any more: nothing keeps it alive. */
  g_assert_null (weak);
  remove_tree (base, NULL);
  g_free (fixture->root);
  g_free (fixture->outside);
}

static void
test_index (Fixture       *fixture,
            gconstpointer  data)
{
  const char * const targets[] = { "/", "/index.html", "/online", "/login", "/register", "/profile",
                                   "/users/42", "/online/" };

  for (gsize i = 0; i < G_N_ELEMENTS (targets); i++)
    {
      g_autoptr(Response) response = get (fixture, targets[i]);

      g_test_message ("GET %s", targets[i]);
      g_assert_cmpint (response->status, ==, 200);
      g_assert_cmpstr (response->body, ==, INDEX_HTML);
      assert_header (response, "Content-Type", "text/html; charset=utf-8");
      assert_header (response, "Cache-Control", "no-cache");
      assert_header (response, "X-Content-Type-Options", "nosniff");
      assert_header (response, "Content-Security-Policy", MUNITY_STATIC_CSP);
    }
}

static void
test_assets (Fixture       *fixture,
             gconstpointer  data)
{
  /* Twice: the second answer comes from the cache. */
  for (int i = 0; i < 2; i++)
    {
      g_autoptr(Response) js = get (fixture, "/assets/app-3f9a.js");
      g_autoptr(Response) css = get (fixture, "/assets/style-3f9a.css");
      g_autofree char *csp = NULL;

      g_assert_cmpint (js->status, ==, 200);
      g_assert_cmpstr (js->body, ==, APP_JS);
      assert_header (js, "Content-Type", "text/javascript; charset=utf-8");
      assert_header (js, "Cache-Control", "public, max-age=31536000, immutable");
      assert_header (js, "X-Content-Type-Options", "nosniff");
      csp = response_header (js, "Content-Security-Policy");
      g_assert_null (csp);

      g_assert_cmpint (css->status, ==, 200);
      assert_header (css, "Content-Type", "text/css; charset=utf-8");
    }

  {
    g_autoptr(Response) svg = get (fixture, "/favicon.svg");
    g_assert_cmpint (svg->status, ==, 200);
    assert_header (svg, "Content-Type", "image/svg+xml");
    assert_header (svg, "Cache-Control", "no-cache");
  }
  {
    g_autoptr(Response) alias = get (fixture, "/assets/alias-3f9a.js");
    g_assert_cmpint (alias->status, ==, 200);
    g_assert_cmpstr (alias->body, ==, APP_JS);
  }
}

static void
test_head (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(Response) response = request (fixture, "HEAD", "/assets/app-3f9a.js", NULL);
  g_autofree char *length = g_strdup_printf ("%zu", strlen (APP_JS));

  g_assert_cmpint (response->status, ==, 200);
  g_assert_cmpuint (response->body_length, ==, 0);
  assert_header (response, "Content-Length", length);
  assert_header (response, "Content-Type", "text/javascript; charset=utf-8");
}

static void
test_not_found (Fixture       *fixture,
                gconstpointer  data)
{
  const char * const targets[] = {
    "/assets/missing-3f9a.js",
    "/missing.png",
    "/assets/evil.js",          /* symbolic link out of the root */
    "/up/secret.txt",           /* through a link to the parent */
    "/assets/dir.js",           /* a directory */
    "/../secret.txt",
    "/assets/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/..%2fsecret.txt",
    "/.%2e/secret.txt",
    "/a//b.js",
    "/x%00.js",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (targets); i++)
    {
      g_autoptr(Response) response = get (fixture, targets[i]);
      g_autoptr(JsonNode) node = NULL;

      g_test_message ("GET %s: %d", targets[i], response->status);
      g_assert_null (strstr (response->body, "secret"));
      /* libsoup itself refuses some of these (an escaped "/") with 400. */
      if (response->status == 400)
        continue;
      g_assert_cmpint (response->status, ==, 404);
      assert_header (response, "Content-Type", "application/json");
      assert_header (response, "X-Content-Type-Options", "nosniff");
      node = json_from_string (response->body, NULL);
      g_assert_nonnull (node);
      g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (json_node_get_object (node), "error"), "code"),
                       ==, "not-found");
    }
}

static void
test_not_mine (Fixture       *fixture,
               gconstpointer  data)
{
  const char * const targets[] = { "/api/me", "/api/nope", "/ws", "/healthz", "/metrics", "/avatars/1-ab.webp" };

  for (gsize i = 0; i < G_N_ELEMENTS (targets); i++)
    {
      g_autoptr(Response) response = get (fixture, targets[i]);

      g_assert_cmpint (response->status, ==, 418);
      g_assert_cmpstr (response->body, ==, "caller");
    }
}

static void
test_methods (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(Response) post = request (fixture, "POST", "/online", "Content-Length: 0\r\n");
  g_autoptr(Response) options = request (fixture, "OPTIONS", "/", NULL);

  g_assert_cmpint (post->status, ==, 405);
  assert_header (post, "Allow", "GET, HEAD, OPTIONS");
  g_assert_nonnull (strstr (post->body, "\"method-not-allowed\""));
  g_assert_cmpint (options->status, ==, 204);
  assert_header (options, "Allow", "GET, HEAD, OPTIONS");
}

static void
test_etag (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(Response) first = get (fixture, "/online");
  g_autofree char *etag = response_header (first, "ETag");
  g_autofree char *if_none_match = NULL;
  g_autoptr(Response) again = NULL;

  g_assert_nonnull (etag);
  if_none_match = g_strdup_printf ("If-None-Match: %s\r\n", etag);
  again = request (fixture, "GET", "/online", if_none_match);
  g_assert_cmpint (again->status, ==, 304);
  g_assert_cmpuint (again->body_length, ==, 0);
  assert_header (again, "Cache-Control", "no-cache");
}

static void
test_build_missing (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(Response) root = get (fixture, "/");
  g_autoptr(Response) route = get (fixture, "/online");
  g_autoptr(Response) asset = get (fixture, "/assets/app-3f9a.js");
  g_autoptr(Response) api = get (fixture, "/api/me");

  g_assert_cmpint (root->status, ==, 200);
  assert_header (root, "Content-Type", "text/html; charset=utf-8");
  assert_header (root, "Content-Security-Policy", MUNITY_STATIC_CSP);
  g_assert_nonnull (strstr (root->body, "cd src/web &amp;&amp; npm ci &amp;&amp; npm run build"));
  g_assert_nonnull (strstr (root->body, "./run.sh"));
  g_assert_cmpint (route->status, ==, 200);
  g_assert_cmpint (asset->status, ==, 404);
  g_assert_cmpint (api->status, ==, 418);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, missing) \
  g_test_add (path, Fixture, GINT_TO_POINTER (missing), fixture_set_up, func, fixture_tear_down)
  ADD ("/static-serve/index-and-client-routes", test_index, FALSE);
  ADD ("/static-serve/assets", test_assets, FALSE);
  ADD ("/static-serve/head", test_head, FALSE);
  ADD ("/static-serve/not-found-and-traversal", test_not_found, FALSE);
  ADD ("/static-serve/not-mine", test_not_mine, FALSE);
  ADD ("/static-serve/methods", test_methods, FALSE);
  ADD ("/static-serve/etag", test_etag, FALSE);
  ADD ("/static-serve/build-missing", test_build_missing, TRUE);
#undef ADD

  return g_test_run ();
}
