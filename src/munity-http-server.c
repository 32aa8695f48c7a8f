/* munity-http-server.c — the HTTP server: each request from libsoup to its handler
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "munity-avatar.h"
#include "munity-error.h"
#include "munity-http-guard.h"
#include "munity-http-private.h"
#include "munity-session.h"

/**
 * MunityHttpServer:
 *
 * The HTTP side of munityd on a #SoupServer: the checks made before a body
 * is read, the Origin rule, body limits, and the dispatch of each request
 * along the route table (munity-http-routes.c) to its handler
 * (munity-http-api.c, munity-http-avatars.c, munity-http-ws.c) or to the
 * web client's files (munity-static.c). A handler that needs the database
 * pauses its message and unpauses it when the answer comes, so the main
 * loop never waits (munity-http-req.c). What this relies on in libsoup is
 * in munity-http-soup.c.
 */

G_DEFINE_FINAL_TYPE (MunityHttpServer, munity_http_server, G_TYPE_OBJECT)

/* ---- one message, from request-started to its end ---------------------- */

static void
exchange_free (MunityHttpExchange *exchange)
{
  g_clear_pointer (&exchange->ws_user, munity_user_info_unref);
  g_free (exchange->ws_session);
  g_free (exchange);
}

/**
 * munity_http_server_lookup_exchange:
 * @self: the server
 * @msg: a message
 *
 * Returns: (transfer none) (nullable): what munityd knows of @msg, or %NULL
 *   once @msg is gone (answered, aborted or stolen)
 */
MunityHttpExchange *
munity_http_server_lookup_exchange (MunityHttpServer  *self,
                                    SoupServerMessage *msg)
{
  return g_hash_table_lookup (self->in_flight, msg);
}

/* The hub paces its sweeps by how many requests wait for the loop. */
static void
in_flight_changed (MunityHttpServer *self)
{
  if (self->hub != NULL)
    munity_ws_hub_set_requests_in_flight (self->hub, g_hash_table_size (self->in_flight));
}

/* The end of every message, whatever became of it (munity-http-soup.c,
 * assumption 4): also of one whose connection closed before its request
 * line, for which libsoup emits neither request-finished nor
 * request-aborted. */
static void
on_msg_disconnected (SoupServerMessage *msg,
                     gpointer           user_data)
{
  MunityHttpServer *self = user_data;

  if (g_hash_table_remove (self->in_flight, msg))
    in_flight_changed (self);
}

/* ---- the dispatch ------------------------------------------------------ */

/**
 * munity_http_origin_is_allowed:
 * @origin: the request's `Origin` header
 * @scheme: the request's scheme (`http`)
 * @host: (nullable): the request's `Host` header
 * @allowed_origins: (array zero-terminated=1) (nullable): configured extra
 *   origins, normalised
 *
 * Returns: %TRUE if @origin is the server's own or one of @allowed_origins
 */
gboolean
munity_http_origin_is_allowed (const char         *origin,
                               const char         *scheme,
                               const char         *host,
                               const char * const *allowed_origins)
{
  if (host != NULL)
    {
      g_autofree char *own = g_strdup_printf ("%s://%s", scheme, host);
      if (g_ascii_strcasecmp (origin, own) == 0)
        return TRUE;
    }

  for (gsize i = 0; allowed_origins != NULL && allowed_origins[i] != NULL; i++)
    {
      if (g_ascii_strcasecmp (origin, allowed_origins[i]) == 0)
        return TRUE;
    }

  return FALSE;
}

static gboolean
is_safe_method (const char *method)
{
  return g_str_equal (method, "GET") || g_str_equal (method, "HEAD") || g_str_equal (method, "OPTIONS");
}

static gsize
body_limit (const MunityHttpRouteMethod *method)
{
  return method != NULL && (method->flags & MUNITY_HTTP_ROUTE_IMAGE) ? MUNITY_AVATAR_MAX_BYTES : MUNITY_JSON_BODY_MAX;
}

static void
run_route (MunityHttpReq *req)
{
  MunityHttpExchange *exchange = munity_http_server_lookup_exchange (req->self, req->msg);
  gboolean too_large = exchange != NULL && exchange->too_large;

  if (req->method->flags & MUNITY_HTTP_ROUTE_IMAGE)
    {
      if (too_large || soup_server_message_get_request_body (req->msg)->length > MUNITY_AVATAR_MAX_BYTES)
        {
          munity_http_req_fail_code (req, MUNITY_ERROR_PAYLOAD_TOO_LARGE, _("The picture is larger than 5 MiB."));
          return;
        }
    }

  if ((req->method->flags & MUNITY_HTTP_ROUTE_JSON) && !munity_http_req_parse_body (req, too_large))
    return;

  req->method->func (req);
}

static void
authenticated_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  MunityHttpReq *req = user_data;
  g_autoptr(GError) error = NULL;

  req->user = munity_accounts_authenticate_finish (MUNITY_ACCOUNTS (source), result, &error);
  if (munity_http_req_end_if_gone (req))
    return;
  if (req->user == NULL)
    {
      munity_http_req_fail (req, error);
      return;
    }

  run_route (req);
}

/* With metrics-listen, /metrics is served on that socket and only there,
 * and that socket serves nothing else but /healthz. */
static gboolean
route_is_served_here (MunityHttpServer      *self,
                      SoupServerMessage     *msg,
                      const MunityHttpRoute *route)
{
  gboolean on_metrics_socket = munity_listener_get_tag (self->listener, msg) == MUNITY_HTTP_SOCKET_METRICS;

  if (g_str_equal (route->path, "/healthz"))
    return TRUE;
  if (g_str_equal (route->path, "/metrics"))
    return on_metrics_socket || !self->metrics_apart;
  return !on_metrics_socket;
}

static void
handle_request (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  MunityHttpServer *self = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *method = soup_server_message_get_method (msg);
  const char *origin;
  MunityHttpReq *req;

  /* Everything that is not the API is the web client's. */
  if (munity_listener_get_tag (self->listener, msg) != MUNITY_HTTP_SOCKET_METRICS &&
      munity_static_serve (self->web, msg, path))
    return;

  req = munity_http_req_new (self, msg, path);
  req->route = munity_http_route_find (path);
  if (req->route == NULL || !route_is_served_here (self, msg, req->route))
    {
      munity_http_req_fail_code (req, MUNITY_ERROR_NOT_FOUND, _("There is nothing here."));
      return;
    }

  if (g_str_equal (method, "OPTIONS"))
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", req->route->allow);
      soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
      munity_http_req_done (req);
      return;
    }

  req->method = munity_http_route_find_method (req->route, method);
  if (req->method == NULL)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", req->route->allow);
      munity_http_req_fail_code (req, MUNITY_ERROR_METHOD_NOT_ALLOWED, _("This method is not allowed here."));
      return;
    }

  origin = soup_message_headers_get_one (headers, "Origin");
  if (origin != NULL && !is_safe_method (method) &&
      !munity_http_origin_is_allowed (origin, munity_http_server_scheme_of (self, msg),
                                      soup_message_headers_get_one (headers, "Host"),
                                      (const char * const *) self->allowed_origins))
    {
      g_message ("Refused a %s %s from origin %s", method, path, origin);
      munity_http_req_fail_code (req, MUNITY_ERROR_FORBIDDEN_ORIGIN, _("Requests from this origin are not allowed."));
      return;
    }

  if (req->method->func == NULL)
    {
      munity_http_handle_ws_upgrade (req);
      return;
    }

  req->token = munity_session_token_from_cookie (soup_message_headers_get_one (headers, "Cookie"));

  if (req->method->flags & MUNITY_HTTP_ROUTE_AUTH)
    {
      if (req->token == NULL)
        {
          munity_http_req_fail_code (req, MUNITY_ERROR_NOT_LOGGED_IN, _("You are not logged in."));
          return;
        }
      munity_http_req_pause (req);
      munity_accounts_authenticate_async (self->accounts, req->token, req->cancellable, authenticated_cb, req);
      return;
    }

  run_route (req);
}

/* ---- before the body --------------------------------------------------- */

/* A body that grows past the limit stops being kept, so a client cannot
 * make munityd hold more than the limit; the handler then answers 413. */
static void
on_got_chunk (SoupServerMessage *msg,
              GBytes            *chunk,
              gpointer           user_data)
{
  MunityHttpServer *self = user_data;
  MunityHttpExchange *exchange = munity_http_server_lookup_exchange (self, msg);
  SoupMessageBody *body = soup_server_message_get_request_body (msg);

  if (exchange != NULL && !exchange->too_large && (gsize) body->length > exchange->body_limit)
    {
      exchange->too_large = TRUE;
      soup_message_body_set_accumulate (body, FALSE);
      soup_message_body_truncate (body);
    }
}

/* Answers a request from the early handler, before its body is read: the
 * listener writes the answer and ends the connection, so a client that
 * announced 10 GiB is not read to the end first. */
static void
refuse_early (MunityHttpServer  *self,
              SoupServerMessage *msg,
              guint              status,
              const char        *code,
              const char        *message)
{
  munity_http_set_error_code (msg, status, code, message);
  munity_listener_refuse (self->listener, msg, status, code, message);
}

static void
handle_early (SoupServer        *server,
              SoupServerMessage *msg,
              const char        *path,
              GHashTable        *query,
              gpointer           user_data)
{
  MunityHttpServer *self = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  goffset length = soup_message_headers_get_content_length (headers);
  GUri *uri = soup_server_message_get_uri (msg);
  const char *range = soup_message_headers_get_one (headers, "Range");
  const char *code, *message;
  const MunityHttpRoute *route;
  const MunityHttpRouteMethod *method;
  MunityHttpExchange *exchange;
  guint status;

  munity_http_soup_request_parsed (msg);

  if (range != NULL && !munity_http_range_is_single (range))
    soup_message_headers_remove (headers, "Range");

  status = munity_http_check_head (g_uri_get_path (uri), g_uri_get_query (uri), headers, &code, &message);
  if (status != 0)
    {
      g_autofree char *client = munity_http_server_client_of (self, msg);
      g_message ("Refused a request from %s: %s", client, message);
      refuse_early (self, msg, status, code, message);
      return;
    }

  if (munity_listener_get_tag (self->listener, msg) != MUNITY_HTTP_SOCKET_METRICS &&
      !munity_http_host_is_allowed (soup_message_headers_get_one (headers, "Host"),
                                    (const char * const *) self->allowed_hosts))
    {
      g_autofree char *client = munity_http_server_client_of (self, msg);
      g_message ("Refused a request from %s for host %s (allowed-hosts)",
                 client,
                 soup_message_headers_get_one (headers, "Host") ?: "(none)");
      refuse_early (self, msg, SOUP_STATUS_MISDIRECTED_REQUEST, "unknown-host",
                    _("This server does not serve that host name."));
      return;
    }

  if (g_str_equal (path, "/ws") && g_str_equal (soup_server_message_get_method (msg), "GET"))
    {
      munity_http_ws_early (self, msg);
      return;
    }

  route = munity_http_route_find (path);
  method = route ? munity_http_route_find_method (route, soup_server_message_get_method (msg)) : NULL;

  /* Refuse an announced oversized body before reading it, but only where
   * the normal checks (path, method) would have let it through. */
  if (method != NULL && (method->flags & (MUNITY_HTTP_ROUTE_JSON | MUNITY_HTTP_ROUTE_IMAGE)) &&
      soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      length > (goffset) body_limit (method))
    {
      refuse_early (self, msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "payload-too-large",
                    (method->flags & MUNITY_HTTP_ROUTE_IMAGE) ? _("The picture is larger than 5 MiB.")
                                                              : _("The request body is larger than 64 KiB."));
      return;
    }

  exchange = munity_http_server_lookup_exchange (self, msg);
  if (exchange != NULL)
    {
      exchange->body_limit = body_limit (method);
      g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), self);
    }
}

/* ---- bookkeeping ------------------------------------------------------- */

static void
on_request_started (SoupServer        *server,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  MunityHttpServer *self = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  g_hash_table_insert (self->in_flight, g_object_ref (msg), g_new0 (MunityHttpExchange, 1));
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_msg_disconnected), self);
  in_flight_changed (self);

  munity_http_soup_request_started (msg);

  /* Every answer carries these, libsoup's own included; the web client's
   * pages and the pictures replace the policy with their own. */
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (headers, "Referrer-Policy", "same-origin");
  soup_message_headers_replace (headers, "X-Frame-Options", "DENY");
  soup_message_headers_replace (headers, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
}

static void
on_request_done (SoupServer        *server,
                 SoupServerMessage *msg,
                 gpointer           user_data)
{
  MunityHttpServer *self = user_data;

  munity_metrics_count_http (self->metrics, soup_server_message_get_status (msg));
}

static guint
count_websockets (gpointer user_data)
{
  MunityHttpServer *self = user_data;

  return self->hub != NULL ? munity_ws_hub_get_n_connections (self->hub) : 0;
}

static gboolean
prune_cb (gpointer user_data)
{
  MunityHttpServer *self = user_data;

  munity_accounts_prune (self->accounts);
  return G_SOURCE_CONTINUE;
}

/* ---- GObject ----------------------------------------------------------- */

static void
munity_http_server_dispose (GObject *object)
{
  MunityHttpServer *self = MUNITY_HTTP_SERVER (object);

  g_clear_handle_id (&self->prune_id, g_source_remove);
  g_clear_object (&self->listener);
  if (self->in_flight != NULL)
    {
      GHashTableIter iter;
      SoupServerMessage *msg;

      /* The messages may outlive the server; their handlers may not. */
      g_hash_table_iter_init (&iter, self->in_flight);
      while (g_hash_table_iter_next (&iter, (gpointer *) &msg, NULL))
        g_signal_handlers_disconnect_by_data (msg, self);
    }
  if (self->server != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->server, self);
      soup_server_disconnect (self->server);
    }
  g_clear_object (&self->server);
  g_clear_object (&self->accounts);
  g_clear_object (&self->db);
  g_clear_object (&self->metrics);
  g_clear_pointer (&self->allowed_origins, g_strfreev);
  g_clear_pointer (&self->node_name, g_free);
  g_clear_pointer (&self->allowed_hosts, g_strfreev);
  g_clear_pointer (&self->proxies, g_ptr_array_unref);
  g_clear_object (&self->hub);
  g_clear_object (&self->presence);
  g_clear_object (&self->web);
  g_clear_pointer (&self->avatar_dir, g_free);
  g_clear_pointer (&self->in_flight, g_hash_table_unref);

  G_OBJECT_CLASS (munity_http_server_parent_class)->dispose (object);
}

static void
munity_http_server_class_init (MunityHttpServerClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = munity_http_server_dispose;
}

static void
munity_http_server_init (MunityHttpServer *self)
{
  self->in_flight = g_hash_table_new_full (NULL, NULL, g_object_unref, (GDestroyNotify) exchange_free);
  self->proxies = g_ptr_array_new_with_free_func (g_object_unref);
}

/**
 * munity_http_server_new:
 * @config: the configuration (read now, not kept)
 * @db: the database
 * @accounts: the accounts service
 * @presence: the presence model, which `/api/online` reads
 * @hub: the hub that takes over upgraded WebSockets
 * @metrics: the metrics to count into and serve
 *
 * Returns: (transfer full): a server that listens on nothing yet
 */
MunityHttpServer *
munity_http_server_new (const MunityConfig *config,
                        MunityDb           *db,
                        MunityAccounts     *accounts,
                        MunityPresence     *presence,
                        MunityWsHub        *hub,
                        MunityMetrics      *metrics)
{
  MunityHttpServer *self = g_object_new (MUNITY_TYPE_HTTP_SERVER, NULL);

  self->db = g_object_ref (db);
  self->accounts = g_object_ref (accounts);
  self->presence = g_object_ref (presence);
  self->hub = g_object_ref (hub);
  self->metrics = g_object_ref (metrics);
  self->allowed_origins = g_strdupv (config->allowed_origins);
  self->cookie_secure = config->cookie_secure;
  self->node_name = g_strdup (config->node_name);
  self->allowed_hosts = g_strdupv (config->allowed_hosts);
  self->metrics_apart = config->metrics_listen != NULL;
  self->tls = config->tls_certificate != NULL;
  for (gsize i = 0; config->trusted_proxies[i] != NULL; i++)
    {
      GInetAddressMask *mask = munity_config_parse_proxy (config->trusted_proxies[i], NULL);
      if (mask != NULL)
        g_ptr_array_add (self->proxies, mask);
    }
  self->avatar_dir = munity_avatar_dir_for_state_dir (config->state_dir);

  {
    g_autofree char *web_root = munity_static_default_root ();
    self->web = munity_static_new (web_root);
    g_message ("Serving the web client from %s", web_root);
  }

  self->server = soup_server_new ("server-header", "munityd/" PACKAGE_VERSION " ", NULL);
  soup_server_add_early_handler (self->server, NULL, handle_early, self, NULL);
  soup_server_add_handler (self->server, NULL, handle_request, self, NULL);
  g_signal_connect (self->server, "request-started", G_CALLBACK (on_request_started), self);
  g_signal_connect (self->server, "request-finished", G_CALLBACK (on_request_done), self);
  self->listener = munity_listener_new (self->server,
                                        config->max_connections > 0 ? config->max_connections
                                                                    : munity_listener_default_max_connections (),
                                        config->max_connections_per_address,
                                        config->request_timeout_s);
  munity_listener_set_count_func (self->listener, count_websockets, self);
  if (self->tls)
    {
      /* Checked when the configuration was read (exit 2 if bad). */
      g_autoptr(GTlsCertificate) certificate =
        g_tls_certificate_new_from_files (config->tls_certificate, config->tls_key, NULL);
      munity_listener_set_tls_certificate (self->listener, certificate);
    }

  self->prune_id = g_timeout_add_seconds (60, prune_cb, self);

  return self;
}

/**
 * munity_http_server_add_socket:
 * @self: the server
 * @socket: a bound, listening socket
 * @kind: what @socket serves
 *
 * Starts accepting connections on @socket.
 */
void
munity_http_server_add_socket (MunityHttpServer     *self,
                               GSocket              *socket,
                               MunityHttpSocketKind  kind)
{
  munity_listener_add_socket (self->listener, socket, kind);
}

/**
 * munity_http_server_stop_listening:
 * @self: the server
 *
 * Stops accepting connections; requests in flight go on.
 */
void
munity_http_server_stop_listening (MunityHttpServer *self)
{
  munity_listener_stop (self->listener);
}

/**
 * munity_http_server_disconnect:
 * @self: the server
 *
 * Closes every listener and every connection, and lets go of the hub.
 */
void
munity_http_server_disconnect (MunityHttpServer *self)
{
  /* No WebSocket is handed over any more; the hub's own sockets end with
   * it. */
  g_clear_object (&self->hub);
  soup_server_disconnect (self->server);
}

/**
 * munity_http_server_get_n_in_flight:
 * @self: the server
 *
 * Returns: how many HTTP requests are being answered
 */
guint
munity_http_server_get_n_in_flight (MunityHttpServer *self)
{
  return g_hash_table_size (self->in_flight);
}

/**
 * munity_http_server_get_stalled_us:
 * @self: the server
 * @now_us: the monotonic time
 *
 * Returns: for how long accepting connections has been impossible for want
 *   of resources, or 0 while it works
 */
gint64
munity_http_server_get_stalled_us (MunityHttpServer *self,
                                   gint64            now_us)
{
  return munity_listener_get_stalled_us (self->listener, now_us);
}
