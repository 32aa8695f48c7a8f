/* test-ws-windows.c — windows of the online list: order, queries, ops, throttle
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "munity-ws-windows.h"

#define SECOND G_USEC_PER_SEC
#define TICK MUNITY_WS_WINDOW_INTERVAL_US

/* ---- a client: holds a window and applies frames to it ------------------ */

typedef struct {
  char         *query;
  guint         offset;
  guint         limit;
  MunityWsView *view;
  GPtrArray    *users;   /* of JsonObject, the window as the client has it */
  guint         total;
  guint         n_frames;
} Client;

static JsonObject *
frame_data (GBytes      *frame,
            const char **event)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (frame, &size);
  gsize header = (data[1] & 0x7f) < 126 ? 2 : (data[1] & 0x7f) == 126 ? 4 : 10;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root;
  static char name[32];

  g_assert_cmpuint (data[0], ==, 0x81);
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, (const char *) data + header, (gssize) (size - header), &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  g_strlcpy (name, json_object_get_string_member (root, "event"), sizeof name);
  *event = name;
  return json_object_ref (json_object_get_object_member (root, "data"));
}

static void
client_check_size (Client *client)
{
  guint expected = client->total > client->offset ? MIN (client->limit, client->total - client->offset) : 0;

  g_assert_cmpuint (client->users->len, ==, expected);
}

static void
client_apply_snapshot (Client *client,
                       GBytes *frame)
{
  const char *event;
  g_autoptr(JsonObject) data = frame_data (frame, &event);
  JsonArray *users;

  g_assert_cmpstr (event, ==, "onlineWindow");
  g_assert_cmpint (json_object_get_int_member (data, "offset"), ==, client->offset);
  g_assert_cmpint (json_object_get_int_member (data, "limit"), ==, client->limit);
  g_assert_cmpstr (json_object_get_string_member (data, "query"), ==, client->query);
  client->total = (guint) json_object_get_int_member (data, "total");
  g_ptr_array_set_size (client->users, 0);
  users = json_object_get_array_member (data, "users");
  for (guint i = 0; i < json_array_get_length (users); i++)
    g_ptr_array_add (client->users, json_object_ref (json_array_get_object_element (users, i)));
  client_check_size (client);
}

static void
client_apply_changes (Client *client,
                      GBytes *frame)
{
  const char *event;
  g_autoptr(JsonObject) data = frame_data (frame, &event);
  JsonArray *ops = json_object_get_array_member (data, "ops");

  g_assert_cmpstr (event, ==, "windowChanged");
  client->n_frames++;
  client->total = (guint) json_object_get_int_member (data, "total");
  for (guint i = 0; i < json_array_get_length (ops); i++)
    {
      JsonObject *op = json_array_get_object_element (ops, i);
      const char *kind = json_object_get_string_member (op, "op");
      guint index = (guint) json_object_get_int_member (op, "index");

      if (g_str_equal (kind, "remove"))
        {
          g_assert_cmpuint (index, <, client->users->len);
          g_ptr_array_remove_index (client->users, index);
        }
      else if (g_str_equal (kind, "insert"))
        {
          g_assert_cmpuint (index, <=, client->users->len);
          g_ptr_array_insert (client->users, (gint) index,
                              json_object_ref (json_object_get_object_member (op, "user")));
        }
      else
        {
          g_assert_cmpstr (kind, ==, "update");
          g_assert_cmpuint (index, <, client->users->len);
          json_object_unref (client->users->pdata[index]);
          client->users->pdata[index] = json_object_ref (json_object_get_object_member (op, "user"));
        }
    }
  client_check_size (client);
}

static void
client_open (Client          *client,
             MunityWsWindows *windows,
             const char      *query,
             guint            offset,
             guint            limit,
             gint64           now)
{
  if (client->view != NULL)
    {
      g_ptr_array_remove_fast (munity_ws_view_get_members (client->view), client);
      munity_ws_view_release (client->view);
    }
  g_free (client->query);
  client->query = g_strdup (query);
  client->offset = offset;
  client->limit = limit;
  client->view = munity_ws_windows_open_view (windows, query, offset, limit, now);
  g_ptr_array_add (munity_ws_view_get_members (client->view), client);
  client_apply_snapshot (client, munity_ws_view_get_snapshot (client->view));
}

static void
client_close (Client *client)
{
  g_ptr_array_remove_fast (munity_ws_view_get_members (client->view), client);
  munity_ws_view_release (client->view);
  g_ptr_array_unref (client->users);
  g_free (client->query);
}

static void
deliver (MunityWsView *view,
         GBytes       *frame,
         gpointer      user_data)
{
  GPtrArray *members = munity_ws_view_get_members (view);

  for (guint i = 0; i < members->len; i++)
    client_apply_changes (members->pdata[i], frame);
}

/* ---- the reference: who is online, sorted the slow way ------------------ */

typedef struct {
  gint64  id;
  char   *name;
  guint   version;
} Person;

static GBytes *
json_bytes (Person *person)
{
  char *text = g_strdup_printf ("{\"id\":%" G_GINT64_FORMAT ",\"name\":\"%s\",\"v\":%u}",
                                person->id, person->name, person->version);
  return g_bytes_new_take (text, strlen (text));
}

static int
person_compare (gconstpointer a,
                gconstpointer b)
{
  const Person *x = *(Person * const *) a, *y = *(Person * const *) b;
  g_autofree char *kx = g_utf8_collate_key (x->name, -1);
  g_autofree char *ky = g_utf8_collate_key (y->name, -1);
  int order = strcmp (kx, ky);

  return order != 0 ? order : x->id < y->id ? -1 : x->id > y->id;
}

/* The window @client should hold, from @people (id → Person). */
static GPtrArray *
expected_window (GHashTable *people,
                 Client     *client,
                 guint      *out_total)
{
  g_autoptr(GPtrArray) matching = g_ptr_array_new ();
  g_autofree char *folded = g_utf8_casefold (client->query, -1);
  GPtrArray *window = g_ptr_array_new ();
  GHashTableIter iter;
  Person *person;

  g_hash_table_iter_init (&iter, people);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &person))
    {
      g_autofree char *name = g_utf8_casefold (person->name, -1);
      if (strstr (name, folded) != NULL)
        g_ptr_array_add (matching, person);
    }
  g_ptr_array_sort (matching, person_compare);
  for (guint i = client->offset; i < matching->len && window->len < client->limit; i++)
    g_ptr_array_add (window, matching->pdata[i]);
  *out_total = matching->len;
  return window;
}

static void
assert_client_current (GHashTable *people,
                       Client     *client,
                       gboolean    check_total)
{
  guint total;
  g_autoptr(GPtrArray) expected = expected_window (people, client, &total);

  g_assert_cmpuint (client->users->len, ==, expected->len);
  for (guint i = 0; i < expected->len; i++)
    {
      Person *person = expected->pdata[i];
      JsonObject *user = client->users->pdata[i];

      g_assert_cmpint (json_object_get_int_member (user, "id"), ==, person->id);
      g_assert_cmpstr (json_object_get_string_member (user, "name"), ==, person->name);
      g_assert_cmpint (json_object_get_int_member (user, "v"), ==, person->version);
    }
  if (check_total)
    g_assert_cmpuint (client->total, ==, total);
}

static void
person_free (gpointer data)
{
  Person *person = data;

  g_free (person->name);
  g_free (person);
}

static void
put (MunityWsWindows *windows,
     GHashTable      *people,
     gint64           id,
     const char      *name)
{
  Person *person = g_hash_table_lookup (people, &id);
  g_autoptr(GBytes) json = NULL;

  if (person == NULL)
    {
      person = g_new0 (Person, 1);
      person->id = id;
      g_hash_table_insert (people, &person->id, person);
    }
  else
    person->version++;
  if (person->name != name)
    {
      g_free (person->name);
      person->name = g_strdup (name);
    }
  json = json_bytes (person);
  munity_ws_windows_put (windows, id, name, json);
}

static void
drop (MunityWsWindows *windows,
      GHashTable      *people,
      gint64           id)
{
  munity_ws_windows_remove (windows, id);
  g_hash_table_remove (people, &id);
}

/* ---- tests ------------------------------------------------------------------ */

/* The first window: sorted by name then id, query case-insensitive. */
static void
test_order_and_query (void)
{
  g_autoptr(MunityWsWindows) windows = munity_ws_windows_new ();
  g_autoptr(GHashTable) people = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, person_free);
  Client all = { .users = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref) };
  Client ada = { .users = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref) };

  put (windows, people, 3, "Grace Hopper");
  put (windows, people, 1, "Ada Lovelace");
  put (windows, people, 7, "Ada Lovelace");
  put (windows, people, 2, "Alan Turing");
  put (windows, people, 5, "Barbara Liskov");

  client_open (&all, windows, "", 0, 3, 0);
  g_assert_cmpuint (all.total, ==, 5);
  g_assert_cmpint (json_object_get_int_member (all.users->pdata[0], "id"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (all.users->pdata[1], "id"), ==, 7);
  g_assert_cmpint (json_object_get_int_member (all.users->pdata[2], "id"), ==, 2);
  assert_client_current (people, &all, TRUE);

  client_open (&ada, windows, "LOVE", 0, 50, 0);
  g_assert_cmpuint (ada.total, ==, 2);
  assert_client_current (people, &ada, TRUE);
  g_assert_cmpuint (munity_ws_windows_get_n_views (windows), ==, 2);

  client_close (&all);
  client_close (&ada);
  g_assert_cmpuint (munity_ws_windows_get_n_views (windows), ==, 0);
}

/* A join before a window shifts it: one insert at the top, one remove at
 * the bottom; a join after it changes only the total, once a second. */
static void
test_shift_and_total (void)
{
  g_autoptr(MunityWsWindows) windows = munity_ws_windows_new ();
  g_autoptr(GHashTable) people = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, person_free);
  Client client = { .users = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref) };
  gint64 now = 10 * SECOND;

  for (gint64 id = 1; id <= 30; id++)
    {
      g_autofree char *name = g_strdup_printf ("User %02" G_GINT64_FORMAT, id * 2);
      put (windows, people, id, name);
    }
  client_open (&client, windows, "", 10, 5, now);   /* User 22 .. User 30 */

  /* After the window: only the total, not before a second has passed. */
  put (windows, people, 100, "User 99");
  now += TICK;
  g_assert_true (munity_ws_windows_flush (windows, now, deliver, NULL));
  g_assert_cmpuint (client.n_frames, ==, 0);
  now += SECOND;
  g_assert_false (munity_ws_windows_flush (windows, now, deliver, NULL));
  g_assert_cmpuint (client.n_frames, ==, 1);
  assert_client_current (people, &client, TRUE);

  /* Before the window: its rows move, which waits like a total: one
   * insert at the top, one remove at the bottom, a second after. */
  put (windows, people, 101, "User 01");
  now += TICK;
  g_assert_true (munity_ws_windows_flush (windows, now, deliver, NULL));
  g_assert_cmpuint (client.n_frames, ==, 1);
  now += SECOND;
  g_assert_false (munity_ws_windows_flush (windows, now, deliver, NULL));
  g_assert_cmpuint (client.n_frames, ==, 2);
  assert_client_current (people, &client, TRUE);

  /* A move, then a change of a row: the row's change brings the move
   * along, 100 ms after the last frame. */
  put (windows, people, 102, "User 03");
  now += TICK;
  g_assert_true (munity_ws_windows_flush (windows, now, deliver, NULL));
  {
    gint64 first = json_object_get_int_member (client.users->pdata[0], "id");
    Person *person = g_hash_table_lookup (people, &first);
    g_autofree char *renamed = g_strdup_printf ("%sb", person->name);

    put (windows, people, first, renamed);   /* stays in the window */
  }
  g_assert_false (munity_ws_windows_flush (windows, now, deliver, NULL));
  g_assert_cmpuint (client.n_frames, ==, 3);
  assert_client_current (people, &client, TRUE);

  /* Nothing changed: nothing sent. */
  now += SECOND;
  g_assert_false (munity_ws_windows_flush (windows, now, deliver, NULL));
  g_assert_cmpuint (client.n_frames, ==, 3);

  /* In the window: an update in place, a rename that moves, a leave. */
  put (windows, people, 12, "User 24");
  put (windows, people, 13, "User 00");
  drop (windows, people, 11);
  now += TICK;
  g_assert_false (munity_ws_windows_flush (windows, now, deliver, NULL));
  g_assert_cmpuint (client.n_frames, ==, 4);
  assert_client_current (people, &client, TRUE);

  client_close (&client);
}

/* A window's first change goes out at once, the next ones no sooner than
 * 100 ms after it, gathered into one frame. */
static void
test_rate (void)
{
  g_autoptr(MunityWsWindows) windows = munity_ws_windows_new ();
  g_autoptr(GHashTable) people = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, person_free);
  Client client = { .users = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref) };
  gint64 now = 5 * SECOND;

  put (windows, people, 1, "Ada");
  client_open (&client, windows, "", 0, 10, now);
  g_assert_cmpint (munity_ws_windows_get_next_due (windows), ==, G_MAXINT64);

  put (windows, people, 2, "Bob");
  g_assert_cmpint (munity_ws_windows_get_next_due (windows), <=, now);
  g_assert_false (munity_ws_windows_flush (windows, now, deliver, NULL));
  g_assert_cmpuint (client.n_frames, ==, 1);

  now += TICK / 4;
  put (windows, people, 3, "Cy");
  now += TICK / 4;
  put (windows, people, 4, "Di");
  g_assert_cmpint (munity_ws_windows_get_next_due (windows), ==, now - TICK / 2 + TICK);
  g_assert_true (munity_ws_windows_flush (windows, now, deliver, NULL));
  g_assert_cmpuint (client.n_frames, ==, 1);

  now += TICK / 2;
  g_assert_false (munity_ws_windows_flush (windows, now, deliver, NULL));
  g_assert_cmpuint (client.n_frames, ==, 2);
  assert_client_current (people, &client, TRUE);

  client_close (&client);
}

/* A window many sockets watch sends its total alone (and moved rows) less
 * often: the node's writes for them are bounded. */
static void
test_slow_interval_grows (void)
{
  g_autoptr(MunityWsWindows) windows = munity_ws_windows_new ();
  g_autoptr(GHashTable) people = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, person_free);
  Client client = { .users = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref) };
  GPtrArray *members;
  gint64 now = 5 * SECOND;

  for (gint64 id = 1; id <= 5; id++)
    put (windows, people, id, "Anna");
  client_open (&client, windows, "", 0, 2, now);
  /* 15,000 sockets on this window: 3 s. */
  members = munity_ws_view_get_members (client.view);
  g_ptr_array_set_size (members, 15000);
  for (guint i = 0; i < members->len; i++)
    members->pdata[i] = &client;

  put (windows, people, 9, "Zed");
  now += 2 * SECOND;
  g_assert_true (munity_ws_windows_flush (windows, now, deliver, NULL));
  g_assert_cmpuint (client.n_frames, ==, 0);
  now += 2 * SECOND;
  g_assert_false (munity_ws_windows_flush (windows, now, deliver, NULL));
  g_assert_cmpuint (client.n_frames, ==, 15000);
  g_assert_cmpuint (client.total, ==, 6);

  g_ptr_array_set_size (members, 1);
  client_close (&client);
}

/* Two sockets on the same window share one view and one frame. */
static void
test_shared_view (void)
{
  g_autoptr(MunityWsWindows) windows = munity_ws_windows_new ();
  g_autoptr(GHashTable) people = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, person_free);
  Client a = { .users = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref) };
  Client b = { .users = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref) };

  put (windows, people, 1, "Ada");
  client_open (&a, windows, "", 0, 50, 0);
  put (windows, people, 2, "Bob");
  /* b joins the view before its change went out: its snapshot is what a
   * was sent, and the next frame brings both up to date. */
  client_open (&b, windows, "", 0, 50, 0);
  g_assert_true (a.view == b.view);
  g_assert_cmpuint (b.users->len, ==, 1);
  munity_ws_windows_flush (windows, TICK, deliver, NULL);
  assert_client_current (people, &a, TRUE);
  assert_client_current (people, &b, TRUE);
  g_assert_cmpuint (munity_ws_windows_get_n_views (windows), ==, 1);

  client_close (&a);
  g_assert_cmpuint (munity_ws_windows_get_n_views (windows), ==, 1);
  client_close (&b);
  g_assert_cmpuint (munity_ws_windows_get_n_views (windows), ==, 0);
}

/* A seeded random churn with random windows and queries: after every
 * flush every client's window is exactly the one computed from scratch. */
static void
test_random_churn (void)
{
  static const char *first[] = { "Ada", "ada", "Alan", "Émile", "Zoë", "bob", "Bob", "Grace", "Ödön", "Li" };
  static const char *last[] = { "Lovelace", "Turing", "Hopper", "Kay", "Liskov", "Ng", "Ängström" };
  static const char *queries[] = { "", "", "", "a", "LO", "ö", "bob", "e k", "zzz" };
  g_autoptr(MunityWsWindows) windows = munity_ws_windows_new ();
  g_autoptr(GHashTable) people = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, person_free);
  g_autoptr(GRand) rand = g_rand_new_with_seed (20261201);
  Client clients[24];
  gint64 now = SECOND;
  guint frames = 0;

  for (guint round = 0; round < 600; round++)
    {
      gint64 id = g_rand_int_range (rand, 1, 120);
      g_autofree char *name = g_strdup_printf ("%s %s", first[g_rand_int_range (rand, 0, G_N_ELEMENTS (first))],
                                               last[g_rand_int_range (rand, 0, G_N_ELEMENTS (last))]);
      Person *person = g_hash_table_lookup (people, &id);

      if (round == 60)
        for (guint c = 0; c < G_N_ELEMENTS (clients); c++)
          {
            clients[c] = (Client) { .users = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref) };
            client_open (&clients[c], windows, queries[c % G_N_ELEMENTS (queries)],
                         (guint) g_rand_int_range (rand, 0, 40), (guint) g_rand_int_range (rand, 0, 12), now);
          }

      if (person != NULL && g_rand_boolean (rand))
        drop (windows, people, id);
      else if (person != NULL && g_rand_boolean (rand))
        put (windows, people, id, person->name);   /* an update in place */
      else
        put (windows, people, id, name);

      if (round >= 60 && g_rand_int_range (rand, 0, 20) == 0)
        {
          Client *client = &clients[g_rand_int_range (rand, 0, G_N_ELEMENTS (clients))];
          client_open (client, windows, queries[g_rand_int_range (rand, 0, G_N_ELEMENTS (queries))],
                       (guint) g_rand_int_range (rand, 0, 40), (guint) g_rand_int_range (rand, 0, 12), now);
          assert_client_current (people, client, TRUE);
        }

      /* Now and then a flush 100 ms on (rows of windows, their size
       * checked on every frame), now and then one a second on, after
       * which every window is exact. */
      if (round >= 60 && g_rand_int_range (rand, 0, 3) == 0)
        {
          gboolean exact = g_rand_boolean (rand);

          now += exact ? SECOND : TICK;
          munity_ws_windows_flush (windows, now, deliver, NULL);
          if (exact)
            for (guint c = 0; c < G_N_ELEMENTS (clients); c++)
              assert_client_current (people, &clients[c], FALSE);
        }
    }

  now += SECOND;
  g_assert_false (munity_ws_windows_flush (windows, now, deliver, NULL));
  for (guint c = 0; c < G_N_ELEMENTS (clients); c++)
    {
      assert_client_current (people, &clients[c], TRUE);
      frames += clients[c].n_frames;
      client_close (&clients[c]);
    }
  g_assert_cmpuint (frames, >, 0);
  g_assert_cmpuint (munity_ws_windows_get_n_views (windows), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/ws-windows/order-and-query", test_order_and_query);
  g_test_add_func ("/ws-windows/shift-and-total", test_shift_and_total);
  g_test_add_func ("/ws-windows/rate", test_rate);
  g_test_add_func ("/ws-windows/slow-interval-grows", test_slow_interval_grows);
  g_test_add_func ("/ws-windows/shared-view", test_shared_view);
  g_test_add_func ("/ws-windows/random-churn", test_random_churn);

  return g_test_run ();
}
