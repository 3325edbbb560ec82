"""Everything about configs before a run starts: where they live and what the groups offer
(`groups.py`), reading the command line's overrides (`overrides.py`), composing every variant
(`precheck.py`) and checking each value (`validate.py`; loss terms and explainers declare their
own bounds)."""
