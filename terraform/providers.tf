# Credentials come only from the environment, never from Git:
#   export PROXMOX_VE_API_TOKEN='terraform@pve!homelab=xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx'
#   export PROXMOX_VE_INSECURE=true   # only while the hosts use Proxmox's self-signed certificate
# No `ssh` block: cloning, cloud-init and disks all go through the API; SSH is only needed for snippets.
provider "proxmox" {
  endpoint = var.proxmox_endpoint
}
