"""Starts moto in server mode on a free loopback port, with its known EC2 divergences corrected.

Prints "READY <port>" once listening, then serves until its standard input closes (the test
process that started it ended) or it is sent SIGTERM. Each patch names the divergence it
corrects; tests/emulator/fidelity.rs shows each corrected behaviour through the real SDK.

It serves the same emulated accounts on a second port through a fault injector, which answers
a share of one account's requests with throttling or server errors, or refuses one action for
good, before the request reaches the emulator: the SDK's retries, partial failure and resume
are tested against it. It prints "READY <port> <faulty-port>".

Standard input takes commands, one a line, each answered "DONE [n]" or "ERROR ...":
  age-access-key <account> <access-key-id> <days>
    makes an access key <days> old, as an account that has had it that long would show.
    (No AWS API can create an old key, so a seeded account gets one this way.)
  faults <account> <rate> <seed>
    through the faulty port, answers that share (0 to 1) of the account's requests with
    throttling or a 5xx, chosen by a generator seeded with <seed>.
  deny <account> <service> <action> <status> <code>
    through the faulty port, answers every <service> <action> of the account with that error.
  latency <account> <milliseconds>
    through the faulty port, holds each of the account's requests that long before serving
    it, as a far endpoint would: the critical path of a response, in round trips, then
    shows in its timing whatever the emulator's own speed.
  race-create <account> <group-name>
    through the faulty port, on the account's next CreateSecurityGroup of that name, first
    creates the same group (same VPC, description and tags) in the emulator, as a concurrent
    invocation would a moment earlier; the request itself then gets InvalidGroup.Duplicate.
    Each race run counts as an injected fault.
  lose <account> <action> <count>
    through the faulty port, the account's next <count> requests of that action (CreateSnapshots,
    CreateSecurityGroup, PublishVersion, CreateDBSnapshot, Publish, ...) reach the emulator and
    are carried out, then are answered 504 with no AWS error code, as when AWS acted and its answer was
    lost on the way back. Each counts as an injected fault.
  record <account>
    through the faulty port, records every request of the account that reaches the emulator:
    service, action, parameters (Query protocol; S3 by method and path) and HTTP status. The
    account's requests are then served one at a time (each still held its latency first, all
    together), so the record's order is the order in which the emulator applied them.
  served <account>
    answers "DONE <JSON list>" on one line: the requests recorded since the last "served",
    each {"service", "action", "params", "status"}, in the order they were served.
  clear <account>
    no more faults, races or recording for the account; answers "DONE <faults injected so far>".
  deploy-roles <account>
    creates each function's role in the account as template.yaml deploys it (scripts/iam/
    deployed.py: the SAM transform, then the template's own policies), once per account. A
    session of such a role is a function: its calls, and those of the member role sessions it
    assumes, are written to the file TOURNIQUET_CALLS names (tests/moto/calls.py).
  deliver <account> <region> <event JSON>
    puts the event on the account's default EventBridge bus in that region, whose rules are
    template.yaml's (after the SAM transform; created on first use, each targeting a queue of
    the function it names), and answers "DONE <JSON list>": [function, event as delivered]
    for each rule that delivered it ([] when no rule does).
  refuse-role <role-arn>
    on both ports, AssumeRole of that role is refused with 403 AccessDenied, as AWS refuses a
    role that does not exist or does not trust the caller (a member account without the
    member role). moto otherwise lets anyone assume any role ARN, existing or not.
  leak-secret <account> <access-key-id>
    answers "DONE <secret access key>": the key's secret, as an attacker who stole it has it
    (no AWS API returns a secret after CreateAccessKey).
  lookup-throttle <account> <count>
    on both ports, answers the account's next <count> CloudTrail LookupEvents calls with
    ThrottlingException (-1: every one until cleared, 0: clears it), beside the 2 a second per
    account and region that CloudTrail allows and the emulator enforces.

CloudTrail event history: every signed request either port passes to moto is recorded as the
management event CloudTrail would log, in the caller's region (IAM, STS and Organizations in
us-east-1, the global region, as CloudTrail records global services) (caller, parameters, error code, and for the calls that
create a foothold the new resource's ids, never a secret); data events (S3 object reads and
writes, SNS publishes, SQS messages, Lambda invocations) are not, as event history never holds
them. `LookupEvents` is answered from that record (see the section "CloudTrail event history").

AWS Config configuration history: where a configuration recorder records, each EC2 instance,
security group and S3 bucket gets a configuration item whenever a request changes it, and
`GetResourceConfigHistory` is answered from those items (see the section "AWS Config
configuration history").
"""

import datetime
import io
import json
import logging
import random
import re
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

from moto.ec2.exceptions import EC2ClientError
from moto.events.models import EventPattern
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.responses.instances import InstanceResponse
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.core.exceptions import _RESTError
from moto.securityhub import urls as securityhub_urls
from moto.securityhub.exceptions import InvalidInputException, SecurityHubClientError
from moto.securityhub.models import SecurityHubBackend
from moto.securityhub.responses import SecurityHubResponse
from moto.server import ThreadedMotoServer
from moto.sts.models import STSBackend
from werkzeug.serving import make_server

from calls import CALLS, _rest_action


def _own_groups_only(self):
    # Divergence 1: moto reports an attached interface's groups as the union of its own and
    # its instance's launch groups, so replacing an interface's groups looks like adding one.
    # In EC2 an interface carries exactly its own groups.
    return self._group_set


NetworkInterface.group_set = property(_own_groups_only)


class MultipleInterfacesError(EC2ClientError):
    def __init__(self, instance_id):
        super().__init__(
            "InvalidInstanceID",
            f"There are multiple interfaces attached to instance '{instance_id}'. "
            "Please specify an interface ID for the operation instead.",
        )


_modify_instance_security_groups = InstanceBackend.modify_instance_security_groups


def _refuse_groups_on_multi_interface_instances(self, instance_id, new_group_id_list):
    # Divergence 2: moto accepts ModifyInstanceAttribute(Groups) on an instance with several
    # interfaces; EC2 refuses it with InvalidInstanceID.
    instance = self.get_instance(instance_id)
    if new_group_id_list and len(getattr(instance, "nics", {})) > 1:
        raise MultipleInterfacesError(instance_id)
    return _modify_instance_security_groups(self, instance_id, new_group_id_list)


InstanceBackend.modify_instance_security_groups = _refuse_groups_on_multi_interface_instances


_groups_handler = InstanceResponse._security_grp_instance_attribute_handler


def _shutdown_behavior_or_groups(self):
    # Divergence 3: moto has no handler for ModifyInstanceAttribute with
    # InstanceInitiatedShutdownBehavior.Value; the call falls through to its Groups handler,
    # which sets the instance's groups to the empty list and reports success. EC2 sets the
    # shutdown behaviour and leaves the groups alone.
    value = self._get_param("InstanceInitiatedShutdownBehavior.Value")
    if value is None:
        return _groups_handler(self)
    self.error_on_dryrun()
    instance = self.ec2_backend.get_instance(self._get_param("InstanceId"))
    instance.instance_initiated_shutdown_behavior = value
    return True


InstanceResponse._security_grp_instance_attribute_handler = _shutdown_behavior_or_groups


_HUB_OFF = "Account {account} is not subscribed to AWS Security Hub"


def _hub_enabled(account, region):
    from moto.securityhub.models import securityhub_backends

    return securityhub_backends[account][region].enabled


def _enable_hub(account, region):
    """Security Hub on in the account and region, as an account whose findings it keeps has it."""
    from moto.securityhub.models import securityhub_backends

    backend = securityhub_backends[account][region]
    if not backend.enabled:
        backend.enable_security_hub(enable_default_standards=False)


def _batch_update_findings(self, finding_identifiers, fields):
    # Divergence 4: moto's Security Hub keeps imported findings (BatchImportFindings,
    # GetFindings) but has no BatchUpdateFindings. Security Hub updates the customer's fields
    # of each finding it knows (Note, with its UpdatedBy and the time; Workflow.Status; ...),
    # leaves the provider's (UpdatedAt above all) as they were, and lists a finding it does not
    # know as unprocessed with FindingNotFound rather than failing the call.
    # Divergence 12 (with 6 below): Security Hub answers BatchUpdateFindings(V2) with
    # InvalidAccessException when the account has not enabled it in the region.
    if not self.enabled:
        raise SecurityHubClientError("InvalidAccessException", _HUB_OFF.format(account=self.account_id))
    statuses = {"NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"}
    note = fields.get("Note")
    if note is not None and not (note.get("Text") and note.get("UpdatedBy")):
        raise InvalidInputException(op="BatchUpdateFindings", msg="Note requires Text and UpdatedBy")
    status = (fields.get("Workflow") or {}).get("Status")
    if status is not None and status not in statuses:
        raise InvalidInputException(op="BatchUpdateFindings", msg=f"Invalid workflow status {status}")
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    processed, unprocessed = [], []
    for identifier in finding_identifiers or []:
        found = next(
            (
                f
                for f in self.findings
                if f.id == identifier.get("Id") and f.data.get("ProductArn") == identifier.get("ProductArn")
            ),
            None,
        )
        if found is None:
            unprocessed.append(
                {"FindingIdentifier": identifier, "ErrorCode": "FindingNotFound", "ErrorMessage": "Finding Not Found"}
            )
            continue
        data = found.data
        if note is not None:
            data["Note"] = {"Text": note["Text"], "UpdatedBy": note["UpdatedBy"], "UpdatedAt": now}
        if status is not None:
            data["Workflow"] = {"Status": status}
            data["WorkflowState"] = {"NOTIFIED": "ASSIGNED", "RESOLVED": "RESOLVED", "SUPPRESSED": "ARCHIVED"}.get(
                status, "NEW"
            )
        for key in ("VerificationState", "Confidence", "Criticality", "Types", "UserDefinedFields", "RelatedFindings"):
            if key in fields:
                data[key] = fields[key]
        if "Severity" in fields:
            data.setdefault("Severity", {}).update(fields["Severity"])
        data["ProcessedAt"] = now
        processed.append(identifier)
    return processed, unprocessed


def _batch_update_findings_response(self):
    body = json.loads(self.body or "{}")
    processed, unprocessed = self.securityhub_backend.batch_update_findings(body.get("FindingIdentifiers"), body)
    return json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})


SecurityHubBackend.batch_update_findings = _batch_update_findings
SecurityHubResponse.batch_update_findings = _batch_update_findings_response
securityhub_urls.url_paths["{0}/findings/batchupdate$"] = SecurityHubResponse.dispatch


# Divergence 6: the current Security Hub keeps OCSF findings, delivered by the AWS services
# that produce them (no import API), and updates them with BatchUpdateFindingsV2; moto (and
# its botocore) has neither. The harness delivers a finding as its producer would
# (`ocsf-finding`), reads it back (`ocsf-get`), and BatchUpdateFindingsV2 updates the
# customer's fields of each finding it knows (`status_id`, `comment`) and lists one it does
# not know as unprocessed with ResourceNotFoundException.
OCSF_FINDINGS = {}
OCSF_LOCK = threading.Lock()


def _batch_update_findings_v2(environ, start_response, account, region):
    stream = environ["wsgi.input"]
    raw = stream.getvalue() if isinstance(stream, io.BytesIO) else stream.read(int(environ.get("CONTENT_LENGTH") or 0))
    body = json.loads(raw or b"{}")
    if not _hub_enabled(account, region):
        start_response("401 Unauthorized", [("Content-Type", "application/json"), ("x-amzn-ErrorType", "InvalidAccessException")])
        return [json.dumps({"message": _HUB_OFF.format(account=account)}).encode()]
    status = body.get("StatusId")
    processed, unprocessed = [], []
    if status is not None and status not in (0, 1, 2, 3, 4, 5, 6, 99):
        start_response("400 Bad Request", [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ValidationException")])
        return [json.dumps({"message": f"invalid StatusId {status}"}).encode()]
    for uid in body.get("MetadataUids") or []:
        with OCSF_LOCK:
            finding = OCSF_FINDINGS.get((account, uid))
            if finding is None:
                unprocessed.append(
                    {"MetadataUid": uid, "ErrorCode": "ResourceNotFoundException", "ErrorMessage": "finding not found"}
                )
                continue
            if status is not None:
                finding["status_id"] = status
            if body.get("Comment") is not None:
                finding["comment"] = body["Comment"]
        processed.append({"MetadataUid": uid})
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}).encode()]


REFUSED_ROLES = set()
_moto_assume_role = STSBackend.assume_role


class _AssumeRoleDenied(_RESTError):
    """STS's refusal, in the Query protocol's error shape (moto's own AccessDeniedError nests
    it in <Errors>, as EC2 does, which the STS client cannot read)."""

    code = 403

    def __init__(self, role_arn):
        message = f"User is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        super().__init__("AccessDenied", message)
        self.description = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>AccessDenied</Code><Message>{message}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )


def _refuse_untrusted_roles(self, region_name, role_session_name, role_arn, *args, **kwargs):
    """moto: "the role does not need to exist"; AWS refuses AssumeRole of a role that does not
    exist or does not trust the caller. Role ARNs named by `refuse-role` are refused so."""
    if role_arn in REFUSED_ROLES:
        raise _AssumeRoleDenied(role_arn)
    return _moto_assume_role(self, region_name, role_session_name, role_arn, *args, **kwargs)


STSBackend.assume_role = _refuse_untrusted_roles


class Faults:
    """Fault rules by account, shared by the command reader and the injector."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accounts = {}

    def rules(self, account):
        return self.accounts.setdefault(
            account,
            {
                "rate": 0.0,
                "rng": random.Random(0),
                "deny": {},
                "count": 0,
                "latency": 0.0,
                "race_create": set(),
                "lose": {},
                "record": None,
                "serve_lock": threading.Lock(),
            },
        )


FAULTS = Faults()
_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/")


def _error_body(service, code, message):
    request_id = str(uuid.uuid4())
    if service == "ec2":
        return (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
    if service == "s3":
        return f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
    return (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )


def _throttle(service):
    if service == "ec2":
        return 503, "RequestLimitExceeded"
    if service == "s3":
        return 503, "SlowDown"
    return 400, "Throttling"


class FaultInjector:
    """WSGI middleware in front of the emulator: faults are answered before the request
    reaches it, as a throttled or failing AWS endpoint would, so nothing is half done."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not match:
            return self.app(environ, start_response)
        access_key, region, service = match.groups()
        from moto.iam.models import get_account_id_from

        account = get_account_id_from(access_key)
        with FAULTS.lock:
            rules = FAULTS.accounts.get(account)
            if not rules:
                return self.app(environ, start_response)
            params = self._params(environ, service)
            action = self._action(environ, service, params)
            fault = rules["deny"].get((service, action))
            if fault is None and rules["rate"] > 0 and rules["rng"].random() < rules["rate"]:
                fault = _throttle(service) if rules["rng"].random() < 0.5 else (500, "InternalError")
            if fault is not None:
                rules["count"] += 1
            race = (
                fault is None
                and service == "ec2"
                and action == "CreateSecurityGroup"
                and params.get("GroupName") in rules["race_create"]
            )
            if race:
                rules["race_create"].discard(params["GroupName"])
                rules["count"] += 1
            # REST protocols (Lambda) name the action by method and path, as the call recorder does.
            named = action or _rest_action(service, environ, "")
            lost = fault is None and not race and rules["lose"].get(named, 0) > 0
            if lost:
                rules["lose"][named] -= 1
                rules["count"] += 1
            latency = rules["latency"]
            record = rules["record"]
            serve_lock = rules["serve_lock"]
        if fault is None:
            # A network round trip of a fixed length, as a far endpoint adds to every call.
            time.sleep(latency)
            if race:
                try:
                    _create_group_first(account, region, params)
                except Exception as err:  # the request then goes on, unraced; the test sees it
                    print(f"race-create failed: {err!r}", file=sys.stderr, flush=True)
            if lost:
                return self._lose_answer(environ, start_response, record, serve_lock, service, action, params)
            if record is None:
                return self.app(environ, start_response)
            return self._serve_recorded(environ, start_response, record, serve_lock, service, action, params)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length and not isinstance(environ["wsgi.input"], io.BytesIO):
            environ["wsgi.input"].read(length)  # drain it, as a server answering early does
        status, code = fault
        body = _error_body(service, code, f"injected by the test harness ({action})").encode()
        reason = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error", 503: "Service Unavailable"}
        start_response(
            f"{status} {reason.get(status, 'Error')}",
            [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _lose_answer(self, environ, start_response, record, serve_lock, service, action, params):
        """The fault of `lose`: the request is carried out by the emulator and its answer
        dropped; the caller gets what a gateway answers when AWS's answer never came (504,
        no AWS error code), as when AWS acted and the answer was lost."""

        def ignore(status, headers, exc_info=None):
            return lambda _data: None

        if record is None:
            b"".join(self.app(environ, ignore))
        else:
            b"".join(self._serve_recorded(environ, ignore, record, serve_lock, service, action, params))
        start_response("504 Gateway Timeout", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]

    def _serve_recorded(self, environ, start_response, record, serve_lock, service, action, params):
        """Serves one request of a recorded account, alone, and records it once answered."""
        answered = {}

        def capture(status, headers, exc_info=None):
            answered["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        with serve_lock:
            body = list(self.app(environ, capture))
            record.append(
                {
                    "service": service,
                    "action": action,
                    "params": params if service != "s3" else {},
                    "status": answered.get("status", 0),
                }
            )
        return body

    @staticmethod
    def _params(environ, service):
        """The Query protocol's parameters (first value of each), from the query string and
        the form body; the body is read once and put back for the emulator."""
        params = {k: v[0] for k, v in urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).items()}
        if service == "s3":
            return params
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if "json" in environ.get("CONTENT_TYPE", ""):
            return params
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        params.update({k: v[0] for k, v in form.items()})
        return params

    @staticmethod
    def _action(environ, service, params):
        if service == "s3":
            method = environ.get("REQUEST_METHOD", "")
            has_key = len([p for p in environ.get("PATH_INFO", "").split("/") if p]) > 1
            if has_key:
                return {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(
                    method, method
                )
            return f"{method}Bucket"
        # Lambda's REST calls name none: its concurrency calls, by method, on their path.
        if service == "lambda" and environ.get("PATH_INFO", "").endswith("/concurrency"):
            method = environ.get("REQUEST_METHOD", "")
            return {"GET": "GetFunctionConcurrency", "PUT": "PutFunctionConcurrency",
                    "DELETE": "DeleteFunctionConcurrency"}.get(method, method)
        # JSON protocols (SQS, ...) name the action in a header instead.
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        return params.get("Action") or target.rsplit(".", 1)[-1]


def _create_group_first(account, region, params):
    """The race of `race-create`: the group the request asks for, created in the emulator
    just before the request reaches it, with the request's own VPC, description and tags."""
    from moto.ec2.models import ec2_backends

    tags = {}
    for key, value in params.items():
        spec = re.fullmatch(r"TagSpecification\.(\d+)\.Tag\.(\d+)\.Key", key)
        if spec:
            kind = params.get(f"TagSpecification.{spec[1]}.ResourceType")
            if kind == "security-group":
                tags[value] = params.get(f"TagSpecification.{spec[1]}.Tag.{spec[2]}.Value", "")
    description = params.get("GroupDescription") or params.get("Description") or "raced"
    backend = ec2_backends[account][region]
    backend.create_security_group(params["GroupName"], description, vpc_id=params.get("VpcId"), tags=tags)


# Divergence 5: AWS managed policies (AdministratorAccess, ...) exist in every account; moto
# has none unless it loads all of them (about 1,300, in every account, which is slow). Every
# account gets the few an attacker or a test attaches.
_FEW_MANAGED_POLICIES = ("AdministratorAccess", "ReadOnlyAccess", "IAMFullAccess", "PowerUserAccess")


def _few_aws_policies(self):
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy

    data = json.loads(aws_managed_policies_data)
    return [
        AWSManagedPolicy.from_data(name, self.account_id, self.region_name, data[name])
        for name in _FEW_MANAGED_POLICIES
        if name in data
    ]


def _patch_managed_policies():
    from moto.iam.models import IAMBackend
    from moto.settings import load_iam_aws_managed_policies

    if not load_iam_aws_managed_policies():
        IAMBackend._init_aws_policies = _few_aws_policies


_patch_managed_policies()


# Divergence 10: IAM caps a role's inline policies at 10,240 characters in all (whitespace not
# counted) and refuses a PutRolePolicy that would exceed it with LimitExceeded; moto keeps any
# number of any size.
_ROLE_INLINE_QUOTA = 10240


def _role_inline_quota():
    from moto.iam.exceptions import LimitExceededException
    from moto.iam.models import IAMBackend

    global _moto_put_role_policy
    put = _moto_put_role_policy = IAMBackend.put_role_policy

    def size(document):
        return len(re.sub(r"\s", "", document if isinstance(document, str) else json.dumps(document)))

    def put_role_policy(self, role_name, policy_name, policy_json):
        role = self.get_role(role_name)
        others = sum(size(d) for name, d in role.policies.items() if name != policy_name)
        if others + size(policy_json) > _ROLE_INLINE_QUOTA:
            raise LimitExceededException(
                f"Maximum policy size of {_ROLE_INLINE_QUOTA} bytes exceeded for role {role_name}"
            )
        return put(self, role_name, policy_name, policy_json)

    IAMBackend.put_role_policy = put_role_policy


_role_inline_quota()


# Divergence 11: CloudTrail's GetTrail answers the trail with its HomeRegion (the region whose
# endpoint StartLogging and UpdateTrail must be called in); moto's leaves it out (only its
# DescribeTrails has it). Answered from the trail's own region, as DescribeTrails does.
def _patch_get_trail_home_region():
    from moto.cloudtrail.responses import CloudTrailResponse

    def get_trail(self):
        trail = self.cloudtrail_backend.get_trail(self._get_param("Name"))
        return json.dumps({"Trail": trail.description(include_region=True)})

    CloudTrailResponse.get_trail = get_trail


_patch_get_trail_home_region()

# --- CloudTrail event history ----------------------------------------------------------------
# moto has no LookupEvents. Every signed request reaching moto (through either port) is
# recorded here as the management event CloudTrail logs for it, and LookupEvents is answered
# from that record as CloudTrail's event history answers: one lookup attribute, a time range,
# newest first, at most 50 a page with a NextToken, about 2 calls a second per account and
# region, management events only.

import base64
import hashlib
import json as _json

# Data events: never in event history (S3 object-level calls, SNS publishes, SQS messages,
# Lambda invocations).
_DATA_EVENTS = {
    "s3": {
        "ListObjects", "GetObject", "PutObject", "HeadObject", "DeleteObject", "DeleteObjects", "CopyObject",
        "GetObjectAcl", "PutObjectAcl", "GetObjectTagging", "PutObjectTagging", "GetObjectAttributes",
        "PostObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
        "AbortMultipartUpload", "GetObjectRetention", "GetObjectLegalHold", "RestoreObject",
    },
    "sns": {"Publish", "PublishBatch"},
    "sqs": {
        "SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch",
        "ChangeMessageVisibility", "ChangeMessageVisibilityBatch",
    },
    "lambda": {"Invoke", "InvokeAsync", "InvokeWithResponseStream"},
}
# The calls whose responseElements name what they created (never a secret).
_FOOTHOLD_RESPONSES = {
    "CreateAccessKey": ("AccessKeyId", "UserName", "Status", "CreateDate"),
    "CreateUser": ("UserName", "UserId", "Arn"),
    "CreateRole": ("RoleName", "RoleId", "Arn"),
    "CreateLoginProfile": ("UserName", "CreateDate"),
    "CreateVirtualMFADevice": ("SerialNumber",),
    "CreatePolicy": ("PolicyName", "PolicyId", "Arn"),
}
_READ_ONLY_PREFIXES = ("Get", "List", "Describe", "Head", "Lookup", "Search", "Check", "Simulate")
_RESOURCE_PARAMS = {
    "userName": "AWS::IAM::User",
    "roleName": "AWS::IAM::Role",
    "groupName": "AWS::IAM::Group",
    "policyArn": "AWS::IAM::Policy",
    "accessKeyId": "AWS::IAM::AccessKey",
    "bucketName": "AWS::S3::Bucket",
    "instanceId": "AWS::EC2::Instance",
    "groupId": "AWS::EC2::SecurityGroup",
    "keyId": "AWS::KMS::Key",
}
# Global services: their events are in us-east-1's event history only.
_GLOBAL_REGION = {"iam": "us-east-1", "sts": "us-east-1", "organizations": "us-east-1"}
_LOOKUP_KEYS = {
    "EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource", "AccessKeyId",
}
LOOKUP_RATE = 2  # calls a second per account and region, as CloudTrail allows


def _lower_camel(name):
    return name[:1].lower() + name[1:]


_MEMBER = re.compile(r"^([^.]+)\.member\.(\d+)(?:\.([^.]+))?$")


def _request_parameters(params):
    """A Query request's parameters as CloudTrail logs them: names in lower camel case, and a
    list (`Tags.member.1.Key=k`, `Tags.member.1.Value=v`) as a list (`"tags": [{"key": "k",
    "value": "v"}]`), as CloudTrail logs TagUser's or CreateUser's tags."""
    request, lists = {}, {}
    for key, value in params.items():
        if key in ("Action", "Version"):
            continue
        found = _MEMBER.match(key)
        if found is None:
            request[_lower_camel(key)] = value
            continue
        name, index, field = found[1], int(found[2]), found[3]
        items = lists.setdefault(_lower_camel(name), {})
        if field is None:
            items[index] = value
        else:
            items.setdefault(index, {})[_lower_camel(field)] = value
    for name, items in lists.items():
        request[name] = [items[i] for i in sorted(items)]
    return request


class EventHistory:
    """The recorded events by (account, region), oldest first, and LookupEvents' limits."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events = {}
        self.identities = {}
        self.calls = {}
        self.throttled = {}

    def throttle(self, account, count):
        with self.lock:
            if count == 0:
                self.throttled.pop(account, None)
            else:
                self.throttled[account] = count
        return "DONE"

    def identity(self, access_key, region):
        """Who signs with `access_key`: resolved once, before the call (which may delete it)."""
        with self.lock:
            known = self.identities.get(access_key)
        if known is not None:
            return known or None
        from moto.iam.models import get_account_id_from, iam_backends
        from moto.sts.models import sts_backends

        identity = None
        for account, backends in list(sts_backends.items()):
            backend = backends.get("aws") if hasattr(backends, "get") else None
            role = backend.get_assumed_role_from_access_key(access_key) if backend else None
            if role is not None:
                issuer = role.role_arn
                identity = {
                    "type": "AssumedRole",
                    "principalId": role.user_id,
                    "arn": role.arn,
                    "accountId": role.account_id,
                    "accessKeyId": access_key,
                    "sessionContext": {
                        "sessionIssuer": {
                            "type": "Role",
                            "arn": issuer,
                            "accountId": role.account_id,
                            "userName": issuer.rsplit("/", 1)[-1],
                        },
                        "attributes": {"creationDate": role.expiration.isoformat() + "Z", "mfaAuthenticated": "false"},
                    },
                    "_username": role.session_name,
                }
                break
        if identity is None:
            account = get_account_id_from(access_key)
            user = iam_backends[account]["aws"].get_user_from_access_key_id(access_key)
            # Not a key of any emulated principal (the harness's own): nothing is logged.
            identity = {} if user is None else {
                "type": "IAMUser",
                "principalId": user.id,
                "arn": user.arn,
                "accountId": account,
                "accessKeyId": access_key,
                "userName": user.name,
                "_username": user.name,
            }
        with self.lock:
            self.identities[access_key] = identity
        return identity or None

    def record(self, environ, service, region, action, params, identity, status, headers, body):
        if action in _DATA_EVENTS.get(service, ()) or not action:
            return
        request = _request_parameters(params)
        if service == "s3":
            request = {"bucketName": (environ.get("PATH_INFO", "/").strip("/").split("/") or [""])[0]}
        error_code = None
        if status >= 400:
            error_code = dict((k.lower(), v) for k, v in headers).get("x-amzn-errortype", "").split(":")[0] or None
            text = body.decode("utf-8", "replace")
            found = re.search(r"<Code>([^<]+)</Code>", text) or re.search(r'"__type"\s*:\s*"(?:[^"#]*#)?([^"]+)"', text)
            error_code = error_code or (found[1] if found else f"HTTP{status}")
        response = None
        if status < 400 and action in _FOOTHOLD_RESPONSES:
            text = body.decode("utf-8", "replace")
            response = {}
            for field in _FOOTHOLD_RESPONSES[action]:
                found = re.search(rf"<{field}>([^<]*)</{field}>", text)
                if found:
                    response[_lower_camel(field)] = found[1]
            response = {_lower_camel(action[len("Create") :]): response}
        now = datetime.datetime.now(datetime.timezone.utc)
        account = identity["accountId"]
        # Divergence 8: CloudTrail records the global services' events in the partition's
        # global region (us-east-1), whatever region the caller's client names.
        region = _GLOBAL_REGION.get(service, region)
        event_id = str(uuid.uuid4())
        resources = []
        for source in (request, *(response or {}).values()):
            for key, kind in _RESOURCE_PARAMS.items():
                named = {"ResourceType": kind, "ResourceName": source.get(key)}
                if isinstance(named["ResourceName"], str) and named["ResourceName"] and named not in resources:
                    resources.append(named)
        user_identity = {k: v for k, v in identity.items() if not k.startswith("_")}
        record = {
            "eventVersion": "1.09",
            "userIdentity": user_identity,
            "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": f"{service}.amazonaws.com",
            "eventName": action,
            "awsRegion": region,
            "sourceIPAddress": environ.get("REMOTE_ADDR", ""),
            "userAgent": environ.get("HTTP_USER_AGENT", ""),
            "requestParameters": request or None,
            "responseElements": response,
            "requestID": str(uuid.uuid4()),
            "eventID": event_id,
            "readOnly": action.startswith(_READ_ONLY_PREFIXES),
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
        }
        if error_code:
            record["errorCode"] = error_code
        event = {
            "EventId": event_id,
            "EventName": action,
            "ReadOnly": "true" if record["readOnly"] else "false",
            "AccessKeyId": identity["accessKeyId"],
            "EventTime": now.timestamp(),
            "EventSource": record["eventSource"],
            "Username": identity["_username"],
            "Resources": resources,
            "CloudTrailEvent": _json.dumps(record),
        }
        with self.lock:
            self.events.setdefault((account, region), []).append(event)

    def lookup(self, account, region, request):
        """LookupEvents' answer: (status, body)."""
        with self.lock:
            pending = self.throttled.get(account, 0)
            if pending:
                if pending > 0:
                    self.throttled[account] = pending - 1
                return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
            now = time.monotonic()
            calls = [t for t in self.calls.get((account, region), []) if now - t < 1.0]
            if len(calls) >= LOOKUP_RATE:
                self.calls[(account, region)] = calls
                return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
            calls.append(now)
            self.calls[(account, region)] = calls
            events = list(self.events.get((account, region), []))
        attributes = request.get("LookupAttributes") or []
        if len(attributes) > 1:
            return 400, {
                "__type": "InvalidLookupAttributesException",
                "message": "You cannot specify more than one lookup attribute.",
            }
        for attribute in attributes:
            if attribute.get("AttributeKey") not in _LOOKUP_KEYS or not attribute.get("AttributeValue"):
                return 400, {
                    "__type": "InvalidLookupAttributesException",
                    "message": f"Invalid lookup attribute {attribute.get('AttributeKey')!r}.",
                }
        limit = request.get("MaxResults", 50)
        if not isinstance(limit, int) or not 1 <= limit <= 50:
            return 400, {"__type": "InvalidMaxResultsException", "message": "MaxResults must be 1 to 50."}
        start, end = request.get("StartTime"), request.get("EndTime")
        if start is not None and end is not None and start > end:
            return 400, {"__type": "InvalidTimeRangeException", "message": "StartTime is after EndTime."}
        fingerprint = hashlib.sha256(
            _json.dumps([attributes, start, end, request.get("EventCategory")], sort_keys=True).encode()
        ).hexdigest()[:16]
        after = None
        if request.get("NextToken"):
            try:
                token_print, after = base64.urlsafe_b64decode(request["NextToken"]).decode().split(":", 1)
                assert token_print == fingerprint
            except Exception:
                return 400, {"__type": "InvalidNextTokenException", "message": "Invalid NextToken."}

        def matches(event):
            if start is not None and event["EventTime"] < start:
                return False
            if end is not None and event["EventTime"] > end:
                return False
            for attribute in attributes:
                key, value = attribute["AttributeKey"], attribute["AttributeValue"]
                if key in ("ResourceType", "ResourceName"):
                    if not any(r[key] == value for r in event["Resources"]):
                        return False
                elif event.get(key) != value:
                    return False
            return True

        newest_first = [e for e in reversed(events) if matches(e)]
        if after is not None:
            ids = [e["EventId"] for e in newest_first]
            if after not in ids:
                return 400, {"__type": "InvalidNextTokenException", "message": "Invalid NextToken."}
            newest_first = newest_first[ids.index(after) + 1 :]
        page = newest_first[:limit]
        answer = {"Events": page}
        if len(newest_first) > limit:
            answer["NextToken"] = base64.urlsafe_b64encode(f"{fingerprint}:{page[-1]['EventId']}".encode()).decode()
        return 200, answer


# S3's bucket subresources and the event names CloudTrail gives their calls, by method.
_S3_SUBRESOURCES = {
    "policy": ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    "acl": ("GetBucketAcl", "PutBucketAcl", None),
    "publicAccessBlock": ("GetPublicAccessBlock", "PutPublicAccessBlock", "DeletePublicAccessBlock"),
    "encryption": ("GetBucketEncryption", "PutBucketEncryption", "DeleteBucketEncryption"),
    "tagging": ("GetBucketTagging", "PutBucketTagging", "DeleteBucketTagging"),
    "versioning": ("GetBucketVersioning", "PutBucketVersioning", None),
    "location": ("GetBucketLocation", None, None),
    "notification": ("GetBucketNotification", "PutBucketNotification", None),
    "ownershipControls": ("GetBucketOwnershipControls", "PutBucketOwnershipControls", None),
    "lifecycle": ("GetBucketLifecycle", "PutBucketLifecycle", "DeleteBucketLifecycle"),
    "website": ("GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"),
}


def _s3_event_name(environ, params):
    """The CloudTrail event name of a path-style S3 request (object-level calls keep the
    fault injector's names: they are data events, left out)."""
    parts = [p for p in environ.get("PATH_INFO", "").split("/") if p]
    method = environ.get("REQUEST_METHOD", "")
    params = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if len(parts) > 1 or (method == "POST" and "delete" in params):
        if method == "POST":
            return "DeleteObjects"
        return FaultInjector._action(environ, "s3", params)
    if not parts:
        return "ListBuckets"
    for name, (get, put, delete) in _S3_SUBRESOURCES.items():
        if name in params:
            return {"GET": get, "PUT": put, "DELETE": delete}.get(method) or f"{method}Bucket"
    return {"GET": "ListObjects", "PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(
        method, f"{method}Bucket"
    )


EVENT_HISTORY = EventHistory()
_dispatch = DomainDispatcherApplication.__call__



# --- AWS Config configuration history --------------------------------------------------------
# Divergence 7: moto answers GetResourceConfigHistory with the current item only, for a few
# resource types (no EC2 instance or security group), and keeps no history. Here, in an account
# and region whose configuration recorder is recording (moto's own state), every EC2 instance,
# security group and S3 bucket gets a configuration item when recording starts and a new one
# whenever a request changes it (as AWS Config records a change); GetResourceConfigHistory for
# those types is answered from that record as AWS Config answers it: the items captured in a
# time range (earlierTime to laterTime, now by default), newest first unless
# chronologicalOrder is Forward, 10 a page by default and at most 100, with a nextToken;
# ResourceNotDiscoveredException for a resource never recorded, and
# NoAvailableConfigurationRecorderException in an account and region without a recorder.

_HISTORY_TYPES = ("AWS::EC2::Instance", "AWS::EC2::SecurityGroup", "AWS::S3::Bucket")


def _recorder(account, region):
    """The account and region's recorders: None without any, else whether one is recording."""
    from moto.config.models import config_backends

    recorders = list(config_backends[account][region].recorders.values())
    if not recorders:
        return None
    return any(r.status.recording for r in recorders)


def _tags(resource):
    return {t["key"]: t["value"] for t in resource.get_tags()}


def _rules(rules):
    return [
        {
            "ipProtocol": rule.ip_protocol,
            "fromPort": rule.from_port,
            "toPort": rule.to_port,
            "ipv4Ranges": [{"cidrIp": rule.ip_range["CidrIp"]}] if rule.ip_range.get("CidrIp") else [],
            "userIdGroupPairs": [{"groupId": rule.source_group["GroupId"]}] if rule.source_group.get("GroupId") else [],
        }
        for rule in rules
    ]


def _configurations(account, region):
    """(type, id) -> (arn, configuration, supplementary configuration, tags) for what AWS Config
    would record in the account and region now."""
    from moto.ec2.models import ec2_backends
    from moto.s3.models import s3_backends

    found = {}
    ec2 = ec2_backends[account][region]
    for instance in list(ec2.all_instances()):
        profile = instance.iam_instance_profile
        found[("AWS::EC2::Instance", instance.id)] = (
            f"arn:aws:ec2:{region}:{account}:instance/{instance.id}",
            {
                "instanceId": instance.id,
                "instanceType": instance.instance_type,
                "state": {"name": instance._state.name},
                "subnetId": instance.subnet_id,
                "iamInstanceProfile": {"arn": profile.get("Arn")} if isinstance(profile, dict) else None,
                "disableApiTermination": bool(instance.disable_api_termination),
                "networkInterfaces": [
                    {
                        "networkInterfaceId": nic.id,
                        "groups": [{"groupId": g.id, "groupName": g.name} for g in nic.group_set],
                        "privateIpAddress": nic.private_ip_address,
                        "association": {"publicIp": nic.public_ip} if nic.public_ip else None,
                    }
                    for _, nic in sorted(instance.nics.items())
                ],
            },
            {},
            _tags(instance),
        )
    for groups in list(ec2.groups.values()):
        for group in list(groups.values()):
            found[("AWS::EC2::SecurityGroup", group.id)] = (
                group.arn,
                {
                    "groupId": group.id,
                    "groupName": group.name,
                    "description": group.description,
                    "vpcId": group.vpc_id,
                    "ipPermissions": _rules(group.ingress_rules),
                    "ipPermissionsEgress": _rules(group.egress_rules),
                },
                {},
                _tags(group),
            )
    for bucket in list(s3_backends[account]["aws"].buckets.values()):
        if bucket.region_name != region:
            continue
        item = bucket.to_config_dict()
        supplementary = {
            k: v if isinstance(v, str) else _json.dumps(v) for k, v in item["supplementaryConfiguration"].items()
        }
        found[("AWS::S3::Bucket", bucket.name)] = (bucket.arn, item["configuration"], supplementary, item["tags"])
    return found


class ConfigHistory:
    """The configuration items recorded, by (account, region, type, id), oldest first."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = {}

    def capture(self, account, region):
        """A new item for each resource of the account and region whose configuration changed
        since its last item (ResourceDeleted for one that is gone), if a recorder records there."""
        if not _recorder(account, region):
            return
        now = time.time()
        with self.lock:
            current = _configurations(account, region)
            for (kind, resource_id), (arn, configuration, supplementary, tags) in current.items():
                history = self.items.setdefault((account, region, kind, resource_id), [])
                state = _json.dumps([configuration, supplementary, tags], sort_keys=True, default=str)
                if history and history[-1]["_state"] == state:
                    continue
                history.append(
                    {
                        "_state": state,
                        "version": "1.3",
                        "accountId": account,
                        "configurationItemCaptureTime": now,
                        "configurationItemStatus": "OK" if history else "ResourceDiscovered",
                        "configurationStateId": str(int(now * 1000)) + str(len(history)),
                        "configurationItemMD5Hash": "",
                        "arn": arn,
                        "resourceType": kind,
                        "resourceId": resource_id,
                        "resourceName": resource_id,
                        "awsRegion": region,
                        "tags": tags,
                        "relatedEvents": [],
                        "relationships": [],
                        "configuration": _json.dumps(configuration, default=str),
                        "supplementaryConfiguration": supplementary,
                    }
                )
            for (acct, reg, kind, resource_id), history in self.items.items():
                gone = (acct, reg) == (account, region) and (kind, resource_id) not in current
                if gone and history[-1]["configurationItemStatus"] != "ResourceDeleted":
                    history.append(
                        {
                            **history[-1],
                            "_state": None,
                            "configurationItemCaptureTime": now,
                            "configurationItemStatus": "ResourceDeleted",
                            "configuration": None,
                            "supplementaryConfiguration": {},
                        }
                    )

    def history(self, account, region, request):
        """GetResourceConfigHistory's answer: (status, body)."""
        kind, resource_id = request.get("resourceType"), request.get("resourceId")
        if _recorder(account, region) is None:
            return 400, {
                "__type": "NoAvailableConfigurationRecorderException",
                "message": "There are no configuration recorders available to provide the configuration. "
                "Create a configuration recorder first.",
            }
        with self.lock:
            items = list(self.items.get((account, region, kind, resource_id), []))
        if not items:
            return 400, {
                "__type": "ResourceNotDiscoveredException",
                "message": f"Resource {resource_id} of resourceType:{kind} is unknown or has not been discovered",
            }
        limit = int(request.get("limit") or 10)
        if not 0 < limit <= 100:
            return 400, {"__type": "InvalidLimitException", "message": f"Invalid limit {limit}: 0 to 100"}
        earlier = float(request.get("earlierTime", 0) or 0)
        later = float(request.get("laterTime", 0) or 0) or time.time()
        if earlier > later:
            return 400, {"__type": "InvalidTimeRangeException", "message": "earlierTime is after laterTime"}
        chosen = [i for i in items if earlier <= i["configurationItemCaptureTime"] <= later]
        if request.get("chronologicalOrder") != "Forward":
            chosen.reverse()
        token = request.get("nextToken")
        try:
            offset = int(base64.b64decode(token).decode()) if token else 0
        except ValueError:
            return 400, {"__type": "InvalidNextTokenException", "message": "The nextToken is not valid"}
        page = [{k: v for k, v in i.items() if not k.startswith("_")} for i in chosen[offset : offset + limit]]
        answer = {"configurationItems": page}
        if offset + limit < len(chosen):
            answer["nextToken"] = base64.b64encode(str(offset + limit).encode()).decode()
        return 200, answer


CONFIG_HISTORY = ConfigHistory()


def _json_answer(start_response, status, answer):
    """A JSON protocol answer: 200 with `answer`, or the error `answer["__type"]` names."""
    payload = _json.dumps(answer).encode()
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload)))]
    if status != 200:
        headers.append(("x-amzn-ErrorType", answer["__type"]))
    start_response(f"{status} {'OK' if status == 200 else 'Bad Request'}", headers)
    return [payload]


def _config_history(environ, start_response, account, region):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        status, answer = CONFIG_HISTORY.history(account, region, _json.loads(raw or b"{}"))
    except Exception as err:
        status, answer = 400, {"__type": "ValidationException", "message": repr(err)}
    return _json_answer(start_response, status, answer)


def _changes_configuration(service, action, status):
    """Whether an answered request may have changed what AWS Config records."""
    if status >= 400 or action.startswith(_READ_ONLY_PREFIXES):
        return False
    if service == "config":
        return action == "StartConfigurationRecorder"
    return service in ("ec2", "s3") and action not in _DATA_EVENTS["s3"]


def _recorded_dispatch(self, environ, start_response):
    """moto's dispatcher, with each signed request recorded as a CloudTrail event (LookupEvents
    answered from the record) and as the configuration changes AWS Config records
    (GetResourceConfigHistory answered from those)."""
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return _dispatch(self, environ, start_response)
    access_key, region, service = match.groups()
    params = FaultInjector._params(environ, service)
    action = _s3_event_name(environ, params) if service == "s3" else FaultInjector._action(environ, service, params)
    from moto.iam.models import get_account_id_from

    account = get_account_id_from(access_key)
    if service == "cloudtrail" and action == "LookupEvents":
        _record_answered_elsewhere(environ, service, region, action, access_key)
        return _lookup_events(environ, start_response, access_key, region)
    if service == "config" and action == "GetResourceConfigHistory":
        body = environ["wsgi.input"].getvalue() if isinstance(environ["wsgi.input"], io.BytesIO) else b""
        try:
            kind = _json.loads(body or b"{}").get("resourceType")
        except ValueError:
            kind = None
        if kind in _HISTORY_TYPES:
            _record_answered_elsewhere(environ, service, region, action, access_key)
            return _config_history(environ, start_response, account, region)
    if service == "securityhub" and environ.get("PATH_INFO", "").rstrip("/") == "/findingsv2/batchupdatev2":
        _record_answered_elsewhere(environ, service, region, action, access_key)
        return _batch_update_findings_v2(environ, start_response, account, region)
    try:
        identity = EVENT_HISTORY.identity(access_key, region)
    except Exception as err:  # recording never breaks a request
        print(f"cloudtrail identity failed: {err!r}", file=sys.stderr, flush=True)
        identity = None
    if identity is not None and "json" in environ.get("CONTENT_TYPE", "") and service != "s3":
        body = environ["wsgi.input"].getvalue() if isinstance(environ["wsgi.input"], io.BytesIO) else b""
        try:
            params = {k: v for k, v in _json.loads(body or b"{}").items() if isinstance(v, (str, int, bool))}
        except ValueError:
            pass
    try:
        prepared = CALLS.before(environ, service, region, action, params, access_key, identity)
    except Exception as err:  # recording never breaks a request
        print(f"calls record failed: {err!r}", file=sys.stderr, flush=True)
        prepared = None
    answered = {}

    def capture(status, headers, exc_info=None):
        answered["status"] = int(status.split()[0])
        answered["headers"] = headers
        return start_response(status, headers, exc_info)

    body = b"".join(_dispatch(self, environ, capture))
    status = answered.get("status", 0)
    CALLS.after(prepared, status, body)
    if identity is not None:
        try:
            EVENT_HISTORY.record(
                environ, service, region, action, params, identity, status, answered.get("headers", []), body,
            )
        except Exception as err:  # recording never breaks a request
            print(f"cloudtrail record failed: {err!r}", file=sys.stderr, flush=True)
    if _changes_configuration(service, action, status):
        try:
            CONFIG_HISTORY.capture(account, region)
        except Exception as err:  # recording never breaks a request
            print(f"config history capture failed: {err!r}", file=sys.stderr, flush=True)
    return [body]


def _record_answered_elsewhere(environ, service, region, action, access_key):
    """A function's call the launcher answers itself, recorded as IAM authorizes it."""
    try:
        identity = EVENT_HISTORY.identity(access_key, region)
        CALLS.after(CALLS.before(environ, service, region, action, {}, access_key, identity), 200, b"")
    except Exception as err:  # recording never breaks a request
        print(f"calls record failed: {err!r}", file=sys.stderr, flush=True)


def _lookup_events(environ, start_response, access_key, region):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    identity = EVENT_HISTORY.identity(access_key, region)
    from moto.iam.models import get_account_id_from

    account = identity["accountId"] if identity else get_account_id_from(access_key)
    try:
        request = _json.loads(raw or b"{}")
        status, answer = EVENT_HISTORY.lookup(account, region, request)
    except Exception as err:
        status, answer = 400, {"__type": "ValidationException", "message": repr(err)}
    if identity is not None and status == 200:
        EVENT_HISTORY.record(environ, "cloudtrail", region, "LookupEvents", {}, identity, 200, [], b"")
    return _json_answer(start_response, status, answer)


DomainDispatcherApplication.__call__ = _recorded_dispatch


DEPLOYED_ROLES = set()
_LAMBDA_TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
})


def _deploy_roles(account):
    """Each function's role in `account`, as template.yaml deploys it there (path, name, and its
    policies, each as an inline policy of the same name); once per account."""
    if account in DEPLOYED_ROLES:
        return "DONE"
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "scripts" / "iam"))
    from deployed import deployed
    from moto.iam.models import iam_backends

    backend = iam_backends[account]["aws"]
    for function, role in deployed(account, "us-east-1", [])["functions"].items():
        path, name = role["role"].split(":role", 1)[1].rsplit("/", 1)
        backend.create_role(name, _LAMBDA_TRUST, path + "/", None, f"Tourniquet {function}", [], "3600")
        # The template's managed policies, kept as inline policies of the role: past the inline
        # quota together, which managed policies are not held to.
        for policy in role["policies"]:
            _moto_put_role_policy(backend, name, policy["name"].replace("/", "-"), json.dumps(policy["policy"]))
    DEPLOYED_ROLES.add(account)
    return "DONE"


# Divergence 9: EventBridge matches a pattern that reaches into an array of objects (a Security
# Hub event's detail.findings) against the values of every element, as if each key held all of
# them; moto 5.2's matcher does not descend into arrays, so no Security Hub rule ever matched.
def _into_arrays(value):
    if isinstance(value, dict):
        return {k: _into_arrays(v) for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        merged = {}
        for item in value:
            for key, v in item.items():
                merged.setdefault(key, []).extend(v if isinstance(v, list) else [v])
        return {k: _into_arrays(vs) if all(isinstance(v, dict) for v in vs) else vs for k, vs in merged.items()}
    return value


_moto_matches_event = EventPattern.matches_event
EventPattern.matches_event = lambda self, event: _moto_matches_event(self, _into_arrays(event))
DEPLOYED_RULES = set()


def _deliver(account, region, event):
    """Puts `event` on the account's default bus in `region`, whose rules are template.yaml's
    (created on first use, each targeting a queue of the function it names); answers each
    (function, event as delivered) the rules deliver."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "scripts" / "iam"))
    from deployed import rules
    from moto.events.models import events_backends
    from moto.sqs.models import sqs_backends

    bus, queues = events_backends[account][region], sqs_backends[account][region]
    functions = set()
    for rule in rules(account, region):
        functions.add(rule["function"])
        if (account, region) in DEPLOYED_RULES:
            continue
        queue = f"tourniquet-rule-{rule['function']}"
        if queue not in queues.queues:
            queues.create_queue(queue)
        bus.put_rule(rule["name"], event_pattern=json.dumps(rule["pattern"]), state="ENABLED")
        bus.put_targets(rule["name"], None, [{"Id": "function", "Arn": f"arn:aws:sqs:{region}:{account}:{queue}"}])
    DEPLOYED_RULES.add((account, region))
    entry = {"Source": event.get("source", ""), "DetailType": event.get("detail-type", ""),
             "Detail": json.dumps(event.get("detail")), "Resources": event.get("resources", [])}
    bus.put_events([entry])
    delivered = []
    for function in sorted(functions):
        for message in queues.receive_message(f"tourniquet-rule-{function}", 10, 0, 30):
            delivered.append([function, json.loads(message.body)])
            queues.delete_message(f"tourniquet-rule-{function}", message.receipt_handle)
    return f"DONE {json.dumps(delivered)}"


def command(words):
    try:
        if words[:1] == ["faults"] and len(words) == 4:
            _, account, rate, seed = words
            with FAULTS.lock:
                rules = FAULTS.rules(account)
                rules["rate"] = float(rate)
                rules["rng"] = random.Random(int(seed))
            return "DONE"
        if words[:1] == ["deny"] and len(words) == 6:
            _, account, service, action, status, code = words
            with FAULTS.lock:
                FAULTS.rules(account)["deny"][(service, action)] = (int(status), code)
            return "DONE"
        if words[:1] == ["latency"] and len(words) == 3:
            _, account, millis = words
            with FAULTS.lock:
                FAULTS.rules(account)["latency"] = int(millis) / 1000
            return "DONE"
        if words[:1] == ["race-create"] and len(words) == 3:
            _, account, name = words
            with FAULTS.lock:
                FAULTS.rules(account)["race_create"].add(name)
            return "DONE"
        if words[:1] == ["lose"] and len(words) == 4:
            _, account, action, count = words
            with FAULTS.lock:
                FAULTS.rules(account)["lose"][action] = int(count)
            return "DONE"
        if words[:1] == ["record"] and len(words) == 2:
            with FAULTS.lock:
                rules = FAULTS.rules(words[1])
                if rules["record"] is None:
                    rules["record"] = []
            return "DONE"
        if words[:1] == ["served"] and len(words) == 2:
            with FAULTS.lock:
                rules = FAULTS.accounts.get(words[1])
                served = [] if rules is None or rules["record"] is None else rules["record"]
                if rules is not None and rules["record"] is not None:
                    rules["record"] = []
            return f"DONE {json.dumps(served)}"
        if words[:1] == ["ocsf-finding"] and len(words) >= 3:
            finding = json.loads(" ".join(words[2:]))
            # Delivered to a hub that is on, in the finding's region.
            _enable_hub(words[1], (finding.get("cloud") or {}).get("region") or "us-east-1")
            with OCSF_LOCK:
                OCSF_FINDINGS[(words[1], finding["metadata"]["uid"])] = finding
            return "DONE"
        if words[:1] == ["ocsf-get"] and len(words) == 3:
            with OCSF_LOCK:
                finding = OCSF_FINDINGS.get((words[1], words[2]))
            return f"DONE {json.dumps(finding)}"
        if words[:1] == ["deliver"] and len(words) >= 4:
            return _deliver(words[1], words[2], json.loads(" ".join(words[3:])))
        if words[:1] == ["deploy-roles"] and len(words) == 2:
            return _deploy_roles(words[1])
        if words[:1] == ["refuse-role"] and len(words) == 2:
            REFUSED_ROLES.add(words[1])
            return "DONE"
        if words[:1] == ["clear"] and len(words) == 2:
            with FAULTS.lock:
                rules = FAULTS.accounts.pop(words[1], None)
            return f"DONE {rules['count'] if rules else 0}"
        if words[:1] == ["leak-secret"] and len(words) == 3:
            from moto.iam.models import iam_backends

            _, account, key_id = words
            key = iam_backends[account]["aws"].access_keys.get(key_id)
            return f"DONE {key.secret_access_key}" if key else f"ERROR no access key {key_id} in {account}"
        if words[:1] == ["lookup-throttle"] and len(words) == 3:
            return EVENT_HISTORY.throttle(words[1], int(words[2]))
        if words[:1] == ["age-access-key"] and len(words) == 4:
            from moto.iam.models import iam_backends

            _, account, key_id, days = words
            backend = iam_backends[account]["aws"]
            for user in backend.users.values():
                for key in user.access_keys:
                    if key.access_key_id == key_id:
                        key.create_date = key.create_date - datetime.timedelta(days=int(days))
                        return "DONE"
            return f"ERROR no access key {key_id} in {account}"
        return f"ERROR unknown command {' '.join(words)!r}"
    except Exception as err:  # answered, never fatal: the emulator keeps serving
        return f"ERROR {err!r}"


def main():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    faulty = make_server(
        "127.0.0.1",
        0,
        FaultInjector(DomainDispatcherApplication(create_backend_app)),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    threading.Thread(target=faulty.serve_forever, daemon=True).start()
    print(f"READY {port} {faulty.server_address[1]}", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def watch_stdin():
        for line in sys.stdin:
            print(command(line.split()), flush=True)
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait()
    faulty.shutdown()
    server.stop()


if __name__ == "__main__":
    main()
