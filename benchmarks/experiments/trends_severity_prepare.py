"""Streams with honest severity probabilities for the severity-burst experiments (issue #12).

For every stream (realistic scenarios at the given seeds, the ToxiGen control at the given control
seeds) this writes ``OUT/<i>-<seed>.npz``: the item embeddings (float32), the 4-class severity
probabilities, each item's dataset label (``true_severity``, for an oracle upper bound), its window index, the campaign mask, the item ids and the stream's campaign
start. The probabilities come from a class-balanced logistic regression on the cached MiniLM
embeddings of every dataset **except the campaign's own** (HatEval scenarios: trained without
HatEval; OLID: without OLID; ToxicSpans: without ToxicSpans; control: without ToxiGen), so no
campaign text, nor any text of its dataset, was seen in training. Training rows per dataset: up to
``HI`` rows of severity >= 2 and up to ``NEG`` rows below 2, texts already in the embedding cache
first, then a seeded sample (embedding is slow on a shared 2-core machine).

    python -m benchmarks.experiments.trends_severity_prepare OUT REAL_SEEDS CONTROL_SEEDS [embedding|tfidf]
    e.g. python -m benchmarks.experiments.trends_severity_prepare /tmp/trends-sev 1,2 0

Numbers only (never texts).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from benchmarks import bench_trends as bt
from trendml.embed.base import embed_items

NEG = 2000
HI = 2000
DATASETS = ("davidson", "olid", "hateval", "toxicspans", "toxigen")


def source_of(name: str) -> str:
    return name.split(":", 1)[0]


def _take(df: pd.DataFrame, n: int, cached: set[str]) -> pd.DataFrame:
    df = df.sample(frac=1.0, random_state=0)
    first = df["text"].isin(cached)
    return pd.concat([df[first], df[~first]]).head(n)


def train_rows(data: dict[str, pd.DataFrame], exclude: str, cached: set[str]) -> pd.DataFrame:
    parts = []
    for k in DATASETS:
        if k == exclude:
            continue
        df = data[k].drop_duplicates("text")
        hi = _take(df[df["severity"] >= 2], HI, cached)
        lo = _take(df[df["severity"] < 2], NEG, cached)
        parts.append(pd.concat([hi, lo])[["text", "severity"]])
    return pd.concat(parts).reset_index(drop=True)


def cached_texts(emb, data: dict[str, pd.DataFrame]) -> set[str]:
    from trendml.embed.base import embedder_id
    from trendml.text import content_hash

    texts = list({t for df in data.values() for t in df["text"]})
    hashes = [content_hash(t) for t in texts]
    got = emb.cache.get_many(embedder_id(emb.embedder), hashes)
    return {t for t, h in zip(texts, hashes, strict=True) if h in got}


class TfidfPlusEmbedding:
    """Word 1-2 + char 2-5 TF-IDF beside the embedding, one class-balanced LR (``tfidf`` features)."""

    def fit(self, texts: list[str], x: np.ndarray, y: np.ndarray) -> TfidfPlusEmbedding:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.word = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=50_000)
        self.char = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True, max_features=100_000
        )
        self.word.fit(texts)
        self.char.fit(texts)
        self.lr = LogisticRegression(class_weight="balanced", max_iter=2000, C=1.0)
        self.lr.fit(self._features(texts, x), y)
        self.classes_ = self.lr.classes_
        return self

    def _features(self, texts: list[str], x: np.ndarray):
        from scipy.sparse import csr_matrix, hstack

        return hstack([self.word.transform(texts), self.char.transform(texts), csr_matrix(x)]).tocsr()

    def predict_proba(self, texts: list[str], x: np.ndarray) -> np.ndarray:
        return self.lr.predict_proba(self._features(texts, x))


class EmbeddingOnly:
    def fit(self, texts: list[str], x: np.ndarray, y: np.ndarray) -> EmbeddingOnly:
        self.lr = LogisticRegression(class_weight="balanced", max_iter=2000, C=1.0).fit(x, y)
        self.classes_ = self.lr.classes_
        return self

    def predict_proba(self, texts: list[str], x: np.ndarray) -> np.ndarray:
        return self.lr.predict_proba(x)


def fit_severity(emb, rows: pd.DataFrame, features: str = "embedding"):
    texts = rows["text"].tolist()
    model = TfidfPlusEmbedding() if features == "tfidf" else EmbeddingOnly()
    return model.fit(texts, emb.encode(texts), rows["severity"].to_numpy())


def probs4(lr, texts: list[str], x: np.ndarray) -> np.ndarray:
    p = lr.predict_proba(texts, x)
    out = np.zeros((len(x), 4))
    for j, c in enumerate(lr.classes_):
        out[:, int(c)] = p[:, j]
    return out


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    real_seeds = [int(s) for s in sys.argv[2].split(",") if s]
    control_seeds = [int(s) for s in sys.argv[3].split(",") if s] if len(sys.argv) > 3 else []
    features = sys.argv[4] if len(sys.argv) > 4 else "embedding"  # or "tfidf" (+ the embedding)
    emb = bt.make_cached_embedder()
    data = bt._load_all()
    scs = bt.load_scenarios(("realistic", "control"))
    real = [s.name for s in scs if s.kind == "realistic"]
    models: dict[str, EmbeddingOnly | TfidfPlusEmbedding] = {}
    cached = cached_texts(emb, data)
    for i, sc in enumerate(scs):
        src = source_of(sc.name)
        if src not in models:
            t0 = time.process_time()
            rows = train_rows(data, src, cached)
            models[src] = fit_severity(emb, rows, features)
            print(
                f"model without {src}: {len(rows)} rows, classes {models[src].classes_.tolist()}, "
                f"{time.process_time() - t0:.0f}s cpu",
                flush=True,
            )
        seeds = real_seeds if sc.kind == "realistic" else control_seeds
        for seed in seeds:
            grid = bt.grid_point(real.index(sc.name), seed) if sc.kind == "realistic" else None
            st = bt.build_stream(sc, seed, grid)
            x = embed_items(st.items, emb)
            p = probs4(models[src], [it.content for it in st.items], x)
            win = np.array([st.window_of(it) for it in st.items])
            camp = np.array([it.id in st.campaign_ids for it in st.items])
            np.savez(
                out / f"{i}-{seed}.npz",
                x=x.astype(np.float32),
                probs=p,
                win=win,
                camp=camp,
                ids=np.array([it.id for it in st.items]),
                true_severity=np.array([st.severity.get(it.id, -1) for it in st.items]),
                start=st.campaign_start,
                n_windows=st.n_windows,
                name=sc.name,
                kind=sc.kind,
                grid=grid.label() if grid else "control",
                length=grid.length if grid else "1d",
            )
            ph = p[:, 2:].sum(1)
            from sklearn.metrics import roc_auc_score

            auc = roc_auc_score(camp[win >= st.campaign_start], ph[win >= st.campaign_start])
            print(
                f"{sc.name} seed {seed}: {len(x)} items, AUC P(sev>=2) campaign vs rest after onset "
                f"{auc:.3f}, campaign mean {ph[camp].mean():.2f}, background mean {ph[~camp].mean():.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
