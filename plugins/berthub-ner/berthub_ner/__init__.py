"""berthub-ner: CoNLL-format named-entity recognition for berthub, in the `berthub.datasets` group.

Names: wnut17 (WNUT-17 emerging entities), conll-ner (any CoNLL file set: CoNLL-2003 by default).
conll.py reads the files, entities.py scores entities as conlleval does, task.py is the Task.
"""
