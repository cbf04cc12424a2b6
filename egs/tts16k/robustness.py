"""The robustness set: at least 200 varied evaluation sentences that stress a TTS model.

Categories: single words, about 60 words, numbers (money, dates, times, percentages, ordinals,
decades, fractions, units), repeated words, punctuation runs, abbreviations and symbols, very
short phrases and shouted or unpunctuated text. Material comes from templates written here and
from held-out sentences (never from training sentences), drawn with a seeded generator, so the set
is the same on every machine for the same held-out pool.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

MONTHS = ("January", "March", "April", "June", "July", "August", "October", "December")
NUMBER_TEMPLATES = (
    "The repair bill came to ${a}.{c:02d} in the end.",
    "She was born on {month} {d}, {year}.",
    "The train leaves platform {k} at {h}:{m:02d} {ap}",
    "About {p}% of the {big:,} voters stayed at home.",
    "He finished {k}{suffix} out of {n} runners.",
    "The {decade}s were a strange time for music.",
    "Add {k}/{q} cup of sugar and {x}.{y} grams of salt.",
    "Room {n}, floor {k}, costs ${a} a night.",
    "It was {t} degrees at noon and {t2}°C at night.",
    "We drove {n} km in {k} hours, at {v} mph.",
)
REPEATED = (
    "No no no no no no.",
    "Very very very very very good.",
    "Go, go, go, go, go!",
    "The the the the the end.",
    "Ha ha ha ha ha ha ha ha.",
    "Buffalo buffalo buffalo buffalo buffalo buffalo buffalo buffalo.",
    "Yes, yes, yes, yes, yes, yes, yes.",
    "Stop. Stop. Stop. Stop.",
    "One, two, one, two, one, two, one, two.",
    "Left right left right left right left right.",
)
PUNCTUATION_STYLES = (
    lambda s: s[:-1] + "!!!",
    lambda s: s[:-1] + "?!?!",
    lambda s: s[:-1] + "...",
    lambda s: s.replace(" ", ",,, ", 1),
    lambda s: f'"{s}"',
    lambda s: f"({s})",
    lambda s: s.replace(" ", " -- ", 2),
    lambda s: s.replace(" ", ";; ", 1)[:-1] + "!!",
    lambda s: "... " + s,
    lambda s: s[:-1] + " ... ? ! .",
)
ABBREVIATIONS = (
    "Dr. Smith met Mr. Jones at 5 p.m. on Main St.",
    "Prof. Lee & Co. won the award, i.e. the big one.",
    "Mrs. Brown lives at No. 12, Elm Rd., near Mt. Hood.",
    "The U.S.A. and the U.K. signed it on Jan. 3, 1998.",
    "Capt. Hook vs. Peter Pan, etc.",
    "St. Paul's is on Ludgate Hill, e.g. near the river.",
    "Gen. Grant & Col. Mustard met at 10:30 a.m.",
    "Call #1 at 9 a.m. and #2 at 4 p.m.",
    "Sgt. Pepper's band played 3/4 of the songs.",
    "The temperature fell to -5°C; wind was 40 km/h.",
    "Prices rose 3.5% to $1.2 million in the 1990s.",
    "Lt. Dan ran 26.2 mi in 3 hrs.",
    "Meet Dr. Who at 221 Baker St. at 7 pm.",
    "It weighs 2 kg, i.e. about 4.4 lbs.",
    "Rev. Green paid £20 and €15.",
    "The score was 3-2 after 90 minutes.",
    "The 2nd, 3rd and 21st entries were late.",
    "Hon. members voted 250 to 199.",
    "Ms. Black, Jr. and Sr. came at 12:00.",
    "Approx. 1,000,000 people watched.",
)


def _words(sentence: str) -> list[str]:
    return re.findall(r"[A-Za-z']+", sentence)


def _number_sentence(rng: random.Random, template: str) -> str:
    values = {
        "a": rng.randint(2, 9999),
        "c": rng.randint(1, 99),
        "month": rng.choice(MONTHS),
        "d": rng.randint(1, 28),
        "year": rng.randint(1100, 2099),
        "k": rng.randint(1, 12),
        "h": rng.randint(1, 12),
        "m": rng.randint(0, 59),
        "ap": rng.choice(("a.m.", "p.m.")),
        "p": rng.randint(2, 99),
        "big": rng.randint(1000, 9_999_999),
        "n": rng.randint(13, 999),
        "decade": rng.choice(range(1900, 2030, 10)),
        "q": rng.choice((2, 3, 4, 8)),
        "x": rng.randint(1, 20),
        "y": rng.randint(1, 9),
        "t": rng.randint(-20, 110),
        "t2": rng.randint(-30, 40),
        "v": rng.randint(20, 90),
    }
    values["suffix"] = {1: "st", 2: "nd", 3: "rd"}.get(values["k"], "th")
    return template.format(**values)


def robust_sentences(heldout: Sequence[str], seed: int = 0) -> list[tuple[str, str]]:
    """``(category, sentence)`` pairs, 220 in all (fewer when ``heldout`` has few sentences).

    Args:
        heldout: evaluation sentences (never training ones) to borrow words and sentences from.
        seed: the draw.
    """
    rng = random.Random(f"tts16k-robust-{seed}")
    pool = sorted(set(heldout))
    out: list[tuple[str, str]] = []
    words = sorted({w for s in pool for w in _words(s) if len(w) >= 4 and "'" not in w})
    for word in rng.sample(words, min(40, len(words))):
        out.append(("one-word", word.capitalize() + rng.choice(".!?")))
    for _ in range(30 if pool else 0):
        picked: list[str] = []
        while sum(len(s.split()) for s in picked) < 55:
            picked.append(rng.choice(pool))
        out.append(("sixty-words", " ".join(picked)))
    for template in NUMBER_TEMPLATES:
        drawn: dict[str, None] = {}
        while len(drawn) < 4:
            drawn[_number_sentence(rng, template)] = None
        out += [("numbers", s) for s in drawn]
    out += [("repeated", s) for s in REPEATED]
    for word in rng.sample(words, min(20, len(words))):
        out.append(("repeated", " ".join([word.lower()] * rng.randint(3, 12)).capitalize() + "."))
    for i, sentence in enumerate(rng.sample(pool, min(30, len(pool)))):
        out.append(("punctuation", PUNCTUATION_STYLES[i % len(PUNCTUATION_STYLES)](sentence)))
    out += [("abbreviations", s) for s in ABBREVIATIONS]
    for sentence in rng.sample(pool, min(20, len(pool))):
        head = " ".join(sentence.split()[: rng.randint(1, 3)]).rstrip(",;:.!?")
        out.append(("short", head + rng.choice(("?", "!", "."))))
    for i, sentence in enumerate(rng.sample(pool, min(10, len(pool)))):
        out.append(("case", sentence.upper() if i % 2 == 0 else sentence.lower().rstrip(".!?")))
    return list(dict.fromkeys(out))
