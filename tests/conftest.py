"""Tests run in the smoke profile and never reach for a model hub."""

import os

os.environ.setdefault("TLCOURSE_PROFILE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import tlcourse  # noqa: E402,F401  (first, so torch's threads wait passively in the tests too)
