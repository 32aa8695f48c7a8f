/* munity-accounts.h — accounts and sessions in PostgreSQL
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "munity-db.h"

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
 *
 * A snapshot of one account as stored. Reference-counted and immutable.
 */
typedef struct {
  gint64  id;
  char   *first;      /* (owned) */
  char   *last;       /* (owned) */
  char   *email;      /* (owned) */
  char   *bio;        /* (owned) */
  char   *image_url;  /* (owned) (nullable) */
  gint64  version;
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
JsonNode       *munity_user_info_to_json  (MunityUserInfo *info,
                                           gboolean        with_email);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MunityUserInfo, munity_user_info_unref)

#define MUNITY_TYPE_ACCOUNTS (munity_accounts_get_type ())
G_DECLARE_FINAL_TYPE (MunityAccounts, munity_accounts, MUNITY, ACCOUNTS, GObject)

MunityAccounts *munity_accounts_new             (MunityDb            *db);

void            munity_accounts_register_async  (MunityAccounts      *self,
                                                 const char          *first,
                                                 const char          *last,
                                                 const char          *email,
                                                 const char          *password,
                                                 const char          *client_address,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
MunityUserInfo *munity_accounts_register_finish (MunityAccounts      *self,
                                                 GAsyncResult        *result,
                                                 char               **out_token,
                                                 char               **out_device_token,
                                                 guint               *out_retry_after_s,
                                                 GError             **error);

void            munity_accounts_login_async     (MunityAccounts      *self,
                                                 const char          *email,
                                                 const char          *password,
                                                 const char          *client_address,
                                                 const char          *device_token,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
MunityUserInfo *munity_accounts_login_finish    (MunityAccounts      *self,
                                                 GAsyncResult        *result,
                                                 char               **out_token,
                                                 char               **out_device_token,
                                                 guint               *out_retry_after_s,
                                                 GError             **error);

void            munity_accounts_authenticate_async  (MunityAccounts      *self,
                                                     const char          *token,
                                                     GCancellable        *cancellable,
                                                     GAsyncReadyCallback  callback,
                                                     gpointer             user_data);
MunityUserInfo *munity_accounts_authenticate_finish (MunityAccounts      *self,
                                                     GAsyncResult        *result,
                                                     GError             **error);

void            munity_accounts_logout_async    (MunityAccounts      *self,
                                                 const char          *token,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
gint64          munity_accounts_logout_finish   (MunityAccounts      *self,
                                                 GAsyncResult        *result,
                                                 GError             **error);

void            munity_accounts_update_async    (MunityAccounts      *self,
                                                 gint64               user_id,
                                                 const char          *first,
                                                 const char          *last,
                                                 const char          *bio,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
MunityUserInfo *munity_accounts_update_finish   (MunityAccounts      *self,
                                                 GAsyncResult        *result,
                                                 GError             **error);

void            munity_accounts_get_user_async  (MunityAccounts      *self,
                                                 gint64               user_id,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
MunityUserInfo *munity_accounts_get_user_finish (MunityAccounts      *self,
                                                 GAsyncResult        *result,
                                                 GError             **error);

void            munity_accounts_set_image_async  (MunityAccounts      *self,
                                                  gint64               user_id,
                                                  const char          *image_url,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
MunityUserInfo *munity_accounts_set_image_finish (MunityAccounts      *self,
                                                  GAsyncResult        *result,
                                                  char               **out_old_url,
                                                  GError             **error);

void            munity_accounts_prune           (MunityAccounts      *self);

G_END_DECLS
