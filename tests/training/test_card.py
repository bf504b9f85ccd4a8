"""The model card logged with every run (issue #21.7): date, code version, the fairness metric, the row
count behind every subgroup AUC (small ones marked not reliable) and the cross-dataset metrics."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from mlflow import MlflowClient

from training.runs import GIT_TAG
from training.train import MIN_RELIABLE_N


def _card_and_run(first_run, settings, tmp_path):
    uri = settings.mlflow_tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    path = client.download_artifacts(first_run.run_id, "model_card.md", str(tmp_path))
    return Path(path).read_text(), client.get_run(first_run.run_id)


def test_card_has_date_code_version_fairness_counts_and_cross_dataset(first_run, registry_settings, tmp_path):
    card, run = _card_and_run(first_run, registry_settings, tmp_path)
    m, tags = run.data.metrics, run.data.tags

    # date (of the run) and code version (the run's git-commit tag, "unknown" outside a checkout)
    stamp = re.search(r"Trained (\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC from code version `([^`]+)`", card)
    assert stamp, "the card names its date and code version"
    when = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert abs((when - datetime.fromtimestamp(run.info.start_time / 1000, UTC)).total_seconds()) < 3600
    assert stamp.group(2) == tags[GIT_TAG] and stamp.group(2)

    # the fairness metric, with the value the run logged
    fair = m["test.toxigen_seeds.neutral_scored_hateful"]
    assert f"`neutral_scored_hateful`: **{fair:.3f}**" in card

    # one row per subgroup AUC, with the rows behind it; small groups marked not reliable
    rows = re.findall(r"^\| ([\w ,/-]+) \| (\d\.\d{3}) \| (\d+) \| (.*) \|$", card, flags=re.M)
    by_group = {g: (float(a), int(n), note) for g, a, n, note in rows}
    groups = {k.removeprefix("subgroup_auc.") for k in m if k.startswith("subgroup_auc.")}
    assert groups and groups <= set(by_group)
    for g in groups:
        auc, n, note = by_group[g]
        assert n == int(m[f"subgroup_n.{g}"]) >= 4  # at least 2 rows on each side of the AUC
        assert auc == round(m[f"subgroup_auc.{g}"], 3)
        assert ("not reliable" in note) == (n < MIN_RELIABLE_N)
    # the tiny run's groups have few test rows: the mark is exercised
    assert any(by_group[g][1] < MIN_RELIABLE_N for g in groups)

    # cross-dataset metrics when shared datasets the run did not train on are present
    cross = sorted({k.split(".")[1] for k in m if k.startswith("crossdataset.")})
    if cross:
        assert "### Cross-dataset" in card
        for ds in cross:
            line = next(ln for ln in card.splitlines() if ln.startswith(f"| {ds} | "))
            assert f"| {int(m[f'crossdataset.{ds}.n'])} | {m[f'crossdataset.{ds}.macro_f1']:.3f} |" in line
    else:
        assert "### Cross-dataset" not in card
