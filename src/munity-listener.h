/* munity-listener.h — accepting HTTP connections, bounded
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

#define MUNITY_DEFAULT_MAX_CONNECTIONS_PER_ADDRESS 1024
#define MUNITY_DEFAULT_REQUEST_TIMEOUT_S 10
/* A connection that is not a WebSocket lives at most this long. */
#define MUNITY_CONNECTION_MAX_LIFETIME_S 300

/**
 * MunityListenerCountFunc:
 * @user_data: the data given with the function
 *
 * Returns: how many client connections are open that the listener no
 *   longer tracks (the WebSockets it handed over)
 */
typedef guint (*MunityListenerCountFunc) (gpointer user_data);

#define MUNITY_TYPE_LISTENER (munity_listener_get_type ())
G_DECLARE_FINAL_TYPE (MunityListener, munity_listener, MUNITY, LISTENER, GObject)

MunityListener *munity_listener_new             (SoupServer              *server,
                                                 guint                    max_connections,
                                                 guint                    max_per_address,
                                                 guint                    request_timeout_s);
void            munity_listener_set_count_func  (MunityListener          *self,
                                                 MunityListenerCountFunc  func,
                                                 gpointer                 user_data);
void            munity_listener_add_socket      (MunityListener          *self,
                                                 GSocket                 *socket,
                                                 guint                    tag);
void            munity_listener_stop            (MunityListener          *self);
gboolean        munity_listener_refuse          (MunityListener          *self,
                                                 SoupServerMessage       *msg,
                                                 guint                    status,
                                                 const char              *code,
                                                 const char              *message);
int             munity_listener_take_fd         (MunityListener          *self,
                                                 SoupServerMessage       *msg,
                                                 gboolean                *out_relayed);
int             munity_listener_peek_fd         (MunityListener          *self,
                                                 SoupServerMessage       *msg);
void            munity_listener_set_tls_certificate (MunityListener      *self,
                                                     GTlsCertificate     *certificate);
guint           munity_listener_get_tag         (MunityListener          *self,
                                                 SoupServerMessage       *msg);
guint           munity_listener_get_n_connections (MunityListener        *self);
gint64          munity_listener_get_stalled_us  (MunityListener          *self,
                                                 gint64                   now_us);

guint           munity_listener_default_max_connections (void);

gboolean        munity_fd_peer_is_gone          (int                      fd);

G_END_DECLS
