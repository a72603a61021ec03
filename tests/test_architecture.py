"""docs/architecture.md is the map of berthub: these tests read its picture and its rooms table and hold
the code to them (every module in one room, only the imports the picture allows, no import cycle), and
follow a real from_pretrained from a local hub to check the walk the document describes."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "berthub"
DOC = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
LEAVES = "leaves"
ENTRY_POINT_GROUPS = {"berthub.heads", "berthub.datasets", "berthub.converters", "berthub.models", "berthub.commands"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node: ast.AST):
    """Every import statement, at module level or inside functions, except under `if TYPE_CHECKING:`."""
    children = node.orelse if isinstance(node, ast.If) and _is_type_checking(node) else ast.iter_child_nodes(node)
    for child in children:
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        else:
            yield from _import_nodes(child)


def _string_targets(tree: ast.AST) -> list[tuple[str, int]]:
    """Modules a module names by string: `importlib.import_module("berthub.x")`, a table of homes, an entry
    point value ("berthub.x:Name"). A string counts when the whole of it names a berthub module, unless it is
    the name of an entry-point group (the group `berthub.commands` is not the package berthub.commands)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value not in ENTRY_POINT_GROUPS:
            name = node.value.partition(":")[0]
            if name in MODULES and name != "berthub":
                found.append((name, node.lineno))
    return found


def imports_of(module: str, strings: bool = True) -> list[tuple[str, int]]:
    """(imported berthub module, line) for each import in `module`; `from pkg import sub` names `pkg.sub`,
    `from pkg import name` names `pkg`. With `strings`, modules named by string count too."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.split(".")[0] == "berthub"]
            continue
        base = node.module or ""
        if node.level:
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
        if base.split(".")[0] != "berthub":
            continue
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            found.append((sub if sub in MODULES else base, node.lineno))
    return found + (_string_targets(tree) if strings else [])


def runs_first(module: str, target: str) -> list[str]:
    """The packages whose __init__ an import of `target` from `module` runs first: its parents, except the
    importer's own (Python has started those before the importer) and `berthub` itself."""
    parts = target.split(".")
    parents = [".".join(parts[:i]) for i in range(2, len(parts))]
    return [p for p in parents if p in MODULES and not (module == p or module.startswith(p + "."))]


def _rooms() -> dict[str, list[str]]:
    """room -> module patterns, from the rooms table of docs/architecture.md."""
    rooms = {}
    for line in DOC.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].startswith("`berthub"):
            rooms[cells[0]] = re.findall(r"`([^`]+)`", cells[1])
    return rooms


def _allowed() -> dict[str, set[str]]:
    """room -> rooms it may import, from the mermaid picture (plus itself and the leaves)."""
    picture = DOC.split("```mermaid", 1)[1].split("```", 1)[0]
    allowed = {room: {room, LEAVES} for room in ROOMS}
    for source, target in re.findall(r"^\s*(\w+)\s*-->\s*(\w+)\s*$", picture, flags=re.M):
        assert source in ROOMS and target in ROOMS, f"the picture names a room the table lacks: {source} -> {target}"
        allowed[source].add(target)
    allowed[LEAVES] = {LEAVES}
    return allowed


ROOMS = _rooms()


def room_of(module: str) -> str | None:
    exact = [room for room, patterns in ROOMS.items() if module in patterns]
    if exact:
        return exact[0]
    wild = [room for room, patterns in ROOMS.items()
            if any(p.endswith(".*") and module.startswith(p[:-1]) for p in patterns)]
    return wild[0] if len(wild) == 1 else None


FOLDERLESS = (LEAVES, "face")  # the top level: leaves, the package face, the command entry, the 0.6 paths
PATHS_06 = ("berthub.modeling", "berthub.tokenization", "berthub.optimization", "berthub.file_utils")


def _doors() -> list[tuple[str, str, str, str]]:
    """(room, target room, "from" | "through", module) from the Doors list of docs/architecture.md."""
    found = re.findall(r"^- (\w+) reaches (\w+) only (from|through) `([^`]+)`", DOC, flags=re.M)
    for room, target, _, module in found:
        assert room in ROOMS and target in ROOMS and module in MODULES, f"the Doors list names an unknown {module}"
    return found


def test_the_document_has_every_room_of_the_picture():
    assert {LEAVES, "face", "model", "tokenizer", "sources", "plugins", "tasks", "training", "inference", "server",
            "commands"} <= set(ROOMS)
    assert "graph TD" in DOC and len(_allowed()["face"]) > 3 and len(_doors()) == 2


def test_every_room_is_one_folder_and_the_top_level_stays_small():
    for room, patterns in ROOMS.items():
        if room not in FOLDERLESS:
            assert patterns == [f"berthub.{room}", f"berthub.{room}.*"], f"room {room} is not berthub/{room}/"
            assert (PACKAGE / room / "__init__.py").is_file()
    top = [m for m in MODULES if m.count(".") == 1 and MODULES[m].parent == PACKAGE and m not in PATHS_06]
    assert len(top) <= 10, f"berthub/ holds {len(top)} modules besides the 0.6 paths: {top}"


def test_every_module_of_berthub_is_in_exactly_one_room():
    homeless = [module for module in MODULES if room_of(module) is None]
    assert not homeless, f"add these to the rooms table of docs/architecture.md: {homeless}"
    listed = [p for patterns in ROOMS.values() for p in patterns if not p.endswith(".*")]
    assert len(listed) == len(set(listed)), "a module is listed in two rooms"
    assert not [p for p in listed if p not in MODULES], "the rooms table names modules that do not exist"


def test_every_import_is_one_the_picture_allows():
    allowed, problems = _allowed(), []
    for module in MODULES:
        source = room_of(module)
        for target, line in imports_of(module):
            room = room_of(target) if target in MODULES else None
            if room is not None and room not in allowed[source]:
                where = f"{MODULES[module].relative_to(REPO)}:{line}"
                problems.append(f"{where}: {module} ({source}) imports {target} ({room})")
    assert not problems, "imports docs/architecture.md does not allow:\n" + "\n".join(problems)


def test_doors_are_the_only_way_through():
    problems = []
    for room, target_room, side, door in _doors():
        for module in [m for m in MODULES if room_of(m) == room]:
            for target, line in imports_of(module):
                if target not in MODULES or room_of(target) != target_room:
                    continue
                if (side == "from" and module != door) or (side == "through" and target != door):
                    problems.append(f"{MODULES[module].relative_to(REPO)}:{line}: {module} imports {target}; "
                                    f"{room} reaches {target_room} only {side} {door}")
    assert not problems, "\n".join(problems)


def test_no_module_imports_the_package_itself():
    offenders = [f"{MODULES[m].relative_to(REPO)}:{line}" for m in MODULES if m not in ("berthub", "berthub.__main__")
                 for target, line in imports_of(m, strings=False) if target == "berthub"]
    assert not offenders, "import from the defining module, not from berthub/__init__.py: " + ", ".join(offenders)


def test_code_inside_berthub_imports_names_from_where_they_are_defined():
    """Not through a room's face (its __init__) nor a 0.6 path: only faces and 0.6 paths re-export."""
    faces = {m for m in MODULES if MODULES[m].name == "__init__.py"}
    offenders = []
    for module in MODULES:
        if room_of(module) == "face" or module in faces:
            continue
        for target, line in imports_of(module, strings=False):
            if target in PATHS_06 or (target in faces and target != "berthub"):
                offenders.append(f"{MODULES[module].relative_to(REPO)}:{line}: {module} imports from {target}")
    assert not offenders, "import from the defining module:\n" + "\n".join(offenders)


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while component[-1:] != [node]:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_even_through_imports_inside_functions_inits_and_strings():
    graph = {m: sorted({p for t, _ in imports_of(m) if t in MODULES and t != m and t != "berthub"
                        for p in (t, *runs_first(m, t))}) for m in MODULES}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]


WALK = ("berthub/model/pretrained.py", "berthub/sources/resolve.py", "berthub/sources/hub_cache.py",
        "berthub/sources/urls.py", "berthub/model/weights.py")


def _walk_stacks(load) -> list[list[str]]:
    """The walk files on the call stack (consecutive repeats merged) at every call made during `load()`.

    Methods of objects (frames whose first argument is `self`) are left out: a model's own methods
    (`tie_weights`, its constructor) are the model at work, wherever its base class is defined."""
    root, stacks = str(REPO) + "/", []

    def profile(frame, event, arg):
        if event != "call" or not frame.f_code.co_filename.startswith(str(PACKAGE)):
            return
        files, walker = [], frame
        while walker is not None:
            code = walker.f_code
            name = code.co_filename.removeprefix(root)
            is_method = code.co_argcount > 0 and code.co_varnames[0] == "self"
            if name in WALK and not is_method and files[-1:] != [name]:
                files.append(name)
            walker = walker.f_back
        stacks.append(files[::-1])

    sys.setprofile(profile)
    try:
        load()
    finally:
        sys.setprofile(None)
    return stacks


@pytest.mark.slow
def test_from_pretrained_walks_one_path_through_at_most_four_files(named_models):
    from berthub.model.bert import BertModel

    stacks = _walk_stacks(lambda: BertModel.from_pretrained("bert-base-chinese"))
    deepest = max(stacks, key=len)
    assert deepest == list(WALK[:4]), deepest  # name -> repo -> cached commit -> the weights' bytes
    assert all(len(stack) <= 4 and len(set(stack)) == len(stack) for stack in stacks)  # no file entered twice
    assert ["berthub/model/pretrained.py", "berthub/model/weights.py"] in stacks  # the tensors are read by weights.py
