"""Implicit solvers: fixed points with implicit-function-theorem gradients, conjugate gradient,
and CGS's contracting parametrisation (Park, Choo & Park, ICLR 2022)."""
from jaxnets.solvers.cg import conjugate_gradient
from jaxnets.solvers.contraction import (
    apply_edge_operator,
    contractive_edge_weights,
    edge_operator_inf_norm,
    linear_edge_map,
)
from jaxnets.solvers.convergence import (
    CGInfo,
    FixedPointInfo,
    NotConvergedError,
    NotConvergedWarning,
    SolverInfo,
    report_nonconvergence,
)
from jaxnets.solvers.fixed_point import fixed_point, fixed_point_unrolled
from jaxnets.solvers.iteration import AndersonAcceleration

__all__ = [
    "AndersonAcceleration",
    "CGInfo",
    "FixedPointInfo",
    "NotConvergedError",
    "NotConvergedWarning",
    "report_nonconvergence",
    "SolverInfo",
    "apply_edge_operator",
    "conjugate_gradient",
    "contractive_edge_weights",
    "edge_operator_inf_norm",
    "fixed_point",
    "fixed_point_unrolled",
    "linear_edge_map",
]
