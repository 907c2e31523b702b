"""ModernBERT's tokenizer is its tokenizer.json as it is (a byte-level BPE with [CLS] A [SEP] and a
<mask> that swallows the space before it, as in its checkpoints): one trained here with `tokenizers`,
declared as PreTrainedTokenizerFast or found by model_type alone, equal to the reference on the corpus."""

import json
import os

import pytest

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from leanformers.tokenization.auto import load_tokenizer  # noqa: E402
from encoder_tokenizers import same_behaviour, saved_both_ways, training_text  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SPECIALS = ["|||IP_ADDRESS|||", "<|padding|>", "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]


def modernbert_folder(path, config, model_type):
    from tokenizers import AddedToken, decoders, models, pre_tokenizers, processors, trainers

    bpe = tokenizers.Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(training_text(), trainers.BpeTrainer(
        vocab_size=600, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    cls, sep = bpe.token_to_id("[CLS]"), bpe.token_to_id("[SEP]")
    bpe.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    bpe.add_special_tokens([AddedToken("[MASK]", lstrip=True, normalized=False, special=True)])
    path.mkdir()
    bpe.save(str(path / "tokenizer.json"))
    settings = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
                "mask_token": "[MASK]", "model_input_names": ["input_ids", "attention_mask"], **config}
    (path / "tokenizer_config.json").write_text(json.dumps(settings))
    if model_type:
        (path / "config.json").write_text(json.dumps({"model_type": model_type}))
    return str(path)


@pytest.mark.parametrize("config, model_type", [
    ({"tokenizer_class": "PreTrainedTokenizerFast"}, "modernbert"), ({}, "modernbert"),
    ({"tokenizer_class": "PreTrainedTokenizerFast"}, None),
])
def test_modernbert_tokenizer_json_as_is(tmp_path, config, model_type):
    folder = modernbert_folder(tmp_path / "modernbert", config, model_type)
    ref, ours = transformers.AutoTokenizer.from_pretrained(folder), load_tokenizer(folder)
    same_behaviour(ref, ours)
    saved_both_ways(ref, ours, tmp_path, load_tokenizer, transformers)
