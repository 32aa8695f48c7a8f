/* munity-http-routes.h — which paths the HTTP API answers
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean munity_http_path_is_reserved (const char *path);

G_END_DECLS
