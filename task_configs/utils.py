"""Glue for the YAMLs in this folder: every function lives in ``skymath_tasks.task_hooks``.

lm-eval resolves ``!function utils.NAME`` against this file, so it only re-exports.
"""

from skymath_tasks import task_hooks as _hooks
from skymath_tasks.data import MATH_SUBJECTS as _SUBJECTS

gsm8k_dataset = _hooks.gsm8k_dataset
math500_dataset = _hooks.math500_dataset
demo_dataset = _hooks.demo_dataset
math_dataset_all = _hooks.math_dataset(None)
for _subject in _SUBJECTS:
    globals()[f"math_dataset_{_subject}"] = _hooks.math_dataset(_subject)
    globals()[f"math_zh_dataset_{_subject}"] = _hooks.math_zh_dataset(_subject)
gsm8k_zh_dataset = _hooks.gsm8k_zh_dataset
mgsm_zh_dataset = _hooks.mgsm_zh_dataset
for _k in range(1, 6):
    globals()[f"gsm8k_distractor_dataset_{_k}"] = _hooks.gsm8k_distractor_dataset(_k)

doc_to_text_question = _hooks.doc_to_text_question
doc_to_text_problem = _hooks.doc_to_text_problem
process_results_gsm8k = _hooks.process_results_gsm8k
process_results_math = _hooks.process_results_math
level_accuracy = _hooks.level_accuracy
count = _hooks.count
