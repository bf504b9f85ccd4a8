"""The policy taxonomy (models/policy.yaml): validation naming the key, the default priority rule,
and a renamed level reaching the report, the brief and the dashboard with no code change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import call
from trendml.config import Settings
from trendml.errors import InputError
from trendml.policy import DEFAULT_POLICY_PATH, load_policy, parse_policy
from trendml.priority import PRIORITY_LABELS, priority

NEW_NAME = "identity-attack-renamed"


def _default() -> dict:
    return yaml.safe_load(DEFAULT_POLICY_PATH.read_text())


def _write(tmp_path: Path, obj: dict) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(obj, sort_keys=False))
    return path


def test_default_policy_is_the_builtin_rule():
    policy = load_policy(Settings().policy_file)
    assert policy.level_names == {0: "none", 1: "offensive", 2: "hateful", 3: "threat/violent"}
    for sev in range(4):
        for emerging in (False, True):
            assert policy.priority_of(sev, emerging=emerging) == priority(sev, emerging=emerging)
    assert policy.priority.labels == PRIORITY_LABELS
    assert policy.policy_area("hateful_conduct") == "hate" and policy.policy_area("unheard-of") == "other"
    assert policy.policy_area(None) == "other"


def _drop_level_name(p):
    del p["levels"][2]["name"]


def _area_typo(p):
    p["report_reasons"]["spam"] = "spamm"


def _missing_level(p):
    del p["levels"][3]


def _unknown_key(p):
    p["priority"]["emerging_boost"] = 2


def _bad_priority(p):
    p["priority"]["by_severity"][0] = 7


def _bad_alert(p):
    p["alerts"][0]["when"] = "sometimes"


def _alert_area(p):
    p["alerts"][0]["policy_areas"] = ["nowhere"]


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (_drop_level_name, "levels.2.name"),
        (_area_typo, "report_reasons.spam"),
        (_missing_level, "levels"),
        (_unknown_key, "priority.emerging_boost"),
        (_bad_priority, "priority.by_severity"),
        (_bad_alert, "alerts.0.when"),
        (_alert_area, "alerts[0].policy_areas"),
    ],
)
def test_a_bad_policy_names_the_key(mutate, key):
    obj = _default()
    mutate(obj)
    with pytest.raises(InputError) as exc:
        parse_policy(obj, "policy file p.yaml")
    assert key in exc.value.message and exc.value.message.startswith("policy file p.yaml: ")


def test_policy_check_cli(tmp_path, capsys):
    code, out, err = call(capsys, "policy", "check", str(DEFAULT_POLICY_PATH))
    assert code == 0, err
    assert "ok" in err and "3 threat/violent" in err
    obj = _default()
    _drop_level_name(obj)
    code, out, err = call(capsys, "policy", "check", str(_write(tmp_path, obj)))
    assert code == 2 and "levels.2.name: missing" in err and err.strip().count("\n") == 0
    code, out, err = call(capsys, "policy", "check", str(tmp_path / "nope.yaml"))
    assert code == 2 and "does not exist" in err


@pytest.fixture
def renamed(tmp_path, monkeypatch, store_copy) -> tuple[Path, str]:
    obj = _default()
    obj["levels"][2]["name"] = NEW_NAME
    path = _write(tmp_path, obj)
    monkeypatch.setenv("TRENDML_POLICY", str(path))
    monkeypatch.setenv("TRENDML_DATABASE_URL", store_copy)
    return path, store_copy


def test_a_renamed_level_reaches_report_and_brief(renamed, report_store, tmp_path, capsys):
    from trendml.reports import build_brief
    from trendml.store.base import make_engine

    path, url = renamed
    out_md = tmp_path / "w.md"
    code, _, err = call(
        capsys, "report", "--period", "weekly", "--date", "2026-03-07", "-f", "md", "-o", str(out_md)
    )
    assert code == 0, err
    md = out_md.read_text()
    assert f"| 2 {NEW_NAME} |" in md and "2 hateful" not in md
    engine = make_engine(url)
    try:
        brief = build_brief(engine, report_store.campaign_trend, level_names=load_policy(path).level_names)
    finally:
        engine.dispose()
    names = load_policy(path).level_names
    scored = [e for e in brief["examples"] if e["severity"] is not None]
    assert scored and all(e["severity_name"] == names[e["severity"]] for e in scored)
    code, out, err = call(capsys, "brief", report_store.campaign_trend)
    assert code == 0, err
    for e in scored:
        assert f"| {e['severity']} {names[e['severity']]} |" in out


def test_a_renamed_level_reaches_the_dashboard(renamed, tmp_path):
    from starlette.testclient import TestClient

    from service.dashboard import create_app
    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.keys import create_key

    path, url = renamed
    settings = Settings(home=tmp_path / "home", database_url=url, policy_path=path)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        key, _ = create_key(s, "analyst", "policy-test")
    app = create_app(settings, engine=engine, root_path="")
    try:
        with TestClient(app) as c:
            page = c.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            r = c.post(
                "/login",
                data={"key": key, "csrf": csrf},
                headers={"Origin": "http://testserver"},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text[:300]
            trends = c.get("/trends")
            assert trends.status_code == 200
            assert NEW_NAME in trends.text and ">2 hateful<" not in trends.text
    finally:
        engine.dispose()
