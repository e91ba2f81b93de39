"""Two-stage SFT with TRL that produces the checkpoints the SkyMath tasks evaluate."""
