"""Figures from a small real study: every figure renders; Procrustes alignment; edge warnings."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from gensim.models import KeyedVectors
from report_fixtures import ABSENT_SEED_WORDS, build_small_study

from study import plots
from study.results import ResultStore, load_table


@pytest.fixture(scope="module")
def study(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[ResultStore, pd.DataFrame, pd.DataFrame]:
    store = build_small_study(tmp_path_factory.mktemp("plots"))
    runs, epochs = load_table(store)
    return store, runs, epochs


def assert_png(fig, path) -> None:
    assert fig is not None
    written = plots.save_figure(fig, path)
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert written.stat().st_size > 10_000  # a drawn figure, not an empty canvas


FIGURES = {
    "losses": lambda runs, epochs: plots.plot_losses(runs, epochs),
    "grad_norms": lambda runs, epochs: plots.plot_grad_norms(runs, epochs),
    "curves_by_window_std": lambda runs, epochs: plots.plot_curves(
        runs, epochs, ["probe_loss_ref"], by="window", band="std"
    ),
    "metric_vs_params": lambda runs, epochs: plots.plot_metric_vs_params(runs),
    "heatmaps": lambda runs, epochs: plots.plot_heatmaps(runs, "analogy_acc"),
    "trainer_scatter": lambda runs, epochs: plots.plot_trainer_scatter(runs),
    "throughput": lambda runs, epochs: plots.plot_throughput(runs),
}


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_writes_a_png(study, tmp_path, name):
    _, runs, epochs = study
    assert_png(FIGURES[name](runs, epochs), tmp_path / f"{name}.png")


def test_pca_overlays_write_pngs_and_skip_missing_seed_words(study, tmp_path, caplog):
    store, runs, _ = study
    with caplog.at_level(logging.WARNING, logger="study.plots"):
        overlay = plots.plot_pca_overlays(store.root, runs, by="alpha", trainer="torch")
    assert overlay is not None
    assert overlay.missing == ABSENT_SEED_WORDS
    assert all(w in caplog.text for w in ABSENT_SEED_WORDS)
    assert not set(ABSENT_SEED_WORDS) & set(overlay.words)
    assert {"king", "queen", "computer", "music"} <= set(overlay.words)
    assert list(overlay.displacement["model"]) == ["alpha=0.5", "alpha=1"]  # reference first
    assert overlay.displacement["displacement_aligned"].iloc[0] == pytest.approx(0, abs=1e-6)
    assert_png(overlay.fig2d, tmp_path / "pca2d.png")
    assert_png(overlay.fig3d, tmp_path / "pca3d.png")


def test_curves_have_one_line_per_value_and_panels_per_trainer(study):
    _, runs, epochs = study
    fig = plots.plot_losses(runs, epochs, by="alpha")
    axes = fig.axes
    assert len(axes) == 3 * 2  # loss, probe loss, reference probe loss × torch, gensim
    assert [ax.get_title() for ax in axes[:2]] == ["torch", "gensim"]
    labels = {line.get_label() for line in axes[0].lines}
    assert labels == {"alpha=0.5", "alpha=1"}
    assert "window=" in fig.get_suptitle()  # the other swept field is held fixed, and said so


def test_figures_without_data_are_not_drawn(study):
    _, runs, epochs = study
    one_field = runs[runs["window"] == 2]
    assert plots.swept_fields(one_field) == ["alpha"]
    assert plots.plot_heatmaps(one_field) is None
    torch_only = runs[runs["trainer"] == "torch"]
    assert plots.plot_trainer_scatter(torch_only) is None
    assert plots.plot_curves(runs, epochs.iloc[0:0]) is None


def random_rotation(dim: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


def test_procrustes_recovers_a_known_rotation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 20))
    rotation = random_rotation(20, rng)
    y = x @ rotation
    recovered = plots.procrustes_rotation(y, x)
    np.testing.assert_allclose(recovered, rotation.T, atol=1e-8)
    assert plots.mean_displacement(y @ recovered, x) < 1e-8
    assert plots.mean_displacement(y, x) > 1.0  # unaligned, the "same" words sit far apart


def keyed(words: list[str], vectors: np.ndarray) -> KeyedVectors:
    kv = KeyedVectors(vectors.shape[1], count=0)
    kv.add_vectors(words, vectors)
    return kv


def test_overlay_alignment_removes_a_rotation_and_can_be_turned_off():
    rng = np.random.default_rng(1)
    words = plots.SEED_WORDS + [f"w{i}" for i in range(300)]
    base = rng.normal(size=(len(words), 24))
    rotated = keyed(words, base @ random_rotation(24, rng))
    noisy = keyed(words, base + 0.3 * rng.normal(size=base.shape))
    models = [keyed(words, base), rotated, noisy]
    aligned = plots.pca_overlays(models, ["ref", "rotated", "noisy"], target=60)
    disp = aligned.displacement.set_index("model")
    assert len(aligned.words) == 60 and aligned.words[:18] == plots.SEED_WORDS
    assert disp.loc["rotated", "displacement_aligned"] < 1e-6
    assert disp.loc["rotated", "displacement_unaligned"] > 0.5
    assert (
        0.05
        < disp.loc["noisy", "displacement_aligned"]
        < disp.loc["rotated", "displacement_unaligned"]
    )
    raw = plots.pca_overlays(models, ["ref", "rotated", "noisy"], align=False, target=60)
    assert not raw.aligned and "NOT aligned" in raw.fig2d.axes[0].get_title()
    pd.testing.assert_frame_equal(raw.displacement, aligned.displacement)  # reported both ways


def synthetic_runs(scores: dict[float, float]) -> pd.DataFrame:
    rows = [
        {"run_id": f"{a}-{s}", "status": "done", "trainer": "torch", "alpha": a, "seed": s,
         "ws353_spearman": score + 0.001 * s}
        for a, score in scores.items()
        for s in (0, 1)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_edge_warnings_flag_only_a_best_value_at_the_edge():
    at_edge = plots.edge_warnings(synthetic_runs({0.5: 0.1, 0.75: 0.2, 1.0: 0.3}))
    assert [(w.field, w.value) for w in at_edge] == [("alpha", 1.0)]
    assert "highest alpha" in str(at_edge[0])
    assert plots.edge_warnings(synthetic_runs({0.5: 0.1, 0.75: 0.3, 1.0: 0.2})) == []
    assert plots.edge_warnings(synthetic_runs({0.5: 0.3, 0.75: 0.3, 1.0: 0.3})) == []  # flat
    fig = plots.plot_metric_vs_params(synthetic_runs({0.5: 0.1, 0.75: 0.2, 1.0: 0.3}))
    assert "best at edge (alpha=1)" in fig.axes[0].get_title()
