/* munity-cluster.c — presence shared with the other nodes through PostgreSQL
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "munity-cluster.h"
#include "munity-error.h"

/* Heartbeats run this often; a node whose heartbeat is older than
 * DEAD_AFTER (the database's clock) is dead. Each heartbeat also says when
 * the oldest other heartbeat will be that old, and the reaper runs again
 * then (REAP_SLACK_MS later), so a dead node is declared dead within a few
 * milliseconds of DEAD_AFTER after its last heartbeat, not up to a
 * heartbeat later. */
#define HEARTBEAT_MS 1000
#define DEAD_AFTER "10 seconds"
#define REAP_SLACK_MS 20
/* PostgreSQL refuses payloads of 8000 bytes or more; leave room for the
 * header the statement puts in front. */
#define PAYLOAD_MAX 7900
#define RETRY_MS 500
/* A node reaps only once it has been listening this long (µs): after an
 * outage every node's heartbeat is old, and the first one back must not
 * declare the others dead before they could send one. */
#define REAP_AFTER_US ((gint64) 10 * G_USEC_PER_SEC)
#define SOCKET_ID_MAX 32
/* A `p` operation longer than this (a long bio) is not sent: the others
 * fetch that user, as they do for an older node's `+`. */
#define PROFILE_OP_MAX 640

/**
 * MunityCluster:
 *
 * One more input of the presence model: the sockets that the other nodes
 * using the same database hold. Nodes talk only through PostgreSQL:
 *
 * - `cluster_nodes` has a row per live node (name, boot id, a heartbeat
 *   from the database's clock, `seq`), `cluster_sockets` a row per socket
 *   of each node (socket id, user id, session, idle);
 * - each node writes its own rows and announces every change on the
 *   channel %MUNITY_CLUSTER_CHANNEL, and LISTENs there for the others.
 *
 * Notifications are text: a header line `KIND NODE [SEQ]`, then one
 * operation per line.
 *
 * - `o NODE SEQ`: operations of NODE, numbered: `seq` grows by one per
 *   notification of that node, so a receiver that sees a gap (or a node
 *   it knows nothing of) reads that node's rows and seq in one statement
 *   and diffs them into its model. Operations: `+ SOCKET USER SESSION`
 *   (a socket opened; SESSION `-` when none), `- SOCKET` (closed: the
 *   grace applies), `! SOCKET` (ended by logout or disconnect: no grace),
 *   `s SOCKET 0|1` (the socket became online or idle, `setStatus`; also
 *   sent after a `+` of an idle socket), `p USER VERSION FIRST LAST IMAGE
 *   BIO` (the details of a user whose first socket follows: the others
 *   need not fetch them; each field `=` and URI-escaped, IMAGE `-` when
 *   none; left out when long), `u USER` (the user's profile
 *   changed: fetch it), `c NODE SOCKET CODE`
 *   (close that node's socket with CODE: a logout or a disconnect made
 *   on the sender).
 * - `r NODE SEQ`: NODE republished all its rows (after a database outage):
 *   resynchronise it. `h NODE SEQ` the same for a node that (re)started
 *   under its name: what its previous life left goes without grace.
 * - `b NODE`: NODE stopped (SIGTERM): its sockets go with the grace, so a
 *   browser reconnecting elsewhere causes no userLeft.
 * - `d NODE`: NODE's heartbeat was too old; whoever deleted its row said
 *   so (a conditional DELETE, so exactly once): its sockets go at once.
 *
 * Local changes are queued and published once per main-loop iteration in
 * one statement (rows, seq and NOTIFY together), one statement at a time.
 * Remote operations go through a FIFO whose head waits while a user's
 * details are fetched (batched, `WHERE id = ANY($1)`) when no `p` brought
 * them, so the model sees them in order and the guarantee of
 * doc/protocol.md §3 holds everywhere.
 *
 * When the LISTEN connection comes back after an outage (notifications
 * may be lost), the node registers again if it was declared dead,
 * republishes its rows and resynchronises every other node.
 */

/* ---- SQL --------------------------------------------------------------- */

/* A user starts to linger anew: a later end wins over an earlier one. */
#define LINGER_UPSERT \
  " ON CONFLICT (user_id) DO UPDATE SET since = EXCLUDED.since," \
  "   until = GREATEST (cluster_lingering.until, EXCLUDED.until)"

/* $1 name, $2 boot id, $3 socket ids, $4 user ids, $5 sessions, $6 idle
 * flags (t or f) (space separated): registers (or re-registers) the node
 * and replaces its rows. */
#define SYNC_SQL \
  "WITH old AS (SELECT boot_id FROM cluster_nodes WHERE name = $1)," \
  " n AS (INSERT INTO cluster_nodes (name, boot_id, started, heartbeat) VALUES ($1, $2, now(), now())" \
  "       ON CONFLICT (name) DO UPDATE SET boot_id = EXCLUDED.boot_id, heartbeat = now()," \
  "         seq = cluster_nodes.seq + 1," \
  "         started = CASE WHEN cluster_nodes.boot_id = EXCLUDED.boot_id" \
  "                        THEN cluster_nodes.started ELSE now() END" \
  "       RETURNING id, seq)," \
  " del AS (DELETE FROM cluster_sockets s USING n" \
  "         WHERE s.node_id = n.id AND s.socket_id <> ALL (string_to_array($3, ' ')))," \
  " ins AS (INSERT INTO cluster_sockets (node_id, socket_id, user_id, session, idle)" \
  "         SELECT n.id, t.s, t.u::bigint, t.x, t.i::boolean FROM n," \
  "           unnest (string_to_array($3, ' '), string_to_array($4, ' '), string_to_array($5, ' ')," \
  "                   string_to_array($6, ' ')) AS t (s, u, x, i)" \
  "         ON CONFLICT (node_id, socket_id) DO UPDATE SET idle = EXCLUDED.idle)" \
  " SELECT n.id, n.seq, pg_notify ('" MUNITY_CLUSTER_CHANNEL "'," \
  "   CASE WHEN (SELECT boot_id FROM old) IS DISTINCT FROM $2 THEN 'h ' ELSE 'r ' END || n.id || ' ' || n.seq)" \
  " FROM n"

/* $1 node id, $2 removed socket ids, $3-$5 and $7 added sockets (ids,
 * users, sessions, idle flags), $6 the notification's operations, $8 and
 * $9 the sockets, already stored, that became idle and online, $10 the
 * users whose last socket in the cluster closed here and who linger for
 * $11 ms (cluster_lingering; a user with a new socket is taken out of it).
 * No row: the node is not registered. */
#define PUBLISH_SQL \
  "WITH n AS (UPDATE cluster_nodes SET seq = seq + 1 WHERE id = $1 RETURNING id, seq)," \
  " del AS (DELETE FROM cluster_sockets s USING n" \
  "         WHERE s.node_id = n.id AND s.socket_id = ANY (string_to_array($2, ' ')))," \
  " ins AS (INSERT INTO cluster_sockets (node_id, socket_id, user_id, session, idle)" \
  "         SELECT n.id, t.s, t.u::bigint, t.x, t.i::boolean FROM n," \
  "           unnest (string_to_array($3, ' '), string_to_array($4, ' '), string_to_array($5, ' ')," \
  "                   string_to_array($7, ' ')) AS t (s, u, x, i)" \
  "         ON CONFLICT DO NOTHING)," \
  " st AS (UPDATE cluster_sockets s SET idle = s.socket_id = ANY (string_to_array($8, ' ')) FROM n" \
  "        WHERE s.node_id = n.id AND s.socket_id = ANY (string_to_array($8 || ' ' || $9, ' ')))," \
  " back AS (DELETE FROM cluster_lingering l USING n" \
  "          WHERE l.user_id = ANY (string_to_array($4, ' ')::bigint[]))," \
  " lin AS (INSERT INTO cluster_lingering (user_id, until)" \
  "         SELECT DISTINCT t.u::bigint, now () + $11::bigint * interval '1 millisecond' FROM n," \
  "           unnest (string_to_array($10, ' ')) AS t (u)" \
  "         WHERE t.u <> ALL (string_to_array($4, ' '))" \
  LINGER_UPSERT ")" \
  " SELECT n.seq, pg_notify ('" MUNITY_CLUSTER_CHANNEL "', 'o ' || n.id || ' ' || n.seq || E'\\n' || $6)" \
  " FROM n"

/* $1 own node id, $2 one node's id or 0 for all: every row at one
 * snapshot, with each node's seq. */
#define RESYNC_SQL \
  "SELECT n.id, n.seq, s.socket_id, s.user_id, s.session, s.idle" \
  " FROM cluster_nodes n LEFT JOIN cluster_sockets s ON s.node_id = n.id" \
  " WHERE n.id <> $1 AND ($2::bigint = 0 OR n.id = $2::bigint)"

/* $1 own node id, $2 whether to reap: heartbeat, then the reaper; the
 * third column is how many milliseconds remain until the oldest heartbeat
 * of a node left alive is DEAD_AFTER old (NULL: no other node). The
 * reaper also records when the dead nodes' users left (those with no
 * socket on a live node): it is the one node that deletes the row, so
 * each leave is written once (doc/protocol.md §3, last seen). The CTEs
 * see cluster_sockets as it was before the cascade. */
#define HEARTBEAT_SQL \
  "WITH hb AS (UPDATE cluster_nodes SET heartbeat = now() WHERE id = $1 RETURNING id)," \
  " dead AS (DELETE FROM cluster_nodes" \
  "          WHERE $2::boolean AND heartbeat < now() - interval '" DEAD_AFTER "' AND id <> $1 RETURNING id)," \
  " seen AS (UPDATE users u SET last_seen = now()" \
  "          WHERE u.id IN (SELECT s.user_id FROM cluster_sockets s JOIN dead ON s.node_id = dead.id)" \
  "            AND NOT EXISTS (SELECT 1 FROM cluster_sockets o" \
  "                            WHERE o.user_id = u.id AND o.node_id NOT IN (SELECT id FROM dead)))," \
  " told AS (SELECT pg_notify ('" MUNITY_CLUSTER_CHANNEL "', 'd ' || id) FROM dead)," \
  " past AS (DELETE FROM cluster_lingering WHERE $2::boolean AND until < now ())" \
  " SELECT (SELECT count(*) FROM hb), (SELECT count(*) FROM told)," \
  "  (SELECT ceil (extract (epoch FROM min (heartbeat) + interval '" DEAD_AFTER "' - now ()) * 1000)::bigint" \
  "   FROM cluster_nodes WHERE id <> $1 AND id NOT IN (SELECT id FROM dead))"

/* The node list for the operators (munity_cluster_list_nodes()). */
#define NODES_SQL \
  "SELECT id, name, (extract (epoch FROM heartbeat) * 1000000)::bigint FROM cluster_nodes"

/* $1 node id, $2 the grace in ms: the node's rows go; the users of those
 * not yet unpublished who have no socket on another node linger. */
#define BYE_SQL \
  "WITH lin AS (INSERT INTO cluster_lingering (user_id, until)" \
  "             SELECT DISTINCT s.user_id, now () + $2::bigint * interval '1 millisecond'" \
  "             FROM cluster_sockets s WHERE s.node_id = $1 AND $2::bigint > 0" \
  "               AND NOT EXISTS (SELECT 1 FROM cluster_sockets o WHERE o.user_id = s.user_id AND o.node_id <> $1)" \
  LINGER_UPSERT ")," \
  " d AS (DELETE FROM cluster_nodes WHERE id = $1 RETURNING id)" \
  " SELECT pg_notify ('" MUNITY_CLUSTER_CHANNEL "', 'b ' || id) FROM d"

/* $1 own node id: users lingering with no socket anywhere, and the ms of
 * grace they have left — those a node that was up when they began to
 * linger (and so holds them) still knows. */
#define LINGERING_SQL \
  "SELECT l.user_id, ceil (extract (epoch FROM l.until - now ()) * 1000)::bigint" \
  " FROM cluster_lingering l WHERE l.until > now ()" \
  "  AND EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.id <> $1 AND n.started <= l.since)"

/* ---- types ------------------------------------------------------------- */

/* A row of cluster_nodes as last read (names and heartbeats; the socket
 * counts come from memory). */
typedef struct {
  gint64  id;
  char   *name;      /* (owned) */
  gint64  heartbeat; /* µs since the epoch */
} NodeRow;

/* A change of this node, waiting to be published. */
typedef struct {
  char          kind;       /* '+', '-', '!', 's', 'u', 'c' */
  MunitySocket *socket;     /* (owned) (nullable) '+', '-', '!', 's' */
  gboolean      idle;       /* 's' */
  gint64        lingers;    /* '-': the user, whose last socket this was, or 0 */
  gint64        user_id;    /* 'u' */
  gint64        node_id;    /* 'c' */
  char         *socket_id;  /* (owned) (nullable) 'c' */
  guint         code;       /* 'c' */
} OutOp;

/* A notification of another node, held while that node resynchronises. */
typedef struct {
  char    kind;
  gint64  node_id;
  gint64  seq;
  char   *body;             /* (owned) the operations */
} Note;

/* What this node knows of another. */
typedef struct {
  gint64      id;
  gint64      seq;          /* of the last notification applied */
  guint       sync_req;     /* the resync it waits for; 0: in step */
  gboolean    restarted;    /* 'h': sockets gone at the resync go at once */
  GHashTable *sockets;      /* (owned) id (unowned) → MunitySocket (owned): as it will be */
  GQueue      held;         /* (owned) of Note, in arrival order */
} Node;

typedef enum {
  ENTRY_ADD,
  ENTRY_REMOVE,
  ENTRY_DROP,
  ENTRY_UPDATE,
  ENTRY_CLOSE,
  ENTRY_STATUS,
  ENTRY_LINGER,
} EntryKind;

/* One change for the model, in the FIFO. */
typedef struct {
  EntryKind       kind;
  MunitySocket   *socket;     /* (owned) (nullable) add, remove, drop, status */
  MunityUserInfo *info;       /* (owned) (nullable) add: known when queued */
  gint64          user_id;    /* add, update */
  guint           fetch_gen;  /* the fetch it waits for; 0: none */
  char           *socket_id;  /* (owned) (nullable) close */
  guint           code;       /* close */
  gboolean        idle;       /* status */
  guint           remaining_ms; /* linger: as read */
  gint64          queued_us;    /* linger: when read (monotonic) */
} Entry;

struct _MunityCluster
{
  GObject          parent_instance;

  MunityDb        *db;          /* (owned) */
  MunityPresence  *presence;    /* (owned) */
  MunityAccounts  *accounts;    /* (owned) */
  char            *name;        /* (owned) */
  char            *boot_id;     /* (owned) */
  gint64           node_id;     /* 0 until registered */

  gboolean         started;
  gboolean         stopping;
  gboolean         need_sync;   /* register and republish when listening */
  gboolean         sync_in_flight;
  gboolean         publish_in_flight;
  gboolean         heartbeat_in_flight;
  gboolean         lingering_in_flight;
  guint            full_req;    /* the full resync in flight, or 0 */
  guint            next_req;

  /* publishing */
  GHashTable      *local;       /* id (unowned) → MunitySocket (owned) */
  GQueue           out;         /* (owned) of OutOp */
  GHashTable      *unsent_adds; /* MunitySocket (unowned) → its GList link in out */
  guint            flush_id;

  /* receiving */
  GQueue           early;       /* (owned) of Note: arrived before we knew our id */
  GHashTable      *nodes;       /* id (in Node) → Node (owned) */
  GQueue           fifo;        /* (owned) of Entry */
  GHashTable      *wanted;      /* user ids (owned gint64 *) to fetch */
  GHashTable      *fetching;    /* (nullable) the same, of the fetch in flight */
  GHashTable      *cache;       /* id (in info) → MunityUserInfo (owned), fetched */
  guint            fetch_next_gen;
  guint            fetch_done_gen;
  gboolean         fetch_in_flight;
  gboolean         draining;

  guint            heartbeat_id;
  guint            reap_id;     /* the reaper's run when a heartbeat grows old */
  GArray          *node_rows;   /* (owned) of NodeRow: cluster_nodes as last read */
  gboolean         nodes_in_flight;
  gboolean         nodes_again; /* read them again when the answer comes */
  gint64           listening_since; /* monotonic µs; 0 while not listening */
  guint            retry_id;
  GTask           *stop_task;   /* (owned) (nullable) */
};

G_DEFINE_FINAL_TYPE (MunityCluster, munity_cluster, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_N_NODES,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

enum {
  SIGNAL_NODES_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void schedule_flush (MunityCluster *self);
static void maybe_sync (MunityCluster *self);
static void drain (MunityCluster *self);
static void node_resync (MunityCluster *self, Node *node);
static void handle_note (MunityCluster *self, Note *note);
static void nodes_refresh (MunityCluster *self);
static gboolean reap_timer_cb (gpointer user_data);

static void
out_op_free (OutOp *op)
{
  g_clear_object (&op->socket);
  g_free (op->socket_id);
  g_free (op);
}

static void
note_free (Note *note)
{
  g_free (note->body);
  g_free (note);
}

static void
node_free (Node *node)
{
  g_hash_table_unref (node->sockets);
  g_queue_clear_full (&node->held, (GDestroyNotify) note_free);
  g_free (node);
}

static void
node_row_clear (NodeRow *row)
{
  g_free (row->name);
}

/**
 * munity_cluster_node_free:
 * @node: (transfer full): a node of munity_cluster_list_nodes()
 */
void
munity_cluster_node_free (MunityClusterNode *node)
{
  g_free (node->name);
  g_free (node);
}

static void
entry_free (Entry *entry)
{
  g_clear_object (&entry->socket);
  g_clear_pointer (&entry->info, munity_user_info_unref);
  g_free (entry->socket_id);
  g_free (entry);
}

static gboolean
is_cancelled (GError *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* ---- GObject ----------------------------------------------------------- */

static void
munity_cluster_dispose (GObject *object)
{
  MunityCluster *self = MUNITY_CLUSTER (object);

  g_clear_handle_id (&self->flush_id, g_source_remove);
  g_clear_handle_id (&self->heartbeat_id, g_source_remove);
  g_clear_handle_id (&self->reap_id, g_source_remove);
  g_clear_handle_id (&self->retry_id, g_source_remove);
  if (self->db != NULL)
    g_signal_handlers_disconnect_by_data (self->db, self);
  g_queue_clear_full (&self->out, (GDestroyNotify) out_op_free);
  g_queue_clear_full (&self->early, (GDestroyNotify) note_free);
  g_queue_clear_full (&self->fifo, (GDestroyNotify) entry_free);
  g_clear_pointer (&self->unsent_adds, g_hash_table_unref);
  g_clear_pointer (&self->local, g_hash_table_unref);
  g_clear_pointer (&self->nodes, g_hash_table_unref);
  g_clear_pointer (&self->wanted, g_hash_table_unref);
  g_clear_pointer (&self->fetching, g_hash_table_unref);
  g_clear_pointer (&self->cache, g_hash_table_unref);
  g_clear_pointer (&self->node_rows, g_array_unref);
  g_clear_object (&self->stop_task);
  g_clear_object (&self->accounts);
  g_clear_object (&self->presence);
  g_clear_object (&self->db);

  G_OBJECT_CLASS (munity_cluster_parent_class)->dispose (object);
}

static void
munity_cluster_finalize (GObject *object)
{
  MunityCluster *self = MUNITY_CLUSTER (object);

  g_free (self->name);
  g_free (self->boot_id);

  G_OBJECT_CLASS (munity_cluster_parent_class)->finalize (object);
}

static void
munity_cluster_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  MunityCluster *self = MUNITY_CLUSTER (object);

  switch (prop_id)
    {
    case PROP_N_NODES:
      g_value_set_uint (value, munity_cluster_get_n_nodes (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
munity_cluster_class_init (MunityClusterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = munity_cluster_dispose;
  object_class->finalize = munity_cluster_finalize;
  object_class->get_property = munity_cluster_get_property;

  /**
   * MunityCluster:n-nodes:
   *
   * How many nodes the cluster has as this node knows it, itself included.
   */
  props[PROP_N_NODES] = g_param_spec_uint ("n-nodes", NULL, NULL, 0, G_MAXUINT, 1,
                                           G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, props);

  /**
   * MunityCluster::nodes-changed:
   * @self: the cluster
   *
   * The node list was read again from the database (with each heartbeat,
   * and when a node comes or goes): munity_cluster_list_nodes() may say
   * something new.
   */
  signals[SIGNAL_NODES_CHANGED] = g_signal_new ("nodes-changed", G_TYPE_FROM_CLASS (klass),
                                                G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                G_TYPE_NONE, 0);
}

static void
munity_cluster_init (MunityCluster *self)
{
  self->local = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_object_unref);
  self->unsent_adds = g_hash_table_new (NULL, NULL);
  self->nodes = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify) node_free);
  self->wanted = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  self->cache = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify) munity_user_info_unref);
  self->node_rows = g_array_new (FALSE, TRUE, sizeof (NodeRow));
  g_array_set_clear_func (self->node_rows, (GDestroyNotify) node_row_clear);
  g_queue_init (&self->out);
  g_queue_init (&self->early);
  g_queue_init (&self->fifo);
  self->fetch_next_gen = 1;
  self->next_req = 1;
}

/**
 * munity_cluster_new:
 * @db: the database the nodes share
 * @presence: the model the other nodes' sockets go to
 * @accounts: where the details of their users come from
 * @node_name: this node's name, unique in the cluster
 *
 * Returns: (transfer full): the cluster as this node takes part in it,
 *   not started
 */
MunityCluster *
munity_cluster_new (MunityDb       *db,
                    MunityPresence *presence,
                    MunityAccounts *accounts,
                    const char     *node_name)
{
  MunityCluster *self = g_object_new (MUNITY_TYPE_CLUSTER, NULL);

  self->db = g_object_ref (db);
  self->presence = g_object_ref (presence);
  self->accounts = g_object_ref (accounts);
  self->name = g_strdup (node_name);
  self->boot_id = g_strdup_printf ("%08x%08x%08x%08x", g_random_int (), g_random_int (),
                                   g_random_int (), g_random_int ());
  return self;
}

/**
 * munity_cluster_get_node_id:
 * @self: the cluster
 *
 * Returns: this node's id in `cluster_nodes`, 0 until registered
 */
gint64
munity_cluster_get_node_id (MunityCluster *self)
{
  return self->node_id;
}

/**
 * munity_cluster_get_name:
 * @self: the cluster
 *
 * Returns: this node's name (for `/healthz` and the logs)
 */
const char *
munity_cluster_get_name (MunityCluster *self)
{
  return self->name;
}

/**
 * munity_cluster_get_n_nodes:
 * @self: the cluster
 *
 * Returns: how many nodes this node knows of, itself included
 */
guint
munity_cluster_get_n_nodes (MunityCluster *self)
{
  return g_hash_table_size (self->nodes) + 1;
}

static gint
compare_node_names (gconstpointer a,
                    gconstpointer b)
{
  const MunityClusterNode *x = *(const MunityClusterNode * const *) a;
  const MunityClusterNode *y = *(const MunityClusterNode * const *) b;

  return strcmp (x->name, y->name);
}

/**
 * munity_cluster_list_nodes:
 * @self: the cluster
 *
 * The nodes of the cluster as this node knows them: itself, and every
 * other node it has merged into its model. Names and heartbeats are as
 * read with the last heartbeat (every second, and whenever a node comes or
 * goes); the socket counts are those of the model right now, so that
 * they add up to #MunityPresence:n-sockets.
 *
 * Returns: (transfer container) (element-type MunityClusterNode): the
 *   nodes, sorted by name
 */
GPtrArray *
munity_cluster_list_nodes (MunityCluster *self)
{
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) munity_cluster_node_free);
  MunityClusterNode *own = g_new0 (MunityClusterNode, 1);

  g_return_val_if_fail (MUNITY_IS_CLUSTER (self), list);

  own->name = g_strdup (self->name);
  own->n_sockets = g_hash_table_size (self->local);
  own->is_self = TRUE;
  g_ptr_array_add (list, own);

  for (guint i = 0; i < self->node_rows->len; i++)
    {
      NodeRow *row = &g_array_index (self->node_rows, NodeRow, i);
      Node *node = g_hash_table_lookup (self->nodes, &row->id);
      MunityClusterNode *item;

      if (self->node_id != 0 && row->id == self->node_id)
        {
          own->heartbeat = row->heartbeat;
          continue;
        }
      if (node == NULL)
        continue;  /* not (or no longer) merged into the model */

      item = g_new0 (MunityClusterNode, 1);
      item->name = g_strdup (row->name);
      item->n_sockets = g_hash_table_size (node->sockets);
      item->heartbeat = row->heartbeat;
      g_ptr_array_add (list, item);
    }
  g_ptr_array_sort (list, compare_node_names);

  return list;
}

static void
notify_n_nodes (MunityCluster *self,
                guint          before)
{
  if (munity_cluster_get_n_nodes (self) != before)
    {
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_N_NODES]);
      nodes_refresh (self);
    }
}

static void
schedule_retry (MunityCluster *self);

/* ---- statements -------------------------------------------------------- */

/* What to do with the answer to one of our statements: @res is NULL when
 * it failed (@error says why). Not called once stopping or cancelled. */
typedef void (*AnswerFunc) (MunityCluster *self,
                            PGresult      *res,
                            const GError  *error,
                            gpointer       data);

typedef struct {
  MunityCluster *self;       /* (owned) */
  AnswerFunc     func;
  gboolean      *in_flight;  /* (nullable) cleared on the answer */
  gpointer       data;       /* (owned) (nullable) */
} Statement;

static void
statement_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Statement *st = user_data;
  g_autoptr(MunityCluster) self = st->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(PGresult) res = munity_db_query_finish (MUNITY_DB (source), result, &error);

  if (st->in_flight != NULL)
    *st->in_flight = FALSE;
  if (!self->stopping && !is_cancelled (error))
    st->func (self, res, error, st->data);
  g_free (st->data);
  g_free (st);
}

/* Sends @sql; @in_flight (if any) is TRUE until the answer. @data is
 * g_free()d after it. */
static void
statement_send (MunityCluster      *self,
                const char         *sql,
                int                 n_params,
                const char * const *params,
                gboolean           *in_flight,
                AnswerFunc          func,
                gpointer            data)
{
  Statement *st = g_new (Statement, 1);

  *st = (Statement) { g_object_ref (self), func, in_flight, data };
  if (in_flight != NULL)
    *in_flight = TRUE;
  munity_db_query_async (self->db, sql, n_params, params, NULL, statement_cb, st);
}

static char *
id_text (gint64 id)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT, id);
}

/* ---- publishing: this node's changes ----------------------------------- */

static OutOp *
out_op_new (char          kind,
            MunitySocket *socket)
{
  OutOp *op = g_new0 (OutOp, 1);

  op->kind = kind;
  op->socket = socket != NULL ? g_object_ref (socket) : NULL;
  return op;
}

static void
out_push (MunityCluster *self,
          OutOp         *op)
{
  g_queue_push_tail (&self->out, op);
  schedule_flush (self);
}

/**
 * munity_cluster_socket_added:
 * @self: the cluster
 * @user: the socket's user
 * @socket: the socket
 *
 * The model's #MunityPresence::socket-added: a socket of this node is
 * published; those of other nodes are not ours to publish.
 */
void
munity_cluster_socket_added (MunityCluster *self,
                             MunityUser    *user,
                             MunitySocket  *socket)
{
  if (munity_socket_get_node_id (socket) != 0 || self->stopping)
    return;

  g_hash_table_replace (self->local, (gpointer) munity_socket_get_id (socket), g_object_ref (socket));
  out_push (self, out_op_new ('+', socket));
  g_hash_table_insert (self->unsent_adds, socket, g_queue_peek_tail_link (&self->out));
}

/* A socket of another node that the model ended with a close code (a
 * logout or a disconnect made here): the node that holds it closes it. A
 * signal handler per remote socket would do the same for ~370 bytes more
 * per socket (the closure, its notifiers, a weak reference). */
static void
remote_socket_ended (MunityCluster *self,
                     MunitySocket  *socket)
{
  OutOp *op;

  if (self->stopping || !munity_socket_get_ended (socket) || munity_socket_get_close_code (socket) == 0)
    return;
  op = out_op_new ('c', NULL);
  op->node_id = munity_socket_get_node_id (socket);
  op->socket_id = g_strdup (munity_socket_get_id (socket));
  op->code = munity_socket_get_close_code (socket);
  out_push (self, op);
}

/**
 * munity_cluster_socket_removed:
 * @self: the cluster
 * @user: the socket's user
 * @socket: the socket
 *
 * The model's #MunityPresence::socket-removed: a socket of this node is
 * unpublished; one of another node that the model ended (logout,
 * disconnect) is closed by that node.
 */
void
munity_cluster_socket_removed (MunityCluster *self,
                               MunityUser    *user,
                               MunitySocket  *socket)
{
  GList *unsent;

  if (munity_socket_get_node_id (socket) != 0)
    {
      remote_socket_ended (self, socket);
      return;
    }

  g_hash_table_remove (self->local, munity_socket_get_id (socket));
  if (self->stopping)
    return;

  /* Opened and closed within one iteration: the others never hear of it. */
  unsent = g_hash_table_lookup (self->unsent_adds, socket);
  if (unsent != NULL)
    {
      g_hash_table_remove (self->unsent_adds, socket);
      out_op_free (unsent->data);
      g_queue_delete_link (&self->out, unsent);
      return;
    }

  {
    OutOp *op = out_op_new (munity_socket_get_ended (socket) ? '!' : '-', socket);

    /* The user's last socket in the cluster, as this node knows: they
     * linger, and a node that starts meanwhile must know it. */
    if (op->kind == '-' && munity_user_get_n_sockets (user) == 0 &&
        munity_presence_get_leave_grace_ms (self->presence) > 0)
      op->lingers = munity_user_get_id (user);
    out_push (self, op);
  }
}

/**
 * munity_cluster_user_changed:
 * @self: the cluster
 * @info: the user's details as now stored
 *
 * #MunityAccounts::user-changed on this node: the other nodes are told to
 * fetch the user again.
 */
void
munity_cluster_user_changed (MunityCluster  *self,
                             MunityUserInfo *info)
{
  OutOp *op;

  if (self->stopping)
    return;
  op = out_op_new ('u', NULL);
  op->user_id = info->id;
  out_push (self, op);
}

/**
 * munity_cluster_socket_changed:
 * @self: the cluster
 * @user: the socket's user
 * @socket: the socket
 *
 * The model's #MunityPresence::socket-changed: the new status of a socket
 * of this node is published (`s`), so that every node shows the user's
 * status for the whole cluster.
 */
void
munity_cluster_socket_changed (MunityCluster *self,
                               MunityUser    *user,
                               MunitySocket  *socket)
{
  OutOp *op;

  if (munity_socket_get_node_id (socket) != 0 || self->stopping)
    return;
  op = out_op_new ('s', socket);
  op->idle = munity_socket_get_idle (socket);
  out_push (self, op);
}

/* One field of a `p` operation: never empty, no space, no newline. */
static void
append_field (GString    *line,
              const char *text)
{
  g_autofree char *escaped = g_uri_escape_string (text, "/:@", TRUE);

  g_string_append (line, " =");
  g_string_append (line, escaped);
}

/* `p` for the user of a socket being published, when it is their only
 * socket in the cluster (with more, the others have the user already) and
 * the line is short; else NULL. */
static char *
profile_op (MunityCluster *self,
            MunitySocket  *socket)
{
  MunityUser *user = munity_presence_lookup_user (self->presence, munity_socket_get_user_id (socket));
  MunityUserInfo *info;
  GString *line;

  if (user == NULL || munity_user_get_n_sockets (user) != 1)
    return NULL;
  info = munity_user_get_info (user);
  line = g_string_new (NULL);
  g_string_printf (line, "p %" G_GINT64_FORMAT " %" G_GINT64_FORMAT, info->id, info->version);
  append_field (line, info->first);
  append_field (line, info->last);
  if (info->image_url != NULL)
    append_field (line, info->image_url);
  else
    g_string_append (line, " -");
  append_field (line, info->bio != NULL ? info->bio : "");
  if (line->len > PROFILE_OP_MAX)
    {
      g_string_free (line, TRUE);
      return NULL;
    }
  return g_string_free (line, FALSE);
}

static const char *
session_or_dash (MunitySocket *socket)
{
  const char *session = munity_socket_get_session (socket);

  return session != NULL && *session != '\0' ? session : "-";
}

static void
append_word (GString    *list,
             const char *word)
{
  if (list->len > 0)
    g_string_append_c (list, ' ');
  g_string_append (list, word);
}

static void
published (MunityCluster *self,
           PGresult      *res,
           const GError  *error,
           gpointer       data)
{
  if (res == NULL)
    {
      /* What was lost is republished whole once the database is back. */
      g_debug ("Cannot publish to the cluster: %s", error->message);
      self->need_sync = TRUE;
      maybe_sync (self);
      return;
    }

  if (PQntuples (res) == 0)
    {
      g_message ("This node was declared dead; registering again");
      self->need_sync = TRUE;
      maybe_sync (self);
      return;
    }

  if (!g_queue_is_empty (&self->out))
    schedule_flush (self);
}

/* Sends what is queued: one statement, one notification, at most
 * PAYLOAD_MAX bytes of operations; the rest goes when it is done. */
static gboolean
flush_cb (gpointer user_data)
{
  MunityCluster *self = user_data;
  g_autoptr(GString) dels = g_string_new (NULL);
  g_autoptr(GString) add_ids = g_string_new (NULL);
  g_autoptr(GString) add_users = g_string_new (NULL);
  g_autoptr(GString) add_sessions = g_string_new (NULL);
  g_autoptr(GString) add_idle = g_string_new (NULL);
  g_autoptr(GString) set_idle = g_string_new (NULL);
  g_autoptr(GString) set_online = g_string_new (NULL);
  g_autoptr(GString) lingering = g_string_new (NULL);
  g_autoptr(GString) body = g_string_new (NULL);
  g_autofree char *node = NULL;
  g_autofree char *grace = NULL;
  const char *params[11];
  OutOp *op;

  self->flush_id = 0;
  if (self->stopping || self->node_id == 0 || self->need_sync || self->sync_in_flight ||
      self->publish_in_flight)
    return G_SOURCE_REMOVE;

  while ((op = g_queue_peek_head (&self->out)) != NULL)
    {
      g_autofree char *line = NULL;
      const char *id = op->socket != NULL ? munity_socket_get_id (op->socket) : NULL;
      g_autofree char *user = NULL;

      switch (op->kind)
        {
        case '+':
          {
            g_autofree char *profile = profile_op (self, op->socket);

            user = g_strdup_printf ("%" G_GINT64_FORMAT, munity_socket_get_user_id (op->socket));
            /* Four words, as nodes without status read them; the details
             * come before, the status after, as operations of their own. */
            line = g_strdup_printf (munity_socket_get_idle (op->socket) ? "%s%s+ %s %s %s\ns %s 1" : "%s%s+ %s %s %s",
                                    profile != NULL ? profile : "", profile != NULL ? "\n" : "",
                                    id, user, session_or_dash (op->socket), id);
          }
          break;
        case 's':
          line = g_strdup_printf ("s %s %d", id, op->idle ? 1 : 0);
          break;
        case '-':
        case '!':
          line = g_strdup_printf ("%c %s", op->kind, id);
          break;
        case 'u':
          line = g_strdup_printf ("u %" G_GINT64_FORMAT, op->user_id);
          break;
        case 'c':
        default:
          line = g_strdup_printf ("c %" G_GINT64_FORMAT " %s %u", op->node_id, op->socket_id, op->code);
          break;
        }

      if (body->len > 0 && body->len + 1 + strlen (line) > PAYLOAD_MAX)
        break;
      if (body->len > 0)
        g_string_append_c (body, '\n');
      g_string_append (body, line);

      if (op->kind == '+')
        {
          append_word (add_ids, id);
          append_word (add_users, user);
          append_word (add_sessions, session_or_dash (op->socket));
          append_word (add_idle, munity_socket_get_idle (op->socket) ? "t" : "f");
          g_hash_table_remove (self->unsent_adds, op->socket);
        }
      else if (op->kind == 's')
        append_word (op->idle ? set_idle : set_online, id);
      else if (op->kind == '-' || op->kind == '!')
        {
          append_word (dels, id);
          if (op->lingers != 0)
            {
              g_autofree char *u = g_strdup_printf ("%" G_GINT64_FORMAT, op->lingers);

              append_word (lingering, u);
            }
        }

      out_op_free (g_queue_pop_head (&self->out));
    }

  if (body->len == 0)
    return G_SOURCE_REMOVE;

  node = id_text (self->node_id);
  params[0] = node;
  params[1] = dels->str;
  params[2] = add_ids->str;
  params[3] = add_users->str;
  params[4] = add_sessions->str;
  params[5] = body->str;
  params[6] = add_idle->str;
  params[7] = set_idle->str;
  params[8] = set_online->str;
  grace = g_strdup_printf ("%u", munity_presence_get_leave_grace_ms (self->presence));
  params[9] = lingering->str;
  params[10] = grace;
  statement_send (self, PUBLISH_SQL, 11, params, &self->publish_in_flight, published, NULL);
  return G_SOURCE_REMOVE;
}

/* Once per main-loop iteration at most, however many sockets changed, and
 * after the sockets' own I/O: in a join storm the batches grow and the
 * session lookups keep the database pool (measured: a 1,000-socket storm
 * as fast as without the cluster; at default priority ~10% slower). */
static void
schedule_flush (MunityCluster *self)
{
  if (self->flush_id == 0 && !self->stopping)
    self->flush_id = g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, flush_cb, self, NULL);
}

/* ---- the FIFO into the model ------------------------------------------- */

static void
fifo_push (MunityCluster *self,
           Entry         *entry)
{
  g_queue_push_tail (&self->fifo, entry);
}

/* The entry will wait for a fetch of the user's details. */
static void
want_user (MunityCluster *self,
           Entry         *entry)
{
  gint64 *id = g_new (gint64, 1);

  *id = entry->user_id;
  g_hash_table_add (self->wanted, id);
  entry->fetch_gen = self->fetch_next_gen;
}

static void
push_add (MunityCluster *self,
          MunitySocket  *socket)
{
  Entry *entry = g_new0 (Entry, 1);
  gint64 user_id = munity_socket_get_user_id (socket);
  MunityUser *user = munity_presence_lookup_user (self->presence, user_id);
  MunityUserInfo *cached = g_hash_table_lookup (self->cache, &user_id);

  entry->kind = ENTRY_ADD;
  entry->socket = g_object_ref (socket);
  entry->user_id = user_id;
  if (user != NULL)
    entry->info = munity_user_info_ref (munity_user_get_info (user));
  else if (cached != NULL)
    entry->info = munity_user_info_ref (cached);
  else
    want_user (self, entry);
  fifo_push (self, entry);
}

static void
push_remove (MunityCluster *self,
             MunitySocket  *socket,
             gboolean       at_once)
{
  Entry *entry = g_new0 (Entry, 1);

  entry->kind = at_once ? ENTRY_DROP : ENTRY_REMOVE;
  entry->socket = g_object_ref (socket);
  fifo_push (self, entry);
}

static void
fetch_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(MunityCluster) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) users = munity_accounts_get_users_finish (MUNITY_ACCOUNTS (source), result, &error);
  guint gen = self->fetch_next_gen - 1;
  g_autoptr(GHashTable) fetching = g_steal_pointer (&self->fetching);

  self->fetch_in_flight = FALSE;
  if (self->stopping || is_cancelled (error))
    return;

  if (users == NULL)
    {
      GHashTableIter iter;
      gpointer id;

      /* Wanted again, by the next fetch: its entries wait for it. */
      g_hash_table_iter_init (&iter, fetching);
      while (g_hash_table_iter_next (&iter, &id, NULL))
        {
          g_hash_table_iter_steal (&iter);
          g_hash_table_add (self->wanted, id);
        }
      g_debug ("Cannot fetch users for the cluster: %s", error->message);
      schedule_retry (self);
      return;
    }

  for (guint i = 0; i < users->len; i++)
    {
      MunityUserInfo *info = users->pdata[i];
      g_hash_table_replace (self->cache, &info->id, munity_user_info_ref (info));
    }
  self->fetch_done_gen = gen;
  drain (self);
}

static void
fetch_start (MunityCluster *self)
{
  g_autoptr(GArray) ids = NULL;
  GHashTableIter iter;
  gint64 *id;

  if (self->fetch_in_flight || g_hash_table_size (self->wanted) == 0 || self->stopping)
    return;

  /* What is wanted from now on belongs to the next fetch — also what
   * the query below wants: it may read notifications before it returns.
   * Kept until the answer, so that a failed fetch is retried. */
  self->fetching = g_steal_pointer (&self->wanted);
  self->wanted = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  ids = g_array_sized_new (FALSE, FALSE, sizeof (gint64), g_hash_table_size (self->fetching));
  g_hash_table_iter_init (&iter, self->fetching);
  while (g_hash_table_iter_next (&iter, (gpointer *) &id, NULL))
    g_array_append_val (ids, *id);
  self->fetch_in_flight = TRUE;
  self->fetch_next_gen++;
  munity_accounts_get_users_async (self->accounts, (const gint64 *) ids->data, ids->len, NULL,
                                   fetch_cb, g_object_ref (self));
}

/* Applies the FIFO to the model, in order, until its head has to wait. */
static void
drain (MunityCluster *self)
{
  Entry *entry;

  if (self->draining || self->stopping)
    return;
  self->draining = TRUE;

  while ((entry = g_queue_peek_head (&self->fifo)) != NULL)
    {
      if (entry->fetch_gen > self->fetch_done_gen)
        break;

      g_queue_pop_head (&self->fifo);
      switch (entry->kind)
        {
        case ENTRY_ADD:
          {
            MunityUser *user = munity_presence_lookup_user (self->presence, entry->user_id);
            MunityUserInfo *info = entry->info;

            if (user != NULL)
              info = munity_user_get_info (user);
            else if (info == NULL)
              info = g_hash_table_lookup (self->cache, &entry->user_id);
            if (info != NULL)
              munity_presence_add_socket (self->presence, entry->socket, info);
            else
              g_debug ("Another node holds a socket of unknown user %" G_GINT64_FORMAT, entry->user_id);
          }
          break;
        case ENTRY_REMOVE:
          munity_presence_remove_socket (self->presence, entry->socket);
          break;
        case ENTRY_DROP:
          munity_presence_drop_socket (self->presence, entry->socket);
          break;
        case ENTRY_UPDATE:
          {
            MunityUserInfo *info = g_hash_table_lookup (self->cache, &entry->user_id);
            if (info != NULL)
              munity_presence_update_user (self->presence, info);
          }
          break;
        case ENTRY_STATUS:
          munity_presence_set_socket_idle (self->presence, entry->socket, entry->idle);
          break;
        case ENTRY_LINGER:
          {
            MunityUserInfo *info = g_hash_table_lookup (self->cache, &entry->user_id);
            gint64 left_ms = entry->remaining_ms - (g_get_monotonic_time () - entry->queued_us) / 1000;

            /* Online by now (a socket came) or gone while we looked: as is. */
            if (info != NULL && left_ms > 0)
              munity_presence_add_lingering_user (self->presence, info, (guint) left_ms);
          }
          break;
        case ENTRY_CLOSE:
        default:
          {
            MunitySocket *socket = g_hash_table_lookup (self->local, entry->socket_id);
            if (socket != NULL)
              munity_presence_end_socket (self->presence, socket, entry->code,
                                          entry->code == MUNITY_CLOSE_LOGGED_OUT ? "logged out"
                                                                                  : "disconnected by an administrator");
          }
          break;
        }
      entry_free (entry);
    }

  /* Details fetched for entries now applied are not kept: the model
   * holds the users, and a later join fetches afresh. */
  if (g_queue_is_empty (&self->fifo))
    g_hash_table_remove_all (self->cache);
  fetch_start (self);
  self->draining = FALSE;
}

/* ---- receiving: the other nodes ---------------------------------------- */

static Node *
node_get (MunityCluster *self,
          gint64         id)
{
  Node *node = g_hash_table_lookup (self->nodes, &id);
  guint before;

  if (node != NULL)
    return node;

  before = munity_cluster_get_n_nodes (self);
  node = g_new0 (Node, 1);
  node->id = id;
  node->sockets = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_object_unref);
  g_queue_init (&node->held);
  g_hash_table_insert (self->nodes, &node->id, node);
  notify_n_nodes (self, before);
  return node;
}

/* A node is gone: its sockets leave the model (at once if it died). */
static void
node_forget (MunityCluster *self,
             gint64         id,
             gboolean       at_once)
{
  Node *node = g_hash_table_lookup (self->nodes, &id);
  guint before = munity_cluster_get_n_nodes (self);
  GHashTableIter iter;
  MunitySocket *socket;

  if (node == NULL)
    return;

  g_hash_table_iter_init (&iter, node->sockets);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &socket))
    push_remove (self, socket, at_once);
  g_hash_table_remove (self->nodes, &id);
  notify_n_nodes (self, before);
}

static gboolean
valid_socket_id (const char *id)
{
  gsize len = strlen (id);

  return len > 0 && len <= SOCKET_ID_MAX;
}

static void
push_status (MunityCluster *self,
             MunitySocket  *socket,
             gboolean       idle)
{
  Entry *entry = g_new0 (Entry, 1);

  entry->kind = ENTRY_STATUS;
  entry->socket = g_object_ref (socket);
  entry->idle = idle;
  fifo_push (self, entry);
}

/* A socket that another node holds; one known already may have changed
 * its status (a resync). */
static void
node_add_socket (MunityCluster *self,
                 Node          *node,
                 const char    *id,
                 gint64         user_id,
                 const char    *session,
                 gboolean       idle)
{
  g_autoptr(MunitySocket) socket = NULL;
  MunitySocket *known;

  if (!valid_socket_id (id) || user_id <= 0)
    return;
  known = g_hash_table_lookup (node->sockets, id);
  if (known != NULL)
    {
      push_status (self, known, idle);
      return;
    }

  socket = munity_socket_new_remote (node->id, id, user_id,
                                     g_strcmp0 (session, "-") == 0 ? NULL : session);
  /* Not in the model yet: the flag is all there is to set. */
  munity_presence_set_socket_idle (self->presence, socket, idle);
  g_hash_table_insert (node->sockets, (gpointer) munity_socket_get_id (socket), g_object_ref (socket));
  push_add (self, socket);
}

static void
node_remove_socket (MunityCluster *self,
                    Node          *node,
                    const char    *id,
                    gboolean       at_once)
{
  gpointer key, value;

  if (!g_hash_table_steal_extended (node->sockets, id, &key, &value))
    return;
  push_remove (self, value, at_once);
  g_object_unref (value);
}

static char *
field_parse (const char *word)
{
  if (word[0] != '=')
    return NULL;
  return g_uri_unescape_string (word + 1, NULL);
}

/* `p`: a user's details, for the `+` that follows; a cached copy as new
 * or newer stays. Anything malformed is left out: the `+` fetches. */
static void
profile_apply (MunityCluster *self,
               char         **w)
{
  gint64 id = g_ascii_strtoll (w[1], NULL, 10);
  gint64 version = g_ascii_strtoll (w[2], NULL, 10);
  g_autofree char *first = field_parse (w[3]);
  g_autofree char *last = field_parse (w[4]);
  g_autofree char *image = g_str_equal (w[5], "-") ? NULL : field_parse (w[5]);
  g_autofree char *bio = field_parse (w[6]);
  MunityUserInfo *cached = g_hash_table_lookup (self->cache, &id);
  MunityUserInfo *info;

  if (id <= 0 || first == NULL || last == NULL || bio == NULL || (image == NULL && !g_str_equal (w[5], "-")) ||
      !g_utf8_validate (first, -1, NULL) || !g_utf8_validate (last, -1, NULL) ||
      !g_utf8_validate (bio, -1, NULL) || (image != NULL && !g_utf8_validate (image, -1, NULL)))
    {
      g_debug ("Ignoring malformed details of user %" G_GINT64_FORMAT " from the cluster", id);
      return;
    }
  if (cached != NULL && cached->version >= version)
    return;

  /* No email: other nodes never show it (only GET /api/me does, from
   * the database). */
  info = munity_user_info_new (id, first, last, "", bio, image);
  info->version = version;
  g_hash_table_replace (self->cache, &info->id, info);
}

/* The operations of one `o` notification. */
static void
node_apply (MunityCluster *self,
            Node          *node,
            const char    *body)
{
  g_auto(GStrv) lines = g_strsplit (body, "\n", -1);

  for (gsize i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) w = g_strsplit (lines[i], " ", 8);
      guint n = g_strv_length (w);

      if (n == 0)
        continue;
      if (g_str_equal (w[0], "p") && n == 7)
        profile_apply (self, w);
      else if (g_str_equal (w[0], "+") && n == 4)
        node_add_socket (self, node, w[1], g_ascii_strtoll (w[2], NULL, 10), w[3], FALSE);
      else if (g_str_equal (w[0], "s") && n == 3)
        {
          MunitySocket *socket = g_hash_table_lookup (node->sockets, w[1]);

          if (socket != NULL)
            push_status (self, socket, g_str_equal (w[2], "1"));
        }
      else if ((g_str_equal (w[0], "-") || g_str_equal (w[0], "!")) && n == 2)
        node_remove_socket (self, node, w[1], w[0][0] == '!');
      else if (g_str_equal (w[0], "u") && n == 2)
        {
          Entry *entry = g_new0 (Entry, 1);

          entry->kind = ENTRY_UPDATE;
          entry->user_id = g_ascii_strtoll (w[1], NULL, 10);
          want_user (self, entry);
          fifo_push (self, entry);
        }
      else if (g_str_equal (w[0], "c") && n == 4)
        {
          Entry *entry;

          if (g_ascii_strtoll (w[1], NULL, 10) != self->node_id)
            continue;
          entry = g_new0 (Entry, 1);
          entry->kind = ENTRY_CLOSE;
          entry->socket_id = g_strdup (w[2]);
          entry->code = (guint) g_ascii_strtoull (w[3], NULL, 10);
          fifo_push (self, entry);
        }
      else
        g_debug ("Ignoring a cluster operation: %s", lines[i]);
    }
}

/* Applies held notifications that follow on; a gap asks for a resync. */
static void
node_replay (MunityCluster *self,
             Node          *node)
{
  Note *note;

  while (node->sync_req == 0 && (note = g_queue_pop_head (&node->held)) != NULL)
    {
      if (note->seq <= node->seq)
        ;
      else if (note->seq == node->seq + 1)
        {
          node_apply (self, node, note->body);
          node->seq = note->seq;
        }
      else
        {
          g_queue_push_head (&node->held, note);
          node_resync (self, node);
          return;
        }
      note_free (note);
    }
}

typedef struct {
  char    *id;       /* (unowned) in the result */
  gint64   user_id;
  char    *session;  /* (unowned) in the result */
  gboolean idle;
} Row;

/* A node's rows at one snapshot, with its seq: the model is brought to
 * them by adds and removes, never by starting over. */
static void
node_synced (MunityCluster *self,
             Node          *node,
             gint64         seq,
             GArray        *rows)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) gone = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  /* Adds first: a user with a socket of the new life and one of the old
   * stays online. */
  for (guint i = 0; i < rows->len; i++)
    {
      Row *row = &g_array_index (rows, Row, i);

      g_hash_table_add (seen, row->id);
      node_add_socket (self, node, row->id, row->user_id, row->session, row->idle);
    }

  g_hash_table_iter_init (&iter, node->sockets);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (seen, key))
      g_ptr_array_add (gone, key);
  for (guint i = 0; i < gone->len; i++)
    node_remove_socket (self, node, gone->pdata[i], node->restarted);

  node->restarted = FALSE;
  node->seq = seq;
  node->sync_req = 0;
  node_replay (self, node);
}

typedef struct {
  gint64  id;
  gint64  seq;
  GArray *rows;          /* (owned) of Row */
} NodeRows;

/* Users that linger elsewhere with no socket: they come online here for
 * what is left of their grace, in order after what the FIFO holds. */
static void
lingering_read (MunityCluster *self,
                PGresult      *res,
                const GError  *error,
                gpointer       data)
{
  if (res == NULL)
    {
      g_debug ("Cannot read the cluster's lingering users: %s", error->message);
      return;
    }

  for (int r = 0; r < PQntuples (res); r++)
    {
      gint64 user_id = g_ascii_strtoll (PQgetvalue (res, r, 0), NULL, 10);
      gint64 remaining = g_ascii_strtoll (PQgetvalue (res, r, 1), NULL, 10);
      Entry *entry;

      if (user_id <= 0 || remaining <= 0 || munity_presence_lookup_user (self->presence, user_id) != NULL)
        continue;
      entry = g_new0 (Entry, 1);
      entry->kind = ENTRY_LINGER;
      entry->user_id = user_id;
      entry->remaining_ms = (guint) MIN (remaining, G_MAXUINT);
      entry->queued_us = g_get_monotonic_time ();
      want_user (self, entry);
      fifo_push (self, entry);
    }
  g_debug ("%d user(s) linger elsewhere", PQntuples (res));
  drain (self);
}

static void
node_rows_free (NodeRows *rows)
{
  g_array_unref (rows->rows);
  g_free (rows);
}

typedef struct {
  guint          req;
  gint64         node_id; /* 0: every node */
} Resync;

static void
resynced (MunityCluster *self,
          PGresult      *res,
          const GError  *error,
          gpointer       data)
{
  Resync *op = data;
  guint req = op->req;
  gint64 op_node_id = op->node_id;
  g_autoptr(GHashTable) by_node = NULL;
  g_autoptr(GPtrArray) absent = g_ptr_array_new ();
  GHashTableIter iter;
  Node *node;

  if (req == self->full_req)
    self->full_req = 0;

  if (res == NULL)
    {
      /* Another try covers every node; an outage leads to a full resync
       * anyway. */
      g_debug ("Cannot resynchronise the cluster: %s", error->message);
      g_hash_table_iter_init (&iter, self->nodes);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &node))
        if (node->sync_req == req)
          node->sync_req = G_MAXUINT;  /* a resync no answer will settle */
      schedule_retry (self);
      return;
    }

  /* node id → its seq and rows */
  by_node = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify) node_rows_free);
  for (int r = 0; r < PQntuples (res); r++)
    {
      gint64 id = g_ascii_strtoll (PQgetvalue (res, r, 0), NULL, 10);
      NodeRows *rows = g_hash_table_lookup (by_node, &id);

      if (rows == NULL)
        {
          rows = g_new0 (NodeRows, 1);
          rows->id = id;
          rows->seq = g_ascii_strtoll (PQgetvalue (res, r, 1), NULL, 10);
          rows->rows = g_array_new (FALSE, FALSE, sizeof (Row));
          g_hash_table_insert (by_node, &rows->id, rows);
        }
      if (!PQgetisnull (res, r, 2))
        {
          Row row = { PQgetvalue (res, r, 2), g_ascii_strtoll (PQgetvalue (res, r, 3), NULL, 10),
                      PQgetvalue (res, r, 4), g_str_equal (PQgetvalue (res, r, 5), "t") };
          g_array_append_val (rows->rows, row);
        }
    }

  {
    NodeRows *rows;

    g_hash_table_iter_init (&iter, by_node);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &rows))
      {
        if (rows->id == self->node_id)
          continue;
        /* A node first seen in a full resync is learnt here. */
        node = g_hash_table_lookup (self->nodes, &rows->id);
        if (node == NULL && op_node_id == 0)
          {
            node = node_get (self, rows->id);
            node->sync_req = req;
          }
        if (node != NULL && node->sync_req == req)
          node_synced (self, node, rows->seq, rows->rows);
      }
  }

  /* Waiting for this answer but without a row: gone while we looked. */
  g_hash_table_iter_init (&iter, self->nodes);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &node))
    if (node->sync_req == req && !g_hash_table_contains (by_node, &node->id))
      g_ptr_array_add (absent, node);
  for (guint i = 0; i < absent->len; i++)
    node_forget (self, ((Node *) absent->pdata[i])->id, TRUE);

  /* After the sockets: who lingers with none (a node started or came
   * back while another let them linger). Only what a node up since then
   * holds: the rows of a cluster whose nodes all stopped keep no one
   * online, so a cluster started afresh starts empty, as it always did. */
  if (op_node_id == 0 && !self->lingering_in_flight && munity_cluster_get_n_nodes (self) > 1)
    {
      g_autofree char *me = id_text (self->node_id);
      const char *params[1] = { me };

      statement_send (self, LINGERING_SQL, 1, params, &self->lingering_in_flight, lingering_read, NULL);
    }

  drain (self);
}

static void
resync_send (MunityCluster *self,
             gint64         node_id,
             guint          req)
{
  g_autofree char *own = id_text (self->node_id);
  g_autofree char *which = id_text (node_id);
  const char *params[] = { own, which };
  Resync *op = g_new0 (Resync, 1);

  op->req = req;
  op->node_id = node_id;
  statement_send (self, RESYNC_SQL, 2, params, NULL, resynced, op);
}

/* Reads one node again; its notifications are held meanwhile. */
static void
node_resync (MunityCluster *self,
             Node          *node)
{
  if (self->full_req != 0)
    {
      node->sync_req = self->full_req;
      return;
    }
  node->sync_req = self->next_req++;
  resync_send (self, node->id, node->sync_req);
}

/* Reads every node again, in one statement. */
static void
full_resync (MunityCluster *self)
{
  GHashTableIter iter;
  Node *node;

  self->full_req = self->next_req++;
  g_hash_table_iter_init (&iter, self->nodes);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &node))
    node->sync_req = self->full_req;
  resync_send (self, 0, self->full_req);
}

static void
handle_note (MunityCluster *self,
             Note          *note)
{
  Node *node;

  if (note->node_id == self->node_id)
    {
      if (note->kind == 'd')
        {
          g_message ("This node was declared dead; registering again");
          self->need_sync = TRUE;
          maybe_sync (self);
        }
      note_free (note);
      return;
    }

  switch (note->kind)
    {
    case 'd':
    case 'b':
      g_debug ("Cluster node %" G_GINT64_FORMAT " %s", note->node_id, note->kind == 'd' ? "died" : "stopped");
      node_forget (self, note->node_id, note->kind == 'd');
      note_free (note);
      break;

    case 'h':
    case 'r':
      node = node_get (self, note->node_id);
      if (note->kind == 'h')
        node->restarted = TRUE;
      node_resync (self, node);
      note_free (note);
      break;

    case 'o':
    default:
      node = g_hash_table_lookup (self->nodes, &note->node_id);
      if (node == NULL)
        {
          node = node_get (self, note->node_id);
          g_queue_push_tail (&node->held, note);
          node_resync (self, node);
        }
      else if (node->sync_req != 0)
        {
          g_queue_push_tail (&node->held, note);
          if (node->sync_req == G_MAXUINT && self->full_req == 0)
            node_resync (self, node);
        }
      else if (note->seq <= node->seq)
        note_free (note);
      else if (note->seq == node->seq + 1)
        {
          node_apply (self, node, note->body);
          node->seq = note->seq;
          note_free (note);
        }
      else
        {
          g_debug ("Gap in the notifications of cluster node %" G_GINT64_FORMAT, node->id);
          g_queue_push_tail (&node->held, note);
          node_resync (self, node);
        }
      break;
    }
}

static Note *
parse_note (const char *payload)
{
  const char *nl = strchr (payload, '\n');
  g_autofree char *header = nl != NULL ? g_strndup (payload, nl - payload) : g_strdup (payload);
  g_auto(GStrv) w = g_strsplit (header, " ", 4);
  guint n = g_strv_length (w);
  Note *note;

  if (n < 2 || strlen (w[0]) != 1 || strchr ("ohrbd", w[0][0]) == NULL)
    return NULL;
  if (strchr ("ohr", w[0][0]) != NULL && n < 3)
    return NULL;

  note = g_new0 (Note, 1);
  note->kind = w[0][0];
  note->node_id = g_ascii_strtoll (w[1], NULL, 10);
  note->seq = n >= 3 ? g_ascii_strtoll (w[2], NULL, 10) : 0;
  note->body = g_strdup (nl != NULL ? nl + 1 : "");
  if (note->node_id <= 0)
    g_clear_pointer (&note, note_free);
  return note;
}

static void
on_notification (MunityDb      *db,
                 const char    *channel,
                 const char    *payload,
                 MunityCluster *self)
{
  Note *note;

  if (self->stopping || !g_str_equal (channel, MUNITY_CLUSTER_CHANNEL))
    return;

  note = parse_note (payload);
  if (note == NULL)
    {
      g_debug ("Ignoring a cluster notification: %.60s", payload);
      return;
    }

  /* Until we know our own id (and have read everyone), hold them. */
  if (self->node_id == 0 || self->sync_in_flight)
    {
      g_queue_push_tail (&self->early, note);
      return;
    }

  handle_note (self, note);
  drain (self);
}

/* ---- registering, heartbeat, outages ----------------------------------- */

static void
synced (MunityCluster *self,
        PGresult      *res,
        const GError  *error,
        gpointer       data)
{
  Note *note;

  if (res == NULL || PQntuples (res) != 1)
    {
      g_debug ("Cannot register in the cluster: %s", error != NULL ? error->message : "no row");
      self->need_sync = TRUE;
      schedule_retry (self);
      return;
    }

  if (self->node_id == 0)
    g_message ("Cluster node %s has id %s", self->name, PQgetvalue (res, 0, 0));
  self->node_id = g_ascii_strtoll (PQgetvalue (res, 0, 0), NULL, 10);

  /* Everyone else, read at one snapshot taken after LISTEN began: nothing
   * is missed between the two. */
  full_resync (self);
  nodes_refresh (self);
  while ((note = g_queue_pop_head (&self->early)) != NULL)
    handle_note (self, note);
  drain (self);
  schedule_flush (self);
}

/* Registers (again) and republishes every socket of this node. */
static void
maybe_sync (MunityCluster *self)
{
  g_autoptr(GString) ids = g_string_new (NULL);
  g_autoptr(GString) users = g_string_new (NULL);
  g_autoptr(GString) sessions = g_string_new (NULL);
  g_autoptr(GString) idle = g_string_new (NULL);
  const char *params[6];
  GHashTableIter iter;
  MunitySocket *socket;
  GList *l;

  if (!self->need_sync || self->sync_in_flight || self->stopping ||
      !munity_db_is_listening (self->db))
    return;

  /* The statement states every socket; queued socket changes are in it. */
  for (l = self->out.head; l != NULL;)
    {
      GList *next = l->next;
      OutOp *op = l->data;

      if (op->socket != NULL)
        {
          out_op_free (op);
          g_queue_delete_link (&self->out, l);
        }
      l = next;
    }
  g_hash_table_remove_all (self->unsent_adds);

  g_hash_table_iter_init (&iter, self->local);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &socket))
    {
      g_autofree char *user = g_strdup_printf ("%" G_GINT64_FORMAT, munity_socket_get_user_id (socket));

      append_word (ids, munity_socket_get_id (socket));
      append_word (users, user);
      append_word (sessions, session_or_dash (socket));
      append_word (idle, munity_socket_get_idle (socket) ? "t" : "f");
    }

  params[0] = self->name;
  params[1] = self->boot_id;
  params[2] = ids->str;
  params[3] = users->str;
  params[4] = sessions->str;
  params[5] = idle->str;
  self->need_sync = FALSE;
  statement_send (self, SYNC_SQL, 6, params, &self->sync_in_flight, synced, NULL);
}

static gboolean
retry_cb (gpointer user_data)
{
  MunityCluster *self = user_data;
  GHashTableIter iter;
  Node *node;
  gboolean stuck = FALSE;

  self->retry_id = 0;
  maybe_sync (self);
  if (self->node_id != 0 && !self->sync_in_flight && self->full_req == 0)
    {
      g_hash_table_iter_init (&iter, self->nodes);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &node))
        stuck |= node->sync_req == G_MAXUINT;
      if (stuck && munity_db_is_listening (self->db))
        full_resync (self);
    }
  fetch_start (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_retry (MunityCluster *self)
{
  if (self->retry_id == 0 && !self->stopping)
    self->retry_id = g_timeout_add (RETRY_MS, retry_cb, self);
}

static void
on_listening (MunityDb      *db,
              GParamSpec    *pspec,
              MunityCluster *self)
{
  /* Notifications may have been lost: when it is back, republish and
   * read everyone again. Meanwhile the model keeps what it had. */
  self->listening_since = munity_db_is_listening (db) ? g_get_monotonic_time () : 0;
  self->need_sync = TRUE;
  maybe_sync (self);
}

static void
heartbeat_done (MunityCluster *self,
                PGresult      *res,
                const GError  *error,
                gpointer       data)
{
  /* No row of ours: declared dead while cut off. */
  const char *updated = res != NULL ? PQgetvalue (res, 0, 0) : NULL;
  const char *reaped = res != NULL ? PQgetvalue (res, 0, 1) : NULL;
  gint64 left_ms;

  if (res != NULL && !PQgetisnull (res, 0, 2) && !self->stopping && self->reap_id == 0)
    {
      left_ms = MAX (g_ascii_strtoll (PQgetvalue (res, 0, 2), NULL, 10), 0) + REAP_SLACK_MS;
      /* Sooner than the next heartbeat, which would reap anyway */
      if (left_ms < HEARTBEAT_MS)
        self->reap_id = g_timeout_add ((guint) left_ms, reap_timer_cb, self);
    }

  if (g_strcmp0 (updated, "0") == 0)
    {
      g_message ("This node was declared dead; registering again");
      self->need_sync = TRUE;
      maybe_sync (self);
    }
  if (reaped != NULL && !g_str_equal (reaped, "0"))
    g_message ("Declared %s cluster node(s) dead", reaped);
}

static void
nodes_read (MunityCluster *self,
            PGresult      *res,
            const GError  *error,
            gpointer       data)
{
  int n_rows = res != NULL ? PQntuples (res) : 0;

  if (res == NULL)
    g_debug ("Cannot read the cluster's nodes: %s", error->message);
  else
    {
      g_array_set_size (self->node_rows, 0);
      for (int r = 0; r < n_rows; r++)
        {
          NodeRow row = { g_ascii_strtoll (PQgetvalue (res, r, 0), NULL, 10),
                          g_strdup (PQgetvalue (res, r, 1)),
                          g_ascii_strtoll (PQgetvalue (res, r, 2), NULL, 10) };

          g_array_append_val (self->node_rows, row);
        }
      g_signal_emit (self, signals[SIGNAL_NODES_CHANGED], 0);
    }

  if (self->nodes_again)
    {
      self->nodes_again = FALSE;
      nodes_refresh (self);
    }
}

/* Reads the names and heartbeats of the nodes again, for the operators. */
static void
nodes_refresh (MunityCluster *self)
{
  if (self->stopping)
    return;
  if (self->nodes_in_flight)
    {
      self->nodes_again = TRUE;
      return;
    }
  statement_send (self, NODES_SQL, 0, NULL, &self->nodes_in_flight, nodes_read, NULL);
}

/* The heartbeat statement, which reaps when this node has been listening
 * long enough. */
static void
heartbeat_send (MunityCluster *self)
{
  g_autofree char *id = NULL;
  const char *params[2];
  gboolean reap;

  if (self->node_id == 0 || self->sync_in_flight || self->heartbeat_in_flight || self->stopping)
    return;

  reap = self->listening_since != 0 && g_get_monotonic_time () - self->listening_since >= REAP_AFTER_US;
  id = id_text (self->node_id);
  params[0] = id;
  params[1] = reap ? "true" : "false";
  statement_send (self, HEARTBEAT_SQL, 2, params, &self->heartbeat_in_flight, heartbeat_done, NULL);
}

static gboolean
heartbeat_timer_cb (gpointer user_data)
{
  MunityCluster *self = user_data;

  /* Read the node list in step with the heartbeats, whose age it shows. */
  if (self->node_id != 0 && !self->stopping)
    nodes_refresh (self);
  heartbeat_send (self);
  return G_SOURCE_CONTINUE;
}

/* A heartbeat is about to grow DEAD_AFTER old: an early heartbeat, which
 * reaps. */
static gboolean
reap_timer_cb (gpointer user_data)
{
  MunityCluster *self = user_data;

  self->reap_id = 0;
  heartbeat_send (self);
  return G_SOURCE_REMOVE;
}

/**
 * munity_cluster_start:
 * @self: the cluster
 *
 * LISTENs, registers the node, publishes its sockets, reads the other
 * nodes, and keeps all of it up to date until munity_cluster_stop_async().
 */
void
munity_cluster_start (MunityCluster *self)
{
  g_return_if_fail (MUNITY_IS_CLUSTER (self));

  if (self->started)
    return;
  self->started = TRUE;
  self->need_sync = TRUE;
  g_signal_connect (self->db, "notification", G_CALLBACK (on_notification), self);
  g_signal_connect (self->db, "notify::listening", G_CALLBACK (on_listening), self);
  self->heartbeat_id = g_timeout_add (HEARTBEAT_MS, heartbeat_timer_cb, self);
  munity_db_listen (self->db, MUNITY_CLUSTER_CHANNEL);
  if (munity_db_is_listening (self->db))
    self->listening_since = g_get_monotonic_time ();
  maybe_sync (self);
}

static void
bye_cb (GObject      *source,
        GAsyncResult *result,
        gpointer      user_data)
{
  GTask *task = user_data;
  GError *error = NULL;
  PGresult *res = munity_db_query_finish (MUNITY_DB (source), result, &error);

  /* Then the others see the node die instead, a little later. */
  if (res == NULL)
    {
      g_message ("Could not leave the cluster: %s", error->message);
      g_error_free (error);
    }
  g_clear_pointer (&res, PQclear);
  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

/**
 * munity_cluster_stop_async:
 * @self: the cluster
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Leaves the cluster: deletes this node's rows and says `bye`, so that the
 * other nodes let its users linger for the grace (a rolling restart
 * causes no userLeft). Call it after this node's sockets are closed and
 * before the database is. Never fails; bounded by the query timeout.
 */
void
munity_cluster_stop_async (MunityCluster       *self,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
  g_autofree char *id = NULL;
  g_autofree char *grace = NULL;
  const char *params[2];

  g_task_set_source_tag (task, munity_cluster_stop_async);
  self->stopping = TRUE;
  g_clear_handle_id (&self->flush_id, g_source_remove);
  g_clear_handle_id (&self->heartbeat_id, g_source_remove);
  g_clear_handle_id (&self->reap_id, g_source_remove);
  g_clear_handle_id (&self->retry_id, g_source_remove);

  if (self->node_id == 0)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  id = g_strdup_printf ("%" G_GINT64_FORMAT, self->node_id);
  grace = g_strdup_printf ("%u", munity_presence_get_leave_grace_ms (self->presence));
  params[0] = id;
  params[1] = grace;
  munity_db_query_async (self->db, BYE_SQL, 2, params, NULL, bye_cb, g_steal_pointer (&task));
}

/**
 * munity_cluster_stop_finish:
 * @self: the cluster
 * @result: the result
 */
void
munity_cluster_stop_finish (MunityCluster *self,
                            GAsyncResult  *result)
{
  g_return_if_fail (g_task_is_valid (result, self));

  g_task_propagate_boolean (G_TASK (result), NULL);
}
