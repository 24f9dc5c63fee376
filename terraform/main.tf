# One VM per K3s node of homelab.yaml. for_each is keyed by node name, so adding or removing a
# node never touches (let alone recreates) the others.
resource "proxmox_virtual_environment_vm" "k3s" {
  for_each = var.nodes

  name        = each.key
  description = "K3s ${each.value.role} of ${var.cluster_name}; managed by Terraform from homelab.yaml"
  tags        = sort(distinct([var.cluster_name, "k3s", each.value.role])) # Proxmox sorts tags; sorted avoids a perpetual diff
  node_name   = var.proxmox_hosts[each.value.proxmox_host].node_name
  vm_id       = each.value.vm_id

  # Power-loss recovery: hosts boot, VMs start by themselves, servers first so etcd
  # regains quorum before agents rejoin.
  on_boot = true
  started = true
  startup {
    order = each.value.role == "server" ? 1 : 2
  }

  # Moving a node to another host in homelab.yaml migrates it instead of destroying its disks.
  migrate         = true
  stop_on_destroy = true

  clone {
    vm_id     = var.template_vm_id
    node_name = var.template_node
    # Local ZFS is not shared: the clone is made on the template's node, then migrated onto this datastore.
    datastore_id = var.proxmox_hosts[each.value.proxmox_host].datastore_id
    full         = true
    retries      = 3
  }

  agent {
    enabled = true # qemu-guest-agent is installed and enabled in the template
    trim    = true
  }

  operating_system {
    type = "l26"
  }

  cpu {
    cores = each.value.cores
    type  = "x86-64-v2-AES"
  }

  memory {
    dedicated = each.value.memory_mib
  }

  scsi_hardware = "virtio-scsi-single"

  # scsi0: the OS disk inherited from the template, grown to its size. Every attribute that
  # differs from the provider defaults is set, or the defaults would overwrite the template's.
  disk {
    interface    = "scsi0"
    datastore_id = var.proxmox_hosts[each.value.proxmox_host].datastore_id
    size         = each.value.os_disk_gb
    file_format  = "raw"
    discard      = "on"
    iothread     = true
    ssd          = true
  }

  # scsi1: Longhorn's disk, /dev/sdb in the guest. Longhorn replicates and backs it up itself,
  # so Proxmox backups and replication skip it.
  disk {
    interface    = "scsi1"
    datastore_id = var.proxmox_hosts[each.value.proxmox_host].datastore_id
    size         = each.value.data_disk_gb
    file_format  = "raw"
    discard      = "on"
    iothread     = true
    ssd          = true
    backup       = false
    replicate    = false
  }

  network_device {
    bridge  = var.vm_network.bridge # must be VLAN-aware
    model   = "virtio"
    vlan_id = var.vm_network.vlan_id
  }

  initialization {
    datastore_id = var.proxmox_hosts[each.value.proxmox_host].datastore_id

    ip_config {
      ipv4 {
        address = "${each.value.address}/${var.vm_network.prefix_length}"
        gateway = var.vm_network.gateway
      }
    }

    dns {
      domain  = var.vm_network.dns_domain
      servers = var.vm_network.dns_servers
    }

    user_account {
      username = var.admin_user
      keys     = var.ssh_public_keys
    }
  }
}
