"""Tiny models saved by the reference, and a running server on a free loopback port."""

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("sse_starlette")

from serve_helpers import CHATML, RunningServer, bert_tokenizer_files, train_tokenizer  # noqa: E402


@pytest.fixture(scope="session")
def chat_model_dir(tmp_path_factory):
    """A tiny random Llama with a ChatML template; large weights, so greedy decoding has no near-ties."""
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("models") / "tiny-chat"
    tok = PreTrainedTokenizerFast(tokenizer_object=train_tokenizer("bpe"), eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", bos_token="<|im_start|>")
    tok.chat_template = CHATML
    tok.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         initializer_range=0.5, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    LlamaForCausalLM(config).eval().save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def bert_classifier_dir(tmp_path_factory):
    from transformers import BertConfig, BertForSequenceClassification

    path = tmp_path_factory.mktemp("models") / "tiny-clf"
    tok = bert_tokenizer_files(path)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, id2label={0: "NEGATIVE", 1: "POSITIVE"},
                        label2id={"NEGATIVE": 0, "POSITIVE": 1})
    BertForSequenceClassification(config).eval().save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def server(chat_model_dir, bert_classifier_dir):
    from leanformers.serving.app import create_app

    app = create_app(models=[chat_model_dir, bert_classifier_dir], max_batch=8, max_queue=64, device="cpu",
                     max_body=200_000)
    running = RunningServer(app)
    running.app = app
    yield running
    running.close()
