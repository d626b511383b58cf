"""A plain PyTorch LSTM/GRU sentence VAE and its training loop, written as the reference
implementations write it (timbmg/Sentence-VAE: every sentence padded to the corpus's maximum
length, packed sequences through the encoder and the decoder, the output layer over every padded
position with the padding ignored in the loss): the peer `bench/text.py` measures vaekit's
training speed against. Same sizes as vaekit's `rnn` networks: a bidirectional encoder whose
final states give (mu, log sigma^2), z into the decoder's initial state and beside every input.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD, UNK, BOS = 0, 1, 2


class PlainSentenceVAE(nn.Module):
    def __init__(self, vocab: int, embedding: int, hidden: int, latent: int, cell: str = "gru") -> None:
        super().__init__()
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.lstm = cell == "lstm"
        self.hidden = hidden
        self.enc_embedding = nn.Embedding(vocab, embedding, padding_idx=PAD)
        self.dec_embedding = nn.Embedding(vocab, embedding, padding_idx=PAD)
        self.encoder = rnn(embedding, hidden, batch_first=True, bidirectional=True)
        self.to_posterior = nn.Linear(2 * hidden, 2 * latent)
        self.to_state = nn.Linear(latent, hidden * (2 if self.lstm else 1))
        self.decoder = rnn(embedding + latent, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, word_dropout: float = 0.0):
        """x (B, L) ids, `<eos>`-terminated and padded to the corpus's L; returns (recon, kl) per sentence."""
        b, length = x.shape
        packed = pack_padded_sequence(self.enc_embedding(x), lengths, batch_first=True, enforce_sorted=False)
        _, h = self.encoder(packed)
        h = h[0] if self.lstm else h
        mu, logvar = self.to_posterior(h.transpose(0, 1).reshape(b, -1)).chunk(2, -1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        inputs = torch.cat([torch.full_like(x[:, :1], BOS), x[:, :-1]], 1)
        if word_dropout > 0 and self.training:
            drop = (torch.rand(inputs.shape) < word_dropout) & (inputs != PAD) & (inputs != BOS)
            inputs = inputs.masked_fill(drop, UNK)
        emb = torch.cat([self.dec_embedding(inputs), z.unsqueeze(1).expand(-1, length, -1)], -1)
        s = self.to_state(z)
        state = (torch.tanh(s[:, :self.hidden]).unsqueeze(0).contiguous(), s[:, self.hidden:].unsqueeze(0).contiguous()) \
            if self.lstm else torch.tanh(s).unsqueeze(0)
        out, _ = self.decoder(pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False), state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=length)
        logits = self.out(out)  # (B, L, V): every padded position, as the reference loops compute it
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.reshape(-1), ignore_index=PAD, reduction="none")
        recon = -nll.view(b, length).sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        return recon, kl


def train_plain(x: torch.Tensor, epochs: int, batch_size: int, lr: float, seed: int, *, vocab: int, embedding: int,
                hidden: int, latent: int, cell: str = "gru", word_dropout: float = 0.0, grad_clip: float = 5.0,
                max_steps: int | None = None) -> dict[str, float]:
    """Train on x (N, L) with beta 1; returns the seconds of the training steps and their count."""
    torch.manual_seed(seed)
    model = PlainSentenceVAE(vocab, embedding, hidden, latent, cell)
    opt = torch.optim.Adam(model.parameters(), lr)
    lengths_all = (x != PAD).sum(1)
    steps, seconds, tokens = 0, 0.0, 0
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for start in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            t0 = time.perf_counter()
            recon, kl = model(x[idx], lengths_all[idx], word_dropout)
            loss = -(recon - kl).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            seconds += time.perf_counter() - t0
            steps += 1
            tokens += int(lengths_all[idx].sum())
            if max_steps is not None and steps >= max_steps:
                return {"seconds": seconds, "steps": steps, "tokens": tokens}
    return {"seconds": seconds, "steps": steps, "tokens": tokens}
