/* munity-config.c — options and configuration file of munityd
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "munity-config.h"
#include "munity-error.h"

#define GROUP "munityd"

static guint
listen_port (const char *text)
{
  g_autoptr(GSocketAddress) address = munity_config_parse_listen (text, NULL);

  return address != NULL ? g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)) : 0;
}

/**
 * munity_config_new: (skip)
 *
 * Returns: (transfer full): a configuration holding the defaults
 */
MunityConfig *
munity_config_new (void)
{
  MunityConfig *config = g_new0 (MunityConfig, 1);

  config->state_dir = munity_config_default_state_dir ();
  config->bus = MUNITY_BUS_SESSION;
  config->leave_grace_ms = MUNITY_DEFAULT_LEAVE_GRACE_MS;
  config->allowed_origins = g_new0 (char *, 1);
  config->embedded_db_user = g_strdup (MUNITY_DEFAULT_EMBEDDED_DB_USER);
  config->max_connections_per_address = MUNITY_DEFAULT_MAX_PER_ADDRESS;
  config->request_timeout_s = MUNITY_DEFAULT_REQUEST_TIMEOUT_S;
  config->allowed_hosts = g_new0 (char *, 1);
  config->trusted_proxies = g_new0 (char *, 1);
  config->node_name = munity_config_default_node_name (g_get_host_name (), listen_port (MUNITY_DEFAULT_LISTEN));
  config->node_name_is_default = TRUE;

  return config;
}

/**
 * munity_config_free: (skip)
 * @config: (transfer full): a configuration
 */
void
munity_config_free (MunityConfig *config)
{
  if (config == NULL)
    return;

  g_strfreev (config->listen);
  g_free (config->database);
  g_free (config->state_dir);
  g_strfreev (config->allowed_origins);
  g_free (config->embedded_db_user);
  g_free (config->config_file);
  g_free (config->metrics_listen);
  g_strfreev (config->allowed_hosts);
  g_free (config->tls_certificate);
  g_free (config->tls_key);
  g_strfreev (config->trusted_proxies);
  g_free (config->node_name);
  g_free (config);
}

/**
 * munity_config_default_state_dir:
 *
 * The state directory when none is configured: `$STATE_DIRECTORY` under
 * systemd, else `/var/lib/munity` for root, else `$XDG_STATE_HOME/munity`.
 *
 * Returns: (transfer full): an absolute path
 */
char *
munity_config_default_state_dir (void)
{
  const char *systemd_dir = g_getenv ("STATE_DIRECTORY");

  if (systemd_dir != NULL && *systemd_dir != '\0')
    {
      /* systemd passes a colon-separated list when several are configured */
      const char *colon = strchr (systemd_dir, ':');
      return colon ? g_strndup (systemd_dir, colon - systemd_dir) : g_strdup (systemd_dir);
    }

  if (geteuid () == 0)
    return g_strdup ("/var/lib/munity");

  return g_build_filename (g_get_user_state_dir (), "munity", NULL);
}

/**
 * munity_config_ensure_state_dir:
 * @state_dir: the state directory
 * @error: return location for a %MUNITY_ERROR_FAILED error
 *
 * Creates the state directory (mode 0700, with its parents) unless it
 * exists, and checks that it is a directory: the one place that does, for
 * munityd and for its embedded PostgreSQL.
 *
 * Returns: %TRUE if @state_dir is a directory now
 */
gboolean
munity_config_ensure_state_dir (const char  *state_dir,
                                GError     **error)
{
  if (g_mkdir_with_parents (state_dir, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                   _("cannot create the state directory %s: %s"),
                   state_dir, g_strerror (saved_errno));
      return FALSE;
    }
  if (!g_file_test (state_dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_FAILED,
                   _("the state directory %s is not a directory"), state_dir);
      return FALSE;
    }
  return TRUE;
}

/**
 * munity_config_parse_listen:
 * @text: an address as `ADDR:PORT`, `[IPV6]:PORT`
 * @error: return location for a %MUNITY_ERROR_INVALID_CONFIG error
 *
 * Parses a listen address. The host must be an IP literal.
 *
 * Returns: (transfer full) (nullable): the address, or %NULL with @error set
 */
GSocketAddress *
munity_config_parse_listen (const char  *text,
                            GError     **error)
{
  g_autofree char *host = NULL;
  const char *port_text;
  guint64 port;
  g_autoptr(GInetAddress) address = NULL;

  if (text[0] == '[')
    {
      const char *end = strchr (text, ']');
      if (end == NULL || end[1] != ':')
        goto bad;
      host = g_strndup (text + 1, end - text - 1);
      port_text = end + 2;
      address = g_inet_address_new_from_string (host);
      if (address == NULL || g_inet_address_get_family (address) != G_SOCKET_FAMILY_IPV6)
        goto bad;
    }
  else
    {
      const char *colon = strrchr (text, ':');
      if (colon == NULL)
        goto bad;
      host = g_strndup (text, colon - text);
      port_text = colon + 1;
      address = g_inet_address_new_from_string (host);
      if (address == NULL || g_inet_address_get_family (address) != G_SOCKET_FAMILY_IPV4)
        goto bad;
    }

  if (!g_ascii_string_to_unsigned (port_text, 10, 0, 65535, &port, NULL))
    goto bad;

  return g_inet_socket_address_new (address, (guint16) port);

bad:
  g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
               _("invalid listen address “%s” (expected ADDR:PORT, e.g. 127.0.0.1:8080 or [::1]:8080)"),
               text);
  return NULL;
}

/**
 * munity_config_normalize_origin:
 * @text: an origin such as `https://example.org`
 * @error: return location for a %MUNITY_ERROR_INVALID_CONFIG error
 *
 * Checks that @text is an HTTP(S) origin — scheme, host and optional port,
 * no path, query or user — and returns it lower-cased, as browsers send it.
 *
 * Returns: (transfer full) (nullable): the normalised origin
 */
char *
munity_config_normalize_origin (const char  *text,
                                GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  const char *scheme;
  const char *path;
  g_autofree char *host = NULL;
  g_autofree char *lower_scheme = NULL;

  uri = g_uri_parse (text, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL)
    goto bad;

  scheme = g_uri_get_scheme (uri);
  path = g_uri_get_path (uri);
  if ((g_ascii_strcasecmp (scheme, "http") != 0 && g_ascii_strcasecmp (scheme, "https") != 0) ||
      g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0' ||
      g_uri_get_userinfo (uri) != NULL || g_uri_get_query (uri) != NULL ||
      g_uri_get_fragment (uri) != NULL || (*path != '\0' && strcmp (path, "/") != 0))
    goto bad;

  lower_scheme = g_ascii_strdown (scheme, -1);
  host = g_ascii_strdown (g_uri_get_host (uri), -1);
  if (strchr (host, ':') != NULL)
    {
      g_autofree char *bracketed = g_strdup_printf ("[%s]", host);
      g_free (host);
      host = g_steal_pointer (&bracketed);
    }

  /* Browsers leave the default port out of Origin. */
  if (g_uri_get_port (uri) != -1 &&
      !(g_str_equal (lower_scheme, "http") && g_uri_get_port (uri) == 80) &&
      !(g_str_equal (lower_scheme, "https") && g_uri_get_port (uri) == 443))
    return g_strdup_printf ("%s://%s:%d", lower_scheme, host, g_uri_get_port (uri));
  return g_strdup_printf ("%s://%s", lower_scheme, host);

bad:
  g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
               _("invalid origin “%s” (expected scheme://host[:port], e.g. https://example.org)"),
               text);
  return NULL;
}

/**
 * munity_config_parse_bus:
 * @text: `session`, `system` or `none`
 * @out_bus: (out): the bus type
 * @error: return location for a %MUNITY_ERROR_INVALID_CONFIG error
 *
 * Returns: %TRUE if @text names a bus
 */
gboolean
munity_config_parse_bus (const char     *text,
                         MunityBusType  *out_bus,
                         GError        **error)
{
  if (g_strcmp0 (text, "session") == 0)
    *out_bus = MUNITY_BUS_SESSION;
  else if (g_strcmp0 (text, "system") == 0)
    *out_bus = MUNITY_BUS_SYSTEM;
  else if (g_strcmp0 (text, "none") == 0)
    *out_bus = MUNITY_BUS_NONE;
  else
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   _("invalid bus “%s” (expected session, system or none)"), text);
      return FALSE;
    }

  return TRUE;
}

/**
 * munity_config_parse_grace:
 * @text: a whole number of milliseconds
 * @out_ms: (out): the grace period
 * @error: return location for a %MUNITY_ERROR_INVALID_CONFIG error
 *
 * Returns: %TRUE if @text is a whole number from 0 to one day
 */
gboolean
munity_config_parse_grace (const char  *text,
                           guint       *out_ms,
                           GError     **error)
{
  guint64 value;

  if (!g_ascii_string_to_unsigned (text, 10, 0, MUNITY_MAX_LEAVE_GRACE_MS, &value, NULL))
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   _("invalid leave grace “%s” (expected milliseconds from 0 to %u)"),
                   text, MUNITY_MAX_LEAVE_GRACE_MS);
      return FALSE;
    }

  *out_ms = (guint) value;
  return TRUE;
}

/**
 * munity_config_parse_count:
 * @text: a whole number
 * @max: the largest value allowed
 * @out_value: (out): the number
 * @error: return location for a %MUNITY_ERROR_INVALID_CONFIG error
 *
 * Returns: %TRUE if @text is a whole number from 0 to @max
 */
gboolean
munity_config_parse_count (const char  *text,
                           guint        max,
                           guint       *out_value,
                           GError     **error)
{
  guint64 value;

  if (!g_ascii_string_to_unsigned (text, 10, 0, max, &value, NULL))
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   _("invalid number “%s” (expected a whole number from 0 to %u)"), text, max);
      return FALSE;
    }

  *out_value = (guint) value;
  return TRUE;
}

/**
 * munity_config_normalize_host:
 * @text: a host name as a `Host` header carries it, such as `example.org`,
 *   `example.org:8443` or `[::1]:8080`
 * @error: return location for a %MUNITY_ERROR_INVALID_CONFIG error
 *
 * Returns: (transfer full) (nullable): @text in lower case
 */
char *
munity_config_normalize_host (const char  *text,
                              GError     **error)
{
  g_autofree char *uri_text = g_strdup_printf ("http://%s/", text);
  g_autoptr(GUri) uri = NULL;

  if (*text == '\0' || strpbrk (text, "/?#@ \t") != NULL ||
      (uri = g_uri_parse (uri_text, G_URI_FLAGS_NONE, NULL)) == NULL ||
      g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0')
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   _("invalid host “%s” (expected a name as the Host header carries it, e.g. example.org or example.org:8443)"),
                   text);
      return NULL;
    }

  return g_ascii_strdown (text, -1);
}

static gboolean
set_allowed_hosts (MunityConfig  *config,
                   char         **list,
                   GError       **error)
{
  g_autoptr(GPtrArray) hosts = g_ptr_array_new_with_free_func (g_free);

  for (gsize j = 0; list != NULL && list[j] != NULL; j++)
    {
      char *host;

      if (*g_strstrip (list[j]) == '\0')
        continue;
      host = munity_config_normalize_host (list[j], error);
      if (host == NULL)
        return FALSE;
      g_ptr_array_add (hosts, host);
    }
  g_ptr_array_add (hosts, NULL);
  g_strfreev (config->allowed_hosts);
  config->allowed_hosts = (char **) g_ptr_array_free (g_steal_pointer (&hosts), FALSE);
  return TRUE;
}

/**
 * munity_config_parse_proxy:
 * @text: an address (`127.0.0.1`, `::1`) or a CIDR range (`10.0.0.0/8`)
 * @error: return location for a %MUNITY_ERROR_INVALID_CONFIG error
 *
 * Returns: (transfer full) (nullable): the range; a single address is a
 *   range of one
 */
GInetAddressMask *
munity_config_parse_proxy (const char  *text,
                           GError     **error)
{
  GInetAddressMask *mask = g_inet_address_mask_new_from_string (text, NULL);

  if (mask == NULL)
    g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                 _("invalid proxy “%s” (expected an IP address or a range such as 10.0.0.0/8)"), text);
  return mask;
}

/**
 * munity_config_check_node_name:
 * @text: a node name
 * @error: return location for a %MUNITY_ERROR_INVALID_CONFIG error
 *
 * A node name is what the other nodes and the operator see
 * (doc/protocol.md §7): 1 to %MUNITY_MAX_NODE_NAME_BYTES bytes of UTF-8,
 * every character printable (no control characters), no white space at
 * either end.
 *
 * Returns: %TRUE if @text is a valid node name
 */
gboolean
munity_config_check_node_name (const char  *text,
                               GError     **error)
{
  gsize length = strlen (text);
  const char *reason = NULL;

  if (length == 0)
    reason = _("the name is empty");
  else if (length > MUNITY_MAX_NODE_NAME_BYTES)
    reason = _("the name is longer than 64 bytes");
  else if (!g_utf8_validate (text, length, NULL))
    reason = _("the name is not valid UTF-8");
  else if (g_unichar_isspace (g_utf8_get_char (text)) ||
           g_unichar_isspace (g_utf8_get_char (g_utf8_find_prev_char (text, text + length))))
    reason = _("the name starts or ends with white space");
  else
    {
      for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
        if (!g_unichar_isprint (g_utf8_get_char (p)))
          {
            reason = _("the name holds a control or unprintable character");
            break;
          }
    }

  if (reason != NULL)
    {
      /* Escaped, so that the error stays one printable line. */
      g_autofree char *shown = g_strescape (text, NULL);

      if (strlen (shown) > 80)
        strcpy (shown + 77, "...");
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   _("invalid node name “%s”: %s"), shown, reason);
      return FALSE;
    }
  return TRUE;
}

/**
 * munity_config_default_node_name:
 * @host: the host name
 * @port: the first listening port
 *
 * The default node name, `HOST:PORT` such as `web1:8080`. A host name too
 * long for %MUNITY_MAX_NODE_NAME_BYTES is cut, and any byte that is not
 * printable ASCII becomes `-`, so that the result is always a valid name.
 *
 * Returns: (transfer full): the name
 */
char *
munity_config_default_node_name (const char *host,
                                 guint       port)
{
  g_autofree char *suffix = g_strdup_printf (":%u", port);
  gsize max_host = MUNITY_MAX_NODE_NAME_BYTES - strlen (suffix);
  g_autofree char *clean = g_strndup (host != NULL && *host != '\0' ? host : "localhost", max_host);

  for (char *p = clean; *p != '\0'; p++)
    if (!g_ascii_isgraph (*p))
      *p = '-';
  return g_strconcat (clean, suffix, NULL);
}

static gboolean
set_node_name (MunityConfig  *config,
               const char    *text,
               GError       **error)
{
  if (!munity_config_check_node_name (text, error))
    return FALSE;
  g_free (config->node_name);
  config->node_name = g_strdup (text);
  config->node_name_is_default = FALSE;
  return TRUE;
}

/* The port of the first socket systemd passed, or 0. Only looks: the
 * daemon takes the sockets (and unsets LISTEN_FDS) later. */
static guint
systemd_first_port (void)
{
  struct sockaddr_storage storage;
  socklen_t length = sizeof storage;

  if (sd_listen_fds (FALSE) <= 0 ||
      getsockname (SD_LISTEN_FDS_START, (struct sockaddr *) &storage, &length) != 0)
    return 0;
  if (storage.ss_family == AF_INET)
    return g_ntohs (((struct sockaddr_in *) &storage)->sin_port);
  if (storage.ss_family == AF_INET6)
    return g_ntohs (((struct sockaddr_in6 *) &storage)->sin6_port);
  return 0;
}

/* The default name follows the first listening port as far as it is known
 * now; the daemon settles a port 0 (or an unknown systemd socket) once the
 * socket is bound. */
static void
default_node_name (MunityConfig *config)
{
  guint port = 0;

  if (config->listen != NULL)
    port = listen_port (config->listen[0]);
  else
    port = systemd_first_port ();
  if (port == 0 && config->listen == NULL)
    port = listen_port (MUNITY_DEFAULT_LISTEN);

  g_free (config->node_name);
  config->node_name = munity_config_default_node_name (g_get_host_name (), port);
}

static gboolean
set_trusted_proxies (MunityConfig  *config,
                     char         **list,
                     GError       **error)
{
  g_autoptr(GPtrArray) proxies = g_ptr_array_new_with_free_func (g_free);

  for (gsize j = 0; list != NULL && list[j] != NULL; j++)
    {
      g_autoptr(GInetAddressMask) mask = NULL;

      if (*g_strstrip (list[j]) == '\0')
        continue;
      mask = munity_config_parse_proxy (list[j], error);
      if (mask == NULL)
        return FALSE;
      g_ptr_array_add (proxies, g_strdup (list[j]));
    }
  g_ptr_array_add (proxies, NULL);
  g_strfreev (config->trusted_proxies);
  config->trusted_proxies = (char **) g_ptr_array_free (g_steal_pointer (&proxies), FALSE);
  return TRUE;
}

/* Both files or neither; both are read now so that a bad or unreadable
 * certificate stops munityd at start-up with one line (exit 2). */
static gboolean
check_tls (MunityConfig  *config,
           GError       **error)
{
  g_autoptr(GTlsCertificate) certificate = NULL;
  GError *local_error = NULL;

  if (config->tls_certificate == NULL && config->tls_key == NULL)
    return TRUE;
  if (config->tls_certificate == NULL || config->tls_key == NULL)
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   _("tls-certificate and tls-key go together: give both or neither"));
      return FALSE;
    }

  certificate = g_tls_certificate_new_from_files (config->tls_certificate, config->tls_key, &local_error);
  if (certificate == NULL)
    {
      g_autofree char *reason = g_strdup (local_error->message);
      g_strstrip (g_strdelimit (reason, "\n", ' '));
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   _("cannot use the TLS certificate %s with the key %s: %s"),
                   config->tls_certificate, config->tls_key, reason);
      g_error_free (local_error);
      return FALSE;
    }
  return TRUE;
}

static gboolean
set_metrics_listen (MunityConfig  *config,
                    const char    *text,
                    GError       **error)
{
  g_autoptr(GSocketAddress) address = munity_config_parse_listen (text, error);

  if (address == NULL)
    return FALSE;
  g_free (config->metrics_listen);
  config->metrics_listen = g_strdup (text);
  return TRUE;
}

static gboolean
check_database (const char  *text,
                GError     **error)
{
  char *errmsg = NULL;
  PQconninfoOption *options;

  if (*text == '\0')
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   _("invalid database: the connection string is empty"));
      return FALSE;
    }

  /* Parses only; connects to nothing. */
  options = PQconninfoParse (text, &errmsg);
  if (options == NULL)
    {
      g_autofree char *reason = g_strdup (errmsg ? errmsg : "out of memory");
      g_strstrip (g_strdelimit (reason, "\n", ' '));
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   _("invalid database connection string: %s"), reason);
      PQfreemem (errmsg);
      return FALSE;
    }

  PQconninfoFree (options);
  return TRUE;
}

static gboolean
set_listen (MunityConfig        *config,
            const char * const  *addresses,
            GError             **error)
{
  if (addresses == NULL || addresses[0] == NULL)
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   _("invalid listen: no address given"));
      return FALSE;
    }

  for (gsize i = 0; addresses[i] != NULL; i++)
    {
      g_autoptr(GSocketAddress) address = munity_config_parse_listen (addresses[i], error);
      if (address == NULL)
        return FALSE;
    }

  g_strfreev (config->listen);
  config->listen = g_strdupv ((char **) addresses);
  return TRUE;
}

static gboolean
set_state_dir (MunityConfig  *config,
               const char    *dir,
               GError       **error)
{
  if (*dir == '\0')
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   _("invalid state directory: the path is empty"));
      return FALSE;
    }

  g_free (config->state_dir);
  config->state_dir = g_canonicalize_filename (dir, NULL);
  return TRUE;
}

static gboolean
prefix_error (GError     **error,
              const char  *key,
              GError      *local_error)
{
  g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
               "%s: %s", key, local_error->message);
  g_error_free (local_error);
  return FALSE;
}

/**
 * munity_config_load_key_file:
 * @config: a configuration
 * @key_file: a parsed configuration file
 * @error: return location for a %MUNITY_ERROR_INVALID_CONFIG error
 *
 * Applies the `[munityd]` group of @key_file to @config. Unknown keys in
 * that group are errors, so that a typo does not go unnoticed; other groups
 * are ignored.
 *
 * Returns: %TRUE if every key was valid
 */
gboolean
munity_config_load_key_file (MunityConfig  *config,
                             GKeyFile      *key_file,
                             GError       **error)
{
  g_auto(GStrv) keys = NULL;
  GError *local_error = NULL;

  if (!g_key_file_has_group (key_file, GROUP))
    return TRUE;

  keys = g_key_file_get_keys (key_file, GROUP, NULL, NULL);
  for (gsize i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      const char *key = keys[i];

      if (g_str_equal (key, "listen"))
        {
          g_auto(GStrv) list = g_key_file_get_string_list (key_file, GROUP, key, NULL, &local_error);
          if (list == NULL && local_error == NULL)
            list = g_new0 (char *, 1);
          if (local_error != NULL || !set_listen (config, (const char * const *) list, &local_error))
            return prefix_error (error, key, local_error);
        }
      else if (g_str_equal (key, "database"))
        {
          g_autofree char *value = g_key_file_get_string (key_file, GROUP, key, &local_error);
          if (local_error != NULL || !check_database (value, &local_error))
            return prefix_error (error, key, local_error);
          g_free (config->database);
          config->database = g_steal_pointer (&value);
        }
      else if (g_str_equal (key, "state-dir"))
        {
          g_autofree char *value = g_key_file_get_string (key_file, GROUP, key, &local_error);
          if (local_error != NULL || !set_state_dir (config, value, &local_error))
            return prefix_error (error, key, local_error);
        }
      else if (g_str_equal (key, "bus"))
        {
          g_autofree char *value = g_key_file_get_string (key_file, GROUP, key, &local_error);
          if (local_error != NULL || !munity_config_parse_bus (value, &config->bus, &local_error))
            return prefix_error (error, key, local_error);
        }
      else if (g_str_equal (key, "leave-grace-ms"))
        {
          g_autofree char *value = g_key_file_get_string (key_file, GROUP, key, &local_error);
          if (local_error != NULL || !munity_config_parse_grace (g_strstrip (value), &config->leave_grace_ms, &local_error))
            return prefix_error (error, key, local_error);
        }
      else if (g_str_equal (key, "allowed-origins"))
        {
          g_auto(GStrv) list = g_key_file_get_string_list (key_file, GROUP, key, NULL, &local_error);
          g_autoptr(GPtrArray) origins = g_ptr_array_new_with_free_func (g_free);

          if (local_error != NULL)
            return prefix_error (error, key, local_error);
          for (gsize j = 0; list != NULL && list[j] != NULL; j++)
            {
              char *origin;

              if (*g_strstrip (list[j]) == '\0')
                continue;
              origin = munity_config_normalize_origin (list[j], &local_error);
              if (origin == NULL)
                return prefix_error (error, key, local_error);
              g_ptr_array_add (origins, origin);
            }
          g_ptr_array_add (origins, NULL);
          g_strfreev (config->allowed_origins);
          config->allowed_origins = (char **) g_ptr_array_free (g_steal_pointer (&origins), FALSE);
        }
      else if (g_str_equal (key, "cookie-secure"))
        {
          gboolean value = g_key_file_get_boolean (key_file, GROUP, key, &local_error);
          if (local_error != NULL)
            return prefix_error (error, key, local_error);
          config->cookie_secure = value;
        }
      else if (g_str_equal (key, "embedded-db-user"))
        {
          g_autofree char *value = g_key_file_get_string (key_file, GROUP, key, &local_error);
          if (local_error != NULL)
            return prefix_error (error, key, local_error);
          if (*g_strstrip (value) == '\0')
            {
              g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                           _("%s: the user name is empty"), key);
              return FALSE;
            }
          g_free (config->embedded_db_user);
          config->embedded_db_user = g_steal_pointer (&value);
        }
      else if (g_str_equal (key, "max-connections") || g_str_equal (key, "max-connections-per-address") ||
               g_str_equal (key, "request-timeout"))
        {
          g_autofree char *value = g_key_file_get_string (key_file, GROUP, key, &local_error);
          guint *target = g_str_equal (key, "max-connections") ? &config->max_connections
                        : g_str_equal (key, "request-timeout") ? &config->request_timeout_s
                        : &config->max_connections_per_address;
          guint max = g_str_equal (key, "request-timeout") ? MUNITY_MAX_REQUEST_TIMEOUT_S : G_MAXINT;

          if (local_error != NULL || !munity_config_parse_count (g_strstrip (value), max, target, &local_error))
            return prefix_error (error, key, local_error);
          if (target == &config->request_timeout_s && *target == 0)
            {
              g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                           _("%s: the timeout must be at least 1 second"), key);
              return FALSE;
            }
        }
      else if (g_str_equal (key, "metrics-listen"))
        {
          g_autofree char *value = g_key_file_get_string (key_file, GROUP, key, &local_error);
          if (local_error != NULL || !set_metrics_listen (config, g_strstrip (value), &local_error))
            return prefix_error (error, key, local_error);
        }
      else if (g_str_equal (key, "tls-certificate") || g_str_equal (key, "tls-key"))
        {
          g_autofree char *value = g_key_file_get_string (key_file, GROUP, key, &local_error);
          char **target = g_str_equal (key, "tls-key") ? &config->tls_key : &config->tls_certificate;

          if (local_error != NULL)
            return prefix_error (error, key, local_error);
          if (*g_strstrip (value) == '\0')
            {
              g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG, _("%s: the path is empty"), key);
              return FALSE;
            }
          g_free (*target);
          *target = g_steal_pointer (&value);
        }
      else if (g_str_equal (key, "trusted-proxies"))
        {
          g_auto(GStrv) list = g_key_file_get_string_list (key_file, GROUP, key, NULL, &local_error);
          if (local_error != NULL || !set_trusted_proxies (config, list, &local_error))
            return prefix_error (error, key, local_error);
        }
      else if (g_str_equal (key, "node-name"))
        {
          g_autofree char *value = g_key_file_get_string (key_file, GROUP, key, &local_error);
          if (local_error != NULL || !set_node_name (config, g_strstrip (value), &local_error))
            return prefix_error (error, key, local_error);
        }
      else if (g_str_equal (key, "reuse-port"))
        {
          gboolean value = g_key_file_get_boolean (key_file, GROUP, key, &local_error);
          if (local_error != NULL)
            return prefix_error (error, key, local_error);
          config->reuse_port = value;
        }
      else if (g_str_equal (key, "allowed-hosts"))
        {
          g_auto(GStrv) list = g_key_file_get_string_list (key_file, GROUP, key, NULL, &local_error);
          if (local_error != NULL || !set_allowed_hosts (config, list, &local_error))
            return prefix_error (error, key, local_error);
        }
      else
        {
          g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                       _("unknown key “%s” in group [%s]"), key, GROUP);
          return FALSE;
        }
    }

  return TRUE;
}

static const char *
system_config_file (void)
{
  /* Test hook: tests cannot write to /etc. */
  const char *path = g_getenv ("MUNITY_SYSTEM_CONFIG_FILE");
  return path != NULL ? path : "/etc/munity/munityd.conf";
}

static gboolean
load_config_file (MunityConfig  *config,
                  const char    *explicit_path,
                  GError       **error)
{
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autofree char *user_path = NULL;
  const char *path = explicit_path;
  GError *local_error = NULL;

  if (path == NULL)
    {
      /* Read the variable each time: GLib caches g_get_user_config_dir(). */
      const char *xdg = g_getenv ("XDG_CONFIG_HOME");
      user_path = g_build_filename (xdg != NULL && g_path_is_absolute (xdg) ? xdg : g_get_user_config_dir (),
                                    "munity", "munityd.conf", NULL);
      if (g_file_test (system_config_file (), G_FILE_TEST_EXISTS))
        path = system_config_file ();
      else if (g_file_test (user_path, G_FILE_TEST_EXISTS))
        path = user_path;
      else
        return TRUE;
    }

  if (!g_key_file_load_from_file (key_file, path, G_KEY_FILE_NONE, &local_error))
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   _("cannot read configuration file %s: %s"), path, local_error->message);
      g_error_free (local_error);
      return FALSE;
    }

  if (!munity_config_load_key_file (config, key_file, &local_error))
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   "%s: %s", path, local_error->message);
      g_error_free (local_error);
      return FALSE;
    }

  g_free (config->config_file);
  config->config_file = g_strdup (path);
  return TRUE;
}

/**
 * munity_config_parse_args:
 * @config: a configuration holding the defaults
 * @argc: (inout): the argument count
 * @argv: (inout) (array length=argc): the arguments
 * @out_version: (out): set to %TRUE if `--version` was given
 * @error: return location for a %MUNITY_ERROR_INVALID_CONFIG or
 *   #GOptionError error
 *
 * Parses the command line, reads the configuration file it names (or the
 * default one) and merges both into @config, the command line winning.
 *
 * Returns: %TRUE on success; on failure munityd exits with status 2
 */
gboolean
munity_config_parse_args (MunityConfig   *config,
                          int            *argc,
                          char         ***argv,
                          gboolean       *out_version,
                          GError        **error)
{
  g_autofree char *config_file = NULL;
  g_auto(GStrv) listen = NULL;
  g_autofree char *database = NULL;
  g_autofree char *state_dir = NULL;
  g_autofree char *bus = NULL;
  g_autofree char *grace = NULL;
  g_autofree char *max_connections = NULL;
  g_autofree char *max_per_address = NULL;
  g_autofree char *request_timeout = NULL;
  g_autofree char *metrics_listen = NULL;
  g_autofree char *tls_certificate = NULL;
  g_autofree char *tls_key = NULL;
  g_auto(GStrv) trusted_proxies = NULL;
  g_autofree char *node_name = NULL;
  gboolean reuse_port = FALSE;
  gboolean replace = FALSE;
  gboolean version = FALSE;
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_file,
      N_("Read the configuration from FILE"), N_("FILE") },
    { "listen", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &listen,
      N_("Listen on ADDR:PORT (repeatable; default 127.0.0.1:8080)"), N_("ADDR:PORT") },
    { "database", 'd', 0, G_OPTION_ARG_STRING, &database,
      N_("Use this PostgreSQL server (URL or libpq keyword string) instead of the embedded one"), N_("URL") },
    { "state-dir", 's', 0, G_OPTION_ARG_FILENAME, &state_dir,
      N_("Keep state (and the embedded database) in DIR"), N_("DIR") },
    { "bus", 'b', 0, G_OPTION_ARG_STRING, &bus,
      N_("Publish presence on the session or system bus, or none"), N_("session|system|none") },
    { "leave-grace-ms", 'g', 0, G_OPTION_ARG_STRING, &grace,
      N_("Keep a user online this long after the last socket closed (0: leave at once)"), N_("N") },
    { "max-connections", 0, 0, G_OPTION_ARG_STRING, &max_connections,
      N_("Serve at most N client connections at once (default: the open-file limit less 256)"), N_("N") },
    { "max-connections-per-address", 0, 0, G_OPTION_ARG_STRING, &max_per_address,
      N_("Serve at most N HTTP requests at once from one address or IPv6 /64 (default 1024; 0: no cap)"), N_("N") },
    { "request-timeout", 0, 0, G_OPTION_ARG_STRING, &request_timeout,
      N_("Close a connection whose request headers, or the next part of its body, take longer (default 10)"), N_("SECONDS") },
    { "metrics-listen", 0, 0, G_OPTION_ARG_STRING, &metrics_listen,
      N_("Serve /metrics on ADDR:PORT only, not on the --listen addresses"), N_("ADDR:PORT") },
    { "tls-certificate", 0, 0, G_OPTION_ARG_FILENAME, &tls_certificate,
      N_("Serve HTTPS and wss:// with this PEM certificate (chain)"), N_("FILE") },
    { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key,
      N_("The PEM private key of --tls-certificate"), N_("FILE") },
    { "trusted-proxy", 0, 0, G_OPTION_ARG_STRING_ARRAY, &trusted_proxies,
      N_("Believe X-Forwarded-For/-Proto from this reverse proxy (repeatable)"), N_("ADDR[/BITS]") },
    /* FILENAME: the bytes as given, not converted from the locale's
     * charset, which is ASCII for a service started without LANG; the
     * name is checked to be UTF-8 below. */
    { "node-name", 0, 0, G_OPTION_ARG_FILENAME, &node_name,
      N_("Name this node of the cluster (default: the host name and the first listening port, e.g. web1:8080)"), N_("NAME") },
    { "reuse-port", 0, 0, G_OPTION_ARG_NONE, &reuse_port,
      N_("Set SO_REUSEPORT on the listening sockets, so that several nodes share a port"), NULL },
    { "replace", 'r', 0, G_OPTION_ARG_NONE, &replace,
      N_("Take over the D-Bus name from a running munityd"), NULL },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &version,
      N_("Print the version and exit"), NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = NULL;
  GError *local_error = NULL;

  context = g_option_context_new (NULL);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context, _("munityd — who is online right now: HTTP, WebSockets and D-Bus."));
  g_option_context_set_description (context,
    _("Without --database, munityd runs a private PostgreSQL cluster in its state directory.\n"
      "Configuration: --config FILE, else /etc/munity/munityd.conf, else\n"
      "$XDG_CONFIG_HOME/munity/munityd.conf (group [munityd]); the command line wins."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);

  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;

  *out_version = version;
  if (version)
    return TRUE;

  if (*argc > 1)
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   _("unexpected argument “%s”"), (*argv)[1]);
      return FALSE;
    }

  if (config_file != NULL && !g_file_test (config_file, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                   _("configuration file %s does not exist"), config_file);
      return FALSE;
    }

  if (!load_config_file (config, config_file, error))
    return FALSE;

  if (listen != NULL && !set_listen (config, (const char * const *) listen, &local_error))
    return prefix_error (error, "--listen", local_error);
  if (database != NULL)
    {
      if (!check_database (database, &local_error))
        return prefix_error (error, "--database", local_error);
      g_free (config->database);
      config->database = g_steal_pointer (&database);
    }
  if (state_dir != NULL && !set_state_dir (config, state_dir, &local_error))
    return prefix_error (error, "--state-dir", local_error);
  if (bus != NULL && !munity_config_parse_bus (bus, &config->bus, &local_error))
    return prefix_error (error, "--bus", local_error);
  if (grace != NULL && !munity_config_parse_grace (grace, &config->leave_grace_ms, &local_error))
    return prefix_error (error, "--leave-grace-ms", local_error);
  if (max_connections != NULL &&
      !munity_config_parse_count (max_connections, G_MAXINT, &config->max_connections, &local_error))
    return prefix_error (error, "--max-connections", local_error);
  if (max_per_address != NULL &&
      !munity_config_parse_count (max_per_address, G_MAXINT, &config->max_connections_per_address, &local_error))
    return prefix_error (error, "--max-connections-per-address", local_error);
  if (request_timeout != NULL)
    {
      if (!munity_config_parse_count (request_timeout, MUNITY_MAX_REQUEST_TIMEOUT_S, &config->request_timeout_s, &local_error))
        return prefix_error (error, "--request-timeout", local_error);
      if (config->request_timeout_s == 0)
        {
          g_set_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG,
                       _("--request-timeout: the timeout must be at least 1 second"));
          return FALSE;
        }
    }
  if (metrics_listen != NULL && !set_metrics_listen (config, metrics_listen, &local_error))
    return prefix_error (error, "--metrics-listen", local_error);
  if (tls_certificate != NULL)
    {
      g_free (config->tls_certificate);
      config->tls_certificate = g_steal_pointer (&tls_certificate);
    }
  if (tls_key != NULL)
    {
      g_free (config->tls_key);
      config->tls_key = g_steal_pointer (&tls_key);
    }
  if (!check_tls (config, error))
    return FALSE;
  if (trusted_proxies != NULL && !set_trusted_proxies (config, trusted_proxies, &local_error))
    return prefix_error (error, "--trusted-proxy", local_error);
  if (node_name != NULL && !set_node_name (config, node_name, &local_error))
    return prefix_error (error, "--node-name", local_error);
  if (reuse_port)
    config->reuse_port = TRUE;
  if (replace)
    config->replace = TRUE;
  if (config->node_name_is_default)
    default_node_name (config);

  return TRUE;
}
