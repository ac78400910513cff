"""Generation backends, teachers and the preference-data engine (filled by the synth issue)."""
