/* munityctl.c — ask munityd over D-Bus who is online
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <unistd.h>

#include "munity-dbus.h"
#include "munity-error.h"
#include "munity-protocol.h"

#define EXIT_OK 0
#define EXIT_FAILED 1
#define EXIT_USAGE 2

typedef struct {
  GBusType         bus_type;
  GDBusConnection *connection;  /* (owned) */
  GMainLoop       *loop;        /* (owned) (nullable) watch only */
  int              status;
} Ctl;

static const char *
bus_label (Ctl *ctl)
{
  return ctl->bus_type == G_BUS_TYPE_SYSTEM ? _("system bus") : _("session bus");
}

static int
fail (const char *message)
{
  g_printerr ("munityctl: %s\n", message);
  return EXIT_FAILED;
}

static int
fail_call (Ctl          *ctl,
           const GError *error)
{
  g_autofree char *remote = g_dbus_error_get_remote_error (error);
  g_autofree char *message = NULL;

  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER))
    message = g_strdup_printf (_("munityd is not running on the %s (no owner for %s)"),
                               bus_label (ctl), MUNITY_DBUS_NAME);
  else if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED))
    message = g_strdup_printf (_("permission denied (on the system bus, only root and the group munity-admin may do this)"));
  else
    {
      g_autoptr(GError) copy = g_error_copy (error);
      g_dbus_error_strip_remote_error (copy);
      message = g_strdup (copy->message);
    }

  return fail (message);
}

/* munityd must be on the bus already: D-Bus activation is not what someone
 * asking "who is online" means. */
static gboolean
connect_to_munityd (Ctl  *ctl,
                    int  *out_status)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  gboolean has_owner = FALSE;

  ctl->connection = g_bus_get_sync (ctl->bus_type, NULL, &error);
  if (ctl->connection == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("cannot connect to the %s: %s"),
                                                  bus_label (ctl), error->message);
      *out_status = fail (message);
      return FALSE;
    }

  reply = g_dbus_connection_call_sync (ctl->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "NameHasOwner",
                                       g_variant_new ("(s)", MUNITY_DBUS_NAME), G_VARIANT_TYPE ("(b)"),
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  if (reply == NULL)
    {
      *out_status = fail_call (ctl, error);
      return FALSE;
    }

  g_variant_get (reply, "(b)", &has_owner);
  if (!has_owner)
    {
      g_autofree char *message = g_strdup_printf (_("munityd is not running on the %s (no owner for %s)"),
                                                  bus_label (ctl), MUNITY_DBUS_NAME);
      *out_status = fail (message);
      return FALSE;
    }

  return TRUE;
}

static MunityDBusPresence1 *
presence_proxy (Ctl             *ctl,
                GDBusProxyFlags  flags,
                int             *out_status)
{
  g_autoptr(GError) error = NULL;
  MunityDBusPresence1 *proxy;

  proxy = munity_dbus_presence1_proxy_new_sync (ctl->connection,
                                                flags | G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                                MUNITY_DBUS_NAME, MUNITY_DBUS_PATH, NULL, &error);
  if (proxy == NULL)
    *out_status = fail_call (ctl, error);
  return proxy;
}

/* ---- online ------------------------------------------------------------ */

static char *
format_time (gint64   usec,
             gboolean utc_iso)
{
  g_autoptr(GDateTime) seconds = NULL;
  g_autoptr(GDateTime) dt = NULL;

  if (utc_iso)
    seconds = g_date_time_new_from_unix_utc (usec / G_USEC_PER_SEC);
  else
    seconds = g_date_time_new_from_unix_local (usec / G_USEC_PER_SEC);
  if (seconds == NULL)
    return g_strdup ("");

  if (!utc_iso)
    return g_date_time_format (seconds, "%Y-%m-%d %H:%M:%S");

  /* 2024-05-01T10:22:03.123456Z (no fraction on a whole second) */
  dt = g_date_time_add (seconds, usec % G_USEC_PER_SEC);
  return g_date_time_format_iso8601 (dt);
}

static void
pad (GString    *out,
     const char *text,
     guint       width)
{
  glong len = g_utf8_strlen (text, -1);

  g_string_append (out, text);
  for (glong i = len; i < (glong) width; i++)
    g_string_append_c (out, ' ');
}

/* The users' statuses (`Status` of each user object), id → "online" or
 * "idle", from one GetManagedObjects call: ListOnlineUsers has a fixed
 * signature without it. A user who came online between the two calls is
 * shown online. */
static GHashTable *
get_statuses (Ctl      *ctl,
              GError  **error)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) objects = NULL;
  GHashTable *statuses = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  GVariantIter iter;
  GVariant *interfaces;

  reply = g_dbus_connection_call_sync (ctl->connection, MUNITY_DBUS_NAME, MUNITY_DBUS_PATH,
                                       "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                                       NULL, G_VARIANT_TYPE ("(a{oa{sa{sv}}})"),
                                       G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, error);
  if (reply == NULL)
    {
      g_hash_table_unref (statuses);
      return NULL;
    }

  objects = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", NULL, &interfaces))
    {
      g_autoptr(GVariant) props = g_variant_lookup_value (interfaces, "org.munity.User1", G_VARIANT_TYPE ("a{sv}"));
      guint64 id;
      const char *status;

      if (props != NULL && g_variant_lookup (props, "Id", "t", &id) &&
          g_variant_lookup (props, "Status", "&s", &status))
        {
          gint64 *key = g_new (gint64, 1);

          *key = (gint64) id;
          g_hash_table_replace (statuses, key, g_strdup (status));
        }
      g_variant_unref (interfaces);
    }
  return statuses;
}

static const char *
status_of (GHashTable *statuses,
           guint64     id)
{
  gint64 key = (gint64) id;
  const char *status = g_hash_table_lookup (statuses, &key);

  return status != NULL ? status : "online";
}

static int
print_table (GVariant   *users,
             GHashTable *statuses)
{
  /* Translators: column headings of "munityctl online" */
  const char *h_id = _("ID"), *h_name = _("NAME"), *h_status = _("STATUS"), *h_sockets = _("SOCKETS");
  const char *h_since = _("ONLINE SINCE");
  guint w_id = g_utf8_strlen (h_id, -1), w_name = g_utf8_strlen (h_name, -1);
  guint w_status = MAX ((guint) g_utf8_strlen (h_status, -1), (guint) strlen ("online"));
  guint w_sockets = g_utf8_strlen (h_sockets, -1);
  g_autoptr(GString) out = g_string_new (NULL);
  GVariantIter iter;
  guint64 id;
  const char *name, *image_url;
  guint32 sockets;
  gint64 since;

  g_variant_iter_init (&iter, users);
  while (g_variant_iter_next (&iter, "(t&s&sux)", &id, &name, &image_url, &sockets, &since))
    {
      g_autofree char *id_str = g_strdup_printf ("%" G_GUINT64_FORMAT, id);
      g_autofree char *sockets_str = g_strdup_printf ("%u", sockets);

      w_id = MAX (w_id, (guint) strlen (id_str));
      w_name = MAX (w_name, (guint) g_utf8_strlen (name, -1));
      w_sockets = MAX (w_sockets, (guint) strlen (sockets_str));
    }

  pad (out, h_id, w_id + 2);
  pad (out, h_name, w_name + 2);
  pad (out, h_status, w_status + 2);
  pad (out, h_sockets, w_sockets + 2);
  g_string_append_printf (out, "%s\n", h_since);

  g_variant_iter_init (&iter, users);
  while (g_variant_iter_next (&iter, "(t&s&sux)", &id, &name, &image_url, &sockets, &since))
    {
      g_autofree char *id_str = g_strdup_printf ("%" G_GUINT64_FORMAT, id);
      g_autofree char *sockets_str = g_strdup_printf ("%u", sockets);
      g_autofree char *since_str = format_time (since, FALSE);

      pad (out, id_str, w_id + 2);
      pad (out, name, w_name + 2);
      /* The protocol's word, untranslated, as in --json. */
      pad (out, status_of (statuses, id), w_status + 2);
      pad (out, sockets_str, w_sockets + 2);
      g_string_append_printf (out, "%s\n", since_str);
    }

  fputs (out->str, stdout);
  return fflush (stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

static int
print_json (GVariant   *users,
            GHashTable *statuses)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;
  GVariantIter iter;
  guint64 id;
  const char *name, *image_url;
  guint32 sockets;
  gint64 since;

  json_builder_begin_array (builder);
  g_variant_iter_init (&iter, users);
  while (g_variant_iter_next (&iter, "(t&s&sux)", &id, &name, &image_url, &sockets, &since))
    {
      g_autofree char *since_str = format_time (since, TRUE);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "id");
      json_builder_add_int_value (builder, (gint64) id);
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, name);
      /* D-Bus says "" for no picture; the JSON says null, as the HTTP
       * API does. */
      munity_protocol_add_image_url (builder, *image_url != '\0' ? image_url : NULL);
      json_builder_set_member_name (builder, "sockets");
      json_builder_add_int_value (builder, sockets);
      json_builder_set_member_name (builder, "onlineSince");
      json_builder_add_string_value (builder, since_str);
      json_builder_set_member_name (builder, "status");
      json_builder_add_string_value (builder, status_of (statuses, id));
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, isatty (STDOUT_FILENO));
  text = json_generator_to_data (generator, NULL);
  fputs (text, stdout);
  fputc ('\n', stdout);
  return fflush (stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

static int
cmd_online (Ctl      *ctl,
            gboolean  json)
{
  g_autoptr(MunityDBusPresence1) proxy = NULL;
  g_autoptr(GVariant) users = NULL;
  g_autoptr(GHashTable) statuses = NULL;
  g_autoptr(GError) error = NULL;
  int status = EXIT_OK;

  proxy = presence_proxy (ctl, G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                               G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS, &status);
  if (proxy == NULL)
    return status;

  if (!munity_dbus_presence1_call_list_online_users_sync (proxy, &users, NULL, &error))
    return fail_call (ctl, error);
  statuses = get_statuses (ctl, &error);
  if (statuses == NULL)
    return fail_call (ctl, error);

  return json ? print_json (users, statuses) : print_table (users, statuses);
}

/* ---- status ------------------------------------------------------------ */

/* "2024-05-01 10:22:03 (1 s ago)", by this host's clock; "-" if unknown. */
static char *
format_heartbeat (gint64 usec)
{
  g_autofree char *when = NULL;
  gint64 ago;

  if (usec <= 0)
    return g_strdup ("-");
  when = format_time (usec, FALSE);
  ago = MAX (g_get_real_time () - usec, 0) / G_USEC_PER_SEC;
  /* Translators: a heartbeat's local time and how many seconds ago it was */
  return g_strdup_printf (_("%s (%u s ago)"), when, (guint) MIN (ago, (gint64) G_MAXUINT));
}

/* The node table of "status": NODE, SOCKETS, LAST HEARTBEAT, with the
 * node that answered marked "(this node)". */
static void
append_nodes (GString  *out,
              GVariant *nodes)
{
  /* Translators: column headings of "munityctl status" */
  const char *h_node = _("NODE"), *h_sockets = _("SOCKETS"), *h_heartbeat = _("LAST HEARTBEAT");
  guint w_node = g_utf8_strlen (h_node, -1), w_sockets = g_utf8_strlen (h_sockets, -1);
  GVariantIter iter;
  const char *name;
  guint32 sockets;
  gint64 heartbeat;
  gboolean is_self;

  g_variant_iter_init (&iter, nodes);
  while (g_variant_iter_next (&iter, "(&suxb)", &name, &sockets, &heartbeat, &is_self))
    {
      g_autofree char *sockets_str = g_strdup_printf ("%u", sockets);

      w_node = MAX (w_node, (guint) g_utf8_strlen (name, -1));
      w_sockets = MAX (w_sockets, (guint) strlen (sockets_str));
    }

  g_string_append_c (out, '\n');
  pad (out, h_node, w_node + 2);
  pad (out, h_sockets, w_sockets + 2);
  g_string_append_printf (out, "%s\n", h_heartbeat);

  g_variant_iter_init (&iter, nodes);
  while (g_variant_iter_next (&iter, "(&suxb)", &name, &sockets, &heartbeat, &is_self))
    {
      g_autofree char *sockets_str = g_strdup_printf ("%u", sockets);
      g_autofree char *heartbeat_str = format_heartbeat (heartbeat);

      pad (out, name, w_node + 2);
      pad (out, sockets_str, w_sockets + 2);
      g_string_append (out, heartbeat_str);
      if (is_self)
        g_string_append_printf (out, "  %s", _("(this node)"));
      g_string_append_c (out, '\n');
    }
}

static int
cmd_status (Ctl *ctl)
{
  g_autoptr(MunityDBusPresence1) proxy = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) props = NULL;
  g_autoptr(GVariant) nodes_reply = NULL;
  g_autoptr(GVariant) nodes = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  const char *version = "";
  guint32 online = 0, sockets = 0;
  const char *labels[3];
  char *values[3];
  guint width = 0;

  /* One GetAll, so the three figures are from the same moment. */
  reply = g_dbus_connection_call_sync (ctl->connection, MUNITY_DBUS_NAME, MUNITY_DBUS_PATH,
                                       "org.freedesktop.DBus.Properties", "GetAll",
                                       g_variant_new ("(s)", "org.munity.Presence1"),
                                       G_VARIANT_TYPE ("(a{sv})"),
                                       G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, &error);
  if (reply == NULL)
    return fail_call (ctl, error);

  props = g_variant_get_child_value (reply, 0);
  g_variant_lookup (props, "Version", "&s", &version);
  g_variant_lookup (props, "OnlineCount", "u", &online);
  g_variant_lookup (props, "SocketCount", "u", &sockets);

  labels[0] = _("Version:");
  labels[1] = _("Online users:");
  labels[2] = _("Sockets:");
  values[0] = g_strdup (version);
  values[1] = g_strdup_printf ("%u", online);
  values[2] = g_strdup_printf ("%u", sockets);
  for (guint i = 0; i < G_N_ELEMENTS (labels); i++)
    width = MAX (width, (guint) g_utf8_strlen (labels[i], -1));
  for (guint i = 0; i < G_N_ELEMENTS (labels); i++)
    {
      pad (out, labels[i], width + 1);
      g_string_append_printf (out, "%s\n", values[i]);
      g_free (values[i]);
    }

  /* Then the cluster's nodes (doc/protocol.md §7). A munityd from before
   * the cluster has no ListNodes: its status stops here. */
  nodes_reply = g_dbus_connection_call_sync (ctl->connection, MUNITY_DBUS_NAME, MUNITY_DBUS_PATH,
                                             "org.munity.Presence1", "ListNodes", NULL,
                                             G_VARIANT_TYPE ("(a(suxb))"),
                                             G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, &error);
  if (nodes_reply == NULL && !g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD))
    return fail_call (ctl, error);
  if (nodes_reply != NULL)
    nodes = g_variant_get_child_value (nodes_reply, 0);
  if (nodes != NULL && g_variant_n_children (nodes) > 0)
    {
      /* Translators: "Nodes:" is no wider than "Online users:" */
      g_autofree char *n_nodes = g_strdup_printf ("%" G_GSIZE_FORMAT, g_variant_n_children (nodes));

      pad (out, _("Nodes:"), width + 1);
      g_string_append_printf (out, "%s\n", n_nodes);
      append_nodes (out, nodes);
    }

  fputs (out->str, stdout);
  return fflush (stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

/* ---- disconnect -------------------------------------------------------- */

static int
cmd_disconnect (Ctl     *ctl,
                guint64  id)
{
  g_autoptr(MunityDBusPresence1) proxy = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id_str = NULL;
  guint closed = 0;
  int status = EXIT_OK;

  proxy = presence_proxy (ctl, G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                               G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS, &status);
  if (proxy == NULL)
    return status;

  if (!munity_dbus_presence1_call_disconnect_sync (proxy, id, &closed, NULL, &error))
    return fail_call (ctl, error);

  id_str = g_strdup_printf ("%" G_GUINT64_FORMAT, id);
  if (closed == 0)
    g_print (_("User %s was not online.\n"), id_str);
  else
    g_print (ngettext ("Disconnected user %s: %u socket closed.\n",
                       "Disconnected user %s: %u sockets closed.\n",
                       closed),
             id_str, closed);
  return fflush (stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

/* ---- watch ------------------------------------------------------------- */

static void
emit_line (Ctl        *ctl,
           const char *line)
{
  /* One event per line, out at once even into a pipe. */
  if (fputs (line, stdout) == EOF || fflush (stdout) != 0)
    {
      /* The reader went away (a closed pipe): nothing more to do. */
      ctl->status = EXIT_FAILED;
      g_main_loop_quit (ctl->loop);
    }
}

static void
on_user_joined (MunityDBusPresence1 *proxy,
                guint64              id,
                const char          *name,
                const char          *image_url,
                Ctl                 *ctl)
{
  g_autofree char *line = g_strdup_printf ("joined %" G_GUINT64_FORMAT " %s\n", id, name);

  emit_line (ctl, line);
}

static void
on_user_left (MunityDBusPresence1 *proxy,
              guint64              id,
              Ctl                 *ctl)
{
  g_autofree char *line = g_strdup_printf ("left %" G_GUINT64_FORMAT "\n", id);

  emit_line (ctl, line);
}

static void
on_name_owner (GObject    *proxy,
               GParamSpec *pspec,
               Ctl        *ctl)
{
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy));

  /* The events stop while munityd is away; say so where a person sees it
   * without mixing it into the event lines. */
  if (owner == NULL)
    g_printerr ("munityctl: %s\n", _("munityd left the bus; waiting for it to come back"));
  else
    g_printerr ("munityctl: %s\n", _("munityd is back on the bus"));
}

static void
on_connection_closed (GDBusConnection *connection,
                      gboolean         remote_peer_vanished,
                      GError          *error,
                      Ctl             *ctl)
{
  g_printerr ("munityctl: %s\n", _("the connection to the bus was closed"));
  ctl->status = EXIT_FAILED;
  g_main_loop_quit (ctl->loop);
}

static gboolean
on_quit_signal (gpointer user_data)
{
  Ctl *ctl = user_data;

  g_main_loop_quit (ctl->loop);
  return G_SOURCE_CONTINUE;
}

static int
cmd_watch (Ctl *ctl)
{
  g_autoptr(MunityDBusPresence1) proxy = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  guint sigint_id, sigterm_id;
  int status = EXIT_OK;

  /* No exit on a closed connection: we report it and exit 1 ourselves. */
  g_dbus_connection_set_exit_on_close (ctl->connection, FALSE);

  proxy = presence_proxy (ctl, G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES, &status);
  if (proxy == NULL)
    return status;

  ctl->loop = g_main_loop_new (NULL, FALSE);
  ctl->status = EXIT_OK;
  g_signal_connect (proxy, "user-joined", G_CALLBACK (on_user_joined), ctl);
  g_signal_connect (proxy, "user-left", G_CALLBACK (on_user_left), ctl);
  g_signal_connect (proxy, "notify::g-name-owner", G_CALLBACK (on_name_owner), ctl);
  g_signal_connect (ctl->connection, "closed", G_CALLBACK (on_connection_closed), ctl);
  sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, ctl);
  sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, ctl);

  /* A round trip to munityd after the match rules went out: from here on
   * no event is missed, and munityd is still there. */
  reply = g_dbus_connection_call_sync (ctl->connection, MUNITY_DBUS_NAME, MUNITY_DBUS_PATH,
                                       "org.freedesktop.DBus.Peer", "Ping", NULL, NULL,
                                       G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, &error);
  if (reply == NULL)
    status = fail_call (ctl, error);
  else
    {
      g_main_loop_run (ctl->loop);
      status = ctl->status;
    }

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_signal_handlers_disconnect_by_data (ctl->connection, ctl);
  g_signal_handlers_disconnect_by_data (proxy, ctl);
  return status;
}

/* ---- main -------------------------------------------------------------- */

static void
usage_error (GOptionContext *context,
             const char     *message)
{
  g_printerr ("munityctl: %s\n", message);
  g_printerr ("%s\n", _("Usage: munityctl [--system] online [--json] | watch | disconnect USER-ID | status"));
  g_printerr ("%s\n", _("Try “munityctl --help” for more information."));
}

static gboolean
parse_user_id (const char *text,
               guint64    *out_id)
{
  return g_ascii_string_to_unsigned (text, 10, 1, G_MAXINT64, out_id, NULL);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  gboolean system_bus = FALSE;
  gboolean json = FALSE;
  gboolean version = FALSE;
  const char *command;
  Ctl ctl = { 0, };
  int status = EXIT_OK;
  guint64 id = 0;
  const GOptionEntry entries[] = {
    { "system", 0, 0, G_OPTION_ARG_NONE, &system_bus,
      N_("Talk to munityd on the system bus instead of the session bus"), NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_("With online: print a JSON array instead of a table"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version,
      N_("Print the version and exit"), NULL },
    { NULL }
  };

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  context = g_option_context_new (_("COMMAND [ARGUMENT]"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context, _("Ask munityd who is online, over D-Bus."));
  g_option_context_set_description (context,
    _("Commands:\n"
      "  online [--json]        List the users who are online\n"
      "  watch                  Print “joined ID NAME” and “left ID” as users come and go\n"
      "  disconnect USER-ID     Close every socket of a user; the user leaves at once\n"
      "  status                 Print the version, the online count, the socket count\n"
      "                         and the cluster's nodes (name, sockets, last heartbeat)\n"
      "\n"
      "Exit status: 0 on success, 1 if munityd is not on the bus or the request failed,\n"
      "2 for bad usage.\n"));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);

  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      usage_error (context, error->message);
      return EXIT_USAGE;
    }

  if (version)
    {
      g_print ("munityctl %s\n", PACKAGE_VERSION);
      return EXIT_OK;
    }

  if (argc < 2)
    {
      usage_error (context, _("no command given"));
      return EXIT_USAGE;
    }

  command = argv[1];
  if (g_str_equal (command, "online"))
    {
      if (argc != 2)
        {
          usage_error (context, _("“online” takes no arguments"));
          return EXIT_USAGE;
        }
    }
  else if (g_str_equal (command, "watch") || g_str_equal (command, "status"))
    {
      if (argc != 2 || json)
        {
          g_autofree char *message = g_strdup_printf (_("“%s” takes no arguments"), command);
          usage_error (context, message);
          return EXIT_USAGE;
        }
    }
  else if (g_str_equal (command, "disconnect"))
    {
      if (argc != 3 || json)
        {
          usage_error (context, _("“disconnect” takes exactly one USER-ID"));
          return EXIT_USAGE;
        }
      if (!parse_user_id (argv[2], &id))
        {
          g_autofree char *message = g_strdup_printf (_("invalid user id “%s”"), argv[2]);
          usage_error (context, message);
          return EXIT_USAGE;
        }
    }
  else
    {
      g_autofree char *message = g_strdup_printf (_("unknown command “%s”"), command);
      usage_error (context, message);
      return EXIT_USAGE;
    }

  /* Registers the D-Bus names of MUNITY_ERROR, so that replies map back. */
  munity_error_quark ();
  ctl.bus_type = system_bus ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION;
  if (!connect_to_munityd (&ctl, &status))
    goto out;

  if (g_str_equal (command, "online"))
    status = cmd_online (&ctl, json);
  else if (g_str_equal (command, "watch"))
    status = cmd_watch (&ctl);
  else if (g_str_equal (command, "status"))
    status = cmd_status (&ctl);
  else
    status = cmd_disconnect (&ctl, id);

out:
  g_clear_pointer (&ctl.loop, g_main_loop_unref);
  g_clear_object (&ctl.connection);
  return status;
}
