// safetensors: validated header reading, lazy tensor reads across shards, streaming sharded writing.
// Every rejection is a MergeStudioError; codes: safetensors-header-too-small, -header-too-large,
// -header-length, -header-not-utf8, -header-start, -header-json, -duplicate-name, -bad-metadata,
// -bad-entry, -unknown-dtype, -bad-shape, -bad-offsets, -gap, -overlap, -overflow, -misaligned,
// -size-mismatch, -truncated, -trailing-bytes; models: -no-files, -index-invalid, -shard-missing,
// -index-mismatch, -duplicate-tensor; reads: tensor-row-range; writer: writer-*.
export { readSafetensorsHeader, parseHeaderJson, MAX_HEADER_BYTES, type TensorInfo, type SafetensorsHeader } from './header.ts';
export { openSafetensorsModel, INDEX_FILE, type SafetensorsModel } from './model.ts';
export { readTensorBytes, readTensorF32, readTensorRows, rowBytes, tensorRowBlocks, type RowBlock } from './read.ts';
export { serializeSafetensors, encodeHeader, tensorByteSize, type TensorSpec } from './serialize.ts';
export { SafetensorsWriter, planShards, DEFAULT_MAX_SHARD_BYTES, type WriterOptions, type ShardPlan, type TensorData, type WriteResult } from './writer.ts';
