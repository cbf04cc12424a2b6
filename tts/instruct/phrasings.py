"""The words of style instructions: every attribute's levels and their phrasings, the speakers'
nouns, adjectives, neutral words and sentence frames that ``tts.instruct.composing`` writes
instructions from and ``tts.instruct.instructions`` reads them by.

Attribute levels (``LEVELS``) are the bins of ``tts.instruct.bins``. Every level has several
phrasings; the phrasings, subjects and templates marked held out never appear in training, so
evaluation can ask in unseen wordings.
"""

from __future__ import annotations

import functools
import re

from tts.instruct.lexicon import CLASSES, GENDERS, lexicon

LEVELS: dict[str, tuple[str, ...]] = {
    "gender": ("male", "female"),
    "pitch": ("very low", "low", "medium", "high", "very high"),
    "rate": ("very slow", "slow", "medium", "fast", "very fast"),
    "loudness": ("very quiet", "quiet", "medium", "loud", "very loud"),
    "whisper": ("no", "yes"),
}
"""Every attribute's levels, lowest first."""

SPEAKERS = {
    "male": (
        [
            "a man",
            "a male speaker",
            "a male voice",
            "a father",
            "a grandfather",
            "a husband",
            "a brother",
            "an uncle",
            "a king",
            "a businessman",
            "a policeman",
            "a salesman",
            "a fisherman",
            "a sportsman",
            "a boy",
        ],
        ["a gentleman", "a guy"],
    ),
    "female": (
        [
            "a woman",
            "a female speaker",
            "a female voice",
            "a mother",
            "a grandmother",
            "a wife",
            "a sister",
            "an aunt",
            "a queen",
            "a businesswoman",
            "a policewoman",
            "a saleswoman",
            "a fisherwoman",
            "a sportswoman",
        ],
        ["a lady", "a girl"],
    ),
    None: (
        [
            "a speaker",
            "a person",
            "someone",
            "a voice",
            "a reader",
            "an announcer",
            "a teacher",
            "a doctor",
            "a student",
            "a host",
            "a presenter",
            "a stranger",
            "a neighbour",
            "a friend",
            "a customer",
            "a pilot",
        ],
        ["a narrator"],
    ),
}
"""Subject phrases per gender: (training phrasings, held-out phrasings). The first ``PLAIN_SUBJECTS``
of each are drawn as often as all the others together: family, title and trade nouns for a gender,
nouns of either gender for none (so that a noun the reader does not know reads as no gender)."""

PLAIN_SUBJECTS = {"male": 3, "female": 3, None: 4}

DESCRIPTIONS: dict[str, dict[str, tuple[list[str], list[str]]]] = {
    "pitch": {
        "very low": (["with a very low voice", "with a very deep voice", "in an extremely low pitch"], ["very deeply"]),
        "low": (["with a low voice", "with a deep voice", "in a low pitch"], ["with a lowish voice"]),
        "medium": (["with a medium-pitched voice", "at a normal pitch"], ["with an average pitch"]),
        "high": (["with a high voice", "in a high pitch", "with a high-pitched voice"], ["with a higher voice"]),
        "very high": (["with a very high voice", "in an extremely high pitch"], ["with a very high-pitched voice"]),
    },
    "rate": {
        "very slow": (["very slowly", "at a very slow pace", "extremely slowly"], ["at a very slow speed"]),
        "slow": (["slowly", "at a slow pace", "unhurriedly"], ["at a slow speed"]),
        "medium": (["at a normal pace", "at a moderate speed"], ["at an average pace"]),
        "fast": (["quickly", "fast", "at a fast pace"], ["at a quick speed"]),
        "very fast": (["very quickly", "very fast", "at a very fast pace"], ["extremely quickly"]),
    },
    "loudness": {
        "very quiet": (["very quietly", "very softly"], ["extremely quietly"]),
        "quiet": (["quietly", "softly", "at a low volume"], ["in a quiet voice"]),
        "medium": (["at a normal volume", "at a moderate volume"], ["at an average volume"]),
        "loud": (["loudly", "at a high volume"], ["in a loud voice"]),
        "very loud": (["very loudly", "at a very high volume"], ["extremely loudly"]),
    },
    "whisper": {
        "yes": (["in a whisper", "whispering"], ["in a whispered voice"]),
        "no": ([], []),
    },
}
"""Phrases per attribute level: (training phrasings, held-out phrasings)."""

ADJECTIVES: dict[str, dict[str, list[str]]] = {
    "pitch": {
        "very low": ["very deep", "very low-pitched"],
        "low": ["deep", "low-pitched", "deep-voiced"],
        "medium": ["medium-pitched"],
        "high": ["high-pitched", "high-voiced"],
        "very high": ["extremely high-pitched", "very high-voiced"],
    },
    "rate": {
        "very slow": ["very slow"],
        "slow": ["slow", "unhurried"],
        "medium": ["moderately paced"],
        "fast": ["fast", "rapid"],
        "very fast": ["very fast", "very rapid"],
    },
    "loudness": {
        "very quiet": ["very quiet", "very soft"],
        "quiet": ["quiet", "soft", "soft-spoken"],
        "medium": [],
        "loud": ["loud"],
        "very loud": ["very loud"],
    },
    "whisper": {"yes": ["whispering"], "no": []},
}
"""Adjectives per attribute level (training): before the speaker's noun, or listed tersely."""

STYLE_ATTRIBUTES = tuple(attribute for attribute in LEVELS if attribute != "gender")
"""The attributes a description's phrases ask for (gender is the subject's), in composing order."""

SPEAKER_ADJECTIVES = ("pitch", "loudness", "whisper")
"""The attributes whose adjectives fit a speaker ("a soft-spoken woman"; "a fast man" would not)."""

WHISPER_VERB = "whispers"
WHISPER_TEMPLATES = (
    '{Subject} whispers {style}: "{text}"',
    '{Style}, {subject} whispers "{text}"',
    '{Subject} whispers "{text}" {style}.',
)
"""Training templates in which the verb asks for the whisper ("A man whispers: ...")."""

NEUTRAL_ADJECTIVES = ("young", "old", "calm", "friendly", "cheerful", "serious", "tired", "warm", "clear")
NEUTRAL_PHRASES = (
    "calmly",
    "cheerfully",
    "clearly",
    "warmly",
    "with a smile",
    "in a serious tone",
    "with emotion",
    "aloud",
)
"""Words that ask for none of the attributes: training mixes them in so that the reader ignores them
("aloud" is not "loud")."""

TERSE_TEMPLATES = ('{Subject}, {terse}: "{text}"', '{Terse} {subject}: "{text}"', '{Subject}. {Terse}. "{text}"')
"""Training templates that list the levels as adjectives; the subject goes without its article."""

MODIFIERS = tuple(kind for kind in CLASSES if kind not in GENDERS)
"""The lexicon's modifier classes ("very" is any ``intense`` word, "normal" any ``middle`` one)."""

PREPOSITIONS = ("at", "in", "with")
"""The prepositions of a level phrase ("at a normal pitch", "in a low pitch", "with a low voice"):
training swaps them for each other, and the reader takes any of them."""

TEMPLATES = (
    [
        '{Subject} speaks {style}: "{text}"',
        '{Subject} says {style}: "{text}"',
        '{Style}, {subject} says "{text}"',
        'Say "{text}" {style}, as {subject}.',
        '"{text}" spoken by {subject} {style}.',
        'In the voice of {subject}, {style}: "{text}"',
        'Make {subject} say "{text}" {style}.',
        'Please have {subject} say "{text}" {style}.',
        'I want to hear {subject} say "{text}" {style}.',
        'Generate {subject} saying "{text}" {style}.',
        'Synthesize "{text}" in the voice of {subject}, {style}.',
        '{Subject} is talking {style}, saying "{text}"',
        'Let {subject} speak {style}: "{text}"',
        'Here is {subject}, talking {style}: "{text}"',
        'The words "{text}", said by {subject} {style}.',
        'Record {subject} saying "{text}" {style}.',
        '{Style}, {subject} tells us: "{text}"',
        'Produce speech of {subject} {style}: "{text}"',
        'Can you make {subject} say "{text}" {style}?',
        'Imagine {subject} speaking {style}. The line is "{text}"',
        '{Subject} delivers the line "{text}" {style}.',
        'Dialogue for {subject}, spoken {style}: "{text}"',
        'Have {subject} announce {style}: "{text}"',
        'We hear {subject} speak {style}: "{text}"',
        'A line for {subject}, {style}: "{text}"',
        'Text: "{text}" Speaker: {subject}, {style}.',
        'A recording of {subject} speaking {style}: "{text}"',
        '{Subject} talks {style} and says "{text}"',
    ],
    [
        'Read this {style} as {subject} would: "{text}"',
        '{Subject} reads "{text}" aloud {style}.',
    ],
)
"""(training templates, held-out templates); ``{style}`` joins the chosen phrases."""


@functools.cache
def held_out_phrasings() -> tuple[str, ...]:
    """The held-out phrasings of levels and subjects."""
    held = [phrase for levels in DESCRIPTIONS.values() for _, out in levels.values() for phrase in out]
    return tuple(held + [phrase for _, out in SPEAKERS.values() for phrase in out])


@functools.cache
def held_out_words() -> frozenset[str]:
    """Words of held-out phrasings that no training phrasing uses ("lady", "average"), and the
    lexicon's words that contain one ("ladylove"): no training instruction draws them."""
    training = [p for levels in DESCRIPTIONS.values() for train, _ in levels.values() for p in train]
    training += [p for levels in ADJECTIVES.values() for options in levels.values() for p in options]
    training += [p for train, _ in SPEAKERS.values() for p in train]
    known = {word for phrase in training for word in re.findall(r"[a-z]+", phrase)}
    held = {w for phrase in held_out_phrasings() for w in re.findall(r"[a-z]+", phrase) if w not in known}
    # "girlfriend" and "ladylove" would show the bytes of "girl" and "lady" with their gender
    return frozenset(word for word in lexicon() if any(h in word for h in held)) | held


def bare_noun(subject: str) -> str:
    """A subject phrase without its article ("an uncle" -> "uncle")."""
    return re.sub(r"^an? ", "", subject)
