"""Secret masking: no value of a secret environment variable reaches the terminal, a log or an error.

Every line the pipeline prints or logs, and every command it echoes, goes through a `Masker` built
from the environment the programs run with. A variable is secret when it is one of the known
credentials below or its name says so (TOKEN, SECRET, PASSWORD, ...).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping

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
_MIN_LEN = 4  # shorter values would mask ordinary words


def is_secret_name(name: str) -> bool:
    return name in SECRET_ENV_VARS or bool(_SECRET_NAME.search(name))


class Masker:
    """Replaces every secret value (and the secret half of `id=secret` tokens) with a fixed mask."""

    def __init__(self, env: Mapping[str, str], extra: Iterable[str] = ()):
        values: set[str] = set(v for v in extra if len(v) >= _MIN_LEN)
        for name, value in env.items():
            if not is_secret_name(name) or len(value) < _MIN_LEN:
                continue
            values.add(value)
            # Proxmox API tokens are `user@realm!tokenid=uuid`; the uuid alone is the secret part.
            tail = value.rpartition("=")[2]
            if tail != value and len(tail) >= 8:
                values.add(tail)
        # Longest first, so a value containing another is masked whole.
        self._values = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def argv(self, argv: list[str]) -> str:
        """The command as a shell line, secrets masked."""
        return self(shlex.join(argv))
