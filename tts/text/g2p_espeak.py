"""The ``espeak-ng`` back end: IPA for about 100 languages from the ``espeak-ng`` program.

The normalised text is cut at its punctuation marks into chunks; all chunks of a call go to one
``espeak-ng -q --ipa`` run, one per line (espeak-ng ends a clause at a line end and prints one IPA
line per clause). Words keep espeak-ng's own spacing (it joins some function words, ``ɪnðə``);
language-switch marks such as ``(en)`` are dropped; each IPA code point is one symbol
(``tts.text.ipa``) and each punctuation mark of the text is kept as a pause symbol.

espeak-ng is GPL-3 software; it is run as a separate program, never linked.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence

from codec.errors import CodecError
from tts.text.g2p import G2P, join_words, require_binary, tokens
from tts.text.ipa import IPA_SYMBOLS, ipa_units
from tts.text.languages import Language
from tts.text.normalize import PUNCTUATION

_SWITCH = re.compile(r"\([a-z-]+\)")


def chunks(text: str) -> list[tuple[list[str], str | None]]:
    """Normalised text -> ``(words, mark after them or None)`` pieces, cut at punctuation."""
    out: list[tuple[list[str], str | None]] = []
    words: list[str] = []
    for token in tokens(text):
        if token in PUNCTUATION:
            out.append((words, token))
            words = []
        else:
            words.append(token)
    if words:
        out.append((words, None))
    return out


class EspeakG2P(G2P):
    """IPA from espeak-ng.

    Args:
        binary: the espeak-ng program to run.

    Raises:
        CodecError: ``espeak-ng`` is not on PATH.
    """

    name = "espeak-ng"

    def __init__(self, binary: str = "espeak-ng") -> None:
        self.binary = require_binary(binary, "espeak-ng")

    def _run(self, lines: Sequence[str], lang: Language) -> list[str]:
        """IPA lines of ``lines`` (one output line per input line when espeak-ng keeps them apart)."""
        cmd = [self.binary, "-q", "-b", "1", "--ipa", "-v", lang.espeak]
        try:
            proc = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise CodecError(f"espeak-ng failed: {error}") from None
        if proc.returncode != 0:
            reason = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
            raise CodecError(f"espeak-ng -v {lang.espeak} failed: {reason}")
        return [line for line in proc.stdout.splitlines() if line.strip()]

    def _ipa_words(self, line: str) -> list[list[str]]:
        line = _SWITCH.sub("", line)
        words = [[u for u in ipa_units(word) if u not in PUNCTUATION] for word in line.split()]
        return [w for w in words if w]

    def phonemize_batch(self, texts: Sequence[str], language: str = "en") -> list[list[str]]:
        """Symbols of several normalised texts with one espeak-ng run (more if it merges lines)."""
        lang = self.language(language)
        pieces = [chunks(text) for text in texts]
        lines = [" ".join(words) for piece in pieces for words, _ in piece if words]
        ipa = self._run(lines, lang) if lines else []
        if len(ipa) != len(lines):
            # espeak-ng merged or split a line: read the chunks one at a time instead.
            ipa = [" ".join(self._run([line], lang)) for line in lines]
        results: list[list[str]] = []
        position = 0
        for piece in pieces:
            items: list[list[str] | str] = []
            for words, mark in piece:
                if words:
                    items += self._ipa_words(ipa[position])
                    position += 1
                if mark is not None and items:
                    items.append(mark)
            results.append(join_words(items))
        return results

    def phonemize(self, text: str, language: str = "en") -> list[str]:
        """IPA code points of normalised ``text``, with ``|`` between words and the text's marks.

        ``"Hello world."`` (en) -> ``["h", "ə", "l", "ˈ", "o", "ʊ", "|", "w", "ˈ", "ɜ", "ː", "l", "d", "."]``
        """
        return self.phonemize_batch([text], language)[0]

    def symbols(self) -> list[str]:
        """``IPA_SYMBOLS`` and the punctuation marks."""
        return [*IPA_SYMBOLS, *PUNCTUATION]
