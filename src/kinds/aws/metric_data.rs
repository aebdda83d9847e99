//! CloudWatch GetMetricData's input and output: metric queries (a metric's statistic over a
//! period, or an expression over other queries) read from a step's input, and results in the
//! API's names, every page's results in order, as the AWS CLI merges them.

use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricDataResult, MetricStat, StandardUnit,
};
use serde_json::Value;

use super::output::{dt, list, obj, s};
use super::{AwsFailure, Input};

/// `MetricDataQueries`: each with `Id`, and a `MetricStat` or an `Expression`.
pub fn queries(items: Option<Vec<Input<'_>>>) -> Result<Option<Vec<MetricDataQuery>>, AwsFailure> {
    let Some(items) = items else {
        return Ok(None);
    };
    items
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let id = q.str("Id")?.ok_or_else(|| {
                AwsFailure::Input(format!("`MetricDataQueries[{i}].Id` is required"))
            })?;
            let stat = q
                .object("MetricStat")?
                .map(|m| metric_stat(i, &m))
                .transpose()?;
            Ok(MetricDataQuery::builder()
                .id(id)
                .set_metric_stat(stat)
                .set_expression(q.str("Expression")?)
                .set_label(q.str("Label")?)
                .set_return_data(q.bool("ReturnData")?)
                .set_period(q.i32("Period")?)
                .set_account_id(q.str("AccountId")?)
                .build())
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn metric_stat(i: usize, m: &Input<'_>) -> Result<MetricStat, AwsFailure> {
    let metric = m.req_object("Metric")?;
    let dimensions = metric
        .objects("Dimensions")?
        .iter()
        .map(|d| {
            Ok(Dimension::builder()
                .set_name(d.str("Name")?)
                .set_value(d.str("Value")?)
                .build())
        })
        .collect::<Result<Vec<_>, AwsFailure>>()?;
    let period = m.i32("Period")?.ok_or_else(|| {
        AwsFailure::Input(format!(
            "`MetricDataQueries[{i}].MetricStat.Period` is required"
        ))
    })?;
    Ok(MetricStat::builder()
        .metric(
            Metric::builder()
                .set_namespace(metric.str("Namespace")?)
                .set_metric_name(metric.str("MetricName")?)
                .set_dimensions(Some(dimensions))
                .build(),
        )
        .period(period)
        .set_stat(m.str("Stat")?)
        .set_unit(m.str("Unit")?.map(|u| StandardUnit::from(u.as_str())))
        .build())
}

fn result(r: &MetricDataResult) -> Value {
    obj([
        ("Id", s(r.id())),
        ("Label", s(r.label())),
        ("Timestamps", list(r.timestamps(), |t| dt(Some(t)))),
        ("Values", list(r.values(), |v| Value::from(*v))),
        ("StatusCode", s(r.status_code().map(|c| c.as_str()))),
    ])
}

/// Every page's messages; absent when there is none, as the AWS CLI prints it.
fn messages(pages: &[GetMetricDataOutput]) -> Value {
    let all: Vec<Value> = pages
        .iter()
        .flat_map(|p| p.messages())
        .map(|m| obj([("Code", s(m.code())), ("Value", s(m.value()))]))
        .collect();
    if all.is_empty() {
        Value::Null
    } else {
        Value::Array(all)
    }
}

/// Every page's results and messages, in order; the last page's token.
pub fn output(pages: &[GetMetricDataOutput]) -> Value {
    obj([
        (
            "MetricDataResults",
            Value::Array(
                pages
                    .iter()
                    .flat_map(|p| p.metric_data_results())
                    .map(result)
                    .collect(),
            ),
        ),
        ("Messages", messages(pages)),
        ("NextToken", s(pages.last().and_then(|p| p.next_token()))),
    ])
}
