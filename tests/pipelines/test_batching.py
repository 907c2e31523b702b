"""Length-sorted batching: results in input order, equal for every batch size, little padding."""

import pytest

from pipeline_fixtures import MIXED_TEXTS, assert_results_close

import leanformers

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def pipe(tiny_model):
    return leanformers.pipeline("text-classification", model=tiny_model(id2label={0: "a", 1: "b", 2: "c"}),
                                device="cpu", top_k=None)


def _record_batches(pipe):
    """Wrap the model's forward to record every batch's input_ids and attention_mask."""
    seen = []
    forward = pipe.model.forward

    def recording(**inputs):
        seen.append((inputs["input_ids"].clone(), inputs["attention_mask"].clone()))
        return forward(**inputs)

    pipe.model.forward = recording
    return seen


def test_order_is_preserved_for_every_batch_size(pipe):
    expected = [pipe(text, top_k=None) for text in MIXED_TEXTS]  # single inputs: no batching, no padding
    for batch_size in (1, 2, 3, 7, 32):
        assert_results_close(pipe(MIXED_TEXTS, batch_size=batch_size), expected)
    # duplicates and a reversed order come back where they were
    texts = MIXED_TEXTS[::-1] + MIXED_TEXTS[:3]
    assert_results_close(pipe(texts, batch_size=4), expected[::-1] + expected[:3])


def test_batches_are_cut_from_length_sorted_inputs(pipe):
    seen = _record_batches(pipe)
    try:
        pipe(MIXED_TEXTS, batch_size=4)
    finally:
        del pipe.model.forward
    lengths = sorted(len(pipe.tokenizer(t)["input_ids"]) for t in MIXED_TEXTS)
    assert [ids.shape[0] for ids, _ in seen] == [4, 4, 4]
    # each batch is padded only to its own longest, which is the longest of consecutive sorted lengths
    assert [ids.shape[1] for ids, _ in seen] == [lengths[3], lengths[7], lengths[11]]
    padded = sum(ids.numel() for ids, _ in seen)
    real = sum(int(mask.sum()) for _, mask in seen)
    assert real == sum(lengths)
    # in input order the same batches would carry far more padding
    unsorted = [len(pipe.tokenizer(t)["input_ids"]) for t in MIXED_TEXTS]
    unsorted_padded = sum(4 * max(unsorted[i:i + 4]) for i in range(0, 12, 4))
    assert padded < unsorted_padded
    # padding is on the tokenizer's side, with its pad id and a zero mask
    for ids, mask in seen:
        for row in range(ids.shape[0]):
            width = int(mask[row].sum())
            assert mask[row, :width].all() and not mask[row, width:].any()
            assert (ids[row, width:] == pipe.tokenizer.pad_token_id).all()


def test_generators_stream_results_in_order(pipe):
    expected = pipe(MIXED_TEXTS, batch_size=2)
    pipe.sort_window = 2  # windows of 2 batches: several windows over the input
    try:
        consumed = []

        def texts():
            for text in MIXED_TEXTS:
                consumed.append(text)
                yield text

        results = pipe(texts(), batch_size=2)
        assert consumed == []  # lazy: nothing is read before the first result is asked for
        first = next(results)
        assert len(consumed) == 4  # one window
        assert_results_close([first, *results], expected)
    finally:
        del pipe.sort_window


def test_dataset_like_input_streams(pipe):
    class TinyDataset:
        def __init__(self, items):
            self.items = items

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            return self.items[i]

        def __iter__(self):
            return iter(self.items)

    results = pipe(TinyDataset(MIXED_TEXTS), batch_size=5)
    assert not isinstance(results, list)
    assert_results_close(list(results), pipe(MIXED_TEXTS, batch_size=5))


def test_tuple_and_empty_list(pipe):
    assert_results_close(pipe(tuple(MIXED_TEXTS[:3])), pipe(MIXED_TEXTS[:3]))
    assert pipe([]) == []


def test_batch_size_from_constructor_and_bad_values(tiny_model, pipe):
    folder = tiny_model(id2label={0: "a", 1: "b", 2: "c"})
    batched = leanformers.pipeline("text-classification", model=folder, device="cpu", batch_size=3)
    seen = _record_batches(batched)
    batched(MIXED_TEXTS)
    assert max(ids.shape[0] for ids, _ in seen) == 3
    with pytest.raises(ValueError, match="batch_size"):
        pipe(MIXED_TEXTS, batch_size=-2)


def test_default_batch_size_is_documented_value(pipe):
    seen = _record_batches(pipe)
    try:
        pipe(MIXED_TEXTS * 3)
    finally:
        del pipe.model.forward
    assert [ids.shape[0] for ids, _ in seen] == [32, 4]
    assert type(pipe).default_batch_size == 32


def test_pad_batch_left_and_right():
    from leanformers.pipelines.base import pad_batch

    items = [{"input_ids": torch.tensor([[5, 6, 7]]), "attention_mask": torch.ones(1, 3, dtype=torch.long),
              "text": "abc"},
             {"input_ids": torch.tensor([[8]]), "attention_mask": torch.ones(1, 1, dtype=torch.long),
              "text": "d"}]
    right = pad_batch(items, pad_token_id=0)
    assert right["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert right["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert right["text"] == ["abc", "d"]
    left = pad_batch(items, pad_token_id=9, padding_side="left")
    assert left["input_ids"].tolist() == [[5, 6, 7], [9, 9, 8]]
    assert left["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    with pytest.raises(ValueError, match="no pad token"):
        pad_batch(items, pad_token_id=None)
