"""Wire contract: batch scripts submitted by codeswarm ≤ 0.1 run
``python -m codeswarm.control.slurm_task``; a job that is requeued or relaunched from such a
script still starts its tasks. New scripts name :mod:`codeswarm.control.launch.slurm_task`."""

import sys

from codeswarm.control.launch.slurm_task import main

if __name__ == "__main__":
    sys.exit(main())
