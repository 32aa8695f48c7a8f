/* Fuzz target: what a client controls in HTTP requests — the Cookie
 * header, user fields, ids, pictures, origins. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "munity-avatar.h"
#include "munity-config.h"
#include "munity-session.h"
#include "munity-validate.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autofree char *token = munity_session_token_from_cookie (text);
  g_autofree char *name = munity_validate_name (text);
  g_autofree char *origin = munity_config_normalize_origin (text, NULL);
  gint64 id;

  if (token != NULL)
    g_assert (munity_session_token_is_valid (token));
  if (name != NULL)
    g_assert (g_utf8_validate (name, -1, NULL) && *name != '\0');
  (void) munity_validate_email (text);
  (void) munity_validate_password (text);
  (void) munity_validate_bio (text);
  if (munity_parse_user_id (text, &id))
    g_assert (id > 0);
  (void) munity_avatar_sniff (data, size, NULL);
  (void) munity_avatar_name_type (text);
  {
    g_autoptr(GSocketAddress) address = munity_config_parse_listen (text, NULL);
    (void) address;
  }

  return 0;
}
