"""Data flow: splits + download -> sources -> prepare -> store -> datasets/transforms."""
