"""Deploy fidelity: what the synthesized templates ask of AWS, checked offline against AWS's own models.

- ``cfn``: resolves templates as CloudFormation would (intrinsic functions, SSM parameters published
  by other stacks, names CloudFormation generates), with stand-ins of AWS's shapes for physical IDs;
- ``api_model``: validates SageMaker resources and Step Functions task parameters against the
  service models that botocore ships (required members, types, ranges, enums, patterns);
- ``limits``: documented limits and cross-field rules no schema holds;
- ``iam``: evaluates runtime calls against the synthesized policies with a real IAM engine;
- ``moto_adapt``: the template adaptations moto needs, shared by the smoke test and ``make deploy-local``.

Used by the tests and by ``make deploy-local``; nothing here runs during synthesis.
"""
