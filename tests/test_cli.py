"""The `leanformers` command, run as `python -m leanformers` in a subprocess."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "pipelines"))  # pipeline_fixtures, tiny_checkpoints

from pipeline_fixtures import MIXED_TEXTS, assert_results_close, build_tiny_model  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": REPO, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def leanformers(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "leanformers", *args], cwd=REPO, env=ENV, input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    pytest.importorskip("transformers")
    return build_tiny_model(str(tmp_path_factory.mktemp("cli-bert")), "bert",
                            id2label={0: "NEGATIVE", 1: "POSITIVE"})


def test_run_text_classification_prints_one_json_document(classifier_dir):
    import leanformers as lf

    out = leanformers("run", "sentiment-analysis", *MIXED_TEXTS[:4], "--model", classifier_dir,
                      "--batch-size", "2", "--device", "cpu")
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    expected = lf.pipeline("sentiment-analysis", model=classifier_dir, device="cpu")(MIXED_TEXTS[:4])
    assert_results_close(results, expected, atol=1e-6)
    assert all(set(r) == {"label", "score"} for r in results)


def test_run_reads_stdin_and_top_k(classifier_dir):
    out = leanformers("run", "text-classification", "--model", classifier_dir, "--top-k", "all",
                      stdin="I love it\n\nI hate it\n")
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert len(results) == 2 and all(len(r) == 2 for r in results)
    assert {r["label"] for r in results[0]} == {"NEGATIVE", "POSITIVE"}


def test_run_passes_pipeline_parameters(classifier_dir):
    import leanformers as lf

    out = leanformers("run", "text-classification", "Great.", "--model", classifier_dir,
                      "-p", "function_to_apply=sigmoid", "-p", "top_k=null")
    assert out.returncode == 0, out.stderr
    pipe = lf.pipeline("text-classification", model=classifier_dir, device="cpu")
    assert_results_close(json.loads(out.stdout), pipe(["Great."], function_to_apply="sigmoid", top_k=None),
                         atol=1e-6)
    bad = leanformers("run", "text-classification", "x", "--model", classifier_dir, "-p", "oops")
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr


def test_run_feature_extraction(classifier_dir):
    out = leanformers("run", "feature-extraction", "Hello world!", "--model", classifier_dir, "-d", "-1")
    assert out.returncode == 0, out.stderr
    features = json.loads(out.stdout)
    assert len(features) == 1 and len(features[0]) == 1 and len(features[0][0]) == 5
    assert len(features[0][0][0]) == 32  # [inputs][1][seq][hidden]


def test_run_errors_are_one_line_with_exit_status_2(classifier_dir, tmp_path):
    out = leanformers("run", "summarize-this", "text", "--model", classifier_dir)
    assert out.returncode == 2 and out.stdout == ""
    assert "Unknown task 'summarize-this'" in out.stderr and "text-classification" in out.stderr
    assert "Traceback" not in out.stderr
    out = leanformers("run", "text-classification", "text", "--model", str(tmp_path / "nothing-here"))
    assert out.returncode == 2 and "nothing-here" in out.stderr and "Traceback" not in out.stderr
    out = leanformers("run", "text-classification", "text", "--batch-size", "0", "--model", classifier_dir)
    assert out.returncode == 2 and "positive integer" in out.stderr
    out = leanformers("run", "text-classification", "--model", classifier_dir, stdin="")
    assert out.returncode == 2 and "empty" in out.stderr


def test_env_reports_versions_and_settings():
    out = leanformers("env", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    import platform

    import leanformers as lf
    import numpy
    import torch

    assert info["leanformers"] == lf.__version__
    assert info["python"] == platform.python_version()
    assert info["torch"] == torch.__version__ and info["numpy"] == numpy.__version__
    assert info["cuda_available"] == torch.cuda.is_available()
    assert info["offline"] is True and info["hf_cache_dir"]
    text = leanformers("env")
    assert text.returncode == 0 and "torch" in text.stdout and "hf_cache_dir" in text.stdout


def test_help_and_version_do_not_import_torch():
    code = ("import sys\nfrom leanformers.cli import build_parser\nbuild_parser().format_help()\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=ENV, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "False", out.stderr
    version = leanformers("--version")
    assert version.returncode == 0 and version.stdout.startswith("leanformers ")
    bare = leanformers()
    assert bare.returncode == 2 and "run" in bare.stderr and "env" in bare.stderr


# ---- the tasks of the course's chapter 1 ----------------------------------------------------------
@pytest.fixture(scope="module")
def chapter1_dirs(tmp_path_factory):
    pytest.importorskip("transformers")
    from tiny_checkpoints import build

    labels = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
    nli = {0: "contradiction", 1: "neutral", 2: "entailment"}
    return {head: build(str(tmp_path_factory.mktemp(f"cli-{head}")), "wordpiece", head, **config)
            for head, config in (("token-classification", {"id2label": labels}), ("masked-lm", {}),
                                 ("question-answering", {}), ("sequence-classification", {"id2label": nli}))}


def test_run_ner_fill_mask_and_zero_shot(chapter1_dirs):
    import leanformers as lf
    from leanformers.cli import _jsonable

    texts = ["My name is Sarah and I live in London.", "Wolfgang lives in Berlin."]
    ner = chapter1_dirs["token-classification"]
    out = leanformers("run", "ner", *texts, "-m", ner, "-p", "aggregation_strategy=simple", "-p", "ignore_labels=[]")
    assert out.returncode == 0, out.stderr
    expected = lf.pipeline("ner", model=ner, device="cpu")(texts, aggregation_strategy="simple", ignore_labels=[])
    assert_results_close(json.loads(out.stdout), _jsonable(expected), atol=1e-6)

    mlm = chapter1_dirs["masked-lm"]
    out = leanformers("run", "fill-mask", "Paris is the [MASK] of France.", "-m", mlm, "--top-k", "2")
    assert out.returncode == 0, out.stderr
    expected = lf.pipeline("fill-mask", model=mlm, device="cpu")("Paris is the [MASK] of France.", top_k=2)
    assert_results_close(json.loads(out.stdout), [expected], atol=1e-6)  # one result per text

    nli = chapter1_dirs["sequence-classification"]
    out = leanformers("run", "zero-shot-classification", *texts, "-m", nli, "--labels", "travel, music,cooking")
    assert out.returncode == 0, out.stderr
    expected = lf.pipeline("zero-shot-classification", model=nli, device="cpu")(
        texts, candidate_labels=["travel", "music", "cooking"])
    assert_results_close(json.loads(out.stdout), expected, atol=1e-6)


def test_run_question_answering(chapter1_dirs):
    import leanformers as lf

    qa = chapter1_dirs["question-answering"]
    context = "My name is Wolfgang and I live in Berlin."
    pipe = lf.pipeline("question-answering", model=qa, device="cpu")
    out = leanformers("run", "question-answering", "--question", "Where do I live?", "--question", "Who am I?",
                      "--context", context, "-m", qa)
    assert out.returncode == 0, out.stderr
    assert_results_close(json.loads(out.stdout), pipe(question=["Where do I live?", "Who am I?"], context=context),
                         atol=1e-6)
    out = leanformers("run", "question-answering", "Where do I live?", "--context", context, "-m", qa)
    assert out.returncode == 0, out.stderr
    assert_results_close(json.loads(out.stdout), [pipe(question="Where do I live?", context=context)], atol=1e-6)


def test_run_task_options_are_checked(chapter1_dirs):
    qa = chapter1_dirs["question-answering"]
    out = leanformers("run", "question-answering", "--question", "Where?", "-m", qa)
    assert out.returncode == 2 and "needs --context" in out.stderr and "Traceback" not in out.stderr
    out = leanformers("run", "zero-shot-classification", "a text", "-m", chapter1_dirs["sequence-classification"])
    assert out.returncode == 2 and "needs --labels" in out.stderr
    out = leanformers("run", "ner", "a text", "--labels", "a,b", "-m", chapter1_dirs["token-classification"])
    assert out.returncode == 2 and "--labels applies to zero-shot-classification" in out.stderr
    out = leanformers("run", "fill-mask", "no mask here", "-m", chapter1_dirs["masked-lm"])
    assert out.returncode == 2 and "No mask_token ([MASK])" in out.stderr


def test_run_summarization_and_translation(tmp_path_factory):
    pytest.importorskip("transformers")
    pytest.importorskip("leanformers.models.bart")
    import leanformers as lf
    from tiny_checkpoints import build_seq2seq

    bart = build_seq2seq(str(tmp_path_factory.mktemp("cli-bart")), "bart",
                         task_specific_params={"translation_en_to_fr": {"prefix": "translate: ", "num_beams": 2}})
    texts = ["My name is Wolfgang and I live in Berlin.", "ok"]
    for task in ("summarization", "translation_en_to_fr"):
        out = leanformers("run", task, *texts, "-m", bart, "-p", "max_new_tokens=5")
        assert out.returncode == 0, out.stderr
        expected = lf.pipeline(task, model=bart, device="cpu")(texts, max_new_tokens=5)
        assert json.loads(out.stdout) == expected
    out = leanformers("run", "translation_en_fr", "x", "-m", bart)
    assert out.returncode == 2 and "translation_XX_to_YY" in out.stderr
