"""The trainer registry: every trainer a `RunConfig` may name, what each reads of the config, and
the baseline the others are compared with. Config values, CLI choices, the report's tables and
figures and `study.train.trainers.get_trainer` all derive from `TRAINERS`; adding a trainer is
its module plus one entry here (docs/DESIGN.md, "How to add a trainer").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainerSpec:
    """One trainer.

    factory: "module:Class", imported by `study.train.trainers.get_trainer` only when a run
    needs it (so the config layer names the class without importing torch or gensim).
    ignores: config fields it does not read; RunConfig sets them to one value so identical
    training has one run id (`own_step` trainers get the negatives they actually draw).
    implied: those of `ignores` fixed by other fields and left out of the run id.
    own_step: None for a trainer whose step the config's `kernel` picks (`study.core.steps`);
    else the label of the one step it always takes (on the CPU, negatives drawn as word2vec.c).
    no_softmax: why it lacks `objective=softmax` (None: it has it).
    color: its colour in figures (None: one of matplotlib's cycle).
    """

    name: str
    factory: str
    ignores: tuple[str, ...] = ()
    implied: tuple[str, ...] = ()
    own_step: str | None = None
    no_softmax: str | None = None
    color: str | None = None


TRAINERS: tuple[TrainerSpec, ...] = (
    TrainerSpec("torch", "study.train.trainers.torch_sgns:TorchTrainer", color="tab:red"),
    TrainerSpec(
        "gensim",
        "study.train.trainers.gensim_sgns:GensimTrainer",
        ignores=("kernel", "neg_draw", "programs", "batch_size"),
        # gensim draws negatives as word2vec.c; its first run ids had no neg_draw
        implied=("neg_draw",),
        own_step="gensim",
        no_softmax="gensim has hierarchical softmax, not the exact full softmax",
        color="tab:blue",
    ),
)
NAMES: tuple[str, ...] = tuple(spec.name for spec in TRAINERS)
DEFAULT = "torch"  # RunConfig's trainer, and a grid's
BASELINE = "gensim"  # what the other trainers are compared with in the report and figures

_BY_NAME = {spec.name: spec for spec in TRAINERS}


def trainer_spec(name: str) -> TrainerSpec:
    """The registered trainer called `name` (KeyError: none is)."""
    return _BY_NAME[name]


def is_registered(name: object) -> bool:
    return isinstance(name, str) and name in _BY_NAME


def trainer_ignores(trainer: str) -> tuple[str, ...]:
    """The config fields `trainer` does not read (RunConfig normalises them)."""
    spec = _BY_NAME.get(trainer)
    return spec.ignores if spec is not None else ()


def report_order(trainer: str) -> tuple[int, str]:
    """Sort key: registered trainers in registry order, then any others by name."""
    return (NAMES.index(trainer) if trainer in _BY_NAME else len(NAMES), trainer)


def challengers(present: list[str] | tuple[str, ...], baseline: str = BASELINE) -> list[str]:
    """The trainers of `present` compared with `baseline` (all but it; none when it is absent),
    in `present`'s order."""
    return [t for t in present if t != baseline] if baseline in present else []
