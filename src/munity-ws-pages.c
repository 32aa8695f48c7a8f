/* munity-ws-pages.c — the body of the next onlineUsers frame, kept in pages
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "munity-ws-pages.h"

/*
 * The body of the next onlineUsers frame (the online users' JSON
 * fragments, comma-separated, in join order) is kept up to date in pages
 * of about 16 KiB: a join appends to the last page, a leave or an update
 * rewrites the one page that holds the user (merged with the next when
 * both fit in one), so neither copies the whole list. Every new socket's
 * snapshot is references to the pages rather than a copy (copying it was
 * a fifth of munityd's time in a storm, rebuilding it after every leave
 * most of a churn's user-space time): bytes a socket has been given never
 * change, a rewrite makes a new page buffer, and the old one lives while a
 * socket still has it to send (doc/websocket-design.md).
 *
 * Every fragment is stored with a comma before it, so that pages follow
 * each other without a separator; the body starts one byte into its first
 * page. Past a page's fill level nobody holds a reference into its buffer
 * yet, which is where joins append.
 */

typedef struct _Page Page;

/* One user's fragment and where it is: one allocation, freed with
 * g_free(). */
typedef struct {
  gint64  id;         /* the key in users */
  Page   *page;       /* (unowned) */
  gsize   size;
  guint8  fragment[]; /* size bytes */
} Entry;

/* A run of online users, in join order, and their fragments. */
struct _Page {
  GBytes    *bytes;    /* (owned) filled up to used */
  gsize      used;
  GPtrArray *entries;  /* (owned) of Entry (unowned), in the order of bytes */
};

struct _MunityWsPages
{
  gsize       page_size;
  GPtrArray  *pages;   /* (owned) of Page (owned) */
  GHashTable *users;   /* (owned) user id → Entry (owned) */
};

static Entry *
entry_new (gint64  user_id,
           GBytes *fragment)
{
  gsize size = g_bytes_get_size (fragment);
  Entry *entry = g_malloc (sizeof (Entry) + size);

  entry->id = user_id;
  entry->page = NULL;
  entry->size = size;
  memcpy (entry->fragment, g_bytes_get_data (fragment, NULL), size);
  return entry;
}

static void
page_free (gpointer data)
{
  Page *page = data;

  g_ptr_array_unref (page->entries);
  g_clear_pointer (&page->bytes, g_bytes_unref);
  g_free (page);
}

static GBytes *
page_bytes_new (gsize capacity)
{
  return g_bytes_new_take (g_malloc (capacity), capacity);
}

static Page *
page_new (gsize capacity)
{
  Page *page = g_new0 (Page, 1);

  page->bytes = page_bytes_new (capacity);
  page->entries = g_ptr_array_new ();
  return page;
}

static void
page_put (Page  *page,
          Entry *entry)
{
  guint8 *data = (guint8 *) g_bytes_get_data (page->bytes, NULL) + page->used;

  *data = ',';
  memcpy (data + 1, entry->fragment, entry->size);
  page->used += entry->size + 1;
  g_ptr_array_add (page->entries, entry);
  entry->page = page;
}

/**
 * munity_ws_pages_new:
 * @page_size: the size a page is filled up to
 *
 * Returns: (transfer full): an empty body
 */
MunityWsPages *
munity_ws_pages_new (gsize page_size)
{
  MunityWsPages *self = g_new0 (MunityWsPages, 1);

  self->page_size = page_size;
  self->pages = g_ptr_array_new_with_free_func (page_free);
  self->users = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, g_free);
  return self;
}

/**
 * munity_ws_pages_free:
 * @self: (transfer full): the pages
 *
 * Page buffers that readers still hold stay valid until released.
 */
void
munity_ws_pages_free (MunityWsPages *self)
{
  g_ptr_array_unref (self->pages);
  g_hash_table_unref (self->users);
  g_free (self);
}

/* Rewrites @page without @removed (nullable): into a new buffer, together
 * with the next page's users when they fit. */
static void
rewrite (MunityWsPages *self,
         Page          *page,
         Entry         *removed)
{
  g_autoptr(GPtrArray) entries = NULL;
  Page *next = NULL;
  gsize needed = 0;
  guint at;

  if (!g_ptr_array_find (self->pages, page, &at))
    return;

  entries = g_ptr_array_sized_new (page->entries->len);
  for (guint i = 0; i < page->entries->len; i++)
    {
      Entry *entry = page->entries->pdata[i];

      if (entry != removed)
        {
          g_ptr_array_add (entries, entry);
          needed += entry->size + 1;
        }
    }

  if (at + 1 < self->pages->len)
    {
      Page *candidate = self->pages->pdata[at + 1];

      if (needed + candidate->used <= self->page_size)
        {
          next = candidate;
          for (guint i = 0; i < next->entries->len; i++)
            g_ptr_array_add (entries, next->entries->pdata[i]);
          needed += next->used;
        }
    }

  g_ptr_array_set_size (page->entries, 0);
  g_bytes_unref (page->bytes);
  page->bytes = page_bytes_new (MAX (self->page_size, needed));
  page->used = 0;
  for (guint i = 0; i < entries->len; i++)
    page_put (page, entries->pdata[i]);

  if (next != NULL)
    g_ptr_array_remove_index (self->pages, at + 1);
  /* An empty page goes, unless it is the one joins append to. */
  if (page->entries->len == 0 && at + 1 < self->pages->len)
    g_ptr_array_remove_index (self->pages, at);
}

/**
 * munity_ws_pages_remove:
 * @self: the pages
 * @user_id: a user who left
 *
 * Takes the user's fragment out of the body; nothing happens if the user
 * is not in it.
 */
void
munity_ws_pages_remove (MunityWsPages *self,
                        gint64         user_id)
{
  Entry *entry = g_hash_table_lookup (self->users, &user_id);

  if (entry == NULL)
    return;
  rewrite (self, entry->page, entry);
  g_hash_table_remove (self->users, &user_id);
}

/**
 * munity_ws_pages_append:
 * @self: the pages
 * @user_id: a user who joined
 * @fragment: the user's JSON, as events show it
 *
 * Puts the user last in the body (a new user is last in join order).
 */
void
munity_ws_pages_append (MunityWsPages *self,
                        gint64         user_id,
                        GBytes        *fragment)
{
  Page *page = self->pages->len > 0 ? self->pages->pdata[self->pages->len - 1] : NULL;
  gsize needed = g_bytes_get_size (fragment) + 1;
  Entry *entry;

  /* Never twice in one list. */
  munity_ws_pages_remove (self, user_id);

  entry = entry_new (user_id, fragment);
  g_hash_table_insert (self->users, &entry->id, entry);

  if (page == NULL || g_bytes_get_size (page->bytes) - page->used < needed)
    {
      page = page_new (MAX (self->page_size, needed));
      g_ptr_array_add (self->pages, page);
    }
  page_put (page, entry);
}

/**
 * munity_ws_pages_update:
 * @self: the pages
 * @user_id: a user whose details changed
 * @fragment: the user's new JSON
 *
 * Replaces the user's fragment where it is; nothing happens if the user is
 * not in the body.
 */
void
munity_ws_pages_update (MunityWsPages *self,
                        gint64         user_id,
                        GBytes        *fragment)
{
  Entry *old = g_hash_table_lookup (self->users, &user_id);
  Entry *entry;
  guint at;

  if (old == NULL)
    return;
  entry = entry_new (user_id, fragment);
  entry->page = old->page;
  if (g_ptr_array_find (entry->page->entries, old, &at))
    entry->page->entries->pdata[at] = entry;
  g_hash_table_replace (self->users, &entry->id, entry);   /* frees old */
  rewrite (self, entry->page, NULL);
}

/**
 * munity_ws_pages_get_body_length:
 * @self: the pages
 *
 * Returns: the length of the body: the fragments, comma-separated
 */
gsize
munity_ws_pages_get_body_length (MunityWsPages *self)
{
  gsize length = 0;

  for (guint i = 0; i < self->pages->len; i++)
    length += ((Page *) self->pages->pdata[i])->used;
  return length > 0 ? length - 1 : 0;
}

/**
 * munity_ws_pages_get_n_users:
 * @self: the pages
 *
 * Returns: how many users the body lists
 */
guint
munity_ws_pages_get_n_users (MunityWsPages *self)
{
  return g_hash_table_size (self->users);
}

/**
 * munity_ws_pages_get_n_pages:
 * @self: the pages
 *
 * Returns: how many pages hold the body
 */
guint
munity_ws_pages_get_n_pages (MunityWsPages *self)
{
  return self->pages->len;
}

/**
 * munity_ws_pages_iter_init:
 * @self: the pages
 * @iter: (out caller-allocates): an iterator
 *
 * Prepares @iter to give the body as it is now, a piece per page. The
 * pieces' bytes never change; hold a reference to keep them.
 */
void
munity_ws_pages_iter_init (MunityWsPages     *self,
                           MunityWsPagesIter *iter)
{
  iter->pages = self;
  iter->index = 0;
  iter->skip = 1;   /* the first fragment's leading comma */
}

/**
 * munity_ws_pages_iter_next:
 * @iter: an iterator
 * @bytes: (out) (transfer none): the buffer holding the next piece
 * @start: (out): where the piece starts in @bytes
 * @end: (out): just past its end
 *
 * Returns: %FALSE when there is no piece left
 */
gboolean
munity_ws_pages_iter_next (MunityWsPagesIter  *iter,
                           GBytes            **bytes,
                           gsize              *start,
                           gsize              *end)
{
  GPtrArray *pages = iter->pages->pages;

  while (iter->index < pages->len)
    {
      Page *page = pages->pdata[iter->index++];
      gsize skip = iter->skip;

      if (page->used == 0)
        continue;
      iter->skip = 0;
      if (page->used > skip)
        {
          *bytes = page->bytes;
          *start = skip;
          *end = page->used;
          return TRUE;
        }
    }
  return FALSE;
}
