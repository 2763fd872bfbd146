"""Tests of the video-text trainer."""
