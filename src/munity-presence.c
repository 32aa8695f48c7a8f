/* munity-presence.c — who is online: users, their sockets, the grace
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "munity-presence-private.h"
#include "munity-presence.h"

/**
 * MunityPresence:
 *
 * The one truth of who is online, for the whole cluster: sockets of other
 * nodes (munity_socket_new_remote()) count like this munityd's own, so a
 * user with tabs on two nodes is online once and the grace covers their
 * last socket anywhere. A user is online from their first socket
 * until their last socket has been gone for the grace period (unless they
 * were disconnected or logged out, which leaves at once). Emits
 * #MunityPresence::user-joined, #MunityPresence::user-left,
 * #MunityPresence::user-updated, #MunityPresence::socket-added,
 * #MunityPresence::socket-removed and #MunityPresence::socket-changed at
 * exactly those moments; the WebSocket and D-Bus layers are views of
 * these signals. No I/O happens here.
 *
 * Each socket has a status, online or idle (`setStatus`); a user is idle
 * when every one of their sockets is idle, and a change of the user's
 * status is announced as a profile change is (below).
 *
 * Lingering users wait in two queues ordered by deadline, served by a
 * single timer: one for users whose last socket was here, one for those
 * whose last socket was on another cluster node, who wait
 * %MUNITY_PRESENCE_REMOTE_GRACE_SLACK_MS longer. Within each the wait is
 * the same for everyone, so arrival order is deadline order; the few
 * users a starting node learns are lingering elsewhere, with less of the
 * grace left, are put in their place.
 *
 * Profile and status changes are announced at most once per user per
 * update interval (MUNITY_PRESENCE_UPDATE_INTERVAL_MS): one user renaming
 * itself hundreds of times a second would otherwise cost a frame to every
 * socket each time. The first change after a quiet interval goes out at once; a change
 * inside the interval is held, a newer one replaces it, and the newest is
 * applied and announced when the interval ends. Users with a held change
 * wait in a second queue ordered by the end of their interval, served by
 * the same timer; a user who leaves takes the held change along.
 */
struct _MunityPresence
{
  GObject          parent_instance;

  guint            leave_grace_ms;
  GHashTable      *users;       /* (owned) id → MunityUser (owned) */
  GQueue           lingering;   /* of MunityUser (unowned; users holds them) */
  GQueue           lingering_remote; /* the same, for a last socket on another node */
  GQueue           order;       /* of MunityUser (unowned), in join order */
  GQueue           pending;     /* of MunityUser (unowned) with a held change, by quiet_until */
  gint64           update_interval_us;
  guint            n_sockets;
  guint            timer_id;
  gint64           timer_deadline; /* clock time the armed timer is for */
  MunityClockFunc  clock;
  gpointer         clock_data;
  GDestroyNotify   clock_data_destroy;
};

G_DEFINE_FINAL_TYPE (MunityPresence, munity_presence, G_TYPE_OBJECT)

enum {
  SIGNAL_USER_JOINED,
  SIGNAL_USER_LEFT,
  SIGNAL_USER_UPDATED,
  SIGNAL_SOCKET_ADDED,
  SIGNAL_SOCKET_REMOVED,
  SIGNAL_SOCKET_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

enum {
  PROP_0,
  PROP_N_USERS,
  PROP_N_SOCKETS,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static gint64
default_clock (gpointer user_data)
{
  return g_get_monotonic_time ();
}

static void
munity_presence_dispose (GObject *object)
{
  MunityPresence *self = MUNITY_PRESENCE (object);

  g_clear_handle_id (&self->timer_id, g_source_remove);
  if (self->clock_data_destroy != NULL)
    g_clear_pointer (&self->clock_data, self->clock_data_destroy);
  self->clock_data_destroy = NULL;
  g_queue_clear (&self->lingering);
  g_queue_clear (&self->lingering_remote);
  g_queue_clear (&self->order);
  g_queue_clear (&self->pending);
  g_clear_pointer (&self->users, g_hash_table_unref);

  G_OBJECT_CLASS (munity_presence_parent_class)->dispose (object);
}

static void
munity_presence_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  MunityPresence *self = MUNITY_PRESENCE (object);

  switch (prop_id)
    {
    case PROP_N_USERS:
      g_value_set_uint (value, munity_presence_get_n_users (self));
      break;
    case PROP_N_SOCKETS:
      g_value_set_uint (value, self->n_sockets);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
munity_presence_class_init (MunityPresenceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = munity_presence_dispose;
  object_class->get_property = munity_presence_get_property;

  /**
   * MunityPresence:n-users:
   *
   * How many users are online, lingering ones included.
   */
  props[PROP_N_USERS] = g_param_spec_uint ("n-users", NULL, NULL, 0, G_MAXUINT, 0,
                                           G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * MunityPresence:n-sockets:
   *
   * How many sockets are open.
   */
  props[PROP_N_SOCKETS] = g_param_spec_uint ("n-sockets", NULL, NULL, 0, G_MAXUINT, 0,
                                             G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, props);

  /**
   * MunityPresence::user-joined:
   * @self: the presence
   * @user: the user, with their first socket
   *
   * A user came online.
   */
  signals[SIGNAL_USER_JOINED] =
    g_signal_new ("user-joined", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, MUNITY_TYPE_USER);
  /**
   * MunityPresence::user-left:
   * @self: the presence
   * @user: the user, no longer in the model
   *
   * A user went offline.
   */
  signals[SIGNAL_USER_LEFT] =
    g_signal_new ("user-left", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, MUNITY_TYPE_USER);
  /**
   * MunityPresence::user-updated:
   * @self: the presence
   * @user: the user
   *
   * An online user's first name, last name, picture or status changed.
   * Emitted at most once per user per update interval (see
   * [method@Munity.Presence.update_user]); the user then shows the newest
   * details and status.
   */
  signals[SIGNAL_USER_UPDATED] =
    g_signal_new ("user-updated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, MUNITY_TYPE_USER);
  /**
   * MunityPresence::socket-added:
   * @self: the presence
   * @user: the socket's user
   * @socket: the socket
   *
   * A socket was added (after #MunityPresence::user-joined when it is the
   * user's first).
   */
  signals[SIGNAL_SOCKET_ADDED] =
    g_signal_new ("socket-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, MUNITY_TYPE_USER, MUNITY_TYPE_SOCKET);
  /**
   * MunityPresence::socket-removed:
   * @self: the presence
   * @user: the socket's user
   * @socket: the socket
   *
   * A socket was removed (before #MunityPresence::user-left when the user
   * leaves at once).
   */
  signals[SIGNAL_SOCKET_REMOVED] =
    g_signal_new ("socket-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, MUNITY_TYPE_USER, MUNITY_TYPE_SOCKET);
  /**
   * MunityPresence::socket-changed:
   * @self: the presence
   * @user: the socket's user
   * @socket: the socket
   *
   * A socket of the model became idle or online
   * (munity_socket_get_idle()), before the user's status follows.
   */
  signals[SIGNAL_SOCKET_CHANGED] =
    g_signal_new ("socket-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, MUNITY_TYPE_USER, MUNITY_TYPE_SOCKET);
}

static void
munity_presence_init (MunityPresence *self)
{
  const char *interval = g_getenv ("MUNITY_PRESENCE_UPDATE_INTERVAL_MS");
  guint64 ms = MUNITY_PRESENCE_UPDATE_INTERVAL_MS;

  self->users = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, g_object_unref);
  g_queue_init (&self->lingering);
  g_queue_init (&self->lingering_remote);
  g_queue_init (&self->order);
  g_queue_init (&self->pending);
  self->clock = default_clock;

  /* Test hook (0 = every change at once): a test that needs a storm of
   * userUpdated frames renames users thousands of times. */
  if (interval != NULL && !g_ascii_string_to_unsigned (interval, 10, 0, G_MAXUINT32, &ms, NULL))
    ms = MUNITY_PRESENCE_UPDATE_INTERVAL_MS;
  self->update_interval_us = (gint64) ms * 1000;
}

/**
 * munity_presence_new:
 * @leave_grace_ms: how long a user whose last socket closed stays online
 *
 * Returns: (transfer full): an empty presence model
 */
MunityPresence *
munity_presence_new (guint leave_grace_ms)
{
  MunityPresence *self = g_object_new (MUNITY_TYPE_PRESENCE, NULL);

  self->leave_grace_ms = leave_grace_ms;
  return self;
}

/**
 * munity_presence_set_clock:
 * @self: the presence
 * @clock: (scope notified) (closure user_data) (destroy destroy): a
 *   monotonic clock in microseconds
 * @user_data: data for @clock
 * @destroy: (nullable): frees @user_data when the clock is replaced or the
 *   presence is disposed
 *
 * Replaces the clock, for tests. With a clock of its own the model arms no
 * timer: the test calls munity_presence_expire() itself.
 */
void
munity_presence_set_clock (MunityPresence  *self,
                           MunityClockFunc  clock,
                           gpointer         user_data,
                           GDestroyNotify   destroy)
{
  g_return_if_fail (MUNITY_IS_PRESENCE (self));
  g_return_if_fail (clock != NULL);

  if (self->clock_data_destroy != NULL)
    self->clock_data_destroy (self->clock_data);
  self->clock = clock;
  self->clock_data = user_data;
  self->clock_data_destroy = destroy;
  g_clear_handle_id (&self->timer_id, g_source_remove);
}

/**
 * munity_presence_set_update_interval:
 * @self: the presence
 * @interval_ms: the shortest time between two announced profile changes
 *   of one user; 0 announces every change at once
 *
 * Replaces the update interval (by default
 * %MUNITY_PRESENCE_UPDATE_INTERVAL_MS, or `MUNITY_PRESENCE_UPDATE_INTERVAL_MS`
 * from the environment, a test hook). Changes already held keep their
 * time.
 */
void
munity_presence_set_update_interval (MunityPresence *self,
                                     guint           interval_ms)
{
  g_return_if_fail (MUNITY_IS_PRESENCE (self));

  self->update_interval_us = (gint64) interval_ms * 1000;
}

static void arm_timer (MunityPresence *self);

static gboolean
timer_cb (gpointer user_data)
{
  MunityPresence *self = user_data;

  self->timer_id = 0;
  munity_presence_expire (self);
  return G_SOURCE_REMOVE;
}

/* One timer for both queues, armed for whichever head is due first. */
/* The lingering user whose grace ends first, of both queues. */
static MunityUser *
next_lingering (MunityPresence *self)
{
  MunityUser *local = g_queue_peek_head (&self->lingering);
  MunityUser *remote = g_queue_peek_head (&self->lingering_remote);

  if (local == NULL || remote == NULL)
    return local != NULL ? local : remote;
  return munity_user_get_deadline (remote) < munity_user_get_deadline (local) ? remote : local;
}

static void
arm_timer (MunityPresence *self)
{
  MunityUser *lingering = next_lingering (self);
  MunityUser *pending = g_queue_peek_head (&self->pending);
  gint64 deadline = G_MAXINT64, wait_us;

  if (self->clock != default_clock || (lingering == NULL && pending == NULL))
    return;

  if (lingering != NULL)
    deadline = munity_user_get_deadline (lingering);
  if (pending != NULL)
    deadline = MIN (deadline, munity_user_get_quiet_until (pending));

  /* A timer for something sooner (or as soon) already runs; one for later
   * gives way. */
  if (self->timer_id != 0)
    {
      if (self->timer_deadline <= deadline)
        return;
      g_clear_handle_id (&self->timer_id, g_source_remove);
    }

  wait_us = deadline - self->clock (self->clock_data);
  self->timer_deadline = deadline;
  self->timer_id = g_timeout_add (wait_us > 0 ? (guint) ((wait_us + 999) / 1000) : 0, timer_cb, self);
}

/* Forgets a held change. */
static void
drop_pending (MunityPresence *self,
              MunityUser     *user)
{
  GList *link = munity_user_get_pending_link (user);

  if (link == NULL)
    return;

  g_queue_delete_link (&self->pending, link);
  munity_user_set_pending_link (user, NULL);
  munity_user_set_pending (user, NULL);
}

/* Holds @info (or, %NULL, a change of status) until the user's interval
 * ends; the queue stays ordered by
 * the end of the intervals (nearly always the tail: intervals are the same
 * length for everyone). */
static void
hold_pending (MunityPresence *self,
              MunityUser     *user,
              MunityUserInfo *info)
{
  gint64 due = munity_user_get_quiet_until (user);
  GList *after, *link;

  /* A status change holds no details: it must not drop those held. */
  if (info != NULL)
    munity_user_set_pending (user, info);
  if (munity_user_get_pending_link (user) != NULL)
    return;

  for (after = self->pending.tail; after != NULL; after = after->prev)
    if (munity_user_get_quiet_until (after->data) <= due)
      break;

  link = g_list_alloc ();
  link->data = user;
  if (after != NULL)
    g_queue_insert_after_link (&self->pending, after, link);
  else
    g_queue_push_head_link (&self->pending, link);
  munity_user_set_pending_link (user, link);
  arm_timer (self);
}

/* Applies @info (if any) and the status the sockets call for now;
 * announces them (and starts a quiet interval) if anything everyone sees
 * changed. */
static void
announce (MunityPresence *self,
          MunityUser     *user,
          MunityUserInfo *info,
          gint64          now)
{
  gboolean details = info != NULL && munity_user_update (user, info);
  gboolean status = munity_user_apply_status (user);

  if (!details && !status)
    return;

  if (self->update_interval_us > 0)
    munity_user_set_quiet_until (user, now + self->update_interval_us);
  g_signal_emit (self, signals[SIGNAL_USER_UPDATED], 0, user);
}

/* The user's sockets may call for another status: it is announced like
 * a profile change, through the same interval, so that a client flipping
 * between idle and online costs everyone at most a frame a second. A
 * held change already takes the newest status along when it is applied;
 * a flip and back within the interval announces nothing. */
static void
refresh_status (MunityPresence *self,
                MunityUser     *user)
{
  gint64 now;

  if (munity_user_get_pending_link (user) != NULL ||
      munity_user_wants_idle (user) == munity_user_is_idle (user))
    return;

  now = self->clock (self->clock_data);
  if (now >= munity_user_get_quiet_until (user))
    announce (self, user, NULL, now);
  else
    hold_pending (self, user, NULL);
}

static void
stop_lingering (MunityPresence *self,
                MunityUser     *user)
{
  GQueue *queue;
  GList *link = munity_user_get_linger_link (user, &queue);

  if (link == NULL)
    return;

  g_queue_delete_link (queue, link);
  munity_user_set_linger_link (user, NULL, NULL);
  munity_user_set_lingering (user, FALSE, 0);
  /* The timer may now fire early for nobody; it re-arms itself. */
}

static void
remove_user (MunityPresence *self,
             MunityUser     *user)
{
  g_autoptr(MunityUser) keep = g_object_ref (user);
  gint64 id = munity_user_get_id (user);

  stop_lingering (self, user);
  /* A held change is news about someone who is gone. */
  drop_pending (self, user);
  g_queue_delete_link (&self->order, munity_user_get_order_link (user));
  munity_user_set_order_link (user, NULL);
  g_hash_table_remove (self->users, &id);
  g_signal_emit (self, signals[SIGNAL_USER_LEFT], 0, keep);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_N_USERS]);
}

/* A user not in the model comes online (a first socket, or lingering
 * elsewhere). */
static void
user_join (MunityPresence *self,
           MunityUser     *user)
{
  /* The key is the id inside the user itself, which lives as long as the
   * entry. */
  g_hash_table_insert (self->users, munity_user_get_id_ptr (user), user);
  g_queue_push_tail (&self->order, user);
  munity_user_set_order_link (user, g_queue_peek_tail_link (&self->order));
  g_signal_emit (self, signals[SIGNAL_USER_JOINED], 0, user);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_N_USERS]);
}

/* @user lingers in @queue until @deadline, in its place in deadline order:
 * found from the end, where it almost always is (everyone in a queue waits
 * as long, but for the few users learnt lingering at start-up). */
static void
start_lingering (MunityPresence *self,
                 MunityUser     *user,
                 GQueue         *queue,
                 gint64          deadline)
{
  GList *before = queue->tail;

  while (before != NULL && munity_user_get_deadline (before->data) > deadline)
    before = before->prev;
  munity_user_set_lingering (user, TRUE, deadline);
  if (before == NULL)
    g_queue_push_head (queue, user);
  else
    g_queue_insert_after (queue, before, user);
  munity_user_set_linger_link (user, queue, before == NULL ? queue->head : before->next);
  arm_timer (self);
}

/**
 * munity_presence_add_socket:
 * @self: the presence
 * @socket: a new socket
 * @info: the details of the socket's user, as the session lookup found them
 *
 * Adds a socket. The user comes online if they were not (emitting
 * #MunityPresence::user-joined), stays silently online if they were, and
 * stops lingering if they were waiting out the grace.
 *
 * Returns: (transfer none): the socket's user
 */
MunityUser *
munity_presence_add_socket (MunityPresence *self,
                            MunitySocket   *socket,
                            MunityUserInfo *info)
{
  MunityUser *user;
  gboolean joined = FALSE;

  g_return_val_if_fail (!munity_socket_is_attached (socket), NULL);
  g_return_val_if_fail (munity_socket_get_user_id (socket) == info->id, NULL);

  user = g_hash_table_lookup (self->users, &info->id);
  if (user == NULL)
    {
      user = munity_user_new (info, g_get_real_time ());
      /* A socket of another node may come idle (a resync). */
      munity_user_set_idle (user, munity_socket_get_idle (socket));
      joined = TRUE;
    }
  else
    {
      stop_lingering (self, user);
    }

  munity_user_add_socket (user, socket);
  munity_socket_set_attached (socket, TRUE);
  self->n_sockets++;

  if (joined)
    user_join (self, user);

  g_signal_emit (self, signals[SIGNAL_SOCKET_ADDED], 0, user, socket);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_N_SOCKETS]);
  /* An online tab of an idle user makes the user online again. */
  if (!joined)
    refresh_status (self, user);

  return user;
}

static gboolean
detach_socket (MunityPresence *self,
               MunitySocket   *socket,
               MunityUser    **out_user)
{
  gint64 user_id = munity_socket_get_user_id (socket);
  MunityUser *user;
  g_autoptr(MunitySocket) keep = NULL;

  if (!munity_socket_is_attached (socket))
    return FALSE;

  user = g_hash_table_lookup (self->users, &user_id);
  g_return_val_if_fail (user != NULL, FALSE);

  keep = g_object_ref (socket);
  munity_socket_set_attached (socket, FALSE);
  munity_user_remove_socket (user, socket);
  self->n_sockets--;

  g_signal_emit (self, signals[SIGNAL_SOCKET_REMOVED], 0, user, socket);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_N_SOCKETS]);
  /* The last online tab closed: the others may all be idle. */
  if (munity_user_get_n_sockets (user) > 0 && munity_user_get_order_link (user) != NULL)
    refresh_status (self, user);

  *out_user = user;
  return TRUE;
}

/**
 * munity_presence_remove_socket:
 * @self: the presence
 * @socket: a socket that closed
 *
 * Removes a socket. If it was the user's last, the user lingers for the
 * grace period (or leaves at once when the grace is 0). Removing a socket
 * that is not in the model does nothing.
 */
void
munity_presence_remove_socket (MunityPresence *self,
                               MunitySocket   *socket)
{
  MunityUser *user = NULL;
  GQueue *queue;
  guint linger_ms;

  if (!detach_socket (self, socket, &user))
    return;

  if (munity_user_get_n_sockets (user) > 0)
    return;

  if (self->leave_grace_ms == 0)
    {
      remove_user (self, user);
      return;
    }

  /* A last socket on another node: that node's removal took a moment to
   * get here, and so will the socket with which the user comes back
   * there (a reload on a third node): waited for as well, so that a
   * reconnect within the grace makes no one see the user leave. Each
   * queue is in deadline order. */
  if (munity_socket_get_node_id (socket) != 0)
    {
      queue = &self->lingering_remote;
      linger_ms = self->leave_grace_ms + MUNITY_PRESENCE_REMOTE_GRACE_SLACK_MS;
    }
  else
    {
      queue = &self->lingering;
      linger_ms = self->leave_grace_ms;
    }
  start_lingering (self, user, queue, self->clock (self->clock_data) + (gint64) linger_ms * 1000);
}

/**
 * munity_presence_get_leave_grace_ms:
 * @self: the presence
 *
 * Returns: how long a user whose last socket closed stays online, in ms
 */
guint
munity_presence_get_leave_grace_ms (MunityPresence *self)
{
  g_return_val_if_fail (MUNITY_IS_PRESENCE (self), 0);

  return self->leave_grace_ms;
}

/**
 * munity_presence_add_lingering_user:
 * @self: the presence
 * @info: a user who has no socket anywhere but is still within the grace
 * @remaining_ms: how much of the grace is left
 *
 * For a node that starts (or comes back) while another node lets a user
 * linger: the user's last socket closed before this node could see it,
 * and the grace still keeps them online. The user comes online here
 * (#MunityPresence::user-joined) and lingers for what is left of the grace
 * plus %MUNITY_PRESENCE_REMOTE_GRACE_SLACK_MS, like a user whose last
 * socket was on another node; a socket of theirs ends it as usual. Does
 * nothing if the user is online already.
 */
void
munity_presence_add_lingering_user (MunityPresence *self,
                                    MunityUserInfo *info,
                                    guint           remaining_ms)
{
  MunityUser *user;

  g_return_if_fail (MUNITY_IS_PRESENCE (self));

  if (g_hash_table_contains (self->users, &info->id))
    return;

  user = munity_user_new (info, g_get_real_time ());
  /* Its leave is recorded by the node that held the last socket. */
  munity_user_set_left_here (user, FALSE);
  start_lingering (self, user, &self->lingering_remote,
                   self->clock (self->clock_data) +
                   (gint64) (remaining_ms + MUNITY_PRESENCE_REMOTE_GRACE_SLACK_MS) * 1000);
  user_join (self, user);
}

/**
 * munity_presence_expire:
 * @self: the presence
 *
 * Lets every lingering user whose grace has run out leave, and announces
 * the held profile changes whose interval has ended. Called by the model's
 * own timer; tests with their own clock call it directly.
 */
void
munity_presence_expire (MunityPresence *self)
{
  gint64 now = self->clock (self->clock_data);
  MunityUser *head;

  while ((head = next_lingering (self)) != NULL && munity_user_get_deadline (head) <= now)
    remove_user (self, head);

  /* Handlers may change the model: take one user at a time from the
   * queue as it is then. */
  while ((head = g_queue_peek_head (&self->pending)) != NULL &&
         munity_user_get_quiet_until (head) <= now)
    {
      g_autoptr(MunityUser) keep = g_object_ref (head);
      g_autoptr(MunityUserInfo) info = munity_user_steal_pending (head);

      g_queue_pop_head (&self->pending);
      munity_user_set_pending_link (head, NULL);
      announce (self, head, info, now);
    }

  arm_timer (self);
}

static guint
close_sockets (MunityPresence *self,
               MunityUser     *user,
               const char     *session,
               guint           code,
               const char     *reason)
{
  g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func (g_object_unref);
  GPtrArray *current = munity_user_get_sockets (user);
  MunityUser *owner = NULL;

  for (guint i = 0; i < current->len; i++)
    {
      MunitySocket *socket = current->pdata[i];
      if (session == NULL || g_strcmp0 (munity_socket_get_session (socket), session) == 0)
        g_ptr_array_add (sockets, g_object_ref (socket));
    }

  for (guint i = 0; i < sockets->len; i++)
    {
      munity_socket_end (sockets->pdata[i], code);
      if (detach_socket (self, sockets->pdata[i], &owner))
        munity_socket_request_close (sockets->pdata[i], code, reason);
    }

  return sockets->len;
}

/* Takes one socket out for good: its user leaves at once if it was their
 * last. A close is requested when @code is not 0. */
static void
end_socket (MunityPresence *self,
            MunitySocket   *socket,
            guint           code,
            const char     *reason,
            gboolean        asked_elsewhere)
{
  MunityUser *user = NULL;

  munity_socket_end (socket, code);
  g_object_ref (socket);
  if (detach_socket (self, socket, &user))
    {
      g_object_ref (user);
      /* The node that logged out or disconnected records the leave. */
      if (asked_elsewhere)
        munity_user_set_left_here (user, FALSE);
      if (code != 0)
        munity_socket_request_close (socket, code, reason);
      /* A handler may have removed the user meanwhile. */
      if (munity_user_get_n_sockets (user) == 0 && munity_user_get_order_link (user) != NULL)
        remove_user (self, user);
      g_object_unref (user);
    }
  g_object_unref (socket);
}

/**
 * munity_presence_drop_socket:
 * @self: the presence
 * @socket: a socket of the model
 *
 * Removes a socket without grace: if it was the user's last, the user
 * leaves at once. For sockets whose end must not look like a reload: those
 * of a dead node, or those another node closed by logout or disconnect.
 * Removing a socket that is not in the model does nothing.
 */
void
munity_presence_drop_socket (MunityPresence *self,
                             MunitySocket   *socket)
{
  g_return_if_fail (MUNITY_IS_PRESENCE (self));

  end_socket (self, socket, 0, NULL, FALSE);
}

/**
 * munity_presence_end_socket:
 * @self: the presence
 * @socket: a socket of the model
 * @close_code: the close code to ask for
 * @reason: the close reason
 *
 * Closes one socket as munity_presence_end_session() or
 * munity_presence_disconnect_user() would (another node asked for it): the
 * socket leaves the model, #MunitySocket::close-requested is emitted, and
 * the user leaves at once if they have no socket left.
 */
void
munity_presence_end_socket (MunityPresence *self,
                            MunitySocket   *socket,
                            guint           close_code,
                            const char     *reason)
{
  g_return_if_fail (MUNITY_IS_PRESENCE (self));

  end_socket (self, socket, close_code, reason, TRUE);
}

/**
 * munity_presence_remove_node_sockets:
 * @self: the presence
 * @node_id: a cluster node (not 0)
 *
 * Drops every socket held by a node that died (see
 * munity_presence_drop_socket()): its users who have no socket elsewhere
 * leave at once, without grace.
 *
 * Returns: how many sockets were dropped
 */
guint
munity_presence_remove_node_sockets (MunityPresence *self,
                                     gint64          node_id)
{
  g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func (g_object_unref);

  g_return_val_if_fail (MUNITY_IS_PRESENCE (self), 0);
  g_return_val_if_fail (node_id != 0, 0);

  for (GList *l = self->order.head; l != NULL; l = l->next)
    {
      GPtrArray *current = munity_user_get_sockets (l->data);

      for (guint i = 0; i < current->len; i++)
        if (munity_socket_get_node_id (current->pdata[i]) == node_id)
          g_ptr_array_add (sockets, g_object_ref (current->pdata[i]));
    }

  for (guint i = 0; i < sockets->len; i++)
    end_socket (self, sockets->pdata[i], 0, NULL, FALSE);

  return sockets->len;
}

/**
 * munity_presence_disconnect_user:
 * @self: the presence
 * @user_id: a user
 * @close_code: the close code for the user's sockets
 *
 * Closes every socket of the user and makes the user leave at once,
 * lingering or not.
 *
 * Returns: how many sockets were closed; 0 if the user was not online
 */
guint
munity_presence_disconnect_user (MunityPresence *self,
                                 gint64          user_id,
                                 guint           close_code)
{
  MunityUser *user = g_hash_table_lookup (self->users, &user_id);
  g_autoptr(MunityUser) keep = NULL;
  guint n;

  if (user == NULL)
    return 0;

  keep = g_object_ref (user);
  n = close_sockets (self, user, NULL, close_code, "disconnected by an administrator");
  munity_user_set_left_here (user, TRUE);
  remove_user (self, user);
  return n;
}

/**
 * munity_presence_end_session:
 * @self: the presence
 * @user_id: the session's user
 * @session: the session that ended
 *
 * Closes the sockets of one session (close code 4001). If the user then
 * has no socket left, the user leaves at once, without grace; with sockets
 * of other sessions the user stays online.
 *
 * Returns: how many sockets were closed
 */
guint
munity_presence_end_session (MunityPresence *self,
                             gint64          user_id,
                             const char     *session)
{
  MunityUser *user = g_hash_table_lookup (self->users, &user_id);
  g_autoptr(MunityUser) keep = NULL;
  guint n;

  if (user == NULL)
    return 0;

  keep = g_object_ref (user);
  n = close_sockets (self, user, session, MUNITY_CLOSE_LOGGED_OUT, "logged out");
  if (munity_user_get_n_sockets (user) == 0)
    {
      munity_user_set_left_here (user, TRUE);
      remove_user (self, user);
    }
  return n;
}

/**
 * munity_presence_update_user:
 * @self: the presence
 * @info: a user's details as now stored
 *
 * If the user is online and their name or picture changed, updates the
 * model and emits #MunityPresence::user-updated — at most once per user
 * per update interval (%MUNITY_PRESENCE_UPDATE_INTERVAL_MS). A change
 * inside the interval is held: a newer one replaces it, and the newest is
 * applied and announced when the interval ends, so the last value is
 * never lost; a user who leaves meanwhile takes it along. Details older
 * than those the model has or holds (a late answer to an earlier change)
 * are ignored; a change of the bio alone is stored at once, unannounced.
 */
void
munity_presence_update_user (MunityPresence *self,
                             MunityUserInfo *info)
{
  MunityUser *user = g_hash_table_lookup (self->users, &info->id);
  MunityUserInfo *held;
  gint64 now;

  if (user == NULL)
    return;

  /* Answers to concurrent updates arrive in any order: never go back. */
  held = munity_user_get_pending (user);
  if (info->version < munity_user_get_info (user)->version ||
      (held != NULL && info->version < held->version))
    return;

  now = self->clock (self->clock_data);
  if (now >= munity_user_get_quiet_until (user))
    {
      drop_pending (self, user);
      announce (self, user, info, now);
    }
  else if (held == NULL && munity_user_shows_same (user, info))
    munity_user_update (user, info);  /* no news: nothing to hold */
  else
    hold_pending (self, user, info);
}

/**
 * munity_presence_set_socket_idle:
 * @self: the presence
 * @socket: a socket, in the model or about to be added
 * @idle: whether its client is idle (`setStatus`, doc/protocol.md §3)
 *
 * Sets one socket's status. The user is idle when every one of their
 * sockets is idle, and online otherwise; a change of the user's status is
 * announced with #MunityPresence::user-updated, through the same interval
 * as profile changes (see munity_presence_update_user()). A status that
 * does not change the user's announces nothing. A socket not yet added
 * just keeps the status, which its user then joins with.
 */
void
munity_presence_set_socket_idle (MunityPresence *self,
                                 MunitySocket   *socket,
                                 gboolean        idle)
{
  gint64 user_id;
  MunityUser *user;

  g_return_if_fail (MUNITY_IS_PRESENCE (self));
  g_return_if_fail (MUNITY_IS_SOCKET (socket));

  idle = !!idle;
  if (munity_socket_get_idle (socket) == idle)
    return;
  munity_socket_set_idle (socket, idle);
  if (!munity_socket_is_attached (socket))
    return;

  user_id = munity_socket_get_user_id (socket);
  user = g_hash_table_lookup (self->users, &user_id);
  g_return_if_fail (user != NULL);
  g_signal_emit (self, signals[SIGNAL_SOCKET_CHANGED], 0, user, socket);
  refresh_status (self, user);
}

/**
 * munity_presence_lookup_user:
 * @self: the presence
 * @user_id: a user id
 *
 * Returns: (transfer none) (nullable): the user, if online
 */
MunityUser *
munity_presence_lookup_user (MunityPresence *self,
                             gint64          user_id)
{
  return g_hash_table_lookup (self->users, &user_id);
}

/**
 * munity_presence_list_users:
 * @self: the presence
 *
 * Returns: (transfer container) (element-type MunityUser): the online
 *   users, lingering ones included, in the order they came online
 */
GPtrArray *
munity_presence_list_users (MunityPresence *self)
{
  GPtrArray *users = g_ptr_array_new_full (self->order.length, g_object_unref);

  for (GList *l = self->order.head; l != NULL; l = l->next)
    g_ptr_array_add (users, g_object_ref (l->data));
  return users;
}

/**
 * munity_presence_peek_users:
 * @self: the presence
 *
 * The online users without a copy, for hot paths that only read.
 *
 * Returns: (transfer none) (element-type MunityUser): the first link of
 *   the users in join order; do not change the model while walking it
 */
GList *
munity_presence_peek_users (MunityPresence *self)
{
  return self->order.head;
}

/**
 * munity_presence_get_n_users:
 * @self: the presence
 *
 * Returns: how many users are online, lingering ones included
 */
guint
munity_presence_get_n_users (MunityPresence *self)
{
  return g_hash_table_size (self->users);
}

/**
 * munity_presence_get_n_sockets:
 * @self: the presence
 *
 * Returns: how many sockets are open
 */
guint
munity_presence_get_n_sockets (MunityPresence *self)
{
  return self->n_sockets;
}
