"""The CloudWatch metrics of the control plane stand-in's world, published to the emulator
every few seconds as the real services publish theirs, for `outpost-migrate monitor`:

- Outpost/ControlPlane: DispatchesSucceeded and DispatchesFailed (dispatches that ended since
  the last publish), PoolHits and PoolMisses (dispatches started from a warm task or not);
- AWS/ApplicationELB, once the ALB `outpost-alb` exists: RequestCount,
  HTTPCode_Target_5XX_Count and TargetResponseTime of the requests the stand-in served (as if
  through the ALB), and HealthyHostCount (0 while the `unhealthy` fault is on). A request's
  time leaves out its calls to the emulator, which stand for DynamoDB and S3 answering in
  milliseconds: on a loaded test machine they take what a real control plane never waits;
- AWS/ECS: CPUUtilization and MemoryUtilization of the service;
- AWS/DynamoDB: ConsumedReadCapacityUnits and ConsumedWriteCapacityUnits of each table.
"""

import threading
import time

INTERVAL_SECONDS = 2.0
CLUSTER, SERVICE, ALB = "outpost-dev", "outpost-control-plane", "outpost-alb"
TABLES = ["outpost-dispatches", "outpost-workspaces", "outpost-pool"]


class Metrics:
    def __init__(self, session, endpoint, faults):
        self.cloudwatch = session.client("cloudwatch", endpoint_url=endpoint)
        self.elbv2 = session.client("elbv2", endpoint_url=endpoint)
        self.faults = faults
        self.lock = threading.Lock()
        self.counts, self.latencies = {}, []
        self.local = threading.local()

    def exclude(self, client):
        """Leaves `client`'s calls to the emulator out of the request times."""
        def before(**_):
            self.local.call_began = time.monotonic()

        def after(**_):
            began = getattr(self.local, "call_began", None)
            if began is not None:
                self.local.aws = getattr(self.local, "aws", 0.0) + time.monotonic() - began

        client.meta.events.register("before-call", before)
        client.meta.events.register("after-call", after)

    def count(self, name, n=1.0):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0.0) + n

    def middleware(self, wsgi_app):
        """Counts every request the stand-in answers, its status and how long it took."""

        def app(environ, start_response):
            began = time.monotonic()
            self.local.aws = 0.0

            def start(status, headers, *rest):
                code = int(status.split()[0])
                took = time.monotonic() - began - self.local.aws
                with self.lock:
                    self.latencies.append(max(took, 0.0))
                    self.counts["RequestCount"] = self.counts.get("RequestCount", 0.0) + 1
                    errors = self.counts.get("HTTPCode_Target_5XX_Count", 0.0)
                    self.counts["HTTPCode_Target_5XX_Count"] = errors + (code >= 500)
                return start_response(status, headers, *rest)

            return wsgi_app(environ, start)

        return app

    def take(self):
        with self.lock:
            taken = (self.counts, self.latencies)
            self.counts, self.latencies = {}, []
        return taken

    def alb_dimensions(self):
        try:
            lb = self.elbv2.describe_load_balancers(Names=[ALB])["LoadBalancers"][0]["LoadBalancerArn"]
        except Exception:
            return None
        groups = self.elbv2.describe_target_groups(LoadBalancerArn=lb)["TargetGroups"]
        on_lb = [{"Name": "LoadBalancer", "Value": lb.split(":loadbalancer/", 1)[1]}]
        on_tg = on_lb + [{"Name": "TargetGroup", "Value": "targetgroup/" + groups[0]["TargetGroupArn"].split(":targetgroup/", 1)[1]}] if groups else None
        return on_lb, on_tg

    def publish(self):
        counts, latencies = self.take()
        put = self.cloudwatch.put_metric_data
        put(Namespace="Outpost/ControlPlane", MetricData=[
            {"MetricName": name, "Value": counts.get(name, 0.0), "Unit": "Count"}
            for name in ("DispatchesSucceeded", "DispatchesFailed", "PoolHits", "PoolMisses")
        ])
        service = [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": SERVICE}]
        put(Namespace="AWS/ECS", MetricData=[
            {"MetricName": "CPUUtilization", "Value": 21.0, "Unit": "Percent", "Dimensions": service},
            {"MetricName": "MemoryUtilization", "Value": 38.0, "Unit": "Percent", "Dimensions": service},
        ])
        put(Namespace="AWS/DynamoDB", MetricData=[
            {"MetricName": f"Consumed{kind}CapacityUnits", "Value": counts.get(f"{kind}:{table}", 0.0),
             "Dimensions": [{"Name": "TableName", "Value": table}]}
            for table in TABLES for kind in ("Read", "Write")
        ])
        dimensions = self.alb_dimensions()
        if not dimensions:
            return
        on_lb, on_tg = dimensions
        data = []
        if counts.get("RequestCount"):
            data += [{"MetricName": name, "Value": counts.get(name, 0.0), "Dimensions": on_lb}
                     for name in ("RequestCount", "HTTPCode_Target_5XX_Count")]
        if latencies:
            data.append({"MetricName": "TargetResponseTime", "Values": latencies, "Dimensions": on_lb})
        if on_tg:
            healthy = 0.0 if self.faults().get("unhealthy") else 1.0
            data.append({"MetricName": "HealthyHostCount", "Value": healthy, "Dimensions": on_tg})
        if data:
            put(Namespace="AWS/ApplicationELB", MetricData=data)

    def run(self):
        while True:
            time.sleep(INTERVAL_SECONDS)
            try:
                self.publish()
            except Exception as e:  # the emulator throttles now and then: the next round publishes
                print(f"control plane: metrics not published: {e}", flush=True)

    def start(self):
        threading.Thread(target=self.run, daemon=True).start()
