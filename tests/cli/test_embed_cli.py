from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import call

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run ``trendml`` as a real subprocess (console script), returning (code, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_INPUTS = {
    "empty_text_and_caption": (
        b'{"id": "a", "text": "", "caption": ""}\n',
        "text and caption are both empty",
    ),
    "missing_id": (b'{"text": "hello"}\n', "id is missing"),
    "duplicate_ids": (b'{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', "duplicates line 1"),
    "bad_timestamp": (b'{"id": "a", "text": "x", "created_at": "yesterday"}\n', "is not ISO-8601"),
    "non_utf8": (b'{"id": "a", "text": "caf\xe9"}\n', "is not valid UTF-8"),
    "one_mb_text": (json.dumps({"id": "a", "text": "x" * 1_000_000}).encode() + b"\n", "at most 10,000"),
    "not_json": (b"{id: a}\n", "is not valid JSON"),
    "empty_file": (b"", "holds no valid items"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_clear_line_and_exit_2(case, tmp_path, home, capsys):
    data, fragment = BAD_INPUTS[case]
    path = _write(tmp_path / "items.jsonl", data)
    code, out, err = call(capsys, "embed", str(path), "-o", str(tmp_path / "v.npy"))
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert not (tmp_path / "v.npy").exists()


def test_csv_with_a_missing_column(tmp_path, home, capsys):
    path = _write(tmp_path / "items.csv", b"identifier,text\n1,hello\n")
    code, _, err = call(capsys, "embed", str(path), "-o", str(tmp_path / "v.npy"))
    assert code == 2 and "expected an 'id' column" in err and "Traceback" not in err


def test_embed_writes_vectors_ids_and_rejects(tmp_path, home, capsys):
    path = _write(
        tmp_path / "items.jsonl",
        b'{"id": "a", "text": "first"}\n{"id": "b"}\n{"id": "c", "caption": "second"}\n',
    )
    code, _, err = call(
        capsys,
        "embed",
        str(path),
        "-o",
        str(tmp_path / "v.npy"),
        "--skip-invalid",
        "--rejects",
        str(tmp_path / "r.jsonl"),
    )
    assert code == 0, err
    vectors = np.load(tmp_path / "v.npy")
    assert vectors.shape == (2, 384)
    assert json.loads((tmp_path / "v.ids.json").read_text()) == ["a", "c"]
    rejects = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2]
    assert "skipped 1 invalid records" in err
    assert (home / "cache" / "embeddings.db").exists()


def test_console_script_help_and_error_path(tmp_path):
    code, out, _ = run_cli("--help")
    assert code == 0 and "embed" in out
    for sub in ("embed", "demo", "bench"):
        code, out, _ = run_cli(sub, "--help")
        assert code == 0, sub
    code, _, err = run_cli("embed", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "v.npy"))
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
