/* Unit tests of option and configuration file parsing. */
#include "config.h"

#include <glib/gstdio.h>

#include "munity-config.h"
#include "munity-error.h"

static MunityConfig *
parse (const char * const *args,
       GError            **error)
{
  g_autoptr(MunityConfig) config = munity_config_new ();
  g_auto(GStrv) argv = NULL;
  char **argv_copy;
  int argc = g_strv_length ((char **) args) + 1;
  gboolean version = FALSE;

  argv = g_new0 (char *, argc + 1);
  argv[0] = g_strdup ("munityd");
  for (int i = 1; i < argc; i++)
    argv[i] = g_strdup (args[i - 1]);
  argv_copy = argv;

  /* GOptionContext rearranges argv; freeing the original strings is fine. */
  {
    g_autofree char **view = g_memdup2 (argv, sizeof (char *) * (argc + 1));
    char **p = view;
    if (!munity_config_parse_args (config, &argc, &p, &version, error))
      return NULL;
  }
  (void) argv_copy;
  return g_steal_pointer (&config);
}

static void
test_defaults (void)
{
  const char *args[] = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(MunityConfig) config = parse (args, &error);

  g_assert_no_error (error);
  g_assert_null (config->listen);
  g_assert_null (config->database);
  g_assert_cmpint (config->bus, ==, MUNITY_BUS_SESSION);
  g_assert_cmpuint (config->leave_grace_ms, ==, 2000);
  g_assert_cmpstr (config->embedded_db_user, ==, "postgres");
  g_assert_false (config->cookie_secure);
  g_assert_true (g_path_is_absolute (config->state_dir));
  g_assert_false (config->reuse_port);
  g_assert_true (config->node_name_is_default);
  {
    g_autofree char *expected = g_strdup_printf ("%s:8080", g_get_host_name ());
    g_assert_cmpstr (config->node_name, ==, expected);
  }
}

/* The default name follows the first --listen port; an explicit name wins
 * over the file, the command line over both. */
static void
test_node_name (void)
{
  g_autofree char *dir = g_dir_make_tmp ("munity-config-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "munityd.conf", NULL);

  {
    const char *args[] = { "--listen", "127.0.0.1:9123", "--listen", "[::1]:9124", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(MunityConfig) config = parse (args, &error);
    g_autofree char *expected = g_strdup_printf ("%s:9123", g_get_host_name ());

    g_assert_no_error (error);
    g_assert_cmpstr (config->node_name, ==, expected);
    g_assert_true (config->node_name_is_default);
  }
  {
    const char *args[] = { "--node-name", "web1-2", "--listen", "127.0.0.1:9123", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(MunityConfig) config = parse (args, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (config->node_name, ==, "web1-2");
    g_assert_false (config->node_name_is_default);
  }
  {
    const char *args[] = { "--node-name=Nœud 3 — salle B", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(MunityConfig) config = parse (args, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (config->node_name, ==, "Nœud 3 — salle B");
  }

  g_assert_true (g_file_set_contents (path, "[munityd]\nnode-name = from-file \nreuse-port=true\n", -1, NULL));
  {
    const char *args[] = { "--config", path, NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(MunityConfig) config = parse (args, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (config->node_name, ==, "from-file");
    g_assert_true (config->reuse_port);
  }
  {
    const char *args[] = { "--config", path, "--node-name", "from-args", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(MunityConfig) config = parse (args, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (config->node_name, ==, "from-args");
  }
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_node_name_check (void)
{
  g_autofree char *longest = g_strnfill (MUNITY_MAX_NODE_NAME_BYTES, 'a');
  g_autofree char *too_long = g_strnfill (MUNITY_MAX_NODE_NAME_BYTES + 1, 'a');
  const char *good[] = { "web1:8080", "a", "web1-1", "Nœud 3", "節點", longest };
  const char *bad[] = { "", too_long, "tab\there", "line\nbreak", "bell\a", "del\x7f",
                        "\xff\xfe", "c1\xc2\x85" "control", " leading", "trailing ", "\xe2\x80\xa8sep" };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_true (munity_config_check_node_name (good[i], &error));
      g_assert_no_error (error);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (munity_config_check_node_name (bad[i], &error));
      g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG);
      /* one printable line, whatever the name held */
      for (const char *p = error->message; *p != '\0'; p = g_utf8_next_char (p))
        g_assert_true (g_unichar_isprint (g_utf8_get_char (p)));
    }
}

/* The default always passes the check, however odd the host name. */
static void
test_node_name_default (void)
{
  g_autofree char *long_host = g_strnfill (300, 'h');
  g_autofree char *name = NULL;

  name = munity_config_default_node_name ("web1", 8080);
  g_assert_cmpstr (name, ==, "web1:8080");
  g_clear_pointer (&name, g_free);

  name = munity_config_default_node_name (long_host, 65535);
  g_assert_cmpuint (strlen (name), ==, MUNITY_MAX_NODE_NAME_BYTES);
  g_assert_true (g_str_has_suffix (name, ":65535"));
  g_assert_true (munity_config_check_node_name (name, NULL));
  g_clear_pointer (&name, g_free);

  name = munity_config_default_node_name ("we b\n\xc3\xa9", 1);
  g_assert_cmpstr (name, ==, "we-b---:1");
  g_assert_true (munity_config_check_node_name (name, NULL));
  g_clear_pointer (&name, g_free);

  name = munity_config_default_node_name ("", 0);
  g_assert_cmpstr (name, ==, "localhost:0");
}

static void
test_listen (void)
{
  const char *good[] = { "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0", "[::]:65535" };
  const char *bad[] = { "nonsense", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:8080",
                        "[::1]8080", "localhost:8080", "[127.0.0.1]:80", "127.0.0.1:-1", "" };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocketAddress) address = munity_config_parse_listen (good[i], &error);
      g_assert_no_error (error);
      g_assert_nonnull (address);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocketAddress) address = munity_config_parse_listen (bad[i], &error);
      g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG);
      g_assert_null (address);
    }
}

static void
test_bad_options (void)
{
  const char *cases[][3] = {
    { "--listen", "nonsense", NULL },
    { "--leave-grace-ms", "-5", NULL },
    { "--leave-grace-ms", "soon", NULL },
    { "--bus", "bogus", NULL },
    { "--config", "/nonexistent/munityd.conf", NULL },
    { "--database", "host='unterminated", NULL },
    { "--state-dir", "", NULL },
    { "--no-such-option", NULL, NULL },
    { "stray-argument", NULL, NULL },
    { "--max-connections", "many", NULL },
    { "--max-connections-per-address", "-1", NULL },
    { "--request-timeout", "0", NULL },
    { "--request-timeout", "99999", NULL },
    { "--metrics-listen", "localhost:9100", NULL },
    { "--node-name", "", NULL },
    { "--node-name", "two\nlines", NULL },
    { "--node-name", "a-name-that-is-much-longer-than-sixty-four-bytes-and-so-is-refused", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MunityConfig) config = parse (cases[i], &error);

      g_assert_null (config);
      g_assert_nonnull (error);
      g_assert_null (strchr (error->message, '\n'));
    }
}

static void
test_command_line_wins (void)
{
  g_autofree char *dir = g_dir_make_tmp ("munity-config-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "munityd.conf", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(MunityConfig) config = NULL;

  g_assert_true (g_file_set_contents (path,
                                      "[munityd]\n"
                                      "listen=127.0.0.1:9000;[::1]:9001\n"
                                      "database=postgresql:///munity\n"
                                      "state-dir=/tmp/munity-from-file\n"
                                      "bus=none\n"
                                      "leave-grace-ms=500\n"
                                      "allowed-origins=https://Example.org;http://a.example:8080;https://b.example:443\n"
                                      "cookie-secure=true\n"
                                      "embedded-db-user=munity\n"
                                      "max-connections=5000\n"
                                      "max-connections-per-address=7\n"
                                      "request-timeout=30\n"
                                      "metrics-listen=127.0.0.1:9100\n"
                                      "allowed-hosts=Munity.Example.org;127.0.0.1:8080\n"
                                      "[other]\nwhatever=1\n", -1, NULL));
  {
    const char *args[] = { "--config", path, "--bus", "system", "--leave-grace-ms", "0",
                           "--max-connections-per-address", "0", NULL };
    config = parse (args, &error);
  }
  g_assert_no_error (error);
  g_assert_cmpstr (config->config_file, ==, path);
  g_assert_cmpuint (g_strv_length (config->listen), ==, 2);
  g_assert_cmpstr (config->listen[1], ==, "[::1]:9001");
  g_assert_cmpstr (config->database, ==, "postgresql:///munity");
  g_assert_cmpstr (config->state_dir, ==, "/tmp/munity-from-file");
  g_assert_cmpint (config->bus, ==, MUNITY_BUS_SYSTEM);
  g_assert_cmpuint (config->leave_grace_ms, ==, 0);
  g_assert_cmpuint (g_strv_length (config->allowed_origins), ==, 3);
  g_assert_cmpstr (config->allowed_origins[0], ==, "https://example.org");
  g_assert_cmpstr (config->allowed_origins[1], ==, "http://a.example:8080");
  g_assert_cmpstr (config->allowed_origins[2], ==, "https://b.example");
  g_assert_true (config->cookie_secure);
  g_assert_cmpstr (config->embedded_db_user, ==, "munity");
  g_assert_cmpuint (config->max_connections, ==, 5000);
  g_assert_cmpuint (config->max_connections_per_address, ==, 0);
  g_assert_cmpuint (config->request_timeout_s, ==, 30);
  g_assert_cmpstr (config->metrics_listen, ==, "127.0.0.1:9100");
  g_assert_cmpuint (g_strv_length (config->allowed_hosts), ==, 2);
  g_assert_cmpstr (config->allowed_hosts[0], ==, "munity.example.org");

  g_unlink (path);
  g_rmdir (dir);
}

static void
test_bad_key_file (void)
{
  const char *contents[] = {
    "[munityd]\nlisten=nowhere\n",
    "[munityd]\nbus=maybe\n",
    "[munityd]\nleave-grace-ms=-1\n",
    "[munityd]\ncookie-secure=perhaps\n",
    "[munityd]\nallowed-origins=example.org\n",
    "[munityd]\nallowed-origins=https://example.org/path\n",
    "[munityd]\nlisten-on=127.0.0.1:80\n",
    "[munityd]\nembedded-db-user=\n",
    "[munityd]\nmax-connections=lots\n",
    "[munityd]\nrequest-timeout=0\n",
    "[munityd]\nmetrics-listen=9100\n",
    "[munityd]\nallowed-hosts=http://example.org/\n",
    "[munityd]\nnode-name=\n",
    "[munityd]\nnode-name=bad\\tname\n",
    "[munityd]\nreuse-port=sometimes\n",
    "not a key file",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (contents); i++)
    {
      g_autofree char *dir = g_dir_make_tmp ("munity-config-XXXXXX", NULL);
      g_autofree char *path = g_build_filename (dir, "munityd.conf", NULL);
      g_autoptr(GError) error = NULL;
      g_autoptr(MunityConfig) config = NULL;
      const char *args[] = { "--config", path, NULL };

      g_assert_true (g_file_set_contents (path, contents[i], -1, NULL));
      config = parse (args, &error);
      g_assert_null (config);
      g_assert_error (error, MUNITY_ERROR, MUNITY_ERROR_INVALID_CONFIG);
      g_assert_null (strchr (error->message, '\n'));
      g_unlink (path);
      g_rmdir (dir);
    }
}

static void
test_user_config_file (void)
{
  g_autofree char *dir = g_dir_make_tmp ("munity-xdg-XXXXXX", NULL);
  g_autofree char *sub = g_build_filename (dir, "munity", NULL);
  g_autofree char *path = g_build_filename (sub, "munityd.conf", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(MunityConfig) config = NULL;
  const char *args[] = { NULL };

  g_assert_cmpint (g_mkdir_with_parents (sub, 0700), ==, 0);
  g_assert_true (g_file_set_contents (path, "[munityd]\nleave-grace-ms=1234\n", -1, NULL));
  g_setenv ("XDG_CONFIG_HOME", dir, TRUE);
  g_setenv ("MUNITY_SYSTEM_CONFIG_FILE", "/nonexistent/munityd.conf", TRUE);

  config = parse (args, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->leave_grace_ms, ==, 1234);
  g_assert_cmpstr (config->config_file, ==, path);

  g_unlink (path);
  g_rmdir (sub);
  g_rmdir (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *xdg = g_dir_make_tmp ("munity-empty-xdg-XXXXXX", NULL);

  g_test_init (&argc, &argv, NULL);
  /* never read the developer's own configuration */
  g_setenv ("XDG_CONFIG_HOME", xdg, TRUE);
  g_setenv ("MUNITY_SYSTEM_CONFIG_FILE", "/nonexistent/munityd.conf", TRUE);

  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/listen", test_listen);
  g_test_add_func ("/config/node-name", test_node_name);
  g_test_add_func ("/config/node-name-check", test_node_name_check);
  g_test_add_func ("/config/node-name-default", test_node_name_default);
  g_test_add_func ("/config/bad-options", test_bad_options);
  g_test_add_func ("/config/command-line-wins", test_command_line_wins);
  g_test_add_func ("/config/bad-key-file", test_bad_key_file);
  g_test_add_func ("/config/user-config-file", test_user_config_file);

  return g_test_run ();
}
