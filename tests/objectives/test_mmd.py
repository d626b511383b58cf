import torch

from vaekit.objectives.mmd import mmd


def _brute(x, y, c):
    k = lambda a, b: c / (c + ((a - b) ** 2).sum())  # noqa: E731
    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


def test_matches_a_brute_force_sum():
    torch.manual_seed(0)
    x, y = torch.randn(7, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64) + 0.5
    torch.testing.assert_close(mmd(x, y, "imq", scales=(0.5,)), _brute(x, y, 2 * 3 * 0.5))


def test_near_zero_for_one_distribution_and_larger_when_shifted():
    torch.manual_seed(0)
    for kernel in ("imq", "rbf"):
        same = mmd(torch.randn(500, 4), torch.randn(500, 4), kernel).item()
        shifted = mmd(torch.randn(500, 4), torch.randn(500, 4) + 1.0, kernel).item()
        assert abs(same) < 0.02 and shifted > 10 * max(abs(same), 1e-3)
