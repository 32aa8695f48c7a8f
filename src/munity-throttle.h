/* munity-throttle.h — counting failures in a sliding window (pure)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * MUNITY_THROTTLE_WAIT_FOR_PENDING:
 *
 * What [method@Munity.Throttle.admit] returns for an attempt that must
 * wait until a reserved attempt of its key is settled.
 */
#define MUNITY_THROTTLE_WAIT_FOR_PENDING ((gint64) -1)

#define MUNITY_TYPE_THROTTLE (munity_throttle_get_type ())
G_DECLARE_FINAL_TYPE (MunityThrottle, munity_throttle, MUNITY, THROTTLE, GObject)

MunityThrottle *munity_throttle_new            (guint           max_failures,
                                                gint64          window_us);
void            munity_throttle_set_backoff    (MunityThrottle *self,
                                                guint           free_failures,
                                                gint64          base_us,
                                                gint64          max_us);
gint64          munity_throttle_check          (MunityThrottle *self,
                                                const char     *key,
                                                gint64          now_us);
gint64          munity_throttle_admit          (MunityThrottle *self,
                                                const char     *key,
                                                gint64          now_us);
gint64          munity_throttle_reserve        (MunityThrottle *self,
                                                const char     *key,
                                                gint64          now_us);
void            munity_throttle_settle         (MunityThrottle *self,
                                                const char     *key,
                                                gboolean        failed,
                                                gint64          now_us);
void            munity_throttle_record_failure (MunityThrottle *self,
                                                const char     *key,
                                                gint64          now_us);
void            munity_throttle_forget         (MunityThrottle *self,
                                                const char     *key);
void            munity_throttle_prune          (MunityThrottle *self,
                                                gint64          now_us);
guint           munity_throttle_get_n_keys     (MunityThrottle *self);

char           *munity_throttle_address_key    (const char     *address);

G_END_DECLS
