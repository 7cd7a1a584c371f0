"""The layout of `app/`: commands on top, packages by concept that import only what their docstring allows."""

import ast
import re
import subprocess
import sys

from commands import REPO

APP = REPO / "app"
COMMANDS = {"bench", "evaluate", "fit", "recommend"}
FIRST_PARTY = ("app", "datasets", "layers", "tuning")


def packages():
    return sorted(path.name for path in APP.iterdir() if (path / "__init__.py").is_file())


def imported_modules(path):
    """Every first-party module `path` imports, at any depth of the file (function-level imports too)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def owner(module):
    """`app.training.run` -> `app.training`; `datasets.actions` -> `datasets`; a command -> itself."""
    parts = module.split(".")
    if parts[0] != "app" or len(parts) == 1:
        return parts[0]
    return ".".join(parts[:2])


def arrows(package):
    """The packages and top-level modules that the modules of `app/<package>/` import."""
    found = {owner(module) for path in (APP / package).rglob("*.py") for module in imported_modules(path)
             if module.split(".")[0] in FIRST_PARTY}
    return found - {f"app.{package}"}


def allowed(package):
    """What `app/<package>/__init__.py` says the package may import (its "May import:" paragraph)."""
    docstring = ast.get_docstring(ast.parse((APP / package / "__init__.py").read_text()))
    paragraph = docstring[docstring.index("May import:"):].split("\n\n")[0]
    names = re.findall(r"`([\w.]+)`", paragraph)
    return {owner(name) for name in names if name.split(".")[0] in FIRST_PARTY and name != "app"}


def test_the_top_of_app_holds_the_commands_and_the_errors():
    assert {path.stem for path in APP.glob("*.py")} == COMMANDS | {"__init__", "errors"}


def test_every_package_imports_only_what_its_docstring_allows():
    for package in packages():
        assert arrows(package) <= allowed(package), package


def test_no_package_imports_a_command_or_the_commands_shared_parts():
    for package in set(packages()) - {"cli"}:
        assert not arrows(package) & ({f"app.{command}" for command in COMMANDS} | {"app.cli"}), package


def test_no_import_cycle_between_packages():
    graph = {f"app.{package}": arrows(package) for package in packages()}

    def reaches(start, target, seen=()):
        return any(nxt == target or (nxt not in seen and reaches(nxt, target, (*seen, nxt)))
                   for nxt in graph.get(start, ()))

    assert [package for package in graph if reaches(package, package)] == []


def test_the_errors_import_without_keras():
    code = "import sys, app.errors; assert 'keras' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_library_code_finds_no_layer_by_name():
    assert [path for path in APP.rglob("*.py") if "get_layer(" in path.read_text()] == []


def test_only_commands_choose_verbosity_and_the_plotting_backend():
    library = [path for path in APP.rglob("*.py") if path.parent != APP and path.parent.name != "cli"]
    assert [path for path in library if re.search(r"environ(\.get)?\(?\[?\"CI\"|matplotlib\.use\(", path.read_text())] == []


def test_only_commands_seed_the_global_random_state():
    seeding = {
        path.relative_to(REPO).as_posix()
        for folder in ("app", "datasets", "layers", "tuning")
        for path in (REPO / folder).rglob("*.py")
        if "set_random_seed(" in path.read_text()
    }
    entry_points = {f"app/{command}.py" for command in COMMANDS} | {"tuning/search.py"}
    assert "app/fit.py" in seeding and seeding <= entry_points, seeding
