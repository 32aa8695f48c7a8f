/* munity-http-ws.c — the WebSocket handshake, and taking the upgraded connection from libsoup
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <unistd.h>

#include "munity-error.h"
#include "munity-http-private.h"
#include "munity-session.h"

/* Origin (403) and session (401) are checked in the early handler, before
 * libsoup decides on the upgrade, with the message paused while the
 * session is looked up (doc/websocket-design.md). The user and session
 * found wait in the message's #MunityHttpExchange for the handler and for
 * the hand-over to the hub.
 *
 * This path runs once per WebSocket, thousands of times in a storm: it
 * takes no cancellable and connects no signal of its own. A message that
 * went away while its session was looked up is no longer in the server's
 * in-flight table, which is how ws_authenticated_cb() knows. */

typedef struct {
  MunityHttpServer  *self;     /* (owned) */
  SoupServerMessage *msg;      /* (owned) */
  char              *session;  /* (owned) token hash */
} WsAuth;

static void
ws_authenticated_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  WsAuth *auth = user_data;
  g_autoptr(MunityUserInfo) user = NULL;
  g_autoptr(GError) error = NULL;
  MunityHttpExchange *exchange;

  user = munity_accounts_authenticate_finish (MUNITY_ACCOUNTS (source), result, &error);
  exchange = munity_http_server_lookup_exchange (auth->self, auth->msg);

  /* Gone: never unpaused (munity-http-soup.c, assumption 6). */
  if (exchange != NULL)
    {
      if (user == NULL)
        munity_http_set_error (auth->msg, error);
      else
        {
          exchange->ws_user = g_steal_pointer (&user);
          exchange->ws_session = g_steal_pointer (&auth->session);
        }
      soup_server_message_unpause (auth->msg);
    }

  g_object_unref (auth->msg);
  g_object_unref (auth->self);
  g_free (auth->session);
  g_free (auth);
}

/* `?view=window` watches a window (doc/protocol.md §8); no `view` the
 * whole list. Returns FALSE for any other view. */
static gboolean
parse_mode (SoupServerMessage *msg,
            MunityWsMode      *out_mode)
{
  const char *query = g_uri_get_query (soup_server_message_get_uri (msg));
  g_autoptr(GHashTable) params = NULL;
  const char *view;

  *out_mode = MUNITY_WS_MODE_LIST;
  if (query == NULL)
    return TRUE;
  params = g_uri_parse_params (query, -1, "&", G_URI_PARAMS_NONE, NULL);
  if (params == NULL)
    return FALSE;
  view = g_hash_table_lookup (params, "view");
  if (view == NULL)
    return TRUE;
  if (!g_str_equal (view, "window"))
    return FALSE;
  *out_mode = MUNITY_WS_MODE_WINDOW;
  return TRUE;
}

/**
 * munity_http_ws_early:
 * @self: the server
 * @msg: a `GET /ws` whose headers were read
 *
 * Refuses a foreign origin and a request without a session cookie, and
 * looks the session up with @msg paused.
 */
void
munity_http_ws_early (MunityHttpServer  *self,
                      SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *origin = soup_message_headers_get_one (headers, "Origin");
  g_autofree char *token = NULL;
  MunityHttpExchange *exchange;
  MunityWsMode mode;
  WsAuth *auth;

  if (origin != NULL &&
      !munity_http_origin_is_allowed (origin, munity_http_server_scheme_of (self, msg),
                                      soup_message_headers_get_one (headers, "Host"),
                                      (const char * const *) self->allowed_origins))
    {
      g_message ("Refused a WebSocket from origin %s", origin);
      munity_http_set_error_code (msg, SOUP_STATUS_FORBIDDEN, "forbidden-origin",
                                  _("Requests from this origin are not allowed."));
      return;
    }

  token = munity_session_token_from_cookie (soup_message_headers_get_one (headers, "Cookie"));
  if (token == NULL)
    {
      munity_http_set_error_code (msg, SOUP_STATUS_UNAUTHORIZED, "not-logged-in", _("You are not logged in."));
      return;
    }

  if (!parse_mode (msg, &mode))
    {
      munity_http_set_error_code (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                  _("The only view is \"window\"."));
      return;
    }
  exchange = munity_http_server_lookup_exchange (self, msg);
  if (exchange != NULL)
    exchange->ws_mode = mode;

  auth = g_new0 (WsAuth, 1);
  auth->self = g_object_ref (self);
  auth->msg = g_object_ref (msg);
  auth->session = munity_session_token_hash (token);
  soup_server_message_pause (msg);
  munity_accounts_authenticate_async (self->accounts, token, NULL, ws_authenticated_cb, auth);
}

static void
ws_upgraded_cb (SoupServerMessage *msg,
                gpointer           user_data)
{
  MunityHttpServer *self = user_data;
  g_autoptr(SoupServerMessage) keep = g_object_ref (msg);
  MunityHttpExchange *exchange = munity_http_server_lookup_exchange (self, msg);
  g_autoptr(MunityUserInfo) user = NULL;
  g_autofree char *session = NULL;
  MunityWsMode mode = MUNITY_WS_MODE_LIST;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  gboolean relayed = FALSE;
  int fd;

  /* The steal ends the exchange (munity-http-soup.c, assumption 7). */
  if (exchange != NULL)
    {
      user = g_steal_pointer (&exchange->ws_user);
      session = g_steal_pointer (&exchange->ws_session);
      mode = exchange->ws_mode;
    }

  /* From here the connection is ours: the listener's own descriptor joins
   * the hub's epoll set, libsoup's objects (and its descriptor) go. */
  fd = munity_listener_take_fd (self->listener, msg, &relayed);
  stream = munity_http_soup_steal (msg);
  /* libsoup counts no stolen request as finished (assumption 7). */
  munity_metrics_count_http (self->metrics, SOUP_STATUS_SWITCHING_PROTOCOLS);
  if (stream != NULL && !relayed)
    g_io_stream_close (stream, NULL, NULL);

  if (fd < 0)
    return;
  if (self->hub == NULL || user == NULL || munity_fd_peer_is_gone (fd))
    {
      close (fd);
      return;
    }
  if (!munity_ws_hub_add (self->hub, fd, user, session, mode, &error))
    g_message ("Could not take over a WebSocket: %s", error->message);
}

/**
 * munity_http_handle_ws_upgrade:
 * @req: (transfer full): a `GET /ws` that passed munity_http_ws_early()
 *
 * Answers the handshake with 101 and takes the connection over once the
 * 101 was written.
 */
void
munity_http_handle_ws_upgrade (MunityHttpReq *req)
{
  MunityHttpExchange *exchange = munity_http_server_lookup_exchange (req->self, req->msg);
  g_autoptr(GError) error = NULL;

  if (exchange == NULL || exchange->ws_user == NULL)
    {
      munity_http_req_fail_code (req, MUNITY_ERROR_NOT_LOGGED_IN, _("You are not logged in."));
      return;
    }

  /* No extension is offered: permessage-deflate costs ~90 KiB per socket
   * (doc/websocket-design.md). */
  if (!soup_websocket_server_check_handshake (req->msg, NULL, NULL, NULL, &error))
    {
      munity_http_set_error_code (req->msg, SOUP_STATUS_BAD_REQUEST, "bad-request", error->message);
      munity_http_req_done (req);
      return;
    }

  soup_websocket_server_process_handshake (req->msg, NULL, NULL, NULL, NULL);
  g_signal_connect_object (req->msg, "wrote-informational", G_CALLBACK (ws_upgraded_cb), req->self, 0);
  munity_http_req_done (req);
}
