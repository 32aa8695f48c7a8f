/* munity-throttle.c — counting failures in a sliding window (pure)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "munity-throttle.h"

/**
 * MunityThrottle:
 *
 * Counts failures per key (a client address, an account, a device) over a
 * sliding window. Once a key has @max_failures failures inside the window,
 * further attempts are refused until the oldest of them leaves the window.
 *
 * An attempt whose outcome is not known yet (a password being hashed) is
 * *reserved* with [method@Munity.Throttle.reserve] until it is settled
 * with [method@Munity.Throttle.settle]. Reserved attempts count as
 * possible failures: while they could use up the budget, a new attempt
 * waits for their outcome rather than starting. Otherwise a client that
 * sends many attempts at once gets all of them through before the first
 * failure is counted; and only real failures refuse an attempt.
 *
 * With [method@Munity.Throttle.set_backoff], each failure beyond a few
 * free ones also doubles the pause required after the newest failure.
 *
 * Time is passed in by the caller, so the type is pure and tested without
 * waiting.
 */
struct _MunityThrottle
{
  GObject     parent_instance;

  guint       max_failures;
  gint64      window_us;
  guint       backoff_free;
  gint64      backoff_base_us;  /* 0: no back-off */
  gint64      backoff_max_us;
  GHashTable *entries;  /* (owned) key (owned) → Entry (owned) */
};

typedef struct {
  GArray *failures;  /* (owned) of gint64 times, oldest first, at most max_failures */
  guint   pending;   /* reserved attempts not settled yet */
} Entry;

G_DEFINE_FINAL_TYPE (MunityThrottle, munity_throttle, G_TYPE_OBJECT)

static void
entry_free (gpointer data)
{
  Entry *entry = data;

  g_array_unref (entry->failures);
  g_free (entry);
}

static void
munity_throttle_finalize (GObject *object)
{
  MunityThrottle *self = MUNITY_THROTTLE (object);

  g_clear_pointer (&self->entries, g_hash_table_unref);

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
  self->entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, entry_free);
}

/**
 * munity_throttle_new:
 * @max_failures: failures allowed inside the window (at least 1)
 * @window_us: the window, in microseconds
 *
 * Returns: (transfer full): a new throttle
 */
MunityThrottle *
munity_throttle_new (guint  max_failures,
                     gint64 window_us)
{
  MunityThrottle *self;

  g_return_val_if_fail (max_failures > 0, NULL);

  self = g_object_new (MUNITY_TYPE_THROTTLE, NULL);
  self->max_failures = max_failures;
  self->window_us = window_us;
  return self;
}

/**
 * munity_throttle_set_backoff:
 * @self: a throttle
 * @free_failures: failures inside the window that need no pause
 * @base_us: the pause after failure number @free_failures, in microseconds;
 *   0 turns back-off off
 * @max_us: the longest pause
 *
 * Adds exponential back-off below the hard limit: with n ≥ @free_failures
 * failures in the window, the next attempt must wait
 * `min (@base_us × 2^(n − @free_failures), @max_us)` after the newest one.
 * A person who mistypes a password a few times does not notice; a guesser
 * is slowed down long before the hard limit.
 */
void
munity_throttle_set_backoff (MunityThrottle *self,
                             guint           free_failures,
                             gint64          base_us,
                             gint64          max_us)
{
  g_return_if_fail (MUNITY_IS_THROTTLE (self));
  g_return_if_fail (base_us >= 0 && max_us >= base_us);

  self->backoff_free = free_failures;
  self->backoff_base_us = base_us;
  self->backoff_max_us = max_us;
}

/* The entry of @key with its expired failures dropped, or NULL if nothing
 * is left of it (it is then removed). */
static Entry *
expire (MunityThrottle *self,
        const char     *key,
        gint64          now_us)
{
  Entry *entry = g_hash_table_lookup (self->entries, key);
  guint n_expired = 0;

  if (entry == NULL)
    return NULL;

  while (n_expired < entry->failures->len &&
         g_array_index (entry->failures, gint64, n_expired) + self->window_us <= now_us)
    n_expired++;
  if (n_expired > 0)
    g_array_remove_range (entry->failures, 0, n_expired);

  if (entry->failures->len == 0 && entry->pending == 0)
    {
      g_hash_table_remove (self->entries, key);
      return NULL;
    }

  return entry;
}

static Entry *
lookup_or_add (MunityThrottle *self,
               const char     *key,
               gint64          now_us)
{
  Entry *entry = expire (self, key, now_us);

  if (entry == NULL)
    {
      entry = g_new0 (Entry, 1);
      entry->failures = g_array_sized_new (FALSE, FALSE, sizeof (gint64), 4);
      g_hash_table_insert (self->entries, g_strdup (key), entry);
    }
  return entry;
}

/* How long until an attempt for @entry may go ahead, counting the
 * failures in the window and @pending attempts in flight as failures that
 * happen now. */
static gint64
wait_for (MunityThrottle *self,
          Entry          *entry,
          guint           pending,
          gint64          now_us)
{
  guint n_failed = entry != NULL ? entry->failures->len : 0;
  guint n = n_failed + pending;
  gint64 wait = 0;

  /* The attempt may go ahead once enough of the counted ones have left
   * the window that fewer than max_failures remain. */
  if (n >= self->max_failures)
    {
      guint blocking = n - self->max_failures;
      gint64 when = blocking < n_failed ? g_array_index (entry->failures, gint64, blocking) : now_us;

      wait = when + self->window_us - now_us;
    }

  if (self->backoff_base_us > 0 && n >= self->backoff_free && n > 0)
    {
      gint64 newest = pending > 0 ? now_us : g_array_index (entry->failures, gint64, n_failed - 1);
      guint doublings = n - self->backoff_free;
      gint64 pause = self->backoff_max_us;

      /* 2^doublings overflows long before it could matter */
      if (doublings < 40 && (self->backoff_base_us << doublings) < self->backoff_max_us)
        pause = self->backoff_base_us << doublings;
      wait = MAX (wait, newest + pause - now_us);
    }

  return MAX (wait, 0);
}

/**
 * munity_throttle_check:
 * @self: a throttle
 * @key: what is counted, e.g. `127.0.0.1`
 * @now_us: the current monotonic time
 *
 * Only failures count here, not reserved attempts.
 *
 * Returns: 0 if the failures of @key allow an attempt, else how many
 *   microseconds until they do
 */
gint64
munity_throttle_check (MunityThrottle *self,
                       const char     *key,
                       gint64          now_us)
{
  g_return_val_if_fail (MUNITY_IS_THROTTLE (self), 0);

  return wait_for (self, expire (self, key, now_us), 0, now_us);
}

/**
 * munity_throttle_admit:
 * @self: a throttle
 * @key: what is counted
 * @now_us: the current monotonic time
 *
 * Decides whether an attempt may start now, without reserving anything.
 * An attempt may start if it would still be allowed were every reserved
 * attempt of @key to fail now: so attempts that arrive all at once never
 * exceed the budget, however they turn out. It is refused only for
 * failures that happened: while reserved attempts could use up the
 * budget, it must wait for their outcome instead.
 *
 * Returns: 0 if the attempt may start; %MUNITY_THROTTLE_WAIT_FOR_PENDING
 *   if it must wait until a reserved attempt of @key is settled; else it
 *   is refused, and this is how many microseconds until the failures allow
 *   it
 */
gint64
munity_throttle_admit (MunityThrottle *self,
                       const char     *key,
                       gint64          now_us)
{
  Entry *entry;
  gint64 wait;

  g_return_val_if_fail (MUNITY_IS_THROTTLE (self), 0);

  entry = expire (self, key, now_us);
  wait = wait_for (self, entry, 0, now_us);
  if (wait > 0)
    return wait;
  if (entry != NULL && entry->pending > 0 && wait_for (self, entry, entry->pending, now_us) > 0)
    return MUNITY_THROTTLE_WAIT_FOR_PENDING;
  return 0;
}

/**
 * munity_throttle_reserve:
 * @self: a throttle
 * @key: what is counted
 * @now_us: the current monotonic time
 *
 * Decides like [method@Munity.Throttle.admit] and, if the attempt may
 * start, counts it as reserved until [method@Munity.Throttle.settle] is
 * called with the same @key. Every successful reservation must be settled
 * exactly once.
 *
 * Returns: 0 if the attempt was reserved, else what
 *   [method@Munity.Throttle.admit] returned (nothing is reserved then)
 */
gint64
munity_throttle_reserve (MunityThrottle *self,
                         const char     *key,
                         gint64          now_us)
{
  gint64 wait;

  g_return_val_if_fail (MUNITY_IS_THROTTLE (self), 0);

  wait = munity_throttle_admit (self, key, now_us);
  if (wait != 0)
    return wait;

  lookup_or_add (self, key, now_us)->pending++;
  return 0;
}

static void
add_failure (MunityThrottle *self,
             Entry          *entry,
             gint64          now_us)
{
  g_array_append_val (entry->failures, now_us);
  /* At most max_failures are remembered per key, so an attacker cannot
   * grow memory by failing more; the newest ones decide anyway. */
  if (entry->failures->len > self->max_failures)
    g_array_remove_range (entry->failures, 0, entry->failures->len - self->max_failures);
}

/**
 * munity_throttle_settle:
 * @self: a throttle
 * @key: the key of a reserved attempt
 * @failed: whether the attempt failed (it then counts as a failure at
 *   @now_us); %FALSE just gives the reservation back
 * @now_us: the current monotonic time
 *
 * Ends an attempt reserved with [method@Munity.Throttle.reserve].
 */
void
munity_throttle_settle (MunityThrottle *self,
                        const char     *key,
                        gboolean        failed,
                        gint64          now_us)
{
  Entry *entry;

  g_return_if_fail (MUNITY_IS_THROTTLE (self));

  entry = g_hash_table_lookup (self->entries, key);
  g_return_if_fail (entry != NULL && entry->pending > 0);

  entry->pending--;
  if (failed)
    add_failure (self, entry, now_us);
  /* drops the entry if nothing is left of it */
  expire (self, key, now_us);
}

/**
 * munity_throttle_record_failure:
 * @self: a throttle
 * @key: what failed
 * @now_us: the current monotonic time
 *
 * Counts one failure that was not reserved.
 */
void
munity_throttle_record_failure (MunityThrottle *self,
                                const char     *key,
                                gint64          now_us)
{
  g_return_if_fail (MUNITY_IS_THROTTLE (self));

  add_failure (self, lookup_or_add (self, key, now_us), now_us);
}

/**
 * munity_throttle_forget:
 * @self: a throttle
 * @key: a key
 *
 * Forgets the failures of @key (reservations stay), e.g. after a success
 * that proves the failures were honest mistakes.
 */
void
munity_throttle_forget (MunityThrottle *self,
                        const char     *key)
{
  Entry *entry;

  g_return_if_fail (MUNITY_IS_THROTTLE (self));

  entry = g_hash_table_lookup (self->entries, key);
  if (entry == NULL)
    return;
  if (entry->pending == 0)
    g_hash_table_remove (self->entries, key);
  else
    g_array_set_size (entry->failures, 0);
}

/**
 * munity_throttle_prune:
 * @self: a throttle
 * @now_us: the current monotonic time
 *
 * Forgets every failure that has left the window, and the keys left with
 * nothing to count.
 */
void
munity_throttle_prune (MunityThrottle *self,
                       gint64          now_us)
{
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (MUNITY_IS_THROTTLE (self));

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Entry *entry = value;
      GArray *failures = entry->failures;

      /* Failures are appended in time order: the newest decides. */
      if (failures->len > 0 &&
          g_array_index (failures, gint64, failures->len - 1) + self->window_us <= now_us)
        g_array_set_size (failures, 0);
      if (failures->len == 0 && entry->pending == 0)
        g_hash_table_iter_remove (&iter);
    }
}

/**
 * munity_throttle_get_n_keys:
 * @self: a throttle
 *
 * Returns: how many keys have failures or reservations remembered
 */
guint
munity_throttle_get_n_keys (MunityThrottle *self)
{
  g_return_val_if_fail (MUNITY_IS_THROTTLE (self), 0);

  return g_hash_table_size (self->entries);
}

/**
 * munity_throttle_address_key:
 * @address: (nullable): a client's IP address as text
 *
 * The key under which a client address is throttled. An IPv4 address is
 * its own key. An IPv6 client usually gets a whole /64 (one per home, one
 * per server), and choosing a new address inside it is free: keying on the
 * full address would give it 2^64 fresh budgets, so IPv6 addresses are
 * keyed by their /64 (`2001:db8:1:2::/64`). An IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`, what a dual-stack socket reports) is keyed as the
 * IPv4 address it carries. Anything else is used as it is.
 *
 * Returns: (transfer full): the key
 */
char *
munity_throttle_address_key (const char *address)
{
  g_autoptr(GInetAddress) inet = NULL;
  const guint8 *bytes;

  if (address == NULL)
    return g_strdup ("");

  inet = g_inet_address_new_from_string (address);
  if (inet == NULL || g_inet_address_get_family (inet) != G_SOCKET_FAMILY_IPV6)
    return inet != NULL ? g_inet_address_to_string (inet) : g_strdup (address);

  bytes = g_inet_address_to_bytes (inet);
  {
    static const guint8 mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    guint8 prefix[16] = { 0, };
    g_autoptr(GInetAddress) network = NULL;
    g_autofree char *text = NULL;

    if (memcmp (bytes, mapped_prefix, sizeof mapped_prefix) == 0)
      return g_strdup_printf ("%u.%u.%u.%u", bytes[12], bytes[13], bytes[14], bytes[15]);

    memcpy (prefix, bytes, 8);
    network = g_inet_address_new_from_bytes (prefix, G_SOCKET_FAMILY_IPV6);
    text = g_inet_address_to_string (network);
    return g_strconcat (text, "/64", NULL);
  }
}
