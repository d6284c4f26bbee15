"""The magics and the dataset in a real ipykernel (conftest's ``kernel``, own TASKSCOPE_HOME).

The kernel writes its session store into its home, and the test reads that store back
from outside the kernel as well.
"""

from __future__ import annotations

from typing import Any

import pytest

from taskscope.views import dataset as ds
from taskscope.views.display import MIME_TYPE


def shown(execution: Any) -> dict[str, Any]:
    """The data of the cell's one execute_result."""
    (result,) = execution.of_type("execute_result")
    return result["content"]["data"]


def shown_error(execution: Any) -> str:
    """Everything the user sees of a failed cell: stderr, error tracebacks and the reply's."""
    tracebacks = [line for m in execution.of_type("error") for line in m["content"]["traceback"]]
    return "\n".join([execution.streams("stderr"), *tracebacks, *execution.reply["content"]["traceback"]])


def test_unknown_subcommand_is_a_usage_message_not_a_traceback(kernel: Any) -> None:
    kernel.run_ok("%load_ext taskscope")
    execution = kernel.execute("%taskscope frobnicate")
    content = execution.reply["content"]
    assert content["status"] == "error" and content["ename"] == "UsageError"
    shown_text = shown_error(execution)
    assert "UsageError: %taskscope: unknown subcommand 'frobnicate'" in shown_text
    assert "Usage: %taskscope start" in shown_text
    assert "Traceback" not in shown_text and "File " not in shown_text


def test_a_bad_start_option_is_a_usage_message(kernel: Any) -> None:
    kernel.run_ok("%load_ext taskscope")
    execution = kernel.execute("%taskscope start colour=red")
    assert execution.reply["content"]["ename"] == "UsageError"
    assert "UsageError: %taskscope start: unknown taskscope option(s): colour" in shown_error(execution)
    assert kernel.evaluate("__import__('taskscope').status()['recording']") is False


def test_start_log_query_display_clear_stop(kernel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    kernel.run_ok("%load_ext taskscope")
    assert "taskscope: recording to" in kernel.run_ok("%taskscope start").streams("stdout")

    kernel.run_ok(
        "import taskscope as ts\n"
        "log = ts.logger.getLogger('kernel.user')\n"
        "log.debug('debug line')\n"
        "log.warning('careful <b>%s</b>', 'now', extra={'n': 3})\n"
        "print('printed line')\n"
    )
    assert kernel.evaluate("ts.logger.dataset.get(logger='kernel.user')[['level', 'source', 'msg']]"
                           ".values.tolist()") == [["DEBUG", "user", "debug line"],
                                                   ["WARNING", "user", "careful <b>now</b>"]]
    assert kernel.evaluate("ts.logger.dataset.get(logger='kernel.user')['extra'].tolist()") == [None, {"n": 3}]
    assert kernel.evaluate("ts.logger.dataset.count(source='print', text='printed line')") == 1

    status = shown(kernel.run_ok("%taskscope status"))
    assert "'recording': True" in status["text/plain"]

    data = shown(kernel.run_ok("ts.logger.dataset.filter(logger='kernel.user')"))
    assert data[MIME_TYPE]["total"] == 2 and data[MIME_TYPE]["filter"] == {"logger": "kernel.user"}
    assert "careful &lt;b&gt;now&lt;/b&gt;" in data["text/html"]
    assert "showing 2 of 2 rows" in data["text/plain"]

    monkeypatch.setenv("TASKSCOPE_HOME", str(kernel.home))
    table = ds.sessions()
    assert len(table) == 1 and table.loc[0, "rows"] >= 3
    outside = ds.Dataset().open(table.loc[0, "session_id"]).get(logger="kernel.user")
    assert outside["msg"].tolist() == ["debug line", "careful <b>now</b>"]

    kernel.run_ok("%taskscope clear")
    assert kernel.evaluate("ts.logger.dataset.count(logger='kernel.user')") == 0

    assert "taskscope: stopped" in kernel.run_ok("%taskscope stop").streams("stdout")
    kernel.run_ok("log.error('after stop')")
    assert kernel.evaluate("ts.logger.dataset.count(text='after stop')") == 0
    assert kernel.evaluate("ts.status()['recording']") is False
