import { S3BlobStore } from '../../../src/blob/s3.js';
import { stackEnv, uniqueName } from '../../support/env.js';
import { blobStoreContract } from './suite.js';

blobStoreContract('S3BlobStore', async () => {
  const { s3 } = stackEnv();
  return new S3BlobStore({
    endpoint: s3.endpoint,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    bucket: s3.bucket,
    prefix: `${uniqueName('contract')}/`,
    partSize: 5 * 1024 * 1024,
  });
});
