"""The ``slurm`` launch backend at the Slurm boundary: the batch script, ``sbatch``, job state,
``scancel``. Slurm's own words reach the user as one-line errors.

In the run directory::

    slurm.json            the job: id, when submitted, whether `down` asked it to stop (atomic)
    slurm.lock            held while slurm.json is changed (`status` and `down` both write it)
    slurm/job.sh          the batch script as submitted (``sbatch slurm/job.sh`` resubmits it)
    slurm/job-<id>.out    the batch script's output, and every task's supervisor log

The job: one task per agent (``srun``), each task a :mod:`codeswarm.control.launch.slurm_task` that runs
and, after a crash, restarts its worker. The batch shell runs the scripted model when the swarm
uses it. Stop: SIGTERM to the batch shell (``down``: ``scancel --batch --signal=TERM``; the time
limit: ``--signal=B:TERM@grace``) → the shell sends SIGTERM to every task (``scancel --signal=TERM``
without ``--batch`` signals the steps, not the shell) → workers interrupt their turns and stop →
the step ends → the shell stops the model and exits. If the tasks are not done after the grace
period, the shell terminates the step (srun on SIGTERM kills it).
"""

from __future__ import annotations

import fcntl
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec

from codeswarm.core.atomic import atomic_write
from codeswarm.core.errors import SlurmError, SlurmRejectedError, UsageError
from codeswarm.core.swarm import RunDir, SlurmOptions, SwarmSpec

SLURM_CMD_TIMEOUT = 60.0
"""How long a Slurm command (sbatch, scontrol, scancel) may take before we give up on it."""
TERMINAL_STATES = frozenset(
    {
        "COMPLETED",
        "CANCELLED",
        "FAILED",
        "TIMEOUT",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "OUT_OF_MEMORY",
        "REVOKED",
    }
)
"""Job states after which nothing of the job runs any more (any other state: it may still)."""
EXPORTED_ENV = ("CODESWARM_STATE_DIR", "CODESWARM_DB", "CODESWARM_CONFIG")
"""Variables the batch script sets explicitly (a site may submit with ``--export=NONE``)."""


# -- the job record (slurm.json) -----------------------------------------------------------------
class JobRecord(msgspec.Struct, kw_only=True):
    job_id: str
    submitted_ms: int
    script: str
    output: str
    stop_requested_ms: int | None = None
    """Set by `down` before it signals the job: the job's end was asked for, not suffered."""
    last_state: str | None = None
    last_reason: str | None = None
    """The last state Slurm reported, kept for when Slurm has forgotten the job."""
    previous_jobs: list[str] = []


def record_path(run: RunDir) -> Path:
    return run.root / "slurm.json"


def slurm_dir(run: RunDir) -> Path:
    return run.root / "slurm"


def load_record(run: RunDir) -> JobRecord | None:
    try:
        raw = record_path(run).read_bytes()
    except FileNotFoundError:
        return None
    try:
        return msgspec.json.decode(raw, type=JobRecord)
    except msgspec.DecodeError as exc:
        raise UsageError(f"{record_path(run)}: {exc}") from exc


def save_record(run: RunDir, record: JobRecord) -> None:
    atomic_write(record_path(run), msgspec.json.format(msgspec.json.encode(record), indent=2))


def update_record(run: RunDir, job_id: str, **changes: object) -> JobRecord | None:
    """Change fields of the job's record under a lock (`status` and `down` may both write it):
    re-read, change, save. Nothing happens if the record is now about another job."""
    with open(run.root / "slurm.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = load_record(run)
        if record is None or record.job_id != job_id:
            return record
        record = msgspec.structs.replace(record, **changes)
        save_record(run, record)
        return record


# -- job state -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobInfo:
    """What Slurm says about a job now."""

    job_id: str
    state: str
    reason: str | None = None
    exit_code: str | None = None
    nodes: str | None = None
    start_time: float | None = None
    """When it started running (epoch seconds), if it has."""

    @property
    def active(self) -> bool:
        return self.state not in TERMINAL_STATES

    def describe(self) -> str:
        """One line in Slurm's words: ``job 12 PENDING (Resources)``, ``job 12 RUNNING on
        node[1-3]``, ``job 12 FAILED (NonZeroExitCode, exit code 1:0)``."""
        text = f"job {self.job_id} {self.state}"
        if self.state == "RUNNING" and self.nodes:
            return f"{text} on {self.nodes}"
        extra = [self.reason] if self.reason else []
        if self.exit_code and self.exit_code != "0:0" and not self.active:
            extra.append(f"exit code {self.exit_code}")
        return f"{text} ({', '.join(extra)})" if extra else text


_FIELD = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=")


def parse_scontrol(text: str) -> dict[str, str]:
    """``scontrol show job -o`` output (one line of ``Key=value`` pairs; values may hold
    spaces) → a dict."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    marks = list(_FIELD.finditer(line))
    out = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(line)
        out[m.group(1)] = line[m.end() : end].strip()
    return out


def _none(value: str | None) -> str | None:
    return None if value in (None, "", "None", "(null)", "Unknown", "N/A") else value


def _time(value: str | None) -> float | None:
    value = _none(value)
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()  # local time, as scontrol prints it
    except ValueError:
        return None


def job_info_from_fields(job_id: str, fields: Mapping[str, str]) -> JobInfo:
    state = (fields.get("JobState") or "UNKNOWN").split()[0]
    return JobInfo(
        job_id=job_id,
        state=state,
        reason=_none(fields.get("Reason")),
        exit_code=_none(fields.get("ExitCode")),
        nodes=_none(fields.get("NodeList")),
        start_time=_time(fields.get("StartTime")) if state != "PENDING" else None,
    )


def _slurm(
    argv: Sequence[str], *, timeout: float = SLURM_CMD_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise UsageError(
            f"{argv[0]} not found: run codeswarm on a Slurm login node (or load the slurm module)"
        ) from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{argv[0]} did not answer within {timeout:.0f}s") from None


def slurm_message(stderr: str, stdout: str = "") -> str:
    """Slurm's error output as one line: its ``error:`` lines without the program prefix."""
    lines = [ln.strip() for ln in (stderr or stdout).splitlines() if ln.strip()]
    errors = [re.sub(r"^\w+: (error: )?", "", ln) for ln in lines if "error" in ln.lower()]
    picked = errors or [re.sub(r"^\w+: ", "", ln) for ln in lines if not ln.startswith("Try ")]
    seen: list[str] = []
    for item in picked:
        if item not in seen:
            seen.append(item)
    return "; ".join(seen) or "no message"


def job_info(job_id: str) -> JobInfo | None:
    """What Slurm says about ``job_id`` (``scontrol show job``, else ``sacct``), or ``None`` when
    it no longer knows the job (finished longer ago than MinJobAge, without accounting)."""
    done = _slurm(["scontrol", "show", "job", "-o", job_id])
    if done.returncode == 0 and done.stdout.strip():
        return job_info_from_fields(job_id, parse_scontrol(done.stdout))
    if "Invalid job id" not in (done.stderr + done.stdout):
        raise SlurmError(f"scontrol show job {job_id}: {slurm_message(done.stderr, done.stdout)}")
    acct = _slurm(["sacct", "-j", job_id, "-X", "-n", "-P", "-o", "State,Reason,ExitCode,NodeList"])
    line = (
        acct.stdout.strip().splitlines()[0] if acct.returncode == 0 and acct.stdout.strip() else ""
    )
    if not line:
        return None  # accounting disabled, or the job is unknown to it too
    state, reason, exit_code, nodes = [*line.split("|"), "", "", ""][:4]
    return JobInfo(job_id, state.split()[0], _none(reason), _none(exit_code), _none(nodes))


def submit(script: Path) -> str:
    """``sbatch`` the script; returns the job id. Raises SlurmRejectedError with Slurm's message."""
    done = _slurm(["sbatch", "--parsable", str(script)])
    if done.returncode != 0:
        raise SlurmRejectedError(f"sbatch rejected the job: {slurm_message(done.stderr)}")
    job_id = done.stdout.strip().split(";")[0]  # "123" or "123;cluster"
    if not job_id.isdigit():
        raise SlurmError(f"sbatch printed no job id: {done.stdout.strip()!r}")
    return job_id


def signal_job(job_id: str, signal: str, *, batch: bool) -> None:
    """``scancel --signal``: to the batch shell only (``batch``) or to every step."""
    argv = ["scancel", f"--signal={signal}", *(["--batch"] if batch else []), job_id]
    _check(argv, _slurm(argv))


def cancel(job_id: str) -> None:
    """``scancel``: Slurm ends the job (SIGTERM to everything, SIGKILL after KillWait)."""
    argv = ["scancel", job_id]
    _check(argv, _slurm(argv))


def _check(argv: list[str], done: subprocess.CompletedProcess[str]) -> None:
    text = done.stderr + done.stdout
    # a job that ended meanwhile is not an error for us
    if (
        done.returncode != 0
        and "already completing or completed" not in text
        and "Invalid job id" not in text
    ):
        raise SlurmError(f"{' '.join(argv)}: {slurm_message(done.stderr, done.stdout)}")


# -- the coordination store across nodes -----------------------------------------------------------
def coord_url_for_nodes(url: str) -> tuple[str, str | None]:
    """The coordination database URL the tasks should use, and a warning when it is SQLite.

    PostgreSQL is passed through. SQLite must be on the shared filesystem and use the rollback
    journal there (WAL needs shared memory that nodes do not share)."""
    if url.startswith(("postgresql://", "postgres://")):
        return url, None
    if url.startswith("sqlite:"):
        path, _, query = url[len("sqlite:") :].lstrip("/").partition("?")
        path = "/" + path
        params = [p for p in query.split("&") if p and not p.startswith("journal=")]
        journal = next((p for p in query.split("&") if p.startswith("journal=")), "journal=delete")
        query = "&".join([journal, *params])
    else:
        path, query = url, "journal=delete"
    resolved = f"sqlite://{path}?{query}"
    warning = (
        f"coordination store is SQLite on the shared filesystem ({path}, rollback-journal mode): "
        "file locking on NFS/Lustre is slow and can be unreliable, which risks lost updates "
        "between agents on different nodes; set CODESWARM_DB=postgresql://… to avoid it"
    )
    if "journal=wal" in query:
        warning = (
            f"coordination store {path} uses WAL mode, which does not work across nodes on a "
            "network filesystem; use ?journal=delete or a PostgreSQL URL"
        )
    return resolved, warning


# -- the batch script ------------------------------------------------------------------------------
def _sbatch_line(option: str) -> str:
    if "\n" in option or "\r" in option:
        raise UsageError(f"an sbatch option may not contain a newline: {option!r}")
    key, sep, value = option.partition("=")
    if sep and any(c.isspace() for c in value):
        value = '"' + value.replace('"', '\\"') + '"'
    return f"#SBATCH {key}{sep}{value}"


def sbatch_options(spec: SwarmSpec, run_root: Path) -> list[str]:
    """The job's sbatch options, in the order they are written (extra ones last: they win)."""
    opts = spec.slurm or SlurmOptions()
    out = [f"--job-name=codeswarm-{spec.name}", f"--ntasks={spec.size}"]
    if opts.nodes is not None:
        out.append(f"--nodes={opts.nodes}")
    if opts.ntasks_per_node is not None:
        out.append(f"--ntasks-per-node={opts.ntasks_per_node}")
    for flag, value in (
        ("--partition", opts.partition),
        ("--account", opts.account),
        ("--qos", opts.qos),
        ("--time", opts.time),
    ):
        if value:
            out.append(f"{flag}={value}")
    out += [
        f"--signal=B:TERM@{opts.stop_grace_s}",
        f"--output={run_root / 'slurm' / 'job-%j.out'}",
        f"--chdir={spec.cwd}",
        *opts.sbatch_args,
    ]
    return out


def render_script(spec: SwarmSpec, run_root: Path, *, python: str, env: Mapping[str, str]) -> str:
    """The batch script for ``spec`` (pure: same inputs, same text). ``python`` runs the
    workers (it must be reachable from every node: the venv on the shared filesystem);
    ``env`` holds the :data:`EXPORTED_ENV` values to set in the job."""
    opts = spec.slurm or SlurmOptions()
    q = shlex.quote
    head = [
        "#!/bin/bash",
        f"# codeswarm swarm {spec.name}: {spec.size} agent{'s' if spec.size != 1 else ''}, one per "
        "task. Written by `codeswarm up --backend slurm`;",
        f"# to resubmit it by hand: codeswarm down {spec.name}; sbatch {q(str(run_root / 'slurm' / 'job.sh'))}",
        *(_sbatch_line(o) for o in sbatch_options(spec, run_root)),
        "",
        "set -u",
        f"RUN_DIR={q(str(run_root))}",
        f"PYTHON={q(python)}",
        f"GRACE={int(opts.stop_grace_s)}",
        *(f"export {k}={q(env[k])}" for k in EXPORTED_ENV if env.get(k)),
    ]
    body = r"""
log() { printf '%s codeswarm job %s: %s\n' "$(date '+%F %T')" "${SLURM_JOB_ID:-?}" "$*"; }

step=
model=
merge=
timer=
stopping=
on_stop() {
    [ -n "$stopping" ] && return
    stopping=1
    log "stop signal: SIGTERM to every task, ${GRACE}s before the step is killed"
    # without --batch, scancel signals the job's steps (the workers), not this shell
    scancel --signal=TERM "$SLURM_JOB_ID" 2>/dev/null || { [ -n "$step" ] && kill -TERM "$step"; }
    ( sleep "$GRACE"; log "grace period over: terminating the job step"
      [ -n "$step" ] && kill -TERM "$step" ) &
    timer=$!
}
trap on_stop TERM INT
log "starting on $SLURM_JOB_NODELIST"
"""
    model = ""
    if spec.model_provider == "mock" and spec.script and spec.mock_port:
        host = q(spec.mock_host) if spec.mock_host else '"$(hostname)"'
        model = f"""
# the scripted model, in the batch step on the first node, at an address every node reaches;
# the spec records it before the workers start (they read the model's URL from the spec)
MODEL_HOST={host}
"$PYTHON" -P -m codeswarm mock-model serve --script {q(spec.script)} --port {spec.mock_port} \\
    --host "$MODEL_HOST" --log "$RUN_DIR/model-requests.jsonl" >>"$RUN_DIR/model.log" 2>&1 &
model=$!
"$PYTHON" -P -m codeswarm.control.launch.slurm_task --run-dir "$RUN_DIR" \\
    --model-host "$MODEL_HOST" || log "could not record the model's host in the spec"
"""
    merge = ""
    if spec.isolation == "worktree":
        merge = r"""
# the merge queue process (docs/isolation.md), in the batch step; started again if it dies
# (0: stopped on request, 2: another one has this swarm)
mkdir -p -m 700 "$RUN_DIR/merge"
( while :; do
    "$PYTHON" -P -m codeswarm.control.merge.runner --run-dir "$RUN_DIR"
    case $? in 0|2) break ;; esac
    sleep 1
  done ) >>"$RUN_DIR/merge/runner.log" 2>&1 &
merge=$!
"""
    tail = r"""
[ -n "$stopping" ] && { log "stopped before the workers started"; exit 0; }
srun --kill-on-bad-exit=0 "$PYTHON" -P -m codeswarm.control.launch.slurm_task --run-dir "$RUN_DIR" &
step=$!
while :; do
    wait "$step"
    kill -0 "$step" 2>/dev/null || break  # else a signal interrupted the wait: keep waiting
done
wait "$step"
rc=$?
if [ -n "$timer" ]; then
    pkill -P "$timer" 2>/dev/null
    kill "$timer" 2>/dev/null
    wait "$timer" 2>/dev/null
fi
if [ -n "$model" ]; then
    kill -TERM "$model" 2>/dev/null
    wait "$model" 2>/dev/null
fi
if [ -n "$merge" ]; then
    pkill -TERM -P "$merge" 2>/dev/null
    wait "$merge" 2>/dev/null
fi
if [ -n "$stopping" ]; then
    log "stopped (job step exit code $rc)"
else
    log "the job step ended without a stop request (exit code $rc)"
fi
exit "$rc"
"""
    return "\n".join(head) + "\n" + body + model + merge + tail
