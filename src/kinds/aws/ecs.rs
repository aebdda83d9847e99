//! ECS: the cluster, the control-plane service, its tasks, and scaling it down (rollback 3).
//! The crate ships shape schemas, so every output is whole, in the API's member names.

use super::shape::json;

/// `include` names extra data to return (`TAGS`, `SETTINGS`...): the API's own values.
fn extras<T: for<'s> From<&'s str>>(names: Option<Vec<String>>) -> Option<Vec<T>> {
    names.map(|n| n.iter().map(|i| T::from(i.as_str())).collect())
}

operations! {
    DescribeClusters(c, clusters: strs, include: strs) {
        let out = c
            .ecs
            .describe_clusters()
            .set_clusters(clusters)
            .set_include(extras(include))
            .send()
            .await?;
        json(&out)
    }
    DescribeServices(c, cluster: str, services: strs, include: strs) {
        let out = c
            .ecs
            .describe_services()
            .set_cluster(cluster)
            .set_services(services)
            .set_include(extras(include))
            .send()
            .await?;
        json(&out)
    }
    UpdateService(
        c,
        cluster: str,
        service: req_str,
        desiredCount: i32,
        forceNewDeployment: bool,
        taskDefinition: str,
    ) {
        let out = c
            .ecs
            .update_service()
            .set_cluster(cluster)
            .service(service)
            .set_desired_count(desiredCount)
            .set_force_new_deployment(forceNewDeployment)
            .set_task_definition(taskDefinition)
            .send()
            .await?;
        json(&out)
    }
    ListTasks(
        c,
        cluster: str,
        serviceName: str,
        desiredStatus: str,
        family: str,
        maxResults: i32,
    ) {
        let out = c
            .ecs
            .list_tasks()
            .set_cluster(cluster)
            .set_service_name(serviceName)
            .set_family(family)
            .set_desired_status(desiredStatus.map(|d| d.as_str().into()))
            .set_max_results(maxResults)
            .send()
            .await?;
        json(&out)
    }
    DescribeTasks(c, cluster: str, tasks: strs) {
        let out = c
            .ecs
            .describe_tasks()
            .set_cluster(cluster)
            .set_tasks(tasks)
            .send()
            .await?;
        json(&out)
    }
}
