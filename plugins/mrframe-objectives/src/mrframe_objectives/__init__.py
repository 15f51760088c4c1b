"""First-party mrframe losses and weighting policies (entry points in pyproject.toml)."""
