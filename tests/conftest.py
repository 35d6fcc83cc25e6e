"""Shared test set-up: keep torch to the cores CI has."""

import torch

torch.set_num_threads(2)
