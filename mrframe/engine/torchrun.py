"""torchrun as ``mrframe run --nproc N`` starts it: ``python -m mrframe.engine.torchrun TORCHRUN_ARGS``.

It is ``python -m torch.distributed.run`` except when a worker fails: torchrun would print its own traceback
(``ChildFailedError``) and exit 1 whatever the worker's status was. Here it prints nothing and exits with the
status of the first worker that failed; the worker's one-line error reaches the user through the launcher
(:func:`mrframe.engine.distributed.launch`).
"""

from __future__ import annotations

import logging
import sys


def main(arguments: list[str]) -> int:
    """Run torchrun with ``arguments``; the first failed worker's exit status (1 when it died of a signal)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # its "worker failed" lines
    try:
        run(parse_args(arguments))
    except ChildFailedError as error:
        _, failure = error.get_first_failure()
        return failure.exitcode if failure.exitcode > 0 else 128 - failure.exitcode  # killed by signal N: 128 + N
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
