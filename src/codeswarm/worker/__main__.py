"""``python -m codeswarm.worker --run-dir DIR --agent ID``: one agent's worker process.

The same entry point serves the local supervisor and Slurm (``srun``; there the agent id may be
derived from ``SLURM_PROCID`` with ``--agent-from-rank``). Logs go to stderr.
Exit codes: 0 stopped on request, 1 failure, 2 bad input (run dir, mailbox permissions).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m codeswarm.worker")
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--agent", help="agent id (<swarm>_<rank>)")
    p.add_argument(
        "--agent-from-rank",
        action="store_true",
        help="derive the agent id from SLURM_PROCID (srun)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    from codeswarm.core.errors import CodeswarmError, UsageError
    from codeswarm.core.swarm import RunDir, agent_id
    from codeswarm.worker.agent import Worker

    try:
        run = RunDir(args.run_dir.resolve())
        agent = args.agent
        if args.agent_from_rank:
            rank = os.environ.get("SLURM_PROCID")
            if rank is None or not rank.isdigit():
                raise UsageError("--agent-from-rank needs SLURM_PROCID")
            agent = agent_id(run.load_spec().name, int(rank))
        if not agent:
            raise UsageError("give --agent or --agent-from-rank")
        from codeswarm.core.gcpolicy import settle

        worker = Worker(run, agent)
        settle()
        return asyncio.run(worker.run())
    except UsageError as exc:
        print(f"codeswarm worker: error: {exc}", file=sys.stderr)
        return 2
    except CodeswarmError as exc:
        print(f"codeswarm worker: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
