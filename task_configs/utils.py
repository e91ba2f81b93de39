"""Glue for the YAMLs in this folder: every function lives in ``skymath_tasks`` (task_hooks, metrics,
leakage_probes).

lm-eval resolves ``!function utils.NAME`` against this file, so it only re-exports:
``load_<task>`` (custom_dataset of each task), the prompt and few-shot functions, ``process_results_*``
and ``agg_<metric>`` (the per-level and per-subject aggregations, the contamination probes' figures).
"""

from skymath_tasks import leakage_probes as _probes, metrics as _metrics, task_hooks as _hooks
from skymath_tasks.benchmarks import TASKS as _TASKS

for _task in _TASKS:
    globals()[f"load_{_task}"] = _hooks.task_dataset(_task)
for _name in (*_metrics.LEVEL_METRICS, *_metrics.SUBJECT_METRICS):
    globals()[f"agg_{_name}"] = _metrics.AGGREGATIONS[_name]
for _task in _probes.PROBE_TASKS:
    globals()[f"load_{_task}"] = _probes.task_dataset(_task)
for _name in _probes.METRICS:
    globals()[f"agg_{_name}"] = _probes.AGGREGATIONS[_name]

doc_to_text_question = _hooks.doc_to_text_question
doc_to_text_problem = _hooks.doc_to_text_problem
fewshot_target = _hooks.fewshot_target
FewshotSampler = _hooks.FewshotSampler
process_results_gsm8k = _hooks.process_results_gsm8k
process_results_math = _hooks.process_results_math
process_results_math_by_subject = _hooks.process_results_math_by_subject
contam_doc_to_text = _probes.doc_to_text
contam_doc_to_target = _probes.doc_to_target
contam_process_results = _probes.process_results
