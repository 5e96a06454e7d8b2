"""Small built-in models: reference networks for the engine's tests and demos."""
