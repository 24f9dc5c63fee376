"""Importing this package registers every rule."""

from homelab.checks.rules import (  # noqa: F401
    coldstart, exposure, flux, hcl, infra, schema, secrets, site, yamlrules,
)
