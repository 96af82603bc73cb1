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
    "RunConfig": "study.config",
    "GridSpec": "study.grid",
    "PRESETS": "study.grid",
    # corpora
    "load_corpus": "study.vocab",
    "corpus_from_sentences": "study.corpus",
    "EncodedCorpus": "study.vocab",
    "Vocab": "study.vocab",
    # training
    "get_trainer": "study.trainers",
    "Callback": "study.trainers",
    "TrainState": "study.trainers",
    "TrainResult": "study.trainers",
    "GradientProbe": "study.probes",
    "TensorBoardCallback": "study.tensorboard_callback",
    "NeighboursCallback": "study.neighbours",
    # running and storing
    "execute_run": "study.runner",
    "run_grid": "study.runner",
    "CorpusCache": "study.runner",
    "run_grid_shared": "study.shared_grid",
    "ResultStore": "study.results",
    "load_table": "study.results",
    # vectors on disk
    "load_vectors": "study.vectors",
    "w_plus_c": "study.vectors",
    # evaluation, figures, report
    "evaluate": "study.evaluate",
    "run_evaluation": "study.evaluate",
    "nearest_neighbours": "study.evaluate",
    "plot_curves": "study.figures",
    "plot_losses": "study.figures",
    "plot_grad_norms": "study.figures",
    "plot_metric_vs_params": "study.figures",
    "plot_heatmaps": "study.figures",
    "plot_trainer_scatter": "study.figures",
    "plot_throughput": "study.figures",
    "save_figure": "study.figures",
    "build_report": "study.report",
    # uncertainty
    "StudyItems": "study.inference",
    "estimate": "study.stats",
    "run_interval": "study.stats",
    "holm": "study.stats",
    # errors
    "StudyError": "study.errors",
    "ConfigError": "study.errors",
    "CorpusError": "study.errors",
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
    from study.config import RunConfig
    from study.corpus import corpus_from_sentences
    from study.errors import ConfigError, CorpusError, StudyError
    from study.evaluate import evaluate, nearest_neighbours, run_evaluation
    from study.figures import (
        plot_curves,
        plot_grad_norms,
        plot_heatmaps,
        plot_losses,
        plot_metric_vs_params,
        plot_throughput,
        plot_trainer_scatter,
        save_figure,
    )
    from study.grid import PRESETS, GridSpec
    from study.inference import StudyItems
    from study.neighbours import NeighboursCallback
    from study.probes import GradientProbe
    from study.report import build_report
    from study.results import ResultStore, load_table
    from study.runner import CorpusCache, execute_run, run_grid
    from study.shared_grid import run_grid_shared
    from study.stats import estimate, holm, run_interval
    from study.tensorboard_callback import TensorBoardCallback
    from study.trainers import Callback, TrainResult, TrainState, get_trainer
    from study.vectors import load_vectors, w_plus_c
    from study.vocab import EncodedCorpus, Vocab, load_corpus
