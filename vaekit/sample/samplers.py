"""Samplers beside the models: `Sampler(model).fit(x).sample(n, temperature, generator)`.

- `prior`: z from the model's prior, its spread scaled by the temperature.
- `gmm`: ex-post density estimation (Ghosh et al., "From Variational to Deterministic
  Autoencoders", ICLR 2020, https://arxiv.org/abs/1903.12436): a Gaussian mixture fitted to the
  posterior means of the training data, which follows the codes the decoder has actually seen
  rather than the prior that the KL term only approximately enforces.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from vaekit.checks import MAX_COMPONENTS, check_int
from vaekit.errors import ConfigError
from vaekit.registry import SAMPLERS


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@SAMPLERS.register("prior")
class PriorSampler:
    """z ~ p(z) with the standard deviation scaled by `temperature`."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def fit(self, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> "PriorSampler":
        return self  # nothing to learn

    @torch.no_grad()
    def latents(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.model.prior.sample(n, temperature, generator)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
               y: torch.Tensor | None = None) -> torch.Tensor:
        """n examples: the model's own samples from its prior."""
        return self.model.sample(n, temperature, generator, y=y)


@SAMPLERS.register("gmm")
class GMMSampler(PriorSampler):
    """A Gaussian mixture on the training codes (full covariances by default)."""

    def __init__(self, model: nn.Module, components: int = 10, covariance: str = "full", seed: int = 0) -> None:
        super().__init__(model)
        components = check_int(components, "the gmm sampler's components", min=1, max=MAX_COMPONENTS, error=ConfigError)
        self.components, self.covariance, self.seed = components, covariance, seed
        self.weights = self.means = self.chol = None

    @torch.no_grad()
    def fit(self, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 500) -> "GMMSampler":
        """Fit the mixture to the posterior means of x (the training split)."""
        from sklearn.mixture import GaussianMixture

        from vaekit.sample.posterior import posterior_moments

        require_codes(self.components, len(x))
        mu, _ = posterior_moments(self.model, x, batch_size, y)
        k = self.components
        gmm = GaussianMixture(k, covariance_type=self.covariance, random_state=self.seed, reg_covar=1e-5).fit(mu.double().numpy())
        cov = gmm.covariances_
        d = mu.shape[1]
        if self.covariance == "full":
            full = cov
        elif self.covariance == "diag":
            full = np.stack([np.diag(c) for c in cov])
        elif self.covariance == "spherical":
            full = np.stack([np.eye(d) * c for c in cov])
        else:  # tied
            full = np.repeat(cov[None], k, axis=0)
        dev = _device(self.model)
        self.weights = torch.tensor(gmm.weights_, dtype=torch.float32, device=dev)
        self.means = torch.tensor(gmm.means_, dtype=torch.float32, device=dev)
        self.chol = torch.linalg.cholesky(torch.tensor(full, dtype=torch.float64)).float().to(dev)
        return self

    @torch.no_grad()
    def latents(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.means is None:
            raise ConfigError("the gmm sampler must be fitted first: GMMSampler(model).fit(train_x)")
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.means.shape[1], 1, device=self.means.device, generator=generator)
        return self.means[k] + temperature * (self.chol[k] @ eps).squeeze(-1)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
               y: torch.Tensor | None = None) -> torch.Tensor:
        """n examples: codes drawn from the mixture in the space `encode` returns (a hierarchy's top
        layer, a VQ-VAE's encoder outputs), made into examples as the model's own `sample` does
        (`decode_sample`: a hierarchy's lower layers drawn from their conditional priors)."""
        return self.model.decode_sample(self.latents(n, temperature, generator), temperature, generator, y)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Log-density of the fitted mixture at codes z (N, D)."""
        d = z.shape[-1]
        diff = (z.unsqueeze(1) - self.means).unsqueeze(-1)  # (N, K, D, 1)
        sol = torch.linalg.solve_triangular(self.chol, diff, upper=False).squeeze(-1)  # (N, K, D)
        logdet = torch.log(torch.diagonal(self.chol, dim1=-2, dim2=-1)).sum(-1)  # (K,)
        comp = -0.5 * (sol**2).sum(-1) - logdet - 0.5 * d * math.log(2 * math.pi)
        return torch.logsumexp(comp + torch.log(self.weights), dim=-1)


def require_codes(components: int, n: int) -> None:
    """ConfigError unless n training examples are enough codes for a mixture of `components`:
    a component per code at least, and two codes (scikit-learn fits nothing to one)."""
    need = max(2, components)
    if n >= need:
        return
    fix = (f"lower the components to at most {n} (--components; train.sample_components for samples.png), "
           if n >= 2 else "")
    raise ConfigError(f"the gmm sampler cannot fit {components} component{'s' if components != 1 else ''} to the codes of "
                      f"{n} training example{'s' if n != 1 else ''} (it needs at least {need}); {fix}use more training "
                      f"data (raise data.limit), or sample from the prior")


def fitted_sampler(model: nn.Module, name: str, x: torch.Tensor | None = None, y: torch.Tensor | None = None,
                   components: int = 10) -> PriorSampler | None:
    """The sampler registered as `name`, fitted on examples x (the training split): None for
    'prior', which the model's own `sample` already is. Unknown names raise ConfigError."""
    if name == "prior":
        return None
    cls = SAMPLERS.get(name)
    if x is None:
        raise ConfigError(f"the {name} sampler is fitted on the training examples; pass them")
    return cls(model, components=components).fit(x, y)

