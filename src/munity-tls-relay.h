/* munity-tls-relay.h — a WebSocket over TLS as a plain descriptor
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

int munity_tls_relay_start (GIOStream  *tls,
                            GError    **error);

G_END_DECLS
