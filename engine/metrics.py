"""Latency histograms kept inside the compiled path (``LatencyHistogram``); read once a second."""
from engine._build import load

_metrics = load("engine._metrics")

LatencyHistogram = _metrics.LatencyHistogram
BUILD_MODE = _metrics.BUILD_MODE

__all__ = ["LatencyHistogram", "BUILD_MODE"]
