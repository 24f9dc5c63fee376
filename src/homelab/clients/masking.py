"""Secret masking: no value of a secret environment variable reaches the terminal, a log or an error.

Every line the pipeline prints or logs, and every command it echoes, goes through a `Masker` built
from the environment the programs run with. A variable is secret when it is one of the known
credentials below or its name says so (TOKEN, SECRET, PASSWORD, ...).
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

# The credentials this repository's tools read from the environment (never from Git).
SECRET_ENV_VARS = (
    "PROXMOX_VE_API_TOKEN",   # bpg/proxmox provider and homelab's proxmoxer client: user@realm!id=secret
    "PROXMOX_VE_PASSWORD",
    "PROXMOX_TOKEN",          # Packer's proxmox plugin (with PROXMOX_USERNAME, the token id)
    "PKR_VAR_proxmox_token",
    "K3S_TOKEN",              # the K3s cluster join token (Ansible)
    "BWS_ACCESS_TOKEN",       # Bitwarden Secrets Manager machine-account token (the one bootstrap secret)
    "CF_API_TOKEN",
    "CLOUDFLARE_API_TOKEN",
    "GITHUB_TOKEN",
    "GITLAB_TOKEN",
)
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|PRIVATE_KEY|ACCESS_KEY|API_KEY|CREDENTIAL",
                          re.IGNORECASE)
MASK = "********"
_MIN_LEN = 4      # shorter values would mask ordinary words; preflight refuses them as tokens anyway
MIN_TOKEN_LEN = 8  # a credential shorter than this is not a real token (preflight says so)
_MIN_PART = 6     # the shortest piece of a secret masked on its own (a line of it, half of a split)
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def is_secret_name(name: str) -> bool:
    return name in SECRET_ENV_VARS or bool(_SECRET_NAME.search(name))


def encoded_forms(value: str) -> set[str]:
    """The forms a secret takes in output besides itself: base64 (standard and URL-safe, at each
    of the three byte alignments it can have inside a longer encoded text, such as HTTP basic
    auth's `user:token`) and URL encoding."""
    raw = value.encode()
    forms: set[str] = set()
    for pad in range(3):
        full = (len(raw) + pad) // 3 * 4  # characters of complete groups
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = enc(b"\0" * pad + raw).decode()
            core = text[4 if pad else 0:full]  # the characters only this value decides
            if len(core) >= _MIN_PART:
                forms.add(core)
    for quoted in (quote(value, safe=""), quote_plus(value, safe="")):
        if quoted != value:
            forms.add(quoted)
    return forms


class Masker:
    """Replaces every secret value with a fixed mask: as it is, line by line when it has several
    lines, base64- and URL-encoded, with ANSI escapes removed first (so color codes cannot split
    a value), and the halves of a value split across two lines. Proxmox tokens' secret half
    (after `=`) is masked on its own too."""

    def __init__(self, env: Mapping[str, str], extra: Iterable[str] = ()):
        values: set[str] = set(v for v in extra if len(v) >= _MIN_LEN)
        for name, value in env.items():
            if is_secret_name(name) and len(value) >= _MIN_LEN:
                values.add(value)
        for value in list(values):
            # Proxmox API tokens are `user@realm!tokenid=uuid`; the uuid alone is the secret part.
            tail = value.rpartition("=")[2]
            if tail != value and len(tail) >= 8:
                values.add(tail)
            values.update(line.strip() for line in value.splitlines() if len(line.strip()) >= _MIN_PART)
        self._raw = sorted(values, key=len, reverse=True)
        forms = set(values)
        for value in values:
            forms.update(encoded_forms(value))
        # Longest first, so a value containing another is masked whole.
        self._values = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = _ANSI.sub("", text)
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        if "\n" in text:
            return "\n".join(self._split(line) for line in text.split("\n"))
        return self._split(text)

    def _split(self, line: str) -> str:
        """A line that ends with the start of a secret, or starts with its end (a value wrapped
        onto the next line): that piece is masked."""
        for value in self._raw:
            for n in range(len(value) - 1, _MIN_PART - 1, -1):
                if line.endswith(value[:n]):
                    line = line[:-n] + MASK
                    break
            body = line.lstrip()
            for n in range(len(value) - 1, _MIN_PART - 1, -1):
                if body.startswith(value[-n:]):
                    line = line[:len(line) - len(body)] + MASK + body[n:]
                    break
        return line

    def argv(self, argv: list[str]) -> str:
        """The command as a shell line, secrets masked."""
        return self(shlex.join(argv))
