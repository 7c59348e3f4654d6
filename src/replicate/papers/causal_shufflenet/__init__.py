"""3D Causal ShuffleNet in dual paths for efficient action recognition (Zhao & Zheng), UCF101."""
