"""Mutated data files against ``mrframe data``: one line and exit status 2, or a report that shows the change.

Copies the demo dataset, applies one random mutation to one of its files (truncation, flipped or NUL bytes, a
damaged gzip stream, a sentinel, ``inf`` or 1e30 in a number cell, a non-number, an extra or a missing field,
a Latin-1 character, a header without rows, deep JSON nesting, a folder where a file was) and runs
``mrframe data examples/osint-han.toml`` on it in a worker process with a time limit. Outcomes:

=====================  ===============================================================================
``refused``            exit status 2 with one ``error:`` line (good)
``reported``           exit status 0 and the report shows the mutation (rejected cells, a likely sentinel, an
                       extreme value) (good)
``accepted``           exit status 0 and nothing in the report shows it: silent for mutations that must be
                       noticed (a sentinel, inf, 1e30, an extra field, a header without rows), benign for
                       the others (a flipped digit is still a number)
``traceback``          an exception escaped (bad)
``hang`` / ``aborted`` past the time limit / the process died (bad)
=====================  ===============================================================================

    python benchmarks/data_fuzz.py [--count 150] [--seed 0] [--timeout 120]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gzip
import io
import json
import pathlib
import random
import shutil
import time

import attrs
from spec_fuzz import judge_all

ROOT = pathlib.Path(__file__).resolve().parents[1]
MUST_NOTICE = ("sentinel", "inf", "1e30", "extra field", "header only")
SPEC = """\
version = 1
[data]
daily_window = 56
monthly_window = 4
split = {{ val_from = 2025-06-01, test_from = 2026-01-01 }}
[sources.equipment]
plugin = "equipment"
path = "{data}/russia_losses_equipment.json.gz"
[sources.personnel]
plugin = "personnel"
path = "{data}/russia_losses_personnel.json.gz"
[sources.firms]
plugin = "firms"
path = "{data}/firms_viirs"
[sources.sentinel]
plugin = "sentinel"
path = "{data}/sentinel_monthly.csv"
[sources.regimes]
plugin = "labels"
path = "{data}/intensity_regimes.csv"
classes = 4
{encoders}
[heads.next]
plugin = "regression"
target = {{ source = "equipment", horizon = 7, features = ["tank"] }}
loss = {{ plugin = "masked-mse" }}
"""


@attrs.frozen
class Case:
    label: str
    kind: str
    file: str
    seed: int


@attrs.frozen
class Outcome:
    label: str
    kind: str
    outcome: str
    detail: str = ""


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def mutate(kind: str, path: pathlib.Path, rng: random.Random) -> None:  # noqa: C901 - one branch per mutation
    compressed, is_json = path.name.endswith(".gz"), path.name.endswith((".json", ".json.gz"))
    raw = path.read_bytes()
    text = gzip.decompress(raw) if compressed else raw
    lines = _lines(text)
    body = [i for i in range(1, len(lines)) if lines[i].strip()]
    if kind == "truncate":
        raw = raw[: rng.randrange(1, len(raw))]
    elif kind == "flip bytes":
        raw = bytearray(raw)
        for _ in range(rng.randint(1, 5)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        raw = bytes(raw)
    elif kind == "NUL bytes":
        at = rng.randrange(len(raw))
        raw = raw[:at] + b"\x00" * rng.randint(1, 50) + raw[at:]
    elif kind == "folder":
        path.unlink()
        path.mkdir()
        return
    elif kind in ("sentinel", "inf", "1e30", "not a number", "extra field") and is_json:
        records = json.loads(text)
        if kind == "extra field":
            rng.choice(records)["extra"] = "x"
        value = {"sentinel": -999, "inf": float("inf"), "1e30": 1e30, "not a number": "abc"}.get(kind)
        for record in rng.sample(records, 12 if kind == "sentinel" else 1) if value is not None else ():
            numeric = [k for k, v in record.items() if isinstance(v, int | float) and k != "day"]
            if numeric:
                record[rng.choice(numeric)] = value
        text = json.dumps(records, indent=1).encode()  # inf is written as Infinity, which JSON readers accept
        raw = gzip.compress(text) if compressed else text
    else:
        if kind in ("sentinel", "inf", "1e30", "not a number"):
            value = {"sentinel": b"-999", "inf": b"inf", "1e30": b"1e30", "not a number": b"abc"}[kind]
            header = lines[0].split(b",")
            read = [k for k, name in enumerate(header) if name.strip() not in UNREAD]
            times = 12 if kind == "sentinel" else 1
            for i in rng.sample(body, min(times, len(body))):
                lines[i] = _replace_number(lines[i], value, read, rng)
        elif kind == "extra field":
            i = rng.choice(body)
            lines[i] = lines[i] + b',"extra"'
        elif kind == "missing field":
            i = rng.choice(body)
            lines[i] = lines[i].rsplit(b",", 1)[0]
        elif kind == "latin-1":
            i = rng.choice(body)
            lines[i] = lines[i][:-1] + "é".encode("latin-1") + lines[i][-1:]
        elif kind == "header only":
            lines = lines[:1] + [b""]
        elif kind == "deep nesting":
            lines = [b"[" * 50000 + b"]" * 50000]
        elif kind == "swap lines" and len(body) > 2:
            i, j = rng.sample(body, 2)
            lines[i], lines[j] = lines[j], lines[i]
        text = b"\n".join(lines)
        raw = gzip.compress(text) if compressed else text
    path.write_bytes(raw)


UNREAD = {b"scan", b"track", b"instrument", b"type", b"satellite", b"version", b"date", b"acq_date"}
"""CSV columns no reader of the spec turns into numbers (a value there changes nothing)."""


def _replace_number(line: bytes, value: bytes, read: list[int], rng: random.Random) -> bytes:
    cells = line.split(b",")
    numeric = [k for k in read if k < len(cells) and cells[k].strip().replace(b".", b"").replace(b"-", b"").isdigit()]
    if numeric:
        cells[rng.choice(numeric)] = value
    return b",".join(cells)


KINDS = ("truncate", "flip bytes", "NUL bytes", "folder", "sentinel", "inf", "1e30", "not a number", "extra field",
         "missing field", "latin-1", "header only", "deep nesting", "swap lines")


def cases(count: int, seed: int) -> list[Case]:
    data = ROOT / "examples" / "data"
    read = [p for p in sorted(data.rglob("*"))  # the files SPEC reads (not firms_modis, the license, the notes)
            if p.is_file() and p.parent.name != "firms_modis" and p.name.endswith((".json.gz", ".csv", ".csv.gz"))]
    files = [p.relative_to(data).as_posix() for p in read]
    rng = random.Random(seed)
    out = []
    for i in range(count):
        kind, file = rng.choice(KINDS), rng.choice(files)
        if kind == "deep nesting" and ".json" not in file:
            file = "russia_losses_equipment.json.gz"
        out.append(Case(f"{kind} in {file}", kind, file, seed * 100003 + i))
    return out


def judge(case: Case, folder: pathlib.Path) -> Outcome:
    from mrframe.cli import main

    data = folder / "data"
    shutil.copytree(ROOT / "examples" / "data", data)
    mutate(case.kind, data / case.file, random.Random(case.seed))
    encoders = "\n".join(f"[encoders.{n}]\nplugin = \"recurrent\"" for n in ("equipment", "personnel", "firms",
                                                                              "sentinel"))
    spec = folder / "spec.toml"
    spec.write_text(SPEC.format(data=data.as_posix(), encoders=encoders))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main(["data", str(spec), "--out", str(folder / "runs")])
            status = 0
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException as error:  # noqa: BLE001 - what the fuzzer looks for
            return Outcome(case.label, case.kind, "traceback", f"{type(error).__name__}: {error}"[:300])
    text = out.getvalue()
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    if status == 2 and len(errors) == 1:
        return Outcome(case.label, case.kind, "refused", errors[0][:300])
    if status != 0:
        return Outcome(case.label, case.kind, "traceback", f"exit {status}: {text.strip()[-300:]}")
    report = json.loads(next((folder / "runs").glob("*/data_report.json")).read_text())
    shows = any(s["rejected"] or s["suspected_sentinels"] for s in report["sources"]) or report["extremes"]
    baseline = _baseline_rejected()
    changed = [s for s in report["sources"] if s["rejected"] != baseline.get(s["name"], {}) or s["suspected_sentinels"]]
    if changed or report["extremes"]:
        return Outcome(case.label, case.kind, "reported")
    return Outcome(case.label, case.kind, "accepted", "report shows nothing" if not shows else "")


_BASELINE: dict[str, dict[str, int]] = {}


def _baseline_rejected() -> dict[str, dict[str, int]]:
    """What the unmutated demo data's report rejects (FIRMS overlaps), to tell a mutation's trace from it."""
    if not _BASELINE:
        from mrframe.data.pipeline import load_sources
        from mrframe.spec import build_spec

        document = __import__("tomllib").loads(SPEC.format(data=(ROOT / "examples" / "data").as_posix(), encoders="".join(
            f"[encoders.{n}]\nplugin = \"recurrent\"\n" for n in ("equipment", "personnel", "firms", "sentinel"))))
        for name, frame in load_sources(build_spec(document)).items():
            _BASELINE[name] = {str(k): int(v) for k, v in frame.rejected.items()}
    return _BASELINE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    work = cases(args.count, args.seed)
    started = time.perf_counter()
    verdicts = judge_all(work, judge, args.timeout, lambda case, outcome: Outcome(case.label, case.kind, outcome))
    counts = collections.Counter(v.outcome for v in verdicts.values())
    silent = [v for v in verdicts.values() if v.outcome == "accepted" and v.kind in MUST_NOTICE]
    print(f"\n{len(work)} mutated data files in {time.perf_counter() - started:.0f}s: {counts['refused']} refused with "
          f"one line, {counts['reported']} accepted and reported, {counts['accepted'] - len(silent)} accepted (benign), "
          f"{len(silent)} silently accepted, {counts['traceback']} tracebacks, {counts['aborted']} aborted, "
          f"{counts['hang']} hangs")
    for i in sorted(verdicts):
        v = verdicts[i]
        if v.outcome in ("traceback", "aborted", "hang") or v in silent:
            print(f"  [{v.outcome}] {v.label}: {v.detail}")
    for kind in KINDS:
        got = collections.Counter(v.outcome for v in verdicts.values() if v.kind == kind)
        print(f"  {kind:14s} {dict(got)}")


if __name__ == "__main__":
    main()
