# Site values come from homelab.auto.pkrvars.hcl (written by `homelab render` from homelab.yaml);
# the Proxmox credentials only from the environment; the ISO is pinned here.

variable "proxmox_url" {
  type        = string
  description = "Proxmox API URL of the node that builds the template, e.g. https://192.168.1.2:8006/api2/json."

  validation {
    condition     = can(regex("^https://[^/]+/api2/json$", var.proxmox_url))
    error_message = "The proxmox_url must look like https://host:8006/api2/json."
  }
}

variable "proxmox_username" {
  type        = string
  description = "API token ID, user@realm!tokenid (environment variable PROXMOX_USERNAME)."
  default     = env("PROXMOX_USERNAME")

  validation {
    condition     = can(regex("^[^@]+@[^!]+![^!]+$", var.proxmox_username))
    error_message = "Set PROXMOX_USERNAME to the API token ID, e.g. packer@pve!homelab."
  }
}

variable "proxmox_token" {
  type        = string
  description = "API token secret (environment variable PROXMOX_TOKEN); never put it in a file."
  default     = env("PROXMOX_TOKEN")
  sensitive   = true

  validation {
    condition     = length(var.proxmox_token) > 0
    error_message = "Set PROXMOX_TOKEN to the API token's secret."
  }
}

variable "proxmox_insecure" {
  type        = bool
  description = "Skip TLS verification while the host still uses Proxmox's self-signed certificate (PKR_VAR_proxmox_insecure=true)."
  default     = false
}

variable "proxmox_node" {
  type        = string
  description = "Proxmox node the template is built on."
}

variable "template_vm_id" {
  type        = number
  description = "VM ID of the template; Terraform clones this ID."

  validation {
    condition     = var.template_vm_id >= 100 && var.template_vm_id <= 999999999
    error_message = "The template_vm_id must be between 100 and 999999999."
  }
}

variable "template_name" {
  type        = string
  description = "Name of the template VM."
}

variable "storage_pool" {
  type        = string
  description = "Datastore for the template's disk and cloud-init drive (e.g. local-zfs)."
}

variable "bridge" {
  type        = string
  description = "Bridge the build VM attaches to; it needs DHCP and must reach Packer's HTTP server."
}

variable "admin_user" {
  type        = string
  description = "Admin account created at install; Packer logs in as it through your SSH agent."
}

variable "ssh_public_keys" {
  type        = list(string)
  description = "Public keys of the admin account (the matching private key must be in your SSH agent)."

  validation {
    condition     = length(var.ssh_public_keys) > 0
    error_message = "At least one SSH public key is needed: Packer logs in with it."
  }
}

variable "timezone" {
  type        = string
  description = "IANA time zone of the template."
}

variable "iso_url" {
  type        = string
  description = "Ubuntu 24.04 live-server ISO; the Proxmox node downloads it into iso_storage_pool."
  default     = "https://releases.ubuntu.com/24.04.3/ubuntu-24.04.3-live-server-amd64.iso"
}

variable "iso_checksum" {
  type        = string
  description = "Checksum of iso_url, from https://releases.ubuntu.com/24.04.3/SHA256SUMS."
  default     = "sha256:c3514bf0056180d09376462a7a1b4f213c1d6e8ea67fae5c25099c6fd3d8274b"
}

variable "iso_storage_pool" {
  type        = string
  description = "Datastore that holds ISO images on the build node."
  default     = "local"
}
