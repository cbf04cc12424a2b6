"""``ar-aligned``: VALL-E R. VALL-E's language model with a monotonic phone pointer.

Every token position also reads the phone it is aligned to (its embedding is added to the token
input) and predicts whether the next frame moves on to the next phone. At inference the pointer
starts at the first target phone, can only stay or advance by one, and the generation stops once it
passes the last phone: words can be neither skipped nor repeated, and there is no stop token to
miss. The pointer moves when the predicted chance of still being on the phone falls below one half
(the median of the model's duration), not when one frame's move probability passes one half: a
phone of five frames has a move chance near 0.2 at each frame, which never passes it. The durations
that supervise the pointer come from the data (exact for synthetic voices, monotonic alignment
search for real speech).

The speech prompt comes without its transcript: its tokens open the token stream with a learned
"no phone" pointer input, and the pointer starts at the first phone of the target text. Training
matches this by cutting utterances at a phone boundary (``TTSBatch``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tts.models.ar import ArTTS
from tts.models.batch import TTSBatch, join_items
from tts.models.transformer import KVCache
from tts.sampling import DEFAULT_SAMPLING, SamplingOptions, sample


def frame_phones(durations: torch.Tensor, frames: int) -> torch.Tensor:
    """``(B, P)`` frames per phone -> ``(B, frames)`` index of each frame's phone (``-1`` past the end)."""
    out = torch.full((durations.shape[0], frames), -1, dtype=torch.long, device=durations.device)
    for item in range(durations.shape[0]):
        index = torch.arange(durations.shape[1], device=durations.device).repeat_interleave(
            durations[item].clamp(min=0)
        )
        out[item, : min(frames, len(index))] = index[:frames]
    return out


class ArAlignedTTS(ArTTS):
    """VALL-E R over ``n_codebooks`` codebooks; arguments as ``ArTTS``."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        dim = self.token_embedding.embedding_dim
        self.pointer_embedding = nn.Embedding(self.phone_embedding.num_embeddings, dim, padding_idx=0)
        self.no_phone = nn.Parameter(torch.zeros(dim))
        self.advance = nn.Linear(dim, 1)

    def _pointer_inputs(self, phones: torch.Tensor, pointer: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` phone indices (``-1``: none) -> ``(B, T, D)`` pointer embeddings."""
        ids = phones.gather(1, pointer.clamp(min=0))
        return torch.where((pointer >= 0)[..., None], self.pointer_embedding(ids), self.no_phone)

    def loss(self, batch: TTSBatch) -> dict[str, torch.Tensor]:
        """Token and pointer losses on the target frames (``batch`` as ``TTSBatch``: target phones
        and durations, prompt tokens before them without alignment), plus the NAR stage's."""
        joined, stream_lengths = join_items(
            batch.prompt.transpose(1, 2), batch.prompt_lengths, batch.codes.transpose(1, 2), batch.code_lengths
        )
        stream = joined.transpose(1, 2)  # (B, Q, Tp + T)
        pointer = torch.full((stream.shape[0], stream.shape[2]), -1, dtype=torch.long, device=stream.device)
        moves = torch.zeros(pointer.shape, device=stream.device)
        aligned = frame_phones(batch.durations, batch.codes.shape[-1])
        for item in range(stream.shape[0]):
            p, t = int(batch.prompt_lengths[item]), int(batch.code_lengths[item])
            pointer[item, p : p + t] = aligned[item, :t]
            moves[item, p : p + t - 1] = (aligned[item, 1:t] != aligned[item, : t - 1]).float()
            moves[item, p + t - 1] = 1.0  # the last frame moves past the last phone
        x, valid, prefix = self._ar_inputs(batch.phones, batch.phone_lengths, stream[:, 0], stream_lengths)
        # position j of the token stream (input: BOS or token j - 1) predicts token j, aligned to pointer[j]
        start = batch.phones.shape[1]
        x[:, start : start + pointer.shape[1]] += self._pointer_inputs(batch.phones, pointer)
        hidden = self.model(x, valid, prefix)[:, start : start + pointer.shape[1]]
        target_frames = pointer >= 0
        logits = self.head(hidden)[..., : self.codebook_size]
        token_loss = F.cross_entropy(logits[target_frames], stream[:, 0][target_frames])
        pointer_loss = F.binary_cross_entropy_with_logits(
            self.advance(hidden).squeeze(-1)[target_frames], moves[target_frames]
        )
        accuracy = (logits[target_frames].argmax(-1) == stream[:, 0][target_frames]).float().mean()
        out = {"ar_loss": token_loss, "pointer_loss": pointer_loss, "accuracy": accuracy}
        if self.n_codebooks > 1:
            out["nar_loss"] = self._nar_loss(batch.phones, batch.phone_lengths, stream, stream_lengths)
        out["loss"] = sum(value for key, value in out.items() if key.endswith("_loss"))
        return out

    @torch.inference_mode()
    def generate(
        self,
        phones: torch.Tensor,
        phone_lengths: torch.Tensor,
        prompt: torch.Tensor,
        prompt_lengths: torch.Tensor,
        generators: list[torch.Generator],
        options: SamplingOptions = DEFAULT_SAMPLING,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens for ``(B, P)`` phones (the target text only) in the voice of ``(B, Q, Tp)`` prompt
        tokens; returns ``(B, Q, T)`` tokens and ``(B,)`` frames."""
        batch = phones.shape[0]
        pointer = phone_lengths.new_zeros(batch)
        cache = KVCache()
        x, valid, prefix = self._ar_inputs(phones, phone_lengths, prompt[:, 0], prompt_lengths)
        start = phones.shape[1]
        slots = torch.arange(prompt.shape[-1] + 1, device=phones.device)[None]
        aligned = torch.where(slots == prompt_lengths[:, None], pointer[:, None], torch.full_like(slots, -1))
        x[:, start:] += self._pointer_inputs(phones, aligned)
        hidden = self.model(x, valid, prefix, cache)[torch.arange(batch), start + prompt_lengths]
        maximum = (phone_lengths.float() * self.max_frames_per_phone).ceil().long().clamp(min=1)
        tokens = torch.zeros(batch, 0, dtype=torch.long, device=phones.device)
        lengths = torch.zeros(batch, dtype=torch.long, device=phones.device)
        done = pointer >= phone_lengths
        staying = torch.ones(batch, device=phones.device)  # chance of still being on the current phone
        while not bool(done.all()):
            logits = self.head(hidden)[:, : self.codebook_size]
            history = torch.cat([prompt[:, 0], tokens], dim=1) if prompt.shape[-1] else tokens
            drawn = torch.where(done, torch.zeros_like(pointer), sample(logits, generators, options, history))
            tokens = torch.cat([tokens, drawn[:, None]], dim=1)
            lengths = lengths + (~done).long()
            staying = staying * (1 - self.advance(hidden).squeeze(-1).float().sigmoid())
            moves = (staying < 0.5) & ~done
            pointer = pointer + moves.long()
            staying = torch.where(moves, torch.ones_like(staying), staying)
            done = done | (pointer >= phone_lengths) | (lengths >= maximum)
            if bool(done.all()):
                break
            alive = ~done
            step = self.token_embedding(drawn)[:, None] + self._pointer_inputs(
                phones, torch.where(alive, pointer, -1)[:, None]
            )
            hidden = self.model(step, alive[:, None], torch.zeros_like(alive[:, None]), cache)[:, 0]
        codes = tokens.new_zeros(batch, self.n_codebooks, tokens.shape[1])
        codes[:, 0] = tokens
        if self.n_codebooks > 1:
            codes = self._generate_levels(phones, phone_lengths, prompt, prompt_lengths, codes, lengths)
        return codes, lengths
