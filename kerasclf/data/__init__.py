"""Data: sources (files, folders, tfds, the shipped sample) -> splits -> tokenized batches."""
