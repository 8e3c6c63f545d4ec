"""Domain objects, rendering, hookspecs and the plugin manager.

Nothing here imports torch, transformers, peft, ray or evaluate.
"""
