"""``trendml serve``'s environment for ``bentoml serve``: a BentoML home of the server's own (its
Prometheus metric files), on tmpfs when there is one, unless the operator set ``BENTOML_HOME``."""

from __future__ import annotations

import os
from pathlib import Path

from cli.serve import bentoml_home, serve_env

SHM = Path("/dev/shm")
HAS_SHM = SHM.is_dir() and os.access(SHM, os.W_OK | os.X_OK)


def test_each_port_gets_its_own_bentoml_home_on_tmpfs_when_there_is_one(tmp_path):
    a, b = bentoml_home(tmp_path, 3000), bentoml_home(tmp_path, 3001)
    assert a != b, "two servers on one host must not share (and empty) one metrics folder"
    if HAS_SHM:
        assert SHM in a.parents and a.name == "bentoml-3000"
    else:
        assert a == tmp_path / "run" / "bentoml-3000"


def test_serve_env_sets_workers_and_bentoml_home_but_keeps_an_operators_choice(tmp_path):
    env = serve_env(tmp_path, 3005, 2, environ={"PATH": "/usr/bin"})
    assert env["TRENDML_WORKERS"] == "2" and env["PATH"] == "/usr/bin"
    assert env["BENTOML_HOME"] == str(bentoml_home(tmp_path, 3005))
    mine = str(tmp_path / "my-bentoml")
    assert serve_env(tmp_path, 3005, 1, environ={"BENTOML_HOME": mine})["BENTOML_HOME"] == mine
    assert serve_env(tmp_path, 3005, 1, environ={"BENTOML_HOME": ""})["BENTOML_HOME"] != ""


def test_bentoml_runs_in_the_checkout_that_holds_the_service(tmp_path):
    """``bentoml serve`` runs in, and imports ``service.service`` from, the repository root, not the
    folder above it (it was the parent of the checkout, which imported only through the editable
    install and made ``--reload`` watch everything beside the repository)."""
    from cli.serve import REPO_ROOT, SERVICE

    module = SERVICE.split(":")[0].replace(".", "/") + ".py"
    assert (REPO_ROOT / module).is_file() and (REPO_ROOT / "pyproject.toml").is_file()
    env = serve_env(tmp_path, 3006, 1, environ={"PYTHONPATH": "/elsewhere"})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(REPO_ROOT), "/elsewhere"]
