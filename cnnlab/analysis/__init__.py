"""What the numbers say: pure functions over histories, predictions and layer outputs.

``statistics`` holds the named standard methods (McNemar, Wilson, bootstrap, ...);
``diagnostics`` reads a learning curve (best epoch, gap, plateau, divergence);
``representations`` measures what a trained model's layers hold. No files, no
TensorFlow, no plotting: the planner (6E's selection), the trainer and the report share
these, so they all say the same.
"""
