"""Reports and leaderboard submissions from lm-eval runs of the SkyMath tasks (``skymath-report``).

* :mod:`.loader` reads lm-eval output directories (results JSON + per-sample JSONL);
* :mod:`.tables` builds the paper's tables 1, 2, 6, 7, 12 with the published rows
  (:mod:`.reference`, ``paper_reference.yaml``) and the strict/metamath/flexible gap;
* :mod:`.plots` draws the PNG figures; :mod:`.sizes` finds each checkpoint's SFT data size;
* :mod:`.submission` writes leaderboard submissions and their bundles (``submission.schema.json``);
  :mod:`.verify` checks one against the official data, trusting nothing in it; :mod:`.regenerate`
  re-runs random problems with the model; :mod:`.leaderboard` builds the static site (``site_assets/``);
* :mod:`.contamination` reports the 30-gram overlap of a model's training data with each task.
"""
