"""distillctl: knowledge distillation runs with explanations built in."""

__version__ = "0.1.0"
