"""What every figure shares: labels, colours, a new figure, and the atomic PNG writer."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from study.core.atomic import atomic_write_bytes
from study.core.trainers import is_registered, trainer_spec

COLUMN_LABELS = {
    "loss": "training loss per pair (trainer's tally)",
    "probe_loss": "probe loss per pair (run's α noise)",
    "probe_loss_ref": "probe loss per pair (α=0.75 noise)",
    "grad_v_norm": "‖∂L/∂v_w‖ (center)",
    "grad_c_norm": "‖∂L/∂u_c‖ (context)",
    "grad_n_norm": "‖∂L/∂u_n‖ (negatives)",
}
DPI = 110


def trainer_color(trainer: str, index: int) -> str:
    """The registry's colour for a trainer (`TrainerSpec.color`), else one of matplotlib's."""
    color = trainer_spec(trainer).color if is_registered(trainer) else None
    return color or f"C{index + 2}"


def value_colors(values: Sequence[Any]) -> dict[Any, Any]:
    """One viridis colour per value, in order (the last stops short of the pale yellow)."""
    cmap = matplotlib.colormaps["viridis"]
    return {v: cmap(i / max(len(values) - 1, 1) * 0.9) for i, v in enumerate(values)}


def new_figure(
    rows: int, cols: int, figsize: tuple[float, float], **subplots: Any
) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure with a rows × cols array of axes (never squeezed)."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False, **subplots)


def suptitle(fig: Figure, text: str) -> None:
    fig.suptitle(text, x=0.01, ha="left", fontsize=11)


def is_numeric(column: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(column)) and not pd.api.types.is_bool_dtype(column)


def bar_lengths(value: Any, low: Any, high: Any) -> tuple[np.ndarray, np.ndarray]:
    """Error-bar lengths below and above `value` for an interval [low, high]; never negative
    (rounding can put a degenerate interval's end a hair inside the value)."""
    value, low, high = (np.asarray(v, dtype=float) for v in (value, low, high))
    return np.maximum(value - low, 0), np.maximum(high - value, 0)


# Matplotlib reads `$...$` in any text as mathtext: user text on a figure (a corpus path, a
# study name, a word) with a `$` crashed the report or came out as a formula. Every figure is
# drawn and saved with it off; none of the labels here needs it.
PLAIN_TEXT: dict[Any, Any] = {"text.parse_math": False, "text.usetex": False}
F = TypeVar("F", bound=Callable[..., Any])


def plain_text(draw: F) -> F:
    """Run a function that makes a figure with mathtext off (see PLAIN_TEXT)."""

    @functools.wraps(draw)
    def drawn(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(PLAIN_TEXT):
            return draw(*args, **kwargs)

    return cast(F, drawn)


@plain_text
def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write the figure as a PNG, atomically."""
    path = Path(path)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI, bbox_inches="tight")
    atomic_write_bytes(path, png.getvalue())
    return path
