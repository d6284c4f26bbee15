"""The architecture holds: no import cycle in taskscope/, the record declared once.

The import graph is read from the source (``ast``): module-level imports and imports
inside functions alike, ``TYPE_CHECKING`` blocks too. A package's ``__init__`` counts
as the package; importing a name from a package counts as importing its ``__init__``
(and the submodule, when the name is one).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]
ROOT = PACKAGE.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in PACKAGE.rglob("*.py")
        if "tests" not in path.relative_to(PACKAGE).parts
    }


def _resolve(module: str, path: Path, level: int, name: str | None) -> str:
    """The absolute name of ``from <level dots><name> import ...`` in ``module``."""
    if level == 0:
        return name or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def import_graph() -> dict[str, set[str]]:
    """Each taskscope module -> the taskscope modules it imports (anywhere in it)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, path, node.level, node.module)
                # ``from pkg import sub`` imports the submodule; ``from pkg import name``, pkg
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                # a module, or the closest package above a name
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    graph[module].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it; None when there is none."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_reader_sees_function_local_imports_and_cycles() -> None:
    """The checker itself: a cycle closed by an import inside a function is found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": set()}
    assert find_cycle(graph) is None
    graph["c"].add("a")
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    real = import_graph()
    # imports inside functions are read too: taskscope/__init__ imports the magics only
    # inside load_ipython_extension(), the automatic attach the Dask module only in on_start()
    assert "taskscope.frontend.magics" in real["taskscope"]
    assert "taskscope.remote.dask" in real["taskscope.remote.autoattach"]


def test_taskscope_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_lower_layers_do_not_import_upper_ones() -> None:
    """Data flows one way: record <- writer <- capture/store <- session <- remote/views <- runtime <- frontend."""
    layer = {"record": 0, "writer": 1, "capture": 2, "store": 2, "session": 3, "remote": 4, "views": 4, "frontend": 6}
    graph = import_graph()
    wrong = []
    for module, imported in graph.items():
        parts = module.split(".")
        if len(parts) < 2 or parts[1] not in layer:
            continue
        for target in imported:
            target_parts = target.split(".")
            if len(target_parts) < 2:
                wrong.append((module, target))  # a subpackage importing the package's face
            elif target_parts[1] in layer and layer[target_parts[1]] > layer[parts[1]]:
                wrong.append((module, target))
            elif target_parts[1] == "runtime" and layer[parts[1]] < 6:
                wrong.append((module, target))
    assert wrong == []


# --- the record, declared once -------------------------------------------------------------


def _literal_column_lists(text: str) -> int:
    """How many times the record's column names appear together as a literal list."""
    from taskscope.record.columns import NAMES

    pattern = r"[\s,\(\[]*".join(rf"""['"]{name}['"]""" for name in NAMES[1:6])
    return len(re.findall(pattern, text))


def test_the_column_list_is_written_once_in_python() -> None:
    files = [path for path in PACKAGE.rglob("*.py") if "tests" not in path.relative_to(PACKAGE).parts]
    holding = [str(path.relative_to(ROOT)) for path in files if _literal_column_lists(path.read_text())]
    assert holding == []  # the declaration spells each column in its own Column(...), not as a list


def test_the_typescript_columns_are_generated_from_the_declaration() -> None:
    """src/generated/record.ts is what scripts/generate_ts.py writes from the Python
    declaration: it fails when one side changed and the file was not regenerated."""
    checked = subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_ts.py"), "--check"],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_the_generated_typescript_names_every_declared_column() -> None:
    """The row's columns, then the action's, each in declaration order."""
    from taskscope.record.columns import ACTION_NAMES, NAMES

    text = (ROOT / "src" / "generated" / "record.ts").read_text(encoding="utf-8")
    listed = re.findall(r"\{ name: '(\w+)'", text)
    assert tuple(listed) == NAMES + ACTION_NAMES


def test_the_settings_schema_defaults_match_the_start_options() -> None:
    from taskscope.record.vocabulary import SETTING_OPTIONS, START_OPTIONS

    schema = json.loads((ROOT / "schema" / "plugin.json").read_text(encoding="utf-8"))
    for setting, option in SETTING_OPTIONS.items():
        assert schema["properties"][setting]["default"] == START_OPTIONS[option], setting


def test_a_built_row_follows_the_declared_fields() -> None:
    """make_row, the one place a row tuple is put together, puts each field where AT says."""
    from taskscope.record.columns import AT, FIELDS
    from taskscope.record.rows import Caps, make_row

    row = make_row(12.5, 30, "user", "lg", "hello", Caps(), thread="th", extra='{"k": 1}',
                   hostname="hst", pid=77, worker="wk", task="tk")
    assert len(row) == len(FIELDS)
    named = {name: row[AT[name]] for name in FIELDS}
    assert named["created"] == 12.5 and named["levelno"] == 30 and named["level"] == "WARNING"
    assert named["source"] == "user" and named["logger"] == "lg" and named["msg"] == "hello"
    assert named["hostname"] == "hst" and named["pid"] == 77 and named["thread"] == "th"
    assert named["worker"] == "wk" and named["task"] == "tk" and named["extra"] == '{"k": 1}'
    assert named["text"].endswith("WARNING lg: hello")


def test_a_wire_row_context_follows_the_declared_context_fields() -> None:
    """A remote row's context lists the ``context`` columns in declared order, then run_id."""
    from taskscope.record.columns import CONTEXT
    from taskscope.record.rows import Caps, make_row

    context, created, msg, text, extra = make_row(12.5, 40, "library", "lg", "boom", Caps(wire=True),
                                                  thread="th", task="tk", extra="{}")
    assert dict(zip(CONTEXT, context)).items() >= {"level": "ERROR", "levelno": 40, "source": "library",
                                                   "logger": "lg", "thread": "th", "task": "tk"}.items()
    assert len(context) == len(CONTEXT) + 1 and context[-1] is None  # run_id
    assert (created, msg, text, extra) == (12.5, "boom", None, "{}")


@pytest.mark.parametrize("cite", ["DESIGN.md"])
def test_nothing_cites_the_old_design_file(cite: str) -> None:
    """The map is docs/architecture.md, in the repository."""
    assert (ROOT / "docs" / "architecture.md").is_file()
    found = []
    for folder in ("taskscope", "src", "docs", "bench", "scripts", "test", "ui-tests"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".ts", ".md", ".js", ".json") \
                    and not {"node_modules", "labextension"} & set(path.parts) \
                    and path.name != "test_architecture.py":
                if cite in path.read_text(encoding="utf-8", errors="replace"):
                    found.append(str(path.relative_to(ROOT)))
    assert found == []
