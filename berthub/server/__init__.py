"""`berthub serve`: a self-hosted hub that the standard clients (huggingface_hub, transformers) can
both read and write, with web pages to browse it. See `berthub.server.app.create_app`."""
