/* Unit tests of the failed-login window, with time passed in. */
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

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/throttle/allows-until-limit", test_allows_until_limit);
  g_test_add_func ("/throttle/retry-after-window", test_retry_after_window);
  g_test_add_func ("/throttle/prune", test_prune);
  g_test_add_func ("/throttle/memory-bounded", test_memory_bounded);

  return g_test_run ();
}
