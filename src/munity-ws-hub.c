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
#include <unistd.h>

#include "munity-error.h"
#include "munity-protocol.h"
#include "munity-ws-conn.h"
#include "munity-ws-hub.h"
#include "munity-ws-log.h"
#include "munity-ws-pages.h"
#include "munity-ws-windows.h"

/*
 * The data plane (see doc/websocket-design.md for the measurements behind
 * it). libsoup answers the handshake; then the connection's file descriptor
 * is taken over (a MunityWsConn: framing and output queue) and joins one
 * epoll set, which is a single source on the main loop: an idle socket
 * costs the loop nothing per pass. Keepalive is one sweep timer, not a
 * timer per socket.
 *
 * Every event after the snapshot goes to every open socket (userJoined goes
 * to "every other user", but the joining user's sockets are exactly the new
 * ones, which start after the frame), so events are appended to one
 * shared log (MunityWsLog), and a sweep over the sockets gives each one a
 * reference to the part of the log it has not had, written with one
 * writev() together with anything else it has pending. A frame is
 * serialised once; a storm costs one write per socket per sweep, not one
 * per frame. The snapshot a new socket gets first is references to the
 * pages of MunityWsPages.
 *
 * A socket opened with `?view=window` (doc/protocol.md §8) is not part of
 * that broadcast: it watches a window of the ordered list
 * (MunityWsWindows), shared with every socket on the same window, and
 * gets that window's `windowChanged` frames, flushed at most every
 * 100 ms. The log skips it, and with no full-list socket open nothing is
 * logged at all.
 */

#define SNDBUF_BYTES (128 * 1024)
#define CHUNK_BYTES (256 * 1024)
#define CHUNK_POOL_MAX 64
#define PAGE_BYTES (16 * 1024)
#define SWEEP_SLICE 512

/* A connection and what the hub keeps for it, in one allocation. */
typedef struct {
  MunityWsConn  conn;             /* first: the hub's callbacks get it */
  guint         index;            /* in hub->conns */
  guint32       epoll_events;
  gboolean      dirty;            /* in hub->dirty */
  guint64       sent_upto;        /* where it is in the event log */
  MunityWsView *view;             /* (owned) (nullable) the window it watches */
  guint         view_slot;        /* in the view's members */
} HubConn;

struct _MunityWsHub
{
  GObject         parent_instance;

  MunityPresence *presence;       /* (owned) */
  MunityMetrics  *metrics;        /* (owned) */
  int             epfd;
  guint           epoll_id;
  guint           sweep_id;
  GSource        *flush_source;   /* (owned) */
  GPtrArray      *conns;          /* of HubConn (owned) */
  GPtrArray      *dirty;          /* of HubConn (unowned) */
  GPtrArray      *graveyard;      /* of HubConn (owned), freed after dispatch */
  MunityWsLog    *log;            /* (owned) */
  guint64         log_delivered;  /* every open socket has the log up to here */
  gboolean        sweeping;
  guint           sweep_cursor;   /* next index in conns */
  guint64         sweep_no;
  guint64         sweep_log_mark; /* the log's end when the sweep began */
  gint64          sweep_busy_us;  /* time spent in this sweep's slices */
  MunityWsPages  *pages;          /* (owned) the onlineUsers body */
  MunityWsWindows *windows;       /* (owned) the ordered list and its views */
  guint           window_flush_id;
  gint64          window_flush_due;  /* when window_flush_id fires */
  guint           n_open_windows; /* open connections watching a window */
  gboolean        flush_pending;
  guint           n_open;         /* connections in MUNITY_WS_CONN_OPEN */
  gint64          last_flush;     /* monotonic µs, end of the last flush */
  guint64         n_flushes;
  gint64          last_flush_us;  /* how long the last flush took */
  guint64         n_writes;
  gboolean        closing_all;
  guint           requests_in_flight;
  gint64          ping_interval_us;
  gint64          pong_timeout_us;
};

G_DEFINE_FINAL_TYPE (MunityWsHub, munity_ws_hub, G_TYPE_OBJECT)

static void hub_conn_catch_up (MunityWsHub *self,
                               HubConn     *hc);

/* ---- connections --------------------------------------------------------- */

static void
set_epoll (MunityWsHub *self,
           HubConn     *hc,
           guint32      events)
{
  struct epoll_event ev = { .events = events, .data.ptr = hc };

  if (hc->epoll_events == events || munity_ws_conn_get_fd (&hc->conn) < 0)
    return;
  if (epoll_ctl (self->epfd, EPOLL_CTL_MOD, munity_ws_conn_get_fd (&hc->conn), &ev) == 0)
    hc->epoll_events = events;
}

/* Writes what @hc has pending and watches for writability while the
 * socket is full. */
static void
hub_conn_write (MunityWsHub *self,
                HubConn     *hc)
{
  self->n_writes += munity_ws_conn_write (&hc->conn);
  if (munity_ws_conn_get_state (&hc->conn) == MUNITY_WS_CONN_DEAD)
    return;
  set_epoll (self, hc, munity_ws_conn_is_blocked (&hc->conn) ? EPOLLIN | EPOLLOUT | EPOLLRDHUP
                                                             : EPOLLIN | EPOLLRDHUP);
}

static void
mark_dirty (MunityWsHub *self,
            HubConn     *hc)
{
  if (!hc->dirty)
    {
      hc->dirty = TRUE;
      g_ptr_array_add (self->dirty, hc);
    }
  self->flush_pending = TRUE;
}

static void
conn_output (MunityWsConn *conn,
             gpointer      user_data)
{
  mark_dirty (user_data, (HubConn *) conn);
}

/* Takes @hc out of its view's members (swap-remove). */
static void
hub_conn_leave_view (MunityWsHub *self,
                     HubConn     *hc)
{
  GPtrArray *members;
  HubConn *last;

  if (hc->view == NULL)
    return;
  members = munity_ws_view_get_members (hc->view);
  last = g_ptr_array_index (members, members->len - 1);
  members->pdata[hc->view_slot] = last;
  last->view_slot = hc->view_slot;
  g_ptr_array_set_size (members, members->len - 1);
  g_clear_pointer (&hc->view, munity_ws_view_release);
}

static void
hub_conn_stop_watching (MunityWsHub *self,
                        HubConn     *hc)
{
  if (hc->view != NULL)
    {
      self->n_open_windows--;
      hub_conn_leave_view (self, hc);
    }
}

static void
conn_closing (MunityWsConn *conn,
              gpointer      user_data)
{
  MunityWsHub *self = user_data;

  self->n_open--;
  hub_conn_stop_watching (self, (HubConn *) conn);
  /* The model forgets the socket now, not when TCP is done. */
  munity_presence_remove_socket (self->presence, munity_ws_conn_get_socket (conn));
}

static void
conn_dead (MunityWsConn *conn,
           gboolean      was_open,
           gpointer      user_data)
{
  MunityWsHub *self = user_data;
  HubConn *hc = (HubConn *) conn;
  HubConn *last;

  if (was_open)
    {
      self->n_open--;
      hub_conn_stop_watching (self, hc);
    }
  epoll_ctl (self->epfd, EPOLL_CTL_DEL, munity_ws_conn_get_fd (conn), NULL);

  /* swap-remove from the connection list */
  last = g_ptr_array_index (self->conns, self->conns->len - 1);
  self->conns->pdata[hc->index] = last;
  last->index = hc->index;
  g_ptr_array_set_size (self->conns, self->conns->len - 1);
  /* Moved behind a sweep's cursor, it would miss this sweep: not so. */
  if (self->sweeping && last != hc && last->index < self->sweep_cursor)
    hub_conn_catch_up (self, last);

  g_ptr_array_add (self->graveyard, hc);
  self->flush_pending = TRUE;

  munity_presence_remove_socket (self->presence, munity_ws_conn_get_socket (conn));
}

static void
conn_bad_message (MunityWsConn *conn,
                  gpointer      user_data)
{
  MunityWsHub *self = user_data;

  munity_metrics_count_event (self->metrics, "error", 1);
}

static void hub_conn_watch (MunityWsHub *self,
                            HubConn     *hc,
                            const char  *query,
                            guint        offset,
                            guint        limit);

/* The client events (doc/protocol.md §3, §8): the hub only parses them
 * and hands them on — a status to the model, which owns its rules, a
 * window to the windows. */
static gboolean
conn_message (MunityWsConn *conn,
              const char   *text,
              gsize         length,
              gpointer      user_data)
{
  MunityWsHub *self = user_data;
  HubConn *hc = (HubConn *) conn;
  g_autofree char *query = NULL;
  guint offset, limit;
  gboolean idle = FALSE;

  switch (munity_protocol_parse_client_event (text, length, &idle))
    {
    case MUNITY_CLIENT_EVENT_SET_STATUS:
      munity_presence_set_socket_idle (self->presence, munity_ws_conn_get_socket (conn), idle);
      return TRUE;
    case MUNITY_CLIENT_EVENT_BAD:
    default:
      break;
    }

  /* Only a window socket has a window to move. */
  if (hc->view != NULL && munity_protocol_parse_set_window (text, length, &query, &offset, &limit))
    {
      hub_conn_watch (self, hc, query, offset, limit);
      return TRUE;
    }
  return FALSE;
}

static const MunityWsConnFuncs conn_funcs = {
  conn_output,
  conn_closing,
  conn_dead,
  conn_bad_message,
  conn_message,
};

/* Dead connections are freed only here, at the end of a flush, when no
 * list (the dirty list above all) can still point at them. */
static void
bury_dead (MunityWsHub *self)
{
  if (self->graveyard->len > 0)
    g_ptr_array_set_size (self->graveyard, 0);
}

/* ---- broadcasts -------------------------------------------------------- */

/* Whether a broadcast reaches anyone: a full-list socket is open. With
 * window sockets only, no event frame is even made. */
static gboolean
has_list_sockets (MunityWsHub *self)
{
  return !self->closing_all && self->n_open > self->n_open_windows;
}

static void
broadcast (MunityWsHub *self,
           GBytes      *frame,
           const char  *event)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (frame, &size);

  /* Callers make a frame only when has_list_sockets(). */
  /* Every open socket gets it (a counter: this runs once per event, and
   * walking 19,000 sockets per event made a storm quadratic here too). A
   * running sweep delivers it to the sockets ahead of its cursor and the
   * next one to the others; with none running, the next one delivers it:
   * so its chunk is needed until the sweep after the next is over. */
  munity_ws_log_append (self->log, data, size, self->sweep_no + 1);
  munity_metrics_count_event (self->metrics, event, self->n_open - self->n_open_windows);
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

/* Queues for @hc the part of the log it has not had. */
static void
hub_conn_catch_up (MunityWsHub *self,
                   HubConn     *hc)
{
  guint64 log_end = munity_ws_log_get_end (self->log);
  MunityWsLogIter iter;
  GBytes *bytes;
  gsize start, end;

  if (munity_ws_conn_get_state (&hc->conn) != MUNITY_WS_CONN_OPEN || hc->sent_upto >= log_end)
    return;
  if (hc->view != NULL)
    {
      /* A window socket gets its own frames, never the log's. */
      hc->sent_upto = log_end;
      return;
    }

  if (!munity_ws_log_iter_init (self->log, &iter, hc->sent_upto))
    {
      /* Never happens (see above); if it did, the socket's list would be
       * wrong, so it goes rather than show a wrong list. */
      g_critical ("WebSocket %s is behind the event log",
                  munity_socket_get_id (munity_ws_conn_get_socket (&hc->conn)));
      hc->sent_upto = log_end;
      munity_ws_conn_close (&hc->conn, MUNITY_CLOSE_INTERNAL_ERROR, "internal error");
      return;
    }

  while (munity_ws_log_iter_next (&iter, &bytes, &start, &end))
    munity_ws_conn_queue (&hc->conn, bytes, start, end, MUNITY_WS_SEGMENT_NONE);
  hc->sent_upto = log_end;
  mark_dirty (self, hc);
}

static void
write_dirty (MunityWsHub *self)
{
  for (guint i = 0; i < self->dirty->len; i++)
    {
      HubConn *hc = self->dirty->pdata[i];

      hc->dirty = FALSE;
      if (munity_ws_conn_get_state (&hc->conn) == MUNITY_WS_CONN_DEAD)
        continue;

      /* A socket known to be full is written when epoll says it can be. */
      if (!(hc->epoll_events & EPOLLOUT))
        hub_conn_write (self, hc);

      if (munity_ws_conn_shed_slow_reader (&hc->conn))
        hub_conn_write (self, hc);
    }
  g_ptr_array_set_size (self->dirty, 0);
}

/* One slice: a sweep's next SWEEP_SLICE sockets, and every socket with
 * something of its own to send (a snapshot, a pong, a close). */
static void
flush (MunityWsHub *self)
{
  gint64 start = g_get_monotonic_time ();
  guint64 log_end = munity_ws_log_get_end (self->log);
  guint end;

  if (!self->sweeping && log_end > self->log_delivered)
    {
      self->sweeping = TRUE;
      self->sweep_no++;
      self->sweep_cursor = 0;
      self->sweep_busy_us = 0;
      self->sweep_log_mark = log_end;
      self->n_flushes++;
      /* A chunk whose last event was logged before the previous sweep
       * began has been delivered by the time that sweep was over. */
      munity_ws_log_trim (self->log, self->sweep_no - 1);
    }

  if (self->sweeping)
    {
      end = MIN (self->sweep_cursor + SWEEP_SLICE, self->conns->len);
      while (self->sweep_cursor < end)
        hub_conn_catch_up (self, self->conns->pdata[self->sweep_cursor++]);
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
  self->flush_pending = self->sweeping || munity_ws_log_get_end (self->log) > self->log_delivered ||
                        self->dirty->len > 0;
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

/* ---- windows ------------------------------------------------------------
 *
 * A change marks the views it touches; a flush then sends each of them
 * one frame, at most one every 100 ms per view
 * (MUNITY_WS_WINDOW_INTERVAL_US): a view's first change after a quiet
 * spell goes out at the next loop iteration, the ones that follow it are
 * gathered. One source, armed for the view due first.
 */

static void schedule_window_flush (MunityWsHub *self);

static void
deliver_window (MunityWsView *view,
                GBytes       *frame,
                gpointer      user_data)
{
  MunityWsHub *self = user_data;
  GPtrArray *members = munity_ws_view_get_members (view);
  gsize size = g_bytes_get_size (frame);

  for (guint i = 0; i < members->len; i++)
    {
      HubConn *hc = members->pdata[i];

      munity_ws_conn_queue (&hc->conn, frame, 0, size, MUNITY_WS_SEGMENT_NONE);
      mark_dirty (self, hc);
    }
  munity_metrics_count_event (self->metrics, "windowChanged", members->len);
}

static gboolean
window_flush_cb (gpointer user_data)
{
  MunityWsHub *self = user_data;

  self->window_flush_id = 0;
  munity_ws_windows_flush (self->windows, g_get_monotonic_time (), deliver_window, self);
  schedule_window_flush (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_window_flush (MunityWsHub *self)
{
  gint64 due = munity_ws_windows_get_next_due (self->windows);
  gint64 wait;

  if (self->closing_all || due == G_MAXINT64)
    return;
  if (self->window_flush_id != 0)
    {
      if (due >= self->window_flush_due)
        return;
      g_clear_handle_id (&self->window_flush_id, g_source_remove);
    }
  self->window_flush_due = due;
  wait = due - g_get_monotonic_time ();
  if (wait <= 0)
    self->window_flush_id = g_idle_add_full (G_PRIORITY_DEFAULT, window_flush_cb, self, NULL);
  else
    self->window_flush_id = g_timeout_add_full (G_PRIORITY_DEFAULT, (guint) ((wait + 999) / 1000),
                                                window_flush_cb, self, NULL);
}

/* Puts @hc on the window (@query, @offset, @limit) and queues its
 * `onlineWindow`. */
static void
hub_conn_watch (MunityWsHub *self,
                HubConn     *hc,
                const char  *query,
                guint        offset,
                guint        limit)
{
  MunityWsView *view = munity_ws_windows_open_view (self->windows, query, offset, limit, g_get_monotonic_time ());
  GPtrArray *members = munity_ws_view_get_members (view);
  GBytes *snapshot;

  /* Open the new one first: a socket moving within a shared view keeps it. */
  hub_conn_leave_view (self, hc);
  hc->view = view;
  hc->view_slot = members->len;
  g_ptr_array_add (members, hc);

  snapshot = munity_ws_view_get_snapshot (view);
  munity_ws_conn_queue (&hc->conn, snapshot, 0, g_bytes_get_size (snapshot), MUNITY_WS_SEGMENT_SNAPSHOT);
  munity_metrics_count_event (self->metrics, "onlineWindow", 1);
  mark_dirty (self, hc);
}

/* ---- model events ------------------------------------------------------
 *
 * The composition root (munity-daemon.c) connects these to the presence
 * model's signals.
 */

/* Kept while the user is online (the windows' entry): copied to its exact
 * size, not kept in the generator's buffer, which is up to twice as big. */
static GBytes *
user_fragment_new (MunityUser *user)
{
  g_autofree char *json = munity_protocol_user_json (user);

  return g_bytes_new (json, strlen (json));
}

/* Lists @user in the snapshot, last (@joined) or where it is, and
 * sends everyone @event with the user's details. */
static void
user_shown (MunityWsHub *self,
            MunityUser  *user,
            gboolean     joined,
            const char  *event)
{
  g_autoptr(GBytes) fragment = user_fragment_new (user);
  g_autofree char *name = munity_user_dup_name (user);

  if (joined)
    munity_ws_pages_append (self->pages, munity_user_get_id (user), fragment);
  else
    munity_ws_pages_update (self->pages, munity_user_get_id (user), fragment);
  if (has_list_sockets (self))
    {
      g_autofree char *json = g_strndup (g_bytes_get_data (fragment, NULL), g_bytes_get_size (fragment));
      g_autoptr(GBytes) frame = munity_protocol_event_frame (event, json);

      broadcast (self, frame, event);
    }
  munity_ws_windows_put (self->windows, munity_user_get_id (user), name, fragment);
  schedule_window_flush (self);
}

/**
 * munity_ws_hub_user_joined:
 * @self: the hub
 * @user: a user who came online
 *
 * Sends every open socket `userJoined` and lists the user, last (a new
 * user is last in join order), in the snapshot new sockets get.
 */
void
munity_ws_hub_user_joined (MunityWsHub *self,
                           MunityUser  *user)
{
  user_shown (self, user, TRUE, "userJoined");
}

/**
 * munity_ws_hub_user_left:
 * @self: the hub
 * @user: a user who went offline
 *
 * Sends every open socket `userLeft` and takes the user out of the
 * snapshot.
 */
void
munity_ws_hub_user_left (MunityWsHub *self,
                         MunityUser  *user)
{
  munity_ws_pages_remove (self->pages, munity_user_get_id (user));
  if (has_list_sockets (self))
    {
      g_autoptr(GBytes) frame = munity_protocol_user_left_frame (munity_user_get_id (user));

      broadcast (self, frame, "userLeft");
    }
  munity_ws_windows_remove (self->windows, munity_user_get_id (user));
  schedule_window_flush (self);
}

/**
 * munity_ws_hub_user_updated:
 * @self: the hub
 * @user: an online user whose details changed
 *
 * Sends every open socket `userUpdated` and shows the new details in the
 * snapshot.
 */
void
munity_ws_hub_user_updated (MunityWsHub *self,
                            MunityUser  *user)
{
  user_shown (self, user, FALSE, "userUpdated");
}

/* Queues the onlineUsers frame: its head, the pages, its end. */
static void
hub_conn_push_snapshot (MunityWsHub *self,
                        HubConn     *hc)
{
  g_autoptr(GBytes) head = munity_protocol_online_users_frame_head (munity_ws_pages_get_body_length (self->pages));
  g_autoptr(GBytes) tail = munity_protocol_online_users_frame_tail ();
  MunityWsPagesIter iter;
  GBytes *bytes;
  gsize start, end;

  munity_ws_conn_queue (&hc->conn, head, 0, g_bytes_get_size (head), MUNITY_WS_SEGMENT_SNAPSHOT);
  munity_ws_pages_iter_init (self->pages, &iter);
  while (munity_ws_pages_iter_next (&iter, &bytes, &start, &end))
    munity_ws_conn_queue (&hc->conn, bytes, start, end, MUNITY_WS_SEGMENT_SNAPSHOT | MUNITY_WS_SEGMENT_CONTINUES);
  munity_ws_conn_queue (&hc->conn, tail, 0, g_bytes_get_size (tail),
                        MUNITY_WS_SEGMENT_SNAPSHOT | MUNITY_WS_SEGMENT_CONTINUES);
}

/* ---- input ------------------------------------------------------------- */

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
      HubConn *hc = events[i].data.ptr;
      MunityWsConn *conn = &hc->conn;

      if (munity_ws_conn_get_state (conn) == MUNITY_WS_CONN_DEAD)
        continue;
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        munity_ws_conn_read (conn);
      if (munity_ws_conn_get_state (conn) != MUNITY_WS_CONN_DEAD && (events[i].events & (EPOLLHUP | EPOLLERR)))
        munity_ws_conn_destroy (conn);
      if (munity_ws_conn_get_state (conn) != MUNITY_WS_CONN_DEAD && (events[i].events & EPOLLOUT))
        hub_conn_write (self, hc);
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
      MunityWsConn *conn = self->conns->pdata[i - 1];
      gint64 outstanding;

      if (munity_ws_conn_linger_expired (conn, now))
        {
          munity_ws_conn_destroy (conn);
          continue;
        }
      if (munity_ws_conn_get_state (conn) != MUNITY_WS_CONN_OPEN)
        continue;

      outstanding = munity_ws_conn_get_ping_outstanding (conn);
      if (outstanding != 0 && now - outstanding >= self->pong_timeout_us)
        {
          g_message ("Closing WebSocket %s: no pong for %" G_GINT64_FORMAT " s",
                     munity_socket_get_id (munity_ws_conn_get_socket (conn)), (now - outstanding) / G_USEC_PER_SEC);
          munity_ws_conn_close (conn, MUNITY_CLOSE_POLICY_VIOLATION, "no pong");
          munity_ws_conn_destroy (conn);
          continue;
        }

      if (now - munity_ws_conn_get_last_ping (conn) >= self->ping_interval_us)
        munity_ws_conn_send_ping (conn, ping, now);
    }

  return G_SOURCE_CONTINUE;
}

/* ---- GObject ----------------------------------------------------------- */

static void
munity_ws_hub_dispose (GObject *object)
{
  MunityWsHub *self = MUNITY_WS_HUB (object);

  self->closing_all = TRUE;
  while (self->conns != NULL && self->conns->len > 0)
    munity_ws_conn_destroy (self->conns->pdata[self->conns->len - 1]);
  if (self->graveyard != NULL)
    bury_dead (self);

  g_clear_handle_id (&self->epoll_id, g_source_remove);
  g_clear_handle_id (&self->sweep_id, g_source_remove);
  g_clear_handle_id (&self->window_flush_id, g_source_remove);
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
  g_clear_pointer (&self->log, munity_ws_log_free);
  g_clear_pointer (&self->pages, munity_ws_pages_free);
  g_clear_pointer (&self->windows, munity_ws_windows_free);

  G_OBJECT_CLASS (munity_ws_hub_parent_class)->finalize (object);
}

static void
munity_ws_hub_class_init (MunityWsHubClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = munity_ws_hub_dispose;
  object_class->finalize = munity_ws_hub_finalize;
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
  self->graveyard = g_ptr_array_new_with_free_func ((GDestroyNotify) munity_ws_conn_free);
  self->log = munity_ws_log_new (CHUNK_BYTES, CHUNK_POOL_MAX);
  self->pages = munity_ws_pages_new (PAGE_BYTES);
  self->windows = munity_ws_windows_new ();
  /* Test hooks: tests cannot wait 60 s for a pong timeout. */
  self->ping_interval_us = env_ms ("MUNITY_WS_PING_INTERVAL_MS", 30000);
  self->pong_timeout_us = env_ms ("MUNITY_WS_PONG_TIMEOUT_MS", 60000);
}

/**
 * munity_ws_hub_new:
 * @presence: the presence model the sockets belong to
 * @metrics: where to count sent events
 *
 * The hub lists the users @presence has now in its snapshot; it learns of
 * later changes from munity_ws_hub_user_joined() and its siblings, which
 * the caller connects to @presence's signals.
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
    {
      g_autoptr(GBytes) fragment = user_fragment_new (l->data);
      g_autofree char *name = munity_user_dup_name (l->data);

      munity_ws_pages_append (self->pages, munity_user_get_id (l->data), fragment);
      munity_ws_windows_put (self->windows, munity_user_get_id (l->data), name, fragment);
    }

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
 * @mode: what the socket watches: all of the list, or a window of it
 * @error: return location for an error
 *
 * Takes over a connection: it joins the presence model, gets its
 * `onlineUsers` snapshot as its first frame, and every later event; or,
 * with %MUNITY_WS_MODE_WINDOW, the first window of the list
 * (`onlineWindow`) and its changes (doc/protocol.md §8).
 *
 * Returns: %TRUE on success; on failure @fd is closed
 */
gboolean
munity_ws_hub_add (MunityWsHub     *self,
                   int              fd,
                   MunityUserInfo  *info,
                   const char      *session,
                   MunityWsMode     mode,
                   GError         **error)
{
  struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
  g_autoptr(MunitySocket) socket = NULL;
  HubConn *hc;

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

  socket = munity_socket_new (info->id, session);
  hc = (HubConn *) munity_ws_conn_new (fd, socket, &conn_funcs, self, sizeof (HubConn));

  ev.data.ptr = hc;
  if (epoll_ctl (self->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
    {
      int saved_errno = errno;
      munity_ws_conn_free (&hc->conn);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "epoll_ctl: %s", g_strerror (saved_errno));
      return FALSE;
    }
  hc->epoll_events = ev.events;

  /* Join first (a userJoined goes into the log for everyone already
   * here), then the snapshot, which includes this user; the socket gets
   * only what is logged after this point. */
  munity_presence_add_socket (self->presence, socket, info);

  hc->sent_upto = munity_ws_log_get_end (self->log);
  hc->index = self->conns->len;
  g_ptr_array_add (self->conns, hc);
  self->n_open++;

  if (mode == MUNITY_WS_MODE_WINDOW)
    {
      self->n_open_windows++;
      hub_conn_watch (self, hc, "", 0, MUNITY_WS_WINDOW_DEFAULT_LIMIT);
    }
  else
    {
      hub_conn_push_snapshot (self, hc);
      munity_metrics_count_event (self->metrics, "onlineUsers", 1);
      mark_dirty (self, hc);
    }

  g_debug ("WebSocket %s opened for user %" G_GINT64_FORMAT, munity_socket_get_id (socket), info->id);
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
      MunityWsConn *conn = self->conns->pdata[i];
      munity_ws_conn_close (conn, (guint16) code, reason);
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

/**
 * munity_ws_hub_get_n_window_sockets:
 * @self: the hub
 *
 * Returns: how many open connections watch a window (doc/protocol.md §8)
 */
guint
munity_ws_hub_get_n_window_sockets (MunityWsHub *self)
{
  return self->n_open_windows;
}

/**
 * munity_ws_hub_get_n_window_views:
 * @self: the hub
 *
 * Returns: how many distinct windows (query, offset, limit) are watched
 */
guint
munity_ws_hub_get_n_window_views (MunityWsHub *self)
{
  return munity_ws_windows_get_n_views (self->windows);
}
