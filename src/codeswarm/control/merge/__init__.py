"""The merge queue (docs/isolation.md): agents working in their own worktrees submit their
branch (:mod:`.submit`); one queue process per swarm (:mod:`.runner`) merges the submissions in
order onto the target branch in a scratch worktree, runs the swarm's check command, bisects a
failing batch, and advances the target by compare-and-swap (:mod:`.engine`). Every step is a
record in ``<run>/merge/journal.jsonl`` (:mod:`.journal`), read back as ``merge.*`` events."""
