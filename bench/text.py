"""Text (issue 13): a sentence VAE against the language model with the same decoder, with each
collapse remedy side by side, and vaekit's training speed against a plain PyTorch loop.

Every model trains through `vaekit.train` on the same corpus with the same decoder (a GRU, z in
its initial state and beside every input), epochs, batch size, learning rate, gradient clipping
and seed; the language model (`lm`) is that decoder without z. The rows:

    lm          the language model: the likelihood to match
    none        the VAE at beta 1 from the first step
    warm-up     beta rising linearly from 0 over the first epoch (Bowman et al. 2016)
    cyclical    beta in 4 cycles rising over half of each (Fu et al. 2019)
    free bits   KL per dimension not pushed below --free-bits nats (Kingma et al. 2016)
    warm-up + free bits  both at once: beta rises over the first epoch, and the floor holds throughout
    aggressive  the encoder trained to convergence before each decoder step until I(x;z) stops
                rising (He et al. 2019)

Figures, on a seeded subset of the test split shared by every row: the importance-sampled NLL per
sentence (K samples; exact for the LM), perplexity per token (<eos> counted), the KL (single-draw
ELBO's), I(x;z) and active units (threshold 0.01 on the variance of the posterior means).

Speed: vaekit's GRU VAE against `text_plain.PlainSentenceVAE` (Sentence-VAE's loop: every sentence
padded to the corpus's longest, the output layer over every position), same sizes, data, batch,
beta 1 and no word dropout, one after the other in this process: training tokens (<eos> counted)
per second of the training steps.

    python bench/text.py                      # WordNet examples (apt-get install wordnet-base); writes docs
    python bench/text.py --quick              # tiny, prints only
    python bench/text.py --corpus ptb --data-dir DIR   # the Penn Treebank from a local folder
"""

from __future__ import annotations

import argparse
import math
import shutil
import time
from pathlib import Path

import torch

from common import DOC, ROOT, write_section
import vaekit
from vaekit.data import load_dataset
from vaekit.evaluate.latents import active_dims, mutual_information
from vaekit.evaluate.nll import importance_nll
from vaekit.evaluate.text_metrics import perplexity
from vaekit.sample.posterior import posterior_moments
from text_plain import train_plain

ROWS = ("lm", "none", "warm-up", "cyclical", "free bits", "warm-up + free bits", "aggressive")
TARGET_GAP = 0.005  # the VAE's NLL within 0.5% of the LM's (issue 13)
TARGET_KL, TARGET_AU = 3.0, 5
SPEED_TARGET = 1.3


def base_config(args) -> dict:
    net = {"name": "rnn", "cell": "gru", "embedding_size": args.embedding, "hidden_size": args.hidden}
    data = {"name": args.corpus, "max_length": args.max_length}
    if args.data_dir:
        data["data_dir"] = args.data_dir
    if args.corpus == "text":
        data["path"] = args.path
    if args.train_sentences:
        data["limit"] = args.train_sentences
    return {
        "data": data,
        "model": {"name": "vae", "latent_dim": args.latent, "encoder": {**net, "bidirectional": True}, "decoder": dict(net)},
        "train": {"epochs": args.epochs, "batch_size": args.batch, "lr": args.lr, "grad_clip": 5.0, "seed": args.seed,
                  "report": False, "sample_grid": 0, "progress": False, "device": "cpu", "eval_batch_size": 500},
    }


def row_config(row: str, args) -> dict:
    raw = base_config(args)
    if row == "lm":
        raw["model"] = {"name": "lm", "decoder": raw["model"]["decoder"]}
    elif row == "warm-up":
        raw["objective"] = {"warmup_epochs": 1.0}
    elif row == "cyclical":
        raw["objective"] = {"cycles": 4, "cycle_ratio": 0.5}
    elif row == "free bits":
        raw["objective"] = {"free_bits": args.free_bits}
    elif row == "warm-up + free bits":
        raw["objective"] = {"warmup_epochs": 1.0, "free_bits": args.free_bits}
    elif row == "aggressive":
        raw["train"].update(aggressive=True, aggressive_inner_steps=args.inner_steps, aggressive_window=max(1, min(10, args.inner_steps // 2)))
    return raw


@torch.no_grad()
def figures(run, x: torch.Tensor, k: int, seed: int) -> dict:
    model = run.model.eval()
    nll = importance_nll(model, x, num_samples=1 if not model.traits.latent else k, batch_size=50, seed=seed)
    tokens = (x != 0).sum(1)
    out = {"nll": float(nll.mean()), "ppl": perplexity(nll, tokens), "kl": 0.0, "mi": 0.0, "au": 0}
    if model.traits.latent:
        torch.manual_seed(seed)
        out["kl"] = float(torch.cat([model(x[i:i + 500]).kl for i in range(0, len(x), 500)]).mean())
        mu, logvar = posterior_moments(model, x, 500)
        out["au"] = len(active_dims(mu, 0.01))
        out["mi"] = max(0.0, mutual_information(mu, logvar, generator=torch.Generator().manual_seed(seed)))
    return out


def speed(args, data) -> dict:
    """Tokens per second of training steps: vaekit against the plain loop, same sizes and data."""
    x = data.train.x[: args.speed_sentences]
    raw = base_config(args)
    raw["train"].update(epochs=1)
    out = Path(args.out) / "speed-vaekit"
    shutil.rmtree(out, ignore_errors=True)
    sub = vaekit.data.Dataset(**{**data.__dict__, "train": data.train.__class__(x, lengths=(x != 0).sum(1)),
                                 "val": data.val, "test": data.test})
    run = vaekit.train(vaekit.parse_config(raw), out, dataset=sub, log=lambda m: None)
    rec = run.metrics()[-1]
    steps = len(x) // args.batch
    seconds_v = rec["time"]
    tokens_v = float((x != 0).sum()) * (steps * args.batch / len(x))
    plain = train_plain(x, 1, args.batch, args.lr, args.seed, vocab=data.codec.vocab_size, embedding=args.embedding,
                        hidden=args.hidden, latent=args.latent)
    return {"vaekit_tps": tokens_v / seconds_v, "plain_tps": plain["tokens"] / plain["seconds"],
            "sentences": len(x), "vaekit_s": seconds_v, "plain_s": plain["seconds"]}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny corpus and sizes; prints only")
    ap.add_argument("--corpus", default="wordnet", choices=("wordnet", "ptb", "text"))
    ap.add_argument("--path", default=str(ROOT / "tests" / "data" / "fixtures" / "sentences.txt"), help="for --corpus text")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--train-sentences", type=int, default=None, help="a seeded subset of the training split (data.limit)")
    ap.add_argument("--free-bits", type=float, default=0.15, help="the free bits row's floor, nats per dimension")
    ap.add_argument("--inner-steps", type=int, default=100, help="the aggressive row's most encoder steps per step")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--embedding", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--samples", type=int, default=100, help="importance samples K of the NLL")
    ap.add_argument("--test-sentences", type=int, default=1000)
    ap.add_argument("--speed-sentences", type=int, default=10000, help="0 leaves the speed comparison out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench-text"))
    ap.add_argument("--doc", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.corpus, args.epochs, args.batch, args.embedding, args.hidden, args.latent = "text", 2, 32, 16, 32, 8
        args.samples, args.test_sentences, args.speed_sentences = 10, 40, 200
    data = load_dataset(vaekit.parse_config(base_config(args)).data)
    g = torch.Generator().manual_seed(args.seed)
    test = data.test.x[torch.randperm(len(data.test), generator=g)[: args.test_sentences]]
    results = {}
    for row in args.rows:
        out = Path(args.out) / row.replace(" ", "-")
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        run = vaekit.train(vaekit.parse_config(row_config(row, args)), out, dataset=data, log=lambda m: None)
        seconds = time.perf_counter() - t0
        results[row] = {**figures(run, test, args.samples, args.seed), "seconds": seconds,
                        "epochs": len(run.metrics())}
        print(row, {k: round(v, 3) if isinstance(v, float) else v for k, v in results[row].items()}, flush=True)
    sp = speed(args, data) if args.speed_sentences else None
    print("speed", sp, flush=True)
    body = render(args, data, test, results, sp)
    print(body)
    if not args.quick or args.doc:
        write_section("text", body, Path(args.doc) if args.doc else DOC)
    return {"rows": results, "speed": sp}


def render(args, data, test, results: dict, sp: dict) -> str:
    lm = results.get("lm")
    lines = [
        "## Text: a sentence VAE against its language model (`bench/text.py`)", "",
        f"Corpus: `{args.corpus}` ({len(data.train):,} training, {len(data.test):,} test sentences; vocabulary "
        f"{data.codec.vocab_size:,} ids with the 4 specials; at most {args.max_length} tokens). Every row trains through "
        f"`vaekit.train` for {args.epochs} epochs, batch {args.batch}, learning rate {args.lr:g}, gradient clipping 5, "
        f"seed {args.seed}, with the same GRU decoder (embedding {args.embedding}, hidden {args.hidden}; z of "
        f"{args.latent} dimensions in its initial state and beside every input; a bidirectional GRU encoder). "
        f"Figures on {len(test):,} test sentences (a seeded subset, the same for every row): NLL per sentence in nats, "
        f"importance-sampled with K={args.samples} (exact for the LM), perplexity per token (<eos> counted), the KL of "
        f"q(z|x), I(x;z) and active units.", "",
        f"Target (issue 13): a VAE's NLL within {TARGET_GAP:.1%} of the LM's or better, with KL >= {TARGET_KL:g} nats and "
        f">= {TARGET_AU} active units. The aggressive row takes at most {args.inner_steps} encoder steps per step "
        f"(the paper's cap is 100), stopping early when the mean loss of a window of "
        f"{max(1, min(10, args.inner_steps // 2))} rises. The free bits row keeps each dimension's KL from being pushed "
        f"below {args.free_bits:g} nats.", "",
        "| model | NLL | perplexity | KL | I(x;z) | active units | NLL vs LM | meets target | epochs | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row, r in results.items():
        gap = (r["nll"] - lm["nll"]) / lm["nll"] if lm and row != "lm" else None
        meets = "" if gap is None else ("yes" if gap <= TARGET_GAP and r["kl"] >= TARGET_KL and r["au"] >= TARGET_AU else "**no**")
        lines.append(f"| {row} | {r['nll']:.2f} | {r['ppl']:.1f} | {r['kl']:.2f} | {r['mi']:.2f} | {r['au']} | "
                     f"{'' if gap is None else f'{gap:+.2%}'} | {meets} | {r['epochs']} | {r['seconds']:.0f} |")
    if sp is None:  # --speed-sentences 0: the figures alone
        return "\n".join(lines)
    ratio = sp["vaekit_tps"] / sp["plain_tps"]
    lines += ["", f"Speed: training tokens per second of the training steps on {sp['sentences']:,} sentences (one epoch, "
              f"beta 1, no word dropout), vaekit against a plain PyTorch loop of the same sizes written as Sentence-VAE's "
              f"(`bench/text_plain.py`), run one after the other: vaekit {sp['vaekit_tps']:,.0f} tokens/s, plain "
              f"{sp['plain_tps']:,.0f} tokens/s: **{ratio:.2f}x** (target >= {SPEED_TARGET}x: "
              f"{'met' if ratio >= SPEED_TARGET else '**missed**'})."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
