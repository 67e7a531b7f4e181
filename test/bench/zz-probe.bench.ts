import { bench, describe, beforeAll, afterAll } from 'vitest';
beforeAll(() => { console.log('BEFOREALL ran'); });
afterAll(() => { console.log('AFTERALL ran'); });
describe('probe', () => {
  bench('noop', () => { let x = 0; for (let i = 0; i < 100; i++) x += i; }, { time: 50, iterations: 10 });
});
