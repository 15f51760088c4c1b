"""``mrframe tune``: hyperparameter search on Optuna, each trial an ordinary run (or backtest) directory.

* :mod:`.config`: the spec's ``[tune]`` section (no Optuna needed to read or validate it);
* :mod:`.space`: sampled values -> a trial's spec, and the check of the space against the spec;
* :mod:`.study`: storages (journal file, SQLite, PostgreSQL), the study, stale trials and retries;
* :mod:`.trials`: one worker's loop, the objectives and the pruning hook;
* :mod:`.results`: ``best.toml``, ``best.json``, ``trials.csv`` and the plots.
"""
