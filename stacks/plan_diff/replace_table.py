"""The maintained replace-on-change table (see :mod:`stacks.plan_diff.replacement`).

One entry per resource type the platform's plans contain, in Pulumi's property names; each
cites where it was read. ``tests/test_plan_diff_replacement.py`` checks the entries against
AWS's CloudFormation resource schemas (``createOnlyProperties``) where a CloudFormation type
exists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

TF: Final = "https://github.com/hashicorp/terraform-provider-aws/blob/main/internal/service/"

#: Tags are updated through the services' tagging APIs: the provider's shared tags schema
#: (``tftags.TagsSchema()``, e.g. in ec2/vpc_.go, ec2/vpc_subnet.go) has no ForceNew.
ALWAYS_IN_PLACE: Final = frozenset({"tags"})
ALWAYS_IN_PLACE_SOURCE: Final = TF + "ec2/vpc_.go (tags: tftags.TagsSchema(), no ForceNew)"

#: The per-resource ``region`` every regional resource has since provider v6 (pulumi-aws v7): a
#: change replaces the resource, except between unset and the provider's own Region, which the
#: plan does not record (so a change from or to unset may replace).
REGION: Final = "region"
REGION_SOURCE: Final = (
    "https://github.com/hashicorp/terraform-provider-aws/blob/main/internal/provider/sdkv2/"
    "region.go (forceNewIfRegionChanges)"
)


@dataclass(frozen=True)
class Rule:
    replace: frozenset[str]
    in_place: frozenset[str] | None
    source: str
    may_replace: frozenset[str] = frozenset()
    #: The CloudFormation type whose createOnlyProperties the entry is checked against.
    cfn: str | None = None
    #: Pulumi property -> CloudFormation property where the name differs; None: no counterpart.
    cfn_names: Mapping[str, str | None] = field(default_factory=dict)
    #: Properties where CloudFormation and the provider disagree (the provider's source wins).
    cfn_differs: frozenset[str] = frozenset()
    #: An extra check on the whole inputs: a reason to replace, or None.
    check: Callable[[Mapping[str, Any], Mapping[str, Any]], str | None] | None = None


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _rule(
    replace: str,
    in_place: str | None,
    source: str,
    *,
    may_replace: str = "",
    cfn: str | None = None,
    cfn_names: str = "",
    cfn_differs: str = "",
    check: Callable[[Mapping[str, Any], Mapping[str, Any]], str | None] | None = None,
) -> Rule:
    """An entry; property lists are space-separated, ``cfn_names`` is ``pulumi=Cfn`` pairs
    (``pulumi=-``: no CloudFormation counterpart)."""
    names = dict(pair.split("=", 1) for pair in cfn_names.split())
    return Rule(
        replace=_words(replace),
        in_place=None if in_place is None else _words(in_place),
        source=source,
        may_replace=_words(may_replace),
        cfn=cfn,
        cfn_names={k: None if v == "-" else v for k, v in names.items()},
        cfn_differs=_words(cfn_differs),
        check=check,
    )


_RULE_SOURCES = ("cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId")


def _rule_source_kind_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """A security group rule cannot change what kind of source it names (CIDR, prefix list,
    group): the provider's ModifyPlan requires replacement (ec2/vpc_security_group_ingress_rule.go,
    "When you modify a rule, you cannot change the rule's source type")."""
    before = [k for k in _RULE_SOURCES if old.get(k) is not None]
    after = [k for k in _RULE_SOURCES if new.get(k) is not None]
    if before != after:
        return f"source changed from {'/'.join(before) or '-'} to {'/'.join(after) or '-'}"
    return None


RULES: Final[dict[str, Rule]] = {
    "aws:ec2/vpc:Vpc": _rule(
        "cidrBlock ipv4IpamPoolId ipv4NetmaskLength",
        None,
        TF + "ec2/vpc_.go (ForceNew)",
        cfn="AWS::EC2::VPC",
    ),
    "aws:ec2/subnet:Subnet": _rule(
        "availabilityZone availabilityZoneId cidrBlock ipv4IpamPoolId ipv4NetmaskLength "
        "ipv6IpamPoolId ipv6Native ipv6NetmaskLength outpostArn vpcId",
        None,
        TF + "ec2/vpc_subnet.go (ForceNew; ipv6CidrBlock by CustomizeDiff)",
        may_replace="ipv6CidrBlock",
        cfn="AWS::EC2::Subnet",
    ),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _rule(
        "gatewayId subnetId",
        None,
        TF + "ec2/vpc_route_table_association.go (ForceNew; route_table_id changes with "
        "ReplaceRouteTableAssociation)",
        cfn="AWS::EC2::SubnetRouteTableAssociation",
        cfn_names="gatewayId=-",
        cfn_differs="routeTableId",
    ),
    "aws:ec2/eip:Eip": _rule(
        "address domain ipamPoolId networkBorderGroup publicIpv4Pool",
        None,
        TF + "ec2/ec2_eip.go (ForceNew)",
        cfn="AWS::EC2::EIP",
        cfn_names="address=Address publicIpv4Pool=PublicIpv4Pool",
        cfn_differs="domain publicIpv4Pool",
    ),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _rule(
        "securityGroupId",
        "cidrIpv4 cidrIpv6 description fromPort ipProtocol prefixListId "
        "referencedSecurityGroupId toPort",
        TF + "ec2/vpc_security_group_ingress_rule.go (RequiresReplace on security_group_id; "
        "other changes use ModifySecurityGroupRules)",
        cfn="AWS::EC2::SecurityGroupIngress",
        cfn_names=(
            "securityGroupId=GroupId cidrIpv4=CidrIp "
            "referencedSecurityGroupId=SourceSecurityGroupId "
            "prefixListId=SourcePrefixListId"
        ),
        cfn_differs=(
            "cidrIpv4 cidrIpv6 fromPort ipProtocol prefixListId referencedSecurityGroupId toPort"
        ),
        check=_rule_source_kind_changed,
    ),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _rule(
        "securityGroupId",
        "cidrIpv4 cidrIpv6 description fromPort ipProtocol prefixListId "
        "referencedSecurityGroupId toPort",
        TF + "ec2/vpc_security_group_ingress_rule.go (RequiresReplace on security_group_id; "
        "other changes use ModifySecurityGroupRules)",
        cfn="AWS::EC2::SecurityGroupEgress",
        cfn_names=(
            "securityGroupId=GroupId cidrIpv4=CidrIp "
            "referencedSecurityGroupId=DestinationSecurityGroupId "
            "prefixListId=DestinationPrefixListId"
        ),
        cfn_differs=(
            "cidrIpv4 cidrIpv6 fromPort ipProtocol prefixListId referencedSecurityGroupId toPort"
        ),
        check=_rule_source_kind_changed,
    ),
    "aws:ec2/securityGroup:SecurityGroup": _rule(
        "description name namePrefix vpcId",
        "egress ingress revokeRulesOnDelete",
        "AWS: CloudFormation AWS::EC2::SecurityGroup createOnlyProperties",
        cfn="AWS::EC2::SecurityGroup",
        cfn_names=(
            "description=GroupDescription name=GroupName namePrefix=- "
            "egress=SecurityGroupEgress ingress=SecurityGroupIngress "
            "revokeRulesOnDelete=-"
        ),
    ),
    "aws:ec2/route:Route": _rule(
        "destinationCidrBlock destinationIpv6CidrBlock destinationPrefixListId routeTableId",
        "carrierGatewayId coreNetworkArn egressOnlyGatewayId gatewayId localGatewayId "
        "natGatewayId networkInterfaceId transitGatewayId vpcEndpointId vpcPeeringConnectionId",
        "AWS: CloudFormation AWS::EC2::Route createOnlyProperties (targets change in place "
        "with ReplaceRoute)",
        cfn="AWS::EC2::Route",
        cfn_names="egressOnlyGatewayId=EgressOnlyInternetGatewayId",
    ),
    "aws:ec2/routeTable:RouteTable": _rule(
        "vpcId",
        "",
        "AWS: CloudFormation AWS::EC2::RouteTable createOnlyProperties",
        cfn="AWS::EC2::RouteTable",
    ),
    "aws:ec2/natGateway:NatGateway": _rule(
        "allocationId connectivityType privateIp subnetId",
        "",
        "AWS: CloudFormation AWS::EC2::NatGateway createOnlyProperties",
        cfn="AWS::EC2::NatGateway",
        cfn_names="privateIp=PrivateIpAddress",
    ),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _rule(
        "resourceConfigurationArn serviceName serviceNetworkArn serviceRegion vpcEndpointType "
        "vpcId",
        "policy privateDnsEnabled routeTableIds securityGroupIds subnetIds",
        "AWS: CloudFormation AWS::EC2::VPCEndpoint createOnlyProperties",
        cfn="AWS::EC2::VPCEndpoint",
        cfn_names="policy=PolicyDocument",
    ),
    "aws:ec2/flowLog:FlowLog": _rule(
        "deliverCrossAccountRole destinationOptions eniId iamRoleArn logDestination "
        "logDestinationType logFormat maxAggregationInterval subnetId trafficType vpcId",
        "",
        "AWS: CloudFormation AWS::EC2::FlowLog createOnlyProperties (a flow log has no update)",
        cfn="AWS::EC2::FlowLog",
        cfn_names="eniId=- subnetId=- vpcId=- iamRoleArn=DeliverLogsPermissionArn",
    ),
    "aws:ec2/launchTemplate:LaunchTemplate": _rule(
        "name namePrefix",
        "blockDeviceMappings description iamInstanceProfile imageId instanceType "
        "metadataOptions networkInterfaces tagSpecifications updateDefaultVersion userData "
        "vpcSecurityGroupIds",
        "AWS: CloudFormation AWS::EC2::LaunchTemplate createOnlyProperties (other changes make "
        "a new template version)",
        cfn="AWS::EC2::LaunchTemplate",
        cfn_names=(
            "name=LaunchTemplateName namePrefix=- description=- updateDefaultVersion=- "
            "blockDeviceMappings=LaunchTemplateData "
            "iamInstanceProfile=LaunchTemplateData imageId=LaunchTemplateData "
            "instanceType=LaunchTemplateData metadataOptions=LaunchTemplateData "
            "networkInterfaces=LaunchTemplateData userData=LaunchTemplateData "
            "vpcSecurityGroupIds=LaunchTemplateData tagSpecifications=TagSpecifications"
        ),
    ),
    "aws:appautoscaling/target:Target": _rule(
        "resourceId scalableDimension serviceNamespace",
        "maxCapacity minCapacity",
        "AWS: CloudFormation AWS::ApplicationAutoScaling::ScalableTarget createOnlyProperties",
        cfn="AWS::ApplicationAutoScaling::ScalableTarget",
    ),
    "aws:appautoscaling/policy:Policy": _rule(
        "name resourceId scalableDimension serviceNamespace",
        "policyType stepScalingPolicyConfiguration targetTrackingScalingPolicyConfiguration",
        "AWS: CloudFormation AWS::ApplicationAutoScaling::ScalingPolicy createOnlyProperties",
        cfn="AWS::ApplicationAutoScaling::ScalingPolicy",
        cfn_names="name=PolicyName",
    ),
    "aws:autoscaling/group:Group": _rule(
        "name namePrefix",
        "capacityRebalance desiredCapacity enabledMetrics healthCheckGracePeriod "
        "healthCheckType instanceRefresh maxSize minSize mixedInstancesPolicy "
        "serviceLinkedRoleArn vpcZoneIdentifiers",
        "AWS: CloudFormation AWS::AutoScaling::AutoScalingGroup createOnlyProperties "
        "(instanceRefresh: " + TF + "autoscaling/group.go, instance_refresh has no ForceNew)",
        cfn="AWS::AutoScaling::AutoScalingGroup",
        cfn_names=(
            "name=AutoScalingGroupName namePrefix=- enabledMetrics=MetricsCollection "
            "instanceRefresh=- "
            "serviceLinkedRoleArn=ServiceLinkedRoleARN "
            "vpcZoneIdentifiers=VPCZoneIdentifier"
        ),
    ),
    "aws:autoscaling/schedule:Schedule": _rule(
        "autoscalingGroupName scheduledActionName",
        "desiredCapacity endTime maxSize minSize recurrence startTime timeZone",
        "AWS: CloudFormation AWS::AutoScaling::ScheduledAction createOnlyProperties (the "
        "action's name is its identity)",
        cfn="AWS::AutoScaling::ScheduledAction",
        cfn_names="autoscalingGroupName=AutoScalingGroupName scheduledActionName=-",
    ),
    "aws:ecs/cluster:Cluster": _rule(
        "name",
        "configuration serviceConnectDefaults settings",
        "AWS: CloudFormation AWS::ECS::Cluster createOnlyProperties",
        cfn="AWS::ECS::Cluster",
        cfn_names="name=ClusterName settings=ClusterSettings",
    ),
    "aws:ecs/service:Service": _rule(
        "cluster iamRole launchType name schedulingStrategy",
        "availabilityZoneRebalancing deploymentCircuitBreaker deploymentController "
        "deploymentMaximumPercent deploymentMinimumHealthyPercent desiredCount "
        "enableEcsManagedTags enableExecuteCommand healthCheckGracePeriodSeconds loadBalancers "
        "networkConfiguration platformVersion propagateTags taskDefinition waitForSteadyState",
        "AWS: CloudFormation AWS::ECS::Service createOnlyProperties; launch_type ForceNew, "
        "deployment_controller and load_balancer without: " + TF + "ecs/service.go",
        cfn="AWS::ECS::Service",
        cfn_names=(
            "iamRole=Role name=ServiceName "
            "deploymentCircuitBreaker=DeploymentConfiguration "
            "deploymentMaximumPercent=DeploymentConfiguration "
            "deploymentMinimumHealthyPercent=DeploymentConfiguration"
            " enableEcsManagedTags=EnableECSManagedTags waitForSteadyState=-"
        ),
        cfn_differs="launchType",
    ),
    "aws:ecs/taskDefinition:TaskDefinition": _rule(
        "containerDefinitions cpu ephemeralStorage executionRoleArn family "
        "inferenceAccelerators ipcMode memory networkMode pidMode placementConstraints "
        "proxyConfiguration requiresCompatibilities runtimePlatform taskRoleArn volumes",
        "",
        "AWS: CloudFormation AWS::ECS::TaskDefinition createOnlyProperties (a task definition "
        "revision is immutable: a change registers a new revision)",
        cfn="AWS::ECS::TaskDefinition",
    ),
    "aws:batch/computeEnvironment:ComputeEnvironment": _rule(
        "computeResources.ec2Configurations computeResources.launchTemplate "
        "computeResources.placementGroup computeResources.spotIamFleetRole eksConfiguration "
        "name namePrefix type",
        None,
        TF + "batch/compute_environment.go (ForceNew; other compute_resources changes are "
        "decided by CustomizeDiff)",
        may_replace="computeResources",
    ),
    "aws:batch/jobDefinition:JobDefinition": _rule(
        "name retryStrategy.evaluateOnExits",
        "containerProperties deregisterOnNewRevision ecsProperties eksProperties "
        "nodeProperties parameters platformCapabilities propagateTags retryStrategy timeout "
        "type",
        TF + "batch/job_definition.go (ForceNew on name and retry_strategy.evaluate_on_exit; "
        "other changes register a new revision)",
        cfn="AWS::Batch::JobDefinition",
        cfn_names="name=JobDefinitionName deregisterOnNewRevision=-",
        cfn_differs="retryStrategy.evaluateOnExits",
    ),
    "aws:batch/jobQueue:JobQueue": _rule(
        "name",
        "computeEnvironmentOrders jobStateTimeLimitActions priority state",
        "AWS: CloudFormation AWS::Batch::JobQueue createOnlyProperties",
        cfn="AWS::Batch::JobQueue",
        cfn_names="name=JobQueueName computeEnvironmentOrders=ComputeEnvironmentOrder",
    ),
    "aws:lambda/function:Function": _rule(
        "name packageType",
        "architectures code deadLetterConfig description environment handler imageUri "
        "kmsKeyArn layers loggingConfig memorySize reservedConcurrentExecutions role runtime "
        "timeout tracingConfig vpcConfig",
        "AWS: CloudFormation AWS::Lambda::Function createOnlyProperties",
        cfn="AWS::Lambda::Function",
        cfn_names=(
            "name=FunctionName imageUri=Code kmsKeyArn=KmsKeyArn "
            "reservedConcurrentExecutions=ReservedConcurrentExecutions"
        ),
    ),
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": _rule(
        "functionName qualifier",
        "destinationConfig maximumEventAgeInSeconds maximumRetryAttempts",
        "AWS: CloudFormation AWS::Lambda::EventInvokeConfig createOnlyProperties",
        cfn="AWS::Lambda::EventInvokeConfig",
    ),
    "aws:lambda/permission:Permission": _rule(
        "action eventSourceToken function functionUrlAuthType principal principalOrgId "
        "qualifier sourceAccount sourceArn statementId statementIdPrefix",
        "",
        "AWS: CloudFormation AWS::Lambda::Permission createOnlyProperties (a permission has no "
        "update)",
        cfn="AWS::Lambda::Permission",
        cfn_names=(
            "function=FunctionName principalOrgId=PrincipalOrgID qualifier=- "
            "statementId=- statementIdPrefix=-"
        ),
    ),
    "aws:lb/loadBalancer:LoadBalancer": _rule(
        "internal loadBalancerType name namePrefix",
        "accessLogs desyncMitigationMode dropInvalidHeaderFields enableDeletionProtection "
        "enableHttp2 idleTimeout ipAddressType securityGroups",
        "AWS: CloudFormation AWS::ElasticLoadBalancingV2::LoadBalancer createOnlyProperties",
        may_replace="subnets",
        cfn="AWS::ElasticLoadBalancingV2::LoadBalancer",
        cfn_names=(
            "internal=Scheme loadBalancerType=Type namePrefix=- "
            "accessLogs=LoadBalancerAttributes "
            "desyncMitigationMode=LoadBalancerAttributes "
            "dropInvalidHeaderFields=LoadBalancerAttributes "
            "enableDeletionProtection=LoadBalancerAttributes "
            "enableHttp2=LoadBalancerAttributes idleTimeout=LoadBalancerAttributes"
        ),
    ),
    "aws:lb/listener:Listener": _rule(
        "loadBalancerArn",
        "alpnPolicy certificateArn defaultActions port protocol sslPolicy",
        "AWS: CloudFormation AWS::ElasticLoadBalancingV2::Listener createOnlyProperties",
        cfn="AWS::ElasticLoadBalancingV2::Listener",
        cfn_names="certificateArn=Certificates",
    ),
    "aws:lb/targetGroup:TargetGroup": _rule(
        "ipAddressType name namePrefix port protocol protocolVersion targetType vpcId",
        "deregistrationDelay healthCheck slowStart stickiness",
        "AWS: CloudFormation AWS::ElasticLoadBalancingV2::TargetGroup createOnlyProperties",
        cfn="AWS::ElasticLoadBalancingV2::TargetGroup",
        cfn_names=(
            "namePrefix=- deregistrationDelay=TargetGroupAttributes "
            "slowStart=TargetGroupAttributes stickiness=TargetGroupAttributes "
            "healthCheck=HealthCheckPath"
        ),
    ),
    "aws:s3/bucket:Bucket": _rule(
        "bucket bucketPrefix",
        "forceDestroy",
        "AWS: CloudFormation AWS::S3::Bucket createOnlyProperties (forceDestroy is the "
        "provider's own flag, no AWS call)",
        cfn="AWS::S3::Bucket",
        cfn_names="bucket=BucketName forceDestroy=- bucketPrefix=BucketNamePrefix",
    ),
    "aws:s3/bucketPolicy:BucketPolicy": _rule(
        "bucket",
        "policy",
        "AWS: CloudFormation AWS::S3::BucketPolicy createOnlyProperties",
        cfn="AWS::S3::BucketPolicy",
        cfn_names="policy=PolicyDocument",
    ),
    "aws:s3/bucketVersioning:BucketVersioning": _rule(
        "bucket expectedBucketOwner",
        None,
        TF + "s3/bucket_versioning.go (ForceNew)",
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _rule(
        "bucket",
        None,
        TF + "s3/bucket_ownership_controls.go (ForceNew)",
    ),
    # The other bucket configurations: which bucket they belong to is ForceNew (RequiresReplace);
    # what they configure is replaced by the service's Put* call on the same bucket (e.g.
    # PutBucketLifecycleConfiguration "replaces an existing lifecycle configuration").
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _rule(
        "bucket expectedBucketOwner",
        "rules",
        TF + "s3/bucket_lifecycle_configuration.go (RequiresReplace on bucket, "
        "expected_bucket_owner; rules update with PutBucketLifecycleConfiguration)",
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        _rule(
            "bucket expectedBucketOwner",
            "rules",
            TF + "s3/bucket_server_side_encryption_configuration.go (ForceNew on bucket, "
            "expected_bucket_owner; rules update with PutBucketEncryption)",
        )
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _rule(
        "bucket",
        "blockPublicAcls blockPublicPolicy ignorePublicAcls restrictPublicBuckets",
        TF + "s3/bucket_public_access_block.go (ForceNew on bucket; the rest updates with "
        "PutPublicAccessBlock)",
    ),
    "aws:s3/bucketLogging:BucketLogging": _rule(
        "bucket expectedBucketOwner",
        "targetBucket targetPrefix",
        TF + "s3/bucket_logging.go (ForceNew on bucket, expected_bucket_owner; the rest "
        "updates with PutBucketLogging)",
    ),
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": _rule(
        "bucket",
        "role rules",
        TF + "s3/bucket_replication_configuration.go (ForceNew on bucket; role and rules "
        "update with PutBucketReplication)",
    ),
    "aws:s3/bucketNotification:BucketNotification": _rule(
        "bucket",
        "eventbridge lambdaFunctions queues topics",
        TF + "s3/bucket_notification.go (ForceNew on bucket; the rest updates with "
        "PutBucketNotificationConfiguration)",
    ),
    "aws:dynamodb/table:Table": _rule(
        "hashKey name rangeKey",
        "attributes billingMode deletionProtectionEnabled pointInTimeRecovery replicas "
        "serverSideEncryption streamEnabled streamViewType",
        "AWS: CloudFormation AWS::DynamoDB::Table createOnlyProperties; UpdateTable takes no "
        "key schema "
        "(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTable.html); "
        "attributes, replicas, streams: " + TF + "dynamodb/table.go (no ForceNew)",
        cfn="AWS::DynamoDB::Table",
        cfn_names=(
            "name=TableName hashKey=KeySchema rangeKey=KeySchema "
            "pointInTimeRecovery=PointInTimeRecoverySpecification "
            "serverSideEncryption=SSESpecification attributes=AttributeDefinitions "
            "replicas=- streamEnabled=StreamSpecification streamViewType=StreamSpecification"
        ),
        cfn_differs="hashKey rangeKey",
    ),
    "aws:efs/fileSystem:FileSystem": _rule(
        "availabilityZoneName creationToken encrypted kmsKeyId performanceMode",
        "lifecyclePolicies protection provisionedThroughputInMibps throughputMode",
        "AWS: CloudFormation AWS::EFS::FileSystem createOnlyProperties",
        cfn="AWS::EFS::FileSystem",
        cfn_names="creationToken=- protection=FileSystemProtection",
    ),
    "aws:efs/accessPoint:AccessPoint": _rule(
        "fileSystemId posixUser rootDirectory",
        "",
        "AWS: CloudFormation AWS::EFS::AccessPoint createOnlyProperties",
        cfn="AWS::EFS::AccessPoint",
    ),
    "aws:efs/mountTarget:MountTarget": _rule(
        "fileSystemId ipAddress ipAddressType ipv6Address subnetId",
        "securityGroups",
        "AWS: CloudFormation AWS::EFS::MountTarget createOnlyProperties",
        cfn="AWS::EFS::MountTarget",
    ),
    "aws:ecr/repository:Repository": _rule(
        "encryptionConfigurations name",
        "forceDelete imageScanningConfiguration imageTagMutability",
        "AWS: CloudFormation AWS::ECR::Repository createOnlyProperties",
        cfn="AWS::ECR::Repository",
        cfn_names=(
            "encryptionConfigurations=EncryptionConfiguration name=RepositoryName forceDelete=-"
        ),
    ),
    "aws:kms/key:Key": _rule(
        "customKeyStoreId customerMasterKeySpec keyUsage multiRegion xksKeyId",
        None,
        TF + "kms/key.go (ForceNew)",
    ),
    "aws:kms/alias:Alias": _rule(
        "name namePrefix",
        "targetKeyId",
        "AWS: CloudFormation AWS::KMS::Alias createOnlyProperties",
        cfn="AWS::KMS::Alias",
        cfn_names="name=AliasName namePrefix=-",
    ),
    "aws:iam/role:Role": _rule(
        "name namePrefix path",
        "assumeRolePolicy description maxSessionDuration permissionsBoundary",
        "AWS: CloudFormation AWS::IAM::Role createOnlyProperties",
        cfn="AWS::IAM::Role",
        cfn_names="name=RoleName namePrefix=- assumeRolePolicy=AssumeRolePolicyDocument",
    ),
    "aws:iam/rolePolicy:RolePolicy": _rule(
        "name namePrefix role",
        "policy",
        "AWS: CloudFormation AWS::IAM::RolePolicy createOnlyProperties",
        cfn="AWS::IAM::RolePolicy",
        cfn_names="name=PolicyName namePrefix=- role=RoleName policy=PolicyDocument",
    ),
    "aws:iam/instanceProfile:InstanceProfile": _rule(
        "name namePrefix path",
        "role",
        "AWS: CloudFormation AWS::IAM::InstanceProfile createOnlyProperties",
        cfn="AWS::IAM::InstanceProfile",
        cfn_names="name=InstanceProfileName namePrefix=- role=Roles",
    ),
    "aws:iam/serviceLinkedRole:ServiceLinkedRole": _rule(
        "awsServiceName customSuffix",
        "description",
        "AWS: CloudFormation AWS::IAM::ServiceLinkedRole createOnlyProperties",
        cfn="AWS::IAM::ServiceLinkedRole",
        cfn_names="awsServiceName=AWSServiceName",
    ),
    "aws:sns/topic:Topic": _rule(
        "fifoTopic name namePrefix",
        "displayName kmsMasterKeyId",
        "AWS: CloudFormation AWS::SNS::Topic createOnlyProperties",
        cfn="AWS::SNS::Topic",
        cfn_names="name=TopicName namePrefix=-",
    ),
    "aws:sns/topicSubscription:TopicSubscription": _rule(
        "endpoint protocol topic",
        "deliveryPolicy filterPolicy filterPolicyScope rawMessageDelivery redrivePolicy",
        "AWS: CloudFormation AWS::SNS::Subscription createOnlyProperties",
        cfn="AWS::SNS::Subscription",
        cfn_names="topic=TopicArn",
    ),
    "aws:sqs/queue:Queue": _rule(
        "fifoQueue name namePrefix",
        "delaySeconds kmsDataKeyReusePeriodSeconds kmsMasterKeyId maxMessageSize "
        "messageRetentionSeconds receiveWaitTimeSeconds redrivePolicy visibilityTimeoutSeconds",
        "AWS: CloudFormation AWS::SQS::Queue createOnlyProperties",
        cfn="AWS::SQS::Queue",
        cfn_names=(
            "name=QueueName namePrefix=- maxMessageSize=MaximumMessageSize "
            "messageRetentionSeconds=MessageRetentionPeriod "
            "receiveWaitTimeSeconds=ReceiveMessageWaitTimeSeconds "
            "visibilityTimeoutSeconds=VisibilityTimeout"
        ),
    ),
    "aws:sns/topicPolicy:TopicPolicy": _rule(
        "arn",
        "policy",
        TF + "sns/topic_policy.go (ForceNew on arn; the policy document updates in place)",
        cfn="AWS::SNS::TopicPolicy",
        cfn_names="policy=PolicyDocument arn=Topics",
        cfn_differs="arn",
    ),
    "aws:sqs/queuePolicy:QueuePolicy": _rule(
        "queueUrl",
        "policy",
        TF + "sqs/queue_policy.go (ForceNew on queue_url; the policy document updates in place)",
        cfn="AWS::SQS::QueuePolicy",
        cfn_names="policy=PolicyDocument queueUrl=Queues",
        cfn_differs="queueUrl",
    ),
    "aws:cloudtrail/trail:Trail": _rule(
        "name",
        "cloudWatchLogsGroupArn cloudWatchLogsRoleArn enableLogFileValidation enableLogging "
        "eventSelectors includeGlobalServiceEvents isMultiRegionTrail kmsKeyId s3BucketName "
        "s3KeyPrefix",
        "AWS: CloudFormation AWS::CloudTrail::Trail createOnlyProperties",
        cfn="AWS::CloudTrail::Trail",
        cfn_names=(
            "name=TrailName enableLogging=IsLogging "
            "cloudWatchLogsGroupArn=CloudWatchLogsLogGroupArn"
            " kmsKeyId=KMSKeyId"
        ),
    ),
    "aws:cloudwatch/logGroup:LogGroup": _rule(
        "name namePrefix",
        "kmsKeyId retentionInDays",
        "AWS: CloudFormation AWS::Logs::LogGroup createOnlyProperties",
        cfn="AWS::Logs::LogGroup",
        cfn_names="name=LogGroupName namePrefix=-",
    ),
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": _rule(
        "logGroupName name",
        "metricTransformation pattern",
        "AWS: CloudFormation AWS::Logs::MetricFilter createOnlyProperties",
        cfn="AWS::Logs::MetricFilter",
        cfn_names=(
            "name=FilterName metricTransformation=MetricTransformations pattern=FilterPattern"
        ),
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _rule(
        "name",
        "actionsEnabled alarmActions alarmDescription comparisonOperator datapointsToAlarm "
        "dimensions evaluationPeriods extendedStatistic insufficientDataActions metricName "
        "metricQueries namespace okActions period statistic threshold treatMissingData unit",
        "AWS: CloudFormation AWS::CloudWatch::Alarm createOnlyProperties",
        cfn="AWS::CloudWatch::Alarm",
        cfn_names="name=AlarmName okActions=OKActions metricQueries=Metrics",
    ),
    "aws:cloudwatch/dashboard:Dashboard": _rule(
        "dashboardName",
        "dashboardBody",
        "AWS: CloudFormation AWS::CloudWatch::Dashboard createOnlyProperties",
        cfn="AWS::CloudWatch::Dashboard",
    ),
    "aws:cloudwatch/eventRule:EventRule": _rule(
        "name namePrefix",
        "description eventPattern scheduleExpression state",
        "AWS: CloudFormation AWS::Events::Rule createOnlyProperties",
        cfn="AWS::Events::Rule",
        cfn_names="namePrefix=-",
    ),
    "aws:scheduler/schedule:Schedule": _rule(
        "groupName name namePrefix",
        None,
        TF + "scheduler/schedule.go (ForceNew)",
        cfn="AWS::Scheduler::Schedule",
        cfn_names="namePrefix=-",
        cfn_differs="groupName",
    ),
    "aws:scheduler/scheduleGroup:ScheduleGroup": _rule(
        "name namePrefix",
        "",
        "AWS: CloudFormation AWS::Scheduler::ScheduleGroup createOnlyProperties",
        cfn="AWS::Scheduler::ScheduleGroup",
        cfn_names="namePrefix=-",
    ),
    # Entries whose whole top-level schema was read (``in_place`` None): only the listed
    # properties replace; the rest update in place.
    "aws:acm/certificate:Certificate": _rule(
        "certificateAuthorityArn domainName keyAlgorithm subjectAlternativeNames "
        "validationMethod validationOptions",
        None,
        TF + "acm/certificate.go (ForceNew)",
        cfn="AWS::CertificateManager::Certificate",
        cfn_names="validationOptions=DomainValidationOptions",
        cfn_differs="validationMethod",
    ),
    "aws:acm/certificateValidation:CertificateValidation": _rule(
        "certificateArn validationRecordFqdns",
        None,
        TF + "acm/certificate_validation.go (ForceNew; no update)",
    ),
    "aws:cloudwatch/eventTarget:EventTarget": _rule(
        "eventBusName rule targetId",
        None,
        TF + "events/target.go (ForceNew; the rest updates with PutTargets)",
    ),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _rule(
        "vpcId",
        None,
        TF + "ec2/vpc_default_security_group.go (ForceNew on vpc_id; rules update in place)",
    ),
    "aws:ec2/internetGateway:InternetGateway": _rule(
        "",
        None,
        TF + "ec2/vpc_internet_gateway.go (no ForceNew: a vpc_id change detaches and attaches)",
    ),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": _rule(
        "policy repository",
        None,
        TF + "ecr/lifecycle_policy.go (ForceNew; the resource has no update)",
    ),
    "aws:efs/backupPolicy:BackupPolicy": _rule(
        "fileSystemId",
        None,
        TF + "efs/backup_policy.go (ForceNew on file_system_id; backup_policy updates with "
        "PutBackupPolicy)",
    ),
    "aws:efs/fileSystemPolicy:FileSystemPolicy": _rule(
        "fileSystemId",
        None,
        TF + "efs/file_system_policy.go (ForceNew on file_system_id; the policy updates with "
        "PutFileSystemPolicy)",
    ),
    "aws:efs/replicationConfiguration:ReplicationConfiguration": _rule(
        "destination sourceFileSystemId",
        None,
        TF + "efs/replication_configuration.go (ForceNew; the resource has no update)",
    ),
    "aws:kms/grant:Grant": _rule(
        "constraints grantCreationTokens granteePrincipal keyId name operations "
        "retireOnDelete retiringPrincipal",
        None,
        TF + "kms/grant.go (ForceNew; the resource has no update)",
    ),
    "aws:route53/healthCheck:HealthCheck": _rule(
        "measureLatency referenceName requestInterval routingControlArn type",
        None,
        TF + "route53/health_check.go (ForceNew; the rest updates with UpdateHealthCheck)",
    ),
    "aws:route53/record:Record": _rule(
        "name zoneId",
        None,
        TF + "route53/record.go (ForceNew on name, zone_id; a type or set_identifier change is "
        "a DELETE and CREATE in one change batch, not a replacement)",
        cfn="AWS::Route53::RecordSet",
        cfn_names="zoneId=HostedZoneId",
        cfn_differs="name",
    ),
    "aws:ssm/parameter:Parameter": _rule(
        "dataType name",
        None,
        TF + "ssm/parameter.go (ForceNew; tier by CustomizeDiff when it goes from Advanced to "
        "Standard)",
        may_replace="tier",
        cfn="AWS::SSM::Parameter",
        cfn_differs="dataType",
    ),
    "aws:wafv2/webAcl:WebAcl": _rule(
        "name scope",
        None,
        TF + "wafv2/web_acl.go (ForceNew; the rest updates with UpdateWebACL)",
        cfn="AWS::WAFv2::WebACL",
    ),
    "aws:wafv2/webAclAssociation:WebAclAssociation": _rule(
        "resourceArn webAclArn",
        None,
        TF + "wafv2/web_acl_association.go (ForceNew; the resource has no update)",
        cfn="AWS::WAFv2::WebACLAssociation",
        cfn_names="webAclArn=WebACLArn",
    ),
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": _rule(
        "logDestinationConfigs resourceArn",
        None,
        TF + "wafv2/web_acl_logging_configuration.go (ForceNew; logging_filter and "
        "redacted_fields update with PutLoggingConfiguration)",
        cfn="AWS::WAFv2::LoggingConfiguration",
        cfn_differs="logDestinationConfigs",
    ),
}
