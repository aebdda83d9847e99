//! ECS: the cluster, the control-plane service, its tasks, and scaling it down (rollback 3).

use serde_json::Value;

use super::output::{dt, list, obj, s, strs};
use super::{AwsClients, AwsFailure, Input, Op};

pub const OPS: &[Op] = &[
    Op {
        name: "DescribeClusters",
        input: &["clusters", "include"],
    },
    Op {
        name: "DescribeServices",
        input: &["cluster", "services", "include"],
    },
    Op {
        name: "UpdateService",
        input: &[
            "cluster",
            "service",
            "desiredCount",
            "forceNewDeployment",
            "taskDefinition",
        ],
    },
    Op {
        name: "ListTasks",
        input: &[
            "cluster",
            "serviceName",
            "desiredStatus",
            "family",
            "maxResults",
        ],
    },
    Op {
        name: "DescribeTasks",
        input: &["cluster", "tasks"],
    },
];

fn service(v: &aws_sdk_ecs::types::Service) -> Value {
    obj([
        ("serviceArn", s(v.service_arn())),
        ("serviceName", s(v.service_name())),
        ("clusterArn", s(v.cluster_arn())),
        ("status", s(v.status())),
        ("desiredCount", v.desired_count().into()),
        ("runningCount", v.running_count().into()),
        ("pendingCount", v.pending_count().into()),
        ("launchType", s(v.launch_type().map(|l| l.as_str()))),
        ("taskDefinition", s(v.task_definition())),
        ("createdAt", dt(v.created_at())),
        (
            "loadBalancers",
            list(v.load_balancers(), |lb| {
                obj([
                    ("targetGroupArn", s(lb.target_group_arn())),
                    ("loadBalancerName", s(lb.load_balancer_name())),
                    ("containerName", s(lb.container_name())),
                    (
                        "containerPort",
                        lb.container_port().map_or(Value::Null, Value::from),
                    ),
                ])
            }),
        ),
        (
            "deployments",
            list(v.deployments(), |d| {
                obj([
                    ("id", s(d.id())),
                    ("status", s(d.status())),
                    ("desiredCount", d.desired_count().into()),
                    ("runningCount", d.running_count().into()),
                    ("pendingCount", d.pending_count().into()),
                    ("rolloutState", s(d.rollout_state().map(|r| r.as_str()))),
                ])
            }),
        ),
        (
            "events",
            list(v.events(), |e| {
                obj([
                    ("id", s(e.id())),
                    ("createdAt", dt(e.created_at())),
                    ("message", s(e.message())),
                ])
            }),
        ),
    ])
}

fn failures(f: &[aws_sdk_ecs::types::Failure]) -> Value {
    list(f, |f| {
        obj([
            ("arn", s(f.arn())),
            ("reason", s(f.reason())),
            ("detail", s(f.detail())),
        ])
    })
}

pub async fn call(c: &AwsClients, op: &str, input: &Input<'_>) -> Result<Value, AwsFailure> {
    match op {
        "DescribeClusters" => {
            let include = input
                .strs("include")?
                .unwrap_or_default()
                .into_iter()
                .map(|i| i.as_str().into())
                .collect();
            let out = c
                .ecs
                .describe_clusters()
                .set_clusters(input.strs("clusters")?)
                .set_include(Some(include))
                .send()
                .await?;
            Ok(obj([
                (
                    "clusters",
                    list(out.clusters(), |k| {
                        obj([
                            ("clusterArn", s(k.cluster_arn())),
                            ("clusterName", s(k.cluster_name())),
                            ("status", s(k.status())),
                            (
                                "registeredContainerInstancesCount",
                                k.registered_container_instances_count().into(),
                            ),
                            ("runningTasksCount", k.running_tasks_count().into()),
                            ("pendingTasksCount", k.pending_tasks_count().into()),
                            ("activeServicesCount", k.active_services_count().into()),
                            ("capacityProviders", strs(k.capacity_providers())),
                        ])
                    }),
                ),
                ("failures", failures(out.failures())),
            ]))
        }
        "DescribeServices" => {
            let out = c
                .ecs
                .describe_services()
                .set_cluster(input.str("cluster")?)
                .set_services(input.strs("services")?)
                .send()
                .await?;
            Ok(obj([
                ("services", list(out.services(), service)),
                ("failures", failures(out.failures())),
            ]))
        }
        "UpdateService" => {
            let out = c
                .ecs
                .update_service()
                .set_cluster(input.str("cluster")?)
                .service(input.req_str("service")?)
                .set_desired_count(input.i32("desiredCount")?)
                .set_force_new_deployment(input.bool("forceNewDeployment")?)
                .set_task_definition(input.str("taskDefinition")?)
                .send()
                .await?;
            Ok(obj([(
                "service",
                out.service().map_or(Value::Null, service),
            )]))
        }
        "ListTasks" => {
            let out = c
                .ecs
                .list_tasks()
                .set_cluster(input.str("cluster")?)
                .set_service_name(input.str("serviceName")?)
                .set_family(input.str("family")?)
                .set_desired_status(input.str("desiredStatus")?.map(|d| d.as_str().into()))
                .set_max_results(input.i32("maxResults")?)
                .send()
                .await?;
            Ok(obj([
                ("taskArns", strs(out.task_arns())),
                ("nextToken", s(out.next_token())),
            ]))
        }
        "DescribeTasks" => {
            let out = c
                .ecs
                .describe_tasks()
                .set_cluster(input.str("cluster")?)
                .set_tasks(input.strs("tasks")?)
                .send()
                .await?;
            Ok(obj([
                (
                    "tasks",
                    list(out.tasks(), |t| {
                        obj([
                            ("taskArn", s(t.task_arn())),
                            ("clusterArn", s(t.cluster_arn())),
                            ("taskDefinitionArn", s(t.task_definition_arn())),
                            ("group", s(t.group())),
                            ("lastStatus", s(t.last_status())),
                            ("desiredStatus", s(t.desired_status())),
                            ("stoppedReason", s(t.stopped_reason())),
                            ("stopCode", s(t.stop_code().map(|c| c.as_str()))),
                            ("startedAt", dt(t.started_at())),
                            ("stoppedAt", dt(t.stopped_at())),
                            (
                                "containers",
                                list(t.containers(), |ct| {
                                    obj([
                                        ("name", s(ct.name())),
                                        ("lastStatus", s(ct.last_status())),
                                        (
                                            "exitCode",
                                            ct.exit_code().map_or(Value::Null, Value::from),
                                        ),
                                        ("reason", s(ct.reason())),
                                    ])
                                }),
                            ),
                        ])
                    }),
                ),
                ("failures", failures(out.failures())),
            ]))
        }
        other => Err(AwsFailure::Input(format!("unsupported operation {other}"))),
    }
}
