"""One migration per schema change, oldest first; never edit one that has been released."""
