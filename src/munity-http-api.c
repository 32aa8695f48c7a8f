/* munity-http-api.c — the JSON API's handlers: accounts, profiles, who is online, health, metrics
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "munity-error.h"
#include "munity-http-private.h"
#include "munity-session.h"
#include "munity-validate.h"

/*
 * Each handler gets a #MunityHttpReq whose route, method, body and (for
 * %MUNITY_HTTP_ROUTE_AUTH) user were checked by munity-http-server.c, and
 * ends it exactly once. A query whose only use is the answer gets the
 * request's cancellable, so a client that went away does not keep it
 * running (register and login then skip the password hash). A write whose
 * outcome the rest of munityd must learn (logout ends the session's
 * sockets, a profile change reaches who is online) does not: a query
 * cancelled in flight answers at once while the server may still commit it
 * (munity_db_query_async()), and the model would then miss the change.
 */

/* ---- accounts ---------------------------------------------------------- */

static void
add_device_cookie (MunityHttpReq *req,
                   const char    *device_token)
{
  g_autofree char *cookie = NULL;

  if (device_token == NULL)
    return;
  cookie = munity_session_device_cookie (device_token, munity_http_req_cookie_secure (req));
  soup_message_headers_append (soup_server_message_get_response_headers (req->msg),
                               "Set-Cookie", cookie);
}

static void
register_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  MunityHttpReq *req = user_data;
  g_autoptr(MunityUserInfo) user = NULL;
  g_autofree char *token = NULL;
  g_autofree char *device_token = NULL;
  g_autoptr(GError) error = NULL;
  guint retry_after = 0;

  user = munity_accounts_register_finish (MUNITY_ACCOUNTS (source), result, &token,
                                          &device_token, &retry_after, &error);
  if (user != NULL)
    g_message ("Registered user %" G_GINT64_FORMAT, user->id);
  if (munity_http_req_end_if_gone (req))
    return;
  if (user == NULL)
    {
      /* Every 429 rate-limited and 503 busy says when to try again. */
      if (g_error_matches (error, MUNITY_ERROR, MUNITY_ERROR_RATE_LIMITED) ||
          g_error_matches (error, MUNITY_ERROR, MUNITY_ERROR_BUSY))
        {
          g_autofree char *value = g_strdup_printf ("%u", MAX (retry_after, 1));
          soup_message_headers_replace (soup_server_message_get_response_headers (req->msg),
                                        "Retry-After", value);
        }
      if (g_error_matches (error, MUNITY_ERROR, MUNITY_ERROR_RATE_LIMITED))
        g_message ("Refused a registration from %s: %s",
                   munity_http_req_client (req), error->message);
      munity_http_req_fail (req, error);
      return;
    }

  munity_http_req_set_session_cookie (req, token);
  add_device_cookie (req, device_token);
  munity_http_req_reply_user (req, SOUP_STATUS_CREATED, user, TRUE);
}

void
munity_http_handle_register (MunityHttpReq *req)
{
  munity_http_req_pause (req);
  munity_accounts_register_async (req->self->accounts,
                                  munity_http_get_string_member (req->body, "first"),
                                  munity_http_get_string_member (req->body, "last"),
                                  munity_http_get_string_member (req->body, "email"),
                                  munity_http_get_string_member (req->body, "password"),
                                  munity_http_req_client (req),
                                  req->cancellable, register_cb, req);
}

static void
login_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  MunityHttpReq *req = user_data;
  g_autoptr(MunityUserInfo) user = NULL;
  g_autofree char *token = NULL;
  g_autofree char *device_token = NULL;
  g_autoptr(GError) error = NULL;
  guint retry_after = 0;

  user = munity_accounts_login_finish (MUNITY_ACCOUNTS (source), result, &token,
                                       &device_token, &retry_after, &error);
  if (munity_http_req_end_if_gone (req))
    return;
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
                   munity_http_req_client (req), error->message);
      munity_http_req_fail (req, error);
      return;
    }

  munity_http_req_set_session_cookie (req, token);
  add_device_cookie (req, device_token);
  munity_http_req_reply_user (req, SOUP_STATUS_OK, user, TRUE);
}

void
munity_http_handle_login (MunityHttpReq *req)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (req->msg);
  g_autofree char *device_token = munity_session_device_token_from_cookie (soup_message_headers_get_one (headers, "Cookie"));

  munity_http_req_pause (req);
  munity_accounts_login_async (req->self->accounts,
                               munity_http_get_string_member (req->body, "email"),
                               munity_http_get_string_member (req->body, "password"),
                               munity_http_req_client (req),
                               device_token,
                               req->cancellable, login_cb, req);
}

static void
logout_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  MunityHttpReq *req = user_data;
  g_autoptr(GError) error = NULL;
  gint64 user_id;

  user_id = munity_accounts_logout_finish (MUNITY_ACCOUNTS (source), result, &error);
  if (user_id < 0)
    {
      munity_http_req_fail (req, error);
      return;
    }

  /* That session's sockets close with 4001 through the accounts'
   * "session-ended" (munity-daemon.c wires it), also when the client is
   * gone. */
  if (munity_http_req_end_if_gone (req))
    return;
  munity_http_req_set_session_cookie (req, NULL);
  soup_server_message_set_status (req->msg, SOUP_STATUS_NO_CONTENT, NULL);
  munity_http_req_done (req);
}

void
munity_http_handle_logout (MunityHttpReq *req)
{
  munity_http_req_pause (req);
  /* Not cancelled with the request: see the top of this file. */
  munity_accounts_logout_async (req->self->accounts, req->token, NULL, logout_cb, req);
}

/* ---- profiles ---------------------------------------------------------- */

void
munity_http_handle_me_get (MunityHttpReq *req)
{
  munity_http_req_reply_user (req, SOUP_STATUS_OK, req->user, TRUE);
}

/* The end of a request that answers with one user (@with_email: the
 * caller's own), or with @error. */
static void
reply_user_or_fail (MunityHttpReq  *req,
                    MunityUserInfo *user,
                    const GError   *error,
                    gboolean        with_email)
{
  if (user == NULL)
    munity_http_req_fail (req, error);
  else if (!munity_http_req_end_if_gone (req))
    munity_http_req_reply_user (req, SOUP_STATUS_OK, user, with_email);
}

static void
update_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(MunityUserInfo) user = NULL;
  g_autoptr(GError) error = NULL;

  /* Online, the change reaches the model through "user-changed". */
  user = munity_accounts_update_finish (MUNITY_ACCOUNTS (source), result, &error);
  reply_user_or_fail (user_data, user, error, TRUE);
}

void
munity_http_handle_me_patch (MunityHttpReq *req)
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
          munity_http_req_fail_code (req, MUNITY_ERROR_UNKNOWN_FIELD, message);
          return;
        }
    }

  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      if (json_object_has_member (req->body, fields[i].name) &&
          munity_http_get_string_member (req->body, fields[i].name) == NULL)
        {
          munity_http_req_fail_code (req, fields[i].code, _(fields[i].message));
          return;
        }
    }

  munity_http_req_pause (req);
  /* Not cancelled with the request: see the top of this file. */
  munity_accounts_update_async (req->self->accounts, req->user->id,
                                munity_http_get_string_member (req->body, "first"),
                                munity_http_get_string_member (req->body, "last"),
                                munity_http_get_string_member (req->body, "bio"),
                                NULL, update_cb, req);
}

static void
get_user_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(MunityUserInfo) user = NULL;
  g_autoptr(GError) error = NULL;

  MunityHttpReq *req = user_data;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *object;

  user = munity_accounts_get_user_finish (MUNITY_ACCOUNTS (source), result, &error);
  if (user == NULL)
    {
      munity_http_req_fail (req, error);
      return;
    }
  if (munity_http_req_end_if_gone (req))
    return;

  /* Online (lingering included) is the model's word; last seen is the
   * database's, shown only while the user is away. */
  object = json_object_new ();
  json_object_set_member (object, "user",
                          munity_protocol_profile_to_json (user, munity_presence_lookup_user (req->self->presence,
                                                                                              user->id)));
  root = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (root, object);
  munity_http_set_json (req->msg, SOUP_STATUS_OK, root);
  munity_http_req_done (req);
}

void
munity_http_handle_user_get (MunityHttpReq *req)
{
  const char *id_text = req->path + strlen ("/api/users/");
  gint64 id;

  if (!munity_parse_user_id (id_text, &id))
    {
      munity_http_req_fail_code (req, MUNITY_ERROR_NO_SUCH_USER, _("There is no such user."));
      return;
    }

  munity_http_req_pause (req);
  munity_accounts_get_user_async (req->self->accounts, id, req->cancellable, get_user_cb, req);
}

/* ---- who is online ----------------------------------------------------- */

void
munity_http_handle_online (MunityHttpReq *req)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "users");
  json_builder_begin_array (builder);
  for (GList *l = munity_presence_peek_users (req->self->presence); l != NULL; l = l->next)
    json_builder_add_value (builder, munity_protocol_online_user_to_json (l->data));
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);

  munity_http_set_json (req->msg, SOUP_STATUS_OK, root);
  munity_http_req_done (req);
}

/* ---- health and metrics ------------------------------------------------ */

/* Below this much free space where pictures (and, embedded, the database)
 * live, /healthz says the storage is full. */
#define STORAGE_LOW_BYTES (8 * 1024 * 1024)

typedef struct {
  MunityHttpReq *req;
  gboolean       storage_full;
} Health;

static void
set_health (MunityHttpReq *req,
            gboolean       database_ok,
            gboolean       storage_full)
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
  json_builder_set_member_name (builder, "node");
  json_builder_add_string_value (builder, req->self->node_name);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);

  munity_http_set_json (req->msg, ok ? SOUP_STATUS_OK : SOUP_STATUS_SERVICE_UNAVAILABLE, root);
}

static void
health_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Health *health = user_data;
  MunityHttpReq *req = health->req;
  gboolean storage_full = health->storage_full;
  g_autoptr(PGresult) res = NULL;
  g_autoptr(GError) error = NULL;

  g_free (health);
  res = munity_db_query_finish (MUNITY_DB (source), result, &error);
  if (munity_http_req_end_if_gone (req))
    return;
  if (res == NULL)
    g_debug ("Health check failed: %s", error->message);
  set_health (req, res != NULL, storage_full);
  munity_http_req_done (req);
}

static void
health_fs_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Health *health = user_data;
  MunityHttpReq *req = health->req;
  g_autoptr(GFileInfo) info = NULL;
  g_autoptr(GError) error = NULL;

  info = g_file_query_filesystem_info_finish (G_FILE (source), result, &error);
  if (munity_http_req_end_if_gone (req))
    {
      g_free (health);
      return;
    }
  if (info == NULL)
    g_debug ("Cannot tell the free space in %s: %s", req->self->avatar_dir, error->message);
  else if (g_file_info_has_attribute (info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE))
    health->storage_full = g_file_info_get_attribute_uint64 (info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE) < STORAGE_LOW_BYTES;

  if (!munity_db_is_up (req->self->db))
    {
      set_health (req, FALSE, health->storage_full);
      munity_http_req_done (req);
      g_free (health);
      return;
    }

  munity_db_query_async (req->self->db, "SELECT 1", 0, NULL, req->cancellable, health_cb, health);
}

void
munity_http_handle_healthz (MunityHttpReq *req)
{
  g_autoptr(GFile) dir = g_file_new_for_path (req->self->avatar_dir);
  Health *health = g_new0 (Health, 1);

  health->req = req;
  munity_http_req_pause (req);
  g_file_query_filesystem_info_async (dir, G_FILE_ATTRIBUTE_FILESYSTEM_FREE, G_PRIORITY_DEFAULT,
                                      req->cancellable, health_fs_cb, health);
}

void
munity_http_handle_metrics (MunityHttpReq *req)
{
  g_autofree char *text = NULL;

  munity_metrics_set_gauge (req->self->metrics, "munity_http_connections",
                            munity_listener_get_n_connections (req->self->listener));
  munity_metrics_set_gauge (req->self->metrics, "munity_password_jobs",
                            munity_accounts_get_n_hash_jobs (req->self->accounts));
  munity_metrics_set_gauge (req->self->metrics, "munity_password_hashes_total",
                            (gint64) munity_accounts_get_n_hashes (req->self->accounts));
  if (req->self->hub != NULL)
    {
      guint64 flushes, writes;

      munity_ws_hub_get_stats (req->self->hub, &flushes, &writes);
      munity_metrics_set_gauge (req->self->metrics, "munity_ws_flushes", (gint64) flushes);
      munity_metrics_set_gauge (req->self->metrics, "munity_ws_writes", (gint64) writes);
      /* This node's own WebSockets; munity_sockets counts the cluster's. */
      munity_metrics_set_gauge (req->self->metrics, "munity_local_sockets",
                                munity_ws_hub_get_n_connections (req->self->hub));
      munity_metrics_set_gauge (req->self->metrics, "munity_window_sockets",
                                munity_ws_hub_get_n_window_sockets (req->self->hub));
      munity_metrics_set_gauge (req->self->metrics, "munity_window_views",
                                munity_ws_hub_get_n_window_views (req->self->hub));
    }
  text = munity_metrics_render (req->self->metrics);

  soup_server_message_set_status (req->msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (req->msg, "text/plain; version=0.0.4",
                                    SOUP_MEMORY_TAKE, g_steal_pointer (&text), strlen (text));
  munity_http_req_done (req);
}
