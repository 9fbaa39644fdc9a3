"""jaxnets: methods of recent neural and graph network papers as small, composable, pure JAX functions."""

__version__ = "0.1.0"
