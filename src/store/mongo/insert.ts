import type { Collection, Document } from 'mongodb';
import { UnavailableError } from '../../errors.js';
import { call } from './errors.js';

/** MongoDB's duplicate-key error code. */
export const DUPLICATE_KEY = 11000;

/**
 * Inserts `docs` with one unordered `insert` command; duplicate-key failures
 * are the idempotency guard firing, not errors. FerretDB 1.24 stops an
 * unordered insert at its first error, so the documents after the last
 * reported error are sent again; every insert here is insert-if-absent, so
 * sending one twice is harmless.
 *
 * A raw command rather than `insertMany`/`bulkWrite`: the driver's bulk API
 * serialises each document once to size its batches and again to send them,
 * and the event mirror is most of the projector's BSON (issue 11 profile).
 * A chunk here is far below the 16 MB limit on a command (EVENT_CHUNK events).
 */
export async function insertAbsent<T extends Document>(coll: Collection<T>, docs: T[], what: string): Promise<{ ok: number; duplicates: number }> {
  let ok = 0;
  let duplicates = 0;
  let rest = docs;
  while (rest.length > 0) {
    const sent = rest;
    const r = (await call(what, () => coll.db.command({ insert: coll.collectionName, documents: sent, ordered: false }))) as InsertReply;
    const errors = r.writeErrors ?? [];
    ok += r.n ?? 0;
    if (errors.length === 0) return { ok, duplicates };
    const other = errors.find((e) => e.code !== DUPLICATE_KEY);
    if (other) throw new UnavailableError(`MongoDB (${what}: ${other.errmsg ?? `code ${other.code}`})`);
    duplicates += errors.length;
    if ((r.n ?? 0) + errors.length >= sent.length) return { ok, duplicates };
    rest = sent.slice(Math.max(...errors.map((e) => e.index)) + 1);
  }
  return { ok, duplicates };
}

/** The reply of an `insert` command (MongoDB's write command protocol). */
interface InsertReply {
  n?: number;
  writeErrors?: Array<{ index: number; code: number; errmsg?: string }>;
}

export function isDuplicateKey(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === DUPLICATE_KEY;
}
