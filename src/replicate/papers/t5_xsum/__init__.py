"""Fine-tuning T5-small on XSum (Asavadi, Teja & Raj, IIT Roorkee lab report, 2023): ROUGE P/R/F (Table 3),
baselines, a learning-rate x batch-size sweep, robustness to noisy inputs and cross-attention maps."""
