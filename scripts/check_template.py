#!/usr/bin/env python3
"""Checks template.yaml and member.yaml against the sample events and the code.

Run from anywhere as `.venv/bin/python scripts/check_template.py [--strict]` (it needs
cfn-lint, moto and botocore, all in the project venv). Two kinds of check:

Event routing. Every EventBridge rule pattern in the template is evaluated against every
sample in events/ with moto's EventBridge pattern matcher, the code moto's own rules route
events with (moto 5.2's TestEventPattern API answers without a result, so it cannot be used).
  - An EventBridge envelope (it has "source" and "detail-type") matches no rule of another
    function. It matches its own function's rule, unless the rule deliberately leaves it
    out: then the check names the field of the rule that excludes it ("not routed (...)").
    A sample whose source the rule does not take at all is in the wrong folder: a failure.
  - Every folder routes at least one of its envelopes to its function.
  - A bare event (no envelope) and anything in events/manual match no rule.

IAM coverage. The AWS operations each function's code calls are derived from the Rust
sources of shared/playbook/src: every `fn` is scanned for calls on SDK clients (receivers
named ec2, s3, sns, iam, sts, autoscaling, as in `ec2.describe_instances()` or
`self.clients.s3.put_object()`, or any name given a client type, as in
`client: &aws_sdk_iam::Client`), checked against botocore's service models and mapped to
IAM actions. MODULES below says where each function's playbooks start; calls from there
into other modules (`iam::observe_user(...)`) are followed. Each action must be allowed by
that function's role in the template, no role may allow Action "*", and every function that
calls AWS must be reached from MODULES. Actions a role grants that no code calls are printed
as notes, or counted as failures with --strict (for a function whose code all exists).

Organization. member.yaml's role is what every function acts through in a member account, so
it must allow every derived action of every function except those made in the home account
whatever the incident's account: calls made in HOME_ONLY_MODULES (the ledger and evidence,
pages) and on HOME_ONLY_SERVICES (STS: credentials for the member role). Its trust names
exactly the template's function roles; every function role may assume it (MemberAccessPolicy);
member.yaml forwards with the home rules' patterns to the bus template.yaml defines, whose
rules route with the default bus's patterns; every function has the organization settings.

Prints one line per check and ends with "N passed, M failed"; exits 1 if M > 0.
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
from pathlib import Path

from botocore.session import get_session
from botocore import xform_name
from cfnlint.decode import decode_str
from moto.events.models import EventPattern

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
MEMBER_TEMPLATE = ROOT / "member.yaml"
EVENTS = ROOT / "events"
PLAYBOOK_SRC = ROOT / "shared" / "playbook" / "src"

ALL = ["guardduty-responder", "config-responder", "alarm-responder", "quarantine-release", "securityhub-responder"]

# Which code each function runs: a module (every function in it), or one function of a
# module ("path::name"), relative to shared/playbook/src. What these call in other modules
# (`iam::observe_user(...)`) is followed, so list only what the function's playbooks start from.
MODULES = {
    "actions/ec2.rs": ["guardduty-responder", "alarm-responder", "securityhub-responder"],
    "actions/autoscaling.rs": ["guardduty-responder", "alarm-responder", "securityhub-responder"],
    "actions/iam.rs": ["guardduty-responder", "securityhub-responder"],
    # Stale access keys: the Config responder deactivates them like a compromised key; a
    # release sets keys Active again when asked.
    "actions/iam.rs::set_key_status": ["config-responder", "quarantine-release"],
    # A release reads the user or role again, to refuse one changed since its containment.
    "actions/iam.rs::observe_user": ["quarantine-release"],
    "actions/iam.rs::observe_role": ["quarantine-release"],
    # The EC2 playbook (also run by isolate alarms) denies the instance's own credentials.
    "actions/iam.rs::deny_instance_role": ["alarm-responder"],
    "actions/posture.rs": ["config-responder", "securityhub-responder"],
    # GuardDuty's exposed buckets: described as the posture fix does, plus policy and ACL,
    # then blocked with the posture fix's public access block.
    "actions/buckets.rs": ["guardduty-responder"],
    # The account-level block (S3 Control), read and restored above the threshold.
    "actions/account_block.rs": ["guardduty-responder"],
    "actions/posture.rs::block_public_access": ["guardduty-responder"],
    # A compromised Lambda function: described, a version kept, throttled (the role's deny is
    # iam.rs's deny_role); released by hand: described again, concurrency back, deny removed.
    "actions/lambda.rs::observe_function": ["guardduty-responder", "quarantine-release"],
    "actions/lambda.rs::publish_version": ["guardduty-responder"],
    "actions/lambda.rs::throttle": ["guardduty-responder"],
    "actions/lambda.rs::restore_concurrency": ["quarantine-release"],
    # A database a suspicious login reached: described, snapshotted (no isolation).
    "actions/rds.rs": ["guardduty-responder"],
    # The breach timeline and the persistence sweep after a credential compromise, and after
    # an instance compromise (its role session) however the finding came.
    "actions/cloudtrail.rs": ["guardduty-responder", "alarm-responder", "securityhub-responder"],
    "actions/persistence.rs": ["guardduty-responder", "alarm-responder", "securityhub-responder"],
    # The contained instance's, group's or bucket's configuration history, after containment.
    "actions/config_history.rs": [
        "guardduty-responder", "config-responder", "alarm-responder", "securityhub-responder",
    ],
    "release.rs": ["quarantine-release"],
    "actions/release.rs": ["quarantine-release"],
    # Security Hub findings run GuardDuty's and Config's playbooks (above), and are written back.
    "actions/securityhub.rs": ["securityhub-responder"],
    "actions/notify.rs": ALL,
    # The account's alias, for every page.
    "actions/account.rs": ALL,
    "ledger.rs": ALL,
}

# What stays in the home account whatever account an incident is in: modules whose calls are
# always made with the function's own role (the ledger and evidence in ledger.rs, pages in
# actions/notify.rs), and services the function calls as itself (STS: the member role's
# credentials, the caller's identity). Every other derived action is made in the incident's
# account, so member.yaml's role must allow it.
HOME_ONLY_MODULES = {"ledger.rs", "actions/notify.rs", "actions/securityhub.rs"}
HOME_ONLY_SERVICES = {"sts"}

# Settings of the organization feature every function must have, and the parameter each
# comes from.
ORGANIZATION_ENV = {
    "TOURNIQUET_MEMBER_ROLE": "MemberRoleName",
    "TOURNIQUET_ACCOUNTS": "Accounts",
    "TOURNIQUET_DRY_RUN_ACCOUNTS": "DryRunAccounts",
}

# Values for member.yaml's parameters that have no default, matching PSEUDO below (the home
# stack is "tourniquet" in 123456789012).
MEMBER_PARAMS = {
    "HomeAccountId": "123456789012",
    "HomeRegion": "us-east-1",
    "HomeStackName": "tourniquet",
    "OrganizationId": "o-exampleorgid",
}

# Which function each events/ folder is meant for (None: invoked by hand, no rule).
EVENT_FOLDERS = {
    "guardduty": "guardduty-responder",
    "config": "config-responder",
    "cloudwatch": "alarm-responder",
    "securityhub": "securityhub-responder",
    "manual": None,
}

# Values for intrinsic functions when a rule pattern uses them.
PSEUDO = {
    "AWS::StackName": "tourniquet",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}

# Services the code may call: IAM prefix (also the usual client name, as in `clients.ec2`)
# -> botocore service model. The first six are in use; the rest are here so that a new
# client named after its service is recognised the day it appears.
SERVICES = {
    "ec2": "ec2",
    "s3": "s3",
    "s3control": "s3control",
    "sns": "sns",
    "iam": "iam",
    "sts": "sts",
    "autoscaling": "autoscaling",
    "config": "config",
    "guardduty": "guardduty",
    "cloudwatch": "cloudwatch",
    "sqs": "sqs",
    "kms": "kms",
    "lambda": "lambda",
    "rds": "rds",
    "securityhub": "securityhub",
    "cloudtrail": "cloudtrail",
}

# Operations whose IAM action is not "<service>:<OperationName>".
IAM_ACTION_OVERRIDES = {
    "s3": {
        "ListObjectsV2": ["s3:ListBucket"],
        "ListObjects": ["s3:ListBucket"],
        "HeadBucket": ["s3:ListBucket"],
        "HeadObject": ["s3:GetObject"],
        "CopyObject": ["s3:GetObject", "s3:PutObject"],
        "CreateMultipartUpload": ["s3:PutObject"],
        "UploadPart": ["s3:PutObject"],
        "CompleteMultipartUpload": ["s3:PutObject"],
        "AbortMultipartUpload": ["s3:AbortMultipartUpload"],
        "ListParts": ["s3:ListMultipartUploadParts"],
        "ListObjectVersions": ["s3:ListBucketVersions"],
        "DeleteObjects": ["s3:DeleteObject"],
        "GetBucketEncryption": ["s3:GetEncryptionConfiguration"],
        "PutBucketEncryption": ["s3:PutEncryptionConfiguration"],
        "DeleteBucketEncryption": ["s3:PutEncryptionConfiguration"],
        "GetPublicAccessBlock": ["s3:GetBucketPublicAccessBlock"],
        "PutPublicAccessBlock": ["s3:PutBucketPublicAccessBlock"],
        "DeletePublicAccessBlock": ["s3:PutBucketPublicAccessBlock"],
        "GetBucketLifecycleConfiguration": ["s3:GetLifecycleConfiguration"],
        "PutBucketLifecycleConfiguration": ["s3:PutLifecycleConfiguration"],
        "GetBucketReplication": ["s3:GetReplicationConfiguration"],
        "GetObjectLockConfiguration": ["s3:GetBucketObjectLockConfiguration"],
        "PutObjectLockConfiguration": ["s3:PutBucketObjectLockConfiguration"],
        "GetBucketCors": ["s3:GetBucketCORS"],
    },
    # S3 Control's account-level block: the account-level S3 actions.
    "s3control": {
        "GetPublicAccessBlock": ["s3:GetAccountPublicAccessBlock"],
        "PutPublicAccessBlock": ["s3:PutAccountPublicAccessBlock"],
    },
    # Every caller may ask who it is; no permission is involved.
    "sts": {"GetCallerIdentity": []},
    # Tags given at creation need the tagging permission too.
    "rds": {
        "CreateDBSnapshot": ["rds:CreateDBSnapshot", "rds:AddTagsToResource"],
        "CreateDBClusterSnapshot": ["rds:CreateDBClusterSnapshot", "rds:AddTagsToResource"],
    },
}

# Granted for the Lambda runtime rather than for a call in the code; never "surplus".
# sts:AssumeRole is the SDK's assume-role credentials provider (the member role), not a
# client call the scanner could see.
RUNTIME_ACTIONS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "sqs:SendMessage",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "sts:AssumeRole",
}


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, text: str) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {text}")
        if ok:
            self.passed += 1
        else:
            self.failed += 1

    @staticmethod
    def note(text: str) -> None:
        print(f"note {text}")


# ---------------------------------------------------------------------------
# Template
# ---------------------------------------------------------------------------


def load_template(path: Path = TEMPLATE) -> dict:
    template, matches = decode_str(path.read_text())
    if template is None:
        raise SystemExit(f"{path.name} does not parse: {matches}")
    # Plain dicts and lists from here on.
    return json.loads(json.dumps(template, default=str))


def defaults(template: dict) -> dict:
    return {name: p.get("Default") for name, p in template.get("Parameters", {}).items()}


def resolve(node, params: dict):
    """Resolves Ref and Fn::Sub to parameter defaults and fixed pseudo parameters."""
    if isinstance(node, list):
        return [resolve(item, params) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, value), = node.items()
        if key == "Ref":
            return params.get(value, PSEUDO.get(value, f"<{value}>"))
        if key == "Fn::Sub":
            text, extra = (value, {}) if isinstance(value, str) else (value[0], value[1])

            def sub(match: re.Match) -> str:
                name = match.group(1)
                if name in extra:
                    return str(resolve(extra[name], params))
                return str(params.get(name, PSEUDO.get(name, f"<{name}>")))

            return re.sub(r"\$\{([^}!]+)\}", sub, text)
        if key == "Fn::GetAtt":
            target = value if isinstance(value, str) else ".".join(value)
            return f"<{target}>"
    return {key: resolve(value, params) for key, value in node.items()}


def functions(template: dict) -> dict:
    """Binary name -> (logical id, properties) for every SAM function."""
    found = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if binary:
            found[binary] = (logical_id, resource.get("Properties", {}))
    return found


def rule_patterns(template: dict, props: dict) -> list[tuple[str, dict]]:
    params = defaults(template)
    rules = []
    for name, event in (props.get("Events") or {}).items():
        if event.get("Type") in ("EventBridgeRule", "CloudWatchEvent"):
            rules.append((name, resolve(event["Properties"]["Pattern"], params)))
    return rules


# ---------------------------------------------------------------------------
# Event routing
# ---------------------------------------------------------------------------


def leaves(pattern: dict, path: tuple = ()):
    """(path, filters) for every leaf of a pattern; an $or group is one leaf."""
    for key, value in pattern.items():
        if key == "$or":
            yield path + ("$or",), value
        elif isinstance(value, dict):
            yield from leaves(value, path + (key,))
        else:
            yield path + (key,), value


def nest(path: tuple, value) -> dict:
    for key in reversed(path):
        value = {key: value}
    return value


def lookup(event, path: tuple):
    for key in path:
        if not isinstance(event, dict) or key not in event:
            return None, False
        event = event[key]
    return event, True


def flattened(value):
    """The event as EventBridge matches it: a pattern reaching into an array of objects (a
    Security Hub event's detail.findings) matches the values of every element, as if each key
    held all of them. moto 5.2's matcher does not descend into arrays; given this, it does."""
    if isinstance(value, dict):
        return {k: flattened(v) for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        merged = {}
        for item in value:
            for key, v in item.items():
                merged.setdefault(key, []).extend(v if isinstance(v, list) else [v])
        return {k: flattened(vs) if all(isinstance(v, dict) for v in vs) else vs for k, vs in merged.items()}
    return value


def why_not(pattern: dict, event: dict) -> list[tuple[tuple, str]]:
    """Each leaf of the pattern the event fails, with a reason in words."""
    event = flattened(event)
    reasons = []
    for path, filters in leaves(pattern):
        if path[-1] == "$or":
            single = nest(path[:-1], {"$or": filters}) if len(path) > 1 else {"$or": filters}
        else:
            single = nest(path, filters)
        if EventPattern(None, single).matches_event(event):
            continue
        name = ".".join(path)
        value, present = lookup(event, path)
        if path[-1] == "$or":
            reasons.append((path, f"no branch of {name} matches"))
        elif not present:
            reasons.append((path, f"{name} is absent"))
        else:
            reasons.append((path, describe_mismatch(name, value, filters)))
    return reasons


def describe_mismatch(name: str, value, filters: list) -> str:
    for f in filters:
        if isinstance(f, dict) and "numeric" in f:
            condition = " ".join(str(part) for part in f["numeric"])
            if isinstance(value, str):
                return f"{name} is the string {value!r}; numeric matching takes only JSON numbers"
            return f"{name} {value!r} is not {condition}"
        if isinstance(f, dict) and "anything-but" in f:
            return f"{name} {value!r} is excluded by anything-but {json.dumps(f['anything-but'])}"
    literals = [f for f in filters if not isinstance(f, dict)]
    if literals and len(literals) == len(filters):
        return f"{name} is {value!r}; the rule takes only {literals}"
    return f"{name} {value!r} does not match {json.dumps(filters)}"


def check_routing(checks: Checks, template: dict) -> None:
    fns = functions(template)
    rules = {}
    for binary, (_, props) in fns.items():
        rules[binary] = []
        for name, pattern in rule_patterns(template, props):
            try:
                rules[binary].append((name, EventPattern.load(json.dumps(pattern)), pattern))
            except Exception as err:  # moto raises its own exception types
                checks.check(False, f"rule {binary}/{name}: pattern does not load: {err}")

    def matching(event) -> list[str]:
        if not isinstance(event, dict):
            return []
        event = flattened(event)
        return sorted(b for b, rs in rules.items() if any(p.matches_event(event) for _, p, _ in rs))

    if not EVENTS.is_dir():
        checks.note("events/ does not exist; no routing checks")
        return
    for folder in sorted(p for p in EVENTS.iterdir() if p.is_dir()):
        if folder.name not in EVENT_FOLDERS:
            checks.check(False, f"events/{folder.name}/: no function is mapped to this folder (EVENT_FOLDERS)")
    for folder_name, owner in EVENT_FOLDERS.items():
        folder = EVENTS / folder_name
        if not folder.is_dir():
            checks.note(f"events/{folder_name}/ does not exist yet; skipped")
            continue
        if owner is not None and owner not in fns:
            checks.check(False, f"events/{folder_name}/ is meant for {owner}, which the template does not declare")
            continue
        own_rules = rules.get(owner, [])
        own_sources = {s for _, _, pat in own_rules for s in pat.get("source", []) if isinstance(s, str)}
        routed = envelopes = 0
        for sample in sorted(folder.glob("*.json")):
            label = f"events/{folder_name}/{sample.name}"
            try:
                event = json.loads(sample.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                checks.check(False, f"{label}: not JSON: {err}")
                continue
            hits = matching(event)
            is_envelope = isinstance(event, dict) and "source" in event and "detail-type" in event
            if owner is None or not is_envelope:
                kind = "manual event" if owner is None else "bare event (no envelope)"
                checks.check(not hits, f"{label}: {kind} matches no rule" + (f" (matches {', '.join(hits)})" if hits else ""))
                continue
            envelopes += 1
            others = [h for h in hits if h != owner]
            if others:
                checks.check(False, f"{label}: also matches the rule of {', '.join(others)}")
                continue
            if owner in hits:
                routed += 1
                checks.check(True, f"{label}: routed to {owner} only")
                continue
            if not own_rules:
                checks.check(False, f"{label}: {owner} has no EventBridge rule")
                continue
            reasons = [r for _, _, pat in own_rules for r in why_not(pat, event)]
            wrong_source = any(path == ("source",) for path, _ in reasons)
            text = "; ".join(reason for _, reason in reasons) or "moto and the explanation disagree"
            if wrong_source:
                checks.check(False, f"{label}: source {event.get('source')!r} is not {owner}'s {sorted(own_sources)}: wrong folder? ({text})")
            else:
                checks.check(bool(reasons), f"{label}: not routed ({text})")
        if owner is not None and envelopes:
            checks.check(routed > 0, f"events/{folder_name}/: {routed} of {envelopes} envelopes routed to {owner}")


# ---------------------------------------------------------------------------
# IAM coverage
# ---------------------------------------------------------------------------

# Comments, raw strings, char literals ('"' among them) and strings, in one left-to-right pass.
STRING_OR_COMMENT = re.compile(
    r"//[^\n]*|/\*.*?\*/"
    r'|(?<![A-Za-z0-9_])b?r(#*)".*?"\1'
    r"|'(?:\\u\{[0-9A-Fa-f]+\}|\\.|[^\\'\n])'"
    r'|"(?:\\.|[^"\\])*"',
    re.DOTALL,
)
FN = re.compile(r"(?<![A-Za-z0-9_])fn\s+([A-Za-z_][A-Za-z0-9_]*)")
# `module::function(`, with any crate::/super::/self::/actions:: before it.
MODULE_CALL = re.compile(r"(?<![A-Za-z0-9_:])(?:(?:crate|super|self|actions)::)*([a-z_][a-z0-9_]*)::([a-z_][a-z0-9_]*)\(")
LOCAL_CALL = re.compile(r"(?<![A-Za-z0-9_.:])([a-z_][a-z0-9_]*)\(")
METHOD = re.compile(r"(?<![A-Za-z0-9_])([a-z_][a-z0-9_]*)\.([a-z][a-z0-9_]*)\(")
CLIENT_IMPORT = re.compile(r"use aws_sdk_([a-z0-9]+)::(?:Client(?:\s+as\s+(\w+))?|\{[^}]*\bClient\b(?:\s+as\s+(\w+))?[^}]*\});")
BINDING = re.compile(r"(?<![A-Za-z0-9_])([a-z_][a-z0-9_]*)\s*:\s*&?\s*(?:mut\s+)?(?:aws_sdk_([a-z0-9]+)::Client|([A-Z][A-Za-z0-9_]*))\b")


def code_text(path: Path) -> str:
    """Source without comments or string contents, whitespace around . and ( removed."""
    def blank(match: re.Match) -> str:
        token = match.group(0)
        return " " if token.startswith("/") else "''" if token.startswith("'") else '""'

    text = STRING_OR_COMMENT.sub(blank, path.read_text())
    return re.sub(r"\s*([.(])\s*", r"\1", text)


def split_functions(text: str) -> dict[str, str]:
    """Function name -> its text (signature and body); functions without a body are left out."""
    found = {}
    for match in FN.finditer(text):
        start = match.start()
        open_at = len(text)
        for i in range(match.end(), len(text)):
            if text[i] in "{;":
                open_at = i
                break
        if open_at == len(text) or text[open_at] == ";":
            continue
        depth = 0
        for end in range(open_at, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
        name = match.group(1)
        found[name] = found.get(name, "") + text[start : end + 1]
    return found


class Code:
    """The SDK calls of every function in shared/playbook/src, and the calls between them.

    A call is `receiver.operation(` where the receiver is a client: a name in SERVICES
    (`ec2`, `self.clients.s3`), or a name declared with a client type in the same function
    or file (`client: &aws_sdk_iam::Client`, or `Client` imported from aws_sdk_iam).
    Operations are checked against botocore's service models, so `s3.clone()` is no call.
    """

    def __init__(self, root: Path) -> None:
        session = get_session()
        self.operations = {}
        for receiver, model in SERVICES.items():
            names = session.get_service_model(model).operation_names
            self.operations[receiver] = {xform_name(op): op for op in names}
        self.files = {}  # module path -> {function name: text}
        self.client_types = {}  # module path -> {type name: service}
        for path in sorted(root.rglob("*.rs")):
            module = path.relative_to(root).as_posix()
            text = code_text(path)
            types = {}
            for service, alias_a, alias_b in CLIENT_IMPORT.findall(text):
                if service in SERVICES:
                    types[alias_a or alias_b or "Client"] = service
            self.client_types[module] = types
            self.files[module] = split_functions(text)
        self.by_stem = {}
        for module in self.files:
            self.by_stem.setdefault(Path(module).stem, []).append(module)

    def receivers(self, module: str, text: str) -> dict[str, str]:
        names = {name: name for name in SERVICES}
        for name, qualified, bare in BINDING.findall(text):
            service = qualified or self.client_types[module].get(bare)
            if service in SERVICES:
                names[name] = service
        return names

    def calls(self, module: str, function: str) -> set[tuple[str, str]]:
        """(service, Operation) called directly in the function."""
        file_text = "".join(self.files[module].values())
        text = self.files[module][function]
        receivers = self.receivers(module, file_text)
        receivers.update(self.receivers(module, text))
        found = set()
        for receiver, method in METHOD.findall(text):
            service = receivers.get(receiver)
            op = self.operations.get(service, {}).get(method) if service else None
            if op:
                found.add((service, op))
        return found

    def sends_unattributed(self, module: str, function: str) -> bool:
        """The function sends an AWS request but no call in it was recognised."""
        return ".send()" in self.files[module][function] and not self.calls(module, function)

    def callees(self, module: str, function: str) -> set[tuple[str, str]]:
        text = self.files[module][function]
        found = set()
        for name in LOCAL_CALL.findall(text):
            if name in self.files[module] and name != function:
                found.add((module, name))
        for stem, name in MODULE_CALL.findall(text):
            for other in self.by_stem.get(stem, []):
                if name in self.files[other]:
                    found.add((other, name))
        return found

    def reach(self, roots: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Every function reachable from the roots through direct and module::function calls."""
        seen, todo = set(), list(roots)
        while todo:
            item = todo.pop()
            if item in seen:
                continue
            seen.add(item)
            todo.extend(self.callees(*item) - seen)
        return seen


def iam_actions(service: str, op: str) -> list[str]:
    return IAM_ACTION_OVERRIDES.get(service, {}).get(op, [f"{service}:{op}"])


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def branches(value) -> list:
    """Both branches of an Fn::If (the role may hold either), without AWS::NoValue."""
    if isinstance(value, dict) and "Fn::If" in value:
        return [v for branch in value["Fn::If"][1:] for v in branches(branch)]
    if value == {"Ref": "AWS::NoValue"}:
        return []
    return [value]


def role_statements(template: dict, role_id: str) -> tuple[list[tuple[str, dict]], list[str]]:
    """(policy name, statement) for every statement of the role, and attached policies it cannot read.

    A policy attached under a condition (Fn::If) counts as attached: the checks then cover the
    deployment in which the role holds the most.
    """
    resources = template["Resources"]
    role = resources[role_id]["Properties"]
    statements, unreadable = [], []
    for policy in role.get("Policies", []):
        for st in as_list(policy["PolicyDocument"].get("Statement", [])):
            statements.append((f"{role_id}/{policy['PolicyName']}", st))
    for attached in role.get("ManagedPolicyArns", []):
        for arn in branches(attached):
            ref = arn.get("Ref") if isinstance(arn, dict) else None
            if ref in resources and resources[ref]["Type"] == "AWS::IAM::ManagedPolicy":
                for st in as_list(resources[ref]["Properties"]["PolicyDocument"].get("Statement", [])):
                    statements.append((ref, st))
            else:
                unreadable.append(json.dumps(arn))
    return statements, unreadable


def star_statements(statements) -> list[str]:
    """Allow statements with Action "*" or "<service>:*", or with NotAction."""
    return [
        f"{policy}:{st.get('Sid', '?')}"
        for policy, st in statements
        if st.get("Effect") == "Allow"
        and ("NotAction" in st or any(a == "*" or a.endswith(":*") for a in as_list(st.get("Action", []))))
    ]


def action_matches(granted: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), granted.lower())


def allowed_by(statements, action: str) -> tuple[list[str], list[str]]:
    """Sids that allow the action, and unconditional Deny statements on "*" that block it."""
    allows, blocks = [], []
    for policy, st in statements:
        actions = [a for a in as_list(st.get("Action", [])) if isinstance(a, str)]
        if not any(action_matches(a, action) for a in actions):
            continue
        sid = f"{policy}:{st.get('Sid', '?')}"
        if st.get("Effect") == "Allow":
            allows.append(sid)
        elif st.get("Effect") == "Deny" and as_list(st.get("Resource")) == ["*"] and not st.get("Condition"):
            blocks.append(sid)
    return allows, blocks


def role_of(props: dict) -> str | None:
    role = props.get("Role")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        return target[0] if isinstance(target, list) else target.split(".")[0]
    return None


def check_iam(checks: Checks, template: dict, strict: bool) -> dict:
    """Checks each function's role; returns the derived actions (function -> action -> callers)."""
    fns = functions(template)
    code = Code(PLAYBOOK_SRC)

    # Roots per function, then everything they call, then the IAM actions of those calls.
    roots = {fn: [] for fn in ALL}
    complete = {fn: True for fn in ALL}
    acknowledged = set()
    for entry, users in MODULES.items():
        module, _, function = entry.partition("::")
        if module not in code.files or (function and function not in code.files[module]):
            checks.note(f"shared/playbook/src/{entry} does not exist yet; skipped ({', '.join(users)})")
            for fn in users:
                complete[fn] = False
            continue
        names = [function] if function else list(code.files[module])
        if not users:
            checks.note(f"shared/playbook/src/{entry}: mapped to no function on purpose (see MODULES)")
            acknowledged.update((module, name) for name in names)
        for fn in users:
            roots[fn].extend((module, name) for name in names)
    derived = {}  # function -> IAM action -> {module::function}
    reached_by_any = set(acknowledged)
    for fn in ALL:
        reached = code.reach(roots[fn])
        reached_by_any |= reached
        derived[fn] = {}
        for module, name in sorted(reached):
            for service, op in code.calls(module, name):
                for action in iam_actions(service, op):
                    derived[fn].setdefault(action, set()).add(f"{module}::{name}")

    # Code that calls AWS but that no function reaches would escape the check; so would a
    # call through a client the scanner cannot name.
    for module, functions_in_file in sorted(code.files.items()):
        for name in sorted(functions_in_file):
            calls = code.calls(module, name)
            needing = sorted(f"{s}:{o}" for s, o in calls if iam_actions(s, o))
            if needing and (module, name) not in reached_by_any:
                checks.check(False, f"shared/playbook/src/{module}::{name} calls {', '.join(needing)}, but MODULES maps no function to it")
            if code.sends_unattributed(module, name):
                checks.check(False, f"shared/playbook/src/{module}::{name} sends an AWS request through a client the scanner cannot name (call it ec2, s3, ... or give it a client type)")
    unmapped = [
        (m, n) for m, f in code.files.items() for n in f
        if (m, n) not in reached_by_any and any(iam_actions(s, o) for s, o in code.calls(m, n))
    ]
    if not unmapped:
        checks.check(True, "every function in shared/playbook/src that calls AWS is reached from MODULES")

    for fn in ALL:
        if fn not in fns:
            checks.check(False, f"{fn}: the template declares no function with Binary {fn}")
            continue
        logical_id, props = fns[fn]
        role_id = role_of(props)
        if role_id is None or role_id not in template["Resources"]:
            checks.check(False, f"{fn}: Role is not a !GetAtt of a role in the template")
            continue
        statements, unreadable = role_statements(template, role_id)
        checks.check(not unreadable, f"{fn}: every policy on {role_id} is in the template" + (f" (not: {', '.join(unreadable)})" if unreadable else ""))
        star = star_statements(statements)
        checks.check(not star, f"{fn}: no statement allows Action \"*\" (or <service>:*) or uses NotAction" + (f" ({', '.join(star)})" if star else ""))

        for action, callers in sorted(derived[fn].items()):
            allows, blocks = allowed_by(statements, action)
            where = ", ".join(sorted(callers))
            if blocks:
                checks.check(False, f"{fn}: {action} ({where}) is denied by {', '.join(blocks)}")
            else:
                checks.check(bool(allows), f"{fn}: {action} ({where}) " + (f"allowed by {', '.join(allows)}" if allows else "is NOT allowed by its role"))
        if not derived[fn] and not complete[fn]:
            checks.note(f"{fn}: none of its modules exist yet; nothing to compare")

        granted = {
            a
            for _, st in statements
            if st.get("Effect") == "Allow"
            for a in as_list(st.get("Action", []))
            if isinstance(a, str) and "*" not in a
        }
        surplus = sorted(a for a in granted - RUNTIME_ACTIONS if a not in derived[fn])
        if surplus:
            text = f"{fn}: granted but called by no code: {', '.join(surplus)}"
            if strict and complete[fn]:
                checks.check(False, text)
            else:
                checks.note(text)
    return derived

# ---------------------------------------------------------------------------
# Organization: settings, the member role, the organization bus
# ---------------------------------------------------------------------------


def check_settings(checks: Checks, template: dict) -> None:
    """Every function has the organization settings, from their parameters."""
    fns = functions(template)
    global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    params = template.get("Parameters", {})
    for fn in ALL:
        if fn not in fns:
            continue  # reported by check_iam
        own_env = (fns[fn][1].get("Environment") or {}).get("Variables", {})
        env = {**global_env, **own_env}
        wrong = []
        for name, param in ORGANIZATION_ENV.items():
            if name not in env:
                wrong.append(f"{name} missing")
            elif env[name] != {"Ref": param} or param not in params:
                wrong.append(f"{name} is {json.dumps(env[name])}, not the parameter {param}")
        checks.check(not wrong, f"{fn}: has {', '.join(ORGANIZATION_ENV)}" + (f" ({'; '.join(wrong)})" if wrong else ""))


def role_arn(resource: dict, params: dict) -> str | None:
    props = resource.get("Properties", {})
    if "RoleName" not in props:
        return None
    path = resolve(props.get("Path", "/"), params)
    return f"arn:{PSEUDO['AWS::Partition']}:iam::{PSEUDO['AWS::AccountId']}:role{path}{resolve(props['RoleName'], params)}"


def member_role_id(member: dict) -> str | None:
    for logical_id, resource in member.get("Resources", {}).items():
        if resource.get("Type") == "AWS::IAM::Role" and resource.get("Properties", {}).get("RoleName") == {"Ref": "MemberRoleName"}:
            return logical_id
    return None


def events_rules(template: dict) -> dict:
    return {lid: r for lid, r in template.get("Resources", {}).items() if r.get("Type") == "AWS::Events::Rule"}


def canonical(pattern) -> str:
    return json.dumps(pattern, sort_keys=True)


def check_organization(checks: Checks, template: dict, derived: dict, strict: bool) -> None:
    if not MEMBER_TEMPLATE.is_file():
        checks.check(False, "member.yaml does not exist")
        return
    member = load_template(MEMBER_TEMPLATE)
    home_params = defaults(template)
    member_params = {**defaults(member), **{k: v for k, v in MEMBER_PARAMS.items()}}
    fns = functions(template)
    resources = template["Resources"]

    # The member role's name is one setting: the same default on both sides.
    home_name = template.get("Parameters", {}).get("MemberRoleName", {}).get("Default")
    member_name = member.get("Parameters", {}).get("MemberRoleName", {}).get("Default")
    checks.check(home_name is not None and home_name == member_name,
                 f"MemberRoleName defaults agree (template.yaml {home_name!r}, member.yaml {member_name!r})")

    # Home side: every function role may assume the member role, that role name only, only
    # inside the organization, and only when OrganizationId is set.
    assume = resources.get("MemberAccessPolicy")
    if assume is None:
        checks.check(False, "template.yaml declares MemberAccessPolicy (sts:AssumeRole on the member role)")
    else:
        statements = as_list(assume["Properties"]["PolicyDocument"].get("Statement", []))
        allows = [st for st in statements if st.get("Effect") == "Allow"]
        good = (
            assume.get("Condition") == "IsOrganization"
            and allows
            and all(
                as_list(st.get("Action")) == ["sts:AssumeRole"]
                and [resolve(r, home_params) for r in as_list(st.get("Resource"))] == [f"arn:aws:iam::*:role/{home_name}"]
                and st.get("Condition", {}).get("StringEquals", {}).get("aws:ResourceOrgID") == {"Ref": "OrganizationId"}
                for st in allows
            )
        )
        checks.check(bool(good), "MemberAccessPolicy: sts:AssumeRole only on role/<MemberRoleName>, only with aws:ResourceOrgID = OrganizationId, only when IsOrganization")
    home_role_arns = set()
    for fn in ALL:
        if fn not in fns:
            continue
        role_id = role_of(fns[fn][1])
        if role_id not in resources:
            continue
        attached = [b for a in resources[role_id]["Properties"].get("ManagedPolicyArns", []) for b in branches(a)]
        checks.check({"Ref": "MemberAccessPolicy"} in attached, f"{fn}: {role_id} may assume the member role (MemberAccessPolicy attached)")
        arn = role_arn(resources[role_id], home_params)
        checks.check(arn is not None, f"{fn}: {role_id} has a RoleName member.yaml can trust" + (f" ({arn})" if arn else ""))
        if arn:
            home_role_arns.add(arn)

    # Member side: the role trusts the home account's function roles and nothing else.
    role_id = member_role_id(member)
    if role_id is None:
        checks.check(False, "member.yaml declares a role named by the parameter MemberRoleName")
        return
    trust = as_list(member["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"].get("Statement", []))
    trusted, problems = set(), []
    for st in trust:
        if st.get("Effect") != "Allow":
            continue
        principal = resolve(st.get("Principal"), member_params)
        if principal != {"AWS": f"arn:aws:iam::{MEMBER_PARAMS['HomeAccountId']}:root"}:
            problems.append(f"principal {json.dumps(principal)} is not the home account")
        arns = st.get("Condition", {}).get("ArnEquals", {}).get("aws:PrincipalArn")
        if arns is None:
            problems.append("no ArnEquals aws:PrincipalArn condition")
        else:
            trusted |= {resolve(a, member_params) for a in as_list(arns)}
    if trusted != home_role_arns:
        problems.append(f"trusts {sorted(trusted)}, the function roles are {sorted(home_role_arns)}")
    checks.check(not problems, f"member.yaml {role_id}: trusted by exactly the home function roles" + (f" ({'; '.join(problems)})" if problems else ""))

    # No role in member.yaml allows everything.
    for lid, resource in member["Resources"].items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        statements, unreadable = role_statements(member, lid)
        star = star_statements(statements)
        checks.check(not star and not unreadable, f"member.yaml {lid}: every policy is in the template and none allows Action \"*\" (or <service>:*) or uses NotAction"
                     + (f" ({', '.join(star + unreadable)})" if star or unreadable else ""))

    # Coverage: what the code calls in a member account.
    statements, _ = role_statements(member, role_id)
    needed = {}  # action -> {function}, {caller}
    for fn in ALL:
        for action, callers in derived.get(fn, {}).items():
            if action.split(":")[0] in HOME_ONLY_SERVICES:
                continue
            in_member = {c for c in callers if c.split("::")[0] not in HOME_ONLY_MODULES}
            if in_member:
                fns_, where = needed.setdefault(action, (set(), set()))
                fns_.add(fn)
                where.update(in_member)
    for action, (users, callers) in sorted(needed.items()):
        allows, blocks = allowed_by(statements, action)
        label = f"member role: {action} ({', '.join(sorted(users))}: {', '.join(sorted(callers))})"
        if blocks:
            checks.check(False, f"{label} is denied by {', '.join(blocks)}")
        else:
            checks.check(bool(allows), f"{label} " + (f"allowed by {', '.join(allows)}" if allows else "is NOT allowed by member.yaml's role"))
    home_side = sorted({a for fn in ALL for a, callers in derived.get(fn, {}).items()
                        if a not in needed})
    if home_side:
        checks.note(f"member role: made in the home account (HOME_ONLY_MODULES, HOME_ONLY_SERVICES), not needed here: {', '.join(home_side)}")
    granted = {
        a for _, st in statements if st.get("Effect") == "Allow"
        for a in as_list(st.get("Action", [])) if isinstance(a, str) and "*" not in a
    }
    surplus = sorted(granted - set(needed))
    if surplus:
        text = f"member role: granted but called by no code in a member account: {', '.join(surplus)}"
        if strict:
            checks.check(False, text)
        else:
            checks.note(text)

    # The organization bus and its rules (template.yaml), and the forwarding (member.yaml).
    buses = [r for r in resources.values() if r.get("Type") == "AWS::Events::EventBus"]
    bus_names = [r["Properties"].get("Name") for r in buses]
    checks.check(len(buses) == 1 and all(r.get("Condition") == "IsOrganization" for r in buses),
                 f"template.yaml: one organization event bus, only when IsOrganization ({bus_names})")
    bus_name = bus_names[0] if len(bus_names) == 1 else None
    policies = [r for r in resources.values() if r.get("Type") == "AWS::Events::EventBusPolicy"]
    org_only = bool(policies) and all(
        r.get("Condition") == "IsOrganization"
        and all(
            st.get("Condition", {}).get("StringEquals", {}).get("aws:PrincipalOrgID") == {"Ref": "OrganizationId"}
            and as_list(st.get("Action")) == ["events:PutEvents"]
            for st in as_list(r["Properties"].get("Statement") or r["Properties"].get("Policy", {}).get("Statement", []))
            if st.get("Effect") == "Allow"
        )
        for r in policies
    )
    checks.check(org_only, "template.yaml: the organization bus takes events:PutEvents from principals of the organization only (aws:PrincipalOrgID)")

    # Home patterns per function (the SAM rules on the default bus).
    home_patterns = {fn: {canonical(p) for _, p in rule_patterns(template, fns[fn][1])} for fn in ALL if fn in fns}
    forwarded = {"config-responder", "alarm-responder"}
    logical_fn = {lid: fn for fn, (lid, _) in fns.items()}
    routed = set()
    for lid, rule in events_rules(template).items():
        props = rule["Properties"]
        pattern = canonical(resolve(props.get("EventPattern"), home_params))
        targets = [logical_fn.get((tg.get("Arn", {}).get("Fn::GetAtt") or [None])[0]) for tg in props.get("Targets", [])]
        on_bus = props.get("EventBusName") == {"Ref": next((k for k, r in resources.items() if r.get("Type") == "AWS::Events::EventBus"), None)}
        for fn in targets:
            same = fn in home_patterns and pattern in home_patterns[fn]
            checks.check(on_bus and same and rule.get("Condition") == "IsOrganization",
                         f"template.yaml {lid}: on the organization bus, only when IsOrganization, to {fn} with its default-bus pattern")
            routed.add(fn)
    checks.check(routed == forwarded, f"template.yaml: the organization bus routes to {', '.join(sorted(forwarded))} (routes to {', '.join(sorted(f for f in routed if f)) or 'nothing'})")

    expected_bus = f"arn:aws:events:{MEMBER_PARAMS['HomeRegion']}:{MEMBER_PARAMS['HomeAccountId']}:event-bus/{bus_name}"
    wanted = {p for fn in forwarded for p in (home_patterns.get(fn) or set())}
    seen = set()
    for lid, rule in events_rules(member).items():
        props = rule["Properties"]
        pattern = canonical(resolve(props.get("EventPattern"), member_params))
        seen.add(pattern)
        targets = props.get("Targets", [])
        ok = (
            pattern in wanted
            and props.get("EventBusName") in (None, "default")
            and targets
            and all(resolve(tg.get("Arn"), member_params) == expected_bus and tg.get("RoleArn") for tg in targets)
        )
        checks.check(bool(ok), f"member.yaml {lid}: a home pattern, from the default bus to {expected_bus}, with a role")
    checks.check(seen == wanted, "member.yaml: forwards every pattern of " + ", ".join(sorted(forwarded)) + " and nothing else")


def main() -> int:
    strict = "--strict" in sys.argv[1:]
    checks = Checks()
    template = load_template()
    print("== event routing (template rules x events/)")
    check_routing(checks, template)
    print("== IAM coverage (calls in shared/playbook/src x roles)")
    derived = check_iam(checks, template, strict)
    print("== organization (settings, member.yaml's role and forwarding, the organization bus)")
    check_settings(checks, template)
    check_organization(checks, template, derived, strict)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
