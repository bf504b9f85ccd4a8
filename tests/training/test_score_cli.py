"""``trendml score`` and ``trendml models`` through the real entry point (in-process):
output contract, and bad input -> exit code 2, one line, no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from cli.main import main


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return (exc.value.code or 0), out.out, out.err


@pytest.fixture
def items_file(tmp_path):
    rows = [
        {"id": "a1", "text": "have a lovely day, see you at the park"},
        {"id": "b2", "caption": "video caption about cooking pasta"},
        {"id": "c3", "text": "you are an idiot and everyone hates you", "region": "US"},
        {"id": "d4", "text": "we should welcome our new neighbours"},
    ]
    p = tmp_path / "items.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p, [r["id"] for r in rows]


@pytest.fixture
def registry_env(first_run, registry_home, monkeypatch):
    monkeypatch.setenv("TRENDML_HOME", str(registry_home))
    return registry_home


def test_score_contract(registry_env, items_file, tmp_path, capsys):
    path, ids = items_file
    out = tmp_path / "scores.jsonl"
    code, _, err = run_cli(["score", str(path), "-o", str(out)], capsys)
    assert code == 0, err
    scores = [json.loads(line) for line in out.read_text().splitlines()]
    assert [s["id"] for s in scores] == ids
    from training.registry import champion_version
    from trendml.config import Settings

    champ = champion_version(Settings.from_env())
    for s in scores:
        assert set(s) == {"id", "severity", "severity_probs", "model"}
        assert s["severity"] in (0, 1, 2, 3)
        assert len(s["severity_probs"]) == 4 and abs(sum(s["severity_probs"]) - 1) < 1e-6
        assert s["model"] == {"name": "trendml-severity", "version": champ}


def test_score_explicit_version_and_skip_invalid(registry_env, tmp_path, capsys):
    p = tmp_path / "mixed.jsonl"
    p.write_text(
        '{"id": "ok1", "text": "hello there"}\n{"id": "bad"}\n{"id": "ok2", "text": "good morning"}\n'
    )
    out = tmp_path / "s.jsonl"
    code, _, err = run_cli(["score", str(p), "-o", str(out)], capsys)
    assert code == 2 and "line 2" in err and "Traceback" not in err
    code, _, err = run_cli(
        ["score", str(p), "-o", str(out), "--skip-invalid", "--model", "models:/trendml-severity/1"], capsys
    )
    assert code == 0, err
    scores = [json.loads(line) for line in out.read_text().splitlines()]
    assert [s["id"] for s in scores] == ["ok1", "ok2"] and scores[0]["model"]["version"] == "1"


@pytest.mark.parametrize(
    ("model", "expect"),
    [
        ("models:/trendml-severity/99", "no version 99"),
        ("models:/no-such-model@champion", "no model"),
        ("/nonexistent/model/dir", "neither a models:/ URI nor an existing directory"),
    ],
)
def test_score_unknown_model(registry_env, items_file, tmp_path, capsys, model, expect):
    code, _, err = run_cli(
        ["score", str(items_file[0]), "-o", str(tmp_path / "s.jsonl"), "--model", model], capsys
    )
    assert code == 2 and expect in err and "Traceback" not in err
    assert not (tmp_path / "s.jsonl").exists()


def test_score_corrupt_model_file(registry_env, items_file, tmp_path, capsys):
    from training.registry import _find_model_dir

    src = _find_model_dir(registry_env / "models" / "registry" / "trendml-severity")
    bad = tmp_path / "bad_model"
    shutil.copytree(src, bad)
    (bad / "severity_model.skops").write_bytes(b"\x00garbage")
    code, _, err = run_cli(
        ["score", str(items_file[0]), "-o", str(tmp_path / "s.jsonl"), "--model", str(bad)], capsys
    )
    assert code == 2 and "corrupt" in err and "Traceback" not in err


def test_score_progress_lines_when_not_a_terminal(registry_env, tmp_path, capsys):
    """stderr is not a terminal here: a line per 1,000 items instead of nothing (issue #21.7)."""
    texts = ["good morning all", "see you at the game", "what a lovely day"]
    p = tmp_path / "many.jsonl"
    p.write_text("".join(json.dumps({"id": f"i{k}", "text": texts[k % 3]}) + "\n" for k in range(2100)))
    code, _, err = run_cli(["score", str(p), "-o", str(tmp_path / "s.jsonl")], capsys)
    assert code == 0, err
    assert [line for line in err.splitlines() if line.startswith("embedded ")] == [
        "embedded 1000/2100 items",
        "embedded 2000/2100 items",
        "embedded 2100/2100 items",
    ]
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 2100


def test_score_no_registry_and_empty_input(items_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRENDML_HOME", str(tmp_path / "fresh"))
    code, _, err = run_cli(["score", str(items_file[0]), "-o", str(tmp_path / "s.jsonl")], capsys)
    assert code == 2 and "trendml train severity" in err and "Traceback" not in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, _, err = run_cli(["score", str(empty), "-o", str(tmp_path / "s.jsonl")], capsys)
    assert code == 2 and "error:" in err and "Traceback" not in err


def test_models_cli(registry_env, first_run, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run_cli(["models", "compare"], capsys)  # not a terminal: one block per run
    assert code == 0, err
    assert first_run.run_id[:8] in out and "tiny-v1" in out and "features stack_nb" in out
    assert "dav.macro_f1 0." in out and max(len(line) for line in out.splitlines()) <= 80
    code, out, err = run_cli(["models", "compare", "--metric", "test.davidson.ece"], capsys)
    assert code == 0 and "dav.ece 0." in out and "dav.macro_f1" not in out
    code, out, err = run_cli(["models", "compare", "--metric", "test.davidson.no_such"], capsys)
    assert code == 2 and "--metric test.davidson.no_such is not logged" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, out, err = run_cli(["models", "list"], capsys)
    assert code == 0 and "trendml-severity" in out
    assert "champion alias history" in out and "register" in out and "since" in out
    code, _, err = run_cli(["models", "rollback"], capsys)  # default floors: the tiny models miss them
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    code, _, err = run_cli(["models", "promote", "trendml-severity", "--version", "42"], capsys)
    assert code == 2 and "no version 42" in err


def test_score_error_in_a_real_process(items_file, tmp_path):
    """The installed console script: no registry -> one line on stderr, exit 2, no traceback."""
    env = {"TRENDML_HOME": str(tmp_path / "nothing"), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "score",
            str(items_file[0]),
            "-o",
            str(tmp_path / "o.jsonl"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-500:]
    assert "trendml train severity" in proc.stderr and "Traceback" not in proc.stderr
