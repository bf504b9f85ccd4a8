"""``trendml detect``: the contract on a real stream, state handling, and bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import call
from trendml.embed import EmbeddingCache
from trendml.embed.base import embedder_id
from trendml.items import write_items
from trendml.text import content_hash

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def stream_file(tmp_path, home, small_stream, small_stream_vectors, embedder):
    """The small stream as JSONL, with its vectors already in this home's embedding cache."""
    cache = EmbeddingCache(home / "cache" / "embeddings.db")
    cache.put_many(
        embedder_id(embedder), [content_hash(it.content) for it in small_stream.items], small_stream_vectors
    )
    cache.close()
    return write_items(small_stream.items, tmp_path / "items.jsonl")


def test_detect_writes_the_contract(stream_file, tmp_path, home, capsys, small_stream):
    out = tmp_path / "trends.json"
    code, _, err = call(capsys, "detect", str(stream_file), "--window", "1d", "-o", str(out))
    assert code == 0, err
    data = json.loads(out.read_text())
    assert len(data["windows"]) == small_stream.n_windows
    assert [w["start"] for w in data["windows"]] == sorted(w["start"] for w in data["windows"])
    # every item is in a window, except those in a language the models do not support (issue 22)
    n_stream, n_unsupported = len(small_stream.items), data["n_unsupported_language"]
    assert sum(w["n_items"] for w in data["windows"]) + n_unsupported == n_stream
    assert 0 <= n_unsupported <= 0.01 * n_stream
    keys = {
        "trend_id",
        "status",
        "emerging",
        "size",
        "emergence_score",
        "us_share",
        "us_lift",
        "keywords",
        "member_ids",
        "representative_ids",
    }
    trends = [t for w in data["windows"] for t in w["trends"]]
    assert trends and all(keys <= set(t) for t in trends)
    assert any(t["emerging"] for t in trends)
    # the default is a scratch state: the live state (the trendml database) was not touched
    from trendml.trends import TrendState

    live = TrendState.open(home / "trendml.db")
    assert live.windows == [] and live.generation == 0
    live.close()
    # a second default run on the same file: same answer, nothing restarted or replaced
    out2 = tmp_path / "again.json"
    code, _, err = call(capsys, "detect", str(stream_file), "-o", str(out2))
    assert code == 0 and "replaced" not in err and json.loads(out2.read_text()) == data
    # --live writes the live state; the same file again is refused (exit 2, one line naming --replace)
    code, _, err = call(capsys, "detect", str(stream_file), "-o", str(tmp_path / "live.json"), "--live")
    assert code == 0, err
    assert json.loads((tmp_path / "live.json").read_text()) == data
    code, _, err = call(capsys, "detect", str(stream_file), "-o", str(tmp_path / "no.json"), "--live")
    assert code == 2 and "--replace" in err and err.count("\n") == 1
    assert not (tmp_path / "no.json").exists()
    # --live --replace restarts it from the file, carrying every id over, same answer
    code, _, err = call(
        capsys, "detect", str(stream_file), "-o", str(tmp_path / "re.json"), "--live", "--replace"
    )
    n_ids = len({t["trend_id"] for t in trends})
    assert code == 0 and f"{n_ids} of {n_ids} earlier trend ids carried over" in err
    assert json.loads((tmp_path / "re.json").read_text()) == data
    # --no-state is still accepted (= the default)
    out3 = tmp_path / "nostate.json"
    code, _, err = call(capsys, "detect", str(stream_file), "-o", str(out3), "--no-state")
    assert code == 0 and "replaced" not in err and json.loads(out3.read_text()) == data
    # --replace needs a state to replace
    code, _, err = call(capsys, "detect", str(stream_file), "-o", str(out3), "--replace")
    assert code == 2 and "--live" in err and err.count("\n") == 1


def test_detect_incremental_with_a_state_file(stream_file, tmp_path, capsys, small_stream):
    lines = stream_file.read_text().splitlines()
    first = [ln for ln in lines if '"2026-03-01' in ln or '"2026-03-02' in ln or '"2026-03-03' in ln]
    rest = [ln for ln in lines if ln not in set(first)]
    (tmp_path / "a.jsonl").write_text("\n".join(first) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join(rest) + "\n")
    state = tmp_path / "state.db"
    for name in ("a", "b"):
        code, _, err = call(
            capsys,
            "detect",
            str(tmp_path / f"{name}.jsonl"),
            "-o",
            str(tmp_path / f"{name}.json"),
            "--state",
            str(state),
        )
        assert code == 0, err
    code, _, err = call(capsys, "detect", str(stream_file), "-o", str(tmp_path / "all.json"), "--no-state")
    assert code == 0, err
    parts = (
        json.loads((tmp_path / "a.json").read_text())["windows"]
        + json.loads((tmp_path / "b.json").read_text())["windows"]
    )
    assert parts == json.loads((tmp_path / "all.json").read_text())["windows"]


BAD = {
    "missing_created_at": (b'{"id": "a", "text": "x"}\n', "created_at is missing"),
    "bad_region": (
        b'{"id": "a", "text": "x", "created_at": "2026-03-01T00:00:00Z", "region": "XX"}\n',
        "not an ISO 3166-1",
    ),
    "bad_json": (b"{id: a}\n", "is not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line_exit_2(case, tmp_path, home, capsys):
    data, fragment = BAD[case]
    path = tmp_path / "items.jsonl"
    path.write_bytes(data)
    code, out, err = call(capsys, "detect", str(path), "-o", str(tmp_path / "t.json"))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and fragment in err
    assert "Traceback" not in err and not (tmp_path / "t.json").exists()


def test_bad_window_and_conflicting_options(tmp_path, home, capsys):
    path = tmp_path / "items.jsonl"
    path.write_text('{"id": "a", "text": "x", "created_at": "2026-03-01T00:00:00Z"}\n')
    code, _, err = call(capsys, "detect", str(path), "-o", str(tmp_path / "t.json"), "--window", "soon")
    assert code == 2 and "window" in err and err.count("\n") == 1
    code, _, err = call(
        capsys, "detect", str(path), "-o", str(tmp_path / "t.json"), "--state", "x.db", "--no-state"
    )
    assert code == 2 and "--no-state" in err


def test_skip_invalid_drops_items_without_time(stream_file, tmp_path, home, capsys):
    data = stream_file.read_text() + '{"id": "late", "text": "no time"}\n'
    path = tmp_path / "mixed.jsonl"
    path.write_text(data)
    code, _, err = call(capsys, "detect", str(path), "-o", str(tmp_path / "t.json"))
    assert code == 2 and "created_at is missing" in err
    code, _, err = call(
        capsys, "detect", str(path), "-o", str(tmp_path / "t.json"), "--skip-invalid", "--no-state"
    )
    assert code == 0 and "skipped 1 invalid" in err


def test_real_process_error_has_no_traceback(tmp_path, home):
    path = tmp_path / "items.jsonl"
    path.write_text('{"id": "a", "text": "x"}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "detect", str(path), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


@pytest.fixture(scope="module")
def severity_dir(tmp_path_factory, cached_embedder) -> Path:
    """A small real severity model (a slice of the shipped Davidson + ToxiGen data), saved to a directory."""
    import numpy as np

    from trendml.datasets import load_davidson, load_toxigen_seeds
    from trendml.embed.base import embedder_id
    from trendml.severity import SeverityModel
    from trendml.text import normalise_text

    dav, tox = load_davidson(), load_toxigen_seeds()
    parts = [dav[dav["severity"] == s].iloc[::k] for s, k in ((0, 40), (1, 150), (2, 12))] + [tox.iloc[::4]]
    texts = [normalise_text(t) for p in parts for t in p["text"]]
    labels = np.concatenate([p["severity"].to_numpy() for p in parts])
    model = SeverityModel(embedder_id=embedder_id(cached_embedder), n_folds=2)
    model.fit(texts, cached_embedder.encode(texts), labels)
    out = tmp_path_factory.mktemp("severity_model")
    model.save(out)
    return out


def test_detect_fills_severity_mix_from_a_model(
    stream_file, tmp_path, capsys, severity_dir, small_stream, small_stream_vectors
):
    from trendml.severity import SeverityModel

    out = tmp_path / "trends.json"
    code, _, err = call(
        capsys,
        "detect",
        str(stream_file),
        "-o",
        str(out),
        "--no-state",
        "--severity-model",
        str(severity_dir),
    )
    assert code == 0, err
    trends = [t for w in json.loads(out.read_text())["windows"] for t in w["trends"]]
    assert trends and all(len(t["severity_mix"]) == 4 for t in trends)
    # the mix is the mean of the model's probabilities over the trend's members
    pos = {it.id: k for k, it in enumerate(small_stream.items)}
    model = SeverityModel.load(severity_dir)
    biggest = max(trends, key=lambda t: t["size"])
    rows = [pos[i] for i in biggest["member_ids"]]
    texts = [small_stream.items[k].content for k in rows]
    probs = model.predict_proba(texts, small_stream_vectors[rows])
    assert probs.mean(axis=0) == pytest.approx(biggest["severity_mix"], abs=1e-4)


def test_detect_without_a_champion_has_no_severity_mix(stream_file, tmp_path, capsys):
    out = tmp_path / "trends.json"
    code, _, err = call(capsys, "detect", str(stream_file), "-o", str(out), "--no-state")
    assert code == 0 and "no severity champion" in err
    trends = [t for w in json.loads(out.read_text())["windows"] for t in w["trends"]]
    assert trends and all(t["severity_mix"] is None for t in trends)


def test_detect_severity_model_errors(stream_file, tmp_path, capsys):
    out = tmp_path / "trends.json"
    code, _, err = call(
        capsys, "detect", str(stream_file), "-o", str(out), "--severity-model", str(tmp_path / "nowhere")
    )
    assert code == 2 and err.startswith("error: ") and "nowhere" in err and err.count("\n") == 1
    assert not out.exists()
    code, _, err = call(
        capsys, "detect", str(stream_file), "-o", str(out), "--no-severity", "--severity-model", str(tmp_path)
    )
    assert code == 2 and "--no-severity" in err


def test_replace_lists_decisions_on_retired_trends_and_keeps_them_exportable(
    stream_file, tmp_path, home, capsys, small_stream
):
    """``--live --replace`` with a file that lacks the later windows retires the trends that only
    lived there: a decision on one is listed (not orphaned) and its items stay in the label export."""
    from trendml.schema import create_all
    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.feedback import add_feedback

    code, _, err = call(capsys, "detect", str(stream_file), "-o", str(tmp_path / "all.json"), "--live")
    assert code == 0, err
    windows = json.loads((tmp_path / "all.json").read_text())["windows"]
    early = {t["trend_id"] for w in windows[:3] for t in w["trends"]}
    late_only = sorted({t["trend_id"] for w in windows[3:] for t in w["trends"]} - early)
    assert late_only
    members = {
        i for w in windows for t in w["trends"] if t["trend_id"] == late_only[0] for i in t["member_ids"]
    }
    engine = make_engine(f"sqlite:///{home / 'trendml.db'}")
    create_all(engine)
    with make_sessionmaker(engine)() as s:
        add_feedback(s, late_only[0], "confirm", None, analyst="ana")
    engine.dispose()
    days = sorted({w["start"][:10] for w in windows})[:3]
    lines = [ln for ln in stream_file.read_text().splitlines() if any(f'"{d}' in ln for d in days)]
    (tmp_path / "early.jsonl").write_text("\n".join(lines) + "\n")
    code, _, err = call(
        capsys, "detect", str(tmp_path / "early.jsonl"), "-o", str(tmp_path / "e.json"), "--live", "--replace"
    )
    assert code == 0, err
    assert f"trend {late_only[0]} ({len(members)} items) had the analyst decision 'confirm'" in err
    assert "retired" in err
    code, out, err = call(capsys, "feedback", "export")
    assert code == 0, err
    rows = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    assert {r["id"] for r in rows if r["trend_id"] == late_only[0]} == members
