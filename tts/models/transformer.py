"""Pre-norm transformer with rotary positions, padding-aware masks and a key/value cache.

One stack serves every generator: full attention (phone encoders, masked parallel decoders) and
prefix-LM attention (VALL-E: the prefix, e.g. phones, sees itself both ways; later positions see
the prefix and their past). Padding may sit anywhere (items of a batch pad their phones and their
tokens separately), so the mask is built from a per-position ``valid`` flag and each item's
rotary positions count its own valid positions only: a padded item computes what it computes alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F


def rotary_angles(positions: torch.Tensor, channels: int, base: float = 10000.0) -> torch.Tensor:
    """Unit complex numbers ``(B, 1, T, channels / 2)`` of the angles ``positions (B, T) * base^(-2i/channels)``
    (computed once per forward pass, shared by every layer)."""
    half = channels // 2
    frequencies = base ** (-torch.arange(half, device=positions.device, dtype=torch.float32) / half)
    angles = positions.float()[:, None, :, None] * frequencies
    return torch.polar(torch.ones_like(angles), angles)


def rotary(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate ``(B, H, T, d)`` query/key channel pairs ``(i, i + d/2)`` by ``rotary_angles``.

    The rotated pairs come out interleaved (``2i, 2i + 1``): queries and keys share that channel
    order, so their dot products are those of the rotated pairs in place, in one complex product
    instead of a dozen real passes over the tensor."""
    half = x.shape[-1] // 2
    pairs = torch.complex(x[..., :half].float(), x[..., half:].float())
    return torch.view_as_real(pairs * angles).flatten(-2).to(x.dtype)


@dataclass
class KVCache:
    """Keys and values of the positions seen so far, per layer ``(B, H, S, d)``, with their validity
    ``(B, S)``, prefix flags ``(B, S)`` and the next rotary position per item ``(B,)``."""

    keys: list[torch.Tensor] = field(default_factory=list)
    values: list[torch.Tensor] = field(default_factory=list)
    valid: torch.Tensor | None = None
    prefix: torch.Tensor | None = None
    next_position: torch.Tensor | None = None

    @property
    def length(self) -> int:
        """Positions cached."""
        return 0 if self.valid is None else self.valid.shape[1]


def attention_mask(
    valid_q: torch.Tensor, valid_k: torch.Tensor, prefix_k: torch.Tensor | None, offset: int, causal: bool
) -> torch.Tensor:
    """Boolean ``(B, 1, Tq, Tk)``: query ``i`` (at sequence index ``offset + i``) may see key ``j``.

    Keys must be valid; with ``causal``, a key must not come later than the query unless it is in the
    prefix. A padded query sees itself, so that its row is never empty (its output is unused)."""
    tq, tk = valid_q.shape[1], valid_k.shape[1]
    allowed = valid_k[:, None, :].expand(-1, tq, -1)
    if causal:
        order = (
            torch.arange(tk, device=valid_k.device)[None, :]
            <= (offset + torch.arange(tq, device=valid_k.device))[:, None]
        )
        seen = order[None] | (prefix_k[:, None, :] if prefix_k is not None else False)
        allowed = allowed & seen
    own = torch.zeros(tq, tk, dtype=torch.bool, device=valid_k.device)
    own[torch.arange(tq), offset + torch.arange(tq)] = True
    allowed = allowed | (own[None] & ~valid_q[:, :, None])
    return allowed[:, None]


class SelfAttention(nn.Module):
    """Multi-head self-attention with rotary positions (``scaled_dot_product_attention``)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(
        self,
        x: torch.Tensor,
        angles: torch.Tensor,
        mask: torch.Tensor | None,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``(B, T, D)`` -> ``(B, T, D)`` and this call's keys and values appended to ``past``
        (``rotary_angles`` of the positions; mask None: every position sees every other)."""
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        q, k = rotary(q, angles), rotary(k, angles)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        return self.out(y.transpose(1, 2).reshape(batch, length, dim)), (k, v)


class Block(nn.Module):
    """Pre-norm attention + GELU MLP, each with a residual."""

    def __init__(self, dim: int, heads: int, ff_mult: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = SelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, ff_mult * dim), nn.GELU(), nn.Linear(ff_mult * dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        angles: torch.Tensor,
        mask: torch.Tensor | None,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        attended, present = self.attention(self.norm1(x), angles, mask, past)
        x = x + self.dropout(attended)
        return x + self.dropout(self.mlp(self.norm2(x))), present


class Transformer(nn.Module):
    """A stack of ``Block``s with a final norm.

    Args:
        dim: model width.
        layers: blocks.
        heads: attention heads (``dim`` divisible by it, ``dim / heads`` even).
        ff_mult: MLP width over ``dim``.
        dropout: on attention weights and block outputs in training.
        causal: prefix-LM attention (see the module); otherwise full attention.
    """

    def __init__(
        self, dim: int, layers: int, heads: int, ff_mult: int = 4, dropout: float = 0.1, causal: bool = False
    ) -> None:
        super().__init__()
        self.causal, self.heads = causal, heads
        self.blocks = nn.ModuleList(Block(dim, heads, ff_mult, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(
        self,
        x: torch.Tensor,
        valid: torch.Tensor,
        prefix: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Run ``(B, T, D)`` inputs.

        Args:
            valid: ``(B, T)`` True at real (non-padding) positions.
            prefix: ``(B, T)`` True at prefix positions (prefix-LM); None: no prefix.
            cache: continue from the positions it holds and append these (decoding step by step
                gives what one call over the whole sequence gives).

        Returns:
            ``(B, T, D)`` outputs (arbitrary at padding positions).
        """
        prefix = torch.zeros_like(valid) if prefix is None else prefix
        offset = 0 if cache is None else cache.length
        start = valid.new_zeros(valid.shape[0], dtype=torch.long)
        if cache is not None and cache.next_position is not None:
            start = cache.next_position
        positions = start[:, None] + valid.long().cumsum(1) - 1
        valid_k, prefix_k = valid, prefix
        if cache is not None and cache.valid is not None:
            valid_k = torch.cat([cache.valid, valid], dim=1)
            prefix_k = torch.cat([cache.prefix, prefix], dim=1)
        # full attention over unpadded inputs needs no mask, and runs faster without one
        unmasked = not self.causal and cache is None and bool(valid.all())
        mask = None if unmasked else attention_mask(valid, valid_k, prefix_k, offset, self.causal)
        angles = rotary_angles(positions, x.shape[-1] // self.heads)
        for index, block in enumerate(self.blocks):
            past = None if cache is None or len(cache.keys) <= index else (cache.keys[index], cache.values[index])
            x, present = block(x, angles, mask, past)
            if cache is not None:
                if len(cache.keys) > index:
                    cache.keys[index], cache.values[index] = present
                else:
                    cache.keys.append(present[0])
                    cache.values.append(present[1])
        if cache is not None:
            cache.valid, cache.prefix = valid_k, prefix_k
            cache.next_position = start + valid.long().sum(1)
        return self.norm(x)
