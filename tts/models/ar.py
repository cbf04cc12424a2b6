"""``ar``: VALL-E. A decoder-only language model over ``[phones ; first-codebook tokens]`` with a
prefix-LM mask (the phones see each other both ways), generated token by token with a key/value
cache until a stop token, then the other codebooks in one parallel step each (VALL-E's NAR stage:
level ``q`` predicted at every frame from the phones and levels ``< q``).

The speech prompt is a clip's tokens with its transcript: its phones go before the target's and
its first-codebook tokens open the token stream, so the model continues that voice. The number of
frames is capped from the phone count (``max_frames_per_phone``) and a stop before
``min_frames_per_phone`` per phone is not allowed: a generation can neither run away nor come out
empty.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tts.models.batch import TTSBatch, join_items, lengths_mask
from tts.models.transformer import KVCache, Transformer
from tts.sampling import DEFAULT_SAMPLING, SamplingOptions, sample


class ArTTS(nn.Module):
    """VALL-E over ``n_codebooks`` codebooks of ``codebook_size`` tokens.

    Args:
        n_symbols: size of the phone inventory (id 0 is padding).
        n_codebooks, codebook_size: the tokenizer's.
        dim, heads, layers: width, heads and blocks of the AR model; ``nar_layers`` of the NAR stage.
        dropout: in training.
        min_frames_per_phone, max_frames_per_phone: the length bounds of a generation.
    """

    def __init__(
        self,
        n_symbols: int,
        n_codebooks: int,
        codebook_size: int,
        dim: int = 256,
        heads: int = 4,
        layers: int = 6,
        nar_layers: int = 4,
        dropout: float = 0.1,
        min_frames_per_phone: float = 1.0,
        max_frames_per_phone: float = 20.0,
    ) -> None:
        super().__init__()
        self.n_codebooks, self.codebook_size = n_codebooks, codebook_size
        self.bos, self.eos = codebook_size, codebook_size + 1
        self.min_frames_per_phone, self.max_frames_per_phone = min_frames_per_phone, max_frames_per_phone
        self.phone_embedding = nn.Embedding(n_symbols, dim, padding_idx=0)
        self.token_embedding = nn.Embedding(codebook_size + 2, dim)
        self.model = Transformer(dim, layers, heads, dropout=dropout, causal=True)
        self.head = nn.Linear(dim, codebook_size + 2)
        if n_codebooks > 1:
            self.nar_phones = nn.Embedding(n_symbols, dim, padding_idx=0)
            self.nar_tokens = nn.ModuleList(nn.Embedding(codebook_size, dim) for _ in range(n_codebooks - 1))
            self.nar_level = nn.Embedding(n_codebooks, dim)
            self.nar = Transformer(dim, nar_layers, heads, dropout=dropout)
            self.nar_heads = nn.ModuleList(nn.Linear(dim, codebook_size) for _ in range(n_codebooks - 1))

    def _ar_inputs(
        self, phones: torch.Tensor, phone_lengths: torch.Tensor, tokens: torch.Tensor, token_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``[phones (P) ; BOS + tokens (T + 1)]`` as ``(B, P + T + 1, D)`` with valid and prefix flags."""
        bos = tokens.new_full((tokens.shape[0], 1), self.bos)
        stream = torch.cat([bos, tokens], dim=1)
        x = torch.cat([self.phone_embedding(phones), self.token_embedding(stream)], dim=1)
        valid = torch.cat(
            [lengths_mask(phone_lengths, phones.shape[1]), lengths_mask(token_lengths + 1, stream.shape[1])], dim=1
        )
        prefix = torch.zeros_like(valid)
        prefix[:, : phones.shape[1]] = True
        return x, valid, prefix

    def loss(self, batch: TTSBatch) -> dict[str, torch.Tensor]:
        """Next-token loss on the first codebook (with the stop token) and, for ``Q > 1``, the NAR
        loss of one random level per item, on whole utterances (a batch without prompts: VALL-E's
        prompt at inference is an utterance's own beginning, with its transcript)."""
        phones, phone_lengths, codes, code_lengths = batch.phones, batch.phone_lengths, batch.codes, batch.code_lengths
        first = codes[:, 0]
        x, valid, prefix = self._ar_inputs(phones, phone_lengths, first, code_lengths)
        hidden = self.model(x, valid, prefix)[:, phones.shape[1] :]
        target = first.new_full((first.shape[0], first.shape[1] + 1), -100)
        for item in range(first.shape[0]):
            n = int(code_lengths[item])
            target[item, :n] = first[item, :n]
            target[item, n] = self.eos
        logits = self.head(hidden)
        ar_loss = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=-100)
        known = target != -100
        accuracy = (logits.argmax(-1)[known] == target[known]).float().mean()
        out = {"ar_loss": ar_loss, "accuracy": accuracy}
        if self.n_codebooks > 1:
            out["nar_loss"] = self._nar_loss(phones, phone_lengths, codes, code_lengths)
        out["loss"] = sum(value for key, value in out.items() if key.endswith("_loss"))
        return out

    def _nar_loss(
        self, phones: torch.Tensor, phone_lengths: torch.Tensor, codes: torch.Tensor, code_lengths: torch.Tensor
    ) -> torch.Tensor:
        """Cross-entropy of one random level (2..Q) per item given the levels below it: the
        parallel stage's loss."""
        level = torch.randint(1, self.n_codebooks, (codes.shape[0],), device=codes.device)
        logits = self._nar_logits(phones, phone_lengths, codes, code_lengths, level)
        frames = lengths_mask(code_lengths, codes.shape[-1])
        return F.cross_entropy(logits[frames], codes[torch.arange(codes.shape[0]), level][frames])

    def _nar_logits(
        self,
        phones: torch.Tensor,
        phone_lengths: torch.Tensor,
        codes: torch.Tensor,
        code_lengths: torch.Tensor,
        level: torch.Tensor,
    ) -> torch.Tensor:
        """``(B, T, K)`` logits of level ``level[b]`` (1..Q-1) from the phones and the levels below it."""
        batch, _, frames = codes.shape
        audio = self.nar_level(level)[:, None].expand(batch, frames, -1)
        for index, embedding in enumerate(self.nar_tokens):
            below = (index < level).to(audio.dtype)[:, None, None]
            audio = audio + embedding(codes[:, index]) * below
        x, lengths = join_items(self.nar_phones(phones), phone_lengths, audio, code_lengths)
        hidden = self.nar(x, lengths_mask(lengths, x.shape[1]))
        states = hidden.new_zeros(batch, frames, hidden.shape[-1])
        for item in range(batch):
            start, n = int(phone_lengths[item]), int(code_lengths[item])
            states[item, :n] = hidden[item, start : start + n]
        logits = torch.stack([head(states) for head in self.nar_heads], dim=1)  # (B, Q - 1, T, K)
        return logits[torch.arange(batch), level - 1]

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
        """Tokens for ``(B, P)`` phones (the prompt's transcript first, then the target text) after
        ``(B, Q, Tp)`` prompt tokens; returns the new ``(B, Q, T)`` tokens and ``(B,)`` frames."""
        batch = phones.shape[0]
        cache = KVCache()
        x, valid, prefix = self._ar_inputs(phones, phone_lengths, prompt[:, 0], prompt_lengths)
        hidden = self.model(x, valid, prefix, cache)
        last_index = phones.shape[1] + prompt_lengths  # the BOS + prompt's last valid position
        logits = self.head(hidden[torch.arange(batch), last_index])
        minimum = (phone_lengths.float() * self.min_frames_per_phone).long()
        maximum = (phone_lengths.float() * self.max_frames_per_phone).ceil().long().clamp(min=1)
        tokens = torch.zeros(batch, 0, dtype=torch.long, device=phones.device)
        done = torch.zeros(batch, dtype=torch.bool, device=phones.device)
        lengths = torch.zeros(batch, dtype=torch.long, device=phones.device)
        while not bool(done.all()):
            step = tokens.shape[1]
            logits = logits.float()
            logits[:, self.bos] = float("-inf")
            logits[step < minimum, self.eos] = float("-inf")
            history = torch.cat([prompt[:, 0], tokens], dim=1) if prompt.shape[-1] else tokens
            drawn = sample(logits, generators, options, history)
            stop = (drawn == self.eos) | (step + 1 > maximum)
            drawn = torch.where(stop | done, torch.zeros_like(drawn), drawn)
            lengths = torch.where(done | stop, lengths, lengths + 1)
            alive = ~(done | stop)
            tokens = torch.cat([tokens, drawn[:, None]], dim=1)
            done = done | stop
            if bool(done.all()):
                break
            hidden = self.model(
                self.token_embedding(drawn)[:, None], alive[:, None], torch.zeros_like(alive[:, None]), cache
            )
            logits = self.head(hidden[:, 0])
        tokens = tokens[:, : int(lengths.max()) if len(lengths) else 0]
        codes = tokens.new_zeros(batch, self.n_codebooks, tokens.shape[1])
        codes[:, 0] = tokens
        if self.n_codebooks > 1:
            codes = self._generate_levels(phones, phone_lengths, prompt, prompt_lengths, codes, lengths)
        return codes, lengths

    def _generate_levels(
        self,
        phones: torch.Tensor,
        phone_lengths: torch.Tensor,
        prompt: torch.Tensor,
        prompt_lengths: torch.Tensor,
        codes: torch.Tensor,
        lengths: torch.Tensor,
    ) -> torch.Tensor:
        """Levels 2..Q, each in one step over ``[prompt ; generated]`` (the prompt's levels given)."""
        whole, whole_lengths = join_items(prompt.transpose(1, 2), prompt_lengths, codes.transpose(1, 2), lengths)
        whole = whole.transpose(1, 2).contiguous()
        for level in range(1, self.n_codebooks):
            chosen = torch.full((codes.shape[0],), level, dtype=torch.long, device=codes.device)
            predicted = self._nar_logits(phones, phone_lengths, whole, whole_lengths, chosen).argmax(-1)
            for item in range(codes.shape[0]):
                p, t = int(prompt_lengths[item]), int(lengths[item])
                whole[item, level, p : p + t] = predicted[item, p : p + t]
        out = codes.clone()
        for item in range(codes.shape[0]):
            p, t = int(prompt_lengths[item]), int(lengths[item])
            out[item, :, :t] = whole[item, :, p : p + t]
        return out
