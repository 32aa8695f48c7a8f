/* munity-http-private.h — what the pieces of the HTTP layer share
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <libsoup/soup.h>

#include "munity-accounts.h"
#include "munity-db.h"
#include "munity-error.h"
#include "munity-http-server.h"
#include "munity-listener.h"
#include "munity-protocol.h"
#include "munity-metrics.h"
#include "munity-presence.h"
#include "munity-static.h"
#include "munity-ws-hub.h"

G_BEGIN_DECLS

struct _MunityHttpServer
{
  GObject         parent_instance;

  SoupServer     *server;           /* (owned) */
  MunityListener *listener;         /* (owned) accepts for @server */
  char          **allowed_hosts;    /* (owned) */
  gboolean        metrics_apart;    /* /metrics only on the metrics-listen socket */
  gboolean        tls;              /* serving HTTPS */
  GPtrArray      *proxies;          /* (owned) of GInetAddressMask: trusted-proxies */
  MunityDb       *db;               /* (owned) */
  MunityAccounts *accounts;         /* (owned) */
  MunityMetrics  *metrics;          /* (owned) */
  MunityPresence *presence;         /* (owned) read by /api/online */
  MunityWsHub    *hub;              /* (owned) (nullable) NULL once disconnected */
  MunityStatic   *web;              /* (owned) the web client's files */
  char           *avatar_dir;       /* (owned) STATE/avatars */
  char          **allowed_origins;  /* (owned) */
  gboolean        cookie_secure;
  char           *node_name;        /* (owned) this node's name, for /healthz */
  GHashTable     *in_flight;        /* (owned) SoupServerMessage (owned) → MunityHttpExchange (owned) */
  guint           prune_id;
};

/* ---- one message, from request-started to its end ---------------------- */

/**
 * MunityHttpExchange:
 *
 * What munityd knows of one #SoupServerMessage between "request-started"
 * and its "disconnected" (see munity-http-soup.c for why that is its end):
 * the value of the server's @in_flight table, so the early handler, the
 * body reader and the handlers share typed state instead of object data.
 */
typedef struct {
  MunityUserInfo *ws_user;     /* (owned) (nullable) the WebSocket's user, once its session was checked */
  char           *ws_session;  /* (owned) (nullable) that session's token hash */
  MunityWsMode    ws_mode;     /* what the WebSocket watches (`?view=`) */
  gsize           body_limit;  /* bytes of body kept */
  gboolean        too_large;   /* the body grew past @body_limit and was dropped */
} MunityHttpExchange;

MunityHttpExchange *munity_http_server_lookup_exchange (MunityHttpServer  *self,
                                                        SoupServerMessage *msg);

/* ---- one API request, from its handler to its answer ------------------- */

typedef struct _MunityHttpReq MunityHttpReq;
typedef void (*MunityHttpRouteFunc) (MunityHttpReq *req);

enum {
  MUNITY_HTTP_ROUTE_AUTH = 1 << 0,   /* needs a session */
  MUNITY_HTTP_ROUTE_JSON = 1 << 1,   /* takes a JSON object body */
  MUNITY_HTTP_ROUTE_IMAGE = 1 << 2,  /* takes a picture, up to 5 MiB */
};

typedef struct {
  const char          *method;
  MunityHttpRouteFunc  func;     /* NULL: the WebSocket upgrade */
  guint                flags;
} MunityHttpRouteMethod;

typedef struct {
  const char            *path;       /* exact, or a prefix when is_prefix */
  gboolean               is_prefix;
  const char            *allow;      /* the Allow header */
  MunityHttpRouteMethod  methods[3];
} MunityHttpRoute;

struct _MunityHttpReq {
  MunityHttpServer            *self;        /* (owned) */
  SoupServerMessage           *msg;         /* (owned) */
  const MunityHttpRoute       *route;
  const MunityHttpRouteMethod *method;
  char                        *path;        /* (owned) */
  char                        *token;       /* (owned) (nullable) from the cookie */
  char                        *client;      /* (owned) (nullable) see munity_http_req_client() */
  MunityUserInfo              *user;        /* (owned) (nullable) */
  JsonObject                  *body;        /* (owned) (nullable) */
  GCancellable                *cancellable; /* (owned) (nullable) from munity_http_req_pause() on:
                                             * cancelled when the client goes away */
  gboolean                     paused;
  gulong                       disconnected_id;
  GSource                     *hangup_watch; /* (owned) (nullable) see munity_http_req_pause() */
};

MunityHttpReq *munity_http_req_new              (MunityHttpServer   *self,
                                                 SoupServerMessage  *msg,
                                                 const char         *path);
void           munity_http_req_pause            (MunityHttpReq      *req);
void           munity_http_req_done             (MunityHttpReq      *req);
gboolean       munity_http_req_end_if_gone      (MunityHttpReq      *req);
void           munity_http_req_fail             (MunityHttpReq      *req,
                                                 const GError       *error);
void           munity_http_req_fail_code        (MunityHttpReq      *req,
                                                 MunityError         code,
                                                 const char         *message);
void           munity_http_req_reply_user       (MunityHttpReq      *req,
                                                 guint               status,
                                                 MunityUserInfo     *user,
                                                 gboolean            with_email);
void           munity_http_req_set_session_cookie (MunityHttpReq    *req,
                                                   const char       *token);
const char    *munity_http_req_client           (MunityHttpReq      *req);
gboolean       munity_http_req_cookie_secure    (MunityHttpReq      *req);
gboolean       munity_http_req_parse_body       (MunityHttpReq      *req,
                                                 gboolean            too_large);

const char    *munity_http_get_string_member    (JsonObject         *object,
                                                 const char         *name);

/* ---- answers ----------------------------------------------------------- */

void           munity_http_set_json             (SoupServerMessage  *msg,
                                                 guint               status,
                                                 JsonNode           *node);
void           munity_http_set_error_code       (SoupServerMessage  *msg,
                                                 guint               status,
                                                 const char         *code,
                                                 const char         *message);
void           munity_http_set_error            (SoupServerMessage  *msg,
                                                 const GError       *error);

/* ---- the client as it is, behind a reverse proxy ----------------------- */

char          *munity_http_server_client_of     (MunityHttpServer   *self,
                                                 SoupServerMessage  *msg);
const char    *munity_http_server_scheme_of     (MunityHttpServer   *self,
                                                 SoupServerMessage  *msg);

/* ---- routing (munity-http-routes.c) ------------------------------------ */

const MunityHttpRoute       *munity_http_route_find        (const char            *path);
const MunityHttpRouteMethod *munity_http_route_find_method (const MunityHttpRoute *route,
                                                            const char            *method);

/* ---- the handlers ------------------------------------------------------ */

/* munity-http-api.c */
void munity_http_handle_register    (MunityHttpReq *req);
void munity_http_handle_login       (MunityHttpReq *req);
void munity_http_handle_logout      (MunityHttpReq *req);
void munity_http_handle_me_get      (MunityHttpReq *req);
void munity_http_handle_me_patch    (MunityHttpReq *req);
void munity_http_handle_user_get    (MunityHttpReq *req);
void munity_http_handle_online      (MunityHttpReq *req);
void munity_http_handle_healthz     (MunityHttpReq *req);
void munity_http_handle_metrics     (MunityHttpReq *req);

/* munity-http-avatars.c */
void munity_http_handle_avatar_post (MunityHttpReq *req);
void munity_http_handle_avatar_delete (MunityHttpReq *req);
void munity_http_handle_avatar_get  (MunityHttpReq *req);

/* munity-http-ws.c */
void munity_http_ws_early           (MunityHttpServer  *self,
                                     SoupServerMessage *msg);
void munity_http_handle_ws_upgrade  (MunityHttpReq     *req);

/* ---- libsoup, as munityd uses it (munity-http-soup.c) ------------------ */

void       munity_http_soup_request_started (SoupServerMessage *msg);
void       munity_http_soup_request_parsed  (SoupServerMessage *msg);
GIOStream *munity_http_soup_steal           (SoupServerMessage *msg);

G_END_DECLS
