"""Skywork-MathQA data synthesis: client, seeds, augmenters, selection, evaluation-data builders."""
