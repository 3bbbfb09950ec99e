"""Exact streamed inference: a generator run over a picture in row strips,
giving the whole-image result in bounded memory (imports torch).

`graph` turns a network into row-streamable nodes (via torch.fx), `maps`
holds the intermediate maps (RAM or an unnamed temporary file), `executor`
plans the passes and runs them under a memory budget.
"""

from imgtrans.streaming.executor import (
    StreamPlan,
    Unstreamable,
    plan_stream,
    whole_image_bytes,
)

__all__ = ["StreamPlan", "Unstreamable", "plan_stream", "whole_image_bytes"]
