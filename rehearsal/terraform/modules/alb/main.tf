# Stands for aws_lb.outpost_alb, aws_lb_listener.http/https and
# aws_lb_target_group.control_plane.

variable "name" {
  type = string
}

resource "terraform_data" "outpost_alb" {
  input = var.name
}

resource "terraform_data" "control_plane" {
  input = "${var.name}-control-plane"
}

resource "terraform_data" "http" {
  input = { port = 80, target_group = terraform_data.control_plane.output }
}

resource "terraform_data" "https" {
  input = { port = 443, target_group = terraform_data.control_plane.output }
}

output "dns_name" {
  value = "${terraform_data.outpost_alb.output}.rehearsal.local"
}
