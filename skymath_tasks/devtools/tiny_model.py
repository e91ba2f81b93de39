"""Build a tiny Llama and tokenizer entirely offline, for fast end-to-end tests.

The tokenizer is a byte-level BPE trained with `tokenizers` on the Alpaca prompt and a few math
sentences, so every prompt we render encodes without unknown tokens.
"""

from __future__ import annotations

from pathlib import Path

from skymath_tasks.prompts import ALPACA_PROMPT

_CORPUS = [
    ALPACA_PROMPT,
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
    "Let x and y be nonzero real numbers such that x + y = 10. The answer is 42",
    "We have \\frac{1}{2} + \\sqrt{2} = \\boxed{3}. The answer is: 7",
    "0 1 2 3 4 5 6 7 8 9 + - * / = ( ) [ ] { } \\ ^ _ $ % , . ? ! : ;",
    "The answer is 18\nThe answer is 24.01\nThe final answer is 5",
]


def build_tiny_llama(out_dir: str | Path, vocab_size: int = 512, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", model_max_length=4096
    )
    fast.save_pretrained(out)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    return out
