packer {
  required_plugins {
    proxmox = {
      source  = "github.com/hashicorp/proxmox"
      version = "= 1.2.4"
    }
  }
}

source "proxmox-iso" "ubuntu-2404" {
  proxmox_url              = var.proxmox_url
  username                 = var.proxmox_username
  token                    = var.proxmox_token
  insecure_skip_tls_verify = var.proxmox_insecure
  node                     = var.proxmox_node
  task_timeout             = "10m"

  vm_id                = var.template_vm_id
  vm_name              = var.template_name
  template_name        = var.template_name
  template_description = "Ubuntu 24.04 for K3s nodes, built by Packer from packer/ubuntu-2404 (cloud-init, qemu-guest-agent)."
  tags                 = "template;ubuntu-2404"

  os              = "l26"
  cpu_type        = "x86-64-v2-AES"
  cores           = 2
  memory          = 4096
  scsi_controller = "virtio-scsi-single"
  qemu_agent      = true

  boot_iso {
    type             = "ide"
    iso_url          = var.iso_url
    iso_checksum     = var.iso_checksum
    iso_storage_pool = var.iso_storage_pool
    iso_download_pve = true
    unmount          = true
  }

  # 16G is the smallest OS disk a clone may have (terraform/variables.tf checks it); Terraform grows it.
  disks {
    type         = "scsi"
    disk_size    = "16G"
    storage_pool = var.storage_pool
    format       = "raw"
    io_thread    = true
    discard      = true
    ssd          = true
  }

  network_adapters {
    bridge = var.bridge
    model  = "virtio"
  }

  # An empty cloud-init drive: Terraform fills in each clone's address, DNS, user and keys.
  cloud_init              = true
  cloud_init_storage_pool = var.storage_pool

  # The autoinstall config is served by Packer's HTTP server; user-data is a template so the admin
  # account and keys come from homelab.yaml instead of being written twice.
  http_content = {
    "/user-data" = templatefile("${path.root}/http/user-data", {
      admin_user      = var.admin_user
      ssh_public_keys = var.ssh_public_keys
      timezone        = var.timezone
    })
    "/meta-data" = file("${path.root}/http/meta-data")
  }

  # GRUB on the live-server ISO: edit the default entry, append the autoinstall arguments, boot.
  boot_wait = "10s"
  boot_command = [
    "<wait>e<wait><down><down><down><end>",
    " autoinstall ds=nocloud-net\\;s=http://{{ .HTTPIP }}:{{ .HTTPPort }}/",
    "<wait><f10><wait>",
  ]

  # No password anywhere: Packer logs in as the admin with the key in your SSH agent.
  communicator   = "ssh"
  ssh_username   = var.admin_user
  ssh_agent_auth = true
  ssh_timeout    = "30m"
}

build {
  sources = ["source.proxmox-iso.ubuntu-2404"]

  # Make the installed system a clean template, so every clone gets its own identity and its
  # network from Proxmox's cloud-init drive.
  provisioner "shell" {
    execute_command = "sudo sh -eu '{{ .Path }}'"
    inline = [
      # let first-boot cloud-init finish (exit 2 only means "recoverable warnings")
      "cloud-init status --wait >/dev/null || [ $? -eq 2 ]",
      # qemu-guest-agent is a static unit that udev starts whenever Proxmox's agent port exists
      # (Packer found this VM's address through it); cloud-init must stay enabled for the clones
      "systemctl is-active --quiet qemu-guest-agent",
      "rm -f /etc/cloud/cloud-init.disabled",
      # the installer points cloud-init at Packer's HTTP seed and turns its networking off; undo both
      "rm -f /etc/cloud/cloud.cfg.d/99-installer.cfg /etc/cloud/cloud.cfg.d/subiquity-disable-cloudinit-networking.cfg",
      "rm -f /etc/netplan/00-installer-config.yaml /etc/netplan/50-cloud-init.yaml",
      "printf 'datasource_list: [NoCloud, ConfigDrive]\\n' > /etc/cloud/cloud.cfg.d/99-pve.cfg",
      "apt-get -y autoremove --purge && apt-get -y clean",
      "cloud-init clean --logs --seed",
      # new SSH host keys and machine-id on each clone's first boot
      "rm -f /etc/ssh/ssh_host_*",
      "truncate -s 0 /etc/machine-id",
      "rm -f /var/lib/dbus/machine-id && ln -s /etc/machine-id /var/lib/dbus/machine-id",
      "sync",
    ]
  }
}
