"""Language codes the text front end knows, and what each back end calls them.

Codes are BCP-47 style (``en``, ``en-US``, ``pt-BR``), matched case-insensitively and written back
in canonical case. Each utterance carries one; a model stores the codes it was trained on in its
phone inventory.
"""

from __future__ import annotations

from dataclasses import dataclass

from codec.errors import CodecError


@dataclass(frozen=True)
class Language:
    """One language or regional variant.

    Attributes:
        code: canonical code (``"en"``, ``"pt-BR"``).
        name: English name, for messages.
        espeak: the espeak-ng voice that reads it.
        gruut: gruut's language name, or None when gruut lacks it.
        english: whether the English normaliser (numbers, abbreviations) applies.
    """

    code: str
    name: str
    espeak: str
    gruut: str | None = None
    english: bool = False


LANGUAGES: dict[str, Language] = {
    lang.code.lower(): lang
    for lang in (
        Language("en", "English", "en-us", "en-us", english=True),
        Language("en-US", "English (US)", "en-us", "en-us", english=True),
        Language("en-GB", "English (UK)", "en-gb", "en-us", english=True),
        Language("de", "German", "de", "de-de"),
        Language("es", "Spanish", "es", "es-es"),
        Language("fr", "French", "fr-fr", "fr-fr"),
        Language("it", "Italian", "it", "it-it"),
        Language("pt", "Portuguese", "pt", "pt"),
        Language("pt-BR", "Portuguese (Brazil)", "pt-br", "pt"),
        Language("nl", "Dutch", "nl", "nl"),
        Language("sv", "Swedish", "sv", "sv-se"),
        Language("da", "Danish", "da"),
        Language("nb", "Norwegian Bokmål", "nb"),
        Language("fi", "Finnish", "fi"),
        Language("pl", "Polish", "pl"),
        Language("cs", "Czech", "cs", "cs-cz"),
        Language("sk", "Slovak", "sk"),
        Language("hu", "Hungarian", "hu"),
        Language("ro", "Romanian", "ro"),
        Language("ca", "Catalan", "ca"),
        Language("ru", "Russian", "ru", "ru-ru"),
        Language("uk", "Ukrainian", "uk"),
        Language("el", "Greek", "el"),
        Language("tr", "Turkish", "tr"),
        Language("ar", "Arabic", "ar", "ar"),
        Language("fa", "Persian", "fa", "fa"),
        Language("hi", "Hindi", "hi"),
        Language("sw", "Swahili", "sw", "sw"),
        Language("vi", "Vietnamese", "vi"),
        Language("zh", "Chinese (Mandarin)", "cmn"),
        Language("ja", "Japanese", "ja"),
        Language("ko", "Korean", "ko"),
    )
}


def get_language(code: str) -> Language:
    """The ``Language`` of ``code`` (case-insensitive; ``_`` may stand for ``-``).

    Raises:
        CodecError: the code is not in ``LANGUAGES``; the message lists the known codes.
    """
    key = str(code).strip().replace("_", "-").lower()
    if key not in LANGUAGES:
        known = ", ".join(lang.code for lang in LANGUAGES.values())
        raise CodecError(f"unknown language code {code!r} (known: {known})")
    return LANGUAGES[key]
