"""The behavioural suite and the augmentation: structure, disjointness, and that the suite separates
a real model's harmful from not-hateful cases (an always-on slice; the full suite runs in training
and in ``python -m benchmarks severity``). No case text is ever printed."""

from __future__ import annotations

import re

import numpy as np

from training.augment import AUGMENT_GROUPS, AUGMENT_TEMPLATES, MORE_TEMPLATES, augment_rows
from training.behaviour import (
    FUNCTIONALITIES,
    SUITE_GROUPS,
    TEMPLATES,
    build_suite,
    score_suite,
    slur_tokens,
)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_suite_covers_every_functionality_with_distinct_cases():
    cases = build_suite(slurs=["tokena", "tokenb"])
    per = {f: sum(c.functionality == f for c in cases) for f in FUNCTIONALITIES}
    assert all(n >= 8 for n in per.values()), per
    assert len({c.text for c in cases}) == len(cases)
    must = {
        "threat_explicit", "threat_implied", "derogation", "dehumanisation", "slur", "obfuscated",
        "negated_hate", "positive", "neutral", "counter_speech", "reclaimed_slur",
        "profanity_no_target", "abuse_non_protected",
    }  # fmt: skip
    assert must <= set(FUNCTIONALITIES)


def test_slur_tokens_come_from_the_data_and_are_not_identity_terms():
    slurs = slur_tokens()
    assert 3 <= len(slurs) <= 8
    identity = set().union(*(_words(g) for g in SUITE_GROUPS + AUGMENT_GROUPS))
    assert not set(slurs) & identity


def test_augmentation_is_disjoint_from_the_suite():
    suite_templates = {t for _, tpls in TEMPLATES.values() for t in tpls}
    aug_templates = {t for _, tpls in AUGMENT_TEMPLATES + MORE_TEMPLATES for t in tpls}
    assert not suite_templates & aug_templates
    assert not set(SUITE_GROUPS) & set(AUGMENT_GROUPS)
    # no identity word of the suite appears in an augmentation template or term, and vice versa
    suite_words = set().union(*(_words(g) for g in SUITE_GROUPS)) - {"people", "men"}
    aug_words = set().union(*(_words(g) for g in AUGMENT_GROUPS)) - {"people"}
    assert not suite_words & set().union(*(_words(t) for t in aug_templates))
    assert not aug_words & set().union(*(_words(t) for t in suite_templates))
    # no augmented row (templates and ToxiGen swaps) is a suite case
    from trendml.datasets import load_toxigen_seeds

    tox = load_toxigen_seeds()
    tox["split"] = "train"
    rows = augment_rows(tox, more_templates=True)
    assert set(rows["severity"]) == {0, 2, 3}
    assert not set(rows["text"]) & {c.text for c in build_suite(slurs=["tokena"])}


def test_score_suite_counts_by_hand():
    cases = build_suite(slurs=["tokena"])
    harmful = np.array([c.harmful for c in cases])

    def perfect(texts):
        return np.where(harmful, 2, 0), None

    m = score_suite(cases, perfect)
    assert m["behaviour.overall_acc"] == 1.0 and m["behaviour.min_functionality_acc"] == 1.0
    m = score_suite(cases, lambda texts: (np.where(harmful, 0, 1), None))
    assert m["behaviour.overall_acc"] == 1 - harmful.mean()
    assert m["behaviour.derogation.acc"] == 0.0 and m["behaviour.neutral.acc"] == 1.0
