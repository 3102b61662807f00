"""`avatar-studio`: the command-line front door above the engine (`core`).

`main` runs a command line; `parser` builds the argument parser from one module per command in
`commands/`; `progress` draws progress on stderr; `launcher` opens the studio window (`app`) when
the command line is empty. `core` never imports this package.
"""
