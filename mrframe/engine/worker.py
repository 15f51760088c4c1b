"""The entry point of each process that ``mrframe run --nproc N`` starts through torchrun.

``python -m mrframe.engine.worker ARGS`` is ``mrframe run ARGS`` inside a torchrun process: the command sees
torchrun's environment (``RANK``, ``WORLD_SIZE``...), joins the process group and trains its share. It gets
SIGTERM when torchrun dies (:func:`mrframe.engine.distributed.die_with_parent`). An error's one line goes to
the launcher, which prints it once for all processes (:func:`mrframe.engine.distributed.record_failure`).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from mrframe.cli import main
    from mrframe.engine.distributed import die_with_parent, record_failure

    die_with_parent()  # torchrun killed outright: this process still stops (and saves) rather than run on

    main(["run", *sys.argv[1:]], report=record_failure)
