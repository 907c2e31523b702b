"""Core behaviour the model files rely on, tested on toy modules (no model file needed)."""

import torch
from torch import nn

from leanformers.configuration import PretrainedConfig
from leanformers.modeling import PreTrainedModel


class _TiedBiasConfig(PretrainedConfig):
    model_type = "tied-bias-test"

    def __init__(self, vocab_size=10, hidden_size=4, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        super().__init__(**kwargs)


class _Head(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))


class _TiedBiasModel(PreTrainedModel):
    """BERT's MLM-head shape: decoder.weight tied to the embeddings, decoder.bias *is* head.bias."""

    config_class = _TiedBiasConfig
    _tied_weights_keys = {"head.decoder.weight": "emb.weight", "head.decoder.bias": "head.bias"}

    def __init__(self, config):
        super().__init__(config)
        self.emb = nn.Embedding(config.vocab_size, config.hidden_size)
        self.head = _Head(config)
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, _Head):
            module.bias.data.zero_()

    def get_input_embeddings(self):
        return self.emb

    def set_input_embeddings(self, value):
        self.emb = value

    def get_output_embeddings(self):
        return self.head.decoder

    def forward(self, ids):
        return self.head.decoder(self.emb(ids))


def test_resize_keeps_a_tied_bias_tied_and_resized():
    model = _TiedBiasModel(_TiedBiasConfig())
    with torch.no_grad():
        model.head.bias.copy_(torch.arange(10.0))
    ids = torch.tensor([[1, 2, 3]])
    before = model(ids)
    model.resize_token_embeddings(13)
    assert model.head.bias.shape == (13,)
    assert model.head.decoder.bias is model.head.bias  # still one tensor
    assert model.head.decoder.weight is model.emb.weight
    assert torch.equal(model.head.bias[:10], torch.arange(10.0))
    assert torch.equal(model.head.bias[10:], torch.zeros(3))
    assert torch.allclose(model(ids)[..., :10], before)
    assert model(ids).shape[-1] == 13


def test_config_to_dict_keeps_int_label_ids_and_json_strings(tmp_path):
    import json

    config = _TiedBiasConfig(id2label={"0": "NEG", "1": "POS"})
    assert config.to_dict()["id2label"] == {0: "NEG", 1: "POS"}  # the reference's to_dict()
    assert config.to_dict()["label2id"] == {"NEG": 0, "POS": 1}
    config.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["id2label"] == {"0": "NEG", "1": "POS"}
    assert _TiedBiasConfig.from_dict(config.to_dict()) == config


class _TiedBiasBody(PreTrainedModel):
    config_class = _TiedBiasConfig

    def __init__(self, config):
        super().__init__(config)
        self.emb = nn.Embedding(config.vocab_size, config.hidden_size)
        self.post_init()


def test_new_head_with_tied_weight_keeps_the_loaded_embedding(tmp_path):
    """Loading a body checkpoint into an MLM-style head: the decoder module is initialised for its new
    bias, but its weight is the loaded embedding and must stay the checkpoint's."""
    body = _TiedBiasBody(_TiedBiasConfig())
    body.save_pretrained(tmp_path)
    model, info = _TiedBiasModel.from_pretrained(tmp_path, output_loading_info=True)
    assert torch.equal(model.emb.weight, body.emb.weight)
    assert model.head.decoder.weight is model.emb.weight
    assert model.head.decoder.bias is model.head.bias and torch.equal(model.head.bias, torch.zeros(10))
    assert info["missing_keys"] == ["head.bias"]
