# The rehearsal's stand-in for ~/projects/outpost/terraform: the same module layout
# (module.alb) with Terraform's built-in terraform_data resources in place of the AWS provider,
# so phase 1 (init, plan -target=module.alb, apply) and rollback 3's destroy run the real
# terraform binary with no provider download.

module "alb" {
  source = "./modules/alb"
  name   = "outpost-alb"
}

output "alb_dns_name" {
  value = module.alb.dns_name
}
