"""The Slurm backend's pure parts: the batch script, Slurm's output, merging job state into the
fleet's. No cluster needed."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import msgspec
import pytest

from codeswarm.control.fleet.state import FAILED, IDLE, STARTING, STOPPED, FleetState
from codeswarm.control.launch import slurm as slurm_fleet
from codeswarm.control.launch.slurm_jobs import (
    JobInfo,
    JobRecord,
    coord_url_for_nodes,
    job_info_from_fields,
    parse_scontrol,
    render_script,
    save_record,
    sbatch_options,
    slurm_message,
)
from codeswarm.core.errors import UsageError
from codeswarm.core.swarm import RunDir, SlurmOptions, SwarmSpec

RUN = Path("/shared/state/runs/demo")


def spec(**kw: object) -> SwarmSpec:
    base: dict[str, object] = {
        "name": "demo",
        "size": 6,
        "cwd": "/shared/repo",
        "codex_bin": "/shared/tools/codex",
        "backend": "slurm",
        "slurm": SlurmOptions(),
    }
    base.update(kw)
    return SwarmSpec(**base)  # type: ignore[arg-type]


def sbatch_lines(text: str) -> list[str]:
    return [ln.removeprefix("#SBATCH ") for ln in text.splitlines() if ln.startswith("#SBATCH ")]


# -- the batch script ------------------------------------------------------------------------------
def test_script_requests_one_task_per_agent_with_every_option_in_order() -> None:
    opts = SlurmOptions(
        nodes=3, ntasks_per_node=2, partition="gpu", account="proj1", qos="high",
        time="2:00:00", sbatch_args=["--constraint=a100", "--mem=8G"], stop_grace_s=90,
    )  # fmt: skip
    text = render_script(spec(slurm=opts), RUN, python="/shared/venv/bin/python", env={})
    assert text.startswith("#!/bin/bash\n")
    assert sbatch_lines(text) == [
        "--job-name=codeswarm-demo",
        "--ntasks=6",
        "--nodes=3",
        "--ntasks-per-node=2",
        "--partition=gpu",
        "--account=proj1",
        "--qos=high",
        "--time=2:00:00",
        "--signal=B:TERM@90",
        "--output=/shared/state/runs/demo/slurm/job-%j.out",
        "--chdir=/shared/repo",
        "--constraint=a100",  # extra options come last: they override ours
        "--mem=8G",
    ]
    assert "GRACE=90" in text
    assert (
        'srun --kill-on-bad-exit=0 "$PYTHON" -P -m codeswarm.control.launch.slurm_task --run-dir "$RUN_DIR"'
        in text
    )
    assert "PYTHON=/shared/venv/bin/python" in text and "RUN_DIR=/shared/state/runs/demo" in text


def test_script_leaves_out_what_was_not_asked_for() -> None:
    text = render_script(spec(), RUN, python="/py", env={})
    flags = [line.split("=")[0] for line in sbatch_lines(text)]
    assert flags == ["--job-name", "--ntasks", "--signal", "--output", "--chdir"]
    assert "mock-model" not in text  # no scripted model unless the swarm uses it
    assert "export " not in text


def test_script_runs_the_scripted_model_in_the_batch_step() -> None:
    s = spec(model_provider="mock", script="/shared/s cript.json", mock_port=4567)
    text = render_script(s, RUN, python="/py", env={})
    assert "mock-model serve --script '/shared/s cript.json' --port 4567" in text
    assert text.index("mock-model serve") < text.index("srun ")


def test_script_exports_the_state_dir_and_coordination_store_quoted() -> None:
    env = {"CODESWARM_STATE_DIR": "/shared/state", "CODESWARM_DB": "postgresql://u:p@db/x?a=1&b=2"}
    text = render_script(spec(), RUN, python="/py", env=env)
    assert "export CODESWARM_STATE_DIR=/shared/state\n" in text
    assert "export CODESWARM_DB='postgresql://u:p@db/x?a=1&b=2'\n" in text


def test_script_quotes_values_with_spaces_and_refuses_newlines() -> None:
    s = spec(cwd="/shared/my repo", slurm=SlurmOptions(sbatch_args=['--comment=a "b" c']))
    lines = sbatch_lines(render_script(s, RUN, python="/py", env={}))
    assert '--chdir="/shared/my repo"' in lines
    assert '--comment="a \\"b\\" c"' in lines
    bad = spec(slurm=SlurmOptions(partition="a\n#SBATCH --x"))
    with pytest.raises(UsageError, match="newline"):
        render_script(bad, RUN, python="/py", env={})


def test_script_is_valid_bash_and_pure() -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    s = spec(model_provider="mock", script="/s.json", mock_port=1)
    text = render_script(s, RUN, python="/py", env={"CODESWARM_DB": "sqlite:///x?journal=delete"})
    assert text == render_script(
        s, RUN, python="/py", env={"CODESWARM_DB": "sqlite:///x?journal=delete"}
    )
    done = subprocess.run([bash, "-n"], input=text, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_old_specs_without_slurm_fields_still_load() -> None:
    raw = b'{"name":"x","size":1,"cwd":"/r","codex_bin":"/c"}'
    old = msgspec.json.decode(raw, type=SwarmSpec)
    assert old.backend == "local" and old.slurm is None
    assert sbatch_options(msgspec.structs.replace(old, backend="slurm"), RUN)[1] == "--ntasks=1"


# -- job shape -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "opts", "message"),
    [
        (3, SlurmOptions(nodes=2, ntasks_per_node=2), "= 4 tasks"),
        (2, SlurmOptions(nodes=3), "more than the 2 agents"),
        (2, SlurmOptions(nodes=0), "at least 1"),
        (2, SlurmOptions(sbatch_args=["constraint=x"]), "sbatch option"),
    ],
)
def test_impossible_job_shapes_are_refused(n: int, opts: SlurmOptions, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        slurm_fleet.check_options(n, opts)


def test_possible_job_shapes_pass() -> None:
    slurm_fleet.check_options(9, SlurmOptions(nodes=3))
    slurm_fleet.check_options(9, SlurmOptions(nodes=3, ntasks_per_node=3))
    slurm_fleet.check_options(1, SlurmOptions())


# -- Slurm's output --------------------------------------------------------------------------------
SCONTROL = (
    "JobId=12 JobName=codeswarm-demo UserId=me(1000) JobState=PENDING Reason=Resources "
    "Dependency=(null) ExitCode=0:0 RunTime=00:00:00 StartTime=Unknown NodeList=(null) "
    "Comment=a b=c d StdOut=/shared/my state/job-12.out Power=\n"
)


def test_scontrol_fields_keep_values_with_spaces() -> None:
    fields = parse_scontrol(SCONTROL)
    assert fields["JobState"] == "PENDING" and fields["Reason"] == "Resources"
    assert fields["StdOut"] == "/shared/my state/job-12.out"
    assert fields["Power"] == ""
    info = job_info_from_fields("12", fields)
    assert info == JobInfo("12", "PENDING", "Resources", "0:0", None, None)
    assert info.active and info.describe() == "job 12 PENDING (Resources)"


def test_job_descriptions_carry_slurms_reason() -> None:
    running = job_info_from_fields(
        "7",
        parse_scontrol(
            "JobId=7 JobState=RUNNING Reason=None ExitCode=0:0 StartTime=2026-01-02T03:04:05 "
            "NodeList=node[1-3]"
        ),
    )
    assert running.active and running.nodes == "node[1-3]" and running.start_time is not None
    assert running.describe() == "job 7 RUNNING on node[1-3]"
    assert JobInfo("7", "CANCELLED").describe() == "job 7 CANCELLED"
    assert not JobInfo("7", "TIMEOUT").active
    failed = JobInfo("7", "FAILED", "NonZeroExitCode", "137:0")
    assert failed.describe() == "job 7 FAILED (NonZeroExitCode, exit code 137:0)"
    assert JobInfo("7", "COMPLETING").active


def test_slurm_errors_become_one_line() -> None:
    stderr = (
        "sbatch: error: invalid partition specified: nope\n"
        "sbatch: error: Batch job submission failed: Invalid partition name specified\n"
    )
    assert slurm_message(stderr) == (
        "invalid partition specified: nope; Batch job submission failed: "
        "Invalid partition name specified"
    )
    assert slurm_message("sbatch: unrecognized option '--x'\nTry \"sbatch --help\"\n") == (
        "unrecognized option '--x'"
    )
    assert slurm_message("") == "no message"


def test_coordination_store_across_nodes() -> None:
    pg = "postgresql://db.example/swarm"
    assert coord_url_for_nodes(pg) == (pg, None)
    url, warning = coord_url_for_nodes("/shared/state/coord.db")
    assert url == "sqlite:///shared/state/coord.db?journal=delete"
    assert warning is not None and "rollback-journal" in warning and "NFS" in warning
    assert "CODESWARM_DB=postgresql://" in warning
    url, _ = coord_url_for_nodes("sqlite:///shared/c.db?synchronous=full")
    assert url == "sqlite:///shared/c.db?journal=delete&synchronous=full"
    url, warning = coord_url_for_nodes("sqlite:///shared/c.db?journal=wal")
    assert url.endswith("journal=wal") and warning is not None and "WAL" in warning


# -- merging Slurm's view into the fleet's ---------------------------------------------------------
@pytest.fixture
def run_with_job(tmp_path: Path) -> tuple[RunDir, SwarmSpec, JobRecord]:
    run = RunDir(tmp_path / "runs" / "demo")
    (run.root / "mailbox" / "outbox").mkdir(parents=True)
    record = JobRecord(
        job_id="12", submitted_ms=int(time.time() * 1000) - 1000, script="s", output="o"
    )
    save_record(run, record)
    return run, spec(size=3), record


def fleet(states: list[str], seen_ms: int) -> FleetState:
    f = FleetState("demo", [f"demo_{i}" for i in range(len(states))])
    for view, state in zip(f.agents.values(), states, strict=True):
        view.state, view.last_seen_ms = state, seen_ms
    return f


def test_an_ended_job_fails_its_agents_with_slurms_reason(
    run_with_job: tuple[RunDir, SwarmSpec, JobRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    run, s, record = run_with_job
    monkeypatch.setattr(slurm_fleet, "job_info", lambda job: JobInfo(job, "CANCELLED"))
    f = fleet([IDLE, STOPPED, "busy"], record.submitted_ms + 10)
    out = slurm_fleet.merge_status(f, run, s)
    assert [v.state for v in f.agents.values()] == [FAILED, FAILED, FAILED]
    assert {v.error for v in f.agents.values()} == {"slurm job 12 CANCELLED"}
    assert out["state"] == "CANCELLED" and out["active"] is False
    # Slurm forgets the job later: the last state it reported is remembered
    monkeypatch.setattr(slurm_fleet, "job_info", lambda job: None)
    f = fleet([IDLE, IDLE, IDLE], record.submitted_ms + 10)
    out = slurm_fleet.merge_status(f, run, s)
    assert out["state"] == "CANCELLED"
    assert f.agents["demo_0"].error == "slurm job 12 CANCELLED (no longer known to Slurm)"


def test_agents_stopped_on_request_stay_stopped(
    run_with_job: tuple[RunDir, SwarmSpec, JobRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    run, s, record = run_with_job
    monkeypatch.setattr(slurm_fleet, "job_info", lambda job: JobInfo(job, "COMPLETED"))
    f = fleet([STOPPED, STOPPED, IDLE], record.submitted_ms + 10)
    slurm_fleet.merge_status(f, run, s)
    assert [v.state for v in f.agents.values()] == [STOPPED, STOPPED, FAILED]
    record.stop_requested_ms = record.submitted_ms + 20  # `down` asked for it
    save_record(run, record)
    monkeypatch.setattr(slurm_fleet, "job_info", lambda job: JobInfo(job, "FAILED", None, "1:0"))
    f = fleet([STOPPED, STOPPED, IDLE], record.submitted_ms + 10)
    slurm_fleet.merge_status(f, run, s)
    assert [v.state for v in f.agents.values()] == [STOPPED, STOPPED, FAILED]


def test_a_pending_job_means_starting_agents(
    run_with_job: tuple[RunDir, SwarmSpec, JobRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    run, s, record = run_with_job
    monkeypatch.setattr(slurm_fleet, "job_info", lambda job: JobInfo(job, "PENDING", "Priority"))
    f = fleet([STOPPED, FAILED, IDLE], record.submitted_ms - 60_000)  # all from an earlier job
    out = slurm_fleet.merge_status(f, run, s)
    assert [v.state for v in f.agents.values()] == [STARTING] * 3
    assert out["describe"] == "job 12 PENDING (Priority)" and out["active"] is True


def test_a_silent_agent_of_a_running_job_has_lost_its_task(
    run_with_job: tuple[RunDir, SwarmSpec, JobRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    run, s, record = run_with_job
    started = time.time() - 10 * slurm_fleet.STALE_AFTER
    info = JobInfo("12", "RUNNING", None, None, "node[1-3]", started)
    monkeypatch.setattr(slurm_fleet, "job_info", lambda job: info)
    outbox = run.root / "mailbox" / "outbox"
    for i in range(3):
        (outbox / f"demo_{i}.jsonl").write_text("{}\n")
    old = time.time() - 2 * slurm_fleet.STALE_AFTER
    os.utime(outbox / "demo_1.jsonl", (old, old))
    f = fleet([IDLE, IDLE, STOPPED], record.submitted_ms + 10)
    slurm_fleet.merge_status(f, run, s)
    states = [v.state for v in f.agents.values()]
    assert states == [IDLE, FAILED, STOPPED]
    assert "no word from its worker" in (f.agents["demo_1"].error or "")
