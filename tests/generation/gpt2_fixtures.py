"""A tiny random GPT-2 (built and saved by the reference) with a tiny byte-level BPE tokenizer.

Both libraries load the same folder, so every comparison starts from identical weights. Biases and
LayerNorm parameters are moved away from their init so that they matter in the comparisons.
"""

import os

import torch

VOCAB = 99
EOS = 0  # "<|endoftext|>" is the tokenizer's first token
# initializer_range 0.6 (not 0.02): a random model this small otherwise repeats one token forever,
# and the comparisons would prove little
TINY = dict(n_layer=2, n_embd=32, n_head=4, vocab_size=VOCAB, n_positions=128, bos_token_id=EOS,
            eos_token_id=EOS, initializer_range=0.6)
CORPUS = ["the quick brown fox jumps over the lazy dog", "hello world, this is a tiny corpus.",
          "generation with a tiny model is fast", "stop here and then go on", "ünïcödé wörds tóo"] * 20
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")


def train_tokenizer(folder):
    """A byte-level BPE of VOCAB tokens trained on CORPUS, saved with the reference's wrapper."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<|endoftext|>"]))
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    wrapped.chat_template = CHAT_TEMPLATE
    wrapped.save_pretrained(folder)
    return wrapped


def build_tiny_gpt2(folder, head="GPT2LMHeadModel", **overrides):
    import transformers

    config = transformers.GPT2Config(**{**TINY, **overrides})
    torch.manual_seed(0)
    model = getattr(transformers, head)(config).eval()
    with torch.no_grad():  # the reference scales residual projections down by sqrt(2 * n_layer) only
        for name, p in model.named_parameters():
            if name.endswith("c_proj.weight"):
                p.mul_(2.0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(torch.randn_like(p) * 0.1)
    model.save_pretrained(folder)
    return str(folder)


def reference_model(folder, head="GPT2LMHeadModel"):
    import transformers

    return getattr(transformers, head).from_pretrained(folder, dtype=torch.float32).eval()


def lean_model(folder, head="GPT2LMHeadModel"):
    from leanformers.models import gpt2

    return getattr(gpt2, head).from_pretrained(folder).eval()


def prompts(batch=3, length=9, seed=1):
    """Random prompts that avoid the eos token, and a left-padding mask with rows of 9, 5 and 2 tokens."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (batch, length), generator=g)
    mask = torch.ones_like(ids)
    for row, pad in enumerate([0, 4, 7][:batch]):
        mask[row, :pad] = 0
    ids = ids.masked_fill(mask == 0, EOS)
    return ids, mask


os.environ.setdefault("HF_HUB_OFFLINE", "1")
