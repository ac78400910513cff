"""Records, readers, validation, dedup, decontamination and splits shared by every package."""
