"""Build ``tts/instruct/lexicon.tsv``, the gender of English person nouns and the synonyms of the
level words' modifiers, from WordNet 3.0.

The instruction corpus names a few dozen speakers; users write "a lady", "a gentleman", "a bride".
A noun's gender comes from its most frequent sense where that is a person (for the gender words
themselves, "male", "female", among their two most frequent): a sense under
WordNet's "male person" / "adult male" (or "female person" / "adult female") synsets, else one whose
definition's head names one gender ("a female actor", "the wife or widow | of a king"; not "an
enlisted man or woman"), else a compound's ending ("sales|woman"). Named people, slurs and sexual
words, words used more often as adjectives or verbs ("lovely", "private"), and nouns that name both
genders are left out.

    apt-get install wordnet-base
    python egs/instruct16k/build_lexicon.py [--wordnet /usr/share/wordnet] [-o tts/instruct/lexicon.tsv]
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from codec.errors import CodecError
from codec.io.audio import atomic_write_bytes

GENDER_SYNSETS = {"male": ("male_person", "adult_male"), "female": ("female_person", "adult_female")}
"""Lemmas that name each gender's root synsets (WordNet 3.0's male.n.02 / man.n.01, female.n.02 / woman.n.01)."""

DEFINITION_WORDS = {
    "male": {"male", "man", "men", "boy", "boys", "father", "son", "brother", "husband", "king", "gentleman", "prince"},
    "female": {"female", "woman", "women", "girl", "girls", "mother", "daughter", "sister", "wife", "queen", "lady"},
}
HEAD_END = re.compile(r"\b(?:of|who|whom|whose|that|which|for|in|to|with|by|from|at|on|as)\b|[(,:]")
"""Where a definition's head noun phrase ends ("the sister | of your father or mother")."""
COMPOUNDS = {"male": "man", "female": "woman"}
"""Endings that give a compound's gender where WordNet gives none ("businessman", "policewoman")."""
LEFT_OUT = re.compile(
    r"offensive|derogatory|disparaging|slur|obscene|vulgar|contemptuous|abusive|insult|sexual|prostitut|promiscu|genital|homosexual|slang"
)
LEFT_OUT_WORDS = frozenset({
    "bimbo", "catamite", "doxy", "ejaculator", "fornicatress", "gigolo", "hussy", "paederast", "pansy", "pederast",
    "ponce", "prickteaser", "sexpot", "slut", "squaw", "strumpet", "trollop", "twat", "wanton",
})  # fmt: skip
"""Slurs and sexual words whose WordNet glosses do not say so."""
SYNONYM_SEEDS = {"middle": ("adj", ("medium", "moderate", "normal")), "intense": ("adv", ("very", "extremely"))}
"""Modifier classes: (WordNet part of speech, seed words)."""
SEED_TAGGED = 5
SENSE_TYPES = {"adj": "3", "adv": "4"}
OWN_TYPES = {"adj": "35", "adv": "4"}
"""Sense-key types of a part of speech (adjectives: heads 3 and satellites 5)."""
HEADER = """# Person nouns' gender and modifiers' classes (word<TAB>class), read by tts.instruct.lexicon.
# Built by egs/instruct16k/build_lexicon.py from WordNet 3.0:
# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.
# THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS OR
# WARRANTIES, EXPRESS OR IMPLIED. BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON UNIVERSITY MAKES NO
# REPRESENTATIONS OR WARRANTIES OF MERCHANT- ABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR THAT THE USE
# OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT INFRINGE ANY THIRD PARTY PATENTS,
# COPYRIGHTS, TRADEMARKS OR OTHER RIGHTS. The name of Princeton University or Princeton may not be used
# in advertising or publicity pertaining to distribution of the software and/or database.
"""


class Synset(NamedTuple):
    """One line of a WordNet ``data.<pos>`` file (wndb(5))."""

    lexfile: str
    kind: str
    """``n``, ``v``, ``a``, ``s`` (adjective satellite) or ``r``."""
    words: list[tuple[str, int]]
    """(lemma as written, lex id) of its members."""
    pointers: list[tuple[str, str, str]]
    """(symbol, target offset, target part of speech)."""
    gloss: str


def read_synsets(folder: Path, pos: str) -> dict[str, Synset]:
    """Synset offset -> ``Synset`` of ``data.<pos>`` (``noun``, ``adj``, ``adv``)."""
    synsets = {}
    for line in (folder / f"data.{pos}").read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):
            continue  # the licence header
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        count = int(fields[3], 16)
        words = [(fields[4 + 2 * i], int(fields[5 + 2 * i], 16)) for i in range(count)]
        at = 4 + 2 * count
        pointers = [
            (fields[at + 1 + 4 * k], fields[at + 2 + 4 * k], fields[at + 3 + 4 * k]) for k in range(int(fields[at]))
        ]
        synsets[fields[0]] = Synset(fields[1], fields[2], words, pointers, gloss)
    return synsets


@dataclass
class Nouns:
    """WordNet's noun synsets: lemmas (as written), hypernyms, gloss and its first definition; senses per lemma."""

    lemmas: dict[str, list[str]] = field(default_factory=dict)
    hypernyms: dict[str, list[str]] = field(default_factory=dict)
    named: set[str] = field(default_factory=set)
    definition: dict[str, str] = field(default_factory=dict)
    gloss: dict[str, str] = field(default_factory=dict)
    senses: dict[str, list[str]] = field(default_factory=dict)
    tagged: dict[str, dict[bool, int]] = field(default_factory=dict)
    """Per lemma, how often the sense-tagged corpus (``cntlist.rev``) uses it as a noun (True) or not."""
    _ancestors: dict[str, set[str]] = field(default_factory=dict)

    def ancestors(self, synset: str) -> set[str]:
        """``synset`` and every synset above it."""
        if synset not in self._ancestors:
            above = {synset}
            for parent in self.hypernyms[synset]:
                above |= self.ancestors(parent)
            self._ancestors[synset] = above
        return self._ancestors[synset]

    def named_by(self, lemma: str) -> set[str]:
        return {synset for synset, lemmas in self.lemmas.items() if lemma in lemmas}


def read_nouns(folder: Path, tagged: dict[str, int]) -> Nouns:
    """The nouns of ``data.noun`` and ``index.noun``, with the sense-tagged counts ``tagged``."""
    nouns = Nouns()
    for offset, synset in read_synsets(folder, "noun").items():
        nouns.lemmas[offset] = [word for word, _ in synset.words]
        nouns.hypernyms[offset] = [to for symbol, to, pos in synset.pointers if symbol in ("@", "@i") and pos == "n"]
        if any(symbol == "@i" for symbol, _, _ in synset.pointers):
            nouns.named.add(offset)
        nouns.gloss[offset] = synset.gloss.lower()
        nouns.definition[offset] = synset.gloss.split(";")[0].lower()
    for line in (folder / "index.noun").read_text(encoding="latin-1").splitlines():
        if not line.startswith("  "):
            fields = line.split()
            nouns.senses[fields[0]] = fields[-int(fields[2]) :]
    for key, count in tagged.items():
        lemma, _, sense = key.partition("%")
        tally = nouns.tagged.setdefault(lemma, {True: 0, False: 0})
        tally[sense.startswith("1")] += count
    return nouns


def noun_gender(nouns: Nouns, word: str, roots: dict[str, set[str]], person: set[str]) -> str | None:
    """``male``, ``female``, ``none`` (a person of either) or None (no person noun, or left out)."""
    tally = nouns.tagged.get(word, {True: 0, False: 0})
    if tally[False] > tally[True]:
        return None  # mostly an adjective or verb ("lovely", "private")
    senses = nouns.senses.get(word, [])
    roots_named = any(word in nouns.lemmas[synset] for synset in set().union(*roots.values()))
    # a person sense second to another ("dog", "dragon", "peach") is not what a user means, but "male"
    for synset in senses[:2] if roots_named else senses[:1]:
        if synset in nouns.named or LEFT_OUT.search(nouns.gloss[synset]):
            return None
        above = nouns.ancestors(synset)
        if not above & person:
            continue
        if word not in nouns.lemmas[synset]:
            return None  # written capitalized: a name
        by_synset = {gender for gender, synsets in roots.items() if above & synsets}
        head = re.split(HEAD_END, nouns.definition[synset])[0]
        by_definition = {
            gender for gender, named in DEFINITION_WORDS.items() if named & set(re.findall(r"[a-z]+", head))
        }
        by_compound = {gender for gender, ending in COMPOUNDS.items() if _compound(nouns, word, ending)}
        found = by_synset or by_definition or by_compound
        return found.pop() if len(found) == 1 else "none"
    return None


def _compound(nouns: Nouns, word: str, ending: str) -> bool:
    """``word`` is a noun of WordNet's (3 letters or more) followed by ``ending`` ("sales|man", not "hu|man")."""
    stem = word.removesuffix(ending)
    return (
        stem != word
        and len(stem) >= 3
        and not stem.endswith("wo")
        and (stem in nouns.senses or stem[:-1] in nouns.senses)
    )


def build(folder: Path, tagged: dict[str, int]) -> dict[str, str]:
    """word -> ``male`` / ``female`` for every one-word person noun of one gender."""
    nouns = read_nouns(folder, tagged)
    roots = {gender: set().union(*map(nouns.named_by, lemmas)) for gender, lemmas in GENDER_SYNSETS.items()}
    person = {synset for synset in nouns.named_by("person") if "individual" in nouns.lemmas[synset]}
    if not all(roots.values()) or not person:
        raise CodecError("no WordNet 3.0 person synsets in data.noun", str(folder))
    genders = {}
    for word in nouns.senses:
        if word in LEFT_OUT_WORDS:
            continue
        if re.fullmatch(r"[a-z]+", word) and (gender := noun_gender(nouns, word, roots, person)) in GENDER_SYNSETS:
            genders[word] = gender
    return dict(sorted(genders.items()))


def read_tagged(folder: Path) -> dict[str, int]:
    """Sense key -> how often WordNet's sense-tagged corpus uses it (``cntlist.rev``)."""
    counts = folder / "cntlist.rev"
    lines = counts.read_text(encoding="latin-1").splitlines() if counts.exists() else []
    return {key: int(count) for key, _, count in (line.split() for line in lines)}


def modifier_classes(folder: Path, tagged: dict[str, int]) -> dict[str, str]:
    """word -> modifier class (``SYNONYM_SEEDS``): the seeds and their synonyms."""
    by_type: dict[tuple[str, str], int] = {}
    for key, count in tagged.items():
        lemma, _, rest = key.partition("%")
        by_type[lemma, rest[0]] = by_type.get((lemma, rest[0]), 0) + count
    classes = {}
    for kind, (pos, seeds) in SYNONYM_SEEDS.items():
        own_types = OWN_TYPES[pos]
        for members in _sense_keys(folder, pos).values():
            if not any(tagged.get(key, 0) >= SEED_TAGGED for word, key in members if word in seeds):
                continue
            for word, _ in members:
                own = sum(by_type.get((word, t), 0) for t in own_types)
                others = sum(by_type.get((word, t), 0) for t in "12345" if t not in own_types)
                if word in seeds or (re.fullmatch(r"[a-z]+", word) and own > others):
                    classes.setdefault(word, kind)
    return classes


def _sense_keys(folder: Path, pos: str) -> dict[str, list[tuple[str, str]]]:
    """Synset offset -> (lemma, sense key) of its members, for ``data.<pos>`` (senseidx(5))."""
    synsets = read_synsets(folder, pos)
    keys = {}
    for offset, synset in synsets.items():
        head = ":"
        heads = [to for symbol, to, _ in synset.pointers if symbol == "&"]
        if synset.kind == "s" and heads:
            head_word, head_id = synsets[heads[0]].words[0]
            head = f"{_lemma(head_word)}:{head_id:02d}"
        ss_type = "5" if synset.kind == "s" else SENSE_TYPES[pos]
        keys[offset] = [
            (_lemma(word), f"{_lemma(word)}%{ss_type}:{synset.lexfile}:{lex_id:02d}:{head}")
            for word, lex_id in synset.words
        ]
    return keys


def _lemma(word: str) -> str:
    """An adjective as written in ``data.adj`` without its position marker ("mean(a)" -> "mean")."""
    return re.sub(r"\(.*\)$", "", word).lower()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"), help="WordNet 3.0 dict folder")
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parents[2] / "tts/instruct/lexicon.tsv")
    args = parser.parse_args(argv)
    try:
        if not (args.wordnet / "data.noun").exists():
            raise CodecError("no data.noun (apt-get install wordnet-base)", str(args.wordnet))
        tagged = read_tagged(args.wordnet)
        entries = dict(sorted({**build(args.wordnet, tagged), **modifier_classes(args.wordnet, tagged)}.items()))
        text = HEADER + "".join(f"{word}\t{kind}\n" for word, kind in entries.items())
        atomic_write_bytes(args.out, text.encode("utf-8"))
    except CodecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    counts = {kind: sum(v == kind for v in entries.values()) for kind in [*GENDER_SYNSETS, *SYNONYM_SEEDS]}
    print(f"{args.out}: {len(entries)} words ({', '.join(f'{n} {kind}' for kind, n in counts.items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
