/* test-ws-log.c — unit tests of the WebSocket event log and its chunk pool
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "munity-ws-log.h"

#define FRAME 30

/* Appends frame @n: FRAME bytes, all of them the letter for @n. */
static void
append_frame (MunityWsLog *log,
              guint        n,
              guint64      mark)
{
  guint8 frame[FRAME];

  memset (frame, 'a' + (n % 26), sizeof frame);
  munity_ws_log_append (log, frame, sizeof frame, mark);
}

/* What a reader at @from is given, concatenated. */
static GString *
read_from (MunityWsLog *log,
           guint64      from)
{
  GString *out = g_string_new (NULL);
  MunityWsLogIter iter;
  GBytes *bytes;
  gsize start, end;

  g_assert_true (munity_ws_log_iter_init (log, &iter, from));
  while (munity_ws_log_iter_next (&iter, &bytes, &start, &end))
    {
      g_assert_cmpuint (start, <, end);
      g_string_append_len (out, (const char *) g_bytes_get_data (bytes, NULL) + start, end - start);
    }
  return out;
}

static char *
expected_from (guint   n_frames,
               guint64 from)
{
  GString *all = g_string_new (NULL);

  for (guint i = 0; i < n_frames; i++)
    for (guint j = 0; j < FRAME; j++)
      g_string_append_c (all, 'a' + (i % 26));
  g_string_erase (all, 0, (gssize) from);
  return g_string_free (all, FALSE);
}

static void
test_append_across_chunks (void)
{
  g_autoptr(MunityWsLog) log = munity_ws_log_new (64, 4);

  g_assert_cmpuint (munity_ws_log_get_end (log), ==, 0);
  for (guint i = 0; i < 7; i++)
    append_frame (log, i, 1);
  g_assert_cmpuint (munity_ws_log_get_end (log), ==, 7 * FRAME);
  /* Two 30-byte frames fit in 64 bytes, a third does not. */
  g_assert_cmpuint (munity_ws_log_get_n_chunks (log), ==, 4);

  /* A frame never straddles two chunks. */
  {
    MunityWsLogIter iter;
    GBytes *bytes;
    gsize start, end;
    guint n_pieces = 0;

    g_assert_true (munity_ws_log_iter_init (log, &iter, 0));
    while (munity_ws_log_iter_next (&iter, &bytes, &start, &end))
      {
        g_assert_cmpuint ((end - start) % FRAME, ==, 0);
        n_pieces++;
      }
    g_assert_cmpuint (n_pieces, ==, 4);
  }

  for (guint64 from = 0; from <= 7 * FRAME; from += FRAME)
    {
      g_autoptr(GString) got = read_from (log, from);
      g_autofree char *want = expected_from (7, from);

      g_assert_cmpstr (got->str, ==, want);
    }
}

static void
test_big_append (void)
{
  g_autoptr(MunityWsLog) log = munity_ws_log_new (64, 4);
  g_autofree guint8 *big = g_malloc (200);
  g_autoptr(GString) got = NULL;

  memset (big, 'z', 200);
  append_frame (log, 0, 1);
  munity_ws_log_append (log, big, 200, 1);
  append_frame (log, 1, 1);
  g_assert_cmpuint (munity_ws_log_get_end (log), ==, 260);
  g_assert_cmpuint (munity_ws_log_get_n_chunks (log), ==, 3);

  got = read_from (log, FRAME);
  g_assert_cmpuint (got->len, ==, 230);
  g_assert_cmpint (got->str[0], ==, 'z');
  g_assert_cmpint (got->str[199], ==, 'z');
  g_assert_cmpint (got->str[200], ==, 'b');
}

/* A reader holds what it was given; later appends never change it. */
static void
test_held_bytes_stay (void)
{
  g_autoptr(MunityWsLog) log = munity_ws_log_new (64, 4);
  g_autoptr(GBytes) held = NULL;
  g_autofree char *copy = NULL;
  MunityWsLogIter iter;
  GBytes *bytes;
  gsize start, end;

  append_frame (log, 0, 1);
  g_assert_true (munity_ws_log_iter_init (log, &iter, 0));
  g_assert_true (munity_ws_log_iter_next (&iter, &bytes, &start, &end));
  g_assert_false (munity_ws_log_iter_next (&iter, &bytes, &start, &end));
  held = g_bytes_ref (bytes);
  copy = g_strndup ((const char *) g_bytes_get_data (held, NULL) + start, end - start);

  for (guint i = 1; i < 10; i++)
    append_frame (log, i, 2);
  munity_ws_log_trim (log, 3);
  g_assert_cmpuint (munity_ws_log_get_n_chunks (log), ==, 1);
  g_assert_cmpmem ((const char *) g_bytes_get_data (held, NULL) + start, end - start, copy, strlen (copy));

  /* A reader up to date gets nothing. */
  g_assert_true (munity_ws_log_iter_init (log, &iter, munity_ws_log_get_end (log)));
  g_assert_false (munity_ws_log_iter_next (&iter, &bytes, &start, &end));
}

static void
test_trim (void)
{
  g_autoptr(MunityWsLog) log = munity_ws_log_new (64, 4);
  g_autoptr(GBytes) held = NULL;
  MunityWsLogIter iter;
  GBytes *bytes;
  gsize start, end;
  const void *first_data;

  /* Two chunks with mark 1, a third with mark 3. */
  for (guint i = 0; i < 4; i++)
    append_frame (log, i, 1);
  append_frame (log, 4, 3);
  g_assert_cmpuint (munity_ws_log_get_n_chunks (log), ==, 3);

  /* A reader still has the first chunk to send. */
  g_assert_true (munity_ws_log_iter_init (log, &iter, 0));
  g_assert_true (munity_ws_log_iter_next (&iter, &bytes, &start, &end));
  held = g_bytes_ref (bytes);
  first_data = g_bytes_get_data (held, NULL);

  munity_ws_log_trim (log, 1);
  g_assert_cmpuint (munity_ws_log_get_n_chunks (log), ==, 3);
  munity_ws_log_trim (log, 2);
  g_assert_cmpuint (munity_ws_log_get_n_chunks (log), ==, 1);
  /* The second chunk nobody holds is back in the pool; the first is not
   * until its reader lets go. */
  g_assert_cmpuint (munity_ws_log_get_n_pooled (log), ==, 1);
  g_clear_pointer (&held, g_bytes_unref);
  g_assert_cmpuint (munity_ws_log_get_n_pooled (log), ==, 2);

  /* Trimmed bytes cannot be read any more; the rest can. */
  g_assert_false (munity_ws_log_iter_init (log, &iter, 0));
  {
    g_autoptr(GString) got = read_from (log, 4 * FRAME);
    g_autofree char *want = expected_from (5, 4 * FRAME);
    g_assert_cmpstr (got->str, ==, want);
  }

  /* New chunks come from the pool: the last one released first. */
  for (guint i = 5; i < 8; i++)
    append_frame (log, i, 4);
  g_assert_cmpuint (munity_ws_log_get_n_pooled (log), ==, 1);
  g_assert_true (munity_ws_log_iter_init (log, &iter, 6 * FRAME));
  g_assert_true (munity_ws_log_iter_next (&iter, &bytes, &start, &end));
  g_assert_true (g_bytes_get_data (bytes, NULL) == first_data);

  /* The newest chunk always stays. */
  munity_ws_log_trim (log, 100);
  g_assert_cmpuint (munity_ws_log_get_n_chunks (log), ==, 1);
  g_assert_cmpuint (munity_ws_log_get_end (log), ==, 8 * FRAME);
}

static void
test_pool_cap (void)
{
  g_autoptr(MunityWsLog) log = munity_ws_log_new (64, 2);
  g_autoptr(GBytes) big_held = NULL;

  for (guint i = 0; i < 10; i++)
    append_frame (log, i, 1);
  g_assert_cmpuint (munity_ws_log_get_n_chunks (log), ==, 5);
  append_frame (log, 10, 2);
  munity_ws_log_trim (log, 2);
  g_assert_cmpuint (munity_ws_log_get_n_chunks (log), ==, 1);
  /* Five chunks freed, two kept. */
  g_assert_cmpuint (munity_ws_log_get_n_pooled (log), ==, 2);

  /* A chunk bigger than the pool's size is never pooled. */
  {
    guint8 big[100] = { 0 };
    munity_ws_log_append (log, big, sizeof big, 3);
  }
  append_frame (log, 11, 4);
  munity_ws_log_trim (log, 4);
  g_assert_cmpuint (munity_ws_log_get_n_chunks (log), ==, 1);
  g_assert_cmpuint (munity_ws_log_get_n_pooled (log), ==, 2);
}

/* Chunks a reader holds outlive the log. */
static void
test_outlive_log (void)
{
  MunityWsLog *log = munity_ws_log_new (64, 2);
  g_autoptr(GBytes) held = NULL;
  MunityWsLogIter iter;
  GBytes *bytes;
  gsize start, end;

  append_frame (log, 3, 1);
  g_assert_true (munity_ws_log_iter_init (log, &iter, 0));
  g_assert_true (munity_ws_log_iter_next (&iter, &bytes, &start, &end));
  held = g_bytes_ref (bytes);
  munity_ws_log_free (log);
  g_assert_cmpint (((const char *) g_bytes_get_data (held, NULL))[start], ==, 'd');
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/ws-log/append/across-chunks", test_append_across_chunks);
  g_test_add_func ("/ws-log/append/bigger-than-a-chunk", test_big_append);
  g_test_add_func ("/ws-log/readers/held-bytes-stay", test_held_bytes_stay);
  g_test_add_func ("/ws-log/trim/releases-to-pool", test_trim);
  g_test_add_func ("/ws-log/pool/cap", test_pool_cap);
  g_test_add_func ("/ws-log/chunks-outlive-log", test_outlive_log);

  return g_test_run ();
}
