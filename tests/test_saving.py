"""save_pretrained writes file by file, atomically, and touches nothing it does not own.

The crash tests fork the test process (torch is already imported, so a child costs milliseconds)
and kill the child with SIGKILL, either just before its k-th file-system change (every k, so every
moment between two changes is covered) or at random times while it saves in a loop. After each
kill the folder must load as the old checkpoint or the new one, exactly.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from leanformers import configuration
from leanformers import weights as W
from leanformers.models.bert import BertConfig, BertModel

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="the crash and concurrency tests fork")

CONFIG = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
              intermediate_size=37, max_position_embeddings=64)
SHARD = 20_000  # bytes: the tiny model is ~80 KB, so this gives 5 shards


def _model(seed):
    torch.manual_seed(seed)
    return BertModel(BertConfig(**CONFIG)).eval()


@pytest.fixture(scope="module")
def models():
    return _model(0), _model(1)


def _which(folder, models):
    """0 or 1: the model the folder holds, exactly; fails on anything else (a mix, a broken folder)."""
    loaded = BertModel.from_pretrained(folder).state_dict()
    for i, model in enumerate(models):
        if all(torch.equal(loaded[k], v) for k, v in model.state_dict().items()):
            return i
    raise AssertionError(f"{folder} holds neither checkpoint: {sorted(os.listdir(folder))}")


def _temps(folder):
    return [n for n in os.listdir(folder) if configuration.TEMP_FILE.match(n)]


def _fork(child):
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            child()
            code = 0
        finally:
            os._exit(code)
    return pid


def _wait(pid):
    _, status = os.waitpid(pid, 0)
    return status


def _kill_before_change(k):
    """In a child: SIGKILL this process just before its k-th file-system change."""
    count = [0]
    for name in ("replace", "rename", "remove", "unlink", "link"):
        original = getattr(os, name)

        def wrapped(*args, _original=original, **kwargs):
            count[0] += 1
            if count[0] == k:
                os.kill(os.getpid(), signal.SIGKILL)
            return _original(*args, **kwargs)

        setattr(os, name, wrapped)


LAYOUTS = {"single over single": (None, None), "shards over same-named shards": (SHARD, SHARD),
           "shards over single": (None, SHARD), "single over shards": (SHARD, None),
           "shards over fewer shards": (3 * SHARD, SHARD)}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@needs_fork
def test_kill_9_before_every_change_leaves_old_or_new(tmp_path, models, layout):
    old_shard, new_shard = LAYOUTS[layout]
    folder = tmp_path / "ckpt"
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "train.log").write_text("line\n")
    seen = []
    for k in range(1, 60):
        shutil.rmtree(folder / "x", ignore_errors=True)
        models[0].save_pretrained(folder, **({"max_shard_size": old_shard} if old_shard else {}))
        assert _which(folder, models) == 0

        def child():
            _kill_before_change(k)
            models[1].save_pretrained(folder, **({"max_shard_size": new_shard} if new_shard else {}))

        status = _wait(_fork(child))
        seen.append(_which(folder, models))
        assert (folder / "logs" / "train.log").read_text() == "line\n"
        if os.WIFEXITED(status):  # k was past the last change: the save completed
            assert os.WEXITSTATUS(status) == 0 and seen[-1] == 1
            assert _temps(folder) == []
            break
        assert os.WTERMSIG(status) == signal.SIGKILL
    else:
        pytest.fail("the save never completed")
    assert seen[0] == 0 and seen[-1] == 1 and seen == sorted(seen)  # old, ..., old, new, ..., new
    # the next save removes what the killed ones left, and only that
    models[0].save_pretrained(folder)
    assert _temps(folder) == []
    assert sorted(os.listdir(folder)) == ["config.json", "logs", "model.safetensors"]


@pytest.mark.parametrize("layout", ["shards over same-named shards", "shards over fewer shards"])
def test_a_failed_save_leaves_old_or_new_and_no_unreferenced_files(tmp_path, models, layout, monkeypatch):
    """A full disk at the k-th change: the save raises, the folder loads, and the only leftovers are
    files the folder's index names."""
    old_shard, new_shard = LAYOUTS[layout]
    folder = tmp_path / "ckpt"
    models[0].save_pretrained(tmp_path / "old", max_shard_size=old_shard)
    old_names = set(os.listdir(tmp_path / "old"))
    for k in range(1, 60):
        models[0].save_pretrained(folder, max_shard_size=old_shard)
        count = [0]
        for name in ("replace", "link"):
            def failing(*args, _original=getattr(os, name), **kwargs):
                count[0] += 1
                if count[0] == k:
                    raise OSError(28, "No space left on device")
                return _original(*args, **kwargs)

            monkeypatch.setattr(os, name, failing)
        try:
            models[1].save_pretrained(folder, max_shard_size=new_shard)
            completed = True
        except OSError as e:
            assert e.errno == 28
            completed = False
        monkeypatch.undo()
        assert _which(folder, models) == 1 if completed else _which(folder, models) in (0, 1)
        index = json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"]
        unreferenced = {n for n in os.listdir(folder) if n.endswith(".safetensors")} - set(index.values())
        assert unreferenced <= (set() if completed else old_names)  # an old name, overwritten next time
        assert set(_temps(folder)) <= set(index.values())
        if completed:
            break
    else:
        pytest.fail("the save never completed")


@needs_fork
def test_kill_9_at_random_times_leaves_old_or_new(tmp_path, models):
    folder = tmp_path / "ckpt"
    models[0].save_pretrained(folder, max_shard_size=SHARD)
    rng = random.Random(0)
    for _ in range(6):
        def child():
            for i in range(10_000):  # saves alternate until the kill
                models[(i + 1) % 2].save_pretrained(folder, max_shard_size=SHARD)

        pid = _fork(child)
        time.sleep(rng.uniform(0.02, 0.15))
        os.kill(pid, signal.SIGKILL)
        _wait(pid)
        assert _which(folder, models) in (0, 1)


@needs_fork
def test_a_killed_save_of_one_variant_survives_a_save_of_another(tmp_path, models):
    """Killed between switching its index to staged shards and linking them: the staged shards are
    that variant's checkpoint now, so another variant's save must not clean them away."""
    folder = tmp_path / "ckpt"
    models[0].save_pretrained(folder, variant="v", max_shard_size=SHARD)
    index = folder / "model.safetensors.index.v.json"
    for k in range(1, 60):
        pid = _fork(lambda: (_kill_before_change(k),
                             models[1].save_pretrained(folder, variant="v", max_shard_size=SHARD)))
        assert os.WIFSIGNALED(_wait(pid))
        if any(configuration.TEMP_FILE.match(n) for n in json.loads(index.read_text())["weight_map"].values()):
            break
        models[0].save_pretrained(folder, variant="v", max_shard_size=SHARD)
    else:
        pytest.fail("never killed while the index named staged shards")
    models[0].save_pretrained(folder)  # no variant
    assert _which(folder, models) == 0
    loaded = BertModel.from_pretrained(folder, variant="v").state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in models[1].state_dict().items())


@needs_fork
def test_loading_while_another_process_saves_sees_old_or_new(tmp_path, models):
    folder = tmp_path / "ckpt"
    models[0].save_pretrained(folder)

    def saver():
        for i in range(40):  # the layout changes too: one file, then shards, ...
            models[i % 2].save_pretrained(folder, **({"max_shard_size": SHARD} if i % 4 < 2 else {}))

    pid = _fork(saver)
    seen = set()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        seen.add(_which(folder, models))
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert seen <= {0, 1} and len(seen) >= 1


@needs_fork
def test_two_processes_save_into_one_folder_at_once(tmp_path, models):
    folder = tmp_path / "ckpt"
    folder.mkdir()

    def saver(i):
        return lambda: [models[i].save_pretrained(folder, max_shard_size=SHARD) for _ in range(8)]

    pids = [_fork(saver(0)), _fork(saver(1))]
    assert [os.WEXITSTATUS(_wait(pid)) for pid in pids] == [0, 0]
    assert _which(folder, models) in (0, 1)
    assert _temps(folder) == []
    models[0].save_pretrained(tmp_path / "alone", max_shard_size=SHARD)
    assert sorted(os.listdir(folder)) == sorted(os.listdir(tmp_path / "alone"))


@needs_fork
def test_log_appended_by_another_process_during_saves_loses_nothing(tmp_path, models):
    folder = tmp_path / "out"
    (folder / "logs").mkdir(parents=True)
    log = folder / "logs" / "train.log"

    def writer():
        for i in range(300):
            with open(log, "a") as f:
                f.write(f"line {i}\n")
            time.sleep(0.0005)

    pid = _fork(writer)
    for i in range(10):
        models[i % 2].save_pretrained(folder)
    assert os.WEXITSTATUS(_wait(pid)) == 0
    assert log.read_text().splitlines() == [f"line {i}" for i in range(300)]


def test_files_the_save_does_not_own_are_never_touched(tmp_path, models):
    """A Trainer output_dir: other checkpoints, a tokenizer, a README stay the same inodes (not
    copied, not moved), and nothing is written beside the folder."""
    folder = tmp_path / "out"
    (folder / "checkpoint-500").mkdir(parents=True)
    (folder / "checkpoint-500" / "optimizer.pt").write_bytes(os.urandom(100_000))
    (folder / "tokenizer.json").write_text("{}")
    (folder / "README.md").write_text("# mine")
    (folder / "model.fp16.safetensors").write_bytes(b"another variant: not this save's")
    before = {p: (os.stat(p).st_ino, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}
    models[0].save_pretrained(folder, max_shard_size=SHARD)
    models[1].save_pretrained(folder)
    assert {p: (os.stat(p).st_ino, p.read_bytes()) for p in before} == before
    assert sorted(os.listdir(tmp_path)) == ["out"]
    assert _which(folder, models) == 1
    assert sorted(os.listdir(folder)) == ["README.md", "checkpoint-500", "config.json", "model.fp16.safetensors",
                                          "model.safetensors", "tokenizer.json"]


def test_save_dot_from_inside_the_folder(tmp_path, models, monkeypatch):
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    models[0].save_pretrained(".")
    models[1].save_pretrained(".")
    assert _which(".", models) == 1


def test_save_never_moves_the_folder_itself(tmp_path, models, monkeypatch):
    """A mount point (a Docker volume) cannot be renamed: only files inside the folder are."""
    folder = tmp_path / "mount"
    models[0].save_pretrained(folder, max_shard_size=SHARD)
    renames = []
    for name in ("rename", "replace"):
        original = getattr(os, name)

        def wrapped(src, dst, *args, _original=original, **kwargs):
            renames.append((os.fspath(src), os.fspath(dst)))
            if os.path.isdir(src):
                raise OSError(16, "Device or resource busy", src)
            return _original(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, name, wrapped)
    models[1].save_pretrained(folder, max_shard_size=SHARD)
    monkeypatch.undo()
    assert renames and all(os.path.dirname(os.path.abspath(p)) == str(folder) for pair in renames for p in pair)
    assert _which(folder, models) == 1


_MOUNTED_SAVE = """
import os, torch
from leanformers.models.bert import BertConfig, BertModel
config = BertConfig(**{config!r})
models = []
for seed in (0, 1):
    torch.manual_seed(seed)
    models.append(BertModel(config))
models[0].save_pretrained({mount!r}, max_shard_size=20_000)
models[1].save_pretrained({mount!r})
os.chdir({mount!r})
models[0].save_pretrained(".", max_shard_size=20_000)
loaded = BertModel.from_pretrained({mount!r}).state_dict()
assert all(torch.equal(loaded[k], v) for k, v in models[0].state_dict().items())
print("saved into the mount point:", sorted(os.listdir(".")))
"""


def test_save_into_a_real_mount_point(tmp_path):
    """A tmpfs mounted on the target folder (as a Docker volume is), in a private mount namespace."""
    mount = tmp_path / "volume"
    mount.mkdir()
    probe = ["unshare", "-rm", "sh", "-c", f'mount -t tmpfs none "{mount}"']
    try:
        if subprocess.run(probe, capture_output=True, timeout=30).returncode != 0:
            pytest.skip("cannot mount here (needs unshare with user and mount namespaces)")
    except FileNotFoundError:
        pytest.skip("no unshare command")
    script = _MOUNTED_SAVE.format(config=CONFIG, mount=str(mount))
    command = ["unshare", "-rm", "sh", "-c", f'mount -t tmpfs none "{mount}" && exec "$0" -c "$1"',
               sys.executable, script]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "saved into the mount point: ['config.json', 'model-00001-of-00005.safetensors'" in done.stdout
    assert os.listdir(mount) == []  # it was written on the mount, not under it


def test_save_into_a_symlink_to_a_folder_keeps_the_link(tmp_path, models):
    real = tmp_path / "real"
    models[0].save_pretrained(real)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    models[1].save_pretrained(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert _which(real, models) == 1 and _which(link, models) == 1
    assert sorted(os.listdir(tmp_path)) == ["link", "real"]


def test_save_to_root_writes_only_its_own_files(models, monkeypatch):
    """save_pretrained("/") writes config.json and model.safetensors there (the user asked for it)
    and copies or moves nothing. The writer is replaced by a recorder so the test writes nothing."""
    written = []
    monkeypatch.setattr(configuration, "write_file_atomic", lambda path, write: written.append(os.fspath(path)))
    monkeypatch.setattr(W, "write_file_atomic", lambda path, write: written.append(os.fspath(path)))

    def forbidden(*args, **kwargs):
        raise AssertionError(f"save_pretrained('/') must not copy, move or delete {args}")

    for module, name in ((shutil, "copytree"), (shutil, "copy2"), (shutil, "rmtree"), (shutil, "move"),
                         (os, "rename"), (os, "replace"), (os, "remove"), (os, "unlink"), (os, "rmdir")):
        monkeypatch.setattr(module, name, forbidden)
    models[0].save_pretrained("/")
    assert sorted(written) == ["/config.json", "/model.safetensors"]


def test_written_files_get_the_umask_mode(tmp_path, models):
    mask = os.umask(0o022)
    try:
        models[0].save_pretrained(tmp_path / "m", max_shard_size=SHARD)
    finally:
        os.umask(mask)
    for name in os.listdir(tmp_path / "m"):
        assert os.stat(tmp_path / "m" / name).st_mode & 0o777 == 0o644, name


def test_unknown_save_option_is_an_error(tmp_path, models):
    with pytest.raises(TypeError, match="not_an_option"):
        models[0].save_pretrained(tmp_path, not_an_option=1)
    with pytest.raises(TypeError, match="push_to_hub=True"):
        models[0].save_pretrained(tmp_path, commit_message="x")


# ---- variants ------------------------------------------------------------------------------------
def test_variant_file_names_match_the_reference_and_load_both_ways(tmp_path, models):
    import transformers

    ours = models[0]
    ours.save_pretrained(tmp_path / "ours", variant="fp16", max_shard_size=SHARD)
    ref = transformers.BertModel.from_pretrained(tmp_path / "ours", variant="fp16")
    ref.save_pretrained(tmp_path / "ref", variant="fp16", max_shard_size=SHARD)
    assert sorted(os.listdir(tmp_path / "ours")) == sorted(os.listdir(tmp_path / "ref"))
    assert "model.safetensors.index.fp16.json" in os.listdir(tmp_path / "ours")
    again = BertModel.from_pretrained(tmp_path / "ref", variant="fp16")
    assert all(torch.equal(again.state_dict()[k], v) for k, v in ours.state_dict().items())
    with pytest.raises(OSError, match="leave out variant='bf16'"):
        BertModel.from_pretrained(tmp_path / "ours", variant="bf16")
    with pytest.raises(ValueError, match="variant must be"):
        BertModel.from_pretrained(tmp_path / "ours", variant="../x")


def test_variant_save_loads_only_with_the_variant(tmp_path, models):
    models[0].save_pretrained(tmp_path)
    models[1].save_pretrained(tmp_path, variant="v2")
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors", "model.v2.safetensors"]
    assert _which(tmp_path, models) == 0
    loaded = BertModel.from_pretrained(tmp_path, variant="v2")
    assert torch.equal(loaded.embeddings.word_embeddings.weight, models[1].embeddings.word_embeddings.weight)


# ---- one writer for tokenizer and Trainer files ---------------------------------------------------
def test_tokenizer_and_trainer_files_go_through_the_atomic_writer(tmp_path, monkeypatch):
    from leanformers.training import Trainer, TrainingArguments
    from tokenizers import Tokenizer, models as tok_models, pre_tokenizers

    from leanformers.tokenization import PreTrainedTokenizerFast

    raw = Tokenizer(tok_models.WordLevel({"[UNK]": 0, "a": 1, "b": 2, "[PAD]": 3}, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.save(str(tmp_path / "tokenizer.json"))
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"), unk_token="[UNK]",
                                        pad_token="[PAD]")
    written = []
    original = configuration.write_file_atomic

    def recording(path, write):
        written.append(os.path.basename(path))
        return original(path, write)

    monkeypatch.setattr(configuration, "write_file_atomic", recording)
    monkeypatch.setattr(W, "write_file_atomic", recording)
    model = _model(0)
    rows = [{"input_ids": [1, 2, 1], "attention_mask": [1, 1, 1]}] * 4

    class _Loss(torch.nn.Module):  # BertModel has no loss; give the Trainer one
        def __init__(self, body):
            super().__init__()
            self.body = body

        def forward(self, input_ids, attention_mask=None, labels=None):
            out = self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return {"loss": out.pow(2).mean()}

    args = TrainingArguments(output_dir=str(tmp_path / "out"), max_steps=1, save_steps=1, report_to=[],
                             per_device_train_batch_size=2, use_cpu=True)
    Trainer(model=_Loss(model), args=args, train_dataset=rows, processing_class=tokenizer).train()
    checkpoint = sorted(os.listdir(tmp_path / "out" / "checkpoint-1"))
    assert {n for n in checkpoint if not n.startswith(".")} <= set(written), (checkpoint, written)
    assert {"optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json", "training_args.json",
            "tokenizer.json", "model.safetensors"} <= set(checkpoint)
    assert json.loads((tmp_path / "out" / "checkpoint-1" / "trainer_state.json").read_text())["global_step"] == 1
