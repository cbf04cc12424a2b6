"""``ar-semantic``: VoxInstruct's pipeline. One language model reads the phones of the text (the
instruction's style vector added to each) and generates, in one token stream, first semantic units
(k-means of a speech model's states, ``tts units``) until an end token, then the first codebook's
tokens. Units and tokens share one frame rate (the data checks it; 50 Hz for Whisper units and the
default tokenizer), so the semantic stage sets the length and each acoustic position also reads the
unit of its own frame. Levels 2..Q come from VALL-E's NAR stage (``ArTTS``).

Stream of an utterance of ``T`` frames, units ``u`` and tokens ``a``::

    input   BOS  u1 .. uT  END+f(u1)  a1+f(u2) .. a(T-1)+f(uT)
    target  u1   u2 .. END a1         a2       .. aT

Classifier-free guidance: the style is replaced by the null style for ``instruction_drop`` of the
training items and the units are left out for ``semantic_drop`` of them (stream
``END+f(-) a1+f(-) ..``: the acoustic stage from phones and style alone), so inference mixes
``c + (g_i - 1)(c - u_style) + (g_s - 1)(c - u_semantic)``; the three run as one batch.

There is no speech prompt: the voice comes from the instruction, as in VoxInstruct.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tts.models.ar import ArTTS
from tts.models.batch import TTSBatch, lengths_mask
from tts.models.instruction_encoder import drop_styles, make_instruction_encoder, style_vectors
from tts.models.transformer import KVCache
from tts.sampling import DEFAULT_SAMPLING, SamplingOptions, sample


class ArSemanticTTS(ArTTS):
    """Instruction + phones -> semantic units -> first-codebook tokens in one AR stream.

    Args:
        units: the unit model's size (``tts units fit --clusters``).
        semantic_drop: share of training items without their units (semantic guidance).
        instruction_layers, instruction_drop, instruction_encoder: as ``NarTTS``'s (0 layers: plain TTS).
        others: as ``ArTTS``.
    """

    def __init__(
        self,
        n_symbols: int,
        n_codebooks: int,
        codebook_size: int,
        units: int = 500,
        dim: int = 256,
        heads: int = 4,
        layers: int = 6,
        nar_layers: int = 4,
        dropout: float = 0.1,
        min_frames_per_phone: float = 1.0,
        max_frames_per_phone: float = 20.0,
        semantic_drop: float = 0.1,
        instruction_layers: int = 0,
        instruction_drop: float = 0.2,
        instruction_encoder: str = "bytes",
    ) -> None:
        super().__init__(
            n_symbols, n_codebooks, codebook_size, dim, heads, layers, nar_layers, dropout,
            min_frames_per_phone, max_frames_per_phone,
        )  # fmt: skip
        # the inherited token embedding and head keep VALL-E's BOS / EOS rows, unused here: the
        # stream opens with the unit BOS and the acoustic stage's length is the semantic stage's
        self.units, self.semantic_drop, self.instruction_drop = units, semantic_drop, instruction_drop
        self.unit_bos, self.unit_end = units + 1, units
        self.unit_embedding = nn.Embedding(units + 2, dim)  # units, END (which opens the acoustic stage), BOS
        self.unit_head = nn.Linear(dim, units + 1)  # units and END
        self.frame_unit = nn.Embedding(units + 1, dim)  # an acoustic position's unit; ``units``: none
        self.instruction_encoder = None
        if instruction_layers:
            self.instruction_encoder = make_instruction_encoder(
                dim, instruction_layers, heads, dropout, instruction_encoder
            )

    def _prefix(
        self, phones: torch.Tensor, phone_lengths: torch.Tensor, style: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, P, D)`` phone inputs (plus the style) and their ``(B, P)`` valid flags."""
        x = self.phone_embedding(phones)
        if style is not None:
            x = x + style[:, None]
        return x, lengths_mask(phone_lengths, phones.shape[1])

    def loss(self, batch: TTSBatch) -> dict[str, torch.Tensor]:
        """Next-unit (with END) and next-token losses over the stream of whole utterances
        (``batch.semantic``: ``(B, T)`` units of the frames), plus the NAR loss for ``Q > 1``."""
        if batch.semantic is None:
            raise ValueError("ar-semantic trains on semantic units: give the data its units (--data.semantic_units)")
        phones, codes, lengths, units = batch.phones, batch.codes, batch.code_lengths, batch.semantic
        style = style_vectors(self.instruction_encoder, batch.instructions, batch.instruction_lengths, len(phones))
        if style is not None:
            style = drop_styles(self.instruction_encoder, style, self.instruction_drop)
        prefix_x, prefix_valid = self._prefix(phones, batch.phone_lengths, style)
        # units are dropped in training only, so that validation scores the full pipeline
        drop = self.semantic_drop if self.training else 0.0
        keep = torch.rand(len(phones), device=phones.device) >= drop
        width = int((torch.where(keep, 2 * lengths + 1, lengths)).max())
        stream = prefix_x.new_zeros(len(phones), width, prefix_x.shape[-1])
        unit_target = torch.full((len(phones), width), -100, dtype=torch.long, device=phones.device)
        token_target = torch.full_like(unit_target, -100)
        end, none = self.unit_embedding.weight[self.unit_end], self.frame_unit.weight[self.units]
        for item in range(len(phones)):
            n = int(lengths[item])
            u, a = units[item, :n], codes[item, 0, :n]
            if keep[item]:
                opening = self.unit_embedding(torch.cat([u.new_tensor([self.unit_bos]), u]))
                acoustic = torch.cat([end[None], self.token_embedding(a[: n - 1])]) + self.frame_unit(u)
                stream[item, : 2 * n + 1] = torch.cat([opening, acoustic])
                unit_target[item, :n] = u
                unit_target[item, n] = self.unit_end
                token_target[item, n + 1 : 2 * n + 1] = a
            else:
                stream[item, :n] = torch.cat([end[None], self.token_embedding(a[: n - 1])]) + none
                token_target[item, :n] = a
        valid = torch.cat([prefix_valid, (unit_target != -100) | (token_target != -100)], dim=1)
        prefix = torch.zeros_like(valid)
        prefix[:, : phones.shape[1]] = True
        hidden = self.model(torch.cat([prefix_x, stream], dim=1), valid, prefix)[:, phones.shape[1] :]
        unit_known, token_known = unit_target != -100, token_target != -100
        unit_logits = self.unit_head(hidden[unit_known])
        token_logits = self.head(hidden[token_known])[:, : self.codebook_size]
        out = {
            "ar_loss": F.cross_entropy(token_logits, token_target[token_known]),
            "accuracy": (token_logits.argmax(-1) == token_target[token_known]).float().mean(),
        }
        if bool(unit_known.any()):  # a batch whose items all dropped their units has no unit loss
            out["unit_loss"] = F.cross_entropy(unit_logits, unit_target[unit_known])
            out["unit_accuracy"] = (unit_logits.argmax(-1) == unit_target[unit_known]).float().mean()
        if self.n_codebooks > 1:
            out["nar_loss"] = self._nar_loss(phones, batch.phone_lengths, codes, lengths)
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
        instructions: torch.Tensor | None = None,
        instruction_lengths: torch.Tensor | None = None,
        instruction_guidance: float = 1.0,
        semantic_guidance: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens for ``(B, P)`` phones in the style of ``(B, L)`` instruction bytes; returns
        ``(B, Q, T)`` tokens and ``(B,)`` frames. ``prompt`` must be empty (``(B, Q, 0)``).

        Args:
            instruction_guidance: scale of the instruction against the null style (1: none).
            semantic_guidance: scale of the units in the acoustic stage against none (1: none).
        """
        if bool((prompt_lengths > 0).any()):
            raise ValueError("an ar-semantic model takes no voice prompt: the instruction sets the voice")
        batch, device = phones.shape[0], phones.device
        style = style_vectors(self.instruction_encoder, instructions, instruction_lengths, batch)
        branches = ["c"] + (["style"] if instruction_guidance != 1 and style is not None else [])
        branches += ["semantic"] if semantic_guidance != 1 else []
        rows = len(branches)
        if style is not None:
            null = self.instruction_encoder.null.expand(batch, -1)
            style = torch.cat([null if branch == "style" else style for branch in branches])
        x, valid = self._prefix(phones.repeat(rows, 1), phone_lengths.repeat(rows), style)
        opening = self.unit_embedding.weight[self.unit_bos].expand(batch * rows, 1, -1)
        # BOS opens the stream of every branch but the semantic-free one, which starts at END
        opens = torch.tensor([branch != "semantic" for branch in branches], device=device).repeat_interleave(batch)
        opens = opens[:, None]
        prefix = torch.cat([torch.ones_like(valid), torch.zeros_like(opens)], dim=1)
        cache = KVCache()
        hidden = self.model(torch.cat([x, opening], dim=1), torch.cat([valid, opens], dim=1), prefix, cache)[:, -1]
        minimum = (phone_lengths.float() * self.min_frames_per_phone).long().clamp(min=1)
        maximum = (phone_lengths.float() * self.max_frames_per_phone).ceil().long().clamp(min=1)
        cap = int(maximum.max())
        units = torch.zeros(batch, cap + 1, dtype=torch.long, device=device)
        tokens = torch.zeros(batch, cap, dtype=torch.long, device=device)
        frames = torch.zeros(batch, dtype=torch.long, device=device)  # units drawn: the length once ended
        made = torch.zeros(batch, dtype=torch.long, device=device)  # acoustic tokens drawn
        acoustic = torch.zeros(batch, dtype=torch.bool, device=device)
        done = torch.zeros(batch, dtype=torch.bool, device=device)
        items = torch.arange(batch, device=device)
        while True:
            per_branch = dict(zip(branches, hidden.split(batch), strict=True))
            drawn = torch.zeros(batch, dtype=torch.long, device=device)
            naming = (~acoustic & ~done).nonzero()[:, 0].tolist()
            if naming:
                logits = self._guided(per_branch, self.unit_head, instruction_guidance, 1.0)[naming]
                logits[frames[naming] < minimum[naming], self.unit_end] = float("-inf")
                logits[frames[naming] >= maximum[naming], : self.units] = float("-inf")
                drawn[naming] = sample(logits, [generators[i] for i in naming], options)
            speaking = (acoustic & ~done).nonzero()[:, 0].tolist()
            if speaking:
                logits = self._guided(per_branch, self.head, instruction_guidance, semantic_guidance)[speaking]
                history = self._history(tokens[speaking], made[speaking], options.repetition_window)
                picked = [generators[i] for i in speaking]
                drawn[speaking] = sample(logits[:, : self.codebook_size], picked, options, history)
            ending = ~acoustic & ~done & (drawn == self.unit_end)
            new_unit = ~acoustic & ~done & ~ending
            new_token = acoustic & ~done
            units[items, frames] = torch.where(new_unit, drawn, units[items, frames])
            tokens[items, made.clamp(max=cap - 1)] = torch.where(
                new_token, drawn, tokens[items, made.clamp(max=cap - 1)]
            )
            frames, made = frames + new_unit.long(), made + new_token.long()
            done = done | (new_token & (made >= frames))
            acoustic = acoustic | ending
            if bool(done.all()):
                break
            # the unit of the frame the next acoustic input predicts: u1 after END, u(k+1) after token k
            upcoming = units[items, made]
            hidden = self._step(branches, drawn, upcoming, ending, new_unit, new_token & ~done, cache)
        codes = tokens.new_zeros(batch, self.n_codebooks, int(frames.max()))
        codes[:, 0] = tokens[:, : codes.shape[-1]]
        if self.n_codebooks > 1:
            codes = self._generate_levels(phones, phone_lengths, prompt, prompt_lengths, codes, frames)
        return codes, frames

    def _guided(
        self, per_branch: dict[str, torch.Tensor], head: nn.Module, instruction: float, semantic: float
    ) -> torch.Tensor:
        """Guided float32 ``(B, V)`` logits of ``head`` from each branch's ``(B, D)`` states."""
        conditional = head(per_branch["c"]).float()
        logits = conditional.clone()
        if "style" in per_branch:
            logits += (instruction - 1) * (conditional - head(per_branch["style"]).float())
        # the semantic-free branch has seen no input before END: its states are only read for tokens
        if "semantic" in per_branch and semantic != 1:
            logits += (semantic - 1) * (conditional - head(per_branch["semantic"]).float())
        return logits

    @staticmethod
    def _history(tokens: torch.Tensor, made: torch.Tensor, window: int) -> torch.Tensor | None:
        """The last ``window`` acoustic tokens of each row, right-aligned (``-1`` before the first),
        for repetition-aware sampling; None when it is off."""
        if not window:
            return None
        history = tokens.new_full((len(tokens), window), -1)
        for row, n in enumerate(made.tolist()):
            kept = tokens[row, max(0, n - window) : n]
            history[row, window - len(kept) :] = kept
        return history

    def _step(
        self,
        branches: list[str],
        drawn: torch.Tensor,
        upcoming: torch.Tensor,
        ending: torch.Tensor,
        new_unit: torch.Tensor,
        new_token: torch.Tensor,
        cache: KVCache,
    ) -> torch.Tensor:
        """Feed every branch its next stream input (a unit; END or a token, plus the unit of the
        frame it predicts, or none in the semantic-free branch); the ``(B * branches, D)`` states."""
        end = self.unit_embedding.weight[self.unit_end].expand(len(drawn), -1)
        spoken = torch.where(ending[:, None], end, self.token_embedding(drawn.clamp(max=self.codebook_size - 1)))
        unit = self.unit_embedding(drawn.clamp(max=self.unit_end))
        inputs, valid = [], []
        for branch in branches:
            if branch == "semantic":  # joins at END, without units
                inputs.append(spoken + self.frame_unit.weight[self.units])
                valid.append(ending | new_token)
            else:
                inputs.append(torch.where(new_unit[:, None], unit, spoken + self.frame_unit(upcoming)))
                valid.append(ending | new_token | new_unit)
        x, flags = torch.cat(inputs)[:, None], torch.cat(valid)[:, None]
        return self.model(x, flags, torch.zeros_like(flags), cache)[:, 0]
