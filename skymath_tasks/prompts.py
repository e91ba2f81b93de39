"""The one prompt template shared by synthesis, training and evaluation.

Skywork-Math trains and evaluates with MetaMath's Alpaca prompt (zero-shot CoT). Keeping a single
definition here is what makes the SFT prompt and the evaluation prompt byte-identical: `synth` writes
responses in this format, `training` builds prompt/completion pairs from it, and the lm-eval tasks
render exactly the same string (see ``task_configs``).
"""

from __future__ import annotations

#: MetaMath's Alpaca prompt, byte for byte (the paper uses it for SFT and for evaluation).
ALPACA_PROMPT: str = (
    "Below is an instruction that describes a task. Write a response that appropriately completes "
    "the request.\n\n### Instruction:\n{instruction}\n\n### Response: Let's think step by step."
)

#: The answer marker every synthetic response ends with (paper, section 3: prefix "\nThe answer is ").
ANSWER_MARKER: str = "The answer is"

#: Stop strings of MetaMath's evaluation scripts (eval_gsm8k.py / eval_math.py). A model that starts a
#: new turn of the Alpaca template is cut there, so a second "The answer is" in an invented follow-up
#: question cannot override the real one.
METAMATH_STOP_SEQUENCES: tuple[str, ...] = (
    "Question:",
    "Question",
    "USER:",
    "USER",
    "ASSISTANT:",
    "ASSISTANT",
    "Instruction:",
    "Instruction",
    "Response:",
    "Response",
)

PROMPT_VERSION: str = "metamath-alpaca-v1"


def build_prompt(instruction: str) -> str:
    """Render the evaluation/SFT prompt for one problem statement.

    ``str.format`` is not used on purpose: problem statements are full of LaTeX braces.
    """
    return ALPACA_PROMPT.replace("{instruction}", instruction)


def format_response(reasoning: str, answer: str) -> str:
    """Join a worked solution and its final answer in the one format all our data uses."""
    reasoning = reasoning.rstrip()
    return f"{reasoning}\n{ANSWER_MARKER} {answer.strip()}" if reasoning else f"{ANSWER_MARKER} {answer.strip()}"


def completion_for(response: str) -> str:
    """Completion text that follows :func:`build_prompt` in an SFT pair.

    The prompt ends with "Let's think step by step." (no trailing space); a completion that starts
    straight after it would glue the first word onto the period, so a newline separates them unless
    the response already starts with whitespace.
    """
    return response if response[:1].isspace() else "\n" + response
