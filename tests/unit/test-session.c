/* Unit tests of session tokens and the cookie. */
#include "config.h"

#include <sodium.h>
#include <string.h>

#include "munity-session.h"

static void
test_token_shape (void)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (int i = 0; i < 1000; i++)
    {
      char *token = munity_session_token_new ();

      g_assert_cmpuint (strlen (token), ==, MUNITY_SESSION_TOKEN_CHARS);
      g_assert_true (munity_session_token_is_valid (token));
      g_assert_false (g_hash_table_contains (seen, token));
      g_hash_table_add (seen, token);
    }
}

static void
test_token_hash (void)
{
  g_autofree char *a = munity_session_token_hash ("abc");
  g_autofree char *b = munity_session_token_hash ("abd");

  g_assert_cmpstr (a, ==, "\\xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  g_assert_cmpstr (a, !=, b);
}

static void
test_cookie_parse (void)
{
  g_autofree char *token = munity_session_token_new ();
  g_autofree char *header = g_strdup_printf ("theme=dark; munity_session=%s; other=1", token);
  g_autofree char *found = munity_session_token_from_cookie (header);
  g_autofree char *none = munity_session_token_from_cookie ("theme=dark");
  g_autofree char *bad = munity_session_token_from_cookie ("munity_session=short");
  g_autofree char *evil = munity_session_token_from_cookie ("munity_session=' OR 1=1 --aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

  g_assert_cmpstr (found, ==, token);
  g_assert_null (none);
  g_assert_null (bad);
  g_assert_null (evil);
  g_assert_null (munity_session_token_from_cookie (NULL));
}

static void
test_set_cookie (void)
{
  g_autofree char *plain = munity_session_set_cookie ("TOKEN", FALSE);
  g_autofree char *secure = munity_session_set_cookie ("TOKEN", TRUE);
  g_autofree char *clear = munity_session_clear_cookie (FALSE);

  g_assert_true (g_str_has_prefix (plain, "munity_session=TOKEN;"));
  g_assert_nonnull (strstr (plain, "HttpOnly"));
  g_assert_nonnull (strstr (plain, "SameSite=Lax"));
  g_assert_nonnull (strstr (plain, "Path=/"));
  g_assert_null (strstr (plain, "Secure"));
  g_assert_nonnull (strstr (secure, "; Secure"));
  g_assert_nonnull (strstr (clear, "Max-Age=0"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (sodium_init (), >=, 0);

  g_test_add_func ("/session/token/shape", test_token_shape);
  g_test_add_func ("/session/token/hash", test_token_hash);
  g_test_add_func ("/session/cookie/parse", test_cookie_parse);
  g_test_add_func ("/session/cookie/set", test_set_cookie);

  return g_test_run ();
}
