/* munity-http-server.h — the HTTP server of munityd
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <libsoup/soup.h>

#include "munity-accounts.h"
#include "munity-config.h"
#include "munity-db.h"
#include "munity-metrics.h"
#include "munity-presence.h"
#include "munity-ws-hub.h"

G_BEGIN_DECLS

#define MUNITY_JSON_BODY_MAX (64 * 1024)

/**
 * MunityHttpSocketKind:
 * @MUNITY_HTTP_SOCKET_MAIN: a `listen` socket: everything
 * @MUNITY_HTTP_SOCKET_METRICS: the `metrics-listen` socket: `/metrics` and
 *   `/healthz` only
 *
 * What a listening socket serves.
 */
typedef enum {
  MUNITY_HTTP_SOCKET_MAIN = 1,
  MUNITY_HTTP_SOCKET_METRICS,
} MunityHttpSocketKind;

#define MUNITY_TYPE_HTTP_SERVER (munity_http_server_get_type ())
G_DECLARE_FINAL_TYPE (MunityHttpServer, munity_http_server, MUNITY, HTTP_SERVER, GObject)

MunityHttpServer *munity_http_server_new             (const MunityConfig *config,
                                                      MunityDb           *db,
                                                      MunityAccounts     *accounts,
                                                      MunityPresence     *presence,
                                                      MunityWsHub        *hub,
                                                      MunityMetrics      *metrics);
void              munity_http_server_add_socket      (MunityHttpServer   *self,
                                                      GSocket            *socket,
                                                      MunityHttpSocketKind kind);
gint64            munity_http_server_get_stalled_us  (MunityHttpServer   *self,
                                                      gint64              now_us);
void              munity_http_server_stop_listening  (MunityHttpServer   *self);
guint             munity_http_server_get_n_in_flight (MunityHttpServer   *self);
void              munity_http_server_disconnect      (MunityHttpServer   *self);

gboolean          munity_http_origin_is_allowed      (const char         *origin,
                                                      const char         *scheme,
                                                      const char         *host,
                                                      const char * const *allowed_origins);

G_END_DECLS
