"""Natural-language style instructions: composed from style words for training and evaluation, and
split into the style description and the words to speak at synthesis.

The rule for the spoken text: the part of the instruction in double quotes (straight or curly) is
spoken; the rest describes the style. An instruction without quoted text is refused unless the
text is given separately (``parse_instruction(instruction, text=...)``, Parler-TTS's form).

Attribute levels (``LEVELS``) are the bins of ``tts.instruct.bins``. Every level has several
phrasings; templates order the parts differently and leave attributes out. The phrasings and
templates marked held out never appear in training, so evaluation can ask in unseen wordings.
Training instructions also come in the shapes people write beside full sentences: levels as
adjectives of the speaker ("a deep male voice"), terse lists ("Male voice, fast, loud"), the verb
"whispers", and words that ask for nothing ("an old man", "calmly"), which the reader must ignore.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass

from codec.errors import CodecError
from tts.instruct.lexicon import CLASSES, GENDERS, lexicon, members, word_class

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

SHAPE_PROBABILITY = {"adjective": 0.3, "terse": 0.1, "verb": 0.3, "neutral": 0.25, "lexicon": 0.5, "synonym": 0.3}
"""How often a training instruction takes each of the other shapes (where its levels allow);
``lexicon``: a speaker of a gender is any person noun of that gender in ``tts.instruct.lexicon``;
``synonym``: a modifier of the lexicon ("very", "normal") is swapped for another of its class (per
modifier). Words only held-out phrasings use are never drawn, so that the reader learns a word's
class rather than its spelling."""

MODIFIERS = tuple(kind for kind in CLASSES if kind not in GENDERS)
PREPOSITIONS = ("at", "in", "with")
"""The prepositions of a level phrase ("at a normal pitch", "in a low pitch", "with a low voice"):
training swaps them too (``synonym``), and ``known_words`` reads any of them."""
LEVEL_NOUN = re.compile(r"(?= an? (?:[\w-]+ ){0,2}(?:pitch|voice|pace|speed|volume)\b)")

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

QUOTES = re.compile(r'["\u201c\u201d](.+?)["\u201c\u201d]', re.S)
PLACEHOLDER = '"..."'
MAX_INSTRUCTION_BYTES = 512


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
        noun = rng.choice(members(gender, _held_out_words()))
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
    out = re.sub(r"\s+([,.:])", r"\1", re.sub(r"\s{2,}", " ", out)).strip()
    return _capital(re.sub(r"\ba (?=[aeiou])", "an ", out))


def _swap_modifiers(instruction: str, rng: random.Random) -> str:
    """``instruction`` with some modifiers outside its quotes swapped for others of their class
    ("very slowly" -> "really slowly") and some prepositions of level phrases for others ("at a
    low pitch" -> "with a low pitch"); unchanged where that would make a held-out phrasing."""

    def swap(match: re.Match[str]) -> str:
        word = match.group()
        if word.lower() in PREPOSITIONS and LEVEL_NOUN.match(match.string, match.end()):
            options = PREPOSITIONS
        elif (kind := word_class(word)) in MODIFIERS:
            options = members(kind, _held_out_words())
        else:
            return word
        if rng.random() >= SHAPE_PROBABILITY["synonym"]:
            return word
        other = rng.choice(options)
        return _capital(other) if word[0].isupper() else other

    parts = re.split(r'("[^"]*")', instruction)
    swapped = "".join(part if part.startswith('"') else _articles(re.sub(r"[A-Za-z]+", swap, part)) for part in parts)
    lowered = swapped.lower()
    if any(re.search(rf"\b{re.escape(phrase)}\b", lowered) for phrase in _held_out_phrases()):
        return instruction
    return swapped


def _articles(phrase: str) -> str:
    """``phrase`` with "a" / "an" as the next word's first letter asks ("a extremely" -> "an extremely")."""
    phrase = re.sub(r"\b([Aa])n (?=[b-df-hj-np-tv-zB-DF-HJ-NP-TV-Z])", r"\1 ", phrase)
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", phrase)


def _noun(subject: str) -> str:
    """A subject phrase without its article ("an uncle" -> "uncle")."""
    return re.sub(r"^an? ", "", subject)


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
    subject = _noun(subject)
    if not listed:
        return _tidy(f'{_capital(subject)}: "{text}"')
    terse = ", ".join(listed)
    template = rng.choice(TERSE_TEMPLATES)
    return _tidy(
        template.format(subject=subject, Subject=_capital(subject), terse=terse, Terse=_capital(terse), text=text)
    )


@dataclass(frozen=True)
class Instruction:
    """A parsed instruction: ``style`` (the description, the spoken text replaced by ``"..."``)
    and ``text`` (what is spoken)."""

    style: str
    text: str


def parse_instruction(instruction: str, text: str | None = None) -> Instruction:
    """Split an instruction into its style description and the text to speak.

    Args:
        instruction: the instruction; its double-quoted part is the text to speak.
        text: the text to speak, given separately (then quotes in the instruction stay in the style;
            without any, the style gets ``: "..."`` where training's instructions quote their text).

    Raises:
        CodecError: an empty instruction, no quoted text and no ``text``, an empty quote, or an
            instruction longer than ``MAX_INSTRUCTION_BYTES`` once the text is taken out.
    """
    if not isinstance(instruction, str) or not instruction.strip():
        raise CodecError("empty instruction")
    if text is not None:
        style, spoken = instruction.strip(), text
        if not QUOTES.search(style):
            # descriptions are read as training composed them, with the spoken text's place marked
            style = style.rstrip(" .,:;") + ": " + PLACEHOLDER
    else:
        quoted = QUOTES.findall(instruction)
        if not quoted:
            raise CodecError('the instruction quotes no text to speak: put it in double quotes, e.g. says: "Hello."')
        spoken = " ".join(part.strip() for part in quoted)
        style = QUOTES.sub(PLACEHOLDER, instruction).strip()
    if not spoken.strip():
        raise CodecError("the instruction's quoted text is empty")
    if len(style.encode("utf-8")) > MAX_INSTRUCTION_BYTES:
        raise CodecError(f"the style description is longer than {MAX_INSTRUCTION_BYTES} bytes")
    return Instruction(style, spoken.strip())


def known_words(style: str) -> tuple[dict[str, str], list[str]]:
    """The attribute levels a style description names in any phrasing this module knows (a
    speaker's gender also by a person noun of ``tts.instruct.lexicon``), and the words it does not
    know (reported in verbose mode; the model reads the description as a whole).
    When a description asks for two levels of one attribute, the last one named wins (as the
    model, which reads left to right, tends to do)."""
    lowered = style.lower()
    spans: list[tuple[int, int, str, str]] = []
    for attribute, level, pattern in _level_patterns():
        spans += [(m.start(), m.end(), attribute, level) for m in pattern.finditer(lowered)]
    unquoted = QUOTES.sub(lambda m: " " * len(m.group()), lowered)  # the same offsets as the phrases'
    words = [(m, word_class(m.group())) for m in re.finditer(r"[^\W\d_]+", unquoted)]
    spans += [(m.start(), m.end(), "gender", kind) for m, kind in words if kind in GENDERS]
    inside = {a for a in spans for b in spans if a != b and b[0] <= a[0] and a[1] <= b[1] and b[1] - b[0] > a[1] - a[0]}
    asked: dict[str, str] = {}
    for _, _, attribute, level in sorted(set(spans) - inside):
        asked[attribute] = level
    unknown = sorted({m.group() for m, kind in words if kind is None and m.group() not in _vocabulary()})
    return asked, unknown


@functools.cache
def _level_phrases() -> tuple[tuple[str, str, str], ...]:
    """(attribute, level, phrase) for every phrasing of a level this module knows; a speaker's
    gender by its noun alone, so that adjectives may stand before it ("a deep male voice")."""
    out = [
        (attribute, level, phrase)
        for attribute, levels in DESCRIPTIONS.items()
        for level, (train, held) in levels.items()
        for phrase in train + held + ADJECTIVES[attribute][level]
    ]
    out.append(("whisper", "yes", WHISPER_VERB))
    for gender, (train, held) in SPEAKERS.items():
        if gender is not None:
            out += [("gender", gender, _noun(phrase)) for phrase in train + held]
    return tuple(out)


@functools.cache
def _held_out_phrases() -> tuple[str, ...]:
    """The held-out phrasings of levels and subjects."""
    held = [phrase for levels in DESCRIPTIONS.values() for _, out in levels.values() for phrase in out]
    return tuple(held + [phrase for _, out in SPEAKERS.values() for phrase in out])


@functools.cache
def _held_out_words() -> frozenset[str]:
    """Words of held-out phrasings that no training phrasing uses ("lady", "average"), and the
    lexicon's words that contain one ("ladylove"): no training instruction draws them."""
    training = [p for levels in DESCRIPTIONS.values() for train, _ in levels.values() for p in train]
    training += [p for levels in ADJECTIVES.values() for options in levels.values() for p in options]
    training += [p for train, _ in SPEAKERS.values() for p in train]
    known = {word for phrase in training for word in re.findall(r"[a-z]+", phrase)}
    held = {w for phrase in _held_out_phrases() for w in re.findall(r"[a-z]+", phrase) if w not in known}
    # "girlfriend" and "ladylove" would show the bytes of "girl" and "lady" with their gender
    return frozenset(word for word in lexicon() if any(h in word for h in held)) | held


@functools.cache
def _level_patterns() -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    """``_level_phrases`` as whole-word patterns in which a modifier stands for any of its class
    ("with a really low voice" is "with a very low voice"), a preposition for any of
    ``PREPOSITIONS`` and "a" for "an"."""
    out = []
    for attribute, level, phrase in _level_phrases():
        parts = [_token_pattern(token) for token in re.split(r"([a-z]+)", phrase)]
        out.append((attribute, level, re.compile(rf"\b{''.join(parts)}\b")))
    return tuple(out)


def _token_pattern(token: str) -> str:
    """The pattern of one word (or the text between words) of a level phrase."""
    kind = word_class(token) if token.isalpha() else None
    if kind in MODIFIERS:
        return f"(?:{'|'.join(members(kind))})"
    if token in PREPOSITIONS:
        return f"(?:{'|'.join(PREPOSITIONS)})"
    return "an?" if token in ("a", "an") else re.escape(token)


@functools.cache
def _vocabulary() -> frozenset[str]:
    """Every word of the phrasings, templates and neutral words (the words not reported as unknown)."""
    texts = [phrase for _, _, phrase in _level_phrases()]
    texts += [phrase for groups in SPEAKERS.values() for group in groups for phrase in group]
    texts += [template.lower() for group in (*TEMPLATES, TERSE_TEMPLATES) for template in group]
    texts += [*NEUTRAL_ADJECTIVES, *NEUTRAL_PHRASES, "and an"]
    return frozenset(word for text in texts for word in re.findall(r"[a-z]+", text))


def attribute_targets(style: str | None) -> list[int]:
    """Per attribute of ``LEVELS`` (in its order), the level a style description names in a known
    phrasing as ``1 + index`` of the level, or 0 where it names none (the targets of the
    instruction encoder's auxiliary classifier, ``NarTTS(style_loss=...)``)."""
    asked = known_words(style)[0] if style else {}
    return [LEVELS[a].index(asked[a]) + 1 if a in asked else 0 for a in LEVELS]
