"""The one rich Console every stage prints through."""

import sys

from rich.console import Console

# Piped output (CI logs, `| tee`) has no terminal width: rich would wrap tables at 80 columns.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def say(message: str) -> None:
    console.print(f"[bold cyan]distillctl[/] {message}", soft_wrap=True)
