/* munity-socket.h — one open WebSocket of a user, as the model sees it
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* Close codes of doc/protocol.md §3. */
#define MUNITY_CLOSE_GOING_AWAY 1001
#define MUNITY_CLOSE_PROTOCOL_ERROR 1002
#define MUNITY_CLOSE_UNSUPPORTED_DATA 1003
#define MUNITY_CLOSE_POLICY_VIOLATION 1008
#define MUNITY_CLOSE_TOO_BIG 1009
#define MUNITY_CLOSE_INTERNAL_ERROR 1011
#define MUNITY_CLOSE_LOGGED_OUT 4001
#define MUNITY_CLOSE_DISCONNECTED 4003

#define MUNITY_TYPE_SOCKET (munity_socket_get_type ())
G_DECLARE_FINAL_TYPE (MunitySocket, munity_socket, MUNITY, SOCKET, GObject)

MunitySocket *munity_socket_new             (gint64        user_id,
                                             const char   *session);
MunitySocket *munity_socket_new_remote      (gint64        node_id,
                                             const char   *id,
                                             gint64        user_id,
                                             const char   *session);
const char   *munity_socket_get_id          (MunitySocket *self);
gint64        munity_socket_get_node_id     (MunitySocket *self);
gboolean      munity_socket_get_ended       (MunitySocket *self);
guint         munity_socket_get_close_code  (MunitySocket *self);
gboolean      munity_socket_get_idle        (MunitySocket *self);
gint64        munity_socket_get_user_id     (MunitySocket *self);
const char   *munity_socket_get_session     (MunitySocket *self);
void          munity_socket_request_close   (MunitySocket *self,
                                             guint         code,
                                             const char   *reason);

G_END_DECLS
