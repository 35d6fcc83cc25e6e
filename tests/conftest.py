"""Shared test set-up.

Tests run torch on one thread: the models here are small, and intra-op threads
on a shared 2-core machine cost more in synchronisation than they save.
"""

import torch

torch.set_num_threads(1)
