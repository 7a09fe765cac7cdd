"""Tests of the Docker Hub client (janitor.hub)."""
