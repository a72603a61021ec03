"""`berthub export onnx MODEL --output model.onnx`: an ONNX file, checked with onnxruntime before success."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from berthub.errors import BerthubError, ConfigError

EPILOG = """\
examples:
  berthub export onnx bert-base-uncased --output bert.onnx
  berthub export onnx runs/sst2/best --output sst2.onnx            # a fine-tuned model with its head
  berthub export onnx runs/squad/best --output qa.onnx --tolerance 1e-3 --sentences my-texts.txt

The file takes input_ids, token_type_ids and attention_mask (int64, [batch, sequence]; batch and
sequence are dynamic) and returns what the model returns (sequence_output and pooled_output for an
encoder, the head's logits for a fine-tuned model). Before reporting success the file is run in
onnxruntime on real padded batches (berthub's SST-2 sample, or --sentences) and compared with PyTorch.
Needs: pip install 'berthub[export]' (onnx, onnxscript, onnxruntime).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="export a model to ONNX, verified by onnxruntime against PyTorch",
        description="Export a model (encoder or fine-tuned task model) to another runtime's format.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    formats = parser.add_subparsers(dest="format", metavar="FORMAT", title="formats")
    onnx = formats.add_parser("onnx", help="an ONNX file with dynamic batch and sequence axes",
                              description="Export MODEL to ONNX and check the file against PyTorch.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    onnx.add_argument("model", help="registry name, hub repo id or model directory")
    onnx.add_argument("--output", type=Path, required=True, help="the .onnx file to write")
    onnx.add_argument("--tolerance", type=float, default=1e-4,
                      help="largest difference from PyTorch accepted, relative to max(1, |value|) (default 1e-4)")
    onnx.add_argument("--sentences", type=Path, metavar="FILE",
                      help="check on these sentences (one per line) instead of berthub's SST-2 sample")
    onnx.set_defaults(func=run_onnx)
    parser.set_defaults(func=lambda args: _missing_format())


def _missing_format() -> int:
    raise ConfigError("Which format? Only `berthub export onnx MODEL --output FILE` exists; see --help.")


def _load(name: str):
    """BertForTask when the saved config names a head, else the bare encoder; and the model's tokenizer."""
    from berthub.model.bert import BertModel
    from berthub.model.pretrained import locate
    from berthub.model.task_models import BertForTask
    from berthub.model.weights import read_config
    from berthub.tokenizer.bert import BertTokenizer

    model_class = BertForTask if read_config(locate(name).directory).head else BertModel
    return model_class.from_pretrained(name), BertTokenizer.from_pretrained(name)


def run_onnx(args: argparse.Namespace) -> int:
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise BerthubError(f"berthub export onnx needs {error.name}: pip install 'berthub[export]'.") from None
    from berthub.files import atomic_path
    from berthub.inference.onnx import check_onnx, export_onnx, sample_batches

    sentences = None
    if args.sentences is not None:
        if not args.sentences.is_file():
            raise ConfigError(f"--sentences {args.sentences}: no such file; give a text file, one sentence a line.")
        sentences = [s for s in args.sentences.read_text(encoding="utf-8").splitlines() if s.strip()]
        if len(sentences) < 2:
            raise ConfigError(f"--sentences {args.sentences} holds {len(sentences)} sentences; give at least 2.")
    model, tokenizer = _load(args.model)
    batches = sample_batches(tokenizer, model, sentences=sentences)
    unpadded = tuple(t[..., :4] for t in batches[0])  # the recorded example: nothing in it is padding
    what = getattr(model, "head_name", None) or "encoder"
    print(f"Exporting {args.model} ({what}) to ONNX ...", flush=True)
    started = time.perf_counter()
    with atomic_path(args.output) as unchecked:  # moved into place only once onnxruntime agrees with PyTorch
        export_onnx(model, unchecked, tuple(t.clone() for t in unpadded))
        exported = time.perf_counter() - started
        check = check_onnx(unchecked, model, batches, args.tolerance)
    print(f"Checked {args.output} with onnxruntime on {check.sequences} real sentences in {check.batches} padded "
          f"batches ({100 * check.padded_fraction:.0f}% padding): max difference from PyTorch "
          f"{check.max_abs_diff:.2e} <= tolerance {check.tolerance:.0e}.")
    print(f"Wrote {args.output} ({args.output.stat().st_size / 2**20:.1f} MiB) in {exported:.0f}s.")
    return 0
