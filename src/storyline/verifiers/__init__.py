"""How a webhook proves who sent a request: one module per sender's scheme (HMAC, Slack, Bot Framework).

They sit below the actions (the webhook action validates its ``verification`` option against
them when a story is imported) and import nothing above egress; ``storyline.actions.plugins``
is the one place that lists them.
"""
