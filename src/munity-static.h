/* munity-static.h — the web client's files, served from its build directory
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/**
 * MunityStaticRoute:
 * @MUNITY_STATIC_ROUTE_NOT_MINE: the path belongs to the API, the
 *   WebSocket, `/healthz`, `/metrics` or `/avatars/`; the caller answers it.
 * @MUNITY_STATIC_ROUTE_FILE: a file of the build, named by the relative path.
 * @MUNITY_STATIC_ROUTE_INDEX: `index.html`, for `/` and for every client
 *   route (a path whose last segment has no extension, such as `/online`).
 * @MUNITY_STATIC_ROUTE_NOT_FOUND: a path that can name no file of the build
 *   (`..`, a dot file, an escaped `/` or NUL, ...): answered with 404.
 *
 * What munity_static_route() decided for a request path.
 */
typedef enum {
  MUNITY_STATIC_ROUTE_NOT_MINE,
  MUNITY_STATIC_ROUTE_FILE,
  MUNITY_STATIC_ROUTE_INDEX,
  MUNITY_STATIC_ROUTE_NOT_FOUND,
} MunityStaticRoute;

/**
 * MUNITY_STATIC_CSP:
 *
 * The Content-Security-Policy sent with every HTML page of the web client.
 */
#define MUNITY_STATIC_CSP \
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " \
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

#define MUNITY_TYPE_STATIC (munity_static_get_type ())
G_DECLARE_FINAL_TYPE (MunityStatic, munity_static, MUNITY, STATIC, GObject)

MunityStatic      *munity_static_new           (const char        *root_dir);
const char        *munity_static_get_root      (MunityStatic      *self);
gboolean           munity_static_serve         (MunityStatic      *self,
                                                SoupServerMessage *msg,
                                                const char        *path);

char              *munity_static_default_root  (void);

/* Pure decisions, no I/O. */
MunityStaticRoute  munity_static_route         (const char        *path,
                                                char             **out_relpath);
const char        *munity_static_content_type  (const char        *relpath);
const char        *munity_static_cache_control (const char        *relpath);
gboolean           munity_static_is_html       (const char        *relpath);
gboolean           munity_static_path_is_under (const char        *path,
                                                const char        *root);

G_END_DECLS
