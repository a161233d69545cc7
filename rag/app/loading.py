"""Load the pipeline in the background so the app serves its page at once.

The first run of the app has no index yet: building it takes a minute or more. Instead of a
silent wait before the server starts, ``BackgroundPipeline`` loads (and if needed builds) in a
thread while the page is already up; ``status`` tells the page how far it has got, and
questions asked meanwhile wait for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rag.config import Settings
from rag.errors import RagError
from rag.types import Answer, Document

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadStatus:
    """Where loading stands.

    Attributes:
        stage: ``"model"`` (loading the model and checking the index), ``"passages"`` or
            ``"words"`` (building the index), ``"ready"`` or ``"failed"``.
        documents: Articles being indexed (0 when the index is already up to date).
        done: Texts of the stage embedded so far.
        total: Texts of the stage to embed.
        error: What went wrong, when ``stage == "failed"``.
    """

    stage: str = "model"
    documents: int = 0
    done: int = 0
    total: int = 0
    error: str = ""

    @property
    def ready(self) -> bool:
        return self.stage == "ready"

    @property
    def fraction(self) -> float:
        """Share of the index build done, 0..1 (the vocabulary stage counts as the last 10 %).

        Example: ``LoadStatus("passages", 5, 50, 100).fraction == 0.45``
        """
        if self.stage in ("ready", "words") and self.total:
            return 0.9 + 0.1 * self.done / self.total if self.stage == "words" else 1.0
        if self.stage == "passages" and self.total:
            return 0.9 * self.done / self.total
        return 1.0 if self.stage == "ready" else 0.0


class BackgroundPipeline:
    """Stands in for a ``Pipeline`` while one loads in a thread; delegates to it once loaded.

    Example: ``bg = BackgroundPipeline(settings, loader).start(); bg.wait(); bg.ask_stream("...")``

    Args:
        settings: The settings the pipeline is loaded with.
        loader: Loads the pipeline, calling its argument with each ``BuildProgress``
            (e.g. ``lambda cb: Pipeline.load(settings, build_if_missing=True, on_progress=cb)``).
    """

    def __init__(self, settings: Settings, loader: Callable[[Callable[[Any], None]], Any]) -> None:
        self.settings = settings
        self._loader = loader
        self._status = LoadStatus()
        self._pipeline: Any = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundPipeline:
        self._thread = threading.Thread(target=self._load, name="load-pipeline", daemon=True)
        self._thread.start()
        return self

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            self._pipeline = self._loader(self._on_progress)
        except Exception as e:  # shown on the page; the server keeps running so the user sees why
            log.exception("loading the pipeline failed")
            message = str(e) if isinstance(e, RagError) else f"{type(e).__name__}: {e}"
            self._status = LoadStatus("failed", error=message)
        else:
            self._status = LoadStatus("ready", self._status.documents, self._status.total, self._status.total)
            log.info("pipeline ready in %.1f s", time.perf_counter() - started)
        finally:
            self._ready.set()

    def _on_progress(self, p: Any) -> None:
        self._status = LoadStatus(p.stage, p.documents, p.done, p.total)

    def status(self) -> LoadStatus:
        return self._status

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading has finished (or failed); True if it has."""
        return self._ready.wait(timeout)

    @property
    def pipeline(self) -> Any:
        """The loaded pipeline; raises RagError if loading failed, None while loading."""
        if self._status.stage == "failed":
            raise RagError(f"the index could not be loaded: {self._status.error}")
        return self._pipeline

    @property
    def documents(self) -> dict[str, Document]:
        return self._pipeline.documents if self._pipeline is not None else {}

    def ask_stream(self, question: str, **kwargs: Any) -> Iterator[str | Answer]:
        self.wait()
        return self.pipeline.ask_stream(question, **kwargs)

