/* munity-session.c — session tokens and the session cookie (pure)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <libsoup/soup.h>
#include <sodium.h>
#include <string.h>

#include "munity-session.h"

/**
 * munity_session_token_new:
 *
 * Makes a new session token: 256 bits from the operating system's CSPRNG,
 * base64url-encoded without padding.
 *
 * Returns: (transfer full): a 43-character token
 */
char *
munity_session_token_new (void)
{
  guchar bytes[MUNITY_SESSION_TOKEN_BYTES];
  char *token = g_malloc (sodium_base64_ENCODED_LEN (sizeof bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING));

  randombytes_buf (bytes, sizeof bytes);
  sodium_bin2base64 (token, sodium_base64_ENCODED_LEN (sizeof bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     bytes, sizeof bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero (bytes, sizeof bytes);

  return token;
}

/**
 * munity_session_token_is_valid:
 * @token: (nullable): a string from a cookie
 *
 * Returns: %TRUE if @token has the shape of a session token
 */
gboolean
munity_session_token_is_valid (const char *token)
{
  if (token == NULL || strlen (token) != MUNITY_SESSION_TOKEN_CHARS)
    return FALSE;

  for (const char *p = token; *p != '\0'; p++)
    {
      if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
        return FALSE;
    }

  return TRUE;
}

/**
 * munity_session_token_hash:
 * @token: a valid session token
 *
 * The database keeps only this hash of a token, so that a copy of the
 * database lets nobody log in.
 *
 * Returns: (transfer full): the SHA-256 of @token as a PostgreSQL `bytea`
 *   literal in hex form (`\x…`), fit for a text query parameter
 */
char *
munity_session_token_hash (const char *token)
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);

  g_checksum_update (checksum, (const guchar *) token, strlen (token));
  return g_strconcat ("\\x", g_checksum_get_string (checksum), NULL);
}

static char *
token_from_cookie (const char *cookie_header,
                   const char *name)
{
  GHashTable *params;
  char *token = NULL;
  const char *value;

  if (cookie_header == NULL)
    return NULL;

  params = soup_header_parse_semi_param_list (cookie_header);
  value = g_hash_table_lookup (params, name);
  if (munity_session_token_is_valid (value))
    token = g_strdup (value);
  soup_header_free_param_list (params);

  return token;
}

/**
 * munity_session_token_from_cookie:
 * @cookie_header: (nullable): the value of a request's `Cookie` header
 *
 * Returns: (transfer full) (nullable): the session token in the header, if
 *   there is one of the right shape
 */
char *
munity_session_token_from_cookie (const char *cookie_header)
{
  return token_from_cookie (cookie_header, MUNITY_SESSION_COOKIE);
}

/**
 * munity_session_set_cookie:
 * @token: a session token
 * @secure: whether to add `Secure`
 *
 * Returns: (transfer full): the value of a `Set-Cookie` header
 */
char *
munity_session_set_cookie (const char *token,
                           gboolean    secure)
{
  return g_strdup_printf ("%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Lax%s",
                          MUNITY_SESSION_COOKIE, token, MUNITY_SESSION_MAX_AGE_S,
                          secure ? "; Secure" : "");
}

/**
 * munity_session_clear_cookie:
 * @secure: whether to add `Secure`
 *
 * Returns: (transfer full): the value of a `Set-Cookie` header that
 *   removes the session cookie
 */
char *
munity_session_clear_cookie (gboolean secure)
{
  return g_strdup_printf ("%s=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax%s",
                          MUNITY_SESSION_COOKIE, secure ? "; Secure" : "");
}

/**
 * munity_session_device_token_from_cookie:
 * @cookie_header: (nullable): the value of a request's `Cookie` header
 *
 * Returns: (transfer full) (nullable): the device token in the header, if
 *   there is one of the right shape
 */
char *
munity_session_device_token_from_cookie (const char *cookie_header)
{
  return token_from_cookie (cookie_header, MUNITY_DEVICE_COOKIE);
}

/**
 * munity_session_device_cookie:
 * @token: a device token
 * @secure: whether to add `Secure`
 *
 * The device cookie goes only to the login endpoint (`Path=/api/login`):
 * nothing else needs it, so no other request exposes it. `SameSite=Strict`
 * because only the site's own login form sends it.
 *
 * Returns: (transfer full): the value of a `Set-Cookie` header
 */
char *
munity_session_device_cookie (const char *token,
                              gboolean    secure)
{
  return g_strdup_printf ("%s=%s; Path=%s; Max-Age=%d; HttpOnly; SameSite=Strict%s",
                          MUNITY_DEVICE_COOKIE, token, MUNITY_DEVICE_COOKIE_PATH,
                          MUNITY_DEVICE_MAX_AGE_S, secure ? "; Secure" : "");
}
