"""Joint-PCA overlays of the same words across the models of one sweep, Procrustes-aligned.

Runs trained separately have arbitrary rotations, so each model is normalised (unit rows,
centred) and rotated onto the reference model by orthogonal Procrustes before one PCA of all of
them; without alignment a joint PCA shows rotation, not learning differences. Displacement is
the mean distance of the plotted words from their reference positions, with and without it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.linalg import orthogonal_procrustes

from study.analyze.analysis import fmt_value, sweep_models, where_text
from study.analyze.figures.common import plain_text
from study.core.errors import StudyError
from study.core.trainers import DEFAULT
from study.store.results import ResultStore

log = logging.getLogger(__name__)

SEED_WORDS = [
    "king", "queen", "man", "woman", "london", "paris", "france", "england", "computer",
    "software", "data", "science", "music", "art", "city", "country", "river", "mountain",
]  # fmt: skip


def procrustes_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal R minimising ‖source·R − target‖_F (rows = the same words)."""
    rotation, _ = orthogonal_procrustes(source, target)
    return np.asarray(rotation)


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Unit rows, then centred: cosine geometry, comparable across runs of any scale."""
    unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return unit - unit.mean(axis=0, keepdims=True)


def mean_displacement(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Euclidean distance between corresponding rows."""
    return float(np.linalg.norm(a - b, axis=1).mean())


def select_words(
    vectors: Sequence[Any], seed_words: Sequence[str] = SEED_WORDS, target: int = 300
) -> tuple[list[str], list[str]]:
    """Seed words present in every model, plus the reference model's neighbours, ~`target`.

    `vectors[0]` is the reference. Returns (words, missing seed words); missing ones are warned.
    """
    shared = set(vectors[0].key_to_index)
    for kv in vectors[1:]:
        shared &= set(kv.key_to_index)
    present = [w for w in seed_words if w in shared]
    missing = [w for w in seed_words if w not in shared]
    if missing:
        log.warning(
            "PCA overlay: seed words not in every vocabulary, skipped: %s", ", ".join(missing)
        )
    if not present:
        listed = ", ".join(seed_words[:6]) + (", …" if len(seed_words) > 6 else "")
        raise StudyError(
            f"none of the PCA seed words ({listed}) is in the models' shared vocabulary; "
            "choose words of this corpus with --pca-seeds"
        )
    words = list(present)
    chosen = set(words)
    per_seed = max(target // len(present), 1) * 3
    neighbours = {w: [n for n, _ in vectors[0].most_similar(w, topn=per_seed)] for w in present}
    depth = 0
    while len(words) < target and depth < per_seed:  # round-robin: every seed gets neighbours
        for seed_word in present:
            candidates = neighbours[seed_word]
            if depth < len(candidates):
                word = candidates[depth]
                if word in shared and word not in chosen:
                    words.append(word)
                    chosen.add(word)
                    if len(words) >= target:
                        break
        depth += 1
    return words, missing


@dataclass
class OverlayData:
    """The projected words of every model (seed words first) and their displacement."""

    projected: list[np.ndarray]  # per model: words × 3 principal components
    labels: list[str]
    words: list[str]
    missing: list[str]
    n_seed: int  # the first n_seed words are seed words
    explained: np.ndarray  # fraction of variance per component
    displacement: pd.DataFrame  # model, run_id, displacement_aligned, displacement_unaligned
    aligned: bool
    heading: str

    @property
    def legend(self) -> list[str]:
        column = "displacement_aligned" if self.aligned else "displacement_unaligned"
        shift = self.displacement[column]
        return [f"{lab}  (disp. {d:.3f})" for lab, d in zip(self.labels, shift, strict=True)]


def overlay_data(
    vectors: Sequence[Any],
    labels: Sequence[str],
    run_ids: Sequence[str] | None = None,
    align: bool = True,
    seed_words: Sequence[str] = SEED_WORDS,
    target: int = 300,
    anchor_words: int = 10_000,
    title: str = "",
) -> OverlayData:
    """Normalise, align (Procrustes fitted on up to `anchor_words` most frequent shared words)
    and jointly project the selected words of every model; vectors[0] is the reference."""
    if len(vectors) < 1 or len(vectors) != len(labels):
        raise ValueError("need one label per model")
    run_ids = list(run_ids) if run_ids is not None else [""] * len(vectors)
    words, missing = select_words(vectors, seed_words, target)
    shared = set(vectors[0].key_to_index).intersection(*(kv.key_to_index for kv in vectors[1:]))
    anchors = [w for w in vectors[0].index_to_key if w in shared][:anchor_words]
    anchors += sorted(set(words) - set(anchors))  # the plotted words always take part
    position = {w: i for i, w in enumerate(anchors)}
    word_rows = [position[w] for w in words]
    reference_anchor = normalise(vectors[0][anchors])
    reference_subset = reference_anchor[word_rows]
    subsets: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    for kv, label, run_id in zip(vectors, labels, run_ids, strict=True):
        anchor = normalise(kv[anchors])
        raw = anchor[word_rows]
        aligned = (anchor @ procrustes_rotation(anchor, reference_anchor))[word_rows]
        subsets.append(aligned if align else raw)
        rows.append({
            "model": label,
            "run_id": run_id,
            "displacement_aligned": mean_displacement(aligned, reference_subset),
            "displacement_unaligned": mean_displacement(raw, reference_subset),
        })  # fmt: skip
    stacked = np.concatenate(subsets)
    centred = stacked - stacked.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    explained = singular**2 / max(float((singular**2).sum()), 1e-12)
    projected = [s @ components[:3].T - stacked.mean(axis=0) @ components[:3].T for s in subsets]
    mode = "Procrustes-aligned to " + labels[0] if align else "NOT aligned (raw axes)"
    heading = f"Joint PCA of {len(words)} words across {len(vectors)} models, {mode}"
    if title:
        heading += f"\n{title}"
    n_seed = len([w for w in seed_words if w in words])
    return OverlayData(projected, list(labels), words, missing, n_seed, explained,
                       pd.DataFrame(rows), align, heading)  # fmt: skip


def _colors(n: int) -> list[Any]:
    cmap = matplotlib.colormaps["viridis" if n > 2 else "tab10"]
    return [cmap(i / max(n - 1, 1) * 0.9) if n > 2 else cmap(i) for i in range(n)]


@plain_text
def draw_overlay_2d(data: OverlayData) -> Figure:
    fig = Figure(figsize=(10, 8.2), layout="constrained")
    ax = fig.subplots()
    n, projected = data.n_seed, data.projected
    for points, label, color in zip(projected, data.legend, _colors(len(projected)), strict=True):
        ax.scatter(points[n:, 0], points[n:, 1], s=9, alpha=0.35, color=color, lw=0)
        ax.scatter(points[:n, 0], points[:n, 1], s=46, color=color, edgecolor="black", lw=0.5,
                   label=label, zorder=3)  # fmt: skip
    for i in range(n):  # one word's path across models shows its displacement
        track = np.array([p[i, :2] for p in projected])
        ax.plot(track[:, 0], track[:, 1], color="grey", lw=0.8, alpha=0.7, zorder=2)
        ax.annotate(data.words[i], (projected[0][i, 0], projected[0][i, 1]), fontsize=10,
                    fontweight="bold", xytext=(4, 4), textcoords="offset points",
                    zorder=4)  # fmt: skip
    ax.set_xlabel(f"PC1 ({data.explained[0]:.1%} of variance)")
    ax.set_ylabel(f"PC2 ({data.explained[1]:.1%} of variance)")
    ax.set_title(
        data.heading + "\nlarge dots = seed words (label at the reference), small = neighbours,"
        " grey lines join a word across models",
        fontsize=10,
    )
    ax.legend(fontsize=9, loc="best", title="model (mean displacement)", title_fontsize=9)
    ax.grid(alpha=0.3)
    return fig


@plain_text
def draw_overlay_3d(data: OverlayData) -> Figure:
    fig = Figure(figsize=(10, 8.6), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    n, projected, explained = data.n_seed, data.projected, data.explained
    for points, label, color in zip(projected, data.legend, _colors(len(projected)), strict=True):
        ax.scatter(points[n:, 0], points[n:, 1], points[n:, 2], s=12, alpha=0.5, color=color,
                   lw=0)  # fmt: skip
        ax.scatter(points[:n, 0], points[:n, 1], points[:n, 2], s=40, color=color,
                   edgecolor="black", lw=0.5, label=label, depthshade=False)  # fmt: skip
    for i in range(n):
        track = np.array([p[i, :3] for p in projected])
        ax.plot(track[:, 0], track[:, 1], track[:, 2], color="grey", lw=0.8, alpha=0.7)
        ax.text(*projected[0][i, :3], data.words[i], fontsize=9, fontweight="bold")
    ax.set_xlabel(f"PC1 ({explained[0]:.1%})")
    ax.set_ylabel(f"PC2 ({explained[1]:.1%})")
    ax.set_zlabel(f"PC3 ({explained[2]:.1%})" if len(explained) > 2 else "PC3")
    ax.set_title(data.heading, fontsize=10)
    ax.legend(fontsize=9, loc="upper left", title="model (mean displacement)", title_fontsize=9)
    return fig


@dataclass
class Overlay:
    """Result of `pca_overlays`: figures, the words used and displacement per model."""

    fig2d: Figure
    fig3d: Figure
    words: list[str]
    missing: list[str]
    displacement: pd.DataFrame  # model, run_id, displacement_aligned, displacement_unaligned
    reference: str
    aligned: bool
    notes: list[str] = field(default_factory=list)


def pca_overlays(
    vectors: Sequence[Any],
    labels: Sequence[str],
    run_ids: Sequence[str] | None = None,
    align: bool = True,
    seed_words: Sequence[str] = SEED_WORDS,
    target: int = 300,
    anchor_words: int = 10_000,
    title: str = "",
) -> Overlay:
    """2D and 3D joint-PCA overlays of the same words across models (vectors[0] = reference)."""
    data = overlay_data(vectors, labels, run_ids, align, seed_words, target, anchor_words, title)
    missing = data.missing
    notes = (
        [f"seed words missing from a vocabulary, skipped: {', '.join(missing)}"] if missing else []
    )
    return Overlay(draw_overlay_2d(data), draw_overlay_3d(data), data.words, missing,
                   data.displacement, labels[0], align, notes)  # fmt: skip


def plot_pca_overlays(
    study_dir: str | os.PathLike[str],
    runs: pd.DataFrame,
    by: str = "alpha",
    trainer: str = DEFAULT,
    align: bool = True,
    where: Mapping[str, Any] | None = None,
    seed_words: Sequence[str] = SEED_WORDS,
    target: int = 300,
) -> Overlay | None:
    """`pca_overlays` for the saved vectors of one sweep of a study (None: fewer than 2 models).

    A run whose vectors cannot be read (damaged, NaN) is left out with a note, not fatal."""
    from study.train.vectors import load_vectors

    store = ResultStore(study_dir)
    sweep, fixed = sweep_models(runs, by, trainer, where=where)
    paths = [store.vectors_path(rid) for rid in sweep.get("run_id", [])]
    keep, vectors, skipped = [], [], []
    for i, path in enumerate(paths):
        if not os.path.lexists(path):  # a run stored without its vectors
            continue
        try:
            vectors.append(load_vectors(path, follow_symlinks=False))
        except StudyError as exc:
            skipped.append(f"PCA overlay: left out {exc}")
            continue
        keep.append(i)
    if len(keep) < 2:
        return None
    sweep = sweep.iloc[keep]
    labels = [f"{by}={fmt_value(v)}" for v in sweep[by]]
    overlay = pca_overlays(vectors, labels, list(sweep["run_id"]), align, seed_words, target,
                           title=where_text(fixed))  # fmt: skip
    overlay.notes[:0] = skipped
    return overlay
