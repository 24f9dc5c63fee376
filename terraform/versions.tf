terraform {
  # 1.9 lets a variable's validation refer to other variables (placement checks in variables.tf).
  required_version = ">= 1.9.0"

  required_providers {
    proxmox = {
      source  = "bpg/proxmox"
      version = "0.111.1"
    }
  }
}
