/* munity-http-guard.c — pure checks of an untrusted request head
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "munity-http-guard.h"

/* A run of ASCII digits, at most 18 of them so that it fits a gint64;
 * returns where it ends, or NULL if there is none. */
static const char *
skip_number (const char *p)
{
  const char *start = p;

  while (g_ascii_isdigit (*p))
    p++;
  if (p == start || p - start > 18)
    return NULL;
  return p;
}

/**
 * munity_http_range_is_single:
 * @value: a request's `Range` header
 *
 * Whether @value asks for one byte range (`bytes=0-99`, `bytes=100-`,
 * `bytes=-50`) and nothing else. munityd serves only such ranges and
 * ignores any other `Range` header, which RFC 9110 §14.2 allows. libsoup
 * 3.2.3 builds every part of a multi-range answer in memory, thousands of
 * them for one short header (libsoup#428, CVE-2025-32907; fixed upstream by
 * commit 9bb92f7a, first in libsoup 3.7.1), so a `Range` header that is not
 * single never reaches it, whatever the libsoup version.
 *
 * Returns: %TRUE if @value is a single byte range
 */
gboolean
munity_http_range_is_single (const char *value)
{
  const char *p = value;
  gboolean first = FALSE;

  if (g_ascii_strncasecmp (p, "bytes", 5) != 0)
    return FALSE;
  p += 5;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p++ != '=')
    return FALSE;
  while (*p == ' ' || *p == '\t')
    p++;

  if (g_ascii_isdigit (*p))
    {
      if ((p = skip_number (p)) == NULL)
        return FALSE;
      first = TRUE;
    }
  if (*p++ != '-')
    return FALSE;
  if (g_ascii_isdigit (*p))
    {
      if ((p = skip_number (p)) == NULL)
        return FALSE;
    }
  else if (!first)
    return FALSE;

  while (*p == ' ' || *p == '\t')
    p++;
  return *p == '\0';
}

/**
 * munity_http_check_head:
 * @path: the request's path
 * @query: (nullable): the request's query
 * @headers: the request's headers
 * @out_code: (out) (transfer none): the error code when refused
 * @out_message: (out) (transfer none): a sentence for the client
 *
 * Checks a request head against munityd's limits: a request target of at
 * most %MUNITY_HTTP_MAX_TARGET bytes, at most %MUNITY_HTTP_MAX_HEADERS
 * header lines and %MUNITY_HTTP_MAX_HEADER_BYTES bytes of them.
 *
 * Returns: 0 if the head is within the limits, else the HTTP status to
 *   answer (414 or 431)
 */
guint
munity_http_check_head (const char          *path,
                        const char          *query,
                        SoupMessageHeaders  *headers,
                        const char         **out_code,
                        const char         **out_message)
{
  SoupMessageHeadersIter iter;
  const char *name, *value;
  gsize target = strlen (path) + (query != NULL ? strlen (query) + 1 : 0);
  gsize bytes = 0;
  guint lines = 0;

  if (target > MUNITY_HTTP_MAX_TARGET)
    {
      *out_code = "uri-too-long";
      *out_message = _("The request URL is longer than 8 KiB.");
      return SOUP_STATUS_REQUEST_URI_TOO_LONG;
    }

  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      lines++;
      bytes += strlen (name) + strlen (value) + 4;
    }

  if (lines > MUNITY_HTTP_MAX_HEADERS || bytes > MUNITY_HTTP_MAX_HEADER_BYTES)
    {
      *out_code = "headers-too-large";
      *out_message = _("The request has more than 100 headers or 32 KiB of them.");
      return MUNITY_HTTP_STATUS_HEADERS_TOO_LARGE;
    }

  return 0;
}

/**
 * munity_http_host_is_allowed:
 * @host: (nullable): the request's `Host` header
 * @allowed_hosts: (array zero-terminated=1) (nullable): the names allowed,
 *   lower case; empty or %NULL allows any
 *
 * Guards against DNS rebinding: a page on another site whose name was made
 * to resolve to munityd's address sends that other name as `Host`.
 *
 * Returns: %TRUE if @host may be served
 */
gboolean
munity_http_host_is_allowed (const char         *host,
                             const char * const *allowed_hosts)
{
  if (allowed_hosts == NULL || allowed_hosts[0] == NULL)
    return TRUE;
  if (host == NULL)
    return FALSE;

  for (gsize i = 0; allowed_hosts[i] != NULL; i++)
    {
      if (g_ascii_strcasecmp (host, allowed_hosts[i]) == 0)
        return TRUE;
    }
  return FALSE;
}

/**
 * munity_http_status_phrase:
 * @status: an HTTP status
 *
 * Returns: (transfer none): the reason phrase for @status, including the
 *   ones libsoup 3.2 does not know
 */
const char *
munity_http_status_phrase (guint status)
{
  if (status == MUNITY_HTTP_STATUS_HEADERS_TOO_LARGE)
    return "Request Header Fields Too Large";
  return soup_status_get_phrase (status);
}

/* One `for=` value of a Forwarded element, without quotes, brackets and
 * port (`"[2001:db8::1]:4711"` → `2001:db8::1`), or NULL. */
static char *
forwarded_for_of (const char *element)
{
  g_autoptr(GHashTable) params = soup_header_parse_semi_param_list (element);
  const char *value = params != NULL ? g_hash_table_lookup (params, "for") : NULL;
  const char *end;

  if (value == NULL)
    return NULL;
  if (value[0] == '[' && (end = strchr (value, ']')) != NULL)
    return g_strndup (value + 1, end - value - 1);
  end = strchr (value, ':');
  if (end != NULL && strchr (end + 1, ':') == NULL)
    return g_strndup (value, end - value);
  return g_strdup (value);
}

/**
 * munity_http_client_address:
 * @peer: the address the connection comes from
 * @forwarded_for: (nullable): the request's `X-Forwarded-For`
 * @forwarded: (nullable): the request's `Forwarded`
 * @is_trusted: tells whether an address is a trusted proxy
 * @user_data: data for @is_trusted
 *
 * The client's address: @peer, unless @peer is a trusted proxy, in which
 * case the hops it reports are walked from the nearest: the first that is
 * not a trusted proxy is the client (a client cannot forge the hops its
 * own proxy appends). `X-Forwarded-For` wins over `Forwarded`.
 *
 * Returns: (transfer full): the client's address
 */
char *
munity_http_client_address (const char                  *peer,
                            const char                  *forwarded_for,
                            const char                  *forwarded,
                            MunityHttpTrustedFunc        is_trusted,
                            gpointer                     user_data)
{
  g_auto(GStrv) hops = NULL;
  g_autofree char *client = g_strdup (peer);
  gsize n;

  if (!is_trusted (peer, user_data))
    return g_steal_pointer (&client);

  if (forwarded_for != NULL)
    hops = g_strsplit (forwarded_for, ",", -1);
  else if (forwarded != NULL)
    {
      g_auto(GStrv) elements = g_strsplit (forwarded, ",", -1);

      n = g_strv_length (elements);
      hops = g_new0 (char *, n + 1);
      for (gsize i = 0; i < n; i++)
        hops[i] = forwarded_for_of (elements[i]) ?: g_strdup ("");
    }
  if (hops == NULL)
    return g_steal_pointer (&client);

  for (n = g_strv_length (hops); n > 0; n--)
    {
      const char *hop = g_strstrip (hops[n - 1]);
      g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (hop);

      /* A hop that is not an address ends what can be believed. */
      if (inet == NULL)
        break;
      g_free (client);
      client = g_inet_address_to_string (inet);
      if (!is_trusted (client, user_data))
        break;
    }
  return g_steal_pointer (&client);
}
