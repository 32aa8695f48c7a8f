/* Fuzz target: client WebSocket frame headers, unmasking and UTF-8. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "munity-protocol.h"
#include "munity-ws-conn.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  gsize at = 0;

  /* Walk the input as a stream of frames, as the hub does. */
  while (at < size)
    {
      MunityWsHeader header;
      MunityWsParse result = munity_ws_parse_header (data + at, size - at, &header);
      guint8 *payload;
      gsize available;

      if (result != MUNITY_WS_PARSE_OK)
        break;
      g_assert (header.header_length >= 2 && header.header_length <= MUNITY_WS_MAX_HEADER);
      g_assert (header.header_length <= size - at);
      if (header.payload_length > size - at - header.header_length)
        break;

      available = header.payload_length;
      payload = g_memdup2 (data + at + header.header_length, available);
      munity_ws_unmask (payload, available, header.mask);
      if (header.opcode == MUNITY_WS_OP_TEXT && available <= MUNITY_WS_MAX_MESSAGE)
        (void) munity_ws_utf8_validate (payload, available);
      g_free (payload);
      at += header.header_length + header.payload_length;
    }

  return 0;
}
