export type { BlobInfo, BlobPutOptions, BlobStore } from './port.js';
export { S3BlobStore, type S3BlobStoreOptions } from './s3.js';
export { FsBlobStore, type FsBlobStoreOptions } from './fs.js';
