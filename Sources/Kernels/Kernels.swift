// Float kernels: a scalar reference per op (the spec) and fast paths tested against it.
