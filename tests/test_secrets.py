"""No secret reaches a file, a report or a message (issue 24, class 4): `grid --storage
'postgresql://u:secret@host/db'` wrote the password into study.json (the recorded command kept
the raw argv, written before the storage opens), and the report showed it. Every place a command
line or URL is recorded goes through `study.core.redact`; these tests look for the password in every
file a command leaves behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import planted_groups_text
from hypothesis import given
from hypothesis import strategies as st
from pg_server import postgres_bin, postgres_server
from tiny_run import FAST_SETS

from study.cli.app import main
from study.core.redact import redact, redact_command

SECRET = "Hunter2-s3cret"


def files_holding(root: Path, secret: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg2://u:{SECRET}@127.0.0.1:9/x",  # refused at once
        f"postgresql://u:{SECRET}@127.0.0.1:9/x?sslmode=disable",
        f"postgresql://u:p@{SECRET}@127.0.0.1:9/x",  # an '@' in the password
        f"postgresql:/u:{SECRET}@127.0.0.1:9/x",  # malformed: the driver quotes it back
        f"postgresql://127.0.0.1:9/x?user=u&password={SECRET}",
    ],
)
@pytest.mark.parametrize("command", ["grid", "optuna"])
def test_a_storage_password_reaches_no_file_and_no_message(tmp_path, capsys, url, command):
    results = tmp_path / "results"
    argv = (
        ["grid", "--grid", "window=2,3", "--set", *FAST_SETS]
        if command == "grid"
        else ["optuna", "--n-trials", "1", "--set", *FAST_SETS]
    )
    assert main([*argv, "--study", "s", "--results", str(results), "--storage", url]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1
    assert SECRET not in captured.out + captured.err
    assert files_holding(tmp_path, SECRET) == []
    if command == "grid":  # written before the storage opens: the command is recorded
        recorded = json.loads((results / "s" / "study.json").read_text())
        assert "--storage" in recorded["command"] and "***" in recorded["command"]


PASSWORD = st.text(
    st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters="/"), min_size=6,
    max_size=20,
).filter(lambda p: "python" not in p)  # fmt: skip


@given(
    password=PASSWORD,
    user=st.sampled_from(["u", "postgres", ""]),
    form=st.sampled_from(["separate", "equals", "query", "set"]),
)
def test_recorded_commands_never_hold_the_password(password, user, form):
    url = f"postgresql+psycopg2://{user}:{password}@db.example:5432/optuna"
    argv = {
        "separate": ["grid", "--storage", url, "--seeds", "0,1"],
        "equals": ["optuna", f"--storage={url}"],
        "query": ["optuna", "--storage", f"postgresql://db/x?password={password}&x=1"],
        "set": ["grid", "--set", f"corpus=see {url}"],  # a URL anywhere on the line
    }[form]
    shown = redact_command(argv)
    # the password, or any long enough part of it, never shows
    assert password not in shown, shown
    if form != "query":
        assert password not in redact(" ".join(argv)) or "@" in password


@pytest.mark.postgres
def test_a_password_in_a_working_storage_url_reaches_no_file(tmp_path, capsys):
    """The whole path on a real server (trust auth: any password is accepted): a shared grid,
    an Optuna study and a report. No file anywhere under the results holds the password."""
    if postgres_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's postgresql package for the postgres tests")
        pytest.skip("PostgreSQL server binaries not installed")
    corpus = tmp_path / "c.txt"
    corpus.write_text(planted_groups_text(n_sentences=200))
    results = tmp_path / "results"
    with postgres_server() as url:
        secret_url = url.replace("postgres@", f"postgres:{SECRET}@")
        common = ["--results", str(results), "--storage", secret_url, "--set", *FAST_SETS,
                  f"corpus={corpus}"]  # fmt: skip
        assert main(["grid", "--study", "g", "--grid", "window=2,3", *common]) == 0
        assert main(["optuna", "--study", "o", "--n-trials", "2", *common]) == 0
        assert main(["report", str(results / "g")]) == 0
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert files_holding(tmp_path, SECRET) == []
    assert "***" in json.loads((results / "o" / "study.json").read_text())["storage"]
