"""What the orchestrator sends to the model per ``converse`` round with a worker, over 20 rounds,
next to a baseline that replays the conversation as text (zwarm's method of faking a multi-turn
session: every round is a fresh prompt holding the whole conversation so far).

A real local swarm (supervisor, workers, Codex, the scripted model): an orchestrator (rank 0)
and one implementer. Given the goal, the scripted orchestrator calls ``converse`` with the
worker ``--rounds`` times in one turn; the worker (a persistent Codex thread) answers each
question with a paragraph. Tokens are the scripted model's estimate (docs/scripted-model.md:
a quarter of the request body's bytes, what it reports as ``input_tokens``).

- ours, per round: the orchestrator's model request that carries that round's answer (its
  whole request: Codex's instructions, the tools, the thread so far), and what the round added
  to it (the call and the worker's answer: all the rest is the same prefix as the round before,
  which a provider's prompt cache serves);
- baseline, per round: the same instructions and tools (the orchestrator's first request, before
  any round) plus the whole conversation so far replayed as text, all of it new each round (a
  fresh session has no prefix to reuse); and the replayed conversation alone.

Raw request sizes are close (Codex sends the whole thread each request, and a function call with
its JSON output takes more bytes than a line of transcript): the difference is what each round
adds. Ours adds the call and the answer, the same every round; the replay re-sends everything.

    .venv/bin/python bench/orchestrator_context.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cli, emit, jsonl, scripted_swarm, wait_for

WORKER = "b_1"


def question(i: int) -> str:
    return f"Question {i:02d}? What did you change in module {i}, and what is left to do there?"


def answer(i: int) -> str:
    return (
        f"Answer {i:02d}: in module {i} I renamed the parser's entry point, moved the two "
        "helpers it used into their own file, and added tests for the empty input and for a "
        "line longer than the buffer; all of them pass. Left to do: the error message for a "
        "truncated file still names the old function, and the docs page needs the new name."
    )


def script(rounds: int) -> dict[str, Any]:
    goal = "The goal"
    orch: list[dict[str, Any]] = [
        {"when": goal, "tool": "converse",
         "arguments": {"agent": WORKER, "message": question(i), "timeout": 60}}
        for i in range(1, rounds + 1)
    ]  # fmt: skip
    orch.append({"when": goal, "text": "Heard every answer."})
    worker = [{"when": f"Question {i:02d}\\?", "text": answer(i)} for i in range(1, rounds + 1)]
    return {"agents": {"0": orch, "1": worker}}


def tokens(chars: int) -> int:
    """The scripted model's estimate: a quarter of the bytes (mockmodel/sse.py)."""
    return max(1, chars // 4)


def body_bytes(request: dict[str, Any]) -> int:
    return len(json.dumps(request["body"], separators=(",", ":"), ensure_ascii=False).encode())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="Keep the swarm's files (printed).")
    args = ap.parse_args()
    result: dict[str, Any] = {"benchmark": "orchestrator_context", "rounds": args.rounds}
    roles = ("--roles", "orchestrator,implementer")
    with scripted_swarm(
        "bench-orchctx-", script(args.rounds), 2, *roles, result=result, keep=args.keep, git=True
    ) as sw:
        env, run_dir = sw.env, sw.run_dir
        log = run_dir / "model-requests.jsonl"
        cli(env, "send", "b", "0", "The goal: ask the worker about each module.")

        def mine() -> list[dict[str, Any]]:
            return [r for r in jsonl(log) if r["agent"] == "b_0"]

        wait_for(lambda: len(mine()) >= args.rounds + 1, timeout=60 + 5 * args.rounds)
        requests = mine()[: args.rounds + 1]
        for k, r in enumerate(requests[1:], start=1):  # request k carries round k's answer
            out = json.dumps(r["body"].get("input", []))
            if answer(k)[:40] not in out:
                raise SystemExit(f"request {k + 1} of the orchestrator lacks answer {k}")
        sizes = [body_bytes(r) for r in requests]
        ours = [tokens(s) for s in sizes[1:]]
        added = [tokens(sizes[k] - sizes[k - 1]) for k in range(1, len(sizes))]
        base = sizes[0]  # instructions, tools, the goal: before any round
        transcript = ""
        baseline, conversation = [], []
        for k in range(1, args.rounds + 1):
            transcript += f"\n[orchestrator] {question(k)}\n[{WORKER}] {answer(k)}\n"
            conversation.append(tokens(len(transcript.encode())))
            baseline.append(tokens(base + len(transcript.encode())))
        result["tokens_estimate"] = "request body bytes / 4 (the scripted model's input_tokens)"
        result["ours_request_tokens"] = ours
        result["ours_new_tokens_per_round"] = added
        result["baseline_prompt_tokens"] = baseline
        result["baseline_replayed_conversation_tokens"] = conversation
        result["round_1"] = {"ours_request": ours[0], "ours_new": added[0],
                             "baseline": baseline[0], "baseline_conversation": conversation[0]}  # fmt: skip
        last = args.rounds - 1
        result[f"round_{args.rounds}"] = {
            "ours_request": ours[last],
            "ours_new": added[last],
            "baseline": baseline[last],
            "baseline_conversation": conversation[last],
            "ratio_baseline_to_ours_new": round(baseline[last] / added[last], 1),
            "ratio_baseline_conversation_to_ours_new": round(conversation[last] / added[last], 1),
            "ratio_baseline_to_ours_request": round(baseline[last] / ours[last], 3),
        }
        result["growth_round_1_to_last"] = {
            "ours_request": round(ours[last] / ours[0], 3),
            "ours_new": round(added[last] / added[0], 3),
            "baseline": round(baseline[last] / baseline[0], 3),
            "baseline_conversation": round(conversation[last] / conversation[0], 3),
        }
    emit(result)


if __name__ == "__main__":
    main()
