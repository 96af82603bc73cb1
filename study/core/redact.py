"""No secret reaches a file, a report or a message: a password in a URL (an Optuna storage's
`postgresql://user:password@host/db`, or `?password=` in its query) is masked wherever a
command line or URL is recorded (study.json, benchmark JSON, TensorBoard, reports) or shown.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

MASK = "***"
# user:password@ after a scheme; greedy to the token's last '@', so a password holding '@' is
# masked whole (over-masking a query that holds one is the safe side)
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^:@/\s]*):([^\x00-\x20]*)@")
_QUERY = re.compile(
    r"([?&;](?:password|passwd|pwd|pass|secret|token|api[_-]?key|access[_-]?token|sslpassword)=)"
    r"([^&;#\s]*)",
    re.IGNORECASE,
)
SECRET_OPTIONS = ("--storage",)  # options whose value may carry a password


def redact(text: str) -> str:
    """`text` with every URL password masked: `postgresql://u:***@host/db`."""
    text = _USERINFO.sub(lambda m: f"{m[1]}{m[2]}:{MASK}@", text)
    return _QUERY.sub(lambda m: f"{m[1]}{MASK}", text)


def redact_url(url: str) -> str:
    """A storage URL for a message or a record: masked, or all of it when it is not one we can
    read (a malformed URL may still hold a password: `postgresql:/u:secret@host`)."""
    if "@" not in url:
        return redact(url)
    if "://" not in url:
        return MASK
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user, has_password, _ = credentials.partition(":")
    shown = f"{scheme}://{user}:{MASK}@{host}" if has_password else url
    return redact(shown)


def redact_command(argv: Sequence[str], program: str = "python -m study") -> str:
    """The command line `program argv...` as recorded in study.json, secrets masked."""
    shown: list[str] = []
    secret_next = False
    for arg in argv:
        if secret_next:
            shown.append(redact_url(arg))
        else:
            option, sep, value = arg.partition("=")
            shown.append(f"{option}={redact_url(value)}" if sep and option in SECRET_OPTIONS
                         else redact(arg))  # fmt: skip
        secret_next = arg in SECRET_OPTIONS
    return " ".join([program, shlex.join(shown)]) if shown else program
