"""Password hashing, tokens and rate limits."""
