"""Deployments: promotion, approval, rejection and rollback."""

from opsloop.deploy.controller import approve, promote, reject, rollback

__all__ = ["approve", "promote", "reject", "rollback"]
