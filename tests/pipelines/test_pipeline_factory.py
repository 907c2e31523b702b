"""pipeline(): tasks and aliases, defaults, model/tokenizer resolution, devices, lazy import."""

import json
import os
import subprocess
import sys

import pytest

from pipeline_fixtures import MIXED_TEXTS, assert_results_close

import leanformers
import leanformers.pipelines as pipelines

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_unknown_task_lists_known_tasks():
    with pytest.raises(KeyError) as info:
        leanformers.pipeline("sentiment-analyse", model="whatever")
    message = info.value.args[0]
    assert "Unknown task 'sentiment-analyse'" in message
    for task in ("text-classification", "feature-extraction", "text-generation", "sentiment-analysis"):
        assert repr(task) in message
    assert "'translation_XX_to_YY'" in message
    assert pipelines.get_supported_tasks() == [
        "feature-extraction", "fill-mask", "ner", "question-answering", "sentence-embeddings", "sentiment-analysis", "summarization",
        "text-classification", "text-generation", "text2text-generation", "token-classification", "translation",
        "zero-shot-classification"]
    assert pipelines.check_task("ner")[0] == "token-classification"
    assert pipelines.check_task("translation_en_to_de") == ("translation_en_to_de", pipelines.SUPPORTED_TASKS["translation"])
    assert pipelines.check_task("sentiment-analysis")[0] == "text-classification"


def test_no_task_and_no_model():
    with pytest.raises(RuntimeError, match="needs a task or a model"):
        leanformers.pipeline()


def test_missing_default_model_says_so(monkeypatch, tmp_path):
    missing = str(tmp_path / "no-such-folder")
    monkeypatch.setitem(pipelines.DEFAULT_MODELS, "text-classification", missing)
    for task in ("sentiment-analysis", "text-classification"):
        with pytest.raises(OSError) as info:
            leanformers.pipeline(task)
        message = str(info.value)
        assert "embedded default sentiment model" in message and missing in message
        assert "Pass a model" in message


def test_default_model_is_used_and_announced(monkeypatch, tiny_model, caplog):
    folder = tiny_model(id2label={0: "NEGATIVE", 1: "POSITIVE"})
    monkeypatch.setitem(pipelines.DEFAULT_MODELS, "text-classification", folder)
    with caplog.at_level("WARNING", logger="leanformers"):  # a logged warning, as in the reference
        pipe = leanformers.pipeline("sentiment-analysis")
    notices = [r for r in caplog.records if r.getMessage().startswith("No model was supplied")]
    assert len(notices) == 1 and notices[0].levelname == "WARNING" and folder in notices[0].getMessage()
    import torch

    assert pipe.model.dtype == torch.float32 and pipe.device.type == "cpu"
    assert pipe.task == "text-classification"
    explicit = leanformers.pipeline("text-classification", model=folder, device="cpu")
    assert_results_close(pipe(MIXED_TEXTS), explicit(MIXED_TEXTS), atol=0)


def test_embedded_default_model_when_shipped():
    path = pipelines.DEFAULT_MODELS["text-classification"]
    if not os.path.isfile(os.path.join(path, "config.json")):
        pytest.skip("the embedded default sentiment model has not landed yet")
    import torch

    pipe = leanformers.pipeline("sentiment-analysis")
    assert pipe.model.dtype == torch.float32 and pipe.device.type == "cpu"
    # the Hugging Face course's two sentences
    result = pipe(["I've been waiting for a HuggingFace course my whole life.", "I hate this so much!"])
    assert [r["label"] for r in result] == ["POSITIVE", "NEGATIVE"]


def test_tasks_without_default_model_need_one():
    with pytest.raises(ValueError, match="no default model"):
        leanformers.pipeline("feature-extraction")


def test_loaded_model_takes_tokenizer_from_its_path(tiny_model):
    folder = tiny_model()
    model = leanformers.AutoModelForSequenceClassification.from_pretrained(folder)
    pipe = leanformers.pipeline("text-classification", model=model, device="cpu")
    assert pipe.model is model
    by_name = leanformers.pipeline("text-classification", model=folder, device="cpu")
    assert_results_close(pipe(MIXED_TEXTS), by_name(MIXED_TEXTS), atol=0)
    tokenizer = leanformers.AutoTokenizer.from_pretrained(folder)
    assert leanformers.pipeline("text-classification", model=model, tokenizer=tokenizer).tokenizer is tokenizer
    assert_results_close(leanformers.pipeline("text-classification", model=model, tokenizer=folder)(MIXED_TEXTS),
                         by_name(MIXED_TEXTS), atol=0)


def test_model_without_a_path_needs_a_tokenizer(tiny_model):
    config = leanformers.AutoConfig.from_pretrained(tiny_model())
    model = leanformers.AutoModelForSequenceClassification.from_config(config)
    model.name_or_path = ""
    model.config.name_or_path = ""
    with pytest.raises(ValueError, match="Cannot tell which tokenizer"):
        leanformers.pipeline("text-classification", model=model)


def test_task_is_inferred_from_the_architecture(tiny_model):
    pipe = leanformers.pipeline(model=tiny_model())
    assert type(pipe).__name__ == "TextClassificationPipeline" and pipe.task == "text-classification"
    base = tiny_model("bert", "base")
    assert type(leanformers.pipeline(model=base)).__name__ == "FeatureExtractionPipeline"
    loaded = leanformers.AutoModel.from_pretrained(base)
    assert type(leanformers.pipeline(model=loaded)).__name__ == "FeatureExtractionPipeline"


def test_dtype_and_torch_dtype(tiny_model):
    import torch

    folder = tiny_model()
    assert leanformers.pipeline("text-classification", model=folder, dtype=torch.bfloat16).model.dtype == torch.bfloat16
    assert leanformers.pipeline("text-classification", model=folder, torch_dtype="float16").model.dtype == torch.float16
    pipe = leanformers.pipeline("text-classification", model=folder, dtype="bfloat16", device="cpu")
    result = pipe("Great.", top_k=None)
    assert isinstance(result[0]["score"], float)  # scores computed in float32 for half models
    with pytest.raises(ValueError, match="twice"):
        leanformers.pipeline("text-classification", model=folder, dtype="float32",
                             model_kwargs={"dtype": "float16"})


def test_devices(tiny_model):
    import torch

    folder = tiny_model()
    for device in (-1, "cpu", torch.device("cpu")):
        pipe = leanformers.pipeline("text-classification", model=folder, device=device)
        assert pipe.device == torch.device("cpu") and pipe.model.device == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            leanformers.pipeline("text-classification", model=folder, device=0)
        assert leanformers.pipeline("text-classification", model=folder).device.type == "cpu"
    with pytest.raises(ValueError, match="not a device name"):
        leanformers.pipeline("text-classification", model=folder, device="gpu-please")


def test_text_generation_is_registered_lazily():
    entry = pipelines.SUPPORTED_TASKS["text-generation"]
    assert entry["impl"] == "leanformers.pipelines.text_generation:TextGenerationPipeline"
    with pytest.raises((ValueError, ImportError), match="no default model|not available"):
        leanformers.pipeline("text-generation")


def test_pipeline_repr_and_save(tiny_model, tmp_path):
    pipe = leanformers.pipeline("text-classification", model=tiny_model(), device="cpu")
    assert "TextClassificationPipeline" in repr(pipe) and "cpu" in repr(pipe)
    pipe.save_pretrained(tmp_path / "saved")
    again = leanformers.pipeline("text-classification", model=str(tmp_path / "saved"), device="cpu")
    assert_results_close(again(MIXED_TEXTS), pipe(MIXED_TEXTS), atol=1e-6)
    assert pipe.predict(["ok"]) == pipe(["ok"])


def test_import_and_pipeline_attribute_do_not_import_torch():
    code = (
        "import sys, json\n"
        "import leanformers\n"
        "leanformers.pipeline\n"
        "from leanformers.pipelines import SUPPORTED_TASKS, get_supported_tasks\n"
        "get_supported_tasks()\n"
        "heavy = [m for m in ('torch', 'numpy', 'transformers', 'tokenizers', 'leanformers.modeling',\n"
        "         'leanformers.tokenization', 'leanformers.pipelines.base') if m in sys.modules]\n"
        "print(json.dumps(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": REPO}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
