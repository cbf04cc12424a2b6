"""Style words from measured numbers: quantile bins fitted on a corpus, saved with the model.

Pitch is binned relative to the speaker's gender (a "high" male voice is lower than a "high"
female one), as Parler-TTS's data pipeline does, and also over all voices (``pitch/any``): the
level an instruction that names no gender asks for, since "a very deep voice" said of nobody in
particular means a deep voice, not the low end of whichever voice is drawn. Speaking rate and
loudness are binned over all speakers.
Whispered speech is measured by its voicing ratio. The same bins label the training data and judge
generated speech, so an instruction is followed when the output's measurement falls in the bin
that was asked for. Bins may carry a ``GenderJudge`` fitted on the same corpus (``gender``): the
voice's gender by its spectral envelope rather than its median F0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codec.errors import CodecError
from tts.instruct.attributes import WHISPER_VOICING, Style
from tts.instruct.gender import GenderJudge
from tts.instruct.phrasings import LEVELS

QUANTILES = (0.15, 0.35, 0.65, 0.85)
"""Edges between the five levels: the outer levels hold 15 % of the corpus each."""


@dataclass
class StyleBins:
    """Bin edges per attribute: ``edges["pitch/male"]``, ``edges["pitch/female"]``, ``edges["pitch/any"]``
    (absent from bins fitted before it existed), ``edges["rate"]``, ``edges["loudness"]`` (four
    ascending numbers each), the whisper voicing threshold and, where fitted, the gender judge."""

    edges: dict[str, list[float]] = field(default_factory=dict)
    whisper_voicing: float = WHISPER_VOICING
    gender_judge: GenderJudge | None = None

    def gender(self, style: Style, samples: np.ndarray, rate: int) -> str:
        """The gender of a clip's voice (``style``: its measurement): by the judge where the bins
        have one, else by the median F0 (``Style.gender``); ``unknown`` for whispered or unvoiced
        speech either way."""
        if self.gender_judge is None or style.gender == "unknown":
            return style.gender
        return self.gender_judge(samples, rate)

    @classmethod
    def fit(cls, rows: Iterable[tuple[Style, str]]) -> StyleBins:
        """Fit on ``(measured style, gender)`` pairs of voiced (not whispered) speech.

        Raises:
            CodecError: a gender or attribute with fewer than 20 clips.
        """
        values: dict[str, list[float]] = {
            "pitch/male": [],
            "pitch/female": [],
            "pitch/any": [],
            "rate": [],
            "loudness": [],
        }
        for style, gender in rows:
            if style.voicing < WHISPER_VOICING or style.seconds <= 0:
                continue
            if gender in ("male", "female") and style.f0_hz > 0:
                values[f"pitch/{gender}"].append(np.log2(style.f0_hz))
                values["pitch/any"].append(np.log2(style.f0_hz))
            values["rate"].append(style.rate)
            values["loudness"].append(style.loudness_db)
        edges = {}
        for key, found in values.items():
            if len(found) < 20:
                raise CodecError(f"too few clips to bin {key} ({len(found)}; at least 20)")
            quantiles = np.quantile(np.asarray(found), QUANTILES)
            edges[key] = [float(2**q) if key.startswith("pitch") else float(q) for q in quantiles]
        return cls(edges)

    def words(self, style: Style, gender: str) -> dict[str, str]:
        """The levels of ``style`` (``gender``: the speaker's, ``male`` or ``female``)."""
        out = {"gender": gender, "whisper": "yes" if style.voicing < self.whisper_voicing else "no"}
        if out["whisper"] == "no" and style.f0_hz > 0 and gender in ("male", "female"):
            out["pitch"] = self._level("pitch", self.edges[f"pitch/{gender}"], style.f0_hz)
        out["rate"] = self._level("rate", self.edges["rate"], style.rate)
        out["loudness"] = self._level("loudness", self.edges["loudness"], style.loudness_db)
        return out

    def overall_pitch(self, style: Style) -> str | None:
        """The pitch level of ``style`` among all voices (``pitch/any``); None for a whisper, a clip
        without F0 or bins without ``pitch/any``."""
        if "pitch/any" not in self.edges or style.voicing < self.whisper_voicing or style.f0_hz <= 0:
            return None
        return self._level("pitch", self.edges["pitch/any"], style.f0_hz)

    @staticmethod
    def _level(attribute: str, edges: list[float], value: float) -> str:
        return LEVELS[attribute][int(np.searchsorted(edges, value, side="right"))]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (saved with the corpus and the model)."""
        out = {"edges": self.edges, "whisper_voicing": self.whisper_voicing, "quantiles": list(QUANTILES)}
        return out | ({"gender_judge": self.gender_judge.to_dict()} if self.gender_judge else {})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StyleBins:
        """Inverse of ``to_dict``."""
        judge = GenderJudge.from_dict(data["gender_judge"]) if data.get("gender_judge") else None
        edges = {key: [float(v) for v in values] for key, values in data["edges"].items()}
        return cls(edges, data["whisper_voicing"], judge)

    @classmethod
    def load(cls, path: str | Path) -> StyleBins:
        """Read a ``style_bins.json``.

        Raises:
            CodecError: a missing or malformed file.
        """
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CodecError(f"not a style bins file ({error})", path) from None
