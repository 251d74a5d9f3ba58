"""Notifications: alert, approval, promotion and rollback events posted to people.

`base.py` has the `Notifier` protocol and the Slack-compatible message; `webhook.py` posts
it to an incoming webhook; `dispatch.py` follows the events table with a cursor per notifier
and delivers off the agent's critical path, with retries and back-off.
"""

from opsloop.notify.base import DeliveryError, MemoryNotifier, Notifier, slack_message

__all__ = ["DeliveryError", "MemoryNotifier", "Notifier", "slack_message"]
