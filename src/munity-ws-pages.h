/* munity-ws-pages.h — the body of the next onlineUsers frame, kept in pages
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _MunityWsPages MunityWsPages;

/**
 * MunityWsPagesIter:
 *
 * Walks the pieces of the body; see munity_ws_pages_iter_init(). The
 * fields are private.
 */
typedef struct {
  /*< private >*/
  MunityWsPages *pages;
  guint          index;
  gsize          skip;
} MunityWsPagesIter;

MunityWsPages *munity_ws_pages_new             (gsize              page_size);
void           munity_ws_pages_free            (MunityWsPages     *self);
void           munity_ws_pages_append          (MunityWsPages     *self,
                                                gint64             user_id,
                                                GBytes            *fragment);
void           munity_ws_pages_update          (MunityWsPages     *self,
                                                gint64             user_id,
                                                GBytes            *fragment);
void           munity_ws_pages_remove          (MunityWsPages     *self,
                                                gint64             user_id);
gsize          munity_ws_pages_get_body_length (MunityWsPages     *self);
guint          munity_ws_pages_get_n_users     (MunityWsPages     *self);
guint          munity_ws_pages_get_n_pages     (MunityWsPages     *self);

void           munity_ws_pages_iter_init       (MunityWsPages     *self,
                                                MunityWsPagesIter *iter);
gboolean       munity_ws_pages_iter_next       (MunityWsPagesIter *iter,
                                                GBytes           **bytes,
                                                gsize             *start,
                                                gsize             *end);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MunityWsPages, munity_ws_pages_free)

G_END_DECLS
