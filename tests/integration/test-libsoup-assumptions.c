/* test-libsoup-assumptions.c — the libsoup behaviours munityd relies on
 *
 * munityd accepts its own connections (munity-listener.c) and hands each
 * one to soup_server_accept_iostream() on a SoupServer that has no listener
 * of its own; its HTTP layer then relies on what libsoup does with such a
 * connection. Each test here pins one of those behaviours on a real
 * SoupServer and a real loopback socket, with no daemon, so that a libsoup
 * that behaves otherwise fails here first, with a name that says which
 * assumption broke. src/munity-http-soup.c lists them and says who relies
 * on each; they were read in libsoup 3.2.3 (Debian 12).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BAD_REQUEST_BODY "{\"preset\":true}"

typedef struct {
  SoupServer        *server;     /* (owned) */
  GSocket           *listening;  /* (owned) */
  GIOStream         *stream;     /* (owned) (nullable) what libsoup was given */
  SoupServerMessage *msg;        /* (owned) (nullable) the first request-started */
  int                client;     /* the client's end, or -1 */

  guint              n_started;
  guint              n_finished;
  guint              n_aborted;
  guint              n_disconnected;
  guint              n_handled;
  gboolean           method_at_start;  /* the message had a method at request-started */

  /* what the handler does */
  gboolean           pause;
  gboolean           websocket;
  /* what the WebSocket test saw */
  GIOStream         *stolen;     /* (owned) (nullable) */
  guint              disconnected_inside_steal;
} Fixture;

/* ---- plumbing ---------------------------------------------------------- */

static void
spin (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
}

/* Runs the main loop until @fd is readable or hung up, at most 5 s. */
static gboolean
wait_readable (int fd)
{
  gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < end)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };

      while (g_main_context_iteration (NULL, FALSE))
        ;
      if (poll (&pfd, 1, 5) > 0)
        return TRUE;
    }
  return FALSE;
}

/* Everything the server sends until it closes (or 5 s pass). */
static char *
read_to_eof (Fixture  *fixture,
             gboolean *out_closed)
{
  GString *text = g_string_new (NULL);

  *out_closed = FALSE;
  while (wait_readable (fixture->client))
    {
      char buffer[4096];
      ssize_t n = recv (fixture->client, buffer, sizeof buffer, MSG_DONTWAIT);

      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        continue;
      if (n <= 0)
        {
          *out_closed = TRUE;
          break;
        }
      g_string_append_len (text, buffer, n);
    }
  return g_string_free (text, FALSE);
}

static void
send_all (int         fd,
          const char *data,
          gsize       length)
{
  while (length > 0)
    {
      ssize_t n = send (fd, data, length, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >, 0);
      data += n;
      length -= n;
    }
}

/* ---- the server side --------------------------------------------------- */

static void
on_msg_disconnected (SoupServerMessage *msg,
                     gpointer           user_data)
{
  Fixture *fixture = user_data;

  fixture->n_disconnected++;
}

static void
on_request_started (SoupServer        *server,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  Fixture *fixture = user_data;

  fixture->n_started++;
  if (fixture->msg != NULL)
    return;
  fixture->msg = g_object_ref (msg);
  fixture->method_at_start = soup_server_message_get_method (msg) != NULL;
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_msg_disconnected), fixture);
  /* What munityd presets for libsoup's own 400 (munity-http-soup.c). */
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC,
                                    BAD_REQUEST_BODY, strlen (BAD_REQUEST_BODY));
}

static void
on_request_finished (SoupServer        *server,
                     SoupServerMessage *msg,
                     gpointer           user_data)
{
  ((Fixture *) user_data)->n_finished++;
}

static void
on_request_aborted (SoupServer        *server,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  ((Fixture *) user_data)->n_aborted++;
}

static void
on_upgraded (SoupServerMessage *msg,
             gpointer           user_data)
{
  Fixture *fixture = user_data;
  guint before = fixture->n_disconnected;

  fixture->stolen = soup_server_message_steal_connection (msg);
  fixture->disconnected_inside_steal = fixture->n_disconnected - before;
}

static void
handler (SoupServer        *server,
         SoupServerMessage *msg,
         const char        *path,
         GHashTable        *query,
         gpointer           user_data)
{
  Fixture *fixture = user_data;

  fixture->n_handled++;
  if (fixture->websocket)
    {
      g_assert_true (soup_websocket_server_process_handshake (msg, NULL, NULL, NULL, NULL));
      g_signal_connect (msg, "wrote-informational", G_CALLBACK (on_upgraded), fixture);
      return;
    }
  if (fixture->pause)
    {
      soup_server_message_pause (msg);
      return;
    }
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "hello", 5);
}

/* Connects a client and gives the server's end to libsoup the way
 * munity-listener.c does (hand_over()). */
static void
accept_one (Fixture *fixture)
{
  g_autoptr(GSocketAddress) address = g_socket_get_local_address (fixture->listening, NULL);
  struct sockaddr_storage native;
  g_autoptr(GSocket) gsocket = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autoptr(GError) error = NULL;
  int fd;

  g_assert_true (g_socket_address_to_native (address, &native, sizeof native, NULL));
  fixture->client = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fixture->client, >=, 0);
  g_assert_cmpint (connect (fixture->client, (struct sockaddr *) &native,
                            g_socket_address_get_native_size (address)), ==, 0);
  fd = accept4 (g_socket_get_fd (fixture->listening), NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);

  gsocket = g_socket_new_from_fd (fd, &error);
  g_assert_no_error (error);
  fixture->stream = G_IO_STREAM (g_socket_connection_factory_create_connection (gsocket));
  local = g_socket_get_local_address (gsocket, NULL);
  remote = g_socket_get_remote_address (gsocket, NULL);
  g_assert_true (soup_server_accept_iostream (fixture->server, fixture->stream, local, remote, NULL));
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GError) error = NULL;

  fixture->client = -1;
  fixture->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (fixture->server, NULL, handler, fixture, NULL);
  g_signal_connect (fixture->server, "request-started", G_CALLBACK (on_request_started), fixture);
  g_signal_connect (fixture->server, "request-finished", G_CALLBACK (on_request_finished), fixture);
  g_signal_connect (fixture->server, "request-aborted", G_CALLBACK (on_request_aborted), fixture);

  fixture->listening = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (fixture->listening, address, TRUE, &error));
  g_assert_true (g_socket_listen (fixture->listening, &error));
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  if (fixture->client >= 0)
    close (fixture->client);
  if (fixture->msg != NULL)
    g_signal_handlers_disconnect_by_data (fixture->msg, fixture);
  g_clear_object (&fixture->msg);
  if (fixture->stolen != NULL)
    g_io_stream_close (fixture->stolen, NULL, NULL);
  g_clear_object (&fixture->stolen);
  soup_server_disconnect (fixture->server);
  g_clear_object (&fixture->server);
  g_clear_object (&fixture->stream);
  g_clear_object (&fixture->listening);
  spin (10);
}

/* ---- the assumptions --------------------------------------------------- */

/* munity-listener.c ties a message to its connection in request-started,
 * which it expects inside soup_server_accept_iostream(), before a byte of
 * the request is read (soup-server-connection.c,
 * soup_server_connection_accepted()). */
static void
test_request_started_inside_accept (Fixture       *fixture,
                                    gconstpointer  data)
{
  accept_one (fixture);
  g_assert_cmpuint (fixture->n_started, ==, 1);
  g_assert_nonnull (fixture->msg);
  g_assert_false (fixture->method_at_start);
}

/* With no listener registered, libsoup closes the connection after one
 * response even when the client asked to keep it alive (soup-server.c,
 * request_finished(): keep-alive needs priv->listeners). munityd sends
 * `Connection: close` with every answer because of it. */
static void
test_closes_after_one_response (Fixture       *fixture,
                                gconstpointer  data)
{
  static const char request[] = "GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";
  g_autofree char *answer = NULL;
  gboolean closed;

  accept_one (fixture);
  send_all (fixture->client, request, strlen (request));
  answer = read_to_eof (fixture, &closed);

  g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 200"));
  g_assert_true (g_str_has_suffix (answer, "hello"));
  g_assert_true (closed);
  g_assert_cmpuint (fixture->n_finished, ==, 1);
  g_assert_cmpuint (fixture->n_disconnected, ==, 1);
}

/* A request that libsoup cannot parse is answered 400 by libsoup itself,
 * before any handler, with the body set at request-started (munityd's
 * JSON error, munity-http-soup.c). */
static void
test_bad_request_keeps_preset_body (Fixture       *fixture,
                                    gconstpointer  data)
{
  static const char request[] = "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n";
  g_autofree char *answer = NULL;
  gboolean closed;

  accept_one (fixture);
  send_all (fixture->client, request, strlen (request));
  answer = read_to_eof (fixture, &closed);

  g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 400"));
  g_assert_true (g_str_has_suffix (answer, BAD_REQUEST_BODY));
  g_assert_cmpuint (fixture->n_handled, ==, 0);
  g_assert_true (closed);
}

/* A connection that closes before its request line ends its message with
 * "disconnected" only: neither request-finished nor request-aborted
 * (soup-server.c, request_finished() emits them only when there is a
 * method). munity-http-server.c forgets such a message on "disconnected". */
static void
test_no_request_no_finished_signal (Fixture       *fixture,
                                    gconstpointer  data)
{
  accept_one (fixture);
  g_assert_cmpint (shutdown (fixture->client, SHUT_WR), ==, 0);
  spin (200);

  g_assert_cmpuint (fixture->n_disconnected, ==, 1);
  g_assert_cmpuint (fixture->n_finished, ==, 0);
  g_assert_cmpuint (fixture->n_aborted, ==, 0);
}

/* libsoup reads at most 64 KiB of request line and headers and then drops
 * the connection without an answer (soup-message-io-data.c,
 * HEADER_SIZE_LIMIT); munity-listener.c answers 431 itself. */
static void
test_header_limit_drops_silently (Fixture       *fixture,
                                  gconstpointer  data)
{
  g_autofree char *filler = g_strnfill (70 * 1024, 'a');
  g_autofree char *request = g_strdup_printf ("GET /a HTTP/1.1\r\nHost: x\r\nX-Big: %s", filler);
  gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  gsize sent = 0, length = strlen (request);
  g_autofree char *answer = NULL;
  gboolean closed;

  accept_one (fixture);
  /* Written bit by bit while the loop runs: more than a socket buffer. */
  while (sent < length && fixture->n_disconnected == 0 && g_get_monotonic_time () < end)
    {
      ssize_t n = send (fixture->client, request + sent, MIN (length - sent, 8192), MSG_DONTWAIT | MSG_NOSIGNAL);

      if (n > 0)
        sent += n;
      g_main_context_iteration (NULL, FALSE);
    }
  while (fixture->n_disconnected == 0 && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE);

  g_assert_cmpuint (fixture->n_disconnected, ==, 1);
  g_assert_null (soup_server_message_get_method (fixture->msg));
  g_assert_cmpuint (fixture->n_handled, ==, 0);
  /* Not a byte of an answer. */
  answer = read_to_eof (fixture, &closed);
  g_assert_cmpstr (answer, ==, "");
  g_assert_true (closed);
}

/* A paused HTTP/1 message does not watch its socket: a client that hangs
 * up while its request waits for the database is noticed only when the
 * answer is written (soup-message-io-data.c, soup_message_io_data_get_source()
 * makes no socket source while paused). So the "disconnected" that cancels
 * a request's queries (munity-http-req.c) comes late on 3.2.3; when this
 * test fails, it comes in time. */
static void
test_paused_misses_hangup (Fixture       *fixture,
                           gconstpointer  data)
{
  static const char request[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";

  fixture->pause = TRUE;
  accept_one (fixture);
  send_all (fixture->client, request, strlen (request));
  while (fixture->n_handled == 0)
    g_main_context_iteration (NULL, TRUE);

  close (fixture->client);
  fixture->client = -1;
  spin (300);
  g_assert_cmpuint (fixture->n_disconnected, ==, 0);

  /* Unpaused, it writes, fails and ends. */
  soup_server_message_set_status (fixture->msg, SOUP_STATUS_OK, NULL);
  soup_server_message_unpause (fixture->msg);
  spin (300);
  g_assert_cmpuint (fixture->n_disconnected, ==, 1);
}

/* munity-http-ws.c steals an upgraded connection from "wrote-informational"
 * (soup-server-message.c, soup_server_message_steal_connection()):
 * - the message's "disconnected" is emitted inside the steal, which is how
 *   munity-listener.c forgets the connection;
 * - neither request-finished nor request-aborted follows (request_finished()
 *   returns early for SOUP_MESSAGE_IO_STOLEN), so munityd counts the 101 and
 *   forgets the request itself;
 * - the stream given back is open, is not the one munityd gave, and closing
 *   it closes the one munityd gave (a SoupIOStream over it). */
static void
test_steal_from_wrote_informational (Fixture       *fixture,
                                     gconstpointer  data)
{
  static const char request[] =
    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  char buffer[1024];
  ssize_t n;

  fixture->websocket = TRUE;
  accept_one (fixture);
  send_all (fixture->client, request, strlen (request));
  while (fixture->stolen == NULL && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE);
  spin (100);

  g_assert_nonnull (fixture->stolen);
  g_assert_cmpuint (fixture->disconnected_inside_steal, ==, 1);
  g_assert_cmpuint (fixture->n_finished, ==, 0);
  g_assert_cmpuint (fixture->n_aborted, ==, 0);
  g_assert_false (fixture->stolen == fixture->stream);
  g_assert_false (g_io_stream_is_closed (fixture->stolen));
  g_assert_false (g_io_stream_is_closed (fixture->stream));

  n = recv (fixture->client, buffer, sizeof buffer - 1, MSG_DONTWAIT);
  g_assert_cmpint (n, >, 0);
  buffer[n] = '\0';
  g_assert_true (g_str_has_prefix (buffer, "HTTP/1.1 101"));

  g_assert_true (g_io_stream_close (fixture->stolen, NULL, NULL));
  g_assert_true (g_io_stream_is_closed (fixture->stream));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/libsoup/accept-iostream/request-started-inside", Fixture, NULL,
              fixture_set_up, test_request_started_inside_accept, fixture_tear_down);
  g_test_add ("/libsoup/accept-iostream/closes-after-one-response", Fixture, NULL,
              fixture_set_up, test_closes_after_one_response, fixture_tear_down);
  g_test_add ("/libsoup/accept-iostream/bad-request-keeps-preset-body", Fixture, NULL,
              fixture_set_up, test_bad_request_keeps_preset_body, fixture_tear_down);
  g_test_add ("/libsoup/accept-iostream/no-request-no-finished-signal", Fixture, NULL,
              fixture_set_up, test_no_request_no_finished_signal, fixture_tear_down);
  g_test_add ("/libsoup/accept-iostream/header-limit-drops-silently", Fixture, NULL,
              fixture_set_up, test_header_limit_drops_silently, fixture_tear_down);
  g_test_add ("/libsoup/paused/misses-hangup", Fixture, NULL,
              fixture_set_up, test_paused_misses_hangup, fixture_tear_down);
  g_test_add ("/libsoup/steal/from-wrote-informational", Fixture, NULL,
              fixture_set_up, test_steal_from_wrote_informational, fixture_tear_down);

  return g_test_run ();
}
