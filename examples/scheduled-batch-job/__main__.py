"""A Batch job and its schedule without the rest of the platform: a Fargate environment that
scales to zero in an existing VPC, one job definition, and a nightly schedule in the team's
time zone; failed runs are reported to the team's existing alert topic.
"""

import pulumi
import pulumi_aws as aws

from components.jobs import (
    BatchEnvironment,
    BatchEnvironmentArgs,
    BatchJob,
    BatchJobArgs,
    JobScheduleArgs,
)

config = pulumi.Config()
region = config.require("region")
provider = aws.Provider(f"aws-{region}", region=region)
opts = pulumi.ResourceOptions(providers={"aws": provider})

environment = BatchEnvironment(
    "reports",
    BatchEnvironmentArgs(
        name_prefix="reports",
        vpc_id=config.require("vpcId"),
        subnet_ids=config.require_object("subnetIds"),
        key=config.require("kmsKeyArn"),
        alert_topic=config.require("alertTopicArn"),
        max_vcpus=4,
    ),
    opts,
)
job = BatchJob(
    "nightly-report",
    BatchJobArgs(
        job_name="nightly-report",
        environment=environment,
        image=config.require("image"),
        command=["python", "-m", "report", "--day", "Ref::day"],
        parameters={"day": "yesterday"},
        vcpu=0.5,
        memory_mib=1024,
        timeout_seconds=1800,
        schedule=JobScheduleArgs(expression="cron(30 2 * * ? *)", timezone="Europe/Rome"),
    ),
    opts,
)

pulumi.export("jobQueueArn", environment.queue.arn)
