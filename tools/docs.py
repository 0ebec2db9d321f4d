"""The docs' pictures, generated from what the code synthesizes, never drawn by hand (``make docs``).

- ``docs/pictures/architecture``: the stage's stacks from the synthesized cloud assembly (``manifest.json`` and each
  template), grouped by what they are per (the stage, each project, each user, each sandbox), each with its main
  resources, and an arrow for each pair of stacks that hand values over through SSM parameters (the publisher's
  ``AWS::SSM::Parameter`` read by the other's SSM-typed parameter or ``{{resolve:ssm:...}}``), labelled with how many.
- ``docs/pictures/training-pipeline``: the training pipeline's state machine from its Step Functions definition: a node
  per state, an arrow per transition (``Next``, ``Default``, each choice; a dashed red one per ``Catch``), Map and
  Parallel states' inner states in a box.

Both are Graphviz graphs built with pydot: the ``.dot`` source is what ``tests/test_docs.py`` compares with a
fresh synthesis; the ``.svg`` beside it is rendered from that source by Graphviz's ``dot`` (Debian's ``graphviz``
package) and carries the source's SHA-256, so a picture out of date with its source fails the test too.

Run: ``python tools/docs.py <assembly dir> [--out docs/pictures] [--check]`` (``make docs`` synthesizes dev first).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pydot

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "pictures"
PICTURES = ("architecture", "training-pipeline")
STAMP = re.compile(r"<!-- dot source sha256: ([0-9a-f]{64}) -->")

# What a stack's box lists: the resources a reader looks for, in this order (the rest are IAM, policies, log groups...).
MAIN = {
    "AWS::EC2::VPC": ("VPC", "VPCs"),
    "AWS::EC2::VPCEndpoint": ("VPC endpoint", "VPC endpoints"),
    "AWS::SageMaker::Domain": ("Studio domain", "Studio domains"),
    "AWS::SageMaker::UserProfile": ("Studio user profile", "Studio user profiles"),
    "AWS::KMS::Key": ("KMS key", "KMS keys"),
    "AWS::S3::Bucket": ("S3 bucket", "S3 buckets"),
    "AWS::ECR::Repository": ("ECR repository", "ECR repositories"),
    "AWS::SageMaker::ModelPackageGroup": ("model package group", "model package groups"),
    "AWS::SageMaker::MlflowApp": ("MLflow app", "MLflow apps"),
    "AWS::SageMaker::MlflowTrackingServer": ("MLflow tracking server", "MLflow tracking servers"),
    "AWS::SNS::Topic": ("alert topic", "SNS topics"),
    "AWS::Budgets::Budget": ("budget", "budgets"),
    "AWS::StepFunctions::StateMachine": ("state machine", "state machines"),
    "AWS::Lambda::Function": ("Lambda function", "Lambda functions"),
    "AWS::Events::Rule": ("EventBridge rule", "EventBridge rules"),
    "AWS::SQS::Queue": ("SQS queue", "SQS queues"),
    "AWS::SageMaker::Endpoint": ("SageMaker endpoint", "SageMaker endpoints"),
    "AWS::ApiGateway::RestApi": ("REST API", "REST APIs"),
    "AWS::CloudWatch::Alarm": ("alarm", "alarms"),
    "AWS::CloudWatch::Dashboard": ("dashboard", "dashboards"),
    "AWS::ServiceCatalog::Portfolio": ("Service Catalog portfolio", "Service Catalog portfolios"),
    "AWS::ServiceCatalog::CloudFormationProduct": ("Service Catalog product", "Service Catalog products"),
    "AWS::IAM::Role": ("IAM role", "IAM roles"),
    "AWS::SSM::Parameter": ("SSM parameter", "SSM parameters"),
}
# What a stack is per: <prefix>-<stage>-<kind>[-<name>] (config.naming.Names.stack)
PER = {
    "project": "project",
    "pipeline": "project",
    "endpoint": "project",
    "batch": "project",
    "dashboard": "project",
    "user": "user",
    "sandbox": "sandbox",
}
_RESOLVE = re.compile(r"\{\{resolve:ssm:([^}:]+)(?::\d+)?\}\}")


def _stacks(assembly: Path) -> dict[str, dict]:
    """Stack name -> its template, in the manifest's order."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    out = {}
    for artifact in manifest["artifacts"].values():
        if artifact["type"] == "aws:cloudformation:stack":
            props = artifact["properties"]
            out[props.get("stackName") or artifact["displayName"]] = json.loads((assembly / props["templateFile"]).read_text())
    return out


def _published(template: dict) -> set[str]:
    names = set()
    for resource in template.get("Resources", {}).values():
        name = resource.get("Properties", {}).get("Name") if resource["Type"] == "AWS::SSM::Parameter" else None
        if isinstance(name, str):
            names.add(name)
    return names


def _read(template: dict) -> set[str]:
    names = {p["Default"] for p in template.get("Parameters", {}).values() if "SSM" in p.get("Type", "") and isinstance(p.get("Default"), str)}
    names |= set(_RESOLVE.findall(json.dumps(template.get("Resources", {}))))
    return {n for n in names if not n.startswith("/cdk-bootstrap/")}


def _group(stack: str, base: str) -> tuple[str, str]:
    """(cluster id, cluster label) of a stack by what it is per."""
    rest = stack.removeprefix(f"{base}-")
    kind, _, name = rest.partition("-")
    per = PER.get(kind)
    if per is None or not name:
        return "stage", f"the stage ({base}): one each"
    if per == "sandbox":
        return "sandboxes", "per sandbox (a user in a project)"
    return f"{per}_{name}", f"per {per}: {name}"


def _box(stack: str, template: dict) -> str:
    counts = Counter(r["Type"] for r in template.get("Resources", {}).values())
    lines = [f"{n} {plural}" if n > 1 else single for kind, (single, plural) in MAIN.items() if (n := counts.get(kind, 0))]
    return "\\l".join([stack, *(f"  {line}" for line in lines)]) + "\\l"  # left-aligned lines


def architecture(assembly: Path) -> pydot.Dot:
    stacks = _stacks(assembly)
    base = "-".join(next(iter(stacks)).split("-")[:2])  # <prefix>-<stage>, from the first stack (the environment's)
    graph = pydot.Dot("architecture", graph_type="digraph", rankdir="LR", fontname="Helvetica", fontsize="11", compound="true")
    graph.set_node_defaults(shape="box", style="rounded", fontname="Helvetica", fontsize="10")
    graph.set_edge_defaults(fontname="Helvetica", fontsize="9", color="#555555")
    clusters: dict[str, pydot.Cluster] = {}
    for stack, template in stacks.items():
        cid, label = _group(stack, base)
        if cid not in clusters:
            clusters[cid] = pydot.Cluster(cid, label=label, style="rounded", color="#888888", fontname="Helvetica", fontsize="11")
            graph.add_subgraph(clusters[cid])
        clusters[cid].add_node(pydot.Node(_id(stack), label=_box(stack, template)))
    publisher = {name: stack for stack, template in stacks.items() for name in _published(template)}
    pairs = Counter((publisher[name], stack) for stack, template in stacks.items() for name in _read(template) if name in publisher)
    for (source, target), n in sorted(pairs.items()):
        if source != target:
            graph.add_edge(pydot.Edge(_id(source), _id(target), label=f"SSM x{n}"))
    return graph


def _id(name: str) -> str:
    return '"' + name.replace('"', "") + '"'


def _definition(template: dict) -> dict:
    """The training pipeline's state machine definition, its tokens (ARNs, names) as ``<token>``."""
    (machine,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    definition = machine["Properties"]["DefinitionString"]
    if isinstance(definition, dict):
        definition = "".join(p if isinstance(p, str) else "<token>" for p in definition["Fn::Join"][1])
    return json.loads(definition)


SHAPES = {
    "Choice": "diamond",
    "Succeed": "doublecircle",
    "Fail": "octagon",
    "Pass": "ellipse",
    "Wait": "ellipse",
    "Map": "box3d",
    "Parallel": "box3d",
}


def _states(graph: pydot.Dot | pydot.Cluster, states: dict, prefix: str, root: pydot.Dot) -> None:
    for name, state in states.items():
        node = f"{prefix}{name}"
        kind = state["Type"]
        resource = state.get("Resource", "")
        what = resource.split(":::", 1)[1].replace(".sync", " (wait)") if ":::" in resource else ""  # the service integration
        label = f"{name}\\n{what}" if what else name
        graph.add_node(pydot.Node(_id(node), label=label, shape=SHAPES.get(kind, "box"), style="rounded" if kind == "Task" else ""))
        inner = []
        if kind == "Map":
            inner = [state.get("ItemProcessor") or state.get("Iterator")]
        elif kind == "Parallel":
            inner = state.get("Branches", [])
        for i, body in enumerate(b for b in inner if b):
            cluster = pydot.Cluster(_cid(f"{node}_{i}"), label=f"{name}: {'each item' if kind == 'Map' else f'branch {i + 1}'}", style="dashed")
            graph.add_subgraph(cluster)
            _states(cluster, body["States"], f"{node}/{i}/", root)
            root.add_edge(pydot.Edge(_id(node), _id(f"{node}/{i}/{body['StartAt']}"), style="dotted", arrowhead="none"))
        for target, style in _transitions(state):
            root.add_edge(pydot.Edge(_id(node), _id(f"{prefix}{target}"), **style))


def _cid(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _transitions(state: dict) -> list[tuple[str, dict]]:
    out = [(state["Next"], {})] if "Next" in state else []
    out += [(choice["Next"], {"color": "#1f5f99"}) for choice in state.get("Choices", [])]
    if "Default" in state:
        out.append((state["Default"], {"label": "otherwise"}))
    out += [(catch["Next"], {"style": "dashed", "color": "#b03030"}) for catch in state.get("Catch", [])]
    seen, unique = set(), []
    for target, style in out:  # one arrow per target and kind
        key = (target, tuple(sorted(style.items())))
        if key not in seen:
            seen.add(key)
            unique.append((target, style))
    return unique


def training_pipeline(assembly: Path) -> pydot.Dot:
    stacks = _stacks(assembly)
    stack = next(s for s in stacks if "-pipeline-" in s)  # the first project's training pipeline
    definition = _definition(stacks[stack])
    graph = pydot.Dot(
        "training_pipeline", graph_type="digraph", rankdir="TB", fontname="Helvetica", fontsize="11", label=f"{stack}: the training pipeline"
    )
    graph.set_node_defaults(fontname="Helvetica", fontsize="9")
    graph.set_edge_defaults(color="#444444", fontname="Helvetica", fontsize="8")
    graph.add_node(pydot.Node('"start"', shape="circle", label="", width="0.2", style="filled", fillcolor="black"))
    graph.add_edge(pydot.Edge('"start"', _id(definition["StartAt"])))
    _states(graph, definition["States"], "", graph)
    return graph


GENERATORS = {"architecture": architecture, "training-pipeline": training_pipeline}


def sources(assembly: Path) -> dict[str, str]:
    """Each picture's DOT source for ``assembly``."""
    return {name: GENERATORS[name](assembly).to_string() for name in PICTURES}


def digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def render(source: str) -> str:
    """The SVG Graphviz draws from ``source``, stamped with the source's SHA-256."""
    (graph,) = pydot.graph_from_dot_data(source)
    svg = graph.create_svg().decode()
    head, _, rest = svg.partition("<svg")
    return f"{head}<!-- dot source sha256: {digest(source)} -->\n<svg{rest}"


def stale(out: Path, fresh: dict[str, str]) -> list[str]:
    """What in ``out`` no longer matches ``fresh``: a ``.dot`` that differs, an ``.svg`` not drawn from the ``.dot``."""
    problems = []
    for name, source in fresh.items():
        dot, svg = out / f"{name}.dot", out / f"{name}.svg"
        if not dot.exists() or dot.read_text() != source:
            problems.append(f"{dot.relative_to(ROOT) if dot.is_relative_to(ROOT) else dot} differs from what the code synthesizes")
        stamp = STAMP.search(svg.read_text()) if svg.exists() else None
        if stamp is None or stamp.group(1) != digest(source):
            problems.append(f"{svg.name} was not drawn from the current {dot.name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assembly", type=Path, help="a synthesized stage's cloud assembly, e.g. cdk.out/assembly-Dev")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="only say whether the pictures are current (exit 1 if not)")
    args = parser.parse_args(argv)
    if not (args.assembly / "manifest.json").exists():
        print(f"{args.assembly}: not a cloud assembly (no manifest.json); run make synth first", file=sys.stderr)
        return 2
    fresh = sources(args.assembly)
    if args.check:
        problems = stale(args.out, fresh)
        print("\n".join(problems) or "the pictures are current")
        return 1 if problems else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, source in fresh.items():
        (args.out / f"{name}.dot").write_text(source)
        try:
            (args.out / f"{name}.svg").write_text(render(source))
        except Exception as exc:  # pydot raises a bare Exception when Graphviz's dot is missing
            print(f"rendering {name}.svg needs Graphviz's dot (apt-get install graphviz): {exc}", file=sys.stderr)
            return 2
        print(f"{args.out / name}.dot, .svg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
