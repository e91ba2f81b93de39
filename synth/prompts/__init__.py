"""Versioned prompt templates for the augmenters (the YAML files next to this module).

Why files: a prompt change changes the data, so every output row records ``prompt_version``
(``<file>:v<version>+<shared prompt version>``) and request ids hash the rendered messages: editing a
template re-sends exactly the requests whose text changed and nothing else.

Placeholders are ``{{name}}`` (not ``str.format``: maths is full of braces). Substituted values are
inserted verbatim, never interpreted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PROMPT_DIR = Path(__file__).resolve().parent
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def render(template: str, **values: Any) -> str:
    """Replace ``{{name}}`` placeholders in one pass (values containing ``{{x}}`` stay as they are)."""

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise KeyError(f"template placeholder {{{{{key}}}}} has no value")
        return str(values[key])

    return _PLACEHOLDER.sub(sub, template)


@dataclass(frozen=True)
class TemplateFile:
    name: str
    version: int
    data: dict[str, Any]
    path: Path

    @property
    def version_tag(self) -> str:
        from skymath_tasks.prompts import PROMPT_VERSION

        return f"{self.name}:v{self.version}+{PROMPT_VERSION}"

    def prompt(self, key: str) -> dict[str, Any]:
        prompts = self.data.get("prompts") or {}
        if key not in prompts:
            raise KeyError(f"{self.path}: no prompt {key!r}; has {sorted(prompts)}")
        return prompts[key]

    def messages(self, key: str, **values: Any) -> list[dict[str, str]]:
        """Chat messages: system, few-shot turns, then the rendered user turn."""
        p = self.prompt(key)
        msgs: list[dict[str, str]] = []
        if p.get("system"):
            msgs.append({"role": "system", "content": p["system"]})
        for shot in p.get("few_shot") or []:
            msgs.append({"role": "user", "content": shot["user"]})
            msgs.append({"role": "assistant", "content": shot["assistant"]})
        msgs.append({"role": "user", "content": render(p["user"], **values)})
        return msgs


def _validate(data: Any, path: Path) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a prompt file is a mapping")
    for key in ("name", "version", "prompts"):
        if key not in data:
            raise ValueError(f"{path}: missing key {key!r}")
    if not isinstance(data["version"], int):
        raise ValueError(f"{path}: 'version' must be an integer")
    for pname, p in (data["prompts"] or {}).items():
        if not isinstance(p, dict):
            raise ValueError(f"{path}: prompt {pname!r} must be a mapping")
        for i, shot in enumerate(p.get("few_shot") or []):
            if not isinstance(shot, dict) or not {"user", "assistant"} <= set(shot):
                raise ValueError(f"{path}: prompt {pname!r} few_shot[{i}] needs 'user' and 'assistant'")
    return data


@lru_cache(maxsize=None)
def load_template(name: str, prompt_dir: str | None = None) -> TemplateFile:
    """Load ``<prompt_dir>/<name>.yaml`` (default: the templates shipped with SkyMath)."""
    path = Path(prompt_dir or PROMPT_DIR) / f"{name}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"prompt template {path} not found")
    with open(path, encoding="utf-8") as fh:
        data = _validate(yaml.safe_load(fh), path)
    return TemplateFile(name=data["name"], version=data["version"], data=data, path=path)


__all__ = ["render", "load_template", "TemplateFile", "PROMPT_DIR"]
