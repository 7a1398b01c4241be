import pickle

import numpy as np
import pytest

from spacegroup_nn import SpaceGroup, canonical_hall_number, standardize
from spacegroup_nn.errors import InvalidGroupError
from spacegroup_nn.groups import random_crystal
from spacegroup_nn.groups._spglib import spacegroup_type

ALL_NUMBERS = range(1, 231)
ALL_HALLS = range(1, 531)
POINT_GROUP_ORDERS = {
    "1": 1, "-1": 2, "2": 2, "m": 2, "2/m": 4, "222": 4, "mm2": 4, "mmm": 8, "4": 4, "-4": 4,
    "4/m": 8, "422": 8, "4mm": 8, "-42m": 8, "4/mmm": 16, "3": 3, "-3": 6, "32": 6, "3m": 6,
    "-3m": 12, "6": 6, "-6": 6, "6/m": 12, "622": 12, "6mm": 12, "-6m2": 12, "6/mmm": 24,
    "23": 12, "m-3": 24, "432": 24, "-43m": 24, "m-3m": 48,
}  # fmt: skip
CENTRING_VECTORS = {"P": 1, "A": 2, "B": 2, "C": 2, "I": 2, "F": 4, "R": 3}


def operation_set(rotations, translations):
    """Operations as a set of hashable keys, translations modulo 1 at 1e-6 resolution."""
    steps = np.rint(np.asarray(translations) % 1.0 * 1e6).astype(np.int64) % 1_000_000
    return {(np.rint(r).astype(np.int64).tobytes(), tuple(s)) for r, s in zip(rotations, steps, strict=True)}


@pytest.mark.parametrize("number", ALL_NUMBERS)
def test_canonical_group_is_a_group_with_exact_translations(number):
    group = SpaceGroup(number)
    assert group.number == number
    assert group.hall_number == canonical_hall_number(number)
    assert group.is_canonical
    assert group.rotations.dtype == np.int64 and group.rotations.shape == (group.order, 3, 3)
    assert group.translations.shape == (group.order, 3)
    np.testing.assert_array_equal(group.translations * 12, group.translations_twelfths)
    assert np.all((group.translations >= 0) & (group.translations < 1))
    np.testing.assert_array_equal(group.rotations[0], np.eye(3))
    np.testing.assert_array_equal(group.translations[0], 0)
    assert set(np.rint(np.linalg.det(group.rotations)).astype(int)) <= {-1, 1}
    expected = POINT_GROUP_ORDERS[group.point_group_symbol] * CENTRING_VECTORS[group.centring]
    assert group.order == expected
    assert len(group.centring_vectors) == CENTRING_VECTORS[group.centring]
    # closure modulo lattice translations, checked independently of from_operations
    ops = operation_set(group.rotations, group.translations)
    products = operation_set(
        np.einsum("aij,bjk->abik", group.rotations, group.rotations).reshape(-1, 3, 3),
        (np.einsum("aij,bj->abi", group.rotations, group.translations) + group.translations[:, None]).reshape(
            -1, 3
        ),
    )
    assert products == ops
    assert SpaceGroup.from_operations(group.rotations, group.translations) == group


@pytest.mark.parametrize("hall", ALL_HALLS)
def test_every_setting_maps_into_the_canonical_setting(hall):
    group = SpaceGroup.from_hall(hall)
    canonical = group.canonical()
    transformation = group.to_canonical
    rotations, translations = transformation.conjugate(group.rotations, group.translations)
    np.testing.assert_allclose(rotations, np.rint(rotations), atol=1e-12)
    mapped = operation_set(rotations, translations)
    assert mapped <= operation_set(canonical.rotations, canonical.translations)
    # the image is the point group times the centring vectors the original cell sees
    assert len(mapped) == group.order
    volume_ratio = abs(np.linalg.det(transformation.matrix))
    assert canonical.order == pytest.approx(group.order / volume_ratio)


def test_setting_transformation_of_rhombohedral_axes_triples_the_cell():
    rhombohedral = next(SpaceGroup.from_hall(h) for h in ALL_HALLS if SpaceGroup.from_hall(h).setting == "R")
    assert rhombohedral.order * 3 == rhombohedral.canonical().order
    assert abs(np.linalg.det(rhombohedral.to_canonical.matrix)) == pytest.approx(1 / 3)


def test_setting_transformation_maps_atoms_one_to_one():
    """det = V_original / V_canonical, and apply adds no centring copies."""
    rhombohedral = SpaceGroup.from_hall(canonical_hall_number(146) + 1)  # R3, rhombohedral axes
    assert rhombohedral.setting == "R"
    canonical = rhombohedral.canonical()
    transformation = rhombohedral.to_canonical
    lattice, frac_coords, numbers = random_crystal(rhombohedral, np.random.default_rng(0))
    canonical_lattice = np.linalg.solve(transformation.matrix.T, lattice)  # original = M^T canonical
    assert np.linalg.det(lattice) / np.linalg.det(canonical_lattice) == pytest.approx(
        np.linalg.det(transformation.matrix)
    )
    mapped = transformation.apply(frac_coords)
    assert mapped.shape == frac_coords.shape
    # the centring vectors of the canonical group complete the conventional cell
    full = (mapped[:, None, :] + canonical.centring_vectors[None]).reshape(-1, 3) % 1.0
    images = (np.einsum("nij,aj->nai", canonical.rotations, full) + canonical.translations[:, None]) % 1.0
    diff = images[:, :, None, :] - full[None, None]
    diff -= np.rint(diff)
    assert np.abs(diff).max(axis=-1).min(axis=-1).max() < 1e-9
    crystal = standardize((canonical_lattice, full, np.repeat(numbers, len(canonical.centring_vectors))))
    assert crystal.group == canonical


@pytest.mark.parametrize(
    ("number", "symbol", "family", "system", "lattice_system", "centring"),
    [
        (1, "P1", "triclinic", "triclinic", "triclinic", "P"),
        (14, "P2_1/c", "monoclinic", "monoclinic", "monoclinic", "P"),
        (38, "Amm2", "orthorhombic", "orthorhombic", "orthorhombic", "A"),
        (139, "I4/mmm", "tetragonal", "tetragonal", "tetragonal", "I"),
        (146, "R3", "hexagonal", "trigonal", "rhombohedral", "R"),
        (152, "P3_121", "hexagonal", "trigonal", "hexagonal", "P"),
        (194, "P6_3/mmc", "hexagonal", "hexagonal", "hexagonal", "P"),
        (227, "Fd-3m", "cubic", "cubic", "cubic", "F"),
    ],
)
def test_classification(number, symbol, family, system, lattice_system, centring):
    group = SpaceGroup(number)
    assert (group.symbol, group.crystal_family, group.crystal_system) == (symbol, family, system)
    assert (group.lattice_system, group.centring) == (lattice_system, centring)


def test_value_semantics():
    assert SpaceGroup(225) == SpaceGroup.from_hall(canonical_hall_number(225))
    assert len({SpaceGroup(225), SpaceGroup(225), SpaceGroup(1)}) == 2
    assert pickle.loads(pickle.dumps(SpaceGroup.from_hall(526))) == SpaceGroup.from_hall(526)
    assert repr(SpaceGroup(227)) == (
        "SpaceGroup(number=227, symbol='Fd-3m', hall_number=525, setting='1', order=192)"
    )
    with pytest.raises(ValueError, match="read-only"):
        SpaceGroup(227).rotations[0, 0, 0] = 5


@pytest.mark.parametrize("bad", [0, 231, -5, "abc", 3.5, True, None])
def test_invalid_numbers(bad):
    with pytest.raises(InvalidGroupError):
        SpaceGroup(bad)


@pytest.mark.parametrize("bad", [0, 531, "1"])
def test_invalid_hall_numbers(bad):
    with pytest.raises(InvalidGroupError):
        SpaceGroup.from_hall(bad)


@pytest.mark.parametrize("bad", [0, -1, 531, True, 1.0])
def test_spacegroup_type_rejects_hall_numbers_outside_the_database(bad):
    with pytest.raises(InvalidGroupError, match="Hall number"):
        spacegroup_type(bad)
    assert spacegroup_type(530).hall_number == 530 and spacegroup_type(1).hall_number == 1


@pytest.mark.parametrize("hall", [*(canonical_hall_number(n) for n in (1, 144, 169, 212, 227)), 434, 10])
def test_noisy_operations_are_identified(hall):
    """spglib's detected translations carry noise: at symprec / 3 every trial is accepted."""
    group = SpaceGroup.from_hall(hall)
    rng = np.random.default_rng(hall)
    symprec = 1e-5
    for _ in range(20):
        noise = rng.uniform(-symprec / 3, symprec / 3, size=group.translations.shape)
        order = rng.permutation(group.order)  # the identity need not come first
        translations = (group.translations + noise)[order]
        assert SpaceGroup.from_operations(group.rotations[order], translations, symprec) == group
        # noise across the cell boundary: 0 - eps is 1 - eps mod 1
        assert SpaceGroup.from_operations(group.rotations, group.translations - symprec / 3, symprec) == group


@pytest.mark.parametrize("hall", ALL_HALLS)
def test_every_setting_is_identified_from_its_noisy_operations(hall):
    group = SpaceGroup.from_hall(hall)
    noise = np.random.default_rng(hall).uniform(-1e-5 / 3, 1e-5 / 3, size=group.translations.shape)
    found = SpaceGroup.from_operations(group.rotations, group.translations + noise)
    assert operation_set(found.rotations, found.translations) == operation_set(
        group.rotations, group.translations
    )
    same_operations = {324: 322, 328: 326, 332: 330}  # settings of Ccce with equal operations
    assert found.hall_number == same_operations.get(hall, hall)


def test_noisy_operations_off_the_database_grid_are_rejected():
    group = SpaceGroup(227)
    translations = group.translations.copy()
    translations[5, 1] += 3e-5
    with pytest.raises(
        InvalidGroupError, match=r"operation 5 .*not within symprec=1e-05 of multiples of 1/12"
    ):
        SpaceGroup.from_operations(group.rotations, translations, 1e-5)
    assert SpaceGroup.from_operations(group.rotations, translations, 1e-4) == group
    for symprec in (0.0, -1e-5, 1 / 24, np.nan):
        with pytest.raises(ValueError, match="symprec"):
            SpaceGroup.from_operations(group.rotations, group.translations, symprec)


def test_non_group_operations_are_rejected():
    fourfold = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    with pytest.raises(InvalidGroupError, match="not closed"):
        SpaceGroup.from_operations(np.stack([np.eye(3), fourfold]), np.zeros((2, 3)))
    with pytest.raises(InvalidGroupError, match="not closed"):  # a screw without its square
        SpaceGroup.from_operations(np.stack([np.eye(3), np.diag([-1, 1, -1])]), [[0, 0, 0], [0, 0.25, 0]])
    with pytest.raises(InvalidGroupError, match="determinant"):
        SpaceGroup.from_operations(np.stack([np.eye(3), 2 * np.eye(3)]), np.zeros((2, 3)))
    with pytest.raises(InvalidGroupError, match="duplicates"):
        SpaceGroup.from_operations(np.stack([np.eye(3), np.eye(3)]), np.zeros((2, 3)))
    with pytest.raises(InvalidGroupError, match="expected rotations"):
        SpaceGroup.from_operations(np.eye(3), np.zeros(3))
