"""Logits processors and stopping criteria against the reference's classes of the same names."""

import pytest
import torch

transformers_generation = pytest.importorskip("transformers.generation")

import leanformers.generation as ours  # noqa: E402

V = 50


def _batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, V, (4, 12), generator=g)
    ids[1, -3:] = ids[1, 2:5]  # a repeated trigram, so n-gram bans trigger
    scores = torch.randn(4, V, generator=g) * 3
    return ids, scores


@pytest.fixture
def batch():
    return _batch()


# two prompts for the four rows (two beams each); each holds the last decoder token of its rows
# followed by something, so the encoder n-gram bans trigger
_LAST = _batch()[0][:, -1].tolist()
ENCODER_IDS = torch.tensor([[5, _LAST[0], 11, 3, _LAST[1], 12, 9], [1, _LAST[2], 3, 4, _LAST[3], 6, 7]])

CASES = [
    ("TemperatureLogitsWarper", (0.7,), {}),
    ("TopKLogitsWarper", (5,), {}),
    ("TopKLogitsWarper", (3,), {"min_tokens_to_keep": 6}),
    ("TopPLogitsWarper", (0.8,), {}),
    ("TopPLogitsWarper", (0.1,), {"min_tokens_to_keep": 3}),
    ("MinPLogitsWarper", (0.2,), {}),
    ("TypicalLogitsWarper", (0.6,), {}),
    ("RepetitionPenaltyLogitsProcessor", (1.7,), {}),
    ("RepetitionPenaltyLogitsProcessor", (0.5,), {"prompt_ignore_length": torch.tensor([0, 3, 5, 11])}),
    ("NoRepeatNGramLogitsProcessor", (2,), {}),
    ("NoRepeatNGramLogitsProcessor", (3,), {}),
    ("NoBadWordsLogitsProcessor", ([[3], [7, 8], [1, 2, 3], [9]],), {"eos_token_id": 9}),
    ("MinNewTokensLengthLogitsProcessor", (5, 10, [4, 6]), {}),
    ("MinNewTokensLengthLogitsProcessor", (5, 3, 4), {}),
    ("MinLengthLogitsProcessor", (20, [1, 2]), {}),
    # the encoder-side processors read other input ids (here: 2 prompts, 2 beams each)
    ("EncoderRepetitionPenaltyLogitsProcessor", (1.8, ENCODER_IDS), {}),
    ("EncoderRepetitionPenaltyLogitsProcessor", (0.6, ENCODER_IDS), {}),
    ("EncoderNoRepeatNGramLogitsProcessor", (2, ENCODER_IDS), {}),
    ("EncoderNoRepeatNGramLogitsProcessor", (1, ENCODER_IDS), {}),
    ("ForcedEOSTokenLogitsProcessor", (13, [3, 4]), {}),
    ("ExponentialDecayLengthPenalty", ((4, 1.5), [1, 2], 3), {}),
    ("SuppressTokensAtBeginLogitsProcessor", ([1, 7, 49], 12), {}),
    ("EpsilonLogitsWarper", (0.02,), {}),
    ("EpsilonLogitsWarper", (0.3,), {"min_tokens_to_keep": 4}),
    ("EtaLogitsWarper", (0.05,), {}),
]


@pytest.mark.parametrize("name,args,kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_processor_matches_reference(batch, name, args, kwargs):
    ids, scores = batch
    expected = getattr(transformers_generation, name)(*args, **kwargs)(ids, scores.clone())
    got = getattr(ours, name)(*args, **kwargs)(ids, scores.clone())
    assert torch.equal(torch.isinf(got), torch.isinf(expected))
    finite = torch.isfinite(expected)
    torch.testing.assert_close(got[finite], expected[finite], atol=1e-6, rtol=1e-6)
    if name != "TemperatureLogitsWarper":
        assert not torch.equal(got, scores) or name.startswith("Min")  # the case really does something


def test_forced_bos_matches_reference(batch):
    ids, scores = batch
    for length in (1, 2):
        expected = transformers_generation.ForcedBOSTokenLogitsProcessor(7)(ids[:, :length], scores.clone())
        got = ours.ForcedBOSTokenLogitsProcessor(7)(ids[:, :length], scores.clone())
        assert torch.equal(got, expected)
    assert torch.equal(got, scores)  # past the first token nothing is forced


def test_encoder_no_repeat_ngram_bans_what_the_encoder_continues(batch):
    ids, scores = batch
    ids = ids.clone()
    ids[:2, -1] = 9  # rows 0 and 1 (prompt 0's beams) end in 9; its encoder input holds "9 11", "9 12"
    encoder = torch.tensor([[9, 11, 3, 9, 12], [1, 2, 3, 4, 5]])
    got = ours.EncoderNoRepeatNGramLogitsProcessor(2, encoder)(ids, scores.clone())
    assert torch.isinf(got[:2, [11, 12]]).all() and int(torch.isinf(got).sum()) == 4


def test_processors_do_not_modify_their_input(batch):
    ids, scores = batch
    before = scores.clone()
    processors = ours.LogitsProcessorList([ours.RepetitionPenaltyLogitsProcessor(1.3), ours.TopKLogitsWarper(4),
                                           ours.NoRepeatNGramLogitsProcessor(2)])
    processors(ids, scores)
    assert torch.equal(scores, before)


def test_bad_arguments_raise():
    for make in (lambda: ours.TemperatureLogitsWarper(0.0), lambda: ours.TopKLogitsWarper(0),
                 lambda: ours.TopPLogitsWarper(1.5), lambda: ours.RepetitionPenaltyLogitsProcessor(-1.0),
                 lambda: ours.NoRepeatNGramLogitsProcessor(0), lambda: ours.NoBadWordsLogitsProcessor([]),
                 lambda: ours.TypicalLogitsWarper(1.0)):
        with pytest.raises(ValueError):
            make()


def test_custom_processor_and_criteria_in_generate(tmp_path):
    import warnings

    transformers = pytest.importorskip("transformers")
    from leanformers.models.gpt2 import GPT2LMHeadModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=V,
                                                             n_positions=64, bos_token_id=0, eos_token_id=0)
                                     ).save_pretrained(tmp_path)
    model = GPT2LMHeadModel.from_pretrained(tmp_path)

    class OnlyToken7(ours.LogitsProcessor):
        def __call__(self, input_ids, scores):
            return torch.full_like(scores, -1e9).index_fill(1, torch.tensor([7]), 0.0)

    class StopAfter3(ours.StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), input_ids.shape[1] >= 5, dtype=torch.bool)

    out = model.generate(torch.tensor([[1, 2]]), max_new_tokens=10, logits_processor=ours.LogitsProcessorList([OnlyToken7()]),
                         stopping_criteria=ours.StoppingCriteriaList([StopAfter3()]))
    assert out.tolist() == [[1, 2, 7, 7, 7]]


def test_stopping_criteria_match_reference():
    ids = torch.tensor([[1, 2, 3], [4, 5, 9]])
    for name, args in (("MaxLengthCriteria", (3,)), ("MaxLengthCriteria", (4,)), ("EosTokenCriteria", ([9, 3],)),
                       ("EosTokenCriteria", (5,))):
        expected = getattr(transformers_generation, name)(*args)(ids, None)
        assert torch.equal(getattr(ours, name)(*args)(ids, None), expected)
    assert ours.StoppingCriteriaList([ours.MaxLengthCriteria(7)]).max_length == 7


def test_stop_string_criteria_match_reference(tmp_path):
    transformers = pytest.importorskip("transformers")
    from gpt2_fixtures import train_tokenizer

    tokenizer = train_tokenizer(tmp_path)
    import leanformers

    lean_tokenizer = leanformers.AutoTokenizer.from_pretrained(tmp_path)
    texts = ["the quick brown fox", "hello world, this", "stop here and then", "ünïcödé wörds", "the lazy dog"]
    stops = ["fox", "d, th", "then", "ödé w", "zz", "o"]
    encoded = [tokenizer(t)["input_ids"] for t in texts]
    checked = 0
    for stop in stops:
        theirs = transformers.StopStringCriteria(tokenizer, [stop])
        mine = [ours.StopStringCriteria(tokenizer, [stop]), ours.StopStringCriteria(lean_tokenizer, stop)]
        for ids in encoded:
            for end in range(1, len(ids) + 1):  # every prefix of every text
                row = torch.tensor([ids[:end]])
                for criterion in mine:
                    assert criterion(row, None).tolist() == theirs(row, None).tolist(), (stop, ids[:end])
                checked += int(theirs(row, None).item())
    assert checked >= 5  # several prefixes really end in a stop string
