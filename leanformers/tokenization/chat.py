"""Chat templates: render a conversation with the tokenizer's Jinja template, like the reference.

Templates come from the Hub, so they are untrusted code: they run in jinja2's
ImmutableSandboxedEnvironment, with the same helpers the reference exposes (`raise_exception`,
`strftime_now`, a `tojson` that does not HTML-escape, `dict`, and a `namespace` that refuses
underscore names).

The sandbox keeps a template from reaching Python internals, not from exhausting the machine
(`'a' * 10**8 * 30` builds 3 GB): rendering is also bounded (see `_Budget`), in characters (every
string, list and the text rendered) and in loop iterations, with an error naming the limit.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import operator
import re
from datetime import datetime

logger = logging.getLogger(__name__)

_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")
_GENERATION_TAG = re.compile(r"\{\%-?\s*generation\s*-?\%\}")
# While a conversation renders with return_assistant_tokens_mask: (text length so far, spans found).
_generation_spans = contextvars.ContextVar("generation_spans", default=None)

# Bounds of one render. A render may also produce up to 8x the characters of its inputs (messages,
# tools, documents), so large real conversations are never refused; raise these for a template
# that really needs more.
MAX_RENDERED_CHARS = 10_000_000
MAX_LOOP_ITERATIONS = 5_000_000
_MAX_INT_BITS = 1 << 20  # integers beyond a million bits (`10 ** 10 ** 10`) take minutes to compute
_budget = contextvars.ContextVar("chat_template_budget", default=None)
_BINOPS = {"+": operator.add, "*": operator.mul, "%": operator.mod, "**": operator.pow}


class _Budget:
    """The limits of the render in progress; loop iterations are counted across the whole render."""

    __slots__ = ("max_chars", "loops_left")

    def __init__(self, input_chars: int = 0):
        self.max_chars = max(MAX_RENDERED_CHARS, 8 * input_chars)
        self.loops_left = MAX_LOOP_ITERATIONS


def _current_budget() -> _Budget:
    return _budget.get() or _Budget()


def _too_large(what: str, size: int, limit: int):
    from jinja2.exceptions import SecurityError

    return SecurityError(
        f"chat template stopped: {what} would hold {size:,} characters or items, more than the "
        f"{limit:,} one render may produce (leanformers.tokenization.chat.MAX_RENDERED_CHARS, or 8x the size of "
        "the messages, tools and documents passed in). Fix the template, or raise that limit if it really needs more."
    )


def _check_size(value, what: str):
    """`value` itself, after checking that it is not a string or sequence over the budget."""
    if isinstance(value, (str, list, tuple)):
        limit = _current_budget().max_chars
        if len(value) > limit:
            raise _too_large(what, len(value), limit)
    elif isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise _int_too_large(what, value.bit_length())
    return value


def _int_too_large(what: str, bits: int):
    from jinja2.exceptions import SecurityError

    return SecurityError(f"chat template stopped: {what} would give an integer of {bits:,} bits (at most "
                         f"{_MAX_INT_BITS:,} are allowed, as computing larger ones can take minutes)")


def _size_of(value) -> int:
    """Characters in the strings of `value` (messages, tools, ...), to scale the budget to the input."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_size_of(k) + _size_of(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return sum(map(_size_of, value))
    return 0


# string methods and filters whose int arguments are widths of the result
_WIDTH_ARGUMENTS = frozenset(("ljust", "rjust", "center", "zfill", "expandtabs", "indent", "wordwrap", "format", "%"))


def _precheck(name: str, receiver, args, kwargs) -> None:
    """Refuse, before computing it, a string operation whose result would exceed the budget: a width
    or count argument over the limit (ljust, center, zfill, indent, ...), a format field that wide,
    and joins / replacements whose result length is known in advance."""
    limit = _current_budget().max_chars
    if name in _WIDTH_ARGUMENTS and (isinstance(receiver, str) or name not in ("%", "format")):  # (not x % n)
        for a in (*args, *kwargs.values()):
            if type(a) is int and a > limit:
                raise _too_large(f"{name}({a})", a, limit)
    if isinstance(receiver, str) and name in ("format", "format_map", "%"):
        for digits in re.findall(r"\d+", receiver):
            if len(digits) > 7 and int(digits) > limit:
                raise _too_large(f"a format field of width {digits}", int(digits), limit)
    elif name == "join":
        if isinstance(receiver, str):  # str.join(items)
            items, sep = (args[0] if args else ()), receiver
        else:  # the join filter: items | join(separator)
            items, sep = receiver, (args[0] if args else kwargs.get("d", ""))
        if isinstance(items, (list, tuple)) and isinstance(sep, str):
            size = sum(len(x) if isinstance(x, str) else 1 for x in items) + len(sep) * max(len(items) - 1, 0)
            if size > limit:
                raise _too_large("a join", size, limit)
    elif name == "replace" and isinstance(receiver, str) and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
            size = len(receiver) + (receiver.count(old) if old else len(receiver) + 1) * (len(new) - len(old))
            if size > limit:
                raise _too_large("a replace", size, limit)


def _guard_binop(operator: str, left, right):
    """Arithmetic and concatenation: `*` and `**` are checked before they run (their results can be
    huge from small operands), the rest after (their results are at most the sum of checked inputs)."""
    if operator == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and type(n) is int and len(seq) * n > _current_budget().max_chars:
                raise _too_large("a repetition with '*'", len(seq) * n, _current_budget().max_chars)
        if type(left) is int and type(right) is int and left.bit_length() + right.bit_length() > _MAX_INT_BITS:
            raise _int_too_large("'*'", left.bit_length() + right.bit_length())
    elif operator == "**" and type(left) is int and type(right) is int and right > 0 and abs(left) > 1:
        if right * (left.bit_length() - 1) > _MAX_INT_BITS:
            raise _int_too_large("'**'", right * (left.bit_length() - 1))
    elif operator == "%":
        _precheck("%", left, right if isinstance(right, tuple) else (right,), {})
    return _check_size(_BINOPS[operator](left, right), f"'{operator}'")


class _Counted:
    """A for-loop's iterable, counting each iteration against the render's budget."""

    __slots__ = ("items",)

    def __init__(self, items):
        self.items = items

    def __len__(self):  # (for loop.length; a TypeError makes jinja count the items itself)
        return len(self.items)

    def __iter__(self):
        budget = _current_budget()
        for item in self.items:
            budget.loops_left -= 1
            if budget.loops_left < 0:
                from jinja2.exceptions import SecurityError

                raise SecurityError(
                    f"chat template stopped: its loops ran more than {MAX_LOOP_ITERATIONS:,} iterations "
                    "(leanformers.tokenization.chat.MAX_LOOP_ITERATIONS). Fix the template, or raise that limit."
                )
            yield item


def _concat(parts) -> str:
    """environment.concat (whole renders, macros, {% set %} blocks): stops once the text is too long."""
    limit = _current_budget().max_chars
    out = []
    size = 0
    for part in parts:
        size += len(part)
        if size > limit:
            raise _too_large("the rendered text", size, limit)
        out.append(part)
    return "".join(out)


def _bounded(function, name: str):
    """A filter that refuses oversized arguments and results (keeps jinja's pass_context marks)."""

    skip = 1 if getattr(function, "jinja_pass_arg", None) else 0  # (the context or environment comes first)

    @functools.wraps(function)
    def bounded(*args, **kwargs):
        _precheck(name, args[skip] if len(args) > skip else None, args[skip + 1:], kwargs)
        return _check_size(function(*args, **kwargs), f"the {name} filter")

    return bounded


def _bound_template(env, template: str):
    """Parse `template`, then route every for-loop's iterable and every `~` concatenation through the
    guards (the sandbox has hooks for operators and calls only)."""
    from jinja2 import nodes
    from jinja2.visitor import NodeTransformer

    def guard(name, *args, like):
        call = nodes.Call(nodes.Name(name, "load"), list(args), [], None, None)
        return call.set_lineno(like.lineno).set_environment(env)

    class Guard(NodeTransformer):
        def visit_For(self, node):
            self.generic_visit(node)
            node.iter = guard("__loop_guard", node.iter, like=node)
            return node

        def visit_Concat(self, node):
            self.generic_visit(node)
            return guard("__size_guard", node, nodes.Const("'~'"), like=node)

    return env.from_string(Guard().visit(env.parse(template)))


def _generation_extension():
    """The `{% generation %}...{% endgeneration %}` tag: it renders its body unchanged and, when a render is
    tracking, records the character span of that body (the assistant's own words)."""
    import jinja2.ext
    import jinja2.nodes

    class GenerationTracker(jinja2.ext.Extension):
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_track", []), [], [], body).set_lineno(lineno)

        def _track(self, caller):
            text = caller()
            tracking = _generation_spans.get()
            if tracking is not None:
                start = tracking[0][0]  # everything yielded before this block is already counted
                tracking[1].append((start, start + len(text)))
            return text

    return GenerationTracker


@functools.lru_cache(maxsize=32)
def compile_template(template: str):
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        # jinja's own tojson escapes HTML characters, which would change the prompt text
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    class TemplateDict:
        # dict() inside templates without exposing the dict type itself
        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    class TemplateNamespace(jinja2.utils.Namespace):
        # namespaces refuse underscore names so templates cannot reach interpreter internals
        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                TemplateNamespace._check(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            TemplateNamespace._check(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(
                    f"Chat templates cannot store underscore-prefixed attributes on a namespace, but got {name!r}."
                )

    class BoundedEnvironment(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset(_BINOPS)  # (the ones that can make large strings, lists or ints)

        def call_binop(self, context, operator, left, right):
            return _guard_binop(operator, left, right)

        def wrap_str_format(self, value):
            # str.format / format_map, which the sandbox wraps when the attribute is read
            wrapped = ImmutableSandboxedEnvironment.wrap_str_format(self, value)
            if wrapped is None:
                return None

            @functools.wraps(wrapped)
            def bounded_format(*args, **kwargs):
                _precheck("format", value.__self__, args, kwargs)
                return _check_size(wrapped(*args, **kwargs), "format")

            return bounded_format

        def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (the sandbox's own signature)
            owner = getattr(__obj, "__self__", None)
            if isinstance(owner, (str, list, tuple)):
                _precheck(getattr(__obj, "__name__", ""), owner, args, kwargs)
            return _check_size(ImmutableSandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs),
                               f"calling {getattr(__obj, '__name__', 'a function')}")

    env = BoundedEnvironment(trim_blocks=True, lstrip_blocks=True,
                             extensions=[_generation_extension(), jinja2.ext.loopcontrols])
    env.concat = _concat
    env.filters["tojson"] = tojson
    env.filters = {name: _bounded(f, name) for name, f in env.filters.items()}
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["dict"] = TemplateDict()
    env.globals["namespace"] = TemplateNamespace
    env.globals["__loop_guard"] = _Counted
    env.globals["__size_guard"] = _check_size
    return _bound_template(env, template)


def get_chat_template(tokenizer, chat_template=None, tools=None) -> str:
    """The template text to use: a name among several, the tokenizer's own, or the one passed in."""
    own = tokenizer.chat_template
    if isinstance(own, dict):
        if chat_template is not None and chat_template in own:
            return own[chat_template]
        if chat_template is None:
            if tools is not None and "tool_use" in own:
                return own["tool_use"]
            if "default" in own:
                return own["default"]
            raise ValueError(
                "This model has multiple chat templates with no default specified! Pass a chat template or the "
                f"name of one as `chat_template`. Available template names are {sorted(own)}."
            )
    elif chat_template is None:
        if own is None:
            raise ValueError(
                "Cannot use chat template functions because tokenizer.chat_template is not set and no template "
                "argument was passed! Set tokenizer.chat_template to a Jinja template string, or pass chat_template=."
            )
        return own
    return chat_template


def _plain(value):
    """Message objects (dataclasses, pydantic models) → dicts/lists; a fresh copy the renderer may edit."""
    import dataclasses

    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):
        return _plain(value.model_dump())
    return value


def _alias_reasoning(chat):
    out = []
    for message in chat:
        reasoning = next((message[k] for k in _REASONING_FIELDS if message.get(k) is not None), None)
        if reasoning is not None:
            message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        out.append(message)
    return out


def _render_tracking(compiled, **variables) -> tuple[str, list]:
    """Render block by block, so that a {% generation %} block knows how much text precedes it."""
    length, spans, blocks = [0], [], []
    token = _generation_spans.set((length, spans))
    try:
        limit = _current_budget().max_chars
        for block in compiled.generate(**variables):
            blocks.append(block)
            length[0] += len(block)
            if length[0] > limit:
                raise _too_large("the rendered text", length[0], limit)
    finally:
        _generation_spans.reset(token)
    return "".join(blocks), spans


def render(conversations, template: str, tools=None, documents=None, add_generation_prompt=False,
           continue_final_message=False, generation_spans=None, **kwargs) -> list[str]:
    """The rendered text of each conversation. With `generation_spans` (a list), also append each
    conversation's [(start, end)] character spans of {% generation %} blocks to it."""
    compiled = compile_template(template)
    if tools is not None:
        from inspect import isfunction, ismethod

        for tool in tools:
            if not isinstance(tool, dict):
                kind = "a function" if isfunction(tool) or ismethod(tool) else repr(tool)
                raise ValueError(
                    f"Tools must be JSON schemas (dicts); got {kind}. Describe each tool as a dict with "
                    "'type': 'function' and a 'function' entry (name, description, parameters)."
                )
    if documents is not None:
        for document in documents:
            if not isinstance(document, dict):
                raise TypeError("Documents should be a list of dicts with 'title' and 'text' keys!")
    tools, documents, kwargs = _plain(tools), _plain(documents), _plain(kwargs)
    rendered = []
    for chat in conversations:
        chat = _plain(getattr(chat, "messages", chat))
        for message in chat:
            if not isinstance(message, dict):
                raise TypeError(f"Chat messages should be dicts with 'role' and 'content' keys, but got {message!r}.")
        chat = [{k: v for k, v in m.items() if v is not None} for m in chat]
        chat = _alias_reasoning(chat)
        final_message = None
        if continue_final_message:
            field = continue_final_message if isinstance(continue_final_message, str) else "content"
            final_message = chat[-1].get(field)
            if final_message is None:
                raise ValueError(f'continue_final_message is set but the final message has no "{field}" to continue!')
            if field not in template:
                raise ValueError(
                    f'continue_final_message is set to "{field}" but this is not an accepted field in the chat_template'
                )
            if isinstance(final_message, (list, tuple)):
                for block in reversed(final_message):
                    if "text" in block:
                        final_message = block["text"]
                        block["text"] = block["text"] + _CONTINUE_TAG
                        break
                else:
                    raise ValueError("continue_final_message is set but the final message holds no text to continue!")
            else:
                chat[-1][field] = chat[-1][field] + _CONTINUE_TAG
        variables = dict(messages=chat, tools=tools, documents=documents,
                         add_generation_prompt=add_generation_prompt, **kwargs)
        budget = _budget.set(_Budget(_size_of(variables)))
        try:
            if generation_spans is not None:
                text, spans = _render_tracking(compiled, **variables)
                generation_spans.append(spans)
            else:
                text = compiled.render(**variables)
        finally:
            _budget.reset(budget)
        if continue_final_message:
            if final_message.strip() not in text or _CONTINUE_TAG.strip() not in text:
                raise ValueError(
                    "continue_final_message is set but the final message does not appear in the chat after "
                    "applying the chat template! The template may delete parts of the final message."
                )
            tag_at = text.rindex(_CONTINUE_TAG.strip())
            if text[tag_at: tag_at + len(_CONTINUE_TAG)] == _CONTINUE_TAG:
                text = text[:tag_at]
            else:
                text = text[:tag_at].rstrip()
        rendered.append(text)
    return rendered


def apply_chat_template(tokenizer, conversation, chat_template=None, tools=None, documents=None,
                        add_generation_prompt=False, continue_final_message=False, tokenize=True, padding=False,
                        truncation=False, max_length=None, return_tensors=None, return_dict=True,
                        return_assistant_tokens_mask=False, tokenizer_kwargs=None, **template_kwargs):
    template = get_chat_template(tokenizer, chat_template, tools)
    if return_assistant_tokens_mask:
        if not (return_dict and tokenize):
            raise ValueError("`return_assistant_tokens_mask=True` requires `return_dict=True` and `tokenize=True`")
        if continue_final_message:
            raise ValueError("continue_final_message is not compatible with return_assistant_tokens_mask.")
        if not _GENERATION_TAG.search(template):
            logger.warning("return_assistant_tokens_mask==True but chat template does not contain "
                           "`{% generation %}` keyword.")
    if isinstance(conversation, (list, tuple)) and len(conversation) == 0:
        raise ValueError("Cannot apply chat template to an empty conversation. Provide at least one message.")
    if not isinstance(conversation, (list, tuple)) and not hasattr(conversation, "messages"):
        raise TypeError(
            f"conversation must be a list of {{'role': ..., 'content': ...}} dicts (or a list of such lists), "
            f"got {type(conversation).__name__}"
        )
    is_batched = isinstance(conversation, (list, tuple)) and (
        isinstance(conversation[0], (list, tuple)) or hasattr(conversation[0], "messages"))
    conversations = list(conversation) if is_batched else [conversation]
    if continue_final_message and add_generation_prompt:
        raise ValueError(
            "continue_final_message and add_generation_prompt are not compatible. Use continue_final_message when "
            "you want the model to continue the final message, and add_generation_prompt when you want to add a "
            "header that will prompt it to start a new assistant message instead."
        )
    variables = {**tokenizer.special_tokens_map, **template_kwargs}
    spans = [] if return_assistant_tokens_mask else None
    rendered = render(conversations, template, tools=tools, documents=documents,
                      add_generation_prompt=add_generation_prompt, continue_final_message=continue_final_message,
                      generation_spans=spans, **variables)
    if not is_batched:
        rendered = rendered[0]
    if not tokenize:
        return rendered
    out = tokenizer(rendered, padding=padding, truncation=truncation, max_length=max_length,
                    add_special_tokens=False, return_tensors=return_tensors, **(tokenizer_kwargs or {}))
    if return_assistant_tokens_mask:
        masks = [_assistant_mask(encoding.offsets, row_spans) for encoding, row_spans in zip(out.encodings, spans)]
        out["assistant_masks"] = masks if is_batched or return_tensors else masks[0]
        if return_tensors:
            out.convert_to_tensors(tensor_type=return_tensors)
    return out if return_dict else out["input_ids"]


def _assistant_mask(offsets, spans) -> list[int]:
    """1 for every token whose characters overlap an assistant span (so a span cut by truncation keeps its
    remaining tokens); spans and offsets are both in order, so one pass does it."""
    mask = [0] * len(offsets)
    span = 0
    for index, (start, end) in enumerate(offsets):
        while span < len(spans) and start >= spans[span][1]:
            span += 1
        if span == len(spans):
            break
        if end > spans[span][0]:
            mask[index] = 1
    return mask
