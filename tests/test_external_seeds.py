"""Language-Codec, HiFi-Codec and SpeechTokenizer files in their original formats, without the original code.

``tests/data/external/original_keys.json`` holds, per published config, a digest of the original models' key and
shape set (from their own classes). Each adapter's network, built at that size on the meta device and named back
the original way (``official_state``), must give exactly that set; the small files written here use the same
naming. Codes and audio were compared with the original code outside the tests (``docs/published-seeds.md``);
here the converted blocks are checked against their documented computation, and the loaders against bad files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from codec import CodecError
from codec.external import hificodec_checkpoint as hifi
from codec.external import languagecodec_checkpoint as lc
from codec.external import speechtokenizer_checkpoint as st
from codec.external.base import ExternalCodec

MANIFEST = json.loads((Path(__file__).parent / "data" / "external" / "original_keys.json").read_text())
LC_PUBLISHED = {"num_filters": 32, "dim": 128, "upsampling_ratios": [8, 5, 4, 2], "num_residual_layers": 1}
LC_PUBLISHED |= {
    "num_lstm_layers": 2,
    "n_codebooks": 8,
    "codebook_size": 1024,
    "backbone_dim": 384,
    "intermediate": 1152,
}
LC_PUBLISHED |= {"n_layers": 12, "n_conditions": 4, "n_fft": 1280, "hop_length": 320}
LC_TINY = LC_PUBLISHED | {"num_filters": 4, "dim": 16, "codebook_size": 32, "backbone_dim": 24, "intermediate": 36}
LC_TINY["n_layers"] = 2
HIFI_PUBLISHED = {"encoder_width": 32, "generator_width": 512, "resblock_kernels": [3, 7, 11], "n_code_groups": 2}
HIFI_PUBLISHED["n_codes"] = 1024
HIFI_TINY = {"encoder_width": 16, "generator_width": 64, "resblock_kernels": [3, 7], "n_code_groups": 2, "n_codes": 32}
ST_PUBLISHED = st.CONFIG_DEFAULTS | {"n_filters": 64, "strides": [8, 5, 4, 2], "dimension": 1024, "lstm_layers": 2}
ST_PUBLISHED |= {"semantic_dimension": 768, "codebook_size": 1024, "n_q": 8}
ST_TINY = ST_PUBLISHED | {"n_filters": 2, "dimension": 16, "semantic_dimension": 8, "codebook_size": 32, "n_q": 4}


# --------------------------------------------------------------------------- official names


def _weight_norm_names(key: str) -> str:
    key = key.replace(".parametrizations.weight.original0", ".weight_g")
    return key.replace(".parametrizations.weight.original1", ".weight_v")


def _seanet_original(state: dict[str, torch.Tensor], ours: str, theirs: str, transposed: set[int]) -> dict[str, Any]:
    """``{ours}.layers.N.conv.*`` -> ``{theirs}.model.N.conv.conv.*`` (``convtr.convtr`` for transposed convs)."""
    renamed = {}
    for key, value in state.items():
        if not key.startswith(f"{ours}.layers."):
            continue
        index, rest = key[len(ours) + 8 :].split(".", 1)
        inner = "convtr.convtr." if int(index) in transposed else "conv.conv."
        rest = rest.replace("conv.", inner, 1) if rest.startswith("conv.") else rest.replace(".conv.", ".conv.conv.")
        renamed[f"{theirs}.model.{index}.{_weight_norm_names(rest)}"] = value
    return renamed


def _ema_buffers(prefix: str, codebooks: torch.Tensor) -> dict[str, torch.Tensor]:
    """A codebook stack as the original EMA codebooks, with their training statistics."""
    ones = torch.ones(codebooks.shape[1], device=codebooks.device)
    books = [{"inited": ones[:1], "cluster_size": ones, "embed": embed, "embed_avg": embed} for embed in codebooks]
    return {f"{prefix}{i}._codebook.{name}": value for i, book in enumerate(books) for name, value in book.items()}


def _transposed(decoder: nn.Module) -> set[int]:
    return {i for i, layer in enumerate(decoder.layers) if type(layer).__name__ == "EncodecConvTranspose1d"}


def official_state(family: str, network: nn.Module, config: dict[str, Any]) -> dict[str, Any]:
    """``network``'s weights under the original repository's names, plus what the original files hold beside
    them (EMA statistics, the unused decoder, the distillation head). HiFi-Codec: ``{part: state}``."""
    state = network.state_dict()
    if family == "hificodec":
        parts: dict[str, dict[str, torch.Tensor]] = {"generator": {}, "encoder": {}, "quantizer": {}}
        for key, value in state.items():
            part, rest = key.split(".", 1)
            parts[part][_weight_norm_names(rest)] = value
        return parts
    if family == "languagecodec":
        from transformers import EncodecConfig
        from transformers.models.encodec.modeling_encodec import EncodecDecoder

        # the unused SEANet decoder the files also hold: the encoder's configuration, mirrored
        decoder = EncodecDecoder(EncodecConfig(**lc.encoder_config(config))).to(state["quantizer.codebooks"].device)
        decoder_state = {f"decoder.{k}": v for k, v in decoder.state_dict().items()}
        out = _seanet_original(state, "encoder", "feature_extractor.encodec.encoder", set())
        out |= _seanet_original(decoder_state, "decoder", "feature_extractor.encodec.decoder", _transposed(decoder))
        out |= _ema_buffers("feature_extractor.encodec.quantizer.vq.layers.", state["quantizer.codebooks"])
        out |= {k: v for k, v in state.items() if k.startswith(("backbone.", "head."))}
        out["head.istft.window"] = torch.hann_window(config["n_fft"], device=state["head.out.weight"].device)
        return out
    out = _seanet_original(state, "encoder", "encoder", set())
    out |= _seanet_original(state, "decoder", "decoder", _transposed(network.decoder))
    out |= _ema_buffers("quantizer.vq.layers.", state["quantizer.codebooks"])
    device = state["quantizer.codebooks"].device
    out["transform.weight"] = torch.zeros(config["semantic_dimension"], config["dimension"], device=device)
    out["transform.bias"] = torch.zeros(config["semantic_dimension"], device=device)
    return out


def build(family: str, config: dict[str, Any], name: str = "HiFi-Codec-16k-320d") -> nn.Module:
    if family == "hificodec":
        return hifi.HiFiCodecNetwork({**hifi.PUBLISHED[name], **config})
    pytest.importorskip("transformers", minversion="5.24")
    return (lc.LanguageCodecNetwork if family == "languagecodec" else st.SpeechTokenizerNetwork)(config)


def _digest(state: dict[str, Any]) -> tuple[int, str]:
    lines = sorted(f"{key} {','.join(map(str, value.shape))}" for key, value in state.items())
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()


PUBLISHED = [("languagecodec", "languagecodec", LC_PUBLISHED), ("speechtokenizer", "speechtokenizer", ST_PUBLISHED)]
PUBLISHED += [("hificodec", name, HIFI_PUBLISHED) for name in ("HiFi-Codec-16k-320d", "HiFi-Codec-24k-240d")]


@pytest.mark.parametrize(("family", "entry", "config"), PUBLISHED)
def test_the_original_key_set_of_each_published_config(family: str, entry: str, config: dict[str, Any]) -> None:
    with torch.device("meta"):
        state = official_state(family, build(family, config, entry), config)
    if family == "hificodec":
        state = {f"{part}.{key}": value for part, weights in state.items() for key, value in weights.items()}
    assert _digest(state) == (MANIFEST[entry]["n_keys"], MANIFEST[entry]["sha256"])
    for key, shape in MANIFEST[entry]["examples"].items():
        assert list(state[key].shape) == shape, key


# --------------------------------------------------------------------------- small checkpoints on disk


def _fill_codebooks(family: str, network: nn.Module, rate: int, generator: torch.Generator) -> None:
    """Codebooks from the encoder's own latents of noise (random vectors would all pick one code)."""
    with torch.no_grad():
        latent = network.encoder(0.1 * torch.randn(1, 1, rate, generator=generator))[0].T
        if family == "hificodec":
            quantizer = network.quantizer
            for step, scale in zip(
                (quantizer.quantizer_modules, quantizer.quantizer_modules2), (1.0, 0.3), strict=True
            ):
                for j, book in enumerate(step):
                    width = book.embedding.weight.shape[1]
                    rows = torch.randint(0, latent.shape[0], (book.embedding.weight.shape[0],), generator=generator)
                    book.embedding.weight.copy_(scale * latent[rows, j * width : (j + 1) * width])
            return
        books = network.quantizer.codebooks
        for i in range(books.shape[0]):
            rows = torch.randint(0, latent.shape[0], (books.shape[1],), generator=generator)
            books[i] = latent[rows] * (0.5 + torch.rand(books.shape[1], 1, generator=generator)) * 0.5**i


def write_checkpoint(family: str, folder: Path, seed: int = 0) -> tuple[Path, nn.Module]:
    """A small model of ``family`` with random weights, saved in the published layout; returns its path."""
    generator = torch.Generator().manual_seed(seed)
    config = {"languagecodec": LC_TINY, "hificodec": HIFI_TINY, "speechtokenizer": ST_TINY}[family]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = build(family, config).eval()
    rate = {"languagecodec": 24000, "hificodec": 16000, "speechtokenizer": 16000}[family]
    _fill_codebooks(family, network, rate // 2, generator)
    state = official_state(family, network, config)
    folder.mkdir(parents=True, exist_ok=True)
    if family == "languagecodec":
        path = folder / "languagecodec_mm.ckpt"
        state["multiperioddisc.discriminators.0.convs.0.weight"] = torch.ones(2)
        torch.save({"state_dict": state, "epoch": 3, "global_step": 10}, path)
    elif family == "hificodec":
        path = folder / "HiFi-Codec-16k-320d"
        torch.save(state, path)
    else:
        path = folder / "SpeechTokenizer"
        (path / "speechtokenizer_hubert_avg").mkdir(parents=True)
        (path / "speechtokenizer_hubert_avg" / "config.json").write_text(json.dumps({**ST_TINY, "num_mels": 80}))
        torch.save(state, path / "speechtokenizer_hubert_avg" / "SpeechTokenizer.pt")
    return path, network


def load(family: str, path: Path) -> ExternalCodec:
    """The family's loader called directly, as ``load_codec`` will once it dispatches to it."""
    if family == "speechtokenizer":
        return st.load_speechtokenizer(path)
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    if family == "languagecodec":
        assert lc.is_languagecodec_checkpoint(loaded) and not hifi.is_hificodec_checkpoint(loaded)
        return lc.load_languagecodec(path, loaded)
    assert hifi.is_hificodec_checkpoint(loaded)
    return hifi.load_hificodec(path, loaded)


FAMILIES = ["languagecodec", "hificodec", "speechtokenizer"]


@pytest.fixture(scope="module", params=FAMILIES)
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, nn.Module]:
    family = request.param
    path, network = write_checkpoint(family, tmp_path_factory.mktemp(family))
    return family, path, network


def test_a_file_loads_with_every_weight_and_codes_odd_lengths(saved: tuple[str, Path, nn.Module]) -> None:
    family, path, network = saved
    model = load(family, path)
    assert model.support.family == family
    loaded, written = model.network.state_dict(), network.state_dict()
    assert loaded.keys() == written.keys() and all(torch.equal(loaded[k], v) for k, v in written.items())
    rate, hop = model.sample_rate, model.hop_length
    generator = torch.Generator().manual_seed(1)
    clips = [0.1 * torch.randn(n, generator=generator) for n in (rate // 4 + 7, rate // 10 + 1)]
    tokens = model.encode(clips, rate)
    assert tokens.codes.shape[:2] == (2, model.n_codebooks) and tokens.codes.max() < model.codebook_size
    assert tokens.code_lengths.tolist() == [-(-clip.shape[-1] // hop) for clip in clips]
    assert tokens.codes[0].unique().numel() > 1
    decoded = model.decode(tokens)
    assert [audio.shape for audio in decoded] == [clip.shape for clip in clips]
    assert all(torch.isfinite(audio).all() for audio in decoded)
    low = model.quantizer.min_codebooks  # fewest codebooks that form a code: a prefix of the full code
    assert low == {"languagecodec": 3, "hificodec": 4, "speechtokenizer": 1}[family]
    frames = int(tokens.code_lengths[1])
    assert torch.equal(model.encode(clips[1], rate, n_codebooks=low).codes[0], tokens.codes[1, :low, :frames])
    with pytest.raises(CodecError, match="n_codebooks"):
        model.encode(clips[1], rate, n_codebooks=low - 1)
    if family == "hificodec":  # clip-wide GroupNorms: never chunked; a partial last frame is zero-padded
        long = 0.1 * torch.randn(rate + 123, generator=generator)
        whole = model.encode(long, rate, chunk_seconds=None).codes
        assert model.encodes_whole and torch.equal(model.encode(long, rate, chunk_seconds=0.2).codes, whole)
        padded = torch.nn.functional.pad(long, (0, hop * whole.shape[-1] - long.shape[-1]))
        with torch.no_grad():
            assert torch.equal(whole, model.network.quantizer.encode(model.network.encoder(padded[None, None])))


# --------------------------------------------------------------------------- blocks against their definitions


def test_language_codec_quantizes_channel_thirds_then_residuals() -> None:
    generator = torch.Generator().manual_seed(3)
    quantizer = lc.MaskedChannelRVQ(6, 32, 16).double()
    quantizer.codebooks.copy_(torch.randn(6, 32, 16, generator=generator, dtype=torch.float64))
    latent = torch.randn(2, 16, 5, generator=generator, dtype=torch.float64)
    x = latent.transpose(1, 2).reshape(-1, 16)
    expected, parts = [], []
    for i, (lo, hi) in enumerate([(0, 5), (5, 10), (10, 16)]):  # 16 // 3 = 5, 2 * 16 // 3 = 10
        third = torch.zeros_like(x)
        third[:, lo:hi] = x[:, lo:hi]
        expected.append(torch.cdist(third, quantizer.codebooks[i]).argmin(-1))
        parts.append(quantizer.codebooks[i][expected[-1]])
    residual = x - sum(parts)
    for i in range(3, 6):
        expected.append(torch.cdist(residual, quantizer.codebooks[i]).argmin(-1))
        residual = residual - quantizer.codebooks[i][expected[-1]]
    codes = quantizer.encode(latent, 6)
    assert torch.equal(codes, torch.stack(expected, 1).reshape(2, 5, 6).transpose(1, 2))
    assert torch.equal(quantizer.encode(latent, 4), codes[:, :4])
    summed = sum(quantizer.codebooks[i][codes[:, i]] for i in range(6)).transpose(1, 2)
    assert torch.allclose(quantizer.decode(codes), summed)


def test_the_istft_head_is_torch_istft_shifted_by_half_a_hop() -> None:
    """ "Same" padding trims ``(n_fft - hop) / 2`` where centred padding trims ``n_fft / 2``: inside, the two
    agree with a shift of ``hop / 2``; the output is ``T * hop`` samples."""
    n_fft, hop, frames = 16, 4, 9
    head = lc.ISTFTHead(8, n_fft, hop).double()
    generator = torch.Generator().manual_seed(4)
    spectrum = torch.randn(2, n_fft // 2 + 1, frames, dtype=torch.complex128, generator=generator)
    ours = head.istft(spectrum)
    window = torch.hann_window(n_fft, dtype=torch.float64)
    reference = torch.istft(spectrum, n_fft, hop, window=window, center=True)
    assert ours.shape == (2, frames * hop)
    assert torch.allclose(ours[:, hop // 2 : hop // 2 + reference.shape[-1]], reference, atol=1e-10)
    features = torch.randn(2, frames, 8, generator=generator, dtype=torch.float64)
    log_magnitude, phase = head.out(features).transpose(1, 2).chunk(2, dim=1)
    built = torch.exp(log_magnitude).clamp(max=100) * torch.exp(1j * phase)
    # the head runs its spectrum in float32, whatever the weights' type
    assert torch.allclose(head(features), head.istft(built), atol=1e-5)


def test_hifi_codec_quantizes_two_residual_steps_by_channel_group() -> None:
    generator = torch.Generator().manual_seed(5)
    quantizer = hifi.GroupResidualVQ(2, 16, 8).double()
    books = [*quantizer.quantizer_modules, *quantizer.quantizer_modules2]
    for book in books:
        book.embedding.weight.data.copy_(torch.randn(16, 4, generator=generator, dtype=torch.float64))
    latent = torch.randn(2, 8, 5, generator=generator, dtype=torch.float64)
    x = latent.transpose(1, 2).reshape(-1, 8)
    expected = []
    for step in (books[:2], books[2:]):
        chosen = []
        for j, book in enumerate(step):
            expected.append(torch.cdist(x[:, 4 * j : 4 * j + 4], book.embedding.weight).argmin(-1))
            chosen.append(book.embedding.weight[expected[-1]])
        x = x - torch.cat(chosen, -1)
    codes = quantizer.encode(latent)
    assert torch.equal(codes, torch.stack(expected, 1).reshape(2, 5, 4).transpose(1, 2))
    first = torch.cat([books[j].embedding.weight[codes[:, j]] for j in range(2)], -1)
    second = torch.cat([books[2 + j].embedding.weight[codes[:, 2 + j]] for j in range(2)], -1)
    assert torch.allclose(quantizer.decode(codes), (first + second).transpose(1, 2))


def test_speechtokenizer_quantizes_plain_residuals_after_a_bidirectional_lstm() -> None:
    generator = torch.Generator().manual_seed(6)
    quantizer = st.ResidualVQ(3, 16, 6).double()
    quantizer.codebooks.copy_(torch.randn(3, 16, 6, generator=generator, dtype=torch.float64))
    latent = torch.randn(2, 6, 5, generator=generator, dtype=torch.float64)
    residual, expected = latent.transpose(1, 2).reshape(-1, 6), []
    for book in quantizer.codebooks:
        expected.append(torch.cdist(residual, book).argmin(-1))
        residual = residual - book[expected[-1]]
    assert torch.equal(quantizer.encode(latent, 3), torch.stack(expected, 1).reshape(2, 5, 3).transpose(1, 2))
    lstm = st.BidirectionalLSTM(4, 2)
    x = torch.randn(2, 4, 7, generator=generator)
    out = lstm(x)
    with torch.no_grad():
        forward_backward = lstm.lstm(x.permute(2, 0, 1))[0].permute(1, 2, 0)
    assert out.shape == (2, 8, 7) and torch.allclose(out, forward_backward + torch.cat([x, x], 1))


# --------------------------------------------------------------------------- bad files


MISSING = [("languagecodec", "backbone.convnext.0.gamma"), ("hificodec", "encoder.normalize.0.weight")]
MISSING += [("languagecodec", "feature_extractor.encodec.quantizer.vq.layers.7._codebook.embed")]
MISSING += [("speechtokenizer", "encoder.model.13.lstm.weight_hh_l1_reverse")]


@pytest.mark.parametrize(("family", "key"), MISSING)
def test_a_file_missing_a_weight_is_one_error_naming_it(family: str, key: str, tmp_path: Path) -> None:
    path, _ = write_checkpoint(family, tmp_path)
    weights = path / "speechtokenizer_hubert_avg" / "SpeechTokenizer.pt" if family == "speechtokenizer" else path
    loaded = torch.load(weights, weights_only=True)
    state = loaded.get("state_dict", loaded)
    if family == "hificodec":
        part, key = key.split(".", 1)
        state = loaded[part]
    del state[key]
    torch.save(loaded, weights)
    with pytest.raises(CodecError, match=r"missing|no codebook 7") as error:
        load(family, path)
    assert str(path.name) in str(error.value) or weights.name in str(error.value)


def test_an_unknown_hifi_codec_file_name_lists_the_known_ones(tmp_path: Path) -> None:
    path, _ = write_checkpoint("hificodec", tmp_path)
    renamed = path.rename(tmp_path / "hificodec_g_00100000.pt")
    with pytest.raises(CodecError, match=r"HiFi-Codec-16k-320d, HiFi-Codec-24k-320d, HiFi-Codec-24k-240d"):
        load("hificodec", renamed)
    assert hifi.published_config(tmp_path / "hifi-codec-24k-240d.pth")["upsample_rates"] == [8, 5, 3, 2]


def test_a_speechtokenizer_folder_without_weights_or_with_snake_is_refused(tmp_path: Path) -> None:
    path, _ = write_checkpoint("speechtokenizer", tmp_path)
    config_path = path / "speechtokenizer_hubert_avg" / "config.json"
    config_path.write_text(json.dumps({**ST_TINY, "activation": "Snake"}))
    with pytest.raises(CodecError, match="Snake"):
        load("speechtokenizer", path)
    (path / "speechtokenizer_hubert_avg" / "SpeechTokenizer.pt").unlink()
    with pytest.raises(CodecError, match=r"no SpeechTokenizer\.pt"):
        load("speechtokenizer", path)


# --------------------------------------------------------------------------- through load_codec


@pytest.mark.parametrize("family", FAMILIES)
def test_load_codec_dispatches_to_the_family(family: str, tmp_path: Path) -> None:
    from codec import load_codec

    path, _ = write_checkpoint(family, tmp_path)
    model = load_codec(path)
    assert model.support.family == family
    clip = 0.1 * torch.randn(model.sample_rate // 7, generator=torch.Generator().manual_seed(8))
    assert model.decode(model.encode(clip, model.sample_rate))[0].shape == clip.shape
