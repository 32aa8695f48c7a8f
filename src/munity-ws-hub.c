/* munity-ws-hub.c — every open WebSocket, on one epoll set
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "munity-error.h"
#include "munity-protocol.h"
#include "munity-ws-hub.h"

/*
 * The data plane (see doc/websocket-design.md for the measurements behind
 * it). libsoup answers the handshake; then the connection's file descriptor
 * is taken over and joins one epoll set, which is a single source on the
 * main loop: an idle socket costs the loop nothing per pass. Keepalive is
 * one sweep timer, not a timer per socket.
 *
 * Every event after the snapshot goes to every open socket (userJoined goes
 * to "every other user", but the joining user's sockets are exactly the new
 * ones, which start after the frame), so events are appended to one
 * shared log, and a sweep over the sockets gives each one a reference to
 * the part of the log it has not had, written with one writev() together
 * with anything else it has pending. A frame is serialised once; a storm
 * costs one write per socket per sweep, not one per frame.
 */

#define SNDBUF_BYTES (128 * 1024)
#define CHUNK_BYTES (256 * 1024)
#define CHUNK_POOL_MAX 64
#define PAGE_BYTES (16 * 1024)
#define MAX_IOV 64
#define SWEEP_SLICE 512
#define READ_CHUNK 8192
#define BAD_FRAME_LIMIT 20
#define BAD_FRAME_WINDOW_US (60 * G_USEC_PER_SEC)
#define CLOSE_LINGER_US (2 * G_USEC_PER_SEC)
#define SLOW_CLOSE_LINGER_US (5 * G_USEC_PER_SEC)
/* RFC 6455 §7.4.1: "data within a message that was not consistent with
 * the type of the message (e.g., non-UTF-8 data within a text message)".
 * Only this file closes with it, so it is not among MUNITY_CLOSE_*. */
#define CLOSE_INVALID_PAYLOAD 1007

typedef enum {
  CONN_OPEN,
  CONN_CLOSING,   /* our close frame is queued or sent */
  CONN_DEAD,      /* fd closed, waiting to be freed */
} ConnState;

typedef struct {
  GBytes  *bytes;   /* (owned) */
  gsize    offset;  /* next byte to send */
  gsize    start;   /* where this segment began, to know if it started */
  gsize    end;
  gboolean snapshot;
  gboolean continues; /* not the first piece of its frame */
} Segment;

/* A run of online users, in join order, and their fragments, each with a
 * comma before it: one page of the onlineUsers body. */
typedef struct {
  GBytes    *bytes;   /* (owned) filled up to used */
  gsize      used;
  GPtrArray *users;   /* (owned) of MunityUser, in the order of bytes */
} SnapshotPage;

/* A piece of the event log every open socket reads through. */
typedef struct {
  GBytes  *bytes;   /* (owned) CHUNK_BYTES or more, filled up to used */
  guint64  start;   /* offset of its first byte in the log */
  gsize    used;
  guint64  sweep;   /* the last sweep that must deliver its bytes */
} LogChunk;

typedef struct {
  MunityWsHub  *hub;              /* (unowned) */
  int           fd;
  guint         index;            /* in hub->conns */
  ConnState     state;
  MunitySocket *socket;           /* (owned) */
  gulong        close_handler;
  GQueue        out;              /* of Segment (owned) */
  gsize         out_bytes;        /* unsent bytes, snapshot excluded */
  guint64       sent_upto;        /* where we are in the hub's event log */
  guint32       epoll_events;
  gboolean      dirty;            /* in hub->dirty */
  GByteArray   *in;               /* (owned) (nullable) partial frame */
  GByteArray   *message;          /* (owned) (nullable) fragmented message */
  guint8        message_opcode;
  gint64        last_ping;
  gint64        ping_outstanding; /* 0 when no ping waits for its pong */
  gint64        bad[BAD_FRAME_LIMIT];
  guint         n_bad;
  guint         bad_head;
  gint64        close_deadline;
  gboolean      write_shut;
} Conn;

struct _MunityWsHub
{
  GObject         parent_instance;

  MunityPresence *presence;       /* (owned) */
  MunityMetrics  *metrics;        /* (owned) */
  int             epfd;
  guint           epoll_id;
  guint           sweep_id;
  GSource        *flush_source;   /* (owned) */
  GPtrArray      *conns;          /* of Conn (owned) */
  GPtrArray      *dirty;          /* of Conn (unowned) */
  GPtrArray      *graveyard;      /* of Conn (owned), freed after dispatch */
  GQueue          log;            /* of LogChunk (owned), oldest first */
  guint64         log_end;        /* offset just past the last event */
  guint64         log_delivered;  /* every open socket has the log up to here */
  gboolean        sweeping;
  guint           sweep_cursor;   /* next index in conns */
  guint64         sweep_no;
  guint64         sweep_log_mark; /* log_end when the sweep began */
  gint64          sweep_busy_us;  /* time spent in this sweep's slices */
  GPtrArray      *pages;          /* of SnapshotPage (owned): the onlineUsers body */
  gboolean        flush_pending;
  guint           n_open;         /* connections in CONN_OPEN */
  gint64          last_flush;     /* monotonic µs, end of the last flush */
  guint64         n_flushes;
  gint64          last_flush_us;  /* how long the last flush took */
  guint64         n_writes;
  gboolean        closing_all;
  guint           requests_in_flight;
  gint64          ping_interval_us;
  gint64          pong_timeout_us;
  gulong          handlers[3];
};

G_DEFINE_FINAL_TYPE (MunityWsHub, munity_ws_hub, G_TYPE_OBJECT)

static GQuark fragment_quark;
static GQuark conn_quark;

static void conn_close (Conn *conn, guint16 code, const char *reason);
static void conn_destroy (Conn *conn);
static void conn_write (Conn *conn);
static void conn_catch_up (Conn *conn);

/* ---- output ------------------------------------------------------------ */

static void
segment_free (gpointer data)
{
  Segment *segment = data;

  g_bytes_unref (segment->bytes);
  g_free (segment);
}

static void
mark_dirty (Conn *conn)
{
  MunityWsHub *hub = conn->hub;

  if (!conn->dirty)
    {
      conn->dirty = TRUE;
      g_ptr_array_add (hub->dirty, conn);
    }
  hub->flush_pending = TRUE;
}

static void
conn_push_piece (Conn     *conn,
                 GBytes   *bytes,
                 gsize     start,
                 gsize     end,
                 gboolean  snapshot,
                 gboolean  continues)
{
  Segment *segment = g_new (Segment, 1);

  segment->continues = continues;

  segment->bytes = g_bytes_ref (bytes);
  segment->offset = start;
  segment->start = start;
  segment->end = end;
  segment->snapshot = snapshot;
  g_queue_push_tail (&conn->out, segment);
  if (!snapshot)
    conn->out_bytes += end - start;
}

static void
conn_push (Conn     *conn,
           GBytes   *bytes,
           gsize     start,
           gsize     end,
           gboolean  snapshot)
{
  conn_push_piece (conn, bytes, start, end, snapshot, FALSE);
}

static void
conn_push_frame (Conn   *conn,
                 GBytes *frame)
{
  conn_push (conn, frame, 0, g_bytes_get_size (frame), FALSE);
  mark_dirty (conn);
}

static void
set_epoll (Conn    *conn,
           guint32  events)
{
  struct epoll_event ev = { .events = events, .data.ptr = conn };

  if (conn->epoll_events == events || conn->fd < 0)
    return;
  if (epoll_ctl (conn->hub->epfd, EPOLL_CTL_MOD, conn->fd, &ev) == 0)
    conn->epoll_events = events;
}

static void
conn_write (Conn *conn)
{
  while (conn->state != CONN_DEAD && !g_queue_is_empty (&conn->out))
    {
      struct iovec iov[MAX_IOV];
      int n_iov = 0;
      ssize_t written;

      for (GList *l = conn->out.head; l != NULL && n_iov < MAX_IOV; l = l->next)
        {
          Segment *segment = l->data;
          iov[n_iov].iov_base = (guint8 *) g_bytes_get_data (segment->bytes, NULL) + segment->offset;
          iov[n_iov].iov_len = segment->end - segment->offset;
          n_iov++;
        }

      written = writev (conn->fd, iov, n_iov);
      conn->hub->n_writes++;
      if (written < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            {
              set_epoll (conn, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
              return;
            }
          g_debug ("WebSocket write failed: %s", g_strerror (errno));
          conn_destroy (conn);
          return;
        }

      while (written > 0)
        {
          Segment *segment = g_queue_peek_head (&conn->out);
          gsize left = segment->end - segment->offset;
          gsize step = MIN (left, (gsize) written);

          segment->offset += step;
          written -= step;
          if (!segment->snapshot)
            conn->out_bytes -= step;
          if (segment->offset == segment->end)
            segment_free (g_queue_pop_head (&conn->out));
        }
    }

  if (conn->state == CONN_DEAD)
    return;

  set_epoll (conn, EPOLLIN | EPOLLRDHUP);

  /* Our close frame is out: half-close and wait for the peer's. */
  if (conn->state == CONN_CLOSING && !conn->write_shut)
    {
      conn->write_shut = TRUE;
      shutdown (conn->fd, SHUT_WR);
    }
}

/* Drops every output segment not yet begun, keeping frame boundaries: the
 * rest of a frame that has begun (a snapshot is several pieces) stays. */
static void
conn_drop_unsent (Conn *conn)
{
  GList *l = conn->out.head;
  gboolean kept = FALSE;

  while (l != NULL)
    {
      GList *next = l->next;
      Segment *segment = l->data;

      kept = segment->offset != segment->start || (segment->continues && kept);
      if (!kept)
        {
          if (!segment->snapshot)
            conn->out_bytes -= segment->end - segment->offset;
          segment_free (segment);
          g_queue_delete_link (&conn->out, l);
        }
      l = next;
    }
}

static void
conn_close (Conn       *conn,
            guint16     code,
            const char *reason)
{
  g_autoptr(GBytes) frame = NULL;

  if (conn->state != CONN_OPEN)
    return;

  g_debug ("Closing WebSocket %s with %u (%s)", munity_socket_get_id (conn->socket), code, reason);

  frame = munity_ws_close_frame_new (code, reason);
  conn_push_frame (conn, frame);
  conn->state = CONN_CLOSING;
  conn->hub->n_open--;
  conn->close_deadline = g_get_monotonic_time () +
                         (code == MUNITY_CLOSE_POLICY_VIOLATION ? SLOW_CLOSE_LINGER_US : CLOSE_LINGER_US);

  /* The model forgets the socket now, not when TCP is done. */
  munity_presence_remove_socket (conn->hub->presence, conn->socket);
}

static void
conn_destroy (Conn *conn)
{
  MunityWsHub *hub = conn->hub;
  Conn *last;

  if (conn->state == CONN_DEAD)
    return;

  if (conn->state == CONN_OPEN)
    hub->n_open--;
  conn->state = CONN_DEAD;
  epoll_ctl (hub->epfd, EPOLL_CTL_DEL, conn->fd, NULL);
  close (conn->fd);
  conn->fd = -1;

  /* swap-remove from the connection list */
  last = g_ptr_array_index (hub->conns, hub->conns->len - 1);
  hub->conns->pdata[conn->index] = last;
  last->index = conn->index;
  g_ptr_array_set_size (hub->conns, hub->conns->len - 1);
  /* Moved behind a sweep's cursor, it would miss this sweep: not so. */
  if (hub->sweeping && last != conn && last->index < hub->sweep_cursor)
    conn_catch_up (last);

  g_ptr_array_add (hub->graveyard, conn);
  hub->flush_pending = TRUE;

  munity_presence_remove_socket (hub->presence, conn->socket);
}

static void
conn_free (Conn *conn)
{
  g_clear_signal_handler (&conn->close_handler, conn->socket);
  g_object_set_qdata (G_OBJECT (conn->socket), conn_quark, NULL);
  g_clear_object (&conn->socket);
  g_queue_clear_full (&conn->out, segment_free);
  g_clear_pointer (&conn->in, g_byte_array_unref);
  g_clear_pointer (&conn->message, g_byte_array_unref);
  g_free (conn);
}

/* Dead connections are freed only here, at the end of a flush, when no
 * list (the dirty list above all) can still point at them. */
static void
bury_dead (MunityWsHub *self)
{
  if (self->graveyard->len > 0)
    g_ptr_array_set_size (self->graveyard, 0);
}

/* ---- chunks -------------------------------------------------------------
 *
 * The event log and the snapshot body live in append-only chunks that
 * sockets reference rather than copy: bytes below a chunk's fill level
 * never change, and a chunk lives as long as a socket still has it to
 * send. Rebuilding the snapshot after every leave of a churn allocated a
 * fresh 256 KiB at a time (page faults, which are dear in this VM), so
 * freed chunks go back to a small pool. Main thread only, like the hub.
 */

static GPtrArray *chunk_pool;

static void
chunk_release (gpointer data)
{
  if (chunk_pool == NULL)
    chunk_pool = g_ptr_array_new ();
  if (chunk_pool->len < CHUNK_POOL_MAX)
    g_ptr_array_add (chunk_pool, data);
  else
    g_free (data);
}

/* Returns: (transfer full): a chunk of @capacity bytes, to be written
 * from the start by its owner */
static GBytes *
chunk_new (gsize capacity)
{
  guint8 *data;

  if (capacity == CHUNK_BYTES)
    {
      data = chunk_pool != NULL && chunk_pool->len > 0 ? g_ptr_array_steal_index_fast (chunk_pool, chunk_pool->len - 1)
                                                       : g_malloc (CHUNK_BYTES);
      return g_bytes_new_with_free_func (data, CHUNK_BYTES, chunk_release, data);
    }
  data = g_malloc (capacity);
  return g_bytes_new_take (data, capacity);
}

static void
log_chunk_free (gpointer data)
{
  LogChunk *chunk = data;

  g_bytes_unref (chunk->bytes);
  g_free (chunk);
}

/* Appends an event to the log; every open socket will be given it. */
static void
log_append (MunityWsHub  *self,
            const guint8 *data,
            gsize         size)
{
  LogChunk *chunk = g_queue_peek_tail (&self->log);

  if (chunk == NULL || g_bytes_get_size (chunk->bytes) - chunk->used < size)
    {
      chunk = g_new (LogChunk, 1);
      chunk->bytes = chunk_new (MAX (CHUNK_BYTES, size));
      chunk->start = self->log_end;
      chunk->used = 0;
      g_queue_push_tail (&self->log, chunk);
    }
  memcpy ((guint8 *) g_bytes_get_data (chunk->bytes, NULL) + chunk->used, data, size);
  chunk->used += size;
  /* A running sweep delivers it to the sockets ahead of its cursor and the
   * next one to the others; with none running, the next one delivers it. */
  chunk->sweep = self->sweep_no + 1;
  self->log_end += size;
}

/* ---- broadcasts -------------------------------------------------------- */

static void
broadcast (MunityWsHub *self,
           GBytes      *frame,
           const char  *event)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (frame, &size);

  if (self->closing_all)
    return;

  /* Every open socket gets it (a counter: this runs once per event, and
   * walking 19,000 sockets per event made a storm quadratic here too). */
  log_append (self, data, size);
  munity_metrics_count_event (self->metrics, event, self->n_open);
  self->flush_pending = TRUE;
}

/* ---- the sweep ----------------------------------------------------------
 *
 * A sweep walks the connections SWEEP_SLICE at a time, one slice per
 * main-loop iteration (so handshakes, reads and closes run between slices
 * instead of waiting for a whole fan-out), and gives each open socket the
 * part of the log it has not had yet: usually one reference into one
 * chunk, written with one writev() with whatever else it has pending. An
 * event logged in the middle of a sweep reaches the sockets still ahead of
 * the cursor in this sweep and the ones behind it in the next, so nobody
 * waits for more than one sweep plus the pause. Every socket is visited in
 * every sweep (one moved behind the cursor is caught up as it moves), so a
 * chunk is no longer needed once the sweep after its last event is over.
 */

static void
log_trim (MunityWsHub *self)
{
  while (self->log.length > 1)
    {
      LogChunk *chunk = g_queue_peek_head (&self->log);

      if (chunk->sweep + 1 >= self->sweep_no)
        break;
      log_chunk_free (g_queue_pop_head (&self->log));
    }
}

/* Queues for @conn the part of the log it has not had. */
static void
conn_catch_up (Conn *conn)
{
  MunityWsHub *self = conn->hub;
  GList *l = self->log.tail;
  LogChunk *chunk;

  if (conn->state != CONN_OPEN || conn->sent_upto >= self->log_end)
    return;

  /* It usually lacks only the newest bytes: search from the end. */
  while (l->prev != NULL && ((LogChunk *) l->data)->start > conn->sent_upto)
    l = l->prev;
  chunk = l->data;
  if (chunk->start > conn->sent_upto)
    {
      /* Never happens (see above); if it did, the socket's list would be
       * wrong, so it goes rather than show a wrong list. */
      g_critical ("WebSocket %s is behind the event log", munity_socket_get_id (conn->socket));
      conn->sent_upto = self->log_end;
      conn_close (conn, MUNITY_CLOSE_INTERNAL_ERROR, "internal error");
      return;
    }

  for (; l != NULL; l = l->next)
    {
      chunk = l->data;
      if (chunk->start + chunk->used <= conn->sent_upto)
        continue;
      conn_push (conn, chunk->bytes, (gsize) (MAX (conn->sent_upto, chunk->start) - chunk->start),
                 chunk->used, FALSE);
    }
  conn->sent_upto = self->log_end;
  mark_dirty (conn);
}

static void
write_dirty (MunityWsHub *self)
{
  for (guint i = 0; i < self->dirty->len; i++)
    {
      Conn *conn = self->dirty->pdata[i];

      conn->dirty = FALSE;
      if (conn->state == CONN_DEAD)
        continue;

      /* A socket known to be full is written when epoll says it can be. */
      if (!(conn->epoll_events & EPOLLOUT))
        conn_write (conn);

      /* A reader that does not keep up is closed; nobody waits for it. */
      if (conn->state == CONN_OPEN && conn->out_bytes > MUNITY_WS_MAX_PENDING_OUTPUT)
        {
          g_message ("Closing WebSocket %s of user %" G_GINT64_FORMAT ": %" G_GSIZE_FORMAT " bytes unread",
                     munity_socket_get_id (conn->socket), munity_socket_get_user_id (conn->socket),
                     conn->out_bytes);
          /* What it has not begun to receive goes; frames already
           * queued for it (error replies) go with it: it reads nothing. */
          conn_drop_unsent (conn);
          conn_close (conn, MUNITY_CLOSE_POLICY_VIOLATION, "too slow");
          conn_write (conn);
        }
    }
  g_ptr_array_set_size (self->dirty, 0);
}

/* One slice: a sweep's next SWEEP_SLICE sockets, and every socket with
 * something of its own to send (a snapshot, a pong, a close). */
static void
flush (MunityWsHub *self)
{
  gint64 start = g_get_monotonic_time ();
  guint end;

  if (!self->sweeping && self->log_end > self->log_delivered)
    {
      self->sweeping = TRUE;
      self->sweep_no++;
      self->sweep_cursor = 0;
      self->sweep_busy_us = 0;
      self->sweep_log_mark = self->log_end;
      self->n_flushes++;
      log_trim (self);
    }

  if (self->sweeping)
    {
      end = MIN (self->sweep_cursor + SWEEP_SLICE, self->conns->len);
      while (self->sweep_cursor < end)
        conn_catch_up (self->conns->pdata[self->sweep_cursor++]);
    }

  write_dirty (self);
  bury_dead (self);

  if (self->sweeping)
    {
      gint64 now = g_get_monotonic_time ();

      self->sweep_busy_us += now - start;
      if (self->sweep_cursor >= self->conns->len)
        {
          self->sweeping = FALSE;
          self->log_delivered = self->sweep_log_mark;
          self->last_flush = now;
          self->last_flush_us = self->sweep_busy_us;
        }
    }

  /* More to do: the rest of the sweep, events that came in meanwhile (or
   * from closes above: userLeft with no grace) for sockets already
   * passed. */
  self->flush_pending = self->sweeping || self->log_end > self->log_delivered || self->dirty->len > 0;
}

typedef struct {
  GSource      source;
  MunityWsHub *hub;
} FlushSource;

/* Every sweep writes to every socket, so its cost grows with the number
 * of sockets; during a storm the events of several iterations are gathered
 * and sent together. While HTTP requests (handshakes above all) wait for
 * the loop, the pause after a sweep is three times as long as the sweep's
 * own busy time (at least 2 µs a socket, at most 40 ms), so fanning out
 * takes at most about a quarter of the loop however fast events come; with
 * none waiting there is no pause, and sweeps follow each other as long as
 * there are events. (Measured: a factor of 1 or 2 spends more CPU on
 * writes in a 1,000-user storm, 4 makes its last clients wait; pausing
 * with nothing to wait for cost churn at 10k ~50 ms of p99;
 * doc/performance.md.) */
static gint64
flush_wait_us (MunityWsHub *self)
{
  /* The pause is for HTTP requests (handshakes above all) to get the
   * loop; with none waiting, the next sweep goes at once. */
  if (self->requests_in_flight == 0)
    return 0;
  return MIN (MAX ((gint64) self->conns->len * 2, 3 * self->last_flush_us), 40000);
}

static gboolean
flush_source_prepare (GSource *source,
                      gint    *timeout)
{
  MunityWsHub *hub = ((FlushSource *) source)->hub;
  gint64 due;

  *timeout = -1;
  if (!hub->flush_pending)
    return FALSE;
  if (hub->sweeping)
    return TRUE;

  due = hub->last_flush + flush_wait_us (hub) - g_get_monotonic_time ();
  if (due <= 0)
    return TRUE;
  *timeout = (gint) ((due + 999) / 1000);
  return FALSE;
}

static gboolean
flush_source_check (GSource *source)
{
  MunityWsHub *hub = ((FlushSource *) source)->hub;

  return hub->flush_pending &&
         (hub->sweeping || g_get_monotonic_time () >= hub->last_flush + flush_wait_us (hub));
}

static gboolean
flush_source_dispatch (GSource     *source,
                       GSourceFunc  callback,
                       gpointer     user_data)
{
  flush (((FlushSource *) source)->hub);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs flush_source_funcs = {
  flush_source_prepare,
  flush_source_check,
  flush_source_dispatch,
  NULL, NULL, NULL
};

/* ---- model events ------------------------------------------------------ */

static GBytes *
user_fragment (MunityUser *user)
{
  GBytes *fragment = g_object_get_qdata (G_OBJECT (user), fragment_quark);

  if (fragment == NULL)
    {
      char *json = munity_protocol_user_json (user);
      fragment = g_bytes_new_take (json, strlen (json));
      g_object_set_qdata_full (G_OBJECT (user), fragment_quark, fragment, (GDestroyNotify) g_bytes_unref);
    }
  return fragment;
}

static void
broadcast_user_event (MunityWsHub *self,
                      const char  *event,
                      MunityUser  *user)
{
  GBytes *fragment = user_fragment (user);
  g_autofree char *json = g_strndup (g_bytes_get_data (fragment, NULL), g_bytes_get_size (fragment));
  g_autoptr(GBytes) frame = munity_protocol_event_frame (event, json);

  broadcast (self, frame, event);
}

/* The body of the next onlineUsers frame is kept up to date in pages of
 * about 16 KiB: a join appends to the last page, a leave or an update
 * rewrites the one page that holds the user (merged with the next when
 * both fit in one), so neither copies the whole list. Every new socket's
 * snapshot is references to the pages rather than a copy (copying it was
 * a fifth of munityd's time in a storm, rebuilding it after every leave
 * most of a churn's user-space time): bytes a socket has been given never
 * change, a rewrite makes a new page buffer, and the old one lives while a
 * socket still has it to send. */
static GQuark page_quark;

static void
page_free (gpointer data)
{
  SnapshotPage *page = data;

  for (guint i = 0; i < page->users->len; i++)
    g_object_set_qdata (page->users->pdata[i], page_quark, NULL);
  g_ptr_array_unref (page->users);
  g_clear_pointer (&page->bytes, g_bytes_unref);
  g_free (page);
}

static SnapshotPage *
page_new (gsize capacity)
{
  SnapshotPage *page = g_new0 (SnapshotPage, 1);

  page->bytes = chunk_new (MAX (PAGE_BYTES, capacity));
  page->users = g_ptr_array_new_with_free_func (g_object_unref);
  return page;
}

/* Every fragment is stored with a comma before it, so that pages follow
 * each other without a separator; the body starts one byte into its first
 * page. Past page->used nobody holds a reference into the buffer yet. */
static void
page_put (SnapshotPage *page,
          MunityUser   *user)
{
  GBytes *fragment = user_fragment (user);
  gsize size = g_bytes_get_size (fragment);
  guint8 *data = (guint8 *) g_bytes_get_data (page->bytes, NULL) + page->used;

  *data = ',';
  memcpy (data + 1, g_bytes_get_data (fragment, NULL), size);
  page->used += size + 1;
  g_ptr_array_add (page->users, g_object_ref (user));
  g_object_set_qdata (G_OBJECT (user), page_quark, page);
}

static void
snapshot_append (MunityWsHub *self,
                 MunityUser  *user)
{
  SnapshotPage *page = self->pages->len > 0 ? self->pages->pdata[self->pages->len - 1] : NULL;
  gsize needed = g_bytes_get_size (user_fragment (user)) + 1;

  if (page == NULL || g_bytes_get_size (page->bytes) - page->used < needed)
    {
      page = page_new (needed);
      g_ptr_array_add (self->pages, page);
    }
  page_put (page, user);
}

/* Rewrites the page holding @user, without it when @removed: into a new
 * buffer, together with the next page's users when they fit. */
static void
snapshot_rewrite (MunityWsHub *self,
                  MunityUser  *user,
                  gboolean     removed)
{
  SnapshotPage *page = g_object_get_qdata (G_OBJECT (user), page_quark);
  g_autoptr(GPtrArray) users = NULL;
  SnapshotPage *next = NULL;
  gsize needed = 0;
  guint at;

  if (page == NULL || !g_ptr_array_find (self->pages, page, &at))
    return;

  users = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < page->users->len; i++)
    if (!removed || page->users->pdata[i] != user)
      g_ptr_array_add (users, g_object_ref (page->users->pdata[i]));
  for (guint i = 0; i < users->len; i++)
    needed += g_bytes_get_size (user_fragment (users->pdata[i])) + 1;

  if (at + 1 < self->pages->len)
    {
      SnapshotPage *candidate = self->pages->pdata[at + 1];

      if (needed + candidate->used <= PAGE_BYTES)
        {
          next = candidate;
          for (guint i = 0; i < next->users->len; i++)
            g_ptr_array_add (users, g_object_ref (next->users->pdata[i]));
          needed += next->used;
        }
    }

  if (removed)
    g_object_set_qdata (G_OBJECT (user), page_quark, NULL);
  g_ptr_array_set_size (page->users, 0);
  g_bytes_unref (page->bytes);
  page->bytes = chunk_new (MAX (PAGE_BYTES, needed));
  page->used = 0;
  for (guint i = 0; i < users->len; i++)
    page_put (page, users->pdata[i]);

  if (next != NULL)
    {
      g_ptr_array_set_size (next->users, 0);
      g_ptr_array_remove_index (self->pages, at + 1);
    }
  /* An empty page goes, unless it is the one joins append to. */
  if (page->users->len == 0 && at + 1 < self->pages->len)
    g_ptr_array_remove_index (self->pages, at);
}

/* Queues the onlineUsers frame: its head, the pages, its end. */
static void
conn_push_snapshot (Conn *conn)
{
  MunityWsHub *self = conn->hub;
  g_autoptr(GBytes) head = NULL;
  g_autoptr(GBytes) tail = munity_protocol_online_users_frame_tail ();
  gsize length = 0;
  gsize skip = 1;   /* the first page's leading comma */

  for (guint i = 0; i < self->pages->len; i++)
    length += ((SnapshotPage *) self->pages->pdata[i])->used;
  head = munity_protocol_online_users_frame_head (length > 0 ? length - 1 : 0);

  conn_push_piece (conn, head, 0, g_bytes_get_size (head), TRUE, FALSE);
  for (guint i = 0; i < self->pages->len; i++)
    {
      SnapshotPage *page = self->pages->pdata[i];

      if (page->used == 0)
        continue;
      if (page->used > skip)
        conn_push_piece (conn, page->bytes, skip, page->used, TRUE, TRUE);
      skip = 0;
    }
  conn_push_piece (conn, tail, 0, g_bytes_get_size (tail), TRUE, TRUE);
}

static void
on_user_joined (MunityPresence *presence,
                MunityUser     *user,
                MunityWsHub    *self)
{
  /* A new user is last in join order. */
  snapshot_append (self, user);
  broadcast_user_event (self, "userJoined", user);
}

static void
on_user_left (MunityPresence *presence,
              MunityUser     *user,
              MunityWsHub    *self)
{
  g_autoptr(GBytes) frame = munity_protocol_user_left_frame (munity_user_get_id (user));

  snapshot_rewrite (self, user, TRUE);
  broadcast (self, frame, "userLeft");
}

static void
on_user_updated (MunityPresence *presence,
                 MunityUser     *user,
                 MunityWsHub    *self)
{
  g_object_set_qdata (G_OBJECT (user), fragment_quark, NULL);
  snapshot_rewrite (self, user, FALSE);
  broadcast_user_event (self, "userUpdated", user);
}

static void
on_close_requested (MunitySocket *socket,
                    guint         code,
                    const char   *reason,
                    gpointer      user_data)
{
  Conn *conn = user_data;

  conn_close (conn, (guint16) code, reason);
}

/* ---- input ------------------------------------------------------------- */

static void
bad_frame (Conn *conn)
{
  gint64 now = g_get_monotonic_time ();
  guint kept = 0;
  gint64 kept_times[BAD_FRAME_LIMIT];

  /* Forget bad frames older than a minute. */
  for (guint i = 0; i < conn->n_bad; i++)
    {
      gint64 t = conn->bad[(conn->bad_head + i) % BAD_FRAME_LIMIT];
      if (now - t < BAD_FRAME_WINDOW_US)
        kept_times[kept++] = t;
    }
  memcpy (conn->bad, kept_times, kept * sizeof (gint64));
  conn->bad_head = 0;
  conn->n_bad = kept;

  if (conn->n_bad >= BAD_FRAME_LIMIT)
    {
      g_message ("Closing WebSocket %s: too many bad messages", munity_socket_get_id (conn->socket));
      conn_close (conn, MUNITY_CLOSE_POLICY_VIOLATION, "too many bad messages");
      return;
    }

  conn->bad[conn->n_bad++] = now;
  {
    g_autoptr(GBytes) frame = munity_protocol_error_frame ("bad-message");
    conn_push_frame (conn, frame);
    munity_metrics_count_event (conn->hub->metrics, "error", 1);
  }
}

/* RFC 6455 UTF-8: U+0000 is a character like any other, but
 * g_utf8_validate_len() stops at a NUL byte, so the text is validated
 * between them. GLib refuses overlong forms, surrogates and code points
 * beyond U+10FFFF, as RFC 3629 does. */
static gboolean
text_is_utf8 (const guint8 *data,
              gsize         length)
{
  const guint8 *end = data + length;

  while (data < end)
    {
      const guint8 *nul = memchr (data, '\0', (gsize) (end - data));
      const guint8 *stop = nul != NULL ? nul : end;

      if (!g_utf8_validate_len ((const char *) data, (gsize) (stop - data), NULL))
        return FALSE;
      data = stop + (nul != NULL ? 1 : 0);
    }
  return TRUE;
}

static void
handle_message (Conn         *conn,
                guint8        opcode,
                const guint8 *payload,
                gsize         length)
{
  if (opcode == MUNITY_WS_OP_BINARY)
    {
      conn_close (conn, MUNITY_CLOSE_UNSUPPORTED_DATA, "binary frames are not accepted");
      return;
    }

  /* A text message that is not UTF-8 breaks the framing contract, not
   * ours: RFC 6455 §8.1 says fail the connection (1007), no error frame. */
  if (!text_is_utf8 (payload, length))
    {
      conn_close (conn, CLOSE_INVALID_PAYLOAD, "invalid UTF-8");
      return;
    }

  if (!munity_protocol_client_message_is_valid ((const char *) payload, length))
    bad_frame (conn);
}

static void
handle_control (Conn         *conn,
                guint8        opcode,
                const guint8 *payload,
                gsize         length)
{
  switch (opcode)
    {
    case MUNITY_WS_OP_PING:
      if (conn->state == CONN_OPEN)
        {
          g_autoptr(GBytes) pong = munity_ws_frame_new (MUNITY_WS_OP_PONG, payload, length);
          conn_push_frame (conn, pong);
        }
      break;

    case MUNITY_WS_OP_PONG:
      conn->ping_outstanding = 0;
      break;

    case MUNITY_WS_OP_CLOSE:
      if (conn->state == CONN_OPEN)
        {
          guint16 code = 1000;

          if (length == 1)
            code = MUNITY_CLOSE_PROTOCOL_ERROR;
          else if (length >= 2)
            {
              guint16 theirs = (guint16) ((payload[0] << 8) | payload[1]);
              code = munity_ws_close_code_is_valid (theirs) ? theirs : MUNITY_CLOSE_PROTOCOL_ERROR;
              /* The reason is UTF-8 text too (RFC 6455 §5.5.1). */
              if (code != MUNITY_CLOSE_PROTOCOL_ERROR && !text_is_utf8 (payload + 2, length - 2))
                code = CLOSE_INVALID_PAYLOAD;
            }
          conn_close (conn, code, "");
        }
      else
        {
          /* They answered our close: done. */
          conn_destroy (conn);
        }
      break;

    default:
      break;
    }
}

/* Returns how many bytes of @data were consumed; stops early when the
 * connection closes. */
static gsize
parse_frames (Conn   *conn,
              guint8 *data,
              gsize   length)
{
  gsize at = 0;

  while (at < length && conn->state != CONN_DEAD)
    {
      MunityWsHeader header;
      MunityWsParse result = munity_ws_parse_header (data + at, length - at, &header);
      guint8 *payload;

      if (result == MUNITY_WS_PARSE_NEED_MORE)
        break;
      if (result == MUNITY_WS_PARSE_PROTOCOL_ERROR || !header.masked)
        {
          conn_close (conn, MUNITY_CLOSE_PROTOCOL_ERROR, "protocol error");
          return length;
        }

      if (header.opcode < MUNITY_WS_OP_CLOSE)
        {
          gsize so_far = conn->message != NULL ? conn->message->len : 0;

          if ((header.opcode == MUNITY_WS_OP_CONTINUATION) != (conn->message != NULL))
            {
              conn_close (conn, MUNITY_CLOSE_PROTOCOL_ERROR, "bad fragmentation");
              return length;
            }
          if (header.payload_length > MUNITY_WS_MAX_MESSAGE - so_far)
            {
              conn_close (conn, MUNITY_CLOSE_TOO_BIG, "message too big");
              return length;
            }
        }

      if (length - at < header.header_length + header.payload_length)
        break;

      payload = data + at + header.header_length;
      munity_ws_unmask (payload, header.payload_length, header.mask);
      at += header.header_length + header.payload_length;

      if (conn->state != CONN_OPEN && header.opcode != MUNITY_WS_OP_CLOSE)
        continue;  /* after our close, only their close matters */

      if (header.opcode >= MUNITY_WS_OP_CLOSE)
        {
          handle_control (conn, header.opcode, payload, header.payload_length);
          continue;
        }

      if (!header.fin)
        {
          if (conn->message == NULL)
            {
              conn->message = g_byte_array_new ();
              conn->message_opcode = header.opcode;
            }
          g_byte_array_append (conn->message, payload, header.payload_length);
          continue;
        }

      if (conn->message != NULL)
        {
          g_autoptr(GByteArray) message = g_steal_pointer (&conn->message);
          g_byte_array_append (message, payload, header.payload_length);
          handle_message (conn, conn->message_opcode, message->data, message->len);
        }
      else
        {
          handle_message (conn, header.opcode, payload, header.payload_length);
        }
    }

  return at;
}

static void
conn_read (Conn *conn)
{
  guint8 buffer[READ_CHUNK];

  for (int round = 0; round < 4 && conn->state != CONN_DEAD; round++)
    {
      ssize_t n = read (conn->fd, buffer, sizeof buffer);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno != EAGAIN)
            conn_destroy (conn);
          return;
        }
      if (n == 0)
        {
          conn_destroy (conn);
          return;
        }

      if (conn->in != NULL)
        {
          gsize used;

          g_byte_array_append (conn->in, buffer, n);
          used = parse_frames (conn, conn->in->data, conn->in->len);
          if (conn->in != NULL)
            {
              g_byte_array_remove_range (conn->in, 0, used);
              if (conn->in->len == 0)
                g_clear_pointer (&conn->in, g_byte_array_unref);
            }
        }
      else
        {
          gsize used = parse_frames (conn, buffer, n);
          if (used < (gsize) n && conn->state != CONN_DEAD)
            {
              conn->in = g_byte_array_sized_new (n - used);
              g_byte_array_append (conn->in, buffer + used, n - used);
            }
        }

      if ((gsize) n < sizeof buffer)
        return;
    }
}

static gboolean
epoll_cb (gint         fd,
          GIOCondition condition,
          gpointer     user_data)
{
  MunityWsHub *self = user_data;
  struct epoll_event events[256];
  int n = epoll_wait (self->epfd, events, G_N_ELEMENTS (events), 0);

  for (int i = 0; i < n; i++)
    {
      Conn *conn = events[i].data.ptr;

      if (conn->state == CONN_DEAD)
        continue;
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        conn_read (conn);
      if (conn->state != CONN_DEAD && (events[i].events & (EPOLLHUP | EPOLLERR)))
        conn_destroy (conn);
      if (conn->state != CONN_DEAD && (events[i].events & EPOLLOUT))
        conn_write (conn);
    }

  return G_SOURCE_CONTINUE;
}

/* ---- keepalive sweep --------------------------------------------------- */

static gboolean
sweep_cb (gpointer user_data)
{
  MunityWsHub *self = user_data;
  gint64 now = g_get_monotonic_time ();
  g_autoptr(GBytes) ping = munity_ws_frame_new (MUNITY_WS_OP_PING, NULL, 0);

  for (guint i = self->conns->len; i > 0; i--)
    {
      Conn *conn = self->conns->pdata[i - 1];

      if (conn->state == CONN_CLOSING)
        {
          if (now >= conn->close_deadline)
            conn_destroy (conn);
          continue;
        }
      if (conn->state != CONN_OPEN)
        continue;

      if (conn->ping_outstanding != 0 && now - conn->ping_outstanding >= self->pong_timeout_us)
        {
          g_message ("Closing WebSocket %s: no pong for %" G_GINT64_FORMAT " s",
                     munity_socket_get_id (conn->socket), (now - conn->ping_outstanding) / G_USEC_PER_SEC);
          conn_close (conn, MUNITY_CLOSE_POLICY_VIOLATION, "no pong");
          conn_destroy (conn);
          continue;
        }

      if (now - conn->last_ping >= self->ping_interval_us)
        {
          conn->last_ping = now;
          if (conn->ping_outstanding == 0)
            conn->ping_outstanding = now;
          conn_push_frame (conn, ping);
        }
    }

  return G_SOURCE_CONTINUE;
}

/* ---- GObject ----------------------------------------------------------- */

static void
munity_ws_hub_dispose (GObject *object)
{
  MunityWsHub *self = MUNITY_WS_HUB (object);

  self->closing_all = TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (self->handlers); i++)
    g_clear_signal_handler (&self->handlers[i], self->presence);
  while (self->conns != NULL && self->conns->len > 0)
    conn_destroy (self->conns->pdata[self->conns->len - 1]);
  if (self->graveyard != NULL)
    bury_dead (self);

  g_clear_handle_id (&self->epoll_id, g_source_remove);
  g_clear_handle_id (&self->sweep_id, g_source_remove);
  if (self->flush_source != NULL)
    {
      g_source_destroy (self->flush_source);
      g_clear_pointer (&self->flush_source, g_source_unref);
    }
  if (self->epfd >= 0)
    {
      close (self->epfd);
      self->epfd = -1;
    }
  g_clear_object (&self->presence);
  g_clear_object (&self->metrics);

  G_OBJECT_CLASS (munity_ws_hub_parent_class)->dispose (object);
}

static void
munity_ws_hub_finalize (GObject *object)
{
  MunityWsHub *self = MUNITY_WS_HUB (object);

  g_clear_pointer (&self->conns, g_ptr_array_unref);
  g_clear_pointer (&self->dirty, g_ptr_array_unref);
  g_clear_pointer (&self->graveyard, g_ptr_array_unref);
  g_queue_clear_full (&self->log, log_chunk_free);
  g_clear_pointer (&self->pages, g_ptr_array_unref);

  G_OBJECT_CLASS (munity_ws_hub_parent_class)->finalize (object);
}

static void
munity_ws_hub_class_init (MunityWsHubClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = munity_ws_hub_dispose;
  object_class->finalize = munity_ws_hub_finalize;

  fragment_quark = g_quark_from_static_string ("munity-ws-user-fragment");
  conn_quark = g_quark_from_static_string ("munity-ws-conn");
  page_quark = g_quark_from_static_string ("munity-ws-snapshot-page");
}

static gint64
env_ms (const char *name,
        gint64      fallback_ms)
{
  const char *value = g_getenv (name);
  guint64 ms;

  if (value != NULL && g_ascii_string_to_unsigned (value, 10, 1, G_MAXUINT32, &ms, NULL))
    return (gint64) ms * 1000;
  return fallback_ms * 1000;
}

static void
munity_ws_hub_init (MunityWsHub *self)
{
  self->epfd = -1;
  self->conns = g_ptr_array_new ();
  self->dirty = g_ptr_array_new ();
  self->graveyard = g_ptr_array_new_with_free_func ((GDestroyNotify) conn_free);
  g_queue_init (&self->log);
  self->pages = g_ptr_array_new_with_free_func (page_free);
  /* Test hooks: tests cannot wait 60 s for a pong timeout. */
  self->ping_interval_us = env_ms ("MUNITY_WS_PING_INTERVAL_MS", 30000);
  self->pong_timeout_us = env_ms ("MUNITY_WS_PONG_TIMEOUT_MS", 60000);
}

/**
 * munity_ws_hub_new:
 * @presence: the presence model the sockets belong to
 * @metrics: where to count sent events
 *
 * Returns: (transfer full): a hub with no connections
 */
MunityWsHub *
munity_ws_hub_new (MunityPresence *presence,
                   MunityMetrics  *metrics)
{
  MunityWsHub *self = g_object_new (MUNITY_TYPE_WS_HUB, NULL);
  gint64 sweep_ms;

  self->presence = g_object_ref (presence);
  self->metrics = g_object_ref (metrics);
  self->epfd = epoll_create1 (EPOLL_CLOEXEC);
  g_assert (self->epfd >= 0);
  self->epoll_id = g_unix_fd_add (self->epfd, G_IO_IN, epoll_cb, self);

  sweep_ms = CLAMP (self->ping_interval_us / 1000 / 6, 50, 5000);
  self->sweep_id = g_timeout_add ((guint) sweep_ms, sweep_cb, self);

  self->flush_source = g_source_new (&flush_source_funcs, sizeof (FlushSource));
  ((FlushSource *) self->flush_source)->hub = self;
  g_source_set_name (self->flush_source, "munity-ws-flush");
  g_source_attach (self->flush_source, NULL);

  for (GList *l = munity_presence_peek_users (presence); l != NULL; l = l->next)
    snapshot_append (self, l->data);
  self->handlers[0] = g_signal_connect (presence, "user-joined", G_CALLBACK (on_user_joined), self);
  self->handlers[1] = g_signal_connect (presence, "user-left", G_CALLBACK (on_user_left), self);
  self->handlers[2] = g_signal_connect (presence, "user-updated", G_CALLBACK (on_user_updated), self);

  return self;
}

static void
tune_socket (int fd)
{
  int one = 1;
  int idle = 30, interval = 10, count = 3;
  unsigned int user_timeout_ms = 60000;
  int sndbuf = SNDBUF_BYTES;

  /* A vanished peer (no FIN) is noticed within 90 s: keepalive probes when
   * idle, TCP_USER_TIMEOUT when our pings go unacknowledged. */
  setsockopt (fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  setsockopt (fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt (fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt (fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  setsockopt (fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* Bounded kernel buffering, so "unsent output" means something and a
   * stalled reader cannot park megabytes in the kernel. */
  setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
}

/**
 * munity_ws_hub_add:
 * @self: the hub
 * @fd: an upgraded WebSocket connection's descriptor, which the hub now owns
 * @info: the authenticated user
 * @session: (nullable): the session that opened it (its token hash)
 * @error: return location for an error
 *
 * Takes over a connection: it joins the presence model, gets its
 * `onlineUsers` snapshot as its first frame, and every later event.
 *
 * Returns: %TRUE on success; on failure @fd is closed
 */
gboolean
munity_ws_hub_add (MunityWsHub     *self,
                   int              fd,
                   MunityUserInfo  *info,
                   const char      *session,
                   GError         **error)
{
  struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
  Conn *conn;

  if (self->closing_all)
    {
      close (fd);
      g_set_error_literal (error, MUNITY_ERROR, MUNITY_ERROR_FAILED, "shutting down");
      return FALSE;
    }

  if (!g_unix_set_fd_nonblocking (fd, TRUE, error))
    {
      close (fd);
      return FALSE;
    }
  tune_socket (fd);

  conn = g_new0 (Conn, 1);
  conn->hub = self;
  conn->fd = fd;
  conn->state = CONN_OPEN;
  conn->last_ping = g_get_monotonic_time ();
  g_queue_init (&conn->out);
  conn->socket = munity_socket_new (info->id, session);
  g_object_set_qdata (G_OBJECT (conn->socket), conn_quark, conn);
  conn->close_handler = g_signal_connect (conn->socket, "close-requested",
                                          G_CALLBACK (on_close_requested), conn);

  ev.data.ptr = conn;
  if (epoll_ctl (self->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
    {
      int saved_errno = errno;
      close (fd);
      conn->fd = -1;
      conn_free (conn);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "epoll_ctl: %s", g_strerror (saved_errno));
      return FALSE;
    }
  conn->epoll_events = ev.events;

  /* Join first (a userJoined goes into the log for everyone already
   * here), then the snapshot, which includes this user; the socket gets
   * only what is logged after this point. */
  munity_presence_add_socket (self->presence, conn->socket, info);

  conn_push_snapshot (conn);
  munity_metrics_count_event (self->metrics, "onlineUsers", 1);

  conn->sent_upto = self->log_end;
  conn->index = self->conns->len;
  g_ptr_array_add (self->conns, conn);
  self->n_open++;
  mark_dirty (conn);

  g_debug ("WebSocket %s opened for user %" G_GINT64_FORMAT, munity_socket_get_id (conn->socket), info->id);
  return TRUE;
}

/**
 * munity_ws_hub_set_requests_in_flight:
 * @self: the hub
 * @n: how many HTTP requests the server is working on
 *
 * The hub pauses between sweeps only while requests wait for the loop.
 */
void
munity_ws_hub_set_requests_in_flight (MunityWsHub *self,
                                      guint        n)
{
  self->requests_in_flight = n;
}

/**
 * munity_ws_hub_close_all:
 * @self: the hub
 * @code: the close code, 1001 at shutdown
 * @reason: the close reason
 *
 * Sends every socket a close frame and stops accepting new ones. The
 * connections finish closing on their own (or when the hub is disposed).
 */
void
munity_ws_hub_close_all (MunityWsHub *self,
                         guint        code,
                         const char  *reason)
{
  self->closing_all = TRUE;
  for (guint i = 0; i < self->conns->len; i++)
    {
      Conn *conn = self->conns->pdata[i];
      conn_close (conn, (guint16) code, reason);
    }
  flush (self);
}

/**
 * munity_ws_hub_get_stats:
 * @self: the hub
 * @out_flushes: (out): how many times pending output was flushed
 * @out_writes: (out): how many writev() calls were made
 */
void
munity_ws_hub_get_stats (MunityWsHub *self,
                         guint64     *out_flushes,
                         guint64     *out_writes)
{
  *out_flushes = self->n_flushes;
  *out_writes = self->n_writes;
}

/**
 * munity_ws_hub_get_n_connections:
 * @self: the hub
 *
 * Returns: how many connections are open or closing
 */
guint
munity_ws_hub_get_n_connections (MunityWsHub *self)
{
  return self->conns->len;
}
