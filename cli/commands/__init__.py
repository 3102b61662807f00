"""One module per `avatar-studio` command, each with `register(subparsers)` (see cli/parser.py)."""
