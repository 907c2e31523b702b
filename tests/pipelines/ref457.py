"""transformers 4.57.6 as an oracle, run in its own virtualenv.

v5 removed the question-answering, summarization, translation and text2text pipelines (and
``grouped_entities``), so pipeline results are compared with 4.57.6, the last release that has them.
It cannot live in the test venv beside 5.24, so ``scripts/setup.sh --test`` puts it in
``.venv-ref457`` (or ``$LEANFORMERS_REF_VENV``) and this module talks to it:

- imported by the tests, ``Ref457`` starts this same file under that venv's python once per session
  and sends it one JSON request per line: ``{"task", "model", "init", "inputs", "kwargs"}``;
- run as a script (the worker), it builds ``transformers.pipeline(task, model=folder, device="cpu",
  **init)`` once per (task, model, init), runs ``pipe(inputs, **kwargs)`` and answers with the result,
  or the exception's type and message, plus every warning the call logged.

Results travel as JSON with numpy scalars tagged (``{"__numpy__": "float32", "value": ...}``) and
tuples tagged, so a test can check that leanformers returns the same Python types, not just the
same numbers.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ref_python() -> str | None:
    venv = os.environ.get("LEANFORMERS_REF_VENV") or os.path.join(REPO, ".venv-ref457")
    python = os.path.join(venv, "bin", "python")
    return python if os.path.isfile(python) else None


# ---- values on the wire (both sides) --------------------------------------------------------------
def encode(value):
    """A pipeline result as JSON-able data that keeps numpy scalar types and tuples."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, np.generic):
        return {"__numpy__": type(value).__name__, "value": value.item()}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": str(value.dtype), "value": value.tolist()}
    if hasattr(value, "tolist"):  # a torch tensor
        return {"__tensor__": str(value.dtype), "value": value.tolist()}
    return value


def decode(value):
    """``encode``'s output back into values; numpy scalars come back as ``(type name, value)``
    markers (a ``NumpyScalar``) that ``assert_same`` compares with real numpy scalars."""
    if isinstance(value, dict):
        if "__numpy__" in value:
            return NumpyScalar(value["__numpy__"], value["value"])
        if "__tuple__" in value:
            return tuple(decode(v) for v in value["__tuple__"])
        if "__ndarray__" in value or "__tensor__" in value:
            return Array(value.get("__ndarray__") or value["__tensor__"], value["value"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


class NumpyScalar:
    def __init__(self, type_name, value):
        self.type_name, self.value = type_name, value

    def __repr__(self):
        return f"np.{self.type_name}({self.value!r})"


class Array:
    def __init__(self, dtype, value):
        self.dtype, self.value = dtype, value

    def __repr__(self):
        return f"Array({self.dtype}, {self.value!r})"


def assert_same(ours, ref, atol: float = 2e-5, path: str = "result"):
    """``ours`` (a leanformers result) has ``ref``'s structure, keys, types and values; floats
    (and numpy float scalars) equal to ``atol``; dict key order too (the reference's is part of
    what a user prints)."""
    import numpy as np

    if isinstance(ref, NumpyScalar):
        assert isinstance(ours, np.generic) and type(ours).__name__ == ref.type_name, \
            f"{path}: expected np.{ref.type_name}, got {type(ours).__name__}: {ours!r}"
        assert_same(ours.item(), ref.value, atol, path)
    elif isinstance(ref, Array):
        assert hasattr(ours, "tolist") and str(ours.dtype) == ref.dtype, f"{path}: expected {ref!r}, got {ours!r}"
        assert_same(ours.tolist(), ref.value, atol, path)
    elif isinstance(ref, dict):
        assert isinstance(ours, dict), f"{path}: expected a dict, got {type(ours).__name__}: {ours!r}"
        assert list(ours) == list(ref), f"{path}: keys {list(ours)} != {list(ref)}"
        for key in ref:
            assert_same(ours[key], ref[key], atol, f"{path}[{key!r}]")
    elif isinstance(ref, (list, tuple)):
        assert type(ours) is type(ref), f"{path}: expected a {type(ref).__name__}, got {type(ours).__name__}: {ours!r}"
        assert len(ours) == len(ref), f"{path}: length {len(ours)} != {len(ref)}\nours: {ours!r}\nref:  {ref!r}"
        for i, (a, b) in enumerate(zip(ours, ref)):
            assert_same(a, b, atol, f"{path}[{i}]")
    elif isinstance(ref, float):
        assert type(ours) is float, f"{path}: expected a float, got {type(ours).__name__}: {ours!r}"
        assert math.isclose(ours, ref, abs_tol=atol, rel_tol=1e-5), f"{path}: {ours} != {ref}"
    else:
        assert type(ours) is type(ref) and ours == ref, f"{path}: {ours!r} != {ref!r}"


# ---- the test side ----------------------------------------------------------------------------------
class RefError(Exception):
    """The reference raised: ``type_name`` and ``message`` are its exception's."""

    def __init__(self, type_name, message):
        super().__init__(f"{type_name}: {message}")
        self.type_name, self.message = type_name, message


class Ref457:
    """One long-lived worker process; ``call(...)`` → ``(result, warnings)`` or raises RefError."""

    def __init__(self, python: str):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
               "PYTHONPATH": ""}
        self.proc = subprocess.Popen([python, os.path.abspath(__file__)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                                     cwd="/tmp")
        self.cache = {}

    def call(self, task, model, inputs, init=None, **kwargs):
        request = json.dumps({"task": task, "model": model, "init": init or {}, "inputs": inputs,
                              "kwargs": kwargs}, sort_keys=True)
        if request not in self.cache:
            self.proc.stdin.write(request + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the transformers 4.57.6 worker died (run it by hand: "
                                   f"{self.proc.args[0]} {self.proc.args[1]})")
            self.cache[request] = json.loads(line)
        answer = self.cache[request]
        if "error" in answer:
            raise RefError(answer["error"]["type"], answer["error"]["message"])
        return decode(answer["result"]), answer["warnings"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# ---- the worker side (runs under .venv-ref457's python) ---------------------------------------------
def _worker():
    import logging
    import warnings

    import torch
    import transformers

    torch.set_num_threads(1)
    transformers.logging.set_verbosity_warning()
    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logging.getLogger("transformers").addHandler(Collect())
    pipes = {}
    for line in sys.stdin:
        request = json.loads(line)
        messages.clear()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                key = json.dumps([request["task"], request["model"], request["init"]], sort_keys=True)
                if key not in pipes:
                    pipes[key] = transformers.pipeline(request["task"], model=request["model"], device="cpu",
                                                       **request["init"])
                inputs = request["inputs"]
                call_args = () if inputs is None else (inputs,)
                result = pipes[key](*call_args, **request["kwargs"])
            answer = {"result": encode(result),
                      "warnings": messages + [str(w.message) for w in caught]}
        except Exception as e:  # noqa: BLE001 -- the test decides what the error should be
            answer = {"error": {"type": type(e).__name__, "message": str(e)}, "warnings": list(messages)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _worker()
