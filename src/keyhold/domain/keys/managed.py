"""AWS managed keys: which aliases exist, what they protect, and AWS's fixed policy for them."""

import json

MANAGED_ALIASES: dict[str, str] = {
    "alias/aws/s3": "S3 objects",
    "alias/aws/ses": "SES messages",
    "alias/aws/workmail": "WorkMail mailboxes",
    "alias/aws/acm": "ACM private keys",
    "alias/aws/dynamodb": "DynamoDB tables",
    "alias/aws/ebs": "EBS volumes",
    "alias/aws/lambda": "Lambda functions",
    "alias/aws/rds": "RDS databases",
    "alias/aws/secretsmanager": "Secrets Manager secrets",
    "alias/aws/sns": "SNS topics",
    "alias/aws/sqs": "SQS queues",
    "alias/aws/ssm": "SSM parameters",
}
"""alias name -> what the key protects (used in the key's description)."""


def managed_key_policy(account_id: str, region: str, service: str) -> str:
    """The policy AWS gives the managed key of ``service``: use only through that service, from the account."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": f"auto-{service}-2",
            "Statement": [
                {
                    "Sid": f"Allow access through {service.upper()} for all principals in the account that are "
                    f"authorized to use {service.upper()}",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": [
                        "kms:Encrypt",
                        "kms:Decrypt",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:DescribeKey",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:CallerAccount": account_id,
                            "kms:ViaService": f"{service}.{region}.amazonaws.com",
                        }
                    },
                },
                {
                    "Sid": "Allow direct access to key metadata to the account",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                    "Resource": "*",
                },
            ],
        },
        indent=2,
    )
