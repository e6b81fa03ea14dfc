"""Where models and results live: the run store, model sources and the one result cache."""
