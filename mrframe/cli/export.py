"""``mrframe export RUN_DIR``: the trained network for inference outside mrframe (torch.export and ONNX)."""

from __future__ import annotations

import pathlib

import click

from mrframe.cli.options import debug_option
from mrframe.engine.export.artefact import FORMATS, export_run
from mrframe.engine.session import load_run


@click.command(name="export")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=pathlib.Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=pathlib.Path), default=None,
              help="Folder to write (default: RUN_DIR/export).")
@click.option("--format", "formats", type=click.Choice(FORMATS + ("all",)), multiple=True, default=("all",),
              show_default=True, help="pt2 (torch.export), onnx, or all; repeatable.")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Which checkpoint of the run to export (best: last, saying so, when the run has no best.pt).")
@click.option("--split", type=click.Choice(["test", "val", "train"]), default="test", show_default=True,
              help="Whose samples become example.npz and check the artefacts against the framework.")
@debug_option
def export(run_dir: pathlib.Path, out: pathlib.Path | None, formats: tuple[str, ...], checkpoint: str, split: str,
           debug: bool) -> None:
    """Export the trained network of RUN_DIR as a torch.export program (model.pt2) and ONNX (model.onnx).

    The artefact takes plain tensors (each input source's values and mask, the calendar, each framed task's
    frame) and returns each head's prediction and its point forecast in the source's units; model.json and
    README.md beside it name every input and output with its shape and dtype and say how to map outputs to the
    source's units; example.npz holds real inputs and the expected outputs. Each artefact is loaded back and
    checked against the framework's outputs. A block that cannot be exported is named with the reason.

    \b
    Example:
      mrframe export runs/minimal-20250101-120000
      mrframe export runs/minimal-20250101-120000 --format onnx --out /tmp/minimal-onnx
    """
    run = load_run(run_dir, checkpoint)
    click.echo(run.used)
    wanted = FORMATS if "all" in formats else tuple(f for f in FORMATS if f in formats)
    target = out or run.directory.path / "export"
    card = export_run(run, target, wanted, split, echo=click.echo)
    click.echo(f"written: {target} (model.json, README.md, example.npz: {len(card['inputs'])} inputs, "
               f"{len(card['outputs'])} outputs)")
