// The port only; adapters: `./s3.js`, `./fs.js` (imported by composition roots).
export { assertBlobKey, type BlobInfo, type BlobPutOptions, type BlobStore } from './port.js';
