"""storyline: a self-hosted engine for Tines-format stories, with Slack and Teams chatbots first-class."""

__version__ = "0.1.0"
