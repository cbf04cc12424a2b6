"""The text front end of ``tts``: normalisation, each grapheme-to-phoneme back end on fixed
sentences, the phone inventory, ``TextFrontend`` and its one-line user errors.

Back-end tests are skipped when the back end's program (flite's ``t2p``, ``espeak-ng``) or package
(``gruut``) is missing.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys

import pytest
import torch

from codec.errors import CodecError
from tts.text import PhoneInventory, TextFrontend, chunk_text, get_g2p, normalize, split_sentences
from tts.text.g2p_flite import align_words, parse_psdur, strip_stress
from tts.text.numbers import cardinal, decade, fraction, ordinal, year

needs_flite = pytest.mark.skipif(shutil.which("t2p") is None, reason="flite's t2p is not installed")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
needs_gruut = pytest.mark.skipif(importlib.util.find_spec("gruut") is None, reason="gruut is not installed")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Smith paid $12.50 -- on May 5th!!!", "doctor Smith paid twelve dollars and fifty cents, on May fifth!"),
        ("It's 3:45 p.m. on Jan. 3, 2021.", "It's three forty five p m on January third, twenty twenty one."),
        (
            "In 1984 there were 1,234,567 people.",
            "In nineteen eighty four there were one million two hundred thirty "
            "four thousand five hundred sixty seven people.",
        ),
        (
            "Pi is 3.14; e is approx. 2.718.",
            "Pi is three point one four; e is approximately two point seven one eight.",
        ),
        ("The 1990s were fun... weren't they?!", "The nineteen nineties were fun, weren't they?"),
        ("He won 1st, 2nd and 23rd place.", "He won first, second and twenty third place."),
        ("Temperature: -5°C or 23 °F.", "Temperature: minus five degrees celsius or twenty three degrees fahrenheit."),
        ("We drove 60 mph for 1 km.", "We drove sixty miles per hour for one kilometer."),
        ("It cost $5 million, 50% of it.", "It cost five million dollars, fifty percent of it."),
        ("Only $0.99 or $1!", "Only ninety nine cents or one dollar!"),
        ("Meet at 10:00 & 7:05 pm", "Meet at ten o'clock and seven oh five p m."),
        ("I ate 3/4 of 2 pies in the '80s.", "I ate three quarters of two pies in the eighties."),
        ("Visit St. Paul on Main St. today.", "Visit saint Paul on Main street today."),
        ("The U.S.A. vs. Mrs Jones, etc.", "The U S A versus missus Jones, et cetera."),
        ("Wait.....what???", "Wait, what?"),
        ("No!!! Never!!!", "No! Never!"),
        ("Well,,, maybe;;; perhaps", "Well, maybe; perhaps."),
        ('"Hello," she said (quietly) -- twice', "Hello, she said, quietly, twice."),
        ("  lots   of\n\tspace  ", "lots of space."),
        ("café naïve straße", "cafe naive strasse."),
        ("well-known rock—and—roll", "well known rock, and, roll."),
    ],
)
def test_english_normalisation(text, expected):
    assert normalize(text, "en") == expected


def test_other_languages_keep_digits_and_letters():
    assert normalize("Über die Straße, 12 Häuser!!", "de") == "Über die Straße, 12 Häuser!"
    assert normalize("Привет,   мир", "ru") == "Привет, мир."


def test_number_words():
    assert [cardinal(n) for n in (0, 13, 105, 2_000_001, -7)] == [
        "zero",
        "thirteen",
        "one hundred five",
        "two million one",
        "minus seven",
    ]
    assert [ordinal(n) for n in (1, 12, 20, 101, 1000)] == [
        "first",
        "twelfth",
        "twentieth",
        "one hundred first",
        "one thousandth",
    ]
    assert [year(n) for n in (1905, 1900, 2000, 2007, 2021, 1066)] == [
        "nineteen oh five",
        "nineteen hundred",
        "two thousand",
        "two thousand seven",
        "twenty twenty one",
        "ten sixty six",
    ]
    assert decade(1980) == "nineteen eighties"
    assert (fraction(3, 4), fraction(1, 3), fraction(5, 16)) == ("three quarters", "one third", "five sixteenths")


def test_sentence_splitting_and_chunks():
    assert split_sentences("Hi. Who is it? Me!") == ["Hi.", "Who is it?", "Me!"]
    text = "One two three. Four five six seven, eight nine ten eleven. Twelve."
    assert chunk_text(text, 20) == ["One two three.", "Four five six seven,", "eight nine ten eleven.", "Twelve."]
    assert chunk_text(text, 1000) == [text]
    assert chunk_text("Supercalifragilistic word.", 5) == ["Supercalifragilistic", "word."]


@needs_flite
def test_flite_phones():
    g2p = get_g2p("flite")
    assert g2p.phonemize("Hello world.", "en") == ["pau", "hh", "ax", "l", "ow1", "|", "w", "er1", "l", "d", "pau"]
    assert g2p.phonemize("The apple, the end.", "en") == [
        *("pau", "dh", "iy", "|", "ae1", "p", "ax", "l", "pau"),
        *("dh", "iy", "|", "eh1", "n", "d", "pau"),
    ]
    assert get_g2p("flite", stress=False).phonemize("Hello world.", "en")[4] == "ow"


@needs_flite
def test_flite_phones_equal_what_flite_speaks():
    text = "It's three forty five p m on January third, twenty twenty one."
    spoken = subprocess.run(["flite", "-voice", "slt", "-ps", "-t", text, "none"], capture_output=True, text=True)
    symbols = get_g2p("flite").phonemize(text, "en")
    assert [strip_stress(s) for s in symbols if s != "|"] == spoken.stdout.split()
    assert symbols.count("|") == 10  # 14 words, 4 of them after a pause


def test_word_alignment_survives_context_changes():
    # "the" is "dh ax" alone but "dh iy" before a vowel; the words still get their phones.
    assert align_words(["dh", "iy", "ae1", "p", "ax", "l"], [["dh", "ax"], ["ae1", "p", "ax", "l"]]) == [
        0,
        0,
        1,
        1,
        1,
        1,
    ]
    assert parse_psdur("pau:0.164 hh:0.255") == [("pau", 0.164), ("hh", 0.255)]
    with pytest.raises(CodecError):
        parse_psdur("pau:0.3 hh:0.2")


@needs_espeak
def test_espeak_ipa():
    g2p = get_g2p("espeak-ng")
    assert g2p.phonemize("Hello world.", "en") == ["h", "ə", "l", "ˈ", "o", "ʊ", "|", "w", "ˈ", "ɜ", "ː", "l", "d", "."]
    german = g2p.phonemize_batch(["Guten Tag, wie gehts?", "Ja."], "de")
    assert "".join(german[0]) == "ɡˈuːtən|tˈɑːk,viː|ɡˈeːts?"
    assert german[1] == ["j", "ˈ", "ɑ", "ː", "."]


def test_characters():
    g2p = get_g2p("characters")
    assert g2p.phonemize("It's me, Über.", "de") == ["i", "t", "'", "s", "|", "m", "e", ",", "ü", "b", "e", "r", "."]
    assert {"a", "ß", "ж", "λ", "7", "'", "?"} <= set(g2p.symbols())


@needs_gruut
def test_gruut_ipa():
    symbols = get_g2p("gruut").phonemize("Yes, no.", "en")
    assert symbols == ["j", "ˈ", "ɛ", "s", ",", "n", "ˈ", "o", "ʊ", "."]


def test_inventory_round_trip(tmp_path):
    inventory = PhoneInventory.create(["a", "b", "pau", "a"], "characters", {}, ["en", "DE"], ["pau"])
    assert inventory.symbols == ("<pad>", "<unk>", "<bos>", "<eos>", "|", "a", "b", "pau")
    assert inventory.languages == ("en", "de")
    assert inventory.encode(["a", "|", "zz", "pau"]) == [5, 4, 1, 7]
    assert inventory.decode([2, 6, 3]) == ["<bos>", "b", "<eos>"]
    assert inventory.language_id("de") == 1
    inventory.save(tmp_path / "inv.json")
    loaded = PhoneInventory.load(tmp_path / "inv.json")
    assert loaded == inventory and loaded.fingerprint == inventory.fingerprint
    assert PhoneInventory.from_dict(json.loads(json.dumps(inventory.to_dict()))) == inventory
    extended = inventory.extend(["c", "a"], ["fr"])
    assert extended.symbols[: len(inventory)] == inventory.symbols and extended.symbols[-1] == "c"
    assert extended.languages == ("en", "de", "fr")


def test_inventory_errors(tmp_path):
    inventory = PhoneInventory.create(["a"], "characters")
    with pytest.raises(CodecError, match="zz"):
        inventory.encode(["a", "zz"], strict=True)
    with pytest.raises(CodecError, match="outside"):
        inventory.decode([99])
    with pytest.raises(CodecError, match="not one of this model's"):
        inventory.language_id("de")
    data = inventory.to_dict()
    data["symbols"].append("x")
    with pytest.raises(CodecError, match="fingerprint"):
        PhoneInventory.from_dict(data)
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CodecError, match=r"bad\.json"):
        PhoneInventory.load(tmp_path / "bad.json")
    with pytest.raises(CodecError, match="not a phone inventory"):
        PhoneInventory.from_dict({"symbols": []})


def test_frontend_characters_encode_decode_batch():
    frontend = TextFrontend("characters", "en")
    ids = frontend.encode("Hi, 2 me!")
    assert frontend.decode(ids) == "<bos> h i , t w o | m e ! <eos>"
    assert ids[0] == frontend.inventory.bos_id and ids[-1] == frontend.inventory.eos_id
    batch = frontend.encode_batch(["Hi.", "Hello you."])
    assert batch.ids.shape == (2, 12) and batch.lengths.tolist() == [5, 12]
    assert batch.ids[0, 5:].tolist() == [frontend.inventory.pad_id] * 7
    assert batch.language_ids.tolist() == [0, 0]
    assert torch.equal(batch.ids[1], torch.tensor(frontend.encode("Hello you.")))
    rebuilt = TextFrontend.from_dict(json.loads(json.dumps(frontend.to_dict())))
    assert rebuilt.inventory == frontend.inventory and rebuilt.encode("Hi, 2 me!") == ids


def test_frontend_unknown_symbols_and_fit():
    frontend = TextFrontend("characters", "ja")
    with pytest.warns(UserWarning, match="日 本"):
        assert frontend.encode("日本", bos_eos=False) == [1, 1, frontend.inventory.id(".")]
    frontend.fit(["日本"], ["ja"])
    assert frontend.decode(frontend.encode("日本", bos_eos=False)) == "日 本 ."


def test_frontend_split_long_text():
    frontend = TextFrontend("characters", "en", max_symbols=40)
    text = "The cat sat on the mat. " * 6 + "A very long clause, with several parts, that goes on and on and on."
    pieces = frontend.split(text)
    assert all(len(frontend.phonemize(p)) <= 40 for p in pieces)
    assert " ".join(pieces) == frontend.normalize(text)


@needs_flite
def test_flite_frontend_languages():
    frontend = TextFrontend("flite")
    assert frontend.phonemize("Hi, 2 cats.") == [
        "pau",
        "hh",
        "ay1",
        "pau",
        "t",
        "uw1",
        "|",
        "k",
        "ae1",
        "t",
        "s",
        "pau",
    ]
    with pytest.raises(CodecError, match="English only"):
        frontend.phonemize("Hallo.", "de")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: normalize(""), "empty text"),
        (lambda: normalize("   \n"), "empty text"),
        (lambda: normalize("!!! ??? ..."), "nothing pronounceable"),
        (lambda: normalize("😀 ★"), "nothing pronounceable"),
        (lambda: normalize("hello", "xx"), "unknown language code 'xx'"),
        (lambda: TextFrontend("characters", "klingon"), "unknown language code 'klingon'"),
        (lambda: TextFrontend("festival"), "unknown grapheme-to-phoneme back end 'festival'"),
        (lambda: TextFrontend("characters").encode("-- ** --"), "nothing pronounceable"),
    ],
)
def test_user_errors_are_one_line(call, message):
    with pytest.raises(CodecError, match=message) as info:
        call()
    assert "\n" not in str(info.value)
    assert not isinstance(info.value, ValueError)


@pytest.mark.parametrize(("backend", "binary"), [("flite", "t2p"), ("espeak-ng", "espeak-ng")])
def test_missing_binary_is_named(backend, binary, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CodecError, match=f"{binary} not found on PATH") as info:
        TextFrontend(backend)
    assert "\n" not in str(info.value)


def test_missing_gruut_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "gruut", None)
    with pytest.raises(CodecError, match="pip install gruut"):
        get_g2p("gruut")
