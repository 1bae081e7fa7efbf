/**
 * How core failures reach GraphQL clients: a UserError is the caller's to fix, so its message and stable code
 * go out as-is; anything else is left alone for yoga's masking, which logs it and answers "Unexpected error.".
 */
import { createGraphQLError } from 'graphql-yoga';
import { UserError } from '../src/api.js';

export function userError(code: string, message: string): Error {
  return createGraphQLError(message, { extensions: { code } });
}

/** Runs a core call, turning a UserError into a GraphQL error that survives masking. */
export async function callCore<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof UserError) throw userError(err.code, err.message);
    throw err;
  }
}
