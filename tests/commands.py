"""The project's commands run as a user runs them: `python -m MODULE ...` in a new process, from the repository;
and a command's `main` called in this process where only its one-line error is checked."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE = SHARED_DATA / "retailrocket-sample"
SESSIONS = SHARED_DATA / "retailrocket-sessions"
SLICE_FILTERS = ["--min_visitor_events", "2", "--min_item_events", "1"]
"""The real slice's filters (the slice is too small for the 10/5 defaults)."""


def command_env(**overrides):
    """The environment of a command: JAX, a quiet TensorFlow, this checkout first on the path, CI-style logs."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO), "CI": "1"}
    env.update(overrides)
    return env


def run_module(module, *args, timeout=900, check=True, env=None):
    """Runs `python -m module args...` and returns the finished process; `check` asserts it exited 0."""
    result = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=REPO,
        env=env or command_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, f"{module} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def error_lines(result):
    """The `error:` lines a command printed on stderr."""
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def one_error_line(result):
    """The last error line of a command that exited 2 without a traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert lines, result.stderr
    return lines[-1]


def one_line_exit(main, argv, capsys):
    """The one error line `main(argv)` printed as it exited 2."""
    with pytest.raises(SystemExit) as exited:
        main(list(map(str, argv)))
    assert exited.value.code == 2
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if "error:" in line]
    return line


@dataclasses.dataclass(frozen=True)
class FittedRun:
    """A finished `app.fit` run: where it wrote, its run name, and the flags it was given."""

    output_dir: Path
    name: str
    data_flags: list
    """The dataset flags, for the commands that read the same data (`app.evaluate`, `app.recommend`)."""
    fit_flags: list
    """Every other flag `app.fit` was given (config, epochs, ...), for a run of the same command."""

    @property
    def model_path(self):
        return self.output_dir / f"{self.name}.keras"

    @property
    def report(self):
        return json.loads((self.output_dir / f"{self.name}.json").read_text())


def fit_once(output_dir, name, data_flags, fit_flags):
    """Runs `app.fit` with these flags into `output_dir` as run `name` (asserting it succeeds)."""
    run_module("app.fit", *fit_flags, *data_flags, "--output_dir", output_dir, "--run_name", name)
    return FittedRun(output_dir, name, data_flags, fit_flags)
