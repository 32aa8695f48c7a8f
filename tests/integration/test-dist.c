/* The release tarball, as doc/deploy.md installs it: `meson dist` of the
 * committed tree, unpacked, configured, built and installed into a temporary
 * prefix without npm; every installed file is checked, then the installed
 * munityd (embedded PostgreSQL) runs with the unpacked tree and its build
 * gone and must serve GET / and the client's files from $prefix/share/munity/web.
 * Registered only in a git checkout: a tarball cannot make a tarball. */
#include "config.h"

#include <glib/gstdio.h>

#include "munity-test-daemon.h"

/* The test's temporary directory, made (and $MUNITYD pointed into it) in
 * main(), before GLib starts any thread: setenv() is not thread-safe. */
static char *work_dir;

static char *
need_program (const char *name)
{
  char *path = g_find_program_in_path (name);

  if (path == NULL)
    g_error ("%s is not installed (.ci/install-deps installs it)", name);
  return path;
}

/* Runs @argv in @cwd, with $PATH = @path unless NULL; its output (stdout
 * and stderr) goes to the test log only when it fails, which fails the
 * test. */
static void
run_with_path (const char         *cwd,
               const char         *path,
               const char * const *argv)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *cmd = g_strjoinv (" ", (char **) argv);
  g_autofree char *out = NULL;
  gint64 start = g_get_monotonic_time ();

  g_subprocess_launcher_set_cwd (launcher, cwd);
  if (path != NULL)
    g_subprocess_launcher_setenv (launcher, "PATH", path, TRUE);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("%s: exit %d after %.1f s", cmd,
                  g_subprocess_get_exit_status (proc),
                  (g_get_monotonic_time () - start) / 1e6);
  if (!g_subprocess_get_successful (proc))
    {
      g_test_message ("%s", out);
      g_error ("%s failed", cmd);
    }
}

static void
run (const char         *cwd,
     const char * const *argv)
{
  run_with_path (cwd, NULL, argv);
}

/* A directory whose node, npm and npx only leave a mark in @marker and
 * fail: first on $PATH, it shows that installing from the tarball needs no
 * Node.js. */
static char *
poisoned_path (const char *dir,
               const char *marker)
{
  const char *names[] = { "node", "npm", "npx" };
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (dir, names[i], NULL);
      g_autofree char *script = g_strdup_printf ("#!/bin/sh\necho \"$0 $*\" >>'%s'\nexit 1\n", marker);

      g_file_set_contents (path, script, -1, &error);
      g_assert_no_error (error);
      g_assert_cmpint (g_chmod (path, 0755), ==, 0);
    }
  return g_strconcat (dir, ":", g_getenv ("PATH"), NULL);
}

static void
assert_file (const char *prefix,
             const char *relative)
{
  g_autofree char *path = g_build_filename (prefix, relative, NULL);

  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    g_error ("the install holds no %s", relative);
}

static GBytes *
read_bytes (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *contents = NULL;
  gsize len = 0;

  g_file_get_contents (path, &contents, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (contents, len);
}

/* Every file of @from (the tarball's src/web/dist) is in @to, the same;
 * appends their paths relative to @from to @files. */
static void
assert_same_tree (const char *from,
                  const char *to,
                  const char *relative,
                  GPtrArray  *files)
{
  g_autofree char *dir_path = g_build_filename (from, relative, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, &error);
  const char *name;

  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *rel = relative[0] != '\0' ? g_build_filename (relative, name, NULL) : g_strdup (name);
      g_autofree char *a = g_build_filename (from, rel, NULL);
      g_autofree char *b = g_build_filename (to, rel, NULL);

      if (g_file_test (a, G_FILE_TEST_IS_DIR))
        {
          assert_same_tree (from, to, rel, files);
          continue;
        }
      {
        g_autoptr(GBytes) want = read_bytes (a);
        g_autoptr(GBytes) got = NULL;

        if (!g_file_test (b, G_FILE_TEST_IS_REGULAR))
          g_error ("the tarball's src/web/dist/%s was not installed", rel);
        got = read_bytes (b);
        g_assert_true (g_bytes_equal (want, got));
        g_ptr_array_add (files, g_steal_pointer (&rel));
      }
    }
}

static char *
find_tarball (const char *dist_dir)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = g_dir_open (dist_dir, 0, &error);
  const char *name;
  char *found = NULL;

  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, "munity-") && g_str_has_suffix (name, ".tar.xz"))
      {
        g_assert_null (found);
        found = g_build_filename (dist_dir, name, NULL);
      }
  if (found == NULL)
    g_error ("meson dist made no munity-*.tar.xz in %s", dist_dir);
  return found;
}

static void
test_tarball_installs_and_serves (void)
{
  const char *source_root = g_getenv ("MUNITY_SOURCE_ROOT");
  g_autofree char *meson = need_program ("meson");
  g_autofree char *ninja = need_program ("ninja");
  g_autofree char *python = need_program ("python3");
  g_autofree char *git = need_program ("git");
  const char *tmp = work_dir;
  g_autofree char *dist_build = g_build_filename (tmp, "dist-build", NULL);
  g_autofree char *dist_dir = g_build_filename (dist_build, "meson-dist", NULL);
  g_autofree char *unpack = g_build_filename (tmp, "unpack", NULL);
  g_autofree char *build = g_build_filename (tmp, "build", NULL);
  g_autofree char *prefix = g_build_filename (tmp, "prefix", NULL);
  g_autofree char *prefix_arg = g_strdup_printf ("--prefix=%s", prefix);
  g_autofree char *no_node_dir = g_build_filename (tmp, "no-node", NULL);
  g_autofree char *node_marker = g_build_filename (tmp, "node-was-run", NULL);
  g_autofree char *no_node_path = NULL;
  g_autofree char *tarball = NULL;
  g_autofree char *base = NULL;
  g_autofree char *unpacked = NULL;
  g_autofree char *tarball_web = NULL;
  g_autofree char *installed_web = NULL;
  g_autofree char *installed_munityd = NULL;
  g_autofree char *linguas_path = NULL;
  g_autofree char *linguas = NULL;
  g_autofree char *unit = NULL;
  g_autofree char *exec_start = NULL;
  g_autoptr(GPtrArray) web_files = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) languages = NULL;
  g_autoptr(MunityTestDaemon) d = NULL;
  g_autoptr(SoupSession) session = NULL;

  g_assert_nonnull (source_root);
  /* Left behind when a step fails, for a look at the logs there. */
  g_test_message ("working in %s", tmp);

  /* 1. The tarball, as a maintainer makes it. --allow-dirty: meson dist
   * packs HEAD in any case, and other work may be under way in the tree;
   * --no-tests: its own check would run this whole suite again. */
  {
    const char *git_argv[] = { git, "-C", source_root, "rev-parse", "--verify", "HEAD", NULL };
    const char *setup[] = { meson, "setup", dist_build, source_root, NULL };
    const char *dist[] = { meson, "dist", "-C", dist_build, "--no-tests", "--allow-dirty",
                           "--formats", "xztar", NULL };

    run (tmp, git_argv);
    run (tmp, setup);
    run (tmp, dist);
  }
  tarball = find_tarball (dist_dir);

  /* 2. Unpacked (Python's tarfile: meson needs python3 anyway, tar would
   * need xz-utils), configured, built and installed without Node.js. */
  g_assert_cmpint (g_mkdir (unpack, 0755), ==, 0);
  {
    const char *extract[] = { python, "-m", "tarfile", "-e", tarball, unpack, NULL };
    run (tmp, extract);
  }
  base = g_path_get_basename (tarball);
  base[strlen (base) - strlen (".tar.xz")] = '\0';
  unpacked = g_build_filename (unpack, base, NULL);
  tarball_web = g_build_filename (unpacked, "src", "web", "dist", NULL);
  {
    g_autofree char *index = g_build_filename (tarball_web, "index.html", NULL);
    g_autofree char *node_modules = g_build_filename (unpacked, "src", "web", "node_modules", NULL);
    g_autofree char *dot_git = g_build_filename (unpacked, ".git", NULL);

    if (!g_file_test (index, G_FILE_TEST_IS_REGULAR))
      g_error ("the tarball carries no src/web/dist/index.html");
    g_assert_false (g_file_test (node_modules, G_FILE_TEST_EXISTS));
    g_assert_false (g_file_test (dot_git, G_FILE_TEST_EXISTS));
  }
  {
    const char *setup[] = { meson, "setup", build, unpacked, prefix_arg,
                            "--buildtype=plain", "-Dwerror=false", NULL };
    const char *compile[] = { ninja, "-C", build, NULL };
    const char *install[] = { meson, "install", "-C", build, "--no-rebuild", NULL };

    no_node_path = poisoned_path (no_node_dir, node_marker);
    run_with_path (tmp, no_node_path, setup);
    run_with_path (tmp, no_node_path, compile);
    run_with_path (tmp, no_node_path, install);
    if (g_file_test (node_marker, G_FILE_TEST_EXISTS))
      {
        g_autofree char *calls = NULL;

        g_file_get_contents (node_marker, &calls, NULL, NULL);
        g_error ("building or installing the tarball ran Node.js:\n%s", calls);
      }
  }

  /* 3. What the install holds. */
  assert_file (prefix, "sbin/munityd");
  assert_file (prefix, "bin/munityctl");
  assert_file (prefix, "lib/systemd/system/munityd.service");
  assert_file (prefix, "lib/systemd/system/munityd.socket");
  assert_file (prefix, "lib/systemd/user/munityd.service");
  assert_file (prefix, "lib/sysusers.d/munity.conf");
  assert_file (prefix, "lib/tmpfiles.d/munity.conf");
  assert_file (prefix, "share/dbus-1/system-services/org.munity.Presence1.service");
  assert_file (prefix, "share/dbus-1/services/org.munity.Presence1.service");
  assert_file (prefix, "share/dbus-1/system.d/org.munity.Presence1.conf");
  assert_file (prefix, "share/dbus-1/interfaces/org.munity.Presence1.xml");
  assert_file (prefix, "share/man/man8/munityd.8");
  assert_file (prefix, "share/man/man1/munityctl.1");
  assert_file (prefix, "etc/munity/munityd.conf");
  assert_file (prefix, "share/munity/nginx/munity.conf");
  assert_file (prefix, "share/munity/web/index.html");

  linguas_path = g_build_filename (unpacked, "po", "LINGUAS", NULL);
  g_assert_true (g_file_get_contents (linguas_path, &linguas, NULL, NULL));
  languages = g_strsplit_set (linguas, " \n", -1);
  for (gsize i = 0; languages[i] != NULL; i++)
    if (languages[i][0] != '\0' && languages[i][0] != '#')
      {
        g_autofree char *mo = g_build_filename ("share", "locale", languages[i], "LC_MESSAGES", "munity.mo", NULL);
        assert_file (prefix, mo);
      }

  /* The units start the installed binary. */
  installed_munityd = g_build_filename (prefix, "sbin", "munityd", NULL);
  g_assert_cmpstr (g_getenv ("MUNITYD"), ==, installed_munityd);
  exec_start = g_strdup_printf ("\nExecStart=%s ", installed_munityd);
  {
    g_autofree char *unit_path = g_build_filename (prefix, "lib", "systemd", "system", "munityd.service", NULL);
    g_assert_true (g_file_get_contents (unit_path, &unit, NULL, NULL));
    g_assert_nonnull (strstr (unit, exec_start));
  }

  installed_web = g_build_filename (prefix, "share", "munity", "web", NULL);
  assert_same_tree (tarball_web, installed_web, "", web_files);
  g_assert_cmpuint (web_files->len, >=, 2);

  /* An upgrade (the same install again) keeps the operator's configuration;
   * then the sample goes back, for munityd to read below. */
  {
    g_autofree char *conf = g_build_filename (prefix, "etc", "munity", "munityd.conf", NULL);
    const char *mine = "# the operator's\n[munityd]\nleave-grace-ms=2000\n";
    const char *install[] = { meson, "install", "-C", build, "--no-rebuild", NULL };
    g_autofree char *sample = NULL;
    g_autofree char *after = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_true (g_file_get_contents (conf, &sample, NULL, NULL));
    g_file_set_contents (conf, mine, -1, &error);
    g_assert_no_error (error);
    run_with_path (tmp, no_node_path, install);
    g_assert_true (g_file_get_contents (conf, &after, NULL, NULL));
    g_assert_cmpstr (after, ==, mine);
    g_file_set_contents (conf, sample, -1, &error);
    g_assert_no_error (error);
  }

  /* 4. The installed munityd on its own: nothing left of the tarball or its
   * build that it could serve from instead (its compiled-in fallback is
   * the unpacked tree's src/web/dist). */
  munity_test_rm_rf (build);
  munity_test_rm_rf (unpack);
  munity_test_rm_rf (dist_build);

  {
    const char *argv[] = { "--version", NULL };
    g_autofree char *want = g_strdup_printf ("munityd %s\n", base + strlen ("munity-"));
    g_autofree char *version = NULL;

    g_assert_cmpint (munity_test_munityd_run (argv, 30, &version, NULL), ==, 0);
    g_assert_cmpstr (version, ==, want);
  }

  /* Its configuration is the installed sample, $prefix/etc/munity/munityd.conf;
   * no database configured: the embedded cluster. */
  d = munity_test_daemon_start (NULL);
  session = munity_test_session_new (FALSE);
  {
    g_autofree char *url = munity_test_daemon_url (d, "/");
    g_autofree char *index_path = g_build_filename (installed_web, "index.html", NULL);
    g_autoptr(GBytes) index = read_bytes (index_path);
    g_autoptr(MunityTestResponse) resp = munity_test_http (session, "GET", url, NULL, NULL, 0, NULL);

    g_assert_cmpuint (resp->status, ==, 200);
    g_assert_true (g_bytes_equal (resp->body, index));
  }
  for (guint i = 0; i < web_files->len; i++)
    {
      const char *rel = web_files->pdata[i];
      g_autofree char *path = g_strconcat ("/", rel, NULL);
      g_autofree char *url = munity_test_daemon_url (d, path);
      g_autofree char *file = g_build_filename (installed_web, rel, NULL);
      g_autoptr(GBytes) want = read_bytes (file);
      g_autoptr(MunityTestResponse) resp = munity_test_http (session, "GET", url, NULL, NULL, 0, NULL);

      g_test_message ("GET %s: %u, %zu bytes", path, resp->status, g_bytes_get_size (resp->body));
      g_assert_cmpuint (resp->status, ==, 200);
      g_assert_true (g_bytes_equal (resp->body, want));
    }
  g_assert_cmpint (munity_test_daemon_stop (d, NULL), ==, 0);
  g_clear_pointer (&d, munity_test_daemon_free);

  munity_test_rm_rf (work_dir);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autofree char *installed = NULL;

  g_test_init (&argc, &argv, NULL);

  work_dir = g_dir_make_tmp ("munity-dist-XXXXXX", &error);
  g_assert_no_error (error);
  /* What munity_test_daemon_start() runs: the installed munityd, serving
   * what is installed, not a MUNITY_WEB_DIR of the test environment. */
  installed = g_build_filename (work_dir, "prefix", "sbin", "munityd", NULL);
  g_setenv ("MUNITYD", installed, TRUE);
  g_unsetenv ("MUNITY_WEB_DIR");

  g_test_add_func ("/dist/tarball-installs-and-serves", test_tarball_installs_and_serves);

  return g_test_run ();
}
