"""The export directory of a trained run, checked against the framework's own outputs.

Layout (``--out``, default ``RUN_DIR/export``)::

    EXPORT_DIR/
      model.pt2     torch.export ExportedProgram:  torch.export.load(path).module()(*inputs)
      model.onnx    ONNX (opset of torch's dynamo exporter):  onnxruntime.InferenceSession(path).run(None, feeds)
      model.json    inputs and outputs (names, shapes, dtypes, in call order), each task's kind, features, target
                    steps and units, the checkpoint, and each format's check on the example inputs
      README.md     the same for people, with how to call each format and map outputs to the source's units
      example.npz   the example split's inputs (one array per input name), ``anchor`` (each sample's anchor
                    day) and the framework's outputs for them (``expected/NAME``)

Every artefact written is loaded back and run on the example inputs; the largest difference from the
framework's outputs is recorded (``checks``). A format that cannot be made is reported with the block to blame
(:func:`mrframe.engine.export.standalone.blame`) and the others are still written.
"""

from __future__ import annotations

import io
import json
import math
import pathlib
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

import mrframe
from mrframe.data.baselines import target_offsets
from mrframe.engine.export.standalone import (
    ExportError,
    Standalone,
    batch_inputs,
    blame,
    export_program,
    onnx_available,
    ports,
    reason,
    run_onnx,
    save_onnx,
)
from mrframe.engine.files import atomic_write
from mrframe.engine.session import LoadedRun
from mrframe.engine.targets import task_units
from mrframe.spec import Spec

FORMATS = ("pt2", "onnx")
FILES = {"pt2": "model.pt2", "onnx": "model.onnx"}


def plugin_of(spec: Spec, key: str) -> str:
    """The plugin name behind a block's spec key (``encoders.NAME``, ``fusion[i]``, ``heads.TASK``)."""
    if key.startswith("fusion["):
        return spec.fusion[int(key[7:-1])].plugin
    kind, name = key.split(".", 1)
    return spec.encoders[name].plugin if kind == "encoders" else spec.heads[name].component.plugin


def standalone_of(run: LoadedRun, split: str) -> tuple[Standalone, list[tuple[str, torch.Tensor]], Any, str]:
    """The run's network as a :class:`Standalone` on the CPU, the named inputs of every sample of ``split`` (or
    of the first split that has samples), that split's dataset and name."""
    data = run.data
    split = next((s for s in (split, "test", "val", "train") if len(data.datasets[s])), "")
    if not split:
        raise ExportError("the run's data has no sample in any split to export and check the model with")
    dataset = data.datasets[split]
    model = run.network.model.to("cpu").eval()
    batch = dataset.batch(np.arange(len(dataset)))
    with torch.no_grad():
        predictions = model(batch.inputs, batch.calendar)
    units = {task: task_units(data, task) for task in model.heads if _has_point(model.kinds[task], predictions[task])}
    framed = [task for task in model.heads if task in batch.frames]
    standalone = Standalone(model, list(batch.inputs), framed, units).eval()
    return standalone, batch_inputs(standalone, batch), dataset, split


def _has_point(kind: Any, prediction: Any) -> bool:
    try:
        kind.point(prediction)
    except Exception:  # a kind without a point forecast (a covariance) says so by raising
        return False
    return True


def export_run(run: LoadedRun, out: pathlib.Path, formats: Sequence[str], split: str = "test",
               echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Write the export directory ``out`` (module docstring) in ``formats``; returns ``model.json``'s content. An
    :class:`ExportError` when no format could be made."""
    standalone, named, dataset, split = standalone_of(run, split)
    inputs = [tensor for _, tensor in named]
    with torch.no_grad():
        expected = [(name, tensor.detach()) for name, tensor in standalone.named_outputs(inputs)]
    out.mkdir(parents=True, exist_ok=True)
    checks: dict[str, Any] = {}
    try:
        program, failure = _program(run, standalone, inputs), None
    except ExportError as error:  # no format can be made without the program
        program, failure = None, error
    for fmt in formats:
        path = out / FILES[fmt]
        try:
            if program is None:
                raise failure
            got = _pt2(program, path, inputs) if fmt == "pt2" else _onnx(run, standalone, program, path, named, expected)
            checks[fmt] = {"file": path.name, **_difference(got, expected)}
            echo(f"{fmt}: {path} ({_check_text(checks[fmt])})")
        except ExportError as error:
            checks[fmt] = {"file": None, "error": str(error)}
    failed: dict[str, list[str]] = {}
    for fmt, check in checks.items():
        if check["file"] is None:
            failed.setdefault(check["error"], []).append(fmt)
    if failed and all(check["file"] is None for check in checks.values()):
        raise ExportError("; ".join(f"{', '.join(fmts)}: {error}" for error, fmts in failed.items()))
    for error, fmts in failed.items():
        echo(f"{', '.join(fmts)}: not exported: {error}")
    card = model_card(run, standalone, named, expected, checks, split, len(dataset))
    _write_example(out / "example.npz", named, expected, dataset, run)
    atomic_write(out / "model.json", lambda h: h.write(json.dumps(card, indent=2) + "\n"), binary=False)
    atomic_write(out / "README.md", lambda h: h.write(readme(card)), binary=False)
    return card


def _program(run: LoadedRun, standalone: Standalone, inputs: Sequence[torch.Tensor]) -> Any:
    try:
        return export_program(standalone, inputs)
    except Exception as error:  # torch.export raises many types: each is the reason to report
        raise _blamed(run, standalone, inputs, error, lambda m, t: export_program(m, t, dynamic=False)) from None


def _pt2(program: Any, path: pathlib.Path, inputs: Sequence[torch.Tensor]) -> list[np.ndarray]:
    """Save the program to ``path``, load it back and run it on ``inputs``."""
    atomic_write(path, lambda handle: torch.export.save(program, handle))
    with torch.no_grad():
        return [t.numpy() for t in torch.export.load(path).module()(*inputs)]


def _onnx(run: LoadedRun, standalone: Standalone, program: Any, path: pathlib.Path,
          named: Sequence[tuple[str, torch.Tensor]], expected: Sequence[tuple[str, torch.Tensor]]) -> list[np.ndarray]:
    missing = onnx_available()
    if missing:
        raise ExportError(missing)
    names = [name for name, _ in named]
    try:
        with tempfile.TemporaryDirectory() as folder:
            save_onnx(program, pathlib.Path(folder) / "model.onnx", names, [name for name, _ in expected])
            data = (pathlib.Path(folder) / "model.onnx").read_bytes()
    except Exception as error:  # the ONNX exporter raises many types: each is the reason to report

        def alone(module: torch.nn.Module, tensors: Sequence[torch.Tensor]) -> None:
            with tempfile.TemporaryDirectory() as scratch:
                save_onnx(export_program(module, tensors, dynamic=False), pathlib.Path(scratch) / "block.onnx",
                          [f"in{i}" for i in range(len(tensors))], [])

        raise _blamed(run, standalone, [t for _, t in named], error, alone) from None
    atomic_write(path, lambda handle: handle.write(data))
    got = run_onnx(path, named)
    return got if got is not None else []


def _blamed(run: LoadedRun, standalone: Standalone, inputs: Sequence[torch.Tensor], error: BaseException,
            export: Callable[..., Any]) -> ExportError:
    found = blame(standalone.model, lambda: standalone(*inputs), export)
    if found is None:
        return ExportError(f"the assembled model cannot be exported (each block can, alone): {reason(error)}")
    key, why = found
    return ExportError(f"{key} ({plugin_of(run.spec, key)}) cannot be exported: {why}")


def _difference(got: Sequence[np.ndarray], expected: Sequence[tuple[str, torch.Tensor]]) -> dict[str, Any]:
    """The largest absolute difference of the artefact's outputs from the framework's, and the largest relative
    to each output's scale (its largest absolute value); infinite when they disagree on which values are finite."""
    if not got:
        return {"checked": False}
    worst_abs = worst_rel = 0.0
    for value, (_, want) in zip(got, expected, strict=True):
        a, b = np.asarray(value, dtype=np.float64), want.double().numpy()
        finite = np.isfinite(b)
        if not np.array_equal(np.isfinite(a), finite):
            return {"checked": True, "max_abs_diff": math.inf, "max_rel_diff": math.inf}
        if finite.any():
            diff = float(np.abs(a[finite] - b[finite]).max())
            worst_abs = max(worst_abs, diff)
            worst_rel = max(worst_rel, diff / max(float(np.abs(b[finite]).max()), 1e-12))
    return {"checked": True, "max_abs_diff": worst_abs, "max_rel_diff": worst_rel}


def _check_text(check: Mapping[str, Any]) -> str:
    if not check.get("checked"):
        return "not checked: onnxruntime is not installed"
    return f"checked on the example inputs: max abs difference {check['max_abs_diff']:.3g}, relative to the " \
           f"outputs' scale {check['max_rel_diff']:.3g}"


def _anchors(dataset: Any, run: LoadedRun) -> np.ndarray:
    return np.array([str(np.datetime64(int(day) + run.data.timeline.day0, "D")) for day in dataset.anchors])


def _write_example(path: pathlib.Path, named: Sequence[tuple[str, torch.Tensor]],
                   expected: Sequence[tuple[str, torch.Tensor]], dataset: Any, run: LoadedRun) -> None:
    arrays = {name: tensor.numpy() for name, tensor in named}
    arrays |= {f"expected/{name}": tensor.numpy() for name, tensor in expected}
    arrays["anchor"] = _anchors(dataset, run)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def model_card(run: LoadedRun, standalone: Standalone, named: Sequence[tuple[str, torch.Tensor]],
               expected: Sequence[tuple[str, torch.Tensor]], checks: Mapping[str, Any], split: str,
               samples: int) -> dict[str, Any]:
    """``model.json``: what a program outside mrframe needs to call the artefact and read its outputs."""
    tasks = {}
    for task, head in standalone.model.heads.items():
        info, units = head.target, task_units(run.data, task)
        tasks[task] = {
            "kind": standalone.model.kinds[task].name, "head": run.spec.heads[task].component.plugin,
            "source": info.source, "resolution": info.resolution, "features": list(info.features),
            "steps_after_anchor": [int(k) for k in target_offsets(info)], "framed": task in standalone.framed,
            "outputs": [name for name, _ in expected if name == task or name.startswith(f"{task}.")],
            "units": {"shift": units.shift.tolist(), "scale": units.scale.tolist(), "log1p": units.log1p.tolist()},
        }
    return {
        "run": str(run.directory.path), "checkpoint": run.used, "mrframe": mrframe.__version__,
        "torch": torch.__version__,
        "formats": {fmt: check for fmt, check in checks.items()},
        "inputs": [p.to_dict() for p in ports(named)],
        "outputs": [p.to_dict() for p in ports(expected)],
        "tasks": tasks,
        "example": {"file": "example.npz", "split": split, "samples": samples},
        "to_source_units": "y_source = expand(shift + scale * y) per feature, expand(x) = sign(x) * expm1(|x|) where "
                           "log1p is true, else x; K.forecast outputs are already in the source's units",
    }


def readme(card: Mapping[str, Any]) -> str:
    """``README.md``: the model card for people."""
    inputs, outputs = (
        "\n".join(f"| {i + 1} | `{p['name']}` | {' x '.join(map(str, p['shape']))} | {p['dtype']} |"
                  for i, p in enumerate(card[which])) for which in ("inputs", "outputs"))
    tasks = "\n".join(f"- `{t}`: {d['kind']} prediction of {d['source']} ({', '.join(d['features'])}), "
                      f"{d['resolution']} steps {d['steps_after_anchor']} after the anchor; outputs "
                      f"{', '.join(f'`{o}`' for o in d['outputs'])}" for t, d in card["tasks"].items())
    formats = "\n".join(f"- {fmt}: `{c['file']}`" + (f" (checked: max abs difference {c['max_abs_diff']:.3g})"
                                                       if c.get("checked") else "")
                        if c["file"] else f"- {fmt}: not exported: {c['error']}" for fmt, c in card["formats"].items())
    return f"""# Exported model of {card['run']}

{card['checkpoint']}

{formats}

## Inputs (in call order)

The tensors of an mrframe batch: each input source's values and mask (True = observed; NaN or inf values also
count as missing) after the run's fitted preprocessing, the calendar, and each framed task's frame. The first axis
is the batch. `example.npz` holds real ones (the {card['example']['split']} split's {card['example']['samples']} samples,
with their `anchor` days).

| # | name | shape | dtype |
|---|---|---|---|
{inputs}

## Outputs (in order)

Each head's prediction in the target's units (`K`, or `K.KEY` for each tensor of a dict), then `K.forecast`, the
kind's point forecast in the source's units (what `mrframe predict` writes as `prediction`).

| # | name | shape | dtype |
|---|---|---|---|
{outputs}

{tasks}

To the source's units: {card['to_source_units']} (`shift`, `scale`, `log1p` per feature: `model.json`, `tasks.K.units`).
This maps values on the target's scale (point forecasts, means, quantiles), not variances, rates or logits.

## Calling it

```python
import json
import numpy as np, torch
example = np.load("example.npz")
names = [p["name"] for p in json.load(open("model.json"))["inputs"]]
inputs = [torch.from_numpy(example[n]) for n in names]
outputs = torch.export.load("model.pt2").module()(*inputs)

import onnxruntime
session = onnxruntime.InferenceSession("model.onnx")
outputs = session.run(None, {{i.name: example[i.name] for i in session.get_inputs()}})
```
"""
