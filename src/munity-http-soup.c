/* munity-http-soup.c — what munityd assumes of libsoup, in one place
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "munity-http-private.h"

/*
 * munityd accepts its own connections (munity-listener.c) and gives each to
 * soup_server_accept_iostream() on a #SoupServer that has no listener of
 * its own. The HTTP layer relies on these libsoup behaviours, read in
 * libsoup 3.2.3 (Debian 12's 3.2.3-0+deb12u2) and found unchanged in
 * libsoup's main branch after 3.7.1; tests/integration/test-libsoup-assumptions.c
 * checks each on a real SoupServer and socket and fails when one changes:
 *
 * 1. "request-started" is emitted synchronously inside
 *    soup_server_accept_iostream(), before a byte is read, with a message
 *    that has no method yet (libsoup/server/soup-server-connection.c,
 *    soup_server_connection_accepted()). munity-listener.c ties a message
 *    to its connection there (on_request_started(), hand_over()).
 *
 * 2. Without a libsoup listener, libsoup closes the connection after one
 *    response, keep-alive or not (libsoup/server/soup-server.c,
 *    request_finished(): a connection is kept only while priv->listeners is
 *    non-empty). Every answer therefore says `Connection: close`
 *    (munity_http_soup_request_started()). That is also why no idle
 *    keep-alive connection is left for libsoup 3.2 to forget in CLOSE_WAIT
 *    (libsoup/server/http1/soup-server-message-io-http1.c,
 *    soup_server_message_io_http1_finished(), fixed in 3.3.0 by upstream
 *    commit d20c6601 "server: do not leak idle connections closed by the
 *    client"). The close does not depend on the version, so it is not
 *    gated on one; the header only states what libsoup does.
 *
 * 3. A request libsoup cannot parse is answered 400 by libsoup itself,
 *    before any handler, with whatever body the message had: the JSON error
 *    set at request-started (libsoup/server/http1/soup-server-message-io-http1.c,
 *    io_read() after parse_headers()). The early
 *    handler, which runs only for a parsed request, drops it
 *    (munity_http_soup_request_parsed()).
 *
 * 4. A message whose connection closes before its request line ends with
 *    "disconnected" alone: neither "request-finished" nor "request-aborted"
 *    (soup-server.c, request_finished() emits them only when there is a
 *    method). With one request per connection (2.), "disconnected" is the
 *    one signal that ends every message — answered, aborted, stolen or
 *    never sent — so munity-http-server.c forgets a message there.
 *
 * 5. libsoup reads at most 64 KiB of request line and headers and then
 *    drops the connection without a word
 *    (libsoup/http1/soup-message-io-data.c, HEADER_SIZE_LIMIT, raised in
 *    3.5.1 by upstream commit e725dcff); munity-listener.c answers 431 on
 *    its own descriptor (on_disconnected()).
 *
 * 6. A paused HTTP/1 message does not watch its socket
 *    (soup-message-io-data.c, soup_message_io_data_get_source() makes no
 *    socket source while paused): a client that hangs up while its request
 *    waits for the database is noticed when the answer is written, and
 *    "disconnected", which cancels a request's queries
 *    (munity-http-req.c), comes then. Unpausing a message after its
 *    connection went is a g_return_if_fail() in 3.2 (soup-server-message.c,
 *    soup_server_message_unpause(); quiet since 3.3.0, upstream commit
 *    d3ed4372), so a gone message is never unpaused.
 *
 * 7. soup_server_message_steal_connection(), called from
 *    "wrote-informational" after the 101 was written (soup-server-message.c):
 *    emits the message's "disconnected" inside the call (so
 *    munity-listener.c and munity-http-server.c forget the connection
 *    there); is followed by neither "request-finished" nor "request-aborted"
 *    (request_finished() returns early for SOUP_MESSAGE_IO_STOLEN), so the
 *    101 is counted by munity-http-ws.c; and gives back an open stream that
 *    is not the one munityd handed over but a SoupIOStream over it, whose
 *    close closes the one handed over (and with it libsoup's descriptor;
 *    soup-server-message-io-http1.c, soup_server_message_io_http1_steal()).
 */

/* libsoup's own 400 for a request it cannot parse gets this body. */
#define BAD_REQUEST_BODY \
  "{\"error\":{\"code\":\"bad-request\",\"message\":\"The request is not valid HTTP.\"}}"

/**
 * munity_http_soup_request_started:
 * @msg: a message libsoup just announced
 *
 * Prepares @msg for what libsoup may answer on its own (assumptions 2
 * and 3 above).
 */
void
munity_http_soup_request_started (SoupServerMessage *msg)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");

  /* The body of libsoup's own answer to a request it cannot parse (it
   * answers 400 before any handler sees it). Any handler replaces it. */
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC,
                                    BAD_REQUEST_BODY, strlen (BAD_REQUEST_BODY));
}

/**
 * munity_http_soup_request_parsed:
 * @msg: a message whose request line and headers were parsed
 *
 * Called first in the early handler: the request is valid HTTP, so the
 * body preset for libsoup's own 400 goes.
 */
void
munity_http_soup_request_parsed (SoupServerMessage *msg)
{
  soup_server_message_set_response (msg, NULL, SOUP_MEMORY_STATIC, NULL, 0);

  /* One request per connection (assumption 2 above). */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");
}

/**
 * munity_http_soup_steal:
 * @msg: an upgraded message, from its "wrote-informational"
 *
 * Takes @msg's connection from libsoup (assumption 7 above). @msg's
 * "disconnected" is emitted before this returns.
 *
 * Returns: (transfer full) (nullable): the stream libsoup gives back, open;
 *   closing it closes the stream munity-listener.c handed over
 */
GIOStream *
munity_http_soup_steal (SoupServerMessage *msg)
{
  return soup_server_message_steal_connection (msg);
}
