"""mrframe plugins of this distribution (see README.md): ``example-csv`` (source), ``example-ema`` (encoder)."""
