/**
 * `chain`: a named list of middlewares (built-ins, plugins or other chains), expanded in place
 * where a router uses it.
 * @example
 * chain: { middlewares: [strip, auth, limit] }
 */
import { defineBuiltin, obj, strList } from './types.js';

export default defineBuiltin<{ middlewares: string[] }>('chain', obj({ middlewares: strList }, ['middlewares']), () => ({}));
