// The domain's errors are defined in the library's one error module (src/errors.ts).
export { ChecksumMismatchError, InvalidInputError, InvalidPathError, TooLargeError } from '../errors.js';
