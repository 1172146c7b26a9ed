"""One module per command: options in, one core call, the result rendered, an exit code.

Each imports only typer at the top; the core modules, rich rendering and the engine are
imported inside the command, so `devenv --help` stays fast.
"""
