"""First-party mrframe sources: public OSINT formats and a synthetic generator (entry points in pyproject.toml)."""
