#!/usr/bin/env python3
"""Checks template.yaml and member.yaml against the sample events and each other.

Run from anywhere as `.venv/bin/python scripts/check_template.py` (it needs cfn-lint and moto,
both in the project venv). Three kinds of check:

Event routing. Every EventBridge rule pattern in the template is evaluated against every
sample in events/ with moto's EventBridge pattern matcher, the code moto's own rules route
events with (moto 5.2's TestEventPattern API answers without a result, so it cannot be used).
  - An EventBridge envelope (it has "source" and "detail-type") matches no rule of another
    function. It matches its own function's rule, unless the rule deliberately leaves it
    out: then the check names the field of the rule that excludes it ("not routed (...)").
    A sample whose source the rule does not take at all is in the wrong folder: a failure.
  - Every folder routes at least one of its envelopes to its function.
  - A bare event (no envelope) and anything in events/manual match no rule.

IAM. No role allows Action "*" (or <service>:*) or uses NotAction, and every policy a role
has is in its template. Whether a role allows the calls its function makes is `make iam`'s
to judge: the calls the suite and the drill record, with an IAM policy simulator.

Organization. member.yaml's role is what every function acts through in a member account. Its
trust names exactly the template's function roles; every function role may assume it
(MemberAccessPolicy); member.yaml forwards with the home rules' patterns to the bus
template.yaml defines, whose rules route with the default bus's patterns; every function has
the organization settings.

Prints one line per check and ends with "N passed, M failed"; exits 1 if M > 0.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from cfnlint.decode import decode_str
from moto.events.models import EventPattern

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
MEMBER_TEMPLATE = ROOT / "member.yaml"
EVENTS = ROOT / "events"

ALL = ["guardduty-responder", "config-responder", "alarm-responder", "quarantine-release", "securityhub-responder"]

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
    "malware-protection": "guardduty-responder",
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
# IAM: what a role holds (which calls it allows is `make iam`'s to judge)
# ---------------------------------------------------------------------------

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


def role_of(props: dict) -> str | None:
    role = props.get("Role")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        return target[0] if isinstance(target, list) else target.split(".")[0]
    return None


def check_roles(checks: Checks, template: dict) -> None:
    """No function role allows everything; every one of its policies is in the template."""
    fns = functions(template)
    for fn in ALL:
        role_id = role_of(fns[fn][1]) if fn in fns else None
        if role_id is None:
            checks.check(False, f"{fn}: a function with a role of the template")
            continue
        statements, unreadable = role_statements(template, role_id)
        star = star_statements(statements)
        checks.check(not star and not unreadable, f"{fn}: {role_id}: every policy is in the template and none allows Action \"*\" (or <service>:*) or uses NotAction"
                     + (f" ({', '.join(star + unreadable)})" if star or unreadable else ""))


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


def check_organization(checks: Checks, template: dict) -> None:
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
    checks = Checks()
    template = load_template()
    print("== event routing (template rules x events/)")
    check_routing(checks, template)
    print("== IAM (no role allows everything; make iam judges the calls)")
    check_roles(checks, template)
    print("== organization (settings, member.yaml's role and forwarding, the organization bus)")
    check_settings(checks, template)
    check_organization(checks, template)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
