"""End-to-end browser tests: the real app under uvicorn, driven by Chromium."""
