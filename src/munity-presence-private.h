/* munity-presence-private.h — what only the presence model may change
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "munity-presence.h"

G_BEGIN_DECLS

MunityUser *munity_user_new               (MunityUserInfo *info,
                                           gint64          online_since);
gint64     *munity_user_get_id_ptr        (MunityUser     *self);
gboolean    munity_user_update            (MunityUser     *self,
                                           MunityUserInfo *info);
gboolean    munity_user_shows_same        (MunityUser     *self,
                                           MunityUserInfo *info);
gboolean    munity_user_wants_idle        (MunityUser     *self);
gboolean    munity_user_apply_status      (MunityUser     *self);
void        munity_user_set_idle          (MunityUser     *self,
                                           gboolean        idle);
void        munity_user_set_left_here     (MunityUser     *self,
                                           gboolean        left_here);
gint64      munity_user_get_quiet_until   (MunityUser     *self);
void        munity_user_set_quiet_until   (MunityUser     *self,
                                           gint64          quiet_until);
MunityUserInfo *munity_user_get_pending   (MunityUser     *self);
void        munity_user_set_pending       (MunityUser     *self,
                                           MunityUserInfo *info);
MunityUserInfo *munity_user_steal_pending (MunityUser     *self);
GList      *munity_user_get_pending_link  (MunityUser     *self);
void        munity_user_set_pending_link  (MunityUser     *self,
                                           GList          *link);
void        munity_user_add_socket        (MunityUser     *self,
                                           MunitySocket   *socket);
gboolean    munity_user_remove_socket     (MunityUser     *self,
                                           MunitySocket   *socket);
void        munity_user_set_lingering     (MunityUser     *self,
                                           gboolean        lingering,
                                           gint64          deadline);
gint64      munity_user_get_deadline      (MunityUser     *self);
GList      *munity_user_get_order_link    (MunityUser     *self);
void        munity_user_set_order_link    (MunityUser     *self,
                                           GList          *link);
GList      *munity_user_get_linger_link   (MunityUser     *self,
                                           GQueue        **queue);
void        munity_user_set_linger_link   (MunityUser     *self,
                                           GQueue         *queue,
                                           GList          *link);

gboolean    munity_socket_is_attached     (MunitySocket   *self);
void        munity_socket_set_attached    (MunitySocket   *self,
                                           gboolean        attached);
void        munity_socket_end             (MunitySocket   *self,
                                           guint           close_code);
void        munity_socket_set_idle        (MunitySocket   *self,
                                           gboolean        idle);

G_END_DECLS
