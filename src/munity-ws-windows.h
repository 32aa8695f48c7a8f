/* munity-ws-windows.h — the online list in order, and the windows sockets watch
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "munity-protocol.h"

G_BEGIN_DECLS

/* doc/protocol.md §8 */
#define MUNITY_WS_WINDOW_MAX_LIMIT MUNITY_PROTOCOL_WINDOW_MAX_LIMIT
#define MUNITY_WS_WINDOW_DEFAULT_LIMIT 50
/* At most one windowChanged per window per this many µs (or this many
 * per socket on the window, if that is longer)... */
#define MUNITY_WS_WINDOW_INTERVAL_US (100 * 1000)
#define MUNITY_WS_WINDOW_ROWS_US_PER_SOCKET 20
/* ...and one that only changes the total (or moves the rows of a window
 * for a change before it) per this many, or this many per socket on the
 * window if that is longer. */
#define MUNITY_WS_WINDOW_TOTAL_INTERVAL_US (1000 * 1000)
#define MUNITY_WS_WINDOW_US_PER_SOCKET 200

typedef struct _MunityWsWindows MunityWsWindows;
typedef struct _MunityWsView MunityWsView;

/**
 * MunityWsViewFunc:
 * @view: a view with something to send
 * @frame: the `windowChanged` frame for every socket watching @view
 * @user_data: the data given to munity_ws_windows_flush()
 *
 * Called by munity_ws_windows_flush() for each view whose window or total
 * changed, once per flush at most.
 */
typedef void (*MunityWsViewFunc) (MunityWsView *view,
                                  GBytes       *frame,
                                  gpointer      user_data);

MunityWsWindows *munity_ws_windows_new          (void);
void             munity_ws_windows_free         (MunityWsWindows  *self);
void             munity_ws_windows_put          (MunityWsWindows  *self,
                                                 gint64            user_id,
                                                 const char       *name,
                                                 GBytes           *user_json);
void             munity_ws_windows_remove       (MunityWsWindows  *self,
                                                 gint64            user_id);
guint            munity_ws_windows_get_n_users  (MunityWsWindows  *self);
guint            munity_ws_windows_get_n_views  (MunityWsWindows  *self);
gboolean         munity_ws_windows_has_pending  (MunityWsWindows  *self);
gint64           munity_ws_windows_get_next_due (MunityWsWindows  *self);
gboolean         munity_ws_windows_flush        (MunityWsWindows  *self,
                                                 gint64            now_us,
                                                 MunityWsViewFunc  func,
                                                 gpointer          user_data);

MunityWsView    *munity_ws_windows_open_view    (MunityWsWindows  *self,
                                                 const char       *query,
                                                 guint             offset,
                                                 guint             limit,
                                                 gint64            now_us);
void             munity_ws_view_release         (MunityWsView     *view);
GBytes          *munity_ws_view_get_snapshot    (MunityWsView     *view);
GPtrArray       *munity_ws_view_get_members     (MunityWsView     *view);
guint            munity_ws_view_get_total       (MunityWsView     *view);
GPtrArray       *munity_ws_view_dup_ids         (MunityWsView     *view);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MunityWsWindows, munity_ws_windows_free)

G_END_DECLS
