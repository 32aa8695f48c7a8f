/* Unit tests of the checks on untrusted request heads (munity-http-guard). */
#include "config.h"

#include "munity-http-guard.h"

static void
test_range (void)
{
  static const char *single[] = { "bytes=0-99", "bytes=100-", "bytes=-50", "BYTES = 5-5 ", "bytes=0-0" };
  static const char *not_single[] = {
    "bytes=0-,0-", "bytes=0-1,2-3", "bytes=-", "bytes=", "bytes 0-1", "items=0-1", "bytes=a-b",
    "bytes=0-1x", "bytes=1234567890123456789-", "", "bytes=--1", "bytes=0-1,",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (single); i++)
    g_assert_true (munity_http_range_is_single (single[i]));
  for (gsize i = 0; i < G_N_ELEMENTS (not_single); i++)
    g_assert_false (munity_http_range_is_single (not_single[i]));
}

static void
test_head_limits (void)
{
  g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  g_autofree char *long_path = g_strnfill (MUNITY_HTTP_MAX_TARGET + 1, 'a');
  g_autofree char *big_value = g_strnfill (MUNITY_HTTP_MAX_HEADER_BYTES, 'v');
  const char *code = NULL, *message = NULL;

  soup_message_headers_append (headers, "Host", "example.org");
  g_assert_cmpuint (munity_http_check_head ("/api/me", "a=1", headers, &code, &message), ==, 0);
  g_assert_cmpuint (munity_http_check_head (long_path, NULL, headers, &code, &message), ==, 414);
  g_assert_cmpstr (code, ==, "uri-too-long");

  for (int i = 0; i < MUNITY_HTTP_MAX_HEADERS; i++)
    soup_message_headers_append (headers, "X-Many", "y");
  g_assert_cmpuint (munity_http_check_head ("/", NULL, headers, &code, &message), ==, 431);
  g_assert_cmpstr (code, ==, "headers-too-large");

  soup_message_headers_clear (headers);
  soup_message_headers_append (headers, "X-Big", big_value);
  g_assert_cmpuint (munity_http_check_head ("/", NULL, headers, &code, &message), ==, 431);
}

static void
test_hosts (void)
{
  static const char * const allowed[] = { "munity.example.org", "127.0.0.1:8080", NULL };
  static const char * const none[] = { NULL };

  g_assert_true (munity_http_host_is_allowed ("Munity.Example.ORG", allowed));
  g_assert_true (munity_http_host_is_allowed ("127.0.0.1:8080", allowed));
  g_assert_false (munity_http_host_is_allowed ("127.0.0.1:8081", allowed));
  g_assert_false (munity_http_host_is_allowed ("evil.example", allowed));
  g_assert_false (munity_http_host_is_allowed (NULL, allowed));
  g_assert_true (munity_http_host_is_allowed ("evil.example", none));
  g_assert_true (munity_http_host_is_allowed (NULL, NULL));
}

static gboolean
is_proxy (const char *address,
          gpointer    user_data)
{
  return g_str_equal (address, "127.0.0.1") || g_str_has_prefix (address, "10.");
}

static void
test_client_address (void)
{
  static const struct { const char *peer, *xff, *fwd, *client; } cases[] = {
    /* not from a proxy: the headers are the client's own words */
    { "192.0.2.9", "198.51.100.1", NULL, "192.0.2.9" },
    { "127.0.0.1", NULL, NULL, "127.0.0.1" },
    { "127.0.0.1", "198.51.100.1", NULL, "198.51.100.1" },
    /* a forged first hop is ignored: the proxy appended the real one */
    { "127.0.0.1", "6.6.6.6, 198.51.100.1", NULL, "198.51.100.1" },
    /* a chain of trusted proxies is walked */
    { "127.0.0.1", "198.51.100.1, 10.0.0.2", NULL, "198.51.100.1" },
    { "127.0.0.1", "10.0.0.3, 10.0.0.2", NULL, "10.0.0.3" },
    { "127.0.0.1", "junk, 198.51.100.1", NULL, "198.51.100.1" },
    { "127.0.0.1", "198.51.100.1, junk", NULL, "127.0.0.1" },
    { "127.0.0.1", " 2001:db8::1 ", NULL, "2001:db8::1" },
    { "127.0.0.1", NULL, "for=198.51.100.7;proto=https", "198.51.100.7" },
    { "127.0.0.1", NULL, "for=\"[2001:db8::2]:4711\"", "2001:db8::2" },
    { "127.0.0.1", NULL, "for=6.6.6.6, for=198.51.100.8:1234", "198.51.100.8" },
    { "127.0.0.1", "198.51.100.1", "for=198.51.100.9", "198.51.100.1" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *client = munity_http_client_address (cases[i].peer, cases[i].xff, cases[i].fwd,
                                                            is_proxy, NULL);
      g_assert_cmpstr (client, ==, cases[i].client);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/http-guard/range/only-one-range-passes", test_range);
  g_test_add_func ("/http-guard/head/limits", test_head_limits);
  g_test_add_func ("/http-guard/host/allowed-hosts", test_hosts);
  g_test_add_func ("/http-guard/proxy/client-address", test_client_address);

  return g_test_run ();
}
