"""Run folders, the contract between stages: run.json's life cycle (`record.py`), naming and
finding folders (`naming.py`), finding the teacher or distill run a stage builds on
(`resolve.py`), reading checkpoints and imported weights safely (`checkpoints.py`,
`weights.py`), and writing a training run's results (`results.py`)."""
