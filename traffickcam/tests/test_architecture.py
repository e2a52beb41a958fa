"""The import directions of docs/architecture.md, read from the source (no imports run).

Every `import` counts, at module level or inside a function: a lazy import is still a
dependency, only a later one.
"""

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = (
    "retrieval", "matcher", "rooms", "investigations", "accounts", "traffickcam", "benchmarks",
    "demo",
)  # fmt: skip
SUPPORT = ("benchmarks", "demo", "testsupport")  # never imported by the product
WEB_FRAMEWORKS = ("django", "rest_framework", "drf_spectacular", "celery", "kombu")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@cache
def imports() -> dict[str, set[str]]:
    """{module: the modules it imports}, for every module of the project's packages."""
    graph = {}
    for package in (*PACKAGES, "testsupport"):
        for path in (REPO / package).rglob("*.py"):
            targets = set()
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    targets.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    for alias in node.names:
                        sub = f"{node.module}.{alias.name}"
                        targets.add(sub if is_module(sub) else node.module)
            graph[module_name(path)] = targets
    return graph


def product_modules(package: str):
    """The package's modules without its tests (tests may use the support packages)."""
    return {
        name: targets
        for name, targets in imports().items()
        if (name == package or name.startswith(package + "."))
        and ".tests" not in name
        and not name.endswith(".tests")
    }


def offending(package: str, allowed) -> list[str]:
    return sorted(
        f"{name} imports {target}"
        for name, targets in product_modules(package).items()
        for target in targets
        if not allowed(target)
    )


def top(name: str) -> str:
    return name.split(".")[0]


def test_the_ml_core_imports_no_django_and_no_app():
    forbidden = (*WEB_FRAMEWORKS, *PACKAGES[1:], "testsupport")
    assert offending("retrieval", lambda target: top(target) not in forbidden) == []


@pytest.mark.parametrize(
    "package", ["retrieval", "matcher", "rooms", "investigations", "accounts", "traffickcam"]
)
def test_the_product_never_imports_benchmarks_demo_or_test_support(package):
    assert offending(package, lambda target: top(target) not in SUPPORT) == []


def test_rooms_knows_nothing_of_investigations_and_only_enqueues_into_matcher():
    def allowed(target):
        return top(target) != "investigations" and (
            top(target) != "matcher" or target == "matcher.tasks"
        )

    assert offending("rooms", allowed) == []


def test_matcher_knows_nothing_of_investigations():
    assert offending("matcher", lambda target: top(target) != "investigations") == []


def test_investigations_reaches_the_matcher_only_through_its_service():
    def allowed(target):
        return top(target) != "matcher" or target == "matcher.services"

    assert offending("investigations", allowed) == []


def test_the_index_root_never_imports_a_backend():
    """Backends import the root; the factory names them by dotted path."""
    root = imports()["matcher.indexes"]
    below = {name for name in root if name.startswith("matcher.indexes.")}
    assert below <= {"matcher.indexes.sql"}


def test_no_circle_of_imports():
    graph = {name: {t for t in targets if t in imports()} for name, targets in imports().items()}
    state, circles = {}, []

    def visit(name, path):
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                circles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_the_ml_core_runs_without_django_settings():
    """Importable and usable from a notebook: no DJANGO_SETTINGS_MODULE, no django loaded."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from retrieval import descriptors, images, metrics, occlusion, pca\n"
        "from retrieval import ranking, verification\n"
        "mask = occlusion.person_mask((64, 48), 'medium', seed='x')\n"
        "assert 0.2 < mask.mean() < 0.5\n"
        "assert ranking.aggregate_hotels([(1, 0.9), (2, 0.5)], {1: 7, 2: 8})[0].hotel_id == 7\n"
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if 'django' in m)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
