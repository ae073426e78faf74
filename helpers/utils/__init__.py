"""Small shared utilities: atomic files, progress bars, devices, DDP, argument types."""
