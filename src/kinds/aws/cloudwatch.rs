//! CloudWatch: the alarm checklist after the migration (no Outpost alarm in ALARM state) and
//! the metrics the 24-hour watch reads (`monitor`).

use aws_sdk_cloudwatch::types::{AlarmType, Dimension, EvaluationCriteria, StateValue};
use serde_json::Value;

use super::metric_data;
use super::op::{pages, self_paged};
use super::output::{dt, list, obj, s, strs};

fn num<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

fn dimensions(d: &[Dimension]) -> Value {
    list(d, |d| obj([("Name", s(d.name())), ("Value", s(d.value()))]))
}

/// A union: one member set, the rest absent (an unknown variant, newer than this crate, is
/// left out).
fn evaluation_criteria(c: Option<&EvaluationCriteria>) -> Value {
    match c {
        Some(EvaluationCriteria::PromQlCriteria(p)) => obj([(
            "PromQLCriteria",
            obj([
                ("Query", s(p.query())),
                ("PendingPeriod", num(p.pending_period())),
                ("RecoveryPeriod", num(p.recovery_period())),
            ]),
        )]),
        _ => Value::Null,
    }
}

fn metric_alarm(a: &aws_sdk_cloudwatch::types::MetricAlarm) -> Value {
    obj([
        ("AlarmName", s(a.alarm_name())),
        ("AlarmArn", s(a.alarm_arn())),
        ("AlarmDescription", s(a.alarm_description())),
        (
            "AlarmConfigurationUpdatedTimestamp",
            dt(a.alarm_configuration_updated_timestamp()),
        ),
        ("ActionsEnabled", num(a.actions_enabled())),
        ("OKActions", strs(a.ok_actions())),
        ("AlarmActions", strs(a.alarm_actions())),
        (
            "InsufficientDataActions",
            strs(a.insufficient_data_actions()),
        ),
        ("StateValue", s(a.state_value().map(|v| v.as_str()))),
        ("StateReason", s(a.state_reason())),
        ("StateReasonData", s(a.state_reason_data())),
        ("StateUpdatedTimestamp", dt(a.state_updated_timestamp())),
        ("MetricName", s(a.metric_name())),
        ("Namespace", s(a.namespace())),
        ("Statistic", s(a.statistic().map(|v| v.as_str()))),
        ("ExtendedStatistic", s(a.extended_statistic())),
        ("Dimensions", dimensions(a.dimensions())),
        ("Period", num(a.period())),
        ("Unit", s(a.unit().map(|v| v.as_str()))),
        ("EvaluationPeriods", num(a.evaluation_periods())),
        ("DatapointsToAlarm", num(a.datapoints_to_alarm())),
        ("Threshold", num(a.threshold())),
        (
            "ComparisonOperator",
            s(a.comparison_operator().map(|v| v.as_str())),
        ),
        ("TreatMissingData", s(a.treat_missing_data())),
        (
            "EvaluateLowSampleCountPercentile",
            s(a.evaluate_low_sample_count_percentile()),
        ),
        (
            "Metrics",
            a.metrics.as_deref().map_or(Value::Null, |m| {
                list(m, |q| {
                    obj([
                        ("Id", s(q.id())),
                        (
                            "MetricStat",
                            q.metric_stat().map_or(Value::Null, |st| {
                                obj([
                                    (
                                        "Metric",
                                        st.metric().map_or(Value::Null, |m| {
                                            obj([
                                                ("Namespace", s(m.namespace())),
                                                ("MetricName", s(m.metric_name())),
                                                ("Dimensions", dimensions(m.dimensions())),
                                            ])
                                        }),
                                    ),
                                    ("Period", num(st.period())),
                                    ("Stat", s(st.stat())),
                                    ("Unit", s(st.unit().map(|v| v.as_str()))),
                                ])
                            }),
                        ),
                        ("Expression", s(q.expression())),
                        ("Label", s(q.label())),
                        ("ReturnData", num(q.return_data())),
                        ("Period", num(q.period())),
                        ("AccountId", s(q.account_id())),
                    ])
                })
            }),
        ),
        ("ThresholdMetricId", s(a.threshold_metric_id())),
        (
            "EvaluationState",
            s(a.evaluation_state().map(|v| v.as_str())),
        ),
        (
            "StateTransitionedTimestamp",
            dt(a.state_transitioned_timestamp()),
        ),
        (
            "EvaluationCriteria",
            evaluation_criteria(a.evaluation_criteria()),
        ),
        ("EvaluationInterval", num(a.evaluation_interval())),
    ])
}

fn composite_alarm(a: &aws_sdk_cloudwatch::types::CompositeAlarm) -> Value {
    obj([
        ("ActionsEnabled", num(a.actions_enabled())),
        ("AlarmActions", strs(a.alarm_actions())),
        ("AlarmArn", s(a.alarm_arn())),
        (
            "AlarmConfigurationUpdatedTimestamp",
            dt(a.alarm_configuration_updated_timestamp()),
        ),
        ("AlarmDescription", s(a.alarm_description())),
        ("AlarmName", s(a.alarm_name())),
        ("AlarmRule", s(a.alarm_rule())),
        (
            "InsufficientDataActions",
            strs(a.insufficient_data_actions()),
        ),
        ("OKActions", strs(a.ok_actions())),
        ("StateReason", s(a.state_reason())),
        ("StateReasonData", s(a.state_reason_data())),
        ("StateUpdatedTimestamp", dt(a.state_updated_timestamp())),
        ("StateValue", s(a.state_value().map(|v| v.as_str()))),
        (
            "StateTransitionedTimestamp",
            dt(a.state_transitioned_timestamp()),
        ),
        (
            "ActionsSuppressedBy",
            s(a.actions_suppressed_by().map(|v| v.as_str())),
        ),
        ("ActionsSuppressedReason", s(a.actions_suppressed_reason())),
        ("ActionsSuppressor", s(a.actions_suppressor())),
        (
            "ActionsSuppressorWaitPeriod",
            num(a.actions_suppressor_wait_period()),
        ),
        (
            "ActionsSuppressorExtensionPeriod",
            num(a.actions_suppressor_extension_period()),
        ),
    ])
}

operations! {
    DescribeAlarms(
        c,
        AlarmTypes: strs,
        AlarmNames: strs,
        AlarmNamePrefix: str,
        ChildrenOfAlarmName: str,
        ParentsOfAlarmName: str,
        StateValue: str,
        ActionPrefix: str,
        MaxRecords: i32,
        NextToken: str,
    ) {
        let types = AlarmTypes.map(|t| t.iter().map(|t| AlarmType::from(t.as_str())).collect());
        let out = c
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(AlarmNames)
            .set_alarm_name_prefix(AlarmNamePrefix)
            .set_alarm_types(types)
            .set_children_of_alarm_name(ChildrenOfAlarmName)
            .set_parents_of_alarm_name(ParentsOfAlarmName)
            .set_state_value(
                StateValue.map(|v| StateValue::from(v.as_str())),
            )
            .set_action_prefix(ActionPrefix)
            .set_max_records(MaxRecords)
            .set_next_token(NextToken)
            .send()
            .await?;
        Ok(obj([
            ("MetricAlarms", list(out.metric_alarms(), metric_alarm)),
            (
                "CompositeAlarms",
                list(out.composite_alarms(), composite_alarm),
            ),
            ("NextToken", s(out.next_token())),
        ]))
    }

    GetMetricData(
        c,
        MetricDataQueries: list,
        StartTime: datetime,
        EndTime: datetime,
        NextToken: str,
        ScanBy: str,
        MaxDatapoints: i32,
    ) {
        let req = c
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(metric_data::queries(MetricDataQueries)?)
            .set_start_time(StartTime)
            .set_end_time(EndTime)
            .set_scan_by(ScanBy.map(|v| aws_sdk_cloudwatch::types::ScanBy::from(v.as_str())))
            .set_max_datapoints(MaxDatapoints)
            .set_next_token(NextToken.clone());
        let pages = pages(
            self_paged(&NextToken, &MaxDatapoints),
            req,
            |r| async move { r.into_paginator().send().collect::<Result<Vec<_>, _>>().await },
            |r| r.send(),
        )
        .await?;
        Ok(metric_data::output(&pages))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::types::{AlarmPromQlCriteria, MetricAlarm};
    use serde_json::json;

    #[test]
    fn a_promql_alarm_keeps_its_criteria_and_interval() {
        let alarm = MetricAlarm::builder()
            .alarm_name("PoolExhausted")
            .evaluation_interval(60)
            .evaluation_criteria(EvaluationCriteria::PromQlCriteria(
                AlarmPromQlCriteria::builder()
                    .query("up == 0")
                    .pending_period(120)
                    .build(),
            ))
            .build();
        let v = metric_alarm(&alarm);
        assert_eq!(v["EvaluationInterval"], json!(60));
        assert_eq!(
            v["EvaluationCriteria"],
            json!({"PromQLCriteria": {"Query": "up == 0", "PendingPeriod": 120}})
        );
    }
}
