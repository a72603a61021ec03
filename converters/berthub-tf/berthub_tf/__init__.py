"""berthub-tf: Google TensorFlow BERT checkpoints <-> berthub model directories.

Registered as the `tf` and `to-tf` converters (entry-point group `berthub.converters`), used by
`berthub convert tf|to-tf` and `BertModel.from_pretrained(folder, from_tf=True)`. Reading works
with or without TensorFlow (tf_reader.py reads the checkpoint format with numpy).
"""

from berthub_tf.convert import convert, convert_directory
from berthub_tf.to_tf import to_tf, write_checkpoint
from berthub_tf.verify import verify

__version__ = "0.2.0"

__all__ = ["__version__", "convert", "convert_directory", "to_tf", "verify", "write_checkpoint"]
