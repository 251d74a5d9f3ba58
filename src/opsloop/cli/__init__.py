"""The `opsloop` command. Only Typer is imported up front; every command imports what it
needs when it runs, so `opsloop --help` stays instant."""

from opsloop.cli.app import app, main

__all__ = ["app", "main"]
