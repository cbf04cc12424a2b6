"""The instruction reader's word knowledge: the lexicon of person nouns, its classes in the byte
encoder, training subjects drawn from it, and a tiny reader that learns to read the gender of nouns
no training instruction named."""

from __future__ import annotations

import importlib.util
import random
import re
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from tts.instruct.composing import compose
from tts.instruct.instructions import known_words, parse_instruction
from tts.instruct.lexicon import CLASSES, GENDERS, byte_classes, lexicon, members, word_class
from tts.instruct.phrasings import DESCRIPTIONS, LEVELS, SPEAKERS
from tts.models.instruction_encoder import InstructionEncoder, encode_instructions, make_instruction_encoder

HELD_OUT_NOUNS = {phrase.split()[-1] for _, held in SPEAKERS.values() for phrase in held}


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("lady", "female"),
        ("Gentleman", "male"),
        ("ladies", "female"),
        ("policemen", "male"),
        ("wives", "female"),
        ("actresses", "female"),
        ("bride", "female"),
        ("king", "male"),
        ("narrator", None),
        ("teacher", None),
        ("human", None),
        ("lovely", None),
        ("dragon", None),
        ("average", "middle"),
        ("Really", "intense"),
        ("averages", None),
    ],
)
def test_the_lexicon_knows_person_nouns_their_plurals_and_modifiers(word: str, kind: str | None) -> None:
    assert word_class(word) == kind


def test_every_gendered_training_noun_the_lexicon_knows_has_its_gender() -> None:
    for gender, (train, held) in SPEAKERS.items():
        for phrase in train + held:
            kind = word_class(phrase.split()[-1])
            assert kind in (gender, None), phrase
    assert {word_class(noun) for noun in HELD_OUT_NOUNS} == {"male", "female", None}  # "narrator": none
    assert set(lexicon().values()) == set(CLASSES) and len(lexicon()) > 500
    assert {"very", "extremely"} <= set(members("intense")) and {"medium", "normal"} <= set(members("middle"))


def test_byte_classes_mark_each_byte_of_a_known_word() -> None:
    text = "Un homme âgé, a lady: a narrator".encode()
    classes = byte_classes(text)
    assert len(classes) == len(text)
    start = text.index(b"lady")
    assert classes[start : start + 4] == [1 + CLASSES.index("female")] * 4
    assert sum(classes) == 4 * (1 + CLASSES.index("female"))  # nothing else is a known noun
    assert byte_classes("é".encode()) == [0, 0]
    assert byte_classes("Ñman".encode()) == [0] * 5  # one foreign word, not "man" after a stray letter


def test_training_draws_subjects_from_the_lexicon_but_never_a_held_out_noun() -> None:
    rng = random.Random(0)
    drawn = set()
    for _ in range(600):
        gender = rng.choice(["male", "female"])
        instruction = compose({"gender": gender, "rate": "slow"}, "Hello.", rng)
        words = set(re.findall(r"[a-z]+", instruction.lower()))
        assert not any(noun in word for noun in HELD_OUT_NOUNS for word in words), instruction  # "girlfriend"
        assert not re.search(r"\b[Aa] [aeiouAEIOU]|\b[Aa]n [b-df-hj-np-tv-z]", instruction), instruction
        drawn |= {word for word in words if word_class(word) is not None}
        assert known_words(parse_instruction(instruction).style)[0] == {"gender": gender, "rate": "slow"}
    assert len(drawn) > 100  # far more nouns than the subject lists name
    assert "lady" not in members("female", frozenset({"lady"})) and "lady" in members("female")


@pytest.mark.parametrize(
    ("style", "asked"),
    [
        ('A man speaks at an average pace: "..."', {"gender": "male", "rate": "medium"}),
        ('A bride says really slowly: "..."', {"gender": "female", "rate": "very slow"}),
        ('Exceedingly loudly, a chap says "..."', {"gender": "male", "loudness": "very loud"}),
        ('Someone with an intermediate pitch says "..."', {"pitch": "medium"}),
        ('Someone says "..." in a highly high pitch.', {"pitch": "very high"}),
        ('A man speaks very calmly: "..."', {"gender": "male"}),
        ('Someone says "..." with a normal pitch.', {"pitch": "medium"}),
    ],
)
def test_modifiers_read_as_their_class_and_nouns_by_their_gender(style: str, asked: dict[str, str]) -> None:
    assert known_words(style) == (asked, [])


def test_training_swaps_modifiers_for_synonyms_but_never_makes_a_held_out_phrasing() -> None:
    rng = random.Random(0)
    held = [p for table in DESCRIPTIONS.values() for _, out in table.values() for p in out]
    swapped = set()
    for _ in range(600):
        words = {"rate": rng.choice(["very fast", "medium", "very slow"]), "loudness": rng.choice(LEVELS["loudness"])}
        instruction = compose(words, "An hour, a very normal one.", rng)
        assert instruction.count('"An hour, a very normal one."') == 1, instruction  # the spoken text stays
        lowered = instruction.lower()
        assert not any(re.search(rf"\b{re.escape(p)}\b", lowered) for p in held), instruction
        outside = re.sub(r'"[^"]*"', '""', lowered)
        assert "average" not in outside and not re.search(r"\ban [b-df-hj-np-tv-z]", outside), instruction
        assert known_words(parse_instruction(instruction).style) == (words, [])
        swapped |= {w for w in re.findall(r"[a-z]+", lowered.split('"')[0] + lowered.split('"')[-1])}
    assert {"really", "exceedingly", "intermediate"} <= swapped


def test_the_lexicon_encoder_starts_as_the_byte_encoder_and_its_classes_change_only_known_words() -> None:
    torch.manual_seed(0)
    plain = make_instruction_encoder(16, 1, 2, 0.0, "bytes").eval()
    knowing = make_instruction_encoder(16, 1, 2, 0.0, "lexicon").eval()
    assert isinstance(knowing, InstructionEncoder) and knowing.word_classes is not None
    knowing.load_state_dict(plain.state_dict(), strict=False)
    ids, lengths = encode_instructions(["A lady speaks", "A narrator speaks", None])
    with torch.no_grad():
        assert torch.equal(plain(ids, lengths), knowing(ids, lengths))
        knowing.word_classes.weight[1:].normal_()  # row 0 (no class) is padding and stays zero
        moved = (knowing(ids, lengths) - plain(ids, lengths)).abs().amax(-1)
    assert moved[0] > 1e-3 and moved[1] == 0 and moved[2] == 0


def _gender_reader(kind: str, steps: int = 150) -> float:
    """Train a one-layer reader + linear head on "A NOUN speaks" with nouns of the lexicon but the
    held-out ones; return its accuracy on the held-out nouns of both genders."""
    torch.manual_seed(0)
    rng = random.Random(0)
    encoder = make_instruction_encoder(32, 1, 2, 0.0, kind)
    head = nn.Linear(32, 2)
    optimizer = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], 3e-3)
    test = ["gentleman", "guy", "lady", "girl"]
    pools = {gender: members(gender, frozenset(test)) for gender in GENDERS}
    for _ in range(steps):
        genders = [rng.randrange(2) for _ in range(32)]
        styles = [f"A {rng.choice(pools[GENDERS[g]])} speaks" for g in genders]
        loss = nn.functional.cross_entropy(head(encoder(*encode_instructions(styles))), torch.tensor(genders))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        guesses = head(encoder(*encode_instructions([f"A {noun} speaks" for noun in test]))).argmax(-1)
    return float((guesses == torch.tensor([GENDERS.index(word_class(noun)) for noun in test])).float().mean())


def test_a_tiny_reader_reads_the_gender_of_unseen_nouns_through_the_lexicon() -> None:
    assert _gender_reader("lexicon") == 1.0


WORDNET = {
    "data.noun": [
        "00000001 03 n 02 person 0 individual 0 000 | a human being",
        "00000002 18 n 02 male 0 male_person 0 001 @ 00000001 n 0000 | a male person",
        "00000003 18 n 02 female 0 female_person 0 001 @ 00000001 n 0000 | a female person",
        "00000004 18 n 01 lady 0 001 @ 00000003 n 0000 | a polite name for any woman",
        "00000005 18 n 01 narrator 0 001 @ 00000001 n 0000 | someone who tells a story",
        "00000006 18 n 01 actress 0 001 @ 00000001 n 0000 | a female actor; she acts",
        "00000007 18 n 01 salesman 0 001 @ 00000001 n 0000 | someone who sells",
        "00000008 04 n 01 sales 0 000 | the selling of goods",
        "00000009 05 n 01 dog 0 000 | a domestic animal",
        "00000010 18 n 01 dog 1 001 @ 00000003 n 0000 | a dull unattractive woman",
        "00000011 18 n 01 soldier 0 001 @ 00000001 n 0000 | an enlisted man or woman who serves",
        "00000012 18 n 01 Hirohito 0 001 @i 00000002 n 0000 | emperor of Japan",
    ],
    "index.noun": [
        "  licence header",
        "person n 1 0 1 0 00000001",
        "individual n 1 0 1 0 00000001",
        "male n 1 1 @ 1 0 00000002",
        "male_person n 1 1 @ 1 0 00000002",
        "female n 1 1 @ 1 0 00000003",
        "female_person n 1 1 @ 1 0 00000003",
        "lady n 1 1 @ 1 0 00000004",
        "narrator n 1 1 @ 1 0 00000005",
        "actress n 1 1 @ 1 0 00000006",
        "salesman n 1 1 @ 1 0 00000007",
        "sales n 1 0 1 0 00000008",
        "dog n 2 1 @ 2 0 00000009 00000010",
        "soldier n 1 1 @ 1 0 00000011",
        "hirohito n 1 1 @i 1 0 00000012",
    ],
    "data.adj": [
        "00000100 00 s 03 average 0 intermediate 0 medium 0 001 & 00000101 a 0000 | around the middle",
        "00000101 00 a 01 moderate 0 001 & 00000100 a 0000 | within limits",
        "00000102 00 a 01 normal 0 000 | conforming to a norm",
    ],
    "data.adv": [
        "00000200 02 r 02 very 0 really 0 000 | used as intensifiers",
        "00000201 02 r 02 extremely 0 passing 0 000 | to an extreme degree",
    ],
    "cntlist.rev": [
        "medium%5:00:00:moderate:00 1 5",
        "average%5:00:00:moderate:00 4 2",
        "average%1:09:00:: 1 1",
        "intermediate%5:00:00:moderate:00 2 1",
        "moderate%3:00:00:: 1 10",
        "normal%3:00:00:: 1 77",
        "very%4:02:00:: 1 260",
        "really%4:02:00:: 1 61",
        "extremely%4:02:00:: 1 6",
        "passing%1:04:03:: 1 7",
    ],
}


def test_the_lexicon_builder_reads_gender_and_synonyms_from_a_wordnet_folder(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "build_lexicon_test", Path(__file__).parents[1] / "egs/instruct16k/build_lexicon.py"
    )
    builder = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = builder
    spec.loader.exec_module(builder)
    folder = tmp_path / "wordnet"
    folder.mkdir()
    for name, lines in WORDNET.items():
        (folder / name).write_text("\n".join(lines) + "\n", encoding="latin-1")
    out = tmp_path / "lexicon.tsv"
    assert builder.main(["--wordnet", str(folder), "-o", str(out)]) == 0
    rows = dict(line.split("\t") for line in out.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
    assert rows == {
        "actress": "female",  # by its definition's head
        "average": "middle",
        "extremely": "intense",
        "female": "female",
        "intermediate": "middle",
        "lady": "female",  # under the female person synset
        "male": "male",
        "medium": "middle",
        "moderate": "middle",
        "normal": "middle",
        "really": "intense",
        "salesman": "male",  # a compound's ending
        "very": "intense",
    }  # not: a person of either gender, a dog (an animal first), a soldier (man or woman), a name, "passing"
    assert builder.main(["--wordnet", str(tmp_path / "none"), "-o", str(out)]) == 1
