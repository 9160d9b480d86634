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
#: (measured 2.3e-7 in tests/test_float32.py; docs/tracin.md).
RTOL32_REALISTIC = 2e-6
