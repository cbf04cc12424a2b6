"""The phone inventory: symbols <-> integer ids, saved with every checkpoint.

Ids 0..4 are the special symbols ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>`` and the word boundary
``|``; the back end's symbols follow in a fixed order. An inventory also names the back end (and
its options) that made the symbols and the language codes a model knows, so a checkpoint can refuse
text from another front end. ``to_dict``/``from_dict`` (and ``save``/``load`` as JSON) round-trip it
exactly; ``extend`` appends symbols without moving existing ids.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from codec.errors import CodecError
from tts.text.g2p import WORD_BOUNDARY
from tts.text.languages import get_language

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS, WORD_BOUNDARY)
FORMAT_VERSION = 1


@dataclass(frozen=True)
class PhoneInventory:
    """An ordered symbol table.

    Attributes:
        symbols: every symbol, ``SPECIALS`` first; a symbol's id is its position.
        backend: the grapheme-to-phoneme back end's name (``tts.text.g2p.BACKENDS``).
        options: that back end's options (``G2P.options()``).
        languages: canonical language codes, in language-id order.
        pauses: the symbols that stand for pauses.
    """

    symbols: tuple[str, ...]
    backend: str
    options: dict = field(default_factory=dict)
    languages: tuple[str, ...] = ("en",)
    pauses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if tuple(self.symbols[: len(SPECIALS)]) != SPECIALS:
            raise CodecError(f"a phone inventory must start with {', '.join(SPECIALS)}")
        if len(set(self.symbols)) != len(self.symbols):
            raise CodecError("a phone inventory lists a symbol twice")

    @cached_property
    def _ids(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.symbols)}

    @classmethod
    def create(
        cls,
        symbols: Iterable[str],
        backend: str,
        options: dict | None = None,
        languages: Sequence[str] = ("en",),
        pauses: Sequence[str] = (),
    ) -> PhoneInventory:
        """An inventory of ``SPECIALS`` followed by ``symbols`` (first occurrence order, duplicates and
        specials dropped); language codes are checked and made canonical."""
        unique = dict.fromkeys(s for s in symbols if s not in SPECIALS)
        codes = tuple(dict.fromkeys(get_language(code).code for code in languages))
        return cls((*SPECIALS, *unique), backend, dict(options or {}), codes, tuple(pauses))

    pad_id = 0
    unk_id = 1
    bos_id = 2
    eos_id = 3
    word_id = 4

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._ids

    def id(self, symbol: str) -> int:
        """The id of ``symbol`` (``unk_id`` when it is not in the inventory)."""
        return self._ids.get(symbol, self.unk_id)

    def unknown(self, symbols: Iterable[str]) -> list[str]:
        """The distinct symbols of ``symbols`` that the inventory lacks, in first-seen order."""
        return list(dict.fromkeys(s for s in symbols if s not in self))

    def encode(self, symbols: Iterable[str], strict: bool = False) -> list[int]:
        """Symbol ids; an unknown symbol becomes ``unk_id``, or raises ``CodecError`` when ``strict``."""
        symbols = list(symbols)
        if strict and (missing := self.unknown(symbols)):
            raise CodecError(f"symbols not in the {self.backend} phone inventory: {' '.join(missing)}")
        return [self.id(s) for s in symbols]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Symbols of ``ids``.

        Raises:
            CodecError: an id is outside ``0..len(self) - 1``.
        """
        out = []
        for i in ids:
            index = int(i)
            if not 0 <= index < len(self.symbols):
                raise CodecError(f"symbol id {index} outside the inventory's 0..{len(self.symbols) - 1}")
            out.append(self.symbols[index])
        return out

    def language_id(self, code: str) -> int:
        """The index of language ``code`` in ``languages``.

        Raises:
            CodecError: the code is unknown, or this inventory (model) was not made for it.
        """
        canonical = get_language(code).code
        if canonical not in self.languages:
            raise CodecError(f"language {canonical!r} is not one of this model's: {', '.join(self.languages)}")
        return self.languages.index(canonical)

    def extend(self, symbols: Iterable[str] = (), languages: Iterable[str] = ()) -> PhoneInventory:
        """A copy with new ``symbols`` and ``languages`` appended (existing ids unchanged)."""
        return PhoneInventory.create(
            [*self.symbols, *symbols], self.backend, self.options, [*self.languages, *languages], self.pauses
        )

    @property
    def fingerprint(self) -> str:
        """16 hex digits of SHA-256 over the symbols, back end, options and languages."""
        blob = json.dumps([self.symbols, self.backend, self.options, self.languages], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict:
        """A JSON-ready description (what a checkpoint stores)."""
        return {
            "format": "phone-inventory",
            "version": FORMAT_VERSION,
            "backend": self.backend,
            "options": self.options,
            "languages": list(self.languages),
            "pauses": list(self.pauses),
            "symbols": list(self.symbols),
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, data: dict, source: str | Path | None = None) -> PhoneInventory:
        """The inventory ``to_dict`` described.

        Raises:
            CodecError: naming ``source``: not an inventory, a newer format, a malformed field or a
                fingerprint that does not match the symbols.
        """
        if not isinstance(data, dict) or data.get("format") != "phone-inventory":
            raise CodecError("not a phone inventory", source)
        if not isinstance(data.get("version"), int) or data["version"] > FORMAT_VERSION:
            raise CodecError(f"phone inventory version {data.get('version')!r} is newer than this code", source)
        fields = ("symbols", "languages", "pauses")
        if not all(isinstance(data.get(k), list) and all(isinstance(s, str) for s in data[k]) for k in fields):
            raise CodecError("phone inventory fields symbols/languages/pauses must be lists of strings", source)
        if not isinstance(data.get("backend"), str) or not isinstance(data.get("options", {}), dict):
            raise CodecError("phone inventory has no back end name", source)
        inventory = cls(
            tuple(data["symbols"]),
            data["backend"],
            dict(data.get("options", {})),
            tuple(data["languages"]),
            tuple(data["pauses"]),
        )
        if "fingerprint" in data and data["fingerprint"] != inventory.fingerprint:
            raise CodecError("phone inventory fingerprint does not match its symbols (edited or damaged)", source)
        return inventory

    def save(self, path: str | Path) -> None:
        """Write ``to_dict`` as JSON, atomically (temporary file, then rename)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> PhoneInventory:
        """Read an inventory written by ``save``; ``CodecError`` naming the file if it is unreadable."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise CodecError(f"cannot read phone inventory: {error}", path) from None
        return cls.from_dict(data, path)
