/* test-static.c — what the web client's file server decides, without I/O
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib.h>

#include "munity-http-routes.h"
#include "munity-static.h"

static void
assert_route (const char        *path,
              MunityStaticRoute  expected,
              const char        *expected_relpath)
{
  g_autofree char *relpath = NULL;
  MunityStaticRoute route = munity_static_route (path, &relpath);

  if (route != expected)
    g_error ("munity_static_route (\"%s\") = %d, expected %d", path, route, expected);
  g_assert_cmpstr (relpath, ==, expected_relpath);
}

static void
test_route_client_routes (void)
{
  /* Every client route gets index.html: the app decides what it shows. */
  assert_route ("/", MUNITY_STATIC_ROUTE_INDEX, "index.html");
  assert_route ("/online", MUNITY_STATIC_ROUTE_INDEX, "index.html");
  assert_route ("/online/", MUNITY_STATIC_ROUTE_INDEX, "index.html");
  assert_route ("/login", MUNITY_STATIC_ROUTE_INDEX, "index.html");
  assert_route ("/register", MUNITY_STATIC_ROUTE_INDEX, "index.html");
  assert_route ("/profile", MUNITY_STATIC_ROUTE_INDEX, "index.html");
  assert_route ("/users/42", MUNITY_STATIC_ROUTE_INDEX, "index.html");
  assert_route ("/users/abc", MUNITY_STATIC_ROUTE_INDEX, "index.html");
  assert_route ("/no/such/screen", MUNITY_STATIC_ROUTE_INDEX, "index.html");
  assert_route ("/index.html", MUNITY_STATIC_ROUTE_INDEX, "index.html");
  /* Only whole segments are reserved. */
  assert_route ("/apiary", MUNITY_STATIC_ROUTE_INDEX, "index.html");
  assert_route ("/wsx", MUNITY_STATIC_ROUTE_INDEX, "index.html");
  assert_route ("/metricsboard", MUNITY_STATIC_ROUTE_INDEX, "index.html");
}

static void
test_route_files (void)
{
  assert_route ("/assets/index-3f9aB_c.js", MUNITY_STATIC_ROUTE_FILE, "assets/index-3f9aB_c.js");
  assert_route ("/assets/style-lHr-Ca9h.css", MUNITY_STATIC_ROUTE_FILE, "assets/style-lHr-Ca9h.css");
  assert_route ("/favicon.svg", MUNITY_STATIC_ROUTE_FILE, "favicon.svg");
  assert_route ("/robots.txt", MUNITY_STATIC_ROUTE_FILE, "robots.txt");
  /* Escapes are decoded: the file is named by the decoded path. */
  assert_route ("/assets/a%20b.png", MUNITY_STATIC_ROUTE_FILE, "assets/a b.png");
  assert_route ("/assets/caf%C3%A9.png", MUNITY_STATIC_ROUTE_FILE, "assets/café.png");
}

static void
test_route_not_mine (void)
{
  const char * const paths[] = {
    "/api", "/api/", "/api/me", "/api/users/42", "/api/nope.json",
    "/ws", "/ws/", "/healthz", "/metrics",
    "/avatars", "/avatars/", "/avatars/42-3f9a.webp",
    /* decoded too */
    "/%61pi/me", "/%77s",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++)
    assert_route (paths[i], MUNITY_STATIC_ROUTE_NOT_MINE, NULL);
}

/* The API's part of the URL space comes from its route table
 * (munity-http-routes.c): whole first segments of its routes. */
static void
test_reserved_from_route_table (void)
{
  const char * const reserved[] = {
    "/api", "/api/", "/api/register", "/api/anything/else", "/ws", "/ws/x",
    "/healthz", "/healthz/", "/metrics", "/metrics/x", "/avatars", "/avatars/1-a.png",
  };
  const char * const not_reserved[] = {
    "/", "//api", "/apiary", "/wsx", "/healthzz", "/avatar", "/online", "/assets/api",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (reserved); i++)
    g_assert_true (munity_http_path_is_reserved (reserved[i]));
  for (gsize i = 0; i < G_N_ELEMENTS (not_reserved); i++)
    g_assert_false (munity_http_path_is_reserved (not_reserved[i]));
}

static void
test_route_traversal_refused (void)
{
  const char * const paths[] = {
    "/..",
    "/../etc/passwd",
    "/assets/../../etc/passwd",
    "/assets/../index.html",
    "/./index.html",
    "/%2e%2e/etc/passwd",
    "/%2E%2E/%2E%2E/etc/passwd",
    "/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/..%2fetc%2fpasswd",
    "/assets%2findex.js",
    "/a//b.js",
    "//etc/passwd",
    "/.git/config",
    "/.env",
    "/assets/.hidden.js",
    "/x%00.js",
    "/x%00",
    "/a\\..\\b.js",
    "/%5c..%5cb.js",
    "/a%0ab.js",
    "/%zz.js",
    "/%",
    "relative.js",
    "",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++)
    assert_route (paths[i], MUNITY_STATIC_ROUTE_NOT_FOUND, NULL);

  assert_route (NULL, MUNITY_STATIC_ROUTE_NOT_FOUND, NULL);
  /* out_relpath is optional */
  g_assert_cmpint (munity_static_route ("/online", NULL), ==, MUNITY_STATIC_ROUTE_INDEX);
}

static void
test_content_types (void)
{
  static const struct { const char *path; const char *type; } cases[] = {
    { "index.html", "text/html; charset=utf-8" },
    { "assets/index-3f9a.js", "text/javascript; charset=utf-8" },
    { "assets/worker.mjs", "text/javascript; charset=utf-8" },
    { "assets/style-3f9a.css", "text/css; charset=utf-8" },
    { "favicon.svg", "image/svg+xml" },
    { "assets/logo.png", "image/png" },
    { "assets/photo.jpg", "image/jpeg" },
    { "assets/photo.JPEG", "image/jpeg" },
    { "assets/photo.webp", "image/webp" },
    { "assets/anim.gif", "image/gif" },
    { "favicon.ico", "image/x-icon" },
    { "manifest.json", "application/json" },
    { "assets/font.woff2", "font/woff2" },
    { "assets/index-3f9a.js.map", "application/json" },
    { "robots.txt", "text/plain; charset=utf-8" },
    { "INDEX.HTML", "text/html; charset=utf-8" },
    /* unknown or no extension: never sniffed (nosniff), never HTML */
    { "assets/thing.exe", "application/octet-stream" },
    { "assets/README", "application/octet-stream" },
    { "assets.d/noext", "application/octet-stream" },
    { ".htaccess", "application/octet-stream" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpstr (munity_static_content_type (cases[i].path), ==, cases[i].type);

  g_assert_true (munity_static_is_html ("index.html"));
  g_assert_false (munity_static_is_html ("assets/index.js"));
  g_assert_false (munity_static_is_html ("favicon.svg"));
}

static void
test_cache_control (void)
{
  g_assert_cmpstr (munity_static_cache_control ("assets/index-3f9a.js"), ==, "public, max-age=31536000, immutable");
  g_assert_cmpstr (munity_static_cache_control ("assets/style-3f9a.css"), ==, "public, max-age=31536000, immutable");
  g_assert_cmpstr (munity_static_cache_control ("index.html"), ==, "no-cache");
  g_assert_cmpstr (munity_static_cache_control ("favicon.svg"), ==, "no-cache");
  g_assert_cmpstr (munity_static_cache_control ("assetsx/a.js"), ==, "no-cache");
}

static void
test_path_is_under (void)
{
  g_assert_true (munity_static_path_is_under ("/srv/web/index.html", "/srv/web"));
  g_assert_true (munity_static_path_is_under ("/srv/web/assets/a.js", "/srv/web"));
  g_assert_true (munity_static_path_is_under ("/srv/web/index.html", "/srv/web/"));
  g_assert_false (munity_static_path_is_under ("/srv/web", "/srv/web"));
  g_assert_false (munity_static_path_is_under ("/srv/web/", "/srv/web"));
  g_assert_false (munity_static_path_is_under ("/srv/webx/index.html", "/srv/web"));
  g_assert_false (munity_static_path_is_under ("/etc/passwd", "/srv/web"));
  g_assert_false (munity_static_path_is_under ("/srv", "/srv/web"));
}

static void
test_csp (void)
{
  /* The policy of doc/protocol.md §6, to the letter. */
  g_assert_cmpstr (MUNITY_STATIC_CSP, ==,
                   "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                   "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
}

static void
test_default_root (void)
{
  g_autofree char *root = NULL;

  g_setenv ("MUNITY_WEB_DIR", "/somewhere/dist", TRUE);
  root = munity_static_default_root ();
  g_assert_cmpstr (root, ==, "/somewhere/dist");
  g_clear_pointer (&root, g_free);

  g_unsetenv ("MUNITY_WEB_DIR");
  root = munity_static_default_root ();
  g_assert_true (g_str_equal (root, MUNITY_WEBDIR) || g_str_equal (root, MUNITY_SOURCE_WEBDIR));
}

static void
test_object (void)
{
  g_autoptr(MunityStatic) web = munity_static_new ("/nonexistent/dist");
  MunityStatic *weak = web;

  g_object_add_weak_pointer (G_OBJECT (web), (gpointer *) &weak);
  g_assert_cmpstr (munity_static_get_root (web), ==, "/nonexistent/dist");
  g_clear_object (&web);
  g_assert_null (weak);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/static/route/client-routes", test_route_client_routes);
  g_test_add_func ("/static/route/files", test_route_files);
  g_test_add_func ("/static/route/not-mine", test_route_not_mine);
  g_test_add_func ("/static/route/reserved-from-route-table", test_reserved_from_route_table);
  g_test_add_func ("/static/route/traversal-refused", test_route_traversal_refused);
  g_test_add_func ("/static/content-types", test_content_types);
  g_test_add_func ("/static/cache-control", test_cache_control);
  g_test_add_func ("/static/path-is-under", test_path_is_under);
  g_test_add_func ("/static/csp", test_csp);
  g_test_add_func ("/static/default-root", test_default_root);
  g_test_add_func ("/static/object", test_object);

  return g_test_run ();
}
