/* munity-migrations.h — bringing the database schema up to date
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "munity-db.h"

G_BEGIN_DECLS

guint     munity_migrations_latest_version (void);
void      munity_migrations_run_async      (MunityDb            *db,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data);
gboolean  munity_migrations_run_finish     (GAsyncResult        *result,
                                            guint               *out_applied,
                                            GError             **error);

G_END_DECLS
