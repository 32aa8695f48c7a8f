/* munity-embedded-pg.h — the private PostgreSQL cluster in the state directory
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define MUNITY_TYPE_EMBEDDED_PG (munity_embedded_pg_get_type ())
G_DECLARE_FINAL_TYPE (MunityEmbeddedPg, munity_embedded_pg, MUNITY, EMBEDDED_PG, GObject)

MunityEmbeddedPg *munity_embedded_pg_new           (const char          *state_dir,
                                                    const char          *db_user);

void              munity_embedded_pg_start_async   (MunityEmbeddedPg    *self,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean          munity_embedded_pg_start_finish  (MunityEmbeddedPg    *self,
                                                    GAsyncResult        *result,
                                                    GError             **error);

const char       *munity_embedded_pg_get_conninfo  (MunityEmbeddedPg    *self);
gboolean          munity_embedded_pg_is_running    (MunityEmbeddedPg    *self);

void              munity_embedded_pg_stop_async    (MunityEmbeddedPg    *self,
                                                    guint                timeout_ms,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean          munity_embedded_pg_stop_finish   (MunityEmbeddedPg    *self,
                                                    GAsyncResult        *result,
                                                    GError             **error);

G_END_DECLS
