"""One `berthub pretraining-data` run: read, create instances with Google's algorithm, write shards.

Default: every input file is read into one document list and one `random.Random(seed)` stream, as
Google's `--input_file=a,b` does. `processes > 1`: each input file is its own run (same flags and
seed, so each shard is exactly Google's output for that file alone), in parallel worker processes;
memory is bounded by the largest file instead of the whole corpus.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from berthub.tokenizer import load_vocab
from berthub_pretraining import corpus, shards
from berthub_pretraining.instances import Instance, InstanceConfig, Vocabulary, create_instances


@dataclass(frozen=True)
class BuildSpec:
    """Everything a run needs; small and picklable so worker processes receive it whole."""

    files: tuple[Path, ...]
    vocab_file: Path
    do_lower_case: bool
    config: InstanceConfig
    output: Path
    instances_per_shard: int = 100_000
    processes: int = 1
    progress: bool = True


def instances_for(files: list[Path], spec: BuildSpec, bars: bool) -> list[Instance]:
    """Google's create_training_instances over `files` as one run."""
    tokenizer = corpus.google_tokenizer(spec.vocab_file, spec.do_lower_case)
    vocab = Vocabulary.from_tokens(tokenizer.convert_ids_to_tokens(range(len(tokenizer))))
    size = sum(f.stat().st_size for f in files)
    with tqdm(total=size, unit="B", unit_scale=True, desc="tokenizing", disable=not bars) as bar:
        documents = corpus.read_documents(files, tokenizer, bar.update)
    with tqdm(total=len(documents) * spec.config.dupe_factor, unit="doc", desc="instances",
              disable=not bars) as bar:
        instances = create_instances(documents, vocab, spec.config, random.Random(spec.config.random_seed),
                                     bar.update)
    return instances


def build(spec: BuildSpec) -> dict[str, Any]:
    """Run and write the output folder; -> the index written (index.json is written last)."""
    spec.output.mkdir(parents=True, exist_ok=True)
    # A folder is rewritten whole: its old index goes first, so no reader ever mixes old and new shards.
    (spec.output / shards.INDEX).unlink(missing_ok=True)
    for stale in spec.output.glob("shard-*.safetensors"):
        stale.unlink()
    if spec.processes > 1:
        entries = _parallel(spec)
    else:
        instances = instances_for(list(spec.files), spec, spec.progress)
        entries = [shards.write_shard(spec.output, n, instances[start:start + spec.instances_per_shard])
                   for n, start in enumerate(range(0, max(len(instances), 1), spec.instances_per_shard))]
        for entry in entries:
            entry["inputs"] = [str(f) for f in spec.files]
    settings = {**asdict(spec.config), "do_lower_case": spec.do_lower_case, "vocab_file": str(spec.vocab_file),
                "one_run_per_file": spec.processes > 1}
    shards.write_index(spec.output, load_vocab(spec.vocab_file), entries, settings)
    return shards.read_index(spec.output)


def _one_file(job: tuple[int, BuildSpec]) -> dict[str, Any]:
    number, spec = job
    instances = instances_for([spec.files[number]], spec, bars=False)
    entry = shards.write_shard(spec.output, number, instances)
    entry["inputs"] = [str(spec.files[number])]
    return entry


def _parallel(spec: BuildSpec) -> list[dict[str, Any]]:
    jobs = [(n, spec) for n in range(len(spec.files))]
    entries = []
    workers = min(spec.processes, len(jobs), os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(jobs), unit="file", desc="files", disable=not spec.progress) as bar:
        for entry in pool.map(_one_file, jobs):  # results come back in file order
            entries.append(entry)
            bar.update(1)
    return entries
