"""One trained model for the whole test session: reuse instance/triage when fresh, else train into a temp dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from triage.model import forget_loaded, model_dir, staleness, train


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory with a model trained on the current training data; TRIAGE_MODEL_DIR points at it."""
    previous = os.environ.get("TRIAGE_MODEL_DIR")
    directory = model_dir()
    if staleness(directory) is not None:
        directory = tmp_path_factory.mktemp("triage-model")
        train(directory)
    os.environ["TRIAGE_MODEL_DIR"] = str(directory)
    forget_loaded()
    yield directory
    if previous is None:
        os.environ.pop("TRIAGE_MODEL_DIR", None)
    else:
        os.environ["TRIAGE_MODEL_DIR"] = previous
    forget_loaded()
