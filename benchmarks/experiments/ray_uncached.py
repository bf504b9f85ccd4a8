"""Ray vs local batch scoring with the embedding cache OFF on both sides (issue 13's goal, Ray >= 0.8x
local on one node): the bench's warm-cache comparison measures mostly Ray's fixed costs, this one
the work itself (every text embedded).

    TRENDML_HOME=<home with a champion> python -m benchmarks.experiments.ray_uncached N [N ...]

Uses ``bench_scale._score_run`` (a real ``trendml score`` process each, peak RSS of its tree) and
``bench_service._texts`` (Davidson texts, repeated past ~24k); prints one line per N.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from benchmarks.bench_scale import _score_run
from benchmarks.bench_service import _texts


def main(argv: list[str]) -> None:
    home = Path(os.environ["TRENDML_HOME"])
    for n in (int(a) for a in argv):
        texts = _texts(n)
        texts = (texts * -(-n // len(texts)))[:n]
        items = home / f"items-{n}.jsonl"
        items.write_text("".join(json.dumps({"id": f"s{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
        repo = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=repo, TRENDML_EMBEDDING_CACHE="false")
        loc = _score_run(items, home / "local.jsonl", env)
        ray = _score_run(items, home / "ray.jsonl", env, "--engine", "ray")
        a = [json.loads(x)["severity"] for x in (home / "local.jsonl").read_text().splitlines()]
        b = [json.loads(x)["severity"] for x in (home / "ray.jsonl").read_text().splitlines()]
        print(
            f"n={n} cache off: local {loc['seconds']:.1f}s ({n / loc['seconds']:.0f}/s, peak "
            f"{loc['peak_rss_mb']:.0f} MB, load {loc['load']:.1f}); ray {ray['seconds']:.1f}s "
            f"({n / ray['seconds']:.0f}/s, peak {ray['peak_rss_mb']:.0f} MB, load {ray['load']:.1f}); "
            f"ratio {loc['seconds'] / ray['seconds']:.2f}x; same severities {a == b}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
