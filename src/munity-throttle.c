/* munity-throttle.c — counting failures in a sliding window (pure)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "munity-throttle.h"

/**
 * MunityThrottle:
 *
 * Counts failures per key (a client address, an account) over a sliding
 * window. Once a key has @max_failures failures inside the window, further
 * attempts are refused until the oldest of them leaves the window. Time is
 * passed in by the caller, so the type is pure and tested without waiting.
 */
struct _MunityThrottle
{
  GObject     parent_instance;

  guint       max_failures;
  gint64      window_us;
  GHashTable *failures;  /* (owned) key (owned) → GQueue (owned) of gint64 times */
};

G_DEFINE_FINAL_TYPE (MunityThrottle, munity_throttle, G_TYPE_OBJECT)

static void
free_queue (gpointer data)
{
  g_queue_free_full (data, g_free);
}

static void
munity_throttle_finalize (GObject *object)
{
  MunityThrottle *self = MUNITY_THROTTLE (object);

  g_clear_pointer (&self->failures, g_hash_table_unref);

  G_OBJECT_CLASS (munity_throttle_parent_class)->finalize (object);
}

static void
munity_throttle_class_init (MunityThrottleClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = munity_throttle_finalize;
}

static void
munity_throttle_init (MunityThrottle *self)
{
  self->failures = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, free_queue);
}

/**
 * munity_throttle_new:
 * @max_failures: failures allowed inside the window
 * @window_us: the window, in microseconds
 *
 * Returns: (transfer full): a new throttle
 */
MunityThrottle *
munity_throttle_new (guint  max_failures,
                     gint64 window_us)
{
  MunityThrottle *self = g_object_new (MUNITY_TYPE_THROTTLE, NULL);

  self->max_failures = max_failures;
  self->window_us = window_us;
  return self;
}

static GQueue *
expire (MunityThrottle *self,
        const char     *key,
        gint64          now_us)
{
  GQueue *queue = g_hash_table_lookup (self->failures, key);

  if (queue == NULL)
    return NULL;

  while (!g_queue_is_empty (queue) &&
         *(gint64 *) g_queue_peek_head (queue) + self->window_us <= now_us)
    g_free (g_queue_pop_head (queue));

  if (g_queue_is_empty (queue))
    {
      g_hash_table_remove (self->failures, key);
      return NULL;
    }

  return queue;
}

/**
 * munity_throttle_check:
 * @self: a throttle
 * @key: what is counted, e.g. `addr:127.0.0.1`
 * @now_us: the current monotonic time
 *
 * Returns: 0 if an attempt for @key may go ahead, else how many
 *   microseconds until it may
 */
gint64
munity_throttle_check (MunityThrottle *self,
                       const char     *key,
                       gint64          now_us)
{
  GQueue *queue = expire (self, key, now_us);

  if (queue == NULL || g_queue_get_length (queue) < self->max_failures)
    return 0;

  /* The attempt is allowed again once enough failures have left the window
   * that fewer than max_failures remain. */
  {
    gint64 *oldest_blocking = g_queue_peek_nth (queue, g_queue_get_length (queue) - self->max_failures);
    return *oldest_blocking + self->window_us - now_us;
  }
}

/**
 * munity_throttle_record_failure:
 * @self: a throttle
 * @key: what failed
 * @now_us: the current monotonic time
 *
 * Counts one failure. At most @max_failures are remembered per key, so an
 * attacker cannot grow memory by failing more.
 */
void
munity_throttle_record_failure (MunityThrottle *self,
                                const char     *key,
                                gint64          now_us)
{
  GQueue *queue = expire (self, key, now_us);

  if (queue == NULL)
    {
      queue = g_queue_new ();
      g_hash_table_insert (self->failures, g_strdup (key), queue);
    }

  g_queue_push_tail (queue, g_memdup2 (&now_us, sizeof now_us));
  while (g_queue_get_length (queue) > self->max_failures)
    g_free (g_queue_pop_head (queue));
}

/**
 * munity_throttle_prune:
 * @self: a throttle
 * @now_us: the current monotonic time
 *
 * Forgets every failure that has left the window.
 */
void
munity_throttle_prune (MunityThrottle *self,
                       gint64          now_us)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->failures);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      GQueue *queue = value;
      gint64 *newest = g_queue_peek_tail (queue);

      /* Failures are appended in time order: the newest decides. */
      if (*newest + self->window_us <= now_us)
        g_hash_table_iter_remove (&iter);
    }
}

/**
 * munity_throttle_get_n_keys:
 * @self: a throttle
 *
 * Returns: how many keys have failures remembered
 */
guint
munity_throttle_get_n_keys (MunityThrottle *self)
{
  return g_hash_table_size (self->failures);
}
