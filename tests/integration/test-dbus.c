/* D-Bus view of presence (doc/protocol.md §4): a MunityPresence and a
 * MunityDbusService in this process on a private bus, looked at from a
 * second connection the way busctl or a desktop would see it.
 *
 * Everything on the client side is asynchronous: a synchronous call or
 * object-manager constructor would wait for a service that lives on this
 * very thread (doc/websocket-design.md). */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <sodium.h>

#include "munity-daemon.h"
#include "munity-dbus.h"
#include "munity-error.h"
#include "munity-presence.h"
#include "munity-test-model.h"

#define TIMEOUT_S 10

typedef struct {
  GTestDBus         *bus;
  MunityTestModel    model;         /* presence, fake clock, users, closes */
  MunityDbusService *service;
  GDBusConnection   *client;        /* private connection of "the desktop" */
  char              *service_name;  /* unique name of the service */
  guint              subscription;
  GPtrArray         *events;        /* of char*, signals as seen by the client */
  gint64             added_since;   /* OnlineSince of the last InterfacesAdded */
} Fixture;

/* ---- helpers ------------------------------------------------------------ */

static GVariant *
call_full (Fixture     *f,
           const char  *destination,
           const char  *interface,
           const char  *method,
           GVariant    *params,
           const char  *reply_type,
           GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  g_dbus_connection_call (f->client, destination, MUNITY_DBUS_PATH, interface, method, params,
                          reply_type != NULL ? G_VARIANT_TYPE (reply_type) : NULL,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, munity_test_store_result_cb, &result);
  munity_test_wait_for_pointer ((gpointer *) &result, TIMEOUT_S);
  return g_dbus_connection_call_finish (f->client, result, error);
}

static GVariant *
call (Fixture    *f,
      const char *method,
      GVariant   *params,
      const char *reply_type)
{
  g_autoptr(GError) error = NULL;
  GVariant *reply = call_full (f, MUNITY_DBUS_NAME, "org.munity.Presence1", method, params,
                               reply_type, &error);

  g_assert_no_error (error);
  return reply;
}

/* Everything the service did so far has reached the client: the service
 * emits pending PropertiesChanged from idle callbacks that were queued
 * before this call arrived, and the bus keeps the order of its messages. */
static void
barrier (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  /* By unique name: the well-known name may be someone else's for a while. */
  reply = call_full (f, f->service_name != NULL ? f->service_name : MUNITY_DBUS_NAME,
                     "org.munity.Presence1", "ListOnlineUsers", NULL, "(a(tssux))", &error);
  g_assert_no_error (error);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static char *
short_path (const char *path)
{
  if (g_str_equal (path, MUNITY_DBUS_PATH))
    return g_strdup ("/");
  if (g_str_has_prefix (path, MUNITY_DBUS_PATH "/"))
    return g_strdup (path + strlen (MUNITY_DBUS_PATH "/"));
  return g_strdup (path);
}

static gint
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char **) a, *(const char **) b);
}

/* "{A=1, B='x'}" with the keys sorted; OnlineSince is left out (it is a
 * timestamp) and kept in f->added_since. */
static char *
format_props (Fixture  *f,
              GVariant *dict)
{
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) out = g_string_new ("{");
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, dict);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      if (g_str_equal (key, "OnlineSince"))
        f->added_since = g_variant_get_int64 (value);
      else
        {
          g_autofree char *printed = g_variant_print (value, FALSE);
          g_ptr_array_add (items, g_strdup_printf ("%s=%s", key, printed));
        }
      g_variant_unref (value);
    }
  g_ptr_array_sort (items, compare_strings);
  for (guint i = 0; i < items->len; i++)
    g_string_append_printf (out, "%s%s", i > 0 ? ", " : "", (char *) items->pdata[i]);
  g_string_append_c (out, '}');
  return g_strdup (out->str);
}

static void
on_signal (GDBusConnection *connection,
           const char      *sender,
           const char      *path,
           const char      *interface,
           const char      *member,
           GVariant        *params,
           gpointer         user_data)
{
  Fixture *f = user_data;
  g_autofree char *where = short_path (path);
  char *event = NULL;

  if (g_str_equal (member, "InterfacesAdded"))
    {
      const char *object;
      g_autoptr(GVariant) ifaces = NULL;
      g_autoptr(GVariant) props = NULL;
      g_autofree char *object_short = NULL;
      g_autofree char *printed = NULL;

      g_variant_get (params, "(&o@a{sa{sv}})", &object, &ifaces);
      g_assert_cmpuint (g_variant_n_children (ifaces), ==, 1);
      props = g_variant_lookup_value (ifaces, "org.munity.User1", G_VARIANT_TYPE ("a{sv}"));
      g_assert_nonnull (props);
      object_short = short_path (object);
      printed = format_props (f, props);
      event = g_strdup_printf ("added %s %s", object_short, printed);
    }
  else if (g_str_equal (member, "InterfacesRemoved"))
    {
      const char *object;
      g_autofree const char **ifaces = NULL;
      g_autofree char *object_short = NULL;
      g_autofree char *joined = NULL;

      g_variant_get (params, "(&o^a&s)", &object, &ifaces);
      object_short = short_path (object);
      joined = g_strjoinv (",", (char **) ifaces);
      event = g_strdup_printf ("removed %s %s", object_short, joined);
    }
  else if (g_str_equal (member, "PropertiesChanged"))
    {
      const char *iface;
      g_autoptr(GVariant) changed = NULL;
      g_autofree const char **invalidated = NULL;
      g_autofree char *printed = NULL;

      g_variant_get (params, "(&s@a{sv}^a&s)", &iface, &changed, &invalidated);
      g_assert_cmpuint (g_strv_length ((char **) invalidated), ==, 0);
      printed = format_props (f, changed);
      event = g_strdup_printf ("changed %s %s", where, printed);
    }
  else if (g_str_equal (member, "UserJoined"))
    {
      guint64 id;
      const char *name, *image_url;

      g_assert_cmpstr (path, ==, MUNITY_DBUS_PATH);
      g_assert_cmpstr (interface, ==, "org.munity.Presence1");
      g_variant_get (params, "(t&s&s)", &id, &name, &image_url);
      event = g_strdup_printf ("UserJoined %" G_GUINT64_FORMAT " '%s' '%s'", id, name, image_url);
    }
  else if (g_str_equal (member, "UserLeft"))
    {
      guint64 id;

      g_assert_cmpstr (path, ==, MUNITY_DBUS_PATH);
      g_variant_get (params, "(t)", &id);
      event = g_strdup_printf ("UserLeft %" G_GUINT64_FORMAT, id);
    }
  else
    event = g_strdup_printf ("other %s.%s", interface, member);

  g_ptr_array_add (f->events, event);
}

/* The events since the last call, one per line. */
static char *
take_events (Fixture *f)
{
  g_autoptr(GString) out = g_string_new (NULL);

  barrier (f);
  for (guint i = 0; i < f->events->len; i++)
    g_string_append_printf (out, "%s\n", (char *) f->events->pdata[i]);
  g_ptr_array_set_size (f->events, 0);
  return g_strdup (out->str);
}

static guint
count_events (Fixture    *f,
              const char *prefix)
{
  guint n = 0;

  for (guint i = 0; i < f->events->len; i++)
    if (g_str_has_prefix (f->events->pdata[i], prefix))
      n++;
  return n;
}

static GDBusConnection *
new_connection (const char *address)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *connection;

  /* Only the bus daemon answers during set-up: synchronous is safe here. */
  connection = g_dbus_connection_new_for_address_sync (address,
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                       G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, &error);
  g_assert_no_error (error);
  return connection;
}

static void
close_connection (GDBusConnection **connection)
{
  if (*connection == NULL)
    return;
  if (!g_dbus_connection_is_closed (*connection))
    g_dbus_connection_close_sync (*connection, NULL, NULL);
  g_clear_object (connection);
}

static void
subscribe (Fixture *f)
{
  g_free (f->service_name);
  f->service_name = g_strdup (g_dbus_connection_get_unique_name (munity_dbus_service_get_connection (f->service)));
  f->subscription = g_dbus_connection_signal_subscribe (f->client, f->service_name, NULL, NULL, NULL, NULL,
                                                        G_DBUS_SIGNAL_FLAGS_NONE, on_signal, f, NULL);
  /* The match rule is in place once a later call came back. */
  barrier (f);
  g_ptr_array_set_size (f->events, 0);
}

/* ---- fixture ------------------------------------------------------------ */

static void
setup_bare (Fixture       *f,
            gconstpointer  data)
{
  f->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (f->bus);

  munity_test_model_init (&f->model, GPOINTER_TO_UINT (data));
  f->events = g_ptr_array_new_with_free_func (g_free);
  f->client = new_connection (g_test_dbus_get_bus_address (f->bus));
}

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  setup_bare (f, data);

  f->service = munity_dbus_service_new (f->model.presence, MUNITY_BUS_SESSION, FALSE);
  munity_daemon_connect_dbus_view (f->model.presence, f->service);
  munity_dbus_service_start (f->service);
  munity_test_wait_name_owned (f->service, TRUE, TIMEOUT_S);
  subscribe (f);
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  if (f->subscription != 0)
    g_dbus_connection_signal_unsubscribe (f->client, f->subscription);
  munity_test_free_service (&f->service);
  close_connection (&f->client);

  munity_test_model_clear (&f->model);

  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_test_dbus_down (f->bus);
  g_clear_object (&f->bus);

  g_ptr_array_unref (f->events);
  g_free (f->service_name);
}

/* ---- tests ---------------------------------------------------------------- */

static void
test_properties (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) props = NULL;
  const char *version = NULL;
  guint32 online = 99, sockets = 99;

  reply = call_full (f, MUNITY_DBUS_NAME, "org.freedesktop.DBus.Properties", "GetAll",
                     g_variant_new ("(s)", "org.munity.Presence1"), "(a{sv})", &error);
  g_assert_no_error (error);
  props = g_variant_get_child_value (reply, 0);
  g_assert_true (g_variant_lookup (props, "Version", "&s", &version));
  g_assert_cmpstr (version, ==, PACKAGE_VERSION);
  g_assert_true (g_variant_lookup (props, "OnlineCount", "u", &online));
  g_assert_true (g_variant_lookup (props, "SocketCount", "u", &sockets));
  g_assert_cmpuint (online, ==, 0);
  g_assert_cmpuint (sockets, ==, 0);
  g_clear_pointer (&props, g_variant_unref);
  g_clear_pointer (&reply, g_variant_unref);

  munity_test_model_open_socket (&f->model, 1);
  munity_test_model_open_socket (&f->model, 1);
  munity_test_model_open_socket (&f->model, 2);

  reply = call_full (f, MUNITY_DBUS_NAME, "org.freedesktop.DBus.Properties", "Get",
                     g_variant_new ("(ss)", "org.munity.Presence1", "SocketCount"), "(v)", &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &props);
  g_assert_cmpuint (g_variant_get_uint32 (props), ==, 3);
  g_clear_pointer (&props, g_variant_unref);
  g_clear_pointer (&reply, g_variant_unref);

  reply = call_full (f, MUNITY_DBUS_NAME, "org.freedesktop.DBus.Properties", "Get",
                     g_variant_new ("(ss)", "org.munity.Presence1", "OnlineCount"), "(v)", &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &props);
  g_assert_cmpuint (g_variant_get_uint32 (props), ==, 2);
}

static void
test_properties_read_only (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  reply = call_full (f, MUNITY_DBUS_NAME, "org.freedesktop.DBus.Properties", "Set",
                     g_variant_new ("(ssv)", "org.munity.Presence1", "OnlineCount", g_variant_new_uint32 (7)),
                     NULL, &error);
  g_assert_null (reply);
  g_assert_nonnull (error);
  g_assert_cmpuint (munity_presence_get_n_users (f->model.presence), ==, 0);
}

static void
proxy_ready_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  MunityDBusPresence1 **out = user_data;
  g_autoptr(GError) error = NULL;

  *out = munity_dbus_presence1_proxy_new_finish (result, &error);
  g_assert_no_error (error);
}

static void
on_proxy_user_joined (MunityDBusPresence1 *proxy,
                      guint64              id,
                      const char          *name,
                      const char          *image_url,
                      GString             *log)
{
  g_string_append_printf (log, "joined %" G_GUINT64_FORMAT " %s [%s]; ", id, name, image_url);
}

static void
on_proxy_user_left (MunityDBusPresence1 *proxy,
                    guint64              id,
                    GString             *log)
{
  g_string_append_printf (log, "left %" G_GUINT64_FORMAT "; ", id);
}

/* The generated client: cached properties follow PropertiesChanged, the
 * signals arrive with their arguments. */
static void
test_generated_proxy (Fixture       *f,
                      gconstpointer  data)
{
  MunityDBusPresence1 *proxy = NULL;
  g_autoptr(GString) log = g_string_new (NULL);
  MunitySocket *s1;

  munity_dbus_presence1_proxy_new (f->client, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                   MUNITY_DBUS_NAME, MUNITY_DBUS_PATH, NULL, proxy_ready_cb, &proxy);
  munity_test_wait_for_pointer ((gpointer *) &proxy, TIMEOUT_S);
  g_signal_connect (proxy, "user-joined", G_CALLBACK (on_proxy_user_joined), log);
  g_signal_connect (proxy, "user-left", G_CALLBACK (on_proxy_user_left), log);
  g_assert_cmpstr (munity_dbus_presence1_get_version (proxy), ==, PACKAGE_VERSION);
  g_assert_cmpuint (munity_dbus_presence1_get_online_count (proxy), ==, 0);
  /* the proxy's match rules are in place after a round trip */
  barrier (f);

  munity_test_model_user_info (&f->model, 42, "Ada", "Lovelace", "/avatars/42-3f9a.webp");
  s1 = munity_test_model_open_socket (&f->model, 42);
  munity_test_model_open_socket (&f->model, 42);
  barrier (f);
  g_assert_cmpuint (munity_dbus_presence1_get_online_count (proxy), ==, 1);
  g_assert_cmpuint (munity_dbus_presence1_get_socket_count (proxy), ==, 2);
  g_assert_cmpstr (log->str, ==, "joined 42 Ada Lovelace [/avatars/42-3f9a.webp]; ");

  munity_test_model_close_socket (&f->model, s1);
  munity_presence_disconnect_user (f->model.presence, 42, MUNITY_CLOSE_DISCONNECTED);
  barrier (f);
  g_assert_cmpuint (munity_dbus_presence1_get_online_count (proxy), ==, 0);
  g_assert_cmpuint (munity_dbus_presence1_get_socket_count (proxy), ==, 0);
  g_assert_cmpstr (log->str, ==, "joined 42 Ada Lovelace [/avatars/42-3f9a.webp]; left 42; ");

  g_object_unref (proxy);
}

/* A service the daemon has not given a cluster (only these tests) lists
 * no node; munityd always gives it one (test-cluster, test-munityctl). */
static void
test_list_nodes_without_cluster (Fixture       *f,
                                 gconstpointer  data)
{
  g_autoptr(GVariant) reply = call (f, "ListNodes", NULL, "(a(suxb))");
  g_autoptr(GVariant) nodes = g_variant_get_child_value (reply, 0);

  g_assert_cmpuint (g_variant_n_children (nodes), ==, 0);
}

static void
test_list_online_users (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) users = NULL;
  MunitySocket *lingering;
  guint64 id;
  const char *name, *image_url;
  guint32 sockets;
  gint64 since;

  reply = call (f, "ListOnlineUsers", NULL, "(a(tssux))");
  users = g_variant_get_child_value (reply, 0);
  g_assert_cmpuint (g_variant_n_children (users), ==, 0);
  g_clear_pointer (&users, g_variant_unref);
  g_clear_pointer (&reply, g_variant_unref);

  munity_test_model_user_info (&f->model, 7, "Ada", "Lovelace", NULL);
  munity_test_model_user_info (&f->model, 3, "Grace", "Hopper", "/avatars/3-abcd.png");
  munity_test_model_user_info (&f->model, 9, "Linus", "Lingering", NULL);
  munity_test_model_open_socket (&f->model, 7);
  munity_test_model_open_socket (&f->model, 3);
  munity_test_model_open_socket (&f->model, 3);
  lingering = munity_test_model_open_socket (&f->model, 9);
  munity_test_model_close_socket (&f->model, lingering);  /* grace 2000 ms: still online, 0 sockets */

  reply = call (f, "ListOnlineUsers", NULL, "(a(tssux))");
  users = g_variant_get_child_value (reply, 0);
  g_assert_cmpuint (g_variant_n_children (users), ==, 3);

  /* in the order they came online */
  g_variant_get_child (users, 0, "(t&s&sux)", &id, &name, &image_url, &sockets, &since);
  g_assert_cmpuint (id, ==, 7);
  g_assert_cmpstr (name, ==, "Ada Lovelace");
  g_assert_cmpstr (image_url, ==, "");
  g_assert_cmpuint (sockets, ==, 1);
  g_assert_cmpint (since, ==, munity_user_get_online_since (munity_presence_lookup_user (f->model.presence, 7)));
  /* real time, µs since the epoch */
  g_assert_cmpint (ABS (since - g_get_real_time ()), <, 60 * G_USEC_PER_SEC);

  g_variant_get_child (users, 1, "(t&s&sux)", &id, &name, &image_url, &sockets, &since);
  g_assert_cmpuint (id, ==, 3);
  g_assert_cmpstr (name, ==, "Grace Hopper");
  g_assert_cmpstr (image_url, ==, "/avatars/3-abcd.png");
  g_assert_cmpuint (sockets, ==, 2);

  g_variant_get_child (users, 2, "(t&s&sux)", &id, &name, &image_url, &sockets, &since);
  g_assert_cmpuint (id, ==, 9);
  g_assert_cmpstr (name, ==, "Linus Lingering");
  g_assert_cmpuint (sockets, ==, 0);
}

static void
test_get_user (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *remote = NULL;
  const char *path;
  MunitySocket *s;

  reply = call_full (f, MUNITY_DBUS_NAME, "org.munity.Presence1", "GetUser",
                     g_variant_new ("(t)", (guint64) 5), "(o)", &error);
  g_assert_null (reply);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "org.munity.Presence1.Error.NotOnline");
  /* registered: the client gets the MunityError back */
  g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_NOT_ONLINE);
  g_clear_error (&error);
  g_clear_pointer (&remote, g_free);

  s = munity_test_model_open_socket (&f->model, 5);
  reply = call (f, "GetUser", g_variant_new ("(t)", (guint64) 5), "(o)");
  g_variant_get (reply, "(&o)", &path);
  g_assert_cmpstr (path, ==, "/org/munity/Presence1/users/5");
  g_clear_pointer (&reply, g_variant_unref);

  /* lingering is online */
  munity_test_model_close_socket (&f->model, s);
  reply = call (f, "GetUser", g_variant_new ("(t)", (guint64) 5), "(o)");
  g_variant_get (reply, "(&o)", &path);
  g_assert_cmpstr (path, ==, "/org/munity/Presence1/users/5");
  g_clear_pointer (&reply, g_variant_unref);

  munity_test_model_advance (&f->model, 2000);
  reply = call_full (f, MUNITY_DBUS_NAME, "org.munity.Presence1", "GetUser",
                     g_variant_new ("(t)", (guint64) 5), "(o)", &error);
  g_assert_null (reply);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "org.munity.Presence1.Error.NotOnline");
  g_clear_error (&error);
  g_clear_pointer (&remote, g_free);

  /* beyond what a user id can be */
  reply = call_full (f, MUNITY_DBUS_NAME, "org.munity.Presence1", "GetUser",
                     g_variant_new ("(t)", G_MAXUINT64), "(o)", &error);
  g_assert_null (reply);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "org.munity.Presence1.Error.NotOnline");
}

static void
test_disconnect_offline (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(GVariant) reply = call (f, "Disconnect", g_variant_new ("(t)", (guint64) 77), "(u)");
  g_autofree char *events = NULL;
  guint32 closed = 99;

  g_variant_get (reply, "(u)", &closed);
  g_assert_cmpuint (closed, ==, 0);
  events = take_events (f);
  g_assert_cmpstr (events, ==, "");
  g_clear_pointer (&reply, g_variant_unref);

  reply = call (f, "Disconnect", g_variant_new ("(t)", G_MAXUINT64), "(u)");
  g_variant_get (reply, "(u)", &closed);
  g_assert_cmpuint (closed, ==, 0);
}

static void
test_disconnect_online (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *events = NULL;
  guint32 closed = 0;

  munity_test_model_user_info (&f->model, 4, "Alan", "Turing", NULL);
  munity_test_model_open_socket (&f->model, 4);
  munity_test_model_open_socket (&f->model, 4);
  munity_test_model_open_socket (&f->model, 4);
  munity_test_model_open_socket (&f->model, 8);
  g_free (take_events (f));

  reply = call (f, "Disconnect", g_variant_new ("(t)", (guint64) 4), "(u)");
  g_variant_get (reply, "(u)", &closed);
  g_assert_cmpuint (closed, ==, 3);
  /* every socket closed with 4003, and the user left at once despite the
   * grace period */
  g_assert_cmpstr (f->model.closed->str, ==, "4:4003 4:4003 4:4003 ");
  g_assert_null (munity_presence_lookup_user (f->model.presence, 4));

  events = take_events (f);
  g_assert_cmpstr (events, ==,
                   "removed users/4 org.munity.User1\n"
                   "UserLeft 4\n"
                   "changed / {OnlineCount=1, SocketCount=1}\n");
}

static void
test_disconnect_lingering (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *events = NULL;
  guint32 closed = 99;

  munity_test_model_close_socket (&f->model, munity_test_model_open_socket (&f->model, 6));
  g_free (take_events (f));
  g_assert_nonnull (munity_presence_lookup_user (f->model.presence, 6));

  reply = call (f, "Disconnect", g_variant_new ("(t)", (guint64) 6), "(u)");
  g_variant_get (reply, "(u)", &closed);
  g_assert_cmpuint (closed, ==, 0);
  g_assert_null (munity_presence_lookup_user (f->model.presence, 6));
  events = take_events (f);
  g_assert_cmpstr (events, ==,
                   "removed users/6 org.munity.User1\n"
                   "UserLeft 6\n"
                   "changed / {OnlineCount=0}\n");
}

/* The object-manager and property signals against joins, second tabs,
 * closing tabs, lingering, coming back within the grace, and leaving. */
static void
test_sequence (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *events = NULL;
  MunitySocket *s1, *s2, *s3;
  gint64 since;

  munity_test_model_user_info (&f->model, 1, "Ada", "Lovelace", NULL);

  /* first tab: the user joins */
  s1 = munity_test_model_open_socket (&f->model, 1);
  events = take_events (f);
  g_assert_cmpstr (events, ==,
                   "added users/1 {Id=1, ImageUrl='', Name='Ada Lovelace', Sockets=1, Status='online'}\n"
                   "UserJoined 1 'Ada Lovelace' ''\n"
                   "changed / {OnlineCount=1, SocketCount=1}\n");
  since = f->added_since;
  g_assert_cmpint (since, ==, munity_user_get_online_since (munity_presence_lookup_user (f->model.presence, 1)));
  g_clear_pointer (&events, g_free);

  /* second tab: no join, the counts follow */
  s2 = munity_test_model_open_socket (&f->model, 1);
  events = take_events (f);
  g_assert_cmpstr (events, ==,
                   "changed users/1 {Sockets=2}\n"
                   "changed / {SocketCount=2}\n");
  g_clear_pointer (&events, g_free);

  /* one tab closes */
  munity_test_model_close_socket (&f->model, s2);
  events = take_events (f);
  g_assert_cmpstr (events, ==,
                   "changed users/1 {Sockets=1}\n"
                   "changed / {SocketCount=1}\n");
  g_clear_pointer (&events, g_free);

  /* the last tab closes: lingering, still online with 0 sockets */
  munity_test_model_close_socket (&f->model, s1);
  munity_test_model_advance (&f->model, 1999);
  events = take_events (f);
  g_assert_cmpstr (events, ==,
                   "changed users/1 {Sockets=0}\n"
                   "changed / {SocketCount=0}\n");
  g_clear_pointer (&events, g_free);

  /* a reload within the grace: no join, OnlineSince unchanged */
  s3 = munity_test_model_open_socket (&f->model, 1);
  events = take_events (f);
  g_assert_cmpstr (events, ==,
                   "changed users/1 {Sockets=1}\n"
                   "changed / {SocketCount=1}\n");
  g_clear_pointer (&events, g_free);
  g_assert_cmpint (munity_user_get_online_since (munity_presence_lookup_user (f->model.presence, 1)), ==, since);

  /* gone for good: the object goes when the grace runs out */
  munity_test_model_close_socket (&f->model, s3);
  g_free (take_events (f));
  munity_test_model_advance (&f->model, 1999);
  events = take_events (f);
  g_assert_cmpstr (events, ==, "");
  g_clear_pointer (&events, g_free);
  munity_test_model_advance (&f->model, 1);
  events = take_events (f);
  g_assert_cmpstr (events, ==,
                   "removed users/1 org.munity.User1\n"
                   "UserLeft 1\n"
                   "changed / {OnlineCount=0}\n");
  g_clear_pointer (&events, g_free);

  /* back again later: a new join with a new OnlineSince */
  g_usleep (2);
  munity_test_model_open_socket (&f->model, 1);
  events = take_events (f);
  g_assert_cmpstr (events, ==,
                   "added users/1 {Id=1, ImageUrl='', Name='Ada Lovelace', Sockets=1, Status='online'}\n"
                   "UserJoined 1 'Ada Lovelace' ''\n"
                   "changed / {OnlineCount=1, SocketCount=1}\n");
  g_assert_cmpint (f->added_since, >, since);
}

static void
test_lingering_listed (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) users = NULL;
  MunitySocket *s;
  guint64 id;
  const char *name, *image_url;
  guint32 sockets;
  gint64 since_before, since;

  s = munity_test_model_open_socket (&f->model, 12);
  since_before = munity_user_get_online_since (munity_presence_lookup_user (f->model.presence, 12));
  munity_test_model_close_socket (&f->model, s);
  munity_test_model_advance (&f->model, 1500);

  reply = call (f, "ListOnlineUsers", NULL, "(a(tssux))");
  users = g_variant_get_child_value (reply, 0);
  g_assert_cmpuint (g_variant_n_children (users), ==, 1);
  g_variant_get_child (users, 0, "(t&s&sux)", &id, &name, &image_url, &sockets, &since);
  g_assert_cmpuint (id, ==, 12);
  g_assert_cmpuint (sockets, ==, 0);
  g_assert_cmpint (since, ==, since_before);
  g_clear_pointer (&users, g_variant_unref);
  g_clear_pointer (&reply, g_variant_unref);

  /* OnlineCount counts lingering users, SocketCount does not */
  reply = call_full (f, MUNITY_DBUS_NAME, "org.freedesktop.DBus.Properties", "GetAll",
                     g_variant_new ("(s)", "org.munity.Presence1"), "(a{sv})", NULL);
  users = g_variant_get_child_value (reply, 0);
  g_assert_true (g_variant_lookup (users, "OnlineCount", "u", &sockets));
  g_assert_cmpuint (sockets, ==, 1);
  g_assert_true (g_variant_lookup (users, "SocketCount", "u", &sockets));
  g_assert_cmpuint (sockets, ==, 0);
}

static void
test_user_updated (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(MunityUserInfo) changed = g_atomic_rc_box_new0 (MunityUserInfo);
  g_autoptr(MunityUserInfo) bio_only = g_atomic_rc_box_new0 (MunityUserInfo);
  g_autofree char *events = NULL;

  munity_test_model_user_info (&f->model, 2, "Ada", "Lovelace", NULL);
  munity_test_model_open_socket (&f->model, 2);
  g_free (take_events (f));

  changed->id = 2;
  changed->first = g_strdup ("Ada");
  changed->last = g_strdup ("King");
  changed->email = g_strdup ("u2@example.org");
  changed->bio = g_strdup ("");
  changed->image_url = g_strdup ("/avatars/2-beef.webp");
  munity_presence_update_user (f->model.presence, changed);
  events = take_events (f);
  /* one PropertiesChanged for both; no join or leave */
  g_assert_cmpstr (events, ==, "changed users/2 {ImageUrl='/avatars/2-beef.webp', Name='Ada King'}\n");
  g_clear_pointer (&events, g_free);

  bio_only->id = 2;
  bio_only->first = g_strdup ("Ada");
  bio_only->last = g_strdup ("King");
  bio_only->email = g_strdup ("u2@example.org");
  bio_only->bio = g_strdup ("Analyst");
  bio_only->image_url = g_strdup ("/avatars/2-beef.webp");
  munity_presence_update_user (f->model.presence, bio_only);
  events = take_events (f);
  g_assert_cmpstr (events, ==, "");
}

/* Status: idle once every socket of the user is idle, announced with
 * PropertiesChanged like the other details, through the same interval. */
static void
test_status (Fixture       *f,
             gconstpointer  data)
{
  g_autofree char *events = NULL;
  MunitySocket *a, *b;

  munity_test_model_user_info (&f->model, 3, "Ada", "Lovelace", NULL);
  a = munity_test_model_open_socket (&f->model, 3);
  b = munity_test_model_open_socket (&f->model, 3);
  g_free (take_events (f));

  munity_presence_set_socket_idle (f->model.presence, a, TRUE);
  events = take_events (f);
  g_assert_cmpstr (events, ==, "");
  g_clear_pointer (&events, g_free);

  munity_presence_set_socket_idle (f->model.presence, b, TRUE);
  events = take_events (f);
  g_assert_cmpstr (events, ==, "changed users/3 {Status='idle'}\n");
  g_clear_pointer (&events, g_free);

  /* Back within the interval: held until it ends. */
  munity_presence_set_socket_idle (f->model.presence, b, FALSE);
  events = take_events (f);
  g_assert_cmpstr (events, ==, "");
  g_clear_pointer (&events, g_free);
  munity_test_model_advance (&f->model, MUNITY_PRESENCE_UPDATE_INTERVAL_MS);
  events = take_events (f);
  g_assert_cmpstr (events, ==, "changed users/3 {Status='online'}\n");
}

/* 100 socket changes in one main-loop iteration: one PropertiesChanged per
 * object, with the final values. */
static void
test_coalescing (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(GPtrArray) sockets = g_ptr_array_new ();
  g_autofree char *events = NULL;

  for (guint i = 0; i < 100; i++)
    g_ptr_array_add (sockets, munity_test_model_open_socket (&f->model, 1));
  barrier (f);
  g_assert_cmpuint (f->events->len, ==, 4);
  g_assert_cmpstr (f->events->pdata[0], ==, "added users/1 {Id=1, ImageUrl='', Name='User Tester', Sockets=1, Status='online'}");
  g_assert_cmpstr (f->events->pdata[1], ==, "UserJoined 1 'User Tester' ''");
  /* one per object, in no particular order between the objects */
  g_assert_cmpuint (count_events (f, "changed users/1 {Sockets=100}"), ==, 1);
  g_assert_cmpuint (count_events (f, "changed / {OnlineCount=1, SocketCount=100}"), ==, 1);
  g_ptr_array_set_size (f->events, 0);

  /* 100 users joining at once */
  for (gint64 id = 100; id < 200; id++)
    munity_test_model_open_socket (&f->model, id);
  barrier (f);
  g_assert_cmpuint (count_events (f, "added users/"), ==, 100);
  g_assert_cmpuint (count_events (f, "UserJoined "), ==, 100);
  g_assert_cmpuint (count_events (f, "changed / "), ==, 1);
  g_assert_cmpstr (f->events->pdata[f->events->len - 1], ==, "changed / {OnlineCount=101, SocketCount=200}");
  g_ptr_array_set_size (f->events, 0);

  /* a storm up and down again: nothing changed, nothing to say */
  for (guint i = 0; i < 50; i++)
    munity_test_model_close_socket (&f->model, sockets->pdata[i]);
  for (guint i = 0; i < 50; i++)
    munity_test_model_open_socket (&f->model, 1);
  events = take_events (f);
  g_assert_cmpstr (events, ==, "");
}

static void
manager_ready_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  GDBusObjectManager **out = user_data;
  g_autoptr(GError) error = NULL;

  *out = munity_dbus_object_manager_client_new_finish (result, &error);
  g_assert_no_error (error);
}

static void
on_object_added (GDBusObjectManager *manager,
                 GDBusObject        *object,
                 GString            *log)
{
  g_string_append_printf (log, "+%s ", g_dbus_object_get_object_path (object));
}

static void
on_object_removed (GDBusObjectManager *manager,
                   GDBusObject        *object,
                   GString            *log)
{
  g_string_append_printf (log, "-%s ", g_dbus_object_get_object_path (object));
}

/* What a desktop sees through a GDBusObjectManagerClient. */
static void
test_object_manager (Fixture       *f,
                     gconstpointer  data)
{
  GDBusObjectManager *manager = NULL;
  g_autoptr(GString) log = g_string_new (NULL);
  g_autolist(GDBusObject) objects = NULL;
  g_autoptr(MunityDBusUser1) user = NULL;
  MunitySocket *s2;

  munity_test_model_user_info (&f->model, 1, "Ada", "Lovelace", "/avatars/1-a.webp");
  munity_test_model_open_socket (&f->model, 1);

  munity_dbus_object_manager_client_new (f->client, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                         MUNITY_DBUS_NAME, MUNITY_DBUS_PATH, NULL, manager_ready_cb, &manager);
  munity_test_wait_for_pointer ((gpointer *) &manager, TIMEOUT_S);
  g_signal_connect (manager, "object-added", G_CALLBACK (on_object_added), log);
  g_signal_connect (manager, "object-removed", G_CALLBACK (on_object_removed), log);

  objects = g_dbus_object_manager_get_objects (manager);
  g_assert_cmpuint (g_list_length (objects), ==, 1);
  g_assert_cmpstr (g_dbus_object_get_object_path (objects->data), ==, "/org/munity/Presence1/users/1");
  user = munity_dbus_object_get_user1 (MUNITY_DBUS_OBJECT (objects->data));
  g_assert_nonnull (user);
  g_assert_cmpuint (munity_dbus_user1_get_id (user), ==, 1);
  g_assert_cmpstr (munity_dbus_user1_get_name (user), ==, "Ada Lovelace");
  g_assert_cmpstr (munity_dbus_user1_get_image_url (user), ==, "/avatars/1-a.webp");
  g_assert_cmpuint (munity_dbus_user1_get_sockets (user), ==, 1);
  g_assert_cmpint (munity_dbus_user1_get_online_since (user), ==,
                   munity_user_get_online_since (munity_presence_lookup_user (f->model.presence, 1)));

  /* the manager's match rules are in place after a round trip */
  barrier (f);

  munity_test_model_open_socket (&f->model, 2);
  s2 = munity_test_model_open_socket (&f->model, 1);
  barrier (f);
  g_assert_cmpstr (log->str, ==, "+/org/munity/Presence1/users/2 ");
  g_assert_cmpuint (munity_dbus_user1_get_sockets (user), ==, 2);

  munity_test_model_close_socket (&f->model, s2);
  munity_presence_disconnect_user (f->model.presence, 2, MUNITY_CLOSE_DISCONNECTED);
  barrier (f);
  g_assert_cmpstr (log->str, ==, "+/org/munity/Presence1/users/2 -/org/munity/Presence1/users/2 ");
  g_assert_cmpuint (munity_dbus_user1_get_sockets (user), ==, 1);

  g_clear_object (&user);
  g_list_free_full (g_steal_pointer (&objects), g_object_unref);
  g_object_unref (manager);
}

/* busctl tree: the objects are introspectable below the root. */
static void
test_introspection (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GDBusNodeInfo) node = NULL;
  const char *xml;

  munity_test_model_open_socket (&f->model, 31);
  reply = call_full (f, MUNITY_DBUS_NAME, "org.freedesktop.DBus.Introspectable", "Introspect",
                     NULL, "(s)", &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(&s)", &xml);
  node = g_dbus_node_info_new_for_xml (xml, &error);
  g_assert_no_error (error);
  g_assert_nonnull (g_dbus_node_info_lookup_interface (node, "org.munity.Presence1"));
  g_assert_nonnull (g_dbus_node_info_lookup_interface (node, "org.freedesktop.DBus.ObjectManager"));
  g_assert_nonnull (node->nodes);
  g_assert_cmpstr (node->nodes[0]->path, ==, "users");
}

/* ---- the name ----------------------------------------------------------- */

static void
on_other_acquired (GDBusConnection *connection,
                   const char      *name,
                   gpointer         user_data)
{
  int *state = user_data;
  *state = 1;
}

static void
on_other_lost (GDBusConnection *connection,
               const char      *name,
               gpointer         user_data)
{
  int *state = user_data;
  *state = 2;
}

static void
wait_state (int *state,
            int  value)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (TIMEOUT_S, munity_test_flag_cb, &timed_out);

  while (*state != value && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  g_assert_cmpint (*state, ==, value);
}

static gboolean
is_queued (Fixture           *f,
           MunityDbusService *service)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree const char **owners = NULL;
  GDBusConnection *connection = munity_dbus_service_get_connection (service);
  g_autoptr(GAsyncResult) result = NULL;

  if (connection == NULL)
    return FALSE;
  g_dbus_connection_call (f->client, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                          "ListQueuedOwners", g_variant_new ("(s)", MUNITY_DBUS_NAME), G_VARIANT_TYPE ("(as)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, NULL, munity_test_store_result_cb, &result);
  munity_test_wait_for_pointer ((gpointer *) &result, TIMEOUT_S);
  reply = g_dbus_connection_call_finish (f->client, result, &error);
  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(^a&s)", &owners);
  return g_strv_contains (owners, g_dbus_connection_get_unique_name (connection));
}

static void
wait_queued (Fixture           *f,
             MunityDbusService *service)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_S * G_USEC_PER_SEC;

  while (!is_queued (f, service))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (10000);
    }
}

/* --replace takes the name over from another owner; without it munityd
 * waits in the queue and takes the name when it is released. */
static void
test_replace (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(GDBusConnection) other = new_connection (g_test_dbus_get_bus_address (f->bus));
  MunityDbusService *waiting = NULL;
  MunityDbusService *replacing = NULL;
  int other_state = 0;
  guint other_id;

  other_id = g_bus_own_name_on_connection (other, MUNITY_DBUS_NAME, G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT,
                                           on_other_acquired, on_other_lost, &other_state, NULL);
  wait_state (&other_state, 1);

  /* without --replace: queued, not owner, but running */
  waiting = munity_dbus_service_new (f->model.presence, MUNITY_BUS_SESSION, FALSE);
  munity_daemon_connect_dbus_view (f->model.presence, waiting);
  munity_dbus_service_start (waiting);
  wait_queued (f, waiting);
  g_assert_false (munity_dbus_service_get_name_owned (waiting));
  g_assert_cmpint (other_state, ==, 1);

  /* with --replace: takes it over */
  replacing = munity_dbus_service_new (f->model.presence, MUNITY_BUS_SESSION, TRUE);
  munity_daemon_connect_dbus_view (f->model.presence, replacing);
  munity_dbus_service_start (replacing);
  munity_test_wait_name_owned (replacing, TRUE, TIMEOUT_S);
  wait_state (&other_state, 2);
  g_assert_false (munity_dbus_service_get_name_owned (waiting));

  /* when the others are gone, the waiting one gets the name */
  g_bus_unown_name (other_id);
  munity_test_free_service (&replacing);
  munity_test_wait_name_owned (waiting, TRUE, TIMEOUT_S);

  munity_test_free_service (&waiting);
  close_connection (&other);
}

/* Losing the name is not fatal: the service goes on (reachable by its
 * unique name, following the model) and takes the name back once free. */
static void
test_name_lost (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GDBusConnection) other = new_connection (g_test_dbus_get_bus_address (f->bus));
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *events = NULL;
  int other_state = 0;
  guint other_id;

  other_id = g_bus_own_name_on_connection (other, MUNITY_DBUS_NAME, G_BUS_NAME_OWNER_FLAGS_REPLACE,
                                           on_other_acquired, on_other_lost, &other_state, NULL);
  wait_state (&other_state, 1);
  munity_test_wait_name_owned (f->service, FALSE, TIMEOUT_S);

  /* still serving the model */
  munity_test_model_open_socket (&f->model, 3);
  reply = call_full (f, f->service_name, "org.munity.Presence1", "ListOnlineUsers", NULL,
                     "(a(tssux))", &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (reply, G_VARIANT_TYPE ("(a(tssux))")));
  {
    g_autoptr(GVariant) users = g_variant_get_child_value (reply, 0);
    g_assert_cmpuint (g_variant_n_children (users), ==, 1);
  }
  barrier (f);
  g_assert_cmpuint (count_events (f, "UserJoined 3"), ==, 1);

  g_bus_unown_name (other_id);
  munity_test_wait_name_owned (f->service, TRUE, TIMEOUT_S);
  close_connection (&other);
}

/* ---- the bus going away ----------------------------------------------- */

static GSubprocess *
start_bus_daemon (const char *address)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *listen = g_strdup_printf ("--address=%s", address);
  g_autoptr(GDataInputStream) out = NULL;
  g_autofree char *line = NULL;
  GSubprocess *daemon;

  daemon = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                             "dbus-daemon", "--session", "--nofork", "--nopidfile", listen,
                             "--print-address=1", NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (daemon));
  /* It prints its address once it listens. */
  line = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  return daemon;
}

static void
stop_bus_daemon (GSubprocess *daemon)
{
  g_subprocess_send_signal (daemon, SIGTERM);
  g_subprocess_wait (daemon, NULL, NULL);
}

static void
test_bus_restart (void)
{
  g_autofree char *dir = g_dir_make_tmp ("munity-bus-XXXXXX", NULL);
  g_autofree char *socket_path = g_build_filename (dir, "bus", NULL);
  g_autofree char *address = g_strdup_printf ("unix:path=%s", socket_path);
  g_autoptr(GSubprocess) daemon = NULL;
  g_autoptr(MunityPresence) presence = munity_presence_new (0);
  MunityDbusService *service = NULL;
  g_autoptr(MunitySocket) s1 = munity_socket_new (1, "a");
  g_autoptr(MunitySocket) s2 = munity_socket_new (2, "a");
  g_autoptr(MunityUserInfo) info1 = g_atomic_rc_box_new0 (MunityUserInfo);
  g_autoptr(MunityUserInfo) info2 = g_atomic_rc_box_new0 (MunityUserInfo);
  Fixture client = { 0, };
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  info1->id = 1;
  info1->first = g_strdup ("Ada");
  info1->last = g_strdup ("Lovelace");
  info2->id = 2;
  info2->first = g_strdup ("Grace");
  info2->last = g_strdup ("Hopper");

  g_setenv ("DBUS_SESSION_BUS_ADDRESS", address, TRUE);
  daemon = start_bus_daemon (address);

  service = munity_dbus_service_new (presence, MUNITY_BUS_SESSION, FALSE);
  munity_daemon_connect_dbus_view (presence, service);
  munity_dbus_service_start (service);
  munity_test_wait_name_owned (service, TRUE, TIMEOUT_S);
  munity_presence_add_socket (presence, s1, info1);

  /* the bus goes away: the service says so and stays */
  stop_bus_daemon (daemon);
  g_clear_object (&daemon);
  munity_test_wait_name_owned (service, FALSE, TIMEOUT_S);
  while (munity_dbus_service_get_connection (service) != NULL)
    g_main_context_iteration (NULL, TRUE);

  /* the model goes on without a bus */
  munity_presence_add_socket (presence, s2, info2);
  munity_presence_remove_socket (presence, s1);

  /* the bus comes back: the service reconnects with everyone who is
   * online now */
  daemon = start_bus_daemon (address);
  munity_test_wait_name_owned (service, TRUE, TIMEOUT_S);

  client.client = new_connection (address);
  reply = call_full (&client, MUNITY_DBUS_NAME, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                     NULL, "(a{oa{sa{sv}}})", &error);
  g_assert_no_error (error);
  {
    g_autoptr(GVariant) objects = g_variant_get_child_value (reply, 0);
    g_autoptr(GVariant) user = g_variant_lookup_value (objects, "/org/munity/Presence1/users/2", NULL);

    g_assert_cmpuint (g_variant_n_children (objects), ==, 1);
    g_assert_nonnull (user);
  }

  close_connection (&client.client);
  munity_test_free_service (&service);
  stop_bus_daemon (daemon);
  g_unsetenv ("DBUS_SESSION_BUS_ADDRESS");
  g_remove (socket_path);
  g_rmdir (dir);
}

/* No bus at all: the service starts, says so in the log, and keeps
 * trying; nothing is fatal. */
static void
test_no_bus (void)
{
  g_autoptr(MunityPresence) presence = munity_presence_new (0);
  MunityDbusService *service = NULL;
  g_autoptr(MunitySocket) s = munity_socket_new (1, "a");
  g_autoptr(MunityUserInfo) info = g_atomic_rc_box_new0 (MunityUserInfo);
  gint64 until = g_get_monotonic_time () + 300 * 1000;

  info->id = 1;
  info->first = g_strdup ("Ada");
  info->last = g_strdup ("Lovelace");

  g_setenv ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/munity-test-bus", TRUE);
  service = munity_dbus_service_new (presence, MUNITY_BUS_SESSION, FALSE);
  munity_daemon_connect_dbus_view (presence, service);
  munity_dbus_service_start (service);
  while (g_get_monotonic_time () < until)
    g_main_context_iteration (NULL, FALSE);
  munity_presence_add_socket (presence, s, info);
  munity_presence_remove_socket (presence, s);
  g_assert_false (munity_dbus_service_get_name_owned (service));
  g_assert_null (munity_dbus_service_get_connection (service));
  munity_test_free_service (&service);
  g_unsetenv ("DBUS_SESSION_BUS_ADDRESS");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (sodium_init (), >=, 0);
  /* No stray bus of the caller's. */
  g_test_dbus_unset ();

#define ADD(path, func) g_test_add (path, Fixture, GUINT_TO_POINTER (2000), setup, func, teardown)
  ADD ("/dbus/properties", test_properties);
  ADD ("/dbus/properties/read-only", test_properties_read_only);
  ADD ("/dbus/properties/generated-proxy", test_generated_proxy);
  ADD ("/dbus/list-online-users", test_list_online_users);
  ADD ("/dbus/list-online-users/lingering", test_lingering_listed);
  ADD ("/dbus/get-user", test_get_user);
  ADD ("/dbus/disconnect/offline", test_disconnect_offline);
  ADD ("/dbus/disconnect/online", test_disconnect_online);
  ADD ("/dbus/disconnect/lingering", test_disconnect_lingering);
  ADD ("/dbus/signals/sequence", test_sequence);
  ADD ("/dbus/signals/user-updated", test_user_updated);
  ADD ("/dbus/signals/coalescing", test_coalescing);
  ADD ("/dbus/signals/status", test_status);
  ADD ("/dbus/object-manager", test_object_manager);
  ADD ("/dbus/introspection", test_introspection);
  ADD ("/dbus/name/lost", test_name_lost);
  ADD ("/dbus/list-nodes/no-cluster", test_list_nodes_without_cluster);
#undef ADD
  g_test_add ("/dbus/name/replace", Fixture, GUINT_TO_POINTER (2000), setup_bare, test_replace, teardown);
  g_test_add_func ("/dbus/bus/restart", test_bus_restart);
  g_test_add_func ("/dbus/bus/none", test_no_bus);

  return g_test_run ();
}
