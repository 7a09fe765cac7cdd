"""The emulator's HTTP handlers, one module per family of Hub endpoints."""
