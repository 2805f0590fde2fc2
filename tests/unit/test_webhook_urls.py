"""Webhook URLs as every command prints them: the URL the server answers, never a redirect."""

from __future__ import annotations

from storyline.urls import webhook_url


def test_a_secretless_webhook_url_has_no_trailing_slash() -> None:
    assert webhook_url("https://sl.example", "security-chatbot-slack", None) == (
        "https://sl.example/webhook/security-chatbot-slack")
    assert webhook_url("https://sl.example", "security-chatbot-slack", "") == (
        "https://sl.example/webhook/security-chatbot-slack")


def test_a_secret_is_the_last_path_segment() -> None:
    assert webhook_url("https://sl.example/", "alerts", "k3y") == "https://sl.example/webhook/alerts/k3y"


def test_without_a_public_url_the_url_is_relative_to_it() -> None:
    assert webhook_url("", "alerts", "k3y") == "/webhook/alerts/k3y"


def test_characters_that_would_end_the_path_are_encoded() -> None:
    assert webhook_url("", "my hook", "a?b#c") == "/webhook/my%20hook/a%3Fb%23c"
