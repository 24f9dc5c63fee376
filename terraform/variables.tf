# Every value comes from homelab.auto.tfvars.json, which `homelab render` writes from homelab.yaml.
# The validations repeat the checks `homelab validate` makes, so a hand-made tfvars is caught here too.

variable "proxmox_endpoint" {
  description = "Proxmox API endpoint of one cluster member, e.g. https://192.168.1.2:8006/ (without /api2/json)."
  type        = string

  validation {
    condition     = can(regex("^https://[^/]+/$", var.proxmox_endpoint))
    error_message = "proxmox_endpoint must look like https://host:8006/ (https, ending in a slash, no /api2/json)."
  }
}

variable "proxmox_hosts" {
  description = "Proxmox hosts by the name homelab.yaml uses: their node name and the datastore for VM disks."
  type = map(object({
    node_name    = string
    datastore_id = string
  }))

  validation {
    condition     = length(var.proxmox_hosts) > 0
    error_message = "proxmox_hosts must name at least one Proxmox host."
  }
}

variable "template_vm_id" {
  description = "VM ID of the Ubuntu 24.04 template built by packer/ubuntu-2404."
  type        = number

  validation {
    condition     = var.template_vm_id >= 100 && floor(var.template_vm_id) == var.template_vm_id
    error_message = "template_vm_id must be a whole number of at least 100 (Proxmox reserves lower IDs)."
  }
}

variable "template_node" {
  description = "Proxmox node name the template lives on (clones to other nodes are migrated there)."
  type        = string

  validation {
    condition     = contains([for h in values(var.proxmox_hosts) : h.node_name], var.template_node)
    error_message = "template_node must be the node_name of one of proxmox_hosts."
  }
}

variable "vm_network" {
  description = "The K3s VLAN: bridge, VLAN tag, prefix length, gateway, DNS servers and search domain."
  type = object({
    bridge        = string
    vlan_id       = number
    prefix_length = number
    gateway       = string
    dns_servers   = list(string)
    dns_domain    = string
  })

  validation {
    condition     = var.vm_network.vlan_id >= 1 && var.vm_network.vlan_id <= 4094
    error_message = "vm_network.vlan_id must be an 802.1Q tag between 1 and 4094."
  }
  validation {
    condition     = var.vm_network.prefix_length >= 8 && var.vm_network.prefix_length <= 30
    error_message = "vm_network.prefix_length must be between 8 and 30."
  }
  validation {
    condition     = can(cidrhost("${var.vm_network.gateway}/32", 0)) && alltrue([for d in var.vm_network.dns_servers : can(cidrhost("${d}/32", 0))])
    error_message = "vm_network.gateway and every vm_network.dns_servers entry must be IPv4 addresses."
  }
  validation {
    condition     = length(var.vm_network.dns_servers) > 0
    error_message = "vm_network.dns_servers must list at least one resolver."
  }
}

variable "admin_user" {
  description = "Admin account cloud-init creates on every VM."
  type        = string

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.admin_user))
    error_message = "admin_user must be a Linux user name (lower case, at most 32 characters)."
  }
}

variable "ssh_public_keys" {
  description = "Public keys allowed to log in as admin_user."
  type        = list(string)

  validation {
    condition     = length(var.ssh_public_keys) > 0 && alltrue([for k in var.ssh_public_keys : can(regex("^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\\.com) ", k))])
    error_message = "ssh_public_keys must hold at least one OpenSSH public key (never a private key)."
  }
}

variable "cluster_name" {
  description = "Name of the lab; tags every VM."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name must be a DNS label."
  }
}

variable "nodes" {
  description = "The K3s VMs by name: placement, VM ID, address, role, and size."
  type = map(object({
    proxmox_host = string
    vm_id        = number
    address      = string
    role         = string
    cores        = number
    memory_mib   = number
    os_disk_gb   = number
    data_disk_gb = number
  }))

  validation {
    condition     = length([for n in values(var.nodes) : n if n.role == "server"]) > 0
    error_message = "nodes must contain at least one server: the first server initialises the cluster."
  }
  validation {
    condition     = alltrue([for name in keys(var.nodes) : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", name))])
    error_message = "Every key of nodes must be a DNS label: it becomes the VM name and the hostname."
  }
  validation {
    condition     = alltrue([for n in values(var.nodes) : contains(keys(var.proxmox_hosts), n.proxmox_host)])
    error_message = "Every node's proxmox_host must be a key of proxmox_hosts (a node without placement cannot be created)."
  }
  validation {
    condition     = alltrue([for n in values(var.nodes) : contains(["server", "agent"], n.role)])
    error_message = "Every node's role must be \"server\" or \"agent\"."
  }
  validation {
    condition     = length(distinct([for n in values(var.nodes) : n.vm_id])) == length(var.nodes) && alltrue([for n in values(var.nodes) : n.vm_id >= 100 && n.vm_id != var.template_vm_id])
    error_message = "Every node needs its own vm_id of at least 100, different from template_vm_id."
  }
  validation {
    condition = length(distinct([for n in values(var.nodes) : n.address])) == length(var.nodes) && alltrue([
      for n in values(var.nodes) :
      can(cidrhost("${n.address}/${var.vm_network.prefix_length}", 0)) &&
      cidrhost("${n.address}/${var.vm_network.prefix_length}", 0) == cidrhost("${var.vm_network.gateway}/${var.vm_network.prefix_length}", 0)
    ])
    error_message = "Every node needs its own IPv4 address inside the K3s network (the gateway's subnet)."
  }
  validation {
    # The template's disk is 16 GB (packer/ubuntu-2404); a clone's disk can grow but never shrink.
    condition     = alltrue([for n in values(var.nodes) : n.cores >= 1 && n.memory_mib >= 1024 && n.os_disk_gb >= 16 && n.data_disk_gb >= 1])
    error_message = "Every node needs at least 1 core, 1024 MiB of memory, a 16 GB OS disk (the template's size) and a data disk."
  }
}
