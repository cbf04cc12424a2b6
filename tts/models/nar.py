"""``nar``: MobileSpeech / SoundStorm-style masked parallel generation of codec tokens.

A phone encoder and a duration predictor place the phones on the token frames (length
regulation); a full-attention decoder then fills in masked tokens over ``[prompt ; target]``
frames, codebook by codebook, in a few MaskGIT steps each (the most confident predictions are
kept, the rest masked again on a cosine schedule).

The speech prompt is the first frames of an utterance with their true tokens and no text: in
training, the utterance is cut at a phone boundary, the phones before it are dropped, and their
frames become the prompt; at inference the prompt is any clip's tokens. Classifier-free guidance:
in training the target's phone conditioning is replaced by a learned null vector for a share of
items; at inference ``logits = uncond + scale * (cond - uncond)``.

With ``instruction_layers`` the model also reads a style description (instruction-to-speech): its
style vector joins the phone encoder's input (so durations follow the asked rate) and the target
frames' conditioning. Instructions are dropped for a share of training items, which both teaches
plain TTS (no instruction) and gives a second guidance scale at inference. With ``style_levels``
the generator reads only the attribute levels the instruction asks for: a classifier on the style
vector names them and their learned embeddings are the style (in training, the embeddings of the
levels the instruction names), so the wording cannot choose the voice.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tts.models.batch import TTSBatch, lengths_mask
from tts.models.instruction_encoder import drop_styles, make_instruction_encoder, style_vectors
from tts.models.maskgit import cosine_masked, draw_unknown, remask_least_confident
from tts.models.regulation import DECODING_POSITIONS, decoding_chunks, regulate
from tts.models.style_levels import STYLE_CLASSES, LevelEmbeddings, read_levels
from tts.models.transformer import Transformer
from tts.sampling import DEFAULT_SAMPLING, SamplingOptions


class NarTTS(nn.Module):
    """Masked parallel TTS over ``n_codebooks`` codebooks of ``codebook_size`` tokens.

    Args:
        n_symbols: size of the phone inventory (id 0 is padding).
        n_codebooks: codebooks of the tokenizer used.
        codebook_size: tokens per codebook.
        dim, heads: model width and attention heads.
        encoder_layers, decoder_layers: transformer blocks of the phone encoder and token decoder.
        dropout: in training.
        uncond_prob: share of training items without phone conditioning (for guidance).
        instruction_layers: transformer blocks of the instruction encoder (0: no instructions).
        instruction_drop: share of training items whose instruction is replaced by the null style.
        instruction_encoder: ``bytes`` (the trained byte-level encoder), ``lexicon`` (the same, also
            reading the classes of ``tts.instruct.lexicon``: the gender of person nouns, the synonyms
            of modifiers) or a local folder with a pretrained text encoder
            (``PretrainedInstructionEncoder``; ``instruction_layers`` > 0).
        style_loss: weight of an auxiliary loss on the style vector: a linear classifier names, per
            attribute, the level the instruction asks for (``TTSBatch.style_targets``). The token
            loss alone teaches a byte-level encoder slowly to tell words that share their bytes
            ("a man" / "a woman", "a low voice" / "at a low volume"); 0: none.
        style_levels: the generator reads the levels the classifier names (one learned embedding per
            attribute level, summed onto the null style) instead of the style vector; in training,
            the levels the instruction names. Needs ``style_loss``. A pitch phrase then means a
            level of the voice asked (or of all voices, where no gender is named), whatever its words.
    """

    def __init__(
        self,
        n_symbols: int,
        n_codebooks: int,
        codebook_size: int,
        dim: int = 256,
        heads: int = 4,
        encoder_layers: int = 4,
        decoder_layers: int = 6,
        dropout: float = 0.1,
        uncond_prob: float = 0.1,
        instruction_layers: int = 0,
        instruction_drop: float = 0.2,
        instruction_encoder: str = "bytes",
        style_loss: float = 0.0,
        style_levels: bool = False,
    ) -> None:
        super().__init__()
        self.n_codebooks, self.codebook_size, self.uncond_prob = n_codebooks, codebook_size, uncond_prob
        self.mask_id = codebook_size
        self.phone_embedding = nn.Embedding(n_symbols, dim, padding_idx=0)
        self.encoder = Transformer(dim, encoder_layers, heads, dropout=dropout)
        self.duration = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1))
        self.code_embeddings = nn.ModuleList(nn.Embedding(codebook_size + 1, dim) for _ in range(n_codebooks))
        self.region = nn.Embedding(2, dim)  # 0: target frame, 1: prompt frame
        self.null_text = nn.Parameter(torch.zeros(dim))
        self.decoder = Transformer(dim, decoder_layers, heads, dropout=dropout)
        self.heads = nn.ModuleList(nn.Linear(dim, codebook_size) for _ in range(n_codebooks))
        self.instruction_drop = instruction_drop
        self.instruction_encoder = None
        if instruction_layers:
            self.instruction_encoder = make_instruction_encoder(
                dim, instruction_layers, heads, dropout, instruction_encoder
            )
            self.style_frames = nn.Linear(dim, dim)
        self.style_loss = style_loss if instruction_layers else 0.0
        if self.style_loss:
            self.style_classifier = nn.Linear(dim, sum(STYLE_CLASSES))
        self.style_levels = None
        if style_levels:
            if not self.style_loss:
                raise ValueError("style_levels needs an instruction encoder and style_loss > 0 (the level classifier)")
            self.style_levels = LevelEmbeddings(dim)

    def encode_phones(
        self, phones: torch.Tensor, phone_lengths: torch.Tensor, style: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(B, P)`` ids (and ``(B, D)`` style vectors) -> ``(B, P, D)`` phone states."""
        x = self.phone_embedding(phones)
        if style is not None:
            x = x + style[:, None]
        return self.encoder(x, lengths_mask(phone_lengths, phones.shape[1]))

    def encode_style(
        self, instructions: torch.Tensor | None, instruction_lengths: torch.Tensor | None, batch: int
    ) -> torch.Tensor | None:
        """``(B, D)`` styles the generator reads for ``(B, L)`` instruction bytes (the null style
        where there is none; with ``style_levels``, those of the levels read), or None for a model
        without an instruction encoder."""
        style = style_vectors(self.instruction_encoder, instructions, instruction_lengths, batch)
        if self.style_levels is None or style is None:
            return style
        return self.level_style(self.read_levels(style, instruction_lengths))

    def read_levels(self, style: torch.Tensor, instruction_lengths: torch.Tensor | None) -> torch.Tensor:
        """``(B, A)`` levels the classifier names on ``(B, D)`` style vectors (``read_levels``)."""
        return read_levels(self.style_classifier(style), instruction_lengths)

    def level_style(self, levels: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` style of ``(B, A)`` levels: the null style plus their embeddings."""
        return self.instruction_encoder.null + self.style_levels(levels)

    def _batch_styles(self, batch: TTSBatch) -> torch.Tensor | None:
        """``(B, D)`` style vectors of a training batch's instructions."""
        return style_vectors(self.instruction_encoder, batch.instructions, batch.instruction_lengths, len(batch.phones))

    def _with_style(self, condition: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        """Frame conditioning ``(B, T, D)`` plus the style's projection."""
        return condition if style is None else condition + self.style_frames(style)[:, None]

    def predict_durations(self, encoded: torch.Tensor) -> torch.Tensor:
        """``(B, P, D)`` -> ``(B, P)`` predicted ``log(1 + frames)``."""
        return self.duration(encoded).squeeze(-1)

    def _layout(
        self,
        prompt: torch.Tensor,
        prompt_lengths: torch.Tensor,
        target: torch.Tensor,
        target_lengths: torch.Tensor,
        condition: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Place each item's prompt then target frames side by side: ``(B, Q, S)`` codes,
        ``(B, S, D)`` conditioning (null text on the prompt), ``(B, S)`` valid and target flags."""
        batch, n_codebooks = target.shape[0], target.shape[1]
        size = int((prompt_lengths + target_lengths).max())
        codes = target.new_full((batch, n_codebooks, size), self.mask_id)
        cond = condition.new_zeros(batch, size, condition.shape[-1])
        is_target = torch.zeros(batch, size, dtype=torch.bool, device=target.device)
        for item in range(batch):
            p, t = int(prompt_lengths[item]), int(target_lengths[item])
            codes[item, :, :p] = prompt[item, :, :p]
            codes[item, :, p : p + t] = target[item, :, :t]
            cond[item, :p] = self.null_text
            cond[item, p : p + t] = condition[item, :t]
            is_target[item, p : p + t] = True
        valid = lengths_mask(prompt_lengths + target_lengths, size)
        return codes, cond, valid, is_target

    def hidden(
        self, codes: torch.Tensor, cond: torch.Tensor, valid: torch.Tensor, is_target: torch.Tensor
    ) -> torch.Tensor:
        """``(B, Q, S)`` codes (``mask_id`` where masked) -> ``(B, S, D)`` decoder states."""
        x = cond + self.region(((~is_target) & valid).long())
        for level, embedding in enumerate(self.code_embeddings):
            x = x + embedding(codes[:, level])
        return self.decoder(x, valid)

    def logits(
        self, codes: torch.Tensor, cond: torch.Tensor, valid: torch.Tensor, is_target: torch.Tensor
    ) -> torch.Tensor:
        """``(B, Q, S)`` codes (``mask_id`` where masked) -> ``(B, Q, S, K)`` logits."""
        hidden = self.hidden(codes, cond, valid, is_target)
        return torch.stack([head(hidden) for head in self.heads], dim=1)

    def _encode_batch(self, batch: TTSBatch) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
        """``(B, P, D)`` phone states of a training batch, its ``(B, D)`` styles (the null style for
        ``instruction_drop`` of them) and the style classifier's loss."""
        style = self._batch_styles(batch)
        extra = self._style_loss(style, batch)
        if style is not None and self.style_levels is not None:
            # teacher forcing: the levels the instruction names (items without one name none)
            asked = batch.style_targets
            if asked is None and batch.instructions is not None:
                raise ValueError("a model that reads levels trains on batches with style_targets")
            if asked is None:
                asked = torch.zeros(len(batch.phones), len(STYLE_CLASSES), dtype=torch.long, device=style.device)
            style = self.level_style(asked)
        if style is not None:
            style = drop_styles(self.instruction_encoder, style, self.instruction_drop)
        return self.encode_phones(batch.phones, batch.phone_lengths, style), style, extra

    def _duration_loss(self, encoded: torch.Tensor, batch: TTSBatch) -> torch.Tensor:
        """Mean squared error of the predicted log durations over the batch's phones."""
        phone_valid = lengths_mask(batch.phone_lengths, batch.phones.shape[1])
        log_target = torch.log1p(batch.durations.float())
        return F.mse_loss(self.predict_durations(encoded)[phone_valid], log_target[phone_valid])

    def duration_refit_loss(self, batch: TTSBatch) -> dict[str, torch.Tensor]:
        """The duration loss alone, on phone states computed without gradient: trains the duration
        predictor of a trained model on its final phone encoder (``TTSModule(objective="durations")``)."""
        with torch.no_grad():
            encoded, _, _ = self._encode_batch(batch)
        duration_loss = self._duration_loss(encoded, batch)
        return {"loss": duration_loss, "duration_loss": duration_loss}

    def style_refit_loss(self, batch: TTSBatch) -> dict[str, torch.Tensor]:
        """The style classifier's loss alone (``TTSModule(objective="styles")``); zero, with
        gradient, for a batch without instructed items."""
        style = self._batch_styles(batch)
        extra = self._style_loss(style, batch)
        return {"loss": extra.get("style_loss", style.sum() * 0.0), **extra}

    def loss(self, batch: TTSBatch) -> dict[str, torch.Tensor]:
        """Masked-token cross-entropy on one codebook level per item, and the duration loss."""
        encoded, style, extra = self._encode_batch(batch)
        duration_loss = self._duration_loss(encoded, batch)
        condition = regulate(encoded, batch.durations, batch.codes.shape[-1])
        drop = torch.rand(condition.shape[0], device=condition.device) < self.uncond_prob
        condition = torch.where(drop[:, None, None], self.null_text.expand_as(condition), condition)
        codes, cond, valid, is_target = self._layout(
            batch.prompt, batch.prompt_lengths, batch.codes, batch.code_lengths, self._with_style(condition, style)
        )
        level = torch.randint(0, self.n_codebooks, (codes.shape[0],), device=codes.device)
        share = cosine_masked(torch.rand(codes.shape[0], device=codes.device))
        scores = torch.rand(is_target.shape, device=codes.device).masked_fill(~is_target, 2.0)
        count = (share * is_target.sum(1)).ceil().clamp(min=1)
        masked = (scores.argsort(1).argsort(1) < count[:, None]) & is_target
        inputs = codes.clone()
        levels = torch.arange(self.n_codebooks, device=codes.device)[None, :, None]
        hide = (levels > level[:, None, None]) | ((levels == level[:, None, None]) & masked[:, None])
        inputs[hide & is_target[:, None]] = self.mask_id
        logits = self.logits(inputs, cond, valid, is_target)
        chosen = logits[torch.arange(codes.shape[0]), level]  # (B, S, K)
        target = codes[torch.arange(codes.shape[0]), level]
        token_loss = F.cross_entropy(chosen[masked], target[masked])
        accuracy = (chosen[masked].argmax(-1) == target[masked]).float().mean()
        return {
            "loss": token_loss + duration_loss + self.style_loss * extra.get("style_loss", 0.0),
            "token_loss": token_loss,
            "duration_loss": duration_loss,
            "accuracy": accuracy,
            **extra,
        }

    def _style_loss(self, style: torch.Tensor | None, batch: TTSBatch) -> dict[str, torch.Tensor]:
        """Cross-entropy and accuracy of the style classifier over the instructed items (none
        without ``style_loss``, instructions or targets)."""
        if not self.style_loss or style is None or batch.style_targets is None or batch.instruction_lengths is None:
            return {}
        instructed = batch.instruction_lengths > 0
        if not bool(instructed.any()):
            return {}
        logits = self.style_classifier(style[instructed]).split(STYLE_CLASSES, dim=-1)
        targets = batch.style_targets[instructed]
        losses = [F.cross_entropy(part, targets[:, i]) for i, part in enumerate(logits)]
        right = torch.stack([part.argmax(-1) == targets[:, i] for i, part in enumerate(logits)])
        return {"style_loss": torch.stack(losses).mean(), "style_accuracy": right.float().mean()}

    @torch.inference_mode()
    def generate(
        self,
        phones: torch.Tensor,
        phone_lengths: torch.Tensor,
        prompt: torch.Tensor,
        prompt_lengths: torch.Tensor,
        generators: list[torch.Generator],
        options: SamplingOptions = DEFAULT_SAMPLING,
        steps: tuple[int, ...] = (12, 4),
        guidance: float = 1.0,
        speed: float = 1.0,
        durations: torch.Tensor | None = None,
        instructions: torch.Tensor | None = None,
        instruction_lengths: torch.Tensor | None = None,
        instruction_guidance: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens for ``(B, P)`` phones in the voice of ``(B, Q, Tp)`` prompt tokens.

        Args:
            generators: one per item (``tts.sampling.generators_for``).
            steps: MaskGIT steps for the first codebook, then for each later one (the last value repeats).
            guidance: classifier-free guidance scale (1: conditional model only).
            speed: predicted durations are divided by it.
            durations: ``(B, P)`` frames per phone instead of the predicted ones.
            instructions, instruction_lengths: ``(B, L)`` style description bytes and ``(B,)``
                lengths (``tts.models.instruction_encoder.encode_instructions``; models with an
                instruction encoder only).
            instruction_guidance: guidance scale of the instruction (1: none).

        Returns:
            ``(B, Q, T)`` tokens and ``(B,)`` frames per item.
        """
        style = self.encode_style(instructions, instruction_lengths, phones.shape[0])
        encoded = self.encode_phones(phones, phone_lengths, style)
        if durations is None:
            predicted = torch.expm1(self.predict_durations(encoded)).clamp(min=0) / speed
            # word boundaries get a frame too, though training gives them none: without it the asked
            # rate is met more often but asked pitch less (docs/instruct.md, durations at synthesis)
            durations = predicted.round().long().clamp(min=1)
        durations = durations * lengths_mask(phone_lengths, phones.shape[1])
        lengths = durations.sum(1)
        out = prompt.new_zeros(phones.shape[0], self.n_codebooks, int(lengths.max()))
        for chunk in decoding_chunks(prompt_lengths + lengths, DECODING_POSITIONS):
            inputs = (phones[chunk], phone_lengths[chunk], encoded[chunk], durations[chunk])
            codes = self._unmask(
                *inputs,
                prompt[chunk],
                prompt_lengths[chunk],
                None if style is None else style[chunk],
                [generators[item] for item in chunk.tolist()],
                options,
                steps,
                guidance,
                instruction_guidance,
            )
            out[chunk, :, : codes.shape[-1]] = codes
        return out, lengths

    def _unmask(
        self,
        phones: torch.Tensor,
        phone_lengths: torch.Tensor,
        encoded: torch.Tensor,
        durations: torch.Tensor,
        prompt: torch.Tensor,
        prompt_lengths: torch.Tensor,
        style: torch.Tensor | None,
        generators: list[torch.Generator],
        options: SamplingOptions,
        steps: tuple[int, ...],
        guidance: float,
        instruction_guidance: float,
    ) -> torch.Tensor:
        """MaskGIT decoding of ``(B, P, D)`` encoded phones placed by ``(B, P)`` durations after the
        prompts: ``(B, Q, T)`` tokens (see ``generate``)."""
        lengths = durations.sum(1)
        total = int(lengths.max())
        condition = regulate(encoded, durations, total)
        empty = prompt.new_full((phones.shape[0], self.n_codebooks, total), self.mask_id)
        codes, cond, valid, is_target = self._layout(
            prompt, prompt_lengths, empty, lengths, self._with_style(condition, style)
        )
        unconditioned = []  # (scale, conditioning without one condition)
        if guidance != 1.0:
            no_text = self._with_style(self.null_text.expand_as(condition), style)
            unconditioned.append((guidance, self._layout(prompt, prompt_lengths, empty, lengths, no_text)[1]))
        if instruction_guidance != 1.0 and style is not None:
            null_style = self.instruction_encoder.null.expand_as(style)
            plain = regulate(self.encode_phones(phones, phone_lengths, null_style), durations, total)
            no_style = self._with_style(plain, null_style)
            unconditioned.append(
                (instruction_guidance, self._layout(prompt, prompt_lengths, empty, lengths, no_style)[1])
            )
        for level in range(self.n_codebooks):
            count = steps[min(level, len(steps) - 1)]
            unknown = is_target.clone()
            n_target = is_target.sum(1)
            for step in range(count):
                # only the positions still unknown are drawn and ranked: the head and the sampling
                # run over those rows alone
                rows = unknown.nonzero(as_tuple=True)
                head = self.heads[level]
                conditioned = head(self.hidden(codes, cond, valid, is_target)[rows]).float()
                logits = conditioned
                for scale, without in unconditioned:
                    uncond = head(self.hidden(codes, without, valid, is_target)[rows]).float()
                    # cond + (scale - 1) (cond - uncond), in one pass over the logits where possible
                    if logits is conditioned:
                        logits = torch.lerp(uncond, conditioned, scale)
                    else:
                        logits = logits.add_(conditioned - uncond, alpha=scale - 1)
                counts = unknown.sum(1).tolist()
                drawn, confidence = draw_unknown(logits, counts, generators, options)
                codes[rows[0], level, rows[1]] = drawn
                keep_masked = (cosine_masked(torch.tensor((step + 1) / count)) * n_target).floor().long().clamp(min=0)
                unknown = remask_least_confident(unknown, rows, confidence, counts, keep_masked, generators)
                codes[:, level][unknown] = self.mask_id
        out = prompt.new_zeros(phones.shape[0], self.n_codebooks, total)
        for item in range(phones.shape[0]):
            p, t = int(prompt_lengths[item]), int(lengths[item])
            out[item, :, :t] = codes[item, :, p : p + t]
        return out
