"""`make deploy-local` / `make destroy-local`: the pinned CDK CLI bootstraps and deploys every dev stack into moto's
server on 127.0.0.1, the result is checked stack by stack and parameter by parameter, the training pipelines are
started, and everything is destroyed again, retained resources kept. The stage synthesized once per session is what
is deployed.

moto limitations the run works around (fidelity/moto_adapt.py, tools/deploy_local.py), each asserted below or in
tests/test_deploy_smoke.py: types moto skips (MOTO_SKIPS, references to them become placeholders); KMS key tags, SSM
parameter tags and unnamed ECR repositories adapted; --method=direct (change sets break on update); every stack's
status and every published SSM parameter checked (a moto crash reaches the CLI as AlreadyExistsException after an
SDK retry); state machines made by CloudFormation do not execute (a copy runs) and .sync integrations stop the run
at the first job; Lambdas are not invoked (they would need Docker); the environment stack cannot be deleted (moto
keeps the VPC endpoints), so destroy deletes all but that one.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "deploy_local.py"), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_deploy_local_round_trip(dev, tmp_path):
    state = tmp_path / "local-deploy"
    deployed = _tool("deploy", "--assembly", str(dev.outdir), "--state-dir", str(state))
    try:
        print(deployed.stdout)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr[-3000:]
        stacks, parameters = (
            len(dev.templates()),
            sum(1 for t in dev.templates().values() for r in t["Resources"].values() if r["Type"] == "AWS::SSM::Parameter"),
        )
        assert f"{stacks} stacks CREATE_COMPLETE, {parameters} SSM parameters published and checked" in deployed.stdout
        assert "cdk bootstrap: exit 0" in deployed.stdout and "cdk deploy --all: exit 0" in deployed.stdout
        started = re.findall(
            r"pipeline (\S+): execution accepted \(RUNNING\); run in moto's interpreter: HasTrigger -> HasImageDigest -> UnknownImageDigest -> PrepareRun -> NameJobs",
            deployed.stdout,
        )
        assert len(started) == len(dev.stage.pipelines)
        assert json.loads((state / "server.json").read_text())["port"] > 0
        again = _tool("deploy", "--assembly", str(dev.outdir), "--state-dir", str(state))
        assert again.returncode == 2 and "make destroy-local" in again.stderr  # one local deployment at a time
    finally:
        destroyed = _tool("destroy", "--state-dir", str(state))
    print(destroyed.stdout)
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr[-3000:]
    assert f"{stacks - 1} of {stacks} stacks deleted" in destroyed.stdout  # moto cannot delete the VPC (the environment stack)
    kept = re.search(r"retained after destroy: (\d+) of (\d+) buckets and repositories", destroyed.stdout)
    assert kept and kept.group(1) == kept.group(2) and int(kept.group(2)) >= 10
    assert not (state / "server.json").exists()


def test_deploy_local_needs_an_assembly(tmp_path):
    result = _tool("deploy", "--assembly", str(tmp_path), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2 and "must be a synthesized stage assembly" in result.stderr and "Traceback" not in result.stderr
