/* test-ws-pages.c — unit tests of the onlineUsers body kept in pages
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "munity-protocol.h"
#include "munity-ws-pages.h"

/* Small pages, so that a few users make several. */
#define PAGE 100

/* A fragment of 30 bytes (31 with its comma): three fit in a page. */
static GBytes *
fragment_new (gint64      id,
              const char *tag)
{
  g_autofree char *json = g_strdup_printf ("{\"id\":%3" G_GINT64_FORMAT ",\"tag\":\"%s\"}", id, tag);
  g_autofree char *padded = g_strdup_printf ("%s%*s", json, (int) (30 - strlen (json)), "");

  g_assert_cmpuint (strlen (json), <=, 30);
  return g_bytes_new (padded, 30);
}

typedef struct {
  MunityWsPages *pages;
  GPtrArray     *expected;   /* of GBytes: the fragments in join order */
  GArray        *ids;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  fixture->pages = munity_ws_pages_new (PAGE);
  fixture->expected = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  fixture->ids = g_array_new (FALSE, FALSE, sizeof (gint64));
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  munity_ws_pages_free (fixture->pages);
  g_ptr_array_unref (fixture->expected);
  g_array_unref (fixture->ids);
}

static void
join (Fixture *fixture,
      gint64   id)
{
  g_autoptr(GBytes) fragment = fragment_new (id, "x");

  munity_ws_pages_append (fixture->pages, id, fragment);
  g_ptr_array_add (fixture->expected, g_bytes_ref (fragment));
  g_array_append_val (fixture->ids, id);
}

static guint
position (Fixture *fixture,
          gint64   id)
{
  for (guint i = 0; i < fixture->ids->len; i++)
    if (g_array_index (fixture->ids, gint64, i) == id)
      return i;
  g_assert_not_reached ();
}

static void
leave (Fixture *fixture,
       gint64   id)
{
  guint at = position (fixture, id);

  munity_ws_pages_remove (fixture->pages, id);
  g_ptr_array_remove_index (fixture->expected, at);
  g_array_remove_index (fixture->ids, at);
}

static void
update (Fixture    *fixture,
        gint64      id,
        const char *tag)
{
  g_autoptr(GBytes) fragment = fragment_new (id, tag);
  guint at = position (fixture, id);

  munity_ws_pages_update (fixture->pages, id, fragment);
  g_bytes_unref (fixture->expected->pdata[at]);
  fixture->expected->pdata[at] = g_bytes_ref (fragment);
}

static char *
body_of (MunityWsPages *pages)
{
  GString *body = g_string_new (NULL);
  MunityWsPagesIter iter;
  GBytes *bytes;
  gsize start, end;

  munity_ws_pages_iter_init (pages, &iter);
  while (munity_ws_pages_iter_next (&iter, &bytes, &start, &end))
    {
      g_assert_cmpuint (start, <, end);
      g_string_append_len (body, (const char *) g_bytes_get_data (bytes, NULL) + start, end - start);
    }
  return g_string_free (body, FALSE);
}

static void
assert_body (Fixture *fixture)
{
  g_autoptr(GString) want = g_string_new (NULL);
  g_autofree char *got = body_of (fixture->pages);

  for (guint i = 0; i < fixture->expected->len; i++)
    {
      GBytes *fragment = fixture->expected->pdata[i];

      if (i > 0)
        g_string_append_c (want, ',');
      g_string_append_len (want, g_bytes_get_data (fragment, NULL), g_bytes_get_size (fragment));
    }
  g_assert_cmpstr (got, ==, want->str);
  g_assert_cmpuint (munity_ws_pages_get_body_length (fixture->pages), ==, want->len);
  g_assert_cmpuint (munity_ws_pages_get_n_users (fixture->pages), ==, fixture->expected->len);
}

static void
test_append (Fixture       *fixture,
             gconstpointer  data)
{
  assert_body (fixture);
  for (gint64 id = 1; id <= 10; id++)
    {
      join (fixture, id);
      assert_body (fixture);
    }
  /* Three users to a page. */
  g_assert_cmpuint (munity_ws_pages_get_n_pages (fixture->pages), ==, 4);

  /* Joining twice does not list a user twice: the user goes last. */
  join (fixture, 4);
  g_ptr_array_remove_index (fixture->expected, 3);
  g_array_remove_index (fixture->ids, 3);
  assert_body (fixture);
}

static void
test_rewrite (Fixture       *fixture,
              gconstpointer  data)
{
  for (gint64 id = 1; id <= 9; id++)
    join (fixture, id);

  update (fixture, 5, "changed");
  assert_body (fixture);
  update (fixture, 1, "first");
  update (fixture, 9, "last");
  assert_body (fixture);

  leave (fixture, 5);
  assert_body (fixture);
  leave (fixture, 1);
  assert_body (fixture);
  leave (fixture, 9);
  assert_body (fixture);

  /* Someone the pages never listed changes nothing. */
  munity_ws_pages_remove (fixture->pages, 99);
  {
    g_autoptr(GBytes) fragment = fragment_new (98, "y");
    munity_ws_pages_update (fixture->pages, 98, fragment);
  }
  assert_body (fixture);

  join (fixture, 10);
  assert_body (fixture);
}

static void
test_merge (Fixture       *fixture,
            gconstpointer  data)
{
  for (gint64 id = 1; id <= 9; id++)
    join (fixture, id);
  g_assert_cmpuint (munity_ws_pages_get_n_pages (fixture->pages), ==, 3);

  /* A page is merged with the next when both fit in one: 31 bytes a user,
   * three to a page. */
  leave (fixture, 1);
  leave (fixture, 2);
  leave (fixture, 8);
  leave (fixture, 4);
  g_assert_cmpuint (munity_ws_pages_get_n_pages (fixture->pages), ==, 3);
  assert_body (fixture);
  /* 5 leaves: its page keeps 6 and takes 7 and 9 in. */
  leave (fixture, 5);
  g_assert_cmpuint (munity_ws_pages_get_n_pages (fixture->pages), ==, 2);
  assert_body (fixture);
  /* 3 leaves: the first page, empty, takes the next one's users. */
  leave (fixture, 3);
  g_assert_cmpuint (munity_ws_pages_get_n_pages (fixture->pages), ==, 1);
  assert_body (fixture);

  /* Everyone leaves: one empty page stays for joins. */
  while (fixture->ids->len > 0)
    leave (fixture, g_array_index (fixture->ids, gint64, 0));
  assert_body (fixture);
  g_assert_cmpuint (munity_ws_pages_get_n_pages (fixture->pages), ==, 1);
  join (fixture, 20);
  assert_body (fixture);
}

typedef struct {
  GBytes *bytes;
  gsize   start;
  gsize   end;
  char   *copy;
} Held;

static void
held_free (gpointer data)
{
  Held *held = data;

  g_bytes_unref (held->bytes);
  g_free (held->copy);
  g_free (held);
}

/* A snapshot a socket has queued is references into the pages: whatever
 * happens next, those bytes stay as they were. */
static void
test_held_bytes_stay (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GPtrArray) held = g_ptr_array_new_with_free_func (held_free);
  MunityWsPagesIter iter;
  GBytes *bytes;
  gsize start, end;
  g_autofree char *before = NULL;
  GString *again = g_string_new (NULL);
  g_autofree char *after = NULL;

  for (gint64 id = 1; id <= 8; id++)
    join (fixture, id);
  before = body_of (fixture->pages);

  munity_ws_pages_iter_init (fixture->pages, &iter);
  while (munity_ws_pages_iter_next (&iter, &bytes, &start, &end))
    {
      Held *h = g_new0 (Held, 1);

      h->bytes = g_bytes_ref (bytes);
      h->start = start;
      h->end = end;
      h->copy = g_strndup ((const char *) g_bytes_get_data (bytes, NULL) + start, end - start);
      g_ptr_array_add (held, h);
    }

  update (fixture, 2, "changed");
  leave (fixture, 4);
  leave (fixture, 7);
  join (fixture, 9);
  join (fixture, 10);
  update (fixture, 8, "also");
  assert_body (fixture);

  for (guint i = 0; i < held->len; i++)
    {
      Held *h = held->pdata[i];

      g_assert_cmpmem ((const char *) g_bytes_get_data (h->bytes, NULL) + h->start, h->end - h->start,
                       h->copy, strlen (h->copy));
      g_string_append (again, h->copy);
    }
  after = g_string_free (again, FALSE);
  g_assert_cmpstr (after, ==, before);
}

/* The head, the pages and the tail make the onlineUsers frame. */
static void
test_frame (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GBytes) head = NULL;
  g_autoptr(GBytes) tail = munity_protocol_online_users_frame_tail ();
  g_autofree char *body = NULL;
  g_autoptr(GByteArray) frame = g_byte_array_new ();
  MunityWsHeader header;
  JsonArray *users;
  const char *text;

  for (gint64 id = 1; id <= 12; id++)
    join (fixture, id);
  leave (fixture, 3);
  leave (fixture, 4);
  update (fixture, 11, "upd");

  body = body_of (fixture->pages);
  head = munity_protocol_online_users_frame_head (munity_ws_pages_get_body_length (fixture->pages));
  g_byte_array_append (frame, g_bytes_get_data (head, NULL), g_bytes_get_size (head));
  g_byte_array_append (frame, (const guint8 *) body, strlen (body));
  g_byte_array_append (frame, g_bytes_get_data (tail, NULL), g_bytes_get_size (tail));

  g_assert_cmpint (munity_ws_parse_header (frame->data, frame->len, &header), ==, MUNITY_WS_PARSE_OK);
  g_assert_cmpuint (header.header_length + header.payload_length, ==, frame->len);
  text = (const char *) frame->data + header.header_length;
  g_assert_true (json_parser_load_from_data (parser, text, (gssize) header.payload_length, NULL));
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (json_parser_get_root (parser)), "event"),
                   ==, "onlineUsers");
  users = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "data");
  g_assert_cmpuint (json_array_get_length (users), ==, fixture->ids->len);
  for (guint i = 0; i < fixture->ids->len; i++)
    {
      JsonObject *user = json_array_get_object_element (users, i);

      g_assert_cmpint (json_object_get_int_member (user, "id"), ==, g_array_index (fixture->ids, gint64, i));
      if (g_array_index (fixture->ids, gint64, i) == 11)
        g_assert_cmpstr (json_object_get_string_member (user, "tag"), ==, "upd");
    }
}

/* A user whose fragment does not fit in a page gets a page of its size. */
static void
test_big_fragment (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autofree char *long_tag = g_strnfill (300, 'q');
  g_autofree char *json = g_strdup_printf ("{\"id\":7,\"tag\":\"%s\"}", long_tag);
  g_autoptr(GBytes) big = g_bytes_new (json, strlen (json));

  join (fixture, 1);
  munity_ws_pages_append (fixture->pages, 7, big);
  g_ptr_array_add (fixture->expected, g_bytes_ref (big));
  {
    gint64 id = 7;
    g_array_append_val (fixture->ids, id);
  }
  join (fixture, 2);
  assert_body (fixture);
  update (fixture, 7, "short");
  assert_body (fixture);
  leave (fixture, 1);
  assert_body (fixture);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/ws-pages/append", test_append);
  ADD ("/ws-pages/rewrite/leave-and-update", test_rewrite);
  ADD ("/ws-pages/rewrite/merge", test_merge);
  ADD ("/ws-pages/readers/held-bytes-stay", test_held_bytes_stay);
  ADD ("/ws-pages/online-users-frame", test_frame);
  ADD ("/ws-pages/big-fragment", test_big_fragment);
#undef ADD

  return g_test_run ();
}
