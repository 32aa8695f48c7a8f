-- Several munityd on one database form a cluster (doc/protocol.md §7).
-- Each node keeps its own row, with a heartbeat written from the
-- database's clock, and one row per WebSocket it holds; changes are
-- announced on the channel munity_cluster (src/munity-cluster.c).
CREATE TABLE cluster_nodes (
  id        bigserial PRIMARY KEY,
  name      text UNIQUE NOT NULL,
  boot_id   text NOT NULL,
  started   timestamptz,
  heartbeat timestamptz NOT NULL,
  -- the number of the node's last notification: one more per NOTIFY
  seq       bigint NOT NULL DEFAULT 0
);

CREATE TABLE cluster_sockets (
  node_id   bigint REFERENCES cluster_nodes ON DELETE CASCADE,
  socket_id text,
  user_id   bigint NOT NULL,
  session   text NOT NULL,
  PRIMARY KEY (node_id, socket_id)
);
