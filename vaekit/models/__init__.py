"""Model families, one file each, registered by name."""

from __future__ import annotations

from vaekit.sections import ModelConfig
from vaekit.contract import Family
from vaekit.models import btcvae, cvae, hvae, infovae, iwae, ladder, lm, vae, vaegan, vqvae  # noqa: F401  (registers the models)
from vaekit.models.btcvae import BetaTCVAE, BetaTCVAEConfig, CapacityVAE, CapacityVAEConfig
from vaekit.models.cvae import CVAE, CVAEConfig
from vaekit.models.hvae import HVAE, HVAEConfig
from vaekit.models.infovae import WAE, InfoVAE, InfoVAEConfig, WAEConfig
from vaekit.models.iwae import IWAE, IWAEConfig
from vaekit.models.ladder import LadderConfig, LadderVAE
from vaekit.models.lm import LanguageModel, LMConfig
from vaekit.models.vae import VAE, VAEConfig
from vaekit.models.vqvae import VQVAE, VQVAEConfig
from vaekit.models.vaegan import VAEGAN, VAEGANConfig
from vaekit.registry import MODELS


def build_model(config: ModelConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> Family:
    """Build the registered model `config.name` for examples of shape `data_shape`; conditional
    families also need the number of classes of the labels."""
    return MODELS.build(config, tuple(data_shape), num_classes=num_classes)


__all__ = ["BetaTCVAE", "BetaTCVAEConfig", "CVAE", "CapacityVAE", "CapacityVAEConfig", "CVAEConfig", "HVAE", "HVAEConfig", "IWAE", "IWAEConfig", "InfoVAE", "InfoVAEConfig", "LadderConfig", "LadderVAE", "LanguageModel", "LMConfig", "WAE", "WAEConfig", "VAE", "VAEConfig", "VAEGAN", "VAEGANConfig", "VQVAE", "VQVAEConfig", "build_model"]
