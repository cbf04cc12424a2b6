"""Neural audio codecs and speech tokenizers: audio <-> discrete tokens.

Public API: ``load_codec`` (shipped name, folder, checkpoint or cached hub id), ``Codec``,
``Tokens`` (in-memory token batch and the ``.tok`` file format) and ``CodecError``.
"""

from codec.api import Codec
from codec.errors import CodecError
from codec.formats.tokens import Tokens
from codec.loading import load_codec, shipped_models

__all__ = ["Codec", "CodecError", "Tokens", "load_codec", "shipped_models"]
__version__ = "0.1.0"
