"""The direction of imports, as docs/architecture.md draws it: a package imports only packages
below it in the table, and inside ``control`` the same holds for its parts. Lazy imports inside
functions and ``TYPE_CHECKING`` imports count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import codeswarm

ROOT = Path(codeswarm.__file__).parent

LOW = {"core", "coordination", "mailbox", "codex", "mockmodel", "openclaw"}
TABLE: dict[str, set[str]] = {
    # docs/architecture.md, "Packages and the direction of imports": package -> what it may use
    "cli": {"api", "mcp", "control", "worker", "claude", "hooks"} | LOW,
    "api": {"control", "worker", "claude", "hooks"} | LOW,  # beside mcp: neither imports the other
    "mcp": {"control", "worker", "claude", "hooks"} | LOW,
    "control": {"worker", "claude", "hooks"} | LOW,
    "worker": {"claude", "hooks"} | LOW,
    "claude": {"codex", "core"},
    "hooks": {"coordination", "codex.patch", "core"},
    "codex": {"core"},
    "mailbox": {"core"},
    "coordination": {"core"},
    "mockmodel": {"core"},
    "openclaw": {"core"},
    "core": set(),
}
CONTROL: dict[str, set[str]] = {
    # the parts of control, top to bottom
    "run": {"launch", "watch", "fleet", "events", "steering", "proc"},
    "sessions": {"launch", "worktrees", "fleet", "events", "steering", "proc"},
    "status": {"launch", "fleet", "events", "steering", "proc"},
    "merge": {"worktrees", "launch", "proc"},
    "worktrees": {"launch", "proc"},
    "launch": {"watch", "fleet", "events", "steering", "proc"},
    "watch": {"fleet", "events", "steering"},
    "fleet": {"events"},
    "steering": set(),
    "events": set(),
    "proc": set(),
}


def is_module(dotted: str) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()


def imports(path: Path) -> list[str]:
    """Every module of codeswarm's packages that ``path`` imports, at any depth (``from
    codeswarm.codex import patch`` imports ``codeswarm.codex.patch``)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.append(sub if is_module(sub) else node.module)
        elif isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
    return [name for name in out if name.startswith("codeswarm.")]


def allowed(name: str, ok: set[str]) -> bool:
    dotted = name.removeprefix("codeswarm.")
    return any(dotted == o or dotted.startswith(o + ".") for o in ok)


def test_every_package_is_in_the_table() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(TABLE)
    parts = {p.stem for p in (ROOT / "control").iterdir() if p.name != "__init__.py"}
    parts.discard("__pycache__")
    assert parts - {"slurm_task"} == set(CONTROL)  # slurm_task: a wire-contract entry point


@pytest.mark.parametrize("package", sorted(TABLE))
def test_imports_point_down(package: str) -> None:
    ok = TABLE[package] | {package}
    for path in (ROOT / package).rglob("*.py"):
        for name in imports(path):
            if name.count(".") >= 1:  # `from codeswarm import __version__` is the root's
                assert allowed(name, ok), f"{path.relative_to(ROOT)}: imports {name}"


@pytest.mark.parametrize("part", sorted(CONTROL))
def test_control_parts_point_down(part: str) -> None:
    ok = CONTROL[part] | {part}
    base = ROOT / "control"
    files = [base / f"{part}.py"] if (base / f"{part}.py").exists() else (base / part).rglob("*.py")
    for path in files:
        for name in imports(path):
            if name.startswith("codeswarm.control."):
                sub = name.split(".")[2]
                if sub in CONTROL:
                    assert sub in ok, f"{path.relative_to(ROOT)}: imports {name}"
