/* munity-test-model.h — the presence model with a fake clock, and waiting
 * on the main loop, for tests of the model's views (D-Bus, munityctl)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "munity-user-info.h"
#include "munity-dbus.h"
#include "munity-presence.h"
#include "munity-socket.h"

G_BEGIN_DECLS

/* A MunityPresence on a fake monotonic clock, the user details it is fed,
 * and a log of the sockets it asked to close. */
typedef struct {
  MunityPresence *presence;
  gint64          now;      /* the fake clock, µs */
  GHashTable     *infos;    /* id → MunityUserInfo */
  GString        *closed;   /* "id:code " per close-requested */
} MunityTestModel;

void            munity_test_model_init        (MunityTestModel *model,
                                               guint            grace_ms);
/* Asserts that nothing else still holds the presence. */
void            munity_test_model_clear       (MunityTestModel *model);
/* The details of user @id, made once (names default to "User Tester"). */
MunityUserInfo *munity_test_model_user_info   (MunityTestModel *model,
                                               gint64           id,
                                               const char      *first,
                                               const char      *last,
                                               const char      *image_url);
/* A socket of user @id, as the WebSocket layer would add it.
 * Returns: (transfer none): owned by the model */
MunitySocket   *munity_test_model_open_socket (MunityTestModel *model,
                                               gint64           id);
void            munity_test_model_close_socket (MunityTestModel *model,
                                                MunitySocket    *socket);
/* Moves the fake clock on and lets the grace queue expire. */
void            munity_test_model_advance     (MunityTestModel *model,
                                               gint64           ms);

/* A GSourceFunc that sets the gboolean at @user_data. */
gboolean        munity_test_flag_cb           (gpointer         user_data);
/* Runs the main loop until *@pointer is set; fails after @timeout_s. */
void            munity_test_wait_for_pointer  (gpointer        *pointer,
                                               guint            timeout_s);
/* A GAsyncReadyCallback that stores a reference to the result in the
 * GAsyncResult* at @user_data. */
void            munity_test_store_result_cb   (GObject         *source,
                                               GAsyncResult    *result,
                                               gpointer         user_data);
/* Runs the main loop until @service owns (or has lost) its name. */
void            munity_test_wait_name_owned   (MunityDbusService *service,
                                               gboolean           owned,
                                               guint              timeout_s);
/* Stops and frees the service, asserting nothing else holds it. */
void            munity_test_free_service      (MunityDbusService **service);

G_END_DECLS
