"""The main job: a real prompt, tuned and evaluated end to end on the embedded model and data."""
