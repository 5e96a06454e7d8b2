"""Built-in training tasks of the core (the families bring their own)."""
