"""Real Debian 12 test hosts for the Ansible roles (systemd-nspawn + network namespaces)."""
