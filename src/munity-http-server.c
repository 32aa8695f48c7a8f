/* munity-http-server.c — the HTTP API of munityd
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "munity-avatar.h"
#include "munity-error.h"
#include "munity-http-guard.h"
#include "munity-http-server.h"
#include "munity-listener.h"
#include "munity-presence.h"
#include "munity-ws-hub.h"
#include "munity-session.h"
#include "munity-static.h"
#include "munity-validate.h"

/**
 * MunityHttpServer:
 *
 * The HTTP side of munityd on a #SoupServer: routing, the JSON error
 * format, the Origin rule, body limits, and the handlers of the API. A
 * handler that needs the database pauses its message and unpauses it when
 * the answer comes, so the main loop never waits.
 */
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
  MunityPresence *presence;         /* (owned) (nullable) */
  MunityWsHub    *hub;              /* (owned) (nullable) */
  MunityStatic   *web;              /* (owned) the web client's files */
  char           *avatar_dir;       /* (owned) STATE/avatars */
  char          **allowed_origins;  /* (owned) */
  gboolean        cookie_secure;
  GHashTable     *in_flight;        /* (owned) set of SoupServerMessage (unowned) */
  guint           prune_id;
};

G_DEFINE_FINAL_TYPE (MunityHttpServer, munity_http_server, G_TYPE_OBJECT)

/* libsoup's own 400 for a request it cannot parse gets this body. */
#define BAD_REQUEST_BODY \
  "{\"error\":{\"code\":\"bad-request\",\"message\":\"The request is not valid HTTP.\"}}"

/* ---- one request ------------------------------------------------------- */

typedef struct _Req Req;
typedef void (*RouteFunc) (Req *req);

enum {
  ROUTE_AUTH = 1 << 0,   /* needs a session */
  ROUTE_JSON = 1 << 1,   /* takes a JSON object body */
  ROUTE_IMAGE = 1 << 2,  /* takes a picture, up to 5 MiB */
};

typedef struct {
  const char *method;
  RouteFunc   func;
  guint       flags;
} RouteMethod;

typedef struct {
  const char  *path;       /* exact, or a prefix when is_prefix */
  gboolean     is_prefix;
  const char  *allow;      /* the Allow header */
  RouteMethod  methods[3];
} Route;

struct _Req {
  MunityHttpServer  *self;        /* (owned) */
  SoupServerMessage *msg;         /* (owned) */
  const Route       *route;
  const RouteMethod *method;
  char              *path;        /* (owned) */
  char              *token;       /* (owned) (nullable) from the cookie */
  char              *client;      /* (owned) (nullable) see req_client() */
  MunityUserInfo    *user;        /* (owned) (nullable) */
  JsonObject        *body;        /* (owned) (nullable) */
  gboolean           paused;
  gboolean           disconnected;
  gulong             disconnected_id;
};

static void
on_disconnected (SoupServerMessage *msg,
                 gpointer           user_data)
{
  Req *req = user_data;

  req->disconnected = TRUE;
}

static Req *
req_new (MunityHttpServer  *self,
         SoupServerMessage *msg,
         const char        *path)
{
  Req *req = g_new0 (Req, 1);

  req->self = g_object_ref (self);
  req->msg = g_object_ref (msg);
  req->path = g_strdup (path);
  req->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (on_disconnected), req);
  return req;
}

static void
req_free (Req *req)
{
  g_clear_signal_handler (&req->disconnected_id, req->msg);
  g_clear_object (&req->msg);
  g_clear_object (&req->self);
  g_free (req->path);
  g_free (req->token);
  g_free (req->client);
  g_clear_pointer (&req->user, munity_user_info_unref);
  g_clear_pointer (&req->body, json_object_unref);
  g_free (req);
}

static void
req_pause (Req *req)
{
  if (!req->paused)
    {
      req->paused = TRUE;
      soup_server_message_pause (req->msg);
    }
}

/* Every request ends here, exactly once. */
static void
req_done (Req *req)
{
  if (req->paused && !req->disconnected)
    soup_server_message_unpause (req->msg);
  req_free (req);
}

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

/* The client's address for throttling and logs (see
 * munity_http_client_address()). */
static char *
client_of (MunityHttpServer  *self,
           SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);

  return munity_http_client_address (soup_server_message_get_remote_host (msg),
                                     soup_message_headers_get_one (headers, "X-Forwarded-For"),
                                     soup_message_headers_get_one (headers, "Forwarded"),
                                     trusted_cb, self);
}

static const char *
req_client (Req *req)
{
  if (req->client == NULL)
    req->client = client_of (req->self, req->msg);
  return req->client;
}

/* `https` or `http`, as the client sees it: a trusted proxy's
 * X-Forwarded-Proto (or Forwarded proto=) tells it when TLS ends there. */
static const char *
scheme_of (MunityHttpServer  *self,
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

/* Secure cookies when configured, when munityd speaks TLS, and when a
 * trusted proxy says the client does. */
static gboolean
req_cookie_secure (Req *req)
{
  return req->self->cookie_secure || req->self->tls ||
         g_str_equal (scheme_of (req->self, req->msg), "https");
}

/* ---- responses --------------------------------------------------------- */

static void
set_json (SoupServerMessage *msg,
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

static void
set_error_code (SoupServerMessage *msg,
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

static void
set_error (SoupServerMessage *msg,
           const GError      *error)
{
  const char *code;
  guint status = munity_error_to_http (error, &code);

  if (status == 500)
    g_warning ("Internal error answering %s %s: %s",
               soup_server_message_get_method (msg),
               g_uri_get_path (soup_server_message_get_uri (msg)), error->message);

  /* Internal messages are not for clients. */
  set_error_code (msg, status, code, status == 500 ? _("Internal error.") : error->message);
}

static void
req_fail (Req          *req,
          const GError *error)
{
  set_error (req->msg, error);
  req_done (req);
}

static void
req_fail_code (Req         *req,
               MunityError  code,
               const char  *message)
{
  g_autoptr(GError) error = g_error_new_literal (MUNITY_ERROR, code, message);
  req_fail (req, error);
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

static void
req_reply_user (Req            *req,
                guint           status,
                MunityUserInfo *user,
                gboolean        with_email)
{
  g_autoptr(JsonNode) node = wrap_user (user, with_email);

  set_json (req->msg, status, node);
  req_done (req);
}

static void
set_session_cookie (Req        *req,
                    const char *token)
{
  g_autofree char *cookie = token != NULL
    ? munity_session_set_cookie (token, req_cookie_secure (req))
    : munity_session_clear_cookie (req_cookie_secure (req));

  soup_message_headers_append (soup_server_message_get_response_headers (req->msg),
                               "Set-Cookie", cookie);
}

/* ---- JSON bodies ------------------------------------------------------- */

/* json-glib turns \u0000 into a NUL that would silently cut a string short.
 * The body is valid JSON, so the field must get its own error: each escaped
 * NUL becomes U+0001, a control character that every field's check refuses
 * (names, email, bio) or that run_route() refuses in a password. A
 * backslash escapes the next character, so count them. Returns whether
 * there was one. */
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

/* A member's string value, or NULL if it is missing or not a string. */
static const char *
get_string_member (JsonObject *object,
                   const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* ---- handlers ---------------------------------------------------------- */

static void
register_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Req *req = user_data;
  g_autoptr(MunityUserInfo) user = NULL;
  g_autofree char *token = NULL;
  g_autofree char *device_token = NULL;
  g_autoptr(GError) error = NULL;
  guint retry_after = 0;

  user = munity_accounts_register_finish (MUNITY_ACCOUNTS (source), result, &token,
                                          &device_token, &retry_after, &error);
  if (user == NULL)
    {
      /* set with 429 rate-limited and 503 busy */
      if (retry_after > 0)
        {
          g_autofree char *value = g_strdup_printf ("%u", retry_after);
          soup_message_headers_replace (soup_server_message_get_response_headers (req->msg),
                                        "Retry-After", value);
        }
      if (g_error_matches (error, MUNITY_ERROR, MUNITY_ERROR_RATE_LIMITED))
        g_message ("Refused a registration from %s: %s",
                   req_client (req), error->message);
      req_fail (req, error);
      return;
    }

  g_message ("Registered user %" G_GINT64_FORMAT, user->id);
  set_session_cookie (req, token);
  if (device_token != NULL)
    {
      g_autofree char *cookie = munity_session_device_cookie (device_token, req_cookie_secure (req));
      soup_message_headers_append (soup_server_message_get_response_headers (req->msg),
                                   "Set-Cookie", cookie);
    }
  req_reply_user (req, SOUP_STATUS_CREATED, user, TRUE);
}

static void
handle_register (Req *req)
{
  req_pause (req);
  munity_accounts_register_async (req->self->accounts,
                                  get_string_member (req->body, "first"),
                                  get_string_member (req->body, "last"),
                                  get_string_member (req->body, "email"),
                                  get_string_member (req->body, "password"),
                                  req_client (req),
                                  NULL, register_cb, req);
}

static void
login_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Req *req = user_data;
  g_autoptr(MunityUserInfo) user = NULL;
  g_autofree char *token = NULL;
  g_autofree char *device_token = NULL;
  g_autoptr(GError) error = NULL;
  guint retry_after = 0;

  user = munity_accounts_login_finish (MUNITY_ACCOUNTS (source), result, &token,
                                       &device_token, &retry_after, &error);
  if (user == NULL)
    {
      if (g_error_matches (error, MUNITY_ERROR, MUNITY_ERROR_RATE_LIMITED) ||
          g_error_matches (error, MUNITY_ERROR, MUNITY_ERROR_BUSY))
        {
          g_autofree char *value = g_strdup_printf ("%u", MAX (retry_after, 1));
          soup_message_headers_replace (soup_server_message_get_response_headers (req->msg),
                                        "Retry-After", value);
        }
      if (g_error_matches (error, MUNITY_ERROR, MUNITY_ERROR_BAD_CREDENTIALS) ||
          g_error_matches (error, MUNITY_ERROR, MUNITY_ERROR_RATE_LIMITED))
        g_message ("Failed login from %s: %s",
                   req_client (req), error->message);
      req_fail (req, error);
      return;
    }

  set_session_cookie (req, token);
  if (device_token != NULL)
    {
      g_autofree char *cookie = munity_session_device_cookie (device_token, req_cookie_secure (req));
      soup_message_headers_append (soup_server_message_get_response_headers (req->msg),
                                   "Set-Cookie", cookie);
    }
  req_reply_user (req, SOUP_STATUS_OK, user, TRUE);
}

static void
handle_login (Req *req)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (req->msg);
  g_autofree char *device_token = munity_session_device_token_from_cookie (soup_message_headers_get_one (headers, "Cookie"));

  req_pause (req);
  munity_accounts_login_async (req->self->accounts,
                               get_string_member (req->body, "email"),
                               get_string_member (req->body, "password"),
                               req_client (req),
                               device_token,
                               NULL, login_cb, req);
}

static void
logout_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Req *req = user_data;
  g_autoptr(GError) error = NULL;
  gint64 user_id;

  user_id = munity_accounts_logout_finish (MUNITY_ACCOUNTS (source), result, &error);
  if (user_id < 0)
    {
      req_fail (req, error);
      return;
    }

  /* That session's sockets close with 4001; the user leaves at once if
   * nothing else of theirs is open. */
  if (user_id > 0 && req->self->presence != NULL)
    {
      g_autofree char *session = munity_session_token_hash (req->token);
      munity_presence_end_session (req->self->presence, user_id, session);
    }

  set_session_cookie (req, NULL);
  soup_server_message_set_status (req->msg, SOUP_STATUS_NO_CONTENT, NULL);
  req_done (req);
}

static void
handle_logout (Req *req)
{
  req_pause (req);
  munity_accounts_logout_async (req->self->accounts, req->token, NULL, logout_cb, req);
}

static void
handle_me_get (Req *req)
{
  req_reply_user (req, SOUP_STATUS_OK, req->user, TRUE);
}

static void
update_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Req *req = user_data;
  g_autoptr(MunityUserInfo) user = NULL;
  g_autoptr(GError) error = NULL;

  user = munity_accounts_update_finish (MUNITY_ACCOUNTS (source), result, &error);
  if (user == NULL)
    {
      req_fail (req, error);
      return;
    }

  if (req->self->presence != NULL)
    munity_presence_update_user (req->self->presence, user);
  req_reply_user (req, SOUP_STATUS_OK, user, TRUE);
}

static void
handle_me_patch (Req *req)
{
  static const struct { const char *name; MunityError code; const char *message; } fields[] = {
    { "first", MUNITY_ERROR_INVALID_FIRST, N_("The first name must be a string.") },
    { "last", MUNITY_ERROR_INVALID_LAST, N_("The last name must be a string.") },
    { "bio", MUNITY_ERROR_INVALID_BIO, N_("The bio must be a string.") },
  };
  g_autoptr(GList) members = json_object_get_members (req->body);

  for (GList *l = members; l != NULL; l = l->next)
    {
      gboolean known = FALSE;

      for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
        known |= g_str_equal (l->data, fields[i].name);
      if (!known)
        {
          g_autofree char *message = g_strdup_printf (_("The field “%s” cannot be changed here."),
                                                      (const char *) l->data);
          req_fail_code (req, MUNITY_ERROR_UNKNOWN_FIELD, message);
          return;
        }
    }

  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      if (json_object_has_member (req->body, fields[i].name) &&
          get_string_member (req->body, fields[i].name) == NULL)
        {
          req_fail_code (req, fields[i].code, _(fields[i].message));
          return;
        }
    }

  req_pause (req);
  munity_accounts_update_async (req->self->accounts, req->user->id,
                                get_string_member (req->body, "first"),
                                get_string_member (req->body, "last"),
                                get_string_member (req->body, "bio"),
                                NULL, update_cb, req);
}

static void
get_user_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Req *req = user_data;
  g_autoptr(MunityUserInfo) user = NULL;
  g_autoptr(GError) error = NULL;

  user = munity_accounts_get_user_finish (MUNITY_ACCOUNTS (source), result, &error);
  if (user == NULL)
    {
      req_fail (req, error);
      return;
    }

  req_reply_user (req, SOUP_STATUS_OK, user, FALSE);
}

static void
handle_user_get (Req *req)
{
  const char *id_text = req->path + strlen ("/api/users/");
  gint64 id;

  if (!munity_parse_user_id (id_text, &id))
    {
      req_fail_code (req, MUNITY_ERROR_NO_SUCH_USER, _("There is no such user."));
      return;
    }

  req_pause (req);
  munity_accounts_get_user_async (req->self->accounts, id, NULL, get_user_cb, req);
}

/* Below this much free space where pictures (and, embedded, the database)
 * live, /healthz says the storage is full. */
#define STORAGE_LOW_BYTES (8 * 1024 * 1024)

typedef struct {
  Req      *req;
  gboolean  storage_full;
} Health;

static void
set_health (SoupServerMessage *msg,
            gboolean           database_ok,
            gboolean           storage_full)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  gboolean ok = database_ok && !storage_full;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "status");
  json_builder_add_string_value (builder, ok ? "ok" : "degraded");
  json_builder_set_member_name (builder, "database");
  json_builder_add_string_value (builder, database_ok ? "ok" : "unavailable");
  json_builder_set_member_name (builder, "storage");
  json_builder_add_string_value (builder, storage_full ? "full" : "ok");
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);

  set_json (msg, ok ? SOUP_STATUS_OK : SOUP_STATUS_SERVICE_UNAVAILABLE, root);
}

static void
health_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Health *health = user_data;
  g_autoptr(PGresult) res = NULL;
  g_autoptr(GError) error = NULL;

  res = munity_db_query_finish (MUNITY_DB (source), result, &error);
  if (res == NULL)
    g_debug ("Health check failed: %s", error->message);
  set_health (health->req->msg, res != NULL, health->storage_full);
  req_done (health->req);
  g_free (health);
}

static void
health_fs_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Health *health = user_data;
  Req *req = health->req;
  g_autoptr(GFileInfo) info = NULL;
  g_autoptr(GError) error = NULL;

  info = g_file_query_filesystem_info_finish (G_FILE (source), result, &error);
  if (info == NULL)
    g_debug ("Cannot tell the free space in %s: %s", req->self->avatar_dir, error->message);
  else if (g_file_info_has_attribute (info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE))
    health->storage_full = g_file_info_get_attribute_uint64 (info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE) < STORAGE_LOW_BYTES;

  if (!munity_db_is_up (req->self->db))
    {
      set_health (req->msg, FALSE, health->storage_full);
      req_done (req);
      g_free (health);
      return;
    }

  munity_db_query_async (req->self->db, "SELECT 1", 0, NULL, NULL, health_cb, health);
}

static void
handle_healthz (Req *req)
{
  g_autoptr(GFile) dir = g_file_new_for_path (req->self->avatar_dir);
  Health *health = g_new0 (Health, 1);

  health->req = req;
  req_pause (req);
  g_file_query_filesystem_info_async (dir, G_FILE_ATTRIBUTE_FILESYSTEM_FREE, G_PRIORITY_DEFAULT,
                                      NULL, health_fs_cb, health);
}

static void
handle_metrics (Req *req)
{
  g_autofree char *text = NULL;

  munity_metrics_set_gauge (req->self->metrics, "munity_database_up",
                            munity_db_is_up (req->self->db) ? 1 : 0);
  munity_metrics_set_gauge (req->self->metrics, "munity_http_connections",
                            munity_listener_get_n_connections (req->self->listener));
  if (req->self->hub != NULL)
    {
      guint64 flushes, writes;

      munity_ws_hub_get_stats (req->self->hub, &flushes, &writes);
      munity_metrics_set_gauge (req->self->metrics, "munity_ws_flushes", (gint64) flushes);
      munity_metrics_set_gauge (req->self->metrics, "munity_ws_writes", (gint64) writes);
    }
  text = munity_metrics_render (req->self->metrics);

  soup_server_message_set_status (req->msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (req->msg, "text/plain; version=0.0.4",
                                    SOUP_MEMORY_TAKE, g_steal_pointer (&text), strlen (text));
  req_done (req);
}

static void
handle_online (Req *req)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "users");
  json_builder_begin_array (builder);
  if (req->self->presence != NULL)
    {
      for (GList *l = munity_presence_peek_users (req->self->presence); l != NULL; l = l->next)
        json_builder_add_value (builder, munity_user_info_to_json (munity_user_get_info (l->data), FALSE));
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);

  set_json (req->msg, SOUP_STATUS_OK, root);
  req_done (req);
}

/* ---- pictures ---------------------------------------------------------- */

/* A picture is written to a temporary name in the avatars directory, then
 * renamed: a full disk or a crash never leaves half a picture under a name
 * that a user refers to. (g_file_replace() writes a file that does not
 * exist yet in place.) */
typedef struct {
  Req           *req;
  GBytes        *bytes;  /* (owned) */
  GFile         *tmp;    /* (owned) */
  GFile         *file;   /* (owned) the new picture */
  GOutputStream *out;    /* (owned) (nullable) */
  char          *url;    /* (owned) */
  GError        *write_error; /* (owned) (nullable) */
  gboolean       full;   /* the write failed for want of space */
} Upload;

static void
upload_free (Upload *upload)
{
  g_clear_pointer (&upload->bytes, g_bytes_unref);
  g_clear_object (&upload->tmp);
  g_clear_object (&upload->file);
  g_clear_object (&upload->out);
  g_clear_error (&upload->write_error);
  g_free (upload->url);
  g_free (upload);
}

static void
deleted_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!g_file_delete_finish (G_FILE (source), result, &error))
    g_debug ("Removing an old picture: %s", error->message);
}

static void
delete_avatar_url (MunityHttpServer *self,
                   const char       *url)
{
  const char *name;
  g_autoptr(GFile) file = NULL;

  if (url == NULL || !g_str_has_prefix (url, MUNITY_AVATAR_URL_PREFIX))
    return;
  name = url + strlen (MUNITY_AVATAR_URL_PREFIX);
  if (munity_avatar_name_type (name) == NULL)
    return;

  file = g_file_new_build_filename (self->avatar_dir, name, NULL);
  g_file_delete_async (file, G_PRIORITY_DEFAULT, NULL, deleted_cb, NULL);
}

static void
image_stored_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Upload *upload = user_data;
  Req *req = upload->req;
  g_autoptr(MunityUserInfo) user = NULL;
  g_autofree char *old_url = NULL;
  g_autoptr(GError) error = NULL;

  user = munity_accounts_set_image_finish (MUNITY_ACCOUNTS (source), result, &old_url, &error);
  if (user == NULL)
    {
      /* Nothing refers to the new file: do not leave it behind. */
      delete_avatar_url (req->self, upload->url);
      upload_free (upload);
      req_fail (req, error);
      return;
    }

  delete_avatar_url (req->self, old_url);
  if (req->self->presence != NULL)
    munity_presence_update_user (req->self->presence, user);
  upload_free (upload);
  req_reply_user (req, SOUP_STATUS_OK, user, TRUE);
}

static void
tmp_deleted_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Upload *upload = user_data;
  Req *req = upload->req;
  gboolean full = upload->full;
  g_autoptr(GError) error = NULL;

  if (!g_file_delete_finish (G_FILE (source), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    g_message ("Cannot remove %s: %s", g_file_peek_path (upload->tmp), error->message);
  upload_free (upload);
  if (full)
    req_fail_code (req, MUNITY_ERROR_STORAGE_FULL, _("The server’s disk is full; the picture was not stored."));
  else
    req_fail_code (req, MUNITY_ERROR_FAILED, "cannot store the picture");
}

/* A write that failed: the temporary file goes first, then the client
 * learns whether the disk is full (507) or something else went wrong
 * (500). */
static void
upload_fail (Upload       *upload,
             const GError *error)
{
  Req *req = upload->req;

  upload->full = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  if (upload->full)
    g_message ("Cannot store a picture in %s: %s", req->self->avatar_dir, error->message);
  else
    g_warning ("Cannot store a picture in %s: %s", req->self->avatar_dir, error->message);
  g_file_delete_async (upload->tmp, G_PRIORITY_DEFAULT, NULL, tmp_deleted_cb, upload);
}

static void
image_moved_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Upload *upload = user_data;
  Req *req = upload->req;
  g_autoptr(GError) error = NULL;

  if (!g_file_move_finish (G_FILE (source), result, &error))
    {
      upload_fail (upload, error);
      return;
    }

  munity_accounts_set_image_async (req->self->accounts, req->user->id, upload->url,
                                   NULL, image_stored_cb, upload);
}

static void
image_closed_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Upload *upload = user_data;
  g_autoptr(GError) error = NULL;

  /* A failed write is the error to report, not the close after it. */
  if (!g_output_stream_close_finish (G_OUTPUT_STREAM (source), result, &error) ||
      upload->write_error != NULL)
    {
      upload_fail (upload, upload->write_error != NULL ? upload->write_error : error);
      return;
    }

  g_file_move_async (upload->tmp, upload->file, G_FILE_COPY_NONE, G_PRIORITY_DEFAULT, NULL,
                     NULL, NULL, image_moved_cb, upload);
}

static void
image_written_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Upload *upload = user_data;
  g_autoptr(GError) error = NULL;

  upload->write_error = g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error)
                        ? NULL : g_steal_pointer (&error);
  /* Closed either way, so that the descriptor goes (asynchronously: a close
   * can wait on the disk). */
  g_output_stream_close_async (upload->out, G_PRIORITY_DEFAULT, NULL, image_closed_cb, upload);
}

static void
image_created_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Upload *upload = user_data;
  g_autoptr(GError) error = NULL;

  upload->out = G_OUTPUT_STREAM (g_file_create_finish (G_FILE (source), result, &error));
  if (upload->out == NULL)
    {
      upload_fail (upload, error);
      return;
    }

  g_output_stream_write_all_async (upload->out, g_bytes_get_data (upload->bytes, NULL),
                                   g_bytes_get_size (upload->bytes), G_PRIORITY_DEFAULT, NULL,
                                   image_written_cb, upload);
}

static void
handle_avatar_post (Req *req)
{
  SoupMessageBody *body = soup_server_message_get_request_body (req->msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  const char *extension = NULL;
  g_autofree char *name = NULL;
  g_autofree char *tmp_name = NULL;
  Upload *upload;

  if (munity_avatar_sniff (data, length, &extension) == NULL)
    {
      req_fail_code (req, MUNITY_ERROR_BAD_IMAGE,
                     _("The picture must be a PNG, JPEG, WebP or GIF image."));
      return;
    }

  name = munity_avatar_new_name (req->user->id, extension);
  /* Never served: munity_avatar_name_type() refuses names with a dot first. */
  tmp_name = g_strconcat (".upload-", name, NULL);
  upload = g_new0 (Upload, 1);
  upload->req = req;
  upload->bytes = g_steal_pointer (&bytes);
  upload->tmp = g_file_new_build_filename (req->self->avatar_dir, tmp_name, NULL);
  upload->file = g_file_new_build_filename (req->self->avatar_dir, name, NULL);
  upload->url = g_strconcat (MUNITY_AVATAR_URL_PREFIX, name, NULL);

  req_pause (req);
  g_file_create_async (upload->tmp, G_FILE_CREATE_PRIVATE, G_PRIORITY_DEFAULT, NULL,
                       image_created_cb, upload);
}

static void
avatar_loaded_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Req *req = user_data;
  g_autoptr(GBytes) bytes = NULL;
  const char *type = munity_avatar_name_type (req->path + strlen (MUNITY_AVATAR_URL_PREFIX));
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (req->msg);

  bytes = g_file_load_bytes_finish (G_FILE (source), result, NULL, NULL);
  if (bytes == NULL)
    {
      req_fail_code (req, MUNITY_ERROR_NOT_FOUND, _("There is nothing here."));
      return;
    }

  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (headers, "Cache-Control", "public, max-age=31536000, immutable");
  soup_message_headers_replace (headers, "Content-Security-Policy", "default-src 'none'; sandbox");
  soup_server_message_set_status (req->msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (req->msg, type, SOUP_MEMORY_COPY,
                                    g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  req_done (req);
}

static void
handle_avatar_get (Req *req)
{
  const char *name = req->path + strlen (MUNITY_AVATAR_URL_PREFIX);
  g_autoptr(GFile) file = NULL;

  if (munity_avatar_name_type (name) == NULL)
    {
      req_fail_code (req, MUNITY_ERROR_NOT_FOUND, _("There is nothing here."));
      return;
    }

  file = g_file_new_build_filename (req->self->avatar_dir, name, NULL);
  req_pause (req);
  g_file_load_bytes_async (file, NULL, avatar_loaded_cb, req);
}

/* ---- the WebSocket handshake ------------------------------------------- */

/* Origin (403) and session (401) are checked in the early handler, before
 * libsoup decides on the upgrade, with the message paused while the
 * session is looked up (FINDINGS.md). */

typedef struct {
  MunityHttpServer  *self;     /* (owned) */
  SoupServerMessage *msg;      /* (owned) */
  char              *session;  /* (owned) token hash */
  gboolean           gone;
  gulong             disconnected_id;
} WsAuth;

static void
ws_auth_gone (SoupServerMessage *msg,
              gpointer           user_data)
{
  ((WsAuth *) user_data)->gone = TRUE;
}

static void
ws_authenticated_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  WsAuth *auth = user_data;
  g_autoptr(MunityUserInfo) user = NULL;
  g_autoptr(GError) error = NULL;

  user = munity_accounts_authenticate_finish (MUNITY_ACCOUNTS (source), result, &error);
  g_clear_signal_handler (&auth->disconnected_id, auth->msg);

  if (!auth->gone)
    {
      if (user == NULL)
        set_error (auth->msg, error);
      else
        {
          g_object_set_data_full (G_OBJECT (auth->msg), "munity-ws-user",
                                  g_steal_pointer (&user), (GDestroyNotify) munity_user_info_unref);
          g_object_set_data_full (G_OBJECT (auth->msg), "munity-ws-session",
                                  g_steal_pointer (&auth->session), g_free);
        }
      soup_server_message_unpause (auth->msg);
    }

  g_object_unref (auth->msg);
  g_object_unref (auth->self);
  g_free (auth->session);
  g_free (auth);
}

static void
ws_early (MunityHttpServer  *self,
          SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *origin = soup_message_headers_get_one (headers, "Origin");
  g_autofree char *token = NULL;
  WsAuth *auth;

  if (origin != NULL &&
      !munity_http_origin_is_allowed (origin, scheme_of (self, msg),
                                      soup_message_headers_get_one (headers, "Host"),
                                      (const char * const *) self->allowed_origins))
    {
      g_message ("Refused a WebSocket from origin %s", origin);
      set_error_code (msg, SOUP_STATUS_FORBIDDEN, "forbidden-origin",
                      _("Requests from this origin are not allowed."));
      return;
    }

  token = munity_session_token_from_cookie (soup_message_headers_get_one (headers, "Cookie"));
  if (token == NULL)
    {
      set_error_code (msg, SOUP_STATUS_UNAUTHORIZED, "not-logged-in", _("You are not logged in."));
      return;
    }

  auth = g_new0 (WsAuth, 1);
  auth->self = g_object_ref (self);
  auth->msg = g_object_ref (msg);
  auth->session = munity_session_token_hash (token);
  auth->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (ws_auth_gone), auth);
  soup_server_message_pause (msg);
  munity_accounts_authenticate_async (self->accounts, token, NULL, ws_authenticated_cb, auth);
}

static gboolean
peer_is_gone (int fd)
{
  struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };

  return poll (&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* The hub paces its sweeps by how many requests wait for the loop. */
static void
in_flight_changed (MunityHttpServer *self)
{
  if (self->hub != NULL)
    munity_ws_hub_set_requests_in_flight (self->hub, g_hash_table_size (self->in_flight));
}

static void
ws_upgraded_cb (SoupServerMessage *msg,
                gpointer           user_data)
{
  MunityHttpServer *self = user_data;
  g_autoptr(SoupServerMessage) keep = g_object_ref (msg);
  MunityUserInfo *user = g_object_get_data (G_OBJECT (msg), "munity-ws-user");
  const char *session = g_object_get_data (G_OBJECT (msg), "munity-ws-session");
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  gboolean relayed = FALSE;
  int fd;

  /* From here the connection is ours: the listener's own descriptor joins
   * the hub's epoll set, libsoup's objects (and its descriptor) go. */
  fd = munity_listener_take_fd (self->listener, msg, &relayed);
  stream = soup_server_message_steal_connection (msg);
  g_hash_table_remove (self->in_flight, msg);
  in_flight_changed (self);
  munity_metrics_count_http (self->metrics, SOUP_STATUS_SWITCHING_PROTOCOLS);
  if (stream != NULL && !relayed)
    g_io_stream_close (stream, NULL, NULL);

  if (fd < 0)
    return;
  if (self->hub == NULL || peer_is_gone (fd))
    {
      close (fd);
      return;
    }
  if (!munity_ws_hub_add (self->hub, fd, user, session, &error))
    g_message ("Could not take over a WebSocket: %s", error->message);
}

static void
handle_ws_upgrade (Req *req)
{
  g_autoptr(GError) error = NULL;

  if (g_object_get_data (G_OBJECT (req->msg), "munity-ws-user") == NULL)
    {
      req_fail_code (req, MUNITY_ERROR_NOT_LOGGED_IN, _("You are not logged in."));
      return;
    }

  /* No extension is offered: permessage-deflate costs ~90 KiB per socket
   * (FINDINGS.md). */
  if (!soup_websocket_server_check_handshake (req->msg, NULL, NULL, NULL, &error))
    {
      set_error_code (req->msg, SOUP_STATUS_BAD_REQUEST, "bad-request", error->message);
      req_done (req);
      return;
    }

  soup_websocket_server_process_handshake (req->msg, NULL, NULL, NULL, NULL);
  g_signal_connect_object (req->msg, "wrote-informational", G_CALLBACK (ws_upgraded_cb), req->self, 0);
  req_done (req);
}

/* ---- routing ----------------------------------------------------------- */

static const Route routes[] = {
  { "/api/register", FALSE, "POST, OPTIONS", { { "POST", handle_register, ROUTE_JSON } } },
  { "/api/login", FALSE, "POST, OPTIONS", { { "POST", handle_login, ROUTE_JSON } } },
  { "/api/logout", FALSE, "POST, OPTIONS", { { "POST", handle_logout, 0 } } },
  { "/api/me", FALSE, "GET, HEAD, PATCH, OPTIONS", {
      { "GET", handle_me_get, ROUTE_AUTH },
      { "PATCH", handle_me_patch, ROUTE_AUTH | ROUTE_JSON } } },
  { "/api/users/", TRUE, "GET, HEAD, OPTIONS", { { "GET", handle_user_get, ROUTE_AUTH } } },
  { "/api/online", FALSE, "GET, HEAD, OPTIONS", { { "GET", handle_online, ROUTE_AUTH } } },
  { "/api/me/avatar", FALSE, "POST, OPTIONS", { { "POST", handle_avatar_post, ROUTE_AUTH | ROUTE_IMAGE } } },
  { "/avatars/", TRUE, "GET, HEAD, OPTIONS", { { "GET", handle_avatar_get, 0 } } },
  { "/ws", FALSE, "GET, OPTIONS", { { "GET", NULL, 0 } } },
  { "/healthz", FALSE, "GET, HEAD, OPTIONS", { { "GET", handle_healthz, 0 } } },
  { "/metrics", FALSE, "GET, HEAD, OPTIONS", { { "GET", handle_metrics, 0 } } },
};

static const Route *
find_route (const char *path)
{
  for (gsize i = 0; i < G_N_ELEMENTS (routes); i++)
    {
      if (routes[i].is_prefix
          ? g_str_has_prefix (path, routes[i].path) && path[strlen (routes[i].path)] != '\0' &&
            strchr (path + strlen (routes[i].path), '/') == NULL
          : g_str_equal (path, routes[i].path))
        return &routes[i];
    }
  return NULL;
}

static const RouteMethod *
find_method (const Route *route,
             const char  *method)
{
  /* HEAD is GET without the body; libsoup drops the body. */
  if (g_str_equal (method, "HEAD"))
    method = "GET";

  for (gsize i = 0; i < G_N_ELEMENTS (route->methods) && route->methods[i].method != NULL; i++)
    {
      if (g_str_equal (route->methods[i].method, method))
        return &route->methods[i];
    }
  return NULL;
}

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

static gboolean
content_type_is_json (SoupServerMessage *msg)
{
  const char *type = soup_message_headers_get_content_type (soup_server_message_get_request_headers (msg), NULL);

  return type != NULL && g_ascii_strcasecmp (type, "application/json") == 0;
}

static gsize
body_limit (const RouteMethod *method)
{
  return method != NULL && (method->flags & ROUTE_IMAGE) ? MUNITY_AVATAR_MAX_BYTES : MUNITY_JSON_BODY_MAX;
}

static void
run_route (Req *req)
{
  if (req->method->flags & ROUTE_IMAGE)
    {
      if (g_object_get_data (G_OBJECT (req->msg), "munity-too-large") != NULL ||
          soup_server_message_get_request_body (req->msg)->length > MUNITY_AVATAR_MAX_BYTES)
        {
          req_fail_code (req, MUNITY_ERROR_PAYLOAD_TOO_LARGE, _("The picture is larger than 5 MiB."));
          return;
        }
    }

  if (req->method->flags & ROUTE_JSON)
    {
      g_autoptr(GError) error = NULL;
      gboolean had_nul = FALSE;

      if (!content_type_is_json (req->msg))
        {
          req_fail_code (req, MUNITY_ERROR_UNSUPPORTED_MEDIA_TYPE,
                         _("Send the body as Content-Type: application/json."));
          return;
        }
      if (g_object_get_data (G_OBJECT (req->msg), "munity-too-large") != NULL ||
          soup_server_message_get_request_body (req->msg)->length > MUNITY_JSON_BODY_MAX)
        {
          req_fail_code (req, MUNITY_ERROR_PAYLOAD_TOO_LARGE,
                         _("The request body is larger than 64 KiB."));
          return;
        }
      req->body = parse_json_object (req->msg, &had_nul, &error);
      if (req->body == NULL)
        {
          req_fail (req, error);
          return;
        }
      /* Passwords may hold any other character; a NUL it cannot hold. */
      if (had_nul && strchr (get_string_member (req->body, "password") ?: "", '\001') != NULL)
        {
          if (req->method->func == handle_register)
            req_fail_code (req, MUNITY_ERROR_INVALID_PASSWORD, _("The password cannot contain NUL."));
          else
            req_fail_code (req, MUNITY_ERROR_BAD_CREDENTIALS, _("Wrong email address or password."));
          return;
        }
    }

  req->method->func (req);
}

static void
authenticated_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Req *req = user_data;
  g_autoptr(GError) error = NULL;

  req->user = munity_accounts_authenticate_finish (MUNITY_ACCOUNTS (source), result, &error);
  if (req->user == NULL)
    {
      req_fail (req, error);
      return;
    }

  run_route (req);
}

/* With metrics-listen, /metrics is served on that socket and only there,
 * and that socket serves nothing else but /healthz. */
static gboolean
route_is_served_here (MunityHttpServer  *self,
                      SoupServerMessage *msg,
                      const Route       *route)
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
  Req *req;

  /* Everything that is not the API is the web client's. */
  if (munity_listener_get_tag (self->listener, msg) != MUNITY_HTTP_SOCKET_METRICS &&
      munity_static_serve (self->web, msg, path))
    return;

  req = req_new (self, msg, path);
  req->route = find_route (path);
  if (req->route == NULL || !route_is_served_here (self, msg, req->route))
    {
      req_fail_code (req, MUNITY_ERROR_NOT_FOUND, _("There is nothing here."));
      return;
    }

  if (g_str_equal (method, "OPTIONS"))
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", req->route->allow);
      soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
      req_done (req);
      return;
    }

  req->method = find_method (req->route, method);
  if (req->method == NULL)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", req->route->allow);
      req_fail_code (req, MUNITY_ERROR_METHOD_NOT_ALLOWED, _("This method is not allowed here."));
      return;
    }

  origin = soup_message_headers_get_one (headers, "Origin");
  if (origin != NULL && !is_safe_method (method) &&
      !munity_http_origin_is_allowed (origin, scheme_of (self, msg),
                                      soup_message_headers_get_one (headers, "Host"),
                                      (const char * const *) self->allowed_origins))
    {
      g_message ("Refused a %s %s from origin %s", method, path, origin);
      req_fail_code (req, MUNITY_ERROR_FORBIDDEN_ORIGIN, _("Requests from this origin are not allowed."));
      return;
    }

  if (req->method->func == NULL)
    {
      handle_ws_upgrade (req);
      return;
    }

  req->token = munity_session_token_from_cookie (soup_message_headers_get_one (headers, "Cookie"));

  if (req->method->flags & ROUTE_AUTH)
    {
      if (req->token == NULL)
        {
          req_fail_code (req, MUNITY_ERROR_NOT_LOGGED_IN, _("You are not logged in."));
          return;
        }
      req_pause (req);
      munity_accounts_authenticate_async (self->accounts, req->token, NULL, authenticated_cb, req);
      return;
    }

  run_route (req);
}

/* A body that grows past the limit stops being kept, so a client cannot
 * make munityd hold more than the limit; the handler then answers 413. */
static void
on_got_chunk (SoupServerMessage *msg,
              GBytes            *chunk,
              gpointer           user_data)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  gsize limit = GPOINTER_TO_SIZE (user_data);

  if ((gsize) body->length > limit &&
      g_object_get_data (G_OBJECT (msg), "munity-too-large") == NULL)
    {
      g_object_set_data (G_OBJECT (msg), "munity-too-large", GINT_TO_POINTER (1));
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
  set_error_code (msg, status, code, message);
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
  const Route *route;
  guint status;

  /* The request was parsed: the body preset for libsoup's own 400 goes. */
  soup_server_message_set_response (msg, NULL, SOUP_MEMORY_STATIC, NULL, 0);

  /* One request per connection: libsoup 3.2.3 never notices that a client
   * closed an idle keep-alive connection (fixed upstream after 3.2), which
   * would then sit in CLOSE_WAIT; the listener closes every connection
   * after its answer anyway (munity-listener.c). */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");

  if (range != NULL && !munity_http_range_is_single (range))
    soup_message_headers_remove (headers, "Range");

  status = munity_http_check_head (g_uri_get_path (uri), g_uri_get_query (uri), headers, &code, &message);
  if (status != 0)
    {
      g_autofree char *client = client_of (self, msg);
      g_message ("Refused a request from %s: %s", client, message);
      refuse_early (self, msg, status, code, message);
      return;
    }

  if (munity_listener_get_tag (self->listener, msg) != MUNITY_HTTP_SOCKET_METRICS &&
      !munity_http_host_is_allowed (soup_message_headers_get_one (headers, "Host"),
                                    (const char * const *) self->allowed_hosts))
    {
      g_autofree char *client = client_of (self, msg);
      g_message ("Refused a request from %s for host %s (allowed-hosts)",
                 client,
                 soup_message_headers_get_one (headers, "Host") ?: "(none)");
      refuse_early (self, msg, SOUP_STATUS_MISDIRECTED_REQUEST, "unknown-host",
                    _("This server does not serve that host name."));
      return;
    }

  if (g_str_equal (path, "/ws") && g_str_equal (soup_server_message_get_method (msg), "GET"))
    {
      ws_early (self, msg);
      return;
    }

  route = find_route (path);
  const RouteMethod *method = route ? find_method (route, soup_server_message_get_method (msg)) : NULL;

  /* Refuse an announced oversized body before reading it, but only where
   * the normal checks (path, method) would have let it through. */
  if (method != NULL && (method->flags & (ROUTE_JSON | ROUTE_IMAGE)) &&
      soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      length > (goffset) body_limit (method))
    {
      refuse_early (self, msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "payload-too-large",
                    (method->flags & ROUTE_IMAGE) ? _("The picture is larger than 5 MiB.")
                                                  : _("The request body is larger than 64 KiB."));
      return;
    }

  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), GSIZE_TO_POINTER (body_limit (method)));
}

static void
on_request_started (SoupServer        *server,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  MunityHttpServer *self = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  g_hash_table_add (self->in_flight, msg);
  in_flight_changed (self);

  /* Every answer carries these, libsoup's own included; the web client's
   * pages and the pictures replace the policy with their own. */
  soup_message_headers_replace (headers, "Connection", "close");
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (headers, "Referrer-Policy", "same-origin");
  soup_message_headers_replace (headers, "X-Frame-Options", "DENY");
  soup_message_headers_replace (headers, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");

  /* The body of libsoup's own answer to a request it cannot parse (it
   * answers 400 before any handler sees it). Any handler replaces it. */
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC,
                                    BAD_REQUEST_BODY, strlen (BAD_REQUEST_BODY));
}

static void
on_request_done (SoupServer        *server,
                 SoupServerMessage *msg,
                 gpointer           user_data)
{
  MunityHttpServer *self = user_data;

  g_hash_table_remove (self->in_flight, msg);
  in_flight_changed (self);
  munity_metrics_count_http (self->metrics, soup_server_message_get_status (msg));
}

static void
on_request_aborted (SoupServer        *server,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  MunityHttpServer *self = user_data;

  g_hash_table_remove (self->in_flight, msg);
  in_flight_changed (self);
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
  self->in_flight = g_hash_table_new (NULL, NULL);
  self->proxies = g_ptr_array_new_with_free_func (g_object_unref);
}

/**
 * munity_http_server_new:
 * @config: the configuration (read now, not kept)
 * @db: the database
 * @accounts: the accounts service
 * @metrics: the metrics to count into and serve
 *
 * Returns: (transfer full): a server that listens on nothing yet
 */
MunityHttpServer *
munity_http_server_new (const MunityConfig *config,
                        MunityDb           *db,
                        MunityAccounts     *accounts,
                        MunityMetrics      *metrics)
{
  MunityHttpServer *self = g_object_new (MUNITY_TYPE_HTTP_SERVER, NULL);

  self->db = g_object_ref (db);
  self->accounts = g_object_ref (accounts);
  self->metrics = g_object_ref (metrics);
  self->allowed_origins = g_strdupv (config->allowed_origins);
  self->cookie_secure = config->cookie_secure;
  self->allowed_hosts = g_strdupv (config->allowed_hosts);
  self->metrics_apart = config->metrics_listen != NULL;
  self->tls = config->tls_certificate != NULL;
  for (gsize i = 0; config->trusted_proxies[i] != NULL; i++)
    {
      GInetAddressMask *mask = munity_config_parse_proxy (config->trusted_proxies[i], NULL);
      if (mask != NULL)
        g_ptr_array_add (self->proxies, mask);
    }
  self->avatar_dir = g_build_filename (config->state_dir, "avatars", NULL);

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
  g_signal_connect (self->server, "request-aborted", G_CALLBACK (on_request_aborted), self);
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
 * Closes every listener and every connection.
 */
void
munity_http_server_disconnect (MunityHttpServer *self)
{
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

/**
 * munity_http_server_get_soup_server:
 * @self: the server
 *
 * Returns: (transfer none): the libsoup server
 */
SoupServer *
munity_http_server_get_soup_server (MunityHttpServer *self)
{
  return self->server;
}

/**
 * munity_http_server_set_presence:
 * @self: the server
 * @presence: the presence model
 * @hub: the hub that takes over upgraded WebSockets
 *
 * Enables `/ws` and `/api/online`, and lets logout and profile changes
 * reach the presence model.
 */
void
munity_http_server_set_presence (MunityHttpServer *self,
                                 MunityPresence   *presence,
                                 MunityWsHub      *hub)
{
  g_set_object (&self->presence, presence);
  g_set_object (&self->hub, hub);
}
