"""Neural audio codecs and speech tokenizers: audio <-> discrete tokens.

Public API: ``load_codec`` (shipped name, folder, checkpoint or cached hub id), ``Codec``,
``Tokens`` (in-memory token batch and the ``.tok`` file format) and ``CodecError``.
"""

from codec.errors import CodecError
from codec.model import Codec
from codec.pretrained import load_codec, shipped_models
from codec.tokens import Tokens

__all__ = ["Codec", "CodecError", "Tokens", "load_codec", "shipped_models"]
__version__ = "0.1.0"
