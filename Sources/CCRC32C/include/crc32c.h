#ifndef VAIQ_CRC32C_H
#define VAIQ_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Extends `crc` (0 to start) over `n` bytes with the CRC-32C (Castagnoli) polynomial.
uint32_t vaiq_crc32c_extend(uint32_t crc, const void *data, size_t n);
/// The table-driven path alone (tests compare it with the hardware path).
uint32_t vaiq_crc32c_extend_portable(uint32_t crc, const void *data, size_t n);

/// TensorFlow and LevelDB store CRCs "masked" so that a CRC of data containing CRCs stays strong.
static inline uint32_t vaiq_crc32c_mask(uint32_t crc) {
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
static inline uint32_t vaiq_crc32c_unmask(uint32_t masked) {
    uint32_t rot = masked - 0xa282ead8u;
    return (rot >> 17) | (rot << 15);
}
#endif
