-- Sessions. Only the SHA-256 of the cookie's 256 random bits is stored; a
-- session lasts 30 days from its last use.
CREATE TABLE sessions (
  token_hash  bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
  user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  last_used   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_last_used_idx ON sessions (last_used);
