"""`mrframe export`: the exported program gives `mrframe predict`'s forecasts, its card maps outputs to the
source's units, and a block that cannot be exported is named."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from mrframe import registry
from mrframe.cli import cli
from mrframe.errors import EXIT_UNSUPPORTED
from mrframe.observed import Stream
from tests.engine.conftest import RecurrentEncoder

pytestmark = pytest.mark.slow


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def minimal_run(tmp_path_factory, threads):
    out = tmp_path_factory.mktemp("runs")
    with threads():
        result = _invoke("run", "examples/minimal.toml", "--set", "train.epochs=1", "--out", str(out))
    assert result.exit_code == 0, result.output
    return next(out.iterdir())


def _units(values: np.ndarray, units: dict) -> np.ndarray:
    """The map model.json documents, as a program outside mrframe would write it."""
    y = np.asarray(units["shift"]) + np.asarray(units["scale"]) * values
    with np.errstate(over="ignore"):  # expm1 of the features that are not log1p-compressed is not used
        return np.where(np.asarray(units["log1p"]), np.sign(y) * np.expm1(np.abs(y)), y)


def test_the_exported_model_predicts_what_mrframe_predict_does(minimal_run, tmp_path):
    out = tmp_path / "export"
    result = _invoke("export", str(minimal_run), "--out", str(out))
    assert result.exit_code == 0, result.output
    card = json.loads((out / "model.json").read_text())
    example = np.load(out / "example.npz")
    inputs = [torch.from_numpy(example[p["name"]]) for p in card["inputs"]]
    names = [p["name"] for p in card["outputs"]]
    assert names == ["next_week", "next_week.forecast"] and card["tasks"]["next_week"]["framed"]
    with torch.no_grad():
        outputs = dict(zip(names, (t.numpy() for t in torch.export.load(out / "model.pt2").module()(*inputs)),
                           strict=True))

    anchors = [str(a) for a in example["anchor"]]
    table = tmp_path / "predictions.csv"
    predicted = _invoke("predict", str(minimal_run), "--out", str(table), *[a for d in anchors for a in ("--at", d)])
    assert predicted.exit_code == 0, predicted.output
    frame = pd.read_csv(table)
    task = card["tasks"]["next_week"]
    want = frame["prediction"].to_numpy().reshape(len(anchors), len(task["steps_after_anchor"]), len(task["features"]))
    assert list(frame["feature"][: len(task["features"])]) == task["features"]
    assert np.isfinite(want).mean() > 0.9
    np.testing.assert_allclose(outputs["next_week.forecast"], want, rtol=1e-5, atol=0)
    np.testing.assert_allclose(_units(outputs["next_week"], task["units"]), want, rtol=1e-5, atol=0)
    with torch.no_grad():  # the batch axis is free: five samples give the same rows
        five = torch.export.load(out / "model.pt2").module()(*(t[:5] for t in inputs))
    np.testing.assert_array_equal(five[1].numpy(), outputs["next_week.forecast"][:5])

    onnx = card["formats"]["onnx"]
    if onnx["file"] is None:
        assert "pip install 'mrframe[export]'" in onnx["error"]
        return
    runtime = pytest.importorskip("onnxruntime")
    session = runtime.InferenceSession(str(out / "model.onnx"))
    got = session.run(None, {i.name: example[i.name] for i in session.get_inputs()})
    np.testing.assert_allclose(got[names.index("next_week.forecast")], want, rtol=1e-5, atol=0)
    assert onnx["max_rel_diff"] < 1e-5


class FragileEncoder(RecurrentEncoder):
    """Reads a tensor's value in Python: fine in eager mode, impossible to capture in a graph."""

    def forward(self, x, calendar):  # noqa: ANN001
        stream = super().forward(x, calendar)
        return Stream(stream.hidden * float(x.values.abs().sum() > 0), stream.present)


def test_a_block_that_cannot_be_exported_is_named(tiny_spec, tmp_path):
    with registry.registered("encoder", "fragile", FragileEncoder):
        trained = _invoke("run", str(tiny_spec(encoder="fragile", train="epochs = 1")), "--out", str(tmp_path))
        assert trained.exit_code == 0, trained.output
        run = next(p for p in tmp_path.iterdir() if p.name.startswith("tiny-"))
        result = _invoke("export", str(run), "--format", "pt2")
    assert getattr(result.exception, "exit_status", None) == EXIT_UNSUPPORTED  # what `mrframe export` exits with
    message = str(result.exception)
    assert message.startswith("pt2: encoders.daily (fragile) cannot be exported: ") and "\n" not in message
    assert not (run / "export" / "model.pt2").exists()


def test_export_refuses_what_is_not_a_trained_run(tmp_path):
    result = _invoke("export", str(tmp_path))
    assert "not a run directory" in str(result.exception)
    (tmp_path / "spec.toml").write_text("version = 1\n")
    assert _invoke("export", str(tmp_path)).exit_code != 0
