"""Tests of the encoder registry and the built-in encoders."""
