/* munity-user-info.c — one account's details as stored: immutable, shared
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "munity-user-info.h"

static void
user_info_clear (gpointer data)
{
  MunityUserInfo *info = data;

  g_free (info->first);
  g_free (info->last);
  g_free (info->email);
  g_free (info->bio);
  g_free (info->image_url);
}

/**
 * munity_user_info_ref:
 * @info: a user
 *
 * Returns: (transfer full): @info
 */
MunityUserInfo *
munity_user_info_ref (MunityUserInfo *info)
{
  return g_atomic_rc_box_acquire (info);
}

/**
 * munity_user_info_unref:
 * @info: (transfer full): a user
 */
void
munity_user_info_unref (MunityUserInfo *info)
{
  g_atomic_rc_box_release_full (info, user_info_clear);
}

G_DEFINE_BOXED_TYPE (MunityUserInfo, munity_user_info, munity_user_info_ref, munity_user_info_unref)

/**
 * munity_user_info_new:
 * @id: the user id
 * @first: the first name
 * @last: the last name
 * @email: the email address
 * @bio: the bio
 * @image_url: (nullable): the picture's path
 *
 * Returns: (transfer full): a user with version 0
 */
MunityUserInfo *
munity_user_info_new (gint64      id,
                      const char *first,
                      const char *last,
                      const char *email,
                      const char *bio,
                      const char *image_url)
{
  MunityUserInfo *info = g_atomic_rc_box_new0 (MunityUserInfo);

  info->id = id;
  info->first = g_strdup (first);
  info->last = g_strdup (last);
  info->email = g_strdup (email);
  info->bio = g_strdup (bio);
  info->image_url = g_strdup (image_url);
  return info;
}
