"""``TTS``: text (and an optional voice prompt) -> speech, with a generator over a codec's tokens.

``load_tts(name_or_folder)`` loads a shipped model (``"default"``) or a model folder
(``tts export``) with its text front end and the tokenizer it was trained on, refusing one whose token
fingerprint differs. ``synthesize`` splits long text at sentence boundaries, generates every piece
of every text as one batch (each with its own seed, so an item's audio does not depend on its
batch-mates), decodes with the codec and joins the pieces.
``instruct`` does the same for natural-language instructions (instruction-to-speech models): the
quoted part of each is spoken in the style the rest describes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from codec import Codec, load_codec
from codec.errors import CodecError
from codec.io.audio import read_audio, resample, to_mono
from tts.instruct.bins import StyleBins
from tts.instruct.instructions import Instruction, parse_instruction
from tts.instruct.phrasings import LEVELS
from tts.instruct.pitch_control import level_shift
from tts.models.batch import lengths_mask
from tts.models.instruction_encoder import encode_instructions
from tts.pretrained import load_generator, model_folder
from tts.sampling import DEFAULT_SAMPLING, SamplingOptions, generators_for
from tts.text.frontend import TextFrontend

PROMPT_MIN_SECONDS = 1.0
PROMPT_MAX_SECONDS = 3.0
PAUSE_SECONDS = 0.15
"""Silence between the pieces of a long text."""
SYNTHESIS_DEFAULTS = {"nar": {"guidance": 1.5}}
"""The generator options ``synthesize`` uses unless given: text guidance 1.5 lowers the shipped
``nar`` model's WER from 0.642 to 0.533 on held-out sentences (``docs/tts-generators.md``)."""
INSTRUCTION_GUIDANCE = {
    "nar": {"guidance": 1.5, "instruction_guidance": 3.0},
    "ar-semantic": {"semantic_guidance": 1.5, "instruction_guidance": 3.0},
}
"""The guidance scales ``instruct`` uses unless given: VoxInstruct's starting values (text or
semantic units 1.5, instruction 3), which beat no guidance in ``docs/instruct.md`` (WER 0.71
against 1.09, stronger loudness and whisper contrasts)."""
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}
"""Arithmetic of the generator: ``bfloat16`` runs its matrix products under autocast (faster on CPUs
with AVX-512 BF16 or AMX and on GPUs); the tokenizer decodes in float32 either way."""


def precision_autocast(device_type: str, precision: str) -> torch.autocast:
    """The autocast region a generator runs in at ``precision`` (a ``PRECISIONS`` name; disabled for
    float32)."""
    dtype = PRECISIONS[precision]
    return torch.autocast(device_type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


class TTS:
    """A loaded TTS model: generator, text front end and tokenizer.

    Attributes:
        sample_rate: rate of the audio it returns (the tokenizer's).
        precision: the generator's arithmetic (a ``PRECISIONS`` name).
    """

    def __init__(
        self,
        generator: torch.nn.Module,
        config: dict[str, Any],
        codec: Codec,
        frontend: TextFrontend,
        precision: str = "float32",
    ) -> None:
        if precision not in PRECISIONS:
            raise CodecError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        self.generator, self.config, self.codec, self.frontend = generator, config, codec, frontend
        self.kind = config["generator"]
        self.sample_rate = codec.sample_rate
        self.precision = precision

    def prompt_tokens(
        self, prompt: str | Path | np.ndarray | torch.Tensor, sample_rate: int | None = None
    ) -> torch.Tensor:
        """``(Q, T)`` tokens of a voice prompt (a file, or samples at ``sample_rate``): at least
        ``PROMPT_MIN_SECONDS``, its first ``PROMPT_MAX_SECONDS`` used.

        Raises:
            CodecError: an unreadable file, a prompt too short or silent.
        """
        name = str(prompt) if isinstance(prompt, (str, Path)) else "prompt"
        if isinstance(prompt, (str, Path)):
            audio, sample_rate = read_audio(prompt)
        elif sample_rate is None:
            raise CodecError("a prompt given as samples needs its sample_rate")
        else:
            audio = np.asarray(prompt, dtype=np.float32)
        audio = resample(to_mono(audio), sample_rate, self.sample_rate)
        seconds = audio.shape[-1] / self.sample_rate
        if seconds < PROMPT_MIN_SECONDS:
            raise CodecError(f"prompt is {seconds:.2f} s long; at least {PROMPT_MIN_SECONDS:g} s is needed", name)
        audio = audio[: int(PROMPT_MAX_SECONDS * self.sample_rate)]
        if float(np.sqrt(np.mean(np.square(audio)))) < 1e-4:
            raise CodecError("prompt is silent", name)
        return self.codec.encode(audio, self.sample_rate).codes[0]

    @torch.inference_mode()
    def synthesize(
        self,
        texts: str | Sequence[str],
        prompt: str | Path | np.ndarray | torch.Tensor | None = None,
        prompt_sample_rate: int | None = None,
        prompt_text: str | None = None,
        seed: int = 0,
        options: SamplingOptions = DEFAULT_SAMPLING,
        styles: Sequence[str] | None = None,
        pitch_control: bool = True,
        **generate: Any,
    ) -> torch.Tensor | list[torch.Tensor]:
        """Speech for one text (a ``(N,)`` tensor) or a list of texts (a list of them).

        Args:
            prompt: a voice to follow (file or samples); its first 3 s are used.
            prompt_text: the prompt's transcript (needed by ``ar``, VALL-E; the others ignore it).
            seed: text ``i`` samples from seeds of ``seed + i`` (the same audio alone or in a batch).
            options: sampling (temperature, top-k, top-p, repetition-aware).
            styles: one style description per text (instruction models; ``instruct`` parses them
                out of instructions).
            pitch_control: with ``styles``, speech whose pitch misses the level the model reads is
                decoded again with its pitch moved into that level's range
                (``tts.instruct.pitch_control``; models that read levels, on a harmonic-plus-noise
                tokenizer). False keeps the generator's own pitch.
            generate: the generator's own options (``nar``: ``steps``, ``guidance``, ``speed``,
                ``instruction_guidance``; ``ar-semantic``: ``instruction_guidance``,
                ``semantic_guidance``); those not given are ``SYNTHESIS_DEFAULTS``'.

        Raises:
            CodecError: empty or unpronounceable text, or a bad prompt.
        """
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        if not texts:
            raise CodecError("no text to synthesize")
        generate = {**SYNTHESIS_DEFAULTS.get(self.kind, {}), **generate}
        pieces = [
            (i, piece, (seed + i) * 1000 + k)
            for i, text in enumerate(texts)
            for k, piece in enumerate(self._pieces(text))
        ]
        if prompt is not None and self.kind == "ar-semantic":
            raise CodecError("an ar-semantic model takes no voice prompt: its instruction sets the voice")
        if prompt is not None and self.kind == "ar" and not prompt_text:
            raise CodecError("an ar (VALL-E) model reads a prompt with its transcript: give prompt_text")
        lead = (
            self.frontend.inventory.encode(self.frontend.phonemize(prompt_text))
            if prompt is not None and self.kind == "ar"
            else []
        )
        ids = [lead + self.frontend.inventory.encode(self.frontend.phonemize(piece)) for _, piece, _ in pieces]
        phones = torch.zeros(len(ids), max(len(row) for row in ids), dtype=torch.long)
        for row, symbols in enumerate(ids):
            phones[row, : len(symbols)] = torch.tensor(symbols)
        phone_lengths = torch.tensor([len(row) for row in ids])
        n_codebooks = self.config["n_codebooks"]
        if prompt is None:
            prompts = torch.zeros(len(ids), n_codebooks, 0, dtype=torch.long)
            prompt_lengths = torch.zeros(len(ids), dtype=torch.long)
        else:
            tokens = self.prompt_tokens(prompt, prompt_sample_rate)
            prompts = tokens[None].expand(len(ids), -1, -1).contiguous()
            prompt_lengths = torch.full((len(ids),), tokens.shape[-1], dtype=torch.long)
        seeds = [piece_seed for _, _, piece_seed in pieces]
        if styles is not None:
            if len(styles) != len(texts):
                raise CodecError(f"{len(styles)} style descriptions for {len(texts)} texts")
            ids, id_lengths = encode_instructions([styles[item] for item, _, _ in pieces])
            generate = {**generate, "instructions": ids, "instruction_lengths": id_lengths}
        device = next(self.generator.parameters()).device.type
        with precision_autocast(device, self.precision):
            codes, lengths = self.generator.generate(
                phones, phone_lengths, prompts, prompt_lengths, generators_for(seeds), options, **generate
            )
        audio = self._decode(codes, lengths)
        if styles is not None and pitch_control:
            audio = self._control_pitch(audio, codes, lengths, [styles[item] for item, _, _ in pieces])
        pause = torch.zeros(int(PAUSE_SECONDS * self.sample_rate))
        out = []
        for index in range(len(texts)):
            parts = [clip for (item, _, _), clip in zip(pieces, audio, strict=True) if item == index]
            joined = [part for clip in parts for part in (clip, pause)][:-1]
            out.append(torch.cat(joined))
        return out[0] if single else out

    @property
    def follows_instructions(self) -> bool:
        """Whether the model reads style instructions (an instruction-to-speech model)."""
        return getattr(self.generator, "instruction_encoder", None) is not None

    def read_styles(
        self, instructions: Sequence[str], texts: Sequence[str] | None = None
    ) -> list[dict[str, str]] | None:
        """Per instruction, the attribute levels the model reads in it (e.g. ``{"gender": "female",
        "pitch": "high"}``) where its generator reads levels (``NarTTS(style_levels=True)``); None
        for models that read the description as a whole.

        Raises:
            CodecError: an instruction without text to speak (as ``instruct``).
        """
        if getattr(self.generator, "style_levels", None) is None:
            return None
        return self._levels([parsed.style for parsed in _parse_instructions(list(instructions), texts)])

    def _levels(self, styles: list[str]) -> list[dict[str, str]]:
        """The levels the generator reads in each style description."""
        device = next(self.generator.parameters()).device
        ids, lengths = (t.to(device) for t in encode_instructions(styles))
        # in the arithmetic generation reads them in, so that a near tie reads the same
        with torch.inference_mode(), precision_autocast(device.type, self.precision):
            levels = self.generator.read_levels(self.generator.instruction_encoder(ids, lengths), lengths).tolist()
        return [
            {attribute: LEVELS[attribute][level - 1] for attribute, level in zip(LEVELS, row, strict=True) if level}
            for row in levels
        ]

    def _control_pitch(
        self, audio: list[torch.Tensor], codes: torch.Tensor, lengths: torch.Tensor, styles: list[str]
    ) -> list[torch.Tensor]:
        """``audio`` with the pieces whose pitch misses the level read in their ``styles`` decoded
        again at a moved pitch (``tts.instruct.pitch_control``)."""
        if not self.config.get("style_bins") or getattr(self.generator, "style_levels", None) is None:
            return audio
        if not hasattr(self.codec.decoder, "shifted_pitch"):
            return audio
        read, bins = self._levels(styles), StyleBins.from_dict(self.config["style_bins"])
        shifts = [
            level_shift(clip.numpy(), self.sample_rate, levels, bins) for clip, levels in zip(audio, read, strict=True)
        ]
        moved = [i for i, semitones in enumerate(shifts) if semitones]
        if moved:
            again = self._decode(codes[moved], lengths[moved], [shifts[i] for i in moved])
            audio = list(audio)
            for i, clip in zip(moved, again, strict=True):
                audio[i] = clip
        return audio

    def instruct(
        self,
        instructions: str | Sequence[str],
        texts: str | Sequence[str] | None = None,
        **synthesize: Any,
    ) -> torch.Tensor | list[torch.Tensor]:
        """Speech that follows one instruction (a ``(N,)`` tensor) or a list of them (a list).

        Args:
            instructions: e.g. ``'A woman speaks quickly with a high voice: "See you tomorrow."'``;
                the double-quoted part is spoken.
            texts: the words to speak, given separately (then nothing needs quoting).
            synthesize: as ``synthesize`` (prompt, seed, sampling, ``instruction_guidance``, ...);
                with a prompt, the voice comes from the prompt and the style from the instruction.
                Guidance scales not given are ``INSTRUCTION_GUIDANCE``'s.

        Raises:
            CodecError: a model without instructions, or an instruction without text to speak.
        """
        if not self.follows_instructions:
            raise CodecError("this model reads no instructions (train one with --data.instructions true)")
        single = isinstance(instructions, str)
        instructions = [instructions] if single else list(instructions)
        parsed = _parse_instructions(instructions, [texts] if isinstance(texts, str) else texts)
        synthesize = {**INSTRUCTION_GUIDANCE.get(self.kind, {}), **synthesize}
        audio = self.synthesize([p.text for p in parsed], styles=[p.style for p in parsed], **synthesize)
        return audio[0] if single else audio

    def _pieces(self, text: str) -> list[str]:
        if not isinstance(text, str) or not text.strip():
            raise CodecError("empty text")
        return self.frontend.split(text)

    def _decode(
        self, codes: torch.Tensor, lengths: torch.Tensor, pitch_shift: list[float] | None = None
    ) -> list[torch.Tensor]:
        keep = lengths_mask(lengths, codes.shape[-1])
        codes = codes * keep[:, None]
        frames = lengths.clamp(min=1)
        tokens = self.codec.tokens(codes[..., : max(1, int(frames.max()))], frames)
        return self.codec.decode(tokens, pitch_shift=pitch_shift)


def _parse_instructions(instructions: list[str], texts: Sequence[str] | None) -> list[Instruction]:
    """``parse_instruction`` of each instruction, with its text where ``texts`` gives them apart.

    Raises:
        CodecError: a count of texts other than of instructions, or an instruction without text.
    """
    if texts is not None and len(texts) != len(instructions):
        raise CodecError(f"{len(texts)} texts for {len(instructions)} instructions")
    return [parse_instruction(x, None if texts is None else texts[i]) for i, x in enumerate(instructions)]


def load_tts(
    folder: str | Path = "default", codec: Codec | str | None = None, device: str = "cpu", precision: str = "float32"
) -> TTS:
    """Load a TTS model (a shipped name such as ``"default"`` or a folder) and the tokenizer it
    generates tokens of.

    Args:
        codec: the tokenizer (a loaded ``Codec`` or a ``load_codec`` name); default: the one named in
            the folder, which must be installed.
        precision: the generator's arithmetic, ``float32`` or ``bfloat16`` (``PRECISIONS``).

    Raises:
        CodecError: a missing or damaged folder, or a tokenizer whose token fingerprint is not the
            one the model was trained on.
    """
    folder = model_folder(folder)
    generator, config = load_generator(folder)
    wanted = config.get("codec") or {}
    if not isinstance(codec, Codec):
        name = codec or wanted.get("model_name") or "default"
        try:
            codec = load_codec(name, device=device)
        except CodecError as error:
            if codec is not None:
                raise
            raise CodecError(
                f"the model generates tokens of tokenizer {name!r} (token fingerprint "
                f"{wanted.get('token_fingerprint')}), which is not installed here: pass its folder (--codec)",
                folder,
            ) from error
    found = codec.fingerprints().tokens
    if wanted.get("token_fingerprint") and wanted["token_fingerprint"] != found:
        raise CodecError(
            f"the model generates tokens of {wanted.get('model_name')} (token fingerprint "
            f"{wanted['token_fingerprint']}); tokenizer {codec.name} makes {found}: retrain the model on its tokens",
            folder,
        )
    return TTS(generator.to(device), config, codec, TextFrontend.from_dict(config["frontend"]), precision)
