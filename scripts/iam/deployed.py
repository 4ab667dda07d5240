#!/usr/bin/env python3
"""The templates as CloudFormation deploys them: each function role's policies, the member role's, and the evidence bucket's and key's.

Usage: deployed.py HOME_ACCOUNT STACK_REGION [MEMBER_ACCOUNT ...]
   or: deployed.py -  (stdin: a JSON list of [home, region, [member, ...]]; prints a JSON list
       of their deployments, in one process: the SAM transform runs once per region)
Prints JSON: {"functions": {binary: {"role": arn, "policies": [{name, policy}]}},
"members": {account: {"role": arn, "policies": [...], "trust": policy}}, "resources": {arn: policy}}.

template.yaml goes through the SAM transform (aws-sam-translator) first, then every intrinsic
function is resolved with the parameters' defaults (OrganizationId: an example organization,
so that the organization's policies count) and the pseudo parameters of the deployment. A
resource CloudFormation names itself (the evidence bucket, the topic, the queue) resolves to
the pattern of the names it gives: "<stack>-<logical id>-*" (lower case for buckets).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

from cfnlint.decode import decode_str
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parent.parent.parent
STACK = "tourniquet"
ORGANIZATION = "o-exampleorgid"
MEMBER_ROLE = "tourniquet-member"


def load(path: Path) -> dict:
    template, matches = decode_str(path.read_text())
    if template is None:
        raise SystemExit(f"{path.name} does not parse: {matches}")
    return json.loads(json.dumps(template, default=str))


class NoPolicyLoader:
    """The functions name no AWS managed policy: the SAM transform needs none."""

    def load(self) -> dict:
        return {}


def sam_transform(template: dict, region: str) -> dict:
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://package/code.zip"  # sam build's upload
    return transform(template, {}, NoPolicyLoader())


class Stack:
    """One template resolved for one account and region."""

    def __init__(self, template: dict, account: str, region: str, params: dict) -> None:
        self.template = template
        self.resources = template.get("Resources", {})
        self.values = {name: p.get("Default") for name, p in template.get("Parameters", {}).items()}
        self.values.update(params)
        self.values.update({
            "AWS::StackName": STACK, "AWS::Region": region, "AWS::AccountId": account,
            "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None,
        })
        self.account, self.region = account, region

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def ref(self, name: str):
        if name in self.values:
            return self.values[name]
        resource = self.resources[name]
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::IAM::ManagedPolicy":
            return f"arn:aws:iam::{self.account}:policy/{props.get('ManagedPolicyName', f'{STACK}-{name}-*')}"
        if kind == "AWS::IAM::Role":
            return self.resolve(props.get("RoleName")) or f"{STACK}-{name}-*"
        if kind == "AWS::S3::Bucket":
            return self.resolve(props.get("BucketName")) or f"{STACK}-{name.lower()}-*"
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{self.region}:{self.account}:{self.resolve(props.get('TopicName')) or f'{STACK}-{name}-*'}"
        if kind == "AWS::SQS::Queue":
            return self.resolve(props.get("QueueName")) or f"{STACK}-{name}-*"
        if kind == "AWS::Logs::LogGroup":
            return self.resolve(props.get("LogGroupName")) or f"{STACK}-{name}-*"
        if kind == "AWS::KMS::Key":
            return "*"
        return f"{STACK}-{name}-*"

    def arn(self, name: str) -> str:
        resource = self.resources[name]
        kind, ref, props = resource["Type"], self.ref(name), resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            path = self.resolve(props.get("Path")) or "/"
            return f"arn:aws:iam::{self.account}:role{path}{ref}"
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{ref}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{self.region}:{self.account}:{ref}"
        if kind == "AWS::Logs::LogGroup":
            return f"arn:aws:logs:{self.region}:{self.account}:log-group:{ref}:*"
        if kind == "AWS::KMS::Key":
            return f"arn:aws:kms:{self.region}:{self.account}:key/*"
        return ref

    def resolve(self, node):
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not None]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                target, attribute = value.split(".", 1) if isinstance(value, str) else value
                return self.arn(target) if attribute == "Arn" else f"{target}.{attribute}"
            if key == "Fn::Sub":
                text, extra = (value, {}) if isinstance(value, str) else value
                return self.sub(text, extra)
            if key == "Fn::If":
                name, yes, no = value
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                left, right = self.resolve(value)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(value[0])
            if key == "Fn::And":
                return all(self.resolve(value))
            if key == "Fn::Or":
                return any(self.resolve(value))
            if key == "Condition":
                return self.condition(value)
            if key == "Fn::Join":
                return value[0].join(str(v) for v in self.resolve(value[1]))
            if key == "Fn::Split":
                return str(self.resolve(value[1])).split(value[0])
            if key == "Fn::Select":
                return self.resolve(value[1])[int(self.resolve(value[0]))]
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not None}

    def sub(self, text: str, extra: dict) -> str:
        import re

        def one(match: re.Match) -> str:
            name = match.group(1)
            if name in extra:
                return str(self.resolve(extra[name]))
            if "." in name and name.split(".", 1)[0] in self.resources:
                return str(self.resolve({"Fn::GetAtt": name}))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def present(self, name: str) -> bool:
        condition = self.resources[name].get("Condition")
        return condition is None or self.condition(condition)

    def role_policies(self, role_id: str) -> list[dict]:
        """The role's inline policies and the template's managed policies it has attached."""
        props = self.resources[role_id]["Properties"]
        policies = [
            {"name": f"{role_id}/{p['PolicyName']}", "policy": self.resolve(p["PolicyDocument"])}
            for p in props.get("Policies", [])
        ]
        for attached in props.get("ManagedPolicyArns", []):
            if isinstance(attached, dict) and "Fn::If" in attached:
                name, yes, no = attached["Fn::If"]
                attached = yes if self.condition(name) else no
            policy_id = attached.get("Ref") if isinstance(attached, dict) else None
            if policy_id in self.resources and self.present(policy_id):
                document = self.resolve(self.resources[policy_id]["Properties"]["PolicyDocument"])
                document = json.loads(document) if isinstance(document, str) else document
                policies.append({"name": policy_id, "policy": document})
        return policies


@functools.cache
def home_template(region: str) -> dict:
    """template.yaml after the SAM transform (the same for every account)."""
    return sam_transform(load(ROOT / "template.yaml"), region)


def deployed(home: str, region: str, members: list[str]) -> dict:
    home_stack = Stack(home_template(region), home, region, {"OrganizationId": ORGANIZATION})
    functions = {}
    for logical_id, resource in home_stack.resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        role = resource["Properties"]["Role"]["Fn::GetAtt"]
        role_id = role[0] if isinstance(role, list) else role.split(".")[0]
        name = home_stack.ref(role_id).removeprefix(f"{STACK}-")
        functions[name] = {"role": home_stack.arn(role_id), "policies": home_stack.role_policies(role_id)}
    resources = {}
    for resource in home_stack.resources.values():
        if resource["Type"] == "AWS::S3::BucketPolicy":
            props = home_stack.resolve(resource["Properties"])
            resources[f"arn:aws:s3:::{props['Bucket']}"] = props["PolicyDocument"]
        if resource["Type"] == "AWS::KMS::Key":
            resources[f"arn:aws:kms:{region}:{home}:key/*"] = home_stack.resolve(resource["Properties"]["KeyPolicy"])
    member_params = {"HomeAccountId": home, "HomeRegion": region, "HomeStackName": STACK, "OrganizationId": ORGANIZATION}
    member_roles = {}
    for account in members:
        stack = Stack(member_template(), account, region, member_params)
        present = stack.present("MemberRole")
        member_roles[account] = {
            "role": stack.arn("MemberRole"),
            "policies": stack.role_policies("MemberRole") if present else [],
            # Who may assume it: the resource policy of a function's sts:AssumeRole.
            "trust": stack.resolve(stack.resources["MemberRole"]["Properties"]["AssumeRolePolicyDocument"])
            if present
            else None,
        }
    return {"functions": functions, "members": member_roles, "resources": resources}


def rules(account: str, region: str) -> list[dict]:
    """The rules template.yaml puts on the default bus: name, pattern, and the function they deliver to."""
    stack = Stack(home_template(region), account, region, {"OrganizationId": ORGANIZATION})
    names = {}
    for logical_id, resource in stack.resources.items():
        if resource["Type"] == "AWS::Lambda::Function":
            role = resource["Properties"]["Role"]["Fn::GetAtt"]
            role_id = role[0] if isinstance(role, list) else role.split(".")[0]
            names[logical_id] = stack.ref(role_id).removeprefix(f"{STACK}-")
    found = []
    for logical_id, resource in stack.resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::Events::Rule" or "EventBusName" in props or not stack.present(logical_id):
            continue
        for target in props.get("Targets", []):
            function = names.get(target["Arn"]["Fn::GetAtt"][0])
            if function:
                found.append({"name": logical_id, "pattern": stack.resolve(props["EventPattern"]), "function": function})
    return found


@functools.cache
def member_template() -> dict:
    return load(ROOT / "member.yaml")


def main() -> int:
    if sys.argv[1:] == ["-"]:
        wanted = json.load(sys.stdin)
        print(json.dumps([deployed(home, region, members) for home, region, members in wanted]))
        return 0
    if len(sys.argv) < 3:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    print(json.dumps(deployed(sys.argv[1], sys.argv[2], sys.argv[3:]), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
