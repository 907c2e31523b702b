"""The per-family tokenizer classes users import (BertTokenizer, GPT2Tokenizer, ...).

Each is a thin subclass: it names the legacy.py builder that assembles its pipeline (so loading from
vocab.txt / vocab.json + merges.txt / a SentencePiece model works, and a tokenizer.json is rebuilt
with the family's own components as the reference does) and sets the family's defaults.
"""

from __future__ import annotations

from .tokenizer import PreTrainedTokenizerFast


class BertTokenizer(PreTrainedTokenizerFast):
    """WordPiece with [CLS] A [SEP] (B [SEP]); honours do_lower_case, tokenize_chinese_chars, strip_accents."""

    legacy_builder = "bert"
    default_special_tokens = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                              "cls_token": "[CLS]", "mask_token": "[MASK]"}
    vocab_files_names = {"vocab_file": "vocab.txt", "tokenizer_file": "tokenizer.json"}
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]


class DistilBertTokenizer(BertTokenizer):
    model_input_names = ["input_ids", "attention_mask"]


class RobertaTokenizer(PreTrainedTokenizerFast):
    """Byte-level BPE with <s> A </s> (</s> B </s>)."""

    legacy_builder = "roberta"
    default_special_tokens = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                              "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}
    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt", "tokenizer_file": "tokenizer.json"}


class GPT2Tokenizer(PreTrainedTokenizerFast):
    """Byte-level BPE; adds no special tokens unless add_bos_token / add_eos_token say so."""

    legacy_builder = "gpt2"
    default_special_tokens = {"unk_token": "<|endoftext|>", "bos_token": "<|endoftext|>",
                              "eos_token": "<|endoftext|>"}
    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt", "tokenizer_file": "tokenizer.json"}


class LlamaTokenizer(PreTrainedTokenizerFast):
    """SentencePiece-style BPE with byte fallback (Metaspace pre-tokenizer); pads on the left."""

    legacy_builder = "llama"
    default_special_tokens = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
    padding_side = "left"
    vocab_files_names = {"vocab_file": "tokenizer.model", "tokenizer_file": "tokenizer.json"}


class T5Tokenizer(PreTrainedTokenizerFast):
    """SentencePiece Unigram with </s> appended and 100 <extra_id_N> sentinel tokens."""

    legacy_builder = "t5"
    default_special_tokens = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    vocab_files_names = {"vocab_file": "spiece.model", "tokenizer_file": "tokenizer.json"}

    def get_sentinel_tokens(self) -> list[str]:
        return [t for t in self.extra_special_tokens if t.startswith("<extra_id_")]

    def get_sentinel_token_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.get_sentinel_tokens())


class XLMRobertaTokenizer(PreTrainedTokenizerFast):
    """SentencePiece Unigram in fairseq's id layout (<s> <pad> </s> <unk> first, <mask> last) with
    <s> A </s> (</s> B </s>)."""

    legacy_builder = "xlm_roberta"
    default_special_tokens = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                              "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}
    vocab_files_names = {"vocab_file": "sentencepiece.bpe.model", "tokenizer_file": "tokenizer.json"}


class AlbertTokenizer(PreTrainedTokenizerFast):
    """SentencePiece Unigram with [CLS] A [SEP] (B [SEP]); honours do_lower_case and keep_accents."""

    legacy_builder = "albert"
    default_special_tokens = {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "<unk>", "sep_token": "[SEP]",
                              "pad_token": "<pad>", "cls_token": "[CLS]", "mask_token": "[MASK]"}
    vocab_files_names = {"vocab_file": "spiece.model", "tokenizer_file": "tokenizer.json"}


class Qwen2Tokenizer(PreTrainedTokenizerFast):
    """Byte-level BPE after NFC and Qwen's own split regex; the post-processor comes from tokenizer.json."""

    legacy_builder = "qwen2"
    default_special_tokens = {"unk_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt", "tokenizer_file": "tokenizer.json"}


# In the reference these names are aliases too: every tokenizer here is a "fast" one.
BertTokenizerFast = BertTokenizer
DistilBertTokenizerFast = DistilBertTokenizer
RobertaTokenizerFast = RobertaTokenizer
GPT2TokenizerFast = GPT2Tokenizer
LlamaTokenizerFast = LlamaTokenizer
T5TokenizerFast = T5Tokenizer
XLMRobertaTokenizerFast = XLMRobertaTokenizer
AlbertTokenizerFast = AlbertTokenizer
Qwen2TokenizerFast = Qwen2Tokenizer

# tokenizer_class names (tokenizer_config.json) and model types (config.json) → class.
TOKENIZER_CLASSES = {
    "BertTokenizer": BertTokenizer,
    "DistilBertTokenizer": DistilBertTokenizer,
    "RobertaTokenizer": RobertaTokenizer,
    "GPT2Tokenizer": GPT2Tokenizer,
    "LlamaTokenizer": LlamaTokenizer,
    "T5Tokenizer": T5Tokenizer,
    "XLMRobertaTokenizer": XLMRobertaTokenizer,
    "AlbertTokenizer": AlbertTokenizer,
    "Qwen2Tokenizer": Qwen2Tokenizer,
    "PreTrainedTokenizer": PreTrainedTokenizerFast,
    "PreTrainedTokenizerFast": PreTrainedTokenizerFast,
    "TokenizersBackend": PreTrainedTokenizerFast,
}
MODEL_TYPE_TO_CLASS = {
    "bert": BertTokenizer,
    "distilbert": DistilBertTokenizer,
    "roberta": RobertaTokenizer,
    "gpt2": GPT2Tokenizer,
    "llama": LlamaTokenizer,
    "t5": T5Tokenizer,
    "mt5": T5Tokenizer,
    "xlm-roberta": XLMRobertaTokenizer,
    "albert": AlbertTokenizer,
    "qwen2": Qwen2Tokenizer,
}
