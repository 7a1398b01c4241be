"""Crystals and molecules as PyG data: standardized conversion, exact periodic graphs, other descriptions."""

from .crystal import data_to_structure, from_standard_crystal, from_structure
from .elastic import elastic_crystal
from .graph import (
    RadiusGraphPBC,
    edge_vectors,
    nearest_edges,
    periodic_graph,
    radius_graph_pbc,
    stored_graph,
    with_radius_graphs,
)
from .molecule import from_molecule, molecule_frame
from .variants import DESCRIPTION_CHANGES, RIGID_MOTIONS, Variant, random_rotation, variant

__all__ = [
    "DESCRIPTION_CHANGES",
    "RIGID_MOTIONS",
    "RadiusGraphPBC",
    "Variant",
    "data_to_structure",
    "edge_vectors",
    "elastic_crystal",
    "from_molecule",
    "from_standard_crystal",
    "from_structure",
    "molecule_frame",
    "nearest_edges",
    "periodic_graph",
    "radius_graph_pbc",
    "random_rotation",
    "stored_graph",
    "variant",
    "with_radius_graphs",
]
