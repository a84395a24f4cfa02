"""Prompts as datasets publish them: a string or a list of chat messages, shaped by the run's
`data.prompt_template` and `data.system_prompt`.

A template names fields in braces: `{prompt}` (the prompt field's text), any field of the row
by its dotted path (`{question}`, `{extra_info.difficulty}`), or one the task adds (the SQL
task's `{schema}`); `{{` and `}}` are literal braces, and braces around anything that is not a
name are kept as they are (`\\boxed{}`). Applied to a message list, the template rewrites the
last user message. A system prompt makes the prompt a message list (so the chat template is
applied) unless it already starts with a system message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flowrl_jax.data.problems import DataError, as_messages
from flowrl_jax.data.rows import field

Message = dict[str, str]
Prompt = str | list[Message]

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][\w.]*)\}")
IDENTITY_TEMPLATE = "{prompt}"


def check_prompt(value: Any, where: str) -> Prompt:
    """`value` as a prompt: a non-empty string, or a non-empty list of messages with string
    `role` and `content` (extra keys dropped); anything else is a DataError naming `where`."""
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"{where}: the prompt is empty.")
        return value
    if isinstance(value, list) and value and all(_is_message(m) for m in value):
        return [{"role": m["role"], "content": m["content"]} for m in value]
    raise DataError(
        f"{where}: the prompt must be a string or a list of chat messages "
        f"([{{'role': 'user', 'content': '...'}}, ...]), got {type(value).__name__} "
        f"{value!r:.80}; set data.prompt_field to the prompt's column."
    )


def _is_message(m: Any) -> bool:
    return (
        isinstance(m, Mapping)
        and isinstance(m.get("role"), str)
        and isinstance(m.get("content"), str)
    )


def fill_template(template: str, row: Mapping[str, Any], where: str, values: Mapping) -> str:
    """`template` with each `{name}` replaced by `values[name]` or the row's field `name`."""

    def replace(m: re.Match) -> str:
        if m.group(1) is None:
            return m.group(0)[0]
        name = m.group(1)
        if name in values:
            return str(values[name])
        try:
            return str(field(row, name, where))
        except DataError:
            raise DataError(
                f"{where}: data.prompt_template names {{{name}}}, which is neither "
                f"{', '.join(f'{{{k}}}' for k in values)} nor a field of the row (fields: "
                f"{sorted(row)}); write {{{{ and }}}} for literal braces."
            ) from None

    return _PLACEHOLDER.sub(replace, template)


def build_prompt(
    value: Any, row: Mapping[str, Any], data: Any, where: str, extra: Mapping[str, Any]
) -> Prompt:
    """The prompt of a dataset row: `value` (the prompt field) checked, the template and the
    system prompt of `data` applied; `extra` holds the task's template fields."""
    prompt = check_prompt(value, where)
    template = data.prompt_template
    if template and template != IDENTITY_TEMPLATE:
        if isinstance(prompt, str):
            prompt = fill_template(template, row, where, {"prompt": prompt, **extra})
        else:
            users = [i for i, m in enumerate(prompt) if m["role"] == "user"]
            if not users:
                raise DataError(
                    f"{where}: data.prompt_template needs a user message to rewrite, and the "
                    f"prompt has roles {[m['role'] for m in prompt]}."
                )
            last = prompt[users[-1]]
            content = fill_template(template, row, where, {"prompt": last["content"], **extra})
            prompt[users[-1]] = {**last, "content": content}
    if data.system_prompt:
        messages = as_messages(prompt)
        if messages[0]["role"] != "system":
            messages = [{"role": "system", "content": data.system_prompt}, *messages]
        prompt = messages
    return prompt
