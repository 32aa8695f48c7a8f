-- Every change of a user row bumps its version, so that answers to
-- concurrent updates, which can arrive in any order, never roll the
-- presence model back to an older name or picture.
ALTER TABLE users ADD COLUMN version bigint NOT NULL DEFAULT 1;
