"""Trend briefs (redacted by default) and the report / brief / qa commands, including bad inputs."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from markupsafe import escape
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from tests.conftest import call
from trendml.errors import InputError
from trendml.reports import build_brief, redact, render_brief_html, render_brief_markdown
from trendml.reports.render import md_text
from trendml.store.base import make_engine

REPO = Path(__file__).resolve().parents[2]


def q(path, sql, *args):
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def full_text(path, item_id: str) -> str:
    text, caption = q(path, "SELECT text, caption FROM items WHERE id = ?", item_id)[0]
    return " / ".join(x for x in (text, caption) if x)


class Briefs(tuple):
    """(redacted brief, full-text brief); its repr never shows texts in test output."""

    def __repr__(self) -> str:
        return "<briefs>"


@pytest.fixture(scope="module")
def briefs(report_store):
    engine = make_engine(report_store.url)
    try:
        yield Briefs(
            (
                build_brief(engine, report_store.campaign_trend),
                build_brief(engine, report_store.campaign_trend, show_text=True),
            )
        )
    finally:
        engine.dispose()


def test_brief_redacts_examples_by_default(briefs, report_store):
    redacted, _ = briefs
    assert redacted["redacted"] and len(redacted["examples"]) == 5
    for e in redacted["examples"]:
        assert e["stored"], e["id"]
        full = full_text(report_store.path, e["id"])
        same_rule = e["text"] == redact(full)
        assert same_rule, f"example {e['id']} is not redacted by the documented rule"
        assert len(e["text"]) <= 81
        visible = [w for w in re.findall(r"[^\W\d_]{3,}", e["text"]) if w.lower() not in ENGLISH_STOP_WORDS]
        all_masked = not visible
        assert all_masked, f"unmasked word in {e['id']}"
    md = render_brief_markdown(redacted)
    page = render_brief_html(redacted)
    for e in redacted["examples"]:
        full = full_text(report_store.path, e["id"])
        shown = md_text(e["text"]) in md and str(escape(e["text"])) in page
        leaked = full != e["text"] and (full in md or str(escape(full)) in page)
        assert shown and not leaked, f"example {e['id']}"


def test_show_text_gives_full_texts(briefs, report_store):
    _, shown = briefs
    assert not shown["redacted"]
    ok = all(e["text"] == full_text(report_store.path, e["id"]) for e in shown["examples"])
    assert ok, "--show-text must show the stored texts in full"


def test_brief_growth_and_decisions_match_the_store(briefs, report_store):
    b, _ = briefs
    tid = report_store.campaign_trend
    sizes = q(
        report_store.path,
        "SELECT size, n_window FROM trend_observations WHERE trend_id = ? ORDER BY seq",
        tid,
    )
    assert [(g["size"], g["n_items"]) for g in b["growth"]] == sizes
    actions = q(
        report_store.path, "SELECT action, analyst FROM trend_feedback WHERE trend_id = ? ORDER BY id", tid
    )
    assert (
        [(d["action"], d["analyst"]) for d in b["decisions"]]
        == actions
        == [("confirm", "alice"), ("escalate", "bob")]
    )
    assert b["trend"]["ever_emerging"] and b["trend"]["keywords"]
    html = render_brief_html(b)
    srcs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert len(srcs) == 1 and srcs[0].startswith("data:image/png;base64,") and "<script" not in html
    md = render_brief_markdown(b)
    ok = f"# Trend brief: {tid}" in md and "| alice | confirm |" in md and "| bob | escalate |" in md
    assert ok


def test_unknown_trend_is_an_input_error(report_store):
    engine = make_engine(report_store.url)
    try:
        with pytest.raises(InputError) as exc:
            build_brief(engine, "t-no-such-trend")
    finally:
        engine.dispose()
    assert exc.value.field == "trend_id" and "t-no-such-trend" in exc.value.message


# ----------------------------------------------------------------------------- CLI
@pytest.fixture
def db(monkeypatch, report_store):
    monkeypatch.setenv("TRENDML_DATABASE_URL", report_store.url)
    return report_store


def test_report_cli_writes_html_md_and_json(db, tmp_path, capsys):
    code, _, err = call(
        capsys,
        "report",
        "--period",
        "weekly",
        "--date",
        "2026-03-07",
        "--format",
        "json",
        "-o",
        str(tmp_path / "w.json"),
    )
    assert code == 0, err
    rep = json.loads((tmp_path / "w.json").read_text())
    assert rep["items"]["received"] == q(db.path, "SELECT count(*) FROM items")[0][0]
    code, _, err = call(
        capsys, "report", "--period", "weekly", "--date", "2026-03-07", "-o", str(tmp_path / "w.html")
    )
    assert code == 0, err
    html = (tmp_path / "w.html").read_text()
    assert html.count('src="data:image/png;base64,') == 3 and f">{rep['items']['received']}<" in html
    code, _, err = call(
        capsys,
        "report",
        "--period",
        "daily",
        "--date",
        "2026-03-04",
        "--format",
        "md",
        "-o",
        str(tmp_path / "d.md"),
    )
    assert code == 0, err
    md = (tmp_path / "d.md").read_text()
    pngs = sorted(p.name for p in tmp_path.glob("d.*.png"))
    assert pngs == ["d.items_per_day.png", "d.severity_mix.png", "d.trend_sizes.png"]
    assert all((tmp_path / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({p})" in md for p in pngs)
    n = q(db.path, "SELECT count(*) FROM items WHERE date(coalesce(created_at, received_at)) = '2026-03-04'")[
        0
    ][0]
    assert f"| Items received | {n} |" in md


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--period", "monthly"], 'period is "monthly"; expected one of daily, weekly'),
        (["--period", "daily", "--date", "2026-02-30"], 'date is "2026-02-30"; expected a day as YYYY-MM-DD'),
        (["--period", "daily", "--date", "last tuesday"], "expected a day as YYYY-MM-DD"),
        (["--period", "daily", "--format", "pdf"], 'format is "pdf"; expected one of html, md, json'),
    ],
)
def test_report_cli_bad_inputs_exit_2_with_one_line(db, tmp_path, capsys, args, fragment):
    code, out, err = call(capsys, "report", *args, "-o", str(tmp_path / "r.html"))
    assert code == 2 and fragment in err
    assert err.strip().count("\n") == 0 and err.startswith("error: ")
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--period", "daily", "-o", "r.html"],
        ["brief", "t1"],
        ["qa", "sample"],
        ["qa", "review", "x", "--severity", "1", "--reviewer", "a"],
    ],
)
def test_no_database_yet_exits_2_and_creates_nothing(home, monkeypatch, tmp_path, capsys, command):
    monkeypatch.delenv("TRENDML_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = call(capsys, *command)
    assert code == 2 and "no trendml database at" in err and err.strip().count("\n") == 0
    assert not (home / "trendml.db").exists()


def test_brief_cli(db, tmp_path, capsys):
    code, _, err = call(capsys, "brief", "t-nope")
    assert code == 2 and err.strip() == (
        'error: trend "t-nope" does not exist; expected a trend id from the dashboard, the trends API or '
        "`trendml report`"
    )
    code, out, err = call(capsys, "brief", db.campaign_trend)
    assert code == 0, err
    ok = f"# Trend brief: {db.campaign_trend}" in out and "--show-text" in out
    assert ok
    leaked = any(full_text(db.path, i) in out for i in re.findall(r"\| (demo-\d+-\d+) \|", out))
    assert not leaked
    code, _, err = call(capsys, "brief", db.campaign_trend, "-o", str(tmp_path / "b.html"))
    assert code == 0 and (tmp_path / "b.html").read_text().count("data:image/png;base64,") == 1


def test_qa_cli(store_copy, monkeypatch, capsys):
    monkeypatch.setenv("TRENDML_DATABASE_URL", store_copy)
    path = store_copy.removeprefix("sqlite:///")
    code, out, err = call(capsys, "qa", "sample", "--rate", "0.05", "--seed", "7")
    assert code == 0, err
    assert "added 0 items" in out
    code, _, err = call(capsys, "qa", "sample", "--rate", "2")
    assert code == 2 and "rate is 2.0; expected a fraction in (0, 1]" in err
    code, _, err = call(capsys, "qa", "sample", "--since", "soon")
    assert code == 2 and 'since is "soon"' in err and err.strip().count("\n") == 0
    item = q(path, "SELECT item_id FROM qa_samples ORDER BY item_id LIMIT 1")[0][0]
    code, out, err = call(capsys, "qa", "review", item, "--severity", "2", "--reviewer", "zoe")
    assert code == 0, err
    assert q(path, "SELECT severity FROM qa_reviews WHERE item_id = ? AND reviewer = 'zoe'", item) == [(2,)]
    code, _, err = call(capsys, "qa", "review", item, "--severity", "7", "--reviewer", "zoe")
    assert code == 2 and "severity is 7; expected an integer 0..3" in err
    code, _, err = call(capsys, "qa", "review", "nope", "--severity", "1", "--reviewer", "zoe")
    assert code == 2 and 'item_id "nope" is not in the QA sample' in err
    code, out, err = call(capsys, "qa", "agreement")
    assert code == 0 and "model vs reviewer: kappa" in out and "reviewer vs reviewer: kappa" in out


def test_report_console_script_runs_as_a_subprocess(report_store, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "TRENDML_DATABASE_URL": report_store.url, "HOME": str(tmp_path)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "report",
            "--period",
            "daily",
            "--date",
            "2026-03-05",
            "-o",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "daily report 2026-03-05" in proc.stderr and (tmp_path / "r.html").exists()


def test_a_database_with_no_trendml_tables_is_refused(tmp_path, monkeypatch, capsys):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE unrelated (x INTEGER)")
    con.commit()
    con.close()
    monkeypatch.setenv("TRENDML_DATABASE_URL", f"sqlite:///{path}")
    code, _, err = call(capsys, "report", "--period", "daily", "-o", str(tmp_path / "r.html"))
    assert code == 2 and "holds no trendml tables" in err and err.strip().count("\n") == 0


def test_brief_on_a_detect_only_database(tmp_path, monkeypatch, capsys, small_stream, small_stream_vectors):
    """``trendml detect`` writes trend tables only: the brief works, examples are marked as not stored."""
    from trendml.trends import TrendDetector, TrendState

    url = f"sqlite:///{tmp_path / 'detect.db'}"
    n = 240  # the first two windows are enough for trends
    state = TrendState.open(url)
    result = TrendDetector().detect(small_stream.items[:n], small_stream_vectors[:n], state=state)
    state.close()
    tid = result.windows[-1].trends[0]["trend_id"]
    monkeypatch.setenv("TRENDML_DATABASE_URL", url)
    code, out, err = call(capsys, "brief", tid)
    assert code == 0, err
    assert f"# Trend brief: {tid}" in out and out.count("(not in the item store)") == 5
