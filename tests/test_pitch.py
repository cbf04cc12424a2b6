"""YIN pitch tracking, the harmonic excitation, the harmonic-plus-noise decoder and its pitch loss."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from codec.api import Codec
from codec.decoders import HarmonicVocosDecoder
from codec.errors import CodecError
from codec.evaluation.metrics import pitch_errors, quality
from codec.export.onnx import OnnxCodec, export_onnx
from codec.inference.batching import decode_batch
from codec.inference.chunking import decode_chunked, decode_harmonic_chunked, receptive_field
from codec.inference.streaming_decoder import StreamingDecoder
from codec.io.manifest import AudioItem
from codec.nn import pitch
from codec.nn.pitch import filled_log2_f0, frames_to_samples, harmonic_excitation, running_cycles, yin
from codec.training.losses import mel_distance, pitch_loss

RATE = 16000
HOP = 160


def tone(f0: np.ndarray, harmonics: int = 6) -> torch.Tensor:
    """A voiced-like signal: ``harmonics`` partials of a per-sample F0 track, falling 6 dB each."""
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    audio = sum(0.5**k * np.sin((k + 1) * phase) for k in range(harmonics))
    return torch.tensor(0.3 * audio / np.abs(audio).max(), dtype=torch.float32)[None]


@pytest.mark.parametrize("f0", [80.0, 155.0, 310.0])
def test_yin_finds_a_steady_pitch(f0: float) -> None:
    estimate, voiced = yin(tone(np.full(RATE, f0)), RATE, HOP)
    assert estimate.shape == voiced.shape == (1, RATE // HOP)
    assert voiced.float().mean() > 0.95
    inner = estimate[:, 3:-3][voiced[:, 3:-3]]  # the edge frames read reflected padding
    assert inner.numel() > 90 and inner.sub(f0).abs().max() < 0.01 * f0


def test_yin_follows_a_glide() -> None:
    track = np.linspace(120.0, 240.0, RATE)
    estimate, voiced = yin(tone(track), RATE, HOP)
    centres = np.arange(RATE // HOP) * HOP + HOP // 2
    truth = torch.tensor(track[centres], dtype=torch.float32)[None]
    assert voiced.float().mean() > 0.9
    assert (estimate[voiced] / truth[voiced] - 1).abs().max() < 0.02


def test_yin_calls_noise_and_silence_unvoiced() -> None:
    noise = 0.1 * torch.randn(1, RATE, generator=torch.Generator().manual_seed(0))
    assert yin(noise, RATE, HOP)[1].float().mean() < 0.1
    f0, voiced = yin(torch.zeros(2, RATE), RATE, HOP)
    assert not voiced.any() and (f0 == 0).all()


def test_yin_rates_a_voiced_half_and_a_silent_half() -> None:
    audio = tone(np.full(RATE, 200.0))
    audio[:, RATE // 2 :] = 0
    _, voiced = yin(audio, RATE, HOP)
    half = RATE // HOP // 2
    assert voiced[0, 3 : half - 3].all() and not voiced[0, half + 3 :].any()


def test_yin_in_blocks_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    audio = tone(np.linspace(100.0, 300.0, RATE))
    whole = yin(audio, RATE, HOP)
    monkeypatch.setattr(pitch, "FRAMES_PER_BLOCK", 7)
    blocked = yin(audio, RATE, HOP)
    assert torch.equal(whole[1], blocked[1]) and torch.allclose(whole[0], blocked[0])


def test_yin_on_inputs_shorter_than_its_window() -> None:
    f0, voiced = yin(torch.zeros(3, HOP - 1), RATE, HOP)
    assert f0.shape == voiced.shape == (3, 0)
    f0, voiced = yin(tone(np.full(400, 200.0)), RATE, HOP)  # 2 frames, padded past both ends
    assert f0.shape == (1, 2) and torch.isfinite(f0).all()
    assert pitch_errors(np.zeros(5, np.float32), np.zeros(5, np.float32), RATE) == (None, 0.0)


def test_pitch_errors_of_a_copy_an_octave_and_noise() -> None:
    reference = tone(np.full(RATE, 150.0))[0].numpy()
    assert pitch_errors(reference, reference, RATE) == (0.0, 0.0)
    gpe, vuv = pitch_errors(reference, tone(np.full(RATE, 300.0))[0].numpy(), RATE)
    assert gpe == 1.0 and vuv < 0.05
    slightly_sharp = tone(np.full(RATE, 160.0))[0].numpy()  # 6.7 % off: not a gross error
    assert pitch_errors(reference, slightly_sharp, RATE)[0] == 0.0
    noise = 0.1 * np.random.default_rng(0).standard_normal(RATE).astype(np.float32)
    gpe, vuv = pitch_errors(reference, noise, RATE)
    assert gpe is None or gpe > 0.5
    assert vuv > 0.9
    scores = quality(reference, reference, RATE)
    assert scores["f0_gpe"] == 0.0 and scores["vuv_error"] == 0.0


def test_frames_to_samples_is_linear_between_frame_centres() -> None:
    values = torch.tensor([[100.0, 200.0, 400.0]])
    samples = frames_to_samples(values, 4, 0, 12)
    assert samples[0, 0] == 100.0 and samples[0, -1] == 400.0  # held beyond the first and last centre
    assert samples[0, 5] == pytest.approx(100.0 + 100.0 * (5 - 1.5) / 4)
    assert torch.equal(frames_to_samples(values, 4, -2, 16)[:, 2:14], samples)


def test_harmonic_excitation_has_unit_harmonics_up_to_the_band_edge() -> None:
    f0 = 250.0
    track = torch.full((1, RATE), f0)
    pulses = harmonic_excitation(track, running_cycles(track, RATE), RATE)
    magnitude = torch.fft.rfft(pulses[0].double()).abs() / (RATE / 2)  # 1 Hz bins, unit sinusoid = 1
    harmonics = [int(k * f0) for k in range(1, 100) if k * f0 < 0.95 * RATE / 2]
    assert magnitude[harmonics].sub(1).abs().max() < 1e-3
    others = torch.ones_like(magnitude, dtype=torch.bool)
    others[harmonics] = False
    assert magnitude[others].max() < 1e-3


def tiny_decoder(seed: int = 0) -> HarmonicVocosDecoder:
    torch.manual_seed(seed)
    options = {"dim": 16, "intermediate_dim": 32, "num_layers": 1, "n_fft": 1280, "hop_length": 320}
    return HarmonicVocosDecoder(8, sample_rate=RATE, **options)


def test_harmonic_decoder_shapes_and_its_noise_only_limit() -> None:
    decoder = tiny_decoder()
    latent = torch.randn(2, 8, 7)
    audio, log2_f0 = decoder.forward_with_pitch(latent)
    assert audio.shape == (2, 1, 7 * 320) and log2_f0.shape == (2, 14)
    assert torch.allclose(log2_f0, torch.full_like(log2_f0, math.log2(150.0)))
    assert torch.equal(decoder(latent), audio)
    with torch.no_grad():
        decoder.head.voicing.bias.fill_(-30.0)  # no pulse train: the plain Vocos head's output
        plain = decoder.head.istft(*super(type(decoder.head), decoder.head).spectrum(decoder.features(latent)))
        assert torch.allclose(decoder(latent)[:, 0], plain, atol=1e-6)


def test_harmonic_decoder_renders_its_pitch() -> None:
    decoder = tiny_decoder()
    with torch.no_grad():
        decoder.head.pitch.bias.fill_(math.log2(200.0))
        decoder.head.voicing.bias.fill_(30.0)  # no noise
        audio = decoder(torch.zeros(1, 8, 50))[0, 0]
    estimate, voiced = yin(audio[None], RATE, HOP)
    assert voiced.float().mean() > 0.95
    assert estimate[voiced].sub(200.0).abs().max() < 2.0


def test_pitch_loss_is_zero_on_the_truth_and_trains_only_the_pitch_head() -> None:
    audio = tone(np.full(RATE, 180.0))[:, None]
    truth = torch.full((1, RATE // HOP), math.log2(180.0))
    loss, gross = pitch_loss(truth, audio, RATE, HOP)
    assert loss < 0.01 and gross == 0
    loss, gross = pitch_loss(truth + 1, audio, RATE, HOP)  # an octave off everywhere
    assert loss == pytest.approx(1.0, abs=0.01) and gross == 1

    decoder = tiny_decoder()
    audio_out, log2_f0 = decoder.forward_with_pitch(torch.randn(1, 8, RATE // 320))
    audio_out.square().mean().backward(retain_graph=True)
    assert decoder.head.pitch.weight.grad is None or decoder.head.pitch.weight.grad.abs().max() == 0
    assert decoder.head.voicing.bias.grad.abs().max() > 0
    decoder.zero_grad()
    pitch_loss(log2_f0, audio, RATE, HOP)[0].backward()
    assert decoder.head.pitch.bias.grad.abs().max() > 0


def harmonic_codec(seed: int = 0) -> Codec:
    """A tiny codec with a harmonic decoder whose F0 moves with the codes and whose output is mostly pulse train."""
    torch.manual_seed(seed)
    encoder = {"name": "spectral", "dim": 16, "hop_length": 320, "n_fft": 640, "stft_hop": 160, "channels": 16}
    decoder = {
        "name": "vocos-hn",
        "dim": 16,
        "intermediate_dim": 32,
        "num_layers": 2,
        "n_fft": 1280,
        "sample_rate": RATE,
    }
    codec = Codec(RATE, encoder, {"name": "vq", "codebook_size": 64, "codebook_dim": 4}, decoder, name="tiny-hn").eval()
    with torch.no_grad():
        torch.nn.init.normal_(codec.decoder.head.pitch.weight, std=0.3)
        codec.decoder.head.voicing.bias.fill_(3.0)
    return codec


@pytest.mark.parametrize("chunk_seconds", [0.1, 0.26, 1.0])
def test_chunked_harmonic_decode_carries_the_phase(chunk_seconds: float) -> None:
    codec = harmonic_codec()
    codes = torch.randint(0, 64, (2, 1, 300), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        whole = codec.decode_codes(codes)
        f0 = codec.decoder.head.log2_f0(codec.decoder.features(codec.quantizer.decode(codes))).exp2()
        chunked = decode_chunked(codec, codes, chunk_seconds)
    assert f0.max() > 2 * f0.min()  # a moving pitch, whose phase a restarted window would lose
    assert (whole - chunked).abs().max() < 1e-4 * whole.abs().max()


def test_streamed_harmonic_decode_equals_a_whole_decode() -> None:
    codec = harmonic_codec()
    codes = torch.randint(0, 64, (1, 1, 200), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        whole = codec.decode_codes(codes)[0, 0]
    stream = StreamingDecoder(codec)
    pieces, position = [], 0
    for size in [1, 7, 3, 40, 1, 1, 60, 13]:
        pieces.append(stream.push(codes[0, :, position : position + size]))
        position += size
    pieces.append(stream.push(codes[0, :, position:]))
    pieces.append(stream.flush())
    streamed = torch.cat(pieces)
    assert streamed.shape == whole.shape
    assert (streamed - whole).abs().max() < 1e-4 * whole.abs().max()


@pytest.mark.parametrize("chunk_seconds", [None, 0.1, 0.5])
@pytest.mark.parametrize("padded", [False, True])
def test_batched_harmonic_decode_equals_decoding_each_alone(
    chunk_seconds: float | None, padded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One by one (as on a CPU) the items are decoded exactly as alone. In a padded batch (as on an
    accelerator) each redone tail continues its item's phase; the F0 of a batch of five rounds
    differently from a batch of one (about 1e-6), so the waveforms drift apart slowly, as between
    runtimes (``test_harmonic_decoder_exports_to_onnx``), while their spectra stay equal."""
    import codec.inference.batching

    monkeypatch.setattr(codec.inference.batching, "pads_batches", lambda _: padded)
    codec_ = harmonic_codec()
    codes = torch.randint(0, 64, (5, 1, 90), generator=torch.Generator().manual_seed(3))
    lengths = torch.tensor([90, 41, 7, 41, 66])
    with torch.inference_mode():
        batch = decode_batch(codec_, codes, lengths, chunk_seconds=chunk_seconds)
        for item, length in enumerate(lengths.tolist()):
            alone = codec_.decode_codes(codes[item : item + 1, :, :length])[0]
            ours = batch[item, :, : length * 320]
            if padded:  # a wrong phase gives errors of the order of the peak and mel distances of 0.03+
                assert (ours - alone).abs().max() < 0.1 * alone.abs().max()
                assert mel_distance(ours[None], alone[None], RATE) < 0.01
            else:
                assert (ours - alone).abs().max() < 1e-4 * alone.abs().max()


def test_harmonic_decode_continues_a_captured_phase() -> None:
    """The phase captured at a sample of one decode, given as the anchor of a window that starts
    earlier, makes the window's output after its left-edge context equal the whole decode's."""
    codec_ = harmonic_codec()
    codes = torch.randint(0, 64, (2, 1, 120), generator=torch.Generator().manual_seed(5))
    field = receptive_field(codec_)
    context = -(-field.decoder_ahead // 320) + 1
    start, first = 50, 50 + context
    with torch.inference_mode():
        whole, phase = decode_harmonic_chunked(codec_, codes, 0.4, capture=torch.tensor([first * 320] * 2))
        window, _ = decode_harmonic_chunked(codec_, codes[..., start:], 0.4, anchor=((first - start) * 320, phase))
        restarted, _ = decode_harmonic_chunked(codec_, codes[..., start:], 0.4)
    tail = whole[..., first * 320 :]
    assert (window[..., (first - start) * 320 :] - tail).abs().max() < 1e-4 * tail.abs().max()
    assert (restarted[..., (first - start) * 320 :] - tail).abs().max() > 0.1 * tail.abs().max()


def test_harmonic_decoder_exports_to_onnx(tmp_path) -> None:
    """onnxruntime decodes what torch does. The pulse train's phase integrates an F0 that the two
    runtimes round differently (about 1e-6), so the waveforms drift apart slowly (under 1 % of
    the peak after 2.4 s here) while their spectra stay equal."""
    pytest.importorskip("onnxruntime")
    codec = harmonic_codec()
    export_onnx(codec, tmp_path)
    codes = torch.randint(0, 64, (2, 1, 120), generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        reference = codec.decode_codes(codes)
    decoded = torch.from_numpy(OnnxCodec(tmp_path, threads=1).decode_codes(codes.numpy()))
    assert decoded.shape == reference.shape
    assert (decoded - reference).abs().max() < 1e-2 * reference.abs().max()
    assert mel_distance(decoded, reference, RATE) < 0.01


def test_filled_log2_f0_bridges_unvoiced_frames() -> None:
    audio = tone(np.linspace(100.0, 200.0, RATE))
    audio[:, 6000:9000] = 0  # a silent gap
    filled = filled_log2_f0(audio, RATE, HOP)
    f0, voiced = yin(audio, RATE, HOP)
    assert filled.shape == f0.shape and voiced[0, 40:52].sum() == 0
    frames = np.arange(f0.shape[-1])
    mask = voiced[0].numpy()
    expected = np.interp(frames, frames[mask], np.log2(f0[0].numpy()[mask]))
    assert np.allclose(filled[0].numpy(), expected, atol=1e-5)
    assert torch.allclose(filled_log2_f0(torch.zeros(2, RATE), RATE, HOP), torch.full((2, 100), math.log2(150.0)))


def test_teacher_forcing_drives_the_pulse_train_with_the_given_pitch() -> None:
    decoder = tiny_decoder()
    with torch.no_grad():
        decoder.head.voicing.bias.fill_(30.0)  # no noise
        latent = torch.zeros(1, 8, 50)
        forced, predicted = decoder.forward_with_pitch(latent, torch.full((1, 100), math.log2(220.0)))
    estimate, voiced = yin(forced[:, 0], RATE, HOP)
    assert estimate[voiced].sub(220.0).abs().max() < 2.0  # the given F0, not the predicted 150 Hz
    assert torch.allclose(predicted, torch.full_like(predicted, math.log2(150.0)))


def load_pitch_probe():
    """Import egs/speech16k/pitch_probe.py (egs/ is not a package) as a module."""
    script = Path(__file__).resolve().parents[1] / "egs" / "speech16k" / "pitch_probe.py"
    spec = importlib.util.spec_from_file_location("speech16k_pitch_probe", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pitch_probe_scores_a_models_own_pitch_head(tmp_path, capsys) -> None:
    """``pitch_probe.py --head``: a pitch head stuck at 150 Hz is right on a 150 Hz tone and an octave
    off on a 300 Hz one."""
    codec = harmonic_codec()
    with torch.no_grad():
        codec.decoder.head.pitch.weight.zero_()
        codec.decoder.head.pitch.bias.fill_(math.log2(150.0))
    items = []
    for f0 in (150.0, 300.0):
        path = tmp_path / f"{f0:.0f}.wav"
        sf.write(path, tone(np.full(RATE, f0))[0].numpy(), RATE)
        items.append(AudioItem(path=path, key=path.name, split="test"))
    probe = load_pitch_probe()
    for item, gross, median in ((items[0], 0.0, 0.0), (items[1], 1.0, 1.0)):
        probe.score_head(codec, [item], 32)
        head, own, forced = capsys.readouterr().out.splitlines()
        assert f"gross pitch error {gross:.3f}" in head
        assert abs(float(head.split("median error ")[1].split()[0]) - median) < 0.02
        # The pulse train dominates this decoder's output: its pitch is the F0 that drives it.
        assert own.startswith("decoded with its own F0") and forced.startswith("decoded with the original's F0")
        gpe = [float(line.split("f0_gpe ")[1].split(",")[0]) for line in (own, forced)]
        assert gpe[1] < 0.1 and gpe[0] == pytest.approx(gross, abs=0.1)


def test_shifted_pitch_moves_the_decoded_pitch_and_only_the_shifted_items() -> None:
    """``Codec.decode(pitch_shift=...)``: an octave up doubles the rendered F0 of that item alone;
    the others decode as without a shift."""
    codec = harmonic_codec()
    with torch.no_grad():
        codec.decoder.head.pitch.weight.zero_()
        codec.decoder.head.pitch.bias.fill_(math.log2(100.0))
        codec.decoder.head.voicing.bias.fill_(30.0)
    codes = torch.randint(0, 64, (2, 1, 50), generator=torch.Generator().manual_seed(3))
    tokens = codec.tokens(codes, torch.tensor([50, 40]))
    plain, shifted = codec.decode(tokens), codec.decode(tokens, pitch_shift=[12.0, 0.0])
    medians = []
    for audio in (plain[0], shifted[0]):
        estimate, voiced = yin(audio[None], RATE, HOP)
        medians.append(float(estimate[voiced].median()))
    assert medians[0] == pytest.approx(100.0, rel=0.02)
    assert medians[1] == pytest.approx(200.0, rel=0.02)
    assert shifted[0].shape == plain[0].shape
    assert (plain[1] - shifted[1]).abs().max() < 1e-4 * plain[1].abs().max()
    assert (codec.decode(tokens, pitch_shift=0.0)[0] - plain[0]).abs().max() < 1e-4 * plain[0].abs().max()
    assert codec.decoder.head.log2_shift == 0.0  # the shift ends with the decode


def test_pitch_shift_is_refused_where_it_cannot_be_made() -> None:
    codec = harmonic_codec()
    tokens = codec.tokens(torch.zeros(2, 1, 10, dtype=torch.long), torch.tensor([10, 10]))
    with pytest.raises(CodecError, match="2 items"):
        codec.decode(tokens, pitch_shift=[1.0])
    with pytest.raises(CodecError, match="finite"):
        codec.decode(tokens, pitch_shift=float("nan"))
    encoder = {"name": "spectral", "dim": 16, "hop_length": 320, "n_fft": 640, "stft_hop": 160, "channels": 16}
    decoder = {"name": "vocos", "dim": 16, "intermediate_dim": 32, "num_layers": 1, "n_fft": 1280}
    plain = Codec(RATE, encoder, {"name": "vq", "codebook_size": 64, "codebook_dim": 4}, decoder, name="tiny").eval()
    tokens = plain.tokens(torch.zeros(2, 1, 10, dtype=torch.long), torch.tensor([10, 10]))
    with pytest.raises(CodecError, match="no pitch track"):
        plain.decode(tokens, pitch_shift=2.0)
    assert len(plain.decode(tokens, pitch_shift=0.0)) == 2
