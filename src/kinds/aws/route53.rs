//! Route53: the custom domain's alias A record to the ALB (phase 2 UPSERT, rollback 2 restore
//! or DELETE), waiting for the change to be INSYNC, and listings read to their last page.

use aws_sdk_route53::operation::list_hosted_zones_by_name::ListHostedZonesByNameOutput;
use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeInfo, GeoLocation, GeoProximityLocation,
    HostedZone, HostedZoneFeatures, ResourceRecord, ResourceRecordSet, ResourceRecordSetFailover,
    ResourceRecordSetRegion, RrType,
};
use serde_json::Value;

use super::op::marked_pages;
use super::output::{dt, list, obj, s};
use super::{AwsFailure, Input};

const CHANGE_BATCH: &[&str] = &["Comment", "Changes"];
const CHANGE: &[&str] = &["Action", "ResourceRecordSet"];
const RECORD_SET: &[&str] = &[
    "Name",
    "Type",
    "SetIdentifier",
    "Weight",
    "Region",
    "GeoLocation",
    "Failover",
    "MultiValueAnswer",
    "TTL",
    "ResourceRecords",
    "AliasTarget",
    "HealthCheckId",
    "TrafficPolicyInstanceId",
];
const RESOURCE_RECORD: &[&str] = &["Value"];
const ALIAS_TARGET: &[&str] = &["HostedZoneId", "DNSName", "EvaluateTargetHealth"];
const GEO_LOCATION: &[&str] = &["ContinentCode", "CountryCode", "SubdivisionCode"];

/// A change batch is sent as written, so a misspelt nested field is an error rather than
/// silently left out of the record (the top-level fields are checked by `Aws::check`).
fn known(path: &str, value: Option<&Value>, allowed: &[&str]) -> Result<(), AwsFailure> {
    if let Some(Value::Object(map)) = value
        && let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str()))
    {
        return Err(AwsFailure::Input(format!(
            "unknown field `{unknown}` in {path}; it takes: {}",
            allowed.join(", ")
        )));
    }
    Ok(())
}

fn required<T>(value: Option<T>, path: &str) -> Result<T, AwsFailure> {
    value.ok_or_else(|| AwsFailure::Input(format!("`{path}` is required")))
}

fn built<T, E: std::fmt::Display>(r: Result<T, E>, path: &str) -> Result<T, AwsFailure> {
    r.map_err(|e| AwsFailure::Input(format!("{path}: {e}")))
}

fn num<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

/// `MaxItems` is a string in the API (PageMaxItems), as `aws` prints it; the SDK reads a
/// missing one as 0, which Route53 never answers, so 0 is left out.
fn max_items(n: i32) -> Value {
    if n == 0 {
        Value::Null
    } else {
        Value::from(n.to_string())
    }
}

fn alias_target(a: &Input<'_>, path: &str) -> Result<AliasTarget, AwsFailure> {
    built(
        AliasTarget::builder()
            .hosted_zone_id(required(
                a.str("HostedZoneId")?,
                &format!("{path}.HostedZoneId"),
            )?)
            .dns_name(required(a.str("DNSName")?, &format!("{path}.DNSName"))?)
            .evaluate_target_health(required(
                a.bool("EvaluateTargetHealth")?,
                &format!("{path}.EvaluateTargetHealth"),
            )?)
            .build(),
        path,
    )
}

fn record_set(r: &Input<'_>, path: &str) -> Result<ResourceRecordSet, AwsFailure> {
    known(
        &format!("{path}.AliasTarget"),
        r.raw("AliasTarget"),
        ALIAS_TARGET,
    )?;
    known(
        &format!("{path}.GeoLocation"),
        r.raw("GeoLocation"),
        GEO_LOCATION,
    )?;
    let records = match r.raw("ResourceRecords") {
        None => None,
        Some(_) => {
            let mut out = Vec::new();
            for (i, rr) in r.objects("ResourceRecords")?.iter().enumerate() {
                let at = format!("{path}.ResourceRecords[{i}]");
                known(
                    &at,
                    r.raw("ResourceRecords").and_then(|v| v.get(i)),
                    RESOURCE_RECORD,
                )?;
                out.push(built(
                    ResourceRecord::builder()
                        .value(required(rr.str("Value")?, &format!("{at}.Value"))?)
                        .build(),
                    &at,
                )?);
            }
            Some(out)
        }
    };
    let alias = match r.object("AliasTarget")? {
        Some(a) => Some(alias_target(&a, &format!("{path}.AliasTarget"))?),
        None => None,
    };
    let geo = r
        .object("GeoLocation")?
        .map(|g| -> Result<GeoLocation, AwsFailure> {
            Ok(GeoLocation::builder()
                .set_continent_code(g.str("ContinentCode")?)
                .set_country_code(g.str("CountryCode")?)
                .set_subdivision_code(g.str("SubdivisionCode")?)
                .build())
        });
    built(
        ResourceRecordSet::builder()
            .name(required(r.str("Name")?, &format!("{path}.Name"))?)
            .r#type(RrType::from(
                required(r.str("Type")?, &format!("{path}.Type"))?.as_str(),
            ))
            .set_set_identifier(r.str("SetIdentifier")?)
            .set_weight(r.i64("Weight")?)
            .set_region(
                r.str("Region")?
                    .map(|v| ResourceRecordSetRegion::from(v.as_str())),
            )
            .set_geo_location(geo.transpose()?)
            .set_failover(
                r.str("Failover")?
                    .map(|v| ResourceRecordSetFailover::from(v.as_str())),
            )
            .set_multi_value_answer(r.bool("MultiValueAnswer")?)
            .set_ttl(r.i64("TTL")?)
            .set_resource_records(records)
            .set_alias_target(alias)
            .set_health_check_id(r.str("HealthCheckId")?)
            .set_traffic_policy_instance_id(r.str("TrafficPolicyInstanceId")?)
            .build(),
        path,
    )
}

/// `ChangeBatch` exactly as `aws route53 change-resource-record-sets --change-batch` takes it.
fn change_batch(raw: Option<&Value>) -> Result<ChangeBatch, AwsFailure> {
    let (service, op) = ("route53", "ChangeResourceRecordSets");
    let Some(raw) = raw else {
        return Err(AwsFailure::Input(format!(
            "{service} {op} needs `ChangeBatch`"
        )));
    };
    let Value::Object(map) = raw else {
        return Err(AwsFailure::Input(format!(
            "`ChangeBatch` of {service} {op} must be a mapping, not {raw}"
        )));
    };
    known("ChangeBatch", Some(raw), CHANGE_BATCH)?;
    let batch = Input::new(service, op, map);
    let changes = batch.objects("Changes")?;
    if changes.is_empty() {
        return Err(AwsFailure::Input(
            "`ChangeBatch.Changes` must list at least one change".into(),
        ));
    }
    let mut builder = ChangeBatch::builder().set_comment(batch.str("Comment")?);
    for (i, change) in changes.iter().enumerate() {
        let path = format!("ChangeBatch.Changes[{i}]");
        let raw_change = raw.get("Changes").and_then(|c| c.get(i));
        known(&path, raw_change, CHANGE)?;
        known(
            &format!("{path}.ResourceRecordSet"),
            raw_change.and_then(|c| c.get("ResourceRecordSet")),
            RECORD_SET,
        )?;
        let action = required(change.str("Action")?, &format!("{path}.Action"))?;
        let rrset = required(
            change.object("ResourceRecordSet")?,
            &format!("{path}.ResourceRecordSet"),
        )?;
        let rrset = record_set(&rrset, &format!("{path}.ResourceRecordSet"))?;
        builder = builder.changes(built(
            Change::builder()
                .action(ChangeAction::from(action.as_str()))
                .resource_record_set(rrset)
                .build(),
            &path,
        )?);
    }
    built(builder.build(), "ChangeBatch")
}

fn change_info(c: Option<&ChangeInfo>) -> Value {
    c.map_or(Value::Null, |c| {
        obj([
            ("Id", Value::from(c.id())),
            ("Status", Value::from(c.status().as_str())),
            ("SubmittedAt", dt(Some(c.submitted_at()))),
            ("Comment", s(c.comment())),
        ])
    })
}

fn geo_proximity_json(g: &GeoProximityLocation) -> Value {
    obj([
        ("AWSRegion", s(g.aws_region())),
        ("LocalZoneGroup", s(g.local_zone_group())),
        (
            "Coordinates",
            g.coordinates().map_or(Value::Null, |c| {
                obj([
                    ("Latitude", Value::from(c.latitude())),
                    ("Longitude", Value::from(c.longitude())),
                ])
            }),
        ),
        ("Bias", num(g.bias())),
    ])
}

fn record_set_json(r: &ResourceRecordSet) -> Value {
    obj([
        ("Name", Value::from(r.name())),
        ("Type", Value::from(r.r#type().as_str())),
        ("SetIdentifier", s(r.set_identifier())),
        ("Weight", num(r.weight())),
        ("Region", s(r.region().map(|v| v.as_str()))),
        (
            "GeoLocation",
            r.geo_location().map_or(Value::Null, |g| {
                obj([
                    ("ContinentCode", s(g.continent_code())),
                    ("CountryCode", s(g.country_code())),
                    ("SubdivisionCode", s(g.subdivision_code())),
                ])
            }),
        ),
        ("Failover", s(r.failover().map(|v| v.as_str()))),
        ("MultiValueAnswer", num(r.multi_value_answer())),
        ("TTL", num(r.ttl())),
        (
            "ResourceRecords",
            r.resource_records.as_deref().map_or(Value::Null, |rr| {
                list(rr, |v| obj([("Value", Value::from(v.value()))]))
            }),
        ),
        (
            "AliasTarget",
            r.alias_target().map_or(Value::Null, |a| {
                obj([
                    ("HostedZoneId", Value::from(a.hosted_zone_id())),
                    ("DNSName", Value::from(a.dns_name())),
                    (
                        "EvaluateTargetHealth",
                        Value::from(a.evaluate_target_health()),
                    ),
                ])
            }),
        ),
        ("HealthCheckId", s(r.health_check_id())),
        ("TrafficPolicyInstanceId", s(r.traffic_policy_instance_id())),
        (
            "CidrRoutingConfig",
            r.cidr_routing_config().map_or(Value::Null, |c| {
                obj([
                    ("CollectionId", Value::from(c.collection_id())),
                    ("LocationName", Value::from(c.location_name())),
                ])
            }),
        ),
        (
            "GeoProximityLocation",
            r.geo_proximity_location()
                .map_or(Value::Null, geo_proximity_json),
        ),
    ])
}

fn features_json(f: &HostedZoneFeatures) -> Value {
    obj([
        (
            "AcceleratedRecoveryStatus",
            s(f.accelerated_recovery_status().map(|v| v.as_str())),
        ),
        (
            "FailureReasons",
            f.failure_reasons().map_or(Value::Null, |r| {
                obj([("AcceleratedRecovery", s(r.accelerated_recovery()))])
            }),
        ),
    ])
}

fn hosted_zone_json(z: &HostedZone) -> Value {
    obj([
        ("Id", Value::from(z.id())),
        ("Name", Value::from(z.name())),
        ("CallerReference", Value::from(z.caller_reference())),
        (
            "Config",
            z.config().map_or(Value::Null, |k| {
                obj([
                    ("Comment", s(k.comment())),
                    ("PrivateZone", Value::from(k.private_zone())),
                ])
            }),
        ),
        ("ResourceRecordSetCount", num(z.resource_record_set_count())),
        (
            "LinkedService",
            z.linked_service().map_or(Value::Null, |l| {
                obj([
                    ("ServicePrincipal", s(l.service_principal())),
                    ("Description", s(l.description())),
                ])
            }),
        ),
        ("Features", z.features().map_or(Value::Null, features_json)),
    ])
}

operations! {
    ListHostedZonesByName(c, DNSName: str, HostedZoneId: str, MaxItems: i32) {
        // Like the AWS CLI, every page is read unless the step names a page size.
        let fetch = |(name, zone)| {
            let req = c
                .route53
                .list_hosted_zones_by_name()
                .set_dns_name(name)
                .set_hosted_zone_id(zone)
                .set_max_items(MaxItems);
            async move { Ok(req.send().await?) }
        };
        let next = |out: &ListHostedZonesByNameOutput| {
            (out.is_truncated() && out.next_dns_name().is_some()).then(|| {
                let zone = out.next_hosted_zone_id().map(str::to_owned);
                (out.next_dns_name().map(str::to_owned), zone)
            })
        };
        let paged = MaxItems.is_some();
        let pages = marked_pages(paged, (DNSName, HostedZoneId), fetch, next).await?;
        let zones = pages.iter().flat_map(|p| p.hosted_zones());
        let out = pages.last().expect("a listing reads one page at least");
        Ok(obj([
            ("HostedZones", zones.map(hosted_zone_json).collect()),
            ("DNSName", s(out.dns_name())),
            ("HostedZoneId", s(out.hosted_zone_id())),
            ("IsTruncated", Value::from(out.is_truncated())),
            ("NextDNSName", s(out.next_dns_name())),
            ("NextHostedZoneId", s(out.next_hosted_zone_id())),
            ("MaxItems", max_items(out.max_items())),
        ]))
    }
    ListResourceRecordSets(
        c,
        StartRecordName: str,
        StartRecordType: str,
        StartRecordIdentifier: str,
        HostedZoneId: req_str,
        MaxItems: i32,
    ) {
        // Every page unless the step names a page size (`MaxItems`): a read that stopped
        // at the first page would miss records that sort after it.
        let fetch = |(name, kind, id): (_, Option<String>, _)| {
            let req = c
                .route53
                .list_resource_record_sets()
                .hosted_zone_id(HostedZoneId.clone())
                .set_start_record_name(name)
                .set_start_record_type(kind.as_deref().map(RrType::from))
                .set_start_record_identifier(id)
                .set_max_items(MaxItems);
            async move { Ok(req.send().await?) }
        };
        let next = |out: &ListResourceRecordSetsOutput| {
            (out.is_truncated() && out.next_record_name().is_some()).then(|| {
                (
                    out.next_record_name().map(str::to_owned),
                    out.next_record_type().map(|t| t.as_str().to_owned()),
                    out.next_record_identifier().map(str::to_owned),
                )
            })
        };
        let start = (StartRecordName, StartRecordType, StartRecordIdentifier);
        let pages = marked_pages(MaxItems.is_some(), start, fetch, next).await?;
        let records = pages.iter().flat_map(|p| p.resource_record_sets());
        let out = pages.last().expect("a listing reads one page at least");
        Ok(obj([
            ("ResourceRecordSets", records.map(record_set_json).collect()),
            ("IsTruncated", Value::from(out.is_truncated())),
            ("NextRecordName", s(out.next_record_name())),
            (
                "NextRecordType",
                s(out.next_record_type().map(|t| t.as_str())),
            ),
            ("NextRecordIdentifier", s(out.next_record_identifier())),
            ("MaxItems", max_items(out.max_items())),
        ]))
    }
    ChangeResourceRecordSets(c, HostedZoneId: req_str, ChangeBatch: value) {
        let out = c
            .route53
            .change_resource_record_sets()
            .hosted_zone_id(HostedZoneId)
            .change_batch(change_batch(ChangeBatch)?)
            .send()
            .await?;
        Ok(obj([("ChangeInfo", change_info(out.change_info()))]))
    }
    GetChange(c, Id: req_str) {
        let out = c
            .route53
            .get_change()
            .id(Id)
            .send()
            .await?;
        Ok(obj([("ChangeInfo", change_info(out.change_info()))]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn batch(v: Value) -> Result<ChangeBatch, AwsFailure> {
        change_batch(Some(&v))
    }

    #[test]
    fn an_alias_change_batch_is_taken_as_written() {
        let b = batch(json!({
            "Comment": "phase 2",
            "Changes": [{
                "Action": "UPSERT",
                "ResourceRecordSet": {
                    "Name": "api.outpost.dev",
                    "Type": "A",
                    "AliasTarget": { "HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": "alb.example.com", "EvaluateTargetHealth": true }
                }
            }]
        }))
        .unwrap();
        assert_eq!(b.comment(), Some("phase 2"));
        let change = &b.changes()[0];
        assert_eq!(change.action(), &ChangeAction::Upsert);
        let rrset = change.resource_record_set().unwrap();
        assert_eq!(
            (rrset.name(), rrset.r#type()),
            ("api.outpost.dev", &RrType::A)
        );
        let alias = rrset.alias_target().unwrap();
        assert_eq!(
            (
                alias.hosted_zone_id(),
                alias.dns_name(),
                alias.evaluate_target_health()
            ),
            ("Z35SXDOTRQ7X7K", "alb.example.com", true)
        );
        assert!(rrset.resource_records.is_none());
    }

    #[test]
    fn routing_and_zone_features_keep_the_apis_member_names() {
        use aws_sdk_route53::types::{
            AcceleratedRecoveryStatus, CidrRoutingConfig, Coordinates, HostedZoneFailureReasons,
        };
        let record = ResourceRecordSet::builder()
            .name("api.outpost.dev.")
            .r#type(RrType::A)
            .cidr_routing_config(
                CidrRoutingConfig::builder()
                    .collection_id("c-1")
                    .location_name("office")
                    .build()
                    .unwrap(),
            )
            .geo_proximity_location(
                GeoProximityLocation::builder()
                    .aws_region("us-east-1")
                    .bias(10)
                    .coordinates(
                        Coordinates::builder()
                            .latitude("49.22")
                            .longitude("-74.01")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build()
            .unwrap();
        let v = record_set_json(&record);
        assert_eq!(
            v["CidrRoutingConfig"],
            json!({"CollectionId": "c-1", "LocationName": "office"})
        );
        assert_eq!(
            v["GeoProximityLocation"],
            json!({"AWSRegion": "us-east-1", "Bias": 10,
                   "Coordinates": {"Latitude": "49.22", "Longitude": "-74.01"}})
        );
        let zone = HostedZone::builder()
            .id("/hostedzone/Z1")
            .name("outpost.dev.")
            .caller_reference("r")
            .features(
                HostedZoneFeatures::builder()
                    .accelerated_recovery_status(AcceleratedRecoveryStatus::from("ENABLED"))
                    .failure_reasons(
                        HostedZoneFailureReasons::builder()
                            .accelerated_recovery("none")
                            .build(),
                    )
                    .build(),
            )
            .build()
            .unwrap();
        assert_eq!(
            hosted_zone_json(&zone)["Features"],
            json!({"AcceleratedRecoveryStatus": "ENABLED",
                   "FailureReasons": {"AcceleratedRecovery": "none"}})
        );
    }

    #[test]
    fn change_batch_errors_name_the_field() {
        let message = |r: Result<ChangeBatch, AwsFailure>| match r {
            Err(AwsFailure::Input(m)) => m,
            other => panic!("{other:?}"),
        };
        let m = message(batch(
            json!({ "Changes": [{ "Action": "DELETE", "ResourceRecordSet": { "Name": "a", "Type": "A", "Ttl": 60 } }] }),
        ));
        assert!(
            m.contains("unknown field `Ttl` in ChangeBatch.Changes[0].ResourceRecordSet"),
            "{m}"
        );
        let m = message(batch(
            json!({ "Changes": [{ "Action": "DELETE", "ResourceRecordSet": { "Type": "A" } }] }),
        ));
        assert!(
            m.contains("`ChangeBatch.Changes[0].ResourceRecordSet.Name` is required"),
            "{m}"
        );
        let m = message(batch(
            json!({ "Changes": [{ "Action": "UPSERT", "ResourceRecordSet": { "Name": "a", "Type": "A", "AliasTarget": { "HostedZoneId": "Z", "DNSName": "d" } } }] }),
        ));
        assert!(
            m.contains("AliasTarget.EvaluateTargetHealth` is required"),
            "{m}"
        );
        let m = message(batch(json!({ "Changes": [] })));
        assert!(m.contains("at least one change"), "{m}");
    }
}
