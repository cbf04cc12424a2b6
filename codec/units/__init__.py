"""Discrete speech units: k-means of a speech model's frame features (Whisper tiny.en's encoder, or
a local HuBERT / WavLM), fitted on a corpus and applied to any audio."""

from codec.units.features import TransformersFeatures, WhisperEncoderFeatures, load_features
from codec.units.kmeans import UnitModel, fit_unit_model

__all__ = ["TransformersFeatures", "UnitModel", "WhisperEncoderFeatures", "fit_unit_model", "load_features"]
