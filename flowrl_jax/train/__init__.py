"""The RL trainer: config, rollout, update step, checkpoints, metrics and the CLI."""
