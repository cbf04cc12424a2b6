"""What the codec, training and the inference modules need of a decoder, as attributes and methods
rather than checks for one decoder class."""

from __future__ import annotations

import torch
from torch import nn


class Decoder(nn.Module):
    """Base of every decoder: latent frames ``(B, input_dim, T)`` -> audio ``(B, 1, T * hop_length)``.

    Attributes:
        hop_length: samples per latent frame.
        causal: whether an output sample depends only on present and past frames.
        pitch_hop: samples per pitch frame of a decoder with a pitch head (None without one): training
            supervises ``forward_with_pitch``'s F0 and may drive it with the target's.
        window_margin_frames: frames of context a decoded window needs beyond the measured receptive
            field (a running phase whose rounding a window must see settle).
        stateful_phase: decoding carries a running phase from frame to frame: windows of a long or
            streamed decode run in order, each continuing the previous one's phase (``forward_window``).
    """

    hop_length: int
    causal: bool
    pitch_hop: int | None = None
    window_margin_frames: int = 0
    stateful_phase: bool = False

    def forward_with_pitch(
        self, latent: torch.Tensor, driving_log2_f0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Audio ``(B, 1, T * hop_length)`` and, with a pitch head, its log2 F0 ``(B, K)`` (None
        otherwise); ``driving_log2_f0`` ``(B, K)``, where a decoder uses it, replaces the predicted F0
        that drives the harmonics (teacher forcing)."""
        return self(latent), None

    def forward_window(
        self, latent: torch.Tensor, anchor: tuple[int, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decode one window of a longer stream: audio ``(B, 1, T * hop_length)`` and the state the next
        window continues from (None for a decoder without ``stateful_phase``)."""
        return self(latent), None
