"""`study optuna`: an Optuna study over RunConfig fields, stored in SQLite or PostgreSQL."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

import optuna

from study.cli.args import (
    SEED_MAX,
    add_results_argument,
    add_set_argument,
    add_study_argument,
    int_at_least,
)
from study.core.config import RunConfig, parse_assignments
from study.core.errors import ConfigError, StudyError
from study.core.redact import redact_command, redact_url
from study.run.runner import CorpusCache
from study.run.search import (
    DEFAULT_SPACE,
    SAMPLERS,
    check_space,
    independent_note,
    make_objective,
    make_sampler,
    parse_objectives,
    parse_space,
)
from study.store.identity import check_corpus_identity
from study.store.results import ResultStore, save_tables_or_warn
from study.store.storage import default_sqlite_url, load_or_create_study, open_storage


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "optuna",
        help="run an Optuna study (many workers may share one storage)",
        description="Search RunConfig fields with Optuna. Every trial's run is stored under "
        "results/<study name>/. Start the same command in several processes or machines with "
        "one --storage URL (PostgreSQL for machines) to share the study.",
    )
    add_study_argument(parser, "study name: the Optuna study and the results folder", required=True)
    parser.add_argument(
        "--storage",
        default=None,
        help="Optuna storage URL (default: sqlite:///results/<study>/optuna.db)",
    )
    parser.add_argument(
        "--n-trials", type=int_at_least(1), default=20, help="trials for this worker"
    )
    parser.add_argument(
        "--objective",
        nargs="+",
        action="extend",
        default=None,
        metavar="METRIC[:DIRECTION]",
        help="e.g. analogy_acc, or for two objectives: analogy_acc train_seconds:minimize",
    )
    parser.add_argument(
        "--space",
        nargs="+",
        action="extend",
        default=None,
        metavar="KEY=SPEC",
        help=f"low:high, low:high:log or a,b,c per field (default: {' '.join(DEFAULT_SPACE)})",
    )
    add_set_argument(parser, "fixed fields, e.g. --set epochs=3 corpus=text8")
    parser.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default="tpe",
        help="tpe (default; adaptive), random, qmc (quasi-random: even coverage for "
        "exploring), cmaes (continuous spaces, one objective), nsga2 (several objectives), "
        "grid (every combination of value lists / integer ranges)",
    )
    parser.add_argument("--no-pruning", action="store_true", help="never prune trials")
    parser.add_argument(
        "--seed", type=int_at_least(0, SEED_MAX), default=None, help="sampler seed (reproducible)"
    )
    add_results_argument(parser)
    parser.set_defaults(func=optuna_command)


def optuna_command(args: argparse.Namespace) -> int:
    fixed = parse_assignments(args.set)
    base = RunConfig().with_overrides(fixed)
    args.space = args.space or DEFAULT_SPACE
    space = parse_space(args.space)
    both = [p.name for p in space if p.name in fixed]
    if both:
        raise ConfigError(f"{both[0]} is both in --space and --set; give one")
    check_space(base, space)
    objectives = parse_objectives(args.objective or ["analogy_acc"])
    sampler = make_sampler(args.sampler, space, len(objectives), args.seed)
    note = independent_note(args.sampler, space)
    if note:
        print(note)
    store = ResultStore.for_study(args.study, args.results)
    corpora = {base.corpus} | {c for p in space if p.name == "corpus" for c in p.choices}
    # a finished trial's run is reused as is; failed and pruned ones are run again
    check_corpus_identity(store, corpora, args.data_dir, lambda _id, status: status != "done")
    url = args.storage or default_sqlite_url(store.root)
    storage = open_storage(url)
    single = len(objectives) == 1
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
        if single and not args.no_pruning
        else optuna.pruners.NopPruner()
    )
    if not single and not args.no_pruning:
        print("note: multi-objective studies cannot prune (Optuna); every trial runs fully")
    study = load_or_create_study(
        storage,
        args.study,
        [o.direction for o in objectives],
        sampler=sampler,
        pruner=pruner,
        metric_names=[o.name for o in objectives],
    )
    store.write_study_info(
        {
            "name": args.study,
            "kind": "optuna",
            "command": redact_command(getattr(args, "argv", sys.argv[1:])),
            "storage": redact_url(url),
            "objectives": [o.__dict__ for o in objectives],
            "space": args.space,
            "sampler": args.sampler,
            "seed": args.seed,
            "fixed": base.to_dict(),
        }
    )
    objective = make_objective(
        base, space, objectives, store, CorpusCache(args.data_dir), heartbeat=storage
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with _one_line_trial_failures():
        study.optimize(
            objective,
            n_trials=args.n_trials,
            catch=(StudyError,),
            show_progress_bar=sys.stderr.isatty(),
        )
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    print(
        f"study {args.study}: "
        + ", ".join(f"{states.count(s)} {s.lower()}" for s in sorted(set(states)))
    )
    if single and any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        best = study.best_trial
        print(f"best {objectives[0].name} = {best.value:.4f} with {best.params}")
    elif not single:
        for trial in study.best_trials:
            print(f"pareto: {trial.values} with {trial.params}")
    save_tables_or_warn(store)
    return 0


class _DropUserErrorTracebacks(logging.Filter):
    """Optuna logs a failed trial with its traceback; for a user error (a diverging run, a bad
    corpus: already recorded with its reason) its one-line message says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], StudyError):
            record.exc_info, record.exc_text = None, None
        return True


@contextlib.contextmanager
def _one_line_trial_failures() -> Iterator[None]:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.addFilter(_DropUserErrorTracebacks())
    logger = logging.getLogger("optuna")
    optuna.logging.disable_default_handler()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        optuna.logging.enable_default_handler()
