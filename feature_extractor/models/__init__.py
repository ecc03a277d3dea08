"""Built-in backbones; importing this package registers them by name.

| name | pooled width | notes |
| --- | --- | --- |
| ``resnet18_1024`` | 1024 | the paper's modified ResNet-18 (last stage 1024 channels) |
| ``resnet18`` ``resnet34`` | 512 | projected to 1024 |
| ``resnet50`` ``resnet101`` ``resnet152`` | 2048 | projected to 1024 |
| ``convnext_base`` | 1024 | the paper's ConvNeXt-Base |
| ``convnext_tiny`` ``convnext_small`` | 768 | projected to 1024 |
| ``vit_base`` | 768 | transformers ViTModel from a config |
| ``swin_tiny`` / ``swin_base`` | 768 / 1024 | transformers SwinModel from a config |
| ``maxvit_tiny`` ``maxvit_small`` ``maxvit_base`` ``maxvit_large`` | 512 / 768 / 768 / 1024 | MaxViT (MBConv + block/grid attention) |
| ``clip_vit_l14_336`` | 1024 | CLIP ViT-L/14-336 vision tower (LLaVA's), from a local folder (``path``) |
| ``vim_tiny`` ``vim_small`` ``vim_base`` | 192 / 384 / 768 | Vision Mamba, bidirectional selective scan |
"""

from feature_extractor.models import clip, convnext, hf_vision, maxvit, resnet, vim

__all__ = ["clip", "convnext", "hf_vision", "maxvit", "resnet", "vim"]
