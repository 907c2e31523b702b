"""The same script under torchrun with 2 CPU processes (gloo) trains the same weights as 1 process.

Per-device batch 4 on 2 ranks vs batch 8 on one: the DistributedSampler gives each rank every other
index of the same seeded permutation, so the global batches are the same sets of rows, and DDP's
gradient average equals the one-process mean.
"""

import json
import os
import runpy
import subprocess
import sys
import textwrap
import time

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent('''
    import json, os, sys, time
    import torch
    from torch import nn
    from leanformers import Trainer, TrainingArguments
    from leanformers.outputs import SequenceClassifierOutput

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(50, 16)
            self.norm = nn.LayerNorm(16)
            self.head = nn.Linear(16, 2)

        def forward(self, input_ids, labels=None):
            logits = self.head(self.norm(self.embed(input_ids).mean(1)))
            loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
            return SequenceClassifierOutput(loss=loss, logits=logits)

    out, batch = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(1)  # the same float reduction order in every process
    g = torch.Generator().manual_seed(0)
    rows = [{"input_ids": torch.randint(2, 50, (6,), generator=g).tolist(), "label": i % 3 % 2} for i in range(32)]
    torch.manual_seed(0)
    model = Tiny()
    args = TrainingArguments(output_dir=out, num_train_epochs=2, per_device_train_batch_size=batch,
                             per_device_eval_batch_size=3, learning_rate=5e-2, logging_steps=2,
                             save_strategy="epoch", report_to="jsonl", disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=rows, eval_dataset=rows[:11])
    result = trainer.train()
    metrics = trainer.evaluate()
    pred = trainer.predict(rows[:11])
    if trainer.is_world_process_zero():
        time.sleep(0.5)  # rank 1 reaches its exit first: leaving the group must wait for rank 0
        trainer.save_model(os.path.join(out, "final"))
        json.dump({"world": args.world_size, "loss": result.training_loss, "eval_loss": metrics["eval_loss"],
                   "logs": [h for h in trainer.state.log_history if "loss" in h],
                   "pred": pred.predictions.tolist()}, open(os.path.join(out, "result.json"), "w"))
    trainer.end()  # rank 1 gets here first and waits at the barrier for rank 0 (a no-op in one process)
''')


def _run(cmd, tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_two_processes_equal_one(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    one, two = tmp_path / "one", tmp_path / "two"
    argv, threads = sys.argv, torch.get_num_threads()
    try:  # the one-process run in this interpreter: no second torch start-up
        sys.argv = [str(script), str(one), "8"]
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
        torch.set_num_threads(threads)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
          str(script), str(two), "4"], tmp_path)

    a, b = (json.load(open(d / "result.json")) for d in (one, two))
    assert a["world"] == 1 and b["world"] == 2
    assert [h["step"] for h in a["logs"]] == [h["step"] for h in b["logs"]] == [2, 4, 6, 8]
    for x, y in zip(a["logs"], b["logs"]):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-5)
        assert x["learning_rate"] == y["learning_rate"]
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    # evaluation gathered from both ranks, in dataset order, without the sampler's repeated row
    assert len(b["pred"]) == 11
    torch.testing.assert_close(torch.tensor(a["pred"]), torch.tensor(b["pred"]), rtol=1e-5, atol=1e-6)
    assert a["eval_loss"] == pytest.approx(b["eval_loss"], rel=1e-5)

    from leanformers.weights import load_safetensors

    wa = load_safetensors(str(one / "final" / "model.safetensors"))
    wb = load_safetensors(str(two / "final" / "model.safetensors"))
    assert sorted(wa) == sorted(wb)
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=1e-5, atol=1e-6, msg=name)

    # only rank 0 logs and saves; each rank keeps its own random state
    lines = open(two / "log.jsonl").read().splitlines()
    assert len(lines) == len(open(one / "log.jsonl").read().splitlines())
    ckpt = set(os.listdir(two / "checkpoint-8"))
    assert {"rng_state_0.pth", "rng_state_1.pth", "optimizer.pt", "trainer_state.json"} <= ckpt


FAILING = textwrap.dedent('''
    import torch.distributed as dist
    from leanformers import TrainingArguments
    TrainingArguments(output_dir=".").device  # joins the group, registers the exit handler
    if dist.get_rank() == 1:
        raise RuntimeError("rank 1 fails")
    import time
    time.sleep(40)  # rank 0 is busy; a rank 1 waiting at the exit barrier would wait for this
''')


def test_a_failing_rank_does_not_wait_at_exit(tmp_path):
    """The exit barrier is skipped by a rank that dies of an exception, so torchrun reports it at once."""
    script = tmp_path / "fail.py"
    script.write_text(FAILING)
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode != 0
    assert time.monotonic() - start < 30  # torchrun stopped rank 0 when rank 1 failed, not 40 s later
    assert "RuntimeError: rank 1 fails" in proc.stderr
