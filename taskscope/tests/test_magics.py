"""``%load_ext taskscope`` and ``%taskscope``: parsing and usage errors in an in-process shell."""

from __future__ import annotations

from typing import Iterator

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from taskscope.frontend import magics


@pytest.fixture(scope="module")
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "taskscope")
    yield ip


def test_load_ext_registers_the_line_magic(shell: InteractiveShell) -> None:
    assert "taskscope" in shell.magics_manager.magics["line"]


@pytest.mark.parametrize(
    ("line", "message"),
    [("bogus", "unknown subcommand 'bogus'"), ("stop now", "takes no arguments"),
     ("start verbose", "expected option=value"), ("start 'unclosed", "No closing quotation"),
     ("status extra", "takes no arguments")],
)
def test_bad_lines_raise_usage_errors(shell: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        shell.run_line_magic("taskscope", line)
    assert "Usage: %taskscope start" in str(caught.value) or "expected option" in str(caught.value)


def test_a_cell_with_a_bad_subcommand_shows_usage_not_a_traceback(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    result = shell.run_cell("%taskscope frobnicate")
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert isinstance(result.error_in_exec, UsageError)
    assert "UsageError: %taskscope: unknown subcommand 'frobnicate'" in output
    assert "Usage: %taskscope start" in output
    assert "Traceback" not in output


def test_help_prints_the_usage(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_line_magic("taskscope", "help")
    assert capsys.readouterr().out.strip() == magics.USAGE


@pytest.mark.parametrize(
    ("words", "options"),
    [([], {}), (["level=10"], {"level": 10}), (["print=False", "name=run 1"], {"print": False, "name": "run 1"}),
     (["ports=[1, 2]"], {"ports": [1, 2]}), (["mode=fast"], {"mode": "fast"})],
)
def test_start_options_are_literals_or_text(words: list[str], options: dict) -> None:
    assert magics.parse_options(words) == options
