"""Tiny random checkpoints with small trained tokenizers, for the fill-mask / NER / QA / zero-shot tests.

Both tokenizers are trained here with `tokenizers` on a small corpus (vocabularies of a few hundred,
so that most words split into several tokens and word re-joining is exercised):

- "wordpiece": BERT-style, cased, "##" continuations, [CLS] a [SEP] b [SEP];
- "bytelevel": RoBERTa-style byte-level BPE ("Ġ" marks a leading space), <s> a </s></s> b </s>,
  "<mask>" eating the space before it.

Models are built by the reference (transformers 5.24, in the test venv) and saved next to the
tokenizer, so leanformers and transformers 4.57.6 (the other venv) load the very same folder.
"""

from __future__ import annotations

import json
import os

MAX_POSITIONS = 64

CORPUS = [
    "My name is Wolfgang and I live in Berlin.",
    "Sarah works at Microsoft in Seattle, Washington.",
    "The Eiffel Tower is in Paris, the capital of France.",
    "Angela Merkel was the chancellor of Germany for sixteen years.",
    "The quick brown fox jumps over the lazy dog near the riverbank.",
    "Hugging Face is a company based in New York City and Paris.",
    "George Washington was the first president of the United States.",
    "I bought unbelievably expensive headphones yesterday afternoon.",
    "The museum opens at nine o'clock and closes at six.",
    "Photosynthesis converts sunlight into chemical energy in plants.",
    "Marie Curie won two Nobel prizes, in physics and in chemistry.",
    "The Amazon river flows through Brazil, Peru and Colombia.",
    "Tokenization splits text into subwords like un-believ-ably.",
    "Where do you live? I live in London, near the Thames.",
    "Jean-Baptiste moved to Montreal in the winter of 2019.",
    "Apples, oranges and bananas are sold at the market every Sunday.",
]


def train_tokenizer(kind: str, folder: str, vocab_size: int = 400):
    """Train a ``kind`` tokenizer on CORPUS and save it (with the reference's wrapper) into ``folder``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = CORPUS * 3
    if kind == "wordpiece":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=False)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
        wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                          sep_token="[SEP]", mask_token="[MASK]", model_max_length=MAX_POSITIONS)
    elif kind == "bytelevel":
        from tokenizers import AddedToken

        specials = ["<s>", "<pad>", "</s>", "<unk>", AddedToken("<mask>", lstrip=True)]
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=vocab_size + 256, special_tokens=specials,
                                                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True,
                                                          add_prefix_space=False)
        wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                          cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
                                          mask_token=AddedToken("<mask>", lstrip=True),
                                          model_max_length=MAX_POSITIONS)
    else:
        raise ValueError(kind)
    wrapped.save_pretrained(folder)
    # v5 names its class "TokenizersBackend", which 4.57 does not know; both read this generic name
    config_path = os.path.join(folder, "tokenizer_config.json")
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    # and the two versions' generic classes default to different input names: say them
    config["model_input_names"] = ["input_ids", "token_type_ids", "attention_mask"] if kind == "wordpiece" \
        else ["input_ids", "attention_mask"]
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    return wrapped


HEADS = {"masked-lm": "ForMaskedLM", "token-classification": "ForTokenClassification",
         "question-answering": "ForQuestionAnswering", "sequence-classification": "ForSequenceClassification"}


def build(folder: str, kind: str, head: str, seed: int = 0, **config_kwargs) -> str:
    """A tiny BERT (wordpiece) or RoBERTa (bytelevel) with ``head`` and its trained tokenizer in ``folder``."""
    import torch
    import transformers

    tokenizer = train_tokenizer(kind, folder)
    if "id2label" in config_kwargs:  # v5 writes "label2id": null unless given; real checkpoints have both
        config_kwargs.setdefault("label2id", {label: i for i, label in config_kwargs["id2label"].items()})
    common = dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=37, **config_kwargs)
    if kind == "wordpiece":
        config = transformers.BertConfig(max_position_embeddings=MAX_POSITIONS, pad_token_id=0, **common)
        prefix = "Bert"
    else:
        # positions start after the padding index (1), so the table has 2 rows more than the longest input
        config = transformers.RobertaConfig(max_position_embeddings=MAX_POSITIONS + 2, pad_token_id=1, bos_token_id=0,
                                            eos_token_id=2, type_vocab_size=1, **common)
        prefix = "Roberta"
    torch.manual_seed(seed)
    model = getattr(transformers, prefix + HEADS[head])(config).eval()
    with torch.no_grad():  # the reference zero-initialises biases: randomise them so that bugs show
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_(0.0, 0.5 if "classifier" in name or "qa_outputs" in name else 0.05)
    model.save_pretrained(folder)
    return folder


def build_seq2seq(folder: str, arch: str = "bart", seed: int = 0, **config_kwargs) -> str:
    """A tiny encoder-decoder for the summarization / translation / text2text tests, with the
    byte-level tokenizer (BART's special tokens: <s>=0, <pad>=1, </s>=2)."""
    import torch
    import transformers

    tokenizer = train_tokenizer("bytelevel", folder)
    if arch == "bart":
        config = transformers.BartConfig(
            vocab_size=len(tokenizer), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=MAX_POSITIONS,
            pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2,
            **config_kwargs)
        model_class = transformers.BartForConditionalGeneration
    elif arch == "t5":
        # the tied head (T5 v1.0): v5 writes an untied one as "tie_word_embeddings": true plus
        # "scale_decoder_outputs": false, which 4.57 reads as tied and rescaled; the decoder starts from the pad
        config = transformers.T5Config(
            vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=2, num_heads=4,
            relative_attention_num_buckets=8, feed_forward_proj="gated-gelu",
            pad_token_id=1, eos_token_id=2, decoder_start_token_id=1, **config_kwargs)
        model_class = transformers.T5ForConditionalGeneration
    elif arch == "marian":  # static sinusoidal positions; decoder starts from the pad token
        config = transformers.MarianConfig(
            vocab_size=len(tokenizer), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=MAX_POSITIONS,
            pad_token_id=1, eos_token_id=2, decoder_start_token_id=1, forced_eos_token_id=2, **config_kwargs)
        model_class = transformers.MarianMTModel
    else:
        raise ValueError(arch)
    torch.manual_seed(seed)
    model = model_class(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_(0.0, 0.05)
            elif "embed_tokens" in name or name in ("model.shared.weight", "shared.weight"):
                param.normal_(0.0, 1.0)  # sharper logits: fewer near-ties between generated tokens
    if arch == "marian":  # as real Marian checkpoints: never generate the pad (the decoder start)
        model.generation_config.bad_words_ids = [[1]]
    model.save_pretrained(folder)
    return folder
