/* munity-protocol.c — WebSocket frames and presence events (pure)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "munity-protocol.h"

/**
 * munity_ws_parse_header:
 * @data: received bytes
 * @length: how many
 * @header: (out caller-allocates): the parsed header
 *
 * Parses the header of a client-to-server frame (RFC 6455 §5.2). Checks
 * what can be checked from the header alone: no reserved bits (no
 * extension is negotiated), known opcodes, control frames unfragmented and
 * at most 125 bytes, the 64-bit length's top bit clear. Whether the frame
 * is masked is reported, not enforced.
 *
 * Returns: the outcome
 */
MunityWsParse
munity_ws_parse_header (const guint8   *data,
                        gsize           length,
                        MunityWsHeader *header)
{
  gsize needed = 2;
  guint64 payload_length;

  if (length < 2)
    return MUNITY_WS_PARSE_NEED_MORE;

  memset (header, 0, sizeof *header);
  header->fin = (data[0] & 0x80) != 0;
  header->opcode = data[0] & 0x0F;
  header->masked = (data[1] & 0x80) != 0;
  payload_length = data[1] & 0x7F;

  if ((data[0] & 0x70) != 0)
    return MUNITY_WS_PARSE_PROTOCOL_ERROR;

  switch (header->opcode)
    {
    case MUNITY_WS_OP_CONTINUATION:
    case MUNITY_WS_OP_TEXT:
    case MUNITY_WS_OP_BINARY:
      break;
    case MUNITY_WS_OP_CLOSE:
    case MUNITY_WS_OP_PING:
    case MUNITY_WS_OP_PONG:
      if (!header->fin || payload_length > 125)
        return MUNITY_WS_PARSE_PROTOCOL_ERROR;
      break;
    default:
      return MUNITY_WS_PARSE_PROTOCOL_ERROR;
    }

  if (payload_length == 126)
    needed += 2;
  else if (payload_length == 127)
    needed += 8;
  if (header->masked)
    needed += 4;
  if (length < needed)
    return MUNITY_WS_PARSE_NEED_MORE;

  if (payload_length == 126)
    {
      payload_length = ((guint64) data[2] << 8) | data[3];
      if (payload_length < 126)
        return MUNITY_WS_PARSE_PROTOCOL_ERROR;
    }
  else if (payload_length == 127)
    {
      payload_length = 0;
      for (int i = 0; i < 8; i++)
        payload_length = (payload_length << 8) | data[2 + i];
      if ((payload_length >> 63) != 0 || payload_length <= 0xFFFF)
        return MUNITY_WS_PARSE_PROTOCOL_ERROR;
    }

  if (header->masked)
    memcpy (header->mask, data + needed - 4, 4);

  header->payload_length = payload_length;
  header->header_length = needed;
  return MUNITY_WS_PARSE_OK;
}

/**
 * munity_ws_unmask:
 * @payload: (array length=length): the payload, unmasked in place
 * @length: its length
 * @mask: the masking key
 */
void
munity_ws_unmask (guint8       *payload,
                  gsize         length,
                  const guint8  mask[4])
{
  for (gsize i = 0; i < length; i++)
    payload[i] ^= mask[i & 3];
}

/**
 * munity_ws_write_header:
 * @out: (out caller-allocates) (array fixed-size=10): where to write
 * @opcode: the opcode
 * @payload_length: the payload's length
 *
 * Writes the header of an unmasked, unfragmented server-to-client frame.
 *
 * Returns: the header's length (2, 4 or 10)
 */
gsize
munity_ws_write_header (guint8 *out,
                        guint8  opcode,
                        gsize   payload_length)
{
  out[0] = 0x80 | (opcode & 0x0F);
  if (payload_length < 126)
    {
      out[1] = (guint8) payload_length;
      return 2;
    }
  if (payload_length <= 0xFFFF)
    {
      out[1] = 126;
      out[2] = (guint8) (payload_length >> 8);
      out[3] = (guint8) payload_length;
      return 4;
    }
  out[1] = 127;
  for (int i = 0; i < 8; i++)
    out[2 + i] = (guint8) ((guint64) payload_length >> (56 - 8 * i));
  return 10;
}

/**
 * munity_ws_frame_new:
 * @opcode: the opcode
 * @payload: (array length=length) (element-type guint8) (nullable): the payload
 * @length: its length
 *
 * Returns: (transfer full): a whole server-to-client frame
 */
GBytes *
munity_ws_frame_new (guint8      opcode,
                     const void *payload,
                     gsize       length)
{
  guint8 header[10];
  gsize header_length = munity_ws_write_header (header, opcode, length);
  guint8 *frame = g_malloc (header_length + length);

  memcpy (frame, header, header_length);
  if (length > 0)
    memcpy (frame + header_length, payload, length);
  return g_bytes_new_take (frame, header_length + length);
}

/**
 * munity_ws_close_code_is_valid:
 * @code: a close code a peer sent
 *
 * Returns: %TRUE if @code may appear in a close frame (RFC 6455 §7.4)
 */
gboolean
munity_ws_close_code_is_valid (guint16 code)
{
  if (code >= 3000 && code <= 4999)
    return TRUE;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011);
}

/**
 * munity_ws_close_frame_new:
 * @code: the close code
 * @reason: (nullable): a short reason, at most 123 bytes are kept
 *
 * Returns: (transfer full): a close frame
 */
GBytes *
munity_ws_close_frame_new (guint16     code,
                           const char *reason)
{
  guint8 payload[125];
  gsize reason_length = reason != NULL ? MIN (strlen (reason), 123) : 0;

  payload[0] = (guint8) (code >> 8);
  payload[1] = (guint8) code;
  if (reason_length > 0)
    memcpy (payload + 2, reason, reason_length);
  return munity_ws_frame_new (MUNITY_WS_OP_CLOSE, payload, 2 + reason_length);
}

/* ---- users as JSON ----------------------------------------------------- */

/**
 * munity_protocol_add_image_url:
 * @builder: a builder inside an object
 * @image_url: (nullable): a picture's same-origin path
 *
 * Adds the `imageUrl` member: the path, or `null` when there is no
 * picture. Every user object munityd and munityctl write has it, and this
 * is the one place that says how it looks.
 */
void
munity_protocol_add_image_url (JsonBuilder *builder,
                               const char  *image_url)
{
  json_builder_set_member_name (builder, "imageUrl");
  if (image_url != NULL)
    json_builder_add_string_value (builder, image_url);
  else
    json_builder_add_null_value (builder);
}

/* The one writer of a user object: `{"id", "first", "last", "imageUrl"}`,
 * then `"status"` (@user online), `"bio"` and `"email"` when asked, in this
 * order. The builder is left open for members that only one answer has. */
static JsonBuilder *
user_builder (MunityUserInfo *info,
              MunityUser     *user,
              gboolean        with_bio,
              gboolean        with_email)
{
  JsonBuilder *builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_int_value (builder, info->id);
  json_builder_set_member_name (builder, "first");
  json_builder_add_string_value (builder, info->first);
  json_builder_set_member_name (builder, "last");
  json_builder_add_string_value (builder, info->last);
  munity_protocol_add_image_url (builder, info->image_url);
  if (user != NULL)
    {
      json_builder_set_member_name (builder, "status");
      json_builder_add_string_value (builder, munity_user_get_status (user));
    }
  if (with_bio)
    {
      json_builder_set_member_name (builder, "bio");
      json_builder_add_string_value (builder, info->bio);
    }
  if (with_email)
    {
      json_builder_set_member_name (builder, "email");
      json_builder_add_string_value (builder, info->email);
    }
  return builder;
}

static JsonNode *
user_node (MunityUserInfo *info,
           MunityUser     *user,
           gboolean        with_bio,
           gboolean        with_email)
{
  g_autoptr(JsonBuilder) builder = user_builder (info, user, with_bio, with_email);

  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

/**
 * munity_user_info_to_json:
 * @info: a user
 * @with_email: whether to add `email` (only for the user's own account)
 *
 * Returns: (transfer full): the user as the HTTP API shows it:
 *   `{"id", "first", "last", "imageUrl", "bio"}`, plus `"email"` if asked
 */
JsonNode *
munity_user_info_to_json (MunityUserInfo *info,
                          gboolean        with_email)
{
  return user_node (info, NULL, TRUE, with_email);
}

/**
 * munity_protocol_online_user_to_json:
 * @user: an online user
 *
 * Returns: (transfer full): the user as `GET /api/online` shows it:
 *   `{"id", "first", "last", "imageUrl", "status", "bio"}`
 */
JsonNode *
munity_protocol_online_user_to_json (MunityUser *user)
{
  return user_node (munity_user_get_info (user), user, TRUE, FALSE);
}

/**
 * munity_protocol_profile_to_json:
 * @info: a user, as munity_accounts_get_user_finish() found it
 * @online: (nullable): the user if online (lingering included)
 *
 * Returns: (transfer full): the user as `GET /api/users/:id` shows it:
 *   `{"id", "first", "last", "imageUrl", "bio", "online", "lastSeen"}`;
 *   `lastSeen` is ISO 8601 UTC to the second, ending in `Z`, or `null`
 *   while the user is online or was never seen (doc/protocol.md §3)
 */
JsonNode *
munity_protocol_profile_to_json (MunityUserInfo *info,
                                 MunityUser     *online)
{
  g_autoptr(JsonBuilder) builder = user_builder (info, NULL, TRUE, FALSE);

  json_builder_set_member_name (builder, "online");
  json_builder_add_boolean_value (builder, online != NULL);
  json_builder_set_member_name (builder, "lastSeen");
  if (online == NULL && info->last_seen > 0)
    {
      g_autoptr(GDateTime) when = g_date_time_new_from_unix_utc (info->last_seen / G_USEC_PER_SEC);
      g_autofree char *text = when != NULL ? g_date_time_format (when, "%Y-%m-%dT%H:%M:%SZ") : NULL;

      if (text != NULL)
        json_builder_add_string_value (builder, text);
      else
        json_builder_add_null_value (builder);
    }
  else
    json_builder_add_null_value (builder);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

static gboolean
is_string (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

/**
 * munity_protocol_parse_client_event:
 * @text: (array length=length): a text message from a client, UTF-8
 * @length: its length
 * @out_idle: (out): with %MUNITY_CLIENT_EVENT_SET_STATUS, whether the
 *   client is idle
 *
 * Understands the client events of doc/protocol.md §3. `setStatus` must be
 * exactly `{"event":"setStatus","data":{"status":S}}` with S `"online"` or
 * `"idle"`: no other member, no other case, no other type.
 *
 * Returns: the event, or %MUNITY_CLIENT_EVENT_BAD (`bad-message`)
 */
MunityClientEvent
munity_protocol_parse_client_event (const char *text,
                                    gsize       length,
                                    gboolean   *out_idle)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root, *data_node, *status_node;
  JsonObject *object, *data;
  const char *event, *status;

  *out_idle = FALSE;
  if (length > G_MAXSSIZE || !json_parser_load_from_data (parser, text, (gssize) length, NULL))
    return MUNITY_CLIENT_EVENT_BAD;

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return MUNITY_CLIENT_EVENT_BAD;
  object = json_node_get_object (root);
  if (json_object_get_size (object) != 2 ||
      !json_object_has_member (object, "event") || !json_object_has_member (object, "data"))
    return MUNITY_CLIENT_EVENT_BAD;

  if (!is_string (json_object_get_member (object, "event")))
    return MUNITY_CLIENT_EVENT_BAD;
  event = json_node_get_string (json_object_get_member (object, "event"));
  if (!g_str_equal (event, "setStatus"))
    return MUNITY_CLIENT_EVENT_BAD;

  data_node = json_object_get_member (object, "data");
  if (!JSON_NODE_HOLDS_OBJECT (data_node))
    return MUNITY_CLIENT_EVENT_BAD;
  data = json_node_get_object (data_node);
  if (json_object_get_size (data) != 1 || !json_object_has_member (data, "status"))
    return MUNITY_CLIENT_EVENT_BAD;
  status_node = json_object_get_member (data, "status");
  if (!is_string (status_node))
    return MUNITY_CLIENT_EVENT_BAD;

  status = json_node_get_string (status_node);
  if (g_str_equal (status, "idle"))
    *out_idle = TRUE;
  else if (!g_str_equal (status, "online"))
    return MUNITY_CLIENT_EVENT_BAD;
  return MUNITY_CLIENT_EVENT_SET_STATUS;
}

/**
 * munity_protocol_user_json:
 * @user: an online user
 *
 * Returns: (transfer full): the user as events show it:
 *   `{"id":…,"first":…,"last":…,"imageUrl":…,"status":…}`
 */
char *
munity_protocol_user_json (MunityUser *user)
{
  g_autoptr(JsonNode) root = user_node (munity_user_get_info (user), user, FALSE, FALSE);

  return json_to_string (root, FALSE);
}

static GBytes *
text_frame_from_pieces (const char * const *pieces,
                        const gsize        *lengths,
                        guint               n_pieces)
{
  gsize payload_length = 0;
  gsize header_length;
  guint8 header[10];
  guint8 *frame;
  gsize at;

  for (guint i = 0; i < n_pieces; i++)
    payload_length += lengths[i];

  header_length = munity_ws_write_header (header, MUNITY_WS_OP_TEXT, payload_length);
  frame = g_malloc (header_length + payload_length);
  memcpy (frame, header, header_length);
  at = header_length;
  for (guint i = 0; i < n_pieces; i++)
    {
      memcpy (frame + at, pieces[i], lengths[i]);
      at += lengths[i];
    }
  return g_bytes_new_take (frame, at);
}

/**
 * munity_protocol_event_frame:
 * @event: the event name, a plain identifier
 * @data_json: the payload, already JSON
 *
 * Returns: (transfer full): the text frame `{"event":EVENT,"data":DATA}`
 */
GBytes *
munity_protocol_event_frame (const char *event,
                             const char *data_json)
{
  const char *pieces[] = { "{\"event\":\"", event, "\",\"data\":", data_json, "}" };
  gsize lengths[G_N_ELEMENTS (pieces)];

  for (guint i = 0; i < G_N_ELEMENTS (pieces); i++)
    lengths[i] = strlen (pieces[i]);
  return text_frame_from_pieces (pieces, lengths, G_N_ELEMENTS (pieces));
}

static const char online_users_head[] = "{\"event\":\"onlineUsers\",\"data\":[";
static const char online_users_tail[] = "]}";

/**
 * munity_protocol_online_users_frame_head:
 * @body_length: the length of the users' fragments, comma-separated
 *
 * The `onlineUsers` frame is sent in three parts, so that the body (the
 * online users' cached fragments, made by munity_protocol_user_json()) can
 * be shared by every socket rather than copied: this head, the body, and
 * munity_protocol_online_users_frame_tail().
 *
 * Returns: (transfer full): the frame header and the start of the payload
 */
GBytes *
munity_protocol_online_users_frame_head (gsize body_length)
{
  gsize head_length = strlen (online_users_head);
  gsize payload_length = head_length + body_length + strlen (online_users_tail);
  guint8 *frame = g_malloc (10 + head_length);
  gsize header_length = munity_ws_write_header (frame, MUNITY_WS_OP_TEXT, payload_length);

  memcpy (frame + header_length, online_users_head, head_length);
  return g_bytes_new_take (frame, header_length + head_length);
}

/**
 * munity_protocol_online_users_frame_tail:
 *
 * Returns: (transfer full): the end of the `onlineUsers` frame
 */
GBytes *
munity_protocol_online_users_frame_tail (void)
{
  return g_bytes_new_static (online_users_tail, strlen (online_users_tail));
}

/**
 * munity_protocol_user_left_frame:
 * @user_id: the user who left
 *
 * Returns: (transfer full): the `userLeft` text frame
 */
GBytes *
munity_protocol_user_left_frame (gint64 user_id)
{
  g_autofree char *data = g_strdup_printf ("{\"id\":%" G_GINT64_FORMAT "}", user_id);
  return munity_protocol_event_frame ("userLeft", data);
}

/**
 * munity_protocol_error_frame:
 * @code: an error code such as `bad-message`
 *
 * Returns: (transfer full): the `error` text frame
 */
GBytes *
munity_protocol_error_frame (const char *code)
{
  g_autofree char *data = g_strdup_printf ("{\"code\":\"%s\"}", code);
  return munity_protocol_event_frame ("error", data);
}

static gboolean
member_is_uint (JsonObject *object,
                const char *name,
                guint64     max,
                guint      *out_value)
{
  JsonNode *node = json_object_get_member (object, name);
  gint64 value;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  value = json_node_get_int (node);
  if (value < 0 || (guint64) value > max)
    return FALSE;
  *out_value = (guint) value;
  return TRUE;
}

/**
 * munity_protocol_parse_set_window:
 * @text: (array length=length): a text message from a client, UTF-8
 * @length: its length
 * @out_query: (out) (transfer full): the query, "" if none
 * @out_offset: (out): the first row of the window
 * @out_limit: (out): how many rows
 *
 * Understands `{"event":"setWindow","data":{"offset":O,"limit":L,"query":Q}}`
 * (doc/protocol.md §8): O a non-negative integer, L an integer from 0 to
 * %MUNITY_PROTOCOL_WINDOW_MAX_LIMIT, Q (may be left out) a string of at most
 * %MUNITY_PROTOCOL_WINDOW_MAX_QUERY characters; no other member.
 *
 * Returns: %TRUE if @text is such a message
 */
gboolean
munity_protocol_parse_set_window (const char  *text,
                                  gsize        length,
                                  char       **out_query,
                                  guint       *out_offset,
                                  guint       *out_limit)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root, *node;
  JsonObject *object, *data;
  const char *query = "";
  guint known = 2;

  if (length > G_MAXSSIZE || !json_parser_load_from_data (parser, text, (gssize) length, NULL))
    return FALSE;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return FALSE;
  object = json_node_get_object (root);
  node = json_object_get_member (object, "event");
  if (json_object_get_size (object) != 2 || node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING || !g_str_equal (json_node_get_string (node), "setWindow"))
    return FALSE;
  node = json_object_get_member (object, "data");
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return FALSE;
  data = json_node_get_object (node);

  if (!member_is_uint (data, "offset", G_MAXINT32, out_offset) ||
      !member_is_uint (data, "limit", MUNITY_PROTOCOL_WINDOW_MAX_LIMIT, out_limit))
    return FALSE;
  node = json_object_get_member (data, "query");
  if (node != NULL)
    {
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
        return FALSE;
      query = json_node_get_string (node);
      if (g_utf8_strlen (query, -1) > MUNITY_PROTOCOL_WINDOW_MAX_QUERY)
        return FALSE;
      known++;
    }
  if (json_object_get_size (data) != known)
    return FALSE;

  *out_query = g_strdup (query);
  return TRUE;
}
