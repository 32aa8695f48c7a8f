/* munity-test-pg.h — a throwaway PostgreSQL cluster for tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _MunityTestPg MunityTestPg;

/* initdb into a fresh temporary directory and start postgres listening only
 * on a Unix socket in that directory (no TCP). When the test runs as root the
 * cluster belongs to, and runs as, the `postgres` account. Aborts the test
 * (g_error) if the cluster cannot be started within 30 s. */
MunityTestPg *munity_test_pg_start     (void);

/* libpq keyword/value connection string for the cluster, e.g.
 * "host=/tmp/munity-pg-XXXX port=5432 dbname=postgres user=postgres". */
const char   *munity_test_pg_conninfo  (MunityTestPg *pg);

/* The temporary directory holding data/ and the socket. */
const char   *munity_test_pg_dir       (MunityTestPg *pg);

/* Stop the server (fast shutdown) but keep the data; start it again on the
 * same directory and socket. Both wait until done. */
void          munity_test_pg_stop_server   (MunityTestPg *pg);
void          munity_test_pg_restart_server (MunityTestPg *pg);

/* Run one SQL statement with psql-like blocking semantics (tests only) and
 * return the first column of the first row, or NULL for no rows. */
char         *munity_test_pg_query_value (MunityTestPg *pg,
                                          const char   *sql);

/* Stop the server and remove the directory. */
void          munity_test_pg_free      (MunityTestPg *pg);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MunityTestPg, munity_test_pg_free)

G_END_DECLS
