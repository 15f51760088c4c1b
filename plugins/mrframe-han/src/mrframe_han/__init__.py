"""First-party mrframe encoders, fusion blocks and heads (entry points in pyproject.toml)."""
