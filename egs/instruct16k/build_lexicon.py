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
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from codec.errors import CodecError

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


def read_nouns(folder: Path) -> Nouns:
    """Parse ``data.noun`` and ``index.noun`` (the WordNet database format, wndb(5))."""
    nouns = Nouns()
    for line in (folder / "data.noun").read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):
            continue  # the licence header
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        offset, count = fields[0], int(fields[3], 16)
        nouns.lemmas[offset] = [fields[4 + 2 * i] for i in range(count)]
        at = 4 + 2 * count
        pointers = [fields[at + 1 + 4 * k : at + 5 + 4 * k] for k in range(int(fields[at]))]
        nouns.hypernyms[offset] = [
            target for symbol, target, pos, _ in pointers if symbol in ("@", "@i") and pos == "n"
        ]
        if any(symbol == "@i" for symbol, *_ in pointers):
            nouns.named.add(offset)
        nouns.gloss[offset] = gloss.lower()
        nouns.definition[offset] = gloss.split(";")[0].lower()
    for line in (folder / "index.noun").read_text(encoding="latin-1").splitlines():
        if not line.startswith("  "):
            fields = line.split()
            nouns.senses[fields[0]] = fields[-int(fields[2]) :]
    for key, count in read_tagged(folder).items():
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


def build(folder: Path) -> dict[str, str]:
    """word -> ``male`` / ``female`` for every one-word person noun of one gender."""
    nouns = read_nouns(folder)
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


def modifier_classes(folder: Path) -> dict[str, str]:
    """word -> modifier class (``SYNONYM_SEEDS``): the seeds and their synonyms."""
    tagged = read_tagged(folder)
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
    """Synset offset -> (lemma, sense key) of its members, for ``data.<pos>`` (wndb(5), senseidx(5))."""
    lines = [line for line in (folder / f"data.{pos}").read_text(encoding="latin-1").splitlines() if line[:1] != " "]
    parsed = {}
    for line in lines:
        fields = line.partition(" | ")[0].split()
        count = int(fields[3], 16)
        words = [(re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).lower(), int(fields[5 + 2 * i], 16)) for i in range(count)]
        at = 4 + 2 * count
        heads = [fields[at + 2 + 4 * k] for k in range(int(fields[at])) if fields[at + 1 + 4 * k] == "&"]
        parsed[fields[0]] = (fields[1], fields[2], words, heads)
    keys = {}
    for offset, (lexfile, kind, words, heads) in parsed.items():
        head = ":"
        if kind == "s" and heads:
            head_word, head_id = parsed[heads[0]][2][0]
            head = f"{head_word}:{head_id:02d}"
        ss_type = "5" if kind == "s" else SENSE_TYPES[pos]
        keys[offset] = [(word, f"{word}%{ss_type}:{lexfile}:{lex_id:02d}:{head}") for word, lex_id in words]
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"), help="WordNet 3.0 dict folder")
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parents[2] / "tts/instruct/lexicon.tsv")
    args = parser.parse_args(argv)
    try:
        if not (args.wordnet / "data.noun").exists():
            raise CodecError("no data.noun (apt-get install wordnet-base)", str(args.wordnet))
        genders = build(args.wordnet)
        modifiers = modifier_classes(args.wordnet)
    except CodecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    entries = dict(sorted({**genders, **modifiers}.items()))
    text = HEADER + "".join(f"{word}\t{kind}\n" for word, kind in entries.items())
    partial = args.out.with_name(args.out.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, args.out)
    counts = {kind: sum(v == kind for v in entries.values()) for kind in [*GENDER_SYNSETS, *SYNONYM_SEEDS]}
    print(f"{args.out}: {len(entries)} words ({', '.join(f'{n} {kind}' for kind, n in counts.items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
