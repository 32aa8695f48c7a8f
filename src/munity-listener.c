/* munity-listener.c — accepting HTTP connections, bounded
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "munity-error.h"
#include "munity-http-guard.h"
#include "munity-listener.h"
#include "munity-throttle.h"
#include "munity-tls-relay.h"

/* How many connections one wake-up of a listening socket accepts: a storm
 * is accepted in batches instead of one per main-loop pass. More handshakes
 * in flight at once raise the heap's high-water mark, which glibc keeps:
 * 1k storm (munity-load --users 1000), 3 runs each: 64 gave 11.6-11.8 KiB
 * per socket, 16 gave 4.9-5.5 KiB in 0.38-0.46 s (libsoup's own listener,
 * one per pass: 6.6 KiB, 0.62 s). */
#define ACCEPT_BATCH 16
/* Descriptors kept free for PostgreSQL, D-Bus, pictures and the WebSocket
 * hand-over when the connection cap is derived from RLIMIT_NOFILE. */
#define FD_RESERVE 256
/* While accept() fails for want of memory or descriptors and nothing can be
 * done about it, the listening sockets rest this long before trying again. */
#define PAUSE_MS 100
/* At most one log line per kind of refusal in this many seconds. */
#define LOG_INTERVAL_US (10 * G_USEC_PER_SEC)

/**
 * MunityListener:
 *
 * Accepts the TCP connections of the HTTP server itself and hands them to
 * libsoup with soup_server_accept_iostream(), so that munityd, not libsoup,
 * decides what a connection may cost:
 *
 * - a cap on all client connections (WebSockets included) and one on the
 *   HTTP connections of one address (an IPv6 /64 counts as one address),
 *   answered with a JSON 503 `busy` or 429 `rate-limited` and a log line;
 * - a deadline for the request's headers, and for each part of its body,
 *   and a lifetime for a connection that never becomes a WebSocket, checked
 *   by one sweep a second rather than a timer per connection;
 * - `EMFILE` on accept() is survived with a spare descriptor: the waiting
 *   client is told 503 and the listening socket stays armed. libsoup 3.2's
 *   own listener drops its socket for good after one such error.
 *
 * Because no listener is registered with libsoup, libsoup closes every
 * connection after its response (soup-server.c, request_finished()): no
 * idle keep-alive connection is left for libsoup 3.2.3 to forget in
 * CLOSE_WAIT, its own error answers included.
 *
 * What this file relies on in libsoup (3.2.3) is listed, with the libsoup
 * file and function of each, in munity-http-soup.c (assumptions 1, 2, 5
 * and 7) and pinned by tests/integration/test-libsoup-assumptions.c.
 */
struct _MunityListener
{
  GObject                  parent_instance;

  SoupServer              *server;          /* (owned) */
  guint                    max_connections;
  guint                    max_per_address;
  gint64                   request_timeout_us;
  MunityListenerCountFunc  count_func;
  gpointer                 count_data;

  GPtrArray               *listening;       /* (owned) of Listening */
  GHashTable              *conns;           /* (owned) SoupServerMessage → Conn (owned) */
  GHashTable              *per_address;     /* (owned) address key → count */
  GTlsCertificate         *certificate;     /* (owned) (nullable) serve TLS */
  GHashTable              *handshaking;     /* (owned) set of Conn (owned) in a TLS handshake */
  struct _Conn            *accepting;       /* the connection being given to libsoup */
  int                      spare_fd;
  guint                    sweep_id;
  guint                    resume_id;
  gint64                   paused_since;
  gboolean                 stopped;

  gint64                   last_log[3];
  guint                    n_unlogged[3];
};

G_DEFINE_FINAL_TYPE (MunityListener, munity_listener, G_TYPE_OBJECT)

typedef struct {
  MunityListener *self;    /* (unowned) */
  guint           tag;
  GSocket        *socket;  /* (owned) */
  GSocketAddress *address; /* (owned) (nullable) its local address */
  GSource        *source;  /* (owned) (nullable) */
} Listening;

typedef enum {
  CONN_HEADERS,    /* waiting for the request's headers */
  CONN_BODY,       /* reading its body */
  CONN_ANSWERING,  /* the request is read: a handler or the write owns it */
  CONN_REFUSED,    /* answered by munity_listener_refuse(), draining */
} ConnState;

/* What a refused request may still send, and for how long, before the
 * connection is closed under it. A client that sends its whole body before
 * reading the answer (libsoup's, curl's) sees the 413 only if the body is
 * read to its end: a reset would discard the answer. 16 MiB covers every
 * honest mistake (a picture a little over 5 MiB); a 10 GiB upload is cut. */
#define REFUSED_DRAIN_BYTES (16 * 1024 * 1024)
#define REFUSED_DRAIN_US (10 * G_USEC_PER_SEC)

typedef struct _Conn {
  MunityListener    *self;     /* (unowned) */
  int                fd;       /* (owned) our own descriptor of the socket, or -1 */
  guint              tag;      /* the tag of the listening socket */
  GSocket           *socket;   /* (owned) libsoup's descriptor of the socket */
  GIOStream         *stream;   /* (owned) what libsoup was given */
  SoupServerMessage *msg;      /* (owned) (nullable) until request-started */
  GSocketAddress    *local;    /* (owned) */
  GSocketAddress    *remote;   /* (owned) */
  GCancellable      *cancellable; /* (owned) (nullable) the TLS handshake */
  gboolean           tls;
  char              *key;      /* (owned) address key, see munity_throttle_address_key() */
  ConnState          state;
  gboolean           answered; /* libsoup wrote a status line */
  gsize              drained;  /* bytes read since it was refused */
  gboolean           gone;     /* libsoup was done with it during the accept */
  gint64             born;
  gint64             deadline; /* monotonic µs; 0 once it was shut down */
} Conn;

enum { LOG_CAP, LOG_PER_ADDRESS, LOG_FDS };

/* ---- logging without flooding ------------------------------------------ */

static void
log_refusal (MunityListener *self,
             int             kind,
             const char     *what)
{
  gint64 now = g_get_monotonic_time ();

  if (self->last_log[kind] != 0 && now - self->last_log[kind] < LOG_INTERVAL_US)
    {
      self->n_unlogged[kind]++;
      return;
    }

  if (self->n_unlogged[kind] > 0)
    g_message ("%s (and %u more like it)", what, self->n_unlogged[kind]);
  else
    g_message ("%s", what);
  self->last_log[kind] = now;
  self->n_unlogged[kind] = 0;
}

/* ---- addresses --------------------------------------------------------- */

static guint
count_for (MunityListener *self,
           const char     *key)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (self->per_address, key));
}

static void
count_add (MunityListener *self,
           const char     *key,
           int             delta)
{
  guint n = count_for (self, key) + delta;

  if (n == 0)
    g_hash_table_remove (self->per_address, key);
  else
    g_hash_table_insert (self->per_address, g_strdup (key), GUINT_TO_POINTER (n));
}

/* ---- refusing ---------------------------------------------------------- */

/* Answers a connection that will not be served with a JSON error and closes
 * it. What the client already sent is read first: closing a socket with
 * unread data resets the connection, and the client would never see why. */
static char *
refusal_text (guint       status,
              const char *code,
              const char *message)
{
  g_autofree char *body = NULL;
  g_autofree char *response = NULL;

  body = munity_error_body_new (code, message);
  response = g_strdup_printf ("HTTP/1.1 %u %s\r\n"
                              "Content-Type: application/json\r\n"
                              "Content-Length: %zu\r\n"
                              "Connection: close\r\n"
                              "%s"
                              "Cache-Control: no-store\r\n"
                              "X-Content-Type-Options: nosniff\r\n"
                              "\r\n%s",
                              status, munity_http_status_phrase (status), strlen (body),
                              status == 429 || status == SOUP_STATUS_SERVICE_UNAVAILABLE ? "Retry-After: 5\r\n" : "",
                              body);
  return g_steal_pointer (&response);
}

static void
write_refusal (int         fd,
               guint       status,
               const char *code,
               const char *message)
{
  g_autofree char *response = refusal_text (status, code, message);

  /* Best effort: a new socket's send buffer takes this at once. */
  if (send (fd, response, strlen (response), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
    g_debug ("Could not answer a refused connection: %s", g_strerror (errno));
}

static void
refuse_fd (int         fd,
           guint       status,
           const char *code,
           const char *message)
{
  char scratch[4096];
  gsize drained = 0;
  gssize n;

  while (drained < 64 * 1024 && (n = recv (fd, scratch, sizeof scratch, MSG_DONTWAIT)) > 0)
    drained += n;

  write_refusal (fd, status, code, message);
  shutdown (fd, SHUT_WR);
  close (fd);
}

/* ---- connections ------------------------------------------------------- */

static void conn_free (Conn *conn);
static void hand_over (MunityListener *self, Conn *conn);
static void start_handshake (MunityListener *self, Conn *conn);
static gboolean sweep_cb (gpointer user_data);

static void
on_got_headers (SoupServerMessage *msg,
                gpointer           user_data)
{
  Conn *conn = user_data;

  if (conn->deadline == 0 || conn->state == CONN_REFUSED)
    return;
  conn->state = CONN_BODY;
  conn->deadline = g_get_monotonic_time () + conn->self->request_timeout_us;
}

static void
on_got_chunk (SoupServerMessage *msg,
              GBytes            *chunk,
              gpointer           user_data)
{
  Conn *conn = user_data;

  if (conn->deadline == 0)
    return;
  if (conn->state == CONN_REFUSED)
    {
      conn->drained += g_bytes_get_size (chunk);
      if (conn->drained > REFUSED_DRAIN_BYTES)
        {
          conn->deadline = 0;
          shutdown (g_socket_get_fd (conn->socket), SHUT_RDWR);
        }
      return;
    }
  conn->deadline = g_get_monotonic_time () + conn->self->request_timeout_us;
}

static void
on_got_body (SoupServerMessage *msg,
             gpointer           user_data)
{
  Conn *conn = user_data;

  if (conn->deadline == 0 || conn->state == CONN_REFUSED)
    return;
  conn->state = CONN_ANSWERING;
  conn->deadline = conn->born + MUNITY_CONNECTION_MAX_LIFETIME_S * G_USEC_PER_SEC;
}

static void
on_wrote_headers (SoupServerMessage *msg,
                  gpointer           user_data)
{
  ((Conn *) user_data)->answered = TRUE;
}

/**
 * munity_fd_peer_is_gone:
 * @fd: a connected TCP socket
 *
 * Returns: whether the peer has closed or reset its side, as of now
 */
gboolean
munity_fd_peer_is_gone (int fd)
{
  struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };

  return poll (&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* libsoup is done with the connection: it closed it, or the WebSocket code
 * stole it (soup_server_connection_steal() emits the same signal;
 * munity-http-soup.c, assumption 7). */
static void
on_disconnected (SoupServerMessage *msg,
                 gpointer           user_data)
{
  Conn *conn = user_data;

  /* libsoup 3.2 reads at most 64 KiB of request line and headers and past
   * that drops the connection without a word (soup-message-io-data.c,
   * HEADER_SIZE_LIMIT; munity-http-soup.c, assumption 5). Our own
   * descriptor keeps the TCP connection open, so a client still sending its
   * head is told why. */
  if (conn->fd >= 0 && !conn->tls && conn->state == CONN_HEADERS && conn->deadline != 0 && !conn->answered &&
      soup_server_message_get_method (msg) == NULL && !munity_fd_peer_is_gone (conn->fd))
    {
      int fd = conn->fd;

      conn->fd = -1;
      g_message ("Refused a request from %s: its request line and headers are larger than libsoup reads",
                 conn->key);
      refuse_fd (fd, MUNITY_HTTP_STATUS_HEADERS_TOO_LARGE, "headers-too-large",
                 "The request line and headers are larger than 64 KiB.");
    }

  /* libsoup may answer and close a connection whose request is already
   * waiting from inside soup_server_accept_iostream(): take() removes it. */
  if (conn->self->accepting == conn)
    conn->gone = TRUE;
  else
    g_hash_table_remove (conn->self->conns, msg);
}

static void
conn_free (Conn *conn)
{
  if (conn->msg != NULL)
    g_signal_handlers_disconnect_by_data (conn->msg, conn);
  count_add (conn->self, conn->key, -1);
  if (conn->fd >= 0)
    close (conn->fd);
  /* libsoup closed the stream unless the connection was stolen, in which
   * case the thief closes it. */
  g_clear_object (&conn->msg);
  g_clear_object (&conn->stream);
  g_clear_object (&conn->socket);
  g_clear_object (&conn->local);
  g_clear_object (&conn->remote);
  g_clear_object (&conn->cancellable);
  g_free (conn->key);
  g_free (conn);
}

static void
on_request_started (SoupServer        *server,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  MunityListener *self = user_data;
  Conn *conn = self->accepting;

  /* libsoup announces the first request of a connection from inside
   * soup_server_accept_iostream(), before reading a byte; that is how a
   * message is tied to its connection (soup-server-connection.c,
   * soup_server_connection_accepted(); munity-http-soup.c, assumption 1). */
  if (conn == NULL || conn->msg != NULL)
    return;

  conn->msg = g_object_ref (msg);
  g_signal_connect (msg, "got-headers", G_CALLBACK (on_got_headers), conn);
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), conn);
  g_signal_connect (msg, "got-body", G_CALLBACK (on_got_body), conn);
  g_signal_connect (msg, "wrote-headers", G_CALLBACK (on_wrote_headers), conn);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_disconnected), conn);
  g_hash_table_insert (self->conns, msg, conn);
}

static gboolean
sweep_cb (gpointer user_data)
{
  MunityListener *self = user_data;
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  Conn *conn;
  guint n_headers = 0, n_body = 0, n_lifetime = 0;

  g_hash_table_iter_init (&iter, self->conns);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &conn))
    {
      if (conn->deadline == 0 || now < conn->deadline)
        continue;

      switch (conn->state)
        {
        case CONN_HEADERS: n_headers++; break;
        case CONN_BODY: n_body++; break;
        case CONN_ANSWERING: n_lifetime++; break;
        case CONN_REFUSED:
        default:
          break;
        }
      /* libsoup notices at its next read or write, answers what it can
       * and closes; the descriptor is never closed under its feet. */
      conn->deadline = 0;
      shutdown (g_socket_get_fd (conn->socket), SHUT_RDWR);
    }

  g_hash_table_iter_init (&iter, self->handshaking);
  while (g_hash_table_iter_next (&iter, (gpointer *) &conn, NULL))
    {
      if (now < conn->deadline || g_cancellable_is_cancelled (conn->cancellable))
        continue;
      n_headers++;
      g_cancellable_cancel (conn->cancellable);
    }

  if (n_headers + n_body + n_lifetime > 0)
    g_message ("Closed %u connection(s) that sent no complete request headers within %" G_GINT64_FORMAT
               " s, %u that stalled sending a body, %u open longer than %u s",
               n_headers, self->request_timeout_us / G_USEC_PER_SEC, n_body, n_lifetime,
               MUNITY_CONNECTION_MAX_LIFETIME_S);

  if (g_hash_table_size (self->conns) == 0 && g_hash_table_size (self->handshaking) == 0)
    {
      self->sweep_id = 0;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static guint
count_open (MunityListener *self)
{
  /* An HTTP connection holds two descriptors (see take()). (A TLS
   * WebSocket holds three, munity-tls-relay.c, counted as one: native TLS
   * is for small sites.) */
  guint n = 2 * (g_hash_table_size (self->conns) + g_hash_table_size (self->handshaking));

  if (self->count_func != NULL)
    n += self->count_func (self->count_data);
  return n;
}

static void
take (MunityListener  *self,
      Listening       *l,
      int              fd,
      struct sockaddr *native,
      socklen_t        native_len)
{
  g_autoptr(GSocketAddress) remote = g_socket_address_new_from_native (native, native_len);
  g_autofree char *key = NULL;
  g_autoptr(GError) error = NULL;
  int one = 1;
  Conn *conn;

  if (remote == NULL || !G_IS_INET_SOCKET_ADDRESS (remote))
    {
      close (fd);
      return;
    }
  {
    g_autofree char *text = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)));
    key = munity_throttle_address_key (text);
  }

  if (self->max_connections > 0 && count_open (self) >= self->max_connections)
    {
      g_autofree char *line = g_strdup_printf ("Refused a connection from %s: %u connections are open (max-connections)",
                                               key, self->max_connections);
      log_refusal (self, LOG_CAP, line);
      refuse_fd (fd, SOUP_STATUS_SERVICE_UNAVAILABLE, "busy", "Too many connections; try again later.");
      return;
    }

  if (self->max_per_address > 0 && count_for (self, key) >= self->max_per_address)
    {
      g_autofree char *line = g_strdup_printf ("Refused a connection from %s: it has %u HTTP connections open (max-connections-per-address)",
                                               key, self->max_per_address);
      log_refusal (self, LOG_PER_ADDRESS, line);
      refuse_fd (fd, 429, "rate-limited", "Too many connections from your address; try again later.");
      return;
    }

  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  /* libsoup gets one descriptor and closes it when it is done; the other
   * is ours: it outlives libsoup's for an answer libsoup would not give
   * (on_disconnected()) and is the one a WebSocket is handed over on. */
  conn = g_new0 (Conn, 1);
  conn->self = self;
  conn->tag = l->tag;
  conn->fd = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  if (conn->fd < 0)
    {
      refuse_fd (fd, SOUP_STATUS_SERVICE_UNAVAILABLE, "busy", "The server is out of resources; try again later.");
      g_free (conn);
      return;
    }
  conn->socket = g_socket_new_from_fd (fd, &error);
  if (conn->socket == NULL)
    {
      g_message ("Cannot take a connection from %s: %s", key, error->message);
      close (fd);
      close (conn->fd);
      g_free (conn);
      return;
    }
  conn->stream = G_IO_STREAM (g_socket_connection_factory_create_connection (conn->socket));
  conn->local = l->address != NULL ? g_object_ref (l->address) : g_socket_get_local_address (conn->socket, NULL);
  conn->remote = g_steal_pointer (&remote);
  conn->key = g_steal_pointer (&key);
  conn->born = g_get_monotonic_time ();
  conn->deadline = conn->born + self->request_timeout_us;
  count_add (self, conn->key, 1);

  if (self->sweep_id == 0)
    self->sweep_id = g_timeout_add_seconds (1, sweep_cb, self);

  if (self->certificate != NULL)
    {
      start_handshake (self, conn);
      return;
    }
  hand_over (self, conn);
}

/* Gives an accepted (and, with TLS, shaken-hands) connection to libsoup. */
static void
hand_over (MunityListener *self,
           Conn           *conn)
{
  self->accepting = conn;
  soup_server_accept_iostream (self->server, conn->stream, conn->local, conn->remote, NULL);
  self->accepting = NULL;

  if (conn->msg == NULL)
    {
      /* Not seen with libsoup 3.2.3; a later libsoup that announces
       * the request differently would leave the connection untracked. */
      g_message ("libsoup did not announce a new connection's request; closing it");
      shutdown (conn->fd, SHUT_RDWR);
      conn_free (conn);
      return;
    }

  if (conn->gone)
    g_hash_table_remove (self->conns, conn->msg);
}

static void
handshake_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Conn *conn = user_data;
  g_autoptr(MunityListener) self = conn->self; /* the ref start_handshake() took */
  g_autoptr(GError) error = NULL;

  g_hash_table_steal (self->handshaking, conn);
  if (!g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), result, &error) ||
      self->server == NULL)
    {
      g_debug ("TLS handshake with %s failed: %s", conn->key, error ? error->message : "stopped");
      conn_free (conn);
      return;
    }

  g_clear_object (&conn->cancellable);
  hand_over (self, conn);
}

static void
start_handshake (MunityListener *self,
                 Conn           *conn)
{
  g_autoptr(GError) error = NULL;
  GIOStream *tls = g_tls_server_connection_new (conn->stream, self->certificate, &error);

  if (tls == NULL)
    {
      g_message ("Cannot start TLS with %s: %s", conn->key, error->message);
      conn_free (conn);
      return;
    }

  /* Browsers close without close_notify; libsoup's own TLS does the same. */
  g_object_set (tls, "require-close-notify", FALSE, NULL);
  g_object_unref (conn->stream);
  conn->stream = tls;
  conn->tls = TRUE;
  conn->cancellable = g_cancellable_new ();
  g_hash_table_add (self->handshaking, conn);
  g_object_ref (self);
  g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT, conn->cancellable,
                                    handshake_cb, conn);
}

/* ---- accepting --------------------------------------------------------- */

static void listening_arm (Listening *l);

static gboolean
resume_cb (gpointer user_data)
{
  MunityListener *self = user_data;

  self->resume_id = 0;
  if (self->spare_fd < 0)
    self->spare_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  for (guint i = 0; i < self->listening->len; i++)
    listening_arm (self->listening->pdata[i]);
  return G_SOURCE_REMOVE;
}

/* Every listening socket rests a moment, then is armed again. */
static void
pause_accepting (MunityListener *self)
{
  for (guint i = 0; i < self->listening->len; i++)
    {
      Listening *l = self->listening->pdata[i];

      if (l->source != NULL)
        {
          g_source_destroy (l->source);
          g_clear_pointer (&l->source, g_source_unref);
        }
    }
  if (self->paused_since == 0)
    self->paused_since = g_get_monotonic_time ();
  if (self->resume_id == 0)
    self->resume_id = g_timeout_add (PAUSE_MS, resume_cb, self);
}

/* Out of descriptors: the spare one makes room to accept the waiting client
 * and tell it 503 instead of leaving it in the backlog (where it would make
 * the socket readable forever). Returns FALSE when there was no spare. */
static gboolean
refuse_for_want_of_fds (MunityListener *self,
                        Listening      *l)
{
  int fd;

  if (self->spare_fd < 0)
    return FALSE;

  close (self->spare_fd);
  self->spare_fd = -1;
  fd = accept4 (g_socket_get_fd (l->socket), NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0)
    {
      struct rlimit limit = { 0 };
      g_autofree char *line = NULL;

      getrlimit (RLIMIT_NOFILE, &limit);
      line = g_strdup_printf ("Out of file descriptors (limit %llu): refused a connection",
                              (unsigned long long) limit.rlim_cur);
      log_refusal (self, LOG_FDS, line);
      refuse_fd (fd, SOUP_STATUS_SERVICE_UNAVAILABLE, "busy", "The server is out of resources; try again later.");
    }
  self->spare_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  return TRUE;
}

static gboolean
on_listening_ready (GSocket      *socket,
                    GIOCondition  condition,
                    gpointer      user_data)
{
  Listening *l = user_data;
  MunityListener *self = l->self;

  for (int i = 0; i < ACCEPT_BATCH; i++)
    {
      struct sockaddr_storage native;
      socklen_t native_len = sizeof native;
      int fd = accept4 (g_socket_get_fd (socket), (struct sockaddr *) &native, &native_len,
                        SOCK_NONBLOCK | SOCK_CLOEXEC);

      if (fd >= 0)
        {
          self->paused_since = 0;
          take (self, l, fd, (struct sockaddr *) &native, native_len);
          continue;
        }

      switch (errno)
        {
        case EAGAIN:
          return G_SOURCE_CONTINUE;
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case EPERM:
          continue;
        case EMFILE:
        case ENFILE:
          if (refuse_for_want_of_fds (self, l))
            continue;
          pause_accepting (self);
          return G_SOURCE_REMOVE;
        default:
          /* ENOBUFS, ENOMEM, ...: nothing to do but wait a little. */
          g_message ("Cannot accept a connection: %s", g_strerror (errno));
          pause_accepting (self);
          return G_SOURCE_REMOVE;
        }
    }

  return G_SOURCE_CONTINUE;
}

static void
listening_arm (Listening *l)
{
  if (l->source != NULL || l->self->stopped)
    return;
  l->source = g_socket_create_source (l->socket, G_IO_IN, NULL);
  g_source_set_callback (l->source, (GSourceFunc) G_CALLBACK (on_listening_ready), l, NULL);
  g_source_attach (l->source, NULL);
}

static void
listening_free (Listening *l)
{
  if (l->source != NULL)
    {
      g_source_destroy (l->source);
      g_source_unref (l->source);
    }
  g_clear_object (&l->socket);
  g_clear_object (&l->address);
  g_free (l);
}

/* ---- GObject ----------------------------------------------------------- */

static void
munity_listener_dispose (GObject *object)
{
  MunityListener *self = MUNITY_LISTENER (object);

  g_clear_handle_id (&self->sweep_id, g_source_remove);
  g_clear_handle_id (&self->resume_id, g_source_remove);
  if (self->server != NULL)
    g_signal_handlers_disconnect_by_data (self->server, self);
  g_clear_pointer (&self->listening, g_ptr_array_unref);
  g_clear_pointer (&self->conns, g_hash_table_unref);
  g_clear_pointer (&self->per_address, g_hash_table_unref);
  g_clear_object (&self->server);
  g_clear_object (&self->certificate);
  {
    /* Each handshake holds a reference; it ends in handshake_cb(). */
    GHashTableIter iter;
    Conn *conn;

    g_hash_table_iter_init (&iter, self->handshaking);
    while (g_hash_table_iter_next (&iter, (gpointer *) &conn, NULL))
      g_cancellable_cancel (conn->cancellable);
  }
  if (self->spare_fd >= 0)
    {
      close (self->spare_fd);
      self->spare_fd = -1;
    }

  G_OBJECT_CLASS (munity_listener_parent_class)->dispose (object);
}

static void
munity_listener_finalize (GObject *object)
{
  MunityListener *self = MUNITY_LISTENER (object);

  g_hash_table_unref (self->handshaking);

  G_OBJECT_CLASS (munity_listener_parent_class)->finalize (object);
}

static void
munity_listener_class_init (MunityListenerClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = munity_listener_dispose;
  G_OBJECT_CLASS (klass)->finalize = munity_listener_finalize;
}

static void
munity_listener_init (MunityListener *self)
{
  self->listening = g_ptr_array_new_with_free_func ((GDestroyNotify) listening_free);
  self->conns = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) conn_free);
  self->per_address = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->handshaking = g_hash_table_new (NULL, NULL);
  self->spare_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
}

/**
 * munity_listener_default_max_connections:
 *
 * The connection cap when none is configured: the process's limit on open
 * files less a reserve for everything else munityd keeps open.
 *
 * Returns: the cap
 */
guint
munity_listener_default_max_connections (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return 65536;
  if (limit.rlim_cur <= 2 * FD_RESERVE)
    return MAX (limit.rlim_cur / 2, 16);
  return MIN (limit.rlim_cur - FD_RESERVE, G_MAXUINT);
}

/**
 * munity_listener_new:
 * @server: the server that answers the connections
 * @max_connections: the cap on open client connections, WebSockets
 *   included (0: no cap)
 * @max_per_address: the cap on the HTTP connections of one address that are
 *   not WebSockets (0: no cap)
 * @request_timeout_s: how long a client may take to send its request's
 *   headers, and to send each part of its body
 *
 * Returns: (transfer full): a listener that listens on nothing yet
 */
MunityListener *
munity_listener_new (SoupServer *server,
                     guint       max_connections,
                     guint       max_per_address,
                     guint       request_timeout_s)
{
  MunityListener *self = g_object_new (MUNITY_TYPE_LISTENER, NULL);

  self->server = g_object_ref (server);
  self->max_connections = max_connections;
  self->max_per_address = max_per_address;
  self->request_timeout_us = (gint64) MAX (request_timeout_s, 1) * G_USEC_PER_SEC;
  g_signal_connect (server, "request-started", G_CALLBACK (on_request_started), self);
  return self;
}

/**
 * munity_listener_set_tls_certificate:
 * @self: the listener
 * @certificate: (nullable): the certificate and key to serve TLS with
 *
 * From now on, accepted connections speak TLS (HTTPS and `wss://`).
 */
void
munity_listener_set_tls_certificate (MunityListener  *self,
                                     GTlsCertificate *certificate)
{
  g_set_object (&self->certificate, certificate);
}

/**
 * munity_listener_set_count_func: (skip)
 * @self: the listener
 * @func: (nullable): counts the connections handed over
 * @user_data: data for @func, which must outlive @self
 *
 * Lets the connection cap count the WebSockets the listener handed over.
 */
void
munity_listener_set_count_func (MunityListener          *self,
                                MunityListenerCountFunc  func,
                                gpointer                 user_data)
{
  self->count_func = func;
  self->count_data = user_data;
}

/**
 * munity_listener_add_socket:
 * @self: the listener
 * @socket: a bound, listening socket
 * @tag: a number that munity_listener_get_tag() gives for the requests
 *   that come through @socket
 *
 * Starts accepting connections on @socket.
 */
void
munity_listener_add_socket (MunityListener *self,
                            GSocket        *socket,
                            guint           tag)
{
  Listening *l = g_new0 (Listening, 1);

  l->self = self;
  l->tag = tag;
  l->socket = g_object_ref (socket);
  l->address = g_socket_get_local_address (socket, NULL);
  g_socket_set_blocking (socket, FALSE);
  g_ptr_array_add (self->listening, l);
  listening_arm (l);
}

/**
 * munity_listener_stop:
 * @self: the listener
 *
 * Stops accepting; connections already accepted go on. The listening
 * sockets are left as they are: their owner decides whether to shut them
 * (munityd's own) or not (sockets systemd passed, which it keeps for the
 * next munityd).
 */
void
munity_listener_stop (MunityListener *self)
{
  self->stopped = TRUE;
  g_clear_handle_id (&self->resume_id, g_source_remove);
  for (guint i = 0; i < self->listening->len; i++)
    {
      Listening *l = self->listening->pdata[i];

      if (l->source != NULL)
        {
          g_source_destroy (l->source);
          g_clear_pointer (&l->source, g_source_unref);
        }
    }
}

static Conn *
lookup (MunityListener    *self,
        SoupServerMessage *msg)
{
  return g_hash_table_lookup (self->conns, msg);
}

/**
 * munity_listener_refuse:
 * @self: the listener
 * @msg: a request whose headers were read
 * @status: the HTTP status
 * @code: the JSON error code
 * @message: a sentence for the client
 *
 * Answers @msg at once with a JSON error and ends the connection without
 * reading the body the client may still be sending (at most 16 MiB or 10 s
 * of it is drained, so that the answer is not lost to a reset). For an announced
 * body that is too large, libsoup would otherwise read all of it before
 * answering. The caller still sets a status on @msg so that no handler
 * runs; libsoup's own answer finds the connection shut.
 *
 * Returns: %TRUE if @msg was answered, %FALSE if the listener does not
 *   know it (answer it the usual way)
 */
gboolean
munity_listener_refuse (MunityListener    *self,
                        SoupServerMessage *msg,
                        guint              status,
                        const char        *code,
                        const char        *message)
{
  Conn *conn = lookup (self, msg);

  if (conn == NULL || conn->fd < 0 || conn->deadline == 0)
    return FALSE;

  if (conn->tls)
    {
      g_autofree char *response = refusal_text (status, code, message);
      GOutputStream *out = g_io_stream_get_output_stream (conn->stream);
      g_autoptr(GError) error = NULL;

      /* One small TLS record: the socket's send buffer takes it at once. */
      if (g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (out), response,
                                                      strlen (response), NULL, &error) < 0)
        g_debug ("Could not answer a refused request: %s", error->message);
    }
  else
    write_refusal (conn->fd, status, code, message);
  shutdown (conn->fd, SHUT_WR);
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  conn->state = CONN_REFUSED;
  conn->deadline = g_get_monotonic_time () + REFUSED_DRAIN_US;
  return TRUE;
}

/**
 * munity_listener_take_fd:
 * @self: the listener
 * @msg: a request that the listener accepted
 * @out_relayed: (out): whether the descriptor is a TLS relay's
 *
 * For a WebSocket taken over from libsoup: call before
 * soup_server_message_steal_connection(), which ends the listener's
 * tracking of the connection. Over TLS, the descriptor is the plain end of
 * a relay (munity-tls-relay.c), and *@out_relayed tells the caller not to
 * close the stream it steals: the relay uses it.
 *
 * Returns: a descriptor of @msg's socket that the caller now owns, or -1
 */
int
munity_listener_take_fd (MunityListener    *self,
                         SoupServerMessage *msg,
                         gboolean          *out_relayed)
{
  Conn *conn = lookup (self, msg);
  int fd;

  *out_relayed = FALSE;
  if (conn == NULL)
    return -1;

  if (conn->tls)
    {
      g_autoptr(GError) error = NULL;

      fd = munity_tls_relay_start (conn->stream, &error);
      if (fd < 0)
        g_message ("Cannot relay a WebSocket from %s: %s", conn->key, error->message);
      else
        *out_relayed = TRUE;
      return fd;
    }

  fd = conn->fd;
  conn->fd = -1;
  return fd;
}

/**
 * munity_listener_peek_fd:
 * @self: the listener
 * @msg: a request that the listener accepted
 *
 * The listener's own descriptor of @msg's TCP socket (under TLS too), to
 * watch for the client hanging up while libsoup does not (libsoup 3.2
 * does not watch a paused message's socket; munity-http-soup.c). It stays
 * open until @msg's "disconnected": do not close it, read from it or keep
 * it past that.
 *
 * Returns: the descriptor, or -1
 */
int
munity_listener_peek_fd (MunityListener    *self,
                         SoupServerMessage *msg)
{
  Conn *conn = lookup (self, msg);

  return conn != NULL ? conn->fd : -1;
}

/**
 * munity_listener_get_tag:
 * @self: the listener
 * @msg: a request that the listener accepted
 *
 * Returns: the tag of the listening socket that accepted @msg, or 0
 */
guint
munity_listener_get_tag (MunityListener    *self,
                         SoupServerMessage *msg)
{
  Conn *conn = lookup (self, msg);

  return conn != NULL ? conn->tag : 0;
}

/**
 * munity_listener_get_n_connections:
 * @self: the listener
 *
 * Returns: how many HTTP connections (not WebSockets) are open
 */
guint
munity_listener_get_n_connections (MunityListener *self)
{
  return g_hash_table_size (self->conns);
}

/**
 * munity_listener_get_stalled_us:
 * @self: the listener
 * @now_us: the monotonic time
 *
 * Returns: for how long accepting has been paused for want of resources,
 *   or 0 while it works
 */
gint64
munity_listener_get_stalled_us (MunityListener *self,
                                gint64          now_us)
{
  return self->paused_since != 0 ? now_us - self->paused_since : 0;
}
