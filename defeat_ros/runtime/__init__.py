"""Inference: ONNX export and the backends behind one Perception interface."""
