"""Fakes the package ships for its own tests and its users' tests."""
