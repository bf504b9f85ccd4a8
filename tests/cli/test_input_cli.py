"""Issue 19 on the command line, through the real ``trendml`` entry point: one line and exit 2
for a client's mistake, checked before any work; ``--skip-invalid`` rejects instead of crashing."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.conftest import call
from tests.service.harness import cli

BAD_LINES = [
    {"id": "h9", "text": "abc", "created_at": "0001-01-01T00:00:00+01:00"},
    {"id": "h10", "text": "abc", "created_at": "9999-12-31T23:59:59-01:00"},
    {"id": "s1", "text": "\ud800 abc"},
    {"id": "inv", "text": "\u200b\u200e"},
    {"id": 1.5, "text": "abc"},
]


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, stderr[-2000:]
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    return lines[0]


def _items(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))  # ASCII JSON: \ud800 escapes
    return path


@pytest.fixture
def listening():
    """A port something already listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_serve_on_a_busy_port_is_one_line_and_exit_2(tmp_path, listening):
    proc = cli(tmp_path / "home", "serve", "--port", str(listening), timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"port {listening}" in _one_error_line(proc.stderr) and "--port" in proc.stderr


def test_up_on_a_busy_port_stops_before_any_work(tmp_path, listening):
    proc = cli(tmp_path / "home", "up", "--port", str(listening), timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"port {listening}" in _one_error_line(proc.stderr)
    assert "ready" not in proc.stdout + proc.stderr and "curl" not in proc.stdout + proc.stderr


def test_keys_revoke_of_a_huge_id_is_one_line(tmp_path):
    proc = cli(tmp_path / "home", "keys", "revoke", "99999999999999999999", timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "does not exist" in _one_error_line(proc.stderr)


def test_score_to_an_existing_directory_stops_first(service_home, champion, tmp_path):
    items = _items(tmp_path / "items.jsonl", [{"id": "a", "text": "a plain comment"}])
    target = tmp_path / "out"
    target.mkdir()
    proc = cli(service_home, "score", str(items), "-o", str(target), timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "is a directory" in _one_error_line(proc.stderr)
    assert not (tmp_path / "out.tmp").exists()


# The two --skip-invalid runs call the entry point in-process (the console script's real-process
# behaviour is tested in tests/cli/test_embed_cli.py and tests/training/test_score_cli.py): a
# process per run cost ~10 s of imports each.
def test_embed_skip_invalid_rejects_the_bad_lines(service_home, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRENDML_HOME", str(service_home))
    items = _items(tmp_path / "items.jsonl", [*BAD_LINES, {"id": "good", "text": "a plain comment"}])
    rejects = tmp_path / "rejects.jsonl"
    out = tmp_path / "vectors.npy"
    code, _, err = call(
        capsys, "embed", str(items), "-o", str(out), "--skip-invalid", "--rejects", str(rejects)
    )
    assert code == 0, err[-2000:]
    assert "Traceback" not in err
    assert json.loads((tmp_path / "vectors.ids.json").read_text()) == ["good"]
    got = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [r["line"] for r in got] == [1, 2, 3, 4, 5]
    assert [r["field"] for r in got] == ["created_at", "created_at", "text", "text", "id"]


def test_score_skip_invalid_rejects_the_bad_lines(service_home, champion, tmp_path, monkeypatch, capsys):
    assert champion
    monkeypatch.setenv("TRENDML_HOME", str(service_home))
    items = _items(tmp_path / "items.jsonl", [*BAD_LINES, {"id": "good", "text": "a plain comment"}])
    out = tmp_path / "scores.jsonl"
    code, _, err = call(capsys, "score", str(items), "-o", str(out), "--skip-invalid")
    assert code == 0, err[-2000:]
    assert "Traceback" not in err
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["good"]
    rejects = tmp_path / "items.jsonl.rejects.jsonl"
    assert len(rejects.read_text().splitlines()) == len(BAD_LINES)


def test_jsonl_with_a_bom_is_read_by_the_cli(service_home, tmp_path):
    items = tmp_path / "bom.jsonl"
    items.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "text": "a plain comment"}).encode() + b"\n")
    proc = cli(service_home, "embed", str(items), "-o", str(tmp_path / "v.npy"), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("command", ["serve", "up"])
def test_a_bad_worker_count_is_one_line_before_any_work(tmp_path, command):
    proc = cli(tmp_path / "home", command, "--workers", "two", timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = _one_error_line(proc.stderr)
    assert "--workers 'two'" in line and "expected 'auto' (one per core) or a whole number" in line
    assert "ready" not in proc.stdout + proc.stderr and not (tmp_path / "home" / "mlflow.db").exists()
    proc = cli(tmp_path / "home", command, TRENDML_WORKERS="0", timeout=120)
    assert proc.returncode == 2 and "TRENDML_WORKERS='0'" in _one_error_line(proc.stderr)
