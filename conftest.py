"""Every test process (pytest here, tox, CI) uses one thread per numeric library unless told otherwise.

On a busy 2-core machine torch's default of one thread per core makes the small models of the tests up to 10x
slower. Subprocesses started by tests inherit the variables.
"""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

for _name in THREAD_VARIABLES:
    os.environ.setdefault(_name, "1")

import torch  # noqa: E402  (after the variables: they are read when torch starts its thread pools)

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
