//! Route53 as real accounts have it: a private hosted zone of the same name beside the public
//! one (split-horizon DNS) and the custom domain's legacy A record in the public zone. Phase 2
//! changes the public record only and captures the ones it replaces (an A record, a CNAME, an
//! address AAAA); rollback 2 puts them back; the read-back holds the alias to the ALB exactly;
//! record listings read every page; the emulator judges change batches as Route53 does.

use outpost_migrate::exit_codes::{STEP_FAILED, SUCCESS};
use serde_json::{Value, json};

use crate::aws::{healthy, records, through_phase_1, zone_records};
use crate::support::{Moto, Runbook, Server, Test};

const DOMAIN: &str = "api.outpost.dev.";
/// The legacy server's address in the seed (tests/fixtures/seed_fleet.py).
const LEGACY_IP: &str = "203.0.113.10";

fn a_record(records: &Value) -> Value {
    records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Name"] == DOMAIN && r["Type"] == "A")
        .cloned()
        .unwrap_or(Value::Null)
}

/// The public `outpost.dev` zone (the seed also makes a private one of the same name).
fn public_zone_id(moto: &Moto) -> Value {
    moto.call(
        "route53",
        "ListHostedZonesByName",
        json!({"DNSName": "outpost.dev"}),
    )["HostedZones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["Config"]["PrivateZone"] == false)
        .unwrap()["Id"]
        .clone()
}

fn load_balancer(moto: &Moto) -> Value {
    moto.call(
        "elbv2",
        "DescribeLoadBalancers",
        json!({"Names": ["outpost-alb"]}),
    )["LoadBalancers"][0]
        .clone()
}

const NO_DIG: [&str; 2] = ["--var", "verify_public_dns=false"];

#[test]
fn split_horizon_phase_2_moves_the_public_record_and_rollback_2_puts_the_legacy_one_back() {
    let moto = healthy();
    let server = Server::start();
    let private_before = zone_records(&moto, true);
    let public_before = records(&moto);
    assert_eq!(
        a_record(&public_before)["ResourceRecords"][0]["Value"],
        LEGACY_IP,
        "the seed's public zone points the domain at the legacy server"
    );
    let t = through_phase_1(&moto, &server);

    t.run(&[&["phase", "2", "--yes"][..], &NO_DIG].concat())
        .code(SUCCESS);
    let lb = load_balancer(&moto);
    let alias = a_record(&records(&moto));
    assert_eq!(
        alias["AliasTarget"],
        json!({
            "HostedZoneId": lb["CanonicalHostedZoneId"],
            "DNSName": format!("{}.", lb["DNSName"].as_str().unwrap().to_lowercase()),
            "EvaluateTargetHealth": true,
        }),
        "the public record is the alias to the ALB"
    );
    assert_eq!(
        zone_records(&moto, true),
        private_before,
        "the private zone of the same name is untouched"
    );
    let captured = &t.step_state("dns-legacy-record")["captures"]["legacy_record"];
    assert_eq!(captured["ResourceRecords"][0]["Value"], LEGACY_IP);

    let run = t.run(
        &[
            &["rollback", "--level", "2", "--yes", "--output", "json"][..],
            &NO_DIG,
        ]
        .concat(),
    );
    run.code(SUCCESS);
    assert_eq!(
        run.step_event("rollback-dns-restore-legacy")["outcome"],
        "succeeded"
    );
    assert_eq!(
        run.step_event("rollback-dns-legacy-readback")["outcome"],
        "succeeded"
    );
    assert_eq!(
        run.step_event("rollback-dns-delete-alias")["outcome"],
        "skipped",
        "the legacy record replaced the alias: nothing to delete"
    );
    assert_eq!(
        records(&moto),
        public_before,
        "the legacy A record is back, as it was"
    );
    assert_eq!(zone_records(&moto, true), private_before);
}

#[test]
fn the_hosted_zone_is_the_single_public_zone_of_the_name() {
    // Only the private zone: the public one is what users resolve, so there is none to use.
    let moto = Moto::start();
    moto.seed(Some("no-public-zone"));
    let t = Test::new().embedded().aws(&moto);
    let run = t.run(
        &[
            &["phase", "2", "--dry-run", "--output", "json"][..],
            &NO_DIG,
        ]
        .concat(),
    );
    run.code(STEP_FAILED);
    let zone = run.step_event("dns-hosted-zone");
    assert_eq!(zone["outcome"], "failed");
    assert!(
        zone["message"]
            .as_str()
            .unwrap()
            .contains("found nothing at"),
        "{zone}"
    );
    run.stdout_has("No public hosted zone outpost.dev");

    // Two public zones of the name: which one users resolve is the registrar's choice.
    let moto = healthy();
    moto.call(
        "route53",
        "CreateHostedZone",
        json!({"Name": "outpost.dev", "CallerReference": "a-second-public-zone"}),
    );
    let t = Test::new().embedded().aws(&moto);
    let run = t.run(
        &[
            &["phase", "2", "--dry-run", "--output", "json"][..],
            &NO_DIG,
        ]
        .concat(),
    );
    run.code(STEP_FAILED);
    let zone = run.step_event("dns-hosted-zone");
    assert!(
        zone["message"]
            .as_str()
            .unwrap()
            .contains("not to equal \"outpost.dev.\""),
        "{zone}"
    );
}

/// The records at the domain, by type.
fn at_domain(records: &Value) -> Vec<Value> {
    records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["Name"] == DOMAIN)
        .cloned()
        .collect()
}

/// Phase 2 on a domain seeded with `legacy` records (a seed break), then rollback 2, each run
/// twice: phase 2 leaves the alias alone at the domain, rollback 2 the zone as it was before.
/// Returns the rollback's run.
fn phase_2_and_rollback_2_over(legacy: &str, captured_type: &str) -> crate::support::Run {
    let moto = Moto::start();
    moto.seed(Some(legacy));
    let server = Server::start();
    let before = records(&moto);
    let t = through_phase_1(&moto, &server);
    let phase_2 = [&["phase", "2", "--yes"][..], &NO_DIG].concat();
    t.run(&phase_2).code(SUCCESS);
    let after = records(&moto);
    let domain = at_domain(&after);
    assert_eq!(
        domain.len(),
        1,
        "only the alias is left at the domain: {domain:?}"
    );
    let lb = load_balancer(&moto);
    assert_eq!(domain[0]["Type"], "A");
    assert_eq!(
        domain[0]["AliasTarget"]["HostedZoneId"],
        lb["CanonicalHostedZoneId"]
    );
    let captured = &t.step_state("dns-legacy-record")["captures"]["legacy_cname_or_aaaa"];
    assert_eq!(captured["Type"], captured_type, "{captured}");
    // Run again: done, nothing changes.
    t.run(&phase_2).code(SUCCESS);
    assert_eq!(records(&moto), after);

    let rollback = [
        &["rollback", "--level", "2", "--yes", "--output", "json"][..],
        &NO_DIG,
    ]
    .concat();
    let run = t.run(&rollback);
    run.code(SUCCESS);
    assert_eq!(
        run.step_event("rollback-dns-replaced-readback")["outcome"],
        "succeeded"
    );
    assert_eq!(
        records(&moto),
        before,
        "the legacy records are back, as they were"
    );
    t.run(&rollback).code(SUCCESS);
    assert_eq!(records(&moto), before, "a second rollback changes nothing");
    run
}

#[test]
fn a_legacy_cname_is_replaced_by_the_alias_in_one_batch_and_rollback_2_puts_it_back() {
    let run = phase_2_and_rollback_2_over("legacy-cname", "CNAME");
    // The alias and the CNAME cannot stand together: one batch deletes the alias and writes
    // the CNAME back.
    assert_eq!(
        run.step_event("rollback-dns-delete-alias")["outcome"],
        "succeeded"
    );
    assert_eq!(
        run.step_event("rollback-dns-restore-replaced")["outcome"],
        "skipped"
    );
}

#[test]
fn a_legacy_aaaa_beside_the_a_record_is_removed_and_rollback_2_puts_both_back() {
    let run = phase_2_and_rollback_2_over("legacy-a-aaaa", "AAAA");
    assert_eq!(
        run.step_event("rollback-dns-restore-legacy")["outcome"],
        "succeeded"
    );
    assert_eq!(
        run.step_event("rollback-dns-legacy-readback")["outcome"],
        "succeeded"
    );
    assert_eq!(
        run.step_event("rollback-dns-delete-alias")["outcome"],
        "skipped"
    );
}

#[test]
fn rollback_2_puts_a_cname_back_when_the_alias_is_gone_already() {
    let moto = Moto::start();
    moto.seed(Some("legacy-cname"));
    let server = Server::start();
    let before = records(&moto);
    let t = through_phase_1(&moto, &server);
    t.run(&[&["phase", "2", "--yes"][..], &NO_DIG].concat())
        .code(SUCCESS);
    let mut alias = a_record(&records(&moto));
    alias.as_object_mut().unwrap().remove("TTL");
    moto.call(
        "route53",
        "ChangeResourceRecordSets",
        json!({"HostedZoneId": public_zone_id(&moto), "ChangeBatch": {"Changes": [{"Action": "DELETE",
            "ResourceRecordSet": alias}]}}),
    );
    let run = t.run(
        &[
            &["rollback", "--level", "2", "--yes", "--output", "json"][..],
            &NO_DIG,
        ]
        .concat(),
    );
    run.code(SUCCESS);
    assert_eq!(
        run.step_event("rollback-dns-delete-alias")["outcome"],
        "skipped"
    );
    assert_eq!(
        run.step_event("rollback-dns-restore-replaced")["outcome"],
        "succeeded"
    );
    assert_eq!(records(&moto), before);
}

#[test]
fn the_emulator_refuses_a_cname_beside_another_record_and_applies_a_batch_whole() {
    let moto = Moto::start();
    moto.seed(Some("legacy-cname"));
    let before = records(&moto);
    // An alias A record beside the domain's CNAME, as a plain UPSERT would write it; then a
    // batch whose first change is valid and whose second DELETE matches nothing.
    let steps = r#"- id: zone
  aws: { service: route53, operation: ListHostedZonesByName, input: { DNSName: outpost.dev } }
  capture: { zone_id: "HostedZones[?Config.PrivateZone == `false`] | [0].Id" }
- id: beside-the-cname
  optional: true
  aws:
    service: route53
    operation: ChangeResourceRecordSets
    input:
      HostedZoneId: "{{ zone_id }}"
      ChangeBatch:
        Changes:
          - Action: UPSERT
            ResourceRecordSet: { Name: api.outpost.dev, Type: A, TTL: 300, ResourceRecords: [{ Value: 192.0.2.1 }] }
- id: half-valid
  optional: true
  aws:
    service: route53
    operation: ChangeResourceRecordSets
    input:
      HostedZoneId: "{{ zone_id }}"
      ChangeBatch:
        Changes:
          - Action: CREATE
            ResourceRecordSet: { Name: new.outpost.dev, Type: A, TTL: 300, ResourceRecords: [{ Value: 192.0.2.2 }] }
          - Action: DELETE
            ResourceRecordSet: { Name: api.outpost.dev, Type: CNAME, TTL: 60, ResourceRecords: [{ Value: legacy.outpost.dev }] }
"#;
    let t = Test::new()
        .runbook(Runbook::minimal().phase(1, steps))
        .aws(&moto);
    t.run(&["preflight", "--yes"]).code(SUCCESS);
    let run = t.run(&["phase", "1", "--yes", "--output", "json"]);
    let beside = run.step_event("beside-the-cname");
    assert_eq!(beside["outcome"], "failed_optional");
    assert!(
        beside["message"]
            .as_str()
            .unwrap()
            .contains("InvalidChangeBatch")
            && beside["message"]
                .as_str()
                .unwrap()
                .contains("conflicts with other records"),
        "{beside}"
    );
    let half = run.step_event("half-valid");
    assert_eq!(half["outcome"], "failed_optional");
    assert!(
        half["message"]
            .as_str()
            .unwrap()
            .contains("the values provided do not match"),
        "{half}"
    );
    assert_eq!(records(&moto), before, "neither batch changed anything");
}

#[cfg(feature = "failpoints")]
#[test]
fn the_read_back_fails_when_the_alias_is_not_the_one_phase_2_wrote() {
    let moto = healthy();
    let server = Server::start();
    let t = through_phase_1(&moto, &server);
    let phase_2 = [&["phase", "2", "--yes"][..], &NO_DIG].concat();
    crate::crash::killed_at(&t, &phase_2, "step-before", "dns-record-readback");
    // Between the change and its read-back, the record becomes an alias with the ALB's name
    // but another zone and no target health (what a stale copy of an old change would write).
    let lb = load_balancer(&moto);
    moto.call(
        "route53",
        "ChangeResourceRecordSets",
        json!({"HostedZoneId": public_zone_id(&moto), "ChangeBatch": {"Changes": [{"Action": "UPSERT",
            "ResourceRecordSet": {"Name": "api.outpost.dev", "Type": "A", "AliasTarget": {
                "HostedZoneId": "Z0THERZ0NE", "DNSName": format!("{}.", lb["DNSName"].as_str().unwrap()),
                "EvaluateTargetHealth": false}}}]}}),
    );
    let run = t.run(&[&phase_2[..], &["--output", "json"]].concat());
    run.code(STEP_FAILED);
    let readback = run.step_event("dns-record-readback");
    assert_eq!(readback["outcome"], "failed");
    assert!(
        readback["message"]
            .as_str()
            .unwrap()
            .contains("AliasTarget.HostedZoneId"),
        "{readback}"
    );
    run.stdout_has("is not the alias phase 2 wrote");
}

#[test]
fn record_listings_read_every_page_unless_the_step_names_a_page_size() {
    let moto = healthy();
    // More records than one page holds (300), with the last one sorting after all others.
    let mut changes: Vec<Value> = (0..320)
        .map(|i| {
            json!({"Action": "CREATE", "ResourceRecordSet": {"Name": format!("r{i:03}.outpost.dev"),
                "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": "\"filler\""}]}})
        })
        .collect();
    changes.push(
        json!({"Action": "CREATE", "ResourceRecordSet": {"Name": "zz-last.outpost.dev",
        "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": "\"last\""}]}}),
    );
    moto.call(
        "route53",
        "ChangeResourceRecordSets",
        json!({"HostedZoneId": public_zone_id(&moto), "ChangeBatch": {"Changes": changes}}),
    );
    let steps = r#"- id: zone
  aws: { service: route53, operation: ListHostedZonesByName, input: { DNSName: outpost.dev } }
  capture: { zone_id: "HostedZones[?Config.PrivateZone == `false`] | [0].Id" }
- id: every-page
  aws: { service: route53, operation: ListResourceRecordSets, input: { HostedZoneId: "{{ zone_id }}" } }
  expect:
    - query: "ResourceRecordSets[?Name == 'zz-last.outpost.dev.'] | [0].Type"
      equals: TXT
    - query: IsTruncated
      equals: false
- id: one-page
  aws: { service: route53, operation: ListResourceRecordSets, input: { HostedZoneId: "{{ zone_id }}", MaxItems: 5 } }
  expect:
    - query: ResourceRecordSets
      len: 5
    - query: IsTruncated
      equals: true
"#;
    let t = Test::new()
        .runbook(Runbook::minimal().phase(1, steps))
        .aws(&moto);
    t.run(&["preflight", "--yes"]).code(SUCCESS);
    t.run(&["phase", "1", "--yes"]).code(SUCCESS);
}

/// Phase 2 on a domain with no record before it, then `change` applied to the alias by hand,
/// then rollback 2: the emulator refuses a DELETE that does not match the live record exactly,
/// or names one that is gone, as Route53 does.
fn rollback_2_after(
    change: &str,
    alias_of: impl Fn(&Value) -> Value,
) -> (crate::support::Run, Value, Moto) {
    let moto = crate::aws::without_legacy_record();
    let server = Server::start();
    let before = records(&moto);
    let t = through_phase_1(&moto, &server);
    t.run(&[&["phase", "2", "--yes"][..], &NO_DIG].concat())
        .code(SUCCESS);
    let alias = a_record(&records(&moto));
    moto.call(
        "route53",
        "ChangeResourceRecordSets",
        json!({"HostedZoneId": public_zone_id(&moto), "ChangeBatch": {"Changes": [{"Action": change,
            "ResourceRecordSet": alias_of(&alias)}]}}),
    );
    let run = t.run(
        &[
            &["rollback", "--level", "2", "--yes", "--output", "json"][..],
            &NO_DIG,
        ]
        .concat(),
    );
    (run, before, moto)
}

#[test]
fn rollback_2_deletes_the_alias_as_route53_has_it_now() {
    // Target health turned off by hand after phase 2: a DELETE rebuilt from phase 2's
    // captures would not match the live record.
    let (run, before, moto) = rollback_2_after("UPSERT", |alias| {
        let mut changed = alias.clone();
        changed["AliasTarget"]["EvaluateTargetHealth"] = json!(false);
        changed.as_object_mut().unwrap().remove("TTL");
        changed
    });
    run.code(SUCCESS);
    assert_eq!(
        run.step_event("rollback-dns-delete-alias")["outcome"],
        "succeeded"
    );
    assert_eq!(records(&moto), before);
}

#[test]
fn rollback_2_counts_an_alias_already_gone_as_done() {
    let (run, before, moto) = rollback_2_after("DELETE", |alias| {
        let mut gone = alias.clone();
        gone.as_object_mut().unwrap().remove("TTL");
        gone
    });
    run.code(SUCCESS);
    let delete = run.step_event("rollback-dns-delete-alias");
    assert_eq!(delete["outcome"], "skipped", "{delete}");
    assert_eq!(
        run.step_event("rollback-dns-record-gone")["outcome"],
        "succeeded"
    );
    assert_eq!(records(&moto), before);
}

#[cfg(feature = "failpoints")]
#[test]
fn rollback_2_fails_when_the_domain_does_not_hold_the_legacy_record_again() {
    let moto = healthy();
    let server = Server::start();
    let t = through_phase_1(&moto, &server);
    t.run(&[&["phase", "2", "--yes"][..], &NO_DIG].concat())
        .code(SUCCESS);
    let rollback = [&["rollback", "--level", "2", "--yes"][..], &NO_DIG].concat();
    crate::crash::killed_at(&t, &rollback, "step-before", "rollback-dns-legacy-readback");
    // Between the restore and its read-back, the record is pointed somewhere else.
    moto.call(
        "route53",
        "ChangeResourceRecordSets",
        json!({"HostedZoneId": public_zone_id(&moto), "ChangeBatch": {"Changes": [{"Action": "UPSERT",
            "ResourceRecordSet": {"Name": "api.outpost.dev", "Type": "A", "TTL": 300,
                "ResourceRecords": [{"Value": "198.51.100.7"}]}}]}}),
    );
    let run = t.run(&[&rollback[..], &["--output", "json"]].concat());
    run.code(STEP_FAILED);
    assert_eq!(
        run.step_event("rollback-dns-legacy-readback")["outcome"],
        "failed"
    );
    run.stdout_has("is not the one phase 2 replaced");
}

#[cfg(feature = "failpoints")]
#[test]
fn a_cname_replacement_killed_after_its_effect_is_found_done_not_sent_again() {
    // The batch deleted the CNAME: sent again, its DELETE would match nothing and fail.
    let moto = Moto::start();
    moto.seed(Some("legacy-cname"));
    let server = Server::start();
    let t = through_phase_1(&moto, &server);
    let phase_2 = [&["phase", "2", "--yes"][..], &NO_DIG].concat();
    crate::crash::killed_at(&t, &phase_2, "step-after-effect", "dns-upsert-alias");
    let after = records(&moto);
    assert_eq!(at_domain(&after).len(), 1, "the batch was applied");
    let run = t.run(&[&phase_2[..], &["--output", "json"]].concat());
    run.code(SUCCESS);
    assert!(
        t.step_state("dns-upsert-alias")["message"]
            .as_str()
            .unwrap()
            .contains("its probe showed"),
        "{}",
        t.step_state("dns-upsert-alias")
    );
    assert_eq!(
        run.step_event("dns-change-insync")["outcome"],
        "skipped",
        "no change id after a probe"
    );
    assert_eq!(
        run.step_event("dns-record-readback")["outcome"],
        "succeeded"
    );
    assert_eq!(records(&moto), after);
}

#[cfg(feature = "failpoints")]
#[test]
fn rollback_2_fails_when_the_domain_does_not_hold_its_cname_again() {
    let moto = Moto::start();
    moto.seed(Some("legacy-cname"));
    let server = Server::start();
    let t = through_phase_1(&moto, &server);
    t.run(&[&["phase", "2", "--yes"][..], &NO_DIG].concat())
        .code(SUCCESS);
    let rollback = [&["rollback", "--level", "2", "--yes"][..], &NO_DIG].concat();
    crate::crash::killed_at(
        &t,
        &rollback,
        "step-before",
        "rollback-dns-replaced-readback",
    );
    // Between the restore and its read-back, the CNAME is pointed somewhere else.
    moto.call(
        "route53",
        "ChangeResourceRecordSets",
        json!({"HostedZoneId": public_zone_id(&moto), "ChangeBatch": {"Changes": [{"Action": "UPSERT",
            "ResourceRecordSet": {"Name": "api.outpost.dev", "Type": "CNAME", "TTL": 300,
                "ResourceRecords": [{"Value": "elsewhere.example.com"}]}}]}}),
    );
    let run = t.run(&[&rollback[..], &["--output", "json"]].concat());
    run.code(STEP_FAILED);
    assert_eq!(
        run.step_event("rollback-dns-replaced-readback")["outcome"],
        "failed"
    );
    run.stdout_has("The CNAME record of api.outpost.dev is not the one phase 2");
}
