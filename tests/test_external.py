"""Published codecs' own weights through ``load_codec``, checked against their reference packages.

Each family's reference model is built with random weights from its own package (small configs,
codebooks filled so that codes vary), saved in its published file layout, loaded through
``load_codec`` and compared with the package's own ``encode`` / ``decode``: codes equal and audio
within 1e-4, on odd lengths and in batches.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from codec import CodecError, Tokens, load_codec
from codec.external.random_weights import save_random

transformers = pytest.importorskip("transformers", minversion="5.24")

TINY: dict[str, dict[str, Any]] = {
    "encodec": {"num_filters": 4, "hidden_size": 16, "codebook_size": 64, "num_lstm_layers": 1},
    "dac": {
        "encoder_hidden_size": 8,
        "decoder_hidden_size": 16,
        "hidden_size": 16,
        "codebook_size": 64,
        "n_codebooks": 4,
        "codebook_dim": 4,
    },
    "mimi": {
        "hidden_size": 32,
        "num_filters": 4,
        "codebook_size": 64,
        "num_quantizers": 4,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "intermediate_size": 64,
        "codebook_dim": 16,
        "head_dim": 16,
        "upsample_groups": 32,
        "vector_quantization_hidden_dimension": 16,
    },
    "wavtokenizer": {
        "num_filters": 4,
        "hidden_size": 16,
        "codebook_dim": 16,
        "codebook_size": 64,
        "decoder_hidden_size": 64,  # the published 32 GroupNorm groups, which no weight shape records
        "decoder_intermediate_size": 64,
        "decoder_num_layers": 1,
        "num_lstm_layers": 1,
    },
    "snac": {"encoder_dim": 8, "decoder_dim": 32, "codebook_size": 64, "codebook_dim": 4},
}
"""Small versions of the published configs (``codec.external.random_weights.PUBLISHED``)."""


def build_reference(family: str, folder: Path) -> torch.nn.Module:
    """A random-weight reference model of ``family``, saved to ``folder`` in its published layout."""
    if family == "snac":
        pytest.importorskip("snac")
    return save_random(family, folder, **TINY[family])


def reference_codes(family: str, network: Any, audio: torch.Tensor, hop: int) -> torch.Tensor:
    """The package's own codes for ``(N,)`` audio, as ``(Q, T)`` rows (SNAC: level by level)."""
    x = audio[None, None]
    with torch.no_grad():
        if family == "encodec":
            return network.encode(x, bandwidth=max(network.config.target_bandwidths)).audio_codes[0, 0]
        if family == "dac":  # the original dac package pads to whole frames
            x = torch.nn.functional.pad(x, (0, -(-x.shape[-1] // hop) * hop - x.shape[-1]))
            return network.encode(x).audio_codes[0]
        if family == "snac":
            levels = network.encode(x)
            frames = levels[0].shape[-1]
            return torch.cat([level[0].reshape(frames, -1).T for level in levels])
        return network.encode(x).audio_codes[0]


def reference_audio(family: str, network: Any, audio: torch.Tensor) -> torch.Tensor:
    """The package's own resynthesis ``(N,)`` of ``(N,)`` audio (SNAC's noise seeded with 0), zero-padded
    to ``N`` samples where the package writes fewer."""
    x = audio[None, None]
    with torch.no_grad():
        if family == "encodec":
            codes = network.encode(x, bandwidth=max(network.config.target_bandwidths)).audio_codes
            out = network.decode(codes, [None]).audio_values
        elif family == "dac":
            hop = network.config.hop_length
            padded = torch.nn.functional.pad(x, (0, -(-x.shape[-1] // hop) * hop - x.shape[-1]))
            out = network.decode(audio_codes=network.encode(padded).audio_codes).audio_values
        elif family == "snac":
            codes = network.encode(x)
            torch.manual_seed(0)
            out = network.decode(codes)
        else:
            out = network.decode(network.encode(x).audio_codes).audio_values
    out = out.reshape(-1)[: audio.shape[-1]]
    # DAC's decoder writes 8 samples less than whole frames; the adapter pads them with zeros
    return torch.nn.functional.pad(out, (0, audio.shape[-1] - out.shape[-1]))


FAMILIES = list(TINY)


@pytest.fixture(scope="module", params=FAMILIES)
def published(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any, Path]:
    family = request.param
    folder = tmp_path_factory.mktemp(family) / f"tiny-{family}"
    return family, build_reference(family, folder), folder


def test_codes_and_audio_equal_the_reference_on_odd_lengths_in_a_batch(published: tuple[str, Any, Path]) -> None:
    family, network, folder = published
    model = load_codec(folder)
    assert model.support.family == family and model.name == folder.name
    rate = model.sample_rate
    generator = torch.Generator().manual_seed(2)
    clips = [0.1 * torch.randn(n, generator=generator) for n in (rate // 2 + 7, rate // 5 + 1, 3 * model.hop_length)]
    tokens = model.encode(clips, rate)
    decoded = model.decode(tokens)
    for i, clip in enumerate(clips):
        frames = int(tokens.code_lengths[i])
        assert frames == -(-clip.shape[-1] // model.hop_length)
        codes = reference_codes(family, network, clip, model.hop_length)
        assert torch.equal(tokens.codes[i, :, :frames], codes), i
        assert codes.unique().numel() > 1  # the check is not between two constant code streams
        assert decoded[i].shape == clip.shape
        assert (decoded[i] - reference_audio(family, network, clip)).abs().max() < 1e-4


def test_a_token_file_decodes_with_the_same_model_only(published: tuple[str, Any, Path], tmp_path: Path) -> None:
    family, _, folder = published
    model = load_codec(folder)
    clip = 0.1 * torch.randn(model.sample_rate // 3, generator=torch.Generator().manual_seed(3))
    tokens = model.encode(clip, model.sample_rate)
    tokens.save(tmp_path / "clip.tok")
    loaded = Tokens.load(tmp_path / "clip.tok")
    assert loaded == tokens and loaded.token_fingerprint == model.fingerprints().tokens
    assert torch.equal(model.decode(loaded)[0], model.decode(tokens)[0])
    other = "snac" if family != "snac" else "dac"
    with pytest.raises(CodecError):
        load_codec(_other_folder(other, tmp_path)).decode(loaded)


def _other_folder(family: str, tmp_path: Path) -> Path:
    folder = tmp_path / f"other-{family}"
    build_reference(family, folder)
    return folder


@pytest.mark.parametrize(
    ("family", "n", "reference"), [("encodec", 6, {"bandwidth": 3.0}), ("dac", 2, {"n_quantizers": 2})]
)
def test_fewer_codebooks_are_the_reference_at_a_lower_rate(
    family: str, n: int, reference: dict[str, Any], tmp_path: Path
) -> None:
    network = build_reference(family, tmp_path / family)
    model = load_codec(tmp_path / family)
    clip = 0.1 * torch.randn(model.hop_length * 9, generator=torch.Generator().manual_seed(4))
    tokens = model.encode(clip, model.sample_rate, n_codebooks=n)
    with torch.no_grad():
        codes = network.encode(clip[None, None], **reference).audio_codes
    assert torch.equal(tokens.codes[0], codes.reshape(-1, n, codes.shape[-1])[0])
    assert model.bitrate(n) == n * 6 * model.frame_rate  # 64 codes: 6 bits each
    with pytest.raises(CodecError, match="n_codebooks"):
        model.encode(clip, model.sample_rate, n_codebooks=model.n_codebooks + 1)


def test_long_audio_is_chunked_with_context(tmp_path: Path) -> None:
    """DAC is convolutional: the fallback context of chunked encoding covers its receptive field, so a
    file encoded in 1-second chunks gives the whole-file codes."""
    build_reference("dac", tmp_path / "dac")
    model = load_codec(tmp_path / "dac")
    clip = 0.1 * torch.randn(model.sample_rate * 5 + 123, generator=torch.Generator().manual_seed(5))
    whole = model.encode(clip, model.sample_rate, chunk_seconds=None)
    chunked = model.encode(clip, model.sample_rate, chunk_seconds=1.0)
    assert torch.equal(whole.codes, chunked.codes)


def test_a_hub_id_in_the_local_cache_loads_under_its_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub_constants = pytest.importorskip("huggingface_hub.constants")
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "cache" / "models--facebook--encodec_24khz"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    build_reference("encodec", repo / "snapshots" / revision)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    model = load_codec("facebook/encodec_24khz")
    assert model.name == "facebook/encodec_24khz" and model.sample_rate == 24000 and model.frame_rate == 75


def test_the_cli_encodes_decodes_and_describes_a_published_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from codec.cli.main import main
    from codec.io.audio import read_audio, write_audio

    build_reference("dac", tmp_path / "dac")
    write_audio(
        tmp_path / "clip.wav", np.random.default_rng(6).normal(0, 0.1, 16000 * 2 // 3).astype(np.float32), 16000
    )
    assert (
        main(["encode", "--model", str(tmp_path / "dac"), str(tmp_path / "clip.wav"), "-o", str(tmp_path / "tok")]) == 0
    )
    assert main(["decode", "--model", str(tmp_path / "dac"), str(tmp_path / "tok"), "-o", str(tmp_path / "wav")]) == 0
    audio, rate = read_audio(tmp_path / "wav" / "clip.wav")
    assert rate == 16000 and audio.shape[-1] == 16000 * 2 // 3
    capsys.readouterr()
    assert main(["info", "--model", str(tmp_path / "dac"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["family"], info["implementation"], info["n_codebooks"], info["min_codebooks"]) == (
        "dac",
        "transformers",
        4,
        1,
    )


# --------------------------------------------------------------------------- bad input


def test_a_folder_with_a_config_and_no_weights_is_one_error(tmp_path: Path) -> None:
    build_reference("dac", tmp_path / "dac")
    (tmp_path / "dac" / "model.safetensors").unlink()
    with pytest.raises(CodecError, match="no weights"):
        load_codec(tmp_path / "dac")


def test_weights_missing_a_key_are_refused_not_random_filled(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    build_reference("encodec", tmp_path / "encodec")
    weights = tmp_path / "encodec" / "model.safetensors"
    state = load_file(str(weights))
    del state[sorted(state)[0]]
    save_file(state, str(weights), metadata={"format": "pt"})
    with pytest.raises(CodecError, match="do not fit"):
        load_codec(tmp_path / "encodec")


def test_damaged_weights_are_one_error(tmp_path: Path) -> None:
    build_reference("mimi", tmp_path / "mimi")
    weights = tmp_path / "mimi" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CodecError, match="mimi"):
        load_codec(tmp_path / "mimi")


def test_an_unknown_model_type_names_the_supported_ones(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CodecError, match=r"unsupported model type 'bert'.*encodec"):
        load_codec(tmp_path / "x")


def test_encodec_48khz_is_refused_with_the_reason(tmp_path: Path) -> None:
    stereo = {"sampling_rate": 48000, "audio_channels": 2, "normalize": True, "chunk_length_s": 1.0, "overlap": 0.01}
    save_random("encodec", tmp_path / "encodec48", **TINY["encodec"], **stereo)
    with pytest.raises(CodecError, match="per-chunk scale"):
        load_codec(tmp_path / "encodec48")


def test_a_missing_package_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_reference("dac", tmp_path / "dac")
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(CodecError, match=r"codec\[published\]"):
        load_codec(tmp_path / "dac")


def test_streaming_and_training_are_refused(tmp_path: Path) -> None:
    from codec.inference.streaming_encoder import StreamingEncoder

    build_reference("mimi", tmp_path / "mimi")
    model = load_codec(tmp_path / "mimi")
    with pytest.raises(CodecError, match="streaming"):
        StreamingEncoder(model)
    with pytest.raises(CodecError, match="does not train"):
        model(torch.zeros(1, 1, model.hop_length))
    shutil.rmtree(tmp_path / "mimi")


def test_a_shard_folder_of_a_code_that_needs_every_row_reads_back(tmp_path: Path) -> None:
    """SNAC's 7 rows are all needed (``min_codebooks`` 7): shard headers of such tokens are valid."""
    pytest.importorskip("snac")
    from codec.cli.main import main
    from codec.corpus.token_dataset import TokenDataset
    from codec.io.audio import write_audio

    build_reference("snac", tmp_path / "snac")
    model = load_codec(tmp_path / "snac")
    rng = np.random.default_rng(7)
    (tmp_path / "wavs").mkdir()
    clips = {f"c{i}": rng.normal(0, 0.1, 24000 // (i + 2)).astype(np.float32) for i in range(2)}
    for key, clip in clips.items():
        write_audio(tmp_path / "wavs" / f"{key}.wav", clip, 24000)
    out = tmp_path / "shards"
    assert (
        main(
            [
                "tokenize",
                "--model",
                str(tmp_path / "snac"),
                str(tmp_path / "wavs"),
                "-o",
                str(out),
                "--layout",
                "shards",
            ]
        )
        == 0
    )
    dataset = TokenDataset(out)
    assert dataset.model["min_codebooks"] == dataset.model["n_codebooks"] == 7
    for item in dataset:
        expected = model.encode(clips[Path(item.key).stem], 24000).codes[0]
        assert torch.equal(item.codes, expected)


def _original_wavtokenizer_state(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``transformers`` keys -> the original repository's (the inverse of its published renames),
    plus what the original checkpoints hold beside inference weights."""
    state = {}
    for key, value in network.state_dict().items():
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        key = key.replace(".parametrizations.weight.original1", ".weight_v")
        if key.startswith("encoder_model.encoder.layers."):
            key = "feature_extractor.encodec.encoder.model." + key.split(".", 3)[3].replace(".conv.", ".conv.conv.")
        key = key.replace(
            "encoder_model.quantizer.codebook.", "feature_extractor.encodec.quantizer.vq.layers.0._codebook."
        )
        state[key.replace("head.linear.", "head.out.")] = value
    extra = {
        "head.istft.window": torch.ones(8),
        "feature_extractor.encodec.decoder.model.0.conv.conv.weight_g": torch.ones(1),
    }
    return {**state, **extra, "multiperioddisc.discriminators.0.convs.0.weight": torch.ones(2)}


@pytest.mark.parametrize("ratios", [[6, 5, 5, 4], [8, 5, 4, 2]])
def test_an_original_wavtokenizer_checkpoint_loads_as_its_transformers_model(ratios: list[int], tmp_path: Path) -> None:
    network = save_random("wavtokenizer", tmp_path / "hf", **TINY["wavtokenizer"], upsampling_ratios=ratios)
    path = tmp_path / "wavtokenizer_small_24k.ckpt"
    torch.save({"state_dict": _original_wavtokenizer_state(network), "epoch": 3}, path)
    model = load_codec(path)
    assert (model.name, model.support.family, model.hop_length) == (path.stem, "wavtokenizer", int(np.prod(ratios)))
    clip = 0.1 * torch.randn(24000 // 3 + 5, generator=torch.Generator().manual_seed(8))
    tokens = model.encode(clip, 24000)
    assert torch.equal(tokens.codes[0], reference_codes("wavtokenizer", network, clip, model.hop_length))
    assert (model.decode(tokens)[0] - reference_audio("wavtokenizer", network, clip)).abs().max() < 1e-4


def test_a_wavtokenizer_checkpoint_missing_a_block_is_refused(tmp_path: Path) -> None:
    network = save_random("wavtokenizer", tmp_path / "hf", **TINY["wavtokenizer"])
    state = _original_wavtokenizer_state(network)
    del state["backbone.convnext.0.gamma"]
    torch.save({"state_dict": state}, tmp_path / "cut.ckpt")
    with pytest.raises(CodecError, match="1 missing"):
        load_codec(tmp_path / "cut.ckpt")
