/* munity-cluster.h — presence shared with the other nodes through PostgreSQL
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "munity-accounts.h"
#include "munity-db.h"
#include "munity-presence.h"

G_BEGIN_DECLS

/**
 * MUNITY_CLUSTER_CHANNEL:
 *
 * The NOTIFY channel the nodes of a cluster talk on.
 */
#define MUNITY_CLUSTER_CHANNEL "munity_cluster"

/**
 * MunityClusterNode:
 * @name: the node's name (`--node-name`)
 * @n_sockets: how many WebSockets the node holds, as this node knows it
 * @heartbeat: the node's last heartbeat, in microseconds since the Unix
 *   epoch by the database's clock; 0 while not known
 * @is_self: whether it is this node
 *
 * One node of the cluster, for the operators (munity_cluster_list_nodes()).
 */
typedef struct {
  char     *name;
  guint     n_sockets;
  gint64    heartbeat;
  gboolean  is_self;
} MunityClusterNode;

void munity_cluster_node_free (MunityClusterNode *node);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MunityClusterNode, munity_cluster_node_free)

#define MUNITY_TYPE_CLUSTER (munity_cluster_get_type ())
G_DECLARE_FINAL_TYPE (MunityCluster, munity_cluster, MUNITY, CLUSTER, GObject)

MunityCluster *munity_cluster_new            (MunityDb            *db,
                                              MunityPresence      *presence,
                                              MunityAccounts      *accounts,
                                              const char          *node_name);
void           munity_cluster_start          (MunityCluster       *self);
void           munity_cluster_stop_async     (MunityCluster       *self,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
void           munity_cluster_stop_finish    (MunityCluster       *self,
                                              GAsyncResult        *result);

gint64         munity_cluster_get_node_id    (MunityCluster       *self);
const char    *munity_cluster_get_name       (MunityCluster       *self);
guint          munity_cluster_get_n_nodes    (MunityCluster       *self);
GPtrArray     *munity_cluster_list_nodes     (MunityCluster       *self);

void           munity_cluster_socket_added   (MunityCluster       *self,
                                              MunityUser          *user,
                                              MunitySocket        *socket);
void           munity_cluster_socket_removed (MunityCluster       *self,
                                              MunityUser          *user,
                                              MunitySocket        *socket);
void           munity_cluster_socket_changed (MunityCluster       *self,
                                              MunityUser          *user,
                                              MunitySocket        *socket);
void           munity_cluster_user_changed   (MunityCluster       *self,
                                              MunityUserInfo      *info);

G_END_DECLS
