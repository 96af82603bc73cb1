"""The private APIs of gensim, Optuna and Triton the project uses are where it expects them.

A new release that moves one fails here with one line per moved piece, naming the package
version (`study.train.internals`), instead of a confusing failure deep in a trainer or a grid.
"""

import pytest

from study.train import internals


@pytest.mark.parametrize("package", ["gensim", "optuna", "triton"])
def test_private_apis_are_where_the_project_expects_them(package):
    pytest.importorskip(package)
    moved = internals.problems(package)
    if moved:
        pytest.fail("\n".join(moved), pytrace=False)


def test_a_moved_internal_is_reported_in_one_line_with_the_version(monkeypatch):
    from gensim.models import Word2Vec

    monkeypatch.delattr(Word2Vec, "_do_train_job")
    [line] = internals.problems("gensim")
    import gensim

    assert line.startswith(f"gensim {gensim.__version__}: Word2Vec._do_train_job(")
    assert "used in study/train/trainers/gensim_sgns.py" in line and "\n" not in line
    with pytest.raises(RuntimeError, match=r"^gensim .*_do_train_job"):
        internals.require("gensim")


def test_pyproject_bounds_the_packages_whose_internals_are_used():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    listed = [*pyproject["project"]["dependencies"]]
    listed += [d for extra in pyproject["project"]["optional-dependencies"].values() for d in extra]
    deps = {d.split(">")[0].split("<")[0].split("=")[0]: d for d in listed}
    for package in {i.package for i in internals.INTERNALS}:
        assert ",<" in deps[package], f"{package} needs an upper bound: {deps[package]}"
