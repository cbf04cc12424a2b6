"""One codebook: vector-quantize-pytorch's ``VectorQuantize`` with the codec papers' settings.

Dead-code restart is tied to the batch: vector-quantize-pytorch compares an EMA of per-batch code
counts with an absolute threshold, so a 4096-entry codebook fed 800 vectors a batch would see every
code as "dead" (each is used 0.2 times a batch on average) — the WavTokenizer bug. Here the
threshold is a fraction of the uniform usage ``n_vectors / K`` of the current batch, and a restarted
code starts at the uniform usage so it is not expired again at once. Under DDP the usage counts
are summed over ranks, so the uniform usage is that of the global batch (local vectors x ranks).

The codebook learns (EMA update, k-means init, dead-code restart) only in a training step: in train
mode with autograd on. A forward under ``torch.no_grad`` or ``inference_mode``, in any mode, only
looks codes up.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from vector_quantize_pytorch import VectorQuantize
from vector_quantize_pytorch.vector_quantize_pytorch import cdist, sample_vectors_distributed

# Vectors per block of the eval-mode lookup: a 1024 x 4096 similarity block (16 MB) instead of one
# row per frame of the whole batch.
LOOKUP_ROWS = 1024


class Codebook(nn.Module):
    """A single VQ codebook over ``(B, D, T)`` latents.

    Args:
        dim: latent channels.
        codebook_size: number of codes ``K``.
        codebook_dim: factorized lookup dimension (DAC uses 8); equal to ``dim`` for none.
        cosine: L2-normalized codes and cosine-similarity lookup.
        decay: EMA decay of the codebook.
        kmeans_init: initialize the codes by k-means on the first batch.
        dead_code_ratio: restart codes whose EMA usage is below this fraction of uniform usage.
        commitment_weight: weight of the commitment loss.

    Attributes:
        lookup_rows: vectors per block of the eval-mode lookup (``nearest``); None for one block.
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        codebook_dim: int = 8,
        cosine: bool = True,
        decay: float = 0.99,
        kmeans_init: bool = False,
        kmeans_iters: int = 10,
        dead_code_ratio: float = 0.03,
        commitment_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.dead_code_ratio = dead_code_ratio
        self.lookup_rows: int | None = LOOKUP_ROWS
        self.vq = VectorQuantize(
            dim=dim,
            codebook_size=codebook_size,
            codebook_dim=codebook_dim,
            use_cosine_sim=cosine,
            decay=decay,
            kmeans_init=kmeans_init,
            kmeans_iters=kmeans_iters,
            threshold_ema_dead_code=dead_code_ratio if dead_code_ratio > 0 else 0,
            commitment_weight=commitment_weight,
            rotation_trick=False,
            channel_last=True,
        )

    def _sync_across_processes(self) -> None:
        """All-reduce EMA statistics, k-means and restarts over DDP ranks.

        vector-quantize-pytorch decides this when the module is built, which under Lightning is
        before the process group exists; without it every rank would update its own codebook.
        """
        codebook = self.vq._codebook
        if codebook.use_ddp or not (dist.is_initialized() and dist.get_world_size() > 1):
            return
        codebook.use_ddp = True
        codebook.all_reduce_fn = dist.all_reduce
        codebook.kmeans_all_reduce_fn = dist.all_reduce
        codebook.sample_fn = sample_vectors_distributed
        codebook.replace_sample_fn = sample_vectors_distributed

    def forward(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, D, T)`` -> quantized ``(B, D, T)``, codes ``(B, T)``, scalar commitment loss (zero
        outside a training step)."""
        x = latent.transpose(1, 2)
        learning = self.training and torch.is_grad_enabled()
        if learning:
            self._sync_across_processes()
        if learning and self.dead_code_ratio > 0:
            ranks = dist.get_world_size() if self.vq._codebook.use_ddp else 1
            uniform = x.shape[0] * x.shape[1] * ranks / self.codebook_size
            self.vq._codebook.threshold_ema_dead_code = self.dead_code_ratio * uniform
            self.vq._codebook.reset_cluster_size = uniform
        if learning:
            quantized, codes, loss = self.vq(x)
            return quantized.transpose(1, 2), codes, loss
        codes = self.nearest(x)
        return self.decode(codes), codes, latent.new_zeros(())

    def lookup(self, latent: torch.Tensor) -> torch.Tensor:
        """``(B, D, T)`` latents -> ``(B, T)`` codes of the eval lookup, in any mode, without updates."""
        return self.nearest(latent.transpose(1, 2))

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` latents -> ``(B, T)`` codes, as the library's eval lookup picks them.

        The same similarity (``einsum`` for cosine codebooks, the library's ``cdist`` otherwise)
        and argmax, without the ``(B * T, K)`` one-hot matrix the library also builds (a tenth of
        a batch encode's time), and over ``lookup_rows`` vectors at a time (all at once when None,
        as the ONNX export needs) so that the similarity matrix stays small. Never initializes or
        updates the codebook.
        """
        vq = self.vq
        flat = vq._codebook.transform_input(vq.project_in(x)).float().reshape(1, -1, vq._codebook.embed.shape[-1])
        embed = vq._codebook.embed.float()
        codes = []
        parts = flat.split(self.lookup_rows, dim=1) if self.lookup_rows else (flat,)
        with torch.autocast("cuda", enabled=False):  # fp32 under autocast too, as in the library
            for part in parts:
                if vq._codebook.use_cosine_sim:
                    similarity = torch.einsum("h n d, h c d -> h n c", part, embed)
                else:
                    similarity = -cdist(part, embed)
                codes.append(similarity.argmax(-1))
        return torch.cat(codes, dim=1).reshape(x.shape[:-1])

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` codes -> ``(B, D, T)`` latents."""
        return self.vq.get_output_from_indices(codes).transpose(1, 2)
