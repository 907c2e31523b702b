"""ModernBERT (Warner et al., 2024): a pre-norm encoder with RoPE, GeGLU and alternating attention.

Layers alternate between global attention (``full_attention``: every token, RoPE base
``rope_parameters["full_attention"]["rope_theta"]``, 160 000 in the checkpoints) and local attention
(``sliding_attention``: tokens at most ``local_attention // 2`` positions away, base 10 000), one global
layer every ``global_attn_every_n_layers``. There are no absolute positions and no token types; the
first layer has no attention norm (its input is the normed embeddings). The reference unpads inputs
only for flash attention; here, as in its SDPA/eager path, padded batches are computed with masks (the
logits are the same). The last hidden state is the final norm's output, and so is the last entry of
``hidden_states``. Module names mirror the checkpoint keys (``model.*``, ``head.*``, ``decoder``,
``classifier``): loading is an identity map.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..configuration import PretrainedConfig
from ..layers import ACT2FN, check_input_ids, classification_loss, sdpa_attention, span_loss
from ..modeling import PreTrainedModel
from ..outputs import (BaseModelOutput, MaskedLMOutput, MultipleChoiceModelOutput, QuestionAnsweringModelOutput,
                       SequenceClassifierOutput, TokenClassifierOutput)

__all__ = [
    "ModernBertConfig", "ModernBertPreTrainedModel", "ModernBertModel", "ModernBertForMaskedLM",
    "ModernBertForSequenceClassification", "ModernBertForTokenClassification", "ModernBertForQuestionAnswering",
    "ModernBertForMultipleChoice",
]

DEFAULT_THETA = {"full_attention": 160000.0, "sliding_attention": 10000.0}


class ModernBertConfig(PretrainedConfig):
    model_type = "modernbert"

    def __init__(self, vocab_size=50368, hidden_size=768, intermediate_size=1152, num_hidden_layers=22,
                 num_attention_heads=12, hidden_activation="gelu", max_position_embeddings=8192,
                 initializer_range=0.02, initializer_cutoff_factor=2.0, norm_eps=1e-5, norm_bias=False,
                 pad_token_id=50283, eos_token_id=50282, bos_token_id=50281, cls_token_id=50281,
                 sep_token_id=50282, attention_bias=False, attention_dropout=0.0, layer_types=None,
                 rope_parameters=None, local_attention=128, embedding_dropout=0.0, mlp_bias=False,
                 mlp_dropout=0.0, decoder_bias=True, classifier_pooling="cls", classifier_dropout=0.0,
                 classifier_bias=False, classifier_activation="gelu", deterministic_flash_attn=False,
                 sparse_prediction=False, sparse_pred_ignore_index=-100, tie_word_embeddings=True, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.hidden_activation = hidden_activation
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.initializer_cutoff_factor = initializer_cutoff_factor
        self.norm_eps = norm_eps
        self.norm_bias = norm_bias
        self.pad_token_id = pad_token_id
        self.eos_token_id = eos_token_id
        self.bos_token_id = bos_token_id
        self.cls_token_id = cls_token_id
        self.sep_token_id = sep_token_id
        self.attention_bias = attention_bias
        self.attention_dropout = attention_dropout
        if layer_types is None:  # checkpoints give global_attn_every_n_layers (kept in the config, as there)
            every = kwargs.get("global_attn_every_n_layers", 3)
            layer_types = ["sliding_attention" if i % every else "full_attention" for i in range(num_hidden_layers)]
        self.layer_types = layer_types
        # one RoPE setting per layer type; older configs give global_rope_theta / local_rope_theta
        rope_parameters = copy.deepcopy(rope_parameters) if rope_parameters is not None else {}
        rope_scaling = kwargs.pop("rope_scaling", None)
        for layer_type, theta_key in (("full_attention", "global_rope_theta"), ("sliding_attention", "local_rope_theta")):
            params = rope_parameters.get(layer_type) or {"rope_type": "default"}
            if rope_scaling is not None:
                params.update(rope_scaling)
            params.setdefault("rope_theta", kwargs.pop(theta_key, DEFAULT_THETA[layer_type]))
            rope_parameters[layer_type] = params
        self.rope_parameters = rope_parameters
        self.local_attention = local_attention
        self.embedding_dropout = embedding_dropout
        self.mlp_bias = mlp_bias
        self.mlp_dropout = mlp_dropout
        self.decoder_bias = decoder_bias
        self.classifier_pooling = classifier_pooling
        self.classifier_dropout = classifier_dropout
        self.classifier_bias = classifier_bias
        self.classifier_activation = classifier_activation
        self.deterministic_flash_attn = deterministic_flash_attn
        self.sparse_prediction = sparse_prediction
        self.sparse_pred_ignore_index = sparse_pred_ignore_index
        self.tie_word_embeddings = tie_word_embeddings
        kwargs.pop("reference_compile", None)  # a torch.compile switch of the reference, not saved by it
        super().__init__(**kwargs)

    @property
    def sliding_window(self) -> int:
        """How far a local layer sees on each side (``local_attention`` is the whole window)."""
        return self.local_attention // 2


def _check_config(config):
    """Fail at construction, with a fix, on configs this implementation does not cover."""
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(f"hidden_size ({config.hidden_size}) must be a multiple of num_attention_heads "
                         f"({config.num_attention_heads}).")
    for layer_type in set(config.layer_types):
        if layer_type not in ("full_attention", "sliding_attention"):
            raise ValueError(f"layer_types holds {layer_type!r}: ModernBERT layers are 'full_attention' or "
                             f"'sliding_attention'.")
        kind = config.rope_parameters[layer_type].get("rope_type", "default")
        if kind != "default":
            raise ValueError(f"rope_type {kind!r} for {layer_type} is not supported for ModernBERT (its "
                             f"checkpoints use 'default'); remove the RoPE scaling from config.json.")
    if config.classifier_pooling not in ("cls", "mean"):
        raise ValueError(f"classifier_pooling={config.classifier_pooling!r}: use 'cls' or 'mean'.")


# ---------------------------------------------------------------------------------------------
# layers


class ModernBertEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.tok_embeddings = _role(nn.Embedding(config.vocab_size, config.hidden_size,
                                                padding_idx=config.pad_token_id), "in")
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.norm_eps, bias=config.norm_bias)
        self.drop = nn.Dropout(config.embedding_dropout)

    def forward(self, input_ids=None, inputs_embeds=None):
        return self.drop(self.norm(self.tok_embeddings(input_ids) if inputs_embeds is None else inputs_embeds))


class ModernBertRotaryEmbedding(nn.Module):
    """cos/sin per layer type (each has its own base)."""

    def __init__(self, config):
        super().__init__()
        self.layer_types = sorted(set(config.layer_types))
        dim = config.hidden_size // config.num_attention_heads
        for layer_type in self.layer_types:
            base = config.rope_parameters[layer_type]["rope_theta"]
            inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
            self.register_buffer(f"{layer_type}_inv_freq", inv_freq, persistent=False)

    def forward(self, x, position_ids, layer_type):
        inv_freq = getattr(self, f"{layer_type}_inv_freq").to(device=x.device, dtype=torch.float)
        freqs = position_ids[..., None].float() * inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _role(layer, role: str):
    """Tag a layer with its init role (see ModernBertPreTrainedModel._init_weights)."""
    layer._init_role = role
    return layer


def apply_rotary(x, cos, sin):
    """RoPE on (batch, heads, seq, head_dim), computed in float32 as the reference does."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return ((x.float() * cos) + (_rotate_half(x.float()) * sin)).to(x.dtype)


class ModernBertMLP(nn.Module):
    """GeGLU: Wi gives input and gate halves, act(input) * gate, then Wo."""

    def __init__(self, config):
        super().__init__()
        self.Wi = _role(nn.Linear(config.hidden_size, int(config.intermediate_size) * 2, bias=config.mlp_bias), "in")
        self.act = ACT2FN[config.hidden_activation]
        self.drop = nn.Dropout(config.mlp_dropout)
        self.Wo = _role(nn.Linear(config.intermediate_size, config.hidden_size, bias=config.mlp_bias), "out")

    def forward(self, hidden_states):
        inputs, gate = self.Wi(hidden_states).chunk(2, dim=-1)
        return self.Wo(self.drop(self.act(inputs) * gate))


class ModernBertAttention(nn.Module):
    def __init__(self, config, layer_idx):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.Wqkv = _role(nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.attention_bias), "in")
        self.Wo = _role(nn.Linear(config.hidden_size, config.hidden_size, bias=config.attention_bias), "out")
        self.attention_dropout = config.attention_dropout
        self.out_drop = nn.Dropout(config.attention_dropout) if config.attention_dropout > 0.0 else nn.Identity()

    def forward(self, hidden_states, position_embeddings, mask=None, output_attentions=False):
        batch, seq_len, _ = hidden_states.shape
        qkv = self.Wqkv(hidden_states).view(batch, seq_len, 3, self.num_heads, self.head_dim)
        query, key, value = (t.transpose(1, 2) for t in qkv.unbind(dim=2))
        cos, sin = position_embeddings
        query, key = apply_rotary(query, cos, sin), apply_rotary(key, cos, sin)
        context, weights = sdpa_attention(query, key, value, mask, scale=self.head_dim ** -0.5,
                                          dropout=self.attention_dropout if self.training else 0.0,
                                          need_weights=output_attentions)
        return self.out_drop(self.Wo(context.transpose(1, 2).reshape(batch, seq_len, -1))), weights


class ModernBertEncoderLayer(nn.Module):
    def __init__(self, config, layer_idx):
        super().__init__()
        # the first layer's input is the normed embeddings: no second norm
        self.attn_norm = (nn.Identity() if layer_idx == 0 else
                          nn.LayerNorm(config.hidden_size, eps=config.norm_eps, bias=config.norm_bias))
        self.attn = ModernBertAttention(config, layer_idx)
        self.mlp_norm = nn.LayerNorm(config.hidden_size, eps=config.norm_eps, bias=config.norm_bias)
        self.mlp = ModernBertMLP(config)
        self.attention_type = config.layer_types[layer_idx]

    def forward(self, hidden_states, position_embeddings, mask=None, output_attentions=False):
        attn_output, weights = self.attn(self.attn_norm(hidden_states), position_embeddings, mask, output_attentions)
        hidden_states = hidden_states + attn_output
        return hidden_states + self.mlp(self.mlp_norm(hidden_states)), weights


class ModernBertPredictionHead(nn.Module):
    """dense -> classifier_activation -> norm, before the vocabulary projection or a classifier."""

    def __init__(self, config):
        super().__init__()
        self.dense = _role(nn.Linear(config.hidden_size, config.hidden_size, config.classifier_bias), "out")
        self.act = ACT2FN[config.classifier_activation]
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.norm_eps, bias=config.norm_bias)

    def forward(self, hidden_states):
        return self.norm(self.act(self.dense(hidden_states)))


# ---------------------------------------------------------------------------------------------
# models


class ModernBertPreTrainedModel(PreTrainedModel):
    config_class = ModernBertConfig
    base_model_prefix = "model"

    def _init_weights(self, module):
        """The reference's truncated normals, cut at initializer_cutoff_factor std: "in" projections and
        embeddings std initializer_range, "out" ones scaled down by sqrt(2 * layers), classifiers
        hidden_size ** -0.5. Each layer carries its role (``_init_role``), so a layer initialised alone
        (a head new to the checkpoint) gets the same draw as in a whole model."""
        super()._init_weights(module)
        role = getattr(module, "_init_role", None)
        if role is None:
            return
        config = self.config
        cutoff = config.initializer_cutoff_factor if config.initializer_cutoff_factor is not None else 3
        std = {"in": config.initializer_range,
               "out": config.initializer_range / math.sqrt(2.0 * config.num_hidden_layers),
               "final_out": config.hidden_size ** -0.5}[role]
        nn.init.trunc_normal_(module.weight, mean=0.0, std=std, a=-cutoff * std, b=cutoff * std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def _outputs(self, output_attentions, output_hidden_states, return_dict):
        """Call-time flags, falling back to the config's, as the reference does."""
        config = self.config
        return (config.output_attentions if output_attentions is None else output_attentions,
                config.output_hidden_states if output_hidden_states is None else output_hidden_states,
                config.use_return_dict if return_dict is None else return_dict)


class ModernBertModel(ModernBertPreTrainedModel):
    def __init__(self, config: ModernBertConfig):
        super().__init__(config)
        _check_config(config)
        self.embeddings = ModernBertEmbeddings(config)
        self.layers = nn.ModuleList(ModernBertEncoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.norm_eps, bias=config.norm_bias)
        self.rotary_emb = ModernBertRotaryEmbedding(config)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.tok_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.tok_embeddings = value

    def _masks(self, attention_mask, batch, seq_len, device):
        """{layer type: additive (batch or 1, 1, seq or 1, seq) mask or None}: padding for both, plus
        the +-sliding_window band for the local layers."""
        padding = None
        if attention_mask is not None:
            if attention_mask.shape != (batch, seq_len):
                raise ValueError(f"attention_mask must have shape (batch_size, sequence_length) = "
                                 f"{(batch, seq_len)}, got {tuple(attention_mask.shape)}.")
            if not bool(attention_mask.all()):
                padding = attention_mask.bool()[:, None, None, :]
        positions = torch.arange(seq_len, device=device)
        band = ((positions[None, :] - positions[:, None]).abs() <= self.config.sliding_window)[None, None]
        local = band if padding is None else band & padding
        masks = {"full_attention": padding,
                 "sliding_attention": None if bool(band.all()) and padding is None else local}
        # Additive, as the reference's: a padded query far from every real token has no key left, and
        # its row must come out uniform over all keys (a boolean all-False row does not, in SDPA).
        dtype = self.embeddings.norm.weight.dtype
        return {kind: None if mask is None else
                torch.zeros(mask.shape, dtype=dtype, device=device).masked_fill(~mask, torch.finfo(dtype).min)
                for kind, mask in masks.items()}

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        check_input_ids(input_ids, inputs_embeds)
        if kwargs.get("token_type_ids") is not None:
            raise ValueError("ModernBERT has no token type embeddings: drop token_type_ids.")
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        batch, seq_len = input_ids.shape if input_ids is not None else inputs_embeds.shape[:2]
        device = input_ids.device if input_ids is not None else inputs_embeds.device
        if position_ids is None:
            position_ids = torch.arange(seq_len, device=device).unsqueeze(0)
        hidden = self.embeddings(input_ids, inputs_embeds)
        masks = self._masks(attention_mask, batch, seq_len, device)
        rope = {t: self.rotary_emb(hidden, position_ids, t) for t in set(self.config.layer_types)}
        all_hidden = (hidden,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            args = (hidden, rope[layer.attention_type], masks[layer.attention_type], output_attentions)
            if self.gradient_checkpointing and self.training:
                from torch.utils.checkpoint import checkpoint

                hidden, weights = checkpoint(layer, *args, use_reentrant=False)
            else:
                hidden, weights = layer(*args)
            if output_hidden_states:
                all_hidden += (hidden,)
            if output_attentions:
                all_attentions += (weights,)
        hidden = self.final_norm(hidden)
        if output_hidden_states:  # the reference reports the normed output as the last hidden state
            all_hidden = all_hidden[:-1] + (hidden,)
        out = BaseModelOutput(last_hidden_state=hidden, hidden_states=all_hidden, attentions=all_attentions)
        return out if return_dict else out.to_tuple()


def _body_kwargs(input_ids, attention_mask, position_ids, inputs_embeds, output_attentions, output_hidden_states,
                 kwargs):
    return dict(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                output_hidden_states=output_hidden_states, return_dict=True,
                token_type_ids=kwargs.get("token_type_ids"))


def _finish(output_cls, return_dict, body, **fields):
    out = output_cls(**fields, hidden_states=body.hidden_states, attentions=body.attentions)
    return out if return_dict else out.to_tuple()


def _pool(config, hidden, attention_mask):
    """The first token ("cls") or the mean over real tokens ("mean")."""
    if config.classifier_pooling == "cls":
        return hidden[:, 0]
    if attention_mask is None:
        attention_mask = torch.ones(hidden.shape[:2], device=hidden.device, dtype=torch.bool)
    return (hidden * attention_mask.unsqueeze(-1)).sum(dim=1) / attention_mask.sum(dim=1, keepdim=True)


class ModernBertForMaskedLM(ModernBertPreTrainedModel):
    """With ``sparse_prediction`` and labels, logits are computed only for the labelled tokens (a
    (num_labelled, vocab) tensor), as in the reference."""

    _tied_weights_keys = {"decoder.weight": "model.embeddings.tok_embeddings.weight"}

    def __init__(self, config: ModernBertConfig):
        super().__init__(config)
        self.model = ModernBertModel(config)
        self.head = ModernBertPredictionHead(config)
        self.decoder = _role(nn.Linear(config.hidden_size, config.vocab_size, bias=config.decoder_bias), "out")
        self.post_init()

    def get_output_embeddings(self):
        return self.decoder

    def set_output_embeddings(self, new_embeddings):
        self.decoder = new_embeddings

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.model(**_body_kwargs(input_ids, attention_mask, position_ids, inputs_embeds,
                                         output_attentions, output_hidden_states, kwargs))
        hidden = body.last_hidden_state
        if self.config.sparse_prediction and labels is not None:
            labels = labels.view(-1)
            keep = labels != self.config.sparse_pred_ignore_index
            hidden, labels = hidden.reshape(labels.shape[0], -1)[keep], labels[keep]
        logits = self.decoder(self.head(hidden))
        loss = None
        if labels is not None:  # -100 marks the tokens that are not predicted
            loss = F.cross_entropy(logits.float().view(-1, self.config.vocab_size),
                                   labels.to(logits.device).view(-1), ignore_index=-100)
        return _finish(MaskedLMOutput, return_dict, body, loss=loss, logits=logits)


class ModernBertForSequenceClassification(ModernBertPreTrainedModel):
    def __init__(self, config: ModernBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = ModernBertModel(config)
        self.head = ModernBertPredictionHead(config)
        self.drop = nn.Dropout(config.classifier_dropout)
        self.classifier = _role(nn.Linear(config.hidden_size, config.num_labels), "final_out")
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.model(**_body_kwargs(input_ids, attention_mask, position_ids, inputs_embeds,
                                         output_attentions, output_hidden_states, kwargs))
        pooled = _pool(self.config, body.last_hidden_state, attention_mask)
        logits = self.classifier(self.drop(self.head(pooled)))
        loss = classification_loss(logits, labels, self.config) if labels is not None else None
        return _finish(SequenceClassifierOutput, return_dict, body, loss=loss, logits=logits)


class ModernBertForTokenClassification(ModernBertPreTrainedModel):
    def __init__(self, config: ModernBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = ModernBertModel(config)
        self.head = ModernBertPredictionHead(config)
        self.drop = nn.Dropout(config.classifier_dropout)
        self.classifier = _role(nn.Linear(config.hidden_size, config.num_labels), "final_out")
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.model(**_body_kwargs(input_ids, attention_mask, position_ids, inputs_embeds,
                                         output_attentions, output_hidden_states, kwargs))
        logits = self.classifier(self.drop(self.head(body.last_hidden_state)))
        loss = None
        if labels is not None:  # -100 marks sub-word and special tokens
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        return _finish(TokenClassifierOutput, return_dict, body, loss=loss, logits=logits)


class ModernBertForQuestionAnswering(ModernBertPreTrainedModel):
    def __init__(self, config: ModernBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = ModernBertModel(config)
        self.head = ModernBertPredictionHead(config)
        self.drop = nn.Dropout(config.classifier_dropout)
        self.classifier = _role(nn.Linear(config.hidden_size, config.num_labels), "final_out")
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None,
                start_positions=None, end_positions=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.model(**_body_kwargs(input_ids, attention_mask, position_ids, inputs_embeds,
                                         output_attentions, output_hidden_states, kwargs))
        logits = self.classifier(self.drop(self.head(body.last_hidden_state)))
        start_logits, end_logits = logits.split(1, dim=-1)
        start_logits = start_logits.squeeze(-1).contiguous()
        end_logits = end_logits.squeeze(-1).contiguous()
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        return _finish(QuestionAnsweringModelOutput, return_dict, body, loss=loss,
                       start_logits=start_logits, end_logits=end_logits)


def _flatten_choices(name, tensor, trailing):
    """(batch, num_choices, seq[, hidden]) -> (batch * num_choices, seq[, hidden])."""
    if tensor is None:
        return None
    if tensor.dim() != 2 + trailing:
        raise ValueError(f"Multiple-choice models take {name} of shape (batch_size, num_choices, "
                         f"sequence_length{', hidden_size' if trailing == 2 else ''}), got "
                         f"{tuple(tensor.shape)}. Tokenize each choice and stack them along dim 1.")
    return tensor.reshape(-1, *tensor.shape[2:])


class ModernBertForMultipleChoice(ModernBertPreTrainedModel):
    def __init__(self, config: ModernBertConfig):
        super().__init__(config)
        self.model = ModernBertModel(config)
        self.head = ModernBertPredictionHead(config)
        self.drop = nn.Dropout(config.classifier_dropout)
        self.classifier = _role(nn.Linear(config.hidden_size, 1), "final_out")
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        attention_mask = _flatten_choices("attention_mask", attention_mask, 1)
        body = self.model(**_body_kwargs(
            _flatten_choices("input_ids", input_ids, 1), attention_mask,
            _flatten_choices("position_ids", position_ids, 1), _flatten_choices("inputs_embeds", inputs_embeds, 2),
            output_attentions, output_hidden_states, kwargs))
        hidden = body.last_hidden_state
        if self.config.classifier_pooling == "cls":  # the first real token (left padding too)
            first = attention_mask.argmax(dim=-1) if attention_mask is not None else 0
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), first]
        else:
            pooled = (hidden * attention_mask.unsqueeze(-1)).sum(dim=1) / attention_mask.sum(dim=1, keepdim=True)
        logits = self.classifier(self.drop(self.head(pooled))).view(-1, num_choices)
        loss = F.cross_entropy(logits, labels.to(logits.device)) if labels is not None else None
        return _finish(MultipleChoiceModelOutput, return_dict, body, loss=loss, logits=logits)


TASKS = {
    "base": ModernBertModel,
    "masked-lm": ModernBertForMaskedLM,
    "sequence-classification": ModernBertForSequenceClassification,
    "multiple-choice": ModernBertForMultipleChoice,
    "token-classification": ModernBertForTokenClassification,
    "question-answering": ModernBertForQuestionAnswering,
}
