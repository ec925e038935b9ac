"""A tiny diffusers pipeline built from config with random weights (no download), standing in
for an EMO-style model in the diffusers: adapter tests."""

from pathlib import Path


def make_pipeline():
    import torch
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=32, in_channels=3, out_channels=3, layers_per_block=1,
                       block_out_channels=(8, 16), norm_num_groups=4,
                       down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"))
    return DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=20))


def save_pipeline(folder: Path) -> Path:
    make_pipeline().save_pretrained(str(folder))
    return folder
