/* Unit tests of the pure WebSocket frame code and picture sniffing. */
#include "config.h"

#include <sodium.h>
#include <string.h>

#include "munity-avatar.h"
#include "munity-presence.h"
#include "munity-protocol.h"

static void
test_parse_masked_text (void)
{
  guint8 frame[] = { 0x81, 0x85, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'l' ^ 3, 'l' ^ 4, 'o' ^ 1 };
  MunityWsHeader header;

  g_assert_cmpint (munity_ws_parse_header (frame, 1, &header), ==, MUNITY_WS_PARSE_NEED_MORE);
  g_assert_cmpint (munity_ws_parse_header (frame, 5, &header), ==, MUNITY_WS_PARSE_NEED_MORE);
  g_assert_cmpint (munity_ws_parse_header (frame, sizeof frame, &header), ==, MUNITY_WS_PARSE_OK);
  g_assert_true (header.fin);
  g_assert_true (header.masked);
  g_assert_cmpuint (header.opcode, ==, MUNITY_WS_OP_TEXT);
  g_assert_cmpuint (header.payload_length, ==, 5);
  g_assert_cmpuint (header.header_length, ==, 6);
  munity_ws_unmask (frame + 6, 5, header.mask);
  g_assert_cmpmem (frame + 6, 5, "hello", 5);
}

static void
test_parse_lengths (void)
{
  guint8 medium[] = { 0x81, 0xFE, 0x10, 0x01, 0, 0, 0, 0 };
  guint8 large[] = { 0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
  guint8 non_minimal[] = { 0x81, 0xFE, 0x00, 0x05, 0, 0, 0, 0 };
  guint8 top_bit[] = { 0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
  MunityWsHeader header;

  g_assert_cmpint (munity_ws_parse_header (medium, sizeof medium, &header), ==, MUNITY_WS_PARSE_OK);
  g_assert_cmpuint (header.payload_length, ==, 4097);
  g_assert_cmpuint (header.header_length, ==, 8);
  g_assert_cmpint (munity_ws_parse_header (large, sizeof large, &header), ==, MUNITY_WS_PARSE_OK);
  g_assert_cmpuint (header.payload_length, ==, 65536);
  g_assert_cmpint (munity_ws_parse_header (non_minimal, sizeof non_minimal, &header), ==, MUNITY_WS_PARSE_PROTOCOL_ERROR);
  g_assert_cmpint (munity_ws_parse_header (top_bit, sizeof top_bit, &header), ==, MUNITY_WS_PARSE_PROTOCOL_ERROR);
}

static void
test_parse_bad (void)
{
  guint8 rsv[] = { 0xC1, 0x80, 0, 0, 0, 0 };
  guint8 opcode[] = { 0x83, 0x80, 0, 0, 0, 0 };
  guint8 fragmented_ping[] = { 0x09, 0x80, 0, 0, 0, 0 };
  guint8 long_ping[] = { 0x89, 0xFE, 0, 200, 0, 0, 0, 0 };
  MunityWsHeader header;

  g_assert_cmpint (munity_ws_parse_header (rsv, sizeof rsv, &header), ==, MUNITY_WS_PARSE_PROTOCOL_ERROR);
  g_assert_cmpint (munity_ws_parse_header (opcode, sizeof opcode, &header), ==, MUNITY_WS_PARSE_PROTOCOL_ERROR);
  g_assert_cmpint (munity_ws_parse_header (fragmented_ping, sizeof fragmented_ping, &header), ==, MUNITY_WS_PARSE_PROTOCOL_ERROR);
  g_assert_cmpint (munity_ws_parse_header (long_ping, sizeof long_ping, &header), ==, MUNITY_WS_PARSE_PROTOCOL_ERROR);
}

static void
test_server_frames (void)
{
  g_autoptr(GBytes) close_frame = munity_ws_close_frame_new (4001, "logged out");
  g_autoptr(GBytes) left = munity_protocol_user_left_frame (42);
  g_autoptr(GBytes) error = munity_protocol_error_frame ("bad-message");
  g_autofree char *big = g_strnfill (70000, 'x');
  g_autoptr(GBytes) large = munity_ws_frame_new (MUNITY_WS_OP_TEXT, big, 70000);
  const guint8 *d = g_bytes_get_data (close_frame, NULL);

  g_assert_cmpuint (d[0], ==, 0x88);
  g_assert_cmpuint (d[1], ==, 12);
  g_assert_cmpuint ((d[2] << 8) | d[3], ==, 4001);
  g_assert_cmpmem ((const char *) g_bytes_get_data (left, NULL) + 2, g_bytes_get_size (left) - 2,
                   "{\"event\":\"userLeft\",\"data\":{\"id\":42}}", strlen ("{\"event\":\"userLeft\",\"data\":{\"id\":42}}"));
  g_assert_cmpmem ((const char *) g_bytes_get_data (error, NULL) + 2, g_bytes_get_size (error) - 2,
                   "{\"event\":\"error\",\"data\":{\"code\":\"bad-message\"}}",
                   strlen ("{\"event\":\"error\",\"data\":{\"code\":\"bad-message\"}}"));
  g_assert_cmpuint (g_bytes_get_size (large), ==, 70000 + 10);
  g_assert_cmpuint (((const guint8 *) g_bytes_get_data (large, NULL))[1], ==, 127);
}

static void
test_snapshot_concatenation (void)
{
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  const char *text;
  gsize size;
  JsonArray *data;

  static const char one[] = "{\"id\":1,\"first\":\"A\",\"last\":\"B\",\"imageUrl\":null}";
  static const char two[] = "{\"id\":2,\"first\":\"C\",\"last\":\"D\",\"imageUrl\":null}";

  g_autofree char *body = g_strconcat (one, ",", two, NULL);
  g_autoptr(GBytes) head = munity_protocol_online_users_frame_head (strlen (body));
  g_autoptr(GBytes) tail = munity_protocol_online_users_frame_tail ();
  g_autoptr(GByteArray) whole = g_byte_array_new ();
  MunityWsHeader header;

  /* The hub sends the three parts back to back, the body shared. */
  g_byte_array_append (whole, g_bytes_get_data (head, NULL), g_bytes_get_size (head));
  g_byte_array_append (whole, (const guint8 *) body, strlen (body));
  g_byte_array_append (whole, g_bytes_get_data (tail, NULL), g_bytes_get_size (tail));
  frame = g_byte_array_free_to_bytes (g_steal_pointer (&whole));
  g_assert_cmpint (munity_ws_parse_header (g_bytes_get_data (frame, &size), g_bytes_get_size (frame), &header),
                   ==, MUNITY_WS_PARSE_OK);
  g_assert_false (header.masked);
  g_assert_cmpuint (header.header_length + header.payload_length, ==, size);
  text = (const char *) g_bytes_get_data (frame, NULL) + header.header_length;
  g_assert_true (json_parser_load_from_data (parser, text, header.payload_length, NULL));
  data = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "data");
  g_assert_cmpuint (json_array_get_length (data), ==, 2);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (data, 1), "id"), ==, 2);
}

static void
test_avatar_sniff (void)
{
  const char *ext = NULL;

  g_assert_cmpstr (munity_avatar_sniff ((const guint8 *) "\x89PNG\r\n\x1a\n....", 12, &ext), ==, "image/png");
  g_assert_cmpstr (ext, ==, "png");
  g_assert_cmpstr (munity_avatar_sniff ((const guint8 *) "\xff\xd8\xff\xe0", 4, &ext), ==, "image/jpeg");
  g_assert_cmpstr (munity_avatar_sniff ((const guint8 *) "RIFF\0\0\0\0WEBPVP8 ", 16, &ext), ==, "image/webp");
  g_assert_cmpstr (munity_avatar_sniff ((const guint8 *) "GIF89a..", 8, &ext), ==, "image/gif");
  g_assert_null (munity_avatar_sniff ((const guint8 *) "<svg xmlns=\"http://www.w3.org/2000/svg\"/>", 41, &ext));
  g_assert_null (munity_avatar_sniff ((const guint8 *) "<?xml version=\"1.0\"?><svg/>", 27, &ext));
  g_assert_null (munity_avatar_sniff ((const guint8 *) "\x89PN", 3, &ext));
  g_assert_null (munity_avatar_sniff ((const guint8 *) "", 0, &ext));
}

static void
test_avatar_names (void)
{
  g_autofree char *name = munity_avatar_new_name (42, "webp");
  g_autofree char *other = munity_avatar_new_name (42, "webp");

  g_assert_cmpstr (munity_avatar_name_type (name), ==, "image/webp");
  g_assert_cmpstr (name, !=, other);
  g_assert_true (g_str_has_prefix (name, "42-"));
  g_assert_null (munity_avatar_name_type ("../etc/passwd"));
  g_assert_null (munity_avatar_name_type ("42-0123456789abcdef.svg"));
  g_assert_null (munity_avatar_name_type ("42-0123456789ABCDEF.png"));
  g_assert_null (munity_avatar_name_type ("42-0123456789abcdef.png/x"));
  g_assert_null (munity_avatar_name_type ("x42-0123456789abcdef.png"));
  g_assert_cmpstr (munity_avatar_name_type ("42-0123456789abcdef.gif"), ==, "image/gif");
}

/* setStatus must be exactly one of two objects; anything else is a bad
 * message (doc/protocol.md §3). */
static void
test_client_set_status (void)
{
  static const struct { const char *text; MunityClientEvent event; gboolean idle; } cases[] = {
    { "{\"event\":\"setStatus\",\"data\":{\"status\":\"idle\"}}", MUNITY_CLIENT_EVENT_SET_STATUS, TRUE },
    { "{\"event\":\"setStatus\",\"data\":{\"status\":\"online\"}}", MUNITY_CLIENT_EVENT_SET_STATUS, FALSE },
    { " { \"data\" : {\"status\":\"idle\"} , \"event\":\"setStatus\" } ", MUNITY_CLIENT_EVENT_SET_STATUS, TRUE },
    { "{\"event\":\"setStatus\",\"data\":{\"status\":\"IDLE\"}}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "{\"event\":\"setStatus\",\"data\":{\"status\":\"away\"}}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "{\"event\":\"setStatus\",\"data\":{\"status\":\"idle\",\"x\":1}}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "{\"event\":\"setStatus\",\"data\":{}}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "{\"event\":\"setStatus\",\"data\":\"idle\"}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "{\"event\":\"setStatus\",\"data\":null}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "{\"event\":\"setStatus\",\"data\":[\"idle\"]}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "{\"event\":\"setStatus\"}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "{\"event\":\"setStatus\",\"data\":{\"status\":1}}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "{\"event\":\"setStatus\",\"data\":{\"status\":null}}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "{\"event\":\"setStatus\",\"data\":{\"status\":{\"a\":1}}}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "{\"event\":\"setstatus\",\"data\":{\"status\":\"idle\"}}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "{\"event\":{\"a\":1},\"data\":{\"status\":\"idle\"}}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "{\"event\":\"setStatus\",\"data\":{\"status\":\"idle\"},\"id\":1}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "{\"event\":\"hello\",\"data\":{}}", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "[\"setStatus\"]", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "\"setStatus\"", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "not json", MUNITY_CLIENT_EVENT_BAD, FALSE },
    { "", MUNITY_CLIENT_EVENT_BAD, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gboolean idle = !cases[i].idle;

      g_test_message ("%s", cases[i].text);
      g_assert_cmpint (munity_protocol_parse_client_event (cases[i].text, strlen (cases[i].text), &idle), ==,
                       cases[i].event);
      g_assert_cmpint (idle, ==, cases[i].idle);
    }
}

static void
test_user_json_status (void)
{
  g_autoptr(MunityPresence) presence = munity_presence_new (0);
  g_autoptr(MunityUserInfo) info = munity_user_info_new (7, "Ada", "Lovelace", "ada@example.org", "bio", NULL);
  g_autoptr(MunitySocket) socket = munity_socket_new (7, "s");
  MunityUser *user = munity_presence_add_socket (presence, socket, info);
  g_autofree char *online = munity_protocol_user_json (user);
  g_autofree char *idle = NULL;
  g_autoptr(JsonNode) listed = NULL;
  g_autofree char *listed_text = NULL;

  g_assert_cmpstr (online, ==, "{\"id\":7,\"first\":\"Ada\",\"last\":\"Lovelace\",\"imageUrl\":null,\"status\":\"online\"}");
  munity_presence_set_socket_idle (presence, socket, TRUE);
  idle = munity_protocol_user_json (user);
  g_assert_cmpstr (idle, ==, "{\"id\":7,\"first\":\"Ada\",\"last\":\"Lovelace\",\"imageUrl\":null,\"status\":\"idle\"}");
  listed = munity_protocol_online_user_to_json (user);
  listed_text = json_to_string (listed, FALSE);
  g_assert_cmpstr (listed_text, ==,
                   "{\"id\":7,\"first\":\"Ada\",\"last\":\"Lovelace\",\"imageUrl\":null,\"status\":\"idle\",\"bio\":\"bio\"}");
  munity_presence_remove_socket (presence, socket);
}

static void
test_profile_json (void)
{
  g_autoptr(MunityPresence) presence = munity_presence_new (1000);
  g_autoptr(MunityUserInfo) info = munity_user_info_new (7, "Ada", "Lovelace", "ada@example.org", "", NULL);
  g_autoptr(MunitySocket) socket = munity_socket_new (7, "s");
  g_autoptr(JsonNode) never = munity_protocol_profile_to_json (info, NULL);
  g_autofree char *never_text = json_to_string (never, FALSE);
  MunityUser *user;

  g_assert_cmpstr (never_text, ==,
                   "{\"id\":7,\"first\":\"Ada\",\"last\":\"Lovelace\",\"imageUrl\":null,\"bio\":\"\","
                   "\"online\":false,\"lastSeen\":null}");

  /* 2026-12-01T13:53:24.5Z: shown to the second */
  info->last_seen = G_GINT64_CONSTANT (1796133204) * G_USEC_PER_SEC + 500000;
  {
    g_autoptr(JsonNode) away = munity_protocol_profile_to_json (info, NULL);
    g_autofree char *text = json_to_string (away, FALSE);
    g_assert_nonnull (strstr (text, "\"online\":false,\"lastSeen\":\"2026-12-01T13:53:24Z\""));
  }

  /* Online (lingering too): no last seen. */
  user = munity_presence_add_socket (presence, socket, info);
  munity_presence_remove_socket (presence, socket);
  g_assert_true (munity_user_is_lingering (user));
  {
    g_autoptr(JsonNode) here = munity_protocol_profile_to_json (info, user);
    g_autofree char *text = json_to_string (here, FALSE);
    g_assert_nonnull (strstr (text, "\"online\":true,\"lastSeen\":null"));
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (sodium_init (), >=, 0);

  g_test_add_func ("/protocol/parse/masked-text", test_parse_masked_text);
  g_test_add_func ("/protocol/parse/lengths", test_parse_lengths);
  g_test_add_func ("/protocol/parse/bad", test_parse_bad);
  g_test_add_func ("/protocol/server-frames", test_server_frames);
  g_test_add_func ("/protocol/snapshot-concatenation", test_snapshot_concatenation);
  g_test_add_func ("/protocol/client/set-status", test_client_set_status);
  g_test_add_func ("/protocol/user-json/status", test_user_json_status);
  g_test_add_func ("/protocol/user-json/profile", test_profile_json);
  g_test_add_func ("/avatar/sniff", test_avatar_sniff);
  g_test_add_func ("/avatar/names", test_avatar_names);

  return g_test_run ();
}
