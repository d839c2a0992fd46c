"""The package's imports, read from the source (a function's own imports included): no cycle, and the
library side — `vaegan.load` and all it reaches — reaches no program's front door."""
import ast
from pathlib import Path

from tests.helpers import ROOT

PACKAGE = ROOT / "vaegan"
PROGRAMS = "vaegan.programs"  # every program's front door, and what they share, lives under it


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports anywhere in its source."""
    known = modules()
    graph = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in known}
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                submodules = {f"{target}.{a.name}" for a in node.names} & set(known)
                graph[name] |= submodules
                if target in known and len(submodules) < len(node.names):  # a name defined in the module
                    graph[name].add(target)
        graph[name].discard(name)
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    cycles = sorted(name for name in graph if name != "vaegan" and name in reachable(graph, name))
    assert not cycles, f"modules on an import cycle: {cycles}"


def test_the_library_reaches_no_programs_front_door():
    graph = import_graph()
    library = [name for name in graph if name != "vaegan" and not name.startswith(PROGRAMS)]
    assert "vaegan.api" in library and "vaegan.evaluation.checkpoint" in library
    for name in library:
        programs = {m for m in reachable(graph, name) if m.startswith(PROGRAMS)}
        assert not programs, (name, programs)


def test_each_program_has_its_own_room():
    programs = {name.rpartition(".")[2] for name in modules() if name.startswith(PROGRAMS + ".")}
    assert {"train", "eval", "sample", "export", "prior"} <= programs
    assert not {"vaegan.cli", "vaegan.evaluate", "vaegan.prior_run"} & set(modules())


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "vaegan.priors.diffusion" in graph["vaegan.api"]  # imported inside load's helpers only
    assert "vaegan.programs.common" in graph["vaegan.programs.train"]
