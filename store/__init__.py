"""The decision store: one database (SQLite embedded, PostgreSQL shared) holding every application decision
as an append-only, hash-chained audit trail, the human-review queue, and the API keys."""
