"""Policy pack: `pulumi preview --policy-pack infra/policy`. The rules live in infra/policies.py
as plain functions (unit-tested in tests/e2e/test_policies.py); this file only adapts them."""

from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy

from infra.policies import VALIDATORS  # the repository, installed in this venv too (make install: -e . --no-deps)


def _adapt(validator):
    def validate(args, report_violation):
        graph = [
            {"type": r.resource_type, "name": r.name, "props": r.props, "deps": [d.name for d in (r.dependencies or [])]}
            for r in args.resources
        ]
        for violation in validator(graph):
            report_violation(violation)

    return validate


PolicyPack(
    name="slack-bot-security",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        StackValidationPolicy(name=name, description=(validator.__doc__ or name).strip(), validate=_adapt(validator))
        for name, validator in VALIDATORS.items()
    ],
)
