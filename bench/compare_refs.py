"""Run benchmarks of two revisions side by side: the working tree and ``--base REV``.

For a refactor that must not change the figures. The base is checked out into a throwaway git
worktree and run with its own ``src`` first on ``PYTHONPATH`` (same virtualenv, same Codex CLI);
each benchmark runs base, head, base, head, … (``--pairs``), so both see the same machine. Prints
JSON: per benchmark, every numeric figure of both runs (medians over the pairs) and head/base.

    .venv/bin/python bench/compare_refs.py --base 6efa248 --bench hooks_latency -- --rounds 20
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def codex_bin() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "codeswarm", "toolchain", "path"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def checkout(rev: str) -> Path:
    """A throwaway worktree of ``rev``."""
    tree = Path(tempfile.mkdtemp(prefix="codeswarm-rev-"))
    subprocess.run(["git", "worktree", "add", "--detach", "-f", str(tree), rev],
                   cwd=ROOT, check=True, capture_output=True)  # fmt: skip
    return tree


def run_bench(tree: Path, name: str, args: list[str], env: dict[str, str]) -> Any:
    out = subprocess.run(
        [sys.executable, str(tree / "bench" / f"{name}.py"), *args],
        capture_output=True, text=True, cwd=tree, env=env, timeout=3600,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{name} in {tree} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    start = out.stdout.find("{")
    return json.loads(out.stdout[start:])


def leaves(doc: Any, prefix: str = "") -> dict[str, float]:
    """Every numeric leaf of a JSON document, by its dotted path."""
    out: dict[str, float] = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.update(leaves(v, f"{prefix}{k}."))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.update(leaves(v, f"{prefix}{i}."))
    elif isinstance(doc, int | float) and not isinstance(doc, bool):
        out[prefix.rstrip(".")] = float(doc)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="the revision to compare against")
    p.add_argument("--head", help="the revision to measure (default: the working tree)")
    p.add_argument("--bench", action="append", required=True, help="a bench/NAME.py; repeatable")
    p.add_argument("--pairs", type=int, default=2, help="base/head runs per benchmark")
    p.add_argument("args", nargs="*", help="after --: arguments for every benchmark")
    a = p.parse_args()
    base = checkout(a.base)
    head = checkout(a.head) if a.head else ROOT
    try:
        env = {**os.environ, "CODESWARM_CODEX_BIN": codex_bin()}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        trees = {
            "base": (base, {**env, "PYTHONPATH": str(base / "src")}),
            "head": (head, {**env, "PYTHONPATH": str(head / "src")}),
        }
        report: dict[str, Any] = {
            "base": a.base, "head": a.head or "working tree", "pairs": a.pairs, "benchmarks": {},
        }  # fmt: skip
        for name in a.bench:
            runs: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
            for _ in range(a.pairs):
                for side, (tree, side_env) in trees.items():
                    runs[side].append(leaves(run_bench(tree, name, a.args, side_env)))
            figures = {}
            for key in runs["head"][0]:
                if not all(key in r for r in runs["base"] + runs["head"]):
                    continue
                b = statistics.median(r[key] for r in runs["base"])
                h = statistics.median(r[key] for r in runs["head"])
                figures[key] = {"base": b, "head": h, "ratio": round(h / b, 3) if b else None}
            report["benchmarks"][name] = figures
            print(f"{name}: done", file=sys.stderr)
        print(json.dumps(report, indent=1))
    finally:
        for tree in {base, head} - {ROOT}:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
            shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    main()
