"""English number words: cardinals, ordinals, years, decimals and digit strings.

Pure functions on Python integers and digit strings, used by the English normaliser. Words are
lower case and hyphen-free ("twenty one", not "twenty-one"), so that every word is one token for a
grapheme-to-phoneme back end and for a word-boundary symbol.
"""

from __future__ import annotations

ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
MAX_CARDINAL = 10**15 - 1
"""Largest integer spelled as a number; longer digit strings are read digit by digit."""

_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [ONES[hundreds], "hundred"]
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(TENS[tens])
        if ones:
            words.append(ONES[ones])
    elif rest or not words:
        words.append(ONES[rest])
    return words


def cardinal(n: int) -> str:
    """``1234`` -> ``"one thousand two hundred thirty four"``; negative numbers get ``"minus"``.

    Integers above ``MAX_CARDINAL`` are read digit by digit.
    """
    if n < 0:
        return "minus " + cardinal(-n)
    if n > MAX_CARDINAL:
        return digits(str(n))
    words: list[str] = []
    for scale, name in SCALES:
        count, n = divmod(n, scale)
        if count:
            words += [*_below_thousand(count), name]
    if n or not words:
        words += _below_thousand(n)
    return " ".join(words)


def ordinal(n: int) -> str:
    """``21`` -> ``"twenty first"``, ``100`` -> ``"one hundredth"``."""
    words = cardinal(n).split()
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        words[-1] = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def digits(text: str) -> str:
    """Read a digit string digit by digit: ``"0451"`` -> ``"zero four five one"``."""
    return " ".join(ONES[int(ch)] for ch in text if ch.isdigit())


def year(n: int) -> str:
    """Read a year the way it is spoken: 1984 "nineteen eighty four", 1905 "nineteen oh five",
    1900 "nineteen hundred", 2000 "two thousand", 2005 "two thousand five", 2021 "twenty twenty one".

    Other integers (outside 1000..9999) are read as cardinals.
    """
    if not 1000 <= n <= 9999:
        return cardinal(n)
    high, low = divmod(n, 100)
    if 2000 <= n <= 2009 or (low == 0 and high % 10 == 0):
        return cardinal(n)
    if low == 0:
        return f"{cardinal(high)} hundred"
    if low < 10:
        return f"{cardinal(high)} oh {ONES[low]}"
    return f"{cardinal(high)} {cardinal(low)}"


def decade(n: int) -> str:
    """``1990`` -> ``"nineteen nineties"``, ``80`` -> ``"eighties"``, ``2000`` -> ``"two thousands"``."""
    words = (year(n) if n >= 1000 else cardinal(n)).split()
    last = words[-1]
    words[-1] = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return " ".join(words)


def decimal(integer: str, fraction: str) -> str:
    """``("3", "14")`` -> ``"three point one four"``; the fraction is read digit by digit."""
    whole = cardinal(int(integer)) if integer else "zero"
    return f"{whole} point {digits(fraction)}" if fraction else whole


_DENOMINATORS = {2: ("half", "halves"), 4: ("quarter", "quarters")}


def fraction(numerator: int, denominator: int) -> str:
    """``(3, 4)`` -> ``"three quarters"``, ``(1, 3)`` -> ``"one third"``, ``(5, 16)`` -> ``"five sixteenths"``."""
    if denominator == 0:
        return f"{cardinal(numerator)} over zero"
    if denominator == 1:
        return cardinal(numerator)
    one, many = _DENOMINATORS.get(denominator, (ordinal(denominator), ordinal(denominator) + "s"))
    return f"{cardinal(numerator)} {one if numerator == 1 else many}"
