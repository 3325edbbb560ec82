"""Commands that inspect without running a stage: `list layers`, `data info`."""
