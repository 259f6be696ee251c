"""The local test bed: real services on loopback, started and stopped by the tests.

Each service is a context manager (see the modules); ``fixtures`` turns them into session-scoped
pytest fixtures that every pipe's tests reuse.
"""
