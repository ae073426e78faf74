"""The package's shape: no module imports another's private names, and no import cycles
(module-level or inside functions), so each module can be read on its own."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "helpers"
TESTS = Path(__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every `from helpers... import names` and `import helpers...`."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "helpers":
                out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] == "helpers"]
    return out


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for target, names in _imports(path):
            for cand in [f"{target}.{n}" for n in names] + [target]:
                if cand in modules and cand != name:
                    graph[name].add(cand)
                    break
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_in_the_package():
    assert _cycle(_graph()) is None


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_uses(path: Path) -> list[str]:
    """Private names a file takes from a helpers module: imported, read as `module._name`,
    or patched as `setattr(module, "_name", ...)`."""
    tree = ast.parse(path.read_text())
    aliases = set()  # local names bound to helpers modules
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "helpers":
            found += [f"from {node.module} import {a.name}" for a in node.names if _private(a.name)]
            aliases |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            aliases |= {a.asname or a.name.split(".")[0] for a in node.names
                        if a.name.split(".")[0] == "helpers"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) \
                and isinstance(node.value, ast.Name) and node.value.id in aliases:
            found.append(f"{node.value.id}.{node.attr}")
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "setattr" \
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Name) \
                and node.args[0].id in aliases and isinstance(node.args[1], ast.Constant) \
                and _private(str(node.args[1].value)):
            found.append(f"setattr({node.args[0].id}, {node.args[1].value!r})")
    return [f"{path.name}: {f}" for f in found]


def test_the_private_name_finder_finds_them(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import helpers.training.train as T\nfrom helpers.data import download as dl\n"
                      "from helpers.x import _y\nT._z()\nmp.setattr(dl, '_w', 1)\n"
                      "self._ok = T.public\n")
    assert sorted(u.split(": ")[1] for u in _private_uses(sample)) == [
        "T._z", "from helpers.x import _y", "setattr(dl, '_w')"]


@pytest.mark.parametrize("folder", [PACKAGE, TESTS], ids=["helpers", "tests"])
def test_no_module_uses_a_private_name_of_another(folder):
    offenders = [u for path in folder.rglob("*.py") for u in _private_uses(path)]
    assert offenders == []


def test_evaluation_does_not_import_the_trainer():
    assert "helpers.training.train" not in _graph()["helpers.evaluation.evaluate"]


# ------------------------------------------------------------------ size and shape
MAX_LINES = 500
LONG_REASON = "Longer than 500 lines because"
MAX_TOP_LEVEL_MODULES = 10


def long_modules(folder: Path, limit: int = MAX_LINES) -> list[str]:
    """Modules over `limit` lines whose docstring does not say why they are that long."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        lines = path.read_text().count("\n")
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > limit and LONG_REASON not in doc:
            found.append(f"{path.relative_to(folder.parent)}: {lines} lines")
    return found


def test_the_long_module_finder_finds_them(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "short.py").write_text('"""Short."""\n' + "x = 1\n" * 10)
    (pkg / "long.py").write_text('"""Long."""\n' + "x = 1\n" * 20)
    (pkg / "why.py").write_text(f'"""Why.\n\n{LONG_REASON} it is one table."""\n' + "x = 1\n" * 20)
    assert long_modules(pkg, limit=15) == ["pkg/long.py: 21 lines"]


def test_no_module_is_longer_than_500_lines_without_a_reason():
    assert long_modules(PACKAGE) == []


def test_the_package_top_level_holds_few_modules():
    """Everything else lives in a subpackage named for its concern (data, models, training,
    evaluation, reporting, workflow, tools, utils)."""
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def modules_only_tests_use(package: Path, users: set[str]) -> list[str]:
    """Modules of `package` that nothing outside the tests imports: not another module of the
    package, nor a name in `users` (the notebooks' imports and the CLI's command modules)."""
    used = set(users)
    for path in package.rglob("*.py"):
        for target, names in _imports(path):
            used |= {target} | {f"{target}.{n}" for n in names}
    modules = {_module_name(p) for p in package.rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py")}
    return sorted(m for m in modules
                  if m not in used and not any(u.startswith(m + ".") for u in used))


def test_the_test_only_finder_finds_them(monkeypatch, tmp_path):
    pkg = tmp_path / "helpers"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "used.py").write_text("X = 1\n")
    (pkg / "sub" / "cmd.py").write_text("from helpers.sub.used import X\n")
    (pkg / "sub" / "only_tests.py").write_text("Y = 2\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    assert modules_only_tests_use(pkg, {"helpers.sub.cmd"}) == ["helpers.sub.only_tests"]


def test_no_test_only_module_in_the_package():
    """Code only the tests use (a conformance harness, fixtures) lives in tests/."""
    from helpers.cli import COMMANDS

    users = {module for module, _ in COMMANDS.values()}
    for nb in (PACKAGE.parent / "notebooks").glob("*.ipynb"):
        users |= _notebook_imports(nb)
    assert modules_only_tests_use(PACKAGE, users) == []


def _notebook_imports(path: Path) -> set[str]:
    import json

    found = set()
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        clean = "\n".join(line for line in src.splitlines() if not line.startswith(("%", "!")))
        for node in ast.walk(ast.parse(clean)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("helpers"):
                found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("helpers")}
    return found


# ------------------------------------------------------------------ orchestrators stay short
MAX_ORCHESTRATOR_LINES = 80


def function_lines(path: Path, name: str) -> int:
    """Lines of the top-level function `name` in `path`, its docstring included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    return node.end_lineno - node.lineno + 1


def test_the_function_line_count_can_fail(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n" + "    x = 1\n" * 90 + "\n\ndef g():\n    pass\n")
    assert function_lines(src, "f") == 91 and function_lines(src, "g") == 2


def test_train_reads_as_a_table_of_contents():
    """Preemption, stop requests and logging live in helpers of their own, as torchvision's
    train_one_epoch / evaluate / main split does."""
    path = PACKAGE / "training" / "train.py"
    assert function_lines(path, "train") <= MAX_ORCHESTRATOR_LINES


# ------------------------------------------------------------------ one name per module
COMMAND_PACKAGE = PACKAGE / "commands"


def shared_module_names(folder: Path) -> dict[str, list[str]]:
    """Module file names used more than once under `folder` (`__init__`, `__main__` and the
    command package aside), with where each is."""
    where: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        if path.stem in ("__init__", "__main__") or COMMAND_PACKAGE in path.parents:
            continue
        where.setdefault(path.name, []).append(str(path.relative_to(folder.parent)))
    return {name: paths for name, paths in where.items() if len(paths) > 1}


def test_the_shared_name_finder_finds_them(tmp_path):
    for rel in ("pkg/a/head.py", "pkg/b/head.py", "pkg/a/__init__.py", "pkg/b/__init__.py",
                "pkg/c/only.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    assert shared_module_names(tmp_path / "pkg") == {"head.py": ["pkg/a/head.py",
                                                                 "pkg/b/head.py"]}


def test_no_two_library_modules_share_a_name():
    assert shared_module_names(PACKAGE) == {}


LOOSE = "dict[str, Any]"
DESIGN = PACKAGE.parent / "docs" / "DESIGN.md"


def _loose_dicts(package: Path) -> dict[str, int]:
    counts = {str(p.relative_to(package)): p.read_text().count(LOOSE)
              for p in sorted(package.rglob("*.py"))}
    return {k: v for k, v in counts.items() if v}


def _allowed_loose_dicts() -> dict[str, int]:
    """The table of docs/DESIGN.md's "Loose dicts that stay": module -> count."""
    section = DESIGN.read_text().split("## Loose dicts that stay", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| `helpers/")]
    return {r[1].strip().strip("`").removeprefix("helpers/"): int(r[2]) for r in rows}


def test_the_loose_dict_counter_counts_them(tmp_path):
    (tmp_path / "a.py").write_text(f"x: {LOOSE} = {{}}\ndef f(d: {LOOSE}) -> None: ...\n")
    (tmp_path / "b.py").write_text("y: dict[str, int] = {}\n")
    assert _loose_dicts(tmp_path) == {"a.py": 2}


def test_every_loose_dict_is_accounted_for_in_the_design_notes():
    allowed = _allowed_loose_dicts()
    over = {m: (n, allowed.get(m, 0)) for m, n in _loose_dicts(PACKAGE).items()
            if n > allowed.get(m, 0)}
    assert not over, (f"modules with more {LOOSE} than docs/DESIGN.md's 'Loose dicts that stay' "
                      f"allows (found, allowed): {over}; use a dataclass, or add a line there")
