"""What the hierarchical families share: the sampling pass down the layers (`top_down`) and the
ELBO of several latent layers, with the KL reported (and free bits applied) per layer. A family
supplies `infer_top` (the top posterior), `layer` (each lower layer's posterior and conditional
prior) and `decode_layers` (p(x | ...) from the layers): the Ladder VAE decodes from the bottom
layer, the VampPrior paper's HVAE from all of them."""

from __future__ import annotations

import torch

from vaekit.contract import Batch, Terms, Traits, as_batch
from vaekit.models.vae import VAE


class LayeredVAE(VAE):
    """A VAE with Gaussian latent layers z_1 (bottom) ... z_L (top); the prior module is z_L's."""

    traits = Traits(hierarchical=True)

    def infer_top(self, x: torch.Tensor):
        """q(z_L | x), and what the layers below need of x (computed once per x)."""
        raise NotImplementedError

    def layer(self, i: int, context, z_above: torch.Tensor):
        """q(z_i | x, z_{i+1}) and p(z_i | z_{i+1}) for the layer i below the top (0 = bottom)."""
        raise NotImplementedError

    def top_down(self, x: torch.Tensor, num_samples: int | None = None):
        """Sample every layer from the posterior, top first. Returns z (bottom first), log q and
        log p per layer, the per-layer KL (analytic below the top, the prior's rule at the top)
        and q(z_L | x)."""
        q_top, context = self.infer_top(x)
        z = q_top.rsample(num_samples)
        zs, log_q, log_p, kls = [z], [q_top.log_prob(z)], [self.prior.log_prob(z)], [self.prior.kl(q_top, z)]
        for i in reversed(range(len(self.dims) - 1)):
            q_i, p_i = self.layer(i, context, zs[0])  # (B, d) parts broadcast over (S, B, d) samples
            z = q_i.rsample()
            zs.insert(0, z)
            log_q.insert(0, q_i.log_prob(z))
            log_p.insert(0, p_i.log_prob(z))
            kls.insert(0, q_i.kl(p_i))
        return zs, log_q, log_p, kls, q_top

    def decode_layers(self, zs: list[torch.Tensor]):
        """p(x | the layers), from the layers bottom first."""
        raise NotImplementedError

    def forward(self, batch: Batch | torch.Tensor) -> Terms:
        """log p(x | the layers) and the KL summed over layers, with each layer's KL (bottom
        first) for free bits per layer."""
        b = as_batch(batch)
        zs, _, _, kls, q_top = self.top_down(b.x)
        px = self.decode_layers(zs)
        return Terms(px.log_prob(b.x, b.mask), torch.stack(kls).sum(0), kl_layers=tuple(kls), z=zs[-1],
                     posterior=q_top, px=px)

    @torch.no_grad()
    def log_weights(self, batch: Batch | torch.Tensor, num_samples: int) -> torch.Tensor:
        b = as_batch(batch)
        zs, log_q, log_p, _, _ = self.top_down(b.x, num_samples)
        return self.decode_layers(zs).log_prob(b.x, b.mask) + sum(log_p) - sum(log_q)
