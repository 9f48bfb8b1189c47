/** The `limit` and `cursor` of a listing's query string, as the SDK's page options. */
import { validationError } from '../errors.js';
import { MAX_PAGE_LIMIT } from '../sdk/herald.js';

export interface PageQuery {
  limit?: string;
  cursor?: string;
}

export function pageOptions(query: PageQuery): { limit?: number; cursor?: string } {
  const { limit, cursor } = query;
  if (limit !== undefined && !/^\d{1,7}$/.test(limit))
    throw validationError([{ field: 'limit', message: `Expected a whole number from 1 to ${MAX_PAGE_LIMIT}` }]);
  return { ...(limit !== undefined ? { limit: Number(limit) } : {}), ...(cursor ? { cursor } : {}) };
}
