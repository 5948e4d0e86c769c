"""Look inside trained runs: their embeddings, their weights and their validation logits.

Headless (no Textual, no TensorFlow): the console's inspect screens, `embtui inspect` and the
reports' "What the models learned" section all read from here.
"""
