"""nox sessions for w2v-study. Dependencies come from pyproject.toml; posargs pass through.

torch is installed first as the CPU build 2.13.0 (the project's range admits it), so no
session downloads a multi-GB CUDA build; on a GPU machine install your CUDA torch first and
run pytest directly.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
TORCH_CPU = "torch==2.13.0"


def install_project(session: nox.Session, *extras: str) -> None:
    session.install(TORCH_CPU)
    dependencies = list(PYPROJECT["project"]["dependencies"])
    for extra in extras:
        dependencies += PYPROJECT["project"]["optional-dependencies"][extra]
    session.install(*dependencies)
    session.install("--no-deps", "-e", ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Fast CPU tests (no slow, gpu or postgres markers); e.g. `nox -s tests -- -k corpus`."""
    install_project(session, "dev")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy on the package."""
    install_project(session, "dev")
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """The documentation site from docs/ (mkdocs.yml), built with --strict into site/.

    The API reference reads the docstrings from the source (no import), so only the `docs`
    extra is installed. `nox -s docs -- --clean` passes arguments on to `mkdocs build`.
    """
    session.install(*PYPROJECT["project"]["optional-dependencies"]["docs"])
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(default=False)
def study(session: nox.Session) -> None:
    """A small grid on the embedded default corpus (the `demo` preset), ready for `report`.

    Extra arguments go to `python -m study grid`, e.g. `nox -s study -- --seeds 0,1,2`.
    """
    install_project(session)
    session.run("python", "-m", "study", "grid", "--preset", "demo", *session.posargs)


@nox.session(default=False)
def report(session: nox.Session) -> None:
    """Report of a finished study, e.g. `nox -s report -- results/demo` (report.html + .md)."""
    install_project(session)
    session.run("python", "-m", "study", "report", *(session.posargs or ["results/demo"]))


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Training throughput, torch vs gensim on the same cores (all, and 1), JSON in results/bench/.

    Arguments go to `benchmarks/bench_throughput.py`, e.g. `nox -s bench -- --corpus
    ../shared/data/wiki8.xz --epochs 5`; `benchmarks/bench_scaling.py` and `bench_grid.py` run
    the same way with python. The session installs the CPU torch build: on a GPU machine run
    the scripts directly with your CUDA torch.
    """
    install_project(session)
    session.run("python", "benchmarks/bench_throughput.py", *session.posargs)
