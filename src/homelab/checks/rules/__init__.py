"""Importing this package registers every rule."""

from homelab.checks.rules import (  # noqa: F401
    ansible, coldstart, exposure, flux, hcl, helm, infra, resources, schema, secrets, site, yamlrules,
)
