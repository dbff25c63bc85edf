"""The entries `bench heads` times, as plain data (the command line checks `--losses` without Keras)."""

from tf_wsoftmax.declarations import LOSS_DECLARATIONS

# Every registry loss with its registry defaults, plus W-Softmax's exact-gradient reading.
VARIANTS = {"wsoftmax_full": ("wsoftmax", {"bias_gradient": "full"})}
HEADS = tuple(LOSS_DECLARATIONS) + tuple(VARIANTS)
# The bare (B, d) x (d, K) product with its two backward products (features and kernel): the three
# products a normalised head cannot do without, timed like a head. A head's "x floor" divides by
# its own count of products (`FLOOR_PRODUCTS`; W-Softmax "stop" needs a fourth, the cosines).
FLOOR = "matmul_floor"
FLOOR_PRODUCTS = {"wsoftmax": 4, "wsoftmax_full": 6}
