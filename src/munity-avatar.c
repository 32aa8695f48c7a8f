/* munity-avatar.c — recognising and naming pictures (pure)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <sodium.h>
#include <string.h>

#include "munity-avatar.h"

static const struct {
  const char *type;
  const char *extension;
} types[] = {
  { "image/png", "png" },
  { "image/jpeg", "jpg" },
  { "image/webp", "webp" },
  { "image/gif", "gif" },
};

/**
 * munity_avatar_sniff:
 * @data: (array length=length): the uploaded bytes
 * @length: their length
 * @out_extension: (out) (optional) (transfer none): the file extension
 *
 * Recognises a picture by its magic bytes alone — what the client claims
 * does not count. PNG, JPEG, WebP and GIF are accepted; everything else,
 * SVG included (it can carry script), is not.
 *
 * Returns: (nullable): the MIME type, or %NULL if not an accepted image
 */
const char *
munity_avatar_sniff (const guint8  *data,
                     gsize          length,
                     const char   **out_extension)
{
  int index = -1;

  if (length >= 8 && memcmp (data, "\x89PNG\r\n\x1a\n", 8) == 0)
    index = 0;
  else if (length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
    index = 1;
  else if (length >= 12 && memcmp (data, "RIFF", 4) == 0 && memcmp (data + 8, "WEBP", 4) == 0)
    index = 2;
  else if (length >= 6 && (memcmp (data, "GIF87a", 6) == 0 || memcmp (data, "GIF89a", 6) == 0))
    index = 3;

  if (index < 0)
    return NULL;
  if (out_extension != NULL)
    *out_extension = types[index].extension;
  return types[index].type;
}

/**
 * munity_avatar_new_name:
 * @user_id: the picture's owner
 * @extension: its extension, from munity_avatar_sniff()
 *
 * Every upload gets a new, unguessable name, so caches never show an old
 * picture under a new URL.
 *
 * Returns: (transfer full): a file name such as `42-3f9a0c1d2e4b5a69.webp`
 */
char *
munity_avatar_new_name (gint64      user_id,
                        const char *extension)
{
  guint8 bytes[8];
  char hex[sizeof bytes * 2 + 1];

  randombytes_buf (bytes, sizeof bytes);
  sodium_bin2hex (hex, sizeof hex, bytes, sizeof bytes);
  return g_strdup_printf ("%" G_GINT64_FORMAT "-%s.%s", user_id, hex, extension);
}

/**
 * munity_avatar_name_type:
 * @name: the last segment of an `/avatars/` path
 *
 * Returns: (nullable): the MIME type if @name has the exact shape
 *   munity_avatar_new_name() makes, else %NULL (so no other file can be
 *   named through the URL)
 */
const char *
munity_avatar_name_type (const char *name)
{
  const char *p = name;
  const char *dot;

  if (!g_ascii_isdigit (*p))
    return NULL;
  while (g_ascii_isdigit (*p))
    p++;
  if (*p++ != '-')
    return NULL;
  for (int i = 0; i < 16; i++, p++)
    if (!g_ascii_isxdigit (*p) || g_ascii_isupper (*p))
      return NULL;
  if (*p != '.')
    return NULL;
  dot = p + 1;

  for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
    if (g_str_equal (dot, types[i].extension))
      return types[i].type;
  return NULL;
}

/**
 * munity_avatar_dir_for_state_dir:
 * @state_dir: munityd's state directory
 *
 * Returns: (transfer full): where the pictures are stored, `STATE/avatars`
 */
char *
munity_avatar_dir_for_state_dir (const char *state_dir)
{
  return g_build_filename (state_dir, "avatars", NULL);
}
