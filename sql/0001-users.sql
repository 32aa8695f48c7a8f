-- Accounts. Email is unique case-insensitively; only argon2id hashes are kept.
CREATE TABLE users (
  id            bigserial PRIMARY KEY,
  first         text NOT NULL CHECK (length(first) BETWEEN 1 AND 100),
  last          text NOT NULL CHECK (length(last) BETWEEN 1 AND 100),
  email         text NOT NULL CHECK (octet_length(email) <= 254),
  password_hash text NOT NULL,
  bio           text NOT NULL DEFAULT '' CHECK (length(bio) <= 2000),
  image_url     text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
