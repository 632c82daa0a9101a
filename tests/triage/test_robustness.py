"""What the library does with what it was not built for: a damaged model directory, a training run that cannot
write or dies half-way, text that is not a tip's, many first calls at once."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import triage
from triage import cli
from triage import model as model_module
from triage.dataset import load_training
from triage.model import CARD_FILE, MODEL_FILE, forget_loaded, staleness, train


def _copy(source: Path, target: Path) -> Path:
    target.mkdir()
    for name in (MODEL_FILE, CARD_FILE):
        shutil.copy(source / name, target / name)
    return target


def _card(directory: Path) -> dict[str, Any]:
    card: dict[str, Any] = json.loads((directory / CARD_FILE).read_text(encoding="utf-8"))
    return card


def _damage(directory: Path, how: str) -> None:
    model, card = directory / MODEL_FILE, directory / CARD_FILE
    if how == "card_cut_short":
        card.write_text(card.read_text(encoding="utf-8")[:300], encoding="utf-8")
    elif how == "card_empty_object":
        card.write_text("{}\n", encoding="utf-8")
    elif how == "card_a_list":
        card.write_text("[]\n", encoding="utf-8")
    elif how == "card_not_utf8":
        card.write_bytes(b"\xff\xfe{}")
    elif how == "model_cut_short":
        model.write_bytes(model.read_bytes()[:100_000])
    elif how == "model_not_a_zip":
        model.write_bytes(b"<html>404 Not Found</html>")
    elif how == "model_a_directory":
        model.unlink()
        model.mkdir()
    elif how == "model_not_its_card_s":
        changed = _card(directory)
        changed["model_sha256"] = "0" * 64
        card.write_text(json.dumps(changed), encoding="utf-8")


DAMAGES = ["card_cut_short", "card_empty_object", "card_a_list", "card_not_utf8", "model_cut_short",
           "model_not_a_zip", "model_a_directory", "model_not_its_card_s"]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_model_is_refused_with_one_clear_error(
    trained_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A card cut short, a card of no model, a model cut short or put in another's place raised JSONDecodeError,
    KeyError, TypeError, BadZipFile or IsADirectoryError (and the command line printed a traceback); a card whose
    model_sha256 is not the file's loaded the other model under the card's temperatures. Each is now
    ModelUnusable, naming the directory and the way out, and the command line prints it and exits 2."""
    directory = _copy(trained_dir, tmp_path / "model")
    _damage(directory, how)
    with pytest.raises(triage.ModelUnusable, match="python -m triage train") as refused:
        triage.load_model(directory)
    assert str(directory) in str(refused.value)
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(directory))
    assert cli.main(["assess", "he has a gun at school"]) == 2
    captured = capsys.readouterr()
    assert "python -m triage train" in captured.err and "Traceback" not in captured.err and captured.out == ""


def test_a_missing_model_is_still_model_not_trained_and_model_unusable(tmp_path: Path) -> None:
    with pytest.raises(triage.ModelNotTrained):
        triage.load_model(tmp_path / "nowhere")
    assert issubclass(triage.ModelNotTrained, triage.ModelUnusable)


@pytest.mark.parametrize("text", [None, b"he has a gun", 42, ["he has a gun"]])
def test_assess_refuses_what_is_not_text_by_name(trained_dir: Path, text: Any) -> None:
    """assess(None) raised "normalize() argument 2 must be str, not None", from deep inside."""
    with pytest.raises(TypeError, match=r"assess\(\) takes the tip's text as a str"):
        triage.assess(text)


@pytest.mark.parametrize("answer", ["no", "yes", 1, 0])
def test_assess_refuses_a_happening_now_that_is_not_true_false_or_none(trained_dir: Path, answer: Any) -> None:
    """The form's answer "no" passed as it came was truthy: taken as "happening right now"."""
    with pytest.raises(TypeError, match="happening_now"):
        triage.assess("he has a gun in his locker", happening_now=answer)


@pytest.mark.parametrize(
    "text", ["", " \n\t ", "\x00gun\x00", "he has a gun \ud800 now", "🔫💀😭", "он сказал 他有枪 gun في المدرسة ahora",
             "\u200b\ufeff", "g\u0301" * 500],
    ids=["empty", "blank", "nul", "lone-surrogate", "emoji", "mixed-scripts", "zero-width", "combining"],
)
@pytest.mark.parametrize("now", [True, False, None])
def test_assess_takes_any_str(trained_dir: Path, text: str, now: bool | None) -> None:
    assessment = triage.assess(text, happening_now=now)
    assert assessment.urgency in triage.URGENCIES and assessment.category in triage.CATEGORIES
    json.dumps(assessment.to_dict())


def test_concurrent_first_calls_load_the_model_once(
    trained_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _copy(trained_dir, tmp_path / "model")
    loads: list[int] = []
    real = model_module.load_pipeline

    def slow_load(where: Path, *more: Any) -> Any:
        loads.append(1)
        time.sleep(0.2)  # every thread arrives while the first is still loading
        return real(where, *more)

    monkeypatch.setattr(model_module, "load_pipeline", slow_load)
    start = threading.Barrier(8, timeout=10)

    def first_call(_: int) -> Any:
        start.wait()
        return triage.load_model(directory)

    with ThreadPoolExecutor(max_workers=8) as pool:
        models = list(pool.map(first_call, range(8)))
    assert len(loads) == 1 and all(m is models[0] for m in models)
    forget_loaded(directory)


@pytest.fixture(scope="module")
def few_tips() -> list[Any]:
    return load_training()[::6]


def test_training_into_a_directory_it_cannot_create_fails_before_fitting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Training fitted for half a minute, then died on mkdir or on the write with a traceback."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(blocker / "triage"))

    def no_fit(*_: Any, **__: Any) -> Any:
        raise AssertionError("fitted before finding the directory unwritable")

    monkeypatch.setattr(model_module, "fit_pipeline", no_fit)
    started = time.perf_counter()
    assert cli.main(["train"]) == 2
    captured = capsys.readouterr()
    assert "cannot write the triage model" in captured.err and str(blocker) in captured.err
    assert "Traceback" not in captured.err and time.perf_counter() - started < 5


def _dies_on(monkeypatch: pytest.MonkeyPatch, name: str, when: Callable[..., bool]) -> None:
    """The process dies (here: raises) at `model_module.os.<name>(...)` when `when(*args)` holds."""
    real = getattr(model_module.os, name)

    def dying(*args: Any, **kwargs: Any) -> Any:
        if when(*args):
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(model_module.os, name, dying)


def test_a_training_run_that_dies_half_way_never_leaves_a_model_that_loads_wrong(
    few_tips: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model was renamed into place first and its card written after, in place (not atomically): a run that
    died in between left the new model under the old card (its temperatures, its version), loaded without a word.
    Now the card names its model's SHA-256 and both are renamed into place; a run that dies between the two
    renames leaves a directory that is refused, and that `train --if-missing` retrains."""
    directory = tmp_path / "model"
    first = train(directory, tips=few_tips, dev_file=None)
    forget_loaded(directory)
    assert len(_card(directory)["model_sha256"]) == 64
    before = triage.load_model(directory).assess("he has a gun in his backpack right now")
    forget_loaded(directory)

    # Dies while writing the model's bytes: the old model and card stay, and load as before.
    with monkeypatch.context() as patched:
        patched.setattr(model_module.sio, "dump", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt("killed")))
        with pytest.raises(KeyboardInterrupt):
            train(directory, tips=few_tips[::2], dev_file=None)
    assert _card(directory)["model_version"] == first["model_version"]
    assert triage.load_model(directory).assess("he has a gun in his backpack right now") == before
    forget_loaded(directory)

    # Dies between the two renames: whichever went first, the pair no longer matches and is refused.
    with monkeypatch.context() as patched:
        renamed: list[str] = []
        def second_rename_here(_source: Any, target: Any) -> bool:
            if Path(target).parent == directory:
                renamed.append(Path(target).name)
            return len(renamed) == 2

        _dies_on(patched, "replace", second_rename_here)
        with pytest.raises(KeyboardInterrupt):
            train(directory, tips=few_tips[::2], dev_file=None)
    with pytest.raises(triage.ModelUnusable, match="does not match"):
        triage.load_model(directory)
    assert staleness(directory) == "the model file does not match its card"
    assert not [p.name for p in directory.iterdir() if p.name not in (MODEL_FILE, CARD_FILE)]
