"""NF4 / FP4 / INT4 blockwise quantisation with double quantisation (jaxnets.nn.quantize)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.nn import lora
from jaxnets.nn import quantize as qz


def _np_blockwise(w, codebook, block):
    """Absmax blockwise quantise-dequantise in float64 numpy with a brute-force argmin."""
    flat = np.asarray(w, np.float64).ravel()
    padded = np.concatenate([flat, np.zeros(-flat.size % block)]).reshape(-1, block)
    c = np.abs(padded).max(1, keepdims=True)
    x = padded / np.where(c > 0, c, 1.0)
    codes = np.argmin(np.abs(x[..., None] - np.asarray(codebook, np.float64)), -1)
    return (np.asarray(codebook, np.float64)[codes] * c).ravel()[:flat.size].reshape(w.shape)


def test_nf4_codebook_is_the_published_one():
    cb = qz.nf4_codebook()
    np.testing.assert_allclose(cb, np.asarray(qz.NF4_PUBLISHED), atol=1e-6, rtol=0)
    assert cb.size == 16 and cb[0] == -1.0 and cb[-1] == 1.0 and 0.0 in cb
    assert (cb > 0).sum() == 8 and (cb < 0).sum() == 7      # asymmetric, exact zero


def test_comparison_codebooks_by_hand():
    np.testing.assert_allclose(qz.fp4_codebook()[7:],
                               np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6]) / 6, atol=1e-7)
    assert qz.fp4_codebook().size == 15                      # ±0 is one value
    np.testing.assert_allclose(qz.int4_codebook(), np.arange(-7, 8) / 7, atol=1e-7)
    e4m3 = qz.fp8_e4m3_codebook()
    assert e4m3.size == 253 and e4m3.max() == 1.0 and 0.0 in e4m3
    np.testing.assert_allclose(e4m3[e4m3 > 0].min(), 2.0 ** -9 / 448, rtol=1e-6)   # subnormal
    np.testing.assert_allclose(np.sort(e4m3[e4m3 > 0])[-2], 416 / 448, rtol=1e-6)


def test_nearest_code_and_packing():
    x = np.random.default_rng(0).uniform(-1.1, 1.1, 500).astype(np.float32)
    cb = qz.nf4_codebook()
    brute = np.argmin(np.abs(x[:, None] - cb[None, :]), 1)
    np.testing.assert_array_equal(qz.nearest_code(jnp.asarray(x), cb), brute)
    assert qz.pack_nibbles(jnp.asarray([1, 2, 15, 0])).tolist() == [0x12, 0xF0]
    codes = jnp.asarray(np.random.default_rng(1).integers(0, 16, 64), jnp.uint8)
    np.testing.assert_array_equal(qz.unpack_nibbles(qz.pack_nibbles(codes)), codes)
    with pytest.raises(ValueError, match="even length"):
        qz.pack_nibbles(jnp.zeros(3, jnp.int32))


@pytest.mark.parametrize("book", ["nf4", "fp4", "int4"])
def test_dequantize_matches_numpy_reference(book):
    cb = getattr(qz, f"{book}_codebook")()
    w = np.random.default_rng(2).normal(size=(3, 50)).astype(np.float32)   # 150: padded block
    q = qz.quantize(jnp.asarray(w), cb, block_size=64, double_quant=False)
    assert q.packed.dtype == jnp.uint8 and q.packed.shape == (96,) and q.absmax.shape == (3,)
    np.testing.assert_allclose(qz.dequantize(q), _np_blockwise(w, cb, 64), rtol=1e-6, atol=1e-7)


def test_zeros_round_trip_exactly_and_quantisation_is_idempotent():
    w = np.random.default_rng(3).normal(size=(4, 128)).astype(np.float32)
    w[:, ::5] = 0.0
    w[1] = 0.0                                                     # whole zero blocks
    w = jnp.asarray(w)
    for dq in (False, True):
        q = qz.quantize(w, block_size=64, double_quant=dq, dq_block_size=4)
        w_hat = qz.dequantize(q)
        assert jnp.all(w_hat[w == 0] == 0)
        q2 = qz.quantize(w_hat, block_size=64, double_quant=dq, dq_block_size=4)
        np.testing.assert_array_equal(q2.packed, q.packed)
        if dq:   # the second-level constants are re-derived: equal up to float rounding
            np.testing.assert_allclose(qz.dequantize(q2), w_hat, rtol=0.02, atol=1e-6)
        else:
            np.testing.assert_array_equal(qz.dequantize(q2), w_hat)


def test_double_quant_storage_and_constants():
    n = 64 * 256 * 2
    w = jax.random.normal(jax.random.PRNGKey(0), (n,))
    q = qz.quantize(w)
    assert q.absmax.dtype == jnp.uint8 and q.absmax_scale.shape == (2,)
    assert qz.bits_per_param() == 4 + 8 / 64 + 32 / (64 * 256)
    assert abs(qz.bits_per_param() - 4.127) < 1e-3
    assert qz.storage_bits(q) / n == 4 + 8 / 64 + 32 / (64 * 256) + 32 / n
    plain = qz.quantize(w, double_quant=False)
    assert qz.bits_per_param(double_quant=False) == 4.5 == qz.storage_bits(plain) / n
    # The 8-bit constants stay close to the float32 ones (E4M3: 3 mantissa bits).
    c_hat = qz.dequantize(q).reshape(-1, 64)
    np.testing.assert_allclose(jnp.abs(c_hat).max(1), plain.absmax, rtol=0.05)


def test_nf4_has_lower_error_than_fp4_and_int4_on_gaussian_weights():
    w = jax.random.normal(jax.random.PRNGKey(1), (64 * 512,))
    mse = {name: float(jnp.mean((qz.dequantize(qz.quantize(w, book())) - w) ** 2))
           for name, book in (("nf4", qz.nf4_codebook), ("fp4", qz.fp4_codebook),
                              ("int4", qz.int4_codebook))}
    assert mse["nf4"] < mse["fp4"] and mse["nf4"] < mse["int4"], mse


def test_quantize_params_selects_leaves_and_jits():
    rng = np.random.default_rng(4)
    params = {"params": {"dense": {"kernel": jnp.asarray(rng.normal(size=(8, 16)), jnp.float32),
                                   "bias": jnp.ones(16)},
                         "embed": {"embedding": jnp.asarray(rng.normal(size=(5, 8)))}}}
    target = lora.path_target(r"dense/kernel$")
    qparams = jax.jit(lambda p: qz.quantize_params(p, target))(params)
    assert isinstance(qparams["params"]["dense"]["kernel"], qz.QuantizedTensor)
    np.testing.assert_array_equal(qparams["params"]["embed"]["embedding"],
                                  params["params"]["embed"]["embedding"])
    restored = jax.jit(qz.dequantize_params)(qparams)
    np.testing.assert_array_equal(restored["params"]["dense"]["kernel"],
                                  qz.dequantize(qz.quantize(params["params"]["dense"]["kernel"])))
    assert restored["params"]["dense"]["kernel"].shape == (8, 16)
    with pytest.raises(ValueError, match="selected no parameter"):
        qz.quantize_params(params, lora.path_target("nothing"))
    with pytest.raises(ValueError, match="block_size"):
        qz.quantize(jnp.ones(8), block_size=3)
    with pytest.raises(ValueError, match="sorted and normalised"):
        qz.quantize(jnp.ones(8), codebook=np.array([0.5, -0.5]))
    with pytest.raises(ValueError, match="float array"):
        qz.quantize(jnp.ones(8, jnp.int32))
