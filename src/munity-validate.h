/* munity-validate.h — the rules for user-supplied fields (pure)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define MUNITY_NAME_MAX_CHARS 100
#define MUNITY_BIO_MAX_CHARS 2000
#define MUNITY_EMAIL_MAX_BYTES 254
#define MUNITY_PASSWORD_MIN_BYTES 8
#define MUNITY_PASSWORD_MAX_BYTES 1024

char     *munity_validate_name     (const char *text);
gboolean  munity_validate_email    (const char *text);
gboolean  munity_validate_password (const char *text);
gboolean  munity_validate_bio      (const char *text);
gboolean  munity_parse_user_id     (const char *text,
                                    gint64     *out_id);

G_END_DECLS
