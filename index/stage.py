"""What an index stage is: one kind of work done on each photo (CLIP vectors, faces, words).

The indexer (index/indexer.py) walks a folder, reads and decodes each photo that needs work
once, and hands the decoded photo to every stage that needs it. A stage says:

- **what it needs decoded**: `decode_size`, the longest side (px) of the copy it works on.
  Stages that run together share one decode at the largest size any of them needs (the
  thumbnail is made from the same decode).
- **how it resumes**: `begin` returns the photos already catalogued that still need it (no
  vector from this model, faces from another face model, words not read by this reader);
  the indexer gives it those and every new or changed photo. A stage that records the model
  it ran with picks up after a kill at the batch where it stopped.
- **what it computes**: `analyze` runs in the decode workers (thread-safe, beside the decode);
  `batch` runs on the whole batch in the indexing thread (models that batch, e.g. CLIP).
- **what it writes**: `write` stores one photo's result and `after_batch` finishes a batch,
  both inside the batch's catalog transaction (all SQL through the catalog).
- **how it reports progress**: `name` is its key in the run's tallies (`IndexReport.done`),
  `doing` what the progress line says while it runs alone; `end` adds notes to the report.

Stages are registered in one place, `Library.stages()`, in passes: the first pass (CLIP and
faces) makes a photo searchable by description and people; a later pass (words) runs after
it, so a folder is searchable before its slowest stage is done. Adding a stage: see the
README, "Adding an index stage".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from index.catalog import Catalog
    from index.scan import Decoded

Progress = Callable[[int, int, str], None]  # done, total, what is happening


@dataclass
class Run:
    """What a stage is told at the start of a run and may add to: the folder, progress, notes."""

    root: str | None  # the folder being indexed (path text); None: the whole library
    progress: Progress
    notes: list[str] = field(default_factory=list)  # said once at the end of the run


class IndexStage(Protocol):
    """One kind of work on each photo; see the module docstring for the contract."""

    name: str  # "clip", "faces", "words": its key in the run's tallies
    doing: str  # what the progress line says while this stage runs alone
    decode_size: int  # longest side (px) of the decoded copy it works on
    uses_worker_cores: bool  # analyze() runs torch in the decode workers: one thread each

    def begin(self, catalog: Catalog, run: Run) -> set[int] | None:
        """Get ready for a run; None when the stage cannot run now (a note says why), else
        the ids of photos under `run.root` already catalogued that still need it."""
        ...

    def analyze(self, decoded: Decoded) -> Any:
        """Work on one decoded photo in a decode worker (thread-safe); the result goes on."""
        ...

    def batch(self, analysed: list[Any]) -> list[Any]:
        """Work on a whole batch's analyses in the indexing thread, before its transaction."""
        ...

    def write(self, catalog: Catalog, photo_id: int, result: Any) -> bool:
        """Store one photo's result (in the batch transaction); whether it found anything."""
        ...

    def after_batch(self, catalog: Catalog, photo_ids: list[int]) -> None:
        """Finish a batch (in its transaction), e.g. cluster the faces just stored."""
        ...

    def end(self, catalog: Catalog, run: Run) -> None:
        """After the last batch: finish what waited for more photos, add notes to the run."""
        ...
