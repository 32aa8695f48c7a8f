/* munity-session.h — session tokens and the session cookie (pure)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define MUNITY_SESSION_COOKIE "munity_session"
#define MUNITY_SESSION_TOKEN_BYTES 32
/* base64url without padding of 32 bytes */
#define MUNITY_SESSION_TOKEN_CHARS 43
#define MUNITY_SESSION_MAX_AGE_S (30 * 24 * 3600)

/* The device cookie: proof that this browser has logged in to an account
 * before, sent only to the login endpoint (see munity-accounts.c). Its
 * token has the shape of a session token. */
#define MUNITY_DEVICE_COOKIE "munity_device"
#define MUNITY_DEVICE_COOKIE_PATH "/api/login"
#define MUNITY_DEVICE_MAX_AGE_S (365 * 24 * 3600)

char     *munity_session_token_new         (void);
gboolean  munity_session_token_is_valid    (const char *token);
char     *munity_session_token_hash        (const char *token);
char     *munity_session_token_from_cookie (const char *cookie_header);
char     *munity_session_set_cookie        (const char *token,
                                            gboolean    secure);
char     *munity_session_clear_cookie      (gboolean    secure);

char     *munity_session_device_token_from_cookie (const char *cookie_header);
char     *munity_session_device_cookie            (const char *token,
                                                   gboolean    secure);

G_END_DECLS
