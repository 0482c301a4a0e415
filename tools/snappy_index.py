#!/usr/bin/env python3
"""Rewrite a TensorFlow tensor-bundle .index file with Snappy-compressed blocks.

    snappy_index.py IN.index OUT.index [--block-size BYTES]

A bundle .index is a LevelDB-format SSTable:

    [data block 0] ... [data block n-1] [metaindex block] [index block] [footer]

* Every block is followed by a 5-byte trailer: 1 compression-type byte
  (0 = none, 1 = Snappy) and a little-endian masked CRC32C of the stored
  (possibly compressed) block bytes followed by the type byte, where
  mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2^32).
* A block holds prefix-compressed entries (varint32 shared key length,
  varint32 unshared key length, varint32 value length, unshared key bytes,
  value bytes), then the uint32 restart offsets and their uint32 count.
* The index block maps a key >= every key of a data block (and < every key of
  the next one) to that block's BlockHandle (varint64 offset, varint64 size of
  the stored bytes, trailer excluded).
* The 48-byte footer holds the metaindex and index BlockHandles, zero-padded to
  40 bytes, then the magic 0xdb4775248b80fb57 as a little-endian uint64.

The entries are decoded and written into a new table whose blocks are all
Snappy-compressed (type 1, even when that does not save space), with freshly
computed CRCs and block handles. --block-size sets the size at which a data
block is closed (TensorFlow writes 256 KiB blocks, so its bundles normally
have a single data block; a small value yields several).

The result is then proved: OUT.index is re-read (every block must be type 1
with a valid CRC and the entries must equal IN's), and tf.train.load_checkpoint
must read every tensor of the rewritten bundle (OUT.index next to copies of
IN's .data files, in a temporary directory) bit-identical to the original.
"""
import argparse
import glob
import os
import shutil
import struct
import sys
import tempfile

import cramjam
import crc32c

from tf_common import fail, tf

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
HANDLES_SIZE = 40
NO_COMPRESSION = 0
SNAPPY_COMPRESSION = 1
CRC_MASK_DELTA = 0xA282EAD8
# TensorFlow's table::Options defaults (tsl/lib/io/table_options.h, table_builder.cc).
DEFAULT_BLOCK_SIZE = 256 * 1024
DATA_RESTART_INTERVAL = 16
INDEX_RESTART_INTERVAL = 1


def mask_crc(crc):
    return (((crc >> 15) | (crc << 17)) + CRC_MASK_DELTA) & 0xFFFFFFFF


def encode_varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buf, pos):
    """Return (value, position after the varint)."""
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def encode_handle(offset, size):
    return encode_varint(offset) + encode_varint(size)


def decode_handle(buf, pos=0):
    offset, pos = decode_varint(buf, pos)
    size, pos = decode_varint(buf, pos)
    return (offset, size), pos


def read_block(table, handle):
    """Return (uncompressed contents, compression type) of the block at handle, checking its CRC."""
    offset, size = handle
    stored = table[offset:offset + size]
    block_type = table[offset + size]
    (masked,) = struct.unpack_from("<I", table, offset + size + 1)
    if mask_crc(crc32c.crc32c(stored + bytes([block_type]))) != masked:
        raise ValueError(f"CRC mismatch in block at offset {offset}")
    if block_type == NO_COMPRESSION:
        return stored, block_type
    if block_type == SNAPPY_COMPRESSION:
        return bytes(cramjam.snappy.decompress_raw(stored)), block_type
    raise ValueError(f"unknown compression type {block_type} in block at offset {offset}")


def parse_block(contents):
    """Decode the (key, value) entries of an uncompressed block."""
    (num_restarts,) = struct.unpack_from("<I", contents, len(contents) - 4)
    end = len(contents) - 4 - 4 * num_restarts
    entries = []
    pos = 0
    key = b""
    while pos < end:
        shared, pos = decode_varint(contents, pos)
        unshared, pos = decode_varint(contents, pos)
        value_length, pos = decode_varint(contents, pos)
        key = key[:shared] + contents[pos:pos + unshared]
        pos += unshared
        entries.append((key, contents[pos:pos + value_length]))
        pos += value_length
    return entries


def read_table(table):
    """Return (data entries in order, block types seen) of a whole SSTable."""
    footer = table[-FOOTER_SIZE:]
    (magic,) = struct.unpack_from("<Q", footer, HANDLES_SIZE)
    if magic != TABLE_MAGIC:
        raise ValueError(f"bad table magic {magic:#x}")
    metaindex_handle, pos = decode_handle(footer)
    index_handle, _ = decode_handle(footer, pos)
    metaindex, metaindex_type = read_block(table, metaindex_handle)
    if parse_block(metaindex):
        # Meta blocks (filters) hold handles this rewrite would have to relocate;
        # TensorFlow's bundle writer never produces them.
        raise ValueError("tables with meta blocks are not supported")
    index, index_type = read_block(table, index_handle)
    types = [metaindex_type, index_type]
    entries = []
    for _, handle_bytes in parse_block(index):
        handle, _ = decode_handle(handle_bytes)
        contents, block_type = read_block(table, handle)
        types.append(block_type)
        entries.extend(parse_block(contents))
    return entries, types


def build_block(entries, restart_interval):
    """Encode entries as an uncompressed block, LevelDB BlockBuilder style."""
    out = bytearray()
    restarts = [0]
    previous = b""
    for i, (key, value) in enumerate(entries):
        if i > 0 and i % restart_interval == 0:
            restarts.append(len(out))
            shared = 0
        else:
            shared = len(os.path.commonprefix([previous, key]))
        out += encode_varint(shared) + encode_varint(len(key) - shared) + encode_varint(len(value))
        out += key[shared:] + value
        previous = key
    for restart in restarts:
        out += struct.pack("<I", restart)
    out += struct.pack("<I", len(restarts))
    return bytes(out)


def block_size_estimate(entries):
    """Upper bound of build_block(entries)'s size (entries stored without prefix sharing)."""
    payload = sum(len(encode_varint(len(k))) * 2 + len(encode_varint(len(v))) + len(k) + len(v)
                  for k, v in entries)
    return payload + 4 * (len(entries) // DATA_RESTART_INTERVAL + 2)


def write_table(entries, block_size):
    """Encode entries as an SSTable whose every block is Snappy-compressed."""
    out = bytearray()

    def append_block(contents):
        stored = bytes(cramjam.snappy.compress_raw(contents))
        handle = (len(out), len(stored))
        trailer_type = bytes([SNAPPY_COMPRESSION])
        out.extend(stored + trailer_type + struct.pack("<I", mask_crc(crc32c.crc32c(stored + trailer_type))))
        return handle

    index_entries = []
    pending = []
    for entry in entries:
        pending.append(entry)
        if block_size_estimate(pending) >= block_size:
            # The block's last key is a valid index separator: >= all its keys,
            # < the next block's first key.
            index_entries.append((pending[-1][0], encode_handle(*append_block(build_block(pending, DATA_RESTART_INTERVAL)))))
            pending = []
    if pending:
        index_entries.append((pending[-1][0], encode_handle(*append_block(build_block(pending, DATA_RESTART_INTERVAL)))))
    metaindex_handle = append_block(build_block([], INDEX_RESTART_INTERVAL))
    index_handle = append_block(build_block(index_entries, INDEX_RESTART_INTERVAL))
    handles = encode_handle(*metaindex_handle) + encode_handle(*index_handle)
    out += handles.ljust(HANDLES_SIZE, b"\0") + struct.pack("<Q", TABLE_MAGIC)
    return bytes(out), len(index_entries)


def read_all_tensors(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def verify(in_path, out_path, original_entries):
    """Prove the rewritten index: structure, entries, and TensorFlow reading every tensor identically."""
    with open(out_path, "rb") as f:
        entries, types = read_table(f.read())
    if any(t != SNAPPY_COMPRESSION for t in types):
        fail(f"{out_path}: not every block is Snappy-compressed: types {types}")
    if entries != original_entries:
        fail(f"{out_path}: entries differ from {in_path}")

    in_prefix = in_path[:-len(".index")]
    data_files = sorted(glob.glob(glob.escape(in_prefix) + ".data-*"))
    if not data_files:
        fail(f"no .data files next to {in_path}")
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "rewritten")
        shutil.copyfile(out_path, prefix + ".index")
        for data_file in data_files:
            shutil.copyfile(data_file, prefix + data_file[len(in_prefix):])
        original = read_all_tensors(in_prefix)
        rewritten = read_all_tensors(prefix)
    if sorted(original) != sorted(rewritten):
        fail(f"tensor names differ: {sorted(original)} vs {sorted(rewritten)}")
    for name, value in original.items():
        other = rewritten[name]
        if value.dtype != other.dtype or value.shape != other.shape or value.tobytes() != other.tobytes():
            fail(f"tensor {name!r} differs after rewriting")
    return len(original), len(types)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="original bundle .index file (its .data files must sit next to it)")
    parser.add_argument("output", help="rewritten .index file to write")
    parser.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE,
                        help=f"close a data block once it reaches this many bytes (default {DEFAULT_BLOCK_SIZE})")
    args = parser.parse_args()
    if not args.input.endswith(".index") or not args.output.endswith(".index"):
        fail("both paths must end in .index")

    with open(args.input, "rb") as f:
        entries, _ = read_table(f.read())
    table, data_blocks = write_table(entries, args.block_size)
    with open(args.output, "wb") as f:
        f.write(table)
    tensors, blocks = verify(args.input, args.output, entries)
    print(f"{args.output}: {len(entries)} entries in {data_blocks} Snappy data block(s) "
          f"({blocks} blocks in all); TensorFlow reads all {tensors} tensors identically")


if __name__ == "__main__":
    sys.exit(main())
