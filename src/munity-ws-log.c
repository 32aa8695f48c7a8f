/* munity-ws-log.c — the append-only event log every WebSocket reads through
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "munity-ws-log.h"

/*
 * Every event after the snapshot goes to every open socket, so events are
 * serialised once into one log, and each socket only records its offset
 * in it (doc/websocket-design.md). The log lives in append-only chunks
 * that sockets reference rather than copy: bytes below a chunk's fill
 * level never change, and a chunk lives as long as a socket still has it
 * to send. A fresh chunk means page faults, which are dear in this VM, so
 * freed chunks go back to a small pool. Main thread only.
 *
 * Each chunk remembers the mark (the hub's sweep number) of its last
 * append, so that its owner can say from which mark on no reader needs it.
 */

/* A pooled buffer: the pool it goes back to, then the bytes. */
typedef struct _Pool Pool;

typedef struct {
  Pool   *pool;   /* (owned) while out of the pool */
  guint8  data[];
} Block;

struct _Pool {
  gsize      size;     /* of a block's data */
  guint      max;
  GPtrArray *blocks;   /* (owned) (nullable) of Block, NULL once the log is gone */
};

typedef struct {
  GBytes  *bytes;   /* (owned) chunk_size or more, filled up to used */
  guint64  start;   /* offset of its first byte in the log */
  gsize    used;
  guint64  mark;    /* of its last append */
} Chunk;

struct _MunityWsLog
{
  GQueue   chunks;   /* of Chunk (owned), oldest first */
  guint64  end;      /* offset just past the last byte */
  Pool    *pool;     /* (owned) */
};

static void
pool_unref (Pool *pool)
{
  g_rc_box_release_full (pool, NULL);
}

static void
block_release (gpointer data)
{
  Block *block = data;
  Pool *pool = g_steal_pointer (&block->pool);

  if (pool->blocks != NULL && pool->blocks->len < pool->max)
    g_ptr_array_add (pool->blocks, block);
  else
    g_free (block);
  pool_unref (pool);
}

/* Returns: (transfer full): a chunk of @capacity bytes, to be written from
 * the start by its owner */
static GBytes *
chunk_bytes_new (MunityWsLog *self,
                 gsize        capacity)
{
  Pool *pool = self->pool;
  Block *block;

  if (capacity != pool->size)
    return g_bytes_new_take (g_malloc (capacity), capacity);

  block = pool->blocks->len > 0 ? g_ptr_array_steal_index_fast (pool->blocks, pool->blocks->len - 1)
                                : g_malloc (sizeof (Block) + pool->size);
  block->pool = g_rc_box_acquire (pool);
  return g_bytes_new_with_free_func (block->data, pool->size, block_release, block);
}

static void
chunk_free (gpointer data)
{
  Chunk *chunk = data;

  g_bytes_unref (chunk->bytes);
  g_free (chunk);
}

/**
 * munity_ws_log_new:
 * @chunk_size: the size of a chunk; an append that does not fit in one
 *   gets a chunk of its own size
 * @pool_max: how many freed chunks are kept for reuse
 *
 * Returns: (transfer full): an empty log
 */
MunityWsLog *
munity_ws_log_new (gsize chunk_size,
                   guint pool_max)
{
  MunityWsLog *self = g_new0 (MunityWsLog, 1);

  g_queue_init (&self->chunks);
  self->pool = g_rc_box_new0 (Pool);
  self->pool->size = chunk_size;
  self->pool->max = pool_max;
  self->pool->blocks = g_ptr_array_new_with_free_func (g_free);
  return self;
}

/**
 * munity_ws_log_free:
 * @self: (transfer full): a log
 *
 * Frees the log. Chunks that readers still hold stay valid until released.
 */
void
munity_ws_log_free (MunityWsLog *self)
{
  g_queue_clear_full (&self->chunks, chunk_free);
  g_clear_pointer (&self->pool->blocks, g_ptr_array_unref);
  pool_unref (self->pool);
  g_free (self);
}

/**
 * munity_ws_log_append:
 * @self: a log
 * @data: (array length=size): bytes to append, a whole frame
 * @size: how many
 * @mark: the caller's current mark, see munity_ws_log_trim()
 *
 * Appends @data in one piece: a frame never straddles two chunks.
 */
void
munity_ws_log_append (MunityWsLog  *self,
                      const guint8 *data,
                      gsize         size,
                      guint64       mark)
{
  Chunk *chunk = g_queue_peek_tail (&self->chunks);

  if (chunk == NULL || g_bytes_get_size (chunk->bytes) - chunk->used < size)
    {
      chunk = g_new (Chunk, 1);
      chunk->bytes = chunk_bytes_new (self, MAX (self->pool->size, size));
      chunk->start = self->end;
      chunk->used = 0;
      g_queue_push_tail (&self->chunks, chunk);
    }
  memcpy ((guint8 *) g_bytes_get_data (chunk->bytes, NULL) + chunk->used, data, size);
  chunk->used += size;
  chunk->mark = mark;
  self->end += size;
}

/**
 * munity_ws_log_get_end:
 * @self: a log
 *
 * Returns: the offset just past the last byte appended
 */
guint64
munity_ws_log_get_end (MunityWsLog *self)
{
  return self->end;
}

/**
 * munity_ws_log_trim:
 * @self: a log
 * @mark: the oldest mark a reader may still need
 *
 * Forgets the oldest chunks whose last append had a mark below @mark; the
 * newest chunk always stays, as later appends go there. Readers that hold
 * a forgotten chunk keep it until they release it.
 */
void
munity_ws_log_trim (MunityWsLog *self,
                    guint64      mark)
{
  while (self->chunks.length > 1)
    {
      Chunk *chunk = g_queue_peek_head (&self->chunks);

      if (chunk->mark >= mark)
        break;
      chunk_free (g_queue_pop_head (&self->chunks));
    }
}

/**
 * munity_ws_log_get_n_chunks:
 * @self: a log
 *
 * Returns: how many chunks the log holds
 */
guint
munity_ws_log_get_n_chunks (MunityWsLog *self)
{
  return self->chunks.length;
}

/**
 * munity_ws_log_get_n_pooled:
 * @self: a log
 *
 * Returns: how many freed chunks wait to be reused
 */
guint
munity_ws_log_get_n_pooled (MunityWsLog *self)
{
  return self->pool->blocks->len;
}

/**
 * munity_ws_log_iter_init:
 * @self: a log
 * @iter: (out caller-allocates): an iterator
 * @from: an offset in the log, at most its end
 *
 * Prepares @iter to give the log's bytes from @from to its end, as pieces
 * of its chunks. A reader usually lacks only the newest bytes, so the
 * search starts from the end.
 *
 * Returns: %FALSE if the bytes at @from were trimmed already
 */
gboolean
munity_ws_log_iter_init (MunityWsLog     *self,
                         MunityWsLogIter *iter,
                         guint64          from)
{
  GList *l = self->chunks.tail;

  iter->from = from;
  iter->link = NULL;
  if (from >= self->end)
    return TRUE;

  while (l->prev != NULL && ((Chunk *) l->data)->start > from)
    l = l->prev;
  if (((Chunk *) l->data)->start > from)
    return FALSE;
  iter->link = l;
  return TRUE;
}

/**
 * munity_ws_log_iter_next:
 * @iter: an iterator
 * @bytes: (out) (transfer none): the chunk holding the next piece
 * @start: (out): where the piece starts in @bytes
 * @end: (out): just past its end
 *
 * Returns: %FALSE when there is no piece left
 */
gboolean
munity_ws_log_iter_next (MunityWsLogIter  *iter,
                         GBytes          **bytes,
                         gsize            *start,
                         gsize            *end)
{
  for (; iter->link != NULL; iter->link = iter->link->next)
    {
      Chunk *chunk = iter->link->data;

      if (chunk->start + chunk->used <= iter->from)
        continue;
      *bytes = chunk->bytes;
      *start = (gsize) (MAX (iter->from, chunk->start) - chunk->start);
      *end = chunk->used;
      iter->link = iter->link->next;
      return TRUE;
    }
  return FALSE;
}
