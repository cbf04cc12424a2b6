"""Natural-language style instructions: composed from style words for training and evaluation, and
split into the style description and the words to speak at synthesis.

The rule for the spoken text: the part of the instruction in double quotes (straight or curly) is
spoken; the rest describes the style. An instruction without quoted text is refused unless the
text is given separately (``parse_instruction(instruction, text=...)``, Parler-TTS's form).

Attribute levels (``LEVELS``) are the bins of ``tts.instruct.bins``. Every level has several
phrasings; templates order the parts differently and leave attributes out. The phrasings and
templates marked held out never appear in training, so evaluation can ask in unseen wordings.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from codec.errors import CodecError

LEVELS: dict[str, tuple[str, ...]] = {
    "gender": ("male", "female"),
    "pitch": ("very low", "low", "medium", "high", "very high"),
    "rate": ("very slow", "slow", "medium", "fast", "very fast"),
    "loudness": ("very quiet", "quiet", "medium", "loud", "very loud"),
    "whisper": ("no", "yes"),
}
"""Every attribute's levels, lowest first."""

SPEAKERS = {
    "male": (["a man", "a male speaker", "a male voice"], ["a gentleman", "a guy"]),
    "female": (["a woman", "a female speaker", "a female voice"], ["a lady", "a girl"]),
    None: (["a speaker", "a person", "someone", "a voice"], ["a narrator"]),
}
"""Subject phrases per gender: (training phrasings, held-out phrasings)."""

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
        held_out: use the held-out templates (and phrasings; evaluation).
        held_out_phrases: use the held-out phrasings (default: as ``held_out``). Held-out templates
            with training phrasings ask in unseen sentence frames but in words the model knows.
    """
    pick = 1 if (held_out if held_out_phrases is None else held_out_phrases) else 0
    gender = words.get("gender")
    subjects = SPEAKERS[gender][pick] or SPEAKERS[gender][0]
    subject = rng.choice(subjects)
    phrases = []
    for attribute in ("pitch", "rate", "loudness", "whisper"):
        level = words.get(attribute)
        if level is None:
            continue
        options = DESCRIPTIONS[attribute][level][pick] or DESCRIPTIONS[attribute][level][0]
        if options:
            phrases.append(rng.choice(options))
    rng.shuffle(phrases)
    style = ", ".join(phrases[:-1]) + (" and " if len(phrases) > 1 else "") + (phrases[-1] if phrases else "")
    template = rng.choice(TEMPLATES[1 if held_out else 0])
    if not style:
        template = template.replace(", {style}", "").replace(" {style}", "").replace("{Style}, ", "")
    capital = {"Subject": subject[:1].upper() + subject[1:], "Style": style[:1].upper() + style[1:]}
    out = template.format(subject=subject, style=style, text=text, **capital)
    out = re.sub(r"\s+([,.:])", r"\1", re.sub(r"\s{2,}", " ", out)).strip()
    return out[:1].upper() + out[1:]


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
    """The attribute levels a style description names in any phrasing this module knows, and the
    words it does not know (reported in verbose mode; the model reads the description as a whole).
    When a description asks for two levels of one attribute, the last one named wins (as the
    model, which reads left to right, tends to do)."""
    lowered = style.lower()
    spans: list[tuple[int, int, str, str]] = []
    for attribute, levels in DESCRIPTIONS.items():
        for level, (train, held) in levels.items():
            for phrase in train + held:
                spans += [(m.start(), m.end(), attribute, level) for m in re.finditer(re.escape(phrase), lowered)]
    for gender, (train, held) in SPEAKERS.items():
        for phrase in train + held:
            if gender is not None:
                pattern = r"\b" + re.escape(phrase) + r"\b"
                spans += [(m.start(), m.end(), "gender", gender) for m in re.finditer(pattern, lowered)]
    inside = {a for a in spans for b in spans if a != b and b[0] <= a[0] and a[1] <= b[1] and b[1] - b[0] > a[1] - a[0]}
    asked: dict[str, str] = {}
    for _, _, attribute, level in sorted(set(spans) - inside):
        asked[attribute] = level
    vocabulary = {
        word
        for table in (*DESCRIPTIONS.values(),)
        for phrases in table.values()
        for group in phrases
        for phrase in group
        for word in re.findall(r"[a-z]+", phrase)
    }
    vocabulary |= {word for groups in SPEAKERS.values() for g in groups for p in g for word in re.findall(r"[a-z]+", p)}
    vocabulary |= {word for t in TEMPLATES for tpl in t for word in re.findall(r"[a-z]+", tpl.lower())}
    vocabulary.add("and")
    unknown = sorted({word for word in re.findall(r"[a-z]+", QUOTES.sub(" ", lowered)) if word not in vocabulary})
    return asked, unknown


def attribute_targets(style: str | None) -> list[int]:
    """Per attribute of ``LEVELS`` (in its order), the level a style description names in a known
    phrasing as ``1 + index`` of the level, or 0 where it names none (the targets of the
    instruction encoder's auxiliary classifier, ``NarTTS(style_loss=...)``)."""
    asked = known_words(style)[0] if style else {}
    return [LEVELS[a].index(asked[a]) + 1 if a in asked else 0 for a in LEVELS]
