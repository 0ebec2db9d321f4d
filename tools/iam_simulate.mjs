// Evaluates IAM requests with @cloud-copilot/iam-simulate (pinned in package.json): identity and
// resource policies, conditions, same- and cross-account rules, KMS key-policy trust.
// stdin: a JSON array of {id, principal, action, resource, resourceAccount, context, identityPolicies,
// resourcePolicy, vpcEndpointPolicy}; stdout: a JSON array of {id, result, errors, decisive} in the same order.
// Used by fidelity/iam.py; a request the simulator rejects as malformed comes back with result "Error".
import { runSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const requests = JSON.parse(Buffer.concat(chunks).toString('utf8'))

const results = []
for (const r of requests) {
  const simulation = {
    identityPolicies: r.identityPolicies.map((policy, i) => ({ name: `policy-${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: r.resourcePolicy ?? undefined,
    vpcEndpointPolicies: r.vpcEndpointPolicy ? [{ name: 'vpc-endpoint', policy: r.vpcEndpointPolicy }] : undefined,
    request: {
      principal: r.principal,
      action: r.action,
      resource: { resource: r.resource, accountId: r.resourceAccount },
      contextVariables: r.context ?? {}
    }
  }
  let response
  try {
    response = await runSimulation(simulation, {})
  } catch (error) {
    results.push({ id: r.id, result: 'Error', errors: String(error) })
    continue
  }
  if (response.resultType === 'error') {
    results.push({ id: r.id, result: 'Error', errors: response.errors })
  } else {
    results.push({ id: r.id, result: response.overallResult })
  }
}
process.stdout.write(JSON.stringify(results))
