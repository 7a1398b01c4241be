import pytest

from spacegroup_nn import fourier_basis
from spacegroup_nn.solvers import reflection_conditions


@pytest.mark.parametrize("number", range(1, 231))
def test_conditions_explain_every_extinction(number):
    conditions = reflection_conditions(fourier_basis(number))
    assert all(condition.unexplained == 0 for condition in conditions)
    if fourier_basis(number).extinct.any():
        assert conditions
    else:
        assert conditions == []


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (1, []),
        (14, ["h0l: l=2n", "0k0: k=2n"]),
        (23, ["hkl: h+k+l=2n"]),
        (146, ["hkil: h-k-l=3n"]),
        (194, ["hh-2hl: l=2n"]),
        (205, ["0kl: k=2n", "h00: h=2n"]),
        (227, ["hkl: k+l=2n, h+l=2n", "0kl: k+l=4n"]),
        (230, ["hkl: h+k+l=2n", "0kl: l=2n", "hhl: 2h+l=4n"]),
    ],
)
def test_conditions_read_like_the_international_tables(number, expected):
    assert [str(c) for c in reflection_conditions(fourier_basis(number))] == expected
