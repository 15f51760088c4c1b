"""The demo dataset in examples/ is what examples/make_demo_data.py writes, and examples/minimal.toml reads
it through the real loaders."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from mrframe.data.pipeline import prepare
from mrframe.spec import load_spec

pytestmark = pytest.mark.plugins
EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def test_demo_dataset_is_regenerated_byte_for_byte(tmp_path):
    pytest.importorskip("mrframe_osint")
    subprocess.run([sys.executable, str(EXAMPLES / "make_demo_data.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    shipped = sorted(p.relative_to(EXAMPLES / "data") for p in (EXAMPLES / "data").rglob("*") if p.is_file())
    assert written == shipped
    for name in written:
        assert (tmp_path / name).read_bytes() == (EXAMPLES / "data" / name).read_bytes(), name
    total = sum(p.stat().st_size for p in EXAMPLES.rglob("*") if p.is_file())
    assert total < 2_000_000


def test_minimal_example_reads_the_demo_files():
    pytest.importorskip("mrframe_osint")
    spec = load_spec(EXAMPLES / "minimal.toml")
    assert {s.component.plugin for s in spec.sources.values()} == {"equipment", "sentinel"}
    data = prepare(spec)
    assert data.inputs["equipment"].n_features == 17 and data.inputs["sentinel"].resolution == "monthly"
    assert len(data.datasets["train"]) > 1000 and len(data.datasets["val"]) > 100
    batch = data.datasets["train"].batch([600, 601])
    assert batch.targets["next_week"].shape == (2, 1, 4) and batch.targets["next_week"].mask.any()
