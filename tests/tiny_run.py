"""The tiny run config the grid/fault tests share: a few seconds per run on 2 CPU cores."""

FAST = {
    "dim": 16,
    "epochs": 2,
    "min_count": 2,
    "workers": 1,
    "probe_pairs": 256,
    "window": 3,
    "device": "cpu",
}
