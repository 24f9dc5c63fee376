# Read by `homelab inventory`, which writes ansible/inventories/k3s-nodes.yml from it.
output "k3s_nodes" {
  description = "The K3s VMs by name: name, address, Proxmox host, role and VM ID."
  value = tomap({
    for name, vm in proxmox_virtual_environment_vm.k3s : name => {
      name         = vm.name
      address      = var.nodes[name].address
      proxmox_host = var.nodes[name].proxmox_host
      role         = var.nodes[name].role
      vm_id        = vm.vm_id
    }
  })
}
