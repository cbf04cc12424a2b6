"""``TextFrontend``: text -> normalised text -> symbols -> ids (and back, for debugging).

One front end is one grapheme-to-phoneme back end plus its phone inventory; a model stores
``to_dict()`` in its checkpoint and rebuilds the same front end with ``from_dict``. Every utterance
has a language code (the front end's default when none is given).

>>> frontend = TextFrontend("flite")
>>> frontend.phonemize("Hi, 2 cats.")
['pau', 'hh', 'ay1', 'pau', 't', 'uw1', '|', 'k', 'ae1', 't', 's', 'pau']
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from codec.errors import CodecError
from tts.text.g2p import G2P, get_g2p
from tts.text.inventory import PhoneInventory
from tts.text.normalize import normalize
from tts.text.sentences import chunk_text


@dataclass(frozen=True)
class EncodedBatch:
    """Symbol ids of several texts.

    Attributes:
        ids: ``(B, T_max)`` int64, padded with the inventory's ``pad_id``.
        lengths: ``(B,)`` int64, symbols per text (with ``<bos>``/``<eos>`` when added).
        language_ids: ``(B,)`` int64, each text's index in the inventory's ``languages``.
    """

    ids: torch.Tensor
    lengths: torch.Tensor
    language_ids: torch.Tensor


class TextFrontend:
    """Normalisation, grapheme-to-phoneme conversion and the symbol inventory, for one back end.

    Args:
        backend: a back-end name (``tts.text.g2p.BACKENDS``: ``flite``, ``espeak-ng``, ``characters``,
            ``gruut``) or a ``G2P`` instance.
        language: the default language code of the texts.
        inventory: the symbol table (a checkpoint's); by default the back end's own symbols with
            ``language`` as the only language.
        max_symbols: the longest symbol sequence ``split`` leaves whole.
        **options: back-end options (e.g. ``stress=False`` for flite).

    Raises:
        CodecError: an unknown back end or language, a missing program, or an inventory made by
            another back end.
    """

    def __init__(
        self,
        backend: str | G2P = "flite",
        language: str = "en",
        inventory: PhoneInventory | None = None,
        max_symbols: int = 400,
        **options: object,
    ) -> None:
        if isinstance(backend, str) and inventory is not None and not options:
            options = dict(inventory.options)
        self.g2p = get_g2p(backend, **options) if isinstance(backend, str) else backend
        self.language = self.g2p.language(language).code
        if inventory is None:
            inventory = PhoneInventory.create(
                self.g2p.symbols(), self.g2p.name, self.g2p.options(), [self.language], self.g2p.pauses
            )
        elif (inventory.backend, inventory.options) != (self.g2p.name, self.g2p.options()):
            raise CodecError(
                f"the phone inventory was made by the {inventory.backend} back end with options "
                f"{inventory.options}, not {self.g2p.name} with {self.g2p.options()}"
            )
        self.inventory = inventory
        self.max_symbols = max_symbols

    def normalize(self, text: str, language: str | None = None) -> str:
        """``tts.text.normalize.normalize`` in this front end's language (or ``language``)."""
        return normalize(text, self._code(language))

    def _code(self, language: str | None) -> str:
        return self.language if language is None else self.g2p.language(language).code

    def phonemize(self, text: str, language: str | None = None) -> list[str]:
        """Symbols of ``text`` (normalised first), without ``<bos>``/``<eos>``.

        Raises:
            CodecError: empty text, nothing pronounceable, or an unknown or unsupported language.
        """
        return self.phonemize_batch([text], None if language is None else [language])[0]

    def phonemize_batch(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> list[list[str]]:
        """``phonemize`` of several texts (one back-end call per language where the back end batches)."""
        codes = [self._code(lang) for lang in (languages or [None] * len(texts))]
        if len(codes) != len(texts):
            raise CodecError(f"{len(texts)} texts but {len(codes)} language codes")
        normalised = [normalize(text, code) for text, code in zip(texts, codes, strict=True)]
        out: list[list[str]] = [[] for _ in texts]
        for code in dict.fromkeys(codes):
            index = [i for i, c in enumerate(codes) if c == code]
            for i, symbols in zip(index, self.g2p.phonemize_batch([normalised[i] for i in index], code), strict=True):
                out[i] = symbols
        for text, symbols in zip(texts, out, strict=True):
            if not any(s not in self.inventory.pauses for s in symbols):
                shown = text.strip() if len(text.strip()) <= 40 else text.strip()[:40] + "..."
                raise CodecError(f"nothing pronounceable in the text {shown!r}")
        return out

    def _ids(self, symbols: Sequence[str], bos_eos: bool) -> list[int]:
        missing = self.inventory.unknown(symbols)
        if missing:
            warnings.warn(f"symbols not in the phone inventory, read as <unk>: {' '.join(missing)}", stacklevel=3)
        ids = self.inventory.encode(symbols)
        return [self.inventory.bos_id, *ids, self.inventory.eos_id] if bos_eos else ids

    def encode(self, text: str, language: str | None = None, bos_eos: bool = True) -> list[int]:
        """Symbol ids of ``text``, framed by ``<bos>``/``<eos>`` unless ``bos_eos`` is False.

        Unknown symbols become ``<unk>`` with a warning naming them.

        Raises:
            CodecError: as ``phonemize``, or the language is not one of the inventory's.
        """
        self.inventory.language_id(self._code(language))
        return self._ids(self.phonemize(text, language), bos_eos)

    def encode_batch(
        self, texts: Sequence[str], languages: Sequence[str] | None = None, bos_eos: bool = True
    ) -> EncodedBatch:
        """Padded ids of several texts: ``ids`` ``(B, T_max)``, ``lengths`` ``(B,)``, ``language_ids`` ``(B,)``."""
        if not texts:
            raise CodecError("no texts to encode")
        codes = [self._code(lang) for lang in (languages or [None] * len(texts))]
        language_ids = [self.inventory.language_id(code) for code in codes]
        rows = [self._ids(symbols, bos_eos) for symbols in self.phonemize_batch(texts, codes)]
        ids = torch.full((len(rows), max(len(r) for r in rows)), self.inventory.pad_id, dtype=torch.long)
        for b, row in enumerate(rows):
            ids[b, : len(row)] = torch.tensor(row, dtype=torch.long)
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
        return EncodedBatch(ids, lengths, torch.tensor(language_ids, dtype=torch.long))

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """Ids -> their symbols joined by spaces, padding dropped (for reading, not for round trips)."""
        values = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return " ".join(s for s in self.inventory.decode(values) if s != "<pad>")

    def split(self, text: str, language: str | None = None, max_symbols: int | None = None) -> list[str]:
        """Normalised pieces of ``text`` with at most ``max_symbols`` symbols each (default
        ``self.max_symbols``): whole sentences where they fit, else clauses, else runs of words."""
        code = self._code(language)
        limit = self.max_symbols if max_symbols is None else max_symbols
        return chunk_text(self.normalize(text, code), limit, lambda piece: len(self.g2p.phonemize(piece, code)) + 2)

    def fit(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> PhoneInventory:
        """Add the symbols and languages of ``texts`` that the inventory lacks (for back ends with
        open symbol sets, such as characters of other scripts); returns the new inventory."""
        codes = [self._code(lang) for lang in (languages or [None] * len(texts))]
        seen = [s for symbols in self.phonemize_batch(texts, codes) for s in symbols]
        self.inventory = self.inventory.extend(self.inventory.unknown(seen), codes)
        return self.inventory

    def to_dict(self) -> dict:
        """What a checkpoint stores: the inventory, the default language and ``max_symbols``."""
        return {"inventory": self.inventory.to_dict(), "language": self.language, "max_symbols": self.max_symbols}

    @classmethod
    def from_dict(cls, data: dict) -> TextFrontend:
        """The front end ``to_dict`` described (its back end must be available here).

        Raises:
            CodecError: a malformed description, or the back end's program or package is missing.
        """
        if not isinstance(data, dict) or not isinstance(data.get("inventory"), dict):
            raise CodecError("not a text front end description (no inventory)")
        inventory = PhoneInventory.from_dict(data["inventory"])
        return cls(
            inventory.backend, data.get("language", inventory.languages[0]), inventory, data.get("max_symbols", 400)
        )
