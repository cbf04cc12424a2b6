"""Monotonic alignment search (MAS, as in Glow-TTS): phone durations for speech without them.

A trained ``nar`` model scores how well each phone explains each token frame: the log-probability
of the frame's first-codebook token when every frame is masked and conditioned on that phone alone.
MAS then finds the monotonic path (phones in order, each at least one frame) with the highest
summed score by dynamic programming. ``egs/tts16k/align.py`` fills the durations of the real
speech rows with it, so that ``nar`` and ``ar-aligned`` can train on them.
"""

from __future__ import annotations

import torch

from tts.models.nar import NarTTS


def monotonic_alignment(scores: torch.Tensor) -> torch.Tensor:
    """``(P, T)`` scores -> ``(P,)`` frames per phone (each >= 1, summing to ``T``) of the
    monotonic path with the highest total score.

    Raises:
        ValueError: fewer frames than phones.
    """
    phones, frames = scores.shape
    if frames < phones:
        raise ValueError(f"{frames} frames cannot hold {phones} phones")
    scores = scores.double()
    best = torch.full((phones, frames), float("-inf"), dtype=torch.float64)
    moved = torch.zeros(phones, frames, dtype=torch.bool)
    best[0, 0] = scores[0, 0]
    for t in range(1, frames):
        stay = best[:, t - 1]
        move = torch.cat([stay.new_full((1,), float("-inf")), best[:-1, t - 1]])
        moved[:, t] = move > stay
        best[:, t] = torch.maximum(stay, move) + scores[:, t]
    durations = torch.zeros(phones, dtype=torch.long)
    phone = phones - 1
    for t in range(frames - 1, 0, -1):
        durations[phone] += 1
        if moved[phone, t]:
            phone -= 1
    durations[phone] += 1
    return durations


@torch.inference_mode()
def phone_scores(model: NarTTS, phones: torch.Tensor, codes: torch.Tensor, group: int = 8) -> torch.Tensor:
    """``(P, T)`` log-probabilities of the ``(Q, T)`` codes' first-codebook tokens with every frame
    masked and conditioned on one phone of ``(P,)`` phones (``group`` phones per forward pass)."""
    model.eval()
    encoded = model.encode_phones(phones[None], torch.tensor([len(phones)]))[0]  # (P, D)
    frames = codes.shape[-1]
    masked = codes.new_full((1, model.n_codebooks, frames), model.mask_id)
    valid = torch.ones(1, frames, dtype=torch.bool)
    is_target = torch.ones_like(valid)  # no prompt: every frame is generated
    rows = []
    for start in range(0, len(phones), group):
        states = encoded[start : start + group]
        cond = states[:, None, :].expand(-1, frames, -1)
        n = states.shape[0]
        logits = model.logits(masked.expand(n, -1, -1), cond, valid.expand(n, -1), is_target.expand(n, -1))[:, 0]
        rows.append(logits.float().log_softmax(-1).gather(-1, codes[0][None, :, None].expand(n, -1, 1))[..., 0])
    return torch.cat(rows)


def align(model: NarTTS, phones: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """``(P,)`` frames per phone of an utterance's ``(Q, T)`` codes (see the module)."""
    return monotonic_alignment(phone_scores(model, phones, codes))
