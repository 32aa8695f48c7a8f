/* munity-migrations.c — bringing the database schema up to date
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <stdlib.h>

#include "munity-error.h"
#include "munity-migrations.h"
#include "munity-sql-resources.h"

#define SQL_RESOURCE_DIR "/org/munity/sql"
/* Serialises migrations of several munityd nodes sharing one database. */
#define MIGRATION_LOCK_KEY "7020357826400431"

typedef struct {
  guint  version;
  char  *name;     /* (owned) resource file name, e.g. 0001-users.sql */
} Migration;

typedef struct {
  MunityDb  *db;          /* (owned) */
  GPtrArray *migrations;  /* (owned) of Migration, sorted by version */
  guint      current;     /* version found in the database */
  guint      next;        /* index into migrations */
  guint      applied;
} RunData;

static void
migration_free (gpointer data)
{
  Migration *migration = data;

  g_free (migration->name);
  g_free (migration);
}

static void
run_data_free (gpointer data)
{
  RunData *run = data;

  g_clear_object (&run->db);
  g_clear_pointer (&run->migrations, g_ptr_array_unref);
  g_free (run);
}

static gint
compare_migrations (gconstpointer a,
                    gconstpointer b)
{
  const Migration *x = *(const Migration **) a;
  const Migration *y = *(const Migration **) b;
  return (x->version > y->version) - (x->version < y->version);
}

static GPtrArray *
list_migrations (void)
{
  GPtrArray *migrations = g_ptr_array_new_with_free_func (migration_free);
  g_auto(GStrv) names = g_resource_enumerate_children (munity_sql_get_resource (), SQL_RESOURCE_DIR, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);

  for (gsize i = 0; names != NULL && names[i] != NULL; i++)
    {
      Migration *migration;
      char *end = NULL;
      guint64 version = g_ascii_strtoull (names[i], &end, 10);

      if (version == 0 || end == names[i] || *end != '-' || !g_str_has_suffix (names[i], ".sql"))
        continue;

      migration = g_new0 (Migration, 1);
      migration->version = (guint) version;
      migration->name = g_strdup (names[i]);
      g_ptr_array_add (migrations, migration);
    }

  g_ptr_array_sort (migrations, compare_migrations);
  return migrations;
}

/**
 * munity_migrations_latest_version:
 *
 * Returns: the newest schema version this binary knows
 */
guint
munity_migrations_latest_version (void)
{
  g_autoptr(GPtrArray) migrations = list_migrations ();

  if (migrations->len == 0)
    return 0;
  return ((Migration *) migrations->pdata[migrations->len - 1])->version;
}

static void apply_next (GTask *task);

static void
unlocked_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(PGresult) res = NULL;
  GError *error = NULL;

  res = munity_db_query_finish (MUNITY_DB (source), result, &error);
  if (res == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
unlock (GTask *task)
{
  RunData *run = g_task_get_task_data (task);

  munity_db_query_async (run->db, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")", 0, NULL,
                         g_task_get_cancellable (task), unlocked_cb, task);
}

static void
applied_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  RunData *run = g_task_get_task_data (task);
  Migration *migration = run->migrations->pdata[run->next];
  GError *error = NULL;

  if (!munity_db_exec_script_finish (MUNITY_DB (source), result, &error))
    {
      g_prefix_error (&error, _("migration %s failed: "), migration->name);
      g_task_return_error (task, error);
      return;
    }

  g_message ("Applied database migration %s", migration->name);
  run->applied++;
  run->next++;
  apply_next (g_steal_pointer (&task));
}

static void
apply_next (GTask *task)
{
  RunData *run = g_task_get_task_data (task);
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *path = NULL;
  g_autofree char *script = NULL;
  Migration *migration;
  GError *error = NULL;

  while (run->next < run->migrations->len &&
         ((Migration *) run->migrations->pdata[run->next])->version <= run->current)
    run->next++;

  if (run->next >= run->migrations->len)
    {
      unlock (task);
      return;
    }

  migration = run->migrations->pdata[run->next];
  path = g_build_path ("/", SQL_RESOURCE_DIR, migration->name, NULL);
  bytes = g_resource_lookup_data (munity_sql_get_resource (), path, G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
  if (bytes == NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  /* The script and its record commit together or not at all. Names come
   * from our own resources (digits, letters, dashes), never from users. */
  script = g_strdup_printf ("BEGIN;\n%.*s\n;INSERT INTO schema_migrations (version, name) VALUES (%u, '%s');\nCOMMIT;",
                            (int) g_bytes_get_size (bytes), (const char *) g_bytes_get_data (bytes, NULL),
                            migration->version, migration->name);
  munity_db_exec_script_async (run->db, script, g_task_get_cancellable (task), applied_cb, task);
}

static void
version_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  RunData *run = g_task_get_task_data (task);
  g_autoptr(PGresult) res = NULL;
  guint latest;
  GError *error = NULL;

  res = munity_db_query_finish (MUNITY_DB (source), result, &error);
  if (res == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  run->current = (guint) strtoul (PQgetvalue (res, 0, 0), NULL, 10);
  latest = run->migrations->len > 0
    ? ((Migration *) run->migrations->pdata[run->migrations->len - 1])->version : 0;

  if (run->current > latest)
    {
      g_task_return_new_error (task, MUNITY_ERROR, MUNITY_ERROR_SCHEMA_TOO_NEW,
                               _("the database schema is version %u, newer than this munityd knows (%u); refusing to use it"),
                               run->current, latest);
      return;
    }

  apply_next (g_steal_pointer (&task));
}

static void
table_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  RunData *run = g_task_get_task_data (task);
  GError *error = NULL;

  if (!munity_db_exec_script_finish (MUNITY_DB (source), result, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  GCancellable *task_cancellable = g_task_get_cancellable (task);
  munity_db_query_async (run->db, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL,
                         task_cancellable, version_cb, g_steal_pointer (&task));
}

/**
 * munity_migrations_run_async:
 * @db: a database with exactly one connection, so that statements run in
 *   order on the same session
 * @cancellable: (nullable): a cancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Applies the migrations compiled into munityd that the database does not
 * have yet, in order, each in its own transaction, recording each in
 * `schema_migrations`. A database whose schema is newer than the newest
 * migration known is refused with %MUNITY_ERROR_SCHEMA_TOO_NEW.
 */
void
munity_migrations_run_async (MunityDb            *db,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  RunData *run;

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, munity_migrations_run_async);

  run = g_new0 (RunData, 1);
  run->db = g_object_ref (db);
  run->migrations = list_migrations ();
  g_task_set_task_data (task, run, run_data_free);

  munity_db_exec_script_async (db,
                               "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ");\n"
                               "CREATE TABLE IF NOT EXISTS schema_migrations (\n"
                               "  version    integer PRIMARY KEY,\n"
                               "  name       text NOT NULL,\n"
                               "  applied_at timestamptz NOT NULL DEFAULT now()\n"
                               ");",
                               cancellable, table_cb, g_steal_pointer (&task));
}

/**
 * munity_migrations_run_finish:
 * @result: the result passed to the callback
 * @out_applied: (out) (optional): how many migrations were applied
 * @error: return location for an error
 *
 * Returns: %TRUE if the schema is now up to date
 */
gboolean
munity_migrations_run_finish (GAsyncResult  *result,
                              guint         *out_applied,
                              GError       **error)
{
  GTask *task = G_TASK (result);

  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (task) == munity_migrations_run_async, FALSE);

  if (out_applied != NULL)
    *out_applied = ((RunData *) g_task_get_task_data (task))->applied;
  return g_task_propagate_boolean (task, error);
}
