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
  refuse-role <role-arn>
    on both ports, AssumeRole of that role is refused with 403 AccessDenied, as AWS refuses a
    role that does not exist or does not trust the caller (a member account without the
    member role). moto otherwise lets anyone assume any role ARN, existing or not.
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

from moto.ec2.exceptions import EC2ClientError
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
from moto.securityhub.exceptions import InvalidInputException
from moto.securityhub.models import SecurityHubBackend
from moto.securityhub.responses import SecurityHubResponse
from moto.server import ThreadedMotoServer
from moto.sts.models import STSBackend
from werkzeug.serving import make_server


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


def _batch_update_findings(self, finding_identifiers, fields):
    # Divergence 4: moto's Security Hub keeps imported findings (BatchImportFindings,
    # GetFindings) but has no BatchUpdateFindings. Security Hub updates the customer's fields
    # of each finding it knows (Note, with its UpdatedBy and the time; Workflow.Status; ...),
    # leaves the provider's (UpdatedAt above all) as they were, and lists a finding it does not
    # know as unprocessed with FindingNotFound rather than failing the call.
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
        if words[:1] == ["refuse-role"] and len(words) == 2:
            REFUSED_ROLES.add(words[1])
            return "DONE"
        if words[:1] == ["clear"] and len(words) == 2:
            with FAULTS.lock:
                rules = FAULTS.accounts.pop(words[1], None)
            return f"DONE {rules['count'] if rules else 0}"
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
