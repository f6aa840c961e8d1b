"""ganscope's model library: StyleGAN2/3 networks, checkpoints, analysis and the CLI."""
