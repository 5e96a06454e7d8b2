"""Built-in ``medtk evaluate`` tasks of the core."""
