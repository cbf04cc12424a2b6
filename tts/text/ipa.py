"""The IPA symbol set shared by the IPA back ends (espeak-ng, gruut): one symbol per code point.

Splitting IPA into code points (``tʃˈɜː`` -> ``t ʃ ˈ ɜ ː``) keeps the set closed and small: the
letters a-z, the Unicode blocks *IPA Extensions*, *Spacing Modifier Letters* (stress, length,
tone letters) and *Combining Diacritical Marks*, the few IPA letters that live in other blocks, and
the digits espeak-ng writes as tone numbers.
"""

from __future__ import annotations

import unicodedata

_OTHER_IPA = "æçðøħŋœθβχɐɛɜᵻᵿ"


def _ipa_symbols() -> list[str]:
    points = [*range(ord("a"), ord("z") + 1), *range(0x250, 0x370)]
    chars = [chr(p) for p in points] + list(_OTHER_IPA) + list("0123456789")
    keep = [ch for ch in chars if unicodedata.category(ch)[0] in "LMN" or unicodedata.category(ch) == "Sk"]
    return sorted(set(keep))


IPA_SYMBOLS: list[str] = _ipa_symbols()
"""Every IPA code point the IPA back ends emit (others still pass through and become unknown)."""


def ipa_units(word: str) -> list[str]:
    """An IPA word as code points, NFD-decomposed so that a diacritic is always its own symbol."""
    return [ch for ch in unicodedata.normalize("NFD", word) if not ch.isspace()]
