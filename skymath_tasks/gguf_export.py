"""GGUF -> plain Hugging Face model folder (``skymath-demo --export-hf DIR``).

transformers loads a GGUF by de-quantizing it, but ``save_pretrained`` refuses such a model (it counts
as quantized with a non-serializable quantizer), and ``transformers serve`` and vLLM want a normal
folder (config with ``architectures``, safetensors, tokenizer files). So we load the GGUF, copy its state
dict into a freshly built model of the same class and config (without the GGUF quantization entry),
save that with its tokenizer, and prove the result: the saved folder is loaded back and must produce
the same greedy tokens as the GGUF-loaded model on a short prompt, or nothing is written.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DTYPES = ("float32", "bfloat16", "float16")
CHECK_PROMPT = "Question: Tom has 3 apples and buys 5 more. How many apples does he have?\nAnswer:"
CHECK_TOKENS = 12


class ExportError(RuntimeError):
    """Export refused or failed; the message says why."""


@dataclass(frozen=True)
class Exported:
    out_dir: Path
    dtype: str
    size_bytes: int
    check_tokens: list[int]  # the greedy tokens both models produced


def _greedy(model, tokenizer, prompt: str, n: int) -> list[int]:
    import torch

    ids = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=n, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return out[0, ids["input_ids"].shape[1]:].tolist()


def _normal_permissions(folder: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def check_target(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(f"{out_dir} exists and is not an empty folder; choose a new one")


def _log(message: str) -> None:
    print(f"skymath-demo: {message}", file=sys.stderr, flush=True)


def export_hf(gguf: Path, out_dir: Path, *, dtype: str = "float32", log: Callable[[str], None] = _log) -> Exported:
    """Load ``gguf`` with transformers and write it as a plain folder at ``out_dir`` (see export_model)."""
    if dtype not in DTYPES:
        raise ExportError(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    gguf = Path(gguf).resolve()
    check_target(Path(out_dir).resolve())

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log(f"loading {gguf.name} through transformers (de-quantizing to float32)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        source = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ExportError(f"transformers cannot load {gguf} as a GGUF model: {exc}") from None
    return export_model(source, tokenizer, out_dir, dtype=dtype, source_name=gguf.name, log=log)


def export_model(
    source,
    tokenizer,
    out_dir: Path,
    *,
    dtype: str = "float32",
    source_name: str = "",
    log: Callable[[str], None] = _log,
) -> Exported:
    """Write a GGUF-loaded ``source`` model (left unchanged) and its tokenizer as a plain transformers
    folder at ``out_dir``, which must not hold anything; the folder appears only once checked.

    ``float32`` (default) keeps the de-quantized weights exactly (Q4_1 blocks times fp16 scales do not
    all fit bfloat16's 8-bit mantissa); ``bfloat16``/``float16`` halve the size for servers. The check:
    the saved folder, loaded back, must generate the same greedy tokens as ``source`` (for a smaller
    dtype: as ``source`` cast to it) and its tokenizer must split the prompt identically.
    """
    if dtype not in DTYPES:
        raise ExportError(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    out_dir = Path(out_dir).resolve()
    check_target(out_dir)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = getattr(torch, dtype)
    source.eval()
    config = copy.deepcopy(source.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the GGUF entry is what makes save_pretrained refuse
    config.architectures = [type(source).__name__]
    config.dtype = dtype
    # Built in the target dtype the way from_pretrained builds it (buffers such as RoPE's inv_freq stay
    # float32; `.to(dtype)` would cast them too and change a bfloat16 model's generations).
    plain = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    if type(plain) is not type(source):
        raise ExportError(f"{type(source).__name__} came back as {type(plain).__name__} from its config")
    plain.load_state_dict(source.state_dict(), strict=True)  # copies (and casts) every weight
    plain.generation_config = copy.deepcopy(source.generation_config)
    plain.eval()
    reference = source if torch_dtype == torch.float32 else plain  # plain = source cast to dtype

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)

        log("checking the exported folder: it must generate the same greedy tokens as the GGUF-loaded model")
        reloaded = AutoModelForCausalLM.from_pretrained(staging, dtype=torch_dtype)
        reloaded_tok = AutoTokenizer.from_pretrained(staging)
        if reloaded_tok(CHECK_PROMPT)["input_ids"] != tokenizer(CHECK_PROMPT)["input_ids"]:
            raise ExportError("the exported tokenizer splits the check prompt differently from the GGUF's")
        want = _greedy(reference, tokenizer, CHECK_PROMPT, CHECK_TOKENS)
        got = _greedy(reloaded, reloaded_tok, CHECK_PROMPT, CHECK_TOKENS)
        if got != want:
            raise ExportError(f"the exported model generates {got}, the GGUF-loaded one {want}")
        del plain, reference, reloaded

        (staging / "skymath-export.json").write_text(json.dumps({
            "source_gguf": source_name,
            "dtype": dtype,
            "check_prompt": CHECK_PROMPT,
            "check_greedy_tokens": want,
        }, indent=2) + "\n", encoding="utf-8")
        _normal_permissions(staging)  # mkdtemp and safetensors create owner-only files
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    size = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    return Exported(out_dir, dtype, size, want)
