"""Every call a Tourniquet function makes, as IAM authorizes it: action, resource ARNs, context keys.

The launcher hands each signed request it passes to `CALLS.record`. A request is a function's
when it is signed by a session of a function role (`role/tourniquet/tourniquet-<function>`, in
the home account) or by credentials such a session got from `AssumeRole` (the member role, in
any other account). Each is written to the file named by TOURNIQUET_CALLS as one JSON line, the
format `make iam` judges: {"function", "account", "home", "region", "action", "resources",
"context"}. The action is the one the Service Authorization Reference names (an S3 request by
its subresource, `BatchUpdateFindingsV2` as `securityhub:BatchUpdateFindings`); the resources
are the ARNs the action authorizes, "*" for actions without resource-level permissions; the
context holds the keys the emulator knows: the subject resource's tags (`aws:ResourceTag/*`,
and `ec2:ResourceTag/*` on EC2; per resource in "resource_context" when an EC2 call names
several), tags given at creation (`aws:RequestTag/*`, `aws:TagKeys`,
with the `ec2:CreateTags` they also need, under `ec2:CreateAction`), and the organization of
the emulated accounts (`aws:PrincipalOrgID`, and `aws:ResourceOrgID` of a role assumed).
"""

import json
import os
import re
import threading
import urllib.parse

FUNCTIONS = ("guardduty-responder", "config-responder", "alarm-responder", "securityhub-responder", "quarantine-release")
# The emulated accounts are one organization's (the one `make iam` deploys the templates for).
ORGANIZATION = "o-exampleorgid"
_FUNCTION_ROLE = re.compile(r"^arn:aws:iam::(\d{12}):role/tourniquet/tourniquet-(" + "|".join(FUNCTIONS) + r")$")

# Operations whose IAM action is not "<service>:<operation>" (or that need two).
_ACTIONS = {
    ("s3", "GetPublicAccessBlock"): ["s3:GetBucketPublicAccessBlock"],
    ("s3", "PutPublicAccessBlock"): ["s3:PutBucketPublicAccessBlock"],
    ("s3", "DeletePublicAccessBlock"): ["s3:PutBucketPublicAccessBlock"],
    ("s3", "GetBucketEncryption"): ["s3:GetEncryptionConfiguration"],
    ("s3", "PutBucketEncryption"): ["s3:PutEncryptionConfiguration"],
    ("s3", "ListObjects"): ["s3:ListBucket"],
    ("s3", "HeadBucket"): ["s3:ListBucket"],
    ("s3", "HeadObject"): ["s3:GetObject"],
    ("s3control", "GetPublicAccessBlock"): ["s3:GetAccountPublicAccessBlock"],
    ("s3control", "PutPublicAccessBlock"): ["s3:PutAccountPublicAccessBlock"],
    ("securityhub", "BatchUpdateFindingsV2"): ["securityhub:BatchUpdateFindings"],
    ("sts", "GetCallerIdentity"): [],  # no permission is involved
}

# EC2 parameters naming a resource, and the resource type of their ids.
_EC2_PARAMS = {
    "InstanceId": "instance",
    "GroupId": "security-group",
    "SecurityGroupId": "security-group",
    "NetworkInterfaceId": "network-interface",
    "VolumeId": "volume",
    "SnapshotId": "snapshot",
    "AllocationId": "elastic-ip",
    "VpcId": "vpc",
    "InstanceSpecification.InstanceId": "instance",
}
_EC2_PREFIXES = {
    "i": "instance", "sg": "security-group", "eni": "network-interface", "vol": "volume",
    "snap": "snapshot", "eipalloc": "elastic-ip", "vpc": "vpc",
}
# What an EC2 creation creates (the resource tags given at creation go on), and what else it
# authorizes beyond the resources it names.
_EC2_CREATED = {
    "CreateSecurityGroup": ["security-group/*"],
    "CreateSnapshots": ["snapshot/*"],
    "CreateSnapshot": ["snapshot/*"],
}
_EC2_ALSO = {"CreateSnapshots": ["volume/*"]}


# REST operations the recorder names by method and path (the launcher names Query and JSON
# ones, and S3's): (service, method, path pattern) -> operation.
_REST = [
    ("s3control", "GET", r"/v20180820/configuration/publicAccessBlock", "GetPublicAccessBlock"),
    ("s3control", "PUT", r"/v20180820/configuration/publicAccessBlock", "PutPublicAccessBlock"),
    ("securityhub", "PATCH", r"/findingsv2/batchupdatev2/?", "BatchUpdateFindingsV2"),
    ("securityhub", "PATCH", r"/findings/batchupdate/?", "BatchUpdateFindings"),
    ("securityhub", "POST", r"/findings/?", "GetFindings"),
    ("lambda", "GET", r"/[\d-]+/functions/[^/]+/?", "GetFunction"),
    ("lambda", "GET", r"/[\d-]+/functions/[^/]+/configuration", "GetFunctionConfiguration"),
    ("lambda", "GET", r"/[\d-]+/functions/[^/]+/concurrency", "GetFunctionConcurrency"),
    ("lambda", "PUT", r"/[\d-]+/functions/[^/]+/concurrency", "PutFunctionConcurrency"),
    ("lambda", "DELETE", r"/[\d-]+/functions/[^/]+/concurrency", "DeleteFunctionConcurrency"),
    ("lambda", "POST", r"/[\d-]+/functions/[^/]+/versions", "PublishVersion"),
    ("lambda", "GET", r"/[\d-]+/functions/[^/]+/versions", "ListVersionsByFunction"),
    ("lambda", "GET", r"/[\d-]+/tags/.+", "ListTags"),
]


def _rest_action(service, environ, action):
    method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
    for rest_service, rest_method, pattern, name in _REST:
        if rest_service == service and rest_method == method and re.fullmatch(pattern, path):
            return name
    return action


def _ec2_arn(region, account, resource):
    """An EC2 resource's ARN (a snapshot's names no account)."""
    owner = "" if resource.startswith("snapshot/") else account
    return f"arn:aws:ec2:{region}:{owner}:{resource}"


def _ec2_type(resource_id):
    return _EC2_PREFIXES.get(resource_id.split("-", 1)[0])


def _tags_context(tags, service):
    context = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
    if service == "ec2":
        context.update({f"ec2:ResourceTag/{k}": v for k, v in tags.items()})
    return context


def _request_tags(params):
    """Tags a request gives (TagSpecification.N.Tag.M, Tag.N, Tags.member.N), by key."""
    tags = {}
    for key, value in params.items():
        found = re.fullmatch(r"(TagSpecification\.\d+\.Tag|Tag|Tags\.member)\.(\d+)\.Key", key)
        if found:
            tags[value] = params.get(f"{found[1]}.{found[2]}.Value", "")
    return tags


class Calls:
    """Which credentials are a function's, and the file its calls go to."""

    def __init__(self):
        self.lock = threading.Lock()
        self.path = os.environ.get("TOURNIQUET_CALLS")
        self.member_keys = {}  # access key -> (function, home account)
        if self.path:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            open(self.path, "w").close()

    def caller(self, access_key, identity):
        """(function, home account) when the request is a function's, else None."""
        issuer = ((identity or {}).get("sessionContext") or {}).get("sessionIssuer", {}).get("arn", "")
        found = _FUNCTION_ROLE.match(issuer)
        if found:
            return found[2], found[1]
        with self.lock:
            return self.member_keys.get(access_key)

    def before(self, environ, service, region, action, params, access_key, identity):
        """The request's lines, from the emulator's state before it is served; None if not a function's."""
        if not self.path:
            return None
        caller = self.caller(access_key, identity)
        if caller is None:
            return None
        function, home = caller
        account = identity["accountId"]
        if service == "s3" and environ.get("PATH_INFO", "").startswith("/v20180820/"):
            service = "s3control"
        action = _rest_action(service, environ, action)
        lines = []
        for iam_action, resources, context, *per_resource in _authorized(
            environ, service, region, account, action, params
        ):
            context = {**context, "aws:PrincipalOrgID": ORGANIZATION}
            if iam_action == "sts:AssumeRole":
                context["aws:ResourceOrgID"] = ORGANIZATION
            line = {
                "function": function, "account": account, "home": home, "region": region,
                "action": iam_action, "resources": resources, "context": context,
            }
            if per_resource:
                line["resource_context"] = per_resource[0]
            lines.append(line)
        return caller, service, action, lines

    def after(self, prepared, status, body):
        """Writes the request's lines once it is answered (a 5xx fault never reached IAM)."""
        if prepared is None or status >= 500:
            return
        caller, service, action, lines = prepared
        if service == "sts" and action == "AssumeRole" and status < 400:
            key = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", body)
            if key:
                with self.lock:
                    self.member_keys[key[1].decode()] = caller
        if lines:
            with self.lock, open(self.path, "a") as out:
                out.write("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))


def _authorized(environ, service, region, account, action, params):
    """[(IAM action, resource ARNs, context)] that the request needs."""
    actions = _ACTIONS.get((service, action), [f"{service}:{action}"])
    resources, tags = ["*"], {}
    try:
        if service == "ec2":
            return _ec2(region, account, action, params, actions)
        if service == "iam":
            resources, tags = _iam(account, params)
        elif service == "s3":
            parts = [p for p in environ.get("PATH_INFO", "").split("/") if p]
            resources = [f"arn:aws:s3:::{'/'.join(parts)}"] if parts else ["*"]
        elif service == "sns" and params.get("TopicArn"):
            resources = [params["TopicArn"]]
        elif service == "sts" and params.get("RoleArn"):
            resources = [params["RoleArn"]]
        elif service == "securityhub" and action.startswith("BatchUpdateFindings"):
            hub = "hubv2/*" if action.endswith("V2") else "hub/default"
            resources = [f"arn:aws:securityhub:{region}:{account}:{hub}"]
        elif service == "lambda":
            path = urllib.parse.unquote(environ.get("PATH_INFO", ""))
            found = re.search(r"/functions/([^/]+)", path) or re.search(r"/tags/arn:[^/]+:function:([^/:]+)", path)
            if found:
                name = found[1].split(":")[6] if found[1].startswith("arn:") else found[1]
                resources = [f"arn:aws:lambda:{region}:{account}:function:{name}"]
        elif service == "rds":
            resources = _rds(region, account, params)
        elif service == "cloudtrail" and (params.get("Name") or params.get("TrailName")):
            name = params.get("Name") or params.get("TrailName")
            resources = [name if name.startswith("arn:") else f"arn:aws:cloudtrail:{region}:{account}:trail/{name}"]
        elif service == "autoscaling" and params.get("AutoScalingGroupName"):
            name = params["AutoScalingGroupName"]
            resources = [f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{name}"]
    except Exception:  # a resource the emulator no longer has: judged on the action alone
        resources = ["*"]
    context = _tags_context(tags, service)
    requested = _request_tags(params)
    if requested:
        context.update({f"aws:RequestTag/{k}": v for k, v in requested.items()})
        context["aws:TagKeys"] = sorted(requested)
    calls = [(a, resources, context) for a in actions]
    if service == "rds" and requested and action.startswith("Create"):
        calls.append(("rds:AddTagsToResource", resources[-1:], context))
    return calls


def _iam(account, params):
    from moto.iam.models import iam_backends

    backend = iam_backends[account]["aws"]
    principal = None
    if params.get("RoleName"):
        principal = backend.get_role(params["RoleName"])
    elif params.get("UserName"):
        principal = backend.get_user(params["UserName"])
    if principal is not None:
        tags = getattr(principal, "tags", {}) or {}
        return [principal.arn], {k: (v["Value"] if isinstance(v, dict) else v) for k, v in tags.items()}
    if params.get("PolicyArn"):
        return [params["PolicyArn"]], {}
    return ["*"], {}


def _rds(region, account, params):
    arn = f"arn:aws:rds:{region}:{account}"
    resources = []
    if params.get("DBInstanceIdentifier"):
        resources.append(f"{arn}:db:{params['DBInstanceIdentifier']}")
    if params.get("DBClusterIdentifier"):
        resources.append(f"{arn}:cluster:{params['DBClusterIdentifier']}")
    if params.get("DBSnapshotIdentifier"):
        resources.append(f"{arn}:snapshot:{params['DBSnapshotIdentifier']}")
    if params.get("DBClusterSnapshotIdentifier"):
        resources.append(f"{arn}:cluster-snapshot:{params['DBClusterSnapshotIdentifier']}")
    return resources or ["*"]


def _ec2(region, account, action, params, actions):
    from moto.ec2.models import ec2_backends

    if action.startswith("Describe") and action != "DescribeInstanceAttribute":
        return [(a, ["*"], {}) for a in actions]
    ids = []
    for key, value in params.items():
        base = re.sub(r"\.\d+$", "", key)
        kind = _EC2_PARAMS.get(base) or (_ec2_type(value) if base == "ResourceId" else None)
        if kind and (kind, value) not in ids:
            ids.append((kind, value))
    resources = [_ec2_arn(region, account, f"{kind}/{value}") for kind, value in ids]
    resources += [_ec2_arn(region, account, also) for also in _EC2_ALSO.get(action, [])]
    created = [_ec2_arn(region, account, kind) for kind in _EC2_CREATED.get(action, [])]
    resources += created
    backend = ec2_backends[account][region]
    tagged = {_ec2_arn(region, account, f"{kind}/{value}"): dict(backend.tags.get(value, {})) for kind, value in ids}
    requested = _request_tags(params)
    context = {}
    if requested:
        context = {f"aws:RequestTag/{k}": v for k, v in requested.items()}
        context["aws:TagKeys"] = sorted(requested)
    if len(tagged) == 1:
        context.update(_tags_context(next(iter(tagged.values())), "ec2"))
    calls = []
    for a in actions:
        call = (a, resources or ["*"], context)
        if len(tagged) > 1:
            call += ({r: _tags_context(t, "ec2") for r, t in tagged.items() if t},)
        calls.append(call)
    if requested and created:
        calls.append(("ec2:CreateTags", created, {
            **{k: v for k, v in context.items() if not k.startswith(("aws:ResourceTag/", "ec2:ResourceTag/"))},
            "ec2:CreateAction": action,
        }))
    return calls


CALLS = Calls()
