"""The API tests' fixtures: a live ``codeswarm serve`` over real local swarms (helpers in
``tests/apikit.py``)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from apikit import Project, Served
from swarmkit import Swarm, open_swarms


@pytest.fixture(scope="module")
def api_project(tmp_path_factory: pytest.TempPathFactory, codex_binary: Any) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("api")
    with open_swarms(Swarm, root, codex_binary.path, state=root / "state") as make:
        env = {
            **os.environ,  # as open_swarms gives its swarms, and the token's home
            "CODESWARM_STATE_DIR": str(root / "state"),
            "CODESWARM_CODEX_BIN": str(codex_binary.path),
            "CODEX_HOME": str(root / "user-codex-home"),
            "XDG_STATE_HOME": str(root / "xdg-state"),
        }
        project = Project(root, env, make)
        project.workdir.mkdir()
        subprocess.run(["git", "init", "-q", str(project.workdir)], check=True, timeout=60)
        yield project


@pytest.fixture(scope="module")
def live_api(api_project: Project) -> Iterator[Served]:
    served = Served.start(api_project)
    try:
        yield served
    finally:
        code = served.stop()
        assert code == 0, (code, served.stderr()[-2000:])
        assert not served.serve_json.exists(), "serve.json outlived a clean stop"
