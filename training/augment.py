"""Counterfactual augmentation: synthetic training rows labelled by rule, so the model sees that
*mentioning* a group is not hateful while attacking or threatening one is.

- templates x identity terms, each template labelled by its kind: neutral / positive statements,
  negated hate, counter-speech and reported speech about a group -> 0; derogation and
  dehumanisation of a group -> 2; threats against a group or a person -> 3 (many harmful templates
  have a negated or counter-speech twin with the same words around the group, so the group word
  itself carries no signal);
- identity swaps of ToxiGen's training statements: each neutral statement (0) and each hateful one (2)
  is repeated with its group word replaced by another group of this module's list.

The templates and identity terms are disjoint from the behavioural suite's (``training/behaviour.py``;
checked by ``tests/severity/test_behaviour.py``), so the suite does not measure its own training data.
Rows are tagged ``dataset = "augment"``; the training source is that of ToxiGen statements
(``source = "toxigen_seeds"``) so the source gate sees one statement style.
"""

from __future__ import annotations

import hashlib
import logging
import re

import pandas as pd

logger = logging.getLogger(__name__)

AUGMENT_GROUPS = (
    "latinos",
    "christians",
    "lesbians",
    "refugees",
    "native americans",
    "chinese people",
    "sikhs",
    "bisexual people",
    "deaf people",
    "romani people",
)

# (severity, templates); "{g}" = an identity term of AUGMENT_GROUPS; a template without "{g}" is used once
AUGMENT_TEMPLATES: tuple[tuple[int, tuple[str, ...]], ...] = (
    (  # neutral / positive mentions
        0,
        (
            "several {g} spoke at the school board meeting on tuesday",
            "my best friend grew up in a family of {g}",
            "{g} contribute a lot to our local economy",
            "the library is hosting a reading by {g} authors",
            "a group of {g} opened a bakery downtown",
            "statistics on {g} in the workforce were released",
            "{g} deserve the same respect as everyone else",
            "i learned a lot from the {g} in my class",
            "{g} celebrate the holidays with big family dinners",
            "my doctor and her partner are {g}",
            "{g} have a long history in this region",
            "the festival showcased music by {g}",
            "we welcomed the {g} who moved onto our block",
            "the podcast this week features two {g} talking about careers",
        ),
    ),
    (  # negation of a hateful claim
        0,
        (
            "{g} are not criminals, that stereotype is false",
            "i refuse to believe that {g} are dangerous",
            "it's not true that {g} are dirty",
            "i don't think {g} are any worse than anyone else",
            "{g} aren't the problem here",
            "nobody should hate {g} for who they are",
            "there's no reason to fear {g}",
            "{g} do not deserve this abuse",
            "it's false that {g} are violent",
            "{g} are no less human than you or me",
            "i'd never say {g} are stupid",
            "{g} are not rats, they are people",
        ),
    ),
    (  # counter-speech and reported speech
        0,
        (
            "saying {g} deserve to suffer is cruel and wrong",
            "we should defend {g} when people harass them",
            "posting that {g} are a disease is bigotry, plain and simple",
            "the article quoted a man who said {g} were rats, and readers were outraged",
            "a politician was criticised for saying {g} should be deported",
            "enough with the bigotry toward {g}",
            "report anyone who harasses {g}",
            "we stand with {g} against hate",
            "spreading hatred of {g} is unacceptable",
            "blaming {g} for everything is lazy scapegoating",
            "racist remarks about {g} have to stop",
            "the senator condemned a rally where speakers insulted {g}",
            "a survey found that many {g} experience harassment at work",
            "historians document how {g} were persecuted",
            "a viral video showed a man screaming abuse at {g}, and he was charged",
            "anyone who wants to hurt {g} should be ashamed",
        ),
    ),
    (  # derogation and dehumanisation
        2,
        (
            "{g} are criminals, every single one of them",
            "{g} are dangerous and dirty",
            "{g} deserve to suffer",
            "{g} are a disease that spreads",
            "{g} are rats and always will be",
            "{g} should be deported, they are trash",
            "i despise {g}, they are pathetic",
            "{g} are an inferior people",
            "{g} are the problem with this country",
            "{g} are violent by nature",
            "get rid of all the {g}",
            "{g} are less human than the rest of us",
            "i'm sick of {g} everywhere, they ruin our neighbourhoods",
            "{g} are stupid and deserve every bit of abuse they get",
        ),
    ),
    (  # threats and calls for violence against a group
        3,
        (
            "we are going to murder the {g} in their homes",
            "i will put a bullet in every one of the {g} i find",
            "the {g} will burn, we have the petrol ready",
            "tonight we attack the {g} with bats and knives",
            "i will bomb the church of the {g} on sunday",
            "line the {g} up against the wall and shoot them",
            "we should hunt the {g} down and finish them off",
            "i'll run over any of the {g} i see crossing the road",
        ),
    ),
    (  # threats against a person (no group)
        3,
        (
            "i'm going to slit your throat",
            "you're dead meat when i find you",
            "i'll bash your head in with a hammer",
            "i will end your life, count on it",
            "i will track you down and hurt you badly",
            "one more word and i'll shoot you",
            "i'm going to drown you in the lake",
            "you will not survive the night if you show up",
        ),
    ),
)

#: more template families (2026-11-30, second pass): short positive / neutral mentions, speakers of the
#: group talking about themselves, support and counter-speech phrased as a reply, negations, implied
#: threats against a group and a person. Kept apart from :data:`AUGMENT_TEMPLATES` so the two sets can
#: be measured against each other (``augment.more_templates``).
MORE_TEMPLATES: tuple[tuple[int, tuple[str, ...]], ...] = (
    (  # short positive and neutral mentions
        0,
        (
            "i really admire {g}",
            "{g} are generous and hardworking",
            "{g} make great friends",
            "{g} enrich our culture",
            "so grateful for the {g} who helped us move",
            "{g} are smart, funny and kind",
            "our team is stronger with {g} on it",
            "shout out to all the {g} out there",
            "{g} live all over the country",
            "a documentary about {g} airs tonight",
            "i have a few friends who are {g}",
            "{g} were at the parade this morning",
            "the census counts {g} separately this year",
            "two {g} won the science prize",
        ),
    ),
    (  # in-group speakers about themselves
        0,
        (
            "as one of the {g} in this town, i feel at home here",
            "we {g} look out for each other",
            "growing up among {g} taught me a lot",
            "proud to be one of the {g}, always have been",
            "my family are {g} and we love this holiday",
            "speaking as one of the {g}, thank you for the support",
        ),
    ),
    (  # support and counter-speech phrased as a reply
        0,
        (
            "leave {g} alone, they did nothing to you",
            "hating {g} makes you look small",
            "calling {g} names says more about you than about them",
            "stop harassing {g}, it's not funny",
            "i will always stand up for {g}",
            "it's sickening how some people talk about {g}",
            "don't call {g} subhuman, it's dehumanising and false",
            "threatening {g} is a crime, i reported your comment",
            "wishing harm on {g} is vile, delete this",
            "the comments attacking {g} in this thread are shameful",
            "people who insult {g} should look in a mirror",
            "you can disagree without smearing {g}",
        ),
    ),
    (  # negations of hateful claims
        0,
        (
            "{g} are not animals",
            "{g} are not dirty, that's a myth",
            "not a single one of the {g} i know is lazy",
            "{g} are not evil, whatever your uncle says",
            "i never said {g} should leave",
            "{g} aren't dangerous at all",
        ),
    ),
    (  # implied threats against a group
        3,
        (
            "the {g} around here will learn what happens when the lights go out",
            "some night soon the {g} won't wake up in their beds",
            "tell the {g} to count their days in this town",
            "we've got a little surprise for the {g} at their meeting, bring the gasoline",
            "the {g} had better start running",
            "let's see how brave the {g} are when we show up at their doors",
        ),
    ),
    (  # threats against a person, explicit and implied
        3,
        (
            "you had better sleep with one eye open",
            "i'm coming to your house tonight and you won't like it",
            "keep it up and they'll find your body in a ditch",
            "i'll put you in the hospital, mark my words",
            "i'm going to choke the life out of you",
            "i will stab you the next time we meet",
            "i'm loading my gun for you right now",
            "you won't see the next sunrise",
        ),
    ),
)

#: ToxiGen group words that an identity swap may replace (whole words, lower case)
_SWAPPABLE = re.compile(
    r"\b(asians?|black people|blacks|chinese|jews|jewish people|latinos?|mexicans?|muslims?|"
    r"native americans?|women|gay people|lgbtq people|immigrants)\b"
)


def _pick(key: str, options: tuple[str, ...], k: int) -> list[str]:
    """``k`` options chosen deterministically from ``key`` (no RNG state)."""
    h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    return [options[(h + 7 * i) % len(options)] for i in range(k)]


def template_rows(*, more: bool = False) -> pd.DataFrame:
    """Template rows; ``more`` adds :data:`MORE_TEMPLATES`."""
    rows = []
    for sev, templates in AUGMENT_TEMPLATES + (MORE_TEMPLATES if more else ()):
        for tpl in templates:
            for g in AUGMENT_GROUPS if "{g}" in tpl else ("",):
                rows.append({"text": tpl.format(g=g), "severity": sev})
    return pd.DataFrame(rows)


def swap_rows(toxigen_train: pd.DataFrame, per_row: int = 1) -> pd.DataFrame:
    """ToxiGen training statements with their group word swapped for ``per_row`` groups of
    :data:`AUGMENT_GROUPS`; the label (0 neutral, 2 hateful) is kept."""
    rows = []
    for text, sev in zip(toxigen_train["text"], toxigen_train["severity"], strict=True):
        low = text.lower()
        if not _SWAPPABLE.search(low):
            continue
        for g in _pick(low, AUGMENT_GROUPS, per_row):
            rows.append({"text": _SWAPPABLE.sub(g, low), "severity": int(sev)})
    return pd.DataFrame(rows, columns=["text", "severity"])


def augment_rows(
    train: pd.DataFrame, *, swaps: bool = True, templates: bool = True, more_templates: bool = False
) -> pd.DataFrame:
    """Synthetic training rows (columns ``id, text, severity, dataset, split, source``) from the
    training part of ``train`` (never from test rows)."""
    parts = []
    if templates:
        parts.append(template_rows(more=more_templates))
    if swaps:
        tox = train[(train["dataset"] == "toxigen_seeds") & (train["split"] == "train")]
        parts.append(swap_rows(tox))
    if not parts:
        return pd.DataFrame(columns=["id", "text", "severity", "dataset", "split", "source"])
    from trendml.text import normalise_text

    df = pd.concat(parts, ignore_index=True)
    df["text"] = df["text"].map(normalise_text)
    df = df.drop_duplicates("text").reset_index(drop=True)
    df["id"] = [f"augment:{i}" for i in range(len(df))]
    df["dataset"] = "augment"
    df["split"] = "train"
    df["source"] = "toxigen_seeds"
    logger.info("augmentation: %d rows (%s)", len(df), df["severity"].value_counts().to_dict())
    return df
