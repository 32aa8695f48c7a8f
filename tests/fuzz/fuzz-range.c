/* Fuzz target: the Range header munityd lets through to libsoup.
 *
 * The oracle: whatever munity_http_range_is_single() accepts, libsoup's
 * own parser turns into at most one range, so libsoup never builds a
 * multipart answer (libsoup#428). */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "munity-http-guard.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  SoupMessageHeaders *headers;
  SoupRange *ranges = NULL;
  int n_ranges = 0;

  if (!munity_http_range_is_single (text))
    return 0;

  /* Header values cannot hold line breaks or NULs; a fuzzer's can. */
  if (strpbrk (text, "\r\n") != NULL || strlen (text) != size)
    return 0;

  headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  soup_message_headers_append (headers, "Range", text);
  if (soup_message_headers_get_ranges (headers, 1000, &ranges, &n_ranges))
    {
      g_assert_cmpint (n_ranges, <=, 1);
      soup_message_headers_free_ranges (headers, ranges);
    }
  soup_message_headers_unref (headers);
  return 0;
}
