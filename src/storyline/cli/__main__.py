"""``python -m storyline.cli``, as the end-to-end tests start it."""

from storyline.cli import app

app()
