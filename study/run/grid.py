"""Grids: value lists for any RunConfig fields (the Cartesian product, times trainers, times
seeds, every other field fixed) expanded into RunConfigs; and the named presets.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from study.core.config import RunConfig, field_names, parse_value, show
from study.core.errors import ConfigError
from study.core.trainers import DEFAULT


@dataclass(frozen=True)
class GridSpec:
    axes: dict[str, list[Any]]  # field -> values, in the order given
    trainers: list[str] = field(default_factory=lambda: [DEFAULT])
    seeds: list[int] = field(default_factory=lambda: [0])
    fixed: dict[str, Any] = field(default_factory=dict)

    def cells(self) -> list[RunConfig]:
        """Every RunConfig of the grid (validated), in a stable order, without duplicates."""
        base = RunConfig().with_overrides(self.fixed)
        names = list(self.axes)
        configs: dict[str, RunConfig] = {}
        for values in itertools.product(*(self.axes[n] for n in names)):
            for trainer in self.trainers:
                for seed in self.seeds:
                    overrides = dict(zip(names, values, strict=True))
                    overrides.update(trainer=trainer, seed=seed)
                    config = base.with_overrides(overrides)
                    configs.setdefault(config.run_id, config)
        return list(configs.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "axes": self.axes,
            "trainers": self.trainers,
            "seeds": self.seeds,
            "fixed": self.fixed,
        }


def parse_axes(items: Iterable[str]) -> dict[str, list[Any]]:
    """`["alpha=0.5,0.75", "window=2,5"]` -> {"alpha": [0.5, 0.75], "window": [2, 5]}."""
    axes: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"expected key=v1,v2,... in --grid, got {show(item)}")
        if key in {"trainer", "seed"}:
            raise ConfigError(f"use --{key}s for {key} values, not --grid {key}=...")
        if key in axes:
            raise ConfigError(f"grid axis {key!r} is given twice in --grid")
        parts = [v.strip() for v in values.split(",") if v.strip()]
        if not parts:
            raise ConfigError(f"grid axis {key!r} has an empty list of values")
        axes[key] = _unique([parse_value(key, v) for v in parts], f"grid axis {key!r}")
    return axes


def parse_list(text: str, field: str, what: str) -> list[Any]:
    """A comma-separated list of values of config field `field` (for --trainers, --seeds)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ConfigError(f"{what} is an empty list")
    try:
        return _unique([parse_value(field, p) for p in parts], what)
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def _unique(values: list[Any], what: str) -> list[Any]:
    """The values, each once: a repeated value is a typo (it would silently be one cell)."""
    seen: list[Any] = []
    for value in values:
        if value in seen:
            raise ConfigError(f"{what} lists {show(value)} twice")
        seen.append(value)
    return seen


# -- presets ------------------------------------------------------------------------------
ALPHAS = [0.5, 0.6, 0.75, 0.9, 1.0]

PRESETS: dict[str, GridSpec] = {
    # The README's main job: the embedded corpus, both trainers, a small α × window sweep.
    # workers=2: beside a busy process two workers were no slower than one for either trainer
    # (results/bench/demo-busy1.json; docs/measurements.md).
    "demo": GridSpec(
        axes={"alpha": [0.0, 0.75, 1.0], "window": [2, 5]},
        trainers=["torch", "gensim"],
        seeds=[0, 1],
        fixed={"corpus": "enwiki-sample", "dim": 50, "epochs": 5, "workers": 2},
    ),
    # The α study of the gensim-only script this project replaces, with both trainers.
    "alpha-study": GridSpec(
        axes={"alpha": ALPHAS},
        trainers=["torch", "gensim"],
        seeds=[0],
        fixed={
            "corpus": "text8",
            "model": "sg",
            "dim": 300,
            "window": 5,
            "negative": 10,
            "sample": 1e-3,
            "min_count": 5,
            "epochs": 10,
        },
    ),
    # The 135-run benchmark grid (5 α × 3 windows × 3 negatives × 3 seeds, torch, 5 epochs).
    "alpha-window-negative": GridSpec(
        axes={"alpha": ALPHAS, "window": [2, 5, 10], "negative": [5, 10, 15]},
        trainers=["torch"],
        seeds=[0, 1, 2],
        fixed={"epochs": 5},
    ),
    # Levy, Goldberg & Dagan (2015), "Improving Distributional Similarity with Lessons Learned
    # from Word Embeddings" (TACL): their SGNS grid over window, negatives and context
    # distribution smoothing (cds = alpha), scored on their benchmarks (all shipped ones, w and
    # w+c). They trained dim 500 on a 1.5B-token Wikipedia; set corpus, dim and epochs with
    # --set (e.g. --set corpus=wiki.txt dim=100 epochs=3). At least 3 seeds (PRESET_MIN_SEEDS).
    "levy2015": GridSpec(
        axes={"alpha": [0.75, 1.0], "negative": [1, 5, 15], "window": [2, 5, 10]},
        trainers=["torch"],
        seeds=[0, 1, 2],
        fixed={"model": "sg", "objective": "ns", "dim": 500},
    ),
}
# Presets whose purpose needs intervals over seeds: fewer seeds is refused.
PRESET_MIN_SEEDS = {"levy2015": 3}


def build_spec(
    preset: str | None,
    grid_items: Sequence[str],
    trainers: str | None,
    seeds: str | None,
    fixed: Mapping[str, Any],
) -> GridSpec:
    """A preset (or an empty grid) with CLI axes, trainers, seeds and fixed values applied."""
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    base = PRESETS[preset] if preset else GridSpec(axes={})
    given = parse_axes(grid_items)
    axes = {**base.axes, **given}
    unknown = [k for k in fixed if k not in field_names()]
    if unknown:
        raise ConfigError(f"unknown config key {unknown[0]!r}")
    for key in fixed:
        if key in given:
            raise ConfigError(f"{key} is both a --grid axis and a --set value; give one")
        if key in {"trainer", "seed"}:
            raise ConfigError(f"use --{key}s for {key} values, not --set {key}=...")
        axes.pop(key, None)  # --set wins over a preset axis of the same field
    chosen_seeds = parse_list(seeds, "seed", "--seeds") if seeds else list(base.seeds)
    least = PRESET_MIN_SEEDS.get(preset or "", 1)
    if len(chosen_seeds) < least:
        raise ConfigError(
            f"the {preset} preset needs at least {least} seeds (its conclusions use intervals "
            f"over seeds); --seeds gives {len(chosen_seeds)}"
        )
    return GridSpec(
        axes=axes,
        trainers=parse_list(trainers, "trainer", "--trainers") if trainers else list(base.trainers),
        seeds=chosen_seeds,
        fixed={**base.fixed, **fixed},
    )
