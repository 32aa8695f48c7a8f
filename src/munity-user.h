/* munity-user.h — one online user in the presence model
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "munity-user-info.h"

G_BEGIN_DECLS

#define MUNITY_TYPE_USER (munity_user_get_type ())
G_DECLARE_FINAL_TYPE (MunityUser, munity_user, MUNITY, USER, GObject)

gint64      munity_user_get_id           (MunityUser *self);
const char *munity_user_get_first        (MunityUser *self);
const char *munity_user_get_last         (MunityUser *self);
const char *munity_user_get_image_url    (MunityUser *self);
char       *munity_user_dup_name         (MunityUser *self);
guint       munity_user_get_n_sockets    (MunityUser *self);
GPtrArray  *munity_user_get_sockets      (MunityUser *self);
gint64      munity_user_get_online_since (MunityUser *self);
gboolean    munity_user_is_lingering     (MunityUser *self);
gboolean    munity_user_is_idle          (MunityUser *self);
const char *munity_user_get_status       (MunityUser *self);
gboolean    munity_user_left_here        (MunityUser *self);
MunityUserInfo *munity_user_get_info     (MunityUser *self);

G_END_DECLS
