"""Records, readers, validation, dedup, decontamination, splits and tracking shared by every package."""
