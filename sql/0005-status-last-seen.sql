-- Status and last seen (doc/protocol.md §3). A user's last_seen is when
-- they last left, written by one node, batched (src/munity-last-seen.c);
-- NULL for someone never seen. A socket's idle flag travels with its row,
-- so that a node that resynchronises or starts later knows it
-- (src/munity-cluster.c).
ALTER TABLE users ADD COLUMN last_seen timestamptz;
ALTER TABLE cluster_sockets ADD COLUMN idle boolean NOT NULL DEFAULT false;
