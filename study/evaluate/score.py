"""Word-pair similarity (Spearman ρ and coverage) and analogies (3CosAdd and 3CosMul, vectorised
in torch) on the benchmarks of the registry (`study.evaluate.benchmarks`: WS353 and its
similarity and relatedness splits, MEN, MTurk-287, Rare Words, SimLex-999, the Google and MSR
analogies) or any pair file, for the input vectors w and, given the output vectors, w+c; with
gensim's and word2vec.c's counting rules so the numbers mean what theirs mean; docs/DESIGN.md
("Evaluation") gives the rules.
"""

from __future__ import annotations

import logging
import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd
import torch
from gensim.models import KeyedVectors
from scipy import stats

from study.core.device import resolve_device
from study.core.errors import StudyError
from study.evaluate import benchmarks as registry
from study.evaluate.items import AnalogyItems, PairItems, RunItems
from study.train.vectors import keyed_vectors

logger = logging.getLogger(__name__)

WS353_PATH = registry.registry()["ws353"].path
SIMLEX_PATH = registry.registry()["simlex"].path
GOOGLE_ANALOGIES_PATH = registry.registry()["analogy"].path

DEFAULT_RESTRICT_VOCAB = 30_000  # analogies, as word2vec.c compute-accuracy
PAIRS_RESTRICT_VOCAB = 300_000  # word pairs, gensim's evaluate_word_pairs default
COSMUL_EPSILON = 1e-3  # Levy & Goldberg 2014
_WARNED: set[str] = set()
T = TypeVar("T")


class BenchmarkFileError(StudyError):
    """A benchmark file that is missing or malformed; the message names file and line."""


# ---------------------------------------------------------------- reading benchmark files


def read_word_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """`word1 word2 score` lines, tab- or whitespace-separated; `#` lines and blanks skipped."""
    pairs = []
    for line_no, line in _lines(path):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        # Tabs separate fields when present (multi-word entries); otherwise any whitespace.
        fields = [f.strip() for f in stripped.split("\t")] if "\t" in stripped else stripped.split()
        if len(fields) != 3 or not fields[0] or not fields[1]:
            raise BenchmarkFileError(
                f"{path}:{line_no}: expected 'word1 word2 score', got {stripped[:80]!r}"
            )
        try:
            score = float(fields[2])
        except ValueError:
            raise BenchmarkFileError(
                f"{path}:{line_no}: score {fields[2]!r} is not a number"
            ) from None
        if not math.isfinite(score):
            raise BenchmarkFileError(f"{path}:{line_no}: score {fields[2]!r} is not finite")
        pairs.append((fields[0], fields[1], score))
    if not pairs:
        raise BenchmarkFileError(f"{path}: no word pairs found")
    return pairs


@dataclass(frozen=True)
class AnalogySet:
    """Questions `a b c d` (a:b :: c:d) grouped into named sections, in file order."""

    sections: list[str]
    questions: list[tuple[str, str, str, str]]
    section_ids: np.ndarray  # section index of each question

    @cached_property
    def upper_words(self) -> tuple[list[str], np.ndarray]:
        """(distinct UPPER-CASED words, (n, 4) index of each question word into them): the
        vocabulary lookups of an evaluation then touch each distinct word once."""
        words, inverse = np.unique(
            np.array([w.upper() for q in self.questions for w in q]), return_inverse=True
        )
        return [str(w) for w in words], inverse.reshape(len(self.questions), 4)


def read_analogies(
    path: str | Path = GOOGLE_ANALOGIES_PATH, section: str | None = None
) -> AnalogySet:
    """The Google analogy format: `: section` header lines, then `a b c d` lines. With
    `section`, questions before any header belong to a section of that name (MSR's file has
    no headers)."""
    sections: list[str] = [section] if section else []
    questions: list[tuple[str, str, str, str]] = []
    section_ids: list[int] = []
    for line_no, line in _lines(path):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith(":"):
            name = stripped[1:].strip()
            if not name:
                raise BenchmarkFileError(f"{path}:{line_no}: empty section name")
            sections.append(name)
            continue
        words = stripped.split()
        if len(words) != 4:
            raise BenchmarkFileError(
                f"{path}:{line_no}: expected 4 words 'a b c d', got {len(words)}: {stripped[:80]!r}"
            )
        if not sections:
            raise BenchmarkFileError(f"{path}:{line_no}: question before any ': section' header")
        questions.append((words[0], words[1], words[2], words[3]))
        section_ids.append(len(sections) - 1)
    if not questions:
        raise BenchmarkFileError(f"{path}: no analogy questions found")
    if section and section_ids.count(0) == 0:
        sections.pop(0)  # the file had headers from its first line: the default is unused
        section_ids = [i - 1 for i in section_ids]
    return AnalogySet(sections, questions, np.asarray(section_ids, dtype=np.int64))


def _lines(path: str | Path) -> Iterable[tuple[int, str]]:
    """(1-based line number, line) of a UTF-8 text file, with readable errors."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        mode = stat.S_IFREG  # open() below names the problem
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a FIFO's open() would wait forever
        raise BenchmarkFileError(f"{path}: not a regular file (a pipe or device); save it first")
    try:
        with open(path, encoding="utf-8") as fin:
            yield from enumerate(fin, start=1)
    except FileNotFoundError:
        raise BenchmarkFileError(f"{path}: benchmark file not found") from None
    except UnicodeDecodeError as exc:
        raise BenchmarkFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except IsADirectoryError:
        raise BenchmarkFileError(f"{path}: is a directory, not a benchmark file") from None
    except (OSError, ValueError) as exc:  # permission denied, a NUL in the name
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise BenchmarkFileError(f"{path}: cannot read ({reason})") from None


# ---------------------------------------------------------------- vocabulary helpers


def _case_index(vectors: KeyedVectors, restrict_vocab: int | None) -> dict[str, int]:
    """UPPER-CASED word -> index of its most frequent case variant among the first N words.

    Same rule as gensim's evaluate_word_pairs/evaluate_word_analogies (case_insensitive=True).
    """
    index: dict[str, int] = {}
    for i, key in enumerate(vectors.index_to_key[:restrict_vocab]):
        index.setdefault(str(key).upper(), i)
    return index


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, np.finfo(matrix.dtype).tiny)


# ---------------------------------------------------------------- word pairs


@dataclass(frozen=True)
class PairResult:
    spearman: float
    coverage: float
    found: int
    total: int
    items: PairItems  # gold score and cosine of every pair (NaN where not found)


def evaluate_word_pairs(
    vectors: KeyedVectors,
    path: str | Path,
    restrict_vocab: int | None = PAIRS_RESTRICT_VOCAB,
    *,
    case_index: Mapping[str, int] | None = None,
) -> PairResult:
    """Spearman ρ over the pairs with both words known (case-insensitive), and coverage.
    `case_index`: `_case_index(vectors, restrict_vocab)`, when the caller has it already."""
    pairs = _cached_read(read_word_pairs, path)
    index = _case_index(vectors, restrict_vocab) if case_index is None else case_index
    gold = np.array([score for _, _, score in pairs], dtype=np.float64)
    found = np.array([a.upper() in index and b.upper() in index for a, b, _ in pairs], dtype=bool)
    predicted = np.full(len(pairs), np.nan)
    n_found = int(found.sum())
    coverage = n_found / len(pairs)
    if n_found < 2:
        message = f"{path}: {n_found} of {len(pairs)} pairs in vocabulary; no Spearman"
        if message not in _WARNED:  # once per process, not once per run of a grid
            _WARNED.add(message)
            logger.warning(message)
        return PairResult(math.nan, coverage, n_found, len(pairs), PairItems(gold, predicted))
    ia = np.array([index[a.upper()] for (a, _, _), f in zip(pairs, found, strict=True) if f])
    ib = np.array([index[b.upper()] for (_, b, _), f in zip(pairs, found, strict=True) if f])
    va = _unit_rows(np.asarray(vectors.vectors[ia], dtype=np.float64))
    vb = _unit_rows(np.asarray(vectors.vectors[ib], dtype=np.float64))
    predicted[found] = np.einsum("ij,ij->i", va, vb)
    rho = float(stats.spearmanr(gold[found], predicted[found]).statistic)
    return PairResult(rho, coverage, n_found, len(pairs), PairItems(gold, predicted))


# ---------------------------------------------------------------- analogies


@dataclass
class AnalogyResult:
    """Per-question predictions and the per-section table of one analogy evaluation.

    `predicted_add`/`predicted_mul` hold the answer's index into `vectors.index_to_key`, -1
    where the question was not counted (a word outside the restricted vocabulary).
    """

    analogies: AnalogySet
    covered: np.ndarray  # bool per question
    correct_add: np.ndarray  # bool per question (False where not covered)
    correct_mul: np.ndarray
    predicted_add: np.ndarray
    predicted_mul: np.ndarray
    restrict_vocab: int
    table: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        self.table = self._section_table()

    def _section_table(self) -> pd.DataFrame:
        rows = []
        ids = self.analogies.section_ids
        for s, name in enumerate(self.analogies.sections):
            mask = ids == s
            rows.append(_summary(name, registry.section_kind(name), mask, self))
        return pd.DataFrame(rows)

    def items(self) -> AnalogyItems:
        a = self.analogies
        return AnalogyItems(
            a.sections, a.section_ids, self.covered, self.correct_add, self.correct_mul
        )

    def metrics(self, prefix: str = "analogy", vocabulary_stats: bool = True) -> dict[str, float]:
        """Flat metrics `{prefix}_<stat>`, in `Benchmark.stats` order: the accuracies of
        `benchmarks.ANALOGY_ACCURACIES` (those of one kind of question only when the set mixes
        semantic and syntactic sections, Google's), then coverage and questions.
        `vocabulary_stats=False` leaves out coverage and questions (the same for w+c as for w)."""
        kinds = self.items().kinds()
        summaries: dict[str | None, dict] = {
            None: _summary("total", "", np.ones(len(kinds), dtype=bool), self)
        }
        if {"semantic", "syntactic"} <= set(kinds.tolist()):
            for kind in ("semantic", "syntactic"):
                summaries[kind] = _summary(kind, "", kinds == kind, self)
        out = {
            registry.metric_name(prefix, stat): summaries[questions][f"acc_{method}"]
            for stat, (method, questions) in registry.ANALOGY_ACCURACIES.items()
            if questions in summaries
        }
        if vocabulary_stats:
            everything = summaries[None]
            out[registry.metric_name(prefix, registry.COVERAGE)] = everything["coverage"]
            out[registry.metric_name(prefix, registry.QUESTIONS)] = float(everything["counted"])
        return out


def _summary(name: str, kind: str, mask: np.ndarray, result: AnalogyResult) -> dict:
    counted = int(result.covered[mask].sum())
    add = int(result.correct_add[mask].sum())
    mul = int(result.correct_mul[mask].sum())
    total = int(mask.sum())
    return {
        "section": name,
        "kind": kind,
        "questions": total,
        "counted": counted,
        "coverage": counted / total if total else math.nan,
        "correct_3cosadd": add,
        "acc_3cosadd": add / counted if counted else math.nan,
        "correct_3cosmul": mul,
        "acc_3cosmul": mul / counted if counted else math.nan,
    }


def evaluate_analogies(
    vectors: KeyedVectors,
    path: str | Path = GOOGLE_ANALOGIES_PATH,
    restrict_vocab: int = DEFAULT_RESTRICT_VOCAB,
    device: str | torch.device = "auto",
    batch_size: int | None = None,
    cosmul_epsilon: float = COSMUL_EPSILON,
    cpu_threads: int = 1,
    section: str | None = None,
    *,
    case_index: Mapping[str, int] | None = None,
) -> AnalogyResult:
    """3CosAdd and 3CosMul over the `restrict_vocab` most frequent words (see module doc).

    `cosmul_epsilon` is 1e-3 as in Levy & Goldberg; gensim's `most_similar_cosmul` uses 1e-6.
    `cpu_threads`: torch threads for the batched search on CPU (see `_solve`). `section`: the
    section of questions before any header (`read_analogies`).
    """
    analogies = _cached_read(read_analogies, path, section)
    index = _case_index(vectors, restrict_vocab) if case_index is None else case_index
    n_vocab = min(restrict_vocab, len(vectors.index_to_key))
    n_q = len(analogies.questions)
    # Word -> representative index (most frequent case variant); -1 outside the vocabulary.
    words, word_ids = analogies.upper_words
    q = np.array([index.get(w, -1) for w in words], dtype=np.int64)[word_ids].reshape(n_q, 4)
    covered: np.ndarray = np.asarray((q >= 0).all(axis=1))
    predicted_add = np.full(n_q, -1, dtype=np.int64)
    predicted_mul = np.full(n_q, -1, dtype=np.int64)
    rows = np.flatnonzero(covered)
    if len(rows):
        dev = _device(device)
        add, mul = _solve(vectors, q[rows], n_vocab, dev, batch_size, cosmul_epsilon, cpu_threads)
        predicted_add[rows] = add
        predicted_mul[rows] = mul
    # Correct when the answer is the expected word or one of its case variants.
    group = _case_groups(vectors, n_vocab)
    expected = q[:, 3]
    correct_add = covered & (group[np.maximum(predicted_add, 0)] == expected)
    correct_mul = covered & (group[np.maximum(predicted_mul, 0)] == expected)
    return AnalogyResult(
        analogies, covered, correct_add, correct_mul, predicted_add, predicted_mul, restrict_vocab
    )


def _device(device: str | torch.device) -> torch.device:
    if isinstance(device, torch.device):
        return device
    return resolve_device(device)


def _case_groups(vectors: KeyedVectors, n_vocab: int) -> np.ndarray:
    """For each of the first n_vocab words, the index of its most frequent case variant."""
    first: dict[str, int] = {}
    return np.array(
        [first.setdefault(str(k).upper(), i) for i, k in enumerate(vectors.index_to_key[:n_vocab])],
        dtype=np.int64,
    )


def _solve(
    vectors: KeyedVectors,
    q: np.ndarray,
    n_vocab: int,
    device: torch.device,
    batch_size: int | None,
    epsilon: float,
    cpu_threads: int,
) -> tuple[np.ndarray, np.ndarray]:
    """3CosAdd and 3CosMul answers (vocabulary indices) for covered questions q (n, 4)."""
    unit = torch.from_numpy(_unit_rows(np.asarray(vectors.vectors[:n_vocab], dtype=np.float32)))
    unit = unit.to(device)
    # Cosines of each distinct question word with the whole restricted vocabulary.
    words, inverse_np = np.unique(q[:, :3], return_inverse=True)
    inverse = torch.from_numpy(inverse_np.reshape(-1, 3)).to(device)
    cos = unit[torch.from_numpy(words).to(device)] @ unit.T  # (n_words, n_vocab)
    excluded = torch.from_numpy(_exclusions(vectors, n_vocab, q[:, :3])).to(device)

    if batch_size is None:
        # CPU: ~1M scores (4 MB) per batch stay in cache (docs/DESIGN.md, Measurements);
        # GPU: ~64M per batch.
        budget = 1 << 26 if device.type == "cuda" else 1 << 20
        batch_size = max(1, budget // n_vocab)

    # The batch loop is many small memory-bound ops; on CPU each is an OpenMP parallel region
    # whose barrier spins on a loaded machine, so it runs on `cpu_threads` threads
    # (docs/DESIGN.md, Measurements).
    saved_threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(max(1, cpu_threads))
    try:
        # 3CosAdd: cos(d, b) + cos(d, c) - cos(d, a).
        add = _argmax_sums(cos, cos, inverse, excluded, batch_size)
        # 3CosMul with cosines shifted to [0, 1]: cos'(d,b) cos'(d,c) / (cos'(d,a) + eps),
        # ranked as log cos'(d,b) + log cos'(d,c) - log(cos'(d,a) + eps): the same kernel.
        # Transformed in place to keep peak memory at two (n_words, n_vocab) matrices.
        shifted = cos.add_(1).mul_(0.5).clamp_(0, 1)  # clamp: rounding can leave cos < -1
        log_neg = torch.log(shifted + epsilon)
        log_pos = shifted.log_()  # log 0 = -inf: the lowest score, never NaN
        mul = _argmax_sums(log_pos, log_neg, inverse, excluded, batch_size)
    finally:
        torch.set_num_threads(saved_threads)
    return add, mul


def _argmax_sums(
    pos: torch.Tensor,
    neg: torch.Tensor,
    rows: torch.Tensor,
    excluded: torch.Tensor,
    batch_size: int,
) -> np.ndarray:
    """argmax over the vocabulary of pos[b] + pos[c] - neg[a], excluded entries never chosen.

    rows: (n_questions, 3) row indices (a, b, c) into pos/neg.
    """
    out = []
    for start in range(0, len(rows), batch_size):
        r = rows[start : start + batch_size]
        score = torch.index_select(pos, 0, r[:, 1])
        score += torch.index_select(pos, 0, r[:, 2])
        score -= torch.index_select(neg, 0, r[:, 0])
        score.scatter_(1, excluded[start : start + batch_size], -math.inf)
        if score.is_cuda:
            out.append(score.argmax(dim=1).cpu().numpy())
        else:  # NumPy's SIMD argmax beats torch's on CPU (docs/DESIGN.md, Measurements)
            out.append(score.numpy().argmax(axis=1))
    return np.concatenate(out)


def _exclusions(vectors: KeyedVectors, n_vocab: int, abc: np.ndarray) -> np.ndarray:
    """Indices never allowed as answers: the question words and all their case variants.

    Shape (n_questions, 3 * k), k = the most case variants any question word has; rows are
    padded by repeating the word's own index.
    """
    group = _case_groups(vectors, n_vocab)
    variants: dict[int, list[int]] = {}
    for i in np.flatnonzero(group != np.arange(n_vocab)):
        variants.setdefault(int(group[i]), []).append(int(i))
    k = 1 + max((len(v) for v in variants.values()), default=0)
    members = np.repeat(np.arange(n_vocab, dtype=np.int64)[:, None], k, axis=1)
    for rep, others in variants.items():
        members[rep, 1 : 1 + len(others)] = others
    return members[abc].reshape(len(abc), 3 * k)


# ---------------------------------------------------------------- one call for everything


@dataclass
class Evaluation:
    metrics: dict[str, float]
    sections: pd.DataFrame  # per analogy section of w: column `benchmark`, then _section_table's
    items: RunItems  # per-item results, stored beside metrics.json


def run_evaluation(
    vectors: KeyedVectors,
    restrict_vocab: int = DEFAULT_RESTRICT_VOCAB,
    pairs: Sequence[str | Path] = (),
    analogies: str | Path | None = GOOGLE_ANALOGIES_PATH,
    device: str | torch.device = "auto",
    benchmarks: str | Iterable[str] | None = None,
    output_vectors: np.ndarray | None = None,
) -> Evaluation:
    """The registry's benchmarks (`benchmarks`: names or "a,b"; None: all), plus any extra pair
    files (named by file stem). `analogies` is the Google set's file (None leaves it out).
    With `output_vectors` (W_out, row i for word i of `vectors`), w+c is scored too: its
    metrics and items are named `<benchmark>_wc_...` (`study.evaluate.benchmarks`)."""
    chosen = registry.select(benchmarks)
    if analogies is None:
        chosen = [b for b in chosen if b.name != "analogy"]
    jobs: list[tuple[str, str, str | Path, str | None]] = [  # (name, kind, path, section)
        (b.name, b.kind, analogies if b.name == "analogy" and analogies else b.path, b.section)
        for b in chosen
    ]
    taken = {name for name, *_ in jobs}
    for path in pairs:
        name = pair_metric_prefix(path)
        if name in taken:
            name = f"{name}_file"
        taken.add(name)
        jobs.append((name, "spearman", path, None))
    variants = [("", vectors)]
    if output_vectors is not None:
        variants.append((registry.VECTORS["w+c"], _sum_vectors(vectors, output_vectors)))
    metrics: dict[str, float] = {}
    items = RunItems()
    tables = []
    # w and w+c share the words: each lookup table is built once
    pair_index = _case_index(vectors, PAIRS_RESTRICT_VOCAB)
    analogy_index = _case_index(vectors, restrict_vocab)
    for infix, scored in variants:
        for name, kind, path, section in jobs:
            key = f"{name}{infix}"
            if kind == "spearman":
                result = evaluate_word_pairs(scored, path, case_index=pair_index)
                metrics[registry.metric_name(key, registry.PRIMARY_STAT[kind])] = result.spearman
                if not infix:
                    metrics[registry.metric_name(key, registry.COVERAGE)] = result.coverage
                items.pairs[key] = result.items
            else:
                analogy = evaluate_analogies(
                    scored, path, restrict_vocab, device, section=section, case_index=analogy_index
                )
                metrics.update(analogy.metrics(key, vocabulary_stats=not infix))
                items.analogies[key] = analogy.items()
                if not infix:
                    tables.append(analogy.table.assign(benchmark=name))
    sections = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if not sections.empty:
        sections = sections[["benchmark", *(c for c in sections.columns if c != "benchmark")]]
    return Evaluation(metrics, sections, items)


def _sum_vectors(vectors: KeyedVectors, output_vectors: np.ndarray) -> KeyedVectors:
    """w+c: each word's input plus output vector."""
    output = np.asarray(output_vectors, dtype=np.float32)
    if output.shape != vectors.vectors.shape:
        raise StudyError(
            f"output vectors of shape {output.shape} do not match the input vectors "
            f"{vectors.vectors.shape}: not from one run"
        )
    return keyed_vectors(vectors.index_to_key, vectors.vectors + output)


def evaluate(
    vectors: KeyedVectors,
    restrict_vocab: int = DEFAULT_RESTRICT_VOCAB,
    pairs: Sequence[str | Path] = (),
    analogies: str | Path | None = GOOGLE_ANALOGIES_PATH,
    device: str | torch.device = "auto",
    benchmarks: str | Iterable[str] | None = None,
) -> dict[str, float]:
    """The benchmarks as one flat dict (`ws353_spearman`, `men_spearman`, `analogy_acc`, ...)."""
    return run_evaluation(vectors, restrict_vocab, pairs, analogies, device, benchmarks).metrics


def benchmark_table(metrics: Mapping[str, float]) -> pd.DataFrame:
    """One row per benchmark in `metrics` (registry order, then others): its headline metric
    for w and w+c, and its coverage (the share of pairs or questions in the vocabulary)."""
    rows = []
    names = [b.name for b in registry.registry().values()]
    coverage = registry.COVERAGE
    extra = (k[: -len(coverage) - 1] for k in metrics if registry.stat_of(k, [coverage]))
    names += sorted(name for name in extra if name not in names)
    for name in names:
        if registry.metric_name(name, coverage) not in metrics:
            continue
        pair, analogy = registry.PRIMARY_STAT["spearman"], registry.PRIMARY_STAT["analogy"]
        stat = pair if registry.metric_name(name, pair) in metrics else analogy
        rows.append(
            {
                "benchmark": name,
                "metric": registry.TABLE_STAT_LABELS[stat],
                "w": metrics.get(registry.metric_name(name, stat), math.nan),
                "w+c": metrics.get(registry.metric_name(name, stat, "w+c"), math.nan),
                "coverage": metrics[registry.metric_name(name, coverage)],
            }
        )
    return pd.DataFrame(rows, columns=["benchmark", "metric", "w", "w+c", "coverage"])


def pair_metric_prefix(path: str | Path) -> str:
    """Metric-name prefix of a user pair file: its lower-cased stem, non-alphanumerics -> _."""
    return re.sub(r"[^0-9a-z]+", "_", Path(path).stem.lower()).strip("_") or "pairs"


# Parsed benchmark files, by path, content size and modification time: a grid scores the same
# files for every run, twice with w+c.
_PARSED: dict[tuple[Any, ...], Any] = {}


def _cached_read(reader: Callable[..., T], path: str | Path, *args: Any) -> T:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return reader(path, *args)  # the reader names the problem
    if not stat.S_ISREG(info.st_mode):
        return reader(path, *args)
    key = (reader.__name__, os.path.abspath(path), args, info.st_size, info.st_mtime_ns)
    if key not in _PARSED:
        if len(_PARSED) > 64:
            _PARSED.clear()
        _PARSED[key] = reader(path, *args)
    return cast(T, _PARSED[key])


# ---------------------------------------------------------------- nearest neighbours


def nearest_neighbours(
    vectors: KeyedVectors, words: Sequence[str], k: int = 10
) -> dict[str, list[tuple[str, float]]]:
    """The k most cosine-similar words of each known word; unknown words are skipped (warned).

    A word is looked up as given, then lower-cased.
    """
    out: dict[str, list[tuple[str, float]]] = {}
    for word in words:
        key = word if word in vectors.key_to_index else word.lower()
        if key not in vectors.key_to_index:
            logger.warning("nearest neighbours: %r is not in the vocabulary; skipped", word)
            continue
        out[word] = [(str(w), float(s)) for w, s in vectors.most_similar(key, topn=k)]
    return out
