"""The command line: `python -m study <command>` (app.py parses, one module per command)."""
