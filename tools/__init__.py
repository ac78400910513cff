"""Developer tools outside the DVC stage graph (CI checks, the offline plots template)."""
