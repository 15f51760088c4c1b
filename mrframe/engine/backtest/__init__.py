"""Rolling-origin backtests: folds (:mod:`.folds`), their run directories and processes (:mod:`.runner`), and the
aggregate over folds (:mod:`.aggregate`). The command is ``mrframe backtest`` (:mod:`mrframe.cli.backtest`);
docs/evaluation.md explains folds, embargo and the cluster recipe."""
