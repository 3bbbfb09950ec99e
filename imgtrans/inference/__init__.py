"""Running generators: the forward pass and its layers, models, padding,
precision, memory budgets, sampling, ONNX export, sharding and batch runs."""
