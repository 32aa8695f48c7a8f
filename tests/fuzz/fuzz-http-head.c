/* Fuzz target: a request head as a client sends it, through libsoup's
 * parser and then munityd's own checks (size limits, Host, Range). */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "munity-http-guard.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  static const char * const allowed[] = { "munity.example.org", "127.0.0.1:8080", NULL };
  SoupMessageHeaders *headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  char *method = NULL, *path = NULL;
  SoupHTTPVersion version;

  if (soup_headers_parse_request ((const char *) data, size, headers, &method, &path, &version) == SOUP_STATUS_OK)
    {
      const char *query = strchr (path, '?');
      g_autofree char *bare_path = query != NULL ? g_strndup (path, query - path) : g_strdup (path);
      const char *code = NULL, *message = NULL;
      const char *range = soup_message_headers_get_one (headers, "Range");
      guint status;

      status = munity_http_check_head (bare_path, query != NULL ? query + 1 : NULL, headers, &code, &message);
      g_assert_true (status == 0 || status == 414 || status == 431);
      g_assert_true ((status == 0) == (code == NULL));
      if (status != 0)
        g_assert_nonnull (message);
      (void) munity_http_host_is_allowed (soup_message_headers_get_one (headers, "Host"), allowed);
      if (range != NULL)
        (void) munity_http_range_is_single (range);
    }

  g_free (method);
  g_free (path);
  soup_message_headers_unref (headers);
  return 0;
}
