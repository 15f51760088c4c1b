"""A few dozen mutants of the tiny spec (mrframe.testing.spec_fuzz): validate never prints a traceback, and a
spec it accepts reaches the first optimizer step. benchmarks/spec_fuzz.py runs hundreds over the examples."""

from __future__ import annotations

import collections
import tomllib

import pytest

from mrframe.testing.spec_fuzz import Verdict, judge, mutants

pytestmark = pytest.mark.plugins


def test_mutated_specs_are_refused_by_validate_or_reach_the_first_step(spec_writer, tmp_path):
    base = tomllib.loads(spec_writer(tmp_path, train="epochs = 1").read_text())
    verdicts: list[Verdict] = [judge(m, tmp_path / str(i)) for i, m in enumerate(mutants(base, 40, seed=11))]
    outcomes = collections.Counter(v.outcome for v in verdicts)
    bad = [f"[{v.outcome}] {v.label}: {v.detail}" for v in verdicts if not v.good]
    assert not bad, "\n".join(bad)
    assert outcomes["rejected"] and outcomes["reached"]  # the mutants exercise both sides
