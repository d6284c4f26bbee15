"""Inline display: the custom MIME bundle, the escaped HTML fallback and the plain table."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from IPython.core.formatters import DisplayFormatter

from taskscope.views import display
from taskscope.views.dataset import Dataset
from taskscope.query import COLUMNS
from taskscope.tests._dataset_fixtures import BASE_TIME, row, write_store

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "javascript:alert(document.cookie)",
    "<svg onload=alert(1)><circle r=1></svg>",
    "<!-- comment --> <!--",
    "</td></tr></table><b>escaped the table</b>",
    "x" * 50_000 + "<script>tail</script>",
    "admin\u202egnp.exe <i>rtl</i>",
    '"><style>body{display:none}</style>',
    "<![CDATA[<script>x</script>]]>",
    "&lt;already escaped&gt; &amp;",
    "line one\nline two <b>\r\n</b>",
    "\x00\x1b[31mansi\x1b[0m",
]
TABLE_TAGS = {"div", "table", "caption", "thead", "tbody", "tr", "th", "td"}


class TagCollector(HTMLParser):
    """Every tag, attribute and comment the browser would see."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.comments: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_endtag(self, tag: str) -> None:
        self.tags.append("/" + tag)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def unknown_decl(self, data: str) -> None:
        self.comments.append(data)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture
def evil(tmp_path: Path) -> Dataset:
    rows = []
    for i, payload in enumerate(PAYLOADS, start=1):
        rows.append(row(i, msg=payload, logger=payload[:40], task=payload[:30], worker=payload[:20],
                        source="print", level="ERROR" if i % 2 else "SYSTEM", extra={"payload": payload}))
    return Dataset(write_store(tmp_path / "evil.sqlite", rows, session_id="<b>sess</b>"))


@pytest.fixture
def plain(tmp_path: Path) -> Dataset:
    rows = [row(i, level=("DEBUG", "INFO", "WARNING", "ERROR")[i % 4], task=f"work-{i % 3}") for i in range(1, 301)]
    rows.append(row(301, extra='{"bad": NaN, "inf": -Infinity}'))
    return Dataset(write_store(tmp_path / "plain.sqlite", rows, session_id="20231114-221320-ab12cd34"))


# ---------------------------------------------------------------- the custom MIME type


def test_bundle_has_all_three_renderings(plain: Dataset) -> None:
    bundle = plain._repr_mimebundle_()
    assert set(bundle) == {display.MIME_TYPE, "text/html", "text/plain"}


def test_custom_payload_shape(plain: Dataset) -> None:
    payload = plain._repr_mimebundle_()[display.MIME_TYPE]
    assert payload["version"] == 1 and payload["columns"] == list(COLUMNS)
    assert payload["total"] == 301 and payload["filter"] == {}
    assert payload["session_id"] == "20231114-221320-ab12cd34"
    rows = payload["rows"]
    assert len(rows) == display.DEFAULT_ROWS
    assert [r[0] for r in rows] == list(range(102, 302))  # the newest 200, in seq order
    first = dict(zip(payload["columns"], rows[0]))
    assert first["created"] == BASE_TIME + 102 and isinstance(first["created"], float)


def test_payload_is_strict_json(plain: Dataset) -> None:
    payload = plain._repr_mimebundle_()[display.MIME_TYPE]
    text = json.dumps(payload, allow_nan=False)
    assert dict(zip(COLUMNS, json.loads(text)["rows"][-1]))["extra"] == {"bad": None, "inf": None}


def test_a_view_renders_with_its_filter_and_limit(plain: Dataset) -> None:
    view = plain.filter(level="WARNING", task="work-*", limit=5)
    payload = view._repr_mimebundle_()[display.MIME_TYPE]
    assert payload["filter"] == {"level": "WARNING", "task": "work-*"}
    assert payload["total"] == plain.count(level="WARNING") == 150
    assert len(payload["rows"]) == 5
    assert all(dict(zip(COLUMNS, r))["levelno"] >= 30 for r in payload["rows"])
    assert "showing 5 of 150 rows" in view._repr_mimebundle_()["text/html"]


def test_filter_values_are_shown_as_json(plain: Dataset) -> None:
    from datetime import datetime, timedelta

    view = plain.filter(since=datetime(2023, 11, 14, 10, 0), until=timedelta(hours=1), source={"user", "print"})
    assert display.filter_json(view.filters) == {
        "since": "2023-11-14T10:00:00", "until": "3600s", "source": ["print", "user"],
    }


def test_include_and_exclude_are_honoured(plain: Dataset) -> None:
    assert set(plain._repr_mimebundle_(include={"text/plain"})) == {"text/plain"}
    assert display.MIME_TYPE not in plain._repr_mimebundle_(exclude={display.MIME_TYPE})


def test_ipython_formatter_uses_the_bundle(plain: Dataset) -> None:
    formatted, _ = DisplayFormatter().format(plain)
    assert display.MIME_TYPE in formatted and "text/html" in formatted


def test_no_session_yet_renders_a_hint(tmp_path: Path) -> None:
    snap = display.Snapshot([], 0, {}, None, False)
    assert "taskscope.start()" in display.table_text(snap)
    assert "taskscope.start()" in display.table_html(snap)
    assert display.table_json(snap)["rows"] == [] and display.table_json(snap)["total"] == 0


def test_empty_match_renders_an_empty_table(plain: Dataset) -> None:
    bundle = plain.filter(logger="nobody")._repr_mimebundle_()
    assert bundle[display.MIME_TYPE]["rows"] == [] and bundle[display.MIME_TYPE]["total"] == 0
    assert "no matching rows" in bundle["text/html"] and "showing 0 of 0" in bundle["text/plain"]


# ---------------------------------------------------------------- the HTML fallback


def parsed(html_text: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(html_text)
    collector.close()
    return collector


def test_html_has_only_the_tables_own_tags(evil: Dataset) -> None:
    page = parsed(evil._repr_mimebundle_()["text/html"])
    assert {tag.lstrip("/") for tag in page.tags} <= TABLE_TAGS
    assert page.comments == []
    assert {name for name, _ in page.attrs} <= {"class", "style", "colspan"}
    for name, value in page.attrs:
        assert value is not None and "alert" not in value and "javascript" not in value


def test_html_text_shows_the_payloads_literally(evil: Dataset) -> None:
    page = parsed(evil._repr_mimebundle_()["text/html"])
    shown = "".join(page.text)
    for payload in ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "</td></tr></table>", "<!--"]:
        assert payload in shown
    assert "<b>sess</b>" in shown  # the session id is untrusted too


def test_html_neutralises_direction_overrides_and_controls(evil: Dataset) -> None:
    html_text = evil._repr_mimebundle_()["text/html"]
    assert "\u202e" not in html_text and "\x00" not in html_text and "\x1b" not in html_text
    assert "&lt;U+202E&gt;" in html_text and "&lt;U+001B&gt;" in html_text


def test_html_cuts_very_long_cells(evil: Dataset) -> None:
    html_text = evil._repr_mimebundle_()["text/html"]
    assert "x" * 50_000 not in html_text and "…" in html_text
    assert len(html_text) < 50_000


def test_html_levels_are_coloured_and_counted(plain: Dataset) -> None:
    html_text = plain._repr_mimebundle_()["text/html"]
    assert display.level_style(40) in html_text and display.level_style(30) in html_text
    assert "showing 200 of 301 rows" in html_text


def test_html_escapes_every_string_cell_directly() -> None:
    snap = display.Snapshot([dict(zip(COLUMNS, [1, BASE_TIME, "<i>", 20, "<u>", "<s>", "<b>", "", "", 1, "",
                                               "<q>", "<em>", None]))], 1, {"logger": "<x>"}, "<y>", True)
    page = parsed(display.table_html(snap))
    assert {tag.lstrip("/") for tag in page.tags} <= TABLE_TAGS


# ---------------------------------------------------------------- plain text


def test_plain_text_is_a_compact_table(plain: Dataset) -> None:
    text = plain._repr_mimebundle_()["text/plain"]
    lines = text.splitlines()
    assert lines[0].startswith("taskscope session 20231114-221320-ab12cd34: showing 200 of 301 rows")
    assert lines[1].split() == list(display.PLAIN_COLUMNS)
    assert len(lines) == 2 + display.PLAIN_ROWS
    assert lines[-1].split()[0] == "301"


def test_plain_text_keeps_one_line_per_row(evil: Dataset) -> None:
    text = evil._repr_mimebundle_()["text/plain"]
    assert len(text.splitlines()) == 2 + len(PAYLOADS)
    assert "\u202e" not in text and max(len(line) for line in text.splitlines()) < 400


def test_bundle_cuts_huge_strings_but_get_keeps_them(evil: Dataset) -> None:
    payload = evil._repr_mimebundle_()[display.MIME_TYPE]
    longest = max(len(cell) for r in payload["rows"] for cell in r if isinstance(cell, str))
    assert longest < display.BUNDLE_CELL_CHARS + 50
    msgs = [dict(zip(COLUMNS, r))["msg"] for r in payload["rows"]]
    assert any(m.endswith(f"… [{50_021 - display.BUNDLE_CELL_CHARS} more characters]") for m in msgs)
    assert evil.get()["msg"].str.len().max() == 50_021


def test_times_out_of_range_do_not_break_the_display() -> None:
    assert display.clock(1e20) == "1e+20" and display.clock(None) == ""
