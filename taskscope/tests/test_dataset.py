"""The pandas side: Dataset.get/tail/count/filter/open on store files, frames and their dtypes."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from taskscope.views import dataset as ds
from taskscope.query import COLUMNS
from taskscope.tests._dataset_fixtures import BASE_TIME, local_timezone, row, session_file, write_store


@pytest.fixture
def store(taskscope_home: Path) -> Path:
    rows = [
        row(1, logger="app", level="DEBUG"),
        row(2, logger="app", level="INFO", extra={"user": "ann", "n": [1, 2]}),
        row(3, logger="work", level="WARNING", task="work-1", worker="tcp://w1"),
        row(4, logger="work", level="ERROR", task="work-2", worker="tcp://w1", msg="it failed"),
        row(5, logger="stdout", level="INFO", source="print", msg="hello"),
    ]
    path = session_file(taskscope_home, "20231114-221320", "ab12")
    return write_store(path, rows, session_id="ab12cd34ef")


@pytest.fixture
def data(store: Path) -> ds.Dataset:
    return ds.Dataset(store)


# ---------------------------------------------------------------- frames


def test_get_has_the_record_columns_in_order(data: ds.Dataset) -> None:
    frame = data.get()
    assert list(frame.columns) == list(COLUMNS)
    assert frame["seq"].tolist() == [1, 2, 3, 4, 5]
    assert frame.loc[1, "extra"] == {"user": "ann", "n": [1, 2]}
    assert frame.loc[0, "extra"] is None
    assert frame["levelno"].tolist() == [10, 20, 30, 40, 20]


def test_created_is_a_tz_aware_local_datetime(data: ds.Dataset) -> None:
    with local_timezone("America/New_York"):
        created = data.get()["created"]
    assert isinstance(created.dt.tz, ZoneInfo) and str(created.dt.tz) == "America/New_York"
    first = created.iloc[0]
    assert first == pd.Timestamp(BASE_TIME + 1, unit="s", tz="UTC")
    assert first.to_pydatetime() == datetime.fromtimestamp(BASE_TIME + 1, timezone.utc)


def test_empty_result_keeps_columns_and_dtypes(data: ds.Dataset) -> None:
    full, empty = data.get(), data.get(logger="nobody")
    assert empty.empty and list(empty.columns) == list(COLUMNS)
    assert empty.dtypes.to_dict() == full.dtypes.to_dict()


def test_null_columns_do_not_break_the_frame(taskscope_home: Path) -> None:
    path = write_store(taskscope_home / "n.sqlite",
                       [row(1, pid=None, levelno=None, worker=None, created=BASE_TIME + 0.25)])
    frame = ds.Dataset(path).get()
    assert frame["pid"].isna().all() and frame["levelno"].isna().all()
    assert frame["created"].iloc[0].microsecond == 250_000


def test_local_zone_follows_tz_and_falls_back_to_an_offset() -> None:
    with local_timezone("Asia/Kolkata"):
        assert str(ds.local_zone()) == "Asia/Kolkata"
    with local_timezone("XYZ-3"):  # a POSIX rule, not an IANA name: a fixed offset that is right now
        zone = ds.local_zone()
        assert zone.utcoffset(datetime.now()).total_seconds() == 3 * 3600


# ---------------------------------------------------------------- queries


def test_get_filters_and_limit(data: ds.Dataset) -> None:
    assert data.get(level="warning")["seq"].tolist() == [3, 4]
    assert data.get(task="work-*", text="FAILED")["seq"].tolist() == [4]
    assert data.get(source=["print", "user"], limit=2)["seq"].tolist() == [4, 5]
    assert data.get(since=BASE_TIME + 4)["seq"].tolist() == [4, 5]


def test_tail_and_count(data: ds.Dataset) -> None:
    assert data.tail()["seq"].tolist() == [1, 2, 3, 4, 5]
    assert data.tail(2)["seq"].tolist() == [4, 5]
    assert data.tail(1, logger="app")["seq"].tolist() == [2]
    assert data.count() == 5
    assert data.count(worker="tcp://w1") == 2
    with pytest.raises(ValueError, match="n must be >= 0"):
        data.tail(-1)


@pytest.mark.parametrize("call", ["get", "tail", "count", "filter"])
def test_unknown_filter_names_the_argument(data: ds.Dataset, call: str) -> None:
    with pytest.raises(TypeError, match="'lvl'"):
        getattr(data, call)(lvl="INFO")


def test_bad_values_name_the_argument(data: ds.Dataset) -> None:
    with pytest.raises(ValueError, match="since"):
        data.get(since="last tuesday")
    with pytest.raises(TypeError, match="limit"):
        data.get(limit=2.0)


# ---------------------------------------------------------------- views


def test_filter_returns_a_lazy_view_with_the_same_api(data: ds.Dataset, store: Path) -> None:
    view = data.filter(logger="work")
    assert isinstance(view, ds.Dataset) and view.filters == {"logger": "work"}
    assert view.get()["seq"].tolist() == [3, 4]
    assert view.count() == 2 and view.tail(1)["seq"].tolist() == [4]
    write_store(store, [row(6, logger="work", level="INFO")], session_id="ab12cd34ef")
    assert view.count() == 3  # a view holds no rows: it asks again


def test_view_filters_refine_and_none_removes(data: ds.Dataset) -> None:
    view = data.filter(logger="work", level="ERROR")
    assert view.get()["seq"].tolist() == [4]
    assert view.get(level="WARNING")["seq"].tolist() == [3, 4]
    assert view.get(level=None)["seq"].tolist() == [3, 4]
    assert view.filter(logger=None).filters == {"level": "ERROR"}
    assert data.filters == {}


def test_view_limit_applies_to_get_not_count(data: ds.Dataset) -> None:
    view = data.filter(limit=2)
    assert view.limit == 2 and view.get()["seq"].tolist() == [4, 5]
    assert view.count() == 5
    assert view.filter(level="INFO").limit == 2


def test_bad_filter_fails_when_the_view_is_made(data: ds.Dataset) -> None:
    with pytest.raises(ValueError, match="level"):
        data.filter(level="LOUDEST")


def test_get_returns_a_plain_dataframe(data: ds.Dataset) -> None:
    frame = data.filter(level="INFO").get()
    assert type(frame) is pd.DataFrame and not hasattr(frame, "_repr_mimebundle_")


def test_repr_names_binding_and_filter(data: ds.Dataset, store: Path) -> None:
    text = repr(data.filter(level="WARNING", limit=5))
    assert str(store) in text and "level='WARNING'" in text and "limit=5" in text


# ---------------------------------------------------------------- open / read-only


def test_open_by_id_stem_short_id_prefix_and_path(data: ds.Dataset, store: Path) -> None:
    for key in ["ab12cd34ef", store.stem, "ab12", "ab12cd", str(store), store]:
        opened = data.open(key)
        assert opened.path == store and opened.readonly, key
        assert opened.count() == 5


def test_open_by_sessions_row(store: Path) -> None:
    table = ds.sessions()
    for key in [table.iloc[0], table.head(1), table.iloc[0].to_dict()]:
        assert ds.Dataset().open(key).path == store


def test_open_keeps_the_view_filter(data: ds.Dataset) -> None:
    assert data.filter(level="ERROR").open("ab12cd34ef").get()["seq"].tolist() == [4]


def test_open_errors_are_clear(taskscope_home: Path, store: Path) -> None:
    write_store(session_file(taskscope_home, "20231114-230000", "ab19"), [], session_id="ab12cd9999")
    with pytest.raises(ValueError, match="matches 2 sessions"):
        ds.Dataset().open("ab12cd")
    assert ds.Dataset().open("ab12").path == store  # the short id in the file name is exact
    with pytest.raises(ValueError, match="no stored session 'zzzz'"):
        ds.Dataset().open("zzzz")
    with pytest.raises(ValueError, match="no store file"):
        ds.Dataset().open(taskscope_home / "missing.sqlite")
    with pytest.raises(TypeError, match="session must be"):
        ds.Dataset().open(42)
    with pytest.raises(ValueError, match="one row"):
        ds.Dataset().open(ds.sessions())


def test_opened_sessions_are_read_only(data: ds.Dataset) -> None:
    with pytest.raises(RuntimeError, match="read-only"):
        data.clear()
    with data.reading() as conn:
        assert conn is not None
        with pytest.raises(Exception, match="readonly|read-only|query_only"):
            conn.execute("DELETE FROM rows")
    assert data.count() == 5
