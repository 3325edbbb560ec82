"""The one rich Console every stage prints through."""

import sys

from rich.console import Console
from rich.markup import escape

# Piped output (CI logs, `| tee`) has no terminal width: rich would wrap tables at 80 columns.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def say(message: str) -> None:
    # escaped: messages hold lists and paths like [features.block1], not rich markup
    console.print(f"[bold cyan]distillctl[/] {escape(message)}", soft_wrap=True)
