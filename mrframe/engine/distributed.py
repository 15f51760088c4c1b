"""Multi-process training with PyTorch's own distributed engine; mrframe writes no communication code.

``mrframe run SPEC --nproc N`` creates the run directory, then starts N processes through
``torch.distributed.run`` (torchrun, ``--standalone``), each running :mod:`mrframe.engine.worker`. Each
process joins the group from torchrun's environment (gloo on CPU, NCCL on GPU, one GPU per local rank), wraps
the network in ``DistributedDataParallel`` and reads its share of every training epoch (``BatchLoader`` with
``rank``/``world_size``: every N-th sample of the epoch's shuffled order). Only rank 0 writes to the run
directory. Every process evaluates the whole validation split, so early-stopping decisions agree without
communication.

No process outlives the launcher: torchrun runs in its own session, so a Ctrl-C in the terminal reaches the
launcher alone, which passes SIGINT and SIGTERM on to torchrun once (torchrun passes them to the workers, which
finish their step, save a checkpoint and exit). When the launcher dies without a chance to pass anything on
(SIGKILL), the kernel sends torchrun SIGTERM, and each worker likewise when torchrun dies
(:func:`die_with_parent`, Linux; elsewhere the processes must be stopped by hand).

A worker that fails leaves its exit status and one-line error in a file for the launcher
(:func:`record_failure`); the launcher prints the line of the first worker that failed and exits with its
status (2 bad input, 3 non-finite stop...), not torchrun's traceback and status 1.
"""

from __future__ import annotations

import ctypes
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import torch
import torch.distributed as dist
from torch import nn

from mrframe.engine.device import resolve_device


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def launched_by_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_environment(device_name: str) -> torch.device | None:
    """Join the process group torchrun described (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...).

    Returns the device this process trains on (its local GPU under NCCL), or None when not launched by
    torchrun with more than one process.
    """
    if not launched_by_torchrun():
        return None
    if resolve_device(device_name).type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        dist.init_process_group("nccl", device_id=torch.device("cuda", local))
        return torch.device("cuda", local)
    dist.init_process_group("gloo")
    return torch.device("cpu")


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: nn.Module, device: torch.device, find_unused_parameters: bool = False) -> nn.Module:
    """``module`` wrapped in DistributedDataParallel when a process group is running.

    ``find_unused_parameters`` is needed when some parameters never reach the loss (a block that reads a
    stream the spec does not have); :func:`unused_parameters` tells."""
    if world_size() == 1:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused_parameters)


def unused_parameters(parameters: Sequence[nn.Parameter], backward: Callable[[], None]) -> bool:
    """Whether, on any process, a trainable parameter gets no gradient from ``backward()`` (a probe run
    before training; the gradients are cleared afterwards)."""
    trainable = [p for p in parameters if p.requires_grad]
    for p in trainable:
        p.grad = None
    backward()
    unused = any(p.grad is None for p in trainable)
    for p in trainable:
        p.grad = None
    if world_size() == 1:
        return unused
    flag = torch.tensor([float(unused)], device=trainable[0].device if trainable else "cpu")
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def mean_of_ranks(values: torch.Tensor, sums: slice) -> torch.Tensor:
    """All-reduce ``values`` (1-D): the entries in ``sums`` are summed over processes, the others averaged."""
    reduced = values.clone()
    dist.all_reduce(reduced)
    scale = torch.full_like(reduced, 1.0 / world_size())
    scale[sums] = 1.0
    return reduced * scale


def average_gradients(parameters: Sequence[nn.Parameter]) -> None:
    """Average ``.grad`` over processes (for policies that write gradients themselves, outside DDP's hooks)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def gather(value: Any) -> list[Any]:
    """Every process's ``value`` (picklable), in rank order; ``[value]`` when not distributed."""
    if world_size() == 1:
        return [value]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, value)
    return out


FAILURES_VARIABLE = "MRFRAME_WORKER_FAILURES"
"""Environment variable of a worker that :func:`launch` started: the folder for :func:`record_failure`."""


@attrs.frozen
class Ended:
    """How a multi-process run ended: the exit status and, when a worker failed with a message, its line."""

    status: int
    line: str | None = None


def launch(nproc: int, arguments: Sequence[str]) -> Ended:
    """Run ``mrframe.engine.worker ARGUMENTS`` in ``nproc`` processes through torchrun and wait for them.
    When a worker failed with a message (:func:`record_failure`), the first such failure's status and line;
    else torchrun's exit status (a worker's own when it failed without a message, e.g. 130 on Ctrl-C).
    SIGINT and SIGTERM are passed on to torchrun; torchrun dies with the launcher (see the module's docstring)."""
    command = [
        sys.executable, "-m", "mrframe.engine.torchrun", "--standalone", f"--nproc-per-node={nproc}",
        "-m", "mrframe.engine.worker", *arguments,
    ]
    with tempfile.TemporaryDirectory(prefix="mrframe-workers-") as failures:
        env = dict(os.environ, **{FAILURES_VARIABLE: failures})
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
        status = _run_torchrun(command, env)
        recorded = _first_failure(pathlib.Path(failures))
    return recorded if recorded is not None else Ended(status)


def _run_torchrun(command: Sequence[str], env: dict[str, str]) -> int:
    prctl, launcher = _prctl(), os.getpid()  # looked up before the fork: the child only calls it

    def in_child() -> None:
        if prctl is not None:
            _set_death_signal(prctl, launcher)

    process = subprocess.Popen(command, env=env, cwd=pathlib.Path.cwd(), start_new_session=True,
                               preexec_fn=in_child)  # noqa: PLW1509 - the launcher runs no other thread
    if threading.current_thread() is not threading.main_thread():
        return process.wait()
    previous = {s: signal.signal(s, lambda signum, frame: process.send_signal(signum)) for s in FORWARDED}
    try:
        return process.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def record_failure(status: int, line: str) -> bool:
    """In a worker of :func:`launch`: leave this process's exit status and one-line error for the launcher,
    which prints it once for all processes. False (nothing recorded) in any other process."""
    folder = os.environ.get(FAILURES_VARIABLE)
    if not folder or not pathlib.Path(folder).is_dir():
        return False
    record = {"status": status, "line": line, "time": time.time(), "rank": int(os.environ.get("RANK", "0"))}
    target = pathlib.Path(folder) / f"rank-{record['rank']}.json"
    try:
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps(record), encoding="utf-8")
        partial.replace(target)
    except OSError:
        return False
    return True


def _first_failure(folder: pathlib.Path) -> Ended | None:
    """The earliest recorded failure (ties: the lowest rank); the others follow from it (peers of a failed
    process fail too, or fail the same way on the same data)."""
    records = []
    for file in folder.glob("rank-*.json"):
        try:
            records.append(json.loads(file.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    if not records:
        return None
    first = min(records, key=lambda r: (r["time"], r["rank"]))
    return Ended(int(first["status"]), str(first["line"]))


FORWARDED = (signal.SIGINT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel send this process SIGTERM when its parent dies (Linux; nothing elsewhere). A training
    process then finishes its step, saves a checkpoint and exits (:mod:`mrframe.engine.interrupt`)."""
    prctl = _prctl()
    if prctl is not None:
        _set_death_signal(prctl, os.getppid())


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _set_death_signal(prctl: Callable[..., int], parent: int) -> None:
    prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
