/* munity-ws-windows.c — the online list in order, and the windows sockets watch
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "munity-protocol.h"
#include "munity-ws-windows.h"

/*
 * doc/protocol.md §8 and doc/websocket-design.md, "Windows".
 *
 * The online users are kept in a GSequence ordered by the collation key
 * of their display name, then by id: a balanced tree, so inserting,
 * removing and finding a position are O(log n). A query ("ada") has a
 * sequence of its own with just the users whose case-folded name contains
 * it, made when the first socket asks for it (one pass over the users)
 * and kept current with every change while a socket uses it (one
 * substring test per change per query in use).
 *
 * A view is one (query, offset, limit): every socket watching the same
 * window shares it, so the 90 % of sockets on the first page cost one
 * view, not one each. A view keeps what its sockets were last sent (its
 * "published" window: entries and their versions). A change marks only
 * the views it touches: those whose window it falls in or shifts (a
 * change before a window moves every row of it); a change after a window
 * only makes its total stale. munity_ws_windows_flush() then turns each
 * marked view's published window into the current one with a merge of
 * the two sorted lists, which gives the ops in order, and one frame for
 * all of the view's sockets. The caller flushes at most every 100 ms;
 * a change of the total alone goes out at most once a second.
 */

typedef struct {
  gint     ref_count;
  gint64   id;
  char    *key;      /* collation key of the display name */
  char    *folded;   /* the display name, case-folded, for queries */
  GBytes  *json;     /* the user object */
  guint64  version;  /* bumped by every update in place */
} Entry;

typedef struct _Query Query;

struct _MunityWsView {
  MunityWsWindows *owner;
  Query           *query;
  char            *key;         /* in query->views */
  char            *text;        /* the query as the client sent it */
  guint            offset;
  guint            limit;
  guint            n_refs;
  GPtrArray       *members;     /* for the caller (unowned) */
  Entry          **items;       /* published window (owned refs) */
  guint64         *versions;
  guint            n_items;
  guint            total_sent;
  gint64           last_sent_us;
  gboolean         dirty;       /* a row of the window may have changed */
  gboolean         shifted;     /* a change before the window moved its rows */
  gboolean         total_dirty; /* the total may have changed */
  gboolean         pending;     /* in owner->pending */
  GBytes          *snapshot;    /* cached onlineWindow frame */
};

struct _Query {
  char       *folded;  /* "" for the whole list */
  GSequence  *seq;     /* of Entry (refs) */
  GHashTable *iters;   /* user id → GSequenceIter */
  GHashTable *views;   /* key → MunityWsView (unowned) */
};

struct _MunityWsWindows {
  Query      *all;       /* the whole list */
  GHashTable *queries;   /* folded text → Query, "" aside */
  GPtrArray  *pending;   /* of MunityWsView */
  gint64      next_due;  /* when the first pending view may be sent */
  guint       n_views;
};

/* ---- entries ------------------------------------------------------------ */

static Entry *
entry_ref (Entry *entry)
{
  g_atomic_int_inc (&entry->ref_count);
  return entry;
}

static void
entry_unref (gpointer data)
{
  Entry *entry = data;

  if (!g_atomic_int_dec_and_test (&entry->ref_count))
    return;
  g_free (entry->key);
  g_free (entry->folded);
  g_bytes_unref (entry->json);
  g_free (entry);
}

static int
entry_compare (const Entry *a,
               const Entry *b)
{
  int order = strcmp (a->key, b->key);

  if (order != 0)
    return order;
  return a->id < b->id ? -1 : a->id > b->id ? 1 : 0;
}

static gint
entry_compare_data (gconstpointer a,
                    gconstpointer b,
                    gpointer      user_data)
{
  return entry_compare (a, b);
}

/* ---- queries ------------------------------------------------------------- */

static Query *
query_new (const char *folded)
{
  Query *query = g_new0 (Query, 1);

  query->folded = g_strdup (folded);
  query->seq = g_sequence_new (entry_unref);
  query->iters = g_hash_table_new (g_int64_hash, g_int64_equal);
  query->views = g_hash_table_new (g_str_hash, g_str_equal);
  return query;
}

static void
query_free (gpointer data)
{
  Query *query = data;

  g_hash_table_unref (query->views);
  g_hash_table_unref (query->iters);
  g_sequence_free (query->seq);
  g_free (query->folded);
  g_free (query);
}

static gboolean
query_matches (Query *query,
               Entry *entry)
{
  return query->folded[0] == '\0' || strstr (entry->folded, query->folded) != NULL;
}

/* How long a view waits to send what its sockets need not see at once:
 * its total alone, or its rows moved by a change before the window. A
 * second, and longer for a view watched by many sockets (a frame to each
 * is a write to each): a node writes these frames at a bounded rate. */
static gint64
view_slow_interval (MunityWsView *view)
{
  return MAX (MUNITY_WS_WINDOW_TOTAL_INTERVAL_US, (gint64) view->members->len * MUNITY_WS_WINDOW_US_PER_SOCKET);
}

/* How long a view waits after a frame before it sends a change of its
 * rows: 100 ms, and longer for a view so many sockets watch that a frame
 * every 100 ms would be more writes than the node can make (the first
 * page in a join storm). A change after a quiet spell still goes at once. */
static gint64
view_interval (MunityWsView *view)
{
  return MAX (MUNITY_WS_WINDOW_INTERVAL_US, (gint64) view->members->len * MUNITY_WS_WINDOW_ROWS_US_PER_SOCKET);
}

/* When @view may send what it has pending: a change of a row of its
 * window its interval after its last frame, anything else the slow
 * interval after it. */
static gint64
view_due (MunityWsView *view)
{
  return view->last_sent_us + (view->dirty ? view_interval (view) : view_slow_interval (view));
}

static void
mark_pending (MunityWsWindows *self,
              MunityWsView    *view)
{
  if (!view->pending)
    {
      view->pending = TRUE;
      g_ptr_array_add (self->pending, view);
    }
  self->next_due = MIN (self->next_due, view_due (view));
}

/* A row was inserted or removed at @position: the views holding it
 * change, the ones after it have their rows moved, the ones before it
 * only see their total change. */
static void
query_shifted (MunityWsWindows *self,
               Query           *query,
               guint            position)
{
  GHashTableIter iter;
  MunityWsView *view;

  g_hash_table_iter_init (&iter, query->views);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &view))
    {
      if (position < view->offset)
        view->shifted = TRUE;
      else if (position < (guint64) view->offset + view->limit)
        view->dirty = TRUE;
      else
        view->total_dirty = TRUE;
      mark_pending (self, view);
    }
}

/* The row at @position changed in place: only the windows holding it. */
static void
query_changed (MunityWsWindows *self,
               Query           *query,
               guint            position)
{
  GHashTableIter iter;
  MunityWsView *view;

  g_hash_table_iter_init (&iter, query->views);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &view))
    if (position >= view->offset && position < (guint64) view->offset + view->limit)
      {
        view->dirty = TRUE;
        mark_pending (self, view);
      }
}

static void
query_insert (MunityWsWindows *self,
              Query           *query,
              Entry           *entry)
{
  GSequenceIter *iter;

  if (!query_matches (query, entry))
    return;
  iter = g_sequence_insert_sorted (query->seq, entry_ref (entry), entry_compare_data, NULL);
  g_hash_table_insert (query->iters, &entry->id, iter);
  if (g_hash_table_size (query->views) > 0)
    query_shifted (self, query, (guint) g_sequence_iter_get_position (iter));
}

static void
query_remove (MunityWsWindows *self,
              Query           *query,
              gint64           user_id)
{
  GSequenceIter *iter = g_hash_table_lookup (query->iters, &user_id);
  guint position;

  if (iter == NULL)
    return;
  position = (guint) g_sequence_iter_get_position (iter);
  g_hash_table_remove (query->iters, &user_id);
  g_sequence_remove (iter);
  if (g_hash_table_size (query->views) > 0)
    query_shifted (self, query, position);
}

/* ---- the index ------------------------------------------------------------ */

/**
 * munity_ws_windows_new:
 *
 * Returns: (transfer full): an empty list with no views
 */
MunityWsWindows *
munity_ws_windows_new (void)
{
  MunityWsWindows *self = g_new0 (MunityWsWindows, 1);

  self->all = query_new ("");
  self->queries = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, query_free);
  self->pending = g_ptr_array_new ();
  self->next_due = G_MAXINT64;
  return self;
}

/**
 * munity_ws_windows_free:
 * @self: the list
 *
 * Frees the list. Every view must have been released.
 */
void
munity_ws_windows_free (MunityWsWindows *self)
{
  g_warn_if_fail (self->n_views == 0);
  g_ptr_array_unref (self->pending);
  g_hash_table_unref (self->queries);
  query_free (self->all);
  g_free (self);
}

static Entry *
lookup (MunityWsWindows *self,
        gint64           user_id)
{
  GSequenceIter *iter = g_hash_table_lookup (self->all->iters, &user_id);

  return iter != NULL ? g_sequence_get (iter) : NULL;
}

static void
remove_everywhere (MunityWsWindows *self,
                   gint64           user_id)
{
  GHashTableIter iter;
  Query *query;

  g_hash_table_iter_init (&iter, self->queries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &query))
    query_remove (self, query, user_id);
  query_remove (self, self->all, user_id);
}

/**
 * munity_ws_windows_put:
 * @self: the list
 * @user_id: an online user
 * @name: their display name ("First Last")
 * @user_json: their user object, as JSON
 *
 * Adds a user who came online, or takes the new details of one who is:
 * a new name moves them; anything else changes them where they are.
 */
void
munity_ws_windows_put (MunityWsWindows *self,
                       gint64           user_id,
                       const char      *name,
                       GBytes          *user_json)
{
  g_autofree char *key = g_utf8_collate_key (name, -1);
  g_autofree char *folded = g_utf8_casefold (name, -1);
  Entry *old = lookup (self, user_id);
  Entry *entry;
  GHashTableIter iter;
  Query *query;

  if (old != NULL && strcmp (old->key, key) == 0 && strcmp (old->folded, folded) == 0)
    {
      /* Same place in every list: an update in place. */
      g_bytes_unref (old->json);
      old->json = g_bytes_ref (user_json);
      old->version++;
      g_hash_table_iter_init (&iter, self->queries);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &query))
        {
          GSequenceIter *it = g_hash_table_lookup (query->iters, &user_id);
          if (it != NULL)
            query_changed (self, query, (guint) g_sequence_iter_get_position (it));
        }
      query_changed (self, self->all,
                     (guint) g_sequence_iter_get_position (g_hash_table_lookup (self->all->iters, &user_id)));
      return;
    }

  if (old != NULL)
    remove_everywhere (self, user_id);

  entry = g_new0 (Entry, 1);
  entry->ref_count = 1;
  entry->id = user_id;
  entry->key = g_steal_pointer (&key);
  entry->folded = g_steal_pointer (&folded);
  entry->json = g_bytes_ref (user_json);

  query_insert (self, self->all, entry);
  g_hash_table_iter_init (&iter, self->queries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &query))
    query_insert (self, query, entry);
  entry_unref (entry);
}

/**
 * munity_ws_windows_remove:
 * @self: the list
 * @user_id: a user who went offline
 *
 * Takes the user out of the list and every query.
 */
void
munity_ws_windows_remove (MunityWsWindows *self,
                          gint64           user_id)
{
  remove_everywhere (self, user_id);
}

/**
 * munity_ws_windows_get_n_users:
 * @self: the list
 *
 * Returns: how many users are in the list
 */
guint
munity_ws_windows_get_n_users (MunityWsWindows *self)
{
  return g_hash_table_size (self->all->iters);
}

/**
 * munity_ws_windows_get_n_views:
 * @self: the list
 *
 * Returns: how many distinct windows are watched
 */
guint
munity_ws_windows_get_n_views (MunityWsWindows *self)
{
  return self->n_views;
}

/**
 * munity_ws_windows_has_pending:
 * @self: the list
 *
 * Returns: %TRUE if some view has changes a flush would send
 */
gboolean
munity_ws_windows_has_pending (MunityWsWindows *self)
{
  return self->pending->len > 0;
}

/**
 * munity_ws_windows_get_next_due:
 * @self: the list
 *
 * Returns: the monotonic time from which munity_ws_windows_flush() has
 *   something to send, or %G_MAXINT64 if nothing is pending
 */
gint64
munity_ws_windows_get_next_due (MunityWsWindows *self)
{
  return self->next_due;
}

/* ---- views ------------------------------------------------------------- */

/* The entries of @view's window now, unowned, in a new array. */
static GPtrArray *
view_current (MunityWsView *view)
{
  GPtrArray *items = g_ptr_array_sized_new (view->limit);
  GSequenceIter *iter;

  if (view->offset >= (guint) g_sequence_get_length (view->query->seq))
    return items;
  iter = g_sequence_get_iter_at_pos (view->query->seq, (gint) view->offset);
  while (items->len < view->limit && !g_sequence_iter_is_end (iter))
    {
      g_ptr_array_add (items, g_sequence_get (iter));
      iter = g_sequence_iter_next (iter);
    }
  return items;
}

static guint
view_total (MunityWsView *view)
{
  return (guint) g_sequence_get_length (view->query->seq);
}

static void
view_publish (MunityWsView *view,
              GPtrArray    *items)
{
  for (guint i = 0; i < view->n_items; i++)
    entry_unref (view->items[i]);
  view->items = g_renew (Entry *, view->items, MAX (items->len, 1));
  view->versions = g_renew (guint64, view->versions, MAX (items->len, 1));
  view->n_items = items->len;
  for (guint i = 0; i < items->len; i++)
    {
      Entry *entry = items->pdata[i];
      view->items[i] = entry_ref (entry);
      view->versions[i] = entry->version;
    }
  g_clear_pointer (&view->snapshot, g_bytes_unref);
}

static void
append_op (GString    *ops,
           const char *op,
           guint       index,
           Entry      *entry)
{
  if (ops->len > 0)
    g_string_append_c (ops, ',');
  g_string_append_printf (ops, "{\"op\":\"%s\",\"index\":%u", op, index);
  if (entry != NULL)
    {
      g_string_append (ops, ",\"user\":");
      g_string_append_len (ops, g_bytes_get_data (entry->json, NULL), (gssize) g_bytes_get_size (entry->json));
    }
  g_string_append_c (ops, '}');
}

/* The ops that turn the published window into @items: a merge of the two
 * lists, both sorted (the published one by the keys its entries had
 * then, which an entry keeps: a rename is a new entry). */
static void
view_diff (MunityWsView *view,
           GPtrArray    *items,
           GString      *ops)
{
  guint i = 0, j = 0, position = 0;

  while (i < view->n_items || j < items->len)
    {
      Entry *old = i < view->n_items ? view->items[i] : NULL;
      Entry *new = j < items->len ? items->pdata[j] : NULL;
      int order = old == NULL ? 1 : new == NULL ? -1 : entry_compare (old, new);

      if (order == 0)
        {
          if (old != new || view->versions[i] != new->version)
            append_op (ops, "update", position, new);
          position++;
          i++;
          j++;
        }
      else if (order < 0)
        {
          append_op (ops, "remove", position, NULL);
          i++;
        }
      else
        {
          append_op (ops, "insert", position, new);
          position++;
          j++;
        }
    }
}

static GBytes *
changed_frame (guint       total,
               const char *ops)
{
  g_autofree char *data = g_strdup_printf ("{\"total\":%u,\"ops\":[%s]}", total, ops);

  return munity_protocol_event_frame ("windowChanged", data);
}

/**
 * munity_ws_windows_flush:
 * @self: the list
 * @now_us: the monotonic time
 * @func: (scope call): called with each view's `windowChanged` frame
 * @user_data: data for @func
 *
 * Sends (through @func) what changed in each window since its last frame,
 * for the views whose time has come: a window changes at most once per
 * %MUNITY_WS_WINDOW_INTERVAL_US, so the first change of its rows after a
 * quiet spell goes out at once and the ones that follow it are gathered.
 * A view whose total alone changed, or whose rows only moved because of a
 * change before it, waits until %MUNITY_WS_WINDOW_TOTAL_INTERVAL_US after
 * its last frame, or %MUNITY_WS_WINDOW_US_PER_SOCKET per socket watching
 * it if that is longer (and sends it sooner with a change of its rows).
 * Call it again at munity_ws_windows_get_next_due().
 * @func must not open or release views.
 *
 * Returns: %TRUE if some view still waits (call again later)
 */
gboolean
munity_ws_windows_flush (MunityWsWindows  *self,
                         gint64            now_us,
                         MunityWsViewFunc  func,
                         gpointer          user_data)
{
  g_autoptr(GString) ops = g_string_new (NULL);
  guint kept = 0;

  self->next_due = G_MAXINT64;
  for (guint k = 0; k < self->pending->len; k++)
    {
      MunityWsView *view = self->pending->pdata[k];
      guint total;

      if (now_us < view_due (view))
        {
          self->pending->pdata[kept++] = view;
          self->next_due = MIN (self->next_due, view_due (view));
          continue;
        }

      total = view_total (view);
      if (view->dirty || view->shifted)
        {
          g_autoptr(GPtrArray) items = view_current (view);

          view->dirty = FALSE;
          view->shifted = FALSE;
          g_string_truncate (ops, 0);
          view_diff (view, items, ops);
          if (ops->len > 0)
            {
              g_autoptr(GBytes) frame = changed_frame (total, ops->str);

              view_publish (view, items);
              view->total_sent = total;
              view->total_dirty = FALSE;
              view->last_sent_us = now_us;
              func (view, frame, user_data);
            }
          else
            view->total_dirty = TRUE;
        }

      if (view->total_dirty)
        {
          if (total == view->total_sent)
            view->total_dirty = FALSE;
          else if (now_us - view->last_sent_us >= view_slow_interval (view))
            {
              g_autoptr(GBytes) frame = changed_frame (total, "");

              view->total_sent = total;
              view->total_dirty = FALSE;
              view->last_sent_us = now_us;
              g_clear_pointer (&view->snapshot, g_bytes_unref);
              func (view, frame, user_data);
            }
        }

      if (view->dirty || view->shifted || view->total_dirty)
        {
          self->pending->pdata[kept++] = view;
          self->next_due = MIN (self->next_due, view_due (view));
        }
      else
        view->pending = FALSE;
    }
  g_ptr_array_set_size (self->pending, kept);
  return kept > 0;
}

static char *
view_key (const char *text,
          guint       offset,
          guint       limit)
{
  return g_strdup_printf ("%u:%u:%s", offset, limit, text);
}

/**
 * munity_ws_windows_open_view:
 * @self: the list
 * @query: what the display names must contain ("" for everyone); valid
 *   UTF-8 of at most %MUNITY_PROTOCOL_WINDOW_MAX_QUERY characters
 * @offset: the first row of the window
 * @limit: how many rows, at most %MUNITY_WS_WINDOW_MAX_LIMIT
 * @now_us: the monotonic time
 *
 * Finds the view of that window, or makes it with the window as it is
 * now. Sockets watching the same window share it; each holds a reference
 * (munity_ws_view_release()) and puts itself in the members array.
 *
 * Returns: (transfer full): the view
 */
MunityWsView *
munity_ws_windows_open_view (MunityWsWindows *self,
                             const char      *query_text,
                             guint            offset,
                             guint            limit,
                             gint64           now_us)
{
  g_autofree char *folded = g_utf8_casefold (query_text, -1);
  g_autofree char *key = view_key (query_text, offset, limit);
  Query *query;
  MunityWsView *view;

  g_return_val_if_fail (limit <= MUNITY_WS_WINDOW_MAX_LIMIT, NULL);

  if (folded[0] == '\0')
    query = self->all;
  else if ((query = g_hash_table_lookup (self->queries, folded)) == NULL)
    {
      /* One pass over everyone, in order: appending keeps it sorted. */
      query = query_new (folded);
      for (GSequenceIter *it = g_sequence_get_begin_iter (self->all->seq); !g_sequence_iter_is_end (it);
           it = g_sequence_iter_next (it))
        {
          Entry *entry = g_sequence_get (it);
          if (query_matches (query, entry))
            g_hash_table_insert (query->iters, &entry->id, g_sequence_append (query->seq, entry_ref (entry)));
        }
      g_hash_table_insert (self->queries, query->folded, query);
    }

  view = g_hash_table_lookup (query->views, key);
  if (view != NULL)
    {
      view->n_refs++;
      return view;
    }

  view = g_new0 (MunityWsView, 1);
  view->owner = self;
  view->query = query;
  view->key = g_steal_pointer (&key);
  view->text = g_strdup (query_text);
  view->offset = offset;
  view->limit = limit;
  view->n_refs = 1;
  view->members = g_ptr_array_new ();
  /* Its sockets had no windowChanged yet: the first may go at once. */
  view->last_sent_us = now_us - MUNITY_WS_WINDOW_INTERVAL_US;
  {
    g_autoptr(GPtrArray) items = view_current (view);
    view_publish (view, items);
  }
  view->total_sent = view_total (view);
  g_hash_table_insert (query->views, view->key, view);
  self->n_views++;
  return view;
}

/**
 * munity_ws_view_release:
 * @view: (transfer full): a view
 *
 * Drops a reference; the last one frees the view, and a query nobody
 * watches any more.
 */
void
munity_ws_view_release (MunityWsView *view)
{
  MunityWsWindows *self = view->owner;
  Query *query = view->query;

  if (--view->n_refs > 0)
    return;

  if (view->pending)
    g_ptr_array_remove_fast (self->pending, view);
  g_hash_table_remove (query->views, view->key);
  self->n_views--;
  if (query != self->all && g_hash_table_size (query->views) == 0)
    g_hash_table_remove (self->queries, query->folded);

  for (guint i = 0; i < view->n_items; i++)
    entry_unref (view->items[i]);
  g_free (view->items);
  g_free (view->versions);
  g_clear_pointer (&view->snapshot, g_bytes_unref);
  g_ptr_array_unref (view->members);
  g_free (view->key);
  g_free (view->text);
  g_free (view);
}

/**
 * munity_ws_view_get_snapshot:
 * @view: a view
 *
 * The `onlineWindow` frame of what @view's sockets were last sent: what a
 * socket that starts watching it gets first (the next `windowChanged`
 * brings it up to date with the others).
 *
 * Returns: (transfer none): the frame
 */
GBytes *
munity_ws_view_get_snapshot (MunityWsView *view)
{
  if (view->snapshot == NULL)
    {
      g_autoptr(GString) data = g_string_new (NULL);
      g_autoptr(JsonNode) text = json_node_init_string (json_node_alloc (), view->text);
      g_autofree char *text_json = json_to_string (text, FALSE);

      g_string_append_printf (data, "{\"total\":%u,\"offset\":%u,\"limit\":%u,\"query\":%s,\"users\":[",
                              view->total_sent, view->offset, view->limit, text_json);
      for (guint i = 0; i < view->n_items; i++)
        {
          GBytes *json = view->items[i]->json;
          if (i > 0)
            g_string_append_c (data, ',');
          g_string_append_len (data, g_bytes_get_data (json, NULL), (gssize) g_bytes_get_size (json));
        }
      g_string_append (data, "]}");
      view->snapshot = munity_protocol_event_frame ("onlineWindow", data->str);
    }
  return view->snapshot;
}

/**
 * munity_ws_view_get_members:
 * @view: a view
 *
 * Returns: (transfer none) (element-type gpointer): an array the caller
 *   keeps its sockets watching @view in; the view never reads it
 */
GPtrArray *
munity_ws_view_get_members (MunityWsView *view)
{
  return view->members;
}

/**
 * munity_ws_view_get_total:
 * @view: a view
 *
 * Returns: the total its sockets were last sent
 */
guint
munity_ws_view_get_total (MunityWsView *view)
{
  return view->total_sent;
}

/**
 * munity_ws_view_dup_ids:
 * @view: a view
 *
 * Returns: (transfer full) (element-type gint64): the user ids of the
 *   window its sockets were last sent, in order (for tests)
 */
GPtrArray *
munity_ws_view_dup_ids (MunityWsView *view)
{
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < view->n_items; i++)
    g_ptr_array_add (ids, g_memdup2 (&view->items[i]->id, sizeof (gint64)));
  return ids;
}
