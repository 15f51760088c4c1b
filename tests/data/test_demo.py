"""The demo dataset in examples/: its synthetic files are what examples/make_demo_data.py writes, its real
files are the upstream snapshot (when it is at MRFRAME_REAL_DATA), and the example specs read them through the
real loaders."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from mrframe.data.pipeline import prepare
from mrframe.spec import load_spec

pytestmark = pytest.mark.plugins
ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
REAL = pathlib.Path(os.environ.get("MRFRAME_REAL_DATA", ROOT.parent / "shared" / "data" / "real")) / "petroivaniuk"
REAL_FILES = ["russia_losses_equipment.json.gz", "russia_losses_personnel.json.gz", "LICENSE-petroivaniuk",
              "PROVENANCE.md"]


def files(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def test_demo_dataset_is_regenerated_byte_for_byte(tmp_path):
    pytest.importorskip("mrframe_osint")
    script = [sys.executable, str(EXAMPLES / "make_demo_data.py"), "--out", str(tmp_path)]
    subprocess.run(script, check=True, capture_output=True)
    synthetic = files(tmp_path)
    assert synthetic == [p for p in files(EXAMPLES / "data") if p.name not in REAL_FILES]
    if REAL.is_dir():  # the real files are the upstream snapshot, compressed
        subprocess.run([*script, "--real", str(REAL)], check=True, capture_output=True)
    else:
        for name in REAL_FILES:
            (tmp_path / name).write_bytes((EXAMPLES / "data" / name).read_bytes())
    assert files(tmp_path) == files(EXAMPLES / "data")
    for name in files(tmp_path):
        assert (tmp_path / name).read_bytes() == (EXAMPLES / "data" / name).read_bytes(), name
    total = sum(p.stat().st_size for p in EXAMPLES.rglob("*") if p.is_file())
    assert total < 2_000_000


def test_the_script_replaces_only_the_demo_datasets_own_files(tmp_path):
    pytest.importorskip("mrframe_osint")
    (tmp_path / "notes.txt").write_text("mine")
    done = subprocess.run([sys.executable, str(EXAMPLES / "make_demo_data.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "not the demo dataset's (notes.txt)" in done.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_minimal_example_reads_the_real_files():
    pytest.importorskip("mrframe_osint")
    spec = load_spec(EXAMPLES / "minimal.toml")
    paths = {name: s.component.config.path.name for name, s in spec.sources.items()}
    assert paths == {"equipment": "russia_losses_equipment.json.gz", "personnel": "russia_losses_personnel.json.gz"}
    data = prepare(spec)
    assert data.inputs["equipment"].n_features == 17 and data.inputs["personnel"].n_features == 2
    assert len(data.datasets["train"]) > 1000 and len(data.datasets["val"]) > 100
    batch = data.datasets["train"].batch([600, 601])
    assert batch.targets["next_week"].shape == (2, 1, 4) and batch.targets["next_week"].mask.any()
