//! Elastic Load Balancing v2: the ALB in front of the control plane, its target group, and
//! whether the tasks behind it pass health checks.

use serde_json::Value;

use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancer, TargetDescription, TargetGroup, TargetHealthDescription,
};

use super::AwsFailure;
use super::op::{pages, self_paged};
use super::output::{dt, list, obj, s, strs};

fn load_balancer(v: &LoadBalancer) -> Value {
    obj([
        ("LoadBalancerArn", s(v.load_balancer_arn())),
        ("DNSName", s(v.dns_name())),
        ("CanonicalHostedZoneId", s(v.canonical_hosted_zone_id())),
        ("CreatedTime", dt(v.created_time())),
        ("LoadBalancerName", s(v.load_balancer_name())),
        ("Scheme", s(v.scheme().map(|x| x.as_str()))),
        ("VpcId", s(v.vpc_id())),
        (
            "State",
            v.state().map_or(Value::Null, |st| {
                obj([
                    ("Code", s(st.code().map(|c| c.as_str()))),
                    ("Reason", s(st.reason())),
                ])
            }),
        ),
        ("Type", s(v.r#type().map(|t| t.as_str()))),
        (
            "AvailabilityZones",
            v.availability_zones
                .as_deref()
                .map_or(Value::Null, |zones| {
                    list(zones, |z| {
                        obj([
                            ("ZoneName", s(z.zone_name())),
                            ("SubnetId", s(z.subnet_id())),
                            ("OutpostId", s(z.outpost_id())),
                            (
                                "LoadBalancerAddresses",
                                z.load_balancer_addresses
                                    .as_deref()
                                    .map_or(Value::Null, |a| {
                                        list(a, |a| {
                                            obj([
                                                ("IpAddress", s(a.ip_address())),
                                                ("AllocationId", s(a.allocation_id())),
                                                ("PrivateIPv4Address", s(a.private_ipv4_address())),
                                                ("IPv6Address", s(a.ipv6_address())),
                                            ])
                                        })
                                    }),
                            ),
                            (
                                "SourceNatIpv6Prefixes",
                                z.source_nat_ipv6_prefixes
                                    .as_deref()
                                    .map_or(Value::Null, strs),
                            ),
                        ])
                    })
                }),
        ),
        (
            "SecurityGroups",
            v.security_groups.as_deref().map_or(Value::Null, strs),
        ),
        ("IpAddressType", s(v.ip_address_type().map(|t| t.as_str()))),
        ("CustomerOwnedIpv4Pool", s(v.customer_owned_ipv4_pool())),
        (
            "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic",
            s(v.enforce_security_group_inbound_rules_on_private_link_traffic()),
        ),
        (
            "EnablePrefixForIpv6SourceNat",
            s(v.enable_prefix_for_ipv6_source_nat().map(|e| e.as_str())),
        ),
        (
            "IpamPools",
            v.ipam_pools().map_or(Value::Null, |p| {
                obj([("Ipv4IpamPoolId", s(p.ipv4_ipam_pool_id()))])
            }),
        ),
    ])
}

fn target_group(v: &TargetGroup) -> Value {
    obj([
        ("TargetGroupArn", s(v.target_group_arn())),
        ("TargetGroupName", s(v.target_group_name())),
        ("Protocol", s(v.protocol().map(|p| p.as_str()))),
        ("Port", v.port().into()),
        ("VpcId", s(v.vpc_id())),
        (
            "HealthCheckProtocol",
            s(v.health_check_protocol().map(|p| p.as_str())),
        ),
        ("HealthCheckPort", s(v.health_check_port())),
        ("HealthCheckEnabled", v.health_check_enabled().into()),
        (
            "HealthCheckIntervalSeconds",
            v.health_check_interval_seconds().into(),
        ),
        (
            "HealthCheckTimeoutSeconds",
            v.health_check_timeout_seconds().into(),
        ),
        ("HealthyThresholdCount", v.healthy_threshold_count().into()),
        (
            "UnhealthyThresholdCount",
            v.unhealthy_threshold_count().into(),
        ),
        ("HealthCheckPath", s(v.health_check_path())),
        (
            "Matcher",
            v.matcher().map_or(Value::Null, |m| {
                obj([
                    ("HttpCode", s(m.http_code())),
                    ("GrpcCode", s(m.grpc_code())),
                ])
            }),
        ),
        (
            "LoadBalancerArns",
            v.load_balancer_arns.as_deref().map_or(Value::Null, strs),
        ),
        ("TargetType", s(v.target_type().map(|t| t.as_str()))),
        ("ProtocolVersion", s(v.protocol_version())),
        ("IpAddressType", s(v.ip_address_type().map(|t| t.as_str()))),
        ("TargetControlPort", v.target_control_port().into()),
    ])
}

fn target(t: &TargetDescription) -> Value {
    obj([
        ("Id", s(t.id())),
        ("Port", t.port().into()),
        ("AvailabilityZone", s(t.availability_zone())),
        ("QuicServerId", s(t.quic_server_id())),
    ])
}

fn target_health(v: &TargetHealthDescription) -> Value {
    obj([
        ("Target", v.target().map_or(Value::Null, target)),
        ("HealthCheckPort", s(v.health_check_port())),
        (
            "TargetHealth",
            v.target_health().map_or(Value::Null, |h| {
                obj([
                    ("State", s(h.state().map(|x| x.as_str()))),
                    ("Reason", s(h.reason().map(|x| x.as_str()))),
                    ("Description", s(h.description())),
                ])
            }),
        ),
        (
            "AnomalyDetection",
            v.anomaly_detection().map_or(Value::Null, |a| {
                obj([
                    ("Result", s(a.result().map(|x| x.as_str()))),
                    (
                        "MitigationInEffect",
                        s(a.mitigation_in_effect().map(|x| x.as_str())),
                    ),
                ])
            }),
        ),
        (
            "AdministrativeOverride",
            v.administrative_override().map_or(Value::Null, |o| {
                obj([
                    ("State", s(o.state().map(|x| x.as_str()))),
                    ("Reason", s(o.reason().map(|x| x.as_str()))),
                    ("Description", s(o.description())),
                ])
            }),
        ),
    ])
}

operations! {
    DescribeLoadBalancers(c, LoadBalancerArns: strs, Names: strs, Marker: str, PageSize: i32) {
        let paged = self_paged(&Marker, &PageSize);
        let req = c
            .elbv2
            .describe_load_balancers()
            .set_load_balancer_arns(LoadBalancerArns)
            .set_names(Names)
            .set_marker(Marker)
            .set_page_size(PageSize);
        let pages = pages(
            paged,
            req,
            |r| r.into_paginator().send().try_collect(),
            |r| r.send(),
        )
        .await?;
        Ok(obj([
            (
                "LoadBalancers",
                Value::Array(
                    pages
                        .iter()
                        .flat_map(|p| p.load_balancers())
                        .map(load_balancer)
                        .collect(),
                ),
            ),
            ("NextMarker", s(pages.last().and_then(|p| p.next_marker()))),
        ]))
    }
    DescribeTargetGroups(
        c,
        LoadBalancerArn: str,
        TargetGroupArns: strs,
        Names: strs,
        Marker: str,
        PageSize: i32,
    ) {
        let paged = self_paged(&Marker, &PageSize);
        let req = c
            .elbv2
            .describe_target_groups()
            .set_load_balancer_arn(LoadBalancerArn)
            .set_target_group_arns(TargetGroupArns)
            .set_names(Names)
            .set_marker(Marker)
            .set_page_size(PageSize);
        let pages = pages(
            paged,
            req,
            |r| r.into_paginator().send().try_collect(),
            |r| r.send(),
        )
        .await?;
        Ok(obj([
            (
                "TargetGroups",
                Value::Array(
                    pages
                        .iter()
                        .flat_map(|p| p.target_groups())
                        .map(target_group)
                        .collect(),
                ),
            ),
            ("NextMarker", s(pages.last().and_then(|p| p.next_marker()))),
        ]))
    }
    DescribeTargetHealth(c, Targets: objects, Include: strs, TargetGroupArn: req_str) {
        let targets = Targets
            .iter()
            .map(|t| {
                Ok(TargetDescription::builder()
                    .set_id(t.str("Id")?)
                    .set_port(t.i32("Port")?)
                    .set_availability_zone(t.str("AvailabilityZone")?)
                    .set_quic_server_id(t.str("QuicServerId")?)
                    .build())
            })
            .collect::<Result<Vec<_>, AwsFailure>>()?;
        let include = Include.map(|i| i.iter().map(|i| i.as_str().into()).collect());
        let out = c
            .elbv2
            .describe_target_health()
            .target_group_arn(TargetGroupArn)
            .set_targets((!targets.is_empty()).then_some(targets))
            .set_include(include)
            .send()
            .await?;
        Ok(obj([(
            "TargetHealthDescriptions",
            out.target_health_descriptions
                .as_deref()
                .map_or(Value::Null, |d| list(d, target_health)),
        )]))
    }
}
