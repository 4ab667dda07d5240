// The judge both ways: a call the templates allow passes, calls they refuse are denied with why.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { judge } from './judge.mjs'

const HOME = '123456789012'
const MEMBER = '111122223333'
const group = (account, region = 'us-east-1') => [`arn:aws:ec2:${region}:${account}:security-group/sg-1`]
const call = (fn, account, region, action, resources, context = {}) => ({
  function: fn, account, region, action, resources, context
})

test('a call the template allows passes', async () => {
  const [judged, denied] = await judge([
    call('securityhub-responder', HOME, 'us-east-1', 'ec2:RevokeSecurityGroupEgress', group(HOME), {
      'aws:ResourceTag/tourniquet:role': 'isolation'
    }),
    call('guardduty-responder', HOME, 'us-east-1', 's3:PutObject', [
      'arn:aws:s3:::tourniquet-evidencebucket-1a2b3c/incidents/i-1/plan.json'
    ]),
    call('guardduty-responder', MEMBER, 'us-west-2', 'iam:PutUserPolicy', [`arn:aws:iam::${MEMBER}:user/deployer`])
  ])
  assert.equal(judged, 3)
  assert.deepEqual(denied, [])
})

test('a call the template refuses is denied, with the deciding statement', async () => {
  const [judged, denied] = await judge([
    // The conversion group is open to the world on purpose: posture never revokes its rules.
    call('securityhub-responder', HOME, 'us-east-1', 'ec2:RevokeSecurityGroupEgress', group(HOME), {
      'aws:ResourceTag/tourniquet:role': 'conversion'
    }),
    // No playbook of the Config responder edits a role.
    call('config-responder', HOME, 'us-east-1', 'iam:PutRolePolicy', [`arn:aws:iam::${HOME}:role/web`])
  ])
  assert.equal(judged, 2)
  assert.equal(denied.length, 2)
  assert.match(denied[0], /^securityhub-responder: ec2:RevokeSecurityGroupEgress .* denied by .*fix-posture:/)
  assert.match(denied[1], /^config-responder: iam:PutRolePolicy .*: no statement allows it$/)
})

test('a function assumes the member role of its organization, and nothing else', async () => {
  const assume = (fn, role, org = 'o-exampleorgid') =>
    call(fn, HOME, 'us-east-1', 'sts:AssumeRole', [role], {
      'aws:PrincipalOrgID': org,
      'aws:ResourceOrgID': org
    })
  const member = `arn:aws:iam::${MEMBER}:role/tourniquet-member`
  const [allowedJudged, allowed] = await judge([assume('guardduty-responder', member)])
  assert.equal(allowedJudged, 1)
  assert.deepEqual(allowed, [])
  const [judged, denied] = await judge([
    // Another organization's account: neither the function's policy nor the trust allows it.
    assume('guardduty-responder', member, 'o-otherorgid1'),
    // Another role of the member account: the functions may assume only the member role.
    assume('guardduty-responder', `arn:aws:iam::${MEMBER}:role/OrganizationAccountAccessRole`)
  ])
  assert.equal(judged, 2)
  assert.equal(denied.length, 2)
  assert.match(denied[0], /^guardduty-responder: sts:AssumeRole on .*role\/tourniquet-member/)
  assert.match(denied[1], /^guardduty-responder: sts:AssumeRole on .*OrganizationAccountAccessRole.*: no statement allows it$/)
})

test('the trust policy decides too: a role the member role does not trust is refused', async () => {
  // A call made as a role of the home account that member.yaml does not name (its policies
  // are the judge's own concern; here the function's, so only the trust can refuse).
  const [, denied] = await judge([
    {
      ...call('guardduty-responder', HOME, 'us-east-1', 'sts:AssumeRole', [`arn:aws:iam::${MEMBER}:role/tourniquet-member`], {
        'aws:PrincipalOrgID': 'o-exampleorgid',
        'aws:ResourceOrgID': 'o-exampleorgid',
        'aws:PrincipalArn': `arn:aws:iam::${HOME}:role/someone-else`
      })
    }
  ])
  assert.equal(denied.length, 1)
})

test('make iam CALLS=FILE: one line per denied call, the count, exit 1; exit 0 when all are allowed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'judge-'))
  const allowed = call('guardduty-responder', MEMBER, 'us-west-2', 'iam:PutUserPolicy', [`arn:aws:iam::${MEMBER}:user/deployer`])
  const refused = call('config-responder', HOME, 'us-east-1', 'iam:PutRolePolicy', [`arn:aws:iam::${HOME}:role/web`])
  const run = (calls) => {
    const file = join(dir, `${calls.length}.jsonl`)
    writeFileSync(file, calls.map((c) => JSON.stringify(c) + '\n').join(''))
    return spawnSync(process.execPath, [fileURLToPath(new URL('./judge.mjs', import.meta.url)), file], { encoding: 'utf8' })
  }
  const bad = run([allowed, refused])
  assert.equal(bad.status, 1, bad.stderr)
  assert.deepEqual(bad.stdout.trim().split('\n'), [
    `config-responder: iam:PutRolePolicy on arn:aws:iam::${HOME}:role/web in ${HOME}: no statement allows it`,
    '2 calls judged, 1 denied'
  ])
  const good = run([allowed])
  assert.equal(good.status, 0, good.stderr)
  assert.equal(good.stdout.trim(), '1 calls judged, 0 denied')
})
