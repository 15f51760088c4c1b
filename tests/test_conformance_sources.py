"""The kit catches a source that fills the gaps it constructs (forward fill, zeros) in CSV tables, JSON records
and folders of one file per date, and one that passes a sentinel on; a source that leaves gaps missing passes."""

import json
import pathlib

import attrs
import pandas as pd
import pytest

from mrframe.config import field
from mrframe.interfaces import Source, SourceFrame
from mrframe.testing import ConformanceError, check_source
from mrframe.testing.promises import failures

DAYS = pd.date_range("2024-01-01", periods=12, freq="D")


def broken(plugin):
    return sorted(p.name for p, _ in failures("source", plugin))


@attrs.frozen
class TableConfig:
    path: pathlib.Path = field(doc="the input: a CSV file, a JSON file or a folder", exists=True)


class DailyTable(Source):
    """A CSV file with one row per day; days without a row are missing."""

    Config = TableConfig

    def load(self):
        return SourceFrame(self.fill(self.read()), "daily")

    def read(self):
        return pd.read_csv(self.config.path, parse_dates=["date"]).set_index("date").astype(float)

    def fill(self, frame):
        return frame

    @classmethod
    def example_config(cls, directory):
        table = pd.DataFrame({"date": DAYS.strftime("%Y-%m-%d"), "a": range(12), "b": [1.5] * 12})
        table.loc[3, "a"] = None
        table.to_csv(directory / "table.csv", index=False)
        return TableConfig(directory / "table.csv")


class JsonRecords(DailyTable):
    """A JSON list of records, one per day."""

    def read(self):
        records = json.loads(self.config.path.read_text())
        return pd.DataFrame(records).assign(date=lambda f: pd.to_datetime(f["date"])).set_index("date").astype(float)

    @classmethod
    def example_config(cls, directory):
        records = [{"date": d.strftime("%Y-%m-%d"), "total": 10.0 * i} for i, d in enumerate(DAYS)]
        (directory / "records.json").write_text(json.dumps(records))
        return TableConfig(directory / "records.json")


class DailyFiles(DailyTable):
    """A folder of files value_YYYYMMDD.txt, one number each."""

    def read(self):
        days = {pd.Timestamp(p.stem[-8:]): float(p.read_text()) for p in self.config.path.glob("value_*.txt")}
        return pd.DataFrame({"value": pd.Series(days)}).sort_index().rename_axis("date")

    @classmethod
    def example_config(cls, directory):
        folder = directory / "daily"
        folder.mkdir()
        for i, day in enumerate(DAYS):
            (folder / f"value_{day:%Y%m%d}.txt").write_text(str(i * 0.5))
        return TableConfig(folder)


def forward_fills(frame):
    return frame.asfreq("D").ffill()


def fills_zeros(frame):
    return frame.asfreq("D").fillna(0.0)


def planted(base, fill):
    return type(f"{base.__name__}With{fill.__name__.title()}", (base,), {"fill": lambda self, frame: fill(frame)})


@pytest.mark.parametrize("base", [DailyTable, JsonRecords, DailyFiles])
def test_a_source_that_leaves_gaps_missing_keeps_every_promise(base):
    assert broken(base) == []


@pytest.mark.parametrize("base", [DailyTable, JsonRecords, DailyFiles])
@pytest.mark.parametrize(("fill", "message"), [
    (forward_fills, r"fills gaps: dates 2024-01-05..2024-01-08 are not in the input"),
    (fills_zeros, "fills gaps with zeros"),
])
def test_a_filled_gap_is_caught(base, fill, message):
    cls = planted(base, fill)
    assert broken(cls) == ["no-filled-gaps"]
    with pytest.raises(ConformanceError, match=message):
        check_source(cls)


def test_a_sentinel_is_caught():
    cls = planted(DailyTable, lambda frame: frame.fillna(-999.0))
    assert broken(cls) == ["nan-missing"]
    with pytest.raises(ConformanceError, match="holds -999, a missing-value sentinel"):
        check_source(cls)


def test_files_outside_the_example_are_never_edited(tmp_path):
    config = DailyTable.example_config(tmp_path)
    before = config.path.read_bytes()
    assert broken_with_config(config) == []
    assert config.path.read_bytes() == before


def broken_with_config(config):
    return sorted(p.name for p, _ in failures("source", DailyTable, config=config))


def test_declarations_that_disagree_with_the_load_are_caught():
    class SaysMonthly(DailyTable):
        @classmethod
        def declared_resolution(cls, config):
            return "monthly"

    class SaysSpatial(DailyTable):
        @classmethod
        def declared_extent(cls, config):
            return "spatial"

    class SaysOtherFeatures(DailyTable):
        @classmethod
        def declared_features(cls, config):
            return ("a", "c")

    class SaysItsFeatures(DailyTable):
        @classmethod
        def declared_features(cls, config):
            return ("a", "b")

    assert broken(SaysItsFeatures) == []
    assert broken(SaysOtherFeatures) == ["declared"]
    with pytest.raises(ConformanceError, match=r"declared_features.config. says \['a', 'c'\], but load.. returns "
                                               r"features \['a', 'b'\]"):
        check_source(SaysOtherFeatures)
    assert broken(SaysMonthly) == ["declared"]
    with pytest.raises(ConformanceError, match="declared_resolution.config. says 'monthly', but load.. returns a daily"):
        check_source(SaysMonthly)
    assert broken(SaysSpatial) == ["declared"]
    with pytest.raises(ConformanceError, match="declared_extent.config. says 'spatial', but load.. returns a national"):
        check_source(SaysSpatial)
