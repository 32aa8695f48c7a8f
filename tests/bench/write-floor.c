/* write-floor.c — what one small write() to a loopback TCP socket costs here
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * munityd's fan-out is one write per socket per flush, so the time of one
 * flush over N sockets can never be below N times the cost of a write. This
 * program measures that floor on the machine it runs on, with nothing of
 * munityd in the way: N loopback TCP connections (clients spread over
 * 127.0.0.2, 127.0.0.3, …), a reader process holding the client ends, and
 * the parent writing one small message to every server end, round after
 * round, with TCP_NODELAY like munityd.
 *
 * The reader either sleeps in epoll_wait() (each write then wakes it, and
 * the writer pays for the wake-up), polls with short sleeps (as
 * munity-load does), or does not read at all. Bounded: N ≤ 19,000 and a
 * fixed number of rounds; loopback only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PORT_BASE 19400
#define PER_ADDRESS 20000

typedef enum { READER_BLOCKING, READER_POLLING, READER_NONE } ReaderMode;

static const char *mode_names[] = { "blocking", "polling", "none" };

static long long
now_ns (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return (long long) t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void
die (const char *what)
{
  fprintf (stderr, "write-floor: %s: %s\n", what, strerror (errno));
  exit (1);
}

static void
usage (void)
{
  fprintf (stderr, "usage: write-floor [--sockets N] [--bytes B] [--rounds R] [--reader blocking|polling|none]\n");
  exit (2);
}

/* The client ends, in the reader process. */
static void
run_reader (const struct sockaddr_in *server, int n, ReaderMode mode, int ready_fd)
{
  int *fds = calloc ((size_t) n, sizeof (int));
  int epfd = epoll_create1 (EPOLL_CLOEXEC);
  struct epoll_event events[512];
  static char buffer[65536];
  char ok = 'k';

  for (int i = 0; i < n; i++)
    {
      struct sockaddr_in source = { .sin_family = AF_INET };
      struct epoll_event ev = { .events = EPOLLIN };

      source.sin_addr.s_addr = htonl (0x7f000002 + (uint32_t) (i / PER_ADDRESS));
      struct linger abortive = { .l_onoff = 1, .l_linger = 0 };

      fds[i] = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fds[i] < 0)
        die ("socket");
      /* Reset at exit rather than leave n ports in TIME_WAIT for the next run. */
      setsockopt (fds[i], SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
      if (bind (fds[i], (const struct sockaddr *) &source, sizeof source) != 0)
        die ("bind");
      if (connect (fds[i], (const struct sockaddr *) server, sizeof *server) != 0)
        die ("connect");
      ev.data.fd = fds[i];
      epoll_ctl (epfd, EPOLL_CTL_ADD, fds[i], &ev);
    }
  if (write (ready_fd, &ok, 1) != 1)
    die ("write");

  for (;;)
    {
      int k;

      if (mode == READER_NONE)
        {
          pause ();
          continue;
        }
      k = epoll_wait (epfd, events, 512, mode == READER_BLOCKING ? 1000 : 0);
      if (k == 0 && mode == READER_POLLING)
        usleep (200);
      for (int j = 0; j < k; j++)
        if (read (events[j].data.fd, buffer, sizeof buffer) <= 0)
          _exit (0);
      if (getppid () == 1)
        _exit (0);
    }
}

int
main (int argc, char *argv[])
{
  int n = 10000, bytes = 100, rounds = 20;
  ReaderMode mode = READER_POLLING;
  struct sockaddr_in server = { .sin_family = AF_INET };
  struct rlimit limit;
  int listener, one = 1, ready[2];
  int *fds;
  char *message, ok;
  long long total_ns = 0, best_ns = -1;
  pid_t reader;

  for (int i = 1; i < argc; i++)
    {
      const char *value = i + 1 < argc ? argv[i + 1] : NULL;

      if (value == NULL)
        usage ();
      if (strcmp (argv[i], "--sockets") == 0)
        n = atoi (value);
      else if (strcmp (argv[i], "--bytes") == 0)
        bytes = atoi (value);
      else if (strcmp (argv[i], "--rounds") == 0)
        rounds = atoi (value);
      else if (strcmp (argv[i], "--reader") == 0)
        {
          if (strcmp (value, "blocking") == 0)
            mode = READER_BLOCKING;
          else if (strcmp (value, "polling") == 0)
            mode = READER_POLLING;
          else if (strcmp (value, "none") == 0)
            mode = READER_NONE;
          else
            usage ();
        }
      else
        usage ();
      i++;
    }
  /* Each side holds n descriptors: within the 20,000 limit, and a reader
   * that does not read must not fill its receive buffers. */
  if (n < 1 || n > 19000 || bytes < 1 || bytes > 4096 || rounds < 1 || rounds > 100)
    usage ();

  if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < (rlim_t) n + 64)
    {
      limit.rlim_cur = limit.rlim_max;
      setrlimit (RLIMIT_NOFILE, &limit);
    }

  listener = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0)
    die ("socket");
  setsockopt (listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  server.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  for (int port = PORT_BASE; ; port++)
    {
      server.sin_port = htons ((uint16_t) port);
      if (bind (listener, (const struct sockaddr *) &server, sizeof server) == 0)
        break;
      if (port > PORT_BASE + 100)
        die ("bind");
    }
  if (listen (listener, 4096) != 0)
    die ("listen");
  if (pipe (ready) != 0)
    die ("pipe");

  /* Bounded: whatever happens (a reader that failed to connect leaves the
   * accept loop waiting), the run ends. */
  alarm (120);
  reader = fork ();
  if (reader < 0)
    die ("fork");
  if (reader == 0)
    {
      close (listener);
      close (ready[0]);
      alarm (0);
      run_reader (&server, n, mode, ready[1]);
      _exit (0);
    }
  close (ready[1]);

  fds = calloc ((size_t) n, sizeof (int));
  for (int i = 0; i < n; i++)
    {
      fds[i] = accept4 (listener, NULL, NULL, SOCK_CLOEXEC);
      if (fds[i] < 0)
        die ("accept");
      setsockopt (fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
  if (read (ready[0], &ok, 1) != 1)
    {
      fprintf (stderr, "write-floor: the reader failed\n");
      return 1;
    }
  usleep (200000);

  message = calloc (1, (size_t) bytes);
  for (int r = 0; r < rounds; r++)
    {
      long long start = now_ns (), took;

      for (int i = 0; i < n; i++)
        if (write (fds[i], message, (size_t) bytes) != bytes)
          die ("write");
      took = now_ns () - start;
      total_ns += took;
      if (best_ns < 0 || took < best_ns)
        best_ns = took;
      usleep (20000);
    }

  kill (reader, SIGKILL);
  waitpid (reader, NULL, 0);
  for (int i = 0; i < n; i++)
    close (fds[i]);
  free (fds);
  free (message);

  {
    double us_per_write = (double) total_ns / 1000.0 / rounds / n;
    double best_us = (double) best_ns / 1000.0 / n;

    printf ("{\"sockets\":%d,\"bytes\":%d,\"rounds\":%d,\"reader\":\"%s\",\"us_per_write\":%.2f,"
            "\"best_round_us_per_write\":%.2f,\"fan_out_ms\":%.1f}\n",
            n, bytes, rounds, mode_names[mode], us_per_write, best_us, us_per_write * n / 1000.0);
    printf ("%d sockets, %d-byte writes, reader %s: %.2f µs per write (best round %.2f); "
            "one write to every socket takes %.1f ms\n",
            n, bytes, mode_names[mode], us_per_write, best_us, us_per_write * n / 1000.0);
  }
  return 0;
}
