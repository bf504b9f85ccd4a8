"""``trendml up`` records who made its demo model the champion (issue #21): the local ``user@host``
as CLI promotions record it, marked ``(trendml up)``, never "unknown"."""

from __future__ import annotations

from tests.training.conftest import TINY_DATA, TINY_ROWS
from training.registry import alias_history, champion_version
from training.runs import actor
from trendml.config import Settings


def test_up_records_the_local_user_for_its_champion(tmp_path, cached_embedder):
    from cli.up import _ensure_champion, up_actor

    # no shared datasets: no cross-dataset evaluation (a cheaper run; the session cache has the texts)
    settings = Settings(home=tmp_path / "home", shared_data_dir=tmp_path / "no-shared-data")
    settings.ensure_home()
    version = _ensure_champion(  # what `trendml up` runs on an empty home, with a small model
        settings,
        datasets=TINY_DATA,
        embedder=cached_embedder,
        max_rows_per_dataset=TINY_ROWS,
        config={"model": {"n_folds": 2, "n_repeats": 1}, "baseline": False, "behaviour": False},
        run_name="tiny-up",
    )
    assert champion_version(settings) == version
    events = alias_history(settings)
    assert [e["action"] for e in events] == ["register"] and events[-1]["to"] == version
    assert events[-1]["by"] == up_actor() == f"{actor()} (trendml up)"
    assert "@" in events[-1]["by"] and "unknown" not in events[-1]["by"]
    # a second `up` finds the champion and records nothing more
    assert _ensure_champion(settings) == version and len(alias_history(settings)) == 1
