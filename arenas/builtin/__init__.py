"""The built-in arenas: one module per method, each module's docstring its page."""
