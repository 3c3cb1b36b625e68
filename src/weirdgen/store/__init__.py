"""The run store: models, samples and scores of a run folder, keyed by content."""

from weirdgen.store.sqlite import Store, StoredSample

__all__ = ["Store", "StoredSample"]
