/**
 * Unit-test setup (vitest `setupFiles`): every fast-check property runs with
 * one seed per run, PROPERTY_SEED when set (to replay a run), else a new
 * random one, so runs meet new cases. A failing property's report names the
 * seed (`{ seed: N, path: ... }`): PROPERTY_SEED=N replays it. Mutation
 * testing sets PROPERTY_SEED so every mutant meets the same cases.
 */
import fc from 'fast-check';

const env = process.env.PROPERTY_SEED;
if (env !== undefined && env !== '' && !Number.isInteger(Number(env))) throw new Error(`PROPERTY_SEED=${env} is not an integer`);
fc.configureGlobal({ seed: env !== undefined && env !== '' ? Number(env) | 0 : (Math.random() * 0x7fffffff) | 0 });
