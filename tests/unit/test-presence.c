/* Unit tests of the presence model: no I/O, a fake clock. */
#include "config.h"

#include <string.h>

#include "munity-presence.h"

typedef struct {
  MunityPresence *presence;
  gint64          now;      /* fake monotonic clock, µs */
  GHashTable     *view;     /* user ids, replayed from joined/left signals */
  GString        *events;   /* "J1 L1 U1 +1 -1 " */
  guint           violations;
  GHashTable     *users;    /* id → MunityUserInfo */
} Fixture;

static gint64
fake_clock (gpointer user_data)
{
  Fixture *f = user_data;
  return f->now;
}

static void
on_joined (MunityPresence *presence, MunityUser *user, Fixture *f)
{
  gint64 id = munity_user_get_id (user);

  if (g_hash_table_contains (f->view, &id))
    f->violations++;
  g_hash_table_add (f->view, g_memdup2 (&id, sizeof id));
  g_string_append_printf (f->events, "J%" G_GINT64_FORMAT " ", id);
}

static void
on_left (MunityPresence *presence, MunityUser *user, Fixture *f)
{
  gint64 id = munity_user_get_id (user);

  if (!g_hash_table_remove (f->view, &id))
    f->violations++;
  if (munity_presence_lookup_user (presence, id) != NULL)
    f->violations++;
  g_string_append_printf (f->events, "L%" G_GINT64_FORMAT " ", id);
}

static void
on_updated (MunityPresence *presence, MunityUser *user, Fixture *f)
{
  g_string_append_printf (f->events, "U%" G_GINT64_FORMAT " ", munity_user_get_id (user));
}

static void
on_socket_added (MunityPresence *presence, MunityUser *user, MunitySocket *socket, Fixture *f)
{
  g_string_append_printf (f->events, "+%" G_GINT64_FORMAT " ", munity_user_get_id (user));
}

static void
on_socket_removed (MunityPresence *presence, MunityUser *user, MunitySocket *socket, Fixture *f)
{
  g_string_append_printf (f->events, "-%" G_GINT64_FORMAT " ", munity_user_get_id (user));
}

static MunityUserInfo *
info_new (gint64 id, const char *first)
{
  g_autofree char *email = g_strdup_printf ("u%" G_GINT64_FORMAT "@example.org", id);

  return munity_user_info_new (id, first, "Tester", email, "", NULL);
}

static MunityUserInfo *
user_info (Fixture *f, gint64 id)
{
  MunityUserInfo *info = g_hash_table_lookup (f->users, &id);

  if (info == NULL)
    {
      g_autofree char *first = g_strdup_printf ("User%" G_GINT64_FORMAT, id);
      info = info_new (id, first);
      g_hash_table_insert (f->users, &info->id, info);
    }
  return info;
}

static void
setup_with_grace (Fixture *f, guint grace_ms)
{
  f->presence = munity_presence_new (grace_ms);
  f->now = 1000000;
  munity_presence_set_clock (f->presence, fake_clock, f, NULL);
  f->view = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  f->events = g_string_new (NULL);
  f->users = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify) munity_user_info_unref);
  g_signal_connect (f->presence, "user-joined", G_CALLBACK (on_joined), f);
  g_signal_connect (f->presence, "user-left", G_CALLBACK (on_left), f);
  g_signal_connect (f->presence, "user-updated", G_CALLBACK (on_updated), f);
  g_signal_connect (f->presence, "socket-added", G_CALLBACK (on_socket_added), f);
  g_signal_connect (f->presence, "socket-removed", G_CALLBACK (on_socket_removed), f);
}

static void
setup (Fixture *f, gconstpointer data)
{
  setup_with_grace (f, 2000);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  g_object_add_weak_pointer (G_OBJECT (f->presence), (gpointer *) &f->presence);
  g_object_unref (f->presence);
  g_assert_null (f->presence);  /* nothing else holds the model */
  g_hash_table_unref (f->view);
  g_string_free (f->events, TRUE);
  g_hash_table_unref (f->users);
}

static MunitySocket *
open_socket (Fixture *f, gint64 id, const char *session)
{
  MunitySocket *socket = munity_socket_new (id, session);
  munity_presence_add_socket (f->presence, socket, user_info (f, id));
  return socket;
}

static void
advance (Fixture *f, gint64 ms)
{
  f->now += ms * 1000;
  munity_presence_expire (f->presence);
}

static void
test_first_socket_joins (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s = open_socket (f, 1, "a");
  MunityUser *user = munity_presence_lookup_user (f->presence, 1);

  g_assert_cmpstr (f->events->str, ==, "J1 +1 ");
  g_assert_nonnull (user);
  g_assert_cmpuint (munity_user_get_n_sockets (user), ==, 1);
  g_assert_cmpuint (munity_presence_get_n_users (f->presence), ==, 1);
  g_assert_cmpuint (munity_presence_get_n_sockets (f->presence), ==, 1);
  g_assert_cmpuint (strlen (munity_socket_get_id (s)), ==, 32);
  g_assert_false (munity_user_is_lingering (user));
}

static void
test_second_tab_silent (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s1 = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) s2 = open_socket (f, 1, "a");

  g_assert_cmpstr (f->events->str, ==, "J1 +1 +1 ");
  g_assert_cmpstr (munity_socket_get_id (s1), !=, munity_socket_get_id (s2));
  g_assert_cmpuint (munity_presence_get_n_users (f->presence), ==, 1);
  g_assert_cmpuint (munity_presence_get_n_sockets (f->presence), ==, 2);
}

static void
test_close_one_of_two_silent (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s1 = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) s2 = open_socket (f, 1, "a");

  munity_presence_remove_socket (f->presence, s1);
  advance (f, 10000);
  g_assert_cmpstr (f->events->str, ==, "J1 +1 +1 -1 ");
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 1));
}

static void
test_last_tab_leaves_after_grace (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s = open_socket (f, 1, "a");
  MunityUser *user = munity_presence_lookup_user (f->presence, 1);
  gint64 since = munity_user_get_online_since (user);

  munity_presence_remove_socket (f->presence, s);
  g_assert_cmpstr (f->events->str, ==, "J1 +1 -1 ");
  /* lingering: still online, with no sockets, same online-since */
  g_assert_true (munity_user_is_lingering (user));
  g_assert_cmpuint (munity_user_get_n_sockets (user), ==, 0);
  g_assert_cmpint (munity_user_get_online_since (user), ==, since);
  advance (f, 1999);
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 1));
  g_assert_cmpstr (f->events->str, ==, "J1 +1 -1 ");
  advance (f, 1);
  g_assert_null (munity_presence_lookup_user (f->presence, 1));
  g_assert_cmpstr (f->events->str, ==, "J1 +1 -1 L1 ");
}

static void
test_new_socket_within_grace (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s1 = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) s2 = NULL;
  gint64 since = munity_user_get_online_since (munity_presence_lookup_user (f->presence, 1));

  munity_presence_remove_socket (f->presence, s1);
  advance (f, 1500);
  s2 = open_socket (f, 1, "a");
  advance (f, 5000);
  /* neither a leave nor a second join */
  g_assert_cmpstr (f->events->str, ==, "J1 +1 -1 +1 ");
  g_assert_cmpint (munity_user_get_online_since (munity_presence_lookup_user (f->presence, 1)), ==, since);
}

static void
test_zero_grace_leaves_at_once (void)
{
  Fixture f = { 0 };
  g_autoptr(MunitySocket) s = NULL;

  setup_with_grace (&f, 0);
  s = open_socket (&f, 7, "a");
  munity_presence_remove_socket (f.presence, s);
  g_assert_cmpstr (f.events->str, ==, "J7 +7 -7 L7 ");
  teardown (&f, NULL);
}

static guint n_close_requests;
static guint last_close_code;

static void
on_close_requested (MunitySocket *socket, guint code, const char *reason, gpointer data)
{
  n_close_requests++;
  last_close_code = code;
}

static void
test_logout_last_session_leaves_at_once (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s1 = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) s2 = open_socket (f, 1, "a");

  n_close_requests = 0;
  g_signal_connect (s1, "close-requested", G_CALLBACK (on_close_requested), NULL);
  g_signal_connect (s2, "close-requested", G_CALLBACK (on_close_requested), NULL);
  g_assert_cmpuint (munity_presence_end_session (f->presence, 1, "a"), ==, 2);
  g_assert_cmpuint (n_close_requests, ==, 2);
  g_assert_cmpuint (last_close_code, ==, MUNITY_CLOSE_LOGGED_OUT);
  g_assert_null (munity_presence_lookup_user (f->presence, 1));
  g_assert_cmpstr (f->events->str, ==, "J1 +1 +1 -1 -1 L1 ");
  /* the transport reporting the close later changes nothing */
  munity_presence_remove_socket (f->presence, s1);
  g_assert_cmpstr (f->events->str, ==, "J1 +1 +1 -1 -1 L1 ");
}

static void
test_logout_other_session_stays (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s1 = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) s2 = open_socket (f, 1, "b");

  g_assert_cmpuint (munity_presence_end_session (f->presence, 1, "a"), ==, 1);
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 1));
  g_assert_cmpuint (munity_user_get_n_sockets (munity_presence_lookup_user (f->presence, 1)), ==, 1);
  advance (f, 10000);
  g_assert_cmpstr (f->events->str, ==, "J1 +1 +1 -1 ");
}

static void
test_logout_while_lingering (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s1 = open_socket (f, 1, "a");

  munity_presence_remove_socket (f->presence, s1);
  g_assert_cmpuint (munity_presence_end_session (f->presence, 1, "a"), ==, 0);
  g_assert_null (munity_presence_lookup_user (f->presence, 1));
  g_assert_cmpstr (f->events->str, ==, "J1 +1 -1 L1 ");
  advance (f, 10000);
  g_assert_cmpstr (f->events->str, ==, "J1 +1 -1 L1 ");
}

static void
test_disconnect_leaves_at_once (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s1 = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) s2 = open_socket (f, 1, "b");
  g_autoptr(MunitySocket) s3 = open_socket (f, 2, "c");

  n_close_requests = 0;
  g_signal_connect (s1, "close-requested", G_CALLBACK (on_close_requested), NULL);
  g_signal_connect (s2, "close-requested", G_CALLBACK (on_close_requested), NULL);
  g_assert_cmpuint (munity_presence_disconnect_user (f->presence, 1, MUNITY_CLOSE_DISCONNECTED), ==, 2);
  g_assert_cmpuint (n_close_requests, ==, 2);
  g_assert_cmpuint (last_close_code, ==, MUNITY_CLOSE_DISCONNECTED);
  g_assert_null (munity_presence_lookup_user (f->presence, 1));
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 2));
  g_assert_cmpuint (munity_presence_disconnect_user (f->presence, 99, MUNITY_CLOSE_DISCONNECTED), ==, 0);
  g_assert_cmpuint (munity_presence_get_n_sockets (f->presence), ==, 1);
}

static void
test_disconnect_lingering (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s1 = open_socket (f, 1, "a");

  munity_presence_remove_socket (f->presence, s1);
  g_assert_cmpuint (munity_presence_disconnect_user (f->presence, 1, MUNITY_CLOSE_DISCONNECTED), ==, 0);
  g_assert_null (munity_presence_lookup_user (f->presence, 1));
  g_assert_cmpstr (f->events->str, ==, "J1 +1 -1 L1 ");
}

static void
test_update (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s1 = open_socket (f, 1, "a");
  g_autoptr(MunityUserInfo) same = info_new (1, "User1");
  g_autoptr(MunityUserInfo) renamed = info_new (1, "Ada");
  g_autoptr(MunityUserInfo) offline = info_new (2, "Bob");

  same->bio = (g_free (same->bio), g_strdup ("only the bio changed"));
  munity_presence_update_user (f->presence, same);
  munity_presence_update_user (f->presence, offline);
  renamed->version = 2;
  munity_presence_update_user (f->presence, renamed);
  g_assert_cmpstr (f->events->str, ==, "J1 +1 U1 ");
  g_assert_cmpstr (munity_user_get_first (munity_presence_lookup_user (f->presence, 1)), ==, "Ada");

  /* an answer that arrives late, about an older version, changes nothing */
  {
    g_autoptr(MunityUserInfo) stale = info_new (1, "Stale");
    stale->version = 1;
    munity_presence_update_user (f->presence, stale);
    g_assert_cmpstr (f->events->str, ==, "J1 +1 U1 ");
    g_assert_cmpstr (munity_user_get_first (munity_presence_lookup_user (f->presence, 1)), ==, "Ada");
  }
}

/* ---- profile changes: at most one announcement per user per interval ---- */

#define INTERVAL_MS MUNITY_PRESENCE_UPDATE_INTERVAL_MS

/* Details of user @id as stored after the change numbered @version. */
static MunityUserInfo *
renamed (gint64 id, const char *first, gint64 version)
{
  MunityUserInfo *info = info_new (id, first);

  info->version = version;
  return info;
}

static void
rename_to (Fixture *f, gint64 id, const char *first, gint64 version)
{
  g_autoptr(MunityUserInfo) info = renamed (id, first, version);

  munity_presence_update_user (f->presence, info);
}

static const char *
first_of (Fixture *f, gint64 id)
{
  return munity_user_get_first (munity_presence_lookup_user (f->presence, id));
}

static guint
count_updates (Fixture *f)
{
  guint n = 0;

  for (const char *p = f->events->str; (p = strstr (p, "U")) != NULL; p++)
    n++;
  return n;
}

/* The first change goes out at once; the ones inside the interval are
 * held, the newest replacing the older, and the newest goes out when the
 * interval ends — not before. */
static void
test_update_coalesced_keeps_last_value (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s = open_socket (f, 1, "a");

  g_string_truncate (f->events, 0);
  rename_to (f, 1, "Ada", 2);
  g_assert_cmpstr (f->events->str, ==, "U1 ");
  g_assert_cmpstr (first_of (f, 1), ==, "Ada");

  advance (f, 100);
  rename_to (f, 1, "Bea", 3);
  advance (f, 100);
  rename_to (f, 1, "Cy", 4);
  /* Held: the model still shows what it announced. */
  g_assert_cmpstr (f->events->str, ==, "U1 ");
  g_assert_cmpstr (first_of (f, 1), ==, "Ada");

  advance (f, INTERVAL_MS - 201);
  g_assert_cmpstr (f->events->str, ==, "U1 ");
  advance (f, 1);
  g_assert_cmpstr (f->events->str, ==, "U1 U1 ");
  g_assert_cmpstr (first_of (f, 1), ==, "Cy");

  /* That announcement started an interval of its own. */
  rename_to (f, 1, "Di", 5);
  g_assert_cmpstr (f->events->str, ==, "U1 U1 ");
  advance (f, INTERVAL_MS);
  g_assert_cmpstr (f->events->str, ==, "U1 U1 U1 ");
  g_assert_cmpstr (first_of (f, 1), ==, "Di");

  /* Quiet for a whole interval: the next change goes out at once. */
  advance (f, INTERVAL_MS);
  rename_to (f, 1, "Ed", 6);
  g_assert_cmpstr (f->events->str, ==, "U1 U1 U1 U1 ");
  g_assert_cmpstr (first_of (f, 1), ==, "Ed");
}

/* A rename every 3 ms for 5 s (the attack of issue 10, row 10, on the fake
 * clock): one announcement per interval, the last one with the last name;
 * another user's change is not held back by it. */
static void
test_update_at_most_one_per_interval (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s1 = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) s2 = open_socket (f, 2, "b");
  gint64 version = 2;
  guint n;

  g_string_truncate (f->events, 0);
  for (guint ms = 0; ms < 5000; ms += 3)
    {
      g_autofree char *name = g_strdup_printf ("Flood%u", ms);

      rename_to (f, 1, name, version++);
      advance (f, 3);
    }
  n = count_updates (f);
  g_test_message ("%" G_GINT64_FORMAT " renames, %u announced", version - 2, n);
  g_assert_cmpuint (n, <=, 5000 / INTERVAL_MS + 1);
  g_assert_cmpuint (n, >=, 5000 / INTERVAL_MS);

  rename_to (f, 2, "Other", 2);
  g_assert_true (g_str_has_suffix (f->events->str, "U2 "));

  advance (f, INTERVAL_MS);
  g_assert_cmpstr (first_of (f, 1), ==, "Flood4998");
  g_assert_cmpuint (count_updates (f), <=, 5000 / INTERVAL_MS + 3);
}

/* A user who leaves takes the held change along; coming back starts
 * afresh. */
static void
test_update_leave_drops_pending (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s = open_socket (f, 1, "a");

  g_string_truncate (f->events, 0);
  rename_to (f, 1, "Ada", 2);
  rename_to (f, 1, "Bea", 3);
  munity_presence_disconnect_user (f->presence, 1, MUNITY_CLOSE_DISCONNECTED);
  advance (f, INTERVAL_MS * 2);
  g_assert_cmpstr (f->events->str, ==, "U1 -1 L1 ");

  {
    g_autoptr(MunitySocket) again = munity_socket_new (1, "a");
    g_autoptr(MunityUserInfo) stored = renamed (1, "Bea", 3);

    munity_presence_add_socket (f->presence, again, stored);
    rename_to (f, 1, "Cy", 4);
    g_assert_cmpstr (f->events->str, ==, "U1 -1 L1 J1 +1 U1 ");
    g_assert_cmpstr (first_of (f, 1), ==, "Cy");
  }
}

/* A lingering user is still online: a held change is announced when due,
 * and dropped if the grace runs out first. */
static void
test_update_lingering (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s1 = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) s2 = open_socket (f, 2, "b");

  g_string_truncate (f->events, 0);
  rename_to (f, 1, "Ada", 2);
  rename_to (f, 2, "Bob", 2);
  munity_presence_remove_socket (f->presence, s1);
  munity_presence_remove_socket (f->presence, s2);
  rename_to (f, 1, "Bea", 3);
  advance (f, INTERVAL_MS);
  g_assert_cmpstr (f->events->str, ==, "U1 U2 -1 -2 U1 ");

  /* Grace 2 s: user 2's change at 1.5 s goes out at once, the next one
   * would be due at 2.5 s and goes with the user at 2 s. */
  advance (f, 500);
  rename_to (f, 2, "Bo", 3);
  rename_to (f, 2, "Bobby", 4);
  g_assert_cmpstr (f->events->str, ==, "U1 U2 -1 -2 U1 U2 ");
  advance (f, 500);
  g_assert_cmpstr (f->events->str, ==, "U1 U2 -1 -2 U1 U2 L1 L2 ");
  advance (f, INTERVAL_MS);
  g_assert_cmpstr (f->events->str, ==, "U1 U2 -1 -2 U1 U2 L1 L2 ");
}

/* Late answers to earlier changes, a bio of its own, a name changed and
 * changed back: held values are compared like announced ones. */
static void
test_update_held_versions (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s = open_socket (f, 1, "a");

  g_string_truncate (f->events, 0);
  rename_to (f, 1, "Ada", 2);
  rename_to (f, 1, "Cy", 4);
  rename_to (f, 1, "Bea", 3);     /* older than what is held */
  advance (f, INTERVAL_MS);
  g_assert_cmpstr (f->events->str, ==, "U1 U1 ");
  g_assert_cmpstr (first_of (f, 1), ==, "Cy");

  /* Only the bio: stored at once, announced never. */
  {
    g_autoptr(MunityUserInfo) bio = renamed (1, "Cy", 5);

    bio->bio = (g_free (bio->bio), g_strdup ("new bio"));
    munity_presence_update_user (f->presence, bio);
    g_assert_cmpstr (munity_user_get_info (munity_presence_lookup_user (f->presence, 1))->bio, ==, "new bio");
  }

  /* Away and back within the interval: nothing to announce. */
  rename_to (f, 1, "Zed", 6);
  rename_to (f, 1, "Cy", 7);
  advance (f, INTERVAL_MS * 2);
  g_assert_cmpstr (f->events->str, ==, "U1 U1 ");
  g_assert_cmpuint (munity_user_get_info (munity_presence_lookup_user (f->presence, 1))->version, ==, 7);
}

/* An interval of 0 announces every change. */
static void
test_update_interval_zero (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s = open_socket (f, 1, "a");

  munity_presence_set_update_interval (f->presence, 0);
  g_string_truncate (f->events, 0);
  rename_to (f, 1, "Ada", 2);
  rename_to (f, 1, "Bea", 3);
  rename_to (f, 1, "Cy", 4);
  g_assert_cmpstr (f->events->str, ==, "U1 U1 U1 ");
}

/* The same stored change told twice (the accounts' signal and, for a
 * while, the HTTP handler too) is one announcement, with or without an
 * interval, and whether it went out at once or was held. */
static void
test_update_told_twice (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s = open_socket (f, 1, "a");
  g_autoptr(MunityUserInfo) ada = renamed (1, "Ada", 2);
  g_autoptr(MunityUserInfo) bea = renamed (1, "Bea", 3);
  g_autoptr(MunityUserInfo) cy = renamed (1, "Cy", 4);

  g_string_truncate (f->events, 0);
  munity_presence_update_user (f->presence, ada);
  munity_presence_update_user (f->presence, ada);
  g_assert_cmpstr (f->events->str, ==, "U1 ");

  /* inside the interval: held once, announced once */
  munity_presence_update_user (f->presence, bea);
  munity_presence_update_user (f->presence, bea);
  advance (f, INTERVAL_MS);
  g_assert_cmpstr (f->events->str, ==, "U1 U1 ");
  g_assert_cmpstr (first_of (f, 1), ==, "Bea");
  advance (f, 10 * INTERVAL_MS);
  g_assert_cmpstr (f->events->str, ==, "U1 U1 ");

  munity_presence_set_update_interval (f->presence, 0);
  munity_presence_update_user (f->presence, cy);
  munity_presence_update_user (f->presence, cy);
  g_assert_cmpstr (f->events->str, ==, "U1 U1 U1 ");
}

/* A logout told twice closes the session's sockets once. */
static void
test_logout_told_twice (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s1 = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) s2 = open_socket (f, 1, "b");

  g_assert_cmpuint (munity_presence_end_session (f->presence, 1, "a"), ==, 1);
  g_assert_cmpuint (munity_presence_end_session (f->presence, 1, "a"), ==, 0);
  g_assert_cmpstr (f->events->str, ==, "J1 +1 +1 -1 ");
  g_assert_cmpuint (munity_presence_end_session (f->presence, 1, "b"), ==, 1);
  g_assert_cmpuint (munity_presence_end_session (f->presence, 1, "b"), ==, 0);
  g_assert_cmpstr (f->events->str, ==, "J1 +1 +1 -1 -1 L1 ");
}

static void
test_lingering_order (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) a = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) b = open_socket (f, 2, "b");
  g_autoptr(MunitySocket) c = open_socket (f, 3, "c");
  g_autoptr(MunitySocket) b2 = NULL;

  munity_presence_remove_socket (f->presence, a);
  advance (f, 500);
  munity_presence_remove_socket (f->presence, b);
  advance (f, 500);
  munity_presence_remove_socket (f->presence, c);
  b2 = open_socket (f, 2, "b");  /* b comes back: out of the queue */
  g_string_truncate (f->events, 0);
  advance (f, 1000);  /* t = 2000 after a */
  g_assert_cmpstr (f->events->str, ==, "L1 ");
  advance (f, 1000);
  g_assert_cmpstr (f->events->str, ==, "L1 L3 ");
}

static void
test_random_property (void)
{
  guint64 seed = g_test_rand_int ();
  GRand *rand;
  Fixture f = { 0 };
  g_autoptr(GPtrArray) open = g_ptr_array_new_with_free_func (g_object_unref);
  const char *sessions[] = { "s1", "s2" };

  if (g_getenv ("MUNITY_TEST_SEED") != NULL)
    seed = g_ascii_strtoull (g_getenv ("MUNITY_TEST_SEED"), NULL, 10);
  g_test_message ("seed %" G_GUINT64_FORMAT " (MUNITY_TEST_SEED=%" G_GUINT64_FORMAT " to replay)", seed, seed);
  g_printerr ("# presence property test seed %" G_GUINT64_FORMAT "\n", seed);
  rand = g_rand_new_with_seed ((guint32) seed);

  setup_with_grace (&f, 300);

  for (int op = 0; op < 20000; op++)
    {
      guint kind = g_rand_int_range (rand, 0, 100);
      gint64 id = g_rand_int_range (rand, 1, 40);

      if (kind < 45 || open->len == 0)
        {
          MunitySocket *s = munity_socket_new (id, sessions[g_rand_int_range (rand, 0, 2)]);
          munity_presence_add_socket (f.presence, s, user_info (&f, id));
          g_ptr_array_add (open, s);
        }
      else if (kind < 85)
        {
          guint i = g_rand_int_range (rand, 0, open->len);
          munity_presence_remove_socket (f.presence, open->pdata[i]);
          g_ptr_array_remove_index_fast (open, i);
        }
      else if (kind < 90)
        munity_presence_disconnect_user (f.presence, id, MUNITY_CLOSE_DISCONNECTED);
      else if (kind < 94)
        munity_presence_end_session (f.presence, id, sessions[g_rand_int_range (rand, 0, 2)]);
      else
        advance (&f, g_rand_int_range (rand, 0, 400));

      /* Sockets the model closed itself are gone from our list too. */
      for (guint i = open->len; i > 0; i--)
        {
          MunitySocket *s = open->pdata[i - 1];
          MunityUser *u = munity_presence_lookup_user (f.presence, munity_socket_get_user_id (s));
          if (u == NULL || !g_ptr_array_find (munity_user_get_sockets (u), s, NULL))
            g_ptr_array_remove_index_fast (open, i - 1);
        }

      /* The replayed stream equals the model, at every step. */
      g_assert_cmpuint (f.violations, ==, 0);
      g_assert_cmpuint (g_hash_table_size (f.view), ==, munity_presence_get_n_users (f.presence));
      {
        GHashTableIter iter;
        gpointer key;
        guint n_sockets = 0;

        g_hash_table_iter_init (&iter, f.view);
        while (g_hash_table_iter_next (&iter, &key, NULL))
          {
            MunityUser *u = munity_presence_lookup_user (f.presence, *(gint64 *) key);
            g_assert_nonnull (u);
            n_sockets += munity_user_get_n_sockets (u);
            g_assert_true (munity_user_get_n_sockets (u) > 0 || munity_user_is_lingering (u));
          }
        g_assert_cmpuint (n_sockets, ==, munity_presence_get_n_sockets (f.presence));
        g_assert_cmpuint (n_sockets, ==, open->len);
      }
    }

  g_rand_free (rand);
  g_ptr_array_set_size (open, 0);
  teardown (&f, NULL);
}

static void
test_real_timer (void)
{
  g_autoptr(MunityPresence) presence = munity_presence_new (50);
  g_autoptr(MunitySocket) s = munity_socket_new (5, "a");
  g_autoptr(MunityUserInfo) info = info_new (5, "Timed");
  gint64 start;

  munity_presence_add_socket (presence, s, info);
  munity_presence_remove_socket (presence, s);
  start = g_get_monotonic_time ();
  while (munity_presence_lookup_user (presence, 5) != NULL &&
         g_get_monotonic_time () - start < 5 * G_USEC_PER_SEC)
    g_main_context_iteration (NULL, TRUE);
  g_assert_null (munity_presence_lookup_user (presence, 5));
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 45 * 1000);
}

static void
count_cb (MunityPresence *presence, MunityUser *user, guint *n)
{
  (*n)++;
}

/* The model's own timer announces a held change (interval 50 ms here),
 * even while a later grace timer is armed. */
static void
test_update_real_timer (void)
{
  g_autoptr(MunityPresence) presence = munity_presence_new (5000);
  g_autoptr(MunitySocket) s = munity_socket_new (5, "a");
  g_autoptr(MunitySocket) t = munity_socket_new (6, "b");
  g_autoptr(MunityUserInfo) info = info_new (5, "Timed");
  g_autoptr(MunityUserInfo) other = info_new (6, "Other");
  g_autoptr(MunityUserInfo) first = renamed (5, "First", 2);
  g_autoptr(MunityUserInfo) second = renamed (5, "Second", 3);
  guint n = 0;
  gint64 start;

  munity_presence_set_update_interval (presence, 50);
  g_signal_connect (presence, "user-updated", G_CALLBACK (count_cb), &n);
  munity_presence_add_socket (presence, s, info);
  munity_presence_add_socket (presence, t, other);
  munity_presence_remove_socket (presence, t);   /* a grace timer, 5 s */

  munity_presence_update_user (presence, first);
  start = g_get_monotonic_time ();
  munity_presence_update_user (presence, second);
  g_assert_cmpuint (n, ==, 1);
  while (n < 2 && g_get_monotonic_time () - start < 3 * G_USEC_PER_SEC)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 45 * 1000);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  g_assert_cmpstr (munity_user_get_first (munity_presence_lookup_user (presence, 5)), ==, "Second");
}

/* ---- cluster: sockets of other nodes ----------------------------------- */

static MunitySocket *
open_remote (Fixture *f, gint64 node, const char *id, gint64 user, const char *session)
{
  MunitySocket *socket = munity_socket_new_remote (node, id, user, session);
  munity_presence_add_socket (f->presence, socket, user_info (f, user));
  return socket;
}

typedef struct {
  guint n_local;
  guint n_remote;
  guint n_ended;
} SocketCounts;

static void
count_removed (MunityPresence *presence, MunityUser *user, MunitySocket *socket, SocketCounts *counts)
{
  if (munity_socket_get_node_id (socket) == 0)
    counts->n_local++;
  else
    counts->n_remote++;
  if (munity_socket_get_ended (socket))
    counts->n_ended++;
}

static void
count_close (MunitySocket *socket, guint code, const char *reason, guint *n)
{
  g_assert_cmpuint (code, ==, MUNITY_CLOSE_LOGGED_OUT);
  (*n)++;
}

static void
test_remote_keeps_id (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) local = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) remote = open_remote (f, 7, "0123456789abcdef0123456789abcdef", 1, "b");

  g_assert_cmpint (munity_socket_get_node_id (local), ==, 0);
  g_assert_cmpint (munity_socket_get_node_id (remote), ==, 7);
  g_assert_cmpstr (munity_socket_get_id (remote), ==, "0123456789abcdef0123456789abcdef");
  g_assert_cmpstr (munity_socket_get_session (remote), ==, "b");
  /* A tab on this node and one on node 7: online once, two sockets. */
  g_assert_cmpstr (f->events->str, ==, "J1 +1 +1 ");
  g_assert_cmpuint (munity_presence_get_n_users (f->presence), ==, 1);
  g_assert_cmpuint (munity_presence_get_n_sockets (f->presence), ==, 2);
}

static void
test_remote_last_socket_in_cluster (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) local = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) remote = open_remote (f, 7, "r1", 1, "b");

  munity_presence_remove_socket (f->presence, local);
  advance (f, 5000);
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 1));
  /* The grace covers the user's last socket anywhere; for one on another
   * node, the time a reconnect elsewhere takes to get here too. */
  munity_presence_remove_socket (f->presence, remote);
  advance (f, 1999 + MUNITY_PRESENCE_REMOTE_GRACE_SLACK_MS);
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 1));
  advance (f, 1);
  g_assert_null (munity_presence_lookup_user (f->presence, 1));
  g_assert_cmpstr (f->events->str, ==, "J1 +1 +1 -1 -1 L1 ");
  g_assert_cmpuint (f->violations, ==, 0);
}

/* Users whose last socket was remote wait longer: one who lingers after a
 * remote socket and one who lingers after a local one, later, each leave
 * at their own deadline, and one who comes back on another node within
 * the slack never leaves. */
static void
test_remote_grace_slack (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) remote = open_remote (f, 7, "r1", 1, "a");
  g_autoptr(MunitySocket) local = open_socket (f, 2, "b");
  g_autoptr(MunitySocket) back = NULL;
  g_autoptr(MunitySocket) remote3 = open_remote (f, 7, "r3", 3, "c");

  g_string_truncate (f->events, 0);
  munity_presence_remove_socket (f->presence, remote);
  munity_presence_remove_socket (f->presence, remote3);
  advance (f, 500);
  munity_presence_remove_socket (f->presence, local);
  advance (f, 1999);
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 2));
  advance (f, 1);
  /* 2500 ms: the local one's grace is over, not the remote ones' (with a
   * slack of 1000 ms, over at 3000 ms) */
  g_assert_null (munity_presence_lookup_user (f->presence, 2));
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 1));
  /* User 3 comes back on node 8 after the grace, within the slack. */
  back = open_remote (f, 8, "r4", 3, "c");
  advance (f, MUNITY_PRESENCE_REMOTE_GRACE_SLACK_MS - 501);
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 1));
  advance (f, 1);
  g_assert_null (munity_presence_lookup_user (f->presence, 1));
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 3));
  g_assert_cmpstr (f->events->str, ==, "-1 -3 -2 L2 +3 L1 ");
  g_assert_cmpuint (f->violations, ==, 0);
}

/* A user lingering elsewhere, learnt at start-up: online here at once,
 * gone when what was left of the grace (and the slack) runs out, in
 * deadline order with the others; a socket before that keeps them. */
static void
test_lingering_learnt (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) remote = open_remote (f, 7, "r1", 1, "a");
  g_autoptr(MunityUserInfo) two = munity_user_info_new (2, "Two", "Elsewhere", "two@example.org", "", NULL);
  g_autoptr(MunityUserInfo) three = munity_user_info_new (3, "Three", "Elsewhere", "three@example.org", "", NULL);
  g_autoptr(MunitySocket) back = NULL;

  g_string_truncate (f->events, 0);
  /* user 1 lingers from now: 2000 + slack */
  munity_presence_remove_socket (f->presence, remote);
  munity_presence_add_lingering_user (f->presence, two, 500);
  munity_presence_add_lingering_user (f->presence, three, 700);
  /* once is enough */
  munity_presence_add_lingering_user (f->presence, two, 900);
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 2));
  g_assert_true (munity_user_is_lingering (munity_presence_lookup_user (f->presence, 2)));
  g_assert_cmpuint (munity_presence_get_n_users (f->presence), ==, 3);
  advance (f, 499 + MUNITY_PRESENCE_REMOTE_GRACE_SLACK_MS);
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 2));
  advance (f, 1);
  g_assert_null (munity_presence_lookup_user (f->presence, 2));
  back = open_remote (f, 8, "r3", 3, "c");
  advance (f, 2000);
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 3));
  g_assert_null (munity_presence_lookup_user (f->presence, 1));
  g_assert_cmpstr (f->events->str, ==, "-1 J2 J3 L2 +3 L1 ");
  g_assert_cmpuint (f->violations, ==, 0);
}

static void
test_remote_node_dies (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) a = open_remote (f, 7, "r1", 1, "a");
  g_autoptr(MunitySocket) b = open_remote (f, 7, "r2", 2, "b");
  g_autoptr(MunitySocket) c = open_remote (f, 8, "r3", 2, "c");
  g_autoptr(MunitySocket) d = open_remote (f, 7, "r4", 3, "d");
  g_autoptr(MunitySocket) local = open_socket (f, 3, "e");
  SocketCounts counts = { 0, };

  g_signal_connect (f->presence, "socket-removed", G_CALLBACK (count_removed), &counts);
  g_string_truncate (f->events, 0);
  g_assert_cmpuint (munity_presence_remove_node_sockets (f->presence, 7), ==, 3);
  /* User 1 had nothing elsewhere: gone at once, no grace; 2 and 3 have a
   * socket on node 8 or here. */
  g_assert_null (munity_presence_lookup_user (f->presence, 1));
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 2));
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 3));
  g_assert_cmpstr (f->events->str, ==, "-1 L1 -2 -3 ");
  g_assert_cmpuint (counts.n_remote, ==, 3);
  g_assert_cmpuint (counts.n_ended, ==, 3);
  g_assert_cmpuint (munity_presence_get_n_sockets (f->presence), ==, 2);
  g_assert_cmpuint (munity_presence_remove_node_sockets (f->presence, 7), ==, 0);
  g_assert_cmpuint (f->violations, ==, 0);
}

static void
test_remote_drop_keeps_lingering_others (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) local = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) remote = open_remote (f, 7, "r1", 1, "b");

  /* Closed here (grace), then the other node's socket is dropped: the
   * user had no socket left, so they leave at once. */
  munity_presence_remove_socket (f->presence, local);
  munity_presence_drop_socket (f->presence, remote);
  g_assert_null (munity_presence_lookup_user (f->presence, 1));
  munity_presence_drop_socket (f->presence, remote);
  g_assert_cmpstr (f->events->str, ==, "J1 +1 +1 -1 -1 L1 ");
}

static void
test_remote_logout_relays (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) local = open_socket (f, 1, "s");
  g_autoptr(MunitySocket) remote = open_remote (f, 7, "r1", 1, "s");
  g_autoptr(MunitySocket) other = open_remote (f, 7, "r2", 1, "t");
  SocketCounts counts = { 0, };
  guint closes = 0;

  g_signal_connect (f->presence, "socket-removed", G_CALLBACK (count_removed), &counts);
  g_signal_connect (local, "close-requested", G_CALLBACK (count_close), &closes);
  g_signal_connect (remote, "close-requested", G_CALLBACK (count_close), &closes);
  /* The remote socket of the session is asked to close too: the cluster
   * relays that to the node that holds it. */
  g_assert_cmpuint (munity_presence_end_session (f->presence, 1, "s"), ==, 2);
  g_assert_cmpuint (closes, ==, 2);
  g_assert_cmpuint (counts.n_local, ==, 1);
  g_assert_cmpuint (counts.n_remote, ==, 1);
  g_assert_cmpuint (counts.n_ended, ==, 2);
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 1));
  g_assert_false (munity_socket_get_ended (other));
}

static void
test_remote_disconnect_counts_cluster (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) local = open_socket (f, 1, "s");
  g_autoptr(MunitySocket) r1 = open_remote (f, 7, "r1", 1, "t");
  g_autoptr(MunitySocket) r2 = open_remote (f, 8, "r2", 1, "u");

  g_assert_cmpuint (munity_presence_disconnect_user (f->presence, 1, MUNITY_CLOSE_DISCONNECTED), ==, 3);
  g_assert_true (munity_socket_get_ended (r1) && munity_socket_get_ended (r2));
  g_assert_null (munity_presence_lookup_user (f->presence, 1));
}

static void
test_end_socket_relayed_close (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) a = open_socket (f, 1, "s");
  g_autoptr(MunitySocket) b = open_socket (f, 1, "t");
  guint closes = 0;

  g_signal_connect (a, "close-requested", G_CALLBACK (count_close), &closes);
  g_signal_connect (b, "close-requested", G_CALLBACK (count_close), &closes);
  munity_presence_end_socket (f->presence, a, MUNITY_CLOSE_LOGGED_OUT, "logged out");
  g_assert_nonnull (munity_presence_lookup_user (f->presence, 1));
  munity_presence_end_socket (f->presence, b, MUNITY_CLOSE_LOGGED_OUT, "logged out");
  /* Its last socket ended, not closed: no grace. */
  g_assert_null (munity_presence_lookup_user (f->presence, 1));
  g_assert_cmpuint (closes, ==, 2);
  g_assert_cmpstr (f->events->str, ==, "J1 +1 +1 -1 -1 L1 ");
}

/* ---- status: idle when every socket is idle ------------------------------ */

static const char *
status_of (Fixture *f, gint64 id)
{
  return munity_user_get_status (munity_presence_lookup_user (f->presence, id));
}

static void
test_status_starts_online (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) s = open_socket (f, 1, "a");

  g_assert_false (munity_socket_get_idle (s));
  g_assert_cmpstr (status_of (f, 1), ==, "online");
  g_assert_false (munity_user_is_idle (munity_presence_lookup_user (f->presence, 1)));
}

static void
test_status_one_tab_idle_stays_online (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) a = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) b = open_socket (f, 1, "a");

  g_string_truncate (f->events, 0);
  munity_presence_set_socket_idle (f->presence, a, TRUE);
  g_assert_true (munity_socket_get_idle (a));
  g_assert_cmpstr (status_of (f, 1), ==, "online");
  g_assert_cmpstr (f->events->str, ==, "");

  /* Both idle: one announcement. */
  munity_presence_set_socket_idle (f->presence, b, TRUE);
  g_assert_cmpstr (status_of (f, 1), ==, "idle");
  g_assert_cmpstr (f->events->str, ==, "U1 ");
}

static void
test_status_repeated_announces_nothing (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) a = open_socket (f, 1, "a");

  g_string_truncate (f->events, 0);
  munity_presence_set_socket_idle (f->presence, a, TRUE);
  munity_presence_set_socket_idle (f->presence, a, TRUE);
  advance (f, INTERVAL_MS * 2);
  munity_presence_set_socket_idle (f->presence, a, TRUE);
  g_assert_cmpstr (f->events->str, ==, "U1 ");
  munity_presence_set_socket_idle (f->presence, a, FALSE);
  munity_presence_set_socket_idle (f->presence, a, FALSE);
  g_assert_cmpstr (status_of (f, 1), ==, "online");
  g_assert_cmpstr (f->events->str, ==, "U1 U1 ");
}

/* A status change goes through the interval of profile changes: a flip
 * and back inside it is never announced, and a rename held meanwhile is
 * not lost. */
static void
test_status_coalesced (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) a = open_socket (f, 1, "a");

  g_string_truncate (f->events, 0);
  munity_presence_set_socket_idle (f->presence, a, TRUE);   /* at once */
  g_assert_cmpstr (f->events->str, ==, "U1 ");
  advance (f, 100);
  munity_presence_set_socket_idle (f->presence, a, FALSE);  /* held */
  rename_to (f, 1, "Ada", 2);                               /* held too */
  munity_presence_set_socket_idle (f->presence, a, TRUE);   /* back: still held */
  g_assert_cmpstr (status_of (f, 1), ==, "idle");
  g_assert_cmpstr (first_of (f, 1), ==, "User1");
  g_assert_cmpstr (f->events->str, ==, "U1 ");
  advance (f, INTERVAL_MS);
  /* The rename goes out with the status as it is now: idle. */
  g_assert_cmpstr (f->events->str, ==, "U1 U1 ");
  g_assert_cmpstr (first_of (f, 1), ==, "Ada");
  g_assert_cmpstr (status_of (f, 1), ==, "idle");

  /* A flip and back inside the interval: nothing at its end. */
  advance (f, 10);
  munity_presence_set_socket_idle (f->presence, a, FALSE);
  munity_presence_set_socket_idle (f->presence, a, TRUE);
  advance (f, INTERVAL_MS);
  g_assert_cmpstr (f->events->str, ==, "U1 U1 ");
  g_assert_cmpuint (count_updates (f), ==, 2);
}

static void
test_status_new_tab_makes_online (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) a = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) b = NULL;

  munity_presence_set_socket_idle (f->presence, a, TRUE);
  advance (f, INTERVAL_MS);
  g_string_truncate (f->events, 0);
  b = open_socket (f, 1, "a");
  g_assert_cmpstr (status_of (f, 1), ==, "online");
  g_assert_cmpstr (f->events->str, ==, "+1 U1 ");

  /* The online tab closes: the user is idle again. */
  advance (f, INTERVAL_MS);
  munity_presence_remove_socket (f->presence, b);
  g_assert_cmpstr (status_of (f, 1), ==, "idle");
  g_assert_cmpstr (f->events->str, ==, "+1 U1 -1 U1 ");
}

static void
test_status_lingering_keeps (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) a = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) b = NULL;

  munity_presence_set_socket_idle (f->presence, a, TRUE);
  advance (f, INTERVAL_MS);
  munity_presence_remove_socket (f->presence, a);
  g_assert_cmpstr (status_of (f, 1), ==, "idle");
  /* A reload within the grace: online again, announced. */
  g_string_truncate (f->events, 0);
  b = open_socket (f, 1, "a");
  g_assert_cmpstr (status_of (f, 1), ==, "online");
  g_assert_cmpstr (f->events->str, ==, "+1 U1 ");
}

static void
test_status_remote_socket_joins_idle (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) remote = munity_socket_new_remote (7, "r1", 1, "b");
  g_autoptr(MunitySocket) local = NULL;

  /* Not in the model yet (a resync): the flag is kept, the user joins idle. */
  munity_presence_set_socket_idle (f->presence, remote, TRUE);
  munity_presence_add_socket (f->presence, remote, user_info (f, 1));
  g_assert_cmpstr (status_of (f, 1), ==, "idle");
  g_assert_cmpstr (f->events->str, ==, "J1 +1 ");
  local = open_socket (f, 1, "a");
  g_assert_cmpstr (status_of (f, 1), ==, "online");
  g_assert_cmpstr (f->events->str, ==, "J1 +1 +1 U1 ");
}

static void
count_changed (MunityPresence *presence, MunityUser *user, MunitySocket *socket, guint *n)
{
  (*n)++;
}

static void
test_status_socket_changed_signal (Fixture *f, gconstpointer data)
{
  g_autoptr(MunitySocket) a = open_socket (f, 1, "a");
  g_autoptr(MunitySocket) b = open_socket (f, 1, "a");
  guint n = 0;

  g_signal_connect (f->presence, "socket-changed", G_CALLBACK (count_changed), &n);
  munity_presence_set_socket_idle (f->presence, a, TRUE);
  munity_presence_set_socket_idle (f->presence, a, TRUE);
  munity_presence_set_socket_idle (f->presence, b, TRUE);
  /* Once per change of a socket, whether or not the user's changes. */
  g_assert_cmpuint (n, ==, 2);
}

/* ---- who records a leave (last seen) ------------------------------------- */

typedef struct {
  guint  n_left;
  gboolean left_here;
} LeftHere;

static void
record_left_here (MunityPresence *presence, MunityUser *user, LeftHere *out)
{
  out->n_left++;
  out->left_here = munity_user_left_here (user);
}

static void
test_left_here (Fixture *f, gconstpointer data)
{
  LeftHere out = { 0, };

  g_signal_connect (f->presence, "user-left", G_CALLBACK (record_left_here), &out);
  {
    /* Our socket was the last: ours to record. */
    g_autoptr(MunitySocket) remote = open_remote (f, 7, "r1", 1, "b");
    g_autoptr(MunitySocket) local = open_socket (f, 1, "a");

    munity_presence_remove_socket (f->presence, remote);
    munity_presence_remove_socket (f->presence, local);
    advance (f, 2000);
    g_assert_cmpuint (out.n_left, ==, 1);
    g_assert_true (out.left_here);
  }
  {
    /* The other node's socket was the last: that node records it. */
    g_autoptr(MunitySocket) local = open_socket (f, 2, "a");
    g_autoptr(MunitySocket) remote = open_remote (f, 7, "r2", 2, "b");

    munity_presence_remove_socket (f->presence, local);
    munity_presence_remove_socket (f->presence, remote);
    advance (f, 2000 + MUNITY_PRESENCE_REMOTE_GRACE_SLACK_MS);
    g_assert_cmpuint (out.n_left, ==, 2);
    g_assert_false (out.left_here);
  }
  {
    /* A dead node's users are recorded by the reaper, not by every node. */
    g_autoptr(MunitySocket) remote = open_remote (f, 7, "r3", 3, "b");

    munity_presence_remove_node_sockets (f->presence, 7);
    g_assert_cmpuint (out.n_left, ==, 3);
    g_assert_false (out.left_here);
  }
  {
    /* Disconnected here, with a socket elsewhere: ours. */
    g_autoptr(MunitySocket) remote = open_remote (f, 7, "r4", 4, "b");

    munity_presence_disconnect_user (f->presence, 4, MUNITY_CLOSE_DISCONNECTED);
    g_assert_cmpuint (out.n_left, ==, 4);
    g_assert_true (out.left_here);
  }
  {
    /* Our socket closed because another node logged the user out: theirs. */
    g_autoptr(MunitySocket) local = open_socket (f, 5, "a");

    munity_presence_end_socket (f->presence, local, MUNITY_CLOSE_LOGGED_OUT, "logged out");
    g_assert_cmpuint (out.n_left, ==, 5);
    g_assert_false (out.left_here);
  }
  {
    /* Logged out here: ours. */
    g_autoptr(MunitySocket) remote = open_remote (f, 7, "r6", 6, "s");

    munity_presence_end_session (f->presence, 6, "s");
    g_assert_cmpuint (out.n_left, ==, 6);
    g_assert_true (out.left_here);
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, setup, func, teardown)
  ADD ("/presence/first-socket-joins", test_first_socket_joins);
  ADD ("/presence/multi-tab/second-tab-silent", test_second_tab_silent);
  ADD ("/presence/multi-tab/close-one-of-two-silent", test_close_one_of_two_silent);
  ADD ("/presence/multi-tab/last-tab-leaves-after-grace", test_last_tab_leaves_after_grace);
  ADD ("/presence/grace/new-socket-cancels", test_new_socket_within_grace);
  ADD ("/presence/grace/lingering-order", test_lingering_order);
  ADD ("/presence/logout/last-session-leaves-at-once", test_logout_last_session_leaves_at_once);
  ADD ("/presence/logout/other-session-stays", test_logout_other_session_stays);
  ADD ("/presence/logout/while-lingering", test_logout_while_lingering);
  ADD ("/presence/disconnect/leaves-at-once", test_disconnect_leaves_at_once);
  ADD ("/presence/disconnect/lingering", test_disconnect_lingering);
  ADD ("/presence/update", test_update);
  ADD ("/presence/update/coalesced-keeps-last-value", test_update_coalesced_keeps_last_value);
  ADD ("/presence/update/at-most-one-per-interval", test_update_at_most_one_per_interval);
  ADD ("/presence/update/leave-drops-pending", test_update_leave_drops_pending);
  ADD ("/presence/update/lingering", test_update_lingering);
  ADD ("/presence/update/held-versions", test_update_held_versions);
  ADD ("/presence/update/interval-zero", test_update_interval_zero);
  ADD ("/presence/update/told-twice", test_update_told_twice);
  ADD ("/presence/logout/told-twice", test_logout_told_twice);
  ADD ("/presence/cluster/remote-keeps-id", test_remote_keeps_id);
  ADD ("/presence/cluster/grace-covers-last-socket-anywhere", test_remote_last_socket_in_cluster);
  ADD ("/presence/cluster/remote-grace-slack", test_remote_grace_slack);
  ADD ("/presence/cluster/lingering-learnt-at-start", test_lingering_learnt);
  ADD ("/presence/cluster/node-dies", test_remote_node_dies);
  ADD ("/presence/cluster/drop-after-local-close", test_remote_drop_keeps_lingering_others);
  ADD ("/presence/cluster/logout-relays", test_remote_logout_relays);
  ADD ("/presence/cluster/disconnect-counts-cluster", test_remote_disconnect_counts_cluster);
  ADD ("/presence/cluster/end-socket", test_end_socket_relayed_close);
  ADD ("/presence/status/starts-online", test_status_starts_online);
  ADD ("/presence/status/one-tab-idle-stays-online", test_status_one_tab_idle_stays_online);
  ADD ("/presence/status/repeated-announces-nothing", test_status_repeated_announces_nothing);
  ADD ("/presence/status/coalesced", test_status_coalesced);
  ADD ("/presence/status/new-tab-makes-online", test_status_new_tab_makes_online);
  ADD ("/presence/status/lingering-keeps", test_status_lingering_keeps);
  ADD ("/presence/status/remote-socket-joins-idle", test_status_remote_socket_joins_idle);
  ADD ("/presence/status/socket-changed-signal", test_status_socket_changed_signal);
  ADD ("/presence/last-seen/left-here", test_left_here);
#undef ADD
  g_test_add_func ("/presence/grace/zero", test_zero_grace_leaves_at_once);
  g_test_add_func ("/presence/grace/real-timer", test_real_timer);
  g_test_add_func ("/presence/update/real-timer", test_update_real_timer);
  g_test_add_func ("/presence/random-property", test_random_property);

  return g_test_run ();
}
