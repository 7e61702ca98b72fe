"""Git worktree isolation (``up --isolation worktree``; docs/isolation.md): each agent works in
its own worktree under the run directory, on its own branch.

- :mod:`.git`: the ``git`` boundary (subprocess, timeouts, one-line errors);
- :mod:`.create`: ``prepare`` at ``up``: the base commit and target resolved, worktrees created,
  ``.worktreeinclude`` files copied (:mod:`.include`);
- :mod:`.state`: each worktree's state (``codeswarm worktrees S``) and who uses it;
- :mod:`.purge`: removing them without losing work (``down --purge``).
"""
