//! ECR: that the agent and control-plane images the ECS tasks pull are pushed and tagged.

use serde_json::{Map, Value};

use aws_sdk_ecr::types::{DescribeImagesFilter, ImageDetail, ImageIdentifier};

use super::output::{dt, obj, s, strs};
use super::{AwsClients, AwsFailure, Input, Op};

pub const OPS: &[Op] = &[Op {
    name: "DescribeImages",
    input: &[
        "registryId",
        "repositoryName",
        "imageIds",
        "filter",
        "nextToken",
        "maxResults",
    ],
}];

fn image(v: &ImageDetail) -> Value {
    obj([
        ("registryId", s(v.registry_id())),
        ("repositoryName", s(v.repository_name())),
        ("imageDigest", s(v.image_digest())),
        (
            "imageTags",
            v.image_tags.as_deref().map_or(Value::Null, strs),
        ),
        ("imageSizeInBytes", v.image_size_in_bytes().into()),
        ("imagePushedAt", dt(v.image_pushed_at())),
        (
            "imageScanStatus",
            v.image_scan_status().map_or(Value::Null, |st| {
                obj([
                    ("status", s(st.status().map(|x| x.as_str()))),
                    ("description", s(st.description())),
                ])
            }),
        ),
        (
            "imageScanFindingsSummary",
            v.image_scan_findings_summary().map_or(Value::Null, |f| {
                obj([
                    ("imageScanCompletedAt", dt(f.image_scan_completed_at())),
                    (
                        "vulnerabilitySourceUpdatedAt",
                        dt(f.vulnerability_source_updated_at()),
                    ),
                    (
                        "findingSeverityCounts",
                        f.finding_severity_counts().map_or(Value::Null, |counts| {
                            Value::Object(
                                counts
                                    .iter()
                                    .map(|(k, n)| (k.as_str().to_owned(), Value::from(*n)))
                                    .collect::<Map<_, _>>(),
                            )
                        }),
                    ),
                ])
            }),
        ),
        ("imageManifestMediaType", s(v.image_manifest_media_type())),
        ("artifactMediaType", s(v.artifact_media_type())),
        ("lastRecordedPullTime", dt(v.last_recorded_pull_time())),
        ("subjectManifestDigest", s(v.subject_manifest_digest())),
        ("imageStatus", s(v.image_status().map(|x| x.as_str()))),
        ("lastArchivedAt", dt(v.last_archived_at())),
        ("lastActivatedAt", dt(v.last_activated_at())),
    ])
}

pub async fn call(c: &AwsClients, op: &str, input: &Input<'_>) -> Result<Value, AwsFailure> {
    match op {
        "DescribeImages" => {
            let ids = input
                .objects("imageIds")?
                .iter()
                .map(|i| {
                    Ok(ImageIdentifier::builder()
                        .set_image_tag(i.str("imageTag")?)
                        .set_image_digest(i.str("imageDigest")?)
                        .build())
                })
                .collect::<Result<Vec<_>, AwsFailure>>()?;
            let filter = match input.object("filter")? {
                None => None,
                Some(f) => Some(
                    DescribeImagesFilter::builder()
                        .set_tag_status(f.str("tagStatus")?.map(|t| t.as_str().into()))
                        .set_image_status(f.str("imageStatus")?.map(|t| t.as_str().into()))
                        .build(),
                ),
            };
            let req = c
                .ecr
                .describe_images()
                .set_registry_id(input.str("registryId")?)
                .repository_name(input.req_str("repositoryName")?)
                .set_image_ids((!ids.is_empty()).then_some(ids))
                .set_filter(filter)
                .set_next_token(input.str("nextToken")?)
                .set_max_results(input.i32("maxResults")?);
            // Like the AWS CLI, every page is fetched unless the step pages itself.
            let pages = if input.get("nextToken").is_none() && input.get("maxResults").is_none() {
                req.into_paginator().send().try_collect().await?
            } else {
                vec![req.send().await?]
            };
            Ok(obj([
                (
                    "imageDetails",
                    Value::Array(
                        pages
                            .iter()
                            .flat_map(|p| p.image_details())
                            .map(image)
                            .collect(),
                    ),
                ),
                ("nextToken", s(pages.last().and_then(|p| p.next_token()))),
            ]))
        }
        other => Err(AwsFailure::Input(format!("unsupported operation {other}"))),
    }
}
