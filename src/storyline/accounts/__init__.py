"""People and scripts who act on storyline, what each may do, and the record of what they did.

``roles`` (who may do what), ``passwords`` (argon2id), ``users``, ``tokens`` (API tokens) and
``audit`` (the audit log). Every change to a user or a token is audited here, in the caller's
transaction, so the CLI and the web layer cannot forget to. The SQL is in ``store.accounts`` and
``store.audit``; this package sits above the store and below the engine and the entry points.
"""
