"""The network as a function of plain tensors, what ``torch.export`` and ONNX can take, and finding the block
that cannot be exported.

The function takes a function of plain tensors, in this order (names as ``model.json`` lists them):

* per input source ``S`` (spec order): ``S.values`` ``[batch, T, F]`` float32 and ``S.mask`` ``[batch, T, F]`` bool
  (True = observed; a place also counts as missing where its value is NaN or infinite, as in
  :meth:`mrframe.observed.Observed.build`), ``T`` the source's window (days or months);
* the calendar (:class:`mrframe.observed.Calendar`): ``calendar.weekday``, ``calendar.month_of_year``,
  ``calendar.month_slot`` ``[batch, daily_window]``, ``calendar.monthly_month_of_year`` ``[batch,
  monthly_window]`` and ``calendar.anchor_day`` ``[batch]``, int64;
* per framed task ``K`` (window scaling or an anchor, :mod:`mrframe.data.frames`): ``frame.K.shift``
  ``[batch, span, F]`` and ``frame.K.scale`` ``[batch, 1, F]``, float32.

These are the tensors of a :class:`mrframe.data.dataset.Batch`: inputs after the run's fitted preprocessing
(training-period scaling, log1p of counts, window scaling), which the artefact does not repeat. It returns, per
task, the head's prediction in the **target's units** (frames undone; float64): ``K`` for a tensor, ``K.KEY``
for each tensor of a dict (``K.mean``, ``K.log_var``, ...), then ``K.forecast``, the kind's point forecast in the
**source's units** (``y_source = expand(shift + scale * y)`` with the task's units, :class:`mrframe.units.Units`;
what ``mrframe predict`` writes as ``prediction``), for kinds that have a point forecast.

A block that cannot be exported is found by exporting every block alone (:func:`blame`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import pathlib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import torch
from torch import Tensor, nn

from mrframe.data.dataset import Batch
from mrframe.data.frames import Frame
from mrframe.engine.evaluate import in_float64
from mrframe.errors import EXIT_UNSUPPORTED, MrframeError, PluginError
from mrframe.interfaces import Units
from mrframe.model import AssembledModel
from mrframe.observed import Calendar, Observed

CALENDAR = tuple(f.name for f in attrs.fields(Calendar))
BATCH = "batch"


class ExportError(MrframeError):
    """The network (or one of its blocks) cannot be exported in a format; not the user's input."""

    exit_status = EXIT_UNSUPPORTED


@attrs.frozen
class Port:
    """One input or output of the artefact: its name, shape (``"batch"`` on the batch axis) and dtype."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


class Standalone(nn.Module):
    """The assembled model as a function of plain tensors (module docstring): ``forward(*inputs) -> outputs``."""

    def __init__(self, model: AssembledModel, sources: Sequence[str], framed: Sequence[str],
                 units: Mapping[str, Units]):
        """``units``: the units of the tasks whose kind has a point forecast (``K.forecast`` outputs)."""
        super().__init__()
        self.model = model
        self.sources = tuple(sources)
        self.framed = tuple(framed)
        self.forecasts = tuple(units)
        for i, task in enumerate(self.forecasts):
            for part in ("shift", "scale", "log1p"):
                self.register_buffer(f"units_{i}_{part}", getattr(units[task], part).clone(), persistent=False)

    def units(self, task: str) -> Units:
        i = self.forecasts.index(task)
        return Units(*(getattr(self, f"units_{i}_{part}") for part in ("shift", "scale", "log1p")))

    def forward(self, *tensors: Tensor) -> tuple[Tensor, ...]:
        return tuple(tensor for _, tensor in self.named_outputs(tensors))

    def named_outputs(self, tensors: Sequence[Tensor]) -> list[tuple[str, Tensor]]:
        it = iter(tensors)
        inputs = {name: Observed.build(next(it), next(it)) for name in self.sources}
        calendar = Calendar(*(next(it) for _ in CALENDAR))
        frames = {task: Frame(next(it), next(it)) for task in self.framed}
        out = []
        for task, prediction in self.model(inputs, calendar).items():
            kind = self.model.kinds[task]
            prediction = in_float64(prediction)
            if task in frames:
                prediction = frames[task].decode(kind, prediction)
            out += _leaves(task, prediction)
            if task in self.forecasts:
                out.append((f"{task}.forecast", self.units(task)(kind.point(prediction))))
        return out


def _leaves(name: str, value: Any) -> list[tuple[str, Tensor]]:
    if isinstance(value, Tensor):
        return [(name, value)]
    if isinstance(value, Mapping):
        return [leaf for key, item in value.items() for leaf in _leaves(f"{name}.{key}", item)]
    raise ExportError(f"heads.{name.split('.')[0]}: its prediction holds a {type(value).__name__}, not tensors")


def batch_inputs(standalone: Standalone, batch: Batch) -> list[tuple[str, Tensor]]:
    """The artefact's named inputs for ``batch`` (module docstring)."""
    named = []
    for name in standalone.sources:
        named += [(f"{name}.values", batch.inputs[name].values), (f"{name}.mask", batch.inputs[name].mask)]
    named += [(f"calendar.{field}", getattr(batch.calendar, field)) for field in CALENDAR]
    for task in standalone.framed:
        named += [(f"frame.{task}.shift", batch.frames[task].shift), (f"frame.{task}.scale", batch.frames[task].scale)]
    return named


def ports(named: Sequence[tuple[str, Tensor]]) -> list[Port]:
    """The ports of named tensors, the first axis being the batch."""
    return [Port(name, (BATCH, *tensor.shape[1:]), str(tensor.dtype).removeprefix("torch.")) for name, tensor in named]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Export's warnings, logs and printed graphs say nothing to a user of mrframe (the error says why)."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.ERROR)  # "torchvision is not installed", "Unable to find user code ..."
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # graphs printed on failure
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_program(module: nn.Module, inputs: Sequence[Tensor], dynamic: bool = True) -> Any:
    """``torch.export`` of ``module(*inputs)``, with a dynamic batch axis unless ``dynamic`` is False."""
    batch = torch.export.Dim(BATCH, min=1)  # one symbol: every input has the same batch
    shapes = ((tuple({0: batch} for _ in inputs),) if dynamic else None)
    with _quiet(), torch.no_grad():
        return torch.export.export(module, tuple(inputs), dynamic_shapes=shapes, strict=False)


def onnx_available() -> str | None:
    """None when ONNX export can run here, else how to make it."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        return "ONNX export needs the onnx and onnxscript packages: pip install 'mrframe[export]'"
    return None


def save_onnx(program: Any, path: pathlib.Path, inputs: Sequence[str], outputs: Sequence[str]) -> None:
    """Translate an exported program to ONNX (torch's dynamo exporter) and write it to ``path``."""
    with _quiet():
        onnx_program = torch.onnx.export(program, (), input_names=list(inputs), output_names=list(outputs),
                                         dynamo=True, verbose=False, optimize=True)
        onnx_program.save(str(path))


def run_onnx(path: pathlib.Path, named: Sequence[tuple[str, Tensor]]) -> list[np.ndarray] | None:
    """The ONNX model's outputs on ``named`` inputs with onnxruntime (None when onnxruntime is missing)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}  # an input no output depends on may have been dropped
    return session.run(None, {name: tensor.numpy() for name, tensor in named if name in wanted})


# ------------------------------------------------------------------------------------------------ blame


def blocks(model: AssembledModel) -> list[tuple[str, nn.Module]]:
    """Every block of the model by its spec key, in the order data flows through them."""
    out = [(f"encoders.{name}", module) for name, module in model.encoders.items()]
    out += [(f"fusion[{i}]", module) for i, module in enumerate(model.fusion)]
    return out + [(f"heads.{task}", module) for task, module in model.heads.items()]


def blame(model: AssembledModel, run_model: Callable[[], Any],
          export: Callable[[nn.Module, Sequence[Tensor]], Any]) -> tuple[str, str] | None:
    """The first block (spec key) that ``export`` fails on when exported alone, with the first line of the
    reason; None when every block exports alone. ``run_model()`` runs the model once on real inputs, from which
    each block's own inputs are taken."""
    seen: dict[str, tuple[Any, ...]] = {}
    handles = [module.register_forward_pre_hook(lambda m, args, key=key: seen.setdefault(key, args))
               for key, module in blocks(model)]
    try:
        with torch.no_grad():
            run_model()
    finally:
        for handle in handles:
            handle.remove()
    for key, module in blocks(model):
        if key not in seen:
            continue
        tensors, rebuild = _flatten(seen[key])
        try:
            export(_Alone(module, rebuild), tensors)
        except Exception as error:  # the exporter raises many types; each is the reason to report
            return key, reason(error)
    return None


def reason(error: BaseException) -> str:
    """The first meaningful line of an export error."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= 240 else text[:237] + "..."


class _Alone(nn.Module):
    """One block as a function of the flat tensors of its inputs."""

    def __init__(self, block: nn.Module, rebuild: Callable[[Iterator[Tensor]], Any]):
        super().__init__()
        self.block = block
        self.rebuild = rebuild

    def forward(self, *tensors: Tensor) -> tuple[Tensor, ...]:
        return tuple(_flatten(self.block(*self.rebuild(iter(tensors))))[0])


def _flatten(value: Any) -> tuple[list[Tensor], Callable[[Iterator[Tensor]], Any]]:
    """The tensors inside the model's value types (tensors, Observed, attrs classes, mappings, sequences, None)
    and a function that rebuilds the value from an iterator over such tensors."""
    if isinstance(value, Tensor):
        return [value], lambda it: next(it)
    if isinstance(value, Observed):
        return [value.values, value.mask], lambda it: Observed.build(next(it), next(it))
    if value is None or isinstance(value, int | float | str | bool):
        return [], lambda it: value
    if attrs.has(type(value)):
        names = [f.name for f in attrs.fields(type(value)) if f.init]
        tensors, rebuild = _flatten({name: getattr(value, name) for name in names})
        return tensors, lambda it: type(value)(**rebuild(it))
    if isinstance(value, Mapping):
        parts = {key: _flatten(item) for key, item in value.items()}
        return ([t for tensors, _ in parts.values() for t in tensors],
                lambda it: {key: rebuild(it) for key, (_, rebuild) in parts.items()})
    if isinstance(value, list | tuple):
        items = [_flatten(item) for item in value]
        return [t for tensors, _ in items for t in tensors], lambda it: tuple(rebuild(it) for _, rebuild in items)
    raise PluginError(f"cannot take a {type(value).__name__} apart into tensors")
