"""CrossGuard entry point: the Pulumi CLI runs this file to serve the policy pack.

    pulumi preview --policy-pack policies

Constructing the `PolicyPack` starts the policy server and blocks, so nothing else imports
this file; the rules live in `policies/rules/` and the adapter in `policies/crossguard.py`.
"""

import os
import sys

# The CLI runs this file with the pack directory on sys.path; the rules import themselves as
# the `policies` package, so put the project root (the pack directory's parent) first.
# The pack directory must keep the name `policies`.
_HERE = globals().get("__file__")
_PACK_DIR = os.path.dirname(os.path.abspath(_HERE)) if _HERE else os.getcwd()
sys.path.insert(0, os.path.dirname(_PACK_DIR))

from pulumi_policy import EnforcementLevel, Policy, PolicyPack  # noqa: E402

from policies.crossguard import PACK_NAME, build_policies  # noqa: E402

if __name__ == "__main__":
    policies: list[Policy] = list(build_policies())
    PolicyPack(
        name=PACK_NAME,
        description="mlops-platform security baseline (docs/design.md); exceptions are recorded in "
        "policies/rules/exceptions.py",
        policies=policies,
        enforcement_level=EnforcementLevel.MANDATORY,
    )
