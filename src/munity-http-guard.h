/* munity-http-guard.h — pure checks of an untrusted request head
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* Longest request target (path and query) answered normally. */
#define MUNITY_HTTP_MAX_TARGET (8 * 1024)
/* Most header bytes (names, values, separators) and header lines. */
#define MUNITY_HTTP_MAX_HEADER_BYTES (32 * 1024)
#define MUNITY_HTTP_MAX_HEADERS 100

/* RFC 6585; libsoup 3.2 has no name for it. */
#define MUNITY_HTTP_STATUS_HEADERS_TOO_LARGE 431

const char *munity_http_status_phrase (guint status);

gboolean munity_http_range_is_single (const char         *value);
guint    munity_http_check_head      (const char         *path,
                                      const char         *query,
                                      SoupMessageHeaders *headers,
                                      const char        **out_code,
                                      const char        **out_message);
gboolean munity_http_host_is_allowed (const char         *host,
                                      const char * const *allowed_hosts);

/**
 * MunityHttpTrustedFunc:
 * @address: an IP address as text
 * @user_data: the data given with the function
 *
 * Returns: whether @address is a trusted reverse proxy
 */
typedef gboolean (*MunityHttpTrustedFunc) (const char *address,
                                           gpointer    user_data);

char    *munity_http_client_address  (const char         *peer,
                                      const char         *forwarded_for,
                                      const char         *forwarded,
                                      MunityHttpTrustedFunc is_trusted,
                                      gpointer            user_data);
G_END_DECLS
