"""``python -m codeswarm.worker --run-dir DIR --agent ID``: one agent's worker process.

The same entry point serves the local supervisor and a Slurm task (each passes the agent id).
Logs go to stderr.
Exit codes (:func:`codeswarm.core.errors.exit_code`): 0 stopped on request, 1 failure, 2 bad
input (run dir, mailbox permissions), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m codeswarm.worker")
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--agent", required=True, help="agent id (<swarm>_<rank>)")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    from codeswarm.core.errors import run_guarded

    return run_guarded(lambda: _run(args), "codeswarm worker")


def _run(args: argparse.Namespace) -> int:
    from codeswarm.core.lean import import_without_openssl

    import_without_openssl()  # before anything imports asyncio
    import asyncio

    from codeswarm.core.swarm import RunDir
    from codeswarm.worker.agent import Worker

    run = RunDir(args.run_dir.resolve())
    from codeswarm.core.gcpolicy import settle

    worker = Worker(run, args.agent)
    settle()
    return asyncio.run(worker.run())


if __name__ == "__main__":
    sys.exit(main())
