export { readSafetensorsHeader, parseHeaderJson, MAX_HEADER_BYTES, type TensorInfo, type SafetensorsHeader } from './header.ts';
export { openSafetensorsModel, INDEX_FILE, type SafetensorsModel } from './model.ts';
export { readTensorBytes, readTensorF32, rowBytes } from './read.ts';
export { serializeSafetensors, encodeHeader, tensorByteSize, type TensorSpec } from './serialize.ts';
export { SafetensorsWriter, planShards, DEFAULT_MAX_SHARD_BYTES, type WriterOptions, type ShardPlan, type TensorData, type WriteResult } from './writer.ts';
