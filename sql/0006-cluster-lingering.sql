-- Users who have no socket anywhere but are still within the grace
-- (doc/cluster.md, "The grace across nodes"): written by the node that
-- held the last socket, read by a node that starts (or comes back from an
-- outage) while they linger, so that its lists show them too — only if a
-- node that was up when the row was written (since) still is: that node
-- holds the user lingering; rows left by a cluster whose nodes have all
-- stopped keep no one online. A row past its time means nothing and is
-- deleted by the reaper.
CREATE TABLE cluster_lingering (
  user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  since   timestamptz NOT NULL DEFAULT now (),
  until   timestamptz NOT NULL
);
