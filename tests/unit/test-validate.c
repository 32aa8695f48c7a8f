/* Unit tests of the field rules of doc/protocol.md §2. */
#include "config.h"

#include "munity-validate.h"

static void
test_name_trimmed (void)
{
  g_autofree char *a = munity_validate_name ("  Ada \t");
  g_autofree char *b = munity_validate_name ("\u2003Zoë 👩‍💻\u00a0");

  g_assert_cmpstr (a, ==, "Ada");
  g_assert_cmpstr (b, ==, "Zoë 👩‍💻");
}

static void
test_name_length (void)
{
  g_autoptr(GString) hundred = g_string_new (NULL);
  g_autofree char *ok = NULL;
  g_autofree char *too_long = NULL;

  for (int i = 0; i < 100; i++)
    g_string_append (hundred, "é");  /* 2 bytes, 1 code point */
  ok = munity_validate_name (hundred->str);
  g_assert_nonnull (ok);
  g_string_append (hundred, "x");
  too_long = munity_validate_name (hundred->str);
  g_assert_null (too_long);
}

static void
test_name_invalid (void)
{
  const char *bad[] = { "", "   ", "\t\n", "Ada\x01", "A\nB", "\xff\xfe", "Ad\x7f" };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *result = munity_validate_name (bad[i]);
      g_assert_null (result);
    }
  g_assert_null (munity_validate_name (NULL));
}

static void
test_name_sql_verbatim (void)
{
  g_autofree char *name = munity_validate_name ("Robert'); DROP TABLE users;--");
  g_assert_cmpstr (name, ==, "Robert'); DROP TABLE users;--");
}

static void
test_email (void)
{
  const char *good[] = { "ada@example.org", "A.B+c@sub.example.co.uk", "ü@exämple.de" };
  const char *bad[] = { "", "ada", "@example.org", "ada@", "ada@example", "a@b@c.org",
                        "ada @example.org", "ada@exa mple.org", "ada@.org", "ada@example.",
                        "ada@example..org", "ada\x01@example.org", "ada@example.org\n" };
  g_autoptr(GString) long_email = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (munity_validate_email (good[i]));
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (munity_validate_email (bad[i]));

  /* 254 bytes is the most */
  while (long_email->len < 254 - strlen ("@example.org"))
    g_string_append_c (long_email, 'a');
  g_string_append (long_email, "@example.org");
  g_assert_cmpuint (long_email->len, ==, 254);
  g_assert_true (munity_validate_email (long_email->str));
  g_string_prepend_c (long_email, 'a');
  g_assert_false (munity_validate_email (long_email->str));
}

static void
test_password (void)
{
  g_autofree char *max = g_strnfill (1024, 'x');
  g_autofree char *over = g_strnfill (1025, 'x');

  g_assert_false (munity_validate_password ("1234567"));
  g_assert_true (munity_validate_password ("12345678"));
  g_assert_true (munity_validate_password ("pässwörd"));
  g_assert_true (munity_validate_password (max));
  g_assert_false (munity_validate_password (over));
  g_assert_false (munity_validate_password ("abcdefg\xff"));
  g_assert_false (munity_validate_password (NULL));
}

static void
test_bio (void)
{
  g_autofree char *max = g_strnfill (2000, 'b');
  g_autofree char *over = g_strnfill (2001, 'b');

  g_assert_true (munity_validate_bio (""));
  g_assert_true (munity_validate_bio ("Line one\nLine two\ttabbed"));
  g_assert_true (munity_validate_bio (max));
  g_assert_false (munity_validate_bio (over));
  g_assert_false (munity_validate_bio ("bell\x07"));
}

static void
test_user_id (void)
{
  gint64 id = 0;

  g_assert_true (munity_parse_user_id ("42", &id));
  g_assert_cmpint (id, ==, 42);
  g_assert_true (munity_parse_user_id ("9223372036854775807", &id));
  g_assert_false (munity_parse_user_id ("9223372036854775808", &id));
  g_assert_false (munity_parse_user_id ("0", &id));
  g_assert_false (munity_parse_user_id ("-1", &id));
  g_assert_false (munity_parse_user_id ("+1", &id));
  g_assert_false (munity_parse_user_id (" 1", &id));
  g_assert_false (munity_parse_user_id ("abc", &id));
  g_assert_false (munity_parse_user_id ("1e3", &id));
  g_assert_false (munity_parse_user_id ("", &id));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/validate/name/trimmed", test_name_trimmed);
  g_test_add_func ("/validate/name/length", test_name_length);
  g_test_add_func ("/validate/name/invalid", test_name_invalid);
  g_test_add_func ("/validate/name/sql-verbatim", test_name_sql_verbatim);
  g_test_add_func ("/validate/email", test_email);
  g_test_add_func ("/validate/password", test_password);
  g_test_add_func ("/validate/bio", test_bio);
  g_test_add_func ("/validate/user-id", test_user_id);

  return g_test_run ();
}
