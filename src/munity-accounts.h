/* munity-accounts.h — accounts and sessions in PostgreSQL
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "munity-db.h"
#include "munity-user-info.h"

G_BEGIN_DECLS

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

void            munity_accounts_get_users_async (MunityAccounts      *self,
                                                 const gint64        *ids,
                                                 guint                n_ids,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
GPtrArray      *munity_accounts_get_users_finish (MunityAccounts     *self,
                                                  GAsyncResult       *result,
                                                  GError            **error);

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

guint64         munity_accounts_get_n_hashes    (MunityAccounts      *self);
guint           munity_accounts_get_n_hash_jobs (MunityAccounts      *self);

G_END_DECLS
