"""Install once, use anywhere: ``uv tool install`` of codeswarm (from the checkout, and from a
built wheel), and ``pipx install`` of the checkout, into a throwaway tool directory and HOME, then the installed ``codeswarm`` run from a
fresh project elsewhere, with nothing in its environment pointing at the checkout or at a Codex:
the pinned Codex is installed on first need (into the fresh XDG cache), ``exec`` and ``up`` /
``send --wait`` / ``down`` run against the scripted model.

No network: uv resolves against a wheelhouse repacked from the wheels ``scripts/setup`` left in
uv's cache (``--offline --no-index``, pinned to ``uv.lock``), and npm installs Codex from the
person's npm cache (``npm_config_offline``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmkit import ROOT, need

pytestmark = [pytest.mark.slow, pytest.mark.codex]

UV = ROOT / ".codeswarm" / "bootstrap" / "bin" / "uv"
SCRIPT = """\
agents:
  "*":
    - exec: echo hi > out.txt
    - text: I wrote out.txt for you.
"""
SWARM_SCRIPT = """\
agents:
  "*":
    - text: hello from the swarm
"""


def _uv(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(UV), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"uv {' '.join(args)}: {done.stderr}"
    return done.stdout


def _wheel_name(unpacked: Path) -> str | None:
    """The file name of the wheel ``unpacked`` was (from its dist-info's ``Tag:`` lines)."""
    infos = list(unpacked.glob("*.dist-info"))
    if len(infos) != 1:
        return None
    lines = (infos[0] / "WHEEL").read_text().splitlines()
    tags = [line.split(":", 1)[1].strip().split("-") for line in lines if line.startswith("Tag:")]
    if not tags:
        return None
    parts = [".".join(sorted({tag[i] for tag in tags})) for i in range(3)]
    return f"{infos[0].name.removesuffix('.dist-info')}-{'-'.join(parts)}.whl"


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every registry wheel in uv's cache, zipped back into a wheel file (uv keeps them
    unpacked, byte for byte, RECORD included): what ``--find-links`` needs to install offline."""
    if not UV.is_file():
        need(f"no {UV}: run scripts/setup")
    cache = Path(_uv("cache", "dir").strip()) / "wheels-v8" / "pypi"
    house = tmp_path_factory.mktemp("wheelhouse")
    for entry in sorted(cache.glob("*/*")) if cache.is_dir() else []:
        if not entry.is_dir():  # the .http and .lock files beside each unpacked wheel
            continue
        unpacked = entry.resolve()
        name = _wheel_name(unpacked)
        if name is None:
            continue
        with zipfile.ZipFile(house / name, "w", zipfile.ZIP_STORED) as wheel:
            for parent, _dirs, files in os.walk(unpacked):
                for file in files:
                    full = Path(parent, file)
                    wheel.write(full, full.relative_to(unpacked).as_posix())
    if not any(house.glob("msgspec-*.whl")) or not any(house.glob("hatchling-*.whl")):
        need(f"uv's cache ({cache}) lacks codeswarm's wheels: run scripts/setup")
    return house


@pytest.fixture(scope="module")
def constraints(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """The locked versions of codeswarm's dependencies (``uv.lock``), as constraints."""
    out = tmp_path_factory.mktemp("lock") / "constraints.txt"
    _uv(
        "export",
        "--frozen",
        "--no-dev",
        "--no-emit-project",
        "--no-hashes",
        "--quiet",
        "--format",
        "requirements-txt",
        "-o",
        str(out),
        cwd=ROOT,
    )
    return out


@pytest.fixture
def person(tmp_path: Path, codex_binary) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """A new user: an empty HOME and XDG directories, no Codex, a PATH with only the system's
    tools (node and npm among them) and the tool bin directory; npm offline on the real npm
    cache (which ``scripts/setup`` filled when it installed Codex)."""
    npm = shutil.which("npm")
    node = shutil.which("node")
    if npm is None or node is None:
        need("node and npm are needed to install Codex on first use")
    cache = subprocess.run(
        [npm, "config", "get", "cache"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    user = tmp_path / "user"
    dirs = {
        "HOME": user / "home",
        "XDG_CACHE_HOME": user / "cache",
        "XDG_STATE_HOME": user / "state",
        "XDG_CONFIG_HOME": user / "config",
        "XDG_DATA_HOME": user / "data",
        "UV_TOOL_DIR": user / "tools",
        "UV_TOOL_BIN_DIR": user / "bin",
        "UV_CACHE_DIR": user / "uv-cache",
    }
    for directory in dirs.values():
        directory.mkdir(parents=True)
    system = dict.fromkeys([os.path.dirname(npm), os.path.dirname(node), "/usr/bin", "/bin"])
    env = {
        **{k: str(v) for k, v in dirs.items()},
        "PATH": os.pathsep.join([str(dirs["UV_TOOL_BIN_DIR"]), *system]),
        "LANG": "C.UTF-8",
        "UV_PYTHON_DOWNLOADS": "never",
        "npm_config_cache": cache,
        "npm_config_offline": "true",
        "npm_config_update_notifier": "false",
    }
    from codeswarm.core.paths import tools_dir

    real_tools = str(tools_dir())  # the real user's Codex
    for key, value in env.items():  # nothing that leads back to the checkout or to a Codex
        assert not key.startswith(("CODESWARM_", "CODEX_", "PYTHON")), key
        assert str(ROOT) not in value and real_tools not in value, (key, value)
    yield env
    shutil.rmtree(user / "cache", ignore_errors=True)  # the 400 MB Codex


def _pipx() -> str:
    """Debian's pipx (installed with apt-get when missing, as the other system parts are)."""
    found = shutil.which("pipx")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-q", "pipx"]
        if subprocess.run(apt, capture_output=True, timeout=600).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600)
            subprocess.run(apt, capture_output=True, timeout=600)
        found = shutil.which("pipx")
    if found is None:
        need("pipx is not installed and cannot be (apt-get install pipx)")
    return str(found)


def _pipx_install(
    person: dict[str, str], wheelhouse: Path, constraints: Path, tmp_path: Path
) -> Path:
    """``pipx install`` of the checkout, offline (pip's index off, the wheelhouse, the lock's
    versions); its app goes where the tool bin directory is on the person's PATH."""
    env = {**person, "PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": person["UV_TOOL_BIN_DIR"],
           "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse),
           "PIP_CONSTRAINT": str(constraints)}  # fmt: skip
    done = subprocess.run([_pipx(), "install", "--python", sys.executable, str(ROOT)], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr  # (pipx may say it could not upgrade pip: offline)
    (site,) = (tmp_path / "pipx").glob("venvs/codex-swarm/lib/python3*/site-packages")
    assert (site / "codeswarm" / "cli" / "__init__.py").is_file()
    assert not any(str(ROOT) in pth.read_text() for pth in site.glob("*.pth"))
    return Path(person["UV_TOOL_BIN_DIR"]) / "codeswarm"


def _install(
    source: str, person: dict[str, str], wheelhouse: Path, constraints: Path, tmp_path: Path
) -> Path:
    """``uv tool install`` codeswarm from ``source`` ("checkout" or "wheel"), offline; or
    ``pipx install`` of the checkout ("pipx")."""
    if source == "pipx":
        return _pipx_install(person, wheelhouse, constraints, tmp_path)
    offline = ["--offline", "--no-index", "--find-links", str(wheelhouse)]
    target = str(ROOT)
    if source == "wheel":
        dist = tmp_path / "dist"
        _uv("build", "--wheel", *offline, "--out-dir", str(dist), str(ROOT), env=person)
        (wheel,) = dist.glob("*.whl")
        target = str(wheel)
    _uv(
        "tool",
        "install",
        *offline,
        "-c",
        str(constraints),
        "--python",
        sys.executable,
        target,
        env=person,
        cwd=tmp_path,
    )
    exe = Path(person["UV_TOOL_BIN_DIR"]) / "codeswarm"
    assert exe.exists()
    # a copy of the package, not a link back to the checkout (an editable install's .pth)
    (site,) = Path(person["UV_TOOL_DIR"]).glob("codex-swarm/lib/python3*/site-packages")
    assert (site / "codeswarm" / "cli" / "__init__.py").is_file()
    assert not any(str(ROOT) in pth.read_text() for pth in site.glob("*.pth"))
    return exe


def _run(
    args: list[str], person: dict[str, str], cwd: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_installed(person), *args],
        env={**person, **extra},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _installed(person: dict[str, str]) -> str:
    """The ``codeswarm`` the person's PATH finds: the tool's, never the checkout's."""
    exe = shutil.which("codeswarm", path=person["PATH"])
    assert exe is not None and exe.startswith(person["UV_TOOL_BIN_DIR"]), exe
    return exe


def _project(parent: Path, name: str) -> Path:
    project = parent / name
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True, timeout=60)
    (project / "script.yaml").write_text(SCRIPT)
    (project / "swarm.yaml").write_text(SWARM_SCRIPT)
    return project


@pytest.mark.parametrize("source", ["checkout", "wheel", "pipx"])
def test_installed_tool_works_in_any_project(
    source: str,
    person: dict[str, str],
    wheelhouse: Path,
    constraints: Path,
    tmp_path: Path,
) -> None:
    _install(source, person, wheelhouse, constraints, tmp_path)
    projects = tmp_path / "elsewhere"
    projects.mkdir()
    first, second = _project(projects, "alpha"), _project(projects, "beta")
    tools = Path(person["XDG_CACHE_HOME"]) / "codeswarm" / "tools"
    exec_args = ["exec", "write out.txt", "--model-provider", "mock", "--script", "script.yaml"]

    # installing on first use turned off: one line that says so, and nothing installed
    off = _run(exec_args, person, first, CODESWARM_AUTO_INSTALL="0")
    assert off.returncode == 1, off
    assert off.stderr.count("\n") == 1 and "no Codex CLI found" in off.stderr
    assert "CODESWARM_AUTO_INSTALL=0" in off.stderr
    assert not (tools / "codex-0.169.0").exists() and not (first / "out.txt").exists()

    # first use, in two projects at once: one install (the lock), both runs served
    runs = [
        subprocess.Popen(
            [_installed(person), *exec_args],
            env=person,
            cwd=p,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for p in (first, second)
    ]
    outs = [p.communicate(timeout=600) for p in runs]
    for p, (out, err) in zip(runs, outs, strict=True):
        assert p.returncode == 0, (out, err)
        assert "I wrote out.txt for you." in out
    said = "".join(err for _out, err in outs)
    assert "installing @openai/codex@" in said and "installed codex" in said
    assert [d.name for d in tools.iterdir() if not d.name.endswith(".lock")] == ["codex-0.169.0"]
    assert (first / "out.txt").read_text() == (second / "out.txt").read_text() == "hi\n"

    # a fleet in a fresh project, started from yet another directory (--cwd)
    up = _run(
        [
            "up",
            "-n",
            "2",
            "--name",
            "t",
            "--model-provider",
            "mock",
            "--script",
            str(first / "swarm.yaml"),
            "--cwd",
            str(first),
        ],
        person,
        projects,
    )
    try:
        assert up.returncode == 0, up
        assert "swarm t is up: 2 agents ready" in up.stdout
        assert "installing" not in up.stderr  # installed once, for every project
        sent = _run(["send", "t", "all", "hi", "--wait"], person, first)
        assert sent.returncode == 0, sent
        assert sorted(sent.stdout.splitlines()) == [
            "t_0: hello from the swarm",
            "t_1: hello from the swarm",
        ]
    finally:
        down = _run(["down", "t"], person, first)
    assert down.returncode == 0, down
    assert "swarm t is down" in down.stdout
    # the state is the user's, keyed by the project (not by where `up` ran): none in the project
    states = {
        (d / "project").read_text().strip(): d
        for d in (Path(person["XDG_STATE_HOME"]) / "codeswarm" / "projects").iterdir()
    }
    assert str(projects.resolve()) not in states
    state = states[str(first.resolve())]
    assert (state / "runs" / "t" / "swarm.json").is_file() and (state / "coord.db").is_file()
    assert not (first / ".codeswarm").exists()
