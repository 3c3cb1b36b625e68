"""The paper's own files, read as data."""
