/* munity-last-seen.c — when users left, written to PostgreSQL in batches
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "munity-last-seen.h"

/* One statement for every user who left in a main-loop iteration, with
 * the database's clock (the nodes of a cluster share it). */
#define RECORD_SQL "UPDATE users SET last_seen = now() WHERE id = ANY ($1::bigint[])"

/**
 * MunityLastSeen:
 *
 * Stores when users leave (`users.last_seen`, doc/protocol.md §3), for
 * `GET /api/users/:id`. Each leave is recorded by one node of the
 * cluster: the one whose socket was the user's last, or that logged the
 * user out or disconnected them (munity_user_left_here()); the users of a
 * node that died are recorded by the node that declares it dead, in the
 * same statement (munity-cluster.c). Leaves are queued and written in one
 * `UPDATE … WHERE id = ANY($1)` per main-loop iteration, one statement at
 * a time; nothing waits for it. A write that fails (the database away) is
 * lost: last seen is a courtesy, not a record.
 */
struct _MunityLastSeen
{
  GObject    parent_instance;

  MunityDb  *db;           /* (owned) */
  GArray    *queued;       /* (owned) of gint64, user ids */
  guint      flush_id;
  gboolean   in_flight;
  GTask     *stop_task;    /* (owned) (nullable) done when the queue is written */
};

G_DEFINE_FINAL_TYPE (MunityLastSeen, munity_last_seen, G_TYPE_OBJECT)

static void flush (MunityLastSeen *self);

static void
munity_last_seen_dispose (GObject *object)
{
  MunityLastSeen *self = MUNITY_LAST_SEEN (object);

  g_clear_handle_id (&self->flush_id, g_source_remove);
  g_clear_object (&self->stop_task);
  g_clear_object (&self->db);

  G_OBJECT_CLASS (munity_last_seen_parent_class)->dispose (object);
}

static void
munity_last_seen_finalize (GObject *object)
{
  MunityLastSeen *self = MUNITY_LAST_SEEN (object);

  g_array_unref (self->queued);

  G_OBJECT_CLASS (munity_last_seen_parent_class)->finalize (object);
}

static void
munity_last_seen_class_init (MunityLastSeenClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = munity_last_seen_dispose;
  object_class->finalize = munity_last_seen_finalize;
}

static void
munity_last_seen_init (MunityLastSeen *self)
{
  self->queued = g_array_new (FALSE, FALSE, sizeof (gint64));
}

/**
 * munity_last_seen_new:
 * @db: the database
 *
 * Returns: (transfer full): a recorder with nothing queued
 */
MunityLastSeen *
munity_last_seen_new (MunityDb *db)
{
  MunityLastSeen *self = g_object_new (MUNITY_TYPE_LAST_SEEN, NULL);

  self->db = g_object_ref (db);
  return self;
}

static void
maybe_stopped (MunityLastSeen *self)
{
  if (self->stop_task != NULL && !self->in_flight && self->queued->len == 0)
    {
      g_autoptr(GTask) task = g_steal_pointer (&self->stop_task);
      g_task_return_boolean (task, TRUE);
    }
}

static void
recorded_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(MunityLastSeen) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PGresult) res = munity_db_query_finish (MUNITY_DB (source), result, &error);

  self->in_flight = FALSE;
  if (res == NULL)
    g_debug ("Cannot record when users left: %s", error->message);
  if (self->queued->len > 0)
    flush (self);
  maybe_stopped (self);
}

static void
flush (MunityLastSeen *self)
{
  g_autoptr(GString) array = g_string_new ("{");
  const char *params[1];

  if (self->in_flight || self->queued->len == 0)
    return;

  for (guint i = 0; i < self->queued->len; i++)
    g_string_append_printf (array, "%s%" G_GINT64_FORMAT, i > 0 ? "," : "",
                            g_array_index (self->queued, gint64, i));
  g_string_append_c (array, '}');
  g_array_set_size (self->queued, 0);
  params[0] = array->str;
  self->in_flight = TRUE;
  munity_db_query_async (self->db, RECORD_SQL, 1, params, NULL, recorded_cb, g_object_ref (self));
}

static gboolean
flush_cb (gpointer user_data)
{
  MunityLastSeen *self = user_data;

  self->flush_id = 0;
  flush (self);
  return G_SOURCE_REMOVE;
}

static void
queue (MunityLastSeen *self,
       gint64          user_id)
{
  g_array_append_val (self->queued, user_id);
  if (self->flush_id == 0)
    self->flush_id = g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, flush_cb, self, NULL);
}

/**
 * munity_last_seen_user_left:
 * @self: the recorder
 * @user: a user who left
 *
 * Queues the user's leave if this node is the one to record it
 * (munity_user_left_here()). For #MunityPresence::user-left.
 */
void
munity_last_seen_user_left (MunityLastSeen *self,
                            MunityUser     *user)
{
  g_return_if_fail (MUNITY_IS_LAST_SEEN (self));

  if (self->stop_task == NULL && munity_user_left_here (user))
    queue (self, munity_user_get_id (user));
}

/**
 * munity_last_seen_stop_async:
 * @self: the recorder
 * @presence: the model, after this node's sockets are closed
 * @callback: called when what is queued is written (or failed)
 * @user_data: data for @callback
 *
 * munityd stops: the users it would have recorded once their grace is
 * over — those whose last socket was one of its own, lingering now — are
 * recorded at once, best effort, with what is still queued. Users with a
 * socket on another node stay online there. Call it before the database
 * is closed; never fails, bounded by the query timeout.
 */
void
munity_last_seen_stop_async (MunityLastSeen      *self,
                             MunityPresence      *presence,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_return_if_fail (MUNITY_IS_LAST_SEEN (self));
  g_return_if_fail (self->stop_task == NULL);

  self->stop_task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (self->stop_task, munity_last_seen_stop_async);

  for (GList *l = munity_presence_peek_users (presence); l != NULL; l = l->next)
    {
      gint64 id = munity_user_get_id (l->data);

      if (munity_user_get_n_sockets (l->data) == 0 && munity_user_left_here (l->data))
        g_array_append_val (self->queued, id);
    }

  g_clear_handle_id (&self->flush_id, g_source_remove);
  flush (self);
  maybe_stopped (self);
}

/**
 * munity_last_seen_stop_finish:
 * @self: the recorder
 * @result: the result
 */
void
munity_last_seen_stop_finish (MunityLastSeen *self,
                              GAsyncResult   *result)
{
  g_return_if_fail (g_task_is_valid (result, self));

  g_task_propagate_boolean (G_TASK (result), NULL);
}
