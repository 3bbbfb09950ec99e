"""Weights on disk: imgtrans's safetensors format, the store, downloads, and
foreign checkpoints (detection, conversion, loading)."""
