"""The ``webhook`` bot type: trades the signals a webhook delivers (docs/strategies.md#webhook)."""

from bots.webhook.strategy import Webhook, WebhookConfig

__all__ = ["Webhook", "WebhookConfig"]
