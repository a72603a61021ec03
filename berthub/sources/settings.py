"""Every file name and environment setting berthub reads, in one table.

Standard library only, so any room of berthub (the model, the tokenizer, the server, the trainer)
may import it without pulling in the network. Settings are read at call time, never at import, so a
test or a long-running process can change them:

    BERTHUB_ENDPOINT (HF_ENDPOINT)    hub URL, default https://huggingface.co
    BERTHUB_TOKEN (HF_TOKEN)          token for private or gated repos and for uploads
    BERTHUB_CACHE (HF_HUB_CACHE)      cache root, default huggingface_hub's (~/.cache/huggingface/hub);
                                      0.6's PYTORCH_PRETRAINED_BERT_CACHE is honoured with a FutureWarning
    BERTHUB_OFFLINE (HF_HUB_OFFLINE)  1 = no network call at all, files come from the cache
    BERTHUB_VERIFY                    1 = re-hash every cached file on every load (default: hash each
                                      once, then trust it while a stat says it is unchanged)
    BERTHUB_MAX_EXTRACT_SIZE / _RATIO what an archive member may unpack to (bytes; multiple of its
                                      compressed size, and of the archive's size for all of them)
    BERTHUB_SERVER_TOKEN              `berthub serve`'s write tokens (comma-separated)
    S3_ENDPOINT_URL                   `berthub serve --storage s3://...`: the S3 server (default: AWS);
                                      credentials and region are boto3's: AWS_ACCESS_KEY_ID, ...
    BERTHUB_MIRROR_TOKEN              `berthub serve --mirror-of URL`: the token sent to the upstream hub
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

# -- file names ---------------------------------------------------------------------------------
CONFIG_NAME = "config.json"
LEGACY_CONFIG_NAME = "bert_config.json"  # pytorch-pretrained-BERT archives and Google's releases
CONFIG_NAMES = (CONFIG_NAME, LEGACY_CONFIG_NAME)
SAFETENSORS_NAME = "model.safetensors"
PYTORCH_NAME = "pytorch_model.bin"
WEIGHTS_NAMES = (SAFETENSORS_NAME, PYTORCH_NAME)  # in order of preference
VOCAB_NAME = "vocab.txt"
TF_SAVED_MODEL_NAME = "saved_model.pb"  # a TF Hub / Kaggle SavedModel's graph (converted by the `tf` plugin)
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"
CARD_NAME = "README.md"  # a hub repo's model card
TRAINING_INFO_NAME = "training.json"  # what `berthub train` records beside a saved model
SUMMARY_NAME = "summary.json"  # a training run's final metrics, in its output folder

# -- cache layout -------------------------------------------------------------------------------
LOCAL_ARCHIVES_FOLDER = "berthub-archives"  # local .tar.gz model archives, extracted once
URLS_FOLDER = "berthub-urls"  # plain-URL downloads
SOURCE_FILE = "source.json"  # beside a URL download: where it came from
EXTRACTED_FOLDER = "extracted"  # an archive's contents, beside the archive
DATABASE_FILE = "berthub.db"  # `berthub serve`'s accounts database under --root, unless --database names one
PLUGIN_MEMORY_NAME = "berthub-plugins.json"  # model names and commands plugins gave, kept after an uninstall
EXTRACTED_MANIFEST = "extracted.json"  # beside EXTRACTED_FOLDER: each extracted file's sha256, what was skipped
HASHED_FOLDER = ".berthub-hashed"  # in a cache entry: which files were hashed, and what a stat said then

# -- what a model archive may give: members named so are extracted, every other one skipped --------
ARCHIVE_MEMBER_NAMES = (*CONFIG_NAMES, *WEIGHTS_NAMES, VOCAB_NAME, TOKENIZER_CONFIG_NAME, TRAINING_INFO_NAME,
                        TF_SAVED_MODEL_NAME)
ARCHIVE_MEMBER_PATTERNS = ("*.index", "*.data-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]")  # TF

# -- network ------------------------------------------------------------------------------------
DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 3.0  # how long a load waits for the hub before falling back to the cache

# -- environment variables ----------------------------------------------------------------------
ENDPOINT_VARIABLES = ("BERTHUB_ENDPOINT", "HF_ENDPOINT")
TOKEN_VARIABLES = ("BERTHUB_TOKEN", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
CACHE_VARIABLES = ("BERTHUB_CACHE", "HF_HUB_CACHE")
OFFLINE_VARIABLES = ("BERTHUB_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
VERIFY_VARIABLE = "BERTHUB_VERIFY"
MAX_EXTRACT_SIZE_VARIABLE = "BERTHUB_MAX_EXTRACT_SIZE"
MAX_EXTRACT_RATIO_VARIABLE = "BERTHUB_MAX_EXTRACT_RATIO"
SERVER_TOKEN_VARIABLE = "BERTHUB_SERVER_TOKEN"
SERVER_CONFIG_VARIABLE = "BERTHUB_SERVER_CONFIG"  # `berthub serve` -> its worker processes (internal)
S3_ENDPOINT_VARIABLE = "S3_ENDPOINT_URL"  # the S3-compatible server of `--storage s3://...` (else AWS's)
MIRROR_TOKEN_VARIABLE = "BERTHUB_MIRROR_TOKEN"  # what `--mirror-of` sends to its upstream hub
LEGACY_CACHE_VARIABLE = "PYTORCH_PRETRAINED_BERT_CACHE"  # pytorch-pretrained-BERT 0.6's cache setting


@dataclass(frozen=True)
class Wanted:
    """The files a load needs: each group lists alternatives in order of preference."""

    what: str
    groups: tuple[tuple[str, ...], ...]
    optional: tuple[str, ...] = ()


MODEL_FILES = Wanted("model", ((CONFIG_NAME,), WEIGHTS_NAMES))
TOKENIZER_FILES = Wanted("tokenizer", ((VOCAB_NAME,),), (TOKENIZER_CONFIG_NAME,))


@dataclass(frozen=True)
class HubSettings:
    """Where to fetch from and cache to, from arguments first, then the environment at call time."""

    endpoint: str
    token: str | None
    cache_dir: Path
    offline: bool
    verify: bool = False  # re-hash cached files on every load, not only the free size check

    @classmethod
    def from_env(
        cls,
        *,
        cache_dir: str | Path | None = None,
        token: str | None = None,
        local_files_only: bool = False,
        endpoint: str | None = None,
        verify: bool | None = None,
    ) -> HubSettings:
        return cls(
            endpoint=hub_endpoint(endpoint),
            token=hub_token(token),
            cache_dir=Path(cache_dir or cache_root()).expanduser(),
            offline=local_files_only or is_true(env(*OFFLINE_VARIABLES) or "0"),
            verify=is_true(env(VERIFY_VARIABLE) or "0") if verify is None else verify,
        )


def hub_endpoint(endpoint: str | None = None) -> str:
    """`endpoint`, else BERTHUB_ENDPOINT, else HF_ENDPOINT, else the public hub; no trailing slash."""
    return (endpoint or env(*ENDPOINT_VARIABLES) or DEFAULT_ENDPOINT).rstrip("/")


def hub_token(token: str | None = None) -> str | None:
    """`token`, else BERTHUB_TOKEN, else HF_TOKEN (else None: huggingface_hub may use its stored login)."""
    return token or env(*TOKEN_VARIABLES)


def cache_root() -> Path:
    """The cache root: BERTHUB_CACHE, else pytorch-pretrained-BERT's PYTORCH_PRETRAINED_BERT_CACHE (with a
    one-time deprecation warning), else HF_HUB_CACHE, else huggingface_hub's default."""
    legacy = env(LEGACY_CACHE_VARIABLE)
    if legacy and not env(CACHE_VARIABLES[0]):
        if LEGACY_CACHE_VARIABLE not in _warned:
            _warned.add(LEGACY_CACHE_VARIABLE)
            warnings.warn(
                f"{LEGACY_CACHE_VARIABLE} is pytorch-pretrained-BERT's name for the cache; berthub uses it "
                f"({legacy}) but reads BERTHUB_CACHE first: set BERTHUB_CACHE instead.",
                FutureWarning, stacklevel=3,
            )
        return Path(legacy).expanduser()
    return Path(env(*CACHE_VARIABLES) or _default_cache()).expanduser()


_warned: set[str] = set()  # deprecated settings already warned about in this process


def env(*names: str) -> str | None:
    """The first of the environment variables `names` that is set and not empty."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def is_true(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _default_cache() -> Path:
    home = env("HF_HOME") or os.path.join(env("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"
