"""The explainers: one module per family, each registering in distillctl.explain.EXPLAINERS."""
