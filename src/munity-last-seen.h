/* munity-last-seen.h — when users left, written to PostgreSQL in batches
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "munity-db.h"
#include "munity-presence.h"

G_BEGIN_DECLS

#define MUNITY_TYPE_LAST_SEEN (munity_last_seen_get_type ())
G_DECLARE_FINAL_TYPE (MunityLastSeen, munity_last_seen, MUNITY, LAST_SEEN, GObject)

MunityLastSeen *munity_last_seen_new         (MunityDb            *db);
void            munity_last_seen_user_left   (MunityLastSeen      *self,
                                              MunityUser          *user);
void            munity_last_seen_stop_async  (MunityLastSeen      *self,
                                              MunityPresence      *presence,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
void            munity_last_seen_stop_finish (MunityLastSeen      *self,
                                              GAsyncResult        *result);

G_END_DECLS
