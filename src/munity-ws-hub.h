/* munity-ws-hub.h — every open WebSocket, on one epoll set
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "munity-user-info.h"
#include "munity-metrics.h"
#include "munity-presence.h"

G_BEGIN_DECLS

/**
 * MunityWsMode:
 * @MUNITY_WS_MODE_LIST: the socket gets the whole online list and every
 *   join, leave and update (doc/protocol.md §3)
 * @MUNITY_WS_MODE_WINDOW: the socket watches a window of the ordered list
 *   (`/ws?view=window`, doc/protocol.md §8)
 *
 * What a WebSocket watches.
 */
typedef enum {
  MUNITY_WS_MODE_LIST,
  MUNITY_WS_MODE_WINDOW,
} MunityWsMode;

#define MUNITY_TYPE_WS_HUB (munity_ws_hub_get_type ())
G_DECLARE_FINAL_TYPE (MunityWsHub, munity_ws_hub, MUNITY, WS_HUB, GObject)

MunityWsHub *munity_ws_hub_new               (MunityPresence *presence,
                                              MunityMetrics  *metrics);
gboolean     munity_ws_hub_add               (MunityWsHub    *self,
                                              int             fd,
                                              MunityUserInfo *info,
                                              const char     *session,
                                              MunityWsMode    mode,
                                              GError        **error);
void         munity_ws_hub_user_joined       (MunityWsHub    *self,
                                              MunityUser     *user);
void         munity_ws_hub_user_left         (MunityWsHub    *self,
                                              MunityUser     *user);
void         munity_ws_hub_user_updated      (MunityWsHub    *self,
                                              MunityUser     *user);
void         munity_ws_hub_close_all         (MunityWsHub    *self,
                                              guint           code,
                                              const char     *reason);
guint        munity_ws_hub_get_n_connections (MunityWsHub    *self);
guint        munity_ws_hub_get_n_window_sockets (MunityWsHub *self);
guint        munity_ws_hub_get_n_window_views   (MunityWsHub *self);
void         munity_ws_hub_set_requests_in_flight (MunityWsHub *self,
                                                   guint        n);
void         munity_ws_hub_get_stats         (MunityWsHub    *self,
                                              guint64        *out_flushes,
                                              guint64        *out_writes);

G_END_DECLS
