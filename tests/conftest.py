"""Shared helpers: compose the real configs, shrink them, run stages in-process or via the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from distillctl.configuration.groups import config_dir
from distillctl.configuration.overrides import register_resolvers

# `make test` runs the suite in one worker per core (pytest-xdist): each worker, and every CLI
# it starts, computes on one thread, so the workers do not fight over the cores (tiny models
# gain nothing from intra-op threads anyway).
THREADS = "1"
os.environ["OMP_NUM_THREADS"] = THREADS
# tests never use the network: Hugging Face names resolve from folders (and the cache) only,
# here and in every CLI a test starts (set before transformers or datasets is imported)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
torch.set_num_threads(int(THREADS))

# 1 epoch of 2 batches, small explanations: every stage end to end in about a second.
TINY = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.enable_progress_bar=false",
    "explain.num_inputs=8",
    "explain.background=16",
    "explain.num_figures=2",
]


def compose_cfg(stage: str, overrides: list[str], root: Path):
    register_resolvers()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose(
            stage,
            overrides=[
                *TINY,
                f"paths.output_root={root}",
                f"paths.data_dir={root / 'data'}",
                *overrides,
            ],
        )


def run_stage(
    stage: str, root: Path, *overrides: str, name: str | None = None
) -> tuple[Path, dict]:
    """Run a stage in-process in root/<name>; returns (run folder, the stage's results)."""
    from distillctl.stages import BY_NAME
    from distillctl.stages.common import execute

    run_dir = root / (name or stage)
    return run_dir, execute(BY_NAME[stage], compose_cfg(stage, list(overrides), root), run_dir)


CLI = [sys.executable, "-m", "distillctl"]


def cli_env(cwd: Path, env: dict | None = None) -> dict[str, str]:
    """The environment of a CLI subprocess: outputs and data under cwd, no debug mode."""
    full_env = {k: v for k, v in os.environ.items() if k != "DISTILLCTL_DEBUG"}
    full_env.update(DISTILLCTL_OUTPUTS=str(cwd / "outputs"), DISTILLCTL_DATA=str(cwd / "data"))
    full_env.update(env or {})
    return full_env


def cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 300):
    """The real command line in a subprocess (python -m distillctl ...), run to its end."""
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=cli_env(cwd, env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def forked_cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 300):
    """The CLI's `main` run in a forked child of this test process: a real process (its own
    exit code, stdout and stderr, cwd, environment and default signal dispositions; nothing it
    does reaches the test process) without the seconds of importing torch and Lightning again
    that `cli` pays. The child is killed if it outlives `timeout`, and always reaped."""
    import selectors
    import time

    from distillctl import cli as cli_module  # imported here, so the child has it

    pipes = [os.pipe(), os.pipe()]
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.setsid()
            _default_signals()
            for (read, write), fd in zip(pipes, (1, 2)):
                os.close(read)
                os.dup2(write, fd)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(cli_env(cwd, env))
            sys.argv = ["distillctl", *args]
            try:
                cli_module.main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(code)
    for _, write in pipes:
        os.close(write)
    chunks: dict[int, list[bytes]] = {read: [] for read, _ in pipes}
    selector = selectors.DefaultSelector()
    for read in chunks:
        selector.register(read, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(["distillctl", *args], timeout)
            for key, _ in selector.select(timeout=left):
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        selector.close()
        for read in chunks:
            os.close(read)
        if pid:  # timed out or the test failed: the child and anything it started go
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
    out, err = (b"".join(chunks[read]).decode(errors="replace") for read, _ in pipes)
    return subprocess.CompletedProcess(
        ["distillctl", *args], os.waitstatus_to_exitcode(status), out, err
    )


def _default_signals() -> None:
    """In the child, before exec: default SIGINT/SIGTERM dispositions whatever the test run
    inherited (a test run started in the background inherits an ignored SIGINT)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


@contextmanager
def background(*args: str, cwd: Path, env: dict | None = None) -> Iterator[subprocess.Popen]:
    """The CLI started in the background (to be signalled), in its own session with default
    signal dispositions; its whole process group is killed on the way out, pass or fail, so a
    failed test never leaves a run training."""
    proc = subprocess.Popen(
        [*CLI, *args],
        cwd=cwd,
        env=cli_env(cwd, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_default_signals,
    )
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the CLI and anything it started
        except ProcessLookupError:
            pass
        proc.wait(timeout=60)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()


@pytest.fixture(scope="session")
def teacher_run(tmp_path_factory) -> Path:
    """One finished tiny teacher run on digits, shared by tests that only read it."""
    root = tmp_path_factory.mktemp("shared")
    run_dir, _ = run_stage(
        "train_teacher", root, "trainer.max_epochs=2", "trainer.limit_train_batches=null"
    )
    return run_dir


@pytest.fixture(scope="session")
def text_tokenizer(tmp_path_factory):
    """A WordPiece tokenizer trained on tests/texts.py's corpus (ids of length 12)."""
    from tests.texts import tokenizer

    return tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def hf_folder(tmp_path_factory) -> Path:
    """A tiny BERT classifier and its tokenizer, save_pretrained (a vocabulary of 86)."""
    from tests.hf_models import save_bert

    words = tuple(f"w{i}" for i in range(40))
    return save_bert(tmp_path_factory.mktemp("tiny_bert"), extra_words=words)
