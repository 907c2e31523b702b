"""The course example runs with `transformers`, `tokenizers` and `accelerate` impossible to import.

A child process installs a `sys.meta_path` finder that raises ImportError for those packages (and
records every attempt), then runs the Hugging Face course's first example with leanformers. The
parent, which may import the reference, checks the child's numbers against it.
"""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "pipelines"))

from pipeline_fixtures import MINILM_DIR, assert_results_close, build_tiny_model  # noqa: E402

BLOCKER = r'''
import sys

BLOCKED = {"transformers", "tokenizers", "accelerate"}
attempts = []


class BlockReferenceLibraries:
    """Refuse to import the reference libraries, and remember who tried."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            attempts.append(name)
            raise ImportError(f"{name} is blocked in this test: leanformers must not need it")
        return None


sys.meta_path.insert(0, BlockReferenceLibraries())
'''

COURSE_EXAMPLE = BLOCKER + r'''
import json

import torch
from leanformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

checkpoint = sys.argv[1]
raw_inputs = [
    "I've been waiting for a HuggingFace course my whole life.",
    "I hate this so much!",
]
tokenizer = AutoTokenizer.from_pretrained(checkpoint)
inputs = tokenizer(raw_inputs, padding=True, truncation=True, return_tensors="pt")
model = AutoModelForSequenceClassification.from_pretrained(checkpoint)
outputs = model(**inputs)
predictions = torch.nn.functional.softmax(outputs.logits, dim=-1)
labels = [model.config.id2label[i] for i in predictions.argmax(dim=-1).tolist()]

classifier = pipeline("sentiment-analysis", model=checkpoint)
results = classifier(raw_inputs)
single = classifier(raw_inputs[0])

print(json.dumps({
    "input_ids": inputs["input_ids"].tolist(),
    "attention_mask": inputs["attention_mask"].tolist(),
    "predictions": predictions.tolist(),
    "labels": labels,
    "pipeline": results,
    "single": single,
    "attempts": attempts,
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
}))
'''

MINILM_FEATURES = BLOCKER + r'''
import json

from leanformers import AutoModelForSequenceClassification, pipeline

extractor = pipeline("feature-extraction", model=sys.argv[1], device="cpu")
features = extractor(["Hello world!", "A somewhat longer sentence about sentence embeddings."])
# the course's "fresh head" case: a classifier on the real body, its head newly initialised
model = AutoModelForSequenceClassification.from_pretrained(sys.argv[1], num_labels=2)
classifier = pipeline("text-classification", model=model, tokenizer=sys.argv[1], device="cpu")
scores = classifier("Hello world!", top_k=None)
print(json.dumps({"features": features, "scores": scores, "attempts": attempts}))
'''

RAW_INPUTS = [
    "I've been waiting for a HuggingFace course my whole life.",
    "I hate this so much!",
]


def _run_blocked(code: str, *args) -> dict:
    env = {**os.environ, "PYTHONPATH": REPO, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_course_example_without_reference_libraries(tmp_path):
    pytest.importorskip("transformers")
    folder = build_tiny_model(str(tmp_path / "tiny-bert"), "bert", id2label={0: "NEGATIVE", 1: "POSITIVE"})
    child = _run_blocked(COURSE_EXAMPLE, folder)
    assert child["attempts"] == [] and child["loaded"] == []

    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    inputs = tokenizer(RAW_INPUTS, padding=True, truncation=True, return_tensors="pt")
    assert child["input_ids"] == inputs["input_ids"].tolist()
    assert child["attention_mask"] == inputs["attention_mask"].tolist()
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():
        predictions = torch.softmax(model(**inputs).logits, dim=-1)
    torch.testing.assert_close(torch.tensor(child["predictions"]), predictions, atol=1e-5, rtol=1e-5)
    reference = transformers.pipeline("sentiment-analysis", model=folder, device="cpu")
    assert_results_close(child["pipeline"], reference(RAW_INPUTS))
    assert_results_close(child["single"], reference(RAW_INPUTS[0]))
    assert child["labels"] == [r["label"] for r in child["pipeline"]]


def test_real_minilm_without_reference_libraries():
    if not os.path.isfile(os.path.join(MINILM_DIR, "model.safetensors")):
        pytest.skip("the MiniLM checkpoint is not installed")
    transformers = pytest.importorskip("transformers")
    child = _run_blocked(MINILM_FEATURES, MINILM_DIR)
    assert child["attempts"] == []
    reference = transformers.pipeline("feature-extraction", model=MINILM_DIR, device="cpu")
    expected = [reference(text) for text in ("Hello world!", "A somewhat longer sentence about sentence embeddings.")]
    assert_results_close(child["features"], expected, atol=1e-4)
    assert [len(f[0][0]) for f in child["features"]] == [384, 384]
    scores = child["scores"]
    assert {s["label"] for s in scores} == {"LABEL_0", "LABEL_1"}
    assert abs(sum(s["score"] for s in scores) - 1.0) < 1e-5
