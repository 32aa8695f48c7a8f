/* munity-load — a load generator for munityd's WebSocket presence.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Plain non-blocking sockets and epoll, no libsoup: the client must be
 * cheaper than the server it measures. Users and sessions are inserted
 * directly into PostgreSQL (argon2id logins are not what is measured).
 * Every frame received is checked against the guarantee of doc/protocol.md §3:
 * onlineUsers first, then userJoined only for users not in the list and
 * userLeft only for users in it.
 *
 * With --nodes the clients are spread over the nodes of a cluster
 * (doc/protocol.md §7): the same check runs on every socket of every node,
 * deliveries are timed apart for a join or leave made on another node, and
 * --kill-node times how long a SIGKILLed node's users take to leave
 * everywhere else, and --rolling-restart stops and starts every node in
 * turn (SIGTERM) while its clients reconnect to the others: no userLeft
 * may reach any socket for a user who reconnected within the grace.
 *
 * With --view window the sockets watch windows of the list instead
 * (doc/protocol.md §8): each applies every windowChanged to the window it
 * holds and checks it on every frame; --window-mix of them scroll or
 * search; after each phase every window must be exactly the one computed
 * from who is online, and the figures are frames per event, the delivery
 * of a join or leave that lands in a window, and server CPU per event.
 *
 * Bounded: every phase has a deadline; loopback only.
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <locale.h>
#include <fcntl.h>
#include <ftw.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <libpq-fe.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "munity-test-pg.h"

#define MAX_PER_PROCESS 9000
#define MAX_PENDING_HANDSHAKES 512
#define PORTS_PER_ADDRESS 25000
#define HIST_BUCKETS 256
#define MAX_NODES 16

/* ---- options ----------------------------------------------------------- */

static int opt_users = 1000;
static char *opt_munityd = NULL;
static char *opt_database = NULL;
static char *opt_host = NULL;
static int opt_port = 0;
static int opt_pid = 0;
static int opt_idle_s = 10;
static int opt_churn_rate = 0;
static int opt_churn_s = 10;
static int opt_timeout_s = 120;
static gboolean opt_blocking_wait = FALSE;
static gboolean opt_leave_storm = FALSE;
static gboolean opt_json_only = FALSE;
static char *opt_nodes = NULL;
static char *opt_pids = NULL;
static gboolean opt_reuse_port = FALSE;
static int opt_kill_node = -1;
static int opt_grace_ms = 0;
static gboolean opt_rolling_restart = FALSE;
static int opt_reconnect_delay_ms = 0;
static char *opt_view = NULL;
static int opt_window_mix = 10;
static int opt_seed = 1;

static GOptionEntry entries[] = {
  { "users", 'n', 0, G_OPTION_ARG_INT, &opt_users, "Users (one socket each) for the storm (default 1000)", "N" },
  { "munityd", 0, 0, G_OPTION_ARG_FILENAME, &opt_munityd, "Start this munityd (embedded PostgreSQL, grace 0) and measure it", "PATH" },
  { "database", 'd', 0, G_OPTION_ARG_STRING, &opt_database, "With an already running munityd: its database (libpq string)", "CONNINFO" },
  { "host", 0, 0, G_OPTION_ARG_STRING, &opt_host, "With an already running munityd: its address (default 127.0.0.1)", "ADDR" },
  { "port", 'p', 0, G_OPTION_ARG_INT, &opt_port, "With an already running munityd: its port", "PORT" },
  { "pid", 0, 0, G_OPTION_ARG_INT, &opt_pid, "With an already running munityd: its pid, for CPU and RSS", "PID" },
  { "idle", 0, 0, G_OPTION_ARG_INT, &opt_idle_s, "Seconds to hold the sockets idle for the idle-CPU figure (default 10; 60 for the budget)", "S" },
  { "churn-rate", 0, 0, G_OPTION_ARG_INT, &opt_churn_rate, "Joins and leaves per second in the churn phase (0: no churn)", "R" },
  { "churn-seconds", 0, 0, G_OPTION_ARG_INT, &opt_churn_s, "Length of the churn phase (default 10)", "S" },
  { "leave-storm", 0, 0, G_OPTION_ARG_NONE, &opt_leave_storm, "End with half the users leaving at once", NULL },
  { "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout_s, "Give up a phase after this many seconds (default 120)", "S" },
  { "blocking-wait", 0, 0, G_OPTION_ARG_NONE, &opt_blocking_wait, "Clients sleep in epoll_wait() instead of polling (munityd then pays, inside its writes, for waking them)", NULL },
  { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json_only, "Print only the JSON line", NULL },
  { "nodes", 0, 0, G_OPTION_ARG_STRING, &opt_nodes, "A cluster: HOST:PORT,HOST:PORT,... of running nodes (with --database), or with --munityd the number of nodes to start on one throwaway PostgreSQL; clients go to the nodes round robin", "LIST|N" },
  { "pids", 0, 0, G_OPTION_ARG_STRING, &opt_pids, "With --nodes HOST:PORT,...: the nodes' pids in the same order, for per-node CPU and RSS and --kill-node", "PID,PID,..." },
  { "reuse-port", 0, 0, G_OPTION_ARG_NONE, &opt_reuse_port, "Every client connects to the first node's address (started nodes share one port with --reuse-port) and the kernel spreads them", NULL },
  { "kill-node", 0, 0, G_OPTION_ARG_INT, &opt_kill_node, "At the end, SIGKILL node I (0-based) and time until its users have left every other node's sockets", "I" },
  { "grace-ms", 0, 0, G_OPTION_ARG_INT, &opt_grace_ms, "The --leave-grace-ms of started munityd (default 0)", "G" },
  { "view", 0, 0, G_OPTION_ARG_STRING, &opt_view, "full (the whole list, default) or window (/ws?view=window, doc/protocol.md §8: every frame checked, windows compared with who is online after each phase)", "full|window" },
  { "window-mix", 0, 0, G_OPTION_ARG_INT, &opt_window_mix, "With --view window: the share of sockets that, after their first window, scroll to a random offset or search (half each; default 10)", "P" },
  { "seed", 0, 0, G_OPTION_ARG_INT, &opt_seed, "With --view window: the seed of the names, queries and offsets (default 1)", "S" },
  { "reconnect-delay-ms", 0, 0, G_OPTION_ARG_INT, &opt_reconnect_delay_ms, "With --rolling-restart: wait this long after the close before reconnecting, as a browser backs off (default 0: at once); users are then gone from every node meanwhile, and only the grace keeps them listed", "MS" },
  { "rolling-restart", 0, 0, G_OPTION_ARG_NONE, &opt_rolling_restart, "After the idle phase, SIGTERM and start again every started node in turn while its clients reconnect to the others (needs --munityd, --nodes N >= 2, --grace-ms > 0): no userLeft for users who reconnected within the grace", NULL },
  { NULL }
};

/* ---- nodes ------------------------------------------------------------- */

/* One munityd of the cluster; without --nodes, the one munityd measured. */
typedef struct {
  struct sockaddr_in addr;
  int    port;
  int    pid;            /* 0: unknown, no CPU or RSS figures */
  GPid   spawned;        /* started by munity-load, 0 otherwise */
  char  *state_dir;      /* (owned) (nullable) of a started node */
  gboolean killed;
  long   rss0, rss1;
  double cpu_storm, cpu_idle;
  uint64_t storm_frames;   /* delivered to this node's sockets in the storm */
  int    sockets;          /* this node's after the storm */
} Node;

static Node nodes[MAX_NODES];
static int n_nodes = 1;

/* ---- time -------------------------------------------------------------- */

static int64_t
now_us (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- shared between processes ------------------------------------------ */

/* Lives in MAP_SHARED memory so that every client process sees when each
 * user joined (for latencies) and the counters. */
typedef struct {
  int64_t  join_time[1];   /* per user index, µs; really n_users long */
} Shared;

typedef struct {
  uint64_t violations;
  uint64_t frames;
  uint64_t bytes;
  uint64_t complete;       /* clients holding the complete list */
  uint64_t opened;
  uint64_t failed;
  uint64_t closed_by_server;
  uint64_t hist_join[HIST_BUCKETS];
  uint64_t hist_leave[HIST_BUCKETS];
  /* the same deliveries split by where the event happened: on the
   * observing socket's node, or on another one (with --nodes) */
  uint64_t hist_join_same[HIST_BUCKETS];
  uint64_t hist_join_cross[HIST_BUCKETS];
  uint64_t hist_leave_same[HIST_BUCKETS];
  uint64_t hist_leave_cross[HIST_BUCKETS];
  uint64_t node_frames[MAX_NODES];
  int64_t  storm_last_open_us;
  int64_t  storm_done_us;
  int64_t  phase_start_us;
  uint64_t leave_observers_done;
  uint64_t rejoin_checked;     /* rejoined clients whose snapshot was right */
  uint64_t rejoin_wrong;
  uint64_t kill_observers;     /* open sockets on the nodes left alive */
  uint64_t kill_other_leaves;  /* userLeft for a user not on the killed node */
  int64_t  kill_us;            /* set by the parent: when it sent SIGKILL */
  int64_t  kill_done_us;       /* no observer lists a killed node's user */
  int64_t  kill_first_us;      /* the first userLeft of a killed node's user */
  /* --rolling-restart: the parent sets the node to stop and, once it is
   * up again, when; the counters are the child's */
  int      rolling_node;
  int64_t  rolling_term_us;      /* when the parent sent SIGTERM */
  int64_t  rolling_up_us;
  uint64_t rolling_reconnects;
  uint64_t rolling_late;         /* reconnected after the grace */
  uint64_t rolling_unreconnected;
  uint64_t rolling_not_1001;     /* a stopping node's socket closed otherwise */
  /* --view window */
  uint64_t win_changes;          /* windowChanged frames (from the churn's start) */
  uint64_t win_windows;          /* onlineWindow frames */
  uint64_t churn_events;         /* joins and leaves made in the churn */
  uint64_t win_mismatches;       /* windows not the expected one, last check */
  uint64_t win_checked;          /* windows compared, last check */
  int64_t  win_settled_us;       /* when every window here was exact */
  uint64_t win_total_drops;      /* --rolling-restart: frames whose total fell below all matching */
} Counters;

/* Per user, shared, for --rolling-restart: written by the process that
 * owns the user's socket, except @left (any process, atomically). */
typedef struct {
  int64_t  max_gap_us;  /* longest SIGTERM of its node to its reopen (101) */
  int64_t  reopen_us;   /* its last reopen (101) */
  int64_t  first_left_us;  /* the first userLeft for it (any process) */
  uint32_t left;        /* userLeft frames for it on any socket */
  uint32_t left_own;    /* of them, on its own socket's node */
  uint8_t  late;        /* some reconnect took longer than the grace */
} Roll;

static int64_t *join_time;    /* shared, per user */
static int64_t *leave_time;   /* shared, per user */
static Counters *counters;     /* shared, one per process */
static int16_t *node_of;       /* shared, per user: its socket's node, -1 unknown */
static Roll *roll;             /* shared, per user */
static uint16_t *src_port;     /* shared, per user: its socket's source port */
static uint8_t *online;        /* shared, per user: its socket is open (101 seen, not closed) */
static int32_t *online_tree;   /* shared, --view window: a Fenwick tree of online by rank */
static int32_t *join_pos;      /* shared, per user: its place in the whole list when it joined */
static int n_processes;

static int
hist_bucket (int64_t us)
{
  /* 8 buckets per power of two from 1 µs (about 9 % apart) */
  double v = us < 1 ? 1 : (double) us;
  int b = (int) (log2 (v) * 8.0);
  return b < 0 ? 0 : b >= HIST_BUCKETS ? HIST_BUCKETS - 1 : b;
}

static double
bucket_value (int b)
{
  return pow (2.0, (b + 0.5) / 8.0);
}

/* ---- names, and what window sockets watch (--view window) ----------------- */

enum { PLAN_STAY, PLAN_SCROLL, PLAN_SEARCH };

#define WINDOW_LIMIT 50
#define WINDOW_QUERIES 64
#define WINDOW_CAP (2 * WINDOW_LIMIT + 2)   /* the longest a window gets within a frame's ops */

/* A query a searching socket sends; queries->pdata[0] is "" (everyone). */
typedef struct {
  char *text;       /* as sent */
  char *folded;     /* g_utf8_casefold() of it */
  char *json;       /* as onlineWindow echoes it */
  int  *by_rank;    /* the users it matches, in list order */
  int   n_matches;
} WinQuery;

static gboolean window_mode;
static char **user_first;     /* per user index */
static char **user_last;
static char **user_folded;    /* "First Last", case-folded */
static int *user_rank;        /* place in the list: collation key, then id */
static GPtrArray *queries;    /* of WinQuery */
static uint8_t *plan_of;      /* per user: PLAN_* */
static uint8_t *query_of;     /* per user: index into queries */

static const char *const first_names[] = {
  "Ada", "Alan", "Amélie", "Anders", "Anna", "Ananya", "Ben", "Björn", "Carla", "Chen",
  "Chiara", "Dana", "Daniel", "Élodie", "Emil", "Erik", "Fatima", "Frida", "Grace", "Hana",
  "Ibrahim", "Ingrid", "Jan", "João", "Jürgen", "Karin", "Kenji", "Lars", "Léa", "Lena",
  "Liam", "Linus", "Maria", "Mateo", "Mia", "Nadia", "Noah", "Øyvind", "Olga", "Omar",
  "Paula", "Priya", "Rosa", "Sara", "Søren", "Tomás", "Yuki", "Zoë",
};

static const char *const last_names[] = {
  "Andersen", "Bauer", "Brown", "Castro", "Costa", "da Silva", "de la Cruz", "Dubois", "Eriksson", "Fischer",
  "García", "Hansen", "Hoffmann", "Ivanova", "Jensen", "Kowalski", "Kumar", "Larsen", "López", "Martin",
  "McDonald", "Meier", "Müller", "Nakamura", "Nguyen", "Nielsen", "Novák", "O'Neill", "Olsen", "Pérez",
  "Petrov", "Rossi", "Santos", "Schmidt", "Schulz", "Smith", "Søndergaard", "Suzuki", "Tanaka", "van Dijk",
  "Wagner", "Wang", "Weber", "Williams", "Wójcik", "Yılmaz", "Zhang", "Ziegler",
};

static int
compare_rank (gconstpointer a,
              gconstpointer b,
              gpointer      user_data)
{
  char **keys = user_data;
  int ia = *(const int *) a, ib = *(const int *) b;
  int order = strcmp (keys[ia], keys[ib]);

  /* ids grow with the index */
  return order != 0 ? order : ia < ib ? -1 : ia > ib;
}

static WinQuery *
win_query_new (const char *text,
               const int  *by_rank,
               int         n)
{
  WinQuery *q = g_new0 (WinQuery, 1);
  g_autoptr(JsonNode) node = json_node_init_string (json_node_alloc (), text);

  q->text = g_strdup (text);
  q->folded = g_utf8_casefold (text, -1);
  q->json = json_to_string (node, FALSE);
  q->by_rank = g_new (int, MAX (n, 1));
  for (int r = 0; r < n; r++)
    if (q->folded[0] == '\0' || strstr (user_folded[by_rank[r]], q->folded) != NULL)
      q->by_rank[q->n_matches++] = by_rank[r];
  return q;
}

/* Names for @n users: "Load User N" in full-list mode (what the earlier
 * figures were measured with); with --view window, first and last names
 * drawn from the lists above (some not ASCII, many alike: the id breaks
 * ties), their order, the pool of queries (a piece of some user's name,
 * of two to four characters, in upper or lower case at times) and each
 * socket's plan. Called after setlocale(): g_utf8_collate_key() follows
 * LC_COLLATE, as it does in munityd, which inherits the environment. */
static void
names_prepare (int n)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed ((guint32) opt_seed);
  g_autofree int *by_rank = g_new (int, n);
  char **keys;

  user_first = g_new0 (char *, n + 1);
  user_last = g_new0 (char *, n + 1);
  for (int u = 0; u < n; u++)
    {
      if (!window_mode)
        {
          user_first[u] = g_strdup ("Load");
          user_last[u] = g_strdup_printf ("User %d", u + 1);
          continue;
        }
      user_first[u] = g_strdup (first_names[g_rand_int_range (rand, 0, G_N_ELEMENTS (first_names))]);
      user_last[u] = g_strdup (last_names[g_rand_int_range (rand, 0, G_N_ELEMENTS (last_names))]);
    }
  if (!window_mode)
    return;

  user_folded = g_new0 (char *, n + 1);
  keys = g_new0 (char *, n + 1);
  user_rank = g_new (int, n);
  for (int u = 0; u < n; u++)
    {
      g_autofree char *name = g_strconcat (user_first[u], " ", user_last[u], NULL);

      user_folded[u] = g_utf8_casefold (name, -1);
      keys[u] = g_utf8_collate_key (name, -1);
      by_rank[u] = u;
    }
  g_qsort_with_data (by_rank, n, sizeof (int), compare_rank, keys);
  for (int r = 0; r < n; r++)
    user_rank[by_rank[r]] = r;
  g_strfreev (keys);

  queries = g_ptr_array_new ();
  g_ptr_array_add (queries, win_query_new ("", by_rank, n));
  for (int k = 1; k < WINDOW_QUERIES; k++)
    {
      int v = g_rand_int_range (rand, 0, n);
      g_autofree char *name = g_strconcat (user_first[v], " ", user_last[v], NULL);
      glong len = g_utf8_strlen (name, -1);
      glong start = g_rand_int_range (rand, 0, (gint32) len - 1);
      glong chars = MIN (g_rand_int_range (rand, 2, 5), len - start);
      const char *from = g_utf8_offset_to_pointer (name, start);
      const char *to = g_utf8_offset_to_pointer (from, chars);
      g_autofree char *piece = g_strndup (from, (gsize) (to - from));
      int casing = g_rand_int_range (rand, 0, 3);
      g_autofree char *text = casing == 0 ? g_utf8_strup (piece, -1)
                              : casing == 1 ? g_utf8_strdown (piece, -1) : g_strdup (piece);

      g_ptr_array_add (queries, win_query_new (text, by_rank, n));
    }

  plan_of = g_new0 (uint8_t, n);
  query_of = g_new0 (uint8_t, n);
  for (int u = 0; u < n; u++)
    if (g_rand_int_range (rand, 0, 100) < opt_window_mix)
      {
        plan_of[u] = g_rand_boolean (rand) ? PLAN_SCROLL : PLAN_SEARCH;
        if (plan_of[u] == PLAN_SEARCH)
          query_of[u] = (uint8_t) g_rand_int_range (rand, 1, WINDOW_QUERIES);
      }
}

/* ---- users and sessions ------------------------------------------------- */

typedef struct {
  int64_t first_id;
  int     n;
  char  **tokens;   /* per user */
} Users;

static char *
random_token (void)
{
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  char *token = g_malloc (44);
  for (int i = 0; i < 43; i++)
    token[i] = alphabet[g_random_int_range (0, 64)];
  token[43] = '\0';
  return token;
}

static gboolean
prepare_users (const char *conninfo,
               int         n,
               Users      *users)
{
  PGconn *conn = PQconnectdb (conninfo);
  g_autoptr(GString) hashes = g_string_new ("{");
  g_autoptr(GString) ids = g_string_new ("{");
  g_autofree char *tag = g_strdup_printf ("%" G_GINT64_FORMAT, g_get_real_time ());
  g_autoptr(GString) firsts = g_string_new (NULL);
  g_autoptr(GString) lasts = g_string_new (NULL);
  const char *params[3];
  PGresult *res;

  for (int i = 0; i < n; i++)
    {
      g_string_append_printf (firsts, "%s%s", i ? "\n" : "", user_first[i]);
      g_string_append_printf (lasts, "%s%s", i ? "\n" : "", user_last[i]);
    }
  params[0] = tag;
  params[1] = firsts->str;
  params[2] = lasts->str;

  if (PQstatus (conn) != CONNECTION_OK)
    {
      g_printerr ("munity-load: cannot connect to the database: %s", PQerrorMessage (conn));
      PQfinish (conn);
      return FALSE;
    }

  res = PQexecParams (conn,
                      "INSERT INTO users (first, last, email, password_hash)"
                      " SELECT f, l, 'load-' || $1 || '-' || g || '@bench.invalid', 'not-a-hash'"
                      " FROM unnest(string_to_array($2, E'\\n'), string_to_array($3, E'\\n'))"
                      " WITH ORDINALITY AS t(f, l, g) ORDER BY g RETURNING id",
                      3, NULL, params, NULL, NULL, 0);
  if (PQresultStatus (res) != PGRES_TUPLES_OK || PQntuples (res) != n)
    {
      g_printerr ("munity-load: inserting users failed: %s", PQerrorMessage (conn));
      PQclear (res);
      PQfinish (conn);
      return FALSE;
    }

  users->n = n;
  users->first_id = g_ascii_strtoll (PQgetvalue (res, 0, 0), NULL, 10);
  users->tokens = g_new0 (char *, n + 1);
  for (int i = 0; i < n; i++)
    {
      int64_t id = g_ascii_strtoll (PQgetvalue (res, i, 0), NULL, 10);
      g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);

      if (id != users->first_id + i)
        {
          g_printerr ("munity-load: user ids are not contiguous\n");
          PQclear (res);
          PQfinish (conn);
          return FALSE;
        }
      users->tokens[i] = random_token ();
      g_checksum_update (sum, (const guchar *) users->tokens[i], 43);
      g_string_append_printf (hashes, "%s%s", i ? "," : "", g_checksum_get_string (sum));
      g_string_append_printf (ids, "%s%" G_GINT64_FORMAT, i ? "," : "", id);
    }
  PQclear (res);
  g_string_append_c (hashes, '}');
  g_string_append_c (ids, '}');

  {
    const char *p2[2] = { hashes->str, ids->str };
    res = PQexecParams (conn,
                        "INSERT INTO sessions (token_hash, user_id)"
                        " SELECT decode(h, 'hex'), u FROM unnest($1::text[], $2::bigint[]) AS t(h, u)",
                        2, NULL, p2, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_COMMAND_OK)
      {
        g_printerr ("munity-load: inserting sessions failed: %s", PQerrorMessage (conn));
        PQclear (res);
        PQfinish (conn);
        return FALSE;
      }
    PQclear (res);
  }

  PQfinish (conn);
  return TRUE;
}

/* ---- /proc ------------------------------------------------------------- */

static double
proc_cpu_seconds (int pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
  g_autofree char *text = NULL;
  char *p;
  unsigned long utime = 0, stime = 0;

  if (pid <= 0 || !g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  p = strrchr (text, ')');
  if (p == NULL)
    return 0;
  /* fields after the command: state(3) ... utime(14) stime(15) */
  if (sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
    return 0;
  return (double) (utime + stime) / (double) sysconf (_SC_CLK_TCK);
}

static long
proc_rss_kib (int pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", pid);
  g_autofree char *text = NULL;
  char *p;

  if (pid <= 0 || !g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  p = strstr (text, "VmRSS:");
  return p != NULL ? strtol (p + 6, NULL, 10) : 0;
}

/* ---- clients ----------------------------------------------------------- */

enum { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_CLOSED };
enum { ROLL_NONE, ROLL_WATCH, ROLL_RECONNECT };

typedef struct {
  int       fd;
  int       state;
  int       user;          /* index */
  uint64_t *seen;          /* bitset of users in the replayed list */
  int       count;         /* users in the list */
  int       on_killed;     /* of them, users on the killed node (kill phase) */
  gboolean  got_snapshot;
  gboolean  complete;
  int       close_code;    /* of the server's close frame; 1006 without one */
  int       rolling;       /* ROLL_* in a rolling restart's round */
  int64_t   roll_closed_us; /* when its node closed it, in that round */
  /* frame parsing */
  uint8_t   hdr[14];
  int       hdr_len;
  uint64_t  payload_left;
  uint8_t   opcode;
  gboolean  big;           /* streaming a snapshot */
  GByteArray *payload;     /* small frames, whole */
  uint8_t   carry[64];     /* snapshot scanning across reads */
  int       carry_len;
  GString  *http;          /* handshake response */
  /* --view window: the window held, as user indices */
  int      *win;
  int       win_len;
  int       win_total;
  int       win_offset;
  int       win_query;     /* index into queries */
  int       win_state;     /* W_* */
  int       want_offset;   /* of the setWindow sent */
  gboolean  win_broken;    /* an op did not apply: wait for an onlineWindow */
  int64_t   win_since;     /* when its onlineWindow came */
  GArray   *timed;         /* of Timed: joins already timed here (shift-ins are not) */
} Client;

/* A user's join, timed on some window socket. */
typedef struct {
  int     user;
  int64_t joined;
} Timed;

enum { W_FIRST, W_SET, W_ON };

static Users users;
static Client *clients;
static int n_clients;        /* in this process */
static int client_base;      /* first user index of this process */
static int epfd;
static int words_per_set;
static int proc_index;
static int pending_handshakes;
static int n_pending_opens;
static int storm_target;     /* users every client must see */
static gboolean kill_phase;  /* counting the killed node's users */
static gboolean rolling_phase;  /* counting userLeft per user */

static inline gboolean
seen_test (Client *c, int u)
{
  return (c->seen[u >> 6] >> (u & 63)) & 1;
}

static inline void
seen_set (Client *c, int u, gboolean on)
{
  if (on)
    c->seen[u >> 6] |= (uint64_t) 1 << (u & 63);
  else
    c->seen[u >> 6] &= ~((uint64_t) 1 << (u & 63));
}

static void
violation (Client *c, const char *what, int64_t id)
{
  Counters *me = &counters[proc_index];
  if (me->violations < 10)
    g_printerr ("munity-load: VIOLATION on user %d's socket: %s %" G_GINT64_FORMAT "\n", c->user, what, id);
  me->violations++;
}

static void
check_complete (Client *c)
{
  if (!c->complete && c->count >= storm_target)
    {
      c->complete = TRUE;
      counters[proc_index].complete++;
      counters[proc_index].storm_done_us = now_us ();
    }
}

static void
add_user (Client *c, int64_t id, gboolean snapshot)
{
  int64_t u = id - users.first_id;

  if (u < 0 || u >= users.n)
    return;  /* someone else's user */
  if (seen_test (c, (int) u))
    {
      violation (c, snapshot ? "duplicate in onlineUsers" : "userJoined for a listed user", id);
      return;
    }
  seen_set (c, (int) u, TRUE);
  c->count++;
  if (kill_phase && node_of[u] == opt_kill_node)
    c->on_killed++;
  if (!snapshot && join_time[u] > 0)
    {
      Counters *me = &counters[proc_index];
      int b = hist_bucket (now_us () - join_time[u]);

      me->hist_join[b]++;
      if (n_nodes > 1 && node_of[u] >= 0 && node_of[c->user] >= 0)
        (node_of[u] == node_of[c->user] ? me->hist_join_same : me->hist_join_cross)[b]++;
    }
  check_complete (c);
}

static void
remove_user (Client *c, int64_t id)
{
  int64_t u = id - users.first_id;

  if (u < 0 || u >= users.n)
    return;
  if (rolling_phase)
    {
      int64_t zero = 0, t = now_us ();

      __atomic_fetch_add (&roll[u].left, 1, __ATOMIC_RELAXED);
      if (node_of[c->user] == node_of[u])
        __atomic_fetch_add (&roll[u].left_own, 1, __ATOMIC_RELAXED);
      __atomic_compare_exchange_n (&roll[u].first_left_us, &zero, t, FALSE, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    }
  if (!seen_test (c, (int) u))
    {
      violation (c, "userLeft for an unlisted user", id);
      return;
    }
  seen_set (c, (int) u, FALSE);
  c->count--;
  if (kill_phase)
    {
      if (node_of[u] == opt_kill_node)
        {
          c->on_killed--;
          if (counters[proc_index].kill_first_us == 0)
            counters[proc_index].kill_first_us = now_us ();
        }
      else
        counters[proc_index].kill_other_leaves++;
    }
  if (leave_time[u] > 0)
    {
      Counters *me = &counters[proc_index];
      int b = hist_bucket (now_us () - leave_time[u]);

      me->hist_leave[b]++;
      if (n_nodes > 1 && node_of[u] >= 0 && node_of[c->user] >= 0)
        (node_of[u] == node_of[c->user] ? me->hist_leave_same : me->hist_leave_cross)[b]++;
    }
}

static int64_t
parse_id (const uint8_t *p)
{
  int64_t v = 0;

  while (*p >= '0' && *p <= '9')
    v = v * 10 + (*p++ - '0');
  return v;
}

/* In a snapshot every user object, and nothing else, starts with `{"id":`
 * (the names are the load generator's own, without braces). */
static const char id_mark[] = "{\"id\":";
#define ID_MARK_LEN 6
#define ID_SAFE 26   /* the mark and the longest id, and a byte after it */

/* Counts the users whose mark starts in [from, to) of @buf; each has at
 * least ID_SAFE bytes after its start within @buf. */
static void
scan_marks (Client *c, const uint8_t *from, const uint8_t *to)
{
  while (from < to)
    {
      const uint8_t *m = memchr (from, '{', (size_t) (to - from));

      if (m == NULL)
        break;
      if (memcmp (m, id_mark, ID_MARK_LEN) == 0)
        add_user (c, parse_id (m + ID_MARK_LEN), TRUE);
      from = m + 1;
    }
}

/* Scans snapshot bytes as they stream in, in place: only the last few
 * bytes of a read, where a user's mark may be cut, are carried over. */
static void
scan_snapshot (Client *c, const uint8_t *data, size_t len)
{
  if (c->carry_len > 0)
    {
      uint8_t buf[sizeof c->carry + ID_SAFE];
      size_t head = MIN (len, (size_t) ID_SAFE);
      size_t carried = (size_t) c->carry_len;

      memcpy (buf, c->carry, carried);
      memcpy (buf + carried, data, head);
      if (head < (size_t) ID_SAFE)
        {
          /* Too little came to decide: carry it all (a short read). */
          if (carried + head <= sizeof c->carry)
            {
              memcpy (c->carry, buf, carried + head);
              c->carry_len = (int) (carried + head);
              return;
            }
        }
      /* Marks that start in the carried bytes; buf holds what follows. */
      scan_marks (c, buf, buf + carried);
      c->carry_len = 0;
    }

  if (len > ID_SAFE)
    scan_marks (c, data, data + len - ID_SAFE);
  {
    size_t keep = MIN (len, (size_t) ID_SAFE);
    memcpy (c->carry, data + len - keep, keep);
    c->carry_len = (int) keep;
  }
}

static void
finish_snapshot (Client *c)
{
  /* The carry holds the tail, where the last user may be. */
  for (int i = 0; i + ID_MARK_LEN < c->carry_len; i++)
    if (memcmp (c->carry + i, id_mark, ID_MARK_LEN) == 0)
      add_user (c, parse_id (c->carry + i + ID_MARK_LEN), TRUE);
  c->carry_len = 0;
  c->got_snapshot = TRUE;
  check_complete (c);
}

static void
handle_small_frame (Client *c, const char *text, size_t len)
{
  static const char joined[] = "{\"event\":\"userJoined\",\"data\":{\"id\":";
  static const char left[] = "{\"event\":\"userLeft\",\"data\":{\"id\":";

  if (len < 12 || memcmp (text, "{\"event\":\"", 10) != 0)
    {
      violation (c, "unexpected frame", 0);
      return;
    }
  if (!c->got_snapshot)
    {
      violation (c, "delta before onlineUsers", 0);
      return;
    }
  /* The payload is followed by other bytes of the buffer, never by a
   * digit beyond its end: the frame's own '}' ends the number. */
  if (len > sizeof joined && memcmp (text, joined, sizeof joined - 1) == 0)
    add_user (c, parse_id ((const uint8_t *) text + sizeof joined - 1), FALSE);
  else if (len > sizeof left && memcmp (text, left, sizeof left - 1) == 0)
    remove_user (c, parse_id ((const uint8_t *) text + sizeof left - 1));
  else if (strncmp (text + 10, "userJoined", 10) == 0 || strncmp (text + 10, "userLeft", 8) == 0)
    violation (c, "unexpected shape of an event", 0);
  /* userUpdated, error: nothing to replay */
}

/* ---- window sockets (--view window) ----------------------------------------
 *
 * Each window socket holds its window as user indices and applies every
 * windowChanged to it; after every frame it checks what a client can
 * (doc/protocol.md §8): the ops' indexes in range, min(limit, max(0,
 * total − offset)) users, in list order (the ranks computed from the
 * names munity-load made), each matching the query. Frames are read by
 * their exact shape, as munityd writes them, not by a JSON parser: the
 * client must stay cheaper than the server.
 */

static gboolean churn_phase;    /* time the deliveries of churn events */
static int64_t churn_start_us;

/* The whole list's online users counted by rank in a Fenwick tree that
 * every process updates atomically: a user's place in the list when it
 * joins, to tell a join that lands in a window from a user pulled into
 * it later by a leave before it. Exact when no other event is in flight. */
static void
online_tree_add (int u,
                 int delta)
{
  for (int i = user_rank[u] + 1; i <= users.n; i += i & -i)
    __atomic_fetch_add (&online_tree[i], delta, __ATOMIC_RELAXED);
}

static int
online_before (int u)
{
  int n = 0;

  for (int i = user_rank[u]; i > 0; i -= i & -i)
    n += __atomic_load_n (&online_tree[i], __ATOMIC_RELAXED);
  return n;
}

static gboolean
expect (const char **p,
        const char  *end,
        const char  *literal)
{
  size_t n = strlen (literal);

  if ((size_t) (end - *p) < n || memcmp (*p, literal, n) != 0)
    return FALSE;
  *p += n;
  return TRUE;
}

static gboolean
read_uint (const char **p,
           const char  *end,
           int64_t     *out)
{
  const char *q = *p;
  int64_t v = 0;

  if (q >= end || *q < '0' || *q > '9')
    return FALSE;
  while (q < end && *q >= '0' && *q <= '9' && v < G_MAXINT64 / 10 - 10)
    v = v * 10 + (*q++ - '0');
  *p = q;
  *out = v;
  return TRUE;
}

/* The user index of @id, or -1 (a violation: munity-load made every
 * user a window may hold). */
static int
window_user (Client     *c,
             int64_t     id)
{
  int64_t u = id - users.first_id;

  if (u < 0 || u >= users.n)
    {
      violation (c, "a user munity-load did not make in a window:", id);
      return -1;
    }
  return (int) u;
}

static void
window_broken (Client     *c,
               const char *what,
               int64_t     id)
{
  violation (c, what, id);
  c->win_broken = TRUE;
}

static void
window_send_set (Client *c)
{
  WinQuery *q = queries->pdata[query_of[c->user]];
  int offset = plan_of[c->user] == PLAN_SCROLL ? g_random_int_range (0, users.n) : 0;
  g_autofree char *payload = g_strdup_printf ("{\"event\":\"setWindow\",\"data\":{\"offset\":%d,\"limit\":%d,\"query\":%s}}",
                                              offset, WINDOW_LIMIT, q->json);
  size_t len = strlen (payload), h = 0;
  uint8_t frame[1024];

  g_assert (len < 1000);
  frame[h++] = 0x81;
  if (len < 126)
    frame[h++] = (uint8_t) (0x80 | len);
  else
    {
      frame[h++] = 0x80 | 126;
      frame[h++] = (uint8_t) (len >> 8);
      frame[h++] = (uint8_t) len;
    }
  memset (frame + h, 0, 4);   /* a zero mask leaves the payload as it is */
  h += 4;
  memcpy (frame + h, payload, len);
  if (write (c->fd, frame, h + len) != (ssize_t) (h + len))
    window_broken (c, "could not send setWindow", 0);
  c->want_offset = offset;
  c->win_state = W_SET;
}

static void
window_verify (Client *c)
{
  WinQuery *q = queries->pdata[c->win_query];
  int want = MIN (WINDOW_LIMIT, MAX (0, c->win_total - c->win_offset));

  if (c->win_len != want)
    {
      window_broken (c, "window length is not min(limit, total - offset); total", c->win_total);
      return;
    }
  for (int i = 0; i < c->win_len; i++)
    {
      int u = c->win[i];

      if (i > 0 && user_rank[c->win[i - 1]] >= user_rank[u])
        {
          window_broken (c, "window out of order (or twice) at user", users.first_id + u);
          return;
        }
      if (q->folded[0] != '\0' && strstr (user_folded[u], q->folded) == NULL)
        {
          window_broken (c, "window user not matching the query:", users.first_id + u);
          return;
        }
    }
}

static void
window_check_complete (Client *c)
{
  WinQuery *q = queries->pdata[c->win_query];

  /* After the storm everyone is online: the total is everyone who matches. */
  if (!c->complete && c->win_state == W_ON && !c->win_broken && c->win_total == q->n_matches)
    {
      c->complete = TRUE;
      counters[proc_index].complete++;
      counters[proc_index].storm_done_us = now_us ();
    }
}

static void
window_snapshot (Client     *c,
                 const char *text,
                 const char *end)
{
  const char *p = text;
  int query = c->win_state == W_SET ? query_of[c->user] : 0;
  int want_offset = c->win_state == W_SET ? c->want_offset : 0;
  WinQuery *q = queries->pdata[query];
  int64_t total, offset, limit;
  int n = 0;

  counters[proc_index].win_windows++;
  if (c->win_state == W_ON)
    {
      window_broken (c, "onlineWindow not asked for", 0);
      return;
    }
  if (!expect (&p, end, "{\"event\":\"onlineWindow\",\"data\":{\"total\":") || !read_uint (&p, end, &total) ||
      !expect (&p, end, ",\"offset\":") || !read_uint (&p, end, &offset) ||
      !expect (&p, end, ",\"limit\":") || !read_uint (&p, end, &limit) ||
      !expect (&p, end, ",\"query\":") || !expect (&p, end, q->json) || !expect (&p, end, ",\"users\":[") ||
      offset != want_offset || limit != WINDOW_LIMIT)
    {
      window_broken (c, c->win_state == W_FIRST ? "first frame is not onlineWindow (offset 0, limit 50, query \"\")"
                                                : "onlineWindow is not the window asked for", 0);
      return;
    }
  /* every user object, and nothing else, starts with {"id": */
  for (;;)
    {
      const char *m = memmem (p, (size_t) (end - p), id_mark, ID_MARK_LEN);
      int64_t id;
      int u;

      if (m == NULL)
        break;
      p = m + ID_MARK_LEN;
      if (!read_uint (&p, end, &id) || (u = window_user (c, id)) < 0)
        {
          c->win_broken = TRUE;
          return;
        }
      if (n == WINDOW_CAP)
        {
          window_broken (c, "onlineWindow with too many users:", n);
          return;
        }
      c->win[n++] = u;
    }
  c->win_len = n;
  c->win_total = (int) total;
  c->win_offset = (int) offset;
  c->win_query = query;
  c->win_broken = FALSE;
  c->win_since = now_us ();
  c->got_snapshot = TRUE;
  window_verify (c);
  if (c->win_state == W_FIRST && plan_of[c->user] != PLAN_STAY)
    window_send_set (c);
  else
    c->win_state = W_ON;
  window_check_complete (c);
}

/* An insert of a user who joined in the churn after this window came, not
 * timed here before (a user can leave the window and come back). */
static void
window_time_join (Client *c,
                  int     u,
                  int     index,
                  int     slack)
{
  int64_t joined = join_time[u];
  Counters *me = &counters[proc_index];
  int b;

  /* Only where the place the user joined at is known: the whole list. */
  if (!churn_phase || joined < churn_start_us || joined <= c->win_since || c->win_query != 0 ||
      join_pos[u] < c->win_offset || join_pos[u] >= c->win_offset + WINDOW_LIMIT)
    return;
  /* Inserted where it joined, give or take the frame's other changes: a
   * user that joined at the edge and was pushed out before the frame
   * came in later, when a leave pulled it in (not its join's delivery). */
  if (ABS (index - (join_pos[u] - c->win_offset)) > slack)
    return;
  /* Timed here already: the user left the window (moved by others) and
   * came back. Joins of users since gone or back again are forgotten. */
  if (c->timed == NULL)
    c->timed = g_array_new (FALSE, FALSE, sizeof (Timed));
  for (guint k = 0; k < c->timed->len; k++)
    {
      Timed *t = &g_array_index (c->timed, Timed, k);

      if (t->user == u && t->joined == joined)
        return;
      if (!online[t->user] || join_time[t->user] != t->joined)
        g_array_remove_index_fast (c->timed, k--);
    }
  g_array_append_val (c->timed, ((Timed) { u, joined }));
  b = hist_bucket (now_us () - joined);
  me->hist_join[b]++;
  if (n_nodes > 1 && node_of[u] >= 0 && node_of[c->user] >= 0)
    (node_of[u] == node_of[c->user] ? me->hist_join_same : me->hist_join_cross)[b]++;
}

/* A remove of a user who really left in the churn (and is not back). */
static void
window_time_leave (Client *c,
                   int     u)
{
  Counters *me = &counters[proc_index];
  int b;

  if (!churn_phase || online[u] || leave_time[u] < churn_start_us)
    return;
  b = hist_bucket (now_us () - leave_time[u]);
  me->hist_leave[b]++;
  if (n_nodes > 1 && node_of[u] >= 0 && node_of[c->user] >= 0)
    (node_of[u] == node_of[c->user] ? me->hist_leave_same : me->hist_leave_cross)[b]++;
}

static void
window_changes (Client     *c,
                const char *text,
                const char *end)
{
  const char *p = text;
  int64_t total;
  int slack = 2;   /* the ops in the frame, and two */

  counters[proc_index].win_changes++;
  if (c->win_state == W_FIRST)
    {
      window_broken (c, "windowChanged before onlineWindow", 0);
      return;
    }
  if (!expect (&p, end, "{\"event\":\"windowChanged\",\"data\":{\"total\":") || !read_uint (&p, end, &total) ||
      !expect (&p, end, ",\"ops\":["))
    {
      window_broken (c, "unexpected shape of windowChanged", 0);
      return;
    }
  if (c->win_broken)
    return;
  /* Windows have no userLeft: a leave shows as a lower total (of the
   * users matching the window's query, all online before the restart). */
  if (rolling_phase && total < ((WinQuery *) queries->pdata[c->win_query])->n_matches)
    {
      Counters *me = &counters[proc_index];

      me->win_total_drops++;
    }
  if (kill_phase && total < c->win_total && counters[proc_index].kill_us > 0 &&
      counters[proc_index].kill_first_us == 0)
    counters[proc_index].kill_first_us = now_us ();
  c->win_total = (int) total;
  for (const char *m = p; (m = memmem (m, (size_t) (end - m), "{\"op\":\"", 7)) != NULL; m += 7)
    slack++;
  while (!expect (&p, end, "]}}"))
    {
      int64_t index, id = 0;
      int kind, u = -1;
      const char *next;

      if (expect (&p, end, "{\"op\":\"insert\",\"index\":"))
        kind = 0;
      else if (expect (&p, end, "{\"op\":\"remove\",\"index\":"))
        kind = 1;
      else if (expect (&p, end, "{\"op\":\"update\",\"index\":"))
        kind = 2;
      else
        {
          window_broken (c, "unexpected op in windowChanged", 0);
          return;
        }
      if (!read_uint (&p, end, &index) ||
          (kind != 1 && (!expect (&p, end, ",\"user\":{\"id\":") || !read_uint (&p, end, &id))))
        {
          window_broken (c, "unexpected shape of an op", 0);
          return;
        }
      if (kind != 1 && (u = window_user (c, id)) < 0)
        {
          c->win_broken = TRUE;
          return;
        }
      /* the next op, or the end of the list: "]}}" */
      next = memmem (p, (size_t) (end - p), "{\"op\":\"", 7);
      p = next != NULL ? next : MAX (p, end - 3);

      switch (kind)
        {
        case 0:
          if (index > c->win_len || c->win_len == WINDOW_CAP)
            {
              window_broken (c, "insert beyond the window's end: index", index);
              return;
            }
          memmove (c->win + index + 1, c->win + index, (c->win_len - index) * sizeof (int));
          c->win[index] = u;
          c->win_len++;
          window_time_join (c, u, (int) index, slack);
          break;
        case 1:
          if (index >= c->win_len)
            {
              window_broken (c, "remove beyond the window's end: index", index);
              return;
            }
          window_time_leave (c, c->win[index]);
          memmove (c->win + index, c->win + index + 1, (c->win_len - index - 1) * sizeof (int));
          c->win_len--;
          break;
        default:
          if (index >= c->win_len)
            {
              window_broken (c, "update beyond the window's end: index", index);
              return;
            }
          c->win[index] = u;
          break;
        }
    }
  window_verify (c);
  window_check_complete (c);
}

static void
window_frame (Client     *c,
              const char *text,
              size_t      len)
{
  static const char changed[] = "{\"event\":\"windowChanged\"";
  static const char window[] = "{\"event\":\"onlineWindow\"";

  if (len > sizeof changed && memcmp (text, changed, sizeof changed - 1) == 0)
    window_changes (c, text, text + len);
  else if (len > sizeof window && memcmp (text, window, sizeof window - 1) == 0)
    window_snapshot (c, text, text + len);
  else
    window_broken (c, c->win_state == W_FIRST ? "first frame is not onlineWindow" : "not a window event on a window socket", 0);
}

/* How many open sockets here do not hold exactly the window computed from
 * who is online (the shared flags): run when nothing changes any more. */
static uint64_t
window_compare (gboolean tell,
                uint64_t *checked)
{
  int *on[WINDOW_QUERIES] = { NULL };
  int n_on[WINDOW_QUERIES] = { 0 };
  uint64_t bad = 0;
  int told = 0;

  *checked = 0;
  for (int i = 0; i < n_clients; i++)
    {
      Client *c = &clients[i];
      int q = c->win_query, want;

      if (c->state != C_OPEN)
        continue;
      (*checked)++;
      if (c->win_state != W_ON || c->win_broken)
        {
          if (tell && told++ < 5)
            g_printerr ("munity-load: user %d's window socket is %s\n", c->user,
                        c->win_broken ? "broken" : "still waiting for its window");
          bad++;
          continue;
        }
      if (on[q] == NULL)
        {
          WinQuery *wq = queries->pdata[q];

          on[q] = g_new (int, MAX (wq->n_matches, 1));
          for (int r = 0; r < wq->n_matches; r++)
            if (online[wq->by_rank[r]])
              on[q][n_on[q]++] = wq->by_rank[r];
        }
      want = MIN (WINDOW_LIMIT, MAX (0, n_on[q] - c->win_offset));
      if (c->win_total != n_on[q] || c->win_len != want ||
          memcmp (c->win, on[q] + MIN (c->win_offset, n_on[q]), want * sizeof (int)) != 0)
        {
          if (tell && told++ < 5)
            g_printerr ("munity-load: user %d's window (query %s, offset %d) holds %d of total %d,"
                        " expected %d of %d\n", c->user, ((WinQuery *) queries->pdata[q])->json,
                        c->win_offset, c->win_len, c->win_total, want, n_on[q]);
          bad++;
        }
    }
  for (int q = 0; q < WINDOW_QUERIES; q++)
    g_free (on[q]);
  return bad;
}

static void
client_close (Client *c)
{
  if (c->fd >= 0)
    {
      epoll_ctl (epfd, EPOLL_CTL_DEL, c->fd, NULL);
      close (c->fd);
    }
  if (c->state == C_HANDSHAKE || c->state == C_CONNECTING)
    pending_handshakes--;
  c->fd = -1;
  c->state = C_CLOSED;
  if (window_mode && online[c->user])
    online_tree_add (c->user, -1);
  online[c->user] = 0;
  c->win_len = 0;
  c->win_state = W_FIRST;
  c->win_broken = FALSE;
  c->count = 0;
  c->got_snapshot = FALSE;
  c->complete = FALSE;
  c->on_killed = 0;
  c->hdr_len = 0;
  c->payload_left = 0;
  c->big = FALSE;
  c->carry_len = 0;
  if (c->payload)
    g_byte_array_set_size (c->payload, 0);
  if (c->seen != NULL)
    memset (c->seen, 0, words_per_set * sizeof (uint64_t));
}

static void
client_feed_frames (Client *c, const uint8_t *data, size_t len)
{
  Counters *me = &counters[proc_index];

  while (len > 0)
    {
      if (c->payload_left == 0 && !c->big && (c->payload == NULL || c->payload->len == 0))
        {
          /* header */
          size_t need, take;
          uint64_t plen;

          while (c->hdr_len < 2 && len > 0)
            {
              c->hdr[c->hdr_len++] = *data++;
              len--;
            }
          if (c->hdr_len < 2)
            return;
          plen = c->hdr[1] & 0x7F;
          need = 2 + (plen == 126 ? 2 : plen == 127 ? 8 : 0);
          take = MIN (need - c->hdr_len, len);
          memcpy (c->hdr + c->hdr_len, data, take);
          c->hdr_len += (int) take;
          data += take;
          len -= take;
          if ((size_t) c->hdr_len < need)
            return;
          if (plen == 126)
            plen = ((uint64_t) c->hdr[2] << 8) | c->hdr[3];
          else if (plen == 127)
            {
              plen = 0;
              for (int i = 0; i < 8; i++)
                plen = (plen << 8) | c->hdr[2 + i];
            }
          c->opcode = c->hdr[0] & 0x0F;
          c->hdr_len = 0;
          me->frames++;
          if (node_of[c->user] >= 0)
            me->node_frames[node_of[c->user]]++;

          if (c->opcode == 0x8 && plen == 0)
            {
              me->closed_by_server++;
              c->close_code = 1005;
              client_close (c);
              return;
            }
          if (c->opcode == 0x9)  /* ping: answer with an empty masked pong */
            {
              static const uint8_t pong[6] = { 0x8A, 0x80, 0, 0, 0, 0 };
              if (write (c->fd, pong, sizeof pong) < 0)
                { /* the read side will notice */ }
            }
          c->payload_left = plen;
          if (plen == 0)
            continue;
          if (c->opcode == 0x1 && !c->got_snapshot && plen > 4096 && !window_mode)
            c->big = TRUE;
          else if (c->payload == NULL)
            c->payload = g_byte_array_new ();
          continue;
        }

      {
        size_t take = MIN (c->payload_left, (uint64_t) len);

        if (c->big)
          scan_snapshot (c, data, take);
        else
          g_byte_array_append (c->payload, data, (guint) take);
        data += take;
        len -= take;
        c->payload_left -= take;

        if (c->payload_left == 0)
          {
            if (c->big)
              {
                c->big = FALSE;
                finish_snapshot (c);
              }
            else if (c->opcode == 0x8)
              {
                /* the close code (--rolling-restart wants 1001) */
                me->closed_by_server++;
                c->close_code = c->payload->len >= 2 ? (c->payload->data[0] << 8) | c->payload->data[1] : 1005;
                client_close (c);
                return;
              }
            else if (c->opcode == 0x1)
              {
                const char *text = (const char *) c->payload->data;
                if (window_mode)
                  window_frame (c, text, c->payload->len);
                else if (!c->got_snapshot)
                  {
                    if (c->payload->len > 25 && memcmp (text, "{\"event\":\"onlineUsers\"", 22) == 0)
                      {
                        scan_snapshot (c, c->payload->data, c->payload->len);
                        finish_snapshot (c);
                      }
                    else
                      violation (c, "first frame is not onlineUsers", 0);
                  }
                else
                  handle_small_frame (c, text, c->payload->len);
              }
            if (c->payload)
              g_byte_array_set_size (c->payload, 0);
          }
      }
    }
}

/* The node a user's socket connects to: round robin, or with
 * --reuse-port always the first address (the kernel picks the node). */
static int
target_node (int user)
{
  /* node_of moves when --rolling-restart reconnects a client elsewhere */
  return opt_reuse_port ? 0 : node_of[user] >= 0 ? node_of[user] : user % n_nodes;
}

static void
client_start (Client *c)
{
  struct sockaddr_in local = { 0 };
  socklen_t local_len = sizeof local;
  int idx = c->user;
  struct epoll_event ev;
  int one = 1;

  c->close_code = 1006;
  c->fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    {
      counters[proc_index].failed++;
      c->state = C_CLOSED;
      return;
    }
  setsockopt (c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* Spread source addresses past the ephemeral port range of one pair. */
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl (0x7F000002 + (uint32_t) (idx / PORTS_PER_ADDRESS) % 200);
  setsockopt (c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  bind (c->fd, (struct sockaddr *) &local, sizeof local);

  if (connect (c->fd, (struct sockaddr *) &nodes[target_node (idx)].addr, sizeof nodes[0].addr) < 0 &&
      errno != EINPROGRESS)
    {
      counters[proc_index].failed++;
      close (c->fd);
      c->fd = -1;
      c->state = C_CLOSED;
      return;
    }
  /* Where the kernel sends a socket under --reuse-port is found later
   * from the nodes' descriptors, by this source port. */
  if (opt_reuse_port)
    {
      node_of[idx] = -1;
      if (getsockname (c->fd, (struct sockaddr *) &local, &local_len) == 0)
        src_port[idx] = ntohs (local.sin_port);
    }
  c->state = C_CONNECTING;
  pending_handshakes++;
  ev.events = EPOLLOUT | EPOLLIN;
  ev.data.ptr = c;
  epoll_ctl (epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void
client_send_handshake (Client *c)
{
  char req[512];
  int len = snprintf (req, sizeof req,
                      "GET /ws%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\nCookie: munity_session=%s\r\n\r\n",
                      window_mode ? "?view=window" : "", nodes[target_node (c->user)].port,
                      users.tokens[c->user]);
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

  if (write (c->fd, req, len) != len)
    {
      counters[proc_index].failed++;
      client_close (c);
      return;
    }
  epoll_ctl (epfd, EPOLL_CTL_MOD, c->fd, &ev);
  c->state = C_HANDSHAKE;
  if (c->http == NULL)
    c->http = g_string_new (NULL);
  g_string_truncate (c->http, 0);
}

static void
client_readable (Client *c)
{
  uint8_t buf[65536];

  for (int round = 0; round < 8; round++)
    {
      ssize_t n = read (c->fd, buf, sizeof buf);

      if (n < 0)
        {
          if (errno == EAGAIN || errno == EINTR)
            return;
          client_close (c);
          return;
        }
      if (n == 0)
        {
          client_close (c);
          return;
        }
      counters[proc_index].bytes += n;

      if (c->state == C_HANDSHAKE)
        {
          char *end;
          size_t used;

          g_string_append_len (c->http, (const char *) buf, n);
          end = strstr (c->http->str, "\r\n\r\n");
          if (end == NULL)
            continue;
          if (strncmp (c->http->str, "HTTP/1.1 101", 12) != 0)
            {
              counters[proc_index].failed++;
              client_close (c);
              return;
            }
          used = end + 4 - c->http->str;
          pending_handshakes--;
          c->state = C_OPEN;
          counters[proc_index].opened++;
          counters[proc_index].storm_last_open_us = now_us ();
          join_time[c->user] = now_us ();
          online[c->user] = 1;
          if (window_mode)
            {
              online_tree_add (c->user, 1);
              join_pos[c->user] = online_before (c->user);
            }
          if (c->http->len > used)
            client_feed_frames (c, (const uint8_t *) c->http->str + used, c->http->len - used);
          g_string_truncate (c->http, 0);
        }
      else if (c->state == C_OPEN)
        client_feed_frames (c, buf, n);

      if (c->state != C_OPEN && c->state != C_HANDSHAKE)
        return;
      if ((size_t) n < sizeof buf)
        return;
    }
}

/* While frames stream in, the clients poll instead of sleeping in
 * epoll_wait(): a client asleep in epoll_wait() has to be woken by the
 * kernel inside munityd's write(), which on loopback charges munityd for
 * the load generator's wake-ups (a remote client wakes on its own
 * machine). A poll that finds nothing sleeps for POLL_SLEEP_US, so a
 * latency figure is at most that much late, never early. */
#define POLL_SLEEP_US 200

static void
pump (int timeout_ms)
{
  struct epoll_event events[512];
  int n;

  if (timeout_ms > 0 && !opt_blocking_wait)
    {
      n = epoll_wait (epfd, events, G_N_ELEMENTS (events), 0);
      if (n == 0)
        {
          g_usleep (POLL_SLEEP_US);
          return;
        }
    }
  else
    n = epoll_wait (epfd, events, G_N_ELEMENTS (events), timeout_ms);

  for (int i = 0; i < n; i++)
    {
      Client *c = events[i].data.ptr;

      if (c->state == C_CONNECTING && (events[i].events & EPOLLOUT))
        {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt (c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0)
            {
              counters[proc_index].failed++;
              client_close (c);
              continue;
            }
          client_send_handshake (c);
          continue;
        }
      if (c->state == C_HANDSHAKE || c->state == C_OPEN)
        client_readable (c);
    }
}

/* Starts as many queued clients as the handshake window allows. */
static void
open_some (void)
{
  while (n_pending_opens > 0 && pending_handshakes < MAX_PENDING_HANDSHAKES)
    {
      Client *c = &clients[n_clients - n_pending_opens];
      n_pending_opens--;
      client_start (c);
    }
}

/* ---- phases, run in each client process ---------------------------------- */

/* Control from the parent: one byte per command on a pipe. */
static int cmd_fd = -1;
static int ack_fd = -1;

static void
ack (void)
{
  char b = 'k';
  if (write (ack_fd, &b, 1) != 1)
    _exit (3);
}

static void
run_child (int index, int first, int count)
{
  char cmd;

  proc_index = index;
  client_base = first;
  n_clients = count;
  clients = g_new0 (Client, count);
  for (int i = 0; i < count; i++)
    {
      clients[i].fd = -1;
      clients[i].user = first + i;
      if (window_mode)
        clients[i].win = g_new (int, WINDOW_CAP);
      else
        clients[i].seen = g_new0 (uint64_t, words_per_set);
    }
  epfd = epoll_create1 (EPOLL_CLOEXEC);

  for (;;)
    {
      ssize_t r = read (cmd_fd, &cmd, 1);
      if (r <= 0)
        _exit (0);

      switch (cmd)
        {
        case 'S': /* storm: open every client, until all complete */
          {
            int64_t deadline = now_us () + (int64_t) opt_timeout_s * 1000000;
            n_pending_opens = n_clients;
            counters[proc_index].phase_start_us = now_us ();
            ack ();
            while (now_us () < deadline)
              {
                open_some ();
                pump (5);
                if (counters[proc_index].complete + counters[proc_index].failed >= (uint64_t) n_clients &&
                    n_pending_opens == 0)
                  break;
              }
            ack ();
          }
          break;

        case 'I': /* idle: keep answering pings */
          {
            int64_t deadline = now_us () + (int64_t) opt_idle_s * 1000000;
            while (now_us () < deadline)
              pump (100);
            ack ();
          }
          break;

        case 'C': /* churn: the churn clients of this process open/close at a rate */
          {
            /* The last quarter of each process's clients churn. */
            int n_churn = MAX (n_clients / 4, 1);
            int64_t start = now_us ();
            int64_t end = start + (int64_t) opt_churn_s * 1000000;
            int64_t interval = opt_churn_rate > 0 ? (int64_t) 1000000 * n_processes / opt_churn_rate : 1000000;
            int64_t next = start;
            int k = 0;
            /* With windows, the one who joins is not the one who leaves:
             * a user leaves and comes back lag ticks later, so that a
             * window sees a real leave and a real join, not a user who
             * went and came back within one 100 ms frame (an update).
             * The first lag to come back leave before the clock starts,
             * and the totals settle. */
            int lag = MAX (n_churn / 2, 1);
            Counters *me = &counters[proc_index];

            if (window_mode)
              {
                for (int i = n_clients - lag; i < n_clients; i++)
                  if (clients[i].state == C_OPEN)
                    client_close (&clients[i]);
                for (end = now_us () + 1500000; now_us () < end;)
                  pump (10);
                start = next = now_us ();
                end = start + (int64_t) opt_churn_s * 1000000;
                me->win_changes = 0;
              }
            churn_start_us = start;
            churn_phase = TRUE;
            ack ();
            while (now_us () < end)
              {
                int64_t t = now_us ();
                if (t >= next)
                  {
                    Client *c = &clients[n_clients - n_churn + (k % n_churn)];
                    Client *j = window_mode ? &clients[n_clients - n_churn + ((k + n_churn - lag % n_churn) % n_churn)] : c;

                    /* one leave and one join */
                    if (c->state == C_OPEN)
                      {
                        leave_time[c->user] = now_us ();
                        client_close (c);
                        me->churn_events++;
                      }
                    if (!window_mode || j->state == C_CLOSED)
                      {
                        join_time[j->user] = 0;
                        client_start (j);
                        me->churn_events++;
                      }
                    k++;
                    next += interval;
                  }
                pump (1);
              }
            /* settle */
            end = now_us () + 2000000;
            while (now_us () < end)
              pump (10);
            churn_phase = FALSE;
            ack ();
          }
          break;

        case 'L': /* leave storm: every other user closes (odd indices,
                   * so that the server's kept snapshot loses users all
                   * along, not just at its end) */
          {
            int64_t t = now_us ();
            int expected = 0;
            counters[proc_index].phase_start_us = t;
            for (int i = 0; i < n_clients; i++)
              expected += clients[i].user % 2 == 0;
            for (int i = 0; i < n_clients; i++)
              {
                Client *c = &clients[i];
                if (c->user % 2 == 1 && c->state == C_OPEN)
                  {
                    leave_time[c->user] = t;
                    client_close (c);
                  }
              }
            ack ();
            {
              int64_t deadline = now_us () + (int64_t) opt_timeout_s * 1000000;
              while (now_us () < deadline)
                {
                  uint64_t done = 0;
                  pump (5);
                  for (int i = 0; i < n_clients; i++)
                    done += clients[i].state == C_OPEN && clients[i].count == users.n - users.n / 2;
                  if (done == (uint64_t) expected)
                    {
                      counters[proc_index].leave_observers_done = done;
                      counters[proc_index].storm_done_us = now_us ();
                      break;
                    }
                }
            }
            ack ();
          }
          break;

        case 'V': /* after the leave storm: one client that stayed
                   * rejoins; its new snapshot must list exactly the users
                   * still online (the half that stayed) */
          {
            int64_t deadline = now_us () + 10 * 1000000;
            Client *c = NULL;

            for (int i = 0; i < n_clients && c == NULL; i++)
              if (clients[i].user % 2 == 0 && clients[i].state == C_OPEN)
                c = &clients[i];
            if (c != NULL)
              {
                client_close (c);
                join_time[c->user] = 0;
                client_start (c);
                while (now_us () < deadline && !(c->state == C_OPEN && c->got_snapshot))
                  pump (5);
                /* frames after the snapshot (its own join for others) */
                for (int k = 0; k < 20; k++)
                  pump (5);
                if (c->state == C_OPEN && c->got_snapshot && c->count == users.n - users.n / 2)
                  counters[proc_index].rejoin_checked++;
                else
                  {
                    g_printerr ("munity-load: a client that rejoined after the leave storm holds %d users, not %d\n",
                                c->count, users.n - users.n / 2);
                    counters[proc_index].rejoin_wrong++;
                  }
              }
            ack ();
          }
          break;

        case 'K': /* node opt_kill_node is about to be SIGKILLed: wait until
                   * no open socket lists one of its users (its own sockets
                   * close when it dies) */
          {
            Counters *me = &counters[proc_index];
            g_autoptr(GArray) victims = g_array_new (FALSE, FALSE, sizeof (int));
            int64_t deadline;
            gboolean done, waiting = FALSE;

            /* Let what the phases before sent arrive first: a client that
             * rejoined just before (grace 0: a leave and a join for the
             * others) reaches the other nodes' sockets a little later, and
             * that leave is not one of the killed node's. */
            deadline = now_us () + 2000000;
            while (now_us () < deadline)
              pump (10);

            for (int u = 0; u < users.n; u++)
              if (node_of[u] == opt_kill_node)
                g_array_append_val (victims, u);
            if (window_mode)
              {
                /* Windows list no one by id for sure (a window shows 50):
                 * done when none of the node's users is online and every
                 * window here is the one computed from who is, total
                 * included — the killed node's users gone from it. */
                int64_t next_check = 0;
                uint64_t checked;

                for (int i = 0; i < n_clients; i++)
                  me->kill_observers += clients[i].state == C_OPEN && node_of[clients[i].user] != opt_kill_node;
                kill_phase = TRUE;
                ack ();
                deadline = now_us () + (int64_t) opt_timeout_s * 1000000;
                done = FALSE;
                while (now_us () < deadline)
                  {
                    pump (5);
                    if (!done && me->kill_us > 0 && now_us () >= next_check)
                      {
                        gboolean victims_gone = TRUE;

                        next_check = now_us () + 20000;
                        for (guint k = 0; k < victims->len && victims_gone; k++)
                          victims_gone = !online[g_array_index (victims, int, k)];
                        if (victims_gone && window_compare (FALSE, &checked) == 0)
                          {
                            done = TRUE;
                            me->kill_done_us = now_us ();
                          }
                      }
                    if (done && now_us () > me->kill_done_us + 1000000)
                      break;
                  }
                if (!done)
                  window_compare (TRUE, &checked);
                kill_phase = FALSE;
                ack ();
                break;
              }
            for (int i = 0; i < n_clients; i++)
              {
                Client *c = &clients[i];

                c->on_killed = 0;
                if (c->state != C_OPEN)
                  continue;
                for (guint k = 0; k < victims->len; k++)
                  c->on_killed += seen_test (c, g_array_index (victims, int, k));
                if (node_of[c->user] != opt_kill_node)
                  {
                    me->kill_observers++;
                    waiting |= c->on_killed > 0;
                  }
              }
            /* No socket here lists a user of that node: nothing to wait for. */
            done = !waiting;
            if (done)
              me->kill_done_us = now_us ();
            kill_phase = TRUE;
            ack ();

            deadline = now_us () + (int64_t) opt_timeout_s * 1000000;
            while (now_us () < deadline)
              {
                pump (5);
                if (!done)
                  {
                    done = TRUE;
                    for (int i = 0; i < n_clients && done; i++)
                      done = clients[i].state != C_OPEN || clients[i].on_killed == 0 ||
                             node_of[clients[i].user] == opt_kill_node;
                    if (done)
                      me->kill_done_us = now_us ();
                  }
                /* then a second more, for userLeft of users who stay */
                if (done && me->kill_us > 0 && now_us () > MAX (me->kill_done_us, me->kill_us) + 1000000)
                  break;
              }
            kill_phase = FALSE;
            ack ();
          }
          break;

        case 'R': /* a rolling restart's round: the parent SIGTERMs node
                   * rolling_node, then starts it again; its clients here
                   * reconnect to the other nodes at once */
          {
            Counters *me = &counters[proc_index];
            int stop = me->rolling_node;
            int64_t deadline = now_us () + (int64_t) opt_timeout_s * 1000000;
            int rr = proc_index;
            gboolean done = FALSE;

            rolling_phase = TRUE;
            for (int i = 0; i < n_clients; i++)
              clients[i].rolling = clients[i].state == C_OPEN && node_of[clients[i].user] == stop
                ? ROLL_WATCH : ROLL_NONE;
            ack ();
            while (!done && now_us () < deadline)
              {
                int64_t up;

                pump (5);
                up = __atomic_load_n (&me->rolling_up_us, __ATOMIC_ACQUIRE);
                if (up < 0)
                  break;   /* the restart broke: stop waiting */
                done = up > 0;
                for (int i = 0; i < n_clients; i++)
                  {
                    Client *c = &clients[i];
                    Roll *ru = &roll[c->user];

                    if (c->rolling == ROLL_WATCH && c->state == C_CLOSED)
                      {
                        c->roll_closed_us = now_us ();
                        if (c->close_code != 1001)
                          me->rolling_not_1001++;
                        c->rolling = ROLL_RECONNECT;
                      }
                    if (c->rolling == ROLL_RECONNECT && c->state == C_CLOSED &&
                        pending_handshakes < MAX_PENDING_HANDSHAKES &&
                        now_us () >= c->roll_closed_us + (int64_t) opt_reconnect_delay_ms * 1000)
                      {
                        /* round robin over the nodes still up (a failed
                         * attempt goes on to the next one) */
                        int k = rr++ % (n_nodes - 1);
                        node_of[c->user] = (int16_t) (k < stop ? k : k + 1);
                        join_time[c->user] = 0;
                        client_start (c);
                      }
                    if (c->rolling == ROLL_RECONNECT && c->state == C_OPEN && c->got_snapshot)
                      {
                        /* From the SIGTERM, not from when this busy
                         * process noticed the close: the node's grace
                         * cannot start earlier, so a gap within the grace
                         * here is within it for the node too. */
                        int64_t gap = join_time[c->user] - __atomic_load_n (&me->rolling_term_us, __ATOMIC_ACQUIRE);

                        ru->max_gap_us = MAX (ru->max_gap_us, gap);
                        ru->reopen_us = join_time[c->user];
                        if (gap > (int64_t) opt_grace_ms * 1000)
                          {
                            ru->late = 1;
                            me->rolling_late++;
                          }
                        me->rolling_reconnects++;
                        c->rolling = ROLL_NONE;
                      }
                    done &= c->rolling == ROLL_NONE;
                  }
              }
            for (int i = 0; i < n_clients; i++)
              if (clients[i].rolling != ROLL_NONE)
                {
                  roll[clients[i].user].late = 1;
                  me->rolling_unreconnected++;
                  clients[i].rolling = ROLL_NONE;
                }
            ack ();
          }
          break;

        case 'W': /* after the last round: a grace and a second more, for
                   * a userLeft that the grace would have delayed */
          {
            int64_t deadline = now_us () + (int64_t) opt_grace_ms * 1000 + 1000000;
            while (now_us () < deadline)
              pump (5);
            rolling_phase = FALSE;
            ack ();
          }
          break;

        case 'X': /* --view window, after a phase: once the deliveries
                   * settled (totals go out at most once a second), every
                   * window must be exactly the one computed from who is
                   * online; checked again until it is, for 10 s at most */
          {
            Counters *me = &counters[proc_index];
            int64_t start = now_us ();
            int64_t deadline = start + 1500000 + 10 * 1000000;
            int64_t next_check = start + 1500000;
            uint64_t bad = 0, checked = 0;

            me->phase_start_us = start;
            me->win_settled_us = 0;
            for (;;)
              {
                pump (10);
                if (now_us () < next_check)
                  continue;
                bad = window_compare (FALSE, &checked);
                if (bad == 0)
                  {
                    me->win_settled_us = now_us ();
                    break;
                  }
                if (now_us () >= deadline)
                  {
                    window_compare (TRUE, &checked);
                    break;
                  }
                next_check = now_us () + 100000;
              }
            me->win_mismatches = bad;
            me->win_checked = checked;
            ack ();
          }
          break;

        case 'Q':
        default:
          _exit (0);
        }
    }
}

/* ---- the parent ---------------------------------------------------------- */

typedef struct {
  GPid pid;
  int  cmd;
  int  ack;
} Child;

static Child *children;

static void
broadcast_cmd (char cmd)
{
  for (int i = 0; i < n_processes; i++)
    if (write (children[i].cmd, &cmd, 1) != 1)
      g_error ("child %d went away", i);
}

static void
wait_acks (void)
{
  for (int i = 0; i < n_processes; i++)
    {
      char b;
      if (read (children[i].ack, &b, 1) != 1)
        g_error ("child %d went away", i);
    }
}

static uint64_t
sum_counter (size_t offset)
{
  uint64_t total = 0;
  for (int i = 0; i < n_processes; i++)
    total += *(uint64_t *) ((char *) &counters[i] + offset);
  return total;
}

static void
percentiles (size_t hist_offset, double *p50, double *p99, double *max, uint64_t *n)
{
  uint64_t hist[HIST_BUCKETS] = { 0 };
  uint64_t total = 0, acc = 0;

  for (int i = 0; i < n_processes; i++)
    for (int b = 0; b < HIST_BUCKETS; b++)
      hist[b] += ((uint64_t *) ((char *) &counters[i] + hist_offset))[b];
  for (int b = 0; b < HIST_BUCKETS; b++)
    total += hist[b];
  *n = total;
  *p50 = *p99 = *max = 0;
  for (int b = 0; b < HIST_BUCKETS; b++)
    {
      if (hist[b] == 0)
        continue;
      acc += hist[b];
      if (*p50 == 0 && acc * 2 >= total)
        *p50 = bucket_value (b);
      if (*p99 == 0 && acc * 100 >= total * 99)
        *p99 = bucket_value (b);
      *max = bucket_value (b);
    }
}

static GPtrArray *report_keys;
static GPtrArray *report_values;

static void put (const char *key, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
put (const char *key,
     const char *format,
     ...)
{
  va_list args;

  va_start (args, format);
  g_ptr_array_add (report_keys, g_strdup (key));
  g_ptr_array_add (report_values, g_strdup_vprintf (format, args));
  va_end (args);
}

static GPid daemon_pid;
static char *daemon_state;
static MunityTestPg *cluster_pg;   /* (owned) (nullable) of started nodes */

static int
remove_one (const char        *path,
            const struct stat *st,
            int                flag,
            struct FTW        *ftw)
{
  remove (path);
  return 0;
}

static void
stop_daemon (void)
{
  if (daemon_pid > 0)
    {
      kill (daemon_pid, SIGTERM);
      waitpid (daemon_pid, NULL, 0);
      daemon_pid = 0;
    }
  /* Started nodes: all told at once, then reaped; then their database. */
  for (int i = 0; i < n_nodes; i++)
    if (nodes[i].spawned > 0 && !nodes[i].killed)
      kill (nodes[i].spawned, SIGTERM);
  for (int i = 0; i < n_nodes; i++)
    {
      if (nodes[i].spawned > 0)
        waitpid (nodes[i].spawned, NULL, 0);
      nodes[i].spawned = 0;
      if (nodes[i].state_dir != NULL)
        nftw (nodes[i].state_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
      g_clear_pointer (&nodes[i].state_dir, g_free);
    }
  g_clear_pointer (&cluster_pg, munity_test_pg_free);
}

static gboolean
http_ok (const struct sockaddr_in *addr,
         const char               *path)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  char buf[256];
  g_autofree char *req = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
  gboolean ok = FALSE;

  if (connect (fd, (struct sockaddr *) addr, sizeof *addr) == 0 &&
      write (fd, req, strlen (req)) == (ssize_t) strlen (req))
    {
      ssize_t n = read (fd, buf, sizeof buf - 1);
      ok = n > 12 && strncmp (buf, "HTTP/1.1 200", 12) == 0;
    }
  close (fd);
  return ok;
}

/* A loopback port free now (the kernel's choice; racy, as ever). */
static int
free_port (void)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof a;

  bind (fd, (struct sockaddr *) &a, sizeof a);
  getsockname (fd, (struct sockaddr *) &a, &len);
  close (fd);
  return ntohs (a.sin_port);
}

static void
loopback_addr (struct sockaddr_in *addr,
               int                 port)
{
  memset (addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_port = htons (port);
  addr->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
}

static gboolean
start_daemon (void)
{
  g_autofree char *listen = NULL;
  g_autofree char *grace = g_strdup_printf ("%d", opt_grace_ms);
  g_autoptr(GError) error = NULL;

  opt_port = free_port ();
  daemon_state = g_dir_make_tmp ("munity-load-XXXXXX", NULL);
  listen = g_strdup_printf ("127.0.0.1:%d", opt_port);
  {
    const char *argv[] = { opt_munityd, "--listen", listen, "--state-dir", daemon_state,
                           "--bus", "none", "--leave-grace-ms", grace, NULL };
    if (!g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                        NULL, NULL, &daemon_pid, &error))
      {
        g_printerr ("munity-load: cannot start %s: %s\n", opt_munityd, error->message);
        return FALSE;
      }
  }
  opt_pid = daemon_pid;
  opt_database = g_strdup_printf ("host=%s port=5432 user=munity dbname=postgres", daemon_state);

  nodes[0].port = opt_port;
  nodes[0].pid = daemon_pid;
  loopback_addr (&nodes[0].addr, opt_port);
  for (int i = 0; i < 600; i++)
    {
      if (http_ok (&nodes[0].addr, "/healthz"))
        return TRUE;
      g_usleep (100000);
    }
  g_printerr ("munity-load: munityd did not become healthy\n");
  return FALSE;
}

static gboolean
munityd_has_option (const char *option)
{
  const char *argv[] = { opt_munityd, "--help", NULL };
  g_autofree char *out = NULL;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                     &out, NULL, NULL, NULL))
    return FALSE;
  return strstr (out, option) != NULL;
}

static void
node_child_setup (gpointer user_data)
{
  /* A crashed load generator leaves no node behind. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* Starts node @i on the cluster's database and waits until it is
 * healthy; @health is an address only this node listens on. */
static gboolean
start_node (int                 i,
            gboolean            with_name,
            struct sockaddr_in *health)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  Node *node = &nodes[i];

  /* a restarted node keeps its state directory */
  if (node->state_dir == NULL)
    node->state_dir = g_dir_make_tmp ("munity-load-node-XXXXXX", NULL);
  g_ptr_array_add (argv, g_strdup (opt_munityd));
  g_ptr_array_add (argv, g_strdup ("--listen"));
  g_ptr_array_add (argv, g_strdup_printf ("127.0.0.1:%d", node->port));
  if (opt_reuse_port)
    {
      g_ptr_array_add (argv, g_strdup ("--listen"));
      g_ptr_array_add (argv, g_strdup_printf ("127.0.0.1:%d", ntohs (health->sin_port)));
      g_ptr_array_add (argv, g_strdup ("--reuse-port"));
    }
  if (with_name)
    {
      g_ptr_array_add (argv, g_strdup ("--node-name"));
      g_ptr_array_add (argv, g_strdup_printf ("load-%d", i));
    }
  g_ptr_array_add (argv, g_strdup ("--database"));
  g_ptr_array_add (argv, g_strdup (munity_test_pg_conninfo (cluster_pg)));
  g_ptr_array_add (argv, g_strdup ("--state-dir"));
  g_ptr_array_add (argv, g_strdup (node->state_dir));
  g_ptr_array_add (argv, g_strdup ("--bus"));
  g_ptr_array_add (argv, g_strdup ("none"));
  g_ptr_array_add (argv, g_strdup ("--leave-grace-ms"));
  g_ptr_array_add (argv, g_strdup_printf ("%d", opt_grace_ms));
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_async (NULL, (char **) argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                      node_child_setup, NULL, &node->spawned, &error))
    {
      g_printerr ("munity-load: cannot start %s: %s\n", opt_munityd, error->message);
      return FALSE;
    }
  node->pid = node->spawned;

  for (int k = 0; k < 600; k++)
    {
      if (waitpid (node->spawned, NULL, WNOHANG) == node->spawned)
        {
          g_printerr ("munity-load: node %d (munityd) exited at start-up\n", i);
          node->spawned = 0;
          return FALSE;
        }
      if (http_ok (health, "/healthz"))
        return TRUE;
      g_usleep (100000);
    }
  g_printerr ("munity-load: node %d did not become healthy\n", i);
  return FALSE;
}

/* --munityd with --nodes N: N munityd on one throwaway PostgreSQL, one
 * after the other (the first applies the migrations). */
static gboolean
start_cluster (void)
{
  gboolean with_name = munityd_has_option ("--node-name");
  int shared_port = free_port ();

  if (opt_reuse_port && !munityd_has_option ("--reuse-port"))
    {
      g_printerr ("munity-load: %s has no --reuse-port\n", opt_munityd);
      return FALSE;
    }
  if (!with_name)
    g_printerr ("munity-load: %s has no --node-name (no cluster code?): nodes started without names\n",
                opt_munityd);

  cluster_pg = munity_test_pg_start ();
  opt_database = g_strdup (munity_test_pg_conninfo (cluster_pg));
  for (int i = 0; i < n_nodes; i++)
    {
      struct sockaddr_in health;

      nodes[i].port = opt_reuse_port ? shared_port : free_port ();
      loopback_addr (&nodes[i].addr, nodes[i].port);
      if (opt_reuse_port)
        {
          int port;

          /* not bound before node 0 starts: do not take it twice */
          while ((port = free_port ()) == shared_port)
            ;
          loopback_addr (&health, port);
        }
      else
        health = nodes[i].addr;
      if (!start_node (i, with_name, &health))
        return FALSE;
    }
  return TRUE;
}

/* --nodes HOST:PORT,... [--pids PID,...], or --nodes N with --munityd;
 * without --nodes, the single munityd of --host/--port/--pid. */
static gboolean
parse_nodes (void)
{
  g_auto(GStrv) parts = NULL;
  g_auto(GStrv) pids = NULL;

  if (opt_nodes == NULL)
    {
      n_nodes = 1;
      nodes[0].port = opt_port;
      nodes[0].pid = opt_pid;
      nodes[0].addr.sin_family = AF_INET;
      nodes[0].addr.sin_port = htons (opt_port);
      inet_pton (AF_INET, opt_host ? opt_host : "127.0.0.1", &nodes[0].addr.sin_addr);
      if (opt_reuse_port)
        {
          g_printerr ("munity-load: --reuse-port goes with --nodes\n");
          return FALSE;
        }
      return TRUE;
    }

  if (opt_nodes[0] != '\0' && strspn (opt_nodes, "0123456789") == strlen (opt_nodes))
    {
      n_nodes = atoi (opt_nodes);
      if (opt_munityd == NULL || n_nodes < 1 || n_nodes > MAX_NODES || opt_pids != NULL)
        {
          g_printerr ("munity-load: --nodes N (1..%d) starts N nodes: give --munityd, not --pids\n", MAX_NODES);
          return FALSE;
        }
      return TRUE;
    }

  if (opt_munityd != NULL || opt_database == NULL)
    {
      g_printerr ("munity-load: --nodes HOST:PORT,... measures running nodes: give --database, not --munityd\n");
      return FALSE;
    }
  parts = g_strsplit (opt_nodes, ",", -1);
  n_nodes = (int) g_strv_length (parts);
  if (n_nodes < 1 || n_nodes > MAX_NODES)
    {
      g_printerr ("munity-load: --nodes: 1 to %d nodes\n", MAX_NODES);
      return FALSE;
    }
  if (opt_pids != NULL)
    {
      pids = g_strsplit (opt_pids, ",", -1);
      if ((int) g_strv_length (pids) != n_nodes)
        {
          g_printerr ("munity-load: --pids needs one pid per node, in the order of --nodes\n");
          return FALSE;
        }
    }
  for (int i = 0; i < n_nodes; i++)
    {
      char *colon = strrchr (parts[i], ':');

      if (colon == NULL)
        {
          g_printerr ("munity-load: --nodes: %s is not HOST:PORT\n", parts[i]);
          return FALSE;
        }
      *colon = '\0';
      nodes[i].port = atoi (colon + 1);
      nodes[i].addr.sin_family = AF_INET;
      nodes[i].addr.sin_port = htons (nodes[i].port);
      if (nodes[i].port <= 0 || nodes[i].port > 65535 ||
          inet_pton (AF_INET, parts[i], &nodes[i].addr.sin_addr) != 1)
        {
          g_printerr ("munity-load: --nodes: %s:%s is not IPv4:PORT\n", parts[i], colon + 1);
          return FALSE;
        }
      nodes[i].pid = pids != NULL ? atoi (pids[i]) : 0;
    }
  return TRUE;
}

/* With --reuse-port the kernel chose each socket's node: find it from the
 * nodes' descriptors (socket inodes in /proc/PID/fd) and the kernel's TCP
 * table (/proc/net/tcp), matched on the client's source address. */
static void
map_sockets_to_nodes (void)
{
  g_autoptr(GHashTable) inode_node = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_autoptr(GHashTable) peer_node = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_autofree char *table = NULL;
  g_autofree int64_t *keys = NULL;
  g_auto(GStrv) lines = NULL;

  for (int i = 0; i < n_nodes; i++)
    {
      g_autofree char *dir_path = g_strdup_printf ("/proc/%d/fd", nodes[i].pid);
      DIR *dir;
      struct dirent *e;

      if (nodes[i].pid <= 0 || nodes[i].killed || (dir = opendir (dir_path)) == NULL)
        continue;
      while ((e = readdir (dir)) != NULL)
        {
          char link[64];
          g_autofree char *fd_path = g_strdup_printf ("%s/%s", dir_path, e->d_name);
          ssize_t n = readlink (fd_path, link, sizeof link - 1);
          unsigned long inode;

          if (n <= 0)
            continue;
          link[n] = '\0';
          if (sscanf (link, "socket:[%lu]", &inode) == 1 &&
              !g_hash_table_contains (inode_node, GSIZE_TO_POINTER (inode)))
            g_hash_table_insert (inode_node, GSIZE_TO_POINTER (inode), GINT_TO_POINTER (i));
        }
      closedir (dir);
    }

  if (!g_file_get_contents ("/proc/net/tcp", &table, NULL, NULL))
    return;
  lines = g_strsplit (table, "\n", -1);
  keys = g_new (int64_t, g_strv_length (lines));
  for (guint k = 1; lines[k] != NULL; k++)
    {
      unsigned int rem_addr, rem_port;
      unsigned long inode;
      gpointer node;

      /* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode */
      if (sscanf (lines[k], " %*s %*x:%*x %x:%x %*x %*s %*s %*s %*u %*u %lu",
                  &rem_addr, &rem_port, &inode) != 3 ||
          !g_hash_table_lookup_extended (inode_node, GSIZE_TO_POINTER (inode), NULL, &node))
        continue;
      /* the address is in network order, printed as a host-order number */
      keys[k] = ((int64_t) ntohl (rem_addr) << 16) | rem_port;
      g_hash_table_insert (peer_node, &keys[k], node);
    }

  for (int u = 0; u < users.n; u++)
    {
      int64_t key = ((int64_t) (0x7F000002 + (uint32_t) (u / PORTS_PER_ADDRESS) % 200) << 16) | src_port[u];
      gpointer node;

      node_of[u] = src_port[u] != 0 && g_hash_table_lookup_extended (peer_node, &key, NULL, &node)
        ? (int16_t) GPOINTER_TO_INT (node) : -1;
    }
}

/* Whether an earlier node has node @i's pid: one node given twice is one
 * process, counted once in the totals. */
static gboolean
pid_counted_before (int i)
{
  for (int j = 0; j < i; j++)
    if (nodes[j].pid == nodes[i].pid)
      return TRUE;
  return FALSE;
}

/* CPU seconds of every node alive, and their total. */
static double
nodes_cpu_seconds (double *per_node)
{
  double total = 0;

  for (int i = 0; i < n_nodes; i++)
    {
      per_node[i] = nodes[i].killed ? 0 : proc_cpu_seconds (nodes[i].pid);
      total += pid_counted_before (i) ? 0 : per_node[i];
    }
  return total;
}

/* Stores every node's RSS in its Node (@loaded: with the sockets, else
 * before the users exist) and returns the total. */
static long
nodes_rss_kib (gboolean loaded)
{
  long total = 0;

  for (int i = 0; i < n_nodes; i++)
    {
      long rss = nodes[i].killed ? 0 : proc_rss_kib (nodes[i].pid);

      *(loaded ? &nodes[i].rss1 : &nodes[i].rss0) = rss;
      total += pid_counted_before (i) ? 0 : rss;
    }
  return total;
}

static void
put_latency (const char *prefix,
             size_t      hist_offset)
{
  double p50, p99, max;
  uint64_t n;
  g_autofree char *deliveries = g_strdup_printf ("%s_deliveries", prefix);
  g_autofree char *k50 = g_strdup_printf ("%s_p50_ms", prefix);
  g_autofree char *k99 = g_strdup_printf ("%s_p99_ms", prefix);
  g_autofree char *kmax = g_strdup_printf ("%s_max_ms", prefix);

  percentiles (hist_offset, &p50, &p99, &max, &n);
  put (deliveries, "%" G_GUINT64_FORMAT, n);
  put (k50, "%.2f", p50 / 1000);
  put (k99, "%.2f", p99 / 1000);
  put (kmax, "%.2f", max / 1000);
}

static void
put_node (int         i,
          const char *figure,
          const char *format,
          ...) G_GNUC_PRINTF (3, 4);

static void
put_node (int         i,
          const char *figure,
          const char *format,
          ...)
{
  va_list args;
  g_autofree char *key = g_strdup_printf ("node%d_%s", i, figure);

  va_start (args, format);
  g_ptr_array_add (report_keys, g_strdup (key));
  g_ptr_array_add (report_values, g_strdup_vprintf (format, args));
  va_end (args);
}

static int
node_sockets (int i)
{
  int n = 0;

  for (int u = 0; u < users.n; u++)
    n += node_of[u] == i;
  return n;
}

/* --kill-node: SIGKILL it once the clients know whom to watch for, and
 * time until no socket on another node lists one of its users. Returns
 * FALSE when that did not happen within --timeout. */
static gboolean
kill_phase_run (void)
{
  Node *victim = &nodes[opt_kill_node];
  int64_t t_kill, done = 0, first = 0;
  uint64_t observers;

  if (opt_reuse_port)
    map_sockets_to_nodes ();
  for (int i = 0; i < n_processes; i++)
    counters[i].kill_us = counters[i].kill_done_us = counters[i].kill_first_us = 0;
  put ("kill_node", "%d", opt_kill_node);
  put ("kill_node_users", "%d", node_sockets (opt_kill_node));
  broadcast_cmd ('K');
  wait_acks ();

  t_kill = now_us ();
  kill (victim->pid, SIGKILL);
  for (int i = 0; i < n_nodes; i++)
    if (nodes[i].pid == victim->pid)
      nodes[i].killed = TRUE;
  if (victim->spawned > 0)
    {
      waitpid (victim->spawned, NULL, 0);
      for (int i = 0; i < n_nodes; i++)
        if (nodes[i].pid == victim->pid)
          nodes[i].spawned = 0;
    }
  for (int i = 0; i < n_processes; i++)
    counters[i].kill_us = t_kill;
  wait_acks ();

  observers = sum_counter (G_STRUCT_OFFSET (Counters, kill_observers));
  for (int i = 0; i < n_processes; i++)
    {
      if (counters[i].kill_done_us == 0)
        {
          done = 0;
          break;
        }
      done = MAX (done, counters[i].kill_done_us);
    }
  for (int i = 0; i < n_processes; i++)
    if (counters[i].kill_first_us > 0 && (first == 0 || counters[i].kill_first_us < first))
      first = counters[i].kill_first_us;
  put ("kill_observers", "%" G_GUINT64_FORMAT, observers);
  /* Detection (the heartbeat grown old) apart from the fan-out */
  put ("kill_first_leave_seconds", "%.3f", first > 0 ? MAX (first - t_kill, 0) / 1e6 : -1.0);
  put ("kill_gone_seconds", "%.3f", done > 0 ? MAX (done - t_kill, 0) / 1e6 : -1.0);
  put ("kill_other_leaves", "%" G_GUINT64_FORMAT, sum_counter (G_STRUCT_OFFSET (Counters, kill_other_leaves)));
  if (done == 0)
    g_printerr ("munity-load: node %d's users had not left every other node's sockets after %d s\n",
                opt_kill_node, opt_timeout_s);
  return done > 0 && sum_counter (G_STRUCT_OFFSET (Counters, kill_other_leaves)) == 0;
}

/* Waits, up to --timeout, for started node @i to exit; SIGKILLs it if it
 * does not. */
static gboolean
reap_node (int i)
{
  int64_t deadline = now_us () + (int64_t) opt_timeout_s * 1000000;

  while (now_us () < deadline)
    {
      if (waitpid (nodes[i].spawned, NULL, WNOHANG) == nodes[i].spawned)
        {
          nodes[i].spawned = 0;
          return TRUE;
        }
      g_usleep (1000);
    }
  g_printerr ("munity-load: node %d did not exit within %d s of SIGTERM\n", i, opt_timeout_s);
  kill (nodes[i].spawned, SIGKILL);
  waitpid (nodes[i].spawned, NULL, 0);
  nodes[i].spawned = 0;
  return FALSE;
}

/* --rolling-restart: for each node in turn, SIGTERM it, wait until it
 * exited, start it again under the same name and port, wait until its
 * /healthz answers, and until every one of its clients has reconnected
 * to another node (round robin) with a new snapshot. Then a grace more
 * for a late userLeft. Returns FALSE when a userLeft reached a socket for
 * a user who reconnected within the grace, or the restart broke. */
static gboolean
rolling_restart_run (void)
{
  gboolean with_name = munityd_has_option ("--node-name");
  gboolean ok = TRUE;
  uint64_t user_left = 0, user_left_late = 0, unreconnected, not_1001;
  uint64_t users_left = 0, left_own = 0;
  int64_t left_after_min = G_MAXINT64, left_after_max = G_MININT64;
  int64_t t0 = now_us (), max_gap = 0;
  double restart_s[MAX_NODES];

  for (int i = 0; i < n_nodes; i++)
    restart_s[i] = -1;
  for (int u = 0; u < users.n; u++)
    roll[u].left = roll[u].left_own = 0, roll[u].first_left_us = 0;
  for (int i = 0; i < n_nodes && ok; i++)
    {
      int64_t t_node = now_us ();

      for (int p = 0; p < n_processes; p++)
        {
          counters[p].rolling_node = i;
          __atomic_store_n (&counters[p].rolling_up_us, 0, __ATOMIC_RELEASE);
        }
      broadcast_cmd ('R');
      wait_acks ();
      for (int p = 0; p < n_processes; p++)
        __atomic_store_n (&counters[p].rolling_term_us, now_us (), __ATOMIC_RELEASE);
      kill (nodes[i].spawned, SIGTERM);
      ok = reap_node (i) && start_node (i, with_name, &nodes[i].addr);
      restart_s[i] = (now_us () - t_node) / 1e6;
      {
        int64_t up = ok ? now_us () : -1;   /* -1: give up waiting */
        for (int p = 0; p < n_processes; p++)
          __atomic_store_n (&counters[p].rolling_up_us, up, __ATOMIC_RELEASE);
      }
      wait_acks ();
    }
  put ("rolling_restart_seconds", "%.3f", (now_us () - t0) / 1e6);
  broadcast_cmd ('W');
  wait_acks ();

  for (int u = 0; u < users.n; u++)
    {
      if (roll[u].late)
        user_left_late += roll[u].left;
      else
        user_left += roll[u].left;
      /* where and when those that should not be came from */
      if (!roll[u].late && roll[u].left > 0)
        {
          int64_t after = roll[u].first_left_us - roll[u].reopen_us;

          users_left++;
          left_own += roll[u].left_own;
          left_after_min = MIN (left_after_min, after);
          left_after_max = MAX (left_after_max, after);
        }
      max_gap = MAX (max_gap, roll[u].max_gap_us);
    }
  unreconnected = sum_counter (G_STRUCT_OFFSET (Counters, rolling_unreconnected));
  not_1001 = sum_counter (G_STRUCT_OFFSET (Counters, rolling_not_1001));
  put ("rolling_grace_ms", "%d", opt_grace_ms);
  put ("rolling_reconnects", "%" G_GUINT64_FORMAT, sum_counter (G_STRUCT_OFFSET (Counters, rolling_reconnects)));
  put ("rolling_max_reconnect_ms", "%.1f", max_gap / 1e3);
  put ("rolling_late_reconnects", "%" G_GUINT64_FORMAT, sum_counter (G_STRUCT_OFFSET (Counters, rolling_late)));
  put ("rolling_unreconnected", "%" G_GUINT64_FORMAT, unreconnected);
  put ("rolling_close_not_1001", "%" G_GUINT64_FORMAT, not_1001);
  put ("rolling_user_left", "%" G_GUINT64_FORMAT, user_left);
  put ("rolling_user_left_late", "%" G_GUINT64_FORMAT, user_left_late);
  if (users_left > 0)
    {
      put ("rolling_users_left", "%" G_GUINT64_FORMAT, users_left);
      put ("rolling_user_left_own_node", "%" G_GUINT64_FORMAT, left_own);
      put ("rolling_left_after_reopen_min_ms", "%.1f", left_after_min / 1e3);
      put ("rolling_left_after_reopen_max_ms", "%.1f", left_after_max / 1e3);
    }
  if (window_mode)
    {
      /* No userLeft on a window socket: nobody left anywhere if no
       * window's total fell below --users. */
      uint64_t drops = sum_counter (G_STRUCT_OFFSET (Counters, win_total_drops));
      put ("rolling_window_total_drops", "%" G_GUINT64_FORMAT, drops);
      if (drops > 0 && sum_counter (G_STRUCT_OFFSET (Counters, rolling_late)) == 0 && unreconnected == 0)
        {
          g_printerr ("munity-load: %" G_GUINT64_FORMAT " windowChanged frames with a total below the"
                      " online users matching, though every user reconnected within the grace\n", drops);
          user_left += drops;
        }
    }
  for (int i = 0; i < n_nodes; i++)
    put_node (i, "restart_seconds", "%.3f", restart_s[i]);
  if (!ok)
    g_printerr ("munity-load: the rolling restart broke off\n");
  if (user_left > 0)
    g_printerr ("munity-load: %" G_GUINT64_FORMAT " userLeft for users who reconnected within the grace\n", user_left);
  return ok && user_left == 0 && unreconnected == 0 && not_1001 == 0;
}

/* --view window, after a phase: every child compares its windows with
 * the expected ones once deliveries settled. Returns the mismatches. */
static uint64_t
window_check_run (const char *phase)
{
  g_autofree char *k_checked = g_strdup_printf ("%s_windows_checked", phase);
  g_autofree char *k_bad = g_strdup_printf ("%s_window_mismatches", phase);
  g_autofree char *k_settle = g_strdup_printf ("%s_window_settle_seconds", phase);
  uint64_t bad;
  int64_t settle = 0;

  broadcast_cmd ('X');
  wait_acks ();
  bad = sum_counter (G_STRUCT_OFFSET (Counters, win_mismatches));
  for (int i = 0; i < n_processes && settle >= 0; i++)
    settle = counters[i].win_settled_us > 0 ? MAX (settle, counters[i].win_settled_us - counters[i].phase_start_us) : -1;
  put (k_checked, "%" G_GUINT64_FORMAT, sum_counter (G_STRUCT_OFFSET (Counters, win_checked)));
  put (k_bad, "%" G_GUINT64_FORMAT, bad);
  /* from the end of the phase; the first comparison is at 1.5 s */
  put (k_settle, "%.3f", settle >= 0 ? settle / 1e6 : -1.0);
  if (bad > 0)
    g_printerr ("munity-load: %" G_GUINT64_FORMAT " windows are not the expected one after the %s\n", bad, phase);
  return bad;
}

int
main (int argc, char *argv[])
{
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(GError) error = NULL;
  struct rlimit limit;
  double cpu0, cpu1, t_storm_s, cpu_storm;
  double node_cpu0[MAX_NODES], node_cpu1[MAX_NODES];
  long rss0, rss1;
  uint64_t frames_storm, violations, storm_complete = 0;
  gboolean leave_storm_failed = FALSE, kill_failed = FALSE, rolling_failed = FALSE;
  gboolean cluster = FALSE;
  uint64_t window_mismatches = 0;
  int per_process;

  setlocale (LC_ALL, "");   /* g_utf8_collate_key() as munityd has it */

  g_option_context_set_summary (context,
    "Measures munityd's WebSocket presence: join storm, memory, idle CPU, churn latency,\n"
    "leave storm. Users and sessions are inserted DIRECTLY into PostgreSQL through libpq\n"
    "(argon2id logins are not what is measured). Loopback only; every phase is bounded.\n"
    "With --nodes, a cluster of munityd on one PostgreSQL: clients spread over the nodes,\n"
    "latencies apart for events made on another node, figures per node, --kill-node.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("munity-load: %s\n", error->message);
      return 2;
    }
  if (opt_users < 2 || opt_users > 100000 ||
      (opt_munityd == NULL && (opt_database == NULL || (opt_port == 0 && opt_nodes == NULL))))
    {
      g_printerr ("munity-load: give --munityd PATH, or --database, --port (and --pid) of a running munityd; --users 2..100000\n");
      return 2;
    }
  if (!parse_nodes ())
    return 2;
  if (opt_view != NULL && !g_str_equal (opt_view, "full") && !g_str_equal (opt_view, "window"))
    {
      g_printerr ("munity-load: --view full or --view window\n");
      return 2;
    }
  window_mode = opt_view != NULL && g_str_equal (opt_view, "window");
  if (window_mode && (opt_leave_storm || opt_window_mix < 0 || opt_window_mix > 100))
    {
      g_printerr ("munity-load: --view window has no --leave-storm yet; --window-mix 0..100\n");
      return 2;
    }
  cluster = opt_nodes != NULL;
  if (opt_kill_node >= n_nodes || (opt_kill_node >= 0 && opt_munityd == NULL && nodes[opt_kill_node].pid <= 0))
    {
      g_printerr ("munity-load: --kill-node I: 0 <= I < the number of nodes, and a pid to kill\n");
      return 2;
    }
  if (opt_grace_ms < 0 || opt_reconnect_delay_ms < 0 ||
      (opt_rolling_restart && (opt_munityd == NULL || !cluster || n_nodes < 2 || opt_reuse_port || opt_grace_ms <= 0)))
    {
      g_printerr ("munity-load: --rolling-restart restarts started nodes: give --munityd, --nodes N (N >= 2),"
                  " --grace-ms G (G > 0), and no --reuse-port\n");
      return 2;
    }

  signal (SIGPIPE, SIG_IGN);
  report_keys = g_ptr_array_new_with_free_func (g_free);
  report_values = g_ptr_array_new_with_free_func (g_free);
  if (getrlimit (RLIMIT_NOFILE, &limit) == 0)
    {
      limit.rlim_cur = limit.rlim_max;
      setrlimit (RLIMIT_NOFILE, &limit);
    }

  if (opt_munityd != NULL && !(cluster ? start_cluster () : start_daemon ()))
    {
      stop_daemon ();
      return 1;
    }

  rss0 = nodes_rss_kib (FALSE);
  names_prepare (opt_users);
  if (!prepare_users (opt_database, opt_users, &users))
    {
      stop_daemon ();
      return 1;
    }
  words_per_set = (users.n + 63) / 64;
  storm_target = users.n;

  per_process = MIN (MAX_PER_PROCESS, (int) (limit.rlim_cur > 200 ? limit.rlim_cur - 200 : 100));
  n_processes = (users.n + per_process - 1) / per_process;
  per_process = (users.n + n_processes - 1) / n_processes;

  join_time = mmap (NULL, sizeof (int64_t) * users.n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  leave_time = mmap (NULL, sizeof (int64_t) * users.n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  counters = mmap (NULL, sizeof (Counters) * n_processes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  node_of = mmap (NULL, sizeof (int16_t) * users.n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  roll = mmap (NULL, sizeof (Roll) * users.n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  src_port = mmap (NULL, sizeof (uint16_t) * users.n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  online = mmap (NULL, users.n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  memset (online, 0, users.n);
  if (window_mode)
    {
      online_tree = mmap (NULL, sizeof (int32_t) * (users.n + 1), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
      join_pos = mmap (NULL, sizeof (int32_t) * users.n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
      memset (online_tree, 0, sizeof (int32_t) * (users.n + 1));
      memset (join_pos, 0, sizeof (int32_t) * users.n);
    }
  memset (join_time, 0, sizeof (int64_t) * users.n);
  memset (leave_time, 0, sizeof (int64_t) * users.n);
  memset (counters, 0, sizeof (Counters) * n_processes);
  memset (src_port, 0, sizeof (uint16_t) * users.n);
  memset (roll, 0, sizeof (Roll) * users.n);
  for (int u = 0; u < users.n; u++)
    node_of[u] = (int16_t) (opt_reuse_port ? -1 : u % n_nodes);

  children = g_new0 (Child, n_processes);
  for (int i = 0; i < n_processes; i++)
    {
      int to_child[2], from_child[2];
      pid_t pid;

      if (pipe (to_child) != 0 || pipe (from_child) != 0)
        g_error ("pipe: %s", g_strerror (errno));
      pid = fork ();
      if (pid == 0)
        {
          close (to_child[1]);
          close (from_child[0]);
          cmd_fd = to_child[0];
          ack_fd = from_child[1];
          run_child (i, i * per_process, MIN (per_process, users.n - i * per_process));
          _exit (0);
        }
      close (to_child[0]);
      close (from_child[1]);
      children[i].pid = pid;
      children[i].cmd = to_child[1];
      children[i].ack = from_child[0];
    }

  /* ---- join storm ---- */
  {
    int64_t t0;
    cpu0 = nodes_cpu_seconds (node_cpu0);
    broadcast_cmd ('S');
    wait_acks ();
    wait_acks ();
    t0 = G_MAXINT64;
    for (int i = 0; i < n_processes; i++)
      t0 = MIN (t0, counters[i].phase_start_us);
    {
      int64_t done = 0;
      for (int i = 0; i < n_processes; i++)
        done = MAX (done, counters[i].storm_done_us);
      /* -1: no client ever held the complete list */
      t_storm_s = done > 0 ? (done - t0) / 1e6 : -1.0;
    }
    cpu1 = nodes_cpu_seconds (node_cpu1);
    cpu_storm = cpu1 - cpu0;
    for (int i = 0; i < n_nodes; i++)
      {
        nodes[i].cpu_storm = node_cpu1[i] - node_cpu0[i];
        nodes[i].storm_frames = sum_counter (G_STRUCT_OFFSET (Counters, node_frames) + i * sizeof (uint64_t));
      }
    frames_storm = sum_counter (G_STRUCT_OFFSET (Counters, frames));
    {
      int64_t last_open = 0;
      for (int i = 0; i < n_processes; i++)
        last_open = MAX (last_open, counters[i].storm_last_open_us);
      put ("users", "%d", users.n);
      put ("processes", "%d", n_processes);
      storm_complete = sum_counter (G_STRUCT_OFFSET (Counters, complete));
      put ("storm_complete_clients", "%" G_GUINT64_FORMAT, storm_complete);
      put ("storm_failed", "%" G_GUINT64_FORMAT, sum_counter (G_STRUCT_OFFSET (Counters, failed)));
      put ("storm_seconds", "%.3f", t_storm_s);
      put ("accept_per_second", "%.0f", users.n / MAX ((last_open - t0) / 1e6, 1e-6));
      put ("storm_frames", "%" G_GUINT64_FORMAT, frames_storm);
      put ("frames_per_second", "%.0f", t_storm_s > 0 ? frames_storm / MAX (t_storm_s, 1e-6) : 0.0);
      put ("storm_cpu_seconds", "%.3f", cpu_storm);
      put ("cpu_us_per_frame", "%.3f", frames_storm > 0 ? cpu_storm * 1e6 / frames_storm : 0.0);
    }
  }
  if (window_mode)
    {
      int scrolling = 0, searching = 0;

      for (int u = 0; u < users.n; u++)
        {
          scrolling += plan_of[u] == PLAN_SCROLL;
          searching += plan_of[u] == PLAN_SEARCH;
        }
      put ("window_mix", "%d", opt_window_mix);
      put ("window_sockets_scrolling", "%d", scrolling);
      put ("window_sockets_searching", "%d", searching);
      put ("storm_online_windows", "%" G_GUINT64_FORMAT, sum_counter (G_STRUCT_OFFSET (Counters, win_windows)));
      put ("storm_window_changes", "%" G_GUINT64_FORMAT, sum_counter (G_STRUCT_OFFSET (Counters, win_changes)));
      window_mismatches += window_check_run ("storm");
    }
  if (opt_reuse_port)
    map_sockets_to_nodes ();

  /* ---- memory and idle CPU ---- */
  {
    double c0, c1;
    rss1 = nodes_rss_kib (TRUE);
    c0 = nodes_cpu_seconds (node_cpu0);
    broadcast_cmd ('I');
    wait_acks ();
    c1 = nodes_cpu_seconds (node_cpu1);
    for (int i = 0; i < n_nodes; i++)
      nodes[i].cpu_idle = node_cpu1[i] - node_cpu0[i];
    put ("rss_kib_empty", "%ld", rss0);
    put ("rss_kib_loaded", "%ld", rss1);
    put ("kib_per_socket", "%.2f", (double) (rss1 - rss0) / users.n);
    put ("idle_seconds", "%d", opt_idle_s);
    put ("idle_cpu_percent", "%.3f", (c1 - c0) * 100.0 / MAX (opt_idle_s, 1));
  }

  /* ---- per node (with --nodes) ---- */
  if (cluster)
    {
      put ("nodes", "%d", n_nodes);
      for (int i = 0; i < n_nodes; i++)
        {
          int sockets = nodes[i].sockets = node_sockets (i);
          uint64_t frames = nodes[i].storm_frames;

          put_node (i, "pid", "%d", nodes[i].pid);
          put_node (i, "sockets", "%d", sockets);
          put_node (i, "storm_cpu_seconds", "%.3f", nodes[i].cpu_storm);
          put_node (i, "cpu_us_per_frame", "%.3f", frames > 0 ? nodes[i].cpu_storm * 1e6 / frames : 0.0);
          put_node (i, "rss_kib_empty", "%ld", nodes[i].rss0);
          put_node (i, "rss_kib_loaded", "%ld", nodes[i].rss1);
          put_node (i, "kib_per_socket", "%.2f",
                    sockets > 0 ? (double) (nodes[i].rss1 - nodes[i].rss0) / sockets : 0.0);
          put_node (i, "idle_cpu_percent", "%.3f", nodes[i].cpu_idle * 100.0 / MAX (opt_idle_s, 1));
        }
    }

  /* ---- a rolling restart ---- */
  if (opt_rolling_restart)
    rolling_failed = !rolling_restart_run ();

  /* ---- churn ---- */
  if (opt_churn_rate > 0)
    {
      double c0, c1;
      uint64_t events;

      for (int i = 0; i < n_processes; i++)
        {
          counters[i].win_changes = 0;
          counters[i].churn_events = 0;
          memset (counters[i].hist_join, 0, sizeof counters[i].hist_join);
          memset (counters[i].hist_leave, 0, sizeof counters[i].hist_leave);
          memset (counters[i].hist_join_same, 0, sizeof counters[i].hist_join_same);
          memset (counters[i].hist_join_cross, 0, sizeof counters[i].hist_join_cross);
          memset (counters[i].hist_leave_same, 0, sizeof counters[i].hist_leave_same);
          memset (counters[i].hist_leave_cross, 0, sizeof counters[i].hist_leave_cross);
        }
      broadcast_cmd ('C');
      wait_acks ();   /* the clock starts (after the first users left, with windows) */
      c0 = nodes_cpu_seconds (node_cpu0);
      wait_acks ();
      c1 = nodes_cpu_seconds (node_cpu1);
      events = sum_counter (G_STRUCT_OFFSET (Counters, churn_events));
      put ("churn_rate", "%d", opt_churn_rate);
      put ("churn_seconds", "%d", opt_churn_s);
      put ("churn_events", "%" G_GUINT64_FORMAT, events);
      put ("churn_cpu_seconds", "%.3f", c1 - c0);
      /* the whole phase, its 2 s of settling included, over its joins and leaves */
      put ("cpu_per_event_us", "%.1f", events > 0 ? (c1 - c0) * 1e6 / events : 0.0);
    }
  if (opt_churn_rate > 0 && window_mode)
    {
      uint64_t events = sum_counter (G_STRUCT_OFFSET (Counters, churn_events));
      uint64_t changes = sum_counter (G_STRUCT_OFFSET (Counters, win_changes));
      double per_event = events > 0 ? (double) changes / events : 0.0;

      put ("window_frames_churn", "%" G_GUINT64_FORMAT, changes);
      put ("window_frames_per_event", "%.2f", per_event);
      put ("window_frames_per_event_pct", "%.4f", per_event * 100.0 / users.n);
      put_latency ("window_join", G_STRUCT_OFFSET (Counters, hist_join));
      put_latency ("window_leave", G_STRUCT_OFFSET (Counters, hist_leave));
      if (cluster)
        {
          put_latency ("same_node_window_join", G_STRUCT_OFFSET (Counters, hist_join_same));
          put_latency ("cross_node_window_join", G_STRUCT_OFFSET (Counters, hist_join_cross));
          put_latency ("same_node_window_leave", G_STRUCT_OFFSET (Counters, hist_leave_same));
          put_latency ("cross_node_window_leave", G_STRUCT_OFFSET (Counters, hist_leave_cross));
        }
      window_mismatches += window_check_run ("churn");
    }
  else if (opt_churn_rate > 0)
    {
      double p50, p99, max;
      uint64_t n;

      percentiles (G_STRUCT_OFFSET (Counters, hist_join), &p50, &p99, &max, &n);
      put ("join_deliveries", "%" G_GUINT64_FORMAT, n);
      put ("join_p50_ms", "%.2f", p50 / 1000);
      put ("join_p99_ms", "%.2f", p99 / 1000);
      put ("join_max_ms", "%.2f", max / 1000);
      percentiles (G_STRUCT_OFFSET (Counters, hist_leave), &p50, &p99, &max, &n);
      put ("leave_deliveries", "%" G_GUINT64_FORMAT, n);
      put ("leave_p50_ms", "%.2f", p50 / 1000);
      put ("leave_p99_ms", "%.2f", p99 / 1000);
      put ("leave_max_ms", "%.2f", max / 1000);
      if (cluster)
        {
          /* Under --reuse-port a churned socket's node is not known when
           * its event arrives, so these count only what is known. */
          put_latency ("same_node_join", G_STRUCT_OFFSET (Counters, hist_join_same));
          put_latency ("cross_node_join", G_STRUCT_OFFSET (Counters, hist_join_cross));
          put_latency ("same_node_leave", G_STRUCT_OFFSET (Counters, hist_leave_same));
          put_latency ("cross_node_leave", G_STRUCT_OFFSET (Counters, hist_leave_cross));
        }
    }
  /* ---- leave storm ---- */
  if (opt_leave_storm)
    {
      int64_t t0;
      for (int i = 0; i < n_processes; i++)
        counters[i].storm_done_us = 0;
      broadcast_cmd ('L');
      wait_acks ();
      wait_acks ();
      t0 = G_MAXINT64;
      for (int i = 0; i < n_processes; i++)
        t0 = MIN (t0, counters[i].phase_start_us);
      {
        int64_t done = 0;
        for (int i = 0; i < n_processes; i++)
          done = MAX (done, counters[i].storm_done_us);
        put ("leave_storm_users", "%d", users.n / 2);
        put ("leave_storm_seconds", "%.3f", done > 0 ? (done - t0) / 1e6 : -1.0);
        /* Every remaining client, churned ones with their later snapshots
         * included, must end with exactly the users still online. */
        leave_storm_failed = done <= 0;
      }
      /* And a snapshot taken after so many leaves (pages of the server's
       * kept body rewritten and merged) must be exact too. */
      /* One process at a time: a rejoin elsewhere would leave and join
       * while this one counts. */
      for (int i = 0; i < n_processes; i++)
        {
          char cmd = 'V', b;
          if (write (children[i].cmd, &cmd, 1) != 1 || read (children[i].ack, &b, 1) != 1)
            g_error ("child %d went away", i);
        }
      put ("rejoin_snapshots_right", "%" G_GUINT64_FORMAT, sum_counter (G_STRUCT_OFFSET (Counters, rejoin_checked)));
      if (sum_counter (G_STRUCT_OFFSET (Counters, rejoin_wrong)) > 0)
        leave_storm_failed = TRUE;
    }

  /* ---- a node killed ---- */
  if (opt_kill_node >= 0)
    kill_failed = !kill_phase_run ();

  violations = sum_counter (G_STRUCT_OFFSET (Counters, violations));
  put ("violations", "%" G_GUINT64_FORMAT, violations);
  if (window_mode)
    put ("window_mismatches", "%" G_GUINT64_FORMAT, window_mismatches);
  put ("closed_by_server", "%" G_GUINT64_FORMAT, sum_counter (G_STRUCT_OFFSET (Counters, closed_by_server)));

  broadcast_cmd ('Q');
  for (int i = 0; i < n_processes; i++)
    waitpid (children[i].pid, NULL, 0);
  stop_daemon ();

  /* One JSON line (every value is a number), then a table for people. */
  putchar ('{');
  for (guint i = 0; i < report_keys->len; i++)
    printf ("%s\"%s\":%s", i ? "," : "", (char *) report_keys->pdata[i], (char *) report_values->pdata[i]);
  printf ("}\n");
  if (!opt_json_only)
    {
      printf ("\n%-24s %s\n", "figure", "value");
      for (guint i = 0; i < report_keys->len; i++)
        printf ("%-24s %s\n", (char *) report_keys->pdata[i], (char *) report_values->pdata[i]);
      if (cluster)
        {
          printf ("\n%-5s %8s %8s %12s %10s %10s %10s\n",
                  "node", "pid", "sockets", "storm CPU s", "µs/frame", "KiB/sock", "idle CPU %");
          for (int i = 0; i < n_nodes; i++)
            {
              int sockets = nodes[i].sockets;
              uint64_t frames = nodes[i].storm_frames;

              printf ("%-5d %8d %8d %12.3f %10.3f %10.2f %10.3f\n", i, nodes[i].pid, sockets,
                      nodes[i].cpu_storm, frames > 0 ? nodes[i].cpu_storm * 1e6 / frames : 0.0,
                      sockets > 0 ? (double) (nodes[i].rss1 - nodes[i].rss0) / sockets : 0.0,
                      nodes[i].cpu_idle * 100.0 / MAX (opt_idle_s, 1));
            }
        }
    }
  fflush (stdout);
  /* A run is good when nothing broke the guarantee and every client got
   * the complete list in the storm; the figures are for people. */
  return violations == 0 && storm_complete == (uint64_t) users.n && !leave_storm_failed && !kill_failed &&
    !rolling_failed && window_mismatches == 0 ? 0 : 1;
}
