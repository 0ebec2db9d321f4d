// Evaluates IAM requests with @cloud-copilot/iam-simulate (pinned in package.json): identity and
// resource policies, conditions, same- and cross-account rules, KMS key-policy trust.
// stdin: one JSON array per line of {id, principal, action, resource, resourceAccount, context, identityPolicies,
// permissionBoundary, resourcePolicy, vpcEndpointPolicy}; stdout: for each, one line with a JSON array of {id, result, errors} in the
// same order, until stdin closes (the simulator and its IAM data load once, ~0.3 s, for all of a process's evaluations).
// Used by fidelity/iam.py; a request the simulator rejects as malformed comes back with result "Error".
import readline from 'node:readline'
import { runSimulation } from '@cloud-copilot/iam-simulate'

async function simulate(requests) {
  const results = []
  for (const r of requests) {
    const simulation = {
      identityPolicies: r.identityPolicies.map((policy, i) => ({ name: `policy-${i}`, policy })),
      permissionBoundaryPolicies: r.permissionBoundary ? [{ name: 'boundary', policy: r.permissionBoundary }] : undefined,
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
  return results
}

for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim()) process.stdout.write(JSON.stringify(await simulate(JSON.parse(line))) + '\n')
}
