"""The text front end of the speech generators: normalisation, grapheme-to-phoneme back ends
(flite, espeak-ng, characters, gruut), the phone inventory and ``TextFrontend``."""

from tts.text.frontend import EncodedBatch, TextFrontend
from tts.text.g2p import BACKENDS, G2P, WORD_BOUNDARY, get_g2p
from tts.text.inventory import PhoneInventory
from tts.text.languages import LANGUAGES, Language, get_language
from tts.text.normalize import normalize
from tts.text.sentences import chunk_text, split_sentences

__all__ = [
    "BACKENDS",
    "G2P",
    "LANGUAGES",
    "WORD_BOUNDARY",
    "EncodedBatch",
    "Language",
    "PhoneInventory",
    "TextFrontend",
    "chunk_text",
    "get_g2p",
    "get_language",
    "normalize",
    "split_sentences",
]
