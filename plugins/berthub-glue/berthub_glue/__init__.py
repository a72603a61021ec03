"""berthub-glue: the GLUE benchmark's tasks for berthub, registered in the `berthub.datasets` group.

Names: cola, sst-2, mrpc, sts-b, qqp, mnli, mnli-mm, qnli, rte, wnli. Use them by name:
`berthub train --task sst-2 --data-dir data/glue/SST-2` or `berthub.tasks.get_task("sst-2")`.
"""
