"""Running things: sweeps, the evaluation stage, notebooks, reports and `selrob reproduce`."""
