"""Making values safe: every bad value costs its own field (a marked placeholder), nothing else."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from taskscope.record import safe


class RaisingRepr:
    def __repr__(self) -> str:
        raise ValueError("no repr for you")

    __str__ = __repr__


class RecursiveRepr:
    def __repr__(self) -> str:
        return repr(self)

    __str__ = __repr__


def test_repr_that_raises_becomes_marked_placeholder() -> None:
    text = safe.safe_repr(RaisingRepr())
    assert text.startswith("<taskscope: repr() of ") and "RaisingRepr" in text and "ValueError" in text
    assert "ValueError" in safe.safe_str(RaisingRepr())


def test_repr_that_recurses_becomes_marked_placeholder() -> None:
    text = safe.safe_repr(RecursiveRepr())
    assert "RecursionError" in text and "RecursiveRepr" in text


def test_format_mismatch_keeps_raw_message_and_args() -> None:
    text = safe.format_message("two %s and %s", (1,))
    assert text.startswith("two %s and %s <taskscope: message not formatted: TypeError")
    assert "args=(1,)" in text


def test_format_with_raising_argument_keeps_message() -> None:
    text = safe.format_message("value %s", (RaisingRepr(),))
    assert text.startswith("value %s <taskscope: message not formatted: ValueError")
    assert "repr() of" in text  # the args' repr failed too, and says so


def test_format_with_recursing_argument_keeps_message() -> None:
    text = safe.format_message("value %r", (RecursiveRepr(),))
    assert "RecursionError" in text and text.startswith("value %r")


def test_giant_text_is_cut_with_a_visible_marker() -> None:
    giant = "x" * (50 * 1024 * 1024)
    text = safe.cut(giant, 64 * 1024)
    assert text.startswith("x" * 64 * 1024)
    assert text.endswith(f"…[taskscope: cut {len(giant) - 64 * 1024} of {len(giant)} characters]")
    assert len(text) < 64 * 1024 + 100
    assert safe.cut("short", 10) == "short"


def test_lone_surrogates_become_visible_escapes() -> None:
    text = safe.clean("bad \udcff here")
    assert text == "bad \\udcff here"
    text.encode("utf-8")
    assert safe.clean("fine ✓") == "fine ✓"


def test_incremental_decoder_keeps_a_character_split_across_writes() -> None:
    data = "ünïcödé ✓".encode()
    decoder = safe.decoder()
    text = "".join(decoder.decode(data[i:i + 1]) for i in range(len(data)))
    assert text == "ünïcödé ✓" and "\ufffd" not in text


def test_invalid_utf8_bytes_are_shown_as_escapes() -> None:
    assert safe.decode(b"ok \xff\xfe end") == "ok \\xff\\xfe end"
    assert safe.decoder().decode(b"\xc3(", final=True) == "\\xc3("


def test_numpy_scalars_become_json_numbers() -> None:
    text = safe.to_json({"i": np.int64(3), "f": np.float32(1.5), "b": np.bool_(True)}, 10_000)
    assert json.loads(text) == {"i": 3, "f": 1.5, "b": True}


def test_small_numpy_array_becomes_a_json_list() -> None:
    assert json.loads(safe.to_json({"a": np.arange(4).reshape(2, 2)}, 10_000)) == {"a": [[0, 1], [2, 3]]}


def test_large_numpy_array_is_summarised_with_shape_and_dtype() -> None:
    value = json.loads(safe.to_json({"a": np.zeros((200, 60), dtype=np.float32)}, 10_000))
    assert value == {"a": {"ndarray": "summary", "shape": [200, 60], "dtype": "float32", "size": 12_000}}


def test_array_at_the_limit_is_listed() -> None:
    value = json.loads(safe.to_json(np.ones(safe.ARRAY_LIMIT, dtype=np.int8), 10**6))
    assert len(value) == safe.ARRAY_LIMIT


def test_values_json_cannot_hold_become_marked_values() -> None:
    cyclic: list[object] = [1]
    cyclic.append(cyclic)
    value = json.loads(safe.to_json({
        "nan": math.nan, "inf": -math.inf, "cycle": cyclic, 3: "int key", "bytes": b"\xff",
        "obj": RaisingRepr(), "set": {1}, "lone": "\udcff",
    }, 10_000))
    assert value["nan"] == "nan" and value["inf"] == "-inf"
    assert value["cycle"] == [1, "<taskscope: cycle>"]
    assert value["3"] == "int key" and value["bytes"] == "\\xff" and value["set"] == [1]
    assert value["obj"].startswith("<taskscope: repr() of") and value["lone"] == "\\udcff"


def test_huge_extra_is_cut_to_its_cap() -> None:
    text = safe.to_json({"big": "y" * 1_000_000}, 1000)
    assert len(text) < 1200
    assert "taskscope: cut" in json.loads(text)["big"]


def test_nesting_too_deep_for_json_stops_with_a_placeholder() -> None:
    deep: list[object] = []
    node = deep
    for _ in range(sys.getrecursionlimit() + 100):
        node.append([])
        node = node[0]  # type: ignore[assignment]
    assert "nested too deep" in safe.to_json(deep, 100_000)


def test_capture_of_plain_data_does_not_import_numpy(tmp_path: Path) -> None:
    """The capture half never imports NumPy itself (checked in a fresh process).

    The package's ``__init__`` also imports the dataset side (pandas, hence NumPy), so
    this loads taskscope's capture modules as a namespace without running ``__init__``.
    """
    package_dir = Path(safe.__file__).parents[1]
    script = textwrap.dedent(f"""
        import importlib, logging, os, sys, types
        os.environ["TASKSCOPE_HOME"] = {str(tmp_path)!r}
        package = types.ModuleType("taskscope")
        package.__path__ = [{str(package_dir)!r}]
        sys.modules["taskscope"] = package
        runtime = importlib.import_module("taskscope.runtime")
        runtime.start()
        logging.getLogger("__main__").info("plain %s", 1, extra={{"values": [1, 2.5, "x"], "d": {{"k": None}}}})
        print("a line")
        assert runtime.flush()
        runtime.stop()
        print("NUMPY" if "numpy" in sys.modules else "NO-NUMPY", file=sys.__stderr__)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "NO-NUMPY"
