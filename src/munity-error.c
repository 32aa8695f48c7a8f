/* munity-error.c — the one error domain of Munity
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "munity-error.h"

/* The one place that maps %MUNITY_ERROR to D-Bus error names. */
static const GDBusErrorEntry dbus_error_entries[] = {
  { MUNITY_ERROR_FAILED, "org.munity.Presence1.Error.Failed" },
  { MUNITY_ERROR_NOT_ONLINE, "org.munity.Presence1.Error.NotOnline" },
};

/**
 * munity_error_quark:
 *
 * The quark of %MUNITY_ERROR. Making it registers the domain's D-Bus error
 * names (`org.munity.Presence1.Error.NotOnline` for
 * %MUNITY_ERROR_NOT_ONLINE, ...), as GIO does for its own domains: a reply
 * made from a #GError carries the name, and a client gets the #GError
 * back, with nothing else to call first.
 *
 * Returns: the quark
 */
GQuark
munity_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("munity-error-quark", &quark,
                                      dbus_error_entries, G_N_ELEMENTS (dbus_error_entries));
  return (GQuark) quark;
}

static const struct {
  MunityError code;
  guint status;
  const char *name;
} http_map[] = {
  { MUNITY_ERROR_FAILED, 500, "internal-error" },
  { MUNITY_ERROR_INVALID_CONFIG, 500, "internal-error" },
  { MUNITY_ERROR_DATABASE, 500, "internal-error" },
  { MUNITY_ERROR_DATABASE_UNAVAILABLE, 503, "database-unavailable" },
  { MUNITY_ERROR_SCHEMA_TOO_NEW, 503, "database-unavailable" },
  { MUNITY_ERROR_INVALID_JSON, 400, "invalid-json" },
  { MUNITY_ERROR_INVALID_FIRST, 400, "invalid-first" },
  { MUNITY_ERROR_INVALID_LAST, 400, "invalid-last" },
  { MUNITY_ERROR_INVALID_EMAIL, 400, "invalid-email" },
  { MUNITY_ERROR_INVALID_PASSWORD, 400, "invalid-password" },
  { MUNITY_ERROR_INVALID_BIO, 400, "invalid-bio" },
  { MUNITY_ERROR_UNKNOWN_FIELD, 400, "unknown-field" },
  { MUNITY_ERROR_BAD_IMAGE, 400, "bad-image" },
  { MUNITY_ERROR_EMAIL_TAKEN, 409, "email-taken" },
  { MUNITY_ERROR_BAD_CREDENTIALS, 401, "bad-credentials" },
  { MUNITY_ERROR_RATE_LIMITED, 429, "rate-limited" },
  { MUNITY_ERROR_NOT_LOGGED_IN, 401, "not-logged-in" },
  { MUNITY_ERROR_NO_SUCH_USER, 404, "no-such-user" },
  { MUNITY_ERROR_NOT_FOUND, 404, "not-found" },
  { MUNITY_ERROR_METHOD_NOT_ALLOWED, 405, "method-not-allowed" },
  { MUNITY_ERROR_PAYLOAD_TOO_LARGE, 413, "payload-too-large" },
  { MUNITY_ERROR_UNSUPPORTED_MEDIA_TYPE, 415, "unsupported-media-type" },
  { MUNITY_ERROR_FORBIDDEN_ORIGIN, 403, "forbidden-origin" },
  { MUNITY_ERROR_NOT_ONLINE, 404, "not-online" },
  { MUNITY_ERROR_BUSY, 503, "busy" },
  { MUNITY_ERROR_STORAGE_FULL, 507, "storage-full" },
};

/**
 * munity_error_to_http:
 * @error: an error, of any domain
 * @out_code: (out) (transfer none): the JSON error code, such as
 *   `"email-taken"`
 *
 * The one place that maps errors to HTTP answers. Errors of other domains
 * than %MUNITY_ERROR are internal faults and map to 500.
 *
 * Returns: the HTTP status code
 */
guint
munity_error_to_http (const GError *error,
                      const char  **out_code)
{
  if (error->domain == MUNITY_ERROR)
    {
      for (gsize i = 0; i < G_N_ELEMENTS (http_map); i++)
        {
          if (http_map[i].code == (MunityError) error->code)
            {
              *out_code = http_map[i].name;
              return http_map[i].status;
            }
        }
    }

  *out_code = "internal-error";
  return 500;
}

/**
 * munity_error_body_new:
 * @code: the JSON error code, such as `not-found`
 * @message: a sentence for the client
 *
 * The body of every error answer:
 * `{"error": {"code": CODE, "message": MESSAGE}}`.
 *
 * Returns: (transfer full): the JSON text
 */
char *
munity_error_body_new (const char *code,
                       const char *message)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "error");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "code");
  json_builder_add_string_value (builder, code);
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, message);
  json_builder_end_object (builder);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}
