/* test-hostile-http.c — munityd's HTTP side attacked as an anonymous client
 *
 * Each test replays one attack that once crashed, starved or bloated
 * munityd (doc/security.md) against the real daemon on loopback, with small
 * limits so that it runs in seconds. Requests are written by hand over TCP,
 * exactly as an attacker would send them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "munity-test-daemon.h"

/* ---- raw HTTP ------------------------------------------------------------ */

static int
connect_to (guint16 port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (port) };
  struct timeval tv = { .tv_sec = 10 };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  return fd;
}

static void
send_all (int         fd,
          const char *data,
          gsize       length)
{
  while (length > 0)
    {
      gssize n = send (fd, data, length, MSG_NOSIGNAL);
      if (n <= 0)
        return;
      data += n;
      length -= n;
    }
}

/* Everything the server sends until it closes (or 10 s pass). */
static GString *
read_all (int fd)
{
  GString *out = g_string_new (NULL);
  char buf[65536];
  gssize n;

  while ((n = recv (fd, buf, sizeof buf, 0)) > 0)
    g_string_append_len (out, buf, n);
  return out;
}

static GString *
exchange (guint16     port,
          const char *request,
          gsize       length)
{
  int fd = connect_to (port);
  GString *out;

  send_all (fd, request, length);
  out = read_all (fd);
  close (fd);
  return out;
}

static guint
status_of (GString *resp)
{
  if (!g_str_has_prefix (resp->str, "HTTP/1.1 ") || resp->len < 12)
    return 0;
  return (guint) g_ascii_strtoull (resp->str + 9, NULL, 10);
}

/* A response header's value (transfer full), or NULL. */
static char *
header_of (GString    *resp,
           const char *name)
{
  const char *end = strstr (resp->str, "\r\n\r\n");
  g_autofree char *head = g_strndup (resp->str, end != NULL ? (gsize) (end - resp->str) : resp->len);
  g_auto(GStrv) lines = g_strsplit (head, "\r\n", -1);

  for (gsize i = 1; lines[i] != NULL; i++)
    {
      const char *colon = strchr (lines[i], ':');

      if (colon != NULL && (gsize) (colon - lines[i]) == strlen (name) &&
          g_ascii_strncasecmp (lines[i], name, colon - lines[i]) == 0)
        return g_strstrip (g_strdup (colon + 1));
    }
  return NULL;
}

static const char *
body_of (GString *resp)
{
  const char *end = strstr (resp->str, "\r\n\r\n");

  return end != NULL ? end + 4 : "";
}

/* The `error.code` of a JSON error answer, or NULL (transfer full). */
static char *
error_code_of (GString *resp)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root, *error;

  if (!json_parser_load_from_data (parser, body_of (resp), -1, NULL) ||
      json_parser_get_root (parser) == NULL ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return NULL;
  root = json_node_get_object (json_parser_get_root (parser));
  if (!json_object_has_member (root, "error"))
    return NULL;
  error = json_object_get_object_member (root, "error");
  return g_strdup (json_object_get_string_member_with_default (error, "code", NULL));
}

static void
assert_json_error (GString    *resp,
                   guint       status,
                   const char *code)
{
  g_autofree char *got = error_code_of (resp);
  g_autofree char *type = header_of (resp, "Content-Type");

  if (status_of (resp) != status || g_strcmp0 (got, code) != 0)
    g_error ("expected %u %s, got: %.300s", status, code, resp->str);
  g_assert_cmpstr (type, ==, "application/json");
}

/* A 429 or 503 busy says when to try again: Retry-After, whole seconds,
 * a sensible number (doc/api.md, General errors). */
static void
assert_retry_after (GString *resp)
{
  g_autofree char *value = header_of (resp, "Retry-After");
  guint64 seconds = 0;

  if (value == NULL)
    g_error ("no Retry-After in: %.300s", resp->str);
  g_assert_true (g_ascii_string_to_unsigned (value, 10, 1, 60, &seconds, NULL));
}

static GString *
get (guint16     port,
     const char *path)
{
  g_autofree char *request = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", path, port);

  return exchange (port, request, strlen (request));
}

/* ---- the daemon's side ------------------------------------------------- */

static guint
count_fds (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/fd", pid);
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

static guint64
rss_kib (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", pid);
  g_autofree char *text = NULL;
  const char *line;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  line = strstr (text, "VmRSS:");
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + 6, NULL, 10);
}

/* Waits (≤ @timeout_ms) for the daemon's descriptor count to fall to
 * @at_most; returns the last count seen. */
static guint
wait_fds_at_most (GPid  pid,
                  guint at_most,
                  guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + timeout_ms * 1000;
  guint n;

  while ((n = count_fds (pid)) > at_most && g_get_monotonic_time () < deadline)
    g_usleep (50 * 1000);
  return n;
}

static guint
healthz_status (MunityTestDaemon *d)
{
  g_autoptr(GString) resp = get (munity_test_daemon_port (d), "/healthz");

  return status_of (resp);
}

/* A registered user's session cookie (transfer full). */
static char *
register_user (MunityTestDaemon *d)
{
  static guint serial;
  guint16 port = munity_test_daemon_port (d);
  g_autofree char *body = g_strdup_printf ("{\"first\":\"Ada\",\"last\":\"Hostile\",\"email\":\"ada%u-%d@example.org\","
                                           "\"password\":\"correct horse battery\"}", ++serial, getpid ());
  g_autofree char *request = g_strdup_printf ("POST /api/register HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                                              "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                              port, strlen (body), body);
  g_autoptr(GString) resp = exchange (port, request, strlen (request));
  g_autofree char *cookie = header_of (resp, "Set-Cookie");
  char *semicolon;

  g_assert_cmpuint (status_of (resp), ==, 201);
  g_assert_nonnull (cookie);
  semicolon = strchr (cookie, ';');
  if (semicolon != NULL)
    *semicolon = '\0';
  return g_steal_pointer (&cookie);
}

/* A PNG of about @size bytes: the signature and an IHDR, then padding. */
static GByteArray *
fake_png (gsize size)
{
  static const guint8 head[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0,
                                 0x1f, 0x15, 0xc4, 0x89 };
  GByteArray *png = g_byte_array_sized_new (size);

  g_byte_array_append (png, head, sizeof head);
  while (png->len < size)
    {
      guint8 b = (guint8) g_random_int ();
      g_byte_array_append (png, &b, 1);
    }
  return png;
}

static GString *
upload (MunityTestDaemon *d,
        const char       *cookie,
        GByteArray       *png)
{
  guint16 port = munity_test_daemon_port (d);
  g_autofree char *head = g_strdup_printf ("POST /api/me/avatar HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nCookie: %s\r\n"
                                           "Content-Type: image/png\r\nContent-Length: %u\r\n\r\n",
                                           port, cookie, png->len);
  int fd = connect_to (port);
  GString *resp;

  send_all (fd, head, strlen (head));
  send_all (fd, (const char *) png->data, png->len);
  resp = read_all (fd);
  close (fd);
  return resp;
}

/* The URL path of the picture in an answer that holds a user. */
static char *
image_url_of (GString *resp)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *user;

  g_assert_true (json_parser_load_from_data (parser, body_of (resp), -1, NULL));
  user = json_object_get_object_member (json_node_get_object (json_parser_get_root (parser)), "user");
  return g_strdup (json_object_get_string_member (user, "imageUrl"));
}

static MunityTestDaemon *
start (const char *first,
       ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  va_list ap;

  va_start (ap, first);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  return munity_test_daemon_start ((const char * const *) args->pdata);
}

/* ---- row 1: Range ------------------------------------------------------ */

static void
test_range_many_parts (void)
{
  g_autoptr(MunityTestDaemon) d = start (NULL, NULL);
  guint16 port = munity_test_daemon_port (d);
  g_autofree char *cookie = register_user (d);
  g_autoptr(GByteArray) png = fake_png (1024 * 1024);
  g_autoptr(GString) up = upload (d, cookie, png);
  g_autofree char *url = NULL;
  g_autoptr(GString) request = g_string_new (NULL);
  g_autoptr(GString) resp = NULL;
  g_autoptr(GString) single = NULL;
  g_autofree char *single_request = NULL;
  g_autofree char *length = NULL;
  g_autofree char *content_range = NULL;
  guint64 rss_before = rss_kib (munity_test_daemon_pid (d));
  gint64 started;

  g_assert_cmpuint (status_of (up), ==, 200);
  url = image_url_of (up);

  /* 20,000 ranges over a 1 MiB picture: libsoup 3.2.3 would build a
   * 20 GB multipart answer. The header is ignored: the whole picture. */
  g_string_printf (request, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nRange: bytes=0-", url, port);
  for (int i = 0; i < 20000; i++)
    g_string_append (request, ",0-");
  g_string_append (request, "\r\n\r\n");
  started = g_get_monotonic_time ();
  resp = exchange (port, request->str, request->len);
  g_assert_cmpuint (status_of (resp), ==, 200);
  length = header_of (resp, "Content-Length");
  g_assert_cmpstr (length, ==, "1048576");
  g_assert_cmpint (g_get_monotonic_time () - started, <, 3 * G_USEC_PER_SEC);
  g_assert_cmpuint (rss_kib (munity_test_daemon_pid (d)), <, rss_before + 32 * 1024);
  g_assert_true (munity_test_daemon_is_running (d));

  /* One range is still served as one. */
  single_request = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nRange: bytes=10-19\r\n\r\n", url, port);
  single = exchange (port, single_request, strlen (single_request));
  g_assert_cmpuint (status_of (single), ==, 206);
  content_range = header_of (single, "Content-Range");
  g_assert_cmpstr (content_range, ==, "bytes 10-19/1048576");
}

/* ---- row 2: libsoup's own 400s ------------------------------------------ */

static void
test_rejected_paths_close (void)
{
  g_autoptr(MunityTestDaemon) d = start (NULL, NULL);
  guint16 port = munity_test_daemon_port (d);
  GPid pid = munity_test_daemon_pid (d);
  guint before = count_fds (pid);
  static const char *paths[] = { "/x%00", "/a/..%2f..%2fetc/passwd" };
  int fds[400];

  /* The client reads the 400 and goes away; libsoup 3.2.3 kept every such
   * connection in CLOSE_WAIT. */
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    {
      g_autofree char *request = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n",
                                                  paths[i % G_N_ELEMENTS (paths)], port);
      fds[i] = connect_to (port);
      send_all (fds[i], request, strlen (request));
    }
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    {
      g_autoptr(GString) resp = read_all (fds[i]);
      g_autofree char *connection = header_of (resp, "Connection");

      if (i == 0)
        {
          assert_json_error (resp, 400, "bad-request");
          g_assert_cmpstr (connection, ==, "close");
        }
      g_assert_cmpuint (status_of (resp), ==, 400);
      close (fds[i]);
    }

  g_assert_cmpuint (wait_fds_at_most (pid, before + 2, 5000), <=, before + 2);
  g_assert_cmpuint (healthz_status (d), ==, 200);
}

/* ---- row 3: out of descriptors ------------------------------------------ */

static void
test_emfile_recovers (void)
{
  g_autoptr(MunityTestDaemon) d = start ("--max-connections-per-address", "0", "--max-connections", "100000",
                                         "--request-timeout", "30", NULL);
  guint16 port = munity_test_daemon_port (d);
  GPid pid = munity_test_daemon_pid (d);
  g_autofree char *limit = g_strdup_printf ("--nofile=%u:%u", count_fds (pid) + 80, count_fds (pid) + 80);
  g_autofree char *pid_text = g_strdup_printf ("%d", pid);
  const char *prlimit[] = { "prlimit", "--pid", pid_text, limit, NULL };
  g_autoptr(GPtrArray) idle = g_ptr_array_new ();
  gint wait_status = 0;
  guint n_busy = 0;

  g_assert_true (g_spawn_sync (NULL, (char **) prlimit, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               NULL, NULL, &wait_status, NULL));
  g_assert_true (g_spawn_check_wait_status (wait_status, NULL));

  /* Far more idle connections than descriptors left. */
  for (int i = 0; i < 150; i++)
    g_ptr_array_add (idle, GINT_TO_POINTER (connect_to (port)));
  g_usleep (300 * 1000);

  /* Those the daemon cannot take are told so, not left hanging. */
  for (int i = 0; i < 5; i++)
    {
      g_autoptr(GString) resp = get (port, "/healthz");
      if (status_of (resp) == 503)
        {
          assert_json_error (resp, 503, "busy");
          assert_retry_after (resp);
          n_busy++;
        }
    }
  g_assert_cmpuint (n_busy, >, 0);

  for (guint i = 0; i < idle->len; i++)
    close (GPOINTER_TO_INT (idle->pdata[i]));

  /* libsoup 3.2.3's own listener never accepted again after this. */
  for (int i = 0; i < 50 && healthz_status (d) != 200; i++)
    g_usleep (100 * 1000);
  g_assert_cmpuint (healthz_status (d), ==, 200);
}

/* ---- row 4: an announced huge body -------------------------------------- */

static void
test_huge_body_refused_early (void)
{
  g_autoptr(MunityTestDaemon) d = start (NULL, NULL);
  guint16 port = munity_test_daemon_port (d);
  GPid pid = munity_test_daemon_pid (d);
  guint64 rss_before = rss_kib (pid);
  static const char *paths[] = { "/api/register", "/api/me/avatar" };

  for (guint p = 0; p < G_N_ELEMENTS (paths); p++)
    {
      g_autofree char *head = g_strdup_printf ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                                               "Content-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n",
                                               paths[p], port);
      g_autofree char *chunk = g_malloc0 (1024 * 1024);
      gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
      int fd = connect_to (port);
      gsize sent = 0;
      g_autoptr(GString) resp = NULL;

      send_all (fd, head, strlen (head));
      /* Stream up to 200 MiB; the server stops reading long before. */
      while (sent < 200u * 1024 * 1024 && g_get_monotonic_time () < deadline)
        {
          gssize n = send (fd, chunk, 1024 * 1024, MSG_NOSIGNAL);
          if (n <= 0)
            break;
          sent += n;
        }
      g_assert_cmpuint (sent, <, 200u * 1024 * 1024);
      resp = read_all (fd);
      close (fd);
      assert_json_error (resp, 413, "payload-too-large");
    }

  /* Each refused body may be drained (up to 16 MiB), never kept; the margin
   * is for AddressSanitizer's quarantine of what was freed. Kept bodies
   * would be 400 MiB. */
  g_assert_cmpuint (rss_kib (pid), <, rss_before + 96 * 1024);
  g_assert_cmpuint (healthz_status (d), ==, 200);
}

/* ---- row 5: slow and idle clients --------------------------------------- */

static void
test_slow_and_idle_clients (void)
{
  g_autoptr(MunityTestDaemon) d = start ("--request-timeout", "1", "--max-connections-per-address", "40", NULL);
  guint16 port = munity_test_daemon_port (d);
  GPid pid = munity_test_daemon_pid (d);
  guint before = count_fds (pid);
  int slow[30];
  int idle[20];
  guint n_closed = 0, n_refused = 0;

  /* Slowloris: a request line, then nothing. */
  for (guint i = 0; i < G_N_ELEMENTS (slow); i++)
    {
      slow[i] = connect_to (port);
      send_all (slow[i], "GET / HTTP/1.1\r\nX-a: b\r\n", 25);
    }
  /* Beyond the per-address cap: told 429 at once. */
  for (guint i = 0; i < G_N_ELEMENTS (idle); i++)
    idle[i] = connect_to (port);
  for (guint i = 0; i < G_N_ELEMENTS (idle); i++)
    {
      struct pollfd pfd = { .fd = idle[i], .events = POLLIN };

      if (poll (&pfd, 1, 500) > 0)
        {
          g_autoptr(GString) resp = read_all (idle[i]);
          if (status_of (resp) == 429)
            {
              assert_json_error (resp, 429, "rate-limited");
              assert_retry_after (resp);
              n_refused++;
            }
        }
    }
  g_assert_cmpuint (n_refused, >=, 10);

  /* Within the timeout and a sweep, every slow client is gone. */
  for (guint i = 0; i < G_N_ELEMENTS (slow); i++)
    {
      struct pollfd pfd = { .fd = slow[i], .events = POLLIN };

      if (poll (&pfd, 1, 4000) > 0)
        {
          g_autoptr(GString) rest = read_all (slow[i]);
          n_closed++;
        }
      close (slow[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (idle); i++)
    close (idle[i]);
  g_assert_cmpuint (n_closed, ==, G_N_ELEMENTS (slow));
  g_assert_cmpuint (wait_fds_at_most (pid, before + 2, 5000), <=, before + 2);
  g_assert_cmpuint (healthz_status (d), ==, 200);
}

static void
test_burst_of_connections (void)
{
  g_autoptr(MunityTestDaemon) d = start ("--request-timeout", "2", "--max-connections-per-address", "0", NULL);
  guint16 port = munity_test_daemon_port (d);
  g_autoptr(GArray) fds = g_array_new (FALSE, FALSE, sizeof (int));
  gint64 started;
  guint status;

  /* 2,000 idle connections, then a real request: it is answered at once,
   * and the idle ones are gone after the timeout. */
  for (int i = 0; i < 2000; i++)
    {
      int fd = connect_to (port);
      g_array_append_val (fds, fd);
    }
  started = g_get_monotonic_time ();
  status = healthz_status (d);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpint (g_get_monotonic_time () - started, <, 2 * G_USEC_PER_SEC);

  for (guint i = 0; i < fds->len; i++)
    {
      int fd = g_array_index (fds, int, i);
      struct pollfd pfd = { .fd = fd, .events = POLLIN };

      g_assert_cmpint (poll (&pfd, 1, 5000), ==, 1);
      close (fd);
    }
}

/* ---- row 9: a full disk -------------------------------------------------- */

static void
test_disk_full (void)
{
  g_autofree char *state = g_dir_make_tmp ("munity-hostile-XXXXXX", NULL);
  g_autofree char *avatars = g_build_filename (state, "avatars", NULL);
  g_autoptr(MunityTestDaemon) d = NULL;
  g_autofree char *cookie_a = NULL;
  g_autofree char *cookie_b = NULL;
  g_autoptr(GByteArray) png = fake_png (3 * 1024 * 1024);
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GString) health = NULL;
  g_autofree char *good_url = NULL;
  const char *name;
  guint n_full = 0;

  /* Pictures on a 8 MiB file system of their own (the test runs as root,
   * as CI does; without root it cannot make one and fails). */
  g_assert_cmpint (geteuid (), ==, 0);
  g_assert_cmpint (g_mkdir (avatars, 0700), ==, 0);
  if (mount ("munity-test", avatars, "tmpfs", MS_NOSUID | MS_NODEV, "size=8m,mode=0700") != 0)
    g_error ("cannot mount a tmpfs on %s: %s", avatars, g_strerror (errno));
  {
    /* As root, munityd wants the state directory to belong to the account
     * that runs the embedded PostgreSQL. */
    struct passwd *pw = getpwnam ("postgres");
    g_assert_nonnull (pw);
    g_assert_cmpint (chown (state, pw->pw_uid, pw->pw_gid), ==, 0);
  }

  d = start ("--state-dir", state, NULL);
  cookie_a = register_user (d);
  cookie_b = register_user (d);

  /* Two users keep two pictures; the third write finds no room. */
  for (int i = 0; i < 5; i++)
    {
      g_autoptr(GString) resp = upload (d, i % 2 == 0 ? cookie_a : cookie_b, png);

      if (status_of (resp) == 200)
        {
          g_free (good_url);
          good_url = image_url_of (resp);
          continue;
        }
      assert_json_error (resp, 507, "storage-full");
      n_full++;
    }
  g_assert_cmpuint (n_full, >, 0);
  g_assert_nonnull (good_url);

  /* No half-written picture, under its final name or any other; the one
   * the user has is whole. */
  dir = g_dir_open (avatars, 0, NULL);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (avatars, name, NULL);
      GStatBuf st;

      g_assert_cmpint (g_stat (path, &st), ==, 0);
      g_assert_false (g_str_has_prefix (name, "."));
      g_assert_cmpint (st.st_size, ==, png->len);
    }

  health = get (munity_test_daemon_port (d), "/healthz");
  g_assert_cmpuint (status_of (health), ==, 503);
  g_assert_nonnull (strstr (body_of (health), "\"storage\":\"full\""));

  munity_test_daemon_stop (d, NULL);
  g_clear_pointer (&d, munity_test_daemon_free);
  g_clear_pointer (&dir, g_dir_close);
  g_assert_cmpint (umount2 (avatars, MNT_DETACH), ==, 0);
  munity_test_rm_rf (state);
}

/* The database's disk full: PostgreSQL's disk_full (SQLSTATE 53100) is made
 * to happen on a registration with a trigger, since filling the disk under
 * a live cluster is not repeatable (a WAL write that fails makes it panic). */
static void
test_database_disk_full (void)
{
  g_autoptr(MunityTestDaemon) d = start (NULL, NULL);
  guint16 port = munity_test_daemon_port (d);
  g_autofree char *conninfo = g_strdup_printf ("host=%s user=munity dbname=postgres",
                                               munity_test_daemon_state_dir (d));
  const char *body = "{\"first\":\"Disk\",\"last\":\"Full\",\"email\":\"full@example.org\",\"password\":\"correct horse\"}";
  g_autofree char *request = g_strdup_printf ("POST /api/register HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                                              "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                              port, strlen (body), body);
  g_autoptr(GString) full = NULL;
  g_autoptr(GString) again = NULL;
  g_autofree char *r1 = NULL, *r2 = NULL, *r3 = NULL;

  r1 = munity_test_sql_value (conninfo,
                              "CREATE FUNCTION munity_test_disk_full () RETURNS trigger LANGUAGE plpgsql AS "
                              "$$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' "
                              "USING ERRCODE = 'disk_full'; END $$");
  r2 = munity_test_sql_value (conninfo,
                              "CREATE TRIGGER munity_test_disk_full BEFORE INSERT ON users "
                              "FOR EACH ROW EXECUTE FUNCTION munity_test_disk_full ()");
  full = exchange (port, request, strlen (request));
  assert_json_error (full, 507, "storage-full");

  /* Room again: the same registration goes through (nothing half-done). */
  r3 = munity_test_sql_value (conninfo, "DROP TRIGGER munity_test_disk_full ON users");
  again = exchange (port, request, strlen (request));
  g_assert_cmpuint (status_of (again), ==, 201);
}

/* ---- row 11: NUL in a field ---------------------------------------------- */

static void
test_nul_in_field (void)
{
  g_autoptr(MunityTestDaemon) d = start (NULL, NULL);
  guint16 port = munity_test_daemon_port (d);
  static const struct { const char *body; const char *code; } cases[] = {
    { "{\"first\":\"Ada\",\"last\":\"a\\u0000b\",\"email\":\"nul1@example.org\",\"password\":\"correct horse\"}", "invalid-last" },
    { "{\"first\":\"\\u0000\",\"last\":\"L\",\"email\":\"nul2@example.org\",\"password\":\"correct horse\"}", "invalid-first" },
    { "{\"first\":\"Ada\",\"last\":\"L\",\"email\":\"nu\\u0000l3@example.org\",\"password\":\"correct horse\"}", "invalid-email" },
    { "{\"first\":\"Ada\",\"last\":\"L\",\"email\":\"nul4@example.org\",\"password\":\"correct\\u0000horse\"}", "invalid-password" },
    /* an escaped backslash before u0000 is not a NUL */
    { "{\"first\":\"Ada\",\"last\":\"L\",\"email\":\"nul5@example.org\",\"password\":\"a\\\\u0000 horse\"}", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *request = g_strdup_printf ("POST /api/register HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                                                  "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                                  port, strlen (cases[i].body), cases[i].body);
      g_autoptr(GString) resp = exchange (port, request, strlen (request));

      if (cases[i].code != NULL)
        assert_json_error (resp, 400, cases[i].code);
      else
        g_assert_cmpuint (status_of (resp), ==, 201);
    }
}

/* ---- row 13: huge request heads ------------------------------------------ */

static void
test_huge_heads (void)
{
  g_autoptr(MunityTestDaemon) d = start (NULL, NULL);
  guint16 port = munity_test_daemon_port (d);
  g_autoptr(GString) many = g_string_new (NULL);
  g_autoptr(GString) big = g_string_new (NULL);
  g_autoptr(GString) long_url = g_string_new ("GET /");
  g_autoptr(GString) huge_url = g_string_new ("GET /");
  g_autoptr(GString) resp = NULL;

  g_string_append_printf (many, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n", port);
  for (int i = 0; i < 10000; i++)
    g_string_append_printf (many, "X%d: y\r\n", i);
  g_string_append (many, "\r\n");
  resp = exchange (port, many->str, many->len);
  assert_json_error (resp, 431, "headers-too-large");
  g_string_free (g_steal_pointer (&resp), TRUE);

  g_string_append_printf (big, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nX-Big: ", port);
  for (int i = 0; i < 1024 * 1024; i++)
    g_string_append_c (big, 'a');
  g_string_append (big, "\r\n\r\n");
  resp = exchange (port, big->str, big->len);
  assert_json_error (resp, 431, "headers-too-large");
  g_string_free (g_steal_pointer (&resp), TRUE);

  for (int i = 0; i < 10 * 1024; i++)
    g_string_append_c (long_url, 'a');
  g_string_append_printf (long_url, " HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", port);
  resp = exchange (port, long_url->str, long_url->len);
  assert_json_error (resp, 414, "uri-too-long");
  g_string_free (g_steal_pointer (&resp), TRUE);

  for (int i = 0; i < 64 * 1024; i++)
    g_string_append_c (huge_url, 'a');
  g_string_append_printf (huge_url, " HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", port);
  resp = exchange (port, huge_url->str, huge_url->len);
  g_assert_cmpuint (status_of (resp), >=, 414);
  g_assert_cmpuint (status_of (resp), <=, 431);
  g_assert_cmpuint (healthz_status (d), ==, 200);
}

/* ---- row 14: headers, metrics, hosts ------------------------------------- */

static void
test_security_headers (void)
{
  g_autoptr(MunityTestDaemon) d = start (NULL, NULL);
  guint16 port = munity_test_daemon_port (d);
  static const char *paths[] = { "/api/me", "/api/nothing", "/healthz", "/x%00" };

  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr(GString) resp = get (port, paths[i]);
      g_autofree char *nosniff = header_of (resp, "X-Content-Type-Options");
      g_autofree char *csp = header_of (resp, "Content-Security-Policy");
      g_autofree char *referrer = header_of (resp, "Referrer-Policy");
      g_autofree char *frame = header_of (resp, "X-Frame-Options");

      g_assert_cmpstr (nosniff, ==, "nosniff");
      g_assert_nonnull (csp);
      g_assert_nonnull (strstr (csp, "frame-ancestors 'none'"));
      g_assert_cmpstr (referrer, ==, "same-origin");
      g_assert_cmpstr (frame, ==, "DENY");
    }
}

static void
test_metrics_apart (void)
{
  guint16 metrics_port = munity_test_free_port ("127.0.0.1");
  g_autofree char *metrics_arg = g_strdup_printf ("--metrics-listen=127.0.0.1:%u", metrics_port);
  g_autoptr(MunityTestDaemon) d = start (metrics_arg, NULL);
  guint16 port = munity_test_daemon_port (d);
  g_autoptr(GString) public = get (port, "/metrics");
  g_autoptr(GString) private = get (metrics_port, "/metrics");
  g_autoptr(GString) private_api = get (metrics_port, "/api/online");
  g_autoptr(GString) private_web = get (metrics_port, "/");

  assert_json_error (public, 404, "not-found");
  g_assert_cmpuint (status_of (private), ==, 200);
  g_assert_nonnull (strstr (body_of (private), "munity_online_users"));
  assert_json_error (private_api, 404, "not-found");
  assert_json_error (private_web, 404, "not-found");
  g_assert_cmpuint (healthz_status (d), ==, 200);
}

static void
test_allowed_hosts (void)
{
  g_autofree char *dir = g_dir_make_tmp ("munity-hosts-XXXXXX", NULL);
  g_autofree char *conf = g_build_filename (dir, "munityd.conf", NULL);
  g_autofree char *conf_arg = g_strdup_printf ("--config=%s", conf);
  g_autoptr(MunityTestDaemon) d = NULL;
  g_autoptr(GString) evil = NULL;
  g_autoptr(GString) good = NULL;
  g_autofree char *evil_request = NULL;
  g_autofree char *good_request = NULL;
  guint16 port = munity_test_free_port ("127.0.0.1");
  g_autofree char *listen_arg = g_strdup_printf ("--listen=127.0.0.1:%u", port);
  g_autofree char *text = g_strdup_printf ("[munityd]\nallowed-hosts=munity.example.org;127.0.0.1:%u\n", port);

  g_assert_true (g_file_set_contents (conf, text, -1, NULL));
  d = start (conf_arg, listen_arg, NULL);

  /* DNS rebinding: a page on evil.example whose name now resolves here. */
  evil_request = g_strdup_printf ("GET /api/online HTTP/1.1\r\nHost: evil.example:%u\r\n\r\n", port);
  evil = exchange (port, evil_request, strlen (evil_request));
  assert_json_error (evil, 421, "unknown-host");

  good_request = g_strdup ("GET /healthz HTTP/1.1\r\nHost: MUNITY.example.org\r\n\r\n");
  good = exchange (port, good_request, strlen (good_request));
  g_assert_cmpuint (status_of (good), ==, 200);

  munity_test_daemon_stop (d, NULL);
  munity_test_rm_rf (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/hostile/http/range-with-many-parts-is-ignored", test_range_many_parts);
  g_test_add_func ("/hostile/http/rejected-paths-leave-no-descriptor", test_rejected_paths_close);
  g_test_add_func ("/hostile/http/out-of-descriptors-recovers", test_emfile_recovers);
  g_test_add_func ("/hostile/http/huge-body-refused-before-reading", test_huge_body_refused_early);
  g_test_add_func ("/hostile/http/slow-and-idle-clients-are-closed", test_slow_and_idle_clients);
  g_test_add_func ("/hostile/http/burst-of-idle-connections", test_burst_of_connections);
  g_test_add_func ("/hostile/http/disk-full-loses-nothing", test_disk_full);
  g_test_add_func ("/hostile/http/database-disk-full-is-507", test_database_disk_full);
  g_test_add_func ("/hostile/http/nul-in-a-field-is-that-fields-error", test_nul_in_field);
  g_test_add_func ("/hostile/http/huge-heads-get-json", test_huge_heads);
  g_test_add_func ("/hostile/http/security-headers-everywhere", test_security_headers);
  g_test_add_func ("/hostile/http/metrics-apart", test_metrics_apart);
  g_test_add_func ("/hostile/http/allowed-hosts", test_allowed_hosts);

  return g_test_run ();
}
