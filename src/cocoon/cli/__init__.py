"""Command-line interface: the `cocoon` command and its groups (one module per group)."""
