/* munity-validate.c — the rules for user-supplied fields (pure)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "munity-validate.h"

static gboolean
has_control (const char *text,
             gboolean    allow_line_breaks)
{
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (allow_line_breaks && (c == '\n' || c == '\r' || c == '\t'))
        continue;
      if (g_unichar_iscntrl (c))
        return TRUE;
    }

  return FALSE;
}

/**
 * munity_validate_name:
 * @text: a first or last name as the user sent it
 *
 * A name is valid UTF-8, 1 to 100 code points once white space is trimmed
 * from both ends, with no control characters.
 *
 * Returns: (transfer full) (nullable): the trimmed name to store, or %NULL
 *   if @text is not a valid name
 */
char *
munity_validate_name (const char *text)
{
  const char *start = text;
  const char *end;
  glong length;

  if (text == NULL || !g_utf8_validate (text, -1, NULL))
    return NULL;

  while (*start != '\0' && g_unichar_isspace (g_utf8_get_char (start)))
    start = g_utf8_next_char (start);

  end = start + strlen (start);
  while (end > start)
    {
      const char *prev = g_utf8_find_prev_char (start, end);
      if (prev == NULL || !g_unichar_isspace (g_utf8_get_char (prev)))
        break;
      end = prev;
    }

  length = g_utf8_strlen (start, end - start);
  if (length < 1 || length > MUNITY_NAME_MAX_CHARS)
    return NULL;

  {
    g_autofree char *trimmed = g_strndup (start, end - start);
    if (has_control (trimmed, FALSE))
      return NULL;
    return g_steal_pointer (&trimmed);
  }
}

/**
 * munity_validate_email:
 * @text: an email address
 *
 * One `@`, a non-empty local part, a domain of non-empty dot-separated
 * labels with at least one dot, no white space or control characters, at
 * most 254 bytes.
 *
 * Returns: %TRUE if @text is acceptable
 */
gboolean
munity_validate_email (const char *text)
{
  const char *at;
  const char *domain;

  if (text == NULL || !g_utf8_validate (text, -1, NULL))
    return FALSE;
  if (strlen (text) > MUNITY_EMAIL_MAX_BYTES)
    return FALSE;

  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      if (g_unichar_isspace (c) || g_unichar_iscntrl (c) ||
          g_unichar_type (c) == G_UNICODE_SPACE_SEPARATOR)
        return FALSE;
    }

  at = strchr (text, '@');
  if (at == NULL || at == text || strchr (at + 1, '@') != NULL)
    return FALSE;

  domain = at + 1;
  if (strchr (domain, '.') == NULL || domain[0] == '.' ||
      domain[strlen (domain) - 1] == '.' || strstr (domain, "..") != NULL)
    return FALSE;

  return TRUE;
}

/**
 * munity_validate_password:
 * @text: a password
 *
 * Returns: %TRUE if @text is 8 to 1024 bytes of valid UTF-8
 */
gboolean
munity_validate_password (const char *text)
{
  gsize length;

  if (text == NULL)
    return FALSE;

  length = strlen (text);
  return length >= MUNITY_PASSWORD_MIN_BYTES &&
         length <= MUNITY_PASSWORD_MAX_BYTES &&
         g_utf8_validate (text, -1, NULL);
}

/**
 * munity_validate_bio:
 * @text: a bio
 *
 * A bio is valid UTF-8 of at most 2000 code points; line breaks and tabs
 * are allowed, other control characters are not.
 *
 * Returns: %TRUE if @text is acceptable
 */
gboolean
munity_validate_bio (const char *text)
{
  return text != NULL &&
         g_utf8_validate (text, -1, NULL) &&
         g_utf8_strlen (text, -1) <= MUNITY_BIO_MAX_CHARS &&
         !has_control (text, TRUE);
}

/**
 * munity_parse_user_id:
 * @text: the `:id` part of a path
 * @out_id: (out): the id
 *
 * Returns: %TRUE if @text is a positive decimal number that fits a
 *   PostgreSQL `bigint`, written with digits only
 */
gboolean
munity_parse_user_id (const char *text,
                      gint64     *out_id)
{
  guint64 value;

  if (text == NULL || !g_ascii_isdigit (text[0]))
    return FALSE;
  if (!g_ascii_string_to_unsigned (text, 10, 1, G_MAXINT64, &value, NULL))
    return FALSE;

  *out_id = (gint64) value;
  return TRUE;
}
