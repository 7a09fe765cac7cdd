"""janitor: registry-hygiene job runner for Docker Hub."""

__version__ = "0.1.0"
