"""The tiny run configs the tests share: a few seconds per run on 2 CPU cores."""

FAST = {
    "dim": 16,
    "epochs": 2,
    "min_count": 2,
    "workers": 1,
    "probe_pairs": 256,
    "window": 3,
    "device": "cpu",
}

# As `--set` arguments, for tests that run the CLI: smaller still, one epoch and no probe.
FAST_SETS = ["dim=8", "epochs=1", "min_count=2", "probe_pairs=0", "device=cpu", "workers=1"]


def fast_sets(*overrides: str) -> list[str]:
    """FAST_SETS with some values replaced (a key given twice in --set is an error)."""
    merged = dict(s.split("=", 1) for s in [*FAST_SETS, *overrides])
    return [f"{k}={v}" for k, v in merged.items()]
