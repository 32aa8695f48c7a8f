/* munity-ws-log.h — the append-only event log every WebSocket reads through
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _MunityWsLog MunityWsLog;

/**
 * MunityWsLogIter:
 *
 * Walks the pieces of the log after a given offset; see
 * munity_ws_log_iter_init(). The fields are private.
 */
typedef struct {
  /*< private >*/
  GList   *link;
  guint64  from;
} MunityWsLogIter;

MunityWsLog *munity_ws_log_new           (gsize            chunk_size,
                                          guint            pool_max);
void         munity_ws_log_free          (MunityWsLog     *self);
void         munity_ws_log_append        (MunityWsLog     *self,
                                          const guint8    *data,
                                          gsize            size,
                                          guint64          mark);
guint64      munity_ws_log_get_end       (MunityWsLog     *self);
void         munity_ws_log_trim          (MunityWsLog     *self,
                                          guint64          mark);
guint        munity_ws_log_get_n_chunks  (MunityWsLog     *self);
guint        munity_ws_log_get_n_pooled  (MunityWsLog     *self);

gboolean     munity_ws_log_iter_init     (MunityWsLog     *self,
                                          MunityWsLogIter *iter,
                                          guint64          from);
gboolean     munity_ws_log_iter_next     (MunityWsLogIter *iter,
                                          GBytes         **bytes,
                                          gsize           *start,
                                          gsize           *end);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MunityWsLog, munity_ws_log_free)

G_END_DECLS
