"""The outside services a story talks to, played locally: Slack, Microsoft's Bot Framework, enrichment.

One implementation per service, shipped in the package because ``serve --demo`` and the chat
consoles need it at run time; the test fakes serve the very same apps on a free port. Each
answers as the real service documents (``shared/reference/chat-protocols.md``, the enrichment
notes) and keeps what a bot said, so a console can show it and a test can assert on it.
"""
