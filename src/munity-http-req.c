/* munity-http-req.c — one API request: its state, its body and its answer
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <string.h>
#include <sys/socket.h>

#include "munity-error.h"
#include "munity-http-guard.h"
#include "munity-http-private.h"
#include "munity-session.h"

/* ---- behind a reverse proxy -------------------------------------------- */

static gboolean
is_trusted_proxy (MunityHttpServer *self,
                  const char       *address)
{
  g_autoptr(GInetAddress) inet = NULL;

  if (self->proxies->len == 0 || address == NULL)
    return FALSE;
  inet = g_inet_address_new_from_string (address);
  if (inet == NULL)
    return FALSE;
  for (guint i = 0; i < self->proxies->len; i++)
    {
      if (g_inet_address_mask_matches (self->proxies->pdata[i], inet))
        return TRUE;
    }
  return FALSE;
}

static gboolean
trusted_cb (const char *address,
            gpointer    user_data)
{
  return is_trusted_proxy (user_data, address);
}

/**
 * munity_http_server_client_of:
 * @self: the server
 * @msg: a request
 *
 * The client's address for throttling and logs (see
 * munity_http_client_address()).
 *
 * Returns: (transfer full) (nullable): the address
 */
char *
munity_http_server_client_of (MunityHttpServer  *self,
                              SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);

  return munity_http_client_address (soup_server_message_get_remote_host (msg),
                                     soup_message_headers_get_one (headers, "X-Forwarded-For"),
                                     soup_message_headers_get_one (headers, "Forwarded"),
                                     trusted_cb, self);
}

/**
 * munity_http_server_scheme_of:
 * @self: the server
 * @msg: a request
 *
 * `https` or `http`, as the client sees it: a trusted proxy's
 * X-Forwarded-Proto (or Forwarded proto=) tells it when TLS ends there.
 *
 * Returns: (transfer none): the scheme
 */
const char *
munity_http_server_scheme_of (MunityHttpServer  *self,
                              SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *scheme = g_uri_get_scheme (soup_server_message_get_uri (msg));

  if (is_trusted_proxy (self, soup_server_message_get_remote_host (msg)))
    {
      const char *proto = soup_message_headers_get_one (headers, "X-Forwarded-Proto");
      g_autoptr(GHashTable) params = NULL;

      if (proto == NULL && soup_message_headers_get_one (headers, "Forwarded") != NULL)
        {
          g_auto(GStrv) elements = g_strsplit (soup_message_headers_get_one (headers, "Forwarded"), ",", 2);
          params = soup_header_parse_semi_param_list (elements[0]);
          proto = g_hash_table_lookup (params, "proto");
        }
      if (proto != NULL && g_ascii_strncasecmp (proto, "https", 5) == 0 &&
          (proto[5] == '\0' || proto[5] == ',' || proto[5] == ' '))
        return "https";
      if (proto != NULL && g_ascii_strncasecmp (proto, "http", 4) == 0 &&
          (proto[4] == '\0' || proto[4] == ',' || proto[4] == ' '))
        return "http";
    }
  return g_str_equal (scheme, "https") ? "https" : "http";
}

/* ---- the request's life ------------------------------------------------ */

/* The client went away before its answer: whatever the request still waits
 * for is not needed any more. With libsoup 3.2 this comes late for a paused
 * request (munity-http-soup.c, assumption 6). */
static void
stop_hangup_watch (MunityHttpReq *req)
{
  if (req->hangup_watch != NULL)
    {
      g_source_destroy (req->hangup_watch);
      g_clear_pointer (&req->hangup_watch, g_source_unref);
    }
}

static void
on_disconnected (SoupServerMessage *msg,
                 gpointer           user_data)
{
  MunityHttpReq *req = user_data;

  /* The listener has closed the watched descriptor by now. */
  stop_hangup_watch (req);
  g_cancellable_cancel (req->cancellable);
}

/* libsoup does not read a paused message's socket, so its "disconnected"
 * comes only when the answer is written: a client that hangs up during an
 * argon2id hash or a slow query is noticed here instead. An end of stream
 * means the client is gone (as nginx treats it, "client prematurely closed
 * connection"); bytes after the request (a pipelined request, a TLS
 * close_notify) cannot be told apart from a client that still waits, so
 * the watch ends there and the request runs to its answer. */
static gboolean
hangup_cb (int          fd,
           GIOCondition condition,
           gpointer     user_data)
{
  MunityHttpReq *req = user_data;
  char byte;
  gssize n;

  n = recv (fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
      (condition & (G_IO_HUP | G_IO_ERR)) == 0)
    return G_SOURCE_CONTINUE;

  g_clear_pointer (&req->hangup_watch, g_source_unref);
  if (n <= 0)
    g_cancellable_cancel (req->cancellable);
  return G_SOURCE_REMOVE;
}

/**
 * munity_http_req_new:
 * @self: the server
 * @msg: the request
 * @path: its path
 *
 * Every request ends with munity_http_req_done() (or a function that calls
 * it), exactly once. Until then @msg stays alive.
 *
 * Returns: (transfer full): a new request
 */
MunityHttpReq *
munity_http_req_new (MunityHttpServer  *self,
                     SoupServerMessage *msg,
                     const char        *path)
{
  MunityHttpReq *req = g_new0 (MunityHttpReq, 1);

  req->self = g_object_ref (self);
  req->msg = g_object_ref (msg);
  req->path = g_strdup (path);
  return req;
}

static void
req_free (MunityHttpReq *req)
{
  stop_hangup_watch (req);
  g_clear_signal_handler (&req->disconnected_id, req->msg);
  g_clear_object (&req->msg);
  g_clear_object (&req->self);
  g_clear_object (&req->cancellable);
  g_free (req->path);
  g_free (req->token);
  g_free (req->client);
  g_clear_pointer (&req->user, munity_user_info_unref);
  g_clear_pointer (&req->body, json_object_unref);
  g_free (req);
}

/**
 * munity_http_req_pause:
 * @req: a request
 *
 * Pauses the message while the handler waits; munity_http_req_done()
 * unpauses it. From now on @req's @cancellable is cancelled if the client
 * goes away: a handler passes it to the queries and file operations whose
 * result only the answer needs. (A request answered at once, such as the
 * WebSocket handshake, never needs one and costs none.)
 */
void
munity_http_req_pause (MunityHttpReq *req)
{
  int fd;

  if (!req->paused)
    {
      req->paused = TRUE;
      req->cancellable = g_cancellable_new ();
      req->disconnected_id = g_signal_connect (req->msg, "disconnected", G_CALLBACK (on_disconnected), req);
      fd = munity_listener_peek_fd (req->self->listener, req->msg);
      if (fd >= 0)
        {
          req->hangup_watch = g_unix_fd_source_new (fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
          g_source_set_callback (req->hangup_watch, G_SOURCE_FUNC (hangup_cb), req, NULL);
          g_source_set_static_name (req->hangup_watch, "munity-http-hangup");
          g_source_attach (req->hangup_watch, NULL);
        }
      soup_server_message_pause (req->msg);
    }
}

static gboolean
req_is_gone (MunityHttpReq *req)
{
  return req->cancellable != NULL && g_cancellable_is_cancelled (req->cancellable);
}

/**
 * munity_http_req_done:
 * @req: (transfer full): a request whose answer is set
 *
 * Ends @req: the answer goes out, unless the client went away.
 */
void
munity_http_req_done (MunityHttpReq *req)
{
  /* A gone message is never unpaused (munity-http-soup.c, assumption 6). */
  if (req->paused && !req_is_gone (req))
    soup_server_message_unpause (req->msg);
  req_free (req);
}

/**
 * munity_http_req_end_if_gone:
 * @req: a request
 *
 * An asynchronous step calls this before it touches the message: if the
 * client went away, @req ends here without an answer (an error such as
 * %G_IO_ERROR_CANCELLED is then no fault to log).
 *
 * Returns: %TRUE if @req ended (the caller must not use it any more)
 */
gboolean
munity_http_req_end_if_gone (MunityHttpReq *req)
{
  if (!req_is_gone (req))
    return FALSE;
  g_debug ("The client of %s %s went away before its answer",
           soup_server_message_get_method (req->msg), req->path);
  req_free (req);
  return TRUE;
}

/* ---- answers ----------------------------------------------------------- */

/**
 * munity_http_set_json:
 * @msg: a request
 * @status: the HTTP status
 * @node: the body
 *
 * Answers @msg with @node, not to be cached.
 */
void
munity_http_set_json (SoupServerMessage *msg,
                      guint              status,
                      JsonNode          *node)
{
  g_autofree char *text = json_to_string (node, FALSE);
  gsize length = strlen (text);

  soup_server_message_set_status (msg, status, munity_http_status_phrase (status));
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Cache-Control", "no-store");
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE,
                                    g_steal_pointer (&text), length);
}

/**
 * munity_http_set_error_code:
 * @msg: a request
 * @status: the HTTP status
 * @code: the JSON error code
 * @message: a sentence for the client
 *
 * Answers @msg with a JSON error.
 */
void
munity_http_set_error_code (SoupServerMessage *msg,
                            guint              status,
                            const char        *code,
                            const char        *message)
{
  char *text = munity_error_body_new (code, message);

  soup_server_message_set_status (msg, status, munity_http_status_phrase (status));
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control", "no-store");
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, text, strlen (text));
  /* also for the refused WebSocket handshakes answered early */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");
}

/**
 * munity_http_set_error:
 * @msg: a request
 * @error: what went wrong
 *
 * Answers @msg with @error's HTTP status and JSON error (see
 * munity_error_to_http()); an internal error is logged, not shown.
 */
void
munity_http_set_error (SoupServerMessage *msg,
                       const GError      *error)
{
  const char *code;
  guint status = munity_error_to_http (error, &code);

  if (status == 500)
    g_warning ("Internal error answering %s %s: %s",
               soup_server_message_get_method (msg),
               g_uri_get_path (soup_server_message_get_uri (msg)), error->message);

  /* Internal messages are not for clients. */
  munity_http_set_error_code (msg, status, code, status == 500 ? _("Internal error.") : error->message);
}

/**
 * munity_http_req_fail:
 * @req: (transfer full): a request
 * @error: what went wrong
 *
 * Answers @req with @error and ends it; quietly when the client went away.
 */
void
munity_http_req_fail (MunityHttpReq *req,
                      const GError  *error)
{
  if (munity_http_req_end_if_gone (req))
    return;
  munity_http_set_error (req->msg, error);
  munity_http_req_done (req);
}

/**
 * munity_http_req_fail_code:
 * @req: (transfer full): a request
 * @code: the error
 * @message: a sentence for the client
 *
 * Answers @req with a #MUNITY_ERROR and ends it.
 */
void
munity_http_req_fail_code (MunityHttpReq *req,
                           MunityError    code,
                           const char    *message)
{
  g_autoptr(GError) error = g_error_new_literal (MUNITY_ERROR, code, message);

  munity_http_req_fail (req, error);
}

static JsonNode *
wrap_user (MunityUserInfo *user,
           gboolean        with_email)
{
  JsonObject *object = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_member (object, "user", munity_user_info_to_json (user, with_email));
  json_node_take_object (node, object);
  return node;
}

/**
 * munity_http_req_reply_user:
 * @req: (transfer full): a request
 * @status: the HTTP status
 * @user: the user to answer with
 * @with_email: whether the answer shows the email address
 *
 * Answers `{"user": …}` and ends @req.
 */
void
munity_http_req_reply_user (MunityHttpReq  *req,
                            guint           status,
                            MunityUserInfo *user,
                            gboolean        with_email)
{
  g_autoptr(JsonNode) node = wrap_user (user, with_email);

  munity_http_set_json (req->msg, status, node);
  munity_http_req_done (req);
}

/**
 * munity_http_req_cookie_secure:
 * @req: a request
 *
 * Secure cookies when configured, when munityd speaks TLS, and when a
 * trusted proxy says the client does.
 *
 * Returns: whether cookies get the `Secure` attribute
 */
gboolean
munity_http_req_cookie_secure (MunityHttpReq *req)
{
  return req->self->cookie_secure || req->self->tls ||
         g_str_equal (munity_http_server_scheme_of (req->self, req->msg), "https");
}

/**
 * munity_http_req_set_session_cookie:
 * @req: a request
 * @token: (nullable): the new session's token, or %NULL to clear the cookie
 *
 * Adds the session cookie to the answer.
 */
void
munity_http_req_set_session_cookie (MunityHttpReq *req,
                                    const char    *token)
{
  g_autofree char *cookie = token != NULL
    ? munity_session_set_cookie (token, munity_http_req_cookie_secure (req))
    : munity_session_clear_cookie (munity_http_req_cookie_secure (req));

  soup_message_headers_append (soup_server_message_get_response_headers (req->msg),
                               "Set-Cookie", cookie);
}

/**
 * munity_http_req_client:
 * @req: a request
 *
 * Returns: (transfer none) (nullable): the client's address (see
 *   munity_http_server_client_of())
 */
const char *
munity_http_req_client (MunityHttpReq *req)
{
  if (req->client == NULL)
    req->client = munity_http_server_client_of (req->self, req->msg);
  return req->client;
}

/* ---- JSON bodies ------------------------------------------------------- */

/* json-glib turns \u0000 into a NUL that would silently cut a string short.
 * The body is valid JSON, so the field must get its own error: each escaped
 * NUL becomes U+0001, a control character that every field's check refuses
 * (names, email, bio) or that munity_http_req_parse_body() refuses in a
 * password. A backslash escapes the next character, so count them. Returns
 * whether there was one. */
static gboolean
replace_escaped_nul (char  *text,
                     gsize  length)
{
  gboolean found = FALSE;

  for (gsize i = 0; i < length; i++)
    {
      if (text[i] != '\\')
        continue;
      if (i + 5 < length && text[i + 1] == 'u' && strncmp (text + i + 2, "0000", 4) == 0)
        {
          text[i + 5] = '1';
          found = TRUE;
        }
      i++; /* skip the escaped character */
    }
  return found;
}

static JsonObject *
parse_json_object (SoupServerMessage  *msg,
                   gboolean           *out_had_nul,
                   GError            **error)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  gsize length;
  g_autofree char *data = g_bytes_unref_to_data (g_steal_pointer (&bytes), &length);
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root;

  if (length == 0 || !g_utf8_validate (data, length, NULL))
    goto bad;
  *out_had_nul = replace_escaped_nul (data, length);
  if (!json_parser_load_from_data (parser, data, length, NULL))
    goto bad;

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    goto bad;

  return json_object_ref (json_node_get_object (root));

bad:
  g_set_error_literal (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_JSON,
                       _("The request body must be a JSON object in UTF-8."));
  return NULL;
}

/**
 * munity_http_get_string_member:
 * @object: a JSON object
 * @name: a member's name
 *
 * Returns: (transfer none) (nullable): the member's string value, or %NULL
 *   if it is missing or not a string
 */
const char *
munity_http_get_string_member (JsonObject *object,
                               const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gboolean
content_type_is_json (SoupServerMessage *msg)
{
  const char *type = soup_message_headers_get_content_type (soup_server_message_get_request_headers (msg), NULL);

  return type != NULL && g_ascii_strcasecmp (type, "application/json") == 0;
}

/**
 * munity_http_req_parse_body:
 * @req: (transfer full): a request of a %MUNITY_HTTP_ROUTE_JSON route
 * @too_large: whether the body grew past its limit while it was read
 *
 * Checks the body's type and size and parses it into @req's @body.
 *
 * Returns: %TRUE if @req goes on; %FALSE if it was answered with an error
 *   (and ended)
 */
gboolean
munity_http_req_parse_body (MunityHttpReq *req,
                            gboolean       too_large)
{
  g_autoptr(GError) error = NULL;
  gboolean had_nul = FALSE;

  if (!content_type_is_json (req->msg))
    {
      munity_http_req_fail_code (req, MUNITY_ERROR_UNSUPPORTED_MEDIA_TYPE,
                                 _("Send the body as Content-Type: application/json."));
      return FALSE;
    }
  if (too_large || soup_server_message_get_request_body (req->msg)->length > MUNITY_JSON_BODY_MAX)
    {
      munity_http_req_fail_code (req, MUNITY_ERROR_PAYLOAD_TOO_LARGE,
                                 _("The request body is larger than 64 KiB."));
      return FALSE;
    }
  req->body = parse_json_object (req->msg, &had_nul, &error);
  if (req->body == NULL)
    {
      munity_http_req_fail (req, error);
      return FALSE;
    }
  /* Passwords may hold any other character; a NUL it cannot hold. */
  if (had_nul && strchr (munity_http_get_string_member (req->body, "password") ?: "", '\001') != NULL)
    {
      if (req->method->func == munity_http_handle_register)
        munity_http_req_fail_code (req, MUNITY_ERROR_INVALID_PASSWORD, _("The password cannot contain NUL."));
      else
        munity_http_req_fail_code (req, MUNITY_ERROR_BAD_CREDENTIALS, _("Wrong email address or password."));
      return FALSE;
    }
  return TRUE;
}
