"""Moved to `imgtrans.checkpoints.detection`; this path stays so that plugins written
against it keep working (docs/plugins.md lists the public paths)."""

from imgtrans.checkpoints.detection import *  # noqa: F401,F403
