/* munity-protocol.h — WebSocket frames and presence events (pure)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "munity-user.h"

G_BEGIN_DECLS

#define MUNITY_WS_OP_CONTINUATION 0x0
#define MUNITY_WS_OP_TEXT 0x1
#define MUNITY_WS_OP_BINARY 0x2
#define MUNITY_WS_OP_CLOSE 0x8
#define MUNITY_WS_OP_PING 0x9
#define MUNITY_WS_OP_PONG 0xA

/* Largest client message accepted (doc/protocol.md §3), after reassembly. */
#define MUNITY_WS_MAX_MESSAGE 4096
#define MUNITY_WS_MAX_HEADER 14

/**
 * MunityWsParse:
 * @MUNITY_WS_PARSE_OK: a whole frame header was parsed
 * @MUNITY_WS_PARSE_NEED_MORE: more bytes are needed
 * @MUNITY_WS_PARSE_PROTOCOL_ERROR: the bytes are not a valid client frame
 *
 * The outcome of munity_ws_parse_header().
 */
typedef enum {
  MUNITY_WS_PARSE_OK,
  MUNITY_WS_PARSE_NEED_MORE,
  MUNITY_WS_PARSE_PROTOCOL_ERROR,
} MunityWsParse;

/**
 * MunityWsHeader:
 * @fin: whether this is the last frame of a message
 * @opcode: the frame's opcode
 * @masked: whether the payload is masked (clients must mask)
 * @mask: the masking key
 * @payload_length: the payload's length
 * @header_length: the header's length, where the payload starts
 *
 * A parsed WebSocket frame header.
 */
typedef struct {
  gboolean fin;
  guint8   opcode;
  gboolean masked;
  guint8   mask[4];
  guint64  payload_length;
  gsize    header_length;
} MunityWsHeader;

MunityWsParse munity_ws_parse_header      (const guint8   *data,
                                           gsize           length,
                                           MunityWsHeader *header);
void          munity_ws_unmask            (guint8         *payload,
                                           gsize           length,
                                           const guint8    mask[4]);
gsize         munity_ws_write_header      (guint8         *out,
                                           guint8          opcode,
                                           gsize           payload_length);
GBytes       *munity_ws_frame_new         (guint8          opcode,
                                           const void     *payload,
                                           gsize           length);
GBytes       *munity_ws_close_frame_new   (guint16         code,
                                           const char     *reason);
gboolean      munity_ws_close_code_is_valid (guint16       code);

/**
 * MunityClientEvent:
 * @MUNITY_CLIENT_EVENT_BAD: not an event the server understands
 *   (`bad-message`)
 * @MUNITY_CLIENT_EVENT_SET_STATUS: `setStatus`
 *
 * What a client's text message asks for (doc/protocol.md §3).
 */
typedef enum {
  MUNITY_CLIENT_EVENT_BAD,
  MUNITY_CLIENT_EVENT_SET_STATUS,
} MunityClientEvent;

MunityClientEvent munity_protocol_parse_client_event (const char *text,
                                                      gsize       length,
                                                      gboolean   *out_idle);

char         *munity_protocol_user_json   (MunityUser     *user);
JsonNode     *munity_protocol_online_user_to_json (MunityUser *user);
JsonNode     *munity_protocol_profile_to_json     (MunityUserInfo *info,
                                                   MunityUser     *online);
JsonNode     *munity_user_info_to_json    (MunityUserInfo *info,
                                           gboolean        with_email);
void          munity_protocol_add_image_url (JsonBuilder  *builder,
                                           const char     *image_url);
GBytes       *munity_protocol_event_frame (const char     *event,
                                           const char     *data_json);
GBytes       *munity_protocol_online_users_frame_head (gsize body_length);
GBytes       *munity_protocol_online_users_frame_tail (void);
GBytes       *munity_protocol_user_left_frame    (gint64     user_id);
GBytes       *munity_protocol_error_frame        (const char *code);

/* doc/protocol.md §8: the largest window and query a client may ask for. */
#define MUNITY_PROTOCOL_WINDOW_MAX_LIMIT 200
#define MUNITY_PROTOCOL_WINDOW_MAX_QUERY 100

gboolean      munity_protocol_parse_set_window   (const char  *text,
                                                  gsize        length,
                                                  char       **out_query,
                                                  guint       *out_offset,
                                                  guint       *out_limit);

G_END_DECLS
