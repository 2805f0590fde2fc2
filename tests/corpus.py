"""The real Tines exports beside the repository, in ../shared: test data we may read, never copy in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "tines-stories"
ABSENT = f"{CORPUS} is absent: the real Tines exports live beside the repository, in ../shared"


def corpus_paths() -> list[Path]:
    """Every export, or skip the calling test when the folder is absent."""
    files = sorted(CORPUS.glob("*.json")) if CORPUS.is_dir() else []
    if not files:
        pytest.skip(ABSENT)
    return files


def corpus_files() -> list[Any]:
    """Every export as a pytest parameter named after the file (one skipped parameter when absent)."""
    files = sorted(CORPUS.glob("*.json")) if CORPUS.is_dir() else []
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=ABSENT))]
    return [pytest.param(path, id=path.stem) for path in files]


def shared_story(name: str) -> Path:
    """One export by file name; skip the calling test when it is absent."""
    path = CORPUS / name
    if not path.exists():
        pytest.skip(ABSENT)
    return path


def corpus_agents(type_name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(file, action name, options) of every action of one type, embedded sub-stories included."""
    import json

    found: list[tuple[str, str, dict[str, Any]]] = []

    def walk(story: dict[str, Any], file: str) -> None:
        for agent in story.get("agents", []):
            if agent.get("type") == type_name:
                found.append((file, agent.get("name", ""), agent.get("options") or {}))
        for sub in story.get("send_to_stories") or []:
            walk(sub, file)

    for path in corpus_paths():
        walk(json.loads(path.read_text()), path.name)
    return found
