"""leanformers.logging: the reference's verbosity and progress-bar functions, progress bars on model
loading and GGUF dequantisation, and no tqdm/torch import for it."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys

import pytest

import leanformers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

REFERENCE_NAMES = ["set_verbosity", "set_verbosity_error", "set_verbosity_warning", "set_verbosity_info",
                   "set_verbosity_debug", "get_verbosity", "get_logger", "disable_progress_bar",
                   "enable_progress_bar", "is_progress_bar_enabled", "enable_default_handler",
                   "disable_default_handler", "enable_propagation", "disable_propagation", "add_handler",
                   "remove_handler",
                   "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


@pytest.fixture
def lf_logging(monkeypatch):
    """leanformers.logging, with the library logger and the progress-bar switch restored afterwards."""
    from leanformers import logging as lf_logging

    logger = logging.getLogger("leanformers")
    saved = (logger.level, logger.propagate, list(logger.handlers))
    monkeypatch.setattr(lf_logging, "_default_handler", None)
    monkeypatch.setattr(lf_logging, "_progress_bars_disabled", False)
    yield lf_logging
    logger.setLevel(saved[0])
    logger.propagate = saved[1]
    logger.handlers[:] = saved[2]


def test_the_reference_surface_exists():
    import transformers.utils.logging as reference

    import leanformers.utils.logging

    for name in REFERENCE_NAMES:
        assert hasattr(reference, name), name  # the names are the reference's
        assert hasattr(leanformers.logging, name), name
    assert leanformers.utils.logging is leanformers.logging
    from leanformers.utils import logging as spelled_like_the_reference

    assert spelled_like_the_reference is leanformers.logging
    assert leanformers.logging.INFO == reference.INFO == logging.INFO


def test_importing_it_imports_neither_tqdm_nor_torch():
    code = ("import sys, leanformers, leanformers.logging, leanformers.utils.logging; "
            "leanformers.logging.set_verbosity_info(); leanformers.logging.disable_progress_bar(); "
            "print(sorted(m for m in ('tqdm', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": REPO},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_verbosity_decides_what_reaches_stderr(lf_logging, capsys):
    logger = lf_logging.get_logger("leanformers.modeling")
    assert logger.name == "leanformers.modeling" and lf_logging.get_logger("x").name == "leanformers.x"
    assert lf_logging.get_logger() is logging.getLogger("leanformers")

    lf_logging.set_verbosity_info()
    assert lf_logging.get_verbosity() == lf_logging.INFO
    logger.info("an info message")
    logger.debug("a debug message")
    err = capsys.readouterr().err
    assert "an info message" in err and "a debug message" not in err

    lf_logging.set_verbosity_error()
    assert lf_logging.get_verbosity() == lf_logging.ERROR
    logger.warning("a warning")
    logger.error("an error")
    err = capsys.readouterr().err
    assert "a warning" not in err and err.count("an error") == 1  # once: no second copy via the root

    lf_logging.set_verbosity(lf_logging.DEBUG)
    logger.debug("a debug message")
    assert "a debug message" in capsys.readouterr().err
    lf_logging.disable_default_handler()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    lf_logging.add_handler(handler)
    logger.error("to the application's handler")
    assert "to the application" not in capsys.readouterr().err
    assert [r.getMessage() for r in records] == ["to the application's handler"]
    lf_logging.remove_handler(handler)
    with pytest.raises(TypeError, match="logging level"):
        lf_logging.set_verbosity("info")


def test_default_model_notice_is_silenced_by_set_verbosity_error(lf_logging, monkeypatch, tmp_path, capsys):
    from leanformers import pipelines

    sys.path.insert(0, os.path.join(REPO, "tests", "pipelines"))
    try:
        from pipeline_fixtures import build_tiny_model
    finally:
        sys.path.pop(0)
    pytest.importorskip("transformers")
    folder = build_tiny_model(str(tmp_path))
    monkeypatch.setitem(pipelines.DEFAULT_MODELS, "text-classification", folder)
    lf_logging.set_verbosity_warning()
    capsys.readouterr()
    leanformers.pipeline("sentiment-analysis")
    assert capsys.readouterr().err.startswith("No model was supplied")
    lf_logging.set_verbosity_error()
    leanformers.pipeline("sentiment-analysis")
    assert "No model was supplied" not in capsys.readouterr().err


def test_progress_bar_waits_a_second_and_can_be_disabled(lf_logging):
    bar = lf_logging.tqdm(total=3, file=io.StringIO())
    assert bar.delay == 1 and not bar.disable
    bar.close()
    assert not lf_logging.are_progress_bars_disabled() and lf_logging.is_progress_bar_enabled()
    lf_logging.disable_progress_bar()
    assert lf_logging.are_progress_bars_disabled() and not lf_logging.is_progress_bar_enabled()
    bar = lf_logging.tqdm(total=3)
    assert bar.disable
    bar.close()
    lf_logging.enable_progress_bar()
    assert not lf_logging.are_progress_bars_disabled()


def _capture_bars(monkeypatch, lf_logging, *modules) -> io.StringIO:
    """Make every leanformers progress bar show at once (delay 0) into a buffer."""
    out = io.StringIO()
    real = lf_logging.tqdm

    def immediate(*args, **kwargs):
        return real(*args, **{**kwargs, "delay": 0, "file": out, "mininterval": 0})

    monkeypatch.setattr(lf_logging, "tqdm", immediate)
    for module in modules:
        monkeypatch.setattr(module, "tqdm", immediate)
    return out


def test_gguf_dequantisation_shows_a_progress_bar(lf_logging, monkeypatch, tmp_path):
    pytest.importorskip("gguf")
    pytest.importorskip("transformers")
    from test_gguf import write_tiny_gguf

    from leanformers.gguf import gguf_state_dict

    path = tmp_path / "tiny.gguf"
    write_tiny_gguf(path)
    out = _capture_bars(monkeypatch, lf_logging)
    state = gguf_state_dict(path)
    shown = out.getvalue()
    assert "Dequantising tiny.gguf" in shown and f"{len(state)}/{len(state)}" in shown
    lf_logging.disable_progress_bar()
    out.truncate(0)
    gguf_state_dict(path)
    assert out.getvalue().strip("\x00") == ""


def test_model_loading_shows_a_progress_bar(lf_logging, monkeypatch, tmp_path):
    transformers = pytest.importorskip("transformers")
    import leanformers.modeling

    config = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=37)
    transformers.BertModel(config).save_pretrained(tmp_path)
    out = _capture_bars(monkeypatch, lf_logging, leanformers.modeling)
    model = leanformers.AutoModel.from_pretrained(tmp_path)
    count = len(model.state_dict())
    assert "Loading weights" in out.getvalue() and f"{count}/{count}" in out.getvalue()
    lf_logging.disable_progress_bar()
    out.truncate(0)
    leanformers.AutoModel.from_pretrained(tmp_path)
    assert out.getvalue().strip("\x00") == ""
