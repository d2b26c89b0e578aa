"""Access control: API keys with scopes (only a hash of each is stored), and a token bucket per key."""
