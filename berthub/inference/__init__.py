"""The inference room: answers from saved models, and the faster or portable forms of a model.

    pipelines.py berthub.pipeline: raw text in, answers out, for any saved model (the task from its head)
    runners.py   what each pipeline task makes of raw text and of the model's outputs
    onnx.py      ONNX export, checked with onnxruntime against eager PyTorch
    int8.py      dynamic int8 quantization for CPU inference
"""

from berthub.inference.int8 import quantize_int8
from berthub.inference.pipelines import Pipeline, pipeline

__all__ = ["Pipeline", "pipeline", "quantize_int8"]
