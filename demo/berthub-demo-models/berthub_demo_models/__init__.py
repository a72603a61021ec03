"""Short names the demo publishes to its own hub, registered exactly as a third party would."""

from berthub import ModelEntry

MODELS = [
    ModelEntry(
        "all-minilm-l6-v2",
        repo_id="sentence-transformers/all-MiniLM-L6-v2",
        do_lower_case=True,
        description="6-layer, 384-hidden, 12-heads, 22.7M params; sentence-transformers' MiniLM (English, uncased)",
    ),
]
