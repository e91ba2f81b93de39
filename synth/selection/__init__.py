"""Data selection between synthesis and training: decontamination, core-set, hard problems, verifier, dedup.

Every step follows one protocol (:mod:`synth.selection.step`): rows are read in one place, a filter
only decides keep or drop with a reason, the step writes the kept lines unchanged and the decisions
to a side file, resumes after an interruption, and reports counts. See docs/architecture-synth.md.
"""
