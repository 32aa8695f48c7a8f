/* munity-db.h — asynchronous PostgreSQL access on the main loop
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <libpq-fe.h>

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PGresult, PQclear)

#define MUNITY_TYPE_DB (munity_db_get_type ())
G_DECLARE_FINAL_TYPE (MunityDb, munity_db, MUNITY, DB, GObject)

MunityDb   *munity_db_new                (const char          *conninfo,
                                          guint                max_connections);

void        munity_db_set_query_timeout  (MunityDb            *self,
                                          guint                timeout_ms);
void        munity_db_set_reconnect_backoff (MunityDb         *self,
                                          guint                initial_ms,
                                          guint                max_ms);

void        munity_db_start              (MunityDb            *self);
void        munity_db_close              (MunityDb            *self);
gboolean    munity_db_is_up              (MunityDb            *self);

void        munity_db_listen             (MunityDb            *self,
                                          const char          *channel);
gboolean    munity_db_is_listening       (MunityDb            *self);

void        munity_db_wait_up_async      (MunityDb            *self,
                                          guint                timeout_ms,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
gboolean    munity_db_wait_up_finish     (MunityDb            *self,
                                          GAsyncResult        *result,
                                          GError             **error);

void        munity_db_query_async        (MunityDb            *self,
                                          const char          *sql,
                                          int                  n_params,
                                          const char * const  *params,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
PGresult   *munity_db_query_finish       (MunityDb            *self,
                                          GAsyncResult        *result,
                                          GError             **error);

void        munity_db_exec_script_async  (MunityDb            *self,
                                          const char          *script,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
gboolean    munity_db_exec_script_finish (MunityDb            *self,
                                          GAsyncResult        *result,
                                          GError             **error);

G_END_DECLS
