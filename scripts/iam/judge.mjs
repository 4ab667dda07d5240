// Judges recorded AWS calls as IAM would, against the templates as deployed (make iam).
//
// Usage: node scripts/iam/judge.mjs FILE...  (one JSON call a line, see docs in the README)
// Each call: {"function", "account", "region", "action", "resources", "context"}, and
// optionally "resource_context" (context keys of one resource: {arn: {key: value}}), "home" (the account template.yaml is deployed in; default 123456789012) and
// "stack_region" (its region; default us-east-1). In the home account a call is made by the
// function's own role; in any other account by member.yaml's role. Prints one line per denied
// call and resource, then "N calls judged, M denied"; exits 1 when M > 0.

import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const here = dirname(fileURLToPath(import.meta.url))
const python = process.env.TOURNIQUET_PYTHON || join(here, '..', '..', '.venv', 'bin', 'python')
const HOME = '123456789012'
const STACK_REGION = 'us-east-1'

/** The deployments of several home accounts ([home, region, [member...]] each), resolved in
 * one process (the SAM transform runs once per region). */
function deployments(wanted) {
  const out = execFileSync(python, [join(here, 'deployed.py'), '-'], {
    input: JSON.stringify(wanted),
    maxBuffer: 1024 * 1024 * 1024
  })
  return JSON.parse(out)
}

/** Whether an ARN pattern with * and ? matches `arn`. */
function matches(pattern, arn) {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${re}$`).test(arn)
}

/** The account a resource ARN belongs to (S3 ARNs name none: the caller's). */
function resourceAccount(arn, fallback) {
  const account = arn.split(':')[4]
  return account && /^\d{12}$/.test(account) ? account : fallback
}

/** The evidence bucket's or the key's policy, when the resource is one of them. */
function resourcePolicy(resources, arn) {
  for (const [pattern, policy] of Object.entries(resources)) {
    const bucket = pattern.startsWith('arn:aws:s3:::')
    if (matches(pattern, arn) || (bucket && matches(`${pattern}/*`, arn))) return policy
  }
  return undefined
}

/** The trust policy of the member role `arn` names, when it is one (else none: denied). */
function trustPolicy(deployed, arn) {
  const member = deployed.members[resourceAccount(arn, '')]
  return member && member.role === arn ? member.trust ?? undefined : undefined
}

/** The simulator's answer to `role` making `call` on `resource` with `context`. */
function simulate(role, call, resource, context, resourcePolicy) {
  return runSimulation(
    {
      request: {
        principal: role.role,
        action: call.action,
        resource: { resource, accountId: resourceAccount(resource, call.account) },
        contextVariables: context
      },
      identityPolicies: role.policies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy
    },
    {}
  )
}

/** Why the simulator refused: the deciding statement, or that none allows it. */
function why(result) {
  const analysis = result?.analysis ?? {}
  const denies = [
    ...(analysis.identityAnalysis?.denyStatements ?? []),
    ...(analysis.resourceAnalysis?.denyStatements ?? [])
  ]
  if (denies.length > 0) {
    return denies.map((s) => `denied by ${s.policyId}:${s.statement.sid() ?? '?'}`).join(', ')
  }
  return 'no statement allows it'
}

/** Judges every call of `lines`; returns [judged, denied lines]. */
export async function judge(calls) {
  const byHome = new Map()
  for (const call of calls) {
    const key = `${call.home ?? HOME} ${call.stack_region ?? STACK_REGION}`
    if (!byHome.has(key)) byHome.set(key, new Set())
    if (call.account !== (call.home ?? HOME)) byHome.get(key).add(call.account)
    // A member role assumed: its trust policy is the member template's.
    for (const resource of call.action === 'sts:AssumeRole' ? call.resources ?? [] : []) {
      const account = resourceAccount(resource, call.account)
      if (account !== (call.home ?? HOME)) byHome.get(key).add(account)
    }
  }
  const keys = [...byHome.keys()]
  const resolved = deployments(keys.map((key) => [...key.split(' '), [...byHome.get(key)]]))
  const deployed_ = new Map(keys.map((key, i) => [key, resolved[i]]))
  // The same question of the same policies has the same answer: asked once.
  const answers = new Map()
  const denied = []
  for (const call of calls) {
    const home = call.home ?? HOME
    const deployed = deployed_.get(`${home} ${call.stack_region ?? STACK_REGION}`)
    const role = call.account === home ? deployed.functions[call.function] : deployed.members[call.account]
    if (!role) {
      denied.push(`${call.function}: ${call.action}: no role for this function in ${call.account}`)
      continue
    }
    const context = {
      'aws:PrincipalArn': role.role,
      'aws:PrincipalAccount': call.account,
      'aws:RequestedRegion': call.region,
      'aws:SecureTransport': 'true',
      ...(call.context ?? {})
    }
    for (const resource of call.resources?.length ? call.resources : ['*']) {
      const resourceArn = resource
      const resourceContext = { ...context, ...(call.resource_context?.[resource] ?? {}) }
      const policy = call.action === 'sts:AssumeRole'
        ? trustPolicy(deployed, resourceArn)
        : call.account === home
          ? resourcePolicy(deployed.resources, resourceArn)
          : undefined
      const question = JSON.stringify([home, call.account, call.function, call.action, resourceArn, resourceContext])
      if (!answers.has(question)) answers.set(question, await simulate(role, call, resourceArn, resourceContext, policy))
      const response = answers.get(question)
      if (response.resultType === 'error') {
        denied.push(`${call.function}: ${call.action} on ${resourceArn}: cannot judge: ${JSON.stringify(response.errors)}`)
        break
      }
      if (response.overallResult !== 'Allowed') {
        const result =
          response.resultType === 'single'
            ? response.result
            : response.results.find((r) => r.analysis?.result !== 'Allowed') ?? {}
        denied.push(`${call.function}: ${call.action} on ${resourceArn} in ${call.account}: ${why(result)}`)
        break
      }
    }
  }
  return [calls.length, denied]
}

/** The calls of a JSON-lines file. */
export function readCalls(file) {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = process.argv.slice(2)
  if (files.length === 0) {
    console.error('usage: judge.mjs FILE...')
    process.exit(2)
  }
  const [judged, denied] = await judge(files.flatMap(readCalls))
  for (const line of denied) console.log(line)
  console.log(`${judged} calls judged, ${denied.length} denied`)
  process.exit(denied.length > 0 ? 1 : 0)
}
