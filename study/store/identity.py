"""Corpus identity in a study: one corpus name, one content, never mixed in one study.

A run id hashes the config, whose `corpus` is a name or a path, not the text: ids must stay
stable (existing study folders keep their runs), so the content enters the run record instead
(`corpus_fingerprint` in metrics.json, `study.data.corpus.CorpusContent.fingerprint`). Before a
command uses a study, every finished run of a corpus name it is about to use is checked
against that corpus's content now: a run of other contents is refused in one line (naming both
fingerprints) unless this command reruns it (`--overwrite`, `--retry-failed` for failed
runs). Runs recorded before fingerprints existed are checked by their vocabulary size and word
count, which any change of the text that matters changes too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from study.core.config import RunConfig
from study.core.errors import CorpusError, StudyError
from study.data.corpus import data_dir, resolve
from study.data.vocab import EncodedCorpus, load_corpus
from study.store.results import ResultStore, RunRecord


@dataclass(frozen=True)
class Mismatch:
    run_id: str
    status: str
    then: str  # the recorded fingerprint, or what the record says (legacy runs)
    now: str


def check_corpus_identity(
    store: ResultStore,
    corpora: Iterable[str],
    data_root: str | None,
    reruns: Callable[[str, str], bool],
    in_this_command: Callable[[str], bool] = lambda run_id: True,
) -> None:
    """Refuse (one `StudyError` line) if a finished run of one of `corpora` in `store` was
    trained on other contents than the corpus holds now, unless `reruns(run_id, status)`.

    Corpora that cannot be read are not checked here: their runs fail with the reason.
    """
    specs = set(corpora)
    records = [r for r in store.finished_runs() if r.config.corpus in specs]
    for spec in sorted({r.config.corpus for r in records}):
        try:
            now = resolve(spec, data_dir(data_root)).load().fingerprint
        except CorpusError:
            continue
        mine = [r for r in records if r.config.corpus == spec]
        encoded = _Encoded(data_root)
        stale = [m for r in mine if (m := _mismatch(r, now, encoded)) is not None]
        kept = [m for m in stale if not reruns(m.run_id, m.status)]
        if kept:
            raise StudyError(_message(store, spec, kept, in_this_command))


def _mismatch(record: RunRecord, now: str, encoded: _Encoded) -> Mismatch | None:
    result = record.result
    run_id, status = record.config.run_id, result["status"]
    then = result.get("corpus_fingerprint")
    if then is not None:
        return None if then == now else Mismatch(run_id, status, _short(then), _short(now))
    # recorded before fingerprints: the vocabulary and word count it trained on must match
    if status != "done" or "vocab_size" not in result or "corpus_words" not in result:
        return None  # nothing to compare (and a failed run holds no result to mix)
    corpus = encoded.get(record.config)
    then_sizes = (result["vocab_size"], result["corpus_words"])
    now_sizes = (len(corpus.vocab), corpus.n_words)
    if then_sizes == now_sizes:
        return None
    return Mismatch(
        run_id,
        status,
        f"vocabulary {then_sizes[0]}, {then_sizes[1]} words",
        f"{now_sizes[0]}, {now_sizes[1]}",
    )


class _Encoded:
    """The current corpus per vocabulary setting, one held at a time (a corpus can be large)."""

    def __init__(self, data_root: str | None) -> None:
        self.data_root = data_root
        self.key: tuple[str, int, int | None] | None = None
        self.corpus: EncodedCorpus | None = None

    def get(self, config: RunConfig) -> EncodedCorpus:
        key = (config.corpus, config.min_count, config.max_vocab)
        if self.corpus is None or key != self.key:
            self.key, self.corpus = key, load_corpus(*key, data_root=self.data_root)
        return self.corpus


def _short(fingerprint: str) -> str:
    return "sha256 " + fingerprint.rsplit(":", 1)[-1][:12]


def _message(
    store: ResultStore, spec: str, stale: list[Mismatch], in_this_command: Callable[[str], bool]
) -> str:
    first = stale[0]
    outside = [m for m in stale if not in_this_command(m.run_id)]
    if outside:
        fix = (
            f"{len(outside)} of them are not part of this command: use another --study, or "
            f"move their folders away (e.g. {store.root / 'runs' / outside[0].run_id})"
        )
    else:
        again = "--retry-failed" if all(m.status != "done" for m in stale) else "--overwrite"
        fix = f"rerun them with {again}, or use another --study"
    runs = "run" if len(stale) == 1 else "runs"
    return (
        f"study {store.name!r} has {len(stale)} finished {runs} trained on other contents of "
        f"corpus {spec} ({first.then} then, {first.now} now; e.g. run {first.run_id}); the "
        f"tables would mix two corpora: {fix}"
    )


def check_grid_corpora(
    store: ResultStore,
    cells: Iterable[RunConfig],
    data_root: str | None,
    overwrite: bool = False,
    retry_failed: bool = False,
) -> None:
    """`check_corpus_identity` for a grid: it reruns its own cells with `--overwrite`, its
    failed ones with `--retry-failed` (as `study.run.runner.needs_run` decides)."""
    cells = list(cells)
    ids = {c.run_id for c in cells}

    def reruns(run_id: str, status: str) -> bool:
        return run_id in ids and (overwrite or (retry_failed and status == "failed"))

    check_corpus_identity(
        store, {c.corpus for c in cells}, data_root, reruns, in_this_command=ids.__contains__
    )
