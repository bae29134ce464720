"""``python -m stacks failover|failback``: switch the active region with boto3 only.

The active region is runtime state (design decision 10): the schedules and raw-data triggers
that run in one region only, the standby pools' capacity and the per-region active-region
parameter. Pulumi creates them (every region's inventory lists them: :mod:`stacks.standby`)
and then leaves their state to these commands, so switching never needs the Pulumi CLI, its
state or a deploy of the failed region.

- :mod:`stacks.failover.clients`: boto3 clients with short timeouts, per-region endpoints
- :mod:`stacks.failover.steps`: one region's read-then-write steps and their outcomes
- :mod:`stacks.failover.run`: the order across regions, the report, the exit codes
- :mod:`stacks.failover.cli`: the two commands
"""

from stacks.failover.cli import add_failover_commands, cmd_switch
from stacks.failover.run import Result, Switch, switch_regions

__all__ = ["Result", "Switch", "add_failover_commands", "cmd_switch", "switch_regions"]
