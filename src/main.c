/* main.c — munityd
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <sodium.h>

#include "munity-config.h"
#include "munity-daemon.h"

int
main (int   argc,
      char *argv[])
{
  g_autoptr(MunityConfig) config = NULL;
  g_autoptr(MunityDaemon) daemon = NULL;
  g_autoptr(GError) error = NULL;
  gboolean version = FALSE;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  config = munity_config_new ();
  if (!munity_config_parse_args (config, &argc, &argv, &version, &error))
    {
      g_printerr ("munityd: %s\n", error->message);
      return MUNITY_EXIT_USAGE;
    }

  if (version)
    {
      g_print ("munityd %s\n", PACKAGE_VERSION);
      return MUNITY_EXIT_OK;
    }

  if (sodium_init () < 0)
    {
      g_printerr ("munityd: %s\n", _("cannot initialise libsodium"));
      return MUNITY_EXIT_FAILURE;
    }

  daemon = munity_daemon_new (g_steal_pointer (&config));
  return munity_daemon_run (daemon);
}
