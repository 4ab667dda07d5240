// The judge both ways: a call the templates allow passes, calls they refuse are denied with why.

import assert from 'node:assert/strict'
import { test } from 'node:test'
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
