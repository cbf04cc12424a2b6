"""English text expansion: abbreviations, currency, percentages, times, dates, ordinals, decades,
fractions, units, years and plain numbers become words.

``expand_english`` runs before the language-independent punctuation clean-up of
``tts.text.normalize``; it only rewrites what it recognises and leaves the rest for the clean-up.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from tts.text.numbers import cardinal, decade, decimal, digits, fraction, ordinal, year

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]

# Titles are followed by a name, so their period never ends a sentence.
_TITLES = {
    "Mr": "mister",
    "Mrs": "missus",
    "Ms": "miz",
    "Prof": "professor",
    "Capt": "captain",
    "Gen": "general",
    "Lt": "lieutenant",
    "Col": "colonel",
    "Sgt": "sergeant",
    "Rev": "reverend",
    "Hon": "honorable",
    "Mt": "mount",
    "Ft": "fort",
}
# These can end a sentence: a period is kept when nothing follows them.
_TRAILING = {
    "etc": "et cetera",
    "Inc": "incorporated",
    "Ltd": "limited",
    "Corp": "corporation",
    "Co": "company",
    "Jr": "junior",
    "Sr": "senior",
    "Ave": "avenue",
    "Blvd": "boulevard",
    "Rd": "road",
    "approx": "approximately",
    "vs": "versus",
}
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTH_ABBR = {m[:3]: m for m in MONTHS} | {"Sept": "September"}
_CURRENCY = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "sen", "sen"),
}
_SCALE_WORDS = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion"}
# unit: (singular, plural); matched case-sensitively right after a number.
_UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "ft": ("foot", "feet"),
    "mi": ("mile", "miles"),
    "ml": ("milliliter", "milliliters"),
    "kHz": ("kilohertz", "kilohertz"),
    "Hz": ("hertz", "hertz"),
    "GB": ("gigabyte", "gigabytes"),
    "MB": ("megabyte", "megabytes"),
    "°C": ("degree celsius", "degrees celsius"),
    "°F": ("degree fahrenheit", "degrees fahrenheit"),
    "°": ("degree", "degrees"),
}
_SYMBOLS = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at ", "%": " percent ", "×": " times "}

_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"


def _number_words(text: str) -> str:
    """A number as written (``"1,234"``, ``"3.5"``, ``"007"``) in words."""
    plain = text.replace(",", "")
    if "." in plain:
        integer, _, frac = plain.partition(".")
        return decimal(integer, frac)
    if len(plain) > 1 and plain.startswith("0"):
        return digits(plain)
    return cardinal(int(plain))


def _is_one(text: str) -> bool:
    return text.replace(",", "") in ("1", "1.0", "1.00")


def _trailing(word: str) -> Callable[[re.Match[str]], str]:
    def expand(match: re.Match[str]) -> str:
        return word + ("." if match.group("end") is not None else "")

    return expand


def _currency(match: re.Match[str]) -> str:
    one, many, sub_one, sub_many = _CURRENCY[match["sym"]]
    amount, scale = match["amount"], match["scale"]
    if scale:
        scale_word = _SCALE_WORDS.get(scale.lower(), scale.lower())
        return f"{_number_words(amount)} {scale_word} {many}"
    whole, _, cents = amount.replace(",", "").partition(".")
    whole_n = int(whole or 0)
    parts = []
    if whole_n or not cents:
        parts.append(f"{cardinal(whole_n)} {one if whole_n == 1 else many}")
    if cents and int(cents):
        cents_n = int((cents + "0")[:2])
        parts.append(f"{cardinal(cents_n)} {sub_one if cents_n == 1 else sub_many}")
    return " and ".join(parts)


def _time(match: re.Match[str]) -> str:
    hour, minute, half = int(match["h"]), int(match["m"]), match["ap"]
    words = cardinal(hour)
    if minute == 0:
        words += "" if half else " o'clock"
    elif minute < 10:
        words += f" oh {cardinal(minute)}"
    else:
        words += f" {cardinal(minute)}"
    return words + (f" {half.lower()} m" if half else "")


def _date(match: re.Match[str]) -> str:
    month = _MONTH_ABBR.get(match["month"], match["month"])
    return f"{month} {ordinal(int(match['day']))}"


def _units(match: re.Match[str]) -> str:
    one, many = _UNITS[match["unit"]]
    return f"{_number_words(match['n'])} {one if _is_one(match['n']) else many}"


def _fraction(match: re.Match[str]) -> str:
    return fraction(int(match["a"]), int(match["b"]))


def _range(match: re.Match[str]) -> str:
    return f"{match['a']} to {match['b']}"


def _year_or_number(match: re.Match[str]) -> str:
    n = int(match[0])
    return year(n) if 1100 <= n <= 2099 else cardinal(n)


def _abbreviation_rules() -> list[Rule]:
    titles = "|".join(_TITLES)
    months = "|".join(sorted(_MONTH_ABBR, key=len, reverse=True))
    return [
        (re.compile(rf"\b({titles})\.?(?=\s+[A-Z])"), lambda m: _TITLES[m[1]]),
        (re.compile(r"\bDr\.?(?=\s+[A-Z])"), lambda m: "doctor"),
        (re.compile(r"(?<=[a-z] )Dr\b\.?"), lambda m: "drive"),
        (re.compile(r"\bSt\.?(?=\s+[A-Z])"), lambda m: "saint"),
        (re.compile(r"(?<=[a-z] )St\b\.?"), lambda m: "street"),
        (re.compile(r"\bNo\.\s*(?=\d)"), lambda m: "number "),
        (re.compile(r"#\s*(?=\d)"), lambda m: "number "),
        (re.compile(r"\be\.g\.,?"), lambda m: "for example,"),
        (re.compile(r"\bi\.e\.,?"), lambda m: "that is,"),
        *[(re.compile(rf"\b{abbr}\.(?P<end>\s*$)?"), _trailing(word)) for abbr, word in _TRAILING.items()],
        (re.compile(rf"\b({months})\.(?=\s*\d)"), lambda m: _MONTH_ABBR[m[1]]),
        (re.compile(r"\b(?:[A-Z]\.){2,}"), lambda m: " ".join(m[0].replace(".", ""))),
    ]


def _number_rules() -> list[Rule]:
    units = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
    months = "|".join(sorted(set(MONTHS) | set(_MONTH_ABBR), key=len, reverse=True))
    return [
        (
            re.compile(
                rf"(?P<sym>[$£€¥])\s?(?P<amount>{_NUMBER})(?:\s?(?P<scale>thousand|million|billion|trillion|"
                r"[kKmMbB]n?)\b)?"
            ),
            _currency,
        ),
        (re.compile(rf"(?P<n>{_NUMBER})\s?%"), lambda m: f"{_number_words(m['n'])} percent"),
        (
            re.compile(r"\b(?P<h>[012]?\d):(?P<m>[0-5]\d)\b(?:\s?(?P<ap>[aApP])\.?[mM]\b)?"),
            _time,
        ),
        (re.compile(r"\b(?P<n>\d{1,2})\s?(?P<ap>[aApP])\.?[mM]\b"), lambda m: f"{m['n']} {m['ap'].lower()} m"),
        (re.compile(rf"\b(?P<month>{months})\.? (?P<day>[0-3]?\d)(?:st|nd|rd|th)?\b(?!:)"), _date),
        (re.compile(r"\b(\d+)(?:st|nd|rd|th)\b"), lambda m: ordinal(int(m[1]))),
        (re.compile(r"\b(\d{4})'?s\b"), lambda m: decade(int(m[1]))),
        (re.compile(r"(?<![\w'])'(\d0)s\b"), lambda m: decade(int(m[1]))),
        (re.compile(r"(?<![\d/])(?P<a>\d{1,3})/(?P<b>\d{1,3})(?![\d/])"), _fraction),
        (re.compile(r"(?<![\d-])(?P<a>\d{1,4})\s?[-–]\s?(?P<b>\d{1,4})(?![\d-])"), _range),
        (re.compile(r"(?<![\w.,])-(?=\d)"), lambda m: "minus "),
        (re.compile(rf"(?P<n>{_NUMBER})\s?(?P<unit>{units})(?![\w°])"), _units),
        (re.compile(r"(?<![\d,.])\d{4}(?![\d,]|\.\d)"), _year_or_number),
        (re.compile(rf"{_NUMBER}|\.\d+"), lambda m: _number_words(m[0])),
    ]


_ABBREVIATIONS = _abbreviation_rules()
_NUMBERS = _number_rules()


# Letters that Unicode does not decompose into an ASCII base letter.
_LIGATURES = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L"}
)


def _ascii_letters(text: str) -> str:
    """Strip accents (``café`` -> ``cafe``) and drop letters with no ASCII form, which an English
    grapheme-to-phoneme back end would skip silently."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    kept = (ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch if ch.isascii() or not ch.isalpha() else " " for ch in kept)


def expand_english(text: str) -> str:
    """Rewrite abbreviations, numbers and symbols of English ``text`` as words.

    ``"Dr. Smith paid $12.50 on May 5th, 1984."`` ->
    ``"doctor Smith paid twelve dollars and fifty cents on May fifth, nineteen eighty four."``
    """
    for pattern, replace in _ABBREVIATIONS:
        text = pattern.sub(replace, text)
    for pattern, replace in _NUMBERS:
        text = pattern.sub(lambda m, fn=replace: f" {fn(m)} ", text)
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    # A period before a lower-case word closed an abbreviation ("5 p.m. on"), not a sentence.
    text = re.sub(r"\.(?=\s+[a-z])", " ", text)
    return _ascii_letters(text)
