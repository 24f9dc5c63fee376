# generated from homelab.yaml by `homelab render`; do not edit by hand
# Edit homelab.yaml, then run `homelab render`.

proxmox_url     = "https://192.168.1.2:8006/api2/json"
proxmox_node    = "pve1"
template_vm_id  = 9000
template_name   = "ubuntu-2404-template"
storage_pool    = "local-zfs"
bridge          = "vmbr0"
admin_user      = "ops"
ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHomelabExampleKeyReplaceMeWithYourOwnKey0 ops@laptop"]
timezone        = "Europe/Berlin"
