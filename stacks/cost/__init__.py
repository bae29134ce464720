"""What a stack costs a month, read from its offline plan.

``python -m stacks cost <stack>`` prices every resource of the recorded graph from the price
table in this package (``prices.json``: per region, each price with its AWS source and date),
split into fixed cost and usage-priced items with the assumptions used
(``assumptions.json``, overridable), per region and capability. Schedules are priced as they
run: office-hours pools from their scheduled actions in the plan, an ephemeral stack by the
hours it exists, from the nightly destroy and morning rebuild crons of the workflows.
Unpriced resources are listed, never counted as zero.
"""

from stacks.cost.model import Estimate, LineItem, capability_of, estimate
from stacks.cost.report import NightSaving, diff, night_saving, render, render_diff
from stacks.cost.schedules import Cron, Lifetime, ScheduledAction, stack_lifetime
from stacks.cost.table import PriceTable, TableError, load_assumptions, load_table

__all__ = [
    "Cron",
    "Estimate",
    "Lifetime",
    "LineItem",
    "NightSaving",
    "PriceTable",
    "ScheduledAction",
    "TableError",
    "capability_of",
    "diff",
    "estimate",
    "load_assumptions",
    "load_table",
    "night_saving",
    "render",
    "render_diff",
    "stack_lifetime",
]
