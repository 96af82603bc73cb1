"""The private parts of gensim, Optuna and Triton this project relies on, each with a check; a
test and the gensim trainer name the package version in one line when one moves (docs/DESIGN.md,
"Private APIs of gensim and Optuna"). Triton's are only in the ahead-of-time compile that the
tests and benchmarks use to read a kernel's registers and SASS, not in training.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Internal:
    package: str
    what: str  # the private API, as a reader would grep for it
    used_in: str
    check: Callable[[], bool]  # True while it is still there in the shape we use


def _params(func: Callable[..., object]) -> list[str]:
    return list(inspect.signature(func).parameters)


def _gensim_do_train_job() -> bool:
    from gensim.models import Word2Vec

    return _params(Word2Vec._do_train_job) == ["self", "sentences", "alpha", "inits"]


def _gensim_raw_word_count() -> bool:
    from gensim.models import Word2Vec

    return _params(Word2Vec._raw_word_count) == ["self", "job"]


def _gensim_thread_mem() -> bool:
    # `inits` of _do_train_job is this (work, neu1) pair
    from gensim.models import Word2Vec

    return _params(Word2Vec._get_thread_working_mem) == ["self"]


def _gensim_batch_functions() -> bool:
    from gensim.models import word2vec_inner

    return callable(word2vec_inner.train_batch_sg) and callable(word2vec_inner.train_batch_cbow)


def _gensim_model_attributes() -> bool:
    from gensim.models import Word2Vec

    model = Word2Vec(vector_size=2, min_count=1, workers=1, sorted_vocab=0)
    model.build_vocab_from_freq({"a": 2, "b": 1})
    return (
        all(
            hasattr(model, name)
            for name in (
                "running_training_loss",
                "min_alpha_yet_reached",
                "syn1neg",
                "compute_loss",
            )
        )
        and "count" in model.wv.expandos
    )


def _optuna_heartbeat_module() -> bool:
    from optuna.storages._heartbeat import BaseHeartbeat

    return callable(getattr(BaseHeartbeat, "record_heartbeat", None))


def _optuna_study_private_ids() -> bool:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    study.enqueue_trial({})
    storage = study._storage
    (trial,) = storage.get_all_trials(study._study_id, deepcopy=False)
    return isinstance(study._study_id, int) and isinstance(trial._trial_id, int)


def _optuna_trial_id() -> bool:
    import optuna

    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    return isinstance(study.ask()._trial_id, int)


def _optuna_get_all_trials() -> bool:
    from optuna.storages import BaseStorage

    return _params(BaseStorage.get_all_trials)[:4] == ["self", "study_id", "deepcopy", "states"]


def _optuna_set_metric_names() -> bool:
    import optuna

    return callable(getattr(optuna.Study, "set_metric_names", None))


def _triton_ahead_of_time() -> bool:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    return (
        _params(ASTSource.__init__) == ["self", "fn", "signature", "constexprs", "attrs"]
        and _params(GPUTarget)[:3] == ["backend", "arch", "warp_size"]
        and _params(triton.compile)[:3] == ["src", "target", "options"]
    )


def _triton_cuda_tools() -> bool:
    from triton import knobs

    return all(hasattr(getattr(knobs.nvidia, t), "path") for t in ("cuobjdump", "nvdisasm"))


INTERNALS = [
    Internal("gensim", "Word2Vec._do_train_job(self, sentences, alpha, inits)",
             "study/train/trainers/gensim_sgns.py (overridden: per-job word counts and loss)",
             _gensim_do_train_job),
    Internal("gensim", "Word2Vec._raw_word_count(self, job)",
             "study/train/trainers/gensim_sgns.py", _gensim_raw_word_count),
    Internal("gensim", "Word2Vec._get_thread_working_mem() -> (work, neu1)",
             "study/train/trainers/gensim_sgns.py", _gensim_thread_mem),
    Internal("gensim", "gensim.models.word2vec_inner.train_batch_sg / train_batch_cbow",
             "study/train/trainers/gensim_sgns.py", _gensim_batch_functions),
    Internal("gensim", "Word2Vec.running_training_loss / min_alpha_yet_reached / syn1neg, "
             "KeyedVectors.expandos['count']",
             "study/train/trainers/gensim_sgns.py", _gensim_model_attributes),
    Internal("optuna", "optuna.storages._heartbeat.BaseHeartbeat.record_heartbeat",
             "study/run/shared_grid.py (_claim)", _optuna_heartbeat_module),
    Internal("optuna", "Study._storage, Study._study_id, FrozenTrial._trial_id",
             "study/run/shared_grid.py (_claim)", _optuna_study_private_ids),
    Internal("optuna", "Trial._trial_id",
             "study/run/search.py (make_objective: the first heartbeat)", _optuna_trial_id),
    Internal("optuna", "BaseStorage.get_all_trials(study_id, deepcopy, states)",
             "study/run/shared_grid.py (_claim)", _optuna_get_all_trials),
    Internal("optuna", "Study.set_metric_names (experimental)",
             "study/store/storage.py (load_or_create_study)", _optuna_set_metric_names),
    Internal("triton", "triton.compiler.ASTSource(fn, signature, constexprs, attrs), "
             "triton.backends.compiler.GPUTarget(backend, arch, warp_size), "
             "triton.compile(src, target, options)",
             "study/train/trainers/triton_kernels.py (compile_ahead)", _triton_ahead_of_time),
    Internal("triton", "triton.knobs.nvidia.cuobjdump / nvdisasm .path",
             "study/train/trainers/triton_aot.py (_tool)", _triton_cuda_tools),
]  # fmt: skip


def version(package: str) -> str:
    import importlib

    return str(getattr(importlib.import_module(package), "__version__", "?"))


def problems(package: str | None = None) -> list[str]:
    """One line per private API that moved: 'gensim 4.5.0: ... changed or gone (used in ...)'."""
    lines = []
    for internal in INTERNALS:
        if package is not None and internal.package != package:
            continue
        try:
            ok = internal.check()
        except Exception as exc:  # ImportError, AttributeError, a changed signature ...
            ok = False
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = "different shape"
        if not ok:
            lines.append(
                f"{internal.package} {version(internal.package)}: {internal.what} changed or gone "
                f"({reason}); used in {internal.used_in}"
            )
    return lines


def require(package: str) -> None:
    """Raise RuntimeError with the first problem's line when `package`'s internals moved."""
    found = problems(package)
    if found:
        raise RuntimeError(found[0])
