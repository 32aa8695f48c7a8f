/* munity-accounts.c — accounts and sessions in PostgreSQL
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <sodium.h>
#include <string.h>

#include "munity-accounts.h"
#include "munity-error.h"
#include "munity-session.h"
#include "munity-throttle.h"
#include "munity-validate.h"

/* Login throttling, doc/protocol.md §2: after 10 failed logins from one client
 * address, or 20 for one account, within 10 minutes, login answers 429. */
#define THROTTLE_WINDOW_US (10 * 60 * G_USEC_PER_SEC)
#define THROTTLE_PER_ADDRESS 10
#define THROTTLE_PER_ACCOUNT 20

/* A browser that has logged in to an account before (it holds a device
 * cookie for it) is not subject to the two buckets above, which strangers
 * can fill, but to a budget of its own: 3 free failures, then pauses of
 * 1, 2, 4, ... s (at most 5 min) after each, and never more than 10
 * failures in the window, the per-address limit. */
#define DEVICE_FAILURES 10
#define DEVICE_FREE_FAILURES 3
#define DEVICE_BACKOFF_BASE_US (1 * G_USEC_PER_SEC)
#define DEVICE_BACKOFF_MAX_US (5 * 60 * G_USEC_PER_SEC)
#define DEVICE_LIFETIME_US ((gint64) MUNITY_DEVICE_MAX_AGE_S * G_USEC_PER_SEC)
/* Memory bounds: one account keeps its 8 most recently used devices; past
 * 100,000 devices in all, new ones are not remembered (rather than evicting
 * old ones, which would let someone with many accounts flush the owners'
 * devices before a guessing run). About 150 bytes each. */
#define DEVICES_PER_ACCOUNT 8
#define DEVICES_MAX 100000

/* Registrations per client address (IPv6: per /64) in a sliding hour,
 * counting every attempt that passes validation (201, 409 and the
 * registrations whose outcome the database did not report). Generous
 * enough for a class or an office behind one NAT address; a spammer's one
 * address gets 60 accounts an hour instead of tens of thousands. Test hook:
 * MUNITY_REGISTER_PER_ADDRESS. */
#define REGISTER_WINDOW_US ((gint64) 60 * 60 * G_USEC_PER_SEC)
#define REGISTER_PER_ADDRESS 60

/* A register whose answer was lost (a 503 while the INSERT committed) is
 * recognised when repeated within this interval, see register_existing(). */
#define REGISTER_RETRY_INTERVAL "10 minutes"

/* argon2id jobs (queued + running) per hashing thread before new ones are
 * refused with 503 busy: at ~80 ms a hash, a login waits at most ~1.3 s
 * behind a queue that is full. Test hook: MUNITY_HASH_QUEUE_MAX. */
#define HASH_QUEUE_PER_THREAD 16
#define BUSY_RETRY_AFTER_S 1

/* Every query that returns a user selects these columns in this order. */
#define USER_COLUMNS "u.id, u.first, u.last, u.email, u.bio, u.image_url, u.version"

/* ---- rows ------------------------------------------------------------- */

static MunityUserInfo *
user_info_from_row (const PGresult *res,
                    int             row)
{
  MunityUserInfo *info = munity_user_info_new (g_ascii_strtoll (PQgetvalue (res, row, 0), NULL, 10),
                                               PQgetvalue (res, row, 1), PQgetvalue (res, row, 2),
                                               PQgetvalue (res, row, 3), PQgetvalue (res, row, 4),
                                               PQgetisnull (res, row, 5) ? NULL : PQgetvalue (res, row, 5));
  int last_seen;

  info->version = g_ascii_strtoll (PQgetvalue (res, row, 6), NULL, 10);
  /* Only the profile query (munity_accounts_get_user_async()) reads it. */
  last_seen = PQfnumber (res, "last_seen_us");
  if (last_seen >= 0 && !PQgetisnull (res, row, last_seen))
    info->last_seen = g_ascii_strtoll (PQgetvalue (res, row, last_seen), NULL, 10);

  return info;
}

/* ---- MunityAccounts ---------------------------------------------------- */

/* A browser that logged in to an account: the device cookie's token is
 * kept only as its hash, the key of `devices`. */
typedef struct {
  char   *hash;       /* (owned) of the device token */
  char   *account;    /* (owned) the case-folded email it logged in to */
  gint64  last_used;  /* monotonic time of its last successful login */
} Device;

/**
 * MunityAccounts:
 *
 * Registration, login, sessions and profiles. Passwords are hashed with
 * argon2id (libsodium) in a worker thread so that the main loop never
 * waits for them; everything else is one asynchronous query.
 *
 * Login attempts are counted before their password is hashed (see
 * #MunityThrottle), per client address, per account, and per device for
 * browsers that have logged in to the account before; registrations per
 * client address. The device records live in memory only: a restart
 * forgets them, and the next successful login makes a new one.
 */
struct _MunityAccounts
{
  GObject         parent_instance;

  MunityDb       *db;                 /* (owned) */
  MunityThrottle *address_throttle;   /* (owned) failed logins per address */
  MunityThrottle *account_throttle;   /* (owned) failed logins per account */
  MunityThrottle *device_throttle;    /* (owned) failed logins per device hash */
  MunityThrottle *register_throttle;  /* (owned) registrations per address */
  GHashTable     *devices;            /* (owned) hash (unowned, in Device) → Device (owned) */
  GHashTable     *account_devices;    /* (owned) account (owned) → GPtrArray (owned) of Device (unowned) */
  GQueue          waiting;            /* (owned) of GTask (owned): logins and registers that wait
                                       * for the outcome of others before they may start */
  gboolean        admitting;          /* admit_waiting() is running */
  gboolean        admit_again;        /* something was settled meanwhile */
  GPtrArray      *auth_batch;         /* (owned) of GTask (owned), waiting to be sent */
  guint           auth_batch_id;
};

G_DEFINE_FINAL_TYPE (MunityAccounts, munity_accounts, G_TYPE_OBJECT)

enum {
  SIGNAL_USER_CHANGED,
  SIGNAL_SESSION_ENDED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
device_free (gpointer data)
{
  Device *device = data;

  g_free (device->hash);
  g_free (device->account);
  g_free (device);
}

static void
munity_accounts_dispose (GObject *object)
{
  MunityAccounts *self = MUNITY_ACCOUNTS (object);

  g_clear_object (&self->db);
  g_clear_object (&self->address_throttle);
  g_clear_object (&self->account_throttle);
  g_clear_object (&self->device_throttle);
  g_clear_object (&self->register_throttle);
  /* (a waiting task holds a reference: this only happens when disposed
   * explicitly) */
  while (!g_queue_is_empty (&self->waiting))
    {
      g_autoptr(GTask) task = g_queue_pop_head (&self->waiting);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "shutting down");
    }
  g_clear_pointer (&self->account_devices, g_hash_table_unref);
  g_clear_pointer (&self->devices, g_hash_table_unref);
  g_clear_handle_id (&self->auth_batch_id, g_source_remove);
  if (self->auth_batch != NULL)
    {
      for (guint i = 0; i < self->auth_batch->len; i++)
        g_task_return_new_error (self->auth_batch->pdata[i], G_IO_ERROR, G_IO_ERROR_CANCELLED, "shutting down");
      g_clear_pointer (&self->auth_batch, g_ptr_array_unref);
    }

  G_OBJECT_CLASS (munity_accounts_parent_class)->dispose (object);
}

static void
munity_accounts_class_init (MunityAccountsClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = munity_accounts_dispose;

  /**
   * MunityAccounts::user-changed:
   * @self: the accounts service
   * @user: the user's details as now stored
   *
   * A user's profile or picture was changed and stored. Emitted before the
   * operation's callback runs.
   */
  signals[SIGNAL_USER_CHANGED] =
    g_signal_new ("user-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  MUNITY_TYPE_USER_INFO | G_SIGNAL_TYPE_STATIC_SCOPE);
  /**
   * MunityAccounts::session-ended:
   * @self: the accounts service
   * @user_id: the session's user
   * @session: the session (its token hash, as munity_session_token_hash()
   *   makes it)
   *
   * A session was ended by a logout. Emitted before the operation's
   * callback runs.
   */
  signals[SIGNAL_SESSION_ENDED] =
    g_signal_new ("session-ended", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  G_TYPE_INT64, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);
}

/* A positive number from the environment variable @name (a test hook), or
 * @fallback. */
static guint
env_limit (const char *name,
           guint       fallback)
{
  const char *text = g_getenv (name);
  guint64 value;

  if (text == NULL)
    return fallback;
  if (!g_ascii_string_to_unsigned (text, 10, 1, G_MAXINT, &value, NULL))
    {
      g_message ("Ignoring %s=%s: not a positive number", name, text);
      return fallback;
    }
  return (guint) value;
}

static void
munity_accounts_init (MunityAccounts *self)
{
  self->address_throttle = munity_throttle_new (THROTTLE_PER_ADDRESS, THROTTLE_WINDOW_US);
  self->account_throttle = munity_throttle_new (THROTTLE_PER_ACCOUNT, THROTTLE_WINDOW_US);
  self->device_throttle = munity_throttle_new (DEVICE_FAILURES, THROTTLE_WINDOW_US);
  munity_throttle_set_backoff (self->device_throttle, DEVICE_FREE_FAILURES,
                               DEVICE_BACKOFF_BASE_US, DEVICE_BACKOFF_MAX_US);
  self->register_throttle = munity_throttle_new (env_limit ("MUNITY_REGISTER_PER_ADDRESS",
                                                            REGISTER_PER_ADDRESS),
                                                 REGISTER_WINDOW_US);
  self->devices = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, device_free);
  self->account_devices = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                 (GDestroyNotify) g_ptr_array_unref);
}

/**
 * munity_accounts_new:
 * @db: the database
 *
 * Returns: (transfer full): the accounts service
 */
MunityAccounts *
munity_accounts_new (MunityDb *db)
{
  MunityAccounts *self = g_object_new (MUNITY_TYPE_ACCOUNTS, NULL);

  self->db = g_object_ref (db);
  return self;
}

/* ---- devices ----------------------------------------------------------- */

static void
device_remove (MunityAccounts *self,
               Device         *device)
{
  GPtrArray *list = g_hash_table_lookup (self->account_devices, device->account);

  if (list != NULL)
    {
      g_ptr_array_remove_fast (list, device);
      if (list->len == 0)
        g_hash_table_remove (self->account_devices, device->account);
    }
  /* frees it */
  g_hash_table_remove (self->devices, device->hash);
}

static gboolean
device_is_trusted (MunityAccounts *self,
                   const char     *device_hash,
                   const char     *account,
                   gint64          now)
{
  Device *device = g_hash_table_lookup (self->devices, device_hash);

  return device != NULL && g_str_equal (device->account, account) &&
         device->last_used + DEVICE_LIFETIME_US > now;
}

/* Remembers that the browser holding @token logged in to @account. */
static void
device_remember (MunityAccounts *self,
                 const char     *token,
                 const char     *account,
                 gint64          now)
{
  g_autofree char *hash = munity_session_token_hash (token);
  Device *device = g_hash_table_lookup (self->devices, hash);
  GPtrArray *list;

  if (device != NULL && g_str_equal (device->account, account))
    {
      device->last_used = now;
      return;
    }
  if (device != NULL)
    device_remove (self, device);

  list = g_hash_table_lookup (self->account_devices, account);
  if (list != NULL && list->len >= DEVICES_PER_ACCOUNT)
    {
      Device *oldest = list->pdata[0];

      for (guint i = 1; i < list->len; i++)
        if (((Device *) list->pdata[i])->last_used < oldest->last_used)
          oldest = list->pdata[i];
      device_remove (self, oldest);
      list = g_hash_table_lookup (self->account_devices, account);
    }
  if (g_hash_table_size (self->devices) >= DEVICES_MAX)
    {
      g_message ("Not remembering a new login device: %u are remembered already", DEVICES_MAX);
      return;
    }

  device = g_new0 (Device, 1);
  device->hash = g_steal_pointer (&hash);
  device->account = g_strdup (account);
  device->last_used = now;
  g_hash_table_insert (self->devices, device->hash, device);
  if (list == NULL)
    {
      list = g_ptr_array_new ();
      g_hash_table_insert (self->account_devices, g_strdup (account), list);
    }
  g_ptr_array_add (list, device);
}

/**
 * munity_accounts_prune:
 * @self: the accounts service
 *
 * Forgets failed logins and registrations that have left their throttling
 * window and devices unused for a year; called periodically so that memory
 * stays bounded.
 */
void
munity_accounts_prune (MunityAccounts *self)
{
  gint64 now = g_get_monotonic_time ();
  g_autoptr(GPtrArray) expired = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  munity_throttle_prune (self->address_throttle, now);
  munity_throttle_prune (self->account_throttle, now);
  munity_throttle_prune (self->device_throttle, now);
  munity_throttle_prune (self->register_throttle, now);

  g_hash_table_iter_init (&iter, self->devices);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((Device *) value)->last_used + DEVICE_LIFETIME_US <= now)
      g_ptr_array_add (expired, value);
  for (guint i = 0; i < expired->len; i++)
    device_remove (self, expired->pdata[i]);
}

/* ---- password hashing -------------------------------------------------- */

/* argon2id is deliberately expensive (64 MiB, ~0.1 s). GLib's shared GTask
 * pool would run as many at once as there are requests and starve the
 * main loop and PostgreSQL on a small machine; this pool leaves a core
 * free: logins queue instead. The queue is bounded too: without a bound,
 * 200 concurrent guesses made a real login wait 15.5 s (issue 10); with
 * it, work beyond the bound is refused at once with 503 busy. */
static GThreadPool *hash_pool;
static guint hash_queue_max;
static gint hash_jobs;      /* (atomic) queued + running */
static gsize hash_count;    /* (atomic) argon2id computations started */

/* A job whose operation was cancelled before a thread took it (its client
 * went away while it waited in the queue) is answered without hashing:
 * nobody would read the outcome, and the queue is what real users wait
 * in. One that is already hashing runs to its end (libsodium cannot be
 * interrupted); its task then answers with the cancellation. */
static void
hash_pool_run (gpointer data,
               gpointer user_data)
{
  g_autoptr(GTask) job = data;
  GTaskThreadFunc func = g_task_get_task_data (job);
  GTask *task = g_task_get_source_object (job);
  GCancellable *cancellable = g_task_get_cancellable (job);

  if (g_cancellable_is_cancelled (cancellable))
    {
      g_task_return_new_error (job, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
    }
  else
    {
      g_atomic_pointer_add (&hash_count, 1);
      func (job, task, g_task_get_task_data (task), cancellable);
    }
  g_atomic_int_add (&hash_jobs, -1);
}

/* Runs @func with the Attempt of *@task in the hash pool, then @callback
 * with *@task (stolen) as user data. If the queue is full, does nothing and
 * returns FALSE: *@task is left to the caller. An operation that is
 * cancelled already is not queued: @callback gets the cancellation. */
static gboolean
hash_start (GTask               **task,
            GTaskThreadFunc       func,
            GAsyncReadyCallback   callback)
{
  GCancellable *cancellable = g_task_get_cancellable (*task);
  GTask *hash_task;

  if (g_once_init_enter (&hash_pool))
    {
      gint threads = MAX (1, (gint) g_get_num_processors () - 1);

      hash_queue_max = env_limit ("MUNITY_HASH_QUEUE_MAX", HASH_QUEUE_PER_THREAD * (guint) threads);
      g_once_init_leave (&hash_pool, g_thread_pool_new (hash_pool_run, NULL, threads, FALSE, NULL));
    }

  /* The job's source object is the operation's task, its task data the
   * function to run. */
  if (g_cancellable_is_cancelled (cancellable))
    {
      hash_task = g_task_new (*task, cancellable, callback, *task);
      *task = NULL;
      g_task_return_new_error (hash_task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
      g_object_unref (hash_task);
      return TRUE;
    }

  /* Only the main thread adds jobs, so the count can only have dropped
   * between this check and the increment. */
  if ((guint) g_atomic_int_get (&hash_jobs) >= hash_queue_max)
    return FALSE;
  g_atomic_int_inc (&hash_jobs);

  hash_task = g_task_new (*task, cancellable, callback, *task);
  g_task_set_task_data (hash_task, func, NULL);
  *task = NULL;
  g_thread_pool_push (hash_pool, hash_task, NULL);
  return TRUE;
}

/**
 * munity_accounts_get_n_hashes:
 * @self: the accounts service
 *
 * How many argon2id computations (hashes and verifications) this process
 * has started, for metrics and tests: an operation whose client went away
 * before its turn does not start one.
 *
 * Returns: the count since the process started
 */
guint64
munity_accounts_get_n_hashes (MunityAccounts *self)
{
  g_return_val_if_fail (MUNITY_IS_ACCOUNTS (self), 0);

  return (guint64) g_atomic_pointer_get (&hash_count);
}

/**
 * munity_accounts_get_n_hash_jobs:
 * @self: the accounts service
 *
 * Returns: how many password jobs are queued or running now, in this
 *   process
 */
guint
munity_accounts_get_n_hash_jobs (MunityAccounts *self)
{
  g_return_val_if_fail (MUNITY_IS_ACCOUNTS (self), 0);

  return (guint) g_atomic_int_get (&hash_jobs);
}

/* ---- register and login: what both keep ------------------------------- */

/* Which throttles hold a reservation for an attempt. */
enum {
  HELD_ADDRESS = 1 << 0,
  HELD_ACCOUNT = 1 << 1,
  HELD_DEVICE = 1 << 2,
  HELD_REGISTER = 1 << 3,
  HELD_ALL = HELD_ADDRESS | HELD_ACCOUNT | HELD_DEVICE | HELD_REGISTER,
};

/* A register or a login: the task data of both (a register's is the
 * RegisterOp around it). Both are throttled, hash in the pool and open a
 * session, and these fields mean the same in both. */
typedef struct {
  char           *email;         /* (owned) */
  char           *password;      /* (owned) wiped when freed */
  char           *password_hash; /* (owned) (nullable) the account's argon2id string:
                                  * the stored one to verify, or a register's new one */
  char           *address_key;   /* (owned) see munity_throttle_address_key() */
  char           *account_key;   /* (owned) the case-folded email */
  char           *device_hash;   /* (owned) (nullable) of the device token presented (login) */
  char           *token;         /* (owned) (nullable) the new session's */
  char           *device_token;  /* (owned) (nullable) to hand out on success */
  MunityUserInfo *user;          /* (owned) (nullable) the account, once found or made */
  gboolean        verified;      /* the password matched password_hash */
  gboolean        trusted;       /* the device presented is known for this account */
  guint           held;          /* HELD_* */
  void          (*admit) (GTask *task);  /* starts, parks or refuses the attempt */
  guint           retry_after_s; /* with RATE_LIMITED and BUSY */
} Attempt;

/* A register: an attempt, and the names of the account to create. */
typedef struct {
  Attempt         attempt;       /* first: a RegisterOp is an Attempt */
  char           *first;         /* (owned) */
  char           *last;          /* (owned) */
} RegisterOp;

static void
attempt_clear (Attempt *op)
{
  g_free (op->email);
  if (op->password != NULL)
    {
      sodium_memzero (op->password, strlen (op->password));
      g_free (op->password);
    }
  g_free (op->password_hash);
  g_free (op->address_key);
  g_free (op->account_key);
  g_free (op->device_hash);
  g_free (op->token);
  g_free (op->device_token);
  g_clear_pointer (&op->user, munity_user_info_unref);
}

static void
attempt_free (gpointer data)
{
  attempt_clear (data);
  g_free (data);
}

static void
register_op_free (gpointer data)
{
  RegisterOp *op = data;

  attempt_clear (&op->attempt);
  g_free (op->first);
  g_free (op->last);
  g_free (op);
}

static GTask *
attempt_task_new (MunityAccounts      *self,
                  gpointer             source_tag,
                  Attempt             *op,
                  GDestroyNotify       op_free,
                  GCancellable        *cancellable,
                  GAsyncReadyCallback  callback,
                  gpointer             user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, op, op_free);
  return task;
}

/* Gives every waiting attempt another chance to start, in the order
 * they arrived: something was settled. */
static void
admit_waiting (MunityAccounts *self)
{
  /* Starting one can settle another at once (a query that fails without
   * waiting): then go round again instead of recursing. */
  if (self->admitting)
    {
      self->admit_again = TRUE;
      return;
    }

  self->admitting = TRUE;
  do
    {
      guint n = g_queue_get_length (&self->waiting);

      self->admit_again = FALSE;
      /* each one once: those that must still wait go back to the end */
      for (guint i = 0; i < n && !g_queue_is_empty (&self->waiting); i++)
        {
          GTask *task = g_queue_pop_head (&self->waiting);
          Attempt *op = g_task_get_task_data (task);

          op->admit (task);
        }
    }
  while (self->admit_again);
  self->admitting = FALSE;
}

/* Ends the reservations in @which that @op holds: @failed counts them as
 * failures (for registrations: as registrations), else they are given
 * back. */
static void
attempt_settle (MunityAccounts *self,
                Attempt        *op,
                guint           which,
                gboolean        failed)
{
  gint64 now = g_get_monotonic_time ();

  which &= op->held;
  if (which == 0)
    return;
  if (which & HELD_ADDRESS)
    munity_throttle_settle (self->address_throttle, op->address_key, failed, now);
  if (which & HELD_ACCOUNT)
    munity_throttle_settle (self->account_throttle, op->account_key, failed, now);
  if (which & HELD_DEVICE)
    munity_throttle_settle (self->device_throttle, op->device_hash, failed, now);
  if (which & HELD_REGISTER)
    munity_throttle_settle (self->register_throttle, op->address_key, failed, now);
  op->held &= ~which;

  admit_waiting (self);
}

/* The end of a register or a login. */
static MunityUserInfo *
attempt_finish (MunityAccounts  *self,
                GAsyncResult    *result,
                gpointer         source_tag,
                char           **out_token,
                char           **out_device_token,
                guint           *out_retry_after_s,
                GError         **error)
{
  GTask *task = G_TASK (result);
  Attempt *op;
  MunityUserInfo *user;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (task) == source_tag, NULL);

  op = g_task_get_task_data (task);

  /* Every path settles its reservations before returning; one left here
   * would shrink a client's budget for good. */
  if (op->held != 0)
    {
      g_warning ("An account operation ended with reservations held (%#x)", op->held);
      attempt_settle (self, op, op->held, FALSE);
    }

  user = g_task_propagate_pointer (task, error);
  if (out_token != NULL)
    *out_token = user != NULL ? g_steal_pointer (&op->token) : NULL;
  if (out_retry_after_s != NULL)
    *out_retry_after_s = user == NULL ? op->retry_after_s : 0;
  if (out_device_token != NULL)
    *out_device_token = user != NULL ? g_steal_pointer (&op->device_token) : NULL;
  return user;
}

/* The end of an operation that answers with a user and keeps nothing
 * else. */
static MunityUserInfo *
user_finish (MunityAccounts  *self,
             GAsyncResult    *result,
             gpointer         source_tag,
             GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
return_user (GTask          *task,
             MunityUserInfo *user)
{
  g_task_return_pointer (task, user, (GDestroyNotify) munity_user_info_unref);
}

static void
return_rate_limited (GTask      *task,
                     gint64      wait_us,
                     const char *message)
{
  Attempt *op = g_task_get_task_data (task);

  op->retry_after_s = (guint) MAX (1, (wait_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
  g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_RATE_LIMITED, "%s", message);
}

static void
return_busy (GTask *task)
{
  Attempt *op = g_task_get_task_data (task);

  op->retry_after_s = BUSY_RETRY_AFTER_S;
  g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_BUSY, "%s",
                           _("The server is busy; try again in a moment."));
}

/* The result of a query, or NULL after returning its error on @task. */
static PGresult *
query_finish_or_return (GObject      *source,
                        GAsyncResult *result,
                        GTask        *task)
{
  GError *error = NULL;
  PGresult *res = munity_db_query_finish (MUNITY_DB (source), result, &error);

  if (res == NULL)
    g_task_return_error (task, error);
  return res;
}

/* Like query_finish_or_return(), for an attempt: the reservations in
 * @settle are settled first (as failures if @failed), since returning can
 * run the caller's callback at once. */
static PGresult *
attempt_query_finish (GObject      *source,
                      GAsyncResult *result,
                      GTask        *task,
                      guint         settle,
                      gboolean      failed)
{
  GError *error = NULL;
  PGresult *res = munity_db_query_finish (MUNITY_DB (source), result, &error);

  if (res == NULL)
    {
      attempt_settle (g_task_get_source_object (task), g_task_get_task_data (task), settle, failed);
      g_task_return_error (task, error);
    }
  return res;
}

/* A hash job's outcome, or FALSE after giving back @task's reservations and
 * returning the job's error on @task. */
static gboolean
hash_finish_or_return (GAsyncResult *result,
                       GTask        *task)
{
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      attempt_settle (g_task_get_source_object (task), g_task_get_task_data (task), HELD_ALL, FALSE);
      g_task_return_error (task, error);
      return FALSE;
    }
  return TRUE;
}

static void
hash_password_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  Attempt *op = task_data;
  char hash[crypto_pwhash_STRBYTES];

  if (crypto_pwhash_str (hash, op->password, strlen (op->password),
                         crypto_pwhash_OPSLIMIT_INTERACTIVE,
                         crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    {
      g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                               "Out of memory while hashing a password");
      return;
    }

  op->password_hash = g_strdup (hash);
  g_task_return_boolean (task, TRUE);
}

static void
verify_password_thread (GTask        *task,
                        gpointer      source_object,
                        gpointer      task_data,
                        GCancellable *cancellable)
{
  Attempt *op = task_data;

  if (op->password_hash != NULL)
    {
      op->verified = crypto_pwhash_str_verify (op->password_hash, op->password, strlen (op->password)) == 0;
    }
  else
    {
      /* No such account: spend the same time as a verification would, so
       * that timing does not tell which addresses have accounts. */
      char hash[crypto_pwhash_STRBYTES];
      if (crypto_pwhash_str (hash, op->password, strlen (op->password),
                             crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        g_debug ("Dummy hash failed (out of memory)");
      op->verified = FALSE;
    }

  g_task_return_boolean (task, TRUE);
}

/* A successful register or login opens a session for op->user; the answer
 * also carries a device cookie for the browser: the one it presented if
 * that is trusted for the account (its lifetime renewed), else a new one. */
static void
open_session_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MunityAccounts *self = g_task_get_source_object (task);
  Attempt *op = g_task_get_task_data (task);
  g_autoptr(PGresult) res = NULL;

  /* A register counts whether or not its session could be opened. */
  attempt_settle (self, op, HELD_REGISTER, TRUE);
  res = attempt_query_finish (source, result, task, 0, FALSE);
  if (res == NULL)
    return;

  if (op->device_token == NULL)
    op->device_token = munity_session_token_new ();
  device_remember (self, op->device_token, op->account_key, g_get_monotonic_time ());
  return_user (task, g_steal_pointer (&op->user));
}

static void
open_session (GTask *task)
{
  MunityAccounts *self = g_task_get_source_object (task);
  Attempt *op = g_task_get_task_data (task);
  g_autofree char *token_hash = NULL;
  g_autofree char *user_id = NULL;

  /* a register that lost its INSERT to a conflict made a token already */
  g_free (op->token);
  op->token = munity_session_token_new ();
  token_hash = munity_session_token_hash (op->token);
  user_id = g_strdup_printf ("%" G_GINT64_FORMAT, op->user->id);
  {
    const char *params[] = { token_hash, user_id };
    munity_db_query_async (self->db,
                           "INSERT INTO sessions (token_hash, user_id) VALUES ($1, $2)",
                           G_N_ELEMENTS (params), params, g_task_get_cancellable (task),
                           open_session_cb, g_object_ref (task));
  }
}

/* ---- register ---------------------------------------------------------- */

/* The existing account with the email of a register, and whether the
 * register may be the repetition of the one that created it. */
#define REGISTER_FIND_SQL \
  "SELECT " USER_COLUMNS ", u.password_hash," \
  "  u.created_at > now() - interval '" REGISTER_RETRY_INTERVAL "'" \
  "  AND u.version = 1 AND u.first = $2 AND u.last = $3" \
  " FROM users u WHERE lower(u.email) = lower($1)"

static void
return_email_taken (GTask *task)
{
  MunityAccounts *self = g_task_get_source_object (task);

  attempt_settle (self, g_task_get_task_data (task), HELD_REGISTER, TRUE);
  g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_EMAIL_TAKEN,
                           _("An account with this email address exists already."));
}

static void
register_verified_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MunityAccounts *self = g_task_get_source_object (task);
  Attempt *op = g_task_get_task_data (task);

  if (!hash_finish_or_return (result, task))
    return;

  /* A wrong password is a failed login for the account: register cannot
   * be used to guess passwords faster than login. */
  attempt_settle (self, op, HELD_ACCOUNT, !op->verified);
  if (!op->verified)
    {
      return_email_taken (task);
      return;
    }

  g_message ("A register for user %" G_GINT64_FORMAT " was repeated; answering it as done",
             op->user->id);
  open_session (task);
}

/* @task_in (transfer full): the register; @res holds the account that has
 * its email (REGISTER_FIND_SQL).
 *
 * A register can commit although its answer was a 503 (the database
 * stalled past the query timeout, then carried on), so the client
 * repeats it and would get 409 for its own account. A register is taken
 * for such a repetition, and answered 201 with a new session, when the
 * account was created within REGISTER_RETRY_INTERVAL, has never been
 * changed since (version 1), has the same first and last name, and the
 * password matches. Answering it proves no more than a login would, and it
 * is counted as one for the account's throttle. */
static void
register_existing (GTask    *task_in,
                   PGresult *res)
{
  g_autoptr(GTask) task = task_in;
  MunityAccounts *self = g_task_get_source_object (task);
  Attempt *op = g_task_get_task_data (task);

  if (strcmp (PQgetvalue (res, 0, 8), "t") != 0 ||
      munity_throttle_reserve (self->account_throttle, op->account_key, g_get_monotonic_time ()) > 0)
    {
      return_email_taken (task);
      return;
    }
  op->held |= HELD_ACCOUNT;

  op->user = user_info_from_row (res, 0);
  g_free (op->password_hash);
  op->password_hash = g_strdup (PQgetvalue (res, 0, 7));
  if (!hash_start (&task, verify_password_thread, register_verified_cb))
    {
      attempt_settle (self, op, HELD_ACCOUNT | HELD_REGISTER, FALSE);
      return_busy (task);
    }
}

static void
register_conflict_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(PGresult) res = NULL;

  /* the row that conflicted is someone else's: this register created nothing */
  res = attempt_query_finish (source, result, task, HELD_REGISTER, FALSE);
  if (res == NULL)
    return;
  if (PQntuples (res) == 0)
    return_email_taken (task);
  else
    register_existing (g_steal_pointer (&task), res);
}

static void
find_existing (GTask               *task,
               GAsyncReadyCallback  callback)
{
  MunityAccounts *self = g_task_get_source_object (task);
  RegisterOp *op = g_task_get_task_data (task);
  const char *params[] = { op->attempt.email, op->first, op->last };

  munity_db_query_async (self->db, REGISTER_FIND_SQL, G_N_ELEMENTS (params), params,
                         g_task_get_cancellable (task), callback, task);
}

static void
register_inserted_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MunityAccounts *self = g_task_get_source_object (task);
  Attempt *op = g_task_get_task_data (task);
  g_autoptr(PGresult) res = NULL;

  /* On error the account may exist all the same: it counts, and a
   * repetition will find it. */
  res = attempt_query_finish (source, result, task, HELD_REGISTER, TRUE);
  if (res == NULL)
    return;

  if (PQntuples (res) == 0)
    {
      /* Created meanwhile, maybe by this client's own first attempt that
       * is only now committed. */
      find_existing (g_steal_pointer (&task), register_conflict_cb);
      return;
    }

  attempt_settle (self, op, HELD_REGISTER, TRUE);
  op->device_token = munity_session_token_new ();
  device_remember (self, op->device_token, op->account_key, g_get_monotonic_time ());
  return_user (task, user_info_from_row (res, 0));
}

static void
register_hashed_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MunityAccounts *self = g_task_get_source_object (task);
  RegisterOp *op = g_task_get_task_data (task);
  Attempt *attempt = &op->attempt;
  g_autofree char *token_hash = NULL;

  if (!hash_finish_or_return (result, task))
    return;

  attempt->token = munity_session_token_new ();
  token_hash = munity_session_token_hash (attempt->token);

  /* The user and the first session are created by one statement, so a
   * failure leaves neither behind. */
  {
    const char *params[] = { op->first, op->last, attempt->email, attempt->password_hash, token_hash };
    GCancellable *task_cancellable = g_task_get_cancellable (task);
    munity_db_query_async (self->db,
                           "WITH u AS ("
                           "  INSERT INTO users (first, last, email, password_hash)"
                           "  VALUES ($1, $2, $3, $4)"
                           "  ON CONFLICT (lower(email)) DO NOTHING"
                           "  RETURNING *),"
                           " s AS ("
                           "  INSERT INTO sessions (token_hash, user_id)"
                           "  SELECT $5::bytea, id FROM u)"
                           " SELECT " USER_COLUMNS " FROM u",
                           G_N_ELEMENTS (params), params,
                           task_cancellable, register_inserted_cb,
                           g_steal_pointer (&task));
  }
}

static void
register_checked_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MunityAccounts *self = g_task_get_source_object (task);
  Attempt *op = g_task_get_task_data (task);
  g_autoptr(PGresult) res = NULL;

  /* on error nothing was created */
  res = attempt_query_finish (source, result, task, HELD_REGISTER, FALSE);
  if (res == NULL)
    return;

  if (PQntuples (res) > 0)
    {
      register_existing (g_steal_pointer (&task), res);
      return;
    }

  if (!hash_start (&task, hash_password_thread, register_hashed_cb))
    {
      attempt_settle (self, op, HELD_REGISTER, FALSE);
      return_busy (task);
    }
}

/* @task_in (transfer full): a register that may start now, must wait for
 * the outcome of others from its address (it is parked), or is refused. */
static void
register_admit (GTask *task_in)
{
  g_autoptr(GTask) task = task_in;
  MunityAccounts *self = g_task_get_source_object (task);
  Attempt *op = g_task_get_task_data (task);
  gint64 wait_us = munity_throttle_reserve (self->register_throttle, op->address_key, g_get_monotonic_time ());

  if (wait_us == MUNITY_THROTTLE_WAIT_FOR_PENDING)
    {
      g_queue_push_tail (&self->waiting, g_steal_pointer (&task));
      return;
    }
  if (wait_us > 0)
    {
      return_rate_limited (task, wait_us, _("Too many registrations from your address; try again later."));
      return;
    }
  op->held |= HELD_REGISTER;

  /* Checking first spares an argon2id hash for a taken address; the insert
   * still guards against a race with ON CONFLICT. */
  find_existing (g_steal_pointer (&task), register_checked_cb);
}

/**
 * munity_accounts_register_async:
 * @self: the accounts service
 * @first: (nullable): the first name (%NULL if missing or not a string)
 * @last: (nullable): the last name
 * @email: (nullable): the email address
 * @password: (nullable): the password
 * @client_address: (nullable): the client's IP address, for throttling
 * @cancellable: (nullable): a cancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Validates the fields, creates the account and its first session.
 *
 * Every register that passes validation counts against its client
 * address: beyond 60 in an hour it fails with %MUNITY_ERROR_RATE_LIMITED.
 * When the password cannot be hashed now because the hashing queue is
 * full, it fails with %MUNITY_ERROR_BUSY (and does not count). A register
 * that repeats one whose answer was lost succeeds again, see
 * register_existing() in the source.
 */
void
munity_accounts_register_async (MunityAccounts      *self,
                                const char          *first,
                                const char          *last,
                                const char          *email,
                                const char          *password,
                                const char          *client_address,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  RegisterOp *op = g_new0 (RegisterOp, 1);
  Attempt *attempt = &op->attempt;
  g_autoptr(GTask) task = attempt_task_new (self, munity_accounts_register_async,
                                            attempt, register_op_free,
                                            cancellable, callback, user_data);

  op->first = munity_validate_name (first);
  if (op->first == NULL)
    {
      g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_INVALID_FIRST,
                               _("The first name must be 1 to 100 characters, without control characters."));
      return;
    }
  op->last = munity_validate_name (last);
  if (op->last == NULL)
    {
      g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_INVALID_LAST,
                               _("The last name must be 1 to 100 characters, without control characters."));
      return;
    }
  if (!munity_validate_email (email))
    {
      g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_INVALID_EMAIL,
                               _("This is not a valid email address."));
      return;
    }
  if (!munity_validate_password (password))
    {
      g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_INVALID_PASSWORD,
                               _("The password must be 8 to 1024 bytes long."));
      return;
    }

  attempt->email = g_strdup (email);
  attempt->password = g_strdup (password);
  attempt->account_key = g_utf8_strdown (email, -1);
  attempt->address_key = munity_throttle_address_key (client_address);

  attempt->admit = register_admit;
  register_admit (g_steal_pointer (&task));
}

/**
 * munity_accounts_register_finish:
 * @self: the accounts service
 * @result: the result passed to the callback
 * @out_token: (out) (transfer full): the new session's token
 * @out_device_token: (out) (transfer full) (optional): the token of the
 *   device cookie to give the browser
 * @out_retry_after_s: (out) (optional): with %MUNITY_ERROR_RATE_LIMITED or
 *   %MUNITY_ERROR_BUSY, the seconds until the client may try again
 * @error: return location for an error
 *
 * Returns: (transfer full) (nullable): the new user
 */
MunityUserInfo *
munity_accounts_register_finish (MunityAccounts  *self,
                                 GAsyncResult    *result,
                                 char           **out_token,
                                 char           **out_device_token,
                                 guint           *out_retry_after_s,
                                 GError         **error)
{
  return attempt_finish (self, result, munity_accounts_register_async,
                         out_token, out_device_token, out_retry_after_s, error);
}

/* ---- login ------------------------------------------------------------- */

static void
login_verified_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MunityAccounts *self = g_task_get_source_object (task);
  Attempt *op = g_task_get_task_data (task);

  if (!hash_finish_or_return (result, task))
    return;

  /* The device's own mistakes are forgiven once it gets the password
   * right (before settling, which lets waiting attempts start); the address
   * and account buckets keep theirs, or a guesser could reset them with a
   * login to an account of its own. */
  if (op->verified && op->trusted)
    munity_throttle_forget (self->device_throttle, op->device_hash);
  attempt_settle (self, op, HELD_ALL, !op->verified);
  if (!op->verified)
    {
      g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_BAD_CREDENTIALS,
                               _("Wrong email address or password."));
      return;
    }

  open_session (task);
}

static void
login_found_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MunityAccounts *self = g_task_get_source_object (task);
  Attempt *op = g_task_get_task_data (task);
  g_autoptr(PGresult) res = NULL;

  res = attempt_query_finish (source, result, task, HELD_ALL, FALSE);
  if (res == NULL)
    return;

  if (PQntuples (res) > 0)
    {
      op->user = user_info_from_row (res, 0);
      op->password_hash = g_strdup (PQgetvalue (res, 0, 7));
    }

  if (!hash_start (&task, verify_password_thread, login_verified_cb))
    {
      attempt_settle (self, op, HELD_ALL, FALSE);
      return_busy (task);
    }
}

/* @task_in (transfer full): a login that may start now, must wait for the
 * outcome of others (it is parked), or is refused. Before anything else,
 * so that attempts sent all at once are counted before the first of them
 * has failed. */
static void
login_admit (GTask *task_in)
{
  g_autoptr(GTask) task = task_in;
  MunityAccounts *self = g_task_get_source_object (task);
  Attempt *op = g_task_get_task_data (task);
  gint64 now = g_get_monotonic_time ();
  gint64 wait_us;

  if (op->trusted)
    {
      wait_us = munity_throttle_reserve (self->device_throttle, op->device_hash, now);
      if (wait_us == 0)
        op->held |= HELD_DEVICE;
    }
  else
    {
      gint64 address = munity_throttle_admit (self->address_throttle, op->address_key, now);
      gint64 account = munity_throttle_admit (self->account_throttle, op->account_key, now);

      /* refused by either, else waiting for either, else both reserved */
      wait_us = MAX (address, account);
      if (wait_us == 0 && (address != 0 || account != 0))
        wait_us = MUNITY_THROTTLE_WAIT_FOR_PENDING;
      if (wait_us == 0)
        {
          munity_throttle_reserve (self->address_throttle, op->address_key, now);
          munity_throttle_reserve (self->account_throttle, op->account_key, now);
          op->held |= HELD_ADDRESS | HELD_ACCOUNT;
        }
    }

  if (wait_us == MUNITY_THROTTLE_WAIT_FOR_PENDING)
    {
      g_queue_push_tail (&self->waiting, g_steal_pointer (&task));
      return;
    }
  if (wait_us > 0)
    {
      return_rate_limited (task, wait_us, _("Too many failed logins; try again later."));
      return;
    }

  {
    const char *params[] = { op->email };
    GCancellable *cancellable = g_task_get_cancellable (task);

    munity_db_query_async (self->db,
                           "SELECT " USER_COLUMNS ", u.password_hash FROM users u WHERE lower(u.email) = lower($1)",
                           1, params, cancellable, login_found_cb, g_steal_pointer (&task));
  }
}

/**
 * munity_accounts_login_async:
 * @self: the accounts service
 * @email: (nullable): the email address
 * @password: (nullable): the password
 * @client_address: (nullable): the client's IP address, for throttling
 * @device_token: (nullable): the token of the browser's device cookie
 * @cancellable: (nullable): a cancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Checks the credentials and opens a session.
 *
 * Every attempt is counted before its password is hashed. After 10
 * failures from one address (an IPv6 /64) or 20 for one account within 10
 * minutes, answers %MUNITY_ERROR_RATE_LIMITED until enough of them have
 * left the window. A browser whose @device_token shows that it has logged
 * in to this account before is not held by those two counts, which
 * strangers can fill, but by a budget of its own (10 failures, with
 * exponential back-off after 3). When the hashing queue is full, fails with
 * %MUNITY_ERROR_BUSY without counting the attempt.
 */
void
munity_accounts_login_async (MunityAccounts      *self,
                             const char          *email,
                             const char          *password,
                             const char          *client_address,
                             const char          *device_token,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  Attempt *op = g_new0 (Attempt, 1);
  g_autoptr(GTask) task = attempt_task_new (self, munity_accounts_login_async,
                                            op, attempt_free,
                                            cancellable, callback, user_data);
  gint64 now = g_get_monotonic_time ();

  op->account_key = (email != NULL && g_utf8_validate (email, -1, NULL))
    ? g_utf8_strdown (email, -1) : g_strdup ("");
  op->address_key = munity_throttle_address_key (client_address);

  if (munity_session_token_is_valid (device_token))
    {
      op->device_hash = munity_session_token_hash (device_token);
      op->trusted = device_is_trusted (self, op->device_hash, op->account_key, now);
    }

  if (op->trusted)
    op->device_token = g_strdup (device_token);

  op->password = g_strdup (password != NULL ? password : "");
  if (email == NULL || password == NULL)
    {
      /* Still hash, so that malformed requests take as long as others. */
      op->email = g_strdup ("");
    }
  else
    {
      op->email = g_strdup (email);
    }

  op->admit = login_admit;
  login_admit (g_steal_pointer (&task));
}

/**
 * munity_accounts_login_finish:
 * @self: the accounts service
 * @result: the result passed to the callback
 * @out_token: (out) (transfer full): the new session's token
 * @out_device_token: (out) (transfer full) (optional): the token of the
 *   device cookie to give the browser
 * @out_retry_after_s: (out) (optional): with %MUNITY_ERROR_RATE_LIMITED or
 *   %MUNITY_ERROR_BUSY, the seconds until a login may be tried again
 * @error: return location for an error
 *
 * Returns: (transfer full) (nullable): the user
 */
MunityUserInfo *
munity_accounts_login_finish (MunityAccounts  *self,
                              GAsyncResult    *result,
                              char           **out_token,
                              char           **out_device_token,
                              guint           *out_retry_after_s,
                              GError         **error)
{
  return attempt_finish (self, result, munity_accounts_login_async,
                         out_token, out_device_token, out_retry_after_s, error);
}

/* ---- single-query operations ------------------------------------------- */

static void
emit_user_changed (MunityAccounts *self,
                   MunityUserInfo *user)
{
  g_signal_emit (self, signals[SIGNAL_USER_CHANGED], 0, user);
}

/* The answer to update or get_user: one user row, or none for an unknown
 * id. A change is announced before the caller hears of it. */
static void
user_row_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(PGresult) res = NULL;
  g_autoptr(MunityUserInfo) user = NULL;

  res = query_finish_or_return (source, result, task);
  if (res == NULL)
    return;

  if (PQntuples (res) == 0)
    {
      g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_NO_SUCH_USER, "%s",
                               _("There is no such user."));
      return;
    }

  user = user_info_from_row (res, 0);
  if (g_task_get_source_tag (task) == munity_accounts_update_async)
    emit_user_changed (g_task_get_source_object (task), user);
  return_user (task, g_steal_pointer (&user));
}

static void
query_user (MunityAccounts      *self,
            gpointer             source_tag,
            const char          *sql,
            int                  n_params,
            const char * const  *params,
            GCancellable        *cancellable,
            GAsyncReadyCallback  callback,
            gpointer             user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  munity_db_query_async (self->db, sql, n_params, params, cancellable, user_row_cb, task);
}

#define AUTH_BATCH_MAX 512

static void
auth_batch_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GPtrArray) tasks = user_data;
  g_autoptr(PGresult) res = NULL;
  g_autoptr(GHashTable) rows = g_hash_table_new (g_str_hash, g_str_equal);
  GError *error = NULL;

  res = munity_db_query_finish (MUNITY_DB (source), result, &error);
  if (res == NULL)
    {
      for (guint i = 0; i < tasks->len; i++)
        g_task_return_error (tasks->pdata[i], g_error_copy (error));
      g_error_free (error);
      return;
    }

  /* column 7 is the hex hash of the row's session */
  for (int row = 0; row < PQntuples (res); row++)
    g_hash_table_insert (rows, PQgetvalue (res, row, 7), GINT_TO_POINTER (row + 1));

  for (guint i = 0; i < tasks->len; i++)
    {
      GTask *task = tasks->pdata[i];
      const char *hash_hex = g_task_get_task_data (task);
      int row = GPOINTER_TO_INT (g_hash_table_lookup (rows, hash_hex));

      if (row == 0)
        g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_NOT_LOGGED_IN,
                                 _("You are not logged in."));
      else
        return_user (task, user_info_from_row (res, row - 1));
    }
}

static gboolean
send_auth_batch (gpointer user_data)
{
  MunityAccounts *self = user_data;

  g_autoptr(GPtrArray) all = g_steal_pointer (&self->auth_batch);
  char max_age[24];

  /* A session lasts MUNITY_SESSION_MAX_AGE_S (30 days) from its last use:
   * the query takes it in seconds, so that the cookie's Max-Age and the
   * database agree from one definition. */
  g_snprintf (max_age, sizeof max_age, "%d", MUNITY_SESSION_MAX_AGE_S);
  self->auth_batch_id = 0;
  for (guint start = 0; all != NULL && start < all->len; start += AUTH_BATCH_MAX)
    {
      guint end = MIN (all->len, start + AUTH_BATCH_MAX);
      GPtrArray *tasks = g_ptr_array_new_with_free_func (g_object_unref);
      g_autoptr(GString) hashes = g_string_new ("{");

      for (guint i = start; i < end; i++)
        {
          GTask *task = all->pdata[i];
          const char *hash_hex = g_task_get_task_data (task);

          g_ptr_array_add (tasks, g_object_ref (task));
          g_string_append_printf (hashes, "%s%s", i > start ? "," : "", hash_hex);
        }
      g_string_append_c (hashes, '}');

      {
        const char *params[] = { hashes->str, max_age };
        munity_db_query_async (self->db,
                               "WITH h AS (SELECT decode(x, 'hex') AS token_hash FROM unnest($1::text[]) x),"
                               " s AS ("
                               "  SELECT s.token_hash, s.user_id FROM sessions s JOIN h USING (token_hash)"
                               "  WHERE s.last_used > now() - make_interval(secs => $2::integer)),"
                               " t AS ("
                               "  UPDATE sessions SET last_used = now() FROM h"
                               "  WHERE sessions.token_hash = h.token_hash"
                               "    AND last_used < now() - interval '1 hour'"
                               "    AND last_used > now() - make_interval(secs => $2::integer))"
                               " SELECT " USER_COLUMNS ", encode(s.token_hash, 'hex')"
                               " FROM users u JOIN s ON u.id = s.user_id",
                               G_N_ELEMENTS (params), params, NULL, auth_batch_cb, tasks);
      }
    }

  return G_SOURCE_REMOVE;
}

/**
 * munity_accounts_authenticate_async:
 * @self: the accounts service
 * @token: (nullable): the session token from the cookie
 * @cancellable: (nullable): a cancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Finds the user of a session that was used within the last
 * %MUNITY_SESSION_MAX_AGE_S (30 days) and marks it used (at most once an
 * hour, to spare writes).
 */
void
munity_accounts_authenticate_async (MunityAccounts      *self,
                                    const char          *token,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autofree char *hash = NULL;

  g_task_set_source_tag (task, munity_accounts_authenticate_async);

  if (!munity_session_token_is_valid (token))
    {
      g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_NOT_LOGGED_IN,
                               _("You are not logged in."));
      return;
    }

  /* Lookups are gathered for one main-loop iteration and sent as one
   * query: a join storm of thousands of sockets costs a few queries, not
   * thousands. The task data is the token's hash, hex without the \x. */
  hash = munity_session_token_hash (token);
  g_task_set_task_data (task, g_strdup (hash + 2), g_free);
  if (self->auth_batch == NULL)
    self->auth_batch = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (self->auth_batch, g_steal_pointer (&task));
  if (self->auth_batch_id == 0)
    self->auth_batch_id = g_timeout_add (0, send_auth_batch, self);
}

/**
 * munity_accounts_authenticate_finish:
 * @self: the accounts service
 * @result: the result passed to the callback
 * @error: return location for an error (%MUNITY_ERROR_NOT_LOGGED_IN)
 *
 * Returns: (transfer full) (nullable): the session's user
 */
MunityUserInfo *
munity_accounts_authenticate_finish (MunityAccounts  *self,
                                     GAsyncResult    *result,
                                     GError         **error)
{
  return user_finish (self, result, munity_accounts_authenticate_async, error);
}

/**
 * munity_accounts_update_async:
 * @self: the accounts service
 * @user_id: the user
 * @first: (nullable): a new first name, or %NULL to keep it
 * @last: (nullable): a new last name, or %NULL to keep it
 * @bio: (nullable): a new bio, or %NULL to keep it
 * @cancellable: (nullable): a cancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Validates and stores the given fields; emits
 * #MunityAccounts::user-changed when they are stored.
 */
void
munity_accounts_update_async (MunityAccounts      *self,
                              gint64               user_id,
                              const char          *first,
                              const char          *last,
                              const char          *bio,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autofree char *first_trimmed = NULL;
  g_autofree char *last_trimmed = NULL;
  g_autofree char *id = NULL;
  MunityError code = 0;

  if (first != NULL && (first_trimmed = munity_validate_name (first)) == NULL)
    code = MUNITY_ERROR_INVALID_FIRST;
  else if (last != NULL && (last_trimmed = munity_validate_name (last)) == NULL)
    code = MUNITY_ERROR_INVALID_LAST;
  else if (bio != NULL && !munity_validate_bio (bio))
    code = MUNITY_ERROR_INVALID_BIO;

  if (code != 0)
    {
      g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
      g_task_set_source_tag (task, munity_accounts_update_async);
      g_task_return_new_error (task, MUNITY_ERROR, code, "%s",
                               code == MUNITY_ERROR_INVALID_BIO
                                 ? _("The bio must be at most 2000 characters.")
                                 : _("A name must be 1 to 100 characters, without control characters."));
      return;
    }

  id = g_strdup_printf ("%" G_GINT64_FORMAT, user_id);
  {
    const char *params[] = { id, first_trimmed, last_trimmed, bio };
    query_user (self, munity_accounts_update_async,
                "UPDATE users u SET first = coalesce($2, first), last = coalesce($3, last),"
                " bio = coalesce($4, bio), updated_at = now(), version = version + 1"
                " WHERE id = $1 RETURNING " USER_COLUMNS,
                G_N_ELEMENTS (params), params, cancellable, callback, user_data);
  }
}

/**
 * munity_accounts_update_finish:
 * @self: the accounts service
 * @result: the result passed to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full) (nullable): the user as now stored
 */
MunityUserInfo *
munity_accounts_update_finish (MunityAccounts  *self,
                               GAsyncResult    *result,
                               GError         **error)
{
  return user_finish (self, result, munity_accounts_update_async, error);
}

/**
 * munity_accounts_get_user_async:
 * @self: the accounts service
 * @user_id: the user
 * @cancellable: (nullable): a cancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Looks a user up by id, with when the user last left
 * (#MunityUserInfo.last_seen).
 */
void
munity_accounts_get_user_async (MunityAccounts      *self,
                                gint64               user_id,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, user_id);
  const char *params[] = { id };

  query_user (self, munity_accounts_get_user_async,
              "SELECT " USER_COLUMNS ", (extract (epoch FROM u.last_seen) * 1000000)::bigint AS last_seen_us"
              " FROM users u WHERE u.id = $1",
              1, params, cancellable, callback, user_data);
}

/**
 * munity_accounts_get_user_finish:
 * @self: the accounts service
 * @result: the result passed to the callback
 * @error: return location for an error (%MUNITY_ERROR_NO_SUCH_USER)
 *
 * Returns: (transfer full) (nullable): the user
 */
MunityUserInfo *
munity_accounts_get_user_finish (MunityAccounts  *self,
                                 GAsyncResult    *result,
                                 GError         **error)
{
  return user_finish (self, result, munity_accounts_get_user_async, error);
}

/* ---- logout ------------------------------------------------------------ */

/* The task data is the session's token hash. */
static void
logout_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(PGresult) res = NULL;
  gint64 user_id;

  res = query_finish_or_return (source, result, task);
  if (res == NULL)
    return;

  user_id = PQntuples (res) > 0 ? g_ascii_strtoll (PQgetvalue (res, 0, 0), NULL, 10) : 0;
  if (user_id > 0)
    g_signal_emit (g_task_get_source_object (task), signals[SIGNAL_SESSION_ENDED], 0,
                   user_id, (const char *) g_task_get_task_data (task));
  g_task_return_int (task, user_id);
}

/**
 * munity_accounts_logout_async:
 * @self: the accounts service
 * @token: (nullable): the session token from the cookie
 * @cancellable: (nullable): a cancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Ends a session, and emits #MunityAccounts::session-ended if there was
 * one. Succeeds also when there is no such session.
 */
void
munity_accounts_logout_async (MunityAccounts      *self,
                              const char          *token,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  char *token_hash;

  g_task_set_source_tag (task, munity_accounts_logout_async);

  if (!munity_session_token_is_valid (token))
    {
      g_task_return_int (task, 0);
      return;
    }

  token_hash = munity_session_token_hash (token);
  g_task_set_task_data (task, token_hash, g_free);
  {
    const char *params[] = { token_hash };
    munity_db_query_async (self->db, "DELETE FROM sessions WHERE token_hash = $1 RETURNING user_id",
                           1, params, cancellable, logout_cb, g_steal_pointer (&task));
  }
}

/**
 * munity_accounts_logout_finish:
 * @self: the accounts service
 * @result: the result passed to the callback
 * @error: return location for an error
 *
 * Returns: the id of the session's user, 0 if there was no such session,
 *   -1 on error
 */
gint64
munity_accounts_logout_finish (MunityAccounts  *self,
                               GAsyncResult    *result,
                               GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), -1);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == munity_accounts_logout_async, -1);

  return g_task_propagate_int (G_TASK (result), error);
}

/* ---- pictures ---------------------------------------------------------- */

/* The task data is the replaced picture's URL, once known. */
static void
set_image_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(PGresult) res = NULL;
  g_autoptr(MunityUserInfo) user = NULL;

  res = query_finish_or_return (source, result, task);
  if (res == NULL)
    return;
  if (PQntuples (res) == 0)
    {
      g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_NO_SUCH_USER, _("There is no such user."));
      return;
    }

  if (!PQgetisnull (res, 0, 7))
    g_task_set_task_data (task, g_strdup (PQgetvalue (res, 0, 7)), g_free);
  user = user_info_from_row (res, 0);
  emit_user_changed (g_task_get_source_object (task), user);
  return_user (task, g_steal_pointer (&user));
}

static void
users_rows_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(PGresult) res = query_finish_or_return (source, result, task);
  GPtrArray *users;

  if (res == NULL)
    return;

  users = g_ptr_array_new_full (PQntuples (res), (GDestroyNotify) munity_user_info_unref);
  for (int row = 0; row < PQntuples (res); row++)
    g_ptr_array_add (users, user_info_from_row (res, row));
  g_task_return_pointer (task, users, (GDestroyNotify) g_ptr_array_unref);
}

/**
 * munity_accounts_get_users_async:
 * @self: the accounts service
 * @ids: (array length=n_ids): user ids
 * @n_ids: how many
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * Looks up the details of several users in one query
 * (`WHERE id = ANY($1)`), for users another cluster node brought online.
 */
void
munity_accounts_get_users_async (MunityAccounts      *self,
                                 const gint64        *ids,
                                 guint                n_ids,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GString) array = g_string_new ("{");
  const char *params[1];

  g_task_set_source_tag (task, munity_accounts_get_users_async);
  for (guint i = 0; i < n_ids; i++)
    g_string_append_printf (array, "%s%" G_GINT64_FORMAT, i > 0 ? "," : "", ids[i]);
  g_string_append_c (array, '}');
  params[0] = array->str;
  munity_db_query_async (self->db, "SELECT " USER_COLUMNS " FROM users u WHERE u.id = ANY($1::bigint[])",
                         1, params, cancellable, users_rows_cb, task);
}

/**
 * munity_accounts_get_users_finish:
 * @self: the accounts service
 * @result: the result
 * @error: return location for an error
 *
 * Returns: (transfer container) (element-type MunityUserInfo): the users
 *   found, in no particular order (unknown ids are missing), or %NULL on
 *   error
 */
GPtrArray *
munity_accounts_get_users_finish (MunityAccounts  *self,
                                  GAsyncResult    *result,
                                  GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == munity_accounts_get_users_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * munity_accounts_set_image_async:
 * @self: the accounts service
 * @user_id: the user
 * @image_url: (nullable): the new picture's same-origin path; %NULL
 *   removes the picture
 * @cancellable: (nullable): a cancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Stores a new picture URL and reports the one it replaces; emits
 * #MunityAccounts::user-changed.
 */
void
munity_accounts_set_image_async (MunityAccounts      *self,
                                 gint64               user_id,
                                 const char          *image_url,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, user_id);
  const char *params[] = { id, image_url };

  g_task_set_source_tag (task, munity_accounts_set_image_async);
  munity_db_query_async (self->db,
                         "UPDATE users u SET image_url = $2, updated_at = now(), version = u.version + 1"
                         " FROM (SELECT id, image_url AS old FROM users WHERE id = $1 FOR UPDATE) o"
                         " WHERE u.id = o.id RETURNING " USER_COLUMNS ", o.old",
                         G_N_ELEMENTS (params), params, cancellable, set_image_cb, task);
}

/**
 * munity_accounts_set_image_finish:
 * @self: the accounts service
 * @result: the result passed to the callback
 * @out_old_url: (out) (transfer full) (nullable): the replaced picture's URL
 * @error: return location for an error
 *
 * Returns: (transfer full) (nullable): the user as now stored
 */
MunityUserInfo *
munity_accounts_set_image_finish (MunityAccounts  *self,
                                  GAsyncResult    *result,
                                  char           **out_old_url,
                                  GError         **error)
{
  MunityUserInfo *user = user_finish (self, result, munity_accounts_set_image_async, error);

  if (out_old_url != NULL)
    *out_old_url = user != NULL ? g_strdup (g_task_get_task_data (G_TASK (result))) : NULL;
  return user;
}
