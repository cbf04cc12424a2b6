"""Style instructions read at synthesis: split into the style description and the words to speak,
and the attribute levels a description names.

The rule for the spoken text: the part of the instruction in double quotes (straight or curly) is
spoken; the rest describes the style. An instruction without quoted text is refused unless the
text is given separately (``parse_instruction(instruction, text=...)``, Parler-TTS's form).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from codec.errors import CodecError
from tts.instruct.lexicon import GENDERS, members, word_class
from tts.instruct.phrasings import (
    ADJECTIVES,
    DESCRIPTIONS,
    LEVELS,
    MODIFIERS,
    NEUTRAL_ADJECTIVES,
    NEUTRAL_PHRASES,
    PREPOSITIONS,
    SPEAKERS,
    TEMPLATES,
    TERSE_TEMPLATES,
    WHISPER_VERB,
    bare_noun,
)

QUOTES = re.compile(r'["\u201c\u201d](.+?)["\u201c\u201d]', re.S)
PLACEHOLDER = '"..."'
MAX_INSTRUCTION_BYTES = 512


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
            out += [("gender", gender, bare_noun(phrase)) for phrase in train + held]
    return tuple(out)


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
