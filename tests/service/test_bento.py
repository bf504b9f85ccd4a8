"""``bentoml build`` with the repository's bentofile.yaml succeeds offline, and the Bento's own copy
of the service imports (from the Bento's src/, not from this checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bentoml_build_offline_and_the_bento_service_imports(tmp_path):
    bentoml_home = tmp_path / "bentoml"
    env = {
        **os.environ,
        "BENTOML_HOME": str(bentoml_home),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "BENTOML_DO_NOT_TRACK": "true",
        "DO_NOT_TRACK": "1",
        # no proxy and no index: a build that tried to reach the network would fail, not hang
        "PIP_NO_INDEX": "1",
        "UV_OFFLINE": "1",
    }
    exe = Path(sys.executable).with_name("bentoml")
    proc = subprocess.run(
        [str(exe), "build", "--output", "tag"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    tag = proc.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    name, version = tag.split(":")
    src = bentoml_home / "bentos" / name / version / "src"
    assert (src / "service" / "service.py").is_file() and (src / "trendml" / "config.py").is_file()
    assert not (src / "tests").exists()
    check = (
        "import service.service as s, trendml, sys; "
        "print(s.__file__); print(trendml.__file__); print(s.TriageService.name)"
    )
    env["PYTHONPATH"] = str(src)
    proc = subprocess.run(
        [sys.executable, "-c", check], cwd=src, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    service_file, trendml_file, service_name = proc.stdout.strip().splitlines()[-3:]
    assert service_file.startswith(str(src)) and trendml_file.startswith(str(src))
    assert service_name == "trendml"
