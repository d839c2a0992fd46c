from .perceptual import LPIPS, LPIPSBackboneError
from .vaegan_loss import VAEGANLoss, kl_per_image, rec_per_image

__all__ = ["LPIPS", "LPIPSBackboneError", "VAEGANLoss", "kl_per_image", "rec_per_image"]
