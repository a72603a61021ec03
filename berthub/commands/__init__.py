"""One module per command group of the `berthub` CLI; each exposes `register(subparsers)`."""
