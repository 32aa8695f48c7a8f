/* munity-user-info.h — one account's details as stored: immutable, shared
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * MunityUserInfo:
 * @id: the user id
 * @first: the first name
 * @last: the last name
 * @email: the email address
 * @bio: the bio, possibly empty
 * @image_url: (nullable): the same-origin path of the picture
 * @version: the row's version; every change increases it
 * @last_seen: when the user last left, in microseconds since the Unix
 *   epoch; 0 if never, or not read (only munity_accounts_get_user_async()
 *   reads it)
 *
 * A snapshot of one account as stored. Reference-counted and immutable:
 * the accounts service makes them, the presence model and the views share
 * them.
 */
typedef struct {
  gint64  id;
  char   *first;      /* (owned) */
  char   *last;       /* (owned) */
  char   *email;      /* (owned) */
  char   *bio;        /* (owned) */
  char   *image_url;  /* (owned) (nullable) */
  gint64  version;
  gint64  last_seen;
} MunityUserInfo;

#define MUNITY_TYPE_USER_INFO (munity_user_info_get_type ())
GType           munity_user_info_get_type (void) G_GNUC_CONST;
MunityUserInfo *munity_user_info_new      (gint64          id,
                                           const char     *first,
                                           const char     *last,
                                           const char     *email,
                                           const char     *bio,
                                           const char     *image_url);
MunityUserInfo *munity_user_info_ref      (MunityUserInfo *info);
void            munity_user_info_unref    (MunityUserInfo *info);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MunityUserInfo, munity_user_info_unref)

G_END_DECLS
