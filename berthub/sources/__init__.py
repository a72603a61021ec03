"""Where models come from and where they go: the only part of berthub that touches a network.

    settings.py    every file name and environment setting (standard library only: importable anywhere)
    registry.py    short names (bert-base-uncased, ...) -> hub repos; plugins add entries
    resolve.py     a name / repo id / directory / archive / URL -> a local folder with the files wanted
    hub_cache.py   hub repos into huggingface_hub's cache (probe, fetch, fall back to the cache)
    urls.py        plain URLs: resumable, verified downloads
    archives.py    .tar.gz / .zip: only a model's files extracted, with bounds (bombs, paths outside the folder)
    integrity.py   is a cached hub file what it claims to be
    hashed.py      cached files hashed once, then trusted while a stat says they are unchanged
    hub_errors.py  hub and HTTP failures -> berthub errors that say what to do
    publish.py     a model folder -> a hub repo, with a generated model card
"""
