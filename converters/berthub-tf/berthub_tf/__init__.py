"""berthub-tf: Google TensorFlow BERTs <-> berthub model directories.

Registered as the `tf` and `to-tf` converters (entry-point group `berthub.converters`), used by
`berthub convert tf|to-tf` and `BertModel.from_pretrained(folder, from_tf=True)`. `tf` reads TF1
checkpoints, TF2 (Model Garden) checkpoints and TF Hub / Kaggle SavedModels, with or without
TensorFlow (tf_reader.py reads the tensor bundle with numpy; object_graph.py and saved_model.py
decode the protobufs TF2 adds).
"""

from berthub_tf.convert import convert, convert_directory
from berthub_tf.to_tf import to_tf, write_checkpoint
from berthub_tf.verify import verify

__version__ = "0.2.0"

__all__ = ["__version__", "convert", "convert_directory", "to_tf", "verify", "write_checkpoint"]
