"""Instructions composed from style words, for training and evaluation.

Templates order the parts differently and leave attributes out. Training instructions also come in
the shapes people write beside full sentences: levels as adjectives of the speaker ("a deep male
voice"), terse lists ("Male voice, fast, loud"), the verb "whispers", words that ask for nothing
("an old man", "calmly"), which the reader must ignore, and the lexicon's person nouns and
modifiers (``tts.instruct.lexicon``). Evaluation instructions (``held_out=True``) take none of these
shapes, so held-out figures measure unseen wording alone.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from tts.instruct.lexicon import GENDERS, members, word_class
from tts.instruct.phrasings import (
    ADJECTIVES,
    DESCRIPTIONS,
    MODIFIERS,
    NEUTRAL_ADJECTIVES,
    NEUTRAL_PHRASES,
    PLAIN_SUBJECTS,
    PREPOSITIONS,
    SPEAKER_ADJECTIVES,
    SPEAKERS,
    STYLE_ATTRIBUTES,
    TEMPLATES,
    TERSE_TEMPLATES,
    WHISPER_TEMPLATES,
    bare_noun,
    held_out_phrasings,
    held_out_words,
)

SHAPE_PROBABILITY = {"adjective": 0.3, "terse": 0.1, "verb": 0.3, "neutral": 0.25, "lexicon": 0.5, "synonym": 0.3}
"""How often a training instruction takes each of the other shapes (where its levels allow);
``lexicon``: a speaker of a gender is any person noun of that gender in ``tts.instruct.lexicon``;
``synonym``: a modifier of the lexicon ("very", "normal") is swapped for another of its class (per
modifier). Words only held-out phrasings use are never drawn, so that the reader learns a word's
class rather than its spelling."""

LEVEL_NOUN = re.compile(r"(?= an? (?:[\w-]+ ){0,2}(?:pitch|voice|pace|speed|volume)\b)")


def compose(
    words: dict[str, str], text: str, rng: random.Random, held_out: bool = False, held_out_phrases: bool | None = None
) -> str:
    """An instruction asking for ``words`` (attribute -> level) to be spoken as ``text``.

    Args:
        words: the attributes to ask for; the others are left out.
        rng: draws phrasings, their order and the template.
        held_out: use the held-out templates (and phrasings; evaluation). Only training
            instructions take the other shapes (adjectives, terse lists, "whispers", neutral words).
        held_out_phrases: use the held-out phrasings (default: as ``held_out``). Held-out templates
            with training phrasings ask in unseen sentence frames but in words the model knows.
    """
    pick = 1 if (held_out if held_out_phrases is None else held_out_phrases) else 0
    gender = words.get("gender")
    subjects = SPEAKERS[gender][pick] or SPEAKERS[gender][0]
    if pick == 0:
        # evaluation in training phrasings asks with the plain subjects, as it always did
        plain = PLAIN_SUBJECTS[gender]
        subjects = subjects[plain:] if not held_out and rng.random() < 0.5 else subjects[:plain]
    subject = rng.choice(subjects)
    if not held_out and gender in GENDERS and rng.random() < SHAPE_PROBABILITY["lexicon"]:
        noun = rng.choice(members(gender, held_out_words()))
        subject = ("an " if noun[0] in "aeiou" else "a ") + noun
    if not held_out and rng.random() < SHAPE_PROBABILITY["terse"]:
        return _terse(words, subject, text, rng)
    levels = {a: words[a] for a in STYLE_ATTRIBUTES if a in words}
    if not held_out:
        subject = _subject_adjectives(subject, levels, rng)
    phrases = []
    for attribute, level in levels.items():
        options = DESCRIPTIONS[attribute][level][pick] or DESCRIPTIONS[attribute][level][0]
        if options:
            phrases.append(rng.choice(options))
    rng.shuffle(phrases)
    template = rng.choice(TEMPLATES[1 if held_out else 0])
    if not held_out:
        if levels.get("whisper") == "yes" and rng.random() < SHAPE_PROBABILITY["verb"]:
            template = rng.choice(WHISPER_TEMPLATES)
            phrases = [p for p in phrases if p not in DESCRIPTIONS["whisper"]["yes"][0]]
        if rng.random() < SHAPE_PROBABILITY["neutral"]:
            phrases.insert(rng.randrange(len(phrases) + 1), rng.choice(NEUTRAL_PHRASES))
    style = ", ".join(phrases[:-1]) + (" and " if len(phrases) > 1 else "") + (phrases[-1] if phrases else "")
    if not style:
        template = template.replace(", {style}", "").replace(" {style}", "").replace("{Style}, ", "")
    capital = {"Subject": _capital(subject), "Style": _capital(style)}
    out = _tidy(template.format(subject=subject, style=style, text=text, **capital))
    return out if held_out else _swap_modifiers(out, rng)


def _capital(phrase: str) -> str:
    return phrase[:1].upper() + phrase[1:]


def _tidy(out: str) -> str:
    """``out`` with single spaces, none before punctuation and its articles right (``_articles``)
    outside the quoted text (spoken as given: "a unicorn"), and a capital first letter."""

    def tidy(part: str) -> str:
        return _articles(re.sub(r"\s+([,.:])", r"\1", re.sub(r"\s{2,}", " ", part)))

    return _capital(_outside_quotes(out, tidy).strip())


def _outside_quotes(instruction: str, change: Callable[[str], str]) -> str:
    """``instruction`` with ``change`` applied to each part outside its double quotes."""
    parts = re.split(r'("[^"]*")', instruction)
    return "".join(part if part.startswith('"') else change(part) for part in parts)


def _swap_modifiers(instruction: str, rng: random.Random) -> str:
    """``instruction`` with some modifiers outside its quotes swapped for others of their class
    ("very slowly" -> "really slowly") and some prepositions of level phrases for others ("at a
    low pitch" -> "with a low pitch"); unchanged where that would make a held-out phrasing."""

    def swap(match: re.Match[str]) -> str:
        word = match.group()
        if word.lower() in PREPOSITIONS and LEVEL_NOUN.match(match.string, match.end()):
            options = PREPOSITIONS
        elif (kind := word_class(word)) in MODIFIERS:
            options = members(kind, held_out_words())
        else:
            return word
        if rng.random() >= SHAPE_PROBABILITY["synonym"]:
            return word
        other = rng.choice(options)
        return _capital(other) if word[0].isupper() else other

    swapped = _outside_quotes(instruction, lambda part: _articles(re.sub(r"[A-Za-z]+", swap, part)))
    lowered = swapped.lower()
    if any(re.search(rf"\b{re.escape(phrase)}\b", lowered) for phrase in held_out_phrasings()):
        return instruction
    return swapped


def _articles(phrase: str) -> str:
    """``phrase`` with "a" / "an" as the next word's first letter asks ("a extremely" -> "an extremely")."""
    phrase = re.sub(r"\b([Aa])n (?=[b-df-hj-np-tv-zB-DF-HJ-NP-TV-Z])", r"\1 ", phrase)
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", phrase)


def _subject_adjectives(subject: str, levels: dict[str, str], rng: random.Random) -> str:
    """``subject`` ("a man") with some of ``levels`` (removed from it) and perhaps a neutral
    word as adjectives before its noun ("a deep, soft-spoken man")."""
    article, _, noun = subject.partition(" ")
    if article not in ("a", "an"):
        return subject  # "someone" takes no adjective
    adjectives = []
    for attribute in SPEAKER_ADJECTIVES:
        offered = attribute in levels and ADJECTIVES[attribute][levels[attribute]]
        if offered and rng.random() < SHAPE_PROBABILITY["adjective"]:
            adjectives.append(rng.choice(ADJECTIVES[attribute][levels.pop(attribute)]))
    if rng.random() < SHAPE_PROBABILITY["neutral"]:
        adjectives.insert(0, rng.choice(NEUTRAL_ADJECTIVES))
    return "a " + "".join(adjective + ", " for adjective in adjectives[:-1]) + " ".join([*adjectives[-1:], noun])


def _terse(words: dict[str, str], subject: str, text: str, rng: random.Random) -> str:
    """``words`` as a terse list of adjectives (phrases for levels without one) beside the
    subject without its article."""
    options = [ADJECTIVES[a][words[a]] or DESCRIPTIONS[a][words[a]][0] for a in STYLE_ATTRIBUTES if a in words]
    listed = [rng.choice(phrases) for phrases in options if phrases]
    rng.shuffle(listed)
    subject = bare_noun(subject)
    if not listed:
        return _tidy(f'{_capital(subject)}: "{text}"')
    terse = ", ".join(listed)
    template = rng.choice(TERSE_TEMPLATES)
    return _tidy(
        template.format(subject=subject, Subject=_capital(subject), terse=terse, Terse=_capital(terse), text=text)
    )
