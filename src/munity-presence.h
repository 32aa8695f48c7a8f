/* munity-presence.h — who is online: users, their sockets, the grace
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "munity-socket.h"
#include "munity-user-info.h"
#include "munity-user.h"

G_BEGIN_DECLS

typedef gint64 (*MunityClockFunc) (gpointer user_data);

/**
 * MUNITY_PRESENCE_UPDATE_INTERVAL_MS:
 *
 * The shortest time between two #MunityPresence::user-updated emissions
 * for one user, in milliseconds: a profile change inside it is held, and
 * the newest one announced when it ends (doc/api.md, userUpdated).
 */
#define MUNITY_PRESENCE_UPDATE_INTERVAL_MS 1000

/**
 * MUNITY_PRESENCE_REMOTE_GRACE_SLACK_MS:
 *
 * How much longer than the grace a user lingers whose last socket was on
 * another cluster node, in milliseconds: the time doc/protocol.md §7
 * allows a join or leave to take between nodes. A user who comes back
 * within the grace on a third node is announced there before this runs
 * out, so no node shows the user leave; one who does not leaves on the
 * other nodes at most this much after the node that held the socket.
 */
#define MUNITY_PRESENCE_REMOTE_GRACE_SLACK_MS 1000

#define MUNITY_TYPE_PRESENCE (munity_presence_get_type ())
G_DECLARE_FINAL_TYPE (MunityPresence, munity_presence, MUNITY, PRESENCE, GObject)

MunityPresence *munity_presence_new               (guint            leave_grace_ms);
guint           munity_presence_get_leave_grace_ms (MunityPresence *self);
void            munity_presence_set_clock         (MunityPresence  *self,
                                                   MunityClockFunc  clock,
                                                   gpointer         user_data,
                                                   GDestroyNotify   destroy);
void            munity_presence_set_update_interval (MunityPresence *self,
                                                    guint           interval_ms);

MunityUser     *munity_presence_add_socket        (MunityPresence  *self,
                                                   MunitySocket    *socket,
                                                   MunityUserInfo  *info);
void            munity_presence_remove_socket     (MunityPresence  *self,
                                                   MunitySocket    *socket);
void            munity_presence_add_lingering_user (MunityPresence *self,
                                                    MunityUserInfo *info,
                                                    guint           remaining_ms);
void            munity_presence_drop_socket       (MunityPresence  *self,
                                                   MunitySocket    *socket);
void            munity_presence_end_socket        (MunityPresence  *self,
                                                   MunitySocket    *socket,
                                                   guint            close_code,
                                                   const char      *reason);
guint           munity_presence_remove_node_sockets (MunityPresence *self,
                                                     gint64          node_id);
guint           munity_presence_disconnect_user   (MunityPresence  *self,
                                                   gint64           user_id,
                                                   guint            close_code);
guint           munity_presence_end_session       (MunityPresence  *self,
                                                   gint64           user_id,
                                                   const char      *session);
void            munity_presence_update_user       (MunityPresence  *self,
                                                   MunityUserInfo  *info);
void            munity_presence_set_socket_idle   (MunityPresence  *self,
                                                   MunitySocket    *socket,
                                                   gboolean         idle);
void            munity_presence_expire            (MunityPresence  *self);

MunityUser     *munity_presence_lookup_user       (MunityPresence  *self,
                                                   gint64           user_id);
GPtrArray      *munity_presence_list_users        (MunityPresence  *self);
GList          *munity_presence_peek_users        (MunityPresence  *self);
guint           munity_presence_get_n_users       (MunityPresence  *self);
guint           munity_presence_get_n_sockets     (MunityPresence  *self);

G_END_DECLS
