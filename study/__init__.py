"""w2v-study: hyperparameter studies and benchmarks of word2vec (SGNS).

A PyTorch trainer and a gensim baseline are run side by side over grids of
hyperparameters; callbacks record per-epoch losses and gradient norms;
evaluation feeds pandas tables, figures and a generated report.

The public API (README, "From Python") is importable from here:

    import study
    corpus = study.corpus_from_sentences(sentences, name="mine")
    spec = study.GridSpec(axes={"alpha": [0.5, 1.0]}, fixed={"corpus": corpus})
    study.run_grid(spec.cells(), study.ResultStore("results/mine"))
    runs, epochs = study.load_table("results/mine")

Importing `study` loads nothing heavy and changes no global state (no torch, gensim or
matplotlib import, no backend switch): each name is imported from its module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    # configs and grids
    "RunConfig": "study.core.config",
    "GridSpec": "study.run.grid",
    "PRESETS": "study.run.grid",
    # corpora
    "load_corpus": "study.data.vocab",
    "corpus_from_sentences": "study.data.corpus",
    "EncodedCorpus": "study.data.vocab",
    "Vocab": "study.data.vocab",
    # training
    "get_trainer": "study.train.trainers",
    "Callback": "study.train.trainers",
    "TrainState": "study.train.trainers",
    "TrainResult": "study.train.trainers",
    "GradientProbe": "study.train.probes",
    "TensorBoardCallback": "study.evaluate.tensorboard",
    "NeighboursCallback": "study.train.neighbours",
    # running and storing
    "execute_run": "study.run.runner",
    "run_grid": "study.run.runner",
    "CorpusCache": "study.run.runner",
    "run_grid_shared": "study.run.shared_grid",
    "ResultStore": "study.store.results",
    "load_table": "study.store.results",
    # vectors on disk
    "load_vectors": "study.train.vectors",
    "w_plus_c": "study.train.vectors",
    # evaluation, figures, report
    "evaluate": "study.evaluate.score",
    "run_evaluation": "study.evaluate.score",
    "nearest_neighbours": "study.evaluate.score",
    "plot_curves": "study.analyze.figures",
    "plot_losses": "study.analyze.figures",
    "plot_grad_norms": "study.analyze.figures",
    "plot_metric_vs_params": "study.analyze.figures",
    "plot_heatmaps": "study.analyze.figures",
    "plot_trainer_scatter": "study.analyze.figures",
    "plot_throughput": "study.analyze.figures",
    "save_figure": "study.analyze.figures",
    "build_report": "study.analyze.report",
    # uncertainty
    "StudyItems": "study.analyze.inference",
    "estimate": "study.evaluate.stats",
    "run_interval": "study.evaluate.stats",
    "holm": "study.evaluate.stats",
    # errors
    "StudyError": "study.core.errors",
    "ConfigError": "study.core.errors",
    "CorpusError": "study.core.errors",
}

__all__ = [
    "__version__",
    "RunConfig",
    "GridSpec",
    "PRESETS",
    "load_corpus",
    "corpus_from_sentences",
    "EncodedCorpus",
    "Vocab",
    "get_trainer",
    "Callback",
    "TrainState",
    "TrainResult",
    "GradientProbe",
    "TensorBoardCallback",
    "NeighboursCallback",
    "execute_run",
    "run_grid",
    "CorpusCache",
    "run_grid_shared",
    "ResultStore",
    "load_table",
    "load_vectors",
    "w_plus_c",
    "evaluate",
    "run_evaluation",
    "nearest_neighbours",
    "plot_curves",
    "plot_losses",
    "plot_grad_norms",
    "plot_metric_vs_params",
    "plot_heatmaps",
    "plot_trainer_scatter",
    "plot_throughput",
    "save_figure",
    "build_report",
    "StudyItems",
    "estimate",
    "run_interval",
    "holm",
    "StudyError",
    "ConfigError",
    "CorpusError",
]  # the keys of _EXPORTS (a test keeps them equal)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'study' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from study.analyze.figures import (
        plot_curves,
        plot_grad_norms,
        plot_heatmaps,
        plot_losses,
        plot_metric_vs_params,
        plot_throughput,
        plot_trainer_scatter,
        save_figure,
    )
    from study.analyze.inference import StudyItems
    from study.analyze.report import build_report
    from study.core.config import RunConfig
    from study.core.errors import ConfigError, CorpusError, StudyError
    from study.data.corpus import corpus_from_sentences
    from study.data.vocab import EncodedCorpus, Vocab, load_corpus
    from study.evaluate.score import evaluate, nearest_neighbours, run_evaluation
    from study.evaluate.stats import estimate, holm, run_interval
    from study.evaluate.tensorboard import TensorBoardCallback
    from study.run.grid import PRESETS, GridSpec
    from study.run.runner import CorpusCache, execute_run, run_grid
    from study.run.shared_grid import run_grid_shared
    from study.store.results import ResultStore, load_table
    from study.train.neighbours import NeighboursCallback
    from study.train.probes import GradientProbe
    from study.train.trainers import Callback, TrainResult, TrainState, get_trainer
    from study.train.vectors import load_vectors, w_plus_c
