"""Example third-party mrframe plugins (see README.md): ``example-csv`` (source), ``example-ema`` (encoder)."""
