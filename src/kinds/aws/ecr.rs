//! ECR: that the agent and control-plane images the ECS tasks pull are pushed and tagged.

use serde_json::{Map, Value};

use aws_sdk_ecr::types::{DescribeImagesFilter, ImageDetail, ImageIdentifier};

use super::AwsFailure;
use super::op::{pages, self_paged};
use super::output::{dt, obj, s, strs};

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

operations! {
    DescribeImages(
        c,
        imageIds: objects,
        filter: object,
        registryId: str,
        repositoryName: req_str,
        nextToken: str,
        maxResults: i32,
    ) {
        let ids = imageIds
            .iter()
            .map(|i| {
                Ok(ImageIdentifier::builder()
                    .set_image_tag(i.str("imageTag")?)
                    .set_image_digest(i.str("imageDigest")?)
                    .build())
            })
            .collect::<Result<Vec<_>, AwsFailure>>()?;
        let filter = match filter {
            None => None,
            Some(f) => Some(
                DescribeImagesFilter::builder()
                    .set_tag_status(f.str("tagStatus")?.map(|t| t.as_str().into()))
                    .set_image_status(f.str("imageStatus")?.map(|t| t.as_str().into()))
                    .build(),
            ),
        };
        let paged = self_paged(&nextToken, &maxResults);
        let req = c
            .ecr
            .describe_images()
            .set_registry_id(registryId)
            .repository_name(repositoryName)
            .set_image_ids((!ids.is_empty()).then_some(ids))
            .set_filter(filter)
            .set_next_token(nextToken)
            .set_max_results(maxResults);
        let pages = pages(
            paged,
            req,
            |r| r.into_paginator().send().try_collect(),
            |r| r.send(),
        )
        .await?;
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
}
