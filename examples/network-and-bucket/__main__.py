"""Two of the platform's components in a program of their own: a network with flow logs and a
locked-down bucket, both encrypted with a KMS key the team already has (no platform config).
"""

import pulumi
import pulumi_aws as aws

from components.buckets import SecureBucket, SecureBucketArgs
from components.network import Network, NetworkArgs

config = pulumi.Config()
region = config.require("region")
key_arn = config.require("kmsKeyArn")

# One explicit provider; the stack file disables the default one, so nothing escapes it.
provider = aws.Provider(f"aws-{region}", region=region)
opts = pulumi.ResourceOptions(providers={"aws": provider})

network = Network(
    "team",
    NetworkArgs(
        cidr=config.require("cidr"),
        availability_zones=config.require_object("availabilityZones"),
        key=key_arn,
        nat="single",
    ),
    opts,
)
bucket = SecureBucket("team-data", SecureBucketArgs(key=key_arn, purpose="team-data"), opts)

pulumi.export("vpcId", network.vpc.id)
pulumi.export("bucketName", bucket.name)
