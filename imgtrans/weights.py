"""Moved to `imgtrans.checkpoints.weights`; this path stays so that plugins written
against it keep working (docs/plugins.md lists the public paths)."""

from imgtrans.checkpoints.weights import *  # noqa: F401,F403
