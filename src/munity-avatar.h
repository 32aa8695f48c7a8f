/* munity-avatar.h — recognising and naming pictures (pure)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define MUNITY_AVATAR_MAX_BYTES (5 * 1024 * 1024)
#define MUNITY_AVATAR_URL_PREFIX "/avatars/"

const char *munity_avatar_sniff         (const guint8 *data,
                                         gsize         length,
                                         const char  **out_extension);
char       *munity_avatar_new_name      (gint64        user_id,
                                         const char   *extension);
const char *munity_avatar_name_type     (const char   *name);
char       *munity_avatar_dir_for_state_dir (const char *state_dir);

G_END_DECLS
