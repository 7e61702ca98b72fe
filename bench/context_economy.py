"""What codeswarm adds to every worker's model request, side by side in one run: the same agent,
the same message, with the swarm's coordination wired in (`up`, default: hooks, the codeswarm MCP
server, the SessionStart picture) and without it (`up --no-coord`). Measured from the scripted
model's request log: request bytes, and tokens as bytes/4 (no tokenizer that works offline ships
its encoding here). Target: <= 1,500 tokens per request for a worker.

    .venv/bin/python bench/context_economy.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit

ROOT = Path(__file__).resolve().parent.parent
CS = str(Path(sys.executable).parent / "codeswarm")
SCRIPT = {"agents": {"*": [{"when": ".", "repeat": True, "text": "ok"}]}}


def request_sizes(work: Path, name: str, env: dict[str, str], *flags: str) -> dict[str, Any]:
    repo = work / f"{name}-repo"
    repo.mkdir()
    (repo / "app.py").write_text("print('hi')\n")
    script = work / "script.json"
    script.write_text(json.dumps(SCRIPT))
    run = [CS, "up", "-n", "2", "--name", name, "--cwd", str(repo), "--model-provider", "mock",
           "--script", str(script), *flags]  # fmt: skip
    subprocess.run(run, env=env, check=True, capture_output=True, cwd=ROOT)
    try:
        if "--no-coord" not in flags:  # a peer holds a file: the picture has something to say
            subprocess.run([CS, "coord", "--as", f"{name}_1", "lease", str(repo / "app.py"), "--note",
                            "refactor"], env=env, check=True, capture_output=True, cwd=repo)  # fmt: skip
        subprocess.run([CS, "send", name, "0", "what is in this repository?", "--wait"], env=env,
                       check=True, capture_output=True, cwd=ROOT)  # fmt: skip
        log = work / "state" / "runs" / name / "model-requests.jsonl"
        body = next(json.loads(line)["body"] for line in log.read_text().splitlines()
                    if json.loads(line)["agent"] == f"{name}_0")  # fmt: skip
    finally:
        subprocess.run([CS, "down", name, "--purge"], env=env, capture_output=True, cwd=ROOT)
    tools = json.dumps(body.get("tools", []))
    inputs = json.dumps(body.get("input", []))
    instructions = json.dumps(body.get("instructions", ""))
    total = len(json.dumps(body))
    return {
        "request_bytes": total,
        "tools_bytes": len(tools),
        "input_bytes": len(inputs),
        "instructions_bytes": len(instructions),
        "tool_names": [t.get("name") or t.get("type") for t in body.get("tools", [])],
    }


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-context-"))
    codex = subprocess.run(
        [CS, "toolchain", "path"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()
    env = {**os.environ, "CODESWARM_STATE_DIR": str(work / "state"), "CODESWARM_CODEX_BIN": codex}
    wired = request_sizes(work, "wired", env)
    bare = request_sizes(work, "bare", env, "--no-coord")
    added = wired["request_bytes"] - bare["request_bytes"]
    emit(
        {
            "benchmark": "context_economy",
            "with_codeswarm": wired,
            "without_codeswarm": bare,
            "added_bytes_per_request": added,
            "added_tokens_per_request_bytes_div_4": round(added / 4),
            "target_tokens": 1500,
            "meets_target": added / 4 <= 1500,
        }
    )


if __name__ == "__main__":
    main()
