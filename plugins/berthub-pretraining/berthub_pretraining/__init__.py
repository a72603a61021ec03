"""berthub-pretraining: BERT pre-training data and tasks for berthub, registered through entry points.

- `berthub pretraining-data` (group `berthub.commands`): Google's create_pretraining_data.py, exactly,
  writing instance shards; `read_instances(path)` reads them back as Google's TrainingInstance fields.
- tasks `pretraining` (masked LM + next sentence, Google's loss) and `mlm` (masked LM only, masks drawn
  anew each epoch) for `berthub train` / `berthub evaluate` (group `berthub.datasets`).
See docs/pretraining.md.
"""

from berthub_pretraining.shards import read_instances

__all__ = ["read_instances"]
