"""Fake installed distributions: a ``*.dist-info`` folder with entry points, put on PYTHONPATH of a subprocess."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Mapping

REPO = pathlib.Path(__file__).resolve().parents[1]


def make_distribution(
    root: pathlib.Path,
    name: str,
    version: str,
    entry_points: Mapping[str, Mapping[str, str]],
    modules: Mapping[str, str] = {},
) -> pathlib.Path:
    """Write distribution ``name`` (with ``entry_points[group][ep_name] = "module:attr"``) and ``modules``
    (file name -> source) into ``root``; return ``root``."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, items in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{ep} = {target}" for ep, target in items.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for file_name, source in modules.items():
        (root / file_name).write_text(source)
    return root


def run_cli(args: list[str], path: pathlib.Path | None = None, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m mrframe ARGS`` with ``path`` (and the repo, for tests.fakes) on PYTHONPATH."""
    env = dict(os.environ)
    extra = [str(path)] if path else []
    env["PYTHONPATH"] = os.pathsep.join(extra + [str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return subprocess.run(
        [sys.executable, "-m", "mrframe", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )
