/* Unit tests of the failed-login window, its reservations and back-off,
 * and the address key, with time passed in. */
#include "config.h"

#include "munity-throttle.h"

#define MINUTE ((gint64) 60 * G_USEC_PER_SEC)

static void
test_allows_until_limit (void)
{
  g_autoptr(MunityThrottle) throttle = munity_throttle_new (10, 10 * MINUTE);
  gint64 t = 1000 * MINUTE;

  for (int i = 0; i < 10; i++)
    {
      g_assert_cmpint (munity_throttle_check (throttle, "a", t), ==, 0);
      munity_throttle_record_failure (throttle, "a", t + i);
    }
  g_assert_cmpint (munity_throttle_check (throttle, "a", t + 10), >, 0);
  /* other keys are not affected */
  g_assert_cmpint (munity_throttle_check (throttle, "b", t + 10), ==, 0);
}

static void
test_retry_after_window (void)
{
  g_autoptr(MunityThrottle) throttle = munity_throttle_new (3, 10 * MINUTE);
  gint64 t0 = 1000 * MINUTE;

  munity_throttle_record_failure (throttle, "a", t0);
  munity_throttle_record_failure (throttle, "a", t0 + 1 * MINUTE);
  munity_throttle_record_failure (throttle, "a", t0 + 2 * MINUTE);

  /* blocked until the oldest failure leaves the window */
  g_assert_cmpint (munity_throttle_check (throttle, "a", t0 + 3 * MINUTE), ==, 7 * MINUTE);
  g_assert_cmpint (munity_throttle_check (throttle, "a", t0 + 10 * MINUTE - 1), ==, 1);
  g_assert_cmpint (munity_throttle_check (throttle, "a", t0 + 10 * MINUTE), ==, 0);
}

static void
test_prune (void)
{
  g_autoptr(MunityThrottle) throttle = munity_throttle_new (3, 10 * MINUTE);
  gint64 t0 = 1000 * MINUTE;

  for (int i = 0; i < 100; i++)
    {
      g_autofree char *key = g_strdup_printf ("addr-%d", i);
      munity_throttle_record_failure (throttle, key, t0 + i * G_USEC_PER_SEC);
    }
  g_assert_cmpuint (munity_throttle_get_n_keys (throttle), ==, 100);
  munity_throttle_prune (throttle, t0 + 10 * MINUTE + 50 * G_USEC_PER_SEC);
  g_assert_cmpuint (munity_throttle_get_n_keys (throttle), ==, 49);
  munity_throttle_prune (throttle, t0 + 20 * MINUTE);
  g_assert_cmpuint (munity_throttle_get_n_keys (throttle), ==, 0);
}

static void
test_memory_bounded (void)
{
  g_autoptr(MunityThrottle) throttle = munity_throttle_new (3, 10 * MINUTE);
  gint64 t0 = 1000 * MINUTE;

  /* many failures of one key keep the newest three: blocked until the
   * third-newest expires */
  for (int i = 0; i < 1000; i++)
    munity_throttle_record_failure (throttle, "a", t0 + i * G_USEC_PER_SEC);
  g_assert_cmpint (munity_throttle_check (throttle, "a", t0 + 999 * G_USEC_PER_SEC), ==,
                   (997 - 999) * G_USEC_PER_SEC + 10 * MINUTE);
}

static void
test_reserve_counts_before_outcome (void)
{
  g_autoptr(MunityThrottle) throttle = munity_throttle_new (3, 10 * MINUTE);
  gint64 t0 = 1000 * MINUTE;

  /* Three attempts in flight at once could use up the budget: a fourth
   * concurrent one may not start, but it is not refused either, nothing
   * has failed yet. It waits for their outcome. */
  for (int i = 0; i < 3; i++)
    g_assert_cmpint (munity_throttle_reserve (throttle, "a", t0), ==, 0);
  g_assert_cmpint (munity_throttle_reserve (throttle, "a", t0), ==, MUNITY_THROTTLE_WAIT_FOR_PENDING);
  g_assert_cmpint (munity_throttle_admit (throttle, "a", t0), ==, MUNITY_THROTTLE_WAIT_FOR_PENDING);
  g_assert_cmpint (munity_throttle_check (throttle, "a", t0), ==, 0);
  /* other keys are not affected */
  g_assert_cmpint (munity_throttle_reserve (throttle, "b", t0), ==, 0);

  /* A success gives its reservation back: one more may start... */
  munity_throttle_settle (throttle, "a", FALSE, t0 + 1);
  g_assert_cmpint (munity_throttle_admit (throttle, "a", t0 + 1), ==, 0);
  g_assert_cmpint (munity_throttle_reserve (throttle, "a", t0 + 1), ==, 0);

  /* ...failures count from the moment they failed: with one attempt still
   * in flight and two failures, nothing may start, and after the third
   * failure it is refused until the oldest leaves the window. */
  munity_throttle_settle (throttle, "a", TRUE, t0 + 2 * MINUTE);
  munity_throttle_settle (throttle, "a", TRUE, t0 + 3 * MINUTE);
  g_assert_cmpint (munity_throttle_admit (throttle, "a", t0 + 3 * MINUTE), ==, MUNITY_THROTTLE_WAIT_FOR_PENDING);
  munity_throttle_settle (throttle, "a", TRUE, t0 + 4 * MINUTE);
  g_assert_cmpint (munity_throttle_check (throttle, "a", t0 + 5 * MINUTE), ==, 7 * MINUTE);
  g_assert_cmpint (munity_throttle_reserve (throttle, "a", t0 + 5 * MINUTE), ==, 7 * MINUTE);
  g_assert_cmpint (munity_throttle_reserve (throttle, "a", t0 + 12 * MINUTE), ==, 0);
}

static void
test_reserve_outlives_window (void)
{
  g_autoptr(MunityThrottle) throttle = munity_throttle_new (1, 10 * MINUTE);
  gint64 t0 = 1000 * MINUTE;

  /* A reservation lasts until it is settled, however long that takes:
   * neither the window nor pruning makes room for another attempt. */
  g_assert_cmpint (munity_throttle_reserve (throttle, "a", t0), ==, 0);
  munity_throttle_prune (throttle, t0 + 60 * MINUTE);
  g_assert_cmpuint (munity_throttle_get_n_keys (throttle), ==, 1);
  g_assert_cmpint (munity_throttle_reserve (throttle, "a", t0 + 60 * MINUTE), ==,
                   MUNITY_THROTTLE_WAIT_FOR_PENDING);

  munity_throttle_settle (throttle, "a", FALSE, t0 + 61 * MINUTE);
  g_assert_cmpuint (munity_throttle_get_n_keys (throttle), ==, 0);
  g_assert_cmpint (munity_throttle_reserve (throttle, "a", t0 + 61 * MINUTE), ==, 0);
}

static void
test_reserve_with_backoff (void)
{
  g_autoptr(MunityThrottle) throttle = munity_throttle_new (10, 10 * MINUTE);
  gint64 t = 1000 * MINUTE;

  munity_throttle_set_backoff (throttle, 3, G_USEC_PER_SEC, MINUTE);

  /* Under back-off, attempts that could fail into a pause wait too: three
   * free failures, so three at once, not a fourth. */
  for (int i = 0; i < 3; i++)
    g_assert_cmpint (munity_throttle_reserve (throttle, "d", t), ==, 0);
  g_assert_cmpint (munity_throttle_reserve (throttle, "d", t), ==, MUNITY_THROTTLE_WAIT_FOR_PENDING);
  for (int i = 0; i < 3; i++)
    munity_throttle_settle (throttle, "d", TRUE, t);
  g_assert_cmpint (munity_throttle_reserve (throttle, "d", t), ==, G_USEC_PER_SEC);
  g_assert_cmpint (munity_throttle_reserve (throttle, "d", t + G_USEC_PER_SEC), ==, 0);
}

static void
test_backoff_doubles (void)
{
  g_autoptr(MunityThrottle) throttle = munity_throttle_new (10, 10 * MINUTE);
  gint64 t = 1000 * MINUTE;
  gint64 second = G_USEC_PER_SEC;

  munity_throttle_set_backoff (throttle, 3, 1 * second, 60 * second);

  /* three free failures */
  for (int i = 0; i < 3; i++)
    {
      g_assert_cmpint (munity_throttle_check (throttle, "d", t), ==, 0);
      munity_throttle_record_failure (throttle, "d", t);
    }

  /* then 1 s, 2 s, 4 s, 8 s, ... after the newest failure */
  for (gint64 pause = 1; pause <= 32; pause *= 2)
    {
      g_assert_cmpint (munity_throttle_check (throttle, "d", t), ==, pause * second);
      g_assert_cmpint (munity_throttle_check (throttle, "d", t + pause * second - 1), ==, 1);
      t += pause * second;
      g_assert_cmpint (munity_throttle_check (throttle, "d", t), ==, 0);
      munity_throttle_record_failure (throttle, "d", t);
    }

  /* 9 failures: the pause is capped at 60 s (64 s uncapped) */
  g_assert_cmpint (munity_throttle_check (throttle, "d", t), ==, 60 * second);
  t += 60 * second;
  munity_throttle_record_failure (throttle, "d", t);

  /* 10 failures: the hard limit holds until the oldest leaves the window */
  g_assert_cmpint (munity_throttle_check (throttle, "d", t + 60 * second), >, 0);
  g_assert_cmpint (munity_throttle_check (throttle, "d", 1000 * MINUTE + 10 * MINUTE), ==, 0);
}

static void
test_forget (void)
{
  g_autoptr(MunityThrottle) throttle = munity_throttle_new (2, 10 * MINUTE);
  gint64 t0 = 1000 * MINUTE;

  munity_throttle_record_failure (throttle, "a", t0);
  munity_throttle_record_failure (throttle, "a", t0);
  g_assert_cmpint (munity_throttle_check (throttle, "a", t0), >, 0);
  munity_throttle_forget (throttle, "a");
  g_assert_cmpint (munity_throttle_check (throttle, "a", t0), ==, 0);
  g_assert_cmpuint (munity_throttle_get_n_keys (throttle), ==, 0);

  /* a reservation survives forgetting */
  g_assert_cmpint (munity_throttle_reserve (throttle, "a", t0), ==, 0);
  munity_throttle_record_failure (throttle, "a", t0);
  munity_throttle_forget (throttle, "a");
  g_assert_cmpint (munity_throttle_check (throttle, "a", t0), ==, 0);
  g_assert_cmpint (munity_throttle_reserve (throttle, "a", t0), ==, 0);
  g_assert_cmpint (munity_throttle_reserve (throttle, "a", t0), ==, MUNITY_THROTTLE_WAIT_FOR_PENDING);
  munity_throttle_settle (throttle, "a", FALSE, t0);
  munity_throttle_settle (throttle, "a", FALSE, t0);
  g_assert_cmpuint (munity_throttle_get_n_keys (throttle), ==, 0);
}

static void
test_address_key (void)
{
  struct { const char *a, *b; gboolean same; } cases[] = {
    /* one IPv6 /64 is one client */
    { "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", TRUE },
    { "2001:db8:1:2:3:4:5:6", "2001:0db8:0001:0002:0000:0000:0000:0009", TRUE },
    { "2001:db8:1:2::1", "2001:db8:1:3::1", FALSE },
    { "2001:db8:1:2::1", "2001:db9:1:2::1", FALSE },
    /* IPv4 is keyed per address; IPv4-mapped IPv6 is the IPv4 address */
    { "192.0.2.1", "192.0.2.2", FALSE },
    { "192.0.2.1", "::ffff:192.0.2.1", TRUE },
    { "::ffff:192.0.2.1", "::ffff:192.0.2.2", FALSE },
    { "::1", "127.0.0.1", FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *a = munity_throttle_address_key (cases[i].a);
      g_autofree char *b = munity_throttle_address_key (cases[i].b);

      g_test_message ("%s -> %s, %s -> %s", cases[i].a, a, cases[i].b, b);
      if (cases[i].same)
        g_assert_cmpstr (a, ==, b);
      else
        g_assert_cmpstr (a, !=, b);
    }

  {
    g_autofree char *v6 = munity_throttle_address_key ("2001:db8:1:2:3:4:5:6");
    g_autofree char *v4 = munity_throttle_address_key ("::ffff:192.0.2.1");
    g_autofree char *odd = munity_throttle_address_key ("not an address");
    g_autofree char *none = munity_throttle_address_key (NULL);

    g_assert_cmpstr (v6, ==, "2001:db8:1:2::/64");
    g_assert_cmpstr (v4, ==, "192.0.2.1");
    g_assert_cmpstr (odd, ==, "not an address");
    g_assert_cmpstr (none, ==, "");
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/throttle/allows-until-limit", test_allows_until_limit);
  g_test_add_func ("/throttle/retry-after-window", test_retry_after_window);
  g_test_add_func ("/throttle/prune", test_prune);
  g_test_add_func ("/throttle/memory-bounded", test_memory_bounded);
  g_test_add_func ("/throttle/reserve/counts-before-outcome", test_reserve_counts_before_outcome);
  g_test_add_func ("/throttle/reserve/outlives-window", test_reserve_outlives_window);
  g_test_add_func ("/throttle/reserve/with-backoff", test_reserve_with_backoff);
  g_test_add_func ("/throttle/backoff/doubles", test_backoff_doubles);
  g_test_add_func ("/throttle/forget", test_forget);
  g_test_add_func ("/throttle/address-key/ipv6-by-64", test_address_key);

  return g_test_run ();
}
