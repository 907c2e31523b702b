"""The Hugging Face Inference API routes through huggingface_hub.InferenceClient, checked against
the reference's pipelines on the same tiny checkpoints."""

import json
import os

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from huggingface_hub import InferenceClient  # noqa: E402

from serve_helpers import RunningServer, bert_tokenizer_files, http  # noqa: E402

from leanformers.pipelines import SUPPORTED_TASKS  # noqa: E402

TEXT = "John Smith lives in New York and loves the weather"


def needs(task):
    return pytest.mark.skipif(task not in SUPPORTED_TASKS, reason=f"this build has no {task} pipeline yet")


def tiny_bert(path, head, **config):
    from transformers import BertConfig

    tok = bert_tokenizer_files(path)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, **config)
    getattr(transformers, head)(cfg).eval().save_pretrained(path)
    return str(path)


def tiny_bart(path):
    from serve_helpers import train_tokenizer
    from transformers import BartConfig, BartForConditionalGeneration, PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=train_tokenizer("bpe"), eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", bos_token="<|im_start|>")
    tok.save_pretrained(path)
    torch.manual_seed(0)
    BartForConditionalGeneration(BartConfig(
        vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, init_std=0.5,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        decoder_start_token_id=tok.eos_token_id, forced_eos_token_id=None, max_length=12)).eval().save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory, bert_classifier_dir, chat_model_dir):
    root = tmp_path_factory.mktemp("inference")
    paths = {"clf": bert_classifier_dir, "chat": chat_model_dir,
             "ner": tiny_bert(root / "tiny-ner", "BertForTokenClassification",
                              id2label={0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"},
                              label2id={"O": 0, "B-PER": 1, "I-PER": 2, "B-LOC": 3, "I-LOC": 4}),
             "qa": tiny_bert(root / "tiny-qa", "BertForQuestionAnswering"),
             "mlm": tiny_bert(root / "tiny-mlm", "BertForMaskedLM"),
             "nli": tiny_bert(root / "tiny-nli", "BertForSequenceClassification",
                              id2label={0: "contradiction", 1: "neutral", 2: "entailment"},
                              label2id={"contradiction": 0, "neutral": 1, "entailment": 2}),
             "st": tiny_bert(root / "tiny-st", "BertModel")}
    paths["bart"] = tiny_bart(root / "tiny-bart")
    (root / "tiny-st" / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    os.makedirs(root / "tiny-st" / "1_Pooling")
    (root / "tiny-st" / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    return paths


@pytest.fixture(autouse=True)
def _loopback_is_not_the_hub(monkeypatch):
    """huggingface_hub refuses every request under HF_HUB_OFFLINE, this server's on 127.0.0.1 too;
    the suite stays offline for the Hub (the server loads local folders only)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "is_offline_mode", lambda: False)


@pytest.fixture(scope="module")
def api(models):
    from leanformers.serving.app import create_app

    preload = [models[k] for k in ("clf", "chat", "st")]
    preload += [models[k] for k, task in (("ner", "token-classification"), ("mlm", "fill-mask"),
                                          ("qa", "question-answering"), ("nli", "zero-shot-classification"))
                if task in SUPPORTED_TASKS]
    running = RunningServer(create_app(models=preload, max_models=8, device="cpu"))
    yield running
    running.close()


def client(api, name, task=None):
    url = f"{api.url}/models/{name}" + (f"/pipeline/{task}" if task else "")
    return InferenceClient(model=url, timeout=60)


def reference(task, path, *args, **kwargs):
    return transformers.pipeline(task, model=path, device="cpu")(*args, **kwargs)


def local(task, path, *args, **kwargs):
    """leanformers' own pipeline (tests/pipelines hold it to the reference; transformers 5 dropped
    some of these tasks): the server must answer exactly what it answers, in the API's shape."""
    from leanformers import pipeline

    return pipeline(task, model=path, device="cpu")(*args, **kwargs)


def test_text_classification(api, models):
    got = client(api, "tiny-clf").text_classification(TEXT)
    want = reference("text-classification", models["clf"], TEXT, top_k=None)
    assert [g.label for g in got] == [w["label"] for w in want]
    assert [g.score for g in got] == pytest.approx([w["score"] for w in want], abs=1e-5)


def test_feature_extraction_of_a_sentence_model_is_its_embedding(api, models):
    got = client(api, "tiny-st").feature_extraction("the cat sat")
    from leanformers import pipeline

    want = pipeline("sentence-embeddings", model=models["st"], device="cpu")("the cat sat")
    assert got.shape == (32,) and got == pytest.approx(want, abs=1e-5)
    assert float((got ** 2).sum()) == pytest.approx(1.0, abs=1e-5)
    scores = client(api, "tiny-st").sentence_similarity("the cat sat", other_sentences=["the cat sat", "hello"])
    assert scores[0] == pytest.approx(1.0, abs=1e-5) and len(scores) == 2


def test_feature_extraction_task_of_a_plain_model(api, models):
    got = client(api, "tiny-clf", "feature-extraction").feature_extraction("the cat sat")
    want = reference("feature-extraction", models["clf"], "the cat sat")
    import numpy as np

    assert got.shape == np.asarray(want).shape == (1, got.shape[1], 32)  # the body's hidden states
    np.testing.assert_allclose(got, np.asarray(want), atol=1e-5)


def test_text_generation_plain_and_streamed(api, models):
    from leanformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(models["chat"])
    model = AutoModelForCausalLM.from_pretrained(models["chat"])
    enc = tok("the cat", return_tensors="pt")
    ids = model.generate(**enc, max_new_tokens=8, do_sample=False)[0, enc["input_ids"].shape[1]:].tolist()
    if tok.eos_token_id in ids:
        ids = ids[:ids.index(tok.eos_token_id)]
    text = tok.decode(ids, skip_special_tokens=True)
    c = client(api, "tiny-chat")
    assert c.text_generation("the cat", max_new_tokens=8, do_sample=False) == text
    assert "".join(c.text_generation("the cat", max_new_tokens=8, do_sample=False, stream=True)) == text
    details = c.text_generation("the cat", max_new_tokens=8, do_sample=False, details=True)
    assert details.generated_text == text
    assert (details.details.finish_reason, details.details.generated_tokens) in (("length", 8), ("eos_token", len(ids) + 1))
    full = c.text_generation("the cat", max_new_tokens=8, do_sample=False, return_full_text=True)
    assert full == "the cat" + text


def test_chat_completion_through_the_inference_client(api):
    out = client(api, "tiny-chat").chat_completion([{"role": "user", "content": "hi"}], max_tokens=4, temperature=0)
    assert out.choices[0].message.role == "assistant" and out.usage.completion_tokens <= 4


def test_pipeline_requests_waiting_together_run_as_one_batch(api):
    import concurrent.futures

    texts = [f"text number {i} " * (i + 1) for i in range(6)]
    c = client(api, "tiny-clf")
    alone = [c.text_classification(t) for t in texts]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        together = list(pool.map(c.text_classification, texts))
    for a, b in zip(alone, together):
        assert [x.label for x in a] == [x.label for x in b]
        assert [x.score for x in a] == pytest.approx([x.score for x in b], abs=1e-5)


@needs("token-classification")
def test_token_classification(api, models):
    got = client(api, "tiny-ner").token_classification(TEXT, aggregation_strategy="simple")
    want = local("token-classification", models["ner"], TEXT, aggregation_strategy="simple")
    assert [(g.entity_group, g.word, g.start, g.end) for g in got] == \
        [(w["entity_group"], w["word"], w["start"], w["end"]) for w in want]


@needs("fill-mask")
def test_fill_mask(api, models):
    got = client(api, "tiny-mlm").fill_mask("the cat [MASK] on the mat")
    want = local("fill-mask", models["mlm"], "the cat [MASK] on the mat")
    assert [g.token for g in got] == [w["token"] for w in want]
    assert [g.score for g in got] == pytest.approx([w["score"] for w in want], abs=1e-5)


@needs("question-answering")
def test_question_answering(api, models):
    got = client(api, "tiny-qa").question_answering(question="where does john live?", context=TEXT)
    want = local("question-answering", models["qa"], question="where does john live?", context=TEXT)
    assert (got.answer, got.start, got.end) == (want["answer"], want["start"], want["end"])


@needs("zero-shot-classification")
def test_zero_shot_classification(api, models):
    labels = ["weather", "people", "cities"]
    got = client(api, "tiny-nli").zero_shot_classification(TEXT, candidate_labels=labels)
    want = local("zero-shot-classification", models["nli"], TEXT, candidate_labels=labels)
    assert [g.label for g in got] == want["labels"]
    assert [g.score for g in got] == pytest.approx(want["scores"], abs=1e-5)


@needs("summarization")
@pytest.mark.parametrize("task", ["summarization", "translation"])
def test_seq2seq_tasks(api, models, task):
    from leanformers import pipeline

    c = client(api, models["bart"], task)
    # a folder named by its absolute path ("/models//abs/path"), loaded on first use
    params = {"max_new_tokens": 8}
    got = (c.summarization(TEXT, generate_parameters=params) if task == "summarization"
           else c.translation(TEXT, generate_parameters=params))
    want = pipeline(task, model=models["bart"], device="cpu")(TEXT, **params)[0]
    assert got == want


def test_inference_api_bad_input_is_a_clear_400(api):
    status, _, body = http("POST", api.url + "/models/tiny-chat", {"inputs": "x", "parameters": {"best_of": 3}})
    assert status == 400 and "best_of" in body["error"]["message"]
    status, _, body = http("POST", api.url + "/models/tiny-clf", {"input": "x"})
    assert status == 400 and body["error"]["param"] in ("input", "inputs")  # missing inputs, unknown input
