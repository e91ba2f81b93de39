"""An lm-eval model that answers from a script instead of a network: the harness end to end, no LLM.

``ReplayLM(respond)`` calls ``respond(prompt) -> str`` for each generate_until request. Registered as
``skymath-replay`` so it can also be named in ``simple_evaluate(model="skymath-replay")``.
"""

from __future__ import annotations

from collections.abc import Callable

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model


@register_model("skymath-replay")
class ReplayLM(LM):
    def __init__(self, respond: Callable[[str], str] | None = None, **kwargs) -> None:
        super().__init__()
        self.respond = respond or (lambda prompt: "")
        self.prompts: list[str] = []
        self.gen_kwargs: list[dict] = []

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        out = []
        for req in requests:
            prompt, gen_kwargs = req.args
            self.prompts.append(prompt)
            self.gen_kwargs.append(dict(gen_kwargs))
            out.append(self.respond(prompt))
        return out

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("SkyMath tasks are generate_until only")

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("SkyMath tasks are generate_until only")
