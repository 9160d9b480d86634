"""Named tolerances shared by every fast-path-vs-reference test."""

#: float64 comparisons against a plain autograd loop.
RTOL64, ATOL64 = 1e-8, 1e-10
#: float32 comparisons against a float64 reference.
RTOL32, ATOL32 = 1e-4, 1e-6
#: float64 loss identities (sparse vs dense BCE).
RTOL_LOSS = 1e-6
#: Converted-vs-source score agreement in float32 (relative to the largest |score|).
RTOL_CONVERT = 1e-5
#: structured vs generic TracIn paths (relative to the largest |score| of the matrix).
RTOL_PATHS64, RTOL_PATHS32 = 1e-10, 1e-5
#: float32 vs float64 TracIn on a realistic-size ConvE, relative to the largest |score|
#: (measured 2.3e-7 in tests/influence/test_float32.py; docs/tracin.md).
RTOL32_REALISTIC = 2e-6
#: TF32 matmuls and convolutions on a GPU (10-bit mantissa, unit roundoff 4.9e-4) against a
#: float64 reference, relative to the largest |score|: a few roundoffs of the longest products.
RTOL_TF32 = 5e-3
#: One training epoch's mean loss with bfloat16 autocast against float32 (8-bit mantissa).
RTOL_BF16_LOSS = 5e-2

# float32 TracIn of one edge scored alone vs inside a full batch, relative to the score scale: the
# forward pass is the same bits (fixed-size padded batches), but BLAS may split the final
# (B, F) x (F, T) product differently by its row count (Intel MKL on 2 threads); measured 1.6e-7.
RTOL32_BATCHING = 1e-6
