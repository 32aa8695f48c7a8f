/* munity-config.h — options and configuration file of munityd
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * MunityBusType:
 * @MUNITY_BUS_SESSION: the session bus (default)
 * @MUNITY_BUS_SYSTEM: the system bus
 * @MUNITY_BUS_NONE: no D-Bus at all
 *
 * Which message bus munityd publishes presence on.
 */
typedef enum {
  MUNITY_BUS_SESSION,
  MUNITY_BUS_SYSTEM,
  MUNITY_BUS_NONE,
} MunityBusType;

#define MUNITY_DEFAULT_LISTEN "127.0.0.1:8080"
#define MUNITY_DEFAULT_LEAVE_GRACE_MS 2000
#define MUNITY_MAX_LEAVE_GRACE_MS (24u * 3600u * 1000u)
#define MUNITY_DEFAULT_EMBEDDED_DB_USER "postgres"
#define MUNITY_DEFAULT_MAX_PER_ADDRESS 1024
#define MUNITY_DEFAULT_REQUEST_TIMEOUT_S 10
#define MUNITY_MAX_REQUEST_TIMEOUT_S 3600
#define MUNITY_MAX_NODE_NAME_BYTES 64

/**
 * MunityConfig:
 * @listen: (array zero-terminated=1) (nullable): addresses to listen on as
 *   `ADDR:PORT`; %NULL means the default (or the sockets systemd passed)
 * @database: (nullable): a libpq URL or keyword string; %NULL means the
 *   embedded cluster
 * @state_dir: the state directory, absolute
 * @bus: the message bus to use
 * @leave_grace_ms: how long a user without sockets stays online
 * @allowed_origins: (array zero-terminated=1): extra origins allowed to make
 *   state-changing requests, normalised as `scheme://host[:port]`
 * @cookie_secure: whether the session cookie carries `Secure`
 * @embedded_db_user: the account the embedded PostgreSQL runs as when
 *   munityd runs as root
 * @replace: whether to take over the D-Bus name
 * @config_file: (nullable): the configuration file that was read, if any
 * @max_connections: the cap on open client connections; 0 means the limit
 *   on open files less a reserve
 * @max_connections_per_address: the cap on one address's HTTP connections
 *   that are not WebSockets; 0 means none
 * @request_timeout_s: how long a client may take to send a request's
 *   headers, and each part of its body
 * @metrics_listen: (nullable): where to serve `/metrics` instead of on
 *   every listening address
 * @allowed_hosts: (array zero-terminated=1): the `Host` names (with port,
 *   if not the default) requests may carry; empty means any
 * @tls_certificate: (nullable): a PEM certificate (chain) to serve HTTPS with
 * @tls_key: (nullable): its PEM private key
 * @trusted_proxies: (array zero-terminated=1): addresses or CIDR ranges of
 *   reverse proxies whose `X-Forwarded-For`, `Forwarded` and
 *   `X-Forwarded-Proto` headers are believed
 * @node_name: the name of this node in the cluster (doc/protocol.md §7);
 *   never %NULL: by default the host name and the first listening port
 * @node_name_is_default: whether @node_name is the default, in which case
 *   the daemon fixes its port once the first listening socket is bound
 *   (`--listen 127.0.0.1:0`, sockets passed by systemd)
 * @reuse_port: whether the listening sockets get `SO_REUSEPORT`
 *
 * The configuration of one munityd, merged from its defaults, the
 * configuration file and the command line (which wins).
 */
typedef struct {
  char        **listen;            /* (owned) (nullable) */
  char         *database;          /* (owned) (nullable) */
  char         *state_dir;         /* (owned) */
  MunityBusType bus;
  guint         leave_grace_ms;
  char        **allowed_origins;   /* (owned) */
  gboolean      cookie_secure;
  char         *embedded_db_user;  /* (owned) */
  gboolean      replace;
  char         *config_file;       /* (owned) (nullable) */
  guint         max_connections;
  guint         max_connections_per_address;
  guint         request_timeout_s;
  char         *metrics_listen;    /* (owned) (nullable) */
  char        **allowed_hosts;     /* (owned) */
  char         *tls_certificate;   /* (owned) (nullable) */
  char         *tls_key;           /* (owned) (nullable) */
  char        **trusted_proxies;   /* (owned) */
  char         *node_name;         /* (owned) */
  gboolean      node_name_is_default;
  gboolean      reuse_port;
} MunityConfig;

MunityConfig *munity_config_new              (void);
void          munity_config_free             (MunityConfig  *config);

gboolean      munity_config_parse_args       (MunityConfig  *config,
                                              int           *argc,
                                              char        ***argv,
                                              gboolean      *out_version,
                                              GError       **error);
gboolean      munity_config_load_key_file    (MunityConfig  *config,
                                              GKeyFile      *key_file,
                                              GError       **error);

GSocketAddress *munity_config_parse_listen   (const char    *text,
                                              GError       **error);
char         *munity_config_normalize_origin (const char    *text,
                                              GError       **error);
gboolean      munity_config_parse_bus        (const char    *text,
                                              MunityBusType *out_bus,
                                              GError       **error);
gboolean      munity_config_parse_grace      (const char    *text,
                                              guint         *out_ms,
                                              GError       **error);
char         *munity_config_default_state_dir (void);
gboolean      munity_config_ensure_state_dir (const char    *state_dir,
                                              GError       **error);
gboolean      munity_config_parse_count      (const char    *text,
                                              guint          max,
                                              guint         *out_value,
                                              GError       **error);
char         *munity_config_normalize_host   (const char    *text,
                                              GError       **error);
GInetAddressMask *munity_config_parse_proxy  (const char    *text,
                                              GError       **error);
gboolean      munity_config_check_node_name  (const char    *text,
                                              GError       **error);
char         *munity_config_default_node_name (const char   *host,
                                              guint          port);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MunityConfig, munity_config_free)

G_END_DECLS
