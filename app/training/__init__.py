"""The training lab's server half: checking a spec as the editor types it, presets, and training jobs that run in
worker processes and stream their progress (app.training.jobs), on the engine in cnn/."""
