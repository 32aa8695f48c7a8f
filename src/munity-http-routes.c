/* munity-http-routes.c — the route table of the HTTP API, the one list of its paths
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "munity-http-private.h"
#include "munity-http-routes.h"

/* Every path munityd answers itself; everything else is the web client's
 * (munity-static.c asks munity_http_path_is_reserved()). */
static const MunityHttpRoute routes[] = {
  { "/api/register", FALSE, "POST, OPTIONS", { { "POST", munity_http_handle_register, MUNITY_HTTP_ROUTE_JSON } } },
  { "/api/login", FALSE, "POST, OPTIONS", { { "POST", munity_http_handle_login, MUNITY_HTTP_ROUTE_JSON } } },
  { "/api/logout", FALSE, "POST, OPTIONS", { { "POST", munity_http_handle_logout, 0 } } },
  { "/api/me", FALSE, "GET, HEAD, PATCH, OPTIONS", {
      { "GET", munity_http_handle_me_get, MUNITY_HTTP_ROUTE_AUTH },
      { "PATCH", munity_http_handle_me_patch, MUNITY_HTTP_ROUTE_AUTH | MUNITY_HTTP_ROUTE_JSON } } },
  { "/api/users/", TRUE, "GET, HEAD, OPTIONS", { { "GET", munity_http_handle_user_get, MUNITY_HTTP_ROUTE_AUTH } } },
  { "/api/online", FALSE, "GET, HEAD, OPTIONS", { { "GET", munity_http_handle_online, MUNITY_HTTP_ROUTE_AUTH } } },
  { "/api/me/avatar", FALSE, "POST, DELETE, OPTIONS", {
      { "POST", munity_http_handle_avatar_post, MUNITY_HTTP_ROUTE_AUTH | MUNITY_HTTP_ROUTE_IMAGE },
      { "DELETE", munity_http_handle_avatar_delete, MUNITY_HTTP_ROUTE_AUTH } } },
  { "/avatars/", TRUE, "GET, HEAD, OPTIONS", { { "GET", munity_http_handle_avatar_get, 0 } } },
  { "/ws", FALSE, "GET, OPTIONS", { { "GET", NULL, 0 } } },
  { "/healthz", FALSE, "GET, HEAD, OPTIONS", { { "GET", munity_http_handle_healthz, 0 } } },
  { "/metrics", FALSE, "GET, HEAD, OPTIONS", { { "GET", munity_http_handle_metrics, 0 } } },
};

/**
 * munity_http_route_find:
 * @path: the request path
 *
 * A prefix route takes one more segment (`/api/users/42`, not
 * `/api/users/` nor `/api/users/42/x`).
 *
 * Returns: (nullable): the route of @path, or %NULL
 */
const MunityHttpRoute *
munity_http_route_find (const char *path)
{
  for (gsize i = 0; i < G_N_ELEMENTS (routes); i++)
    {
      if (routes[i].is_prefix
          ? g_str_has_prefix (path, routes[i].path) && path[strlen (routes[i].path)] != '\0' &&
            strchr (path + strlen (routes[i].path), '/') == NULL
          : g_str_equal (path, routes[i].path))
        return &routes[i];
    }
  return NULL;
}

/**
 * munity_http_route_find_method:
 * @route: a route
 * @method: the request method
 *
 * Returns: (nullable): what @route does for @method, or %NULL (405)
 */
const MunityHttpRouteMethod *
munity_http_route_find_method (const MunityHttpRoute *route,
                               const char            *method)
{
  /* HEAD is GET without the body; libsoup drops the body. */
  if (g_str_equal (method, "HEAD"))
    method = "GET";

  for (gsize i = 0; i < G_N_ELEMENTS (route->methods) && route->methods[i].method != NULL; i++)
    {
      if (g_str_equal (route->methods[i].method, method))
        return &route->methods[i];
    }
  return NULL;
}

/* The length of @path's first segment ("/api/me" → 3). */
static gsize
first_segment_length (const char *path)
{
  const char *end = strchr (path + 1, '/');

  return end != NULL ? (gsize) (end - path - 1) : strlen (path + 1);
}

/**
 * munity_http_path_is_reserved:
 * @path: a request path, starting with `/`
 *
 * Whether @path lies in a part of the URL space that the API owns: its
 * first segment is the first segment of a route (`/api`, `/api/…`, `/ws`,
 * `/healthz`, `/metrics`, `/avatars/…`), so a mistyped API path is the
 * API's 404, never the web client's page. Only whole segments count:
 * `/apiary` is not reserved.
 *
 * Returns: %TRUE if the HTTP API answers @path, %FALSE if it is the web
 *   client's
 */
gboolean
munity_http_path_is_reserved (const char *path)
{
  gsize length;

  g_return_val_if_fail (path != NULL && path[0] == '/', FALSE);

  length = first_segment_length (path);
  if (length == 0)
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (routes); i++)
    {
      if (first_segment_length (routes[i].path) == length &&
          strncmp (path + 1, routes[i].path + 1, length) == 0)
        return TRUE;
    }
  return FALSE;
}
