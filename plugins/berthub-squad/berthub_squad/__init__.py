"""berthub-squad: SQuAD v1.1 and v2.0 for berthub, registered in the `berthub.datasets` group.

Names: squad-v1.1, squad-v2.0. The pipeline is Google's run_squad.py, written anew:
examples.py (JSON -> whitespace words), windows.py (doc_stride windows and max-context marks),
decode.py (n-best spans -> text, the v2 null threshold), evaluate.py (the official EM / F1),
task.py (the berthub Task tying them together).
"""
