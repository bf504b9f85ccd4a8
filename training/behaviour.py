"""The behavioural suite (CheckList-style): cases built from this project's own templates x its own
identity-term lists, one functionality per kind of content a Trust & Safety policy cares about.

Every template and term list here was written for trendml; none is copied from a published suite.
Augmentation (``training/augment.py``) uses *disjoint* templates and identity terms, so the suite does
not measure its own training data (checked by ``tests/severity/test_behaviour.py``).

Each functionality is "harmful" (expected severity >= 2: hateful or threat) or "not hateful"
(expected severity <= 1: none or offensive). Slur cases use tokens taken at run time from the shipped
labelled data (the words most specific to Davidson's "hate" class), so no slur is written in this file
and none is ever printed.

``run_suite(model, embed)`` scores every case and returns ``behaviour.*`` metrics.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

#: identity terms of the suite (plural noun phrases); augmentation must not use any of these
SUITE_GROUPS = (
    "muslims",
    "jews",
    "women",
    "gay men",
    "black people",
    "immigrants",
    "trans people",
    "disabled people",
    "asian people",
    "hindus",
)

#: targets that are not protected groups (abuse of them is offensive at most, never hateful)
SUITE_OTHER_TARGETS = (
    "my landlord",
    "the referee",
    "that guy at the gym",
    "my coworker",
    "the mayor",
    "my ex",
    "the cyclist who cut me off",
    "the barista",
)

HARMFUL = "harmful"
NOT_HATEFUL = "not_hateful"

# functionality -> (kind, templates); "{g}" = an identity term, "{t}" = a non-protected target,
# "{s}" = a slur token from the data
TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "threat_explicit": (
        HARMFUL,
        (
            "i am going to kill every one of those {g}",
            "we will burn down the houses of the {g} tonight",
            "i will hunt down the {g} one by one and end them",
            "grab your guns, we are going after the {g} this weekend",
            "i swear i will stab the next one of those {g} i see",
            "every last one of those {g} is going to hang",
            "i'm going to beat the {g} until they stop breathing",
            "let's round up the {g} and shoot them",
        ),
    ),
    "threat_implied": (
        HARMFUL,
        (
            "it would be a shame if something happened to the {g} on our street",
            "the {g} should watch their backs when they walk home at night",
            "one day soon the {g} will get what is coming to them, and it won't be pretty",
            "we know which houses the {g} live in. just saying",
            "keep talking, {g}, we have your addresses",
            "the {g} won't be so loud once we pay them a visit with the boys",
            "the {g} had better leave town before the night we have planned",
            "remember what happened to the last {g} who came here? you're next",
        ),
    ),
    "threat_individual": (
        HARMFUL,
        (
            "i know where you live and i am coming for you with a knife",
            "say that again and i will break your neck",
            "i will find you after work and you will not walk away",
            "you'll be dead before the weekend, i promise",
            "i am going to smash your skull in when i see you",
            "watch your back, i'm going to make you bleed",
            "i will set your car on fire with you inside it",
            "next time i see you i'm going to strangle you",
        ),
    ),
    "derogation": (
        HARMFUL,
        (
            "{g} are disgusting and stupid",
            "i can't stand {g}, they ruin everything they touch",
            "{g} are all liars and thieves",
            "{g} are worthless and should never be allowed to vote",
            "honestly {g} are the worst people on earth",
            "{g} are too dumb to hold a real job",
            "nobody wants {g} here, they are filthy",
            "typical {g}, lazy and useless as always",
        ),
    ),
    "dehumanisation": (
        HARMFUL,
        (
            "{g} are vermin",
            "{g} are animals and should be treated like animals",
            "{g} are parasites feeding on the rest of us",
            "{g} are not human, they are a disease",
            "{g} breed like rats",
            "{g} are subhuman garbage",
            "those {g} are cockroaches",
            "{g} are a cancer on this country",
        ),
    ),
    "slur": (
        HARMFUL,
        (
            "you are a {s}",
            "shut up you stupid {s}",
            "look at that {s} over there",
            "get out of here {s}",
            "another {s} moved in next door, great",
            "no {s} allowed in my bar",
            "typical {s}",
            "i hate every {s} i meet",
        ),
    ),
    "obfuscated": (
        HARMFUL,
        (
            "{g} are v3rm1n",
            "{g} are s u b h u m a n",
            "i h4te {g} so much",
            "{g} are p.a.r.a.s.i.t.e.s",
            "k!ll all the {g}",
            "all {g} should d1e",
            "{g} are d1sgust1ng 4nimals",
            "you are a {s_obf}",
        ),
    ),
    "negated_hate": (
        NOT_HATEFUL,
        (
            "i don't hate {g}",
            "{g} are not vermin and nobody should call them that",
            "it is wrong to say {g} are inferior",
            "i would never hurt {g}",
            "{g} are not a threat to anyone",
            "no, {g} are not lazy",
            "i have never thought {g} were less than human",
            "there is nothing wrong with {g}",
        ),
    ),
    "positive": (
        NOT_HATEFUL,
        (
            "i love {g}",
            "{g} are wonderful neighbours",
            "{g} have made this city a better place",
            "so proud of all the {g} in my family",
            "{g} are brilliant and kind",
            "we need more {g} in leadership",
            "the {g} i work with are amazing",
            "thank you to the {g} who organised the food drive",
        ),
    ),
    "neutral": (
        NOT_HATEFUL,
        (
            "there are many {g} living in this area",
            "the report looks at how {g} use public transport",
            "i met some {g} at the conference",
            "a new survey of {g} was published today",
            "my neighbours are {g}",
            "the museum has an exhibit on the history of {g}",
            "{g} will be represented at the town meeting",
            "the article interviews three {g} about housing costs",
        ),
    ),
    "counter_speech": (
        NOT_HATEFUL,
        (
            "calling {g} vermin is disgusting, stop it",
            "people who say {g} should die need to be reported",
            "stop spreading lies about {g}",
            "it is never okay to threaten {g}",
            "if you attack {g} you are attacking all of us",
            "hate against {g} has no place here",
            "i am tired of seeing people insult {g} online",
            "that post saying {g} are animals was hateful and should be removed",
        ),
    ),
    "reported_speech": (  # policy: journalism / reporting on hate is not hate
        NOT_HATEFUL,
        (
            "the councillor resigned after calling {g} animals in a speech",
            "police are investigating threats made against {g} last week",
            "a new study tracks insults aimed at {g} on social media",
            "the court heard that the defendant had sent hateful messages to {g}",
            "the charity reports a rise in attacks on {g} this year",
            "the documentary shows the abuse {g} faced in the 1980s",
            "researchers collected slurs used against {g} to train moderators",
            "the newspaper apologised for a headline about {g}",
        ),
    ),
    "reclaimed_slur": (
        NOT_HATEFUL,
        (
            "proud to be queer and loud about it",
            "our queer book club meets on thursdays",
            "queer joy is a form of resistance",
            "as a queer woman i loved this film",
            "happy pride to all my queer friends",
            "the queer film festival opens tonight",
            "i'm queer and my parents are fine with it",
            "shoutout to the queer kids finding their people",
        ),
    ),
    "profanity_no_target": (
        NOT_HATEFUL,
        (
            "fuck, i missed the bus again",
            "this weather is shit",
            "holy shit that concert was amazing",
            "damn this coffee is good as hell",
            "what the fuck is wrong with my wifi",
            "ugh, shitty day at work",
            "i stubbed my toe, fucking hell",
            "this bloody printer never works",
            "that game was fucking incredible",
            "oh crap, i forgot my keys",
        ),
    ),
    "abuse_non_protected": (
        NOT_HATEFUL,
        (
            "{t} is a complete idiot",
            "{t} is such a useless moron",
            "screw {t}, what a clown",
            "{t} is the dumbest person alive",
            "i can't stand {t}, such a jerk",
            "{t} is an annoying piece of work",
        ),
    ),
}

FUNCTIONALITIES = tuple(TEMPLATES)
THREAT_FUNCTIONALITIES = ("threat_explicit", "threat_implied", "threat_individual")


@dataclass(frozen=True)
class Case:
    text: str
    functionality: str
    harmful: bool


_TOKEN = re.compile(r"[a-z]+")


def slur_tokens(k: int = 8, *, min_count: int = 10, min_share: float = 0.4) -> list[str]:
    """The ``k`` tokens most specific to Davidson's "hate" class (share of a token's rows labelled hate
    >= ``min_share``, >= ``min_count`` hate rows, not a word of ToxiGen's neutral statements): in that
    data these are slurs. Derived at run time so no slur is written in the code; never log them."""
    from trendml.datasets import load_davidson, load_toxigen_seeds

    dav = load_davidson()
    tox = load_toxigen_seeds()
    neutral_words = {w for t in tox.loc[tox["severity"] == 0, "text"] for w in _TOKEN.findall(t.lower())}
    hate, total = Counter(), Counter()
    for text, sev in zip(dav["text"], dav["severity"], strict=True):
        words = set(_TOKEN.findall(text.lower()))
        total.update(words)
        if sev == 2:
            hate.update(words)
    scored = [
        (hate[w] / total[w], w)
        for w in hate
        if hate[w] >= min_count and hate[w] / total[w] >= min_share and w not in neutral_words and len(w) > 2
    ]
    return [w for _, w in sorted(scored, reverse=True)[:k]]


def _obfuscate(word: str) -> str:
    """Leetspeak for the vowels and a separator after the first letter (``x*y3z`` style)."""
    table = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0"})
    w = word.translate(table)
    return w[0] + "*" + w[1:] if len(w) > 2 else w


def build_suite(slurs: Sequence[str] | None = None) -> list[Case]:
    """Every case: each template filled with each of its terms (identity terms, non-protected targets
    or slur tokens); templates without a slot are used once."""
    slurs = list(slur_tokens() if slurs is None else slurs)
    cases: list[Case] = []
    for func, (kind, templates) in TEMPLATES.items():
        for tpl in templates:
            if "{g}" in tpl:
                fills = [tpl.format(g=g) for g in SUITE_GROUPS]
            elif "{t}" in tpl:
                fills = [tpl.format(t=t) for t in SUITE_OTHER_TARGETS]
            elif "{s}" in tpl:
                fills = [tpl.format(s=s) for s in slurs]
            elif "{s_obf}" in tpl:
                fills = [tpl.format(s_obf=_obfuscate(s)) for s in slurs]
            else:
                fills = [tpl]
            cases += [Case(text=f, functionality=func, harmful=kind == HARMFUL) for f in fills]
    return cases


def score_suite(
    cases: Sequence[Case], predict: Callable[[list[str]], tuple[np.ndarray, np.ndarray]]
) -> dict[str, float]:
    """``behaviour.<functionality>.acc`` (harmful: severity >= 2; not hateful: <= 1),
    ``behaviour.overall_acc`` (mean over cases), ``behaviour.min_functionality_acc``,
    ``behaviour.<threat functionality>.level3`` (share scored exactly 3). ``predict(texts)`` returns
    ``(severity labels, probabilities)``."""
    from trendml.text import normalise_text

    texts = [normalise_text(c.text) for c in cases]
    labels, _ = predict(texts)
    labels = np.asarray(labels)
    harmful = np.array([c.harmful for c in cases])
    correct = np.where(harmful, labels >= 2, labels <= 1)
    funcs = np.array([c.functionality for c in cases])
    out: dict[str, float] = {"behaviour.overall_acc": float(correct.mean()), "behaviour.n": float(len(cases))}
    accs = []
    for f in dict.fromkeys(funcs.tolist()):
        sel = funcs == f
        acc = float(correct[sel].mean())
        accs.append(acc)
        out[f"behaviour.{f}.acc"] = acc
        if f in THREAT_FUNCTIONALITIES:
            out[f"behaviour.{f}.level3"] = float((labels[sel] == 3).mean())
    out["behaviour.min_functionality_acc"] = float(min(accs))
    return out


def run_suite(model, embed: Callable[[Sequence[str]], np.ndarray], cases: Sequence[Case] | None = None):  # noqa: ANN001, ANN201
    """Score the suite (or ``cases``) with a fitted :class:`~trendml.severity.SeverityModel`;
    ``embed(texts)`` returns the texts' vectors. Returns the ``behaviour.*`` metric dict."""
    cases = build_suite() if cases is None else cases

    def predict(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        proba = model.predict_proba(texts, embed(texts))
        return model.decide(proba), proba

    return score_suite(cases, predict)
