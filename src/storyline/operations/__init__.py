"""What a signed-in person or an API token may do, as functions: one home for the REST API and the console.

Each operation takes the database connection first (the web layer runs it with
``service.db.read`` or ``service.db.write``), then the acting :class:`~storyline.accounts.roles.Principal`,
checks the principal's role (:func:`storyline.operations.access.require`), does the work through
the store and the engine, records changes in the audit log in the same transaction, and returns
plain JSON-able data. It raises :mod:`storyline.operations.errors` for anything a caller did
wrong, each with the HTTP status it means, so the API and the console answer alike.
"""
