"""The Pulumi program: load the stack's config, build the environment."""

import pulumi

from stacks.config import ConfigError, current_program_config
from stacks.environment import build

try:
    config = current_program_config()
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None

build(config)
