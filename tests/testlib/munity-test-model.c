/* munity-test-model.c — the presence model with a fake clock, for tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "munity-test-model.h"

static gint64
fake_clock (gpointer user_data)
{
  MunityTestModel *model = user_data;
  return model->now;
}

void
munity_test_model_init (MunityTestModel *model,
                        guint            grace_ms)
{
  model->presence = munity_presence_new (grace_ms);
  model->now = 1000000;
  munity_presence_set_clock (model->presence, fake_clock, model, NULL);
  model->infos = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify) munity_user_info_unref);
  model->closed = g_string_new (NULL);
}

void
munity_test_model_clear (MunityTestModel *model)
{
  g_object_add_weak_pointer (G_OBJECT (model->presence), (gpointer *) &model->presence);
  g_object_unref (model->presence);
  g_assert_null (model->presence);
  g_clear_pointer (&model->infos, g_hash_table_unref);
  if (model->closed != NULL)
    g_string_free (g_steal_pointer (&model->closed), TRUE);
}

MunityUserInfo *
munity_test_model_user_info (MunityTestModel *model,
                             gint64           id,
                             const char      *first,
                             const char      *last,
                             const char      *image_url)
{
  MunityUserInfo *info = g_hash_table_lookup (model->infos, &id);

  if (info == NULL)
    {
      g_autofree char *email = g_strdup_printf ("u%" G_GINT64_FORMAT "@example.org", id);

      info = munity_user_info_new (id, first != NULL ? first : "User", last != NULL ? last : "Tester",
                                   email, "", image_url);
      g_hash_table_insert (model->infos, &info->id, info);
    }
  return info;
}

static void
on_close_requested (MunitySocket    *socket,
                    guint            code,
                    const char      *reason,
                    MunityTestModel *model)
{
  g_string_append_printf (model->closed, "%" G_GINT64_FORMAT ":%u ", munity_socket_get_user_id (socket), code);
}

MunitySocket *
munity_test_model_open_socket (MunityTestModel *model,
                               gint64           id)
{
  g_autoptr(MunitySocket) socket = munity_socket_new (id, "session");

  g_signal_connect (socket, "close-requested", G_CALLBACK (on_close_requested), model);
  munity_presence_add_socket (model->presence, socket, munity_test_model_user_info (model, id, NULL, NULL, NULL));
  return socket;  /* the model keeps its own reference */
}

void
munity_test_model_close_socket (MunityTestModel *model,
                                MunitySocket    *socket)
{
  munity_presence_remove_socket (model->presence, socket);
}

void
munity_test_model_advance (MunityTestModel *model,
                           gint64           ms)
{
  model->now += ms * 1000;
  munity_presence_expire (model->presence);
}

gboolean
munity_test_flag_cb (gpointer user_data)
{
  gboolean *flag = user_data;
  *flag = TRUE;
  return G_SOURCE_REMOVE;
}

void
munity_test_wait_for_pointer (gpointer *pointer,
                              guint     timeout_s)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (timeout_s, munity_test_flag_cb, &timed_out);

  while (*pointer == NULL && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  g_assert_false (timed_out);
}

void
munity_test_store_result_cb (GObject      *source,
                             GAsyncResult *result,
                             gpointer      user_data)
{
  GAsyncResult **out = user_data;
  *out = g_object_ref (result);
}

static void
on_name_owned (GObject    *object,
               GParamSpec *pspec,
               gboolean   *flag)
{
  *flag = munity_dbus_service_get_name_owned (MUNITY_DBUS_SERVICE (object));
}

void
munity_test_wait_name_owned (MunityDbusService *service,
                             gboolean           owned,
                             guint              timeout_s)
{
  gboolean flag = munity_dbus_service_get_name_owned (service);
  gulong id = g_signal_connect (service, "notify::name-owned", G_CALLBACK (on_name_owned), &flag);
  gboolean timed_out = FALSE;
  guint timeout_id = g_timeout_add_seconds (timeout_s, munity_test_flag_cb, &timed_out);

  while (flag != owned && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (timeout_id);
  g_signal_handler_disconnect (service, id);
  g_assert_true (flag == owned);
}

void
munity_test_free_service (MunityDbusService **service)
{
  if (*service == NULL)
    return;
  munity_dbus_service_stop (*service);
  g_object_add_weak_pointer (G_OBJECT (*service), (gpointer *) service);
  g_object_unref (*service);
  /* Pending callbacks hold references for a moment. */
  while (*service != NULL && g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_null (*service);
}
