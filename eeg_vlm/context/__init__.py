"""Night context for staging: a stage-transition HMM over per-epoch probabilities."""
