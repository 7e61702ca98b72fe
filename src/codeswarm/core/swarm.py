"""A swarm on disk: its spec (``swarm.json``), agent ids and ranks, and the run directory layout.

::

    <state>/runs/<swarm>/
        swarm.json                 the spec (written once by `up`, atomically)
        mailbox/{inbox,outbox}/    see codeswarm.mailbox
        agents/<agent>/            state.json, worker.pid, worker.log, codex.log, codex-home/
                                   (a Claude agent: claude-home/; codex.pid, codex.log are
                                   its claude's), inbox.cursor
        supervisor.pid, supervisor.log
        consumers/<name>.cursor    where a named event consumer (attach --cursor) got to
        watch.jsonl                what the watchers saw and did (docs/watch.md)
        merge/                     the merge queue (docs/isolation.md): journal.jsonl,
                                   runner.pid, runner.log, scratch worktrees
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import msgspec

from codeswarm.core import defaults
from codeswarm.core.errors import UsageError
from codeswarm.core.ids import agent_id as agent_id
from codeswarm.core.ids import agent_rank as agent_rank
from codeswarm.core.paths import state_dir

SWARM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,39}\Z")

Approvals = Literal["forward", "workspace", "all", "decline"]
MessageMode = Literal["queue", "steer"]


class SlurmOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How ``up --backend slurm`` asks Slurm for the job (rendered into the sbatch script)."""

    nodes: int | None = None
    ntasks_per_node: int | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str | None = None
    """The job's time limit in any form sbatch takes (``90``, ``1:30:00``, ``2-00:00:00``)."""
    sbatch_args: list[str] = []
    """Extra sbatch options, one per item (``--constraint=gpu``), rendered as ``#SBATCH`` lines."""
    stop_grace_s: int = 60
    """Seconds the workers get between the stop signal and the hard kill of the job step; also
    how long before the time limit Slurm sends that signal (``--signal=B:TERM@...``)."""


Isolation = Literal["shared", "worktree"]
ISOLATIONS = ("shared", "worktree")

WatchAction = Literal["report", "nudge", "interrupt", "stop"]

Runtime = Literal["codex", "claude"]
RUNTIMES = ("codex", "claude")


class WatchOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The watchers (docs/watch.md): rules over the event stream and what each does when it
    fires. A rule is off while its threshold is None (scope: False). Each rule's ``*_actions``
    escalate: the first firing takes the first action, each further firing (in the same turn;
    for a stall: each further period without an event) the next, the last one repeating."""

    stall_s: float | None = None
    """An agent busy with no event for this many seconds is stalled."""
    loop_k: int | None = None
    """The same tool call with the same arguments this many times in one turn is a loop."""
    scope: bool = False
    """A write outside the files of the task the agent holds is reported."""
    stall_actions: list[WatchAction] = msgspec.field(default_factory=lambda: ["report"])
    loop_actions: list[WatchAction] = msgspec.field(default_factory=lambda: ["nudge", "interrupt"])
    scope_actions: list[WatchAction] = msgspec.field(default_factory=lambda: ["report"])
    scope_deny: bool = False
    """Writes outside the held task's files are denied up front by the PreToolUse hook
    (``--watch-action scope=deny``); what still gets through (e.g. a shell write the hook
    cannot read) gets ``scope_actions``."""
    nudge_text: str | None = None
    """What a nudge says (default: a line per rule naming what was seen)."""


class SwarmSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What `up` asked for; workers and the supervisor read it from ``swarm.json``."""

    name: str
    size: int
    cwd: str
    backend: Literal["local", "slurm"] = "local"
    codex_bin: str
    """The Codex binary located at `up` (workers do not search again)."""
    codex_env: dict[str, str] = {}
    user_codex_home: str | None = None
    """Whose login (auth.json) and config.toml seed each agent's own CODEX_HOME."""
    runtimes: list[Runtime] = []
    """What drives each agent, by rank (rank 0 first): ``codex`` (a ``codex app-server``) or
    ``claude`` (the Claude Code CLI, docs/runtimes.md); empty, or shorter than the swarm: the
    rest are ``codex``."""
    claude_bin: str | None = None
    """The Claude Code binary located at `up` (set when an agent is ``claude``)."""
    user_claude_dir: str | None = None
    """Whose Claude Code login (``.credentials.json``, the account in ``.claude.json``) seeds
    each Claude agent's own configuration directory (never written)."""
    model: str = defaults.MODEL
    model_provider: str | None = None
    script: str | None = None
    """The scripted model's script (absolute path) when model_provider is "mock"."""
    mock_port: int | None = None
    mock_host: str | None = None
    """Where the workers reach the scripted model: None is ``127.0.0.1`` (a local swarm: the
    supervisor serves it on this host); a Slurm job records the host of its batch step, where it
    serves it, before the workers start (so workers on other nodes reach it)."""
    approval_policy: str = defaults.APPROVAL_POLICY
    sandbox: str = defaults.SANDBOX
    approvals: Approvals = "forward"
    """How a worker answers Codex's approval requests: forward them to control (a person answers
    with `codeswarm approve`), or answer itself."""
    message_mode: MessageMode = "queue"
    """A message arriving while a turn runs: wait for the turn (queue), or join it (steer)."""
    config_overrides: dict[str, str] = {}
    """Extra Codex ``-c key=value`` overrides (values are TOML)."""
    heartbeat_s: float = 15.0
    """How often a worker writes a ``heartbeat`` record to its outbox (what shows it alive where
    no process can be looked at: a Slurm swarm's agent is stale after 60 s of silence). Every
    record wakes the worker and is read by every follower: an idle swarm of 50 agents is quiet
    but for these (and the coordination link's own)."""
    retry_deadline_s: float = defaults.RETRY_DEADLINE
    """Seconds a turn may do nothing but retry an unreachable model; then it is given up."""
    created_ms: int = 0
    coord: bool = True
    """Wire agents into the coordination store: hooks that enforce leases, the MCP tools,
    registration, and waking an idle agent when a message arrives for it."""
    coord_db: str | None = None
    """The coordination store's URL or path, resolved at `up` (the same for every agent)."""
    scope: str | None = None
    """The coordination scope (the project's root), fixed at `up`: every process of the swarm
    uses this one, whatever it would find from ``cwd`` later (a ``.git`` appearing above)."""
    roles: list[str] = []
    """Roles by rank, cycled (rank i gets roles[i % len]); default: every agent
    :data:`codeswarm.core.defaults.ROLE`."""
    leases_auto: bool = True
    """A first edit of a free file takes a lease for the agent."""
    resume_interrupted: bool = True
    """A turn cut short by a crash (of the worker or of Codex) is reported ``turn.aborted`` after
    the restart and then continued by a follow-up turn; False: reported only."""
    slurm: SlurmOptions | None = None
    """The Slurm job's options when ``backend`` is "slurm"."""
    budget_tokens: int | None = None
    """The swarm's token budget (input + output, every agent together); None: none. Past it every
    agent's running turn is interrupted and no further turn starts (docs/events.md, budgets)."""
    agent_budget_tokens: int | None = None
    """Each agent's own token budget; None: none."""
    budget_warn: float = 0.8
    """The fraction of a budget at which a ``budget.warning`` is given (once per scope)."""
    report_chars: int = 2000
    """The most characters of an agent's own words (a delegated task's result, a reply, a
    message) carried to the orchestrator; longer ones are cut, saying so (docs/coordination.md)."""
    watch: WatchOptions | None = None
    """The watchers (stall, loop, scope) and their actions; None: none run."""
    isolation: Isolation = "shared"
    """``shared``: every agent works in ``cwd`` (leases enforced); ``worktree``: each agent in
    its own git worktree under the run directory (:meth:`RunDir.worktree`), on branch
    ``codeswarm/<swarm>/<agent>``, merged by the merge queue (docs/isolation.md)."""
    base: str | None = None
    """worktree: what every agent's branch starts from: ``--base REF`` as given, resolved to a
    commit at the first `up` (``base_commit``); None: the project's current HEAD."""
    base_commit: str | None = None
    """worktree: the commit the agents' branches were created from (resolved at the first `up`)."""
    into: str | None = None
    """worktree: the branch the merge queue merges into (None: the branch checked out in the
    project when the swarm was first started, recorded here then)."""
    check: str | None = None
    """worktree: the shell command the merge queue runs (in the merged tree) before it advances
    ``into``; None: no check."""
    worktree_leases: bool = True
    """worktree: leases hold across the agents' worktrees (paths are repo-relative: ``src/a.py``
    leased in one worktree denies ``src/a.py`` in another); False: not enforced (each agent
    alone in its tree, conflicts left to the merge queue)."""


def swarm_scope(spec: SwarmSpec) -> str:
    """The swarm's coordination scope: the one fixed at `up` (older specs: the project root of
    its ``cwd``)."""
    if spec.scope:
        return spec.scope
    from codeswarm.core.paths import project_root

    return str(project_root(Path(spec.cwd)))


def agent_runtime(spec: SwarmSpec, agent: str) -> Runtime:
    """What drives ``agent``: its rank's entry of ``spec.runtimes``, else ``codex``."""
    rank = agent_rank(agent)
    if rank is None or rank >= len(spec.runtimes):
        return "codex"
    return spec.runtimes[rank]


def mock_host_url(spec: SwarmSpec) -> str:
    """``http://host:port`` of the scripted model (``spec.mock_port`` must be set)."""
    host = spec.mock_host or "127.0.0.1"
    if ":" in host and not host.startswith("["):  # an IPv6 address
        host = f"[{host}]"
    return f"http://{host}:{spec.mock_port}"


def mock_anthropic_url(spec: SwarmSpec, agent: str) -> str:
    """The scripted model's ``ANTHROPIC_BASE_URL`` for ``agent``'s Claude Code (its Messages
    API under the agent's prefix)."""
    return f"{mock_host_url(spec)}/agents/{agent}"


def mock_base_url(spec: SwarmSpec, agent: str) -> str:
    """The scripted model's base URL for ``agent``'s Codex (``spec.mock_port`` must be set)."""
    return f"{mock_host_url(spec)}/agents/{agent}/v1"


def check_swarm_name(name: str) -> str:
    if not SWARM_NAME.match(name):
        raise UsageError(
            f"bad swarm name {name!r}: a letter, then letters, digits or '-', at most 40"
        )
    return name


def runs_root(start: Path | None = None) -> Path:
    """Where the swarms of the project holding ``start`` (default: the working directory) live."""
    return state_dir(start) / "runs"


class RunDir:
    """Paths inside one swarm's run directory (nothing is created here)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def of(cls, swarm: str, start: Path | None = None) -> RunDir:
        """Swarm ``swarm`` of the project holding ``start`` (default: the working directory)."""
        return cls(runs_root(start) / check_swarm_name(swarm))

    @classmethod
    def find(cls, swarm: str, start: Path | None = None) -> RunDir:
        """Swarm ``swarm`` as a person means it: of the project holding ``start`` (default: the
        working directory) if it has one of that name; else the one swarm of that name in any
        other project of this user (``up --cwd ELSEWHERE`` then ``send`` from here). With
        ``CODESWARM_STATE_DIR`` set, only that state directory counts. When there is none (or
        several elsewhere), the run of this project: loading its spec says why."""
        here = cls.of(swarm, start)
        if here.spec_path.exists() or os.environ.get("CODESWARM_STATE_DIR"):
            return here
        found = [run for run in _others(here) if run.spec_path.exists()]
        return found[0] if len(found) == 1 else here

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def spec_path(self) -> Path:
        return self.root / "swarm.json"

    @property
    def agents_dir(self) -> Path:
        return self.root / "agents"

    def agent_dir(self, agent: str) -> Path:
        return self.agents_dir / agent

    def agent_state(self, agent: str) -> Path:
        return self.agent_dir(agent) / "state.json"

    def codex_home(self, agent: str) -> Path:
        return self.agent_dir(agent) / "codex-home"

    def claude_home(self, agent: str) -> Path:
        """A Claude agent's ``CLAUDE_CONFIG_DIR`` (:mod:`codeswarm.worker.claude_home`)."""
        return self.agent_dir(agent) / "claude-home"

    def worker_pid(self, agent: str) -> Path:
        return self.agent_dir(agent) / "worker.pid"

    def codex_pid(self, agent: str) -> Path:
        return self.agent_dir(agent) / "codex.pid"

    def worker_log(self, agent: str) -> Path:
        return self.agent_dir(agent) / "worker.log"

    def codex_log(self, agent: str) -> Path:
        return self.agent_dir(agent) / "codex.log"

    def inbox_cursor(self, agent: str) -> Path:
        return self.agent_dir(agent) / "inbox.cursor"

    def worktree(self, agent: str) -> Path:
        """The agent's git worktree (``isolation = "worktree"``)."""
        return self.root / "worktrees" / agent

    @property
    def merge_dir(self) -> Path:
        """The merge queue's journal, state and scratch worktree."""
        return self.root / "merge"

    @property
    def mcp_dir(self) -> Path:
        """The coordination hubs (one per node: ``<host>.json``, its lock and log) and the
        agents' MCP grants (``tokens/``): docs/coordination.md."""
        return self.root / "mcp"

    @property
    def supervisor_pid(self) -> Path:
        return self.root / "supervisor.pid"

    @property
    def supervisor_log(self) -> Path:
        return self.root / "supervisor.log"

    def consumer_cursor(self, name: str) -> Path:
        return self.root / "consumers" / f"{name}.cursor"

    def load_spec(self) -> SwarmSpec:
        try:
            raw = self.spec_path.read_bytes()
        except FileNotFoundError:
            raise UsageError(
                f"no swarm {self.name!r} (no {self.spec_path})" + _elsewhere(self)
            ) from None
        try:
            return msgspec.json.decode(raw, type=SwarmSpec)
        except msgspec.DecodeError as exc:
            raise UsageError(f"{self.spec_path}: {exc}") from exc

    def agents(self, spec: SwarmSpec | None = None) -> list[str]:
        spec = spec or self.load_spec()
        return [agent_id(spec.name, r) for r in range(spec.size)]


def _others(run: RunDir) -> list[RunDir]:
    """The runs of the same name in the other projects' state directories of this user."""
    from codeswarm.core.paths import known_projects

    return [
        RunDir(state / "runs" / run.name)
        for state in known_projects()
        if state / "runs" != run.root.parent
    ]


def _elsewhere(run: RunDir) -> str:
    """Where else a swarm of that name lives (another project's state), as a hint."""
    from codeswarm.core.paths import known_projects

    projects = known_projects()
    places = [
        str(projects[other.root.parent.parent])
        for other in _others(run)
        if other.spec_path.exists()
    ]
    if not places:
        return ""
    return f"; swarms {run.name!r} belong to {', '.join(places)}: run the command from there"


def agent_cwd(spec: SwarmSpec, run: RunDir, agent: str) -> str:
    """Where agent ``agent`` works: its worktree (``isolation = "worktree"``), else ``cwd``."""
    if spec.isolation == "worktree":
        return str(run.worktree(agent))
    return spec.cwd
