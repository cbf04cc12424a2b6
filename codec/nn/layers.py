"""Building blocks shared by encoders and decoders: padded convolutions, ConvNeXt, attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class ConvStream:
    """The left context a causal ``PaddedConv1d`` carries from one chunk of a stream to the next.

    While a ``ConvStream`` is set as a causal convolution's ``stream``, each call prepends the
    previous call's last ``receptive - stride`` input frames (zeros at the start, as the offline
    left padding) instead of padding: consecutive chunks (each a multiple of ``stride`` frames) give
    exactly the frames of one call on their concatenation.
    """

    def __init__(self) -> None:
        self.context: torch.Tensor | None = None


class PaddedConv1d(nn.Module):
    """Conv1d whose output has ``ceil(T / stride)`` frames: "same" padding, or left-only if causal.

    Args:
        causal: pad only on the left, so output frame ``t`` sees inputs ``<= t * stride``.
        norm: wrap the convolution in weight normalization.

    Attributes:
        stream: a ``ConvStream`` while the layer runs chunk by chunk in a stream (causal only),
            else None.
        pads_itself: the padding is equal on both sides (stride 1, odd receptive field, not
            causal), so the convolution pads its input itself instead of receiving a padded copy.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        causal: bool = False,
        norm: bool = True,
    ) -> None:
        super().__init__()
        self.causal = causal
        self.stride = stride
        self.receptive = (kernel_size - 1) * dilation + 1
        self.pads_itself = not causal and stride == 1 and self.receptive % 2 == 1
        padding = (self.receptive - 1) // 2 if self.pads_itself else 0
        conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups)
        self.conv = weight_norm(conv) if norm else conv
        self.stream: ConvStream | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, T)`` -> ``(B, C_out, ceil(T / stride))``."""
        if self.stream is not None:
            return self._stream_forward(x, self.stream)
        if self.pads_itself:
            return self.conv(x)
        length = x.shape[-1]
        n_out = -(-length // self.stride)
        total = max((n_out - 1) * self.stride + self.receptive - length, 0)
        left = total if self.causal else total // 2
        return self.conv(F.pad(x, (left, total - left)))

    def _stream_forward(self, x: torch.Tensor, stream: ConvStream) -> torch.Tensor:
        if not self.causal or x.shape[-1] % self.stride:
            raise ValueError(f"only causal convolutions run chunk by chunk, on multiples of {self.stride} frames")
        keep = self.receptive - self.stride
        context = stream.context if stream.context is not None else x.new_zeros(*x.shape[:-1], keep)
        full = torch.cat([context, x], dim=-1)
        stream.context = full[..., full.shape[-1] - keep :]
        return self.conv(full)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block (depthwise conv, LayerNorm, pointwise MLP, layer scale, residual).

    Args:
        dim: channels.
        intermediate_dim: hidden width of the pointwise MLP.
        kernel_size: depthwise kernel; causal blocks pad on the left only.
    """

    def __init__(
        self,
        dim: int,
        intermediate_dim: int,
        kernel_size: int = 7,
        layer_scale: float = 1e-6,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.dwconv = PaddedConv1d(dim, dim, kernel_size, groups=dim, causal=causal, norm=False)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T)`` -> ``(B, C, T)``."""
        y = self.dwconv(x).transpose(1, 2)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class AttentionBlock(nn.Module):
    """Pre-norm multi-head self-attention over frames with a residual (causal if asked).

    Args:
        dim: channels; ``heads`` must divide it.
    """

    def __init__(self, dim: int, heads: int = 4, causal: bool = False) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.heads = heads
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T)`` -> ``(B, C, T)``."""
        b, c, t = x.shape
        q, k, v = self.qkv(self.norm(x.transpose(1, 2))).reshape(b, t, 3, self.heads, c // self.heads).unbind(2)
        y = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=self.causal
        )
        return x + self.out(y.transpose(1, 2).reshape(b, t, c)).transpose(1, 2)
