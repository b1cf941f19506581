"""syncd: keeps ad-network audiences equal to warehouse segments, and brings back what they cost."""

__version__ = "0.1.0"
