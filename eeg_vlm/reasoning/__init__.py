"""Chain-of-thought from the signal: event detectors, rationales and the LLaVA data files."""
