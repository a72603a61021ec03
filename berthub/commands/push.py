"""`berthub push`: publish a model directory (with a model card) to a hub."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  # to a self-hosted hub (`berthub serve`); the token is one of the server's write tokens
  BERTHUB_TOKEN=s3cret berthub push ./converted my-org/bert-base-uncased --endpoint http://localhost:8080

  # to the public hub (HF_TOKEN or `hf auth login`), on a branch, with a message
  berthub push ./finetuned my-org/bert-mrpc --revision experiments --commit-message "MRPC, 3 epochs"

The endpoint defaults to BERTHUB_ENDPOINT, then HF_ENDPOINT, then https://huggingface.co; the token
to BERTHUB_TOKEN, then HF_TOKEN. A README.md model card is generated when the directory has none.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "push", help="publish a model directory (with a model card) to a hub",
        description="Upload every file of DIR to REPO_ID as one commit (the repo is created if needed).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", metavar="DIR", help="model directory (config.json + weights + vocab)")
    parser.add_argument("repo_id", metavar="REPO_ID", help="namespaced repo id, e.g. my-org/my-bert")
    parser.add_argument("--endpoint", help="hub URL (default: BERTHUB_ENDPOINT, HF_ENDPOINT, huggingface.co)")
    parser.add_argument("--revision", default="main", help="branch to commit to (created if missing)")
    parser.add_argument("--commit-message", help="commit title (default: 'Upload DIR with berthub')")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from berthub.sources.publish import push
    from berthub.sources.settings import hub_endpoint

    commit = push(args.directory, args.repo_id, endpoint=args.endpoint, revision=args.revision,
                  commit_message=args.commit_message, private=args.private)
    print(f"Pushed {args.directory} to {args.repo_id} ({args.revision}): commit {getattr(commit, 'oid', commit)}")
    print(f"  {hub_endpoint(args.endpoint)}/{args.repo_id}")
    return 0
