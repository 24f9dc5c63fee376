"""The example values homelab.yaml ships with, found wherever they are still in place.

The bundled homelab.yaml is the example: its domain, SSH key, Bitwarden IDs and repository URL are
placeholders that pass every type check but would build a lab nobody can log in to, that Flux
cannot sync and that no secret reaches. Commands report each one that remains as a warning at its
line (`site/placeholder`); `homelab up` refuses to provision while any remains.
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

from homelab.config.model import HomelabConfig

KeyPath = tuple[str | int, ...]

EXAMPLE_DOMAIN = "example.com"
EXAMPLE_REPOSITORY_OWNER = "github.com/example/"
EXAMPLE_KEY_MARK = "HomelabExampleKey"


def _example_id(uuid: UUID) -> bool:
    """The shipped Bitwarden IDs are all zeros but for the last digits (00000000-…-000000000001)."""
    return uuid.int < 16**4


def _example_domain(name: str) -> bool:
    name = name.lower().rstrip(".")
    return name == EXAMPLE_DOMAIN or name.endswith("." + EXAMPLE_DOMAIN)


def placeholders(cfg: HomelabConfig) -> Iterator[tuple[KeyPath, str, str]]:
    """(key path, what is wrong, how to fix it) for every shipped example value still in homelab.yaml."""
    site = cfg.site
    if _example_domain(site.domain):
        yield ("site", "domain"), f"'{site.domain}' is the example domain", \
            "set your own domain (the Cloudflare zone the lab's names live in)"
    if _example_domain(site.acme_email.rsplit("@", 1)[-1]):
        yield ("site", "acme_email"), f"'{site.acme_email}' is an example address", \
            "set an address Let's Encrypt can reach you at"
    for i, key in enumerate(site.ssh_public_keys):
        if EXAMPLE_KEY_MARK in key:
            yield ("site", "ssh_public_keys", i), "the example SSH public key (nobody holds its private half)", \
                "paste your own public key, e.g. the contents of ~/.ssh/id_ed25519.pub"
    if EXAMPLE_REPOSITORY_OWNER in cfg.flux.repository:
        yield ("flux", "repository"), f"'{cfg.flux.repository}' is the example repository", \
            "set the URL of your fork: Flux deploys what is there"
    bw = cfg.bitwarden
    if bw is not None:
        if _example_id(bw.organization_id):
            yield ("bitwarden", "organization_id"), "the example Bitwarden organization ID", \
                "copy your organization's ID from the Secrets Manager settings"
        for name, uuid in bw.secrets.items():
            if _example_id(uuid):
                yield ("bitwarden", "secrets", name), f"the example ID {uuid} for secret {name}", \
                    f"create {name} in Bitwarden Secrets Manager and paste its ID (`bws secret list`)"
