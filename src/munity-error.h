/* munity-error.h — the one error domain of Munity
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * MUNITY_ERROR:
 *
 * The error domain of Munity. Errors in this domain are from the
 * #MunityError enumeration. See [func@Munity.error_to_http] for how they map
 * to HTTP answers.
 */
#define MUNITY_ERROR (munity_error_quark ())

/**
 * MunityError:
 * @MUNITY_ERROR_FAILED: an unexpected failure (HTTP 500, never for bad input).
 * @MUNITY_ERROR_INVALID_CONFIG: a bad option or configuration value.
 * @MUNITY_ERROR_DATABASE: the database answered a query with an error.
 * @MUNITY_ERROR_DATABASE_UNAVAILABLE: no database connection is up, or it
 *   went away while the query ran.
 * @MUNITY_ERROR_SCHEMA_TOO_NEW: the database holds a schema newer than this
 *   binary knows.
 * @MUNITY_ERROR_INVALID_JSON: the request body is not a JSON object.
 * @MUNITY_ERROR_INVALID_FIRST: the first name is not valid.
 * @MUNITY_ERROR_INVALID_LAST: the last name is not valid.
 * @MUNITY_ERROR_INVALID_EMAIL: the email address is not valid.
 * @MUNITY_ERROR_INVALID_PASSWORD: the password is not valid.
 * @MUNITY_ERROR_INVALID_BIO: the bio is not valid.
 * @MUNITY_ERROR_UNKNOWN_FIELD: a PATCH named a field that cannot be changed.
 * @MUNITY_ERROR_BAD_IMAGE: an uploaded picture is not an accepted image.
 * @MUNITY_ERROR_EMAIL_TAKEN: the email address belongs to another account.
 * @MUNITY_ERROR_BAD_CREDENTIALS: unknown email or wrong password.
 * @MUNITY_ERROR_RATE_LIMITED: too many failed logins; try again later.
 * @MUNITY_ERROR_NOT_LOGGED_IN: no valid session.
 * @MUNITY_ERROR_NO_SUCH_USER: no user with that id.
 * @MUNITY_ERROR_NOT_FOUND: no such resource.
 * @MUNITY_ERROR_METHOD_NOT_ALLOWED: the resource exists but not with that
 *   method.
 * @MUNITY_ERROR_PAYLOAD_TOO_LARGE: the request body is too large.
 * @MUNITY_ERROR_UNSUPPORTED_MEDIA_TYPE: the request body has the wrong type.
 * @MUNITY_ERROR_FORBIDDEN_ORIGIN: a cross-origin request that is not allowed.
 * @MUNITY_ERROR_NOT_ONLINE: the user is not online.
 * @MUNITY_ERROR_BUSY: the server is at capacity for this kind of work (the
 *   password hashing queue is full) and did none of it; try again after
 *   `Retry-After` (HTTP 503).
 * @MUNITY_ERROR_STORAGE_FULL: the disk holding the database or the pictures
 *   is full; nothing was stored (HTTP 507).
 *
 * Error codes in the %MUNITY_ERROR domain.
 */
typedef enum {
  MUNITY_ERROR_FAILED,
  MUNITY_ERROR_INVALID_CONFIG,
  MUNITY_ERROR_DATABASE,
  MUNITY_ERROR_DATABASE_UNAVAILABLE,
  MUNITY_ERROR_SCHEMA_TOO_NEW,
  MUNITY_ERROR_INVALID_JSON,
  MUNITY_ERROR_INVALID_FIRST,
  MUNITY_ERROR_INVALID_LAST,
  MUNITY_ERROR_INVALID_EMAIL,
  MUNITY_ERROR_INVALID_PASSWORD,
  MUNITY_ERROR_INVALID_BIO,
  MUNITY_ERROR_UNKNOWN_FIELD,
  MUNITY_ERROR_BAD_IMAGE,
  MUNITY_ERROR_EMAIL_TAKEN,
  MUNITY_ERROR_BAD_CREDENTIALS,
  MUNITY_ERROR_RATE_LIMITED,
  MUNITY_ERROR_NOT_LOGGED_IN,
  MUNITY_ERROR_NO_SUCH_USER,
  MUNITY_ERROR_NOT_FOUND,
  MUNITY_ERROR_METHOD_NOT_ALLOWED,
  MUNITY_ERROR_PAYLOAD_TOO_LARGE,
  MUNITY_ERROR_UNSUPPORTED_MEDIA_TYPE,
  MUNITY_ERROR_FORBIDDEN_ORIGIN,
  MUNITY_ERROR_NOT_ONLINE,
  MUNITY_ERROR_BUSY,
  MUNITY_ERROR_STORAGE_FULL,
} MunityError;

GQuark       munity_error_quark    (void);

guint        munity_error_to_http  (const GError *error,
                                    const char  **out_code);
char        *munity_error_body_new (const char   *code,
                                    const char   *message);

G_END_DECLS
