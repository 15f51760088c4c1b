import datetime as dt
import pathlib
from typing import Literal

import attrs
import pytest

from mrframe.config import CliText, describe, field, structure, unstructure
from mrframe.errors import Problem, SpecError


@attrs.frozen
class Inner:
    gamma: float = field(2.0, "focusing parameter", min=0.0)


@attrs.frozen
class Outer:
    required: str = field(doc="must be given")
    d_model: int = field(64, "width", min=1)
    mode: Literal["zscore", "robust"] = field("zscore", "scaling")
    names: tuple[str, ...] = field(("a",), "names")
    table: dict[str, float] = field(factory=dict, doc="per-name weights")
    inner: Inner = field(factory=Inner, doc="nested table")
    path: pathlib.Path | None = field(None, "a file")
    since: dt.date | None = field(None, "a date")


def problems_of(data, **kwargs):
    found: list[Problem] = []
    result = structure(Outer, data, "x", found, **kwargs)
    return result, [str(p) for p in found]


def test_every_problem_is_collected_with_its_dotted_path():
    _, lines = problems_of({"d_modle": 3, "mode": "robsut", "inner": {"gamma": "two"}, "names": [1]})
    assert lines == [
        "x.d_modle: unknown key (did you mean 'd_model'?)",
        "x.required: missing required key (a string)",
        "x.mode: expected one of \"zscore\", \"robust\", got \"robsut\" (did you mean 'robust'?)",
        "x.names[0]: expected a string, got 1",
        "x.inner.gamma: expected a finite number, got \"two\"",
    ]


def test_bounds_are_checked_when_structuring_and_when_constructing():
    _, lines = problems_of({"required": "r", "d_model": 0, "inner": {"gamma": -1}})
    assert lines == ["x.d_model: must be >= 1, got 0", "x.inner.gamma: must be >= 0.0, got -1.0"]
    with pytest.raises(ValueError, match="d_model: must be >= 1"):
        Outer(required="r", d_model=0)


def test_bool_is_not_an_integer_and_int_is_a_float():
    _, lines = problems_of({"required": "r", "d_model": True})
    assert lines == ["x.d_model: expected an integer, got true"]
    result, lines = problems_of({"required": "r", "inner": {"gamma": 3}})
    assert lines == [] and result.inner.gamma == 3.0 and isinstance(result.inner.gamma, float)


def test_paths_are_relative_to_the_base_dir_and_dates_parse(tmp_path):
    result, lines = problems_of({"required": "r", "path": "data/x.json", "since": "2024-02-29"}, base_dir=tmp_path)
    assert lines == []
    assert result.path == tmp_path / "data" / "x.json"
    assert result.since == dt.date(2024, 2, 29)


def test_cli_text_is_typed_by_the_field():
    data = {
        "required": CliText("7"),  # a string field keeps the text
        "d_model": CliText("32"),
        "names": CliText("a, b"),
        "inner": {"gamma": CliText("0.5")},
        "table": {"w": CliText("1e-3")},
    }
    result, lines = problems_of(data)
    assert lines == []
    assert (result.required, result.d_model, result.names, result.inner.gamma, result.table) == (
        "7", 32, ("a", "b"), 0.5, {"w": 1e-3})
    _, lines = problems_of({"required": "r", "d_model": CliText("many")})
    assert lines == ['x.d_model: expected an integer, got "many"']


def test_structure_without_a_problem_list_raises_spec_error():
    with pytest.raises(SpecError, match=r"1 problem in the spec:\n  d_model: must be >= 1"):
        structure(Outer, {"required": "r", "d_model": -1})


def test_describe_lists_type_default_and_doc():
    rows = {r.name: r for r in describe(Outer)}
    assert (rows["d_model"].type, rows["d_model"].default, rows["d_model"].doc) == ("int", "64", "width")
    assert rows["mode"].type == '"zscore" | "robust"'
    assert rows["required"].required and rows["required"].default == "(required)"
    assert rows["path"].type == "path | None"


def test_unstructure_round_trips():
    original = Outer(required="r", names=("a", "b"), table={"w": 1.0}, since=dt.date(2024, 1, 1))
    again = structure(Outer, unstructure(original))
    assert again == original
