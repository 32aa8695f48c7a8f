/* munity-metrics.h — counters and gauges for /metrics (pure)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define MUNITY_TYPE_METRICS (munity_metrics_get_type ())
G_DECLARE_FINAL_TYPE (MunityMetrics, munity_metrics, MUNITY, METRICS, GObject)

MunityMetrics *munity_metrics_new               (void);
void           munity_metrics_count_http        (MunityMetrics *self,
                                                 guint          status);
void           munity_metrics_count_event       (MunityMetrics *self,
                                                 const char    *event,
                                                 guint64        n);
void           munity_metrics_set_gauge         (MunityMetrics *self,
                                                 const char    *name,
                                                 gint64         value);
void           munity_metrics_set_labelled_gauges (MunityMetrics      *self,
                                                   const char         *name,
                                                   const char         *label,
                                                   guint               n,
                                                   const char * const *label_values,
                                                   const gint64       *values);
char          *munity_metrics_render            (MunityMetrics *self);

G_END_DECLS
