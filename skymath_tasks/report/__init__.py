"""Reports and leaderboard submissions from lm-eval runs of the SkyMath tasks (``skymath-report``).

* :mod:`.loader` reads lm-eval output directories (results JSON + per-sample JSONL);
* :mod:`.tables` builds the paper's tables 1, 2, 6, 7, 12 with the published rows
  (:mod:`.reference`, ``paper_reference.yaml``) and the strict/metamath/flexible gap;
* :mod:`.plots` draws the PNG figures; :mod:`.sizes` finds each checkpoint's SFT data size;
* :mod:`.submission` writes and verifies leaderboard submissions (``submission.schema.json``);
* :mod:`.contamination` reports the 30-gram overlap of a model's training data with each task.
"""
