"""Figures: each data function's values on a synthetic study, and every figure rendered from a
small real study (PNG written, panels and lines as expected); the PCA overlay and alignment."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from gensim.models import KeyedVectors
from report_fixtures import ABSENT_SEED_WORDS, build_small_study
from synthetic_study import epochs_table, planted_ws353, runs_table, with_cores

from study.analyze import analysis, figures
from study.analyze.figures import overlay
from study.analyze.figures.curves import curve_data
from study.analyze.figures.heatmaps import heatmap_data
from study.analyze.figures.params import metric_params_data
from study.analyze.figures.trainers import scatter_data, throughput_data
from study.store.results import ResultStore, load_table


@pytest.fixture(scope="module")
def study(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[ResultStore, pd.DataFrame, pd.DataFrame]:
    store = build_small_study(tmp_path_factory.mktemp("plots"))
    runs, epochs = load_table(store)
    return store, runs, epochs


def assert_png(fig, path) -> None:
    assert fig is not None
    written = figures.save_figure(fig, path)
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert written.stat().st_size > 10_000  # a drawn figure, not an empty canvas


FIGURES = {
    "losses": lambda runs, epochs: figures.plot_losses(runs, epochs),
    "grad_norms": lambda runs, epochs: figures.plot_grad_norms(runs, epochs),
    "curves_by_window_std": lambda runs, epochs: figures.plot_curves(
        runs, epochs, ["probe_loss_ref"], by="window", band="std"
    ),
    "metric_vs_params": lambda runs, epochs: figures.plot_metric_vs_params(runs),
    "heatmaps": lambda runs, epochs: figures.plot_heatmaps(runs, "analogy_acc"),
    "trainer_scatter": lambda runs, epochs: figures.plot_trainer_scatter(runs),
    "throughput": lambda runs, epochs: figures.plot_throughput(runs),
}


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_writes_a_png(study, tmp_path, name):
    _, runs, epochs = study
    assert_png(FIGURES[name](runs, epochs), tmp_path / f"{name}.png")


def test_pca_overlays_write_pngs_and_skip_missing_seed_words(study, tmp_path, caplog):
    store, runs, _ = study
    with caplog.at_level(logging.WARNING, logger="study.analyze.figures.overlay"):
        drawn = overlay.plot_pca_overlays(store.root, runs, by="alpha", trainer="torch")
    assert drawn is not None
    assert drawn.missing == ABSENT_SEED_WORDS
    assert all(w in caplog.text for w in ABSENT_SEED_WORDS)
    assert not set(ABSENT_SEED_WORDS) & set(drawn.words)
    assert {"king", "queen", "computer", "music"} <= set(drawn.words)
    assert list(drawn.displacement["model"]) == ["alpha=0.5", "alpha=1"]  # reference first
    assert drawn.displacement["displacement_aligned"].iloc[0] == pytest.approx(0, abs=1e-6)
    assert_png(drawn.fig2d, tmp_path / "pca2d.png")
    assert_png(drawn.fig3d, tmp_path / "pca3d.png")


def test_curves_have_one_line_per_value_and_panels_per_trainer(study):
    _, runs, epochs = study
    fig = figures.plot_losses(runs, epochs, by="alpha")
    axes = fig.axes
    assert len(axes) == 3 * 2  # loss, probe loss, reference probe loss × torch, gensim
    assert [ax.get_title() for ax in axes[:2]] == ["torch", "gensim"]
    labels = {line.get_label() for line in axes[0].lines}
    assert labels == {"alpha=0.5", "alpha=1"}
    assert "window=" in fig.get_suptitle()  # the other swept field is held fixed, and said so


def test_figures_without_data_are_not_drawn(study):
    _, runs, epochs = study
    one_field = runs[runs["window"] == 2]
    assert analysis.swept_fields(one_field) == ["alpha"]
    assert figures.plot_heatmaps(one_field) is None
    torch_only = runs[runs["trainer"] == "torch"]
    assert figures.plot_trainer_scatter(torch_only) is None
    assert figures.plot_curves(runs, epochs.iloc[0:0]) is None


def random_rotation(dim: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


def test_procrustes_recovers_a_known_rotation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 20))
    rotation = random_rotation(20, rng)
    y = x @ rotation
    recovered = overlay.procrustes_rotation(y, x)
    np.testing.assert_allclose(recovered, rotation.T, atol=1e-8)
    assert overlay.mean_displacement(y @ recovered, x) < 1e-8
    assert overlay.mean_displacement(y, x) > 1.0  # unaligned, the "same" words sit far apart


def keyed(words: list[str], vectors: np.ndarray) -> KeyedVectors:
    kv = KeyedVectors(vectors.shape[1], count=0)
    kv.add_vectors(words, vectors)
    return kv


def test_overlay_alignment_removes_a_rotation_and_can_be_turned_off():
    rng = np.random.default_rng(1)
    words = overlay.SEED_WORDS + [f"w{i}" for i in range(300)]
    base = rng.normal(size=(len(words), 24))
    rotated = keyed(words, base @ random_rotation(24, rng))
    noisy = keyed(words, base + 0.3 * rng.normal(size=base.shape))
    models = [keyed(words, base), rotated, noisy]
    aligned = overlay.pca_overlays(models, ["ref", "rotated", "noisy"], target=60)
    disp = aligned.displacement.set_index("model")
    assert len(aligned.words) == 60 and aligned.words[:18] == overlay.SEED_WORDS
    assert disp.loc["rotated", "displacement_aligned"] < 1e-6
    assert disp.loc["rotated", "displacement_unaligned"] > 0.5
    assert (
        0.05
        < disp.loc["noisy", "displacement_aligned"]
        < disp.loc["rotated", "displacement_unaligned"]
    )
    raw = overlay.pca_overlays(models, ["ref", "rotated", "noisy"], align=False, target=60)
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
    at_edge = analysis.edge_warnings(synthetic_runs({0.5: 0.1, 0.75: 0.2, 1.0: 0.3}))
    assert [(w.field, w.value) for w in at_edge] == [("alpha", 1.0)]
    assert "highest alpha" in str(at_edge[0])
    assert analysis.edge_warnings(synthetic_runs({0.5: 0.1, 0.75: 0.3, 1.0: 0.2})) == []
    assert analysis.edge_warnings(synthetic_runs({0.5: 0.3, 0.75: 0.3, 1.0: 0.3})) == []  # flat
    fig = figures.plot_metric_vs_params(synthetic_runs({0.5: 0.1, 0.75: 0.2, 1.0: 0.3}))
    assert "best at edge (alpha=1)" in fig.axes[0].get_title()


# -- each figure's data, value by value (synthetic study: see synthetic_study.py) -------------
WS = "ws353_spearman"


@pytest.fixture
def synthetic() -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = runs_table()
    return runs, epochs_table(runs)


def test_curve_data_means_bands_and_held_values(synthetic):
    runs, epochs = synthetic
    data = curve_data(runs, epochs, ["loss", "absent"], by="alpha")
    assert data is not None
    assert data.columns == ["loss"] and data.trainers == ["torch", "gensim"]
    assert data.where == {"window": 5} and data.values == [0.5, 0.75, 1.0]
    assert data.n_seeds == 2 and data.failed == {"torch": "alpha=1 (1)"}
    curve = data.curve("torch", "loss", 0.5)
    assert curve is not None and curve.n_seeds == 2
    epochs_ = np.array([1, 2, 3])
    np.testing.assert_allclose(curve.mean, 1 / epochs_ + 0.5 + 0.05)  # seeds 0, 1: +0, +0.1
    np.testing.assert_allclose(curve.low, 1 / epochs_ + 0.5)
    np.testing.assert_allclose(curve.high, 1 / epochs_ + 0.6)
    std = curve_data(runs, epochs, ["loss"], by="alpha", band="std").curve("torch", "loss", 1.0)
    np.testing.assert_allclose(std.high - std.mean, 0.05)
    assert len(data.curves) == 2 * 3
    assert curve_data(runs, epochs, ["loss"], where={"window": 7}) is None
    with pytest.raises(ValueError, match="band"):
        curve_data(runs, epochs, ["loss"], band="iqr")


def test_metric_params_data_best_lines_and_edges(synthetic):
    runs, _ = synthetic
    [[window_panel, alpha_panel]] = metric_params_data(runs, [WS])
    assert (alpha_panel.param, alpha_panel.values, alpha_panel.numeric) == (
        "alpha",
        [0.5, 0.75, 1.0],
        True,
    )
    torch, gensim = alpha_panel.lines
    assert (torch.trainer, gensim.trainer) == ("torch", "gensim")
    np.testing.assert_allclose(torch.best.to_numpy(), [0.35, 0.6, 0.35])  # max over windows
    assert torch.edge is None
    offset = 0.012 * 0.5 / 2  # trainers' dots sit apart by 1.2% of the axis span
    np.testing.assert_allclose(torch.best_x, np.array([0.5, 0.75, 1.0]) - offset)
    np.testing.assert_allclose(gensim.best_x, np.array([0.5, 0.75, 1.0]) + offset)
    assert len(torch.run_x) == 12 and torch.run_y.notna().all()
    np.testing.assert_allclose(window_panel.lines[0].best.to_numpy(), [0.5, 0.6])
    assert window_panel.lines[0].edge == 5 and window_panel.lines[1].edge == 5
    assert metric_params_data(runs, ["simlex_spearman"], []) == []


def test_heatmap_data_squares_failures_and_colour_range(synthetic):
    runs, _ = synthetic
    data = heatmap_data(runs, WS)
    assert data is not None
    [[torch, gensim]] = data.panels
    assert (torch.x, torch.y, torch.trainer) == ("window", "alpha", "torch")
    assert list(torch.grid.index) == [0.5, 0.75, 1.0] and list(torch.grid.columns) == [2, 5]
    for alpha in [0.5, 0.75, 1.0]:
        for window in [2, 5]:
            assert torch.grid.loc[alpha, window] == pytest.approx(
                planted_ws353("torch", alpha, window)
            )
    assert torch.failed == {(1.0, 5)} and gensim.failed == {(0.5, 2)}  # pruned counts
    assert data.vmin == pytest.approx(0.25) and data.vmax == pytest.approx(0.62)
    assert heatmap_data(runs[runs["window"] == 2], WS) is None  # one swept field


def test_scatter_data_colours_and_markers(synthetic):
    runs, _ = synthetic
    data = scatter_data(runs)
    assert data is not None
    assert data.metrics == [WS, "analogy_acc"] and len(data.pairs) == 6
    assert data.color_by == "alpha" and list(data.colors) == [0.5, 0.75, 1.0]
    assert data.marker_by == "window" and data.markers == {2: "o", 5: "s"}
    assert scatter_data(runs[runs["trainer"] == "gensim"]) is None


def test_throughput_data_per_trainer(synthetic):
    runs, _ = synthetic
    speeds = throughput_data(runs)
    assert list(speeds) == ["torch", "gensim"]
    assert speeds["torch"].mean() == pytest.approx(1050.0) and len(speeds["gensim"]) == 12
    assert throughput_data(runs.drop(columns="words_per_sec")) == {}
    by_cores = throughput_data(with_cores(runs))
    assert list(by_cores) == ["torch\n1 core", "torch\n2 cores", "gensim\n2 cores"]
    assert by_cores["torch\n1 core"].mean() == 1100.0 and len(by_cores["gensim\n2 cores"]) == 12
    assert figures.plot_throughput(with_cores(runs)) is not None


def test_synthetic_figures_render(synthetic, tmp_path):
    runs, epochs = synthetic
    for name, fig in {
        "curves": figures.plot_curves(runs, epochs, ["loss"]),
        "params": figures.plot_metric_vs_params(runs),
        "heatmap": figures.plot_heatmaps(runs, WS),
        "scatter": figures.plot_trainer_scatter(runs),
        "throughput": figures.plot_throughput(runs),
    }.items():
        assert_png(fig, tmp_path / f"{name}.png")


def with_intervals(runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """A cell table with made-up 95% intervals: mean ∓ 0.05."""
    table = analysis.cell_table(runs, metrics)
    for metric in metrics:
        table[f"{metric}_low"] = table[metric] - 0.05
        table[f"{metric}_high"] = table[metric] + 0.05
    return table


def test_figure_data_carry_intervals_and_ties(synthetic, tmp_path):
    runs, _ = synthetic
    intervals = with_intervals(runs, [WS, "analogy_acc"])
    [[_, alpha_panel]] = metric_params_data(runs, [WS], intervals=intervals)
    torch = alpha_panel.lines[0]
    np.testing.assert_allclose(torch.best_low, torch.best.to_numpy() - 0.05)
    np.testing.assert_allclose(torch.best_high, torch.best.to_numpy() + 0.05)
    tied = {"torch": [{"trainer": "torch", "window": 5, "alpha": 0.75},
                      {"trainer": "torch", "window": 2, "alpha": 0.75}]}  # fmt: skip
    data = heatmap_data(runs, WS, tied=tied)
    [[torch_panel, gensim_panel]] = data.panels
    assert torch_panel.tied == {(0.75, 5), (0.75, 2)} and gensim_panel.tied == set()
    scatter = scatter_data(runs, [WS], intervals)
    assert scatter.bars
    row = scatter.pairs.iloc[0]
    assert row[f"{WS}_torch_low"] == pytest.approx(row[f"{WS}_torch"] - 0.05)
    assert row[f"{WS}_gensim_high"] == pytest.approx(row[f"{WS}_gensim"] + 0.05)
    for name, fig in {
        "params": figures.plot_metric_vs_params(runs, [WS], intervals=intervals),
        "heatmap": figures.plot_heatmaps(runs, WS, tied=tied),
        "scatter": figures.plot_trainer_scatter(runs, [WS], intervals),
    }.items():
        assert_png(fig, tmp_path / f"{name}.png")
    assert (
        "95% interval"
        in figures.plot_metric_vs_params(runs, [WS], intervals=intervals).get_suptitle()
    )
